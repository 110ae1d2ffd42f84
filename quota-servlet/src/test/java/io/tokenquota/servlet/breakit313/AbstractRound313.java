package io.tokenquota.servlet.breakit313;

import static io.tokenquota.servlet.testing.LongReasoningCall.CALL;
import static io.tokenquota.servlet.testing.LongReasoningCall.callWithoutBudget;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.HeldChatModel;
import io.tokenquota.servlet.testing.LongReasoningCall;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.YearMonth;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 313 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the last
 * commit's refund rule (the part of a refunded purchase the current month already spent moves from its
 * {@code granted} to its {@code allocated}: docs/semantics.md "Credits and refunds", docs/decisions.md "A refund's
 * spent part becomes allowance", {@code LedgerRules.refundAbsorbed}) against plan changes, overruns and the month
 * turn.
 *
 * <p><b>1. In an overdrawn month a refund swallows a later plan raise.</b> Under {@code CHARGE_ACTUAL} (the default)
 * a call that names no output budget is held at its estimate and charged its usage, so a month can end up above
 * its limit (round 306). A refund there turns the whole purchase into allowance (all of it counts as spent), and
 * a plan raise up to that inflated allowance then gives the user nothing; raised before the refund, the same
 * user gets the raise. docs/semantics.md: "a refund and a raise end the same in either order".
 *
 * <p><b>2. A refunded purchase comes back through a closed month's holds.</b> A purchase carried into the new
 * month and refunded there is debited from the new month's carried tokens. A call held in the old month that is
 * then charged beyond its hold raises the old month's purchased consumption, but the new month has no purchased
 * tokens left to give ({@code LedgerRules.lateTransfer} bounds the take at {@code granted + carried}); when another
 * of the old month's holds is released, its whole drop in consumption is handed to the new month's carried: the
 * refunded tokens are available again and roll over every month.
 *
 * <p>The main store is H2 with a 20,000-token allowance behind the filter on {@code /ai/*} and the quota API under
 * {@link #API}; finding 2 runs on a {@link ClockedStore} (its own H2, a clock the test moves across the month end).
 */
abstract class AbstractRound313 extends QuotaApiRound {
    /** The model: the {@link LongReasoningCall}'s answer. */
    final HeldChatModel model = new HeldChatModel(LongReasoningCall.completion("chatcmpl-313"));

    static String subject() {
        return "u313-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return withChatModel(filter, model);
    }

    // ------------------------------------------------------------------ 1. an overdrawn month: refund, then raise

    static final long EARLIER = 25_000;

    /**
     * The user on the 20,000-token plan buys 10,000 tokens (limit 30,000; a completed payment callback) and has used
     * {@value #EARLIER} this month (earlier calls, charged as round 299 charges them: {@code consume}). One long call
     * that names no output budget is held at its estimate (about 1,400, within the 5,000 left) and charged the
     * 12,000 its answer reports ({@code CHARGE_ACTUAL}, the default; round 306): the month has used 37,000, 7,000
     * beyond its limit. Returns the purchase's transaction id.
     */
    String overdrawnByACall(String s) {
        String tx = paymentId();
        assertEquals(200, payment(tx, s, 10_000, "completed").statusCode());
        store.consume(s, EARLIER, null);
        HttpResponse<String> r = TestHttp.postJson(container.uri(CHAT), s, callWithoutBudget());
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = settled(s);
        assertEquals(EARLIER + CALL, a.used(), ledger(s));
        assertEquals(ALLOWANCE + 10_000 - EARLIER - CALL, a.available(), a.toString());
        return tx;
    }

    /**
     * The overdrawn user's payment is refunded ({@code charge.refunded}), then, later that month, the user upgrades
     * to the 30,000-token plan ({@code PUT /users/{id}/plan}, Stripe's {@code customer.subscription.updated}).
     *
     * <p>On the 30,000 plan the month's 37,000 are the allowance and 7,000 of the refunded purchase (the allowance is
     * spent first); the refund's spent part is not charged back ("What was already spent is recorded as
     * unrecovered ... never lost"; its becoming allowance leaves {@code available} unchanged): 0 left, as the
     * control (raise first) ends. Refunded first, the refund makes all 10,000 bought tokens allowance
     * ({@code allocated} 30,000), and the raise to 30,000 then changes nothing: the user who paid for the upgrade
     * gets none of it and stays 7,000 below zero for the month.
     */
    @Test
    void aPlanRaiseAfterARefundInAnOverdrawnMonthEndsAsTheRaiseBeforeIt() {
        String s = subject();
        String tx = overdrawnByACall(s);
        HttpResponse<String> refund = payment(tx, s, 10_000, "refunded");
        QuotaAccount refunded = store.account(s);
        HttpResponse<String> plan = putPlan(s, 30_000);
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, refund.statusCode(), refund.body()),
                () -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(EARLIER + CALL, a.used(), ledger(s)),
                () -> assertEquals(0, a.unusedGranted(), a.toString()),
                () -> assertEquals(0, a.available(), kind() + ": on the 30,000 plan with 37,000 used and the purchase"
                        + " refunded, raised after the refund (refund left " + refunded + "), " + a.available()
                        + " left; raised before it, 0: " + a));
    }

    /** Control: the same call, the raise before the refund: 0 left, 7,000 of the purchase unrecovered. */
    @Test
    void controlThePlanRaiseBeforeTheRefundInTheSameOverdrawnMonth() {
        String s = subject();
        String tx = overdrawnByACall(s);
        HttpResponse<String> plan = putPlan(s, 30_000);
        HttpResponse<String> refund = payment(tx, s, 10_000, "refunded");
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(200, refund.statusCode(), refund.body()),
                () -> assertEquals(EARLIER + CALL, a.used(), ledger(s)),
                () -> assertEquals(7_000, store.purchase(tx).orElseThrow().unrecovered()),
                () -> assertEquals(0, a.unusedGranted(), a.toString()),
                () -> assertEquals(0, a.available(), a.toString()));
    }

    // ------------------------------------------------------------------ 2. a refunded carried purchase comes back

    static final long BOUGHT = 3_000;

    /**
     * January 31st, 23:58 UTC, on a store whose allowance is 20,000 ({@code CHARGE_ACTUAL}, rollover on: the
     * defaults): the user has bought {@value #BOUGHT} tokens and used 6,000; two calls are in flight, as the filter
     * holds them (docs/servlet.md): one naming no output budget, held at 1,400, the other with
     * {@code max_completion_tokens} 8,000, held at 8,000. January holds 15,400 of its 20,000 allowance: none of the
     * bought tokens is spent or held, and February, opened at 00:01, carries all {@value #BOUGHT}. Returns
     * {@code {purchase, first hold, second hold}}.
     */
    static String[] acrossTheMonthEnd(JdbiQuotaStore ledger, MutableClock clock, String s) {
        String tx = paymentId();
        ledger.grant(PurchaseRequest.grant(tx, s, BOUGHT, PurchaseType.PURCHASE, "top-up"));
        ledger.consume(s, 6_000, null);
        Reservation noBudget = ledger.reserve(s, 1_400, null);
        Reservation budgeted = ledger.reserve(s, 8_000, null);
        clock.advance(Duration.ofMinutes(3));
        QuotaAccount february = ledger.account(s);
        assertEquals(YearMonth.of(2027, 2), february.month());
        assertEquals(BOUGHT, february.carried(), february.toString());
        return new String[] {tx, noBudget.id(), budgeted.id()};
    }

    static MutableClock lastMinutesOfJanuary() {
        MutableClock clock = MutableClock.at(YearMonth.of(2027, 1), 31, 23);
        clock.advance(Duration.ofMinutes(58));
        return clock;
    }

    /**
     * Just after midnight the purchase is refunded (the payment callback's {@code store.refund}): February has spent
     * none of it, so all {@value #BOUGHT} are debited from its carried tokens, nothing unrecovered. Then the
     * calls end, within their holds' five minutes: the first is charged the 9,000 its answer reports (beyond its
     * hold, {@code CHARGE_ACTUAL}), the second fails upstream (5xx: released). January has used 15,000 of its 20,000
     * allowance: no bought token was ever spent, and none is left (the only purchase was refunded). February must
     * have its 20,000 allowance and nothing more.
     *
     * <p>The first charge raises January's purchased consumption to 3,000 (23,000 used and held on a 20,000
     * allowance), which February, its bought tokens gone, cannot give; the release then lowers it to 0, and all
     * 3,000 are handed to February's carried: the refunded tokens are back, available and carried into March.
     */
    @Test
    void aRefundedCarriedPurchaseDoesNotComeBackThroughTheOldMonthsHolds() {
        MutableClock clock = lastMinutesOfJanuary();
        try (ClockedStore clocked = new ClockedStore(clock, ALLOWANCE)) {
            JdbiQuotaStore ledger = clocked.store();
            String s = subject();
            String[] ids = acrossTheMonthEnd(ledger, clock, s);
            long unrecovered = ledger.refund(ids[0]).unrecovered();
            ledger.commit(ids[1], 9_000);
            ledger.release(ids[2]);
            QuotaAccount january = ledger.account(s, YearMonth.of(2027, 1)).orElseThrow();
            QuotaAccount february = ledger.account(s);
            assertAll(() -> assertEquals(0, unrecovered),
                    () -> assertEquals(15_000, january.used(), january.toString()),
                    () -> assertEquals(0, february.unusedGranted(), kind() + ": the only purchase was refunded with nothing"
                            + " unrecovered, yet February has " + february.unusedGranted() + " purchased tokens: " + february
                            + " (January " + january + ")"),
                    () -> assertEquals(ALLOWANCE, february.available(), february.toString()));
        }
    }

    /** Control: the same calls end before the refund: February keeps its 20,000 allowance, nothing bought. */
    @Test
    void controlTheOldMonthsHoldsFinishedBeforeTheRefund() {
        MutableClock clock = lastMinutesOfJanuary();
        try (ClockedStore clocked = new ClockedStore(clock, ALLOWANCE)) {
            JdbiQuotaStore ledger = clocked.store();
            String s = subject();
            String[] ids = acrossTheMonthEnd(ledger, clock, s);
            ledger.commit(ids[1], 9_000);
            ledger.release(ids[2]);
            long unrecovered = ledger.refund(ids[0]).unrecovered();
            QuotaAccount january = ledger.account(s, YearMonth.of(2027, 1)).orElseThrow();
            QuotaAccount february = ledger.account(s);
            assertAll(() -> assertEquals(0, unrecovered),
                    () -> assertEquals(15_000, january.used(), january.toString()),
                    () -> assertEquals(0, february.unusedGranted(), february.toString()),
                    () -> assertEquals(ALLOWANCE, february.available(), february.toString()));
        }
    }
}
