package io.tokenquota.jdbi.breakit425;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.testing.PurchaseRefundRound;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 425 (a ledger round): round 422's refund of a lapsed purchase ({@code rolloverPurchased(false)}, a purchase
 * credited in an earlier month: {@code LedgerRules.refundLapsed}, then {@code lapsedSpent}, now {@code lapsedMonth} and {@code lapsedRefund}; quota-jdbi
 * {@code Purchases.debit}, then {@code Sql.sumLapsedRefunds}, now {@code tq_account.refund_lapsed}) on the in-memory reference, H2 and PostgreSQL. The events are
 * those a host's Stripe handler maps: {@code payment_intent.processing} (recordPending),
 * {@code payment_intent.succeeded} (complete, with {@code amount_received} and {@code currency}),
 * {@code charge.refunded} (refund) (docs.stripe.com/api/events/types). A refund may come months after the payment
 * (Stripe: refunds of a charge up to 180 days, disputes later; docs.stripe.com/refunds). The model calls are holds
 * (reserve) and their commits, as the filter makes them (README, "Settlement").
 *
 * <p>The rule under test (docs/semantics.md, "Credits and refunds"): such a refund's {@code unrecovered} is "what its
 * own month spent of it"; the rest "lapsed unspent and is neither taken nor unrecovered". Every token of a refunded
 * pack the user spent must be either taken back or recorded (as {@code unrecovered}, or as its month's overdraft, as
 * for a refund in the pack's own month whose hold is committed after it).
 */
abstract class AbstractRound425 extends PurchaseRefundRound {
    // ------------------------------------------------------------------ a hold of the pack's month, committed late

    /**
     * January (rollover off, 10,000 allowance): pack A (5,000) bought; a 10,000-token call spends the allowance; an
     * agent call holds 5,000 and is still running at the month turn (a long job: README, "a hold is charged to the
     * month it was taken in, even when it is committed ... after that month ended"). February: A's charge is refunded;
     * then the agent call ends and is committed late for its 5,000, charged to January. January spent all of A
     * (used 15,000 = 10,000 allowance + A's 5,000). Right: those 5,000 spent tokens of a refunded pack are recorded,
     * as {@code unrecovered} or as January's overdraft (a refund in January with the hold open takes the held tokens
     * and the late commit overdraws January by 5,000; the same calls with the commit before the refund record
     * 5,000 unrecovered: the control below). Found and fixed: the refund counted January's held tokens as "not spent"
     * ({@code lapsedSpent}: unrecovered 0) and took nothing; the late commit then spent them inside January's
     * untouched limit (granted still 5,000): 5,000 tokens of a refunded pack, neither unrecovered nor overdrawn.
     */
    @Test
    void lateCommitOfTheLapsedPacksMonthAfterItsRefundIsRecorded() {
        QuotaStore store = store(policy(false));
        String s = p + "buyer";
        String a = p + "pi-jan";
        buy(store, a, s);
        spend(store, s, 10_000, "call-1");
        Reservation agent = store.reserve(s, PACK, p + "agent");
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        Purchase refunded = store.refund(a);
        store.commit(agent.id(), PACK);
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        Purchase now = store.purchase(a).orElseThrow();
        assertAll(() -> assertEquals(PurchaseStatus.REFUNDED, refunded.status(), refunded.toString()),
                () -> assertEquals(15_000L, jan.used(), jan.toString()),
                () -> assertEquals(PACK, now.unrecovered() + overdraft(jan),
                        "A's tokens January spent, recorded (unrecovered " + now.unrecovered() + " + January's overdraft "
                                + overdraft(jan) + "); January " + view(jan) + ", refund " + now));
    }

    /** Control: the same calls with the agent's late commit before the refund: 5,000 unrecovered. */
    @Test
    void controlLateCommitBeforeTheRefund() {
        QuotaStore store = store(policy(false));
        String s = p + "buyer";
        String a = p + "pi-jan";
        buy(store, a, s);
        spend(store, s, 10_000, "call-1");
        Reservation agent = store.reserve(s, PACK, p + "agent");
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        store.commit(agent.id(), PACK);
        store.refund(a);
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        Purchase now = store.purchase(a).orElseThrow();
        assertAll(() -> assertEquals(List.of(10_000L, PACK, 0L, 15_000L, 0L), view(jan), jan.toString()),
                () -> assertEquals(PACK, now.unrecovered() + overdraft(jan), now.toString()),
                () -> assertEquals(PACK, now.unrecovered(), now.toString()));
    }

    /**
     * Two packs and a hold of part of them: January's A and B (10,000), the allowance spent, an agent call holding
     * 6,000 at the turn (4,000 bought tokens unconsumed). A's refund in February finds 4,000 lapsed and takes 1,000
     * of the hold; the late commit overdraws January by those 1,000, and B's refund then finds nothing unspent: the
     * 6,000 bought tokens January spent are recorded once (A 0, B 5,000, January's overdraft 1,000).
     */
    @Test
    void lapsedRefundTakesOnlyWhatTheHoldsNeedBeyondTheLapsedTokens() {
        QuotaStore store = store(policy(false));
        String s = p + "buyer";
        buy(store, p + "pi-a", s);
        buy(store, p + "pi-b", s);
        spend(store, s, 10_000, "call-1");
        Reservation agent = store.reserve(s, 6_000, p + "agent");
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        Purchase a = store.refund(p + "pi-a");
        store.commit(agent.id(), 6_000);
        Purchase b = store.refund(p + "pi-b");
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        assertAll(() -> assertEquals(List.of(10_000L, PACK, 0L, 16_000L, 0L), view(jan), jan.toString()),
                () -> assertEquals(List.of(0L, PACK, 1_000L), List.of(a.unrecovered(), b.unrecovered(),
                        overdraft(jan)), a + " " + b));
    }

    /** Control: the refund inside January with the hold open, then the commit: January overdraws by 5,000. */
    @Test
    void controlRefundInItsOwnMonthThenTheCommit() {
        QuotaStore store = store(policy(false));
        String s = p + "buyer";
        String a = p + "pi-jan";
        buy(store, a, s);
        spend(store, s, 10_000, "call-1");
        Reservation agent = store.reserve(s, PACK, p + "agent");
        store.refund(a);
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        store.commit(agent.id(), PACK);
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        Purchase now = store.purchase(a).orElseThrow();
        assertAll(() -> assertEquals(15_000L, jan.used(), jan.toString()),
                () -> assertEquals(PACK, now.unrecovered() + overdraft(jan), view(jan) + " " + now));
    }

    /**
     * The refund racing the late commit, through two instances (the in-memory reference: one store, two threads),
     * for eight buyers with F1's January. Whichever lands first, the accounts end as that order does one call after
     * the other: the commit first, 5,000 unrecovered and January untouched; the refund first, 0 unrecovered and
     * January's purchased tokens taken (granted 0), the commit overdrawing it by 5,000. Either way A's 5,000 spent
     * tokens are recorded once.
     */
    @Test
    void refundRacingTheLateCommitEndsAsOneOrderOrTheOther() throws Exception {
        QuotaStore one = store(policy(false));
        QuotaStore two = secondInstance(one, policy(false));
        int buyers = 8;
        List<Reservation> agents = new ArrayList<>();
        for (int i = 0; i < buyers; i++) {
            buy(one, p + "pi-" + i, p + "buyer-" + i);
            spend(one, p + "buyer-" + i, 10_000, "call-" + i);
            agents.add(one.reserve(p + "buyer-" + i, PACK, p + "agent-" + i));
        }
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            for (int i = 0; i < buyers; i++) {
                String tx = p + "pi-" + i;
                String agent = agents.get(i).id();
                CyclicBarrier start = new CyclicBarrier(2);
                Future<Purchase> refund = pool.submit(() -> {
                    start.await();
                    return one.refund(tx);
                });
                Future<?> commit = pool.submit(() -> {
                    start.await();
                    return two.commit(agent, PACK);
                });
                refund.get(30, TimeUnit.SECONDS);
                commit.get(30, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        for (int i = 0; i < buyers; i++) {
            QuotaAccount jan = one.account(p + "buyer-" + i, JAN).orElseThrow();
            Purchase a = one.purchase(p + "pi-" + i).orElseThrow();
            List<Long> end = a.unrecovered() == PACK ? List.of(10_000L, PACK, 0L, 15_000L, 0L)
                    : List.of(10_000L, 0L, 0L, 15_000L, 0L);
            assertEquals(end, view(jan), "buyer " + i + ": " + a);
            assertEquals(PACK, a.unrecovered() + overdraft(jan), "buyer " + i + ": " + a);
        }
    }

    // ------------------------------------------------------------------ a refund through a lagging clock

    /**
     * January (rollover off): packs A and B (5,000 each), 12,000 used: 2,000 of the purchased tokens spent, 8,000
     * lapse at the turn. An instance opens February for the user at 00:00:05; a refund of A comes through an instance
     * whose clock reads 23:59:58 of January 31 (docs/decisions.md, "A subject's months never go backwards": a write
     * through a lagging clock lands in the subject's latest month, February), so A's refund is lapsed: unrecovered
     * 0 (8,000 unspent). On February 10 B is refunded. Right: B's unrecovered is 2,000 (January's 8,000 unspent,
     * less A's 5,000 that A's refund found there: 3,000 for B's 5,000), the 2,000 spent of the two packs recorded
     * once. Found and fixed: {@code lapsedBefore} ({@code Sql.sumLapsedRefunds}: {@code processed_at >= closed}; the in-memory
     * {@code !processedAt.isBefore(closed)}) picks the lapsed refunds by their instant, not by their month: A's,
     * stamped 23:59:58, is left out, B's refund counts January's 8,000 unspent tokens again, unrecovered 0, and the
     * 2,000 spent tokens of two refunded packs are recorded nowhere.
     */
    @Test
    void lapsedRefundThroughALaggingClockIsCountedForTheNextRefund() {
        QuotaStore store = store(policy(false));
        String s = p + "buyer";
        String a = p + "pi-a";
        String b = p + "pi-b";
        buy(store, a, s);
        buy(store, b, s);
        spend(store, s, 12_000, "call-1");
        clock.set(Instant.parse("2031-02-01T00:00:05Z"));
        assertEquals(FEB, store.account(s).month());
        clock.set(Instant.parse("2031-01-31T23:59:58Z"));
        Purchase ra = store.refund(a);
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        Purchase rb = store.refund(b);
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        assertAll(() -> assertEquals(List.of(10_000L, 2 * PACK, 0L, 12_000L, 0L), view(jan), jan.toString()),
                () -> assertEquals(0L, ra.unrecovered(), ra.toString()),
                () -> assertEquals(2_000L, rb.unrecovered(), "B refunded after A (A's refund through a clock 7 s"
                        + " behind, landed in February): " + rb));
    }

    /** Control: the same refunds with the clock in step (A at 00:00:05 of February 1): A 0, B 2,000. */
    @Test
    void controlLapsedRefundsInStep() {
        QuotaStore store = store(policy(false));
        String s = p + "buyer";
        String a = p + "pi-a";
        String b = p + "pi-b";
        buy(store, a, s);
        buy(store, b, s);
        spend(store, s, 12_000, "call-1");
        clock.set(Instant.parse("2031-02-01T00:00:05Z"));
        assertEquals(FEB, store.account(s).month());
        Purchase ra = store.refund(a);
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        Purchase rb = store.refund(b);
        assertAll(() -> assertEquals(0L, ra.unrecovered(), ra.toString()),
                () -> assertEquals(2_000L, rb.unrecovered(), rb.toString()));
    }

    // ------------------------------------------------------------------ rollover switched off at a month turn

    /**
     * Rollover on in January and February; the host turns it off from March (a new instance with
     * {@code rolloverPurchased(false)}; the in-memory reference keeps one policy, its "second instance" is itself).
     * January: pack A (5,000), none of it spent; February carries A's 5,000 and spends all of it (15,000 used on a
     * 10,000 allowance). March: A refunded. Right: unrecovered 5,000 (every token of A was spent, in February).
     * Found and fixed on the SQL stores: the refund is "lapsed" (rollover off now, A credited in January) and
     * {@code lapsedSpent} reads only January, where A is unspent: unrecovered 0, February's 5,000 spent tokens of
     * the refunded pack recorded nowhere.
     */
    @Test
    void refundAfterRolloverTurnedOffCountsWhatTheCarryingMonthSpent() {
        QuotaStore first = store(policy(true));
        String s = p + "buyer";
        String a = p + "pi-jan";
        buy(first, a, s);
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        spend(first, s, 15_000, "call-feb");
        QuotaAccount feb = first.account(s, FEB).orElseThrow();
        clock.set(Instant.parse("2031-03-10T12:00:00Z"));
        QuotaStore later = secondInstance(first, policy(false));
        Purchase r = later.refund(a);
        assertAll(() -> assertEquals(List.of(10_000L, 0L, PACK, 15_000L, 0L), view(feb), feb.toString()),
                () -> assertEquals(PACK, r.unrecovered(), "A, carried into February and spent there, refunded in"
                        + " March with rollover off: " + r));
    }

    /** Control: rollover on throughout: the March refund records all 5,000 unrecovered. */
    @Test
    void controlRefundWithRolloverOnThroughout() {
        QuotaStore first = store(policy(true));
        String s = p + "buyer";
        String a = p + "pi-jan";
        buy(first, a, s);
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        spend(first, s, 15_000, "call-feb");
        clock.set(Instant.parse("2031-03-10T12:00:00Z"));
        Purchase r = secondInstance(first, policy(true)).refund(a);
        assertEquals(PACK, r.unrecovered(), r.toString());
    }
}
