package io.tokenquota.jdbi.breakit422;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.Currency;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaStatistics.PurchaseTotal;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.testing.PurchaseRefundRound;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 422 (a ledger round): the purchase rules of rounds 414 and 417 (PurchaseRecorder.complete(tx, amount,
 * currency); LedgerRules.replayPurchase) and the refund, on the in-memory reference, H2 and PostgreSQL. The events
 * are those a host's Stripe handler maps: {@code payment_intent.processing} (recordPending),
 * {@code payment_intent.succeeded} (complete, with the captured {@code amount_received} and {@code currency}),
 * {@code charge.refunded} (refund) (docs.stripe.com/api/events/types); "Stripe doesn't guarantee the delivery of
 * events in the order that they're generated" (docs.stripe.com/webhooks, "Event ordering").
 */
abstract class AbstractRound422 extends PurchaseRefundRound {
    // purchase totals are over all users, and the SQL stores' database is the test class's: each scenario that reads
    // them has a month of its own
    static final YearMonth APR = YearMonth.of(2031, 4);
    static final YearMonth MAY = YearMonth.of(2031, 5);
    static final YearMonth JUN = YearMonth.of(2031, 6);

    /** payment_intent.processing as recorded: 33.00, no currency (PurchaseRequest's default, KRW). */
    static PurchaseRequest pending(String tx, String s) {
        return pending(tx, s, null);
    }

    // ------------------------------------------------------------------ a refund of a lapsed purchase

    /**
     * With {@code rolloverPurchased(false)} "a closed month's purchased tokens lapsed with it" (docs/semantics.md,
     * month turn; Purchases.debit: "with rollover off a closed month's purchased tokens lapsed with it: nothing there
     * to take back"). January: pack A (5,000) bought and never used; it lapses. February: pack B (5,000) bought. Then
     * A's charge is refunded (a customer's dispute of January's payment, charge.refunded). A's tokens are not in
     * February: nothing of A is left to take back. Right: February keeps B's 5,000 (allocated 10,000, granted 5,000),
     * the tokens paid for and not refunded. Found and fixed: the refund took B's 5,000 (February's {@code granted} 0),
     * the user had paid for B and could spend none of it.
     */
    @Test
    void refundOfALapsedPackTakesTheNextMonthsPaidPack() {
        QuotaStore store = store(policy(false));
        String s = p + "buyer";
        String a = p + "pi-jan";
        String b = p + "pi-feb";
        store.recordPending(pending(a, s));
        store.complete(a, new BigDecimal("33.00"), Currency.USD);
        assertEquals(List.of(10_000L, PACK, 0L, 0L, 0L), view(store.account(s)), "January after pack A");
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        store.recordPending(pending(b, s));
        store.complete(b, new BigDecimal("33.00"), Currency.USD);
        assertEquals(List.of(10_000L, PACK, 0L, 0L, 0L), view(store.account(s)), "February after pack B");
        Purchase refunded = store.refund(a);
        QuotaAccount feb = store.account(s);
        assertAll(() -> assertEquals(PurchaseStatus.REFUNDED, refunded.status(), refunded.toString()),
                () -> assertEquals(FEB, feb.month(), feb.toString()),
                () -> assertEquals(List.of(10_000L, PACK, 0L, 0L, 0L), view(feb),
                        "February after January's lapsed pack A was refunded: " + feb));
    }

    /** Control: the same refund inside January (A's tokens still there) takes A's 5,000; February's B is whole. */
    @Test
    void controlRefundOfAPackInItsOwnMonth() {
        QuotaStore store = store(policy(false));
        String s = p + "buyer";
        String a = p + "pi-jan";
        String b = p + "pi-feb";
        store.recordPending(pending(a, s));
        store.complete(a, new BigDecimal("33.00"), Currency.USD);
        store.refund(a);
        QuotaAccount jan = store.account(s);
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        store.recordPending(pending(b, s));
        store.complete(b, new BigDecimal("33.00"), Currency.USD);
        QuotaAccount feb = store.account(s);
        assertAll(() -> assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), view(jan), jan.toString()),
                () -> assertEquals(List.of(10_000L, PACK, 0L, 0L, 0L), view(feb), feb.toString()));
    }

    /**
     * Control: with rollover on, A's unspent 5,000 are carried into February; its refund there takes 5,000 of
     * February's purchased tokens and leaves 5,000 (B's): purchased 5,000 in all.
     */
    @Test
    void controlRefundOfACarriedPack() {
        QuotaStore store = store(policy(true));
        String s = p + "buyer";
        String a = p + "pi-jan";
        String b = p + "pi-feb";
        store.recordPending(pending(a, s));
        store.complete(a, new BigDecimal("33.00"), Currency.USD);
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        store.recordPending(pending(b, s));
        store.complete(b, new BigDecimal("33.00"), Currency.USD);
        store.refund(a);
        QuotaAccount feb = store.account(s);
        assertAll(() -> assertEquals(PACK, feb.granted() + feb.carried(), feb.toString()),
                () -> assertEquals(10_000L + PACK, feb.limit(), feb.toString()));
    }

    // ------------------------------------------------------------------ money forms, refunds, redeliveries

    /**
     * Control: a completion naming other money (3.0E+1 USD, a BigDecimal with an exponent, as new BigDecimal("3.0E+1")
     * reads it) than its pending event (33.00, KRW by default); refunded twice; then the completion redelivered with
     * other money (99.00 EUR) and the pending event redelivered. Right: stored 30.00 USD, the redelivered completion
     * PURCHASE_STATE_CONFLICT with the record unchanged, the pending one a replay; April's totals one purchase of
     * 30.00 USD; the account (April) back at 10,000 with nothing purchased.
     */
    @Test
    void controlCompletionWithOtherMoneyThenRefundsAndRedeliveries() {
        clock.set(Instant.parse("2031-04-10T12:00:00Z"));
        QuotaStore store = store(policy(true));
        QuotaStore other = secondInstance(store, policy(true));
        String s = p + "buyer";
        String tx = p + "pi-1";
        store.recordPending(pending(tx, s));
        Purchase done = store.complete(tx, new BigDecimal("3.0E+1"), Currency.USD);
        Purchase r1 = store.refund(tx);
        Purchase r2 = other.refund(tx);
        String late = outcome(() -> other.complete(tx, new BigDecimal("99.00"), Currency.EUR));
        String replay = outcome(() -> other.recordPending(pending(tx, s)));
        Purchase now = store.purchase(tx).orElseThrow();
        QuotaAccount a = store.account(s);
        List<PurchaseTotal> totals = store.purchaseTotals(APR);
        assertAll(() -> assertEquals("30.00 USD", done.amount() + " " + done.currency()),
                () -> assertEquals(r1, r2),
                () -> assertEquals("PURCHASE_STATE_CONFLICT", late),
                () -> assertEquals("REFUNDED 30.00 USD", replay),
                () -> assertEquals("REFUNDED 30.00 USD 0", now.status() + " " + now.amount() + " " + now.currency()
                        + " " + now.unrecovered()),
                () -> assertEquals(List.of(new PurchaseTotal(PurchaseType.PURCHASE, Currency.USD, 1, PACK,
                        new BigDecimal("30.00"))), totals),
                () -> assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), view(a), a.toString()));
    }

    /**
     * Control: completions with money at the edges: {@code -0} (BigDecimal("-0")), {@code 1E+2}, and
     * 999999999999.99 (Limits.MAX_MONEY), and one past it (1E+12), refused INVALID_MONEY with nothing credited.
     */
    @Test
    void controlEdgeMoneyAtCompletion() {
        clock.set(Instant.parse("2031-05-10T12:00:00Z"));
        QuotaStore store = store(policy(true));
        String s = p + "buyer";
        String[] amounts = {"-0", "1E+2", "999999999999.99"};
        for (int i = 0; i < amounts.length; i++) {
            store.recordPending(pending(p + "pi-e" + i, s));
            store.complete(p + "pi-e" + i, new BigDecimal(amounts[i]), Currency.JPY);
        }
        store.recordPending(pending(p + "pi-big", s));
        String big = outcome(() -> store.complete(p + "pi-big", new BigDecimal("1E+12"), Currency.JPY));
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals("INVALID_MONEY", big),
                () -> assertEquals(PurchaseStatus.PENDING, store.purchase(p + "pi-big").orElseThrow().status()),
                () -> assertEquals(List.of(new PurchaseTotal(PurchaseType.PURCHASE, Currency.JPY, 3, 3 * PACK,
                        new BigDecimal("1000000000099.99"))), store.purchaseTotals(MAY)),
                () -> assertEquals(List.of(10_000L, 3 * PACK, 0L, 0L, 0L), view(a), a.toString()));
    }

    /**
     * Control (a race): a refund and a completion naming other money (30.00 USD) of the same pending purchase, on
     * two threads (two instances over one database), 12 times (in June). Whichever wins, no token stays credited: the purchase
     * ends refunded, the account at 10,000 with nothing purchased, and June's totals count exactly the purchases
     * credited before their refund (month set), each at the money its completion captured.
     */
    @Test
    void controlRefundRacingItsCompletion() throws Exception {
        clock.set(Instant.parse("2031-06-10T12:00:00Z"));
        QuotaStore store = store(policy(true));
        QuotaStore other = secondInstance(store, policy(true));
        String s = p + "buyer";
        int rounds = 12;
        ExecutorService pool = Executors.newFixedThreadPool(2);
        List<String> outcomes = new ArrayList<>();
        try {
            for (int i = 0; i < rounds; i++) {
                String tx = p + "pi-race" + i;
                store.recordPending(pending(tx, s));
                CyclicBarrier start = new CyclicBarrier(2);
                Future<String> completion = pool.submit(() -> {
                    start.await(10, TimeUnit.SECONDS);
                    return outcome(() -> store.complete(tx, new BigDecimal("30.00"), Currency.USD));
                });
                Future<String> refund = pool.submit(() -> {
                    start.await(10, TimeUnit.SECONDS);
                    return outcome(() -> other.refund(tx));
                });
                outcomes.add(completion.get(30, TimeUnit.SECONDS) + "/" + refund.get(30, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        long credited = 0;
        for (int i = 0; i < rounds; i++) {
            Purchase x = store.purchase(p + "pi-race" + i).orElseThrow();
            assertEquals(PurchaseStatus.REFUNDED, x.status(), x.toString());
            if (x.month() != null) {
                credited++;
                assertEquals("30.00 USD", x.amount() + " " + x.currency(), x.toString());
            } else {
                assertEquals("33.00 KRW", x.amount() + " " + x.currency(), x.toString());
            }
        }
        long n = credited;
        List<PurchaseTotal> expected = n == 0 ? List.of()
                : List.of(new PurchaseTotal(PurchaseType.PURCHASE, Currency.USD, n, n * PACK,
                        new BigDecimal("30.00").multiply(BigDecimal.valueOf(n))));
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(expected, store.purchaseTotals(JUN), outcomes.toString()),
                () -> assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), view(a), a + " " + outcomes));
    }

    interface Call {
        Purchase run();
    }

    /** A call's answer: the record's status and money, or the refusal's code. */
    static String outcome(Call call) {
        try {
            Purchase x = call.run();
            return x.status() + " " + x.amount() + " " + x.currency();
        } catch (QuotaException e) {
            return e.code().name();
        }
    }
}
