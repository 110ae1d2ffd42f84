package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Round 50 break-it scenarios for team budgets (issue 14, part 3), run on every store. */
abstract class TeamBreakScenarios {
    // months from year 9000 on, six per test, starting at most 500 years in: the stored month is seven
    // characters (YYYY-MM), so a year past 9999 does not fit (a start near 2,000 slots once overflowed)
    private static final AtomicInteger SLOT = new AtomicInteger(ThreadLocalRandom.current().nextInt(1000));

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected MutableClock clock;
    protected YearMonth month;
    protected String prefix;

    @BeforeEach
    void startClock() {
        month = YearMonth.of(9000, 1).plusMonths((long) SLOT.getAndIncrement() * 6);
        clock = MutableClock.at(month, 10, 12);
        prefix = "b" + UUID.randomUUID().toString().substring(0, 13) + "-";
    }

    protected QuotaStore store(UnaryOperator<QuotaPolicy.Builder> customize) {
        return newStore(customize.apply(QuotaPolicy.builder().clock(clock).defaultAllocation(10_000)).build());
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    // ---------------------------------------------------------------- replays

    /**
     * A member's keyed hold held against acme; the member then moves to globex and the client retries
     * the same request (same key). The replay is "the first hold as it is now (with the team it was
     * held against)": its {@code team()} must be acme's account, not globex's, and its
     * {@code available()} must not be the new team's figure.
     */
    @Test
    void replayAfterMovingTeamsAnswersWithTheTeamItWasHeldAgainst() {
        QuotaStore store = store(b -> b);
        String alice = prefix + "alice";
        String acme = prefix + "acme";
        String globex = prefix + "globex";
        store.setPlan(Team.subject(acme), 5_000);
        store.setPlan(Team.subject(globex), 50);
        store.setTeam(alice, acme);
        HoldRequest request = HoldRequest.of(alice, 400).idempotencyKey("k1").build();
        Reserved first = store.reserve(request);
        assertEquals(acme, first.reservation().teamId());

        store.setTeam(alice, globex);
        Reserved again = store.reserve(request);
        assertTrue(again.replayed());
        assertEquals(acme, again.reservation().teamId());
        assertEquals(Team.subject(acme), again.team() == null ? null : again.team().subject(),
                "the replay's team account is the one its hold was held against");
        // acme still has 4,600 and alice 9,600: the replayed hold's view is not globex's 50
        assertEquals(4_600, again.available());
    }

    /**
     * A hold granted before the user joined a team is the user's alone; its replay after the join
     * answers it as that: {@code team()} null (Reserved's contract: null when the hold was not held
     * against a team) and {@code available()} the user's own.
     */
    @Test
    void replayOfAHoldHeldBeforeJoiningAnswersWithoutATeam() {
        QuotaStore store = store(b -> b);
        String bob = prefix + "bob";
        String acme = prefix + "acme";
        store.setPlan(Team.subject(acme), 100);
        HoldRequest request = HoldRequest.of(bob, 700).idempotencyKey("k2").build();
        Reserved first = store.reserve(request);
        assertNull(first.team());

        store.setTeam(bob, acme);
        Reserved again = store.reserve(request);
        assertTrue(again.replayed());
        assertNull(again.reservation().teamId());
        assertNull(again.team(), "the hold was not held against a team");
        assertEquals(9_300, again.available());
    }

    /**
     * A member's keyed hold held against acme; the member then leaves every team and retries. The
     * replay is still a hold of acme's (its teamId says so), so its {@code team()} is acme's account and
     * its {@code available()} the stricter of the two, not the user's own 9,600 while acme has 100.
     */
    @Test
    void replayAfterLeavingTheTeamStillAnswersWithItsTeam() {
        QuotaStore store = store(b -> b);
        String carol = prefix + "carol";
        String acme = prefix + "acme";
        store.setPlan(Team.subject(acme), 500);
        store.setTeam(carol, acme);
        HoldRequest request = HoldRequest.of(carol, 400).idempotencyKey("k3").build();
        store.reserve(request);

        store.setTeam(carol, null);
        Reserved again = store.reserve(request);
        assertTrue(again.replayed());
        assertEquals(acme, again.reservation().teamId());
        assertEquals(Team.subject(acme), again.team() == null ? null : again.team().subject(),
                "the replay's team account is the one its hold was held against");
        assertEquals(100, again.available());
    }
}
