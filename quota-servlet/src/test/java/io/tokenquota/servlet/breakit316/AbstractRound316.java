package io.tokenquota.servlet.breakit316;

import static io.tokenquota.servlet.testing.LongReasoningCall.CALL;
import static io.tokenquota.servlet.testing.LongReasoningCall.callWithoutBudget;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
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
import java.time.ZoneOffset;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 316 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the ledger's
 * money rules of the last commits (docs/semantics.md "Credits and refunds" and "Holds that outlive their month";
 * {@code LedgerRules.refundAbsorbed}, {@code planAllocation}, {@code closedGranted}) in two orders that the docs say
 * end alike.
 *
 * <p><b>1. A refund then a plan raise is not the raise then the refund when another purchase stands.</b>
 * docs/semantics.md: "a refund and a raise end the same in either order" (rounds 299 and 313). A user who bought two
 * packs and used part of both: refunded first, the refund's spent part becomes allowance ({@code refundAbsorbed});
 * the raise then keeps that part on top of the new plan whenever the month's use passes the new plan
 * ({@code planAllocation}: {@code min(absorbed, used - base)}), although the pack still standing covers that use.
 * Raised first, the refund finds the refunded pack's tokens unspent and takes them all back. The first order leaves
 * the user 3,000 tokens of the refunded pack.
 *
 * <p><b>2. A closed month's late charge and a later month's release, in two orders, across two month ends.</b>
 * docs/semantics.md "Holds that outlive their month": the carried amount never depends on whether a late commit or
 * release came first (the one stated bound needs a refund). A January hold of the maximum TTL (31 days,
 * {@code Limits.MAX_TTL}) charged beyond its hold in March, and a February hold that holds January's carried
 * purchased tokens across the March turn, released: charged first, the take finds March without purchased tokens
 * (February's hold has them), takes nothing and {@code closedGranted} writes the overdraft off; released first, the
 * same charge takes 6,000 from March. No refund anywhere.
 *
 * <p>Finding 1 runs through the quota API on the round's H2 store (payment callbacks, {@code PUT .../plan}) with one
 * model call behind the filter; finding 2 on a {@link ClockedStore} (its own H2, a clock the test moves).
 */
abstract class AbstractRound316 extends QuotaApiRound {
    /** The model: the {@link LongReasoningCall}'s answer. */
    final HeldChatModel model = new HeldChatModel(LongReasoningCall.completion("chatcmpl-316"));

    static String subject() {
        return "u316-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return withChatModel(filter, model);
    }

    // ------------------------------------------------------------------ 1. refund and raise with a second pack

    static final long FIRST_PACK = 10_000;
    static final long SECOND_PACK = 5_000;
    static final long EARLIER = 21_000;
    static final long RAISED = 30_000;

    /**
     * On the 20,000-token plan the user buys two packs, {@value #FIRST_PACK} and {@value #SECOND_PACK} tokens (two
     * completed payment callbacks: limit 35,000), has used {@value #EARLIER} this month (earlier calls, charged as
     * round 313 charges them: {@code consume}) and makes one call behind the filter that reports 12,000 tokens:
     * 33,000 used, 13,000 of them beyond the allowance, so from the packs; 2,000 left. Returns the first pack's
     * transaction id.
     */
    String twoPacksAndACall(String s) {
        String first = paymentId();
        String second = paymentId();
        assertEquals(200, payment(first, s, FIRST_PACK, "completed").statusCode());
        assertEquals(200, payment(second, s, SECOND_PACK, "completed").statusCode());
        store.consume(s, EARLIER, null);
        HttpResponse<String> r = TestHttp.postJson(container.uri(CHAT), s, callWithoutBudget());
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = settled(s);
        assertEquals(EARLIER + CALL, a.used(), ledger(s));
        assertEquals(ALLOWANCE + FIRST_PACK + SECOND_PACK - EARLIER - CALL, a.available(), a.toString());
        return first;
    }

    /**
     * The first pack's payment is refunded ({@code charge.refunded}), then, later that month, the user upgrades to
     * the {@value #RAISED}-token plan ({@code PUT /users/{id}/plan}).
     *
     * <p>On the 30,000 plan the month's 33,000 are the allowance and 3,000 of the packs; the only pack still paid for
     * has 5,000: 2,000 left, as the control (the raise first, the refund then taking all 10,000 back, nothing
     * unrecovered) ends. Refunded first, 2,000 of the first pack are unspent and 8,000 spent (unrecovered): those
     * 8,000 become allowance (28,000), and the raise keeps 3,000 of them on top of the 30,000 (the use passes the new
     * plan by 3,000), so the standing pack pays nothing: 5,000 left, the refunded pack's 3,000 still spendable and
     * carried into the next month.
     */
    @Test
    void aRefundThenARaiseEndsAsTheRaiseThenTheRefundWhenAnotherPackStands() {
        String s = subject();
        String tx = twoPacksAndACall(s);
        HttpResponse<String> refund = payment(tx, s, FIRST_PACK, "refunded");
        QuotaAccount refunded = store.account(s);
        HttpResponse<String> plan = putPlan(s, RAISED);
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, refund.statusCode(), refund.body()),
                () -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(EARLIER + CALL, a.used(), ledger(s)),
                () -> assertEquals(2_000, a.available(), kind() + ": on the 30,000 plan with 33,000 used and only the"
                        + " 5,000 pack paid for, refund then raise left " + a.available() + " (refund left " + refunded
                        + "); the raise then the refund leaves 2,000: " + a),
                () -> assertEquals(2_000, a.unusedGranted(), a.toString()));
    }

    /** Control: the same calls, the raise before the refund: 2,000 left, nothing of the first pack unrecovered. */
    @Test
    void controlTheRaiseBeforeTheRefundWithAnotherPackStanding() {
        String s = subject();
        String tx = twoPacksAndACall(s);
        HttpResponse<String> plan = putPlan(s, RAISED);
        HttpResponse<String> refund = payment(tx, s, FIRST_PACK, "refunded");
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(200, refund.statusCode(), refund.body()),
                () -> assertEquals(EARLIER + CALL, a.used(), ledger(s)),
                () -> assertEquals(0, store.purchase(tx).orElseThrow().unrecovered()),
                () -> assertEquals(2_000, a.available(), a.toString()),
                () -> assertEquals(2_000, a.unusedGranted(), a.toString()));
    }

    // ------------------------------------------------------------------ 2. two month ends, charge vs release

    static final long BOUGHT = 10_000;

    /**
     * January 31st, 22:00 UTC, on a store whose allowance is 20,000 ({@code CHARGE_ACTUAL}, rollover on: the
     * defaults): the user buys {@value #BOUGHT} tokens, uses 12,000, and a long job is held at 8,000 for the longest
     * TTL a hold may have (31 days, {@code Limits.MAX_TTL}): January's allowance is all spent or held, the bought
     * tokens untouched. February 28th, 23:50: February carries all {@value #BOUGHT}; the user uses its 20,000
     * allowance, and at 23:58 a call is held at 10,000 (the filter's five-minute hold; a call naming
     * {@code max_completion_tokens} 10,000): February now holds all the carried tokens. March 1st, 00:01: the user's
     * first request of March opens the month (it carries nothing: February's unused purchased tokens are 0).
     * Returns {@code {january job, february call}}.
     */
    static String[] acrossTwoMonthEnds(JdbiQuotaStore ledger, MutableClock clock, String s) {
        ledger.grant(PurchaseRequest.grant(paymentId(), s, BOUGHT, PurchaseType.PURCHASE, "top-up"));
        ledger.consume(s, 12_000, null);
        Reservation job = ledger.reserve(HoldRequest.of(s, 8_000).ttl(Duration.ofDays(31)).build()).reservation();
        clock.set(YearMonth.of(2027, 2).atEndOfMonth().atTime(23, 50).toInstant(ZoneOffset.UTC));
        QuotaAccount february = ledger.account(s);
        assertEquals(BOUGHT, february.carried(), february.toString());
        ledger.consume(s, ALLOWANCE, null);
        clock.advance(Duration.ofMinutes(8));
        Reservation call = ledger.reserve(s, 10_000, null);
        clock.set(YearMonth.of(2027, 3).atDay(1).atTime(0, 1).toInstant(ZoneOffset.UTC));
        QuotaAccount march = ledger.account(s);
        assertEquals(YearMonth.of(2027, 3), march.month());
        assertEquals(0, march.carried(), march.toString());
        return new String[] {job.id(), call.id()};
    }

    /**
     * The job ends and reports 14,000 tokens (6,000 beyond its hold, {@code CHARGE_ACTUAL}), then February's call
     * fails upstream (5xx: released). January used 26,000 on its 20,000 allowance: 6,000 of the bought tokens; the
     * rest, 4,000, is all the user has bought and not used: March must have 24,000.
     *
     * <p>The charge finds March without purchased tokens (February's call holds them), so it takes none, and
     * {@code closedGranted} lowers January's purchased tokens to what it had consumed (0): the 6,000 are written off.
     * The release then hands all 10,000 to March.
     */
    @Test
    void aLateChargeBeforeALaterMonthsReleaseEndsAsAfterIt() {
        MutableClock clock = MutableClock.at(YearMonth.of(2027, 1), 31, 22);
        try (ClockedStore clocked = new ClockedStore(clock, ALLOWANCE)) {
            JdbiQuotaStore ledger = clocked.store();
            String s = subject();
            String[] ids = acrossTwoMonthEnds(ledger, clock, s);
            ledger.commit(ids[0], 14_000);
            ledger.release(ids[1]);
            QuotaAccount january = ledger.account(s, YearMonth.of(2027, 1)).orElseThrow();
            QuotaAccount march = ledger.account(s);
            assertAll(() -> assertEquals(26_000, january.used(), january.toString()),
                    () -> assertEquals(4_000, march.unusedGranted(), kind() + ": 10,000 bought, 6,000 of them used in"
                            + " January, yet March has " + march.unusedGranted() + " purchased tokens: " + march
                            + " (January " + january + ")"),
                    () -> assertEquals(ALLOWANCE + 4_000, march.available(), march.toString()));
        }
    }

    /** Control: the same holds, February's call released before the job's charge: March has 24,000. */
    @Test
    void controlTheLaterMonthsReleaseBeforeTheLateCharge() {
        MutableClock clock = MutableClock.at(YearMonth.of(2027, 1), 31, 22);
        try (ClockedStore clocked = new ClockedStore(clock, ALLOWANCE)) {
            JdbiQuotaStore ledger = clocked.store();
            String s = subject();
            String[] ids = acrossTwoMonthEnds(ledger, clock, s);
            ledger.release(ids[1]);
            ledger.commit(ids[0], 14_000);
            QuotaAccount january = ledger.account(s, YearMonth.of(2027, 1)).orElseThrow();
            QuotaAccount march = ledger.account(s);
            assertAll(() -> assertEquals(26_000, january.used(), january.toString()),
                    () -> assertEquals(4_000, march.unusedGranted(), march.toString()),
                    () -> assertEquals(ALLOWANCE + 4_000, march.available(), march.toString()));
        }
    }
}
