package io.tokenquota.jdbi.breakit557;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.BlockStats;
import io.tokenquota.QuotaStatistics.DailyUsage;
import io.tokenquota.QuotaStatistics.ModelUsage;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.Team;
import io.tokenquota.TokenUsage;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 557 (issue 14): members of one team racing key-less holds and consumes (combined into one statement on
 * PostgreSQL), commits with a usage, releases; then holds left open past their TTL are late-committed with a
 * usage or swept. The team's reports must be its members' sums: blockStats (granted and refused), daily usage,
 * usage by model, and the event log (each member charge mirrored on the team, same hold, tokens and usage).
 * Nothing found (in-memory, H2, PostgreSQL, CHARGE_ACTUAL and CAP_AT_HOLD; also members moving teams while
 * their holds settle): kept as controls.
 */
abstract class AbstractRound557 {
    private static final String[] MODELS = {"gpt-4o", "claude-sonnet-4", "gemini-2.5-pro"};

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected int threads() {
        return 6;
    }

    protected int operations() {
        return 60;
    }

    @Test
    void teamReportsAreTheirMembersSumsAfterARace() throws Exception {
        race(io.tokenquota.OverrunPolicy.CHARGE_ACTUAL);
    }

    @Test
    void teamReportsAreTheirMembersSumsAfterARaceCappedAtHold() throws Exception {
        race(io.tokenquota.OverrunPolicy.CAP_AT_HOLD);
    }

    private void race(io.tokenquota.OverrunPolicy overrun) throws Exception {
        MutableClock clock = MutableClock.at(YearMonth.of(2033, 5), 10, 12);
        QuotaStore store = newStore(QuotaPolicy.builder().clock(clock).holdTtl(Duration.ofSeconds(60)).overrunPolicy(overrun)
                .defaultAllocation(1_000_000).build());
        String prefix = "r557" + UUID.randomUUID().toString().substring(0, 12) + "-";
        String team = prefix + "team";
        String teamSubject = Team.subject(team);
        store.setPlan(teamSubject, 40_000);
        int threads = threads();
        List<String> members = new ArrayList<>();
        for (int m = 0; m < threads; m++) {
            String member = prefix + "m" + m;
            members.add(member);
            store.setTeam(member, team);
            if (m % 3 == 0) {
                store.setPlan(member, 5_000);
            }
        }
        AtomicLong granted = new AtomicLong();
        AtomicLong teamRefusals = new AtomicLong();
        AtomicLong userRefusals = new AtomicLong();
        AtomicLong charged = new AtomicLong();
        ConcurrentLinkedQueue<Reservation> open = new ConcurrentLinkedQueue<>();
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            CyclicBarrier barrier = new CyclicBarrier(threads);
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                String member = members.get(t);
                long seed = 557 + t;
                workers.add(pool.submit((Callable<Void>) () -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    barrier.await(60, TimeUnit.SECONDS);
                    for (int i = 0; i < operations(); i++) {
                        long tokens = 50 + random.nextInt(400);
                        try {
                            if (random.nextInt(4) == 0) {
                                store.consume(HoldRequest.of(member, tokens).build());
                                charged.addAndGet(tokens);
                            } else {
                                Reservation r = store.reserve(HoldRequest.of(member, tokens).build()).reservation();
                                int fate = random.nextInt(4);
                                if (fate == 0) {
                                    store.release(r.id());
                                } else if (fate == 3) {
                                    open.add(r);
                                } else {
                                    // half of the commits run past their hold by up to 300
                                    long actual = fate == 1 ? tokens / 2 : tokens + random.nextInt(300);
                                    String model = MODELS[random.nextInt(MODELS.length)];
                                    Reservation c = store.commit(r.id(), actual,
                                            new TokenUsage(model, actual / 2, 3, actual / 4, 1));
                                    charged.addAndGet(c.charged());
                                }
                            }
                            granted.incrementAndGet();
                        } catch (QuotaExceededException refused) {
                            (refused.scope() == QuotaExceededException.Scope.TEAM ? teamRefusals : userRefusals)
                                    .incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> w : workers) {
                w.get(300, TimeUnit.SECONDS);
            }
            // every open hold past its TTL: half late-committed with a usage (concurrently), the rest swept
            clock.advance(Duration.ofMinutes(2));
            List<Reservation> late = new ArrayList<>(open);
            List<Future<?>> commits = new ArrayList<>();
            // the late commits race fresh holds of team-mates (each of which sweeps the team's stale holds
            // first) and a sweeper
            CyclicBarrier lateBarrier = new CyclicBarrier(threads + 1);
            for (int t = 0; t < threads; t++) {
                int slot = t;
                String member = members.get(t);
                commits.add(pool.submit((Callable<Void>) () -> {
                    lateBarrier.await(60, TimeUnit.SECONDS);
                    for (int i = slot; i < late.size(); i += threads) {
                        if (i % 3 != 2) {
                            Reservation r = late.get(i);
                            long actual = i % 4 == 0 ? r.held() / 3 : r.held() + 200;
                            Reservation c = store.commit(r.id(), actual, new TokenUsage(MODELS[i % 3], actual, 0, 0, 0));
                            charged.addAndGet(c.charged());
                        }
                        try {
                            Reservation fresh = store.reserve(HoldRequest.of(member, 60).build()).reservation();
                            granted.incrementAndGet();
                            Reservation c = store.commit(fresh.id(), 30, new TokenUsage(MODELS[slot % 3], 30, 0, 0, 0));
                            charged.addAndGet(c.charged());
                        } catch (QuotaExceededException refused) {
                            (refused.scope() == QuotaExceededException.Scope.TEAM ? teamRefusals : userRefusals)
                                    .incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            commits.add(pool.submit((Callable<Void>) () -> {
                lateBarrier.await(60, TimeUnit.SECONDS);
                for (int i = 0; i < 20; i++) {
                    store.expireStale();
                }
                return null;
            }));
            for (Future<?> c : commits) {
                c.get(300, TimeUnit.SECONDS);
            }
            store.expireStale();
        } finally {
            pool.shutdownNow();
        }
        assertTrue(granted.get() > 0 && teamRefusals.get() > 0, "granted " + granted + ", team refusals " + teamRefusals);
        YearMonth month = store.policy().currentMonth();

        // accounts
        QuotaAccount teamAccount = store.account(teamSubject);
        long membersUsed = 0;
        for (String m : members) {
            QuotaAccount a = store.account(m);
            assertEquals(0, a.reserved(), m + " reserved");
            membersUsed += a.used();
        }
        assertEquals(0, teamAccount.reserved(), "team reserved");
        assertEquals(charged.get(), membersUsed, "members' used");
        assertEquals(charged.get(), teamAccount.used(), "team used");

        // block statistics: the team's granted holds are its members', its refusals the team-scope ones
        long membersGranted = 0;
        long membersRejected = 0;
        for (String m : members) {
            BlockStats b = store.blockStats(m, month);
            membersGranted += b.granted();
            membersRejected += b.rejected();
        }
        assertEquals(granted.get(), membersGranted, "members' granted holds");
        assertEquals(teamRefusals.get() + userRefusals.get(), membersRejected, "members' refusals");
        BlockStats teamStats = store.blockStats(teamSubject, month);
        assertEquals(granted.get(), teamStats.granted(), "team's granted holds");
        assertEquals(teamRefusals.get(), teamStats.rejected(), "team's refusals");

        // daily usage: the team's days are its members' sums (used and requests)
        LocalDate day = LocalDate.ofInstant(clock.instant(), ZoneOffset.UTC);
        LocalDate from = day.minusDays(1);
        LocalDate to = day.plusDays(1);
        long usedSum = 0;
        long requestsSum = 0;
        for (String m : members) {
            for (DailyUsage d : store.dailyUsage(m, from, to)) {
                usedSum += d.used();
                requestsSum += d.requests();
            }
        }
        long teamUsed = 0;
        long teamRequests = 0;
        long teamRejected = 0;
        for (DailyUsage d : store.dailyUsage(teamSubject, from, to)) {
            teamUsed += d.used();
            teamRequests += d.requests();
            teamRejected += d.rejected();
        }
        assertEquals(charged.get(), usedSum, "members' daily used");
        assertEquals(granted.get(), requestsSum, "members' daily requests");
        assertEquals(charged.get(), teamUsed, "team's daily used");
        assertEquals(granted.get(), teamRequests, "team's daily requests");
        assertEquals(teamRefusals.get(), teamRejected, "team's daily refusals");

        // usage by model: the team's rows are the merge of its members'
        Map<String, List<Long>> merged = new TreeMap<>();
        for (String m : members) {
            for (ModelUsage u : store.modelUsage(m, month)) {
                merge(merged, u);
            }
        }
        Map<String, List<Long>> ofTeam = new TreeMap<>();
        for (ModelUsage u : store.modelUsage(teamSubject, month)) {
            merge(ofTeam, u);
        }
        assertEquals(merged, ofTeam, "team's usage by model");

        // the event log: each member charge, release and expiry mirrored on the team
        List<String> memberLines = new ArrayList<>();
        for (String m : members) {
            for (LedgerEvent e : store.events(m, month)) {
                if (MIRRORED.contains(e.kind())) {
                    memberLines.add(line(e));
                }
            }
        }
        List<String> teamLines = new ArrayList<>();
        for (LedgerEvent e : store.events(teamSubject, month)) {
            if (MIRRORED.contains(e.kind())) {
                teamLines.add(line(e));
            }
        }
        Collections.sort(memberLines);
        Collections.sort(teamLines);
        List<String> onlyMembers = new ArrayList<>(memberLines);
        onlyMembers.removeAll(teamLines);
        List<String> onlyTeam = new ArrayList<>(teamLines);
        onlyTeam.removeAll(memberLines);
        assertEquals(List.of(), onlyMembers, "member events the team lacks (team-only: " + onlyTeam + ")");
        assertEquals(List.of(), onlyTeam, "team events no member has");
    }

    /**
     * Members hold (key-less: combined on PostgreSQL) against team A, then half move to team B while every thread
     * commits its open holds and holds again: a hold settles the team it was held against. Afterwards each team
     * holds nothing, its used is the sum of its charge events, and both teams' used is the members' sum.
     */
    @Test
    void holdsSettleTheTeamTheyWereHeldAgainstWhileMembersMove() throws Exception {
        MutableClock clock = MutableClock.at(YearMonth.of(2033, 6), 10, 12);
        QuotaStore store = newStore(QuotaPolicy.builder().clock(clock).holdTtl(Duration.ofDays(1))
                .defaultAllocation(1_000_000).build());
        String prefix = "r557" + UUID.randomUUID().toString().substring(0, 12) + "-";
        String a = prefix + "a";
        String b = prefix + "b";
        store.setPlan(Team.subject(a), 500_000);
        store.setPlan(Team.subject(b), 500_000);
        int threads = threads();
        List<String> members = new ArrayList<>();
        for (int m = 0; m < threads; m++) {
            members.add(prefix + "m" + m);
            store.setTeam(members.get(m), a);
        }
        AtomicLong charged = new AtomicLong();
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            CyclicBarrier start = new CyclicBarrier(threads + 1);
            CyclicBarrier held = new CyclicBarrier(threads + 1);
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                String member = members.get(t);
                long seed = 5570 + t;
                workers.add(pool.submit((Callable<Void>) () -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    start.await(60, TimeUnit.SECONDS);
                    List<Reservation> open = new ArrayList<>();
                    for (int i = 0; i < operations() / 2; i++) {
                        open.add(store.reserve(HoldRequest.of(member, 50 + random.nextInt(300)).build()).reservation());
                    }
                    held.await(60, TimeUnit.SECONDS);
                    for (Reservation r : open) {
                        if (random.nextInt(3) == 0) {
                            store.release(r.id());
                        } else {
                            charged.addAndGet(store.commit(r.id(), r.held() / 2 + random.nextInt(100),
                                    new TokenUsage(MODELS[random.nextInt(3)], 5, 0, 5, 0)).charged());
                        }
                        Reservation again = store.reserve(HoldRequest.of(member, 40).build()).reservation();
                        charged.addAndGet(store.commit(again.id(), 20).charged());
                        if (random.nextInt(4) == 0) {
                            store.consume(HoldRequest.of(member, 7).build());
                            charged.addAndGet(7);
                        }
                    }
                    return null;
                }));
            }
            workers.add(pool.submit((Callable<Void>) () -> {
                start.await(60, TimeUnit.SECONDS);
                held.await(60, TimeUnit.SECONDS);
                for (int round = 0; round < 6; round++) {
                    for (int m = 0; m < threads; m += 2) {
                        store.setTeam(members.get(m), round % 2 == 0 ? b : a);
                    }
                }
                return null;
            }));
            for (Future<?> w : workers) {
                w.get(300, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        YearMonth month = store.policy().currentMonth();
        long membersUsed = 0;
        for (String m : members) {
            QuotaAccount acc = store.account(m);
            assertEquals(0, acc.reserved(), m + " reserved");
            membersUsed += acc.used();
        }
        assertEquals(charged.get(), membersUsed, "members' used");
        long teamsUsed = 0;
        for (String t : List.of(a, b)) {
            QuotaAccount acc = store.account(Team.subject(t));
            assertEquals(0, acc.reserved(), t + " reserved");
            long events = store.events(Team.subject(t), month).stream()
                    .filter(e -> e.kind() == EventKind.COMMITTED || e.kind() == EventKind.LATE_COMMITTED)
                    .mapToLong(LedgerEvent::tokens).sum();
            assertEquals(events, acc.used(), t + " used against its charge events");
            teamsUsed += acc.used();
        }
        assertEquals(membersUsed, teamsUsed, "both teams' used is the members' sum");
    }

    private static final java.util.Set<EventKind> MIRRORED = java.util.EnumSet.of(EventKind.COMMITTED,
            EventKind.LATE_COMMITTED, EventKind.RELEASED, EventKind.EXPIRED);

    private static String line(LedgerEvent e) {
        return e.kind() + " " + e.reservationId() + " " + e.tokens() + " " + e.overage() + " " + e.usage() + " " + e.at();
    }

    private static void merge(Map<String, List<Long>> into, ModelUsage u) {
        into.merge(String.valueOf(u.model()), List.of(u.calls(), u.input(), u.cachedInput(), u.output(), u.reasoning(),
                u.charged()), (a, b) -> {
                    List<Long> sum = new ArrayList<>();
                    for (int i = 0; i < a.size(); i++) {
                        sum.add(a.get(i) + b.get(i));
                    }
                    return sum;
                });
    }
}
