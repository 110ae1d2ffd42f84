package io.tokenquota.jdbi.breakit335;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reserved;
import io.tokenquota.testkit.MutableClock;
import java.time.YearMonth;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 335 (a ledger round): the store on a host's own pool and database configuration, through the
 * public {@link QuotaStore} API, on H2, PostgreSQL and the in-memory reference. The rule here: the SQL
 * store answers what the in-memory store answers for the same history (docs/semantics.md, "Host
 * connection pools": "a host pool configured with autoCommit=false ... or SERIALIZABLE works
 * unchanged"), and a configuration it cannot serve is refused when it is built.
 *
 * <p>Subjects, idempotency keys and payment transaction ids are opaque strings compared exactly: the
 * in-memory store keys them in {@code HashMap}s ({@code String.equals}); PostgreSQL's VARCHAR compares
 * them exactly under every deterministic collation (the only kind a database default can be). Ids that
 * differ only in case are real: Stripe's PaymentIntent ids are case-sensitive base62
 * ({@code pi_3MtwBwLkdIwHu7ix28a3tqPa}, https://docs.stripe.com/api/payment_intents/object), as are
 * OIDC {@code sub} claims ("case-sensitive string", OpenID Connect Core 1.0 section 2) and the request
 * ids a client sends as idempotency keys (UUIDs are written in either case, RFC 9562 section 4).
 */
abstract class AbstractRound335 {
    /** The store over a plainly configured host pool (autocommit, READ COMMITTED, no options). */
    protected abstract QuotaStore store(QuotaPolicy policy);

    /**
     * The store over the host pool of this class's odd configuration (see each subclass); the in-memory
     * reference answers a store of its own.
     */
    protected abstract QuotaStore storeOnHostConfiguration(QuotaPolicy policy);

    protected MutableClock clock;
    protected String prefix;

    @BeforeEach
    void start() {
        clock = MutableClock.at(YearMonth.of(2031, 5), 10, 12);
        prefix = "r335" + UUID.randomUUID().toString().substring(0, 8) + "-";
    }

    QuotaPolicy policy() {
        return QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).build();
    }

    /** allocated, granted, carried, used, reserved. */
    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    // ------------------------------------------------------------ subjects that differ only in case

    /** Two users, {@code ...Alice} and {@code ...alice} (OIDC subjects are case-sensitive), each pays their own calls. */
    private void usersWhoseIdsDifferOnlyInCase(QuotaStore store) {
        String upper = prefix + "Alice";
        String lower = prefix + "alice";
        store.consume(upper, 3_000, null);
        store.consume(lower, 500, null);
        assertEquals(List.of(10_000L, 0L, 0L, 3_000L, 0L), view(store.account(upper)), upper + " paid only her own call");
        assertEquals(List.of(10_000L, 0L, 0L, 500L, 0L), view(store.account(lower)), lower + " paid only her own call");
    }

    @Test
    void usersWhoseIdsDifferOnlyInCaseEachPayTheirOwnCallsOnTheHostConfiguration() {
        usersWhoseIdsDifferOnlyInCase(storeOnHostConfiguration(policy()));
    }

    /** Control: the same two users on a plainly configured pool. */
    @Test
    void usersWhoseIdsDifferOnlyInCaseEachPayTheirOwnCalls() {
        usersWhoseIdsDifferOnlyInCase(store(policy()));
    }

    // ------------------------------------------------------------ idempotency keys that differ only in case

    /**
     * Two different calls of one user whose idempotency keys differ only in case (two request UUIDs a
     * client wrote in different case would be the same request; these are two): each takes its own hold
     * and each is charged. docs/semantics.md, "Idempotency": only "the same key" is a replay.
     */
    private void callsWhoseKeysDifferOnlyInCase(QuotaStore store) {
        String alice = prefix + "keys";
        Reserved first = store.reserve(HoldRequest.of(alice, 400).idempotencyKey("req-7f3a-X").build());
        Reserved second = store.reserve(HoldRequest.of(alice, 400).idempotencyKey("req-7f3a-x").build());
        assertFalse(second.replayed(), "another key is another call, not a replay");
        assertNotEquals(first.reservation().id(), second.reservation().id());
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 800L), view(store.account(alice)), "two calls, two holds");
        store.commit(first.reservation().id(), 350);
        store.commit(second.reservation().id(), 390);
        assertEquals(List.of(10_000L, 0L, 0L, 740L, 0L), view(store.account(alice)), "both calls charged");
    }

    @Test
    void callsWhoseKeysDifferOnlyInCaseAreEachChargedOnTheHostConfiguration() {
        callsWhoseKeysDifferOnlyInCase(storeOnHostConfiguration(policy()));
    }

    /** Control: the same two calls on a plainly configured pool. */
    @Test
    void callsWhoseKeysDifferOnlyInCaseAreEachCharged() {
        callsWhoseKeysDifferOnlyInCase(store(policy()));
    }

    // ------------------------------------------------------------ payments whose ids differ only in case

    /**
     * Two Stripe payments whose PaymentIntent ids differ only in their last letter's case (base62,
     * case-sensitive), for two users: each is credited to its payer.
     */
    private void paymentsWhoseIdsDifferOnlyInCase(QuotaStore store) {
        String alice = prefix + "payer-a";
        String bob = prefix + "payer-b";
        String id = "pi_3MtwBwLkdIwHu7ix28a3tq" + prefix.substring(4, 8);
        Purchase a = store.grant(PurchaseRequest.grant(id + "Pa", alice, 1_000, PurchaseType.PURCHASE, null));
        String outcome;
        try {
            Purchase b = store.grant(PurchaseRequest.grant(id + "PA", bob, 2_000, PurchaseType.PURCHASE, null));
            outcome = b.subject().equals(bob) ? "credited to bob" : "answered " + a.transactionId() + " of " + b.subject();
        } catch (QuotaException e) {
            outcome = e.code() + ": " + e.getMessage();
        }
        assertEquals("credited to bob", outcome, "bob's payment " + id + "PA");
        assertEquals(List.of(10_000L, 1_000L, 0L, 0L, 0L), view(store.account(alice)));
        assertEquals(List.of(10_000L, 2_000L, 0L, 0L, 0L), view(store.account(bob)), "bob paid for 2,000 tokens");
    }

    @Test
    void paymentsWhoseIdsDifferOnlyInCaseAreEachCreditedOnTheHostConfiguration() {
        paymentsWhoseIdsDifferOnlyInCase(storeOnHostConfiguration(policy()));
    }

    /** Control: the same two payments on a plainly configured pool. */
    @Test
    void paymentsWhoseIdsDifferOnlyInCaseAreEachCredited() {
        paymentsWhoseIdsDifferOnlyInCase(store(policy()));
    }
}
