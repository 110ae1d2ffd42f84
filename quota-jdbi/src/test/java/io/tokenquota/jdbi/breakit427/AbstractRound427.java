package io.tokenquota.jdbi.breakit427;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.Purchase;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.testing.PurchaseRefundRound;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 427 (a ledger round): the lapsed refund of rounds 422 and 425 ({@code rolloverPurchased(false)}, a purchase
 * credited in an earlier month: {@code LedgerRules.refundLapsed}, {@code lapsedMonth}, {@code lapsedRefund};
 * {@code InMemoryQuotaStore.refund}; quota-jdbi {@code Purchases.debit}) on the in-memory reference, H2 and
 * PostgreSQL. The events are those a host's Stripe handler maps: {@code payment_intent.processing} (recordPending),
 * {@code payment_intent.succeeded} (complete, with {@code amount_received} and {@code currency}),
 * {@code charge.refunded} (refund) (docs.stripe.com/api/events/types). The model calls are holds (reserve) and their
 * commits, as the filter makes them (README, "Settlement").
 *
 * <p>The rule under test (docs/semantics.md, "Credits and refunds"; README, "a refund debits purchased tokens that
 * are not spent"): with rollover off, a refund of an earlier month's purchase is split "on the month its tokens
 * lapsed in". A pack whose tokens the current month still carries has not lapsed: every token of a refunded pack
 * the user spent must be either taken back or recorded ({@code unrecovered}, or an overdraft), and no token of it
 * stays available.
 *
 * <p>Rollover is a per-instance policy ({@code QuotaPolicy.rolloverPurchased}); a host turning it off does so by
 * deploying instances with the new policy, which happens on some day of a month, not at its first instant: the month
 * under way was opened (and carried its purchased tokens) while rollover was on. The in-memory reference keeps one
 * policy: its "second instance" is itself, rollover stays on, and its runs are controls.
 */
abstract class AbstractRound427 extends PurchaseRefundRound {
    // ------------------------------------------------------------------ rollover turned off during a month

    /**
     * January (rollover on): pack A (5,000) bought, none of it spent. February 1st: the month opens on an instance
     * with rollover on and carries A's 5,000. On February 10 the host deploys instances with
     * {@code rolloverPurchased(false)}; the user had spent A's carried tokens in February (15,000 used on the 10,000
     * allowance) before that. February 20: A is refunded through a new instance. Right: unrecovered 5,000 (every
     * token of A was spent, in February), as for the same refund made by a rollover-on instance (control below),
     * and as round 425's refund in March records it. Found and fixed: the refund was "lapsed" (rollover off, A
     * credited in January), {@code lapsedMonth} looked only at the closed months and split it on January, where A
     * is unspent: unrecovered 0, and the 5,000 tokens of a refunded pack February spent were recorded nowhere.
     */
    @Test
    void refundAfterRolloverTurnedOffMidMonthCountsWhatTheCurrentMonthSpent() {
        QuotaStore first = store(policy(true));
        String s = p + "buyer";
        String a = p + "pi-jan";
        buy(first, a, s);
        clock.set(Instant.parse("2031-02-05T12:00:00Z"));
        spend(first, s, 15_000, "call-feb");
        clock.set(Instant.parse("2031-02-20T12:00:00Z"));
        QuotaStore later = secondInstance(first, policy(false));
        Purchase r = later.refund(a);
        QuotaAccount feb = later.account(s, FEB).orElseThrow();
        assertAll(() -> assertEquals(15_000L, feb.used(), feb.toString()),
                () -> assertEquals(PACK, r.unrecovered() + overdraft(feb), "A, carried into February and spent"
                        + " there, refunded in February after rollover was turned off: " + r + "; February "
                        + view(feb)));
    }

    /** Control: the same calls, the refund made by an instance with rollover still on: 5,000 unrecovered. */
    @Test
    void controlRefundMidMonthWithRolloverOn() {
        QuotaStore first = store(policy(true));
        String s = p + "buyer";
        String a = p + "pi-jan";
        buy(first, a, s);
        clock.set(Instant.parse("2031-02-05T12:00:00Z"));
        spend(first, s, 15_000, "call-feb");
        clock.set(Instant.parse("2031-02-20T12:00:00Z"));
        Purchase r = secondInstance(first, policy(true)).refund(a);
        assertEquals(PACK, r.unrecovered(), r.toString());
    }

    /**
     * The same turn of policy with A's carried tokens not spent yet: February opened on a rollover-on instance
     * (carried 5,000), rollover turned off on February 10, A refunded on February 20. Right: the refund takes A's
     * 5,000 back from February (they did not lapse: February still has them), leaving the 10,000 allowance. Found
     * and fixed: it was split on January (A unspent there: 0 unrecovered, "lapsed") and February kept A's 5,000:
     * the user went on spending 15,000 tokens in February, 5,000 of them a refunded pack's, free.
     */
    @Test
    void refundAfterRolloverTurnedOffMidMonthTakesTheCarriedTokens() {
        QuotaStore first = store(policy(true));
        String s = p + "buyer";
        String a = p + "pi-jan";
        buy(first, a, s);
        clock.set(Instant.parse("2031-02-05T12:00:00Z"));
        QuotaAccount opened = first.account(s);
        clock.set(Instant.parse("2031-02-20T12:00:00Z"));
        QuotaStore later = secondInstance(first, policy(false));
        Purchase r = later.refund(a);
        QuotaAccount feb = later.account(s);
        assertAll(() -> assertEquals(List.of(10_000L, 0L, PACK, 0L, 0L), view(opened), opened.toString()),
                () -> assertEquals(0L, r.unrecovered(), r.toString()),
                () -> assertEquals(10_000L, feb.available(), "A refunded after rollover was turned off, its 5,000"
                        + " carried tokens still in February: " + view(feb) + ", refund " + r));
    }

    /** Control: the same refund by an instance with rollover on: February keeps its 10,000 allowance only. */
    @Test
    void controlRefundOfCarriedTokensWithRolloverOn() {
        QuotaStore first = store(policy(true));
        String s = p + "buyer";
        String a = p + "pi-jan";
        buy(first, a, s);
        clock.set(Instant.parse("2031-02-05T12:00:00Z"));
        first.account(s);
        clock.set(Instant.parse("2031-02-20T12:00:00Z"));
        Purchase r = secondInstance(first, policy(true)).refund(a);
        QuotaAccount feb = first.account(s);
        assertAll(() -> assertEquals(0L, r.unrecovered(), r.toString()),
                () -> assertEquals(10_000L, feb.available(), view(feb).toString()));
    }

    // ------------------------------------------------------------------ tokens that lapsed in two months

    /**
     * A documented case (docs/decisions.md, "One rollover setting per ledger"; docs/semantics.md, "Credits and
     * refunds"). Rollover on in January and February, off from March (March opened by a new instance). January:
     * packs A and B (10,000), the allowance spent, and an agent call holding 5,000 of the bought tokens at the turn
     * (a 31-day job, {@code Limits.MAX_TTL}; round 318's "31-day job"); February carries the other 5,000 and spends
     * them (15,000 used). March 2: the agent call fails and is released (the filter releases a call the model did
     * not answer: README, "Settlement"); with rollover off its 5,000 go back to January, where they lapse. March 10:
     * A and B refunded. The user spent 5,000 of the two packs (in February). As documented, both refunds are split
     * on February, the last month of the carrying, and the 5,000 that lapsed in January after the release are
     * counted as spent there: 10,000 unrecovered, no account changed, none of the packs' tokens left in March. The
     * in-memory reference keeps rollover on (one policy): the release carries the 5,000 into March, A's refund
     * takes them back and B's records February's 5,000.
     */
    @Test
    void documentedLapsedRefundsCountTokensAReleaseLetLapseInAnEarlierMonthAsSpent() {
        QuotaStore first = store(policy(true));
        String s = p + "buyer";
        Reservation agent = twoPacksSpentAndAnAgentHold(first, s);
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        spend(first, s, 15_000, "call-feb");
        QuotaAccount feb = first.account(s, FEB).orElseThrow();
        clock.set(Instant.parse("2031-03-01T00:00:10Z"));
        QuotaStore later = secondInstance(first, policy(false));
        boolean rolloverChanged = later != first;
        later.account(s);
        clock.set(Instant.parse("2031-03-02T12:00:00Z"));
        later.release(agent.id());
        clock.set(Instant.parse("2031-03-10T12:00:00Z"));
        Purchase a = later.refund(p + "pi-a");
        Purchase b = later.refund(p + "pi-b");
        QuotaAccount jan = later.account(s, JAN).orElseThrow();
        QuotaAccount febAfter = later.account(s, FEB).orElseThrow();
        QuotaAccount mar = later.account(s);
        assertAll(() -> assertEquals(List.of(10_000L, 0L, PACK, 15_000L, 0L), view(feb), feb.toString()),
                () -> assertEquals(10_000L, jan.used(), jan.toString()),
                () -> assertEquals(10_000L, mar.available(), "none of the refunded packs' tokens left in March: "
                        + view(mar)),
                () -> assertEquals(rolloverChanged ? 2 * PACK : PACK,
                        a.unrecovered() + b.unrecovered() + overdraft(jan) + overdraft(febAfter),
                        "A and B, 5,000 of them spent (in February), 5,000 released in March: A " + a.unrecovered()
                                + " + B " + b.unrecovered() + " unrecovered; January " + view(jan) + ", February "
                                + view(febAfter)));
    }

    /** Control: the agent call released in February before anything else (carried 10,000): 5,000 unrecovered. */
    @Test
    void controlReleaseBeforeFebruarySpends() {
        QuotaStore first = store(policy(true));
        String s = p + "buyer";
        Reservation agent = twoPacksSpentAndAnAgentHold(first, s);
        clock.set(Instant.parse("2031-02-10T12:00:00Z"));
        first.release(agent.id());
        spend(first, s, 15_000, "call-feb");
        clock.set(Instant.parse("2031-03-01T00:00:10Z"));
        QuotaStore later = secondInstance(first, policy(false));
        later.account(s);
        clock.set(Instant.parse("2031-03-10T12:00:00Z"));
        Purchase a = later.refund(p + "pi-a");
        Purchase b = later.refund(p + "pi-b");
        assertEquals(PACK, a.unrecovered() + b.unrecovered(), a + " " + b);
    }
}
