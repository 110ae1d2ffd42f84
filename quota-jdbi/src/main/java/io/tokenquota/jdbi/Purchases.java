package io.tokenquota.jdbi;

import static io.tokenquota.jdbi.Accounts.adjust;
import static io.tokenquota.jdbi.Accounts.update;
import static io.tokenquota.jdbi.Operations.contended;
import static io.tokenquota.jdbi.Operations.optionalTransaction;
import static io.tokenquota.jdbi.Operations.transaction;

import io.tokenquota.Currency;
import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.internal.LedgerRules;
import io.tokenquota.jdbi.Accounts.Committed;
import io.tokenquota.jdbi.Operations.Conflict;
import io.tokenquota.jdbi.Operations.Op;
import io.tokenquota.jdbi.Operations.OverMaxQuota;
import io.tokenquota.jdbi.Operations.Superseded;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.JdbiException;

/**
 * Purchases ({@code tq_purchase}) and the credits and debits they make: a pending purchase recorded,
 * then completed (credited to the subject's latest month) or failed; a purchase granted in one step;
 * a refund, which debits what the purchase credited (of one never credited, pending or failed, it only marks
 * it refunded: round 340); purchase look-ups, and replays of a transaction
 * id (the same request answers as the first call did, a different one is an idempotency conflict; a credited
 * purchase's money is the captured money, not compared: {@link LedgerRules#replayPurchase}).
 *
 * <p>Lock order: a credit locks the purchase row by its conditional update, then the latest account by
 * {@code Sql.creditIfUnderMaxQuota}, last in its transaction; a refund ({@link #debit}) locks the
 * purchase, then the accounts it may take from, months ascending.
 */
final class Purchases {
    private final Sql sql;
    private final QuotaPolicy policy;
    private final Accounts accounts;

    Purchases(Sql sql, QuotaPolicy policy, Accounts accounts) {
        this.sql = sql;
        this.policy = policy;
        this.accounts = accounts;
    }

    Purchase recordPending(Op op, PurchaseRequest request) {
        Optional<Purchase> existing = purchaseById(op, request.transactionId());
        if (existing.isPresent()) {
            return LedgerRules.replayPurchase(existing.get(), request);
        }
        YearMonth month = policy.monthOf(op.now);
        long eventId;
        try {
            eventId = transaction(op, h -> {
                insertPurchase(h, request, PurchaseStatus.PENDING, null, op.now);
                return accounts.insertEvent(h, request.subject(), month, EventKind.PURCHASE_RECORDED, request.tokens(),
                        0, null, request.transactionId(), request.reason(), false, op.now);
            });
        } catch (JdbiException e) {
            if (Failures.isUniqueViolation(e)) {
                return LedgerRules.replayPurchase(
                        purchaseById(op, request.transactionId()).orElseThrow(() -> new Conflict(e)), request);
            }
            throw e;
        }
        op.logged(new LedgerEvent(eventId, request.subject(), month, EventKind.PURCHASE_RECORDED, request.tokens(),
                0, null, request.transactionId(), request.reason(), op.now));
        return purchaseById(op, request.transactionId()).orElseThrow();
    }

    /**
     * Completes a pending or failed purchase with the money its provider captured: {@code amount} and {@code
     * currency}, each when not null, replace the record's in the update that completes it (round 414).
     */
    Purchase complete(Op op, String transactionId, BigDecimal amount, Currency currency) {
        while (true) {
            Purchase purchase = findPurchase(op, transactionId);
            switch (purchase.status()) {
                case COMPLETED:
                    return purchase;
                case REFUNDED:
                    throw purchaseConflict(purchase, "completed");
                default:
                    break;
            }
            LedgerRules.checkCreditSize(purchase.subject(), purchase.tokens(), policy);
            QuotaAccount account = accounts.currentAccount(op, purchase.subject());
            LedgerRules.checkCredit(account, purchase.tokens(), policy);
            Optional<Committed> done;
            try {
                done = optionalTransaction(op, h -> {
                    // a row's money changes only here, with its status: the one read above is the row's
                    int changed = update(h, sql.completeOpenPurchase).bind("tx", transactionId)
                            .bind("month", Rows.month(account.month())).bind("now", Rows.timestamp(op.now))
                            .bind("amount", amount == null ? purchase.amount() : amount)
                            .bind("currency", (currency == null ? purchase.currency() : currency).name()).execute();
                    if (changed == 0) {
                        return Optional.empty();
                    }
                    return Optional.of(credit(h, op, account.month(), purchase));
                });
            } catch (OverMaxQuota overQuota) {
                throw maxQuotaExceeded(purchase.subject(), account.month(), purchase.tokens());
            } catch (Superseded superseded) {
                // the next month opened while this credit waited for the row: credit that month, on another
                // connection (round 440: Superseded suppresses nothing, so a ROLLBACK whose session the server
                // had ended for idleness is lost and the handle may be dead; the next op.handle() takes another)
                op.close();
                continue;
            }
            if (done.isPresent()) {
                creditDone(op, account.month(), purchase, done.get());
                return purchaseById(op, transactionId).orElseThrow();
            }
        }
    }

    /** A completed purchase in one step, credited to the subject's latest month. */
    Purchase grant(Op op, PurchaseRequest request) {
        for (int attempt = 1; ; attempt++) {
            try {
                return grantOnce(op, request);
            } catch (Superseded superseded) {
                if (attempt >= Holds.MAX_TAKE_ATTEMPTS) {
                    throw contended("grant", request.transactionId());
                }
                // the next month opened while this credit waited for the row: credit that month, on another
                // connection (round 440, as in complete: the failed ROLLBACK's 25P03 is dropped with the handle)
                op.close();
            }
        }
    }

    private Purchase grantOnce(Op op, PurchaseRequest request) {
        Optional<Purchase> existing = purchaseById(op, request.transactionId());
        if (existing.isPresent()) {
            return LedgerRules.replayPurchase(existing.get(), request);
        }
        LedgerRules.checkCreditSize(request.subject(), request.tokens(), policy);
        QuotaAccount account = accounts.currentAccount(op, request.subject());
        LedgerRules.checkCredit(account, request.tokens(), policy);
        Purchase pending = new Purchase(request.transactionId(), request.subject(), request.tokens(), request.type(),
                PurchaseStatus.PENDING, request.paymentMethod(), request.amount(), request.currency(),
                request.reason(), null, 0, op.now, null);
        Committed done;
        try {
            done = transaction(op, h -> {
                insertPurchase(h, request, PurchaseStatus.COMPLETED, account.month(), op.now);
                return credit(h, op, account.month(), pending);
            });
        } catch (OverMaxQuota overQuota) {
            throw maxQuotaExceeded(request.subject(), account.month(), request.tokens());
        } catch (JdbiException e) {
            if (Failures.isUniqueViolation(e)) {
                return LedgerRules.replayPurchase(
                        purchaseById(op, request.transactionId()).orElseThrow(() -> new Conflict(e)), request);
            }
            throw e;
        }
        creditDone(op, account.month(), pending, done);
        return purchaseById(op, request.transactionId()).orElseThrow();
    }

    /**
     * Logs the credit and adds it to {@code granted}, last in the transaction; rolls back past the max
     * quota (checked before by {@link LedgerRules#checkCredit}; the condition catches a concurrent credit).
     */
    private Committed credit(Handle h, Op op, YearMonth month, Purchase purchase) {
        long eventId = accounts.insertEvent(h, purchase.subject(), month, EventKind.CREDITED, purchase.tokens(), 0,
                null, purchase.transactionId(), purchase.reason(), false, op.now);
        Optional<QuotaAccount> after = accounts
                .accountQuery(h, sql.creditIfUnderMaxQuota, purchase.subject(), month, op.now)
                .bind("tokens", purchase.tokens()).bind("maxQuota", policy.maxQuota())
                .map(Rows.ACCOUNT).findOne();
        if (after.isEmpty()) {
            throw accounts.superseded(h, purchase.subject(), month) ? Superseded.INSTANCE : OverMaxQuota.INSTANCE;
        }
        return new Committed(eventId, after.get());
    }

    private void creditDone(Op op, YearMonth month, Purchase purchase, Committed done) {
        op.logged(new LedgerEvent(done.eventId(), purchase.subject(), month, EventKind.CREDITED, purchase.tokens(), 0,
                null, purchase.transactionId(), purchase.reason(), op.now));
        op.changed(adjust(done.account(), 0, 0, -purchase.tokens()), done.account());
    }

    private QuotaException maxQuotaExceeded(String subject, YearMonth month, long tokens) {
        return new QuotaException(ErrorCode.MAX_QUOTA_EXCEEDED, "crediting " + tokens + " tokens would take "
                + subject + "'s " + month + " limit past the max quota " + policy.maxQuota());
    }

    Purchase fail(Op op, String transactionId) {
        while (true) {
            Purchase purchase = findPurchase(op, transactionId);
            switch (purchase.status()) {
                case FAILED:
                    return purchase;
                case COMPLETED:
                case REFUNDED:
                    throw purchaseConflict(purchase, "failed");
                default:
                    break;
            }
            YearMonth month = policy.monthOf(op.now);
            Optional<Long> eventId = optionalTransaction(op, h -> {
                if (update(h, sql.failPendingPurchase).bind("tx", transactionId)
                        .bind("now", Rows.timestamp(op.now)).execute() == 0) {
                    return Optional.empty();
                }
                return Optional.of(accounts.insertEvent(h, purchase.subject(), month, EventKind.PURCHASE_RECORDED,
                        purchase.tokens(), 0, null, transactionId, purchase.reason(), false, op.now));
            });
            if (eventId.isPresent()) {
                op.logged(new LedgerEvent(eventId.get(), purchase.subject(), month, EventKind.PURCHASE_RECORDED,
                        purchase.tokens(), 0, null, transactionId, purchase.reason(), op.now));
                return purchaseById(op, transactionId).orElseThrow();
            }
        }
    }

    Purchase refund(Op op, String transactionId) {
        while (true) {
            Purchase purchase = findPurchase(op, transactionId);
            switch (LedgerRules.refundOf(purchase.status())) {
                case REPLAY:
                    return purchase;
                case UNCREDITED:
                    Optional<Purchase> refunded = refundUncredited(op, purchase);
                    if (refunded.isPresent()) {
                        return refunded.get();
                    }
                    // completed (or failed, or refunded) by another call between our read and our update
                    continue;
                default:
                    break;
            }
            YearMonth month = accounts.currentAccount(op, purchase.subject()).month();
            Optional<Debits> done = optionalTransaction(op, h -> debit(h, op, purchase, month));
            if (done.isPresent()) {
                done.get().events.forEach(op::logged);
                done.get().changes.forEach(change -> op.changed(change[0], change[1]));
                return purchaseById(op, transactionId).orElseThrow();
            }
            // another call refunded it between our read and our lock: answer as it is now
        }
    }

    /**
     * A refund of a purchase never credited (pending or failed): marked refunded by a conditional update
     * and logged as a {@code DEBITED} event of 0 tokens in the month of the refund's instant, nothing debited
     * ({@link LedgerRules.RefundOf#UNCREDITED}, round 340). Empty when the purchase left that state first.
     */
    private Optional<Purchase> refundUncredited(Op op, Purchase purchase) {
        String tx = purchase.transactionId();
        YearMonth month = policy.monthOf(op.now);
        Optional<Long> eventId = optionalTransaction(op, h -> {
            if (update(h, sql.refundUncreditedPurchase).bind("tx", tx).bind("now", Rows.timestamp(op.now))
                    .execute() == 0) {
                return Optional.empty();
            }
            return Optional.of(accounts.insertEvent(h, purchase.subject(), month, EventKind.DEBITED, 0, 0, null, tx,
                    purchase.reason(), false, op.now));
        });
        if (eventId.isEmpty()) {
            return Optional.empty();
        }
        op.logged(new LedgerEvent(eventId.get(), purchase.subject(), month, EventKind.DEBITED, 0, 0, null, tx,
                purchase.reason(), op.now));
        return Optional.of(purchaseById(op, tx).orElseThrow());
    }

    /**
     * A refund's debit, in a transaction that locks the purchase, then the accounts it may take from in
     * month order: the purchased tokens the current month has not spent (held ones included), then those
     * closed months still hold for open holds, newest first. A closed month's {@code granted} drops so
     * that its purchased tokens are only what its consumption minus the refund's take still needs, so
     * finishing those holds later gives nothing of the refund back ({@link LedgerRules#lateTransfer}).
     * One {@code DEBITED} event per month taken from; the current month's always, with the part already
     * spent ({@code unrecovered}) as its overage, and as its tokens all it took from the month's
     * {@code granted}: the unspent tokens and those the month spent, which become its allowance
     * ({@link LedgerRules#refundAbsorbed}). With rollover off a purchase of an earlier month takes nothing from the
     * current month and is split on the month its tokens lapsed in ({@link LedgerRules#lapsedMonth},
     * {@link LedgerRules#lapsedRefund}, rounds 422 and 425), unless the current month still carries them (round
     * 427). Empty when the purchase is no longer completed.
     */
    private Optional<Debits> debit(Handle h, Op op, Purchase purchase, YearMonth month) {
        String subject = purchase.subject();
        if (h.createQuery(sql.lockCompletedPurchase).bind("tx", purchase.transactionId()).mapTo(String.class)
                .findOne().isEmpty()) {
            return Optional.empty();
        }
        // with rollover off a purchase of a closed month lapsed with it: the current month's purchased tokens are
        // other purchases', and the refund is split on the month its tokens lapsed in: the months from its own on
        // are locked too (rounds 422, 425)
        boolean mayLapse = LedgerRules.refundLapsed(purchase.month(), month, policy);
        List<Accounts.MonthRow> rows = h.createQuery(sql.lockMonthsOfRefunds).bind("subject", subject)
                .bind("month", Rows.month(month)).bind("purchaseMonth", Rows.month(mayLapse ? purchase.month() : month))
                .map(Accounts.MONTH).list();
        if (rows.isEmpty() || !rows.get(rows.size() - 1).account().month().equals(month)
                || rows.get(rows.size() - 1).superseded()) {
            // the next month opened while this refund waited for the locks: refund in that month
            return Optional.empty();
        }
        List<QuotaAccount> locked = new ArrayList<>();
        List<LedgerRules.ClosedMonth> earlierTakes = new ArrayList<>();
        for (Accounts.MonthRow row : rows) {
            locked.add(row.account());
            if (!row.account().month().equals(month) && row.refundTaken() > 0) {
                earlierTakes.add(new LedgerRules.ClosedMonth(row.account(), row.refundTaken()));
            }
        }
        QuotaAccount current = locked.get(locked.size() - 1);
        // not lapsed when the months after it carried its tokens on to the current one, opened while rollover was
        // on (round 427: January's pack carried into February, refunded there after rollover was turned off)
        int at = -1;
        if (mayLapse) {
            int first = 0;
            while (locked.get(first).month().isBefore(purchase.month())) {
                first++;
            }
            int found = LedgerRules.lapsedMonth(locked.subList(first, locked.size()));
            at = found < 0 ? -1 : first + found;
        }
        boolean lapsed = at >= 0;
        long tokens = purchase.tokens();
        long fromCurrent = lapsed ? 0 : LedgerRules.refundable(current, tokens);
        long left = tokens - fromCurrent;
        List<QuotaAccount[]> changes = new ArrayList<>();
        List<long[]> closedTakes = new ArrayList<>();
        // with rollover off a closed month's purchased tokens lapsed with it: nothing there to take back
        for (int i = locked.size() - 2; policy.rolloverPurchased() && i >= 0 && left > 0; i--) {
            QuotaAccount closed = locked.get(i);
            long take = Math.min(left, LedgerRules.purchasedHeld(closed));
            if (take <= 0) {
                continue;
            }
            // recorded, so that a plan change that frees current-month purchased tokens moves the take onto
            // them (round 318)
            long lowering = LedgerRules.refundTakeLowering(closed, take);
            changes.add(new QuotaAccount[] {closed, accounts.takeForRefund(h, closed, lowering, op.now)});
            closedTakes.add(new long[] {i, take});
            left -= take;
        }
        long unrecovered = left;
        if (lapsed) {
            Accounts.MonthRow own = rows.get(at);
            LedgerRules.LapsedRefund lapse = LedgerRules.lapsedRefund(own.account(), own.refundLapsed(), tokens);
            unrecovered = lapse.unrecovered();
            if (lapse.granted() != own.account().granted() || lapse.lapsed() != own.refundLapsed()) {
                changes.add(new QuotaAccount[] {own.account(), accounts.setLapsed(h, own.account(), lapse.granted(),
                        lapse.lapsed(), op.now)});
            }
            if (lapse.taken() > 0) {
                closedTakes.add(new long[] {at, lapse.taken()});
            }
        }
        long absorbed = lapsed ? 0 : LedgerRules.refundAbsorbed(current, fromCurrent, unrecovered);
        // behind an earlier refund's take that still stands, a raise frees tokens for that take first (round 318)
        long behind = absorbed > 0 && LedgerRules.absorbsBehindTakes(earlierTakes) ? absorbed : 0;
        if (fromCurrent > 0 || absorbed > 0) {
            changes.add(new QuotaAccount[] {current, accounts.setCredit(h, current,
                    current.granted() - fromCurrent - absorbed, absorbed, behind, op.now)});
        }
        update(h, sql.refundCompletedPurchase).bind("tx", purchase.transactionId()).bind("unrecovered", unrecovered)
                .bind("now", Rows.timestamp(op.now)).execute();
        List<LedgerEvent> events = new ArrayList<>();
        long currentEvent = accounts.insertEvent(h, subject, month, EventKind.DEBITED, fromCurrent + absorbed,
                unrecovered, null, purchase.transactionId(), purchase.reason(), false, op.now);
        events.add(new LedgerEvent(currentEvent, subject, month, EventKind.DEBITED, fromCurrent + absorbed, unrecovered, null,
                purchase.transactionId(), purchase.reason(), op.now));
        for (long[] take : closedTakes) {
            YearMonth closedMonth = locked.get((int) take[0]).month();
            long eventId = accounts.insertEvent(h, subject, closedMonth, EventKind.DEBITED, take[1], 0, null,
                    purchase.transactionId(), purchase.reason(), false, op.now);
            events.add(new LedgerEvent(eventId, subject, closedMonth, EventKind.DEBITED, take[1], 0, null,
                    purchase.transactionId(), purchase.reason(), op.now));
        }
        return Optional.of(new Debits(events, changes));
    }

    private record Debits(List<LedgerEvent> events, List<QuotaAccount[]> changes) {
    }

    /** The subject's purchases created in {@code month}. */
    List<Purchase> purchases(Op op, String subject, YearMonth month) {
        return op.with(h -> h.createQuery(sql.selectPurchasesCreatedBetween)
                .bind("subject", subject)
                .bind("from", Rows.timestamp(policy.startOf(month)))
                .bind("to", Rows.timestamp(policy.resetOf(month)))
                .map(Rows.PURCHASE).list());
    }

    private Purchase findPurchase(Op op, String transactionId) {
        return purchaseById(op, transactionId).orElseThrow(() ->
                new QuotaException(ErrorCode.PURCHASE_NOT_FOUND, "no purchase " + transactionId));
    }

    private static QuotaException purchaseConflict(Purchase purchase, String target) {
        return new QuotaException(ErrorCode.PURCHASE_STATE_CONFLICT, "purchase " + purchase.transactionId()
                + " is " + purchase.status().wireName() + " and cannot be " + target);
    }


    Optional<Purchase> purchaseById(Op op, String transactionId) {
        return op.with(h -> h.createQuery(sql.selectPurchase).bind("tx", transactionId)
                .map(Rows.PURCHASE).findOne());
    }

    private void insertPurchase(Handle h, PurchaseRequest request, PurchaseStatus status, YearMonth month, Instant now) {
        update(h, sql.insertPurchase)
                .bind("tx", request.transactionId()).bind("subject", request.subject()).bind("tokens", request.tokens())
                .bind("type", request.type().wireName()).bind("status", status.wireName())
                .bind("paymentMethod", request.paymentMethod()).bind("amount", request.amount())
                .bind("currency", request.currency().name()).bind("reason", request.reason())
                .bind("month", Rows.month(month)).bind("now", Rows.timestamp(now))
                .bind("processedAt", Rows.timestamp(status == PurchaseStatus.PENDING ? null : now))
                .execute();
    }

}
