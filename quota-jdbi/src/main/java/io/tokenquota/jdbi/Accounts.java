package io.tokenquota.jdbi;

import static io.tokenquota.jdbi.Operations.contended;
import static io.tokenquota.jdbi.Operations.optionalTransaction;
import static io.tokenquota.jdbi.Operations.transaction;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.TokenUsage;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.internal.LedgerRules;
import io.tokenquota.jdbi.Operations.Op;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.JdbiException;
import org.jdbi.v3.core.statement.Query;
import org.jdbi.v3.core.statement.Update;

/**
 * The account rows ({@code tq_account}) and the event log every change appends to: a subject's
 * month's first touch (which first sees to the month's event partition, {@link EventPartitions}),
 * reads of stored accounts and their history, plan changes, and the helpers the other families change
 * balances and log events with ({@link #accountQuery}, {@link #setBalance},
 * {@link #insertEvent}, {@link #adjust}, {@link Committed}).
 *
 * <p>Lock order: a first touch locks the subject's open holds one by one in id order (marking them
 * superseded; a team's first touch its members' holds held against it too), then the
 * latest earlier account it carries from, then inserts the new one; {@link #lockAccount} and
 * {@link #lockLatestAfter} lock a hold's month, then any later month, ascending, for the callers that
 * already hold a hold's or purchase's lock. A plan change locks the current month and the closed months a
 * refund took from or may take from, ascending ({@link Sql#lockMonthsOfRefunds}), as a refund does.
 */
final class Accounts {
    /** A plan change's compare-and-set update re-reads and retries this often under contention. */
    private static final int MAX_CAS_ATTEMPTS = 200;
    private final Sql sql;
    private final QuotaPolicy policy;
    private final EventPartitions partitions;

    Accounts(Sql sql, QuotaPolicy policy, EventPartitions partitions) {
        this.sql = sql;
        this.policy = policy;
        this.partitions = partitions;
    }

    /**
     * The account the subject's writes land in: the current month's, or a later month's when an
     * instance whose clock is ahead already opened it (a subject's months never go backwards).
     * Created on first touch.
     *
     * <p>The current month's account is created from the policy (or the subject's plan) on first
     * touch, carrying what {@link LedgerRules#carriedInto} says from the subject's latest earlier
     * account. That account is locked first, in the same transaction as the insert: a late finish of
     * one of its holds either commits before the carried amount is read, or waits and then finds the new
     * month as the latest account and moves its tokens there. Never a lock on a row that may not exist:
     * the new row is inserted if absent (a concurrent first touch may win).
     */
    QuotaAccount currentAccount(Op op, String subject) {
        return openMonth(op, subject, policy.monthOf(op.now));
    }

    /**
     * The subject's account of {@code month} or of a later month, the latest, created as a first touch
     * of {@code month} when there is none (see {@link #currentAccount}): a team member whose team's
     * account is a month ahead of its own (or the other way round) opens that month too, so that one
     * hold lands in one month of both.
     */
    QuotaAccount openMonth(Op op, String subject, YearMonth month) {
        Optional<QuotaAccount> existing = op.with(h -> h.createQuery(sql.selectLatestAccountFrom)
                .bind("subject", subject).bind("month", Rows.month(month)).map(Rows.ACCOUNT).findOne());
        if (existing.isPresent()) {
            return existing.get();
        }
        // before the month's first event, and before the transaction below takes any row lock: creating a
        // partition locks the whole event log, which must never wait inside a transaction holding rows
        partitions.beforeFirstAccount(op.handle(), month);
        transaction(op, h -> {
            // lock order as everywhere: holds, then accounts by month; a write racing this first touch
            // waits for these locks and then finds its row superseded (see Sql.CURRENT)
            boolean team = io.tokenquota.Team.isTeam(subject);
            // a team's first touch marks its members' holds too (one of the team's earlier month must not be
            // finished as one of its latest month), and a member's first touch marks the same rows: each
            // marks them one by one in id order, so the two never lock them in opposite orders and deadlock
            List<String> open = h.createQuery(team ? sql.selectTeamHoldsToSupersede : sql.selectHoldsToSupersede)
                    .bind("subject", subject).bind("month", Rows.month(month)).mapTo(String.class).list();
            if (!open.isEmpty()) {
                // one round trip; the statements run in the order given
                org.jdbi.v3.core.statement.PreparedBatch batch = h.prepareBatch(sql.supersedeHold);
                open.forEach(id -> batch.bind("id", id).add());
                batch.execute();
            }
            QuotaAccount previous = h.createQuery(sql.lockLatestAccountBefore)
                    .bind("subject", subject).bind("month", Rows.month(month))
                    .map(Rows.ACCOUNT).findOne().orElse(null);
            update(h, sql.supersedeAccounts).bind("subject", subject).bind("month", Rows.month(month)).execute();
            // read under the previous month's lock: a plan change that committed before it is seen here,
            // one that waited for it retries in the new month
            long allocated = h.createQuery(sql.selectPlan).bind("subject", subject).mapTo(Long.class).findOne()
                    .orElse(policy.defaultAllocation());
            long carried = LedgerRules.carriedInto(previous, policy);
            // read under the previous month's lock too, which membership sync takes before it changes the
            // membership: a change that committed before it is copied here, one that waited for it finds the
            // previous month superseded and writes the new one. A subject's first account has nothing to
            // lock: membership sync opens the account first, so it never changes a membership the account
            // could be created without
            String teamSubject = team ? null : h.createQuery(sql.selectTeamOf).bind("subject", subject)
                    .mapTo(String.class).findOne().orElse(null);
            try {
                update(h, sql.insertAccountIfAbsent).bind("subject", subject).bind("month", Rows.month(month))
                        .bind("allocated", allocated).bind("carried", carried).bind("now", Rows.timestamp(op.now))
                        .bind("team", teamSubject)
                        .execute();
            } catch (JdbiException e) {
                // (H2) a concurrent first touch inserted it; the failed statement undid only itself
                if (!(sql.insertAccountMayCollide() && Failures.isUniqueViolation(e))) {
                    throw e;
                }
            }
            return null;
        });
        return storedAccount(op, subject, month).orElseThrow();
    }

    Optional<QuotaAccount> storedAccount(Op op, String subject, YearMonth month) {
        return op.with(h -> h.createQuery(sql.selectAccount)
                .bind("subject", subject).bind("month", Rows.month(month))
                .map(Rows.ACCOUNT).findOne());
    }

    /** The {@code months} accounts up to {@code current}'s month, oldest first. */
    List<QuotaAccount> history(Op op, String subject, QuotaAccount current, int months) {
        return op.with(h -> h.createQuery(sql.selectHistory).bind("subject", subject)
                .bind("oldest", Rows.month(current.month().minusMonths(months - 1L)))
                .bind("month", Rows.month(current.month()))
                .map(Rows.ACCOUNT).list());
    }

    /**
     * A plan change. {@link LedgerRules#planChange} computes the allocation and what it moves between the
     * current month and closed months a refund took from (round 318).
     *
     * <p>When no closed month of the subject has open holds or refunds' takes on record (the common case),
     * nothing can be moved, and none ever will be: a closed month never gets a hold again, and a refund
     * takes only from a month's holds. The change is then an optimistic conditional {@code UPDATE} of the
     * current month (applied only if every value it was computed from is unchanged), read again and retried
     * on contention. Otherwise it runs in one transaction that locks the subject's accounts a refund took
     * from or may take from ({@link Sql#lockMonthsOfRefunds}: months ascending, the current one last, as a
     * refund locks them), so a refund racing it either committed first (its takes are read and moved) or
     * waits and finds the new plan; each move is a DEBITED and CREDITED pair. Either way it runs again in
     * the next month when that opened while it waited.
     */
    QuotaAccount setPlan(Op op, String subject, long monthlyAllocation) {
        for (int attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
            QuotaAccount account = currentAccount(op, subject);
            YearMonth month = account.month();
            PlanInputs inputs = op.with(h -> h.createQuery(sql.selectPlanInputs).bind("subject", subject)
                    .bind("month", Rows.month(month))
                    .map((rs, ctx) -> new PlanInputs(rs.getLong("refund_absorbed"), rs.getLong("refund_absorbed_behind"),
                            rs.getLong("closed_to_touch") > 0))
                    .one());
            Optional<PlanDone> done = inputs.closedToTouch()
                    ? optionalTransaction(op, h -> changePlanLocked(h, op, subject, month, monthlyAllocation))
                    : changePlanIfUnchanged(op, subject, account, inputs, monthlyAllocation);
            if (done.isPresent()) {
                done.get().events().forEach(op::logged);
                done.get().changes().forEach(change -> op.changed(change[0], change[1]));
                return done.get().account();
            }
            // changed since read, or superseded by the next month: read the latest account again
        }
        throw contended("setPlan", subject);
    }

    /** The plan change of a month no closed month can give or take tokens to: one conditional update. */
    private Optional<PlanDone> changePlanIfUnchanged(Op op, String subject, QuotaAccount before, PlanInputs inputs,
                                                     long monthlyAllocation) {
        LedgerRules.PlanChange change = LedgerRules.planChange(before, inputs.refundAbsorbed(),
                inputs.absorbedBehind(), monthlyAllocation, List.of(), policy);
        YearMonth month = before.month();
        return optionalTransaction(op, h -> {
            update(h, sql.upsertPlan).bind("subject", subject).bind("allocated", monthlyAllocation)
                    .bind("now", Rows.timestamp(op.now)).execute();
            List<LedgerEvent> events = new ArrayList<>();
            events.add(event(h, subject, month, EventKind.PLAN_CHANGED, change.allocated(), null, op.now));
            if (change.creditedBack() > 0) {
                events.add(event(h, subject, month, EventKind.CREDITED, change.creditedBack(),
                        LedgerRules.SPENT_PART_BACK, op.now));
            }
            return accountQuery(h, sql.allocateIfUnchanged, subject, month, op.now)
                    // compare-and-set on every value the allocation was computed from
                    .bind("allocated", change.allocated()).bind("oldAllocated", before.allocated())
                    .bind("absorbed", change.refundAbsorbed()).bind("oldAbsorbed", inputs.refundAbsorbed())
                    .bind("behind", change.absorbedBehind()).bind("oldBehind", inputs.absorbedBehind())
                    .bind("grantedChange", change.granted() - before.granted())
                    .bind("used", before.used()).bind("reserved", before.reserved())
                    .bind("credit", before.granted() + before.carried())
                    .map(Rows.ACCOUNT).findOne()
                    .map(after -> new PlanDone(after, events, List.<QuotaAccount[]>of(new QuotaAccount[] {before, after})));
        });
    }

    /**
     * The plan change of a month some closed month may give or take tokens to, under the locks of those
     * months and the current one; empty when the next month opened while it waited for them.
     */
    private Optional<PlanDone> changePlanLocked(Handle h, Op op, String subject, YearMonth month, long monthlyAllocation) {
        List<MonthRow> rows = h.createQuery(sql.lockMonthsOfRefunds).bind("subject", subject)
                .bind("month", Rows.month(month)).bind("purchaseMonth", Rows.month(month)).map(MONTH).list();
        MonthRow current = rows.isEmpty() ? null : rows.get(rows.size() - 1);
        if (current == null || !current.account().month().equals(month) || current.superseded()) {
            return Optional.empty();
        }
        List<LedgerRules.ClosedMonth> closed = new ArrayList<>();
        for (MonthRow row : rows.subList(0, rows.size() - 1)) {
            closed.add(new LedgerRules.ClosedMonth(row.account(), row.refundTaken()));
        }
        QuotaAccount before = current.account();
        LedgerRules.PlanChange change = LedgerRules.planChange(before, current.refundAbsorbed(),
                current.absorbedBehind(), monthlyAllocation, closed, policy);
        update(h, sql.upsertPlan).bind("subject", subject).bind("allocated", monthlyAllocation)
                .bind("now", Rows.timestamp(op.now)).execute();
        List<LedgerEvent> events = new ArrayList<>();
        List<QuotaAccount[]> changes = new ArrayList<>();
        events.add(event(h, subject, month, EventKind.PLAN_CHANGED, change.allocated(), null, op.now));
        QuotaAccount after = accountQuery(h, sql.changePlanOfLocked, subject, month, op.now)
                .bind("allocated", change.allocated()).bind("absorbed", change.refundAbsorbed())
                .bind("behind", change.absorbedBehind()).bind("granted", change.granted())
                .map(Rows.ACCOUNT).one();
        changes.add(new QuotaAccount[] {before, after});
        for (LedgerRules.TakeReturn back : change.returns()) {
            QuotaAccount closedBefore = back.account();
            QuotaAccount closedAfter = accountQuery(h, sql.setTakeOfLocked, subject, closedBefore.month(), op.now)
                    .bind("granted", back.granted()).bind("taken", back.taken()).map(Rows.ACCOUNT).one();
            changes.add(new QuotaAccount[] {closedBefore, closedAfter});
            // the pair of events of the purchased tokens moved between the two months
            if (back.moved() != 0) {
                EventKind currentKind = back.moved() > 0 ? EventKind.DEBITED : EventKind.CREDITED;
                EventKind closedKind = back.moved() > 0 ? EventKind.CREDITED : EventKind.DEBITED;
                events.add(event(h, subject, month, currentKind, Math.abs(back.moved()),
                        LedgerRules.takeMovedFrom(closedBefore.month()), op.now));
                events.add(event(h, subject, closedBefore.month(), closedKind, Math.abs(back.moved()),
                        LedgerRules.takeMovedTo(month), op.now));
            }
        }
        if (change.creditedBack() > 0) {
            events.add(event(h, subject, month, EventKind.CREDITED, change.creditedBack(),
                    LedgerRules.SPENT_PART_BACK, op.now));
        }
        return Optional.of(new PlanDone(after, events, changes));
    }

    /**
     * What a plan change reads of the current month besides its balances ({@code refund_absorbed},
     * {@code refund_absorbed_behind}), and whether a closed month of the subject has open holds or refunds'
     * takes on record.
     */
    private record PlanInputs(long refundAbsorbed, long absorbedBehind, boolean closedToTouch) {
    }

    /** Logs an event of no hold and no purchase (a plan change's) and returns it as listeners hear it. */
    private LedgerEvent event(Handle h, String subject, YearMonth month, EventKind kind, long tokens, String detail,
                              Instant now) {
        long id = insertEvent(h, subject, month, kind, tokens, 0, null, null, detail, false, now);
        return new LedgerEvent(id, subject, month, kind, tokens, 0, null, null, detail, now);
    }

    private record PlanDone(QuotaAccount account, List<LedgerEvent> events, List<QuotaAccount[]> changes) {
    }

    /**
     * A month's account as {@link Sql#lockMonthsOfRefunds} reads it, with what refunds left on it: of its
     * allowance, refunds' spent parts ({@code refund_absorbed}) and the part of those behind an earlier take
     * ({@code refund_absorbed_behind}); and, for a closed month, how much refunds' takes lowered its
     * {@code granted} ({@code refund_taken}) and, with rollover off, the purchased tokens lapsed refunds found
     * unspent there ({@code refund_lapsed}).
     */
    record MonthRow(QuotaAccount account, long refundAbsorbed, long absorbedBehind, long refundTaken,
                    long refundLapsed, boolean superseded) {
    }

    static final org.jdbi.v3.core.mapper.RowMapper<MonthRow> MONTH = (rs, ctx) -> new MonthRow(
            Rows.ACCOUNT.map(rs, ctx), rs.getLong("refund_absorbed"), rs.getLong("refund_absorbed_behind"),
            rs.getLong("refund_taken"), rs.getLong("refund_lapsed"), rs.getBoolean("superseded"));

    QuotaAccount lockAccount(Handle h, String subject, YearMonth month) {
        return h.createQuery(sql.lockAccount).bind("subject", subject).bind("month", Rows.month(month))
                .map(Rows.ACCOUNT).one();
    }

    /**
     * The subject's accounts later than {@code month}, locked in month order (as every path locks a
     * subject's months); empty when {@code month} is the latest. A first touch of a newer month may
     * commit while this waits for the locks, so it looks again until nothing newer exists: a first touch
     * locks the account it carries from before it creates the next, so once the newest is locked no
     * newer one can appear.
     */
    List<QuotaAccount> lockAfter(Handle h, String subject, YearMonth month) {
        List<QuotaAccount> later = new ArrayList<>();
        YearMonth after = month;
        while (true) {
            List<QuotaAccount> newer = h.createQuery(sql.lockAccountsAfter).bind("subject", subject)
                    .bind("month", Rows.month(after)).map(Rows.ACCOUNT).list();
            if (newer.isEmpty()) {
                return later;
            }
            later.addAll(newer);
            after = newer.get(newer.size() - 1).month();
        }
    }

    QuotaAccount setBalance(Handle h, QuotaAccount before, long granted, long used, long reserved, Instant now) {
        return accountQuery(h, sql.setAccountBalance, before.subject(), before.month(), now)
                .bind("granted", granted).bind("used", used).bind("reserved", reserved).map(Rows.ACCOUNT).one();
    }

    /** {@link #setBalance} that also sets a locked closed month's {@code refund_lapsed}, in the same statement. */
    QuotaAccount setBalance(Handle h, QuotaAccount before, long granted, long used, long reserved, long lapsed,
                            Instant now) {
        return accountQuery(h, sql.setAccountBalanceAndLapsed, before.subject(), before.month(), now)
                .bind("granted", granted).bind("used", used).bind("reserved", reserved).bind("lapsed", lapsed)
                .map(Rows.ACCOUNT).one();
    }

    /**
     * Sets a locked account's purchased tokens and adds a refund's spent part to its allowance ({@code behind}
     * of it behind an earlier refund's take, round 318).
     */
    QuotaAccount setCredit(Handle h, QuotaAccount before, long granted, long absorbed, long behind, Instant now) {
        return accountQuery(h, sql.setAccountCredit, before.subject(), before.month(), now)
                .bind("granted", granted).bind("absorbed", absorbed).bind("behind", behind).map(Rows.ACCOUNT).one();
    }

    /** Lowers a locked closed month's {@code granted} for a refund's take and records the lowering. */
    QuotaAccount takeForRefund(Handle h, QuotaAccount before, long lowering, Instant now) {
        return accountQuery(h, sql.takeForRefund, before.subject(), before.month(), now)
                .bind("lowering", lowering).map(Rows.ACCOUNT).one();
    }

    /** Sets a locked closed month's {@code granted} and {@code refund_lapsed} as a lapsed refund split on it. */
    QuotaAccount setLapsed(Handle h, QuotaAccount before, long granted, long lapsed, Instant now) {
        return accountQuery(h, sql.setLapsedOfLocked, before.subject(), before.month(), now)
                .bind("granted", granted).bind("lapsed", lapsed).map(Rows.ACCOUNT).one();
    }

    /** A locked closed month's {@code refund_lapsed} ({@code LedgerRules.lateLapsed}). */
    long refundLapsed(Handle h, QuotaAccount month) {
        return h.createQuery(sql.selectRefundLapsed).bind("subject", month.subject())
                .bind("month", Rows.month(month.month())).mapTo(Long.class).one();
    }

    boolean superseded(Handle h, String subject, YearMonth month) {
        return h.createQuery(sql.selectSuperseded).bind("subject", subject).bind("month", Rows.month(month))
                .mapTo(Boolean.class).findOne().orElse(false);
    }

    Query accountQuery(Handle h, String statement, String subject, YearMonth month, Instant now) {
        return h.createQuery(statement).bind("subject", subject).bind("month", Rows.month(month))
                .bind("now", Rows.timestamp(now));
    }

    static Update update(Handle h, String statement) {
        return h.createUpdate(statement);
    }

    /** A charge's event with the usage it was weighed from ({@code null}: none recorded). */
    long insertChargeEvent(Handle h, String subject, YearMonth month, EventKind kind, long tokens, long overage,
                           String reservationId, String detail, boolean consume, Instant now, TokenUsage usage) {
        return h.createQuery(sql.insertChargeEvent)
                .bind("subject", subject).bind("month", Rows.month(month)).bind("kind", kind.name())
                .bind("tokens", tokens).bind("overage", overage).bind("reservationId", reservationId)
                .bind("tx", (String) null).bind("detail", detail).bind("consume", consume)
                .bind("now", Rows.timestamp(now))
                .bind("model", usage == null ? null : usage.model())
                .bind("inputTokens", usage == null ? null : usage.input())
                .bind("cachedTokens", usage == null ? null : usage.cachedInput())
                .bind("outputTokens", usage == null ? null : usage.output())
                .bind("reasoningTokens", usage == null ? null : usage.reasoning())
                .mapTo(Long.class).one();
    }

    long insertEvent(Handle h, String subject, YearMonth month, EventKind kind, long tokens, long overage,
                     String reservationId, String transactionId, String detail, boolean consume, Instant now) {
        return h.createQuery(sql.insertEvent)
                .bind("subject", subject).bind("month", Rows.month(month)).bind("kind", kind.name())
                .bind("tokens", tokens).bind("overage", overage).bind("reservationId", reservationId)
                .bind("tx", transactionId).bind("detail", detail).bind("consume", consume)
                .bind("now", Rows.timestamp(now))
                .mapTo(Long.class).one();
    }

    /** {@code account} with {@code used}, {@code reserved} and {@code granted} moved by the deltas. */
    static QuotaAccount adjust(QuotaAccount a, long used, long reserved, long granted) {
        return new QuotaAccount(a.subject(), a.month(), a.allocated(), a.granted() + granted, a.carried(),
                a.used() + used, a.reserved() + reserved, a.createdAt(), a.updatedAt());
    }

    /** A committed change: its event's id and the account after it. */
    record Committed(long eventId, QuotaAccount account) {
    }
}
