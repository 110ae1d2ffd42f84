package io.tokenquota.jdbi.breakit386;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.Team;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 386 (a ledger round): teams and refunds against holds open across a month turn, on the in-memory
 * reference, H2 and PostgreSQL. The rules: docs/semantics.md, "Holds that outlive their month" (a hold is
 * charged to its month; the change of that month's purchased consumption moves to the subject's latest
 * account's {@code carried}), "Teams" ("A hold already open keeps its team: its commit, release or expiry
 * settles that team even after the member left or moved"; a team's month turn happens on its first touch),
 * "Credits and refunds" and the plan-change rules (docs/decisions.md, "Plan changes", round 306).
 */
abstract class AbstractRound386 {
    protected abstract QuotaStore store(QuotaPolicy policy);

    static final YearMonth JAN = YearMonth.of(2031, 1);
    static final YearMonth FEB = YearMonth.of(2031, 2);
    static final YearMonth MAR = YearMonth.of(2031, 3);

    protected String p;
    protected MutableClock clock;

    @BeforeEach
    void start() {
        p = "r386" + UUID.randomUUID().toString().substring(0, 8) + "-";
        clock = MutableClock.at(JAN, 20, 12);
    }

    QuotaStore store(OverrunPolicy overrun) {
        return store(QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).overrunPolicy(overrun).build());
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    static List<Long> v(long allocated, long granted, long carried, long used, long reserved) {
        return List.of(allocated, granted, carried, used, reserved);
    }

    void at(String instant) {
        clock.set(Instant.parse(instant));
    }

    void buy(QuotaStore s, String subject, String tx, long tokens) {
        s.grant(PurchaseRequest.grant(p + tx, subject, tokens, PurchaseType.PURCHASE, "card"));
    }

    /** A 31-day hold (a long agent job), as a HoldRequest allows (docs/semantics.md, "Reservations"). */
    Reservation hold(QuotaStore s, String subject, long tokens) {
        return s.reserve(HoldRequest.of(subject, tokens).ttl(Duration.ofDays(31)).build()).reservation();
    }

    /**
     * Alice (10,000 plan, 5,000 bought) is a member of acme (10,000 plan, 5,000 bought by the team) and holds
     * 12,000 on January 20th: 2,000 of each account's purchased tokens on hold. On February 2nd she leaves
     * the team (the team's February is never opened: no member touched it) and the call ends using 11,000.
     * The hold keeps its team: January of both is charged 11,000; each gives back 1,000 purchased tokens
     * to its latest month. The team's February, opened afterwards by a read, carries 4,000 (5,000 bought,
     * 1,000 spent in January), as alice's does.
     */
    @Test
    void aMembersCallEndingAfterTheTurnWhileTheTeamsNewMonthIsNotOpenYet() {
        QuotaStore s = store(OverrunPolicy.CHARGE_ACTUAL);
        String alice = p + "alice", team = Team.subject(p + "acme");
        buy(s, team, "t1", 5_000);
        buy(s, alice, "a1", 5_000);
        s.setTeam(alice, p + "acme");
        Reservation job = hold(s, alice, 12_000);
        at("2031-02-02T09:00:00Z");
        s.setTeam(alice, null);
        s.commit(job.id(), 11_000);
        assertEquals(v(10_000, 5_000, 0, 11_000, 0), view(s.account(team, JAN).orElseThrow()), "acme's January");
        assertEquals(v(10_000, 5_000, 0, 11_000, 0), view(s.account(alice, JAN).orElseThrow()), "alice's January");
        assertEquals(v(10_000, 0, 4_000, 0, 0), view(s.account(alice)), "alice's February");
        assertEquals(v(10_000, 0, 4_000, 0, 0), view(s.account(team)), "acme's February");
    }

    /**
     * The same job, but it is swept as expired on February 2nd (no commit yet) while neither the team's nor
     * alice's February is open, then committed late with 11,000. After the sweep both Januaries hold nothing;
     * the late charge takes 1,000 of the purchased tokens back. Februaries carry 4,000 each.
     */
    @Test
    void aMembersCallSweptAfterTheTurnThenCommittedLate() {
        QuotaStore s = store(OverrunPolicy.CHARGE_ACTUAL);
        String alice = p + "alice", team = Team.subject(p + "acme");
        buy(s, team, "t1", 5_000);
        buy(s, alice, "a1", 5_000);
        s.setTeam(alice, p + "acme");
        Reservation job = s.reserve(HoldRequest.of(alice, 12_000).ttl(Duration.ofDays(5)).build()).reservation();
        at("2031-02-02T09:00:00Z");
        s.expireStale();
        s.commit(job.id(), 11_000);
        assertEquals(v(10_000, 5_000, 0, 11_000, 0), view(s.account(team, JAN).orElseThrow()), "acme's January");
        assertEquals(v(10_000, 5_000, 0, 11_000, 0), view(s.account(alice, JAN).orElseThrow()), "alice's January");
        assertEquals(v(10_000, 0, 4_000, 0, 0), view(s.account(alice)), "alice's February");
        assertEquals(v(10_000, 0, 4_000, 0, 0), view(s.account(team)), "acme's February");
    }

    /**
     * The team's plan is lowered from 20,000 to 5,000 in January while alice's 15,000 job is held (team
     * bought 10,000): January's allocation stays 15,000 (never below what it holds). In February (team on
     * 5,000, carrying all 10,000) the job uses 17,000: the 2,000 beyond its hold are charged under the plan in
     * effect when it ends, i.e. from purchased tokens (round 306): February carries 8,000.
     */
    @Test
    void aTeamPlanLoweredUnderAHeldCallThatEndsAfterTheTurnBeyondItsHold() {
        QuotaStore s = store(OverrunPolicy.CHARGE_ACTUAL);
        String alice = p + "alice", team = Team.subject(p + "acme");
        s.setPlan(team, 20_000);
        s.setPlan(alice, 30_000);
        buy(s, team, "t1", 10_000);
        s.setTeam(alice, p + "acme");
        Reservation job = hold(s, alice, 15_000);
        s.setPlan(team, 5_000);
        assertEquals(v(15_000, 10_000, 0, 0, 15_000), view(s.account(team)), "acme's January after the downgrade");
        at("2031-02-02T09:00:00Z");
        assertEquals(v(5_000, 0, 10_000, 0, 0), view(s.account(team)), "acme's February");
        s.commit(job.id(), 17_000);
        assertEquals(v(15_000, 10_000, 0, 17_000, 0), view(s.account(team, JAN).orElseThrow()), "acme's January");
        assertEquals(v(5_000, 0, 8_000, 0, 0), view(s.account(team)), "acme's February after the late charge");
    }

    /**
     * Alice moves from acme to globex in February while her January job (held against acme) is open; bob,
     * a globex member, then spends in February; acme's February is opened by a refund of acme's January
     * purchase (5,000 bought, 2,000 on hold in the job): the refund takes February's 3,000 carried and the
     * 2,000 the job holds. The job then ends using 10,000 (within the allowance): nothing comes back to acme
     * (those tokens were refunded), globex is never charged.
     */
    @Test
    void aTeamRefundedAfterTheTurnWhileAMovedMembersJobHoldsItsTokens() {
        QuotaStore s = store(OverrunPolicy.CHARGE_ACTUAL);
        String alice = p + "alice", bob = p + "bob", acme = Team.subject(p + "acme"), globex = Team.subject(p + "globex");
        buy(s, acme, "t1", 5_000);
        buy(s, alice, "a1", 5_000);
        s.setTeam(alice, p + "acme");
        Reservation job = hold(s, alice, 12_000);
        at("2031-02-02T09:00:00Z");
        s.setTeam(alice, p + "globex");
        s.setTeam(bob, p + "globex");
        s.consume(bob, 1_000, null);
        assertEquals(0, s.refund(p + "t1").unrecovered());
        assertEquals(v(10_000, -3_000, 3_000, 0, 0), view(s.account(acme)), "acme's February after the refund");
        s.commit(job.id(), 10_000);
        assertEquals(v(10_000, -3_000, 3_000, 0, 0), view(s.account(acme)), "acme's February after the job");
        assertEquals(10_000, s.account(acme, JAN).orElseThrow().used(), "acme's January used");
        assertEquals(v(10_000, 0, 0, 1_000, 0), view(s.account(globex)), "globex's February");
        assertEquals(v(10_000, 0, 5_000, 0, 0), view(s.account(alice)), "alice's February");
        at("2031-03-02T09:00:00Z");
        assertEquals(v(10_000, 0, 0, 0, 0), view(s.account(acme)), "acme's March carries nothing");
        assertEquals(v(10_000, 0, 5_000, 0, 0), view(s.account(alice)), "alice's March");
    }

    /**
     * Round 318's case on a team (docs/semantics.md, "A plan change moves refunds' takes of closed months"):
     * acme (20,000 plan) bought a 5,000 pack and a 1,000 pack in January; alice's 31-day job holds 21,000
     * (1,000 purchased tokens). In February acme carries 5,000, bob spends 25,000 (all of them), alice moves
     * to globex; the 1,000 pack is refunded (taken from January's hold) and the plan raised to 25,000, in
     * either order. Then the job ends ({@code release} or committed for 21,000). Either order: 4,000 left in
     * February after the job is committed, 4,000 after it is released (the refund's tokens never come back),
     * and March carries what February has left.
     */
    List<Object> roundThreeEighteenOnATeam(boolean refundFirst, boolean release) {
        QuotaStore s = store(OverrunPolicy.CHARGE_ACTUAL);
        String alice = p + "alice", bob = p + "bob", acme = Team.subject(p + "acme");
        s.setPlan(acme, 20_000);
        s.setPlan(alice, 100_000);
        s.setPlan(bob, 100_000);
        buy(s, acme, "t1", 5_000);
        buy(s, acme, "t2", 1_000);
        s.setTeam(alice, p + "acme");
        s.setTeam(bob, p + "acme");
        Reservation job = hold(s, alice, 21_000);
        at("2031-02-02T09:00:00Z");
        s.setTeam(alice, p + "globex");
        s.consume(bob, 25_000, null);
        long unrecovered;
        if (refundFirst) {
            unrecovered = s.refund(p + "t2").unrecovered();
            s.setPlan(acme, 25_000);
        } else {
            s.setPlan(acme, 25_000);
            unrecovered = s.refund(p + "t2").unrecovered();
        }
        long availableBefore = s.account(acme).available();
        if (release) {
            s.release(job.id());
        } else {
            s.commit(job.id(), 21_000);
        }
        long availableAfter = s.account(acme).available();
        at("2031-03-02T09:00:00Z");
        return List.of(unrecovered, availableBefore, availableAfter, s.account(acme).carried());
    }

    @Test
    void roundThreeEighteenOnATeamRefundThenRaiseJobCommitted() {
        assertEquals(List.of(0L, 4_000L, 4_000L, 4_000L), roundThreeEighteenOnATeam(true, false));
    }

    @Test
    void roundThreeEighteenOnATeamRaiseThenRefundJobCommitted() {
        assertEquals(List.of(0L, 4_000L, 4_000L, 4_000L), roundThreeEighteenOnATeam(false, false));
    }

    @Test
    void roundThreeEighteenOnATeamRefundThenRaiseJobReleased() {
        assertEquals(List.of(0L, 4_000L, 5_000L, 5_000L), roundThreeEighteenOnATeam(true, true));
    }

    @Test
    void roundThreeEighteenOnATeamRaiseThenRefundJobReleased() {
        assertEquals(List.of(0L, 4_000L, 5_000L, 5_000L), roundThreeEighteenOnATeam(false, true));
    }

    /**
     * The clock as an action: bob opens acme's February at 00:05 on February 1st; the clock then reads
     * 23:59 on January 31st again (a lagging instance, docs/decisions.md "A subject's months never go
     * backwards"). Alice's January job (against acme) is committed with 11,000 there: her January is still her
     * latest month, acme's is closed and gives 1,000 back to acme's February. Alice's next call lands in the
     * later of her own month and acme's (February), opening her February with January's 4,000 unspent.
     */
    @Test
    void aMembersJobCommittedByALaggingClockAfterTheTeamOpenedTheNewMonth() {
        QuotaStore s = store(OverrunPolicy.CHARGE_ACTUAL);
        String alice = p + "alice", bob = p + "bob", acme = Team.subject(p + "acme");
        buy(s, acme, "t1", 5_000);
        buy(s, alice, "a1", 5_000);
        s.setTeam(alice, p + "acme");
        s.setTeam(bob, p + "acme");
        at("2031-01-31T23:50:00Z");
        Reservation job = hold(s, alice, 12_000);
        at("2031-02-01T00:05:00Z");
        s.consume(bob, 100, null);
        at("2031-01-31T23:59:00Z");
        s.commit(job.id(), 11_000);
        Reservation next = s.consume(alice, 500, null);
        at("2031-02-02T09:00:00Z");
        assertEquals(FEB, next.month(), "alice's next call's month");
        assertEquals(v(10_000, 5_000, 0, 11_000, 0), view(s.account(acme, JAN).orElseThrow()), "acme's January");
        assertEquals(v(10_000, 5_000, 0, 11_000, 0), view(s.account(alice, JAN).orElseThrow()), "alice's January");
        assertEquals(v(10_000, 0, 4_000, 600, 0), view(s.account(acme)), "acme's February");
        assertEquals(v(10_000, 0, 4_000, 500, 0), view(s.account(alice)), "alice's February");
    }

    /**
     * The same with the team refunded at the lagging clock: acme's 5,000 pack is refunded while the clock reads
     * January 31st again, after acme's February opened (carrying 3,000, 2,000 held by alice's job). The refund
     * debits acme's latest month (February) first, then the job's hold; the job then uses 11,000: acme has
     * nothing left of the pack, in February or carried into March.
     */
    @Test
    void aTeamRefundedByALaggingClockAfterItsNewMonthOpened() {
        QuotaStore s = store(OverrunPolicy.CHARGE_ACTUAL);
        String alice = p + "alice", bob = p + "bob", acme = Team.subject(p + "acme");
        buy(s, acme, "t1", 5_000);
        s.setTeam(alice, p + "acme");
        s.setTeam(bob, p + "acme");
        s.setPlan(alice, 50_000);
        at("2031-01-31T23:50:00Z");
        Reservation job = hold(s, alice, 12_000);
        at("2031-02-01T00:05:00Z");
        s.consume(bob, 100, null);
        at("2031-01-31T23:59:00Z");
        assertEquals(0, s.refund(p + "t1").unrecovered(), "unrecovered");
        s.commit(job.id(), 11_000);
        at("2031-02-02T09:00:00Z");
        assertEquals(10_000 - 100, s.account(acme).available(), "acme's February available");
        assertEquals(11_000, s.account(acme, JAN).orElseThrow().used(), "acme's January used");
        at("2031-03-02T09:00:00Z");
        assertEquals(0, s.account(acme).carried(), "acme's March carried");
    }
}
