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
 * already hold a hold's or purchase's lock. A plan change locks only the account, by its conditional
 * update.
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

    QuotaAccount setPlan(Op op, String subject, long monthlyAllocation) {
        QuotaAccount account = currentAccount(op, subject);
        for (int attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
            QuotaAccount before = account;
            long refundAbsorbed = op.with(h -> h.createQuery(sql.selectRefundAbsorbed).bind("subject", subject)
                    .bind("month", Rows.month(before.month())).mapTo(Long.class).one());
            LedgerRules.PlanChange change = LedgerRules.planAllocation(before, refundAbsorbed, monthlyAllocation,
                    policy);
            long allocated = change.allocated();
            Optional<Committed> done = optionalTransaction(op, h -> {
                update(h, sql.upsertPlan).bind("subject", subject).bind("allocated", monthlyAllocation)
                        .bind("now", Rows.timestamp(op.now)).execute();
                long eventId = insertEvent(h, subject, before.month(), EventKind.PLAN_CHANGED, allocated, 0, null,
                        null, null, false, op.now);
                return accountQuery(h, sql.allocateIfUnchanged, subject, before.month(), op.now)
                        // compare-and-set on every value the allocation was computed from
                        .bind("allocated", allocated).bind("oldAllocated", before.allocated())
                        .bind("absorbed", change.refundAbsorbed()).bind("oldAbsorbed", refundAbsorbed)
                        .bind("used", before.used()).bind("reserved", before.reserved())
                        .bind("credit", before.granted() + before.carried())
                        .map(Rows.ACCOUNT).findOne().map(after -> new Committed(eventId, after));
            });
            if (done.isPresent()) {
                op.logged(new LedgerEvent(done.get().eventId, subject, before.month(), EventKind.PLAN_CHANGED,
                        allocated, 0, null, null, null, op.now));
                op.changed(before, done.get().account);
                return done.get().account;
            }
            // changed since read, or superseded by the next month: read the latest account again
            account = currentAccount(op, subject);
        }
        throw contended("setPlan", subject);
    }

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

    /** Sets a locked account's purchased tokens and adds a refund's spent part to its allowance. */
    QuotaAccount setCredit(Handle h, QuotaAccount before, long granted, long absorbed, Instant now) {
        return accountQuery(h, sql.setAccountCredit, before.subject(), before.month(), now)
                .bind("granted", granted).bind("absorbed", absorbed).map(Rows.ACCOUNT).one();
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
