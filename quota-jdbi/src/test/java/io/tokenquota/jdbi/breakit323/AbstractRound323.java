package io.tokenquota.jdbi.breakit323;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 323 (a ledger round): team budgets crossed with the month turn, membership changes, team
 * purchases and plan changes, through the public {@link QuotaStore} API, on every store (the in-memory
 * reference store, H2 and PostgreSQL). The rules: docs/semantics.md ("Accounts and the month model", "Teams",
 * "Credits and refunds"), README "Team budgets".
 */
abstract class AbstractRound323 {
    // months from year 9000 on, six per test, starting at most 500 years in: the stored month is seven
    // characters (YYYY-MM), so a year past 9999 does not fit (a start near 2,000 slots once overflowed)
    private static final AtomicInteger SLOT = new AtomicInteger(ThreadLocalRandom.current().nextInt(1000));

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected MutableClock clock;
    protected YearMonth jan;
    protected YearMonth feb;
    protected String prefix;

    @BeforeEach
    void startClock() {
        jan = YearMonth.of(9000, 1).plusMonths((long) SLOT.getAndIncrement() * 6);
        feb = jan.plusMonths(1);
        clock = MutableClock.at(jan, 10, 12);
        prefix = "r323" + UUID.randomUUID().toString().substring(0, 12) + "-";
    }

    protected QuotaStore store(UnaryOperator<QuotaPolicy.Builder> customize) {
        return newStore(customize.apply(QuotaPolicy.builder().clock(clock).defaultAllocation(10_000)).build());
    }

    /** allocated, granted, carried, used, reserved. */
    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    private Instant febFirst(long seconds) {
        return feb.atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC).plusSeconds(seconds);
    }

    // ---------------------------------------------------------------- membership across the month turn

    /**
     * Two instances at the month turn, their clocks two minutes apart (docs/semantics.md: "every order
     * gives the same accounts, also when the calls race each other on several instances"; "a write
     * lands in the later of the clock's month and the subject's latest account"). Alice, active in
     * January, makes her first February call through the instance already past midnight (it opens her
     * February account); the host's membership sync then puts her in team acme ("the host syncs
     * membership with setTeam(subject, teamId)"), and her next call reaches the instance whose clock
     * still reads January 31 23:59. Team rule: "A member's hold lands in the later of its own and its
     * team's current month, opening that month for the other": the hold is granted in February against
     * alice's and acme's accounts, as the in-memory store does. (One store whose clock is stepped back
     * stands for the lagging instance, as the stores' own comments put it: "a clock stepped back must
     * not reopen a month the next one has carried from".)
     */
    @Test
    void memberWhoJoinedAfterAFasterInstanceOpenedFebruaryIsHeldThroughTheLaggingOne() {
        QuotaStore store = store(b -> b);
        String alice = prefix + "alice";
        String acme = prefix + "acme";
        store.consume(HoldRequest.of(alice, 100).build());            // active in January
        store.setPlan(Team.subject(acme), 5_000);
        clock.set(febFirst(30));                                       // the instance past midnight
        store.account(alice);                                          // opens alice's February
        store.setTeam(alice, acme);                                    // membership sync
        clock.set(febFirst(-90));                                      // the lagging instance: Jan 31 23:58:30
        Reserved held = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> store.reserve(HoldRequest.of(alice, 400).build()),
                "a member's hold through the instance still in January never returned");
        assertEquals(feb, held.reservation().month());
        assertEquals(acme, held.reservation().teamId());
        clock.set(febFirst(60));                                       // read back on the instance past midnight
        assertEquals(400, store.account(alice, feb).orElseThrow().reserved());
        assertEquals(400, store.account(Team.subject(acme), feb).orElseThrow().reserved());
    }

    /** Control: the same history with every call on the instance past midnight. */
    @Test
    void memberWhoJoinedInFebruaryIsHeldInFebruary() {
        QuotaStore store = store(b -> b);
        String alice = prefix + "alice";
        String acme = prefix + "acme";
        store.consume(HoldRequest.of(alice, 100).build());
        store.setPlan(Team.subject(acme), 5_000);
        clock.set(febFirst(30));
        store.account(alice);
        store.setTeam(alice, acme);
        Reserved held = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> store.reserve(HoldRequest.of(alice, 400).build()));
        assertEquals(feb, held.reservation().month());
        assertEquals(acme, held.reservation().teamId());
        assertEquals(400, store.account(alice, feb).orElseThrow().reserved());
        assertEquals(400, store.account(Team.subject(acme), feb).orElseThrow().reserved());
    }

    /**
     * The same lag the other way: alice, acme's member since January, leaves acme right after the
     * faster instance opened her February ("Holds granted before ... Membership applies to holds granted
     * after it changed"); her next call through the lagging instance is hers alone, granted in February.
     */
    @Test
    void memberWhoLeftAfterAFasterInstanceOpenedFebruaryIsHeldAloneThroughTheLaggingOne() {
        QuotaStore store = store(b -> b);
        String alice = prefix + "alice";
        String acme = prefix + "acme";
        store.setPlan(Team.subject(acme), 5_000);
        store.setTeam(alice, acme);
        store.consume(HoldRequest.of(alice, 100).build());            // a member's call in January
        clock.set(febFirst(30));
        store.account(alice);
        store.setTeam(alice, null);
        clock.set(febFirst(-90));
        Reserved held = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> store.reserve(HoldRequest.of(alice, 400).build()),
                "a former member's hold through the instance still in January never returned");
        assertEquals(feb, held.reservation().month());
        assertEquals(null, held.reservation().teamId());
        clock.set(febFirst(60));
        assertEquals(400, store.account(alice, feb).orElseThrow().reserved());
    }

    /** Control: the same history with every call on the instance past midnight. */
    @Test
    void memberWhoLeftInFebruaryIsHeldAloneInFebruary() {
        QuotaStore store = store(b -> b);
        String alice = prefix + "alice";
        String acme = prefix + "acme";
        store.setPlan(Team.subject(acme), 5_000);
        store.setTeam(alice, acme);
        store.consume(HoldRequest.of(alice, 100).build());
        clock.set(febFirst(30));
        store.account(alice);
        store.setTeam(alice, null);
        Reserved held = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> store.reserve(HoldRequest.of(alice, 400).build()));
        assertEquals(feb, held.reservation().month());
        assertEquals(null, held.reservation().teamId());
        assertEquals(400, store.account(alice, feb).orElseThrow().reserved());
    }

    // ---------------------------------------------------------------- a replay across the month turn

    /**
     * A member's keyed hold of January (a batch call held 30 days, the longest TTL a hold takes) replayed on February 1st. The replay
     * "returns the first hold as it is now (with the team it was held against)" (docs/semantics.md,
     * "Idempotent replays"); {@code Reserved.available()} is "what the subject can still hold ... for a
     * team member the smaller of its own and its team's (the stricter limit is the one that refuses the
     * next hold)". Acme's February has its whole 500 and alice's February 10,000, and the next hold of
     * 500 is indeed granted: the replay must say 500. It says 100: the member's side is read from
     * February (the account "as read afterwards") but the team's from January (the hold's month, 500 -
     * 400 held), so the figure mixes two months and names a limit that refuses nothing.
     */
    @Test
    void replayOnTheNextMonthAnswersWhatTheMemberCanStillHold() {
        QuotaStore store = store(b -> b);
        String alice = prefix + "alice";
        String acme = prefix + "acme";
        store.setPlan(Team.subject(acme), 500);
        store.setTeam(alice, acme);
        HoldRequest request = HoldRequest.of(alice, 400).idempotencyKey("batch-1").ttl(Duration.ofDays(30)).build();
        store.reserve(request);
        clock.set(febFirst(10 * 3600));
        Reserved again = store.reserve(request);
        long replayAvailable = again.available();
        long replayMemberMonth = again.account().month().getMonthValue();
        long replayTeamMonth = again.team().month().getMonthValue();
        // what the next hold can really take: acme's February 500 (alice's February 10,000)
        Reserved next = store.reserve(HoldRequest.of(alice, 500).build());
        assertEquals(0, next.available());
        assertEquals(List.of(500L, 500L, 400L),
                List.of(replayAvailable, replayMemberMonth == replayTeamMonth ? 500L : -1L,
                        store.account(Team.subject(acme), jan).orElseThrow().reserved()),
                "replay's available() (then: member and team read from one month) and January's open hold; member "
                        + "read from month " + replayMemberMonth + ", team from month " + replayTeamMonth);
    }

    /** Control: the same replay within January answers January's stricter limit, 100 (acme 500 - 400). */
    @Test
    void replayInTheSameMonthAnswersTheStricterLimit() {
        QuotaStore store = store(b -> b);
        String alice = prefix + "alice";
        String acme = prefix + "acme";
        store.setPlan(Team.subject(acme), 500);
        store.setTeam(alice, acme);
        HoldRequest request = HoldRequest.of(alice, 400).idempotencyKey("batch-1").ttl(Duration.ofDays(30)).build();
        store.reserve(request);
        clock.advance(Duration.ofHours(10));
        Reserved again = store.reserve(request);
        assertEquals(true, again.replayed());
        assertEquals(100, again.available());
        assertEquals(again.account().month(), again.team().month());
        Reserved next = store.reserve(HoldRequest.of(alice, 100).build());
        assertEquals(0, next.available());
    }
}
