package io.tokenquota.jdbi.breakit450;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Team;
import io.tokenquota.jdbi.testing.PurchaseRefundRound;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 450 (a ledger round): teams' purchases and refunds while members' holds run, a member's hold kept alive
 * ({@code extend}) across its team's month turn, and payment events redelivered out of order. The payment events are
 * those a host's Stripe handler maps (docs.stripe.com/api/events/types): {@code payment_intent.processing}
 * (recordPending), {@code payment_intent.succeeded} (complete), {@code payment_intent.payment_failed} (fail),
 * {@code charge.refunded} (refund). Rules: docs/semantics.md, "Teams", "Reservations", "Credits and refunds".
 */
abstract class AbstractRound450 extends PurchaseRefundRound {

    /** A team pack: recorded pending and completed under the team's subject (docs/semantics.md, "Teams"). */
    void buyForTeam(QuotaStore store, String tx, String team) {
        buy(store, tx, Team.subject(team));
    }

    /**
     * A team's pack (5,000) refunded while a member's call holds it: the refund takes it (held tokens are not
     * spent), and the release after it gives the team none of it back: its 10,000 allowance is all it has.
     */
    @Test
    void teamPackRefundedWhileAMemberHoldsItThenReleasedLeavesTheTeamNoneOfIt() {
        QuotaStore store = store(policy(true));
        String team = p + "team";
        String m = p + "member";
        store.setPlan(m, 100_000);
        store.setTeam(m, team);
        buyForTeam(store, p + "pi-t", team);
        Reservation call = store.reserve(HoldRequest.of(m, 15_000).idempotencyKey(p + "call").build()).reservation();
        Purchase refunded = store.refund(p + "pi-t");
        store.release(call.id());
        QuotaAccount t = store.account(Team.subject(team));
        QuotaAccount u = store.account(m);
        assertAll(() -> assertEquals(10_000L, t.available(), "team " + view(t) + " refund " + refunded),
                () -> assertEquals(0L, refunded.unrecovered(), refunded.toString()),
                () -> assertEquals(100_000L, u.available(), view(u).toString()));
    }

    /** The same refund while the member's call holds it, then the call commits 12,000: 2,000 of the pack spent. */
    @Test
    void teamPackRefundedWhileAMemberHoldsItThenCommittedRecordsTheSpentPart() {
        QuotaStore store = store(policy(true));
        String team = p + "team";
        String m = p + "member";
        store.setPlan(m, 100_000);
        store.setTeam(m, team);
        buyForTeam(store, p + "pi-t", team);
        Reservation call = store.reserve(HoldRequest.of(m, 15_000).idempotencyKey(p + "call").build()).reservation();
        Purchase refunded = store.refund(p + "pi-t");
        store.commit(call.id(), 12_000);
        QuotaAccount t = store.account(Team.subject(team));
        Purchase after = store.purchase(p + "pi-t").orElseThrow();
        assertAll(() -> assertEquals(12_000L, t.used(), view(t).toString()),
                () -> assertEquals(2_000L, after.unrecovered() + overdraft(t), "team " + view(t) + " limit "
                        + t.limit() + " refund " + after));
    }

    /**
     * A member's call held on January 31 at 23:55 for 10 minutes, kept alive at 00:04 for an hour (extend: "no sweep
     * or reserve returns its tokens early"); at 00:10 another member's first call of February opens the team's
     * month and sweeps the team's stale holds: the extended hold is not stale. It commits 3,000 at 00:30, an ordinary
     * commit of January's hold on both accounts.
     */
    @Test
    void memberHoldExtendedAcrossItsTeamsMonthTurnIsNotSweptAndChargedOnce() {
        QuotaStore store = store(policy(true));
        QuotaStore other = secondInstance(store, policy(true));
        String team = p + "team";
        String a = p + "alice";
        String b = p + "bob";
        store.setTeam(a, team);
        store.setTeam(b, team);
        clock.set(Instant.parse("2031-01-31T23:55:00Z"));
        Reservation held = store.reserve(HoldRequest.of(a, 2_000).idempotencyKey(p + "call").build()).reservation();
        clock.set(Instant.parse("2031-02-01T00:04:00Z"));
        store.extend(held.id(), Duration.ofHours(1));
        clock.set(Instant.parse("2031-02-01T00:10:00Z"));
        other.consume(b, 1_000, p + "bob-feb");
        other.expireStale();
        Reservation still = store.reservation(held.id()).orElseThrow();
        clock.set(Instant.parse("2031-02-01T00:30:00Z"));
        Reservation done = store.commit(held.id(), 3_000);
        QuotaAccount tJan = store.account(Team.subject(team), JAN).orElseThrow();
        QuotaAccount aJan = store.account(a, JAN).orElseThrow();
        QuotaAccount tFeb = store.account(Team.subject(team));
        assertAll(() -> assertEquals(ReservationState.HELD, still.state(), still.toString()),
                () -> assertEquals(3_000L, done.charged(), done.toString()),
                () -> assertEquals(3_000L, tJan.used(), view(tJan).toString()),
                () -> assertEquals(0L, tJan.reserved(), view(tJan).toString()),
                () -> assertEquals(3_000L, aJan.used(), view(aJan).toString()),
                () -> assertEquals(1_000L, tFeb.used(), view(tFeb).toString()));
    }

    /**
     * payment_intent.payment_failed of an earlier attempt delivered after payment_intent.succeeded (Stripe does not
     * guarantee event order): a completed purchase is not failed (completed moves only to refunded), and its 5,000
     * stay credited once. Then the succeeded event redelivered: a replay, no second credit.
     */
    @Test
    void failedEventAfterTheCompletionChangesNothing() {
        QuotaStore store = store(policy(true));
        String s = p + "buyer";
        buy(store, p + "pi", s);
        QuotaException e = assertThrows(QuotaException.class, () -> store.fail(p + "pi"));
        store.complete(p + "pi", new java.math.BigDecimal("33.00"), io.tokenquota.Currency.USD);
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(ErrorCode.PURCHASE_STATE_CONFLICT, e.code(), e.toString()),
                () -> assertEquals(PurchaseStatus.COMPLETED, store.purchase(p + "pi").orElseThrow().status()),
                () -> assertEquals(15_000L, a.available(), view(a).toString()));
    }

    /**
     * A member's keyed consume, then the member moves to another team, and the client retries the consume: a replay
     * (the first call's charge), nothing charged to either team again.
     */
    @Test
    void memberConsumeReplayedAfterAMoveChargesNoTeamAgain() {
        QuotaStore store = store(policy(true));
        QuotaStore other = secondInstance(store, policy(true));
        String t1 = p + "t1";
        String t2 = p + "t2";
        String m = p + "member";
        store.setTeam(m, t1);
        Reservation first = store.consume(m, 4_000, p + "k");
        other.setTeam(m, t2);
        Reservation again = other.consume(m, 4_000, p + "k");
        assertAll(() -> assertEquals(first.id(), again.id()),
                () -> assertEquals(4_000L, store.account(Team.subject(t1)).used()),
                () -> assertEquals(0L, store.account(Team.subject(t2)).used()),
                () -> assertEquals(4_000L, store.account(m).used()));
    }

    /**
     * Team refund of a pack carried into February while a member's January 31-day job holds it: the refund in
     * February takes February's carried pack first ... the release then gives nothing back: February has its
     * allowance only.
     */
    @Test
    void teamPackHeldAcrossTheTurnRefundedThenReleased() {
        QuotaStore store = store(policy(true));
        String team = p + "team";
        String m = p + "member";
        store.setPlan(m, 100_000);
        store.setTeam(m, team);
        buyForTeam(store, p + "pi-a", team);
        buyForTeam(store, p + "pi-b", team);
        spend(store, m, 10_000, "jan");
        Reservation job = agentHoldOnJanuary31(store, m, PACK);
        clock.set(Instant.parse("2031-02-05T12:00:00Z"));
        store.refund(p + "pi-a");
        store.refund(p + "pi-b");
        clock.set(Instant.parse("2031-02-06T12:00:00Z"));
        store.release(job.id());
        QuotaAccount t = store.account(Team.subject(team));
        List<Long> jan = view(store.account(Team.subject(team), JAN).orElseThrow());
        assertEquals(10_000L, t.available(), "team Feb " + view(t) + " Jan " + jan);
    }

    /**
     * CAP_AT_HOLD: Alice's call held 6,000 of the team's January at 23:50 for 10 minutes; it expires (Bob's first
     * February call sweeps it), Bob having spent 8,000 of the team's 10,000 in January before. Alice's call then
     * commits 6,000 late: a late commit under CAP_AT_HOLD charges at most what the stricter account (the team's
     * January) still has: 2,000, on both accounts (docs/semantics.md, "Teams", "Settling"); the team's January never
     * passes its limit.
     */
    @Test
    void capAtHoldLateCommitOfAMemberHoldIsCappedByTheTeamsMonthOnBothAccounts() {
        io.tokenquota.QuotaPolicy cap = policy(true).toBuilder().overrunPolicy(io.tokenquota.OverrunPolicy.CAP_AT_HOLD)
                .build();
        QuotaStore store = store(cap);
        QuotaStore other = secondInstance(store, cap);
        String team = p + "team";
        String a = p + "alice";
        String b = p + "bob";
        store.setTeam(a, team);
        store.setTeam(b, team);
        clock.set(Instant.parse("2031-01-31T23:50:00Z"));
        Reservation held = store.reserve(HoldRequest.of(a, 6_000).idempotencyKey(p + "call").build()).reservation();
        other.consume(b, 4_000, p + "bob-jan");
        clock.set(Instant.parse("2031-02-01T00:05:00Z"));
        other.consume(b, 1_000, p + "bob-feb");
        other.expireStale();
        Reservation late = store.commit(held.id(), 6_000);
        QuotaAccount tJan = store.account(Team.subject(team), JAN).orElseThrow();
        QuotaAccount aJan = store.account(a, JAN).orElseThrow();
        assertAll(() -> assertEquals(6_000L, late.charged(), late.toString()),
                () -> assertEquals(10_000L, tJan.used(), view(tJan).toString()),
                () -> assertEquals(6_000L, aJan.used(), view(aJan).toString()));
    }

    /** The same with Bob's January call at 8,000: the team's January has 2,000 left when Alice's call commits. */
    @Test
    void capAtHoldLateCommitCappedAtTwoThousand() {
        io.tokenquota.QuotaPolicy cap = policy(true).toBuilder().overrunPolicy(io.tokenquota.OverrunPolicy.CAP_AT_HOLD)
                .build();
        QuotaStore store = store(cap);
        QuotaStore other = secondInstance(store, cap);
        String team = p + "team";
        String a = p + "alice";
        String b = p + "bob";
        store.setTeam(a, team);
        store.setTeam(b, team);
        clock.set(Instant.parse("2031-01-31T23:50:00Z"));
        Reservation held = store.reserve(HoldRequest.of(a, 6_000).idempotencyKey(p + "call").build()).reservation();
        clock.set(Instant.parse("2031-02-01T00:05:00Z"));
        other.expireStale();
        clock.set(Instant.parse("2031-01-31T23:58:00Z"));
        // a lagging instance still in January: Bob's January call (the clock back: an instance 7 minutes behind)
        QuotaStore lagging = secondInstance(store, cap);
        lagging.consume(b, 8_000, p + "bob-jan");
        clock.set(Instant.parse("2031-02-01T00:20:00Z"));
        Reservation late = store.commit(held.id(), 6_000);
        QuotaAccount tJan = store.account(Team.subject(team), JAN).orElseThrow();
        QuotaAccount aJan = store.account(a, JAN).orElseThrow();
        assertAll(() -> assertEquals(tJan.used() - 8_000L, late.charged(), late + " team " + view(tJan)),
                () -> assertEquals(true, tJan.used() <= tJan.limit(), view(tJan).toString()),
                () -> assertEquals(late.charged(), aJan.used(), view(aJan).toString()));
    }
}
