package io.tokenquota.jdbi.breakit417;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.Currency;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.testkit.MutableClock;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 417 (a ledger round): round 414's {@code PurchaseRecorder.complete(transactionId, amount, currency)} on the
 * in-memory reference, H2 and PostgreSQL. The rule attacked: PurchaseRecorder#recordPending "Repeating it with an
 * equal request returns the first record" and README "Every call is idempotent on its key, transaction id or
 * reservation id"; docs/servlet.md's event table: a {@code pending} event on a {@code completed} purchase is
 * "unchanged" (a replay). Round 414 made the completion overwrite the money the pending request recorded, so the
 * pending request, repeated exactly (a payment provider's redelivery: "Stripe ... retries a failed delivery for up to
 * three days", docs.stripe.com/webhooks), no longer equals the record.
 */
abstract class AbstractRound417 {
    protected abstract QuotaStore store(QuotaPolicy policy);

    /** Another instance over the same database (the in-memory reference: the same store). */
    protected abstract QuotaStore secondInstance(QuotaStore first, QuotaPolicy policy);

    protected abstract List<YearMonth> dropEventsPastHistory(QuotaStore store);

    static final long PACK = 5_000;

    protected String p;
    protected MutableClock clock;
    protected QuotaPolicy policy;

    @BeforeEach
    void start() {
        p = "r417" + UUID.randomUUID().toString().substring(0, 8) + "-";
        clock = new MutableClock(Instant.parse("2031-01-10T12:00:00Z"));
        policy = QuotaPolicy.builder().clock(clock).zone(ZoneOffset.UTC).defaultAllocation(10_000)
                .holdTtl(Duration.ofMinutes(10)).historyMonths(24).build();
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    /** A pending purchase as the payment callback records {@code payment_intent.processing}: 33.00, no currency. */
    PurchaseRequest pending(String tx, String s, String currency) {
        return new PurchaseRequest(tx, s, PACK, PurchaseType.PURCHASE, "card", new BigDecimal("33.00"),
                currency == null ? null : Currency.valueOf(currency), null);
    }

    /**
     * recordPending(r); complete(tx, 33.00, USD) (round 414's own case: the capture names the currency); then r
     * again, the exact request, on the second instance too. Right: the completed record, unchanged (a replay), 5,000
     * credited once. Today: IDEMPOTENCY_CONFLICT, the record's currency no longer the request's KRW default.
     */
    @Test
    void pendingReplayedAfterItsCompletionNamedTheCurrency() {
        QuotaStore store = store(policy);
        QuotaStore other = secondInstance(store, policy);
        String s = p + "buyer";
        String tx = p + "pi-1";
        PurchaseRequest r = pending(tx, s, null);
        store.recordPending(r);
        Purchase done = store.complete(tx, new BigDecimal("33.00"), Currency.USD);
        String first = replay(store, r);
        String second = replay(other, r);
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(Currency.USD, done.currency(), done.toString()),
                () -> assertEquals("COMPLETED 33.00 USD", first, "recordPending(r) repeated"),
                () -> assertEquals("COMPLETED 33.00 USD", second, "recordPending(r) repeated on another instance"),
                () -> assertEquals(List.of(10_000L, PACK, 0L, 0L, 0L), view(a), a.toString()));
    }

    /**
     * The same with a partial capture (the completion names a lower amount, as docs/decisions.md's round 414 entry
     * allows: "a partial capture lowers the amount"): pending 33.00 USD, completed 30.00 USD, the pending request
     * repeated. Right: the completed record (30.00 USD), unchanged. Today: IDEMPOTENCY_CONFLICT.
     */
    @Test
    void pendingReplayedAfterAPartialCapture() {
        QuotaStore store = store(policy);
        String s = p + "buyer";
        String tx = p + "pi-2";
        PurchaseRequest r = pending(tx, s, "USD");
        store.recordPending(r);
        store.complete(tx, new BigDecimal("30.00"), Currency.USD);
        String again = replay(store, r);
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals("COMPLETED 30.00 USD", again, "recordPending(r) repeated"),
                () -> assertEquals(List.of(10_000L, PACK, 0L, 0L, 0L), view(a), a.toString()));
    }

    /** Control: the completion names no money (or the pending record's): the repeated pending request is a replay. */
    @Test
    void controlPendingReplayedAfterACompletionWithItsOwnMoney() {
        QuotaStore store = store(policy);
        String s = p + "buyer";
        String tx = p + "pi-3";
        PurchaseRequest r = pending(tx, s, "USD");
        store.recordPending(r);
        store.complete(tx, new BigDecimal("33.00"), Currency.USD);
        String tx2 = p + "pi-4";
        PurchaseRequest r2 = pending(tx2, s, null);
        store.recordPending(r2);
        store.complete(tx2);
        String again = replay(store, r);
        String again2 = replay(store, r2);
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals("COMPLETED 33.00 USD", again, "recordPending(r) repeated"),
                () -> assertEquals("COMPLETED 33.00 KRW", again2, "recordPending(r2) repeated"),
                () -> assertEquals(List.of(10_000L, 2 * PACK, 0L, 0L, 0L), view(a), a.toString()));
    }

    /** The repeated request's answer: the record's status and money, or the refusal's code. */
    static String replay(QuotaStore store, PurchaseRequest r) {
        try {
            Purchase x = store.recordPending(r);
            return x.status() + " " + x.amount() + " " + x.currency();
        } catch (QuotaException e) {
            return e.code() + ": " + e.getMessage();
        }
    }
}
