package io.tokenquota.testkit;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 332 (issue 11), a ledger round: two refunds, one of them taking from a closed month's hold, a commit for
 * less of another of that month's holds between them, and a plan raise, in either order (docs/semantics.md,
 * "Credits and refunds": "A refund and a plan change end the same in either order, for every month, also after
 * the holds finish and the next month carries what is left"; "A plan change keeps of that part only what the
 * month's use needs beyond the new allocation and the purchased tokens still standing").
 *
 * <p>History (found by a random search of such histories, shrunk by hand): a 20,000 plan. January buys P (6,000)
 * and Q (5,000), uses 11,000 and starts two 31-day jobs, A holding 7,000 and B 5,000 (3,000 of them bought
 * tokens); February carries 8,000 and spends 25,000 (5,000 of the carried). P is refunded: 3,000 from February,
 * 3,000 from January's jobs. Job B ends using 2,500 of its 5,000: the take still stands for 500 (January consumes
 * 20,500 on its 20,000 allowance and no purchased token). Then Q is refunded and the plan raised to 21,000, in
 * either order. Right after the pair both orders read the same (February 25,000 allocated, granted -8,000,
 * available 0). But the refund first leaves Q's spent part marked as behind an earlier take
 * ({@code refund_absorbed_behind} 4,000, set back by {@code LedgerRules.planChange} as its {@code absorbedBack}
 * although the take then standing is the one that part itself just took from job A); the raise first leaves it
 * not behind (P's take was moved by the raise, so Q found none standing). The same later steps then end apart:
 * a 5,000 pack S bought and the plan set to 23,000 keep 2,000 of Q's spent part as allowance beside S's 5,000
 * unspent tokens when the refund came first (February available 5,000, March carries 5,000), and charge S the
 * 2,000 the month uses beyond 23,000 when the raise came first (available 3,000, March carries 3,000). Fixed:
 * {@code LedgerRules.planChange} keeps a part it splits again behind only while an earlier take still stands.
 *
 * <p>Subclass it and implement {@link #newStore}; each run has a subject of its own, so the SQL store's
 * subclasses share one database.
 */
public abstract class Round332Contract {
    static final YearMonth JANUARY = YearMonth.of(2031, 1);
    static final YearMonth FEBRUARY = JANUARY.plusMonths(1);
    static final YearMonth MARCH = JANUARY.plusMonths(2);

    /** The store under test, built on {@code policy}. */
    protected abstract QuotaStore newStore(QuotaPolicy policy);

    record Run(QuotaStore store, MutableClock clock, Reservation jobA, String u) {
        QuotaAccount month(YearMonth m) {
            return store.account(u, m).orElseThrow();
        }
    }

    static void buy(QuotaStore store, String u, String pack, long tokens) {
        store.grant(PurchaseRequest.grant(u + "-" + pack, u, tokens, PurchaseType.PURCHASE, "pack " + pack));
    }

    /** The history up to the pair; {@code firstRefund} false leaves P unrefunded and job B running (the control). */
    Run history(boolean firstRefund) {
        String u = "u332-" + UUID.randomUUID().toString().substring(0, 12);
        MutableClock clock = MutableClock.at(JANUARY, 10, 10);
        QuotaStore store = newStore(QuotaPolicy.builder().defaultAllocation(20_000).maxQuota(1_000_000)
                .overrunPolicy(OverrunPolicy.CHARGE_ACTUAL).clock(clock).build());
        buy(store, u, "P", 6_000);
        buy(store, u, "Q", 5_000);
        store.consume(u, 11_000, null);
        Reservation a = store.reserve(HoldRequest.of(u, 7_000).ttl(Duration.ofDays(31)).build()).reservation();
        Reservation b = store.reserve(HoldRequest.of(u, 5_000).ttl(Duration.ofDays(31)).build()).reservation();
        clock.set(FEBRUARY.atDay(1).atTime(0, 30).toInstant(ZoneOffset.UTC));
        store.consume(u, 25_000, null);
        assertEquals(3_000, store.account(u).available(), () -> "February spent 5,000 of its 8,000 carried: " + store.account(u));
        if (firstRefund) {
            store.refund(u + "-P");
            store.commit(b.id(), 2_500);
        }
        return new Run(store, clock, a, u);
    }

    static void pair(Run r, boolean refundFirst) {
        if (refundFirst) {
            r.store().refund(r.u() + "-Q");
            r.store().setPlan(r.u(), 21_000);
        } else {
            r.store().setPlan(r.u(), 21_000);
            r.store().refund(r.u() + "-Q");
        }
    }

    /** S bought, the plan set to 23,000; then job A released and March opened. */
    static List<Object> tail(Run r) {
        buy(r.store(), r.u(), "S", 5_000);
        r.store().setPlan(r.u(), 23_000);
        QuotaAccount feb = r.month(FEBRUARY);
        r.store().release(r.jobA().id());
        r.clock().set(MARCH.atDay(1).atTime(0, 30).toInstant(ZoneOffset.UTC));
        QuotaAccount march = r.store().account(r.u());
        return List.of("February allocated", feb.allocated(), "available", feb.available(),
                "unusedGranted", feb.unusedGranted(), "March carried", march.carried());
    }

    static List<Object> pairView(Run r) {
        QuotaAccount feb = r.month(FEBRUARY);
        QuotaAccount jan = r.month(JANUARY);
        return List.of("February", feb.allocated(), feb.granted(), feb.carried(), feb.used(), feb.available(),
                "January", jan.granted(), jan.used(), jan.reserved(), jan.available());
    }

    /**
     * Finding: refund Q then raise to 21,000 ends, after the same later pack and plan change, with 2,000 more
     * tokens than the raise then the refund: 2,000 of a refunded purchase's spent part stay allowance although a
     * purchase (S) stands unspent beside them. Expected: both orders as the raise first (February allocated 23,000,
     * available 3,000, S's 3,000 unspent and carried into March).
     */
    @Test
    void refundThenRaiseAfterAnEarlierTakeEndsAsRaiseThenRefund() {
        Run refundFirst = history(true);
        Run raiseFirst = history(true);
        pair(refundFirst, true);
        pair(raiseFirst, false);
        // right after the pair the two orders read the same
        assertEquals(pairView(raiseFirst), pairView(refundFirst), "right after the pair");
        List<Object> expected = List.of("February allocated", 23_000L, "available", 3_000L, "unusedGranted", 3_000L,
                "March carried", 3_000L);
        List<Object> raised = tail(raiseFirst);
        List<Object> refunded = tail(refundFirst);
        assertAll(() -> assertEquals(expected, raised, "the raise first"),
                () -> assertEquals(expected, refunded, "the refund first (then the same pack and plan change)"));
    }

    /**
     * Control: the same months without the first refund (no take standing when Q is refunded): both orders of
     * refund Q and the raise, then the same pack and plan change, end the same.
     */
    @Test
    void controlOneRefundEndsTheSameInEitherOrder() {
        Run refundFirst = history(false);
        Run raiseFirst = history(false);
        pair(refundFirst, true);
        pair(raiseFirst, false);
        assertEquals(pairView(raiseFirst), pairView(refundFirst), "right after the pair");
        assertEquals(tail(raiseFirst), tail(refundFirst), "after the same pack and plan change");
    }

    /** Control: the finding's history and pair with nothing after them: the two orders end the same. */
    @Test
    void controlThePairAloneEndsTheSame() {
        Run refundFirst = history(true);
        Run raiseFirst = history(true);
        pair(refundFirst, true);
        pair(raiseFirst, false);
        for (Run r : List.of(refundFirst, raiseFirst)) {
            r.store().release(r.jobA().id());
            r.clock().set(MARCH.atDay(1).atTime(0, 30).toInstant(ZoneOffset.UTC));
        }
        assertEquals(pairView(raiseFirst), pairView(refundFirst), "after job A's release");
        assertEquals(refundFirst.store().account(refundFirst.u()).carried(), raiseFirst.store().account(raiseFirst.u()).carried(), "March carries");
    }
}
