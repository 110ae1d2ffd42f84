package io.tokenquota.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaExceededException.Scope;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.ConsumerUsage;
import io.tokenquota.QuotaStatistics.DailyUsage;
import io.tokenquota.QuotaStatistics.ModelUsage;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.TokenUsage;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Team budgets (docs/semantics.md, "Teams"), outcome by outcome, on every store: a member's hold is
 * granted only when its own account and its team's both allow it, is held against both, and its
 * commit, release, expiry or late commit settles both; the stricter limit refuses and is named. Subclass
 * it and implement {@link #newStore}. Every test uses its own subjects, teams and month, so tests can
 * share one database. Not thread-safe; JUnit creates one instance per test.
 */
public abstract class TeamContract {
    private static final int MONTHS_PER_TEST = 6;
    /** Far from the months the other suites use, so reports over a month see only this test's rows. */
    private static final AtomicInteger SLOT = new AtomicInteger(ThreadLocalRandom.current().nextInt(2000));

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected MutableClock clock;
    protected YearMonth month;
    protected final List<LedgerEvent> heard = new CopyOnWriteArrayList<>();
    private String prefix;

    @BeforeEach
    void startClock() {
        month = YearMonth.of(8000, 1).plusMonths((long) SLOT.getAndIncrement() * MONTHS_PER_TEST);
        clock = MutableClock.at(month, 10, 12);
        prefix = "t" + UUID.randomUUID().toString().substring(0, 13) + "-";
    }

    protected QuotaStore store(UnaryOperator<QuotaPolicy.Builder> customize) {
        QuotaStore store = newStore(customize.apply(QuotaPolicy.builder().clock(clock).defaultAllocation(10_000)).build());
        store.addListener(heard::add);
        return store;
    }

    protected QuotaStore store() {
        return store(b -> b);
    }

    protected String user(String name) {
        return prefix + name;
    }

    protected String team(String name) {
        return prefix + name;
    }

    private static HoldRequest hold(String subject, long tokens) {
        return HoldRequest.of(subject, tokens).build();
    }

    private static void assertBalances(QuotaAccount a, long limit, long used, long reserved) {
        assertEquals(List.of(limit, used, reserved), List.of(a.limit(), a.used(), a.reserved()),
                "limit, used, reserved of " + a);
    }

    private QuotaAccount teamAccount(QuotaStore store, String team) {
        return store.account(Team.subject(team));
    }

    /** A team with a plan of {@code allocation} and members of the default allocation (10,000). */
    private QuotaStore teamOf(String team, long allocation, String... members) {
        QuotaStore store = store();
        store.setPlan(Team.subject(team), allocation);
        for (String member : members) {
            store.setTeam(member, team);
        }
        return store;
    }

    // ---------------------------------------------------------------- holding against both

    @Test
    void memberHoldIsHeldAgainstBothAccounts() {
        String alice = user("alice");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 1_000, alice);
        assertEquals(Optional.of(acme), store.team(alice));

        Reserved r = store.reserve(hold(alice, 800));
        assertEquals(acme, r.reservation().teamId());
        assertBalances(r.account(), 10_000, 0, 800);
        assertBalances(r.team(), 1_000, 0, 800);
        assertEquals(Team.subject(acme), r.team().subject());
        assertEquals(200, r.available(), "a member can hold what the stricter account has left");
        assertBalances(store.account(alice), 10_000, 0, 800);
        assertBalances(teamAccount(store, acme), 1_000, 0, 800);
        assertEquals(acme, store.reservation(r.reservation().id()).orElseThrow().teamId());
    }

    @Test
    void teamRefusesWhenMembersTogetherWouldPassItsLimit() {
        String alice = user("alice");
        String bob = user("bob");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 1_000, alice, bob);
        store.reserve(hold(alice, 800));
        int heardBefore = heard.size();

        QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> store.reserve(hold(bob, 300)));
        assertEquals(Scope.TEAM, e.scope());
        assertEquals(acme, e.teamId());
        assertEquals(bob, e.subject());
        assertEquals(1_000, e.limit());
        assertEquals(200, e.available());
        assertEquals(300, e.requested());
        assertEquals(store.policy().resetOf(month), e.resetAt());
        // all or nothing: neither account holds anything for the refused call
        assertBalances(store.account(bob), 10_000, 0, 0);
        assertBalances(teamAccount(store, acme), 1_000, 0, 800);
        assertEquals(EventKind.REJECTED, last(store.events(bob, month)).kind());
        assertEquals(EventKind.REJECTED, last(store.events(Team.subject(acme), month)).kind());
        assertEquals(List.of(EventKind.REJECTED, EventKind.REJECTED),
                heard.subList(heardBefore, heard.size()).stream().map(LedgerEvent::kind).toList());
        // what the team has left is still granted
        assertBalances(store.reserve(hold(bob, 200)).team(), 1_000, 0, 1_000);
    }

    @Test
    void userLimitRefusesFirstWhenItIsTheStricter() {
        String alice = user("alice");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 100_000, alice);
        store.setPlan(alice, 500);
        QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> store.reserve(hold(alice, 600)));
        assertEquals(Scope.USER, e.scope());
        assertEquals(acme, e.teamId());
        assertEquals(500, e.limit());
        assertEquals(500, e.available());
        // a refusal by the user's own limit is not the team's: its log has no REJECTED
        assertTrue(store.events(Team.subject(acme), month).stream().noneMatch(ev -> ev.kind() == EventKind.REJECTED));
    }

    @Test
    void whenBothRefuseTheOneWithLessLeftIsNamed() {
        String alice = user("alice");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 300, alice);
        store.setPlan(alice, 400);
        QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> store.reserve(hold(alice, 1_000)));
        assertEquals(Scope.TEAM, e.scope());
        assertEquals(300, e.available());

        store.setPlan(Team.subject(acme), 400);
        e = assertThrows(QuotaExceededException.class, () -> store.reserve(hold(alice, 1_000)));
        assertEquals(Scope.USER, e.scope(), "on a tie the user's own limit is named");
    }

    @Test
    void subjectWithoutTeamIsRefusedAsBefore() {
        String alice = user("alice");
        QuotaStore store = store();
        assertEquals(Optional.empty(), store.team(alice));
        Reserved r = store.reserve(hold(alice, 100));
        assertNull(r.team());
        assertNull(r.reservation().teamId());
        assertEquals(9_900, r.available());
        QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> store.reserve(hold(alice, 10_000)));
        assertEquals(Scope.USER, e.scope());
        assertNull(e.teamId());
    }

    // ---------------------------------------------------------------- settling both

    @Test
    void commitReleaseAndExpirySettleBoth() {
        String alice = user("alice");
        String bob = user("bob");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 5_000, alice, bob);
        Reservation a = store.reserve(hold(alice, 1_000)).reservation();
        Reservation b = store.reserve(hold(bob, 2_000)).reservation();
        Reservation stale = store.reserve(HoldRequest.of(bob, 500).ttl(Duration.ofSeconds(30)).build()).reservation();
        assertBalances(teamAccount(store, acme), 5_000, 0, 3_500);

        Reservation committed = store.commit(a.id(), 700);
        assertEquals(700, committed.charged());
        assertBalances(store.account(alice), 10_000, 700, 0);
        assertBalances(teamAccount(store, acme), 5_000, 700, 2_500);

        store.release(b.id());
        assertBalances(store.account(bob), 10_000, 0, 500);
        assertBalances(teamAccount(store, acme), 5_000, 700, 500);

        clock.advance(Duration.ofSeconds(31));
        // reading the team's account never counts its members' holds past their TTL
        assertBalances(teamAccount(store, acme), 5_000, 700, 0);
        assertEquals(ReservationState.EXPIRED, store.reservation(stale.id()).orElseThrow().state());
        assertBalances(store.account(bob), 10_000, 0, 0);

        List<EventKind> teamLog = store.events(Team.subject(acme), month).stream().map(LedgerEvent::kind).toList();
        assertEquals(List.of(EventKind.PLAN_CHANGED, EventKind.RESERVED, EventKind.RESERVED, EventKind.RESERVED,
                EventKind.COMMITTED, EventKind.RELEASED, EventKind.EXPIRED), teamLog);
    }

    @Test
    void staleHoldOfAnotherMemberDoesNotRefuse() {
        String alice = user("alice");
        String bob = user("bob");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 1_000, alice, bob);
        store.reserve(HoldRequest.of(alice, 1_000).ttl(Duration.ofSeconds(10)).build());
        clock.advance(Duration.ofSeconds(11));
        // alice's abandoned hold is swept before bob's hold is decided
        assertBalances(store.reserve(hold(bob, 1_000)).team(), 1_000, 0, 1_000);
    }

    @Test
    void overrunIsChargedToBoth() {
        String alice = user("alice");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 1_000, alice);
        Reservation r = store.reserve(hold(alice, 900)).reservation();
        store.commit(r.id(), 1_200);
        assertBalances(teamAccount(store, acme), 1_000, 1_200, 0);
        assertEquals(-200, teamAccount(store, acme).available());
        assertBalances(store.account(alice), 10_000, 1_200, 0);
    }

    @Test
    void lateCommitUnderCapAtHoldChargesAtMostTheStricterAvailable() {
        String alice = user("alice");
        String bob = user("bob");
        String acme = team("acme");
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CAP_AT_HOLD));
        store.setPlan(Team.subject(acme), 1_000);
        store.setTeam(alice, acme);
        store.setTeam(bob, acme);
        Reservation r = store.reserve(HoldRequest.of(alice, 800).ttl(Duration.ofSeconds(10)).build()).reservation();
        clock.advance(Duration.ofSeconds(11));
        store.expireStale();
        store.consume(hold(bob, 700));
        // the team has 300 left, alice 10,000: the late commit takes what the stricter account has
        Reservation late = store.commit(r.id(), 800);
        assertEquals(300, late.charged());
        assertEquals(500, late.overage());
        assertBalances(teamAccount(store, acme), 1_000, 1_000, 0);
        assertBalances(store.account(alice), 10_000, 300, 0);
        assertEquals(EventKind.LATE_COMMITTED, last(store.events(Team.subject(acme), month)).kind());
    }

    @Test
    void consumeIsChargedToBothOrRefused() {
        String alice = user("alice");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 1_000, alice);
        Reservation c = store.consume(HoldRequest.of(alice, 600).idempotencyKey("k1").build());
        assertEquals(acme, c.teamId());
        store.consume(hold(alice, 300));
        assertBalances(teamAccount(store, acme), 1_000, 900, 0);
        QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> store.consume(hold(alice, 200)));
        assertEquals(Scope.TEAM, e.scope());
        assertBalances(store.account(alice), 10_000, 900, 0);
        // a replay of the keyed consume changes nothing
        assertEquals(c, store.consume(HoldRequest.of(alice, 600).idempotencyKey("k1").build()));
        assertBalances(teamAccount(store, acme), 1_000, 900, 0);
    }

    // ---------------------------------------------------------------- membership changes

    @Test
    void holdKeepsTheTeamItWasHeldAgainst() {
        String alice = user("alice");
        String acme = team("acme");
        String globex = team("globex");
        QuotaStore store = teamOf(acme, 1_000, alice);
        store.setPlan(Team.subject(globex), 2_000);
        Reservation r = store.reserve(hold(alice, 400)).reservation();

        store.setTeam(alice, globex);
        assertEquals(Optional.of(globex), store.team(alice));
        Reserved next = store.reserve(hold(alice, 100));
        assertEquals(globex, next.reservation().teamId());
        store.commit(r.id(), 300);
        assertBalances(teamAccount(store, acme), 1_000, 300, 0);
        assertBalances(teamAccount(store, globex), 2_000, 0, 100);

        store.setTeam(alice, null);
        assertEquals(Optional.empty(), store.team(alice));
        Reserved alone = store.reserve(hold(alice, 5_000));
        assertNull(alone.team());
        assertNull(alone.reservation().teamId());
        store.release(next.reservation().id());
        assertBalances(teamAccount(store, globex), 2_000, 0, 0);
        assertBalances(store.account(alice), 10_000, 300, 5_000);
        // leaving again is a no-op
        store.setTeam(alice, null);
    }

    @Test
    void replayReturnsTheFirstHoldAndChangesNothing() {
        String alice = user("alice");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 1_000, alice);
        HoldRequest request = HoldRequest.of(alice, 600).idempotencyKey("once").build();
        Reserved first = store.reserve(request);
        Reserved again = store.reserve(request);
        assertTrue(again.replayed());
        assertFalse(first.replayed());
        assertEquals(first.reservation(), again.reservation());
        assertBalances(again.team(), 1_000, 0, 600);
        // a replay is not refused even though the team could not grant it again
        assertBalances(teamAccount(store, acme), 1_000, 0, 600);
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, assertThrows(QuotaException.class,
                () -> store.reserve(HoldRequest.of(alice, 601).idempotencyKey("once").build())).code());
    }

    // ---------------------------------------------------------------- months

    @Test
    void holdOpenAcrossMonthEndIsChargedToItsMonthOfBoth() {
        String alice = user("alice");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 1_000, alice);
        store.grant(PurchaseRequest.grant(prefix + "tx1", Team.subject(acme), 500, PurchaseType.PURCHASE, "team top-up"));
        clock.set(store.policy().resetOf(month).minus(Duration.ofMinutes(5)));
        Reservation r = store.reserve(HoldRequest.of(alice, 1_200).ttl(Duration.ofHours(1)).build()).reservation();
        clock.advance(Duration.ofMinutes(10));
        YearMonth next = month.plusMonths(1);

        // the new month starts from the team's plan and carries the purchased tokens not held (500 - 200)
        QuotaAccount opened = teamAccount(store, acme);
        assertEquals(next, opened.month());
        assertEquals(List.of(1_000L, 0L, 300L), List.of(opened.allocated(), opened.granted(), opened.carried()));

        store.commit(r.id(), 1_100);
        QuotaAccount closed = store.account(Team.subject(acme), month).orElseThrow();
        assertBalances(closed, 1_500, 1_100, 0);
        // the 100 purchased tokens the hold held but did not spend come back to the team's latest month
        assertEquals(400, teamAccount(store, acme).carried());
        assertEquals(List.of(next, month), store.history(Team.subject(acme), 2).stream().map(QuotaAccount::month).toList());
    }

    @Test
    void teamMonthTurnsOnItsOwnFirstTouch() {
        String alice = user("alice");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 1_000, alice);
        store.consume(hold(alice, 1_000));
        clock.advanceMonths(1, 1, 0);
        // the allowance lapsed with the month: the team has its plan again
        Reserved r = store.reserve(hold(alice, 1_000));
        assertEquals(month.plusMonths(1), r.team().month());
        assertBalances(r.team(), 1_000, 0, 1_000);
    }

    // ---------------------------------------------------------------- reports

    @Test
    void reportsExistPerTeamAndUsersOnlyReportsLeaveTeamsOut() {
        String alice = user("alice");
        String bob = user("bob");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 5_000, alice, bob);
        store.consume(hold(alice, 700));
        store.commit(store.reserve(hold(bob, 900)).reservation().id(), 800);
        assertThrows(QuotaExceededException.class, () -> store.reserve(hold(bob, 4_000)));

        List<ConsumerUsage> users = store.topConsumers(month, 1000).stream()
                .filter(u -> u.subject().startsWith(prefix) || Team.isTeam(u.subject())).toList();
        assertEquals(List.of(new ConsumerUsage(bob, 800, 10_000), new ConsumerUsage(alice, 700, 10_000)), users);
        List<ConsumerUsage> teams = store.topTeams(month, 1000).stream()
                .filter(t -> t.subject().startsWith(prefix)).toList();
        assertEquals(List.of(new ConsumerUsage(acme, 1_500, 5_000)), teams);

        List<DailyUsage> days = store.dailyUsage(Team.subject(acme), month.atDay(10), month.atDay(10));
        assertEquals(new DailyUsage(month.atDay(10), 1_500, 2, 1), days.get(0));
        assertEquals(2, store.blockStats(Team.subject(acme), month).granted());
        assertEquals(1, store.blockStats(Team.subject(acme), month).rejected());
        assertEquals(1_500, store.forecast(Team.subject(acme)).used());
        assertEquals(3_500, store.forecast(Team.subject(acme)).available());
        assertEquals(1, store.history(Team.subject(acme), 3).size());
    }

    /**
     * A member's charges keep the usage they were weighed from on both accounts' events, on every path
     * (a consume, a commit, a late commit): the team's charges by model add up as its member's do, and
     * the report over all users leaves the team out.
     */
    @Test
    void chargesKeepTheirUsageOnTheMembersAndTheTeamsEvents() {
        String alice = user("alice");
        String acme = team("acme");
        QuotaStore store = teamOf(acme, 5_000, alice);
        store.consume(HoldRequest.of(alice, 300).usage(TokenUsage.of("m-a", 200, 100)).build());
        store.commit(store.reserve(hold(alice, 900)).reservation().id(), 800, TokenUsage.of("m-b", 500, 300));
        Reservation late = store.reserve(HoldRequest.of(alice, 100).ttl(Duration.ofMinutes(1)).build()).reservation();
        clock.advance(Duration.ofMinutes(2));
        assertEquals(ReservationState.COMMITTED, store.commit(late.id(), 50, TokenUsage.of("m-c", 30, 20)).state());

        List<ModelUsage> expected = List.of(new ModelUsage("m-b", 1, 500, 0, 300, 0, 800),
                new ModelUsage("m-a", 1, 200, 0, 100, 0, 300), new ModelUsage("m-c", 1, 30, 0, 20, 0, 50));
        for (String subject : List.of(alice, Team.subject(acme))) {
            assertEquals(expected, store.modelUsage(subject, month), subject);
            List<TokenUsage> usages = store.events(subject, month).stream().filter(e -> e.kind().charges())
                    .map(LedgerEvent::usage).toList();
            assertEquals(List.of(TokenUsage.of("m-a", 200, 100), TokenUsage.of("m-b", 500, 300),
                    TokenUsage.of("m-c", 30, 20)), usages, subject);
        }
        assertEquals(expected, store.modelUsage(null, month), "all users: the team's charges are its member's");
    }

    // ---------------------------------------------------------------- input

    @Test
    void teamSubjectsAreTheirOwnNamespace() {
        String acme = team("acme");
        QuotaStore store = store();
        assertTrue(Team.isTeam(Team.subject(acme)));
        assertEquals(acme, Team.id(Team.subject(acme)));
        assertNull(Team.id(user("alice")));
        assertEquals(ErrorCode.INVALID_SUBJECT,
                assertThrows(QuotaException.class, () -> hold(Team.subject(acme), 1)).code(),
                "a team's account is held only through its members");
        assertEquals(ErrorCode.INVALID_SUBJECT,
                assertThrows(QuotaException.class, () -> store.setTeam(Team.subject(acme), "x")).code());
        assertEquals(ErrorCode.INVALID_KEY,
                assertThrows(QuotaException.class, () -> store.setTeam(user("alice"), " ")).code());
        assertEquals(ErrorCode.INVALID_KEY,
                assertThrows(QuotaException.class, () -> store.setTeam(user("alice"), "x".repeat(121))).code());
        assertEquals(ErrorCode.INVALID_KEY, assertThrows(QuotaException.class, () -> Team.subject("a\nb")).code());
        assertEquals(ErrorCode.INVALID_SUBJECT,
                assertThrows(QuotaException.class, () -> store.account(Team.SUBJECT_PREFIX + " ")).code());
        assertEquals(Optional.empty(), store.team(user("nobody")));
        // a team of no members still has an account from its plan
        assertEquals(10_000, teamAccount(store, acme).limit());
    }

    private static LedgerEvent last(List<LedgerEvent> events) {
        return events.get(events.size() - 1);
    }
}
