package io.tokenquota.jdbi.breakit431;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.Purchase;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.testing.PurchaseRefundRound;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/**
 * Round 431 (a ledger round): refunds and late finishes, each store with one rollover setting for its whole life
 * (docs/decisions.md, "One rollover setting per ledger"). The events are those a host's Stripe handler maps:
 * {@code payment_intent.processing} (recordPending), {@code payment_intent.succeeded} (complete, with
 * {@code amount_received} and {@code currency}), {@code charge.refunded} (refund)
 * (docs.stripe.com/api/events/types). The model calls are holds (reserve) and their commits, as the filter makes
 * them (README, "Settlement": usage seen is charged, also after expiry or a month turn).
 *
 * <p>Rules under test (docs/semantics.md, "Credits and refunds", "Holds that outlive their month"): every token of
 * a refunded pack the user spent is taken back, counted {@code unrecovered}, or an overdraft; "a refund and a late
 * commit of that month end as their order, one after the other, does". The stores, clock, policy, packs and the agent
 * hold at the turn are {@link PurchaseRefundRound}'s, as for rounds 422, 425 and 427.
 */
abstract class AbstractRound431 extends PurchaseRefundRound {
    /**
     * January: pack A (5,000) bought, 5,000 of the 10,000 allowance spent, and on January 31 an agent call held for
     * 5,000 (a 31-day job, {@code Limits.MAX_TTL}): the hold takes the rest of the allowance, A stays unspent and
     * unheld. Returns the agent's hold.
     */
    Reservation januaryWithAgentOnAllowance(QuotaStore store, String s) {
        buy(store, p + "pi-a", s);
        spend(store, s, 5_000, "call-jan");
        return agentHoldOnJanuary31(store, s, 5_000);
    }

    /**
     * The agent call answers on February 6 with 8,000 tokens of usage (an agent loop reports more than its
     * estimate); the filter charges the usage (README, "Settlement"; CHARGE_ACTUAL, the default). January then spent
     * 3,000 of A. Ordered: A refunded on February 5 (charge.refunded), before the answer.
     */
    void refundThenLateCommit(boolean rollover) {
        QuotaStore store = store(policy(rollover));
        String s = p + "buyer";
        Reservation agent = januaryWithAgentOnAllowance(store, s);
        clock.set(Instant.parse("2031-02-05T12:00:00Z"));
        Purchase a = store.refund(p + "pi-a");
        clock.set(Instant.parse("2031-02-06T12:00:00Z"));
        store.commit(agent.id(), 8_000);
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        QuotaAccount feb = store.account(s);
        Purchase after = store.purchase(p + "pi-a").orElseThrow();
        assertAll(() -> assertEquals(13_000L, jan.used(), jan.toString()),
                () -> assertEquals(10_000L, feb.available(), "none of A's tokens usable in February: " + view(feb)),
                () -> assertEquals(3_000L, after.unrecovered() + overdraft(jan),
                        "A refunded on Feb 5 (unrecovered " + a.unrecovered() + "), then January's agent call"
                                + " committed 8,000 on its 5,000 hold, 3,000 of them A's: January " + view(jan)
                                + " limit " + jan.limit() + ", refund " + after));
    }

    /** The same, the answer first (Feb 5), the refund after (Feb 6). */
    void lateCommitThenRefund(boolean rollover) {
        QuotaStore store = store(policy(rollover));
        String s = p + "buyer";
        Reservation agent = januaryWithAgentOnAllowance(store, s);
        clock.set(Instant.parse("2031-02-05T12:00:00Z"));
        store.commit(agent.id(), 8_000);
        clock.set(Instant.parse("2031-02-06T12:00:00Z"));
        Purchase a = store.refund(p + "pi-a");
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        QuotaAccount feb = store.account(s);
        assertAll(() -> assertEquals(13_000L, jan.used(), jan.toString()),
                () -> assertEquals(10_000L, feb.available(), view(feb).toString()),
                () -> assertEquals(3_000L, a.unrecovered() + overdraft(jan), "January " + view(jan) + ", " + a));
    }

    // ------------------------------------------------------------------ rollover off for the ledger's life

    /**
     * Rollover off. A's refund on February 5 is split on January (round 422): A unspent and unheld there, so it
     * "lapsed": unrecovered 0, January keeps A's 5,000 in {@code granted} counted in {@code refund_lapsed}. The
     * agent's hold held only allowance, so the refund took nothing from it. Then the agent call commits 8,000 on its
     * 5,000 hold: January's used 13,000 on a limit of 15,000 (allowance plus the refunded A still in granted), no
     * overdraft, and the refund's unrecovered stays 0: 3,000 tokens of a refunded pack spent, recorded nowhere. In
     * the other order (control below) the same accounts record 3,000 unrecovered.
     */
    @Test
    void rolloverOffRefundThenLateCommitAboveAnAllowanceHoldRecordsTheSpentPack() {
        refundThenLateCommit(false);
    }

    /** Control, rollover off: the answer first, the refund after: 3,000 unrecovered. */
    @Test
    void controlRolloverOffLateCommitThenRefund() {
        lateCommitThenRefund(false);
    }

    /** Control, rollover on: refund first (takes February's carried 5,000), then the commit: 3,000 overdraft. */
    @Test
    void controlRolloverOnRefundThenLateCommit() {
        refundThenLateCommit(true);
    }

    /** Control, rollover on: the answer first, the refund after. */
    @Test
    void controlRolloverOnLateCommitThenRefund() {
        lateCommitThenRefund(true);
    }

    /**
     * Rollover off, two packs. January: A and B (5,000 each), the 10,000 allowance spent, and the agent call holding
     * 5,000 of the bought tokens at the turn (31-day TTL). February 5: A refunded: January's unheld 5,000 lapse with
     * it (unrecovered 0). February 6: the agent commits 8,000 on its 5,000 hold (January spent 8,000 bought tokens).
     * February 7: B refunded. The user spent 8,000 of the 10,000 refunded tokens; recorded must be 8,000, as in the
     * orders "both refunds, then the commit" (8,000 overdraft) and "commit, then both refunds" (8,000 unrecovered).
     */
    @Test
    void rolloverOffRefundLateCommitRefundRecordsEverySpentToken() {
        QuotaStore store = store(policy(false));
        String s = p + "buyer";
        Reservation agent = twoPacksSpentAndAnAgentHold(store, s);
        clock.set(Instant.parse("2031-02-05T12:00:00Z"));
        Purchase a = store.refund(p + "pi-a");
        clock.set(Instant.parse("2031-02-06T12:00:00Z"));
        store.commit(agent.id(), 8_000);
        clock.set(Instant.parse("2031-02-07T12:00:00Z"));
        Purchase b = store.refund(p + "pi-b");
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        assertAll(() -> assertEquals(18_000L, jan.used(), jan.toString()),
                () -> assertEquals(8_000L, a.unrecovered() + b.unrecovered() + overdraft(jan),
                        "A refunded (" + a.unrecovered() + " unrecovered), agent committed 8,000 on 5,000, B refunded ("
                                + b.unrecovered() + " unrecovered): January " + view(jan) + " limit " + jan.limit()));
    }

    /**
     * Rollover off, the agent call's hold expired before the refund (docs/semantics.md once named this case "not
     * covered"). January: A bought, 5,000 of the allowance spent, on January 31 a call held 5,000 for 10 minutes;
     * February 1 the sweep expires it. February 5 A is refunded: unspent and unheld, it lapses (0 unrecovered).
     * February 6 the call's usage arrives, 8,000, a late commit: January spent 3,000 of A, recorded as January's
     * overdraft; the commit first records them as unrecovered.
     */
    @Test
    void rolloverOffExpiredHoldCommittedLateAfterTheRefundRecordsTheSpentPack() {
        for (boolean refundFirst : new boolean[] {true, false}) {
            // each order on subjects of its own and a clock back on January 10, as before each test
            start();
            QuotaStore store = store(policy(false));
            String s = p + "buyer";
            buy(store, p + "pi-a", s);
            spend(store, s, 5_000, "call-jan");
            clock.set(Instant.parse("2031-01-31T12:00:00Z"));
            Reservation call = store.reserve(s, 5_000, p + "call-late");
            clock.set(Instant.parse("2031-02-01T12:00:00Z"));
            store.expireStale();
            clock.set(Instant.parse("2031-02-05T12:00:00Z"));
            if (refundFirst) {
                store.refund(p + "pi-a");
            }
            clock.set(Instant.parse("2031-02-06T12:00:00Z"));
            store.commit(call.id(), 8_000);
            if (!refundFirst) {
                store.refund(p + "pi-a");
            }
            QuotaAccount jan = store.account(s, JAN).orElseThrow();
            QuotaAccount feb = store.account(s);
            Purchase after = store.purchase(p + "pi-a").orElseThrow();
            String order = refundFirst ? "refund, then late commit: " : "late commit, then refund: ";
            assertAll(() -> assertEquals(13_000L, jan.used(), order + jan),
                    () -> assertEquals(10_000L, feb.available(), order + view(feb)),
                    () -> assertEquals(3_000L, after.unrecovered() + overdraft(jan),
                            order + "January " + view(jan) + " limit " + jan.limit() + ", refund " + after));
        }
    }

    /** Control, rollover off: the commit first, then both refunds: 8,000 unrecovered. */
    @Test
    void controlRolloverOffLateCommitThenBothRefunds() {
        QuotaStore store = store(policy(false));
        String s = p + "buyer";
        Reservation agent = twoPacksSpentAndAnAgentHold(store, s);
        clock.set(Instant.parse("2031-02-06T12:00:00Z"));
        store.commit(agent.id(), 8_000);
        clock.set(Instant.parse("2031-02-07T12:00:00Z"));
        Purchase a = store.refund(p + "pi-a");
        Purchase b = store.refund(p + "pi-b");
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        assertEquals(8_000L, a.unrecovered() + b.unrecovered() + overdraft(jan), view(jan) + " " + a + " " + b);
    }
}
