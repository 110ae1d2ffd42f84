package io.tokenquota.jdbi.breakit343;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Team;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 343 (a ledger round): the group commit ({@code Combiner}: concurrent key-less takes of one lane
 * folded into one statement) under a month turn, through the public {@link QuotaStore} API, on H2,
 * PostgreSQL and the in-memory reference.
 *
 * <p>The rule (docs/semantics.md "Month turn", docs/decisions.md "A subject's months never go backwards":
 * a write lands in the later of the policy clock's month and the subject's latest month; docs/storage.md
 * "the outcome is the one of running them one after another"): a call made when the clock reads February
 * is charged to February. Here two calls are made at 23:00 on 31 January and a third at 00:30 on
 * 1 February, after the first two are under way but before any of them finished.
 *
 * <p>On the in-memory reference and on H2 (no group commit) the three run one after another. On
 * PostgreSQL the first is held up on its account's row lock (a host transaction holding
 * {@code SELECT ... FOR UPDATE}, as a report or an admin tool may), so that the second (January) and the
 * third (February) queue in the combiner's lane behind it; when the first is done, the second leads and
 * runs both in one statement. The control makes the February call once the January ones are done.
 */
abstract class AbstractRound343 {
    protected abstract QuotaStore store(QuotaPolicy policy);

    static final YearMonth JANUARY = YearMonth.of(2032, 1);
    static final YearMonth FEBRUARY = JANUARY.plusMonths(1);

    protected MutableClock clock;
    protected String prefix;

    @BeforeEach
    void start() {
        clock = MutableClock.at(JANUARY, 31, 23);
        prefix = "r343" + UUID.randomUUID().toString().substring(0, 8) + "-";
    }

    QuotaPolicy policy() {
        return QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).build();
    }

    /** allocated, granted, carried, used, reserved. */
    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    /** The clock reads 00:30 on 1 February. */
    void turnToFebruary() {
        clock.set(FEBRUARY.atDay(1).atTime(0, 30).toInstant(ZoneOffset.UTC));
    }

    /**
     * Runs {@code first} and {@code second}, moves the clock ({@code move}) and runs {@code third}.
     * {@code queued}: the third call is made while the first two are still under way (on a store with a
     * group commit, all three in its lane, the first held up on {@code lockedSubject}'s January account);
     * otherwise (and on stores without one) one after another. Every call must succeed.
     */
    protected void whileUnderWay(QuotaStore store, boolean queued, String lockedSubject, Callable<?> first,
                                 Callable<?> second, Runnable move, Callable<?> third) throws Exception {
        first.call();
        second.call();
        move.run();
        third.call();
    }

    // ------------------------------------------------------------ a user's consumes

    private void userAcrossTheTurn(boolean queued) throws Exception {
        QuotaStore store = store(policy());
        String alice = prefix + "alice";
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), view(store.account(alice)), "January opened");
        whileUnderWay(store, queued, alice,
                () -> store.consume(alice, 1_000, null),
                () -> store.consume(alice, 1_000, null),
                this::turnToFebruary,
                () -> store.consume(alice, 8_000, null));
        assertEquals(List.of(10_000L, 0L, 0L, 2_000L, 0L), view(store.account(alice, JANUARY).orElseThrow()),
                "January pays the two calls made in January");
        assertEquals(List.of(10_000L, 0L, 0L, 8_000L, 0L), view(store.account(alice)),
                "February pays the call made at 00:30 on 1 February");
    }

    /**
     * Finding (PostgreSQL): the February consume, queued behind a January call, is run in the second
     * January caller's combined statement at that caller's instant, and lands in January: it spends
     * January's leftover allowance and February's 10,000 stay untouched.
     */
    @Test
    void aConsumeMadeInFebruaryIsChargedToFebruaryWhileJanuaryCallsAreUnderWay() throws Exception {
        userAcrossTheTurn(true);
    }

    /** Control: the same February consume, made once the January calls are done. */
    @Test
    void aConsumeMadeInFebruaryIsChargedToFebruary() throws Exception {
        userAcrossTheTurn(false);
    }

    // ------------------------------------------------------------ a team member's consumes

    private void memberAcrossTheTurn(boolean queued) throws Exception {
        QuotaStore store = store(policy());
        String bob = prefix + "bob";
        String team = prefix + "team";
        store.setTeam(bob, team);
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), view(store.account(Team.subject(team))), "the team's January opened");
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), view(store.account(bob)), "bob's January opened");
        whileUnderWay(store, queued, Team.subject(team),
                () -> store.consume(bob, 1_000, null),
                () -> store.consume(bob, 1_000, null),
                this::turnToFebruary,
                () -> store.consume(bob, 8_000, null));
        assertEquals(List.of(10_000L, 0L, 0L, 2_000L, 0L), view(store.account(bob, JANUARY).orElseThrow()),
                "bob's January pays the two calls made in January");
        assertEquals(List.of(10_000L, 0L, 0L, 2_000L, 0L),
                view(store.account(Team.subject(team), JANUARY).orElseThrow()),
                "the team's January pays the two calls made in January");
        assertEquals(List.of(10_000L, 0L, 0L, 8_000L, 0L), view(store.account(bob)),
                "bob's February pays the call made at 00:30 on 1 February");
        assertEquals(List.of(10_000L, 0L, 0L, 8_000L, 0L), view(store.account(Team.subject(team))),
                "the team's February pays the call made at 00:30 on 1 February");
    }

    /**
     * Finding (PostgreSQL): the same through the team members' combiner (team-take-together.sql, lanes by
     * team): the February call lands in bob's and the team's January.
     */
    @Test
    void aMembersConsumeMadeInFebruaryIsChargedToFebruaryWhileJanuaryCallsAreUnderWay() throws Exception {
        memberAcrossTheTurn(true);
    }

    /** Control: the same February call of the member, made once the January calls are done. */
    @Test
    void aMembersConsumeMadeInFebruaryIsChargedToFebruary() throws Exception {
        memberAcrossTheTurn(false);
    }

    // ------------------------------------------------------------ a hold's life under CAP_AT_HOLD

    /**
     * A hold lives its TTL from the call that took it (docs/semantics.md, holds; docs/decisions.md
     * "Combined takes share the leader's instant": the combined callers "differ from it by at most that
     * statement's duration"). On 10 January at 12:00 alice (10,000, {@code CAP_AT_HOLD}) consumes 1,000 and
     * holds 1,000 for an hour; at 13:30 she holds 8,000 for an hour (until 14:30) for a model call, and
     * meanwhile asks for 8,000 more in one step, which must be refused (1,000 left once the 12:00 hold is
     * swept). The call then commits its 8,000.
     */
    private void holdAfterAWait(boolean queued) throws Exception {
        clock.set(JANUARY.atDay(10).atTime(12, 0).toInstant(ZoneOffset.UTC));
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(10_000)
                .overrunPolicy(OverrunPolicy.CAP_AT_HOLD).build());
        String carol = prefix + "carol";
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), view(store.account(carol)), "January opened");
        String[] hold = new String[1];
        whileUnderWay(store, queued, carol,
                () -> store.consume(carol, 1_000, null),
                () -> store.reserve(HoldRequest.of(carol, 1_000).ttl(Duration.ofHours(1)).build()),
                () -> clock.advance(Duration.ofMinutes(90)),
                () -> hold[0] = store.reserve(HoldRequest.of(carol, 8_000).ttl(Duration.ofHours(1)).build())
                        .reservation().id());
        Instant until = clock.instant().plus(Duration.ofHours(1));
        String oneStep;
        try {
            oneStep = "charged " + store.consume(carol, 8_000, null).charged();
        } catch (QuotaException e) {
            oneStep = e.code().name();
        }
        long charged = store.commit(hold[0], 8_000).charged();
        assertEquals(List.of(until.toString(), "QUOTA_EXCEEDED", 8_000L, List.of(10_000L, 0L, 0L, 9_000L, 0L)),
                List.of(store.reservation(hold[0]).orElseThrow().expiresAt().toString(), oneStep, charged,
                        view(store.account(carol))),
                "the 13:30 hold lives until 14:30 (expiry), the one-step 8,000 is refused, the call pays its 8,000, "
                        + "the account");
    }

    /**
     * Finding (PostgreSQL): the 13:30 hold, queued behind the 12:00 calls, is taken in the 12:00 caller's
     * statement and expires at 13:00, before it was asked for: the one-step 8,000 sweeps it and is served,
     * and the call's commit, now late, is capped at the 1,000 left: 7,000 of its tokens are free.
     */
    @Test
    void aHoldTakenBehindAWaitingCallLivesItsTtl() throws Exception {
        holdAfterAWait(true);
    }

    /** Control: the same 13:30 hold, taken once the 12:00 calls are done. */
    @Test
    void aHoldLivesItsTtl() throws Exception {
        holdAfterAWait(false);
    }

    // ------------------------------------------------------------ the fix's own: a hold expiring in the batch

    /**
     * A call made after a hold taken before it has expired finds that hold swept, also when both are
     * combined: on 10 January at 12:00 frank (10,000) consumes 1,000 and holds 1,000 for half an hour; at
     * 13:30 he holds 500 for an hour. Run one after another, the 13:30 hold sweeps the 12:00 one first
     * (expired at 12:30): its account holds its own 500 alone. Combined in one statement at their own
     * instants (round 343's fix), the statement cannot sweep a hold it grants itself, so the 13:30 call
     * runs alone.
     */
    private void holdAfterAHoldExpired(boolean queued) throws Exception {
        clock.set(JANUARY.atDay(10).atTime(12, 0).toInstant(ZoneOffset.UTC));
        QuotaStore store = store(policy());
        String frank = prefix + "frank";
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), view(store.account(frank)), "January opened");
        QuotaAccount[] after = new QuotaAccount[1];
        whileUnderWay(store, queued, frank,
                () -> store.consume(frank, 1_000, null),
                () -> store.reserve(HoldRequest.of(frank, 1_000).ttl(Duration.ofMinutes(30)).build()),
                () -> clock.advance(Duration.ofMinutes(90)),
                () -> after[0] = store.reserve(HoldRequest.of(frank, 500).ttl(Duration.ofHours(1)).build())
                        .account());
        assertEquals(List.of(10_000L, 0L, 0L, 1_000L, 500L), view(after[0]),
                "the 13:30 hold's account: the 12:00 hold swept before it");
        assertEquals(List.of(10_000L, 0L, 0L, 1_000L, 500L), view(store.account(frank)), "the account");
    }

    @Test
    void aHoldQueuedBehindAHoldThatExpiredMeanwhileFindsItSwept() throws Exception {
        holdAfterAHoldExpired(true);
    }

    /** Control: the same 13:30 hold, taken once the 12:00 calls are done. */
    @Test
    void aHoldAfterAHoldExpiredFindsItSwept() throws Exception {
        holdAfterAHoldExpired(false);
    }
}
