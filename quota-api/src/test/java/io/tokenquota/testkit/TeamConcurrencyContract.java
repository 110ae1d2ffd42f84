package io.tokenquota.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.Team;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Team budgets under concurrency (docs/semantics.md, "Teams"): many members of one team racing each
 * other never get the team over-held, a member's own limit holds as well, nothing deadlocks (every
 * call ends within the timeout, none as {@code STORE_UNAVAILABLE}), and afterwards the team's account
 * is exactly the sum of what its members' holds charged. Subclass it and implement {@link #newStore}.
 */
public abstract class TeamConcurrencyContract {
    private static final long TIMEOUT_SECONDS = 120;

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected int rounds() {
        return 6;
    }

    protected int operationsPerThread() {
        return 150;
    }

    /**
     * The store {@link #monthOpeningsOfATeamAndItsMembersRacingNeverDeadlock} runs on; by default
     * {@link #newStore}. A database's subclass returns one that does not retry, so a deadlock the
     * store would otherwise retry unseen fails the call the test watches.
     */
    protected QuotaStore newStoreForMonthRace(QuotaPolicy policy) {
        return newStore(policy);
    }

    protected MutableClock clock;
    private String prefix;

    @BeforeEach
    void startClock() {
        clock = MutableClock.at(YearMonth.of(2032, 7), 10, 12);
        prefix = "tc" + UUID.randomUUID().toString().substring(0, 13) + "-";
    }

    protected QuotaStore store() {
        return newStore(QuotaPolicy.builder().clock(clock).holdTtl(Duration.ofDays(1)).defaultAllocation(1_000_000)
                .build());
    }

    /**
     * Members race to hold 100 tokens each until refused: the team (limit 5,000, far below what its
     * members may hold alone) grants exactly 50 holds per round, whichever members get them, and its
     * {@code available} never goes below zero while they race.
     */
    @Test
    void membersRacingNeverOverHoldTheirTeam() throws Exception {
        QuotaStore store = store();
        int threads = 12;
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            for (int round = 0; round < rounds(); round++) {
                String team = prefix + "team-" + round;
                String teamSubject = Team.subject(team);
                store.setPlan(teamSubject, 5_000);
                List<String> members = new ArrayList<>();
                for (int m = 0; m < threads; m++) {
                    members.add(prefix + "r" + round + "-m" + m);
                    store.setTeam(members.get(m), team);
                }
                CyclicBarrier barrier = new CyclicBarrier(threads);
                List<Reservation> granted = new CopyOnWriteArrayList<>();
                List<String> refusals = new CopyOnWriteArrayList<>();
                AtomicBoolean running = new AtomicBoolean(true);
                List<String> violations = new CopyOnWriteArrayList<>();
                Future<?> monitor = pool.submit(() -> {
                    while (running.get()) {
                        QuotaAccount a = store.account(teamSubject);
                        if (a.available() < 0) {
                            violations.add("team over-held: " + a);
                        }
                    }
                });
                List<Future<?>> workers = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    String member = members.get(t);
                    workers.add(pool.submit((Callable<Void>) () -> {
                        barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                        try {
                            while (true) {
                                granted.add(store.reserve(HoldRequest.of(member, 100).build()).reservation());
                            }
                        } catch (QuotaExceededException refused) {
                            refusals.add(refused.scope().wireName());
                        }
                        return null;
                    }));
                }
                for (Future<?> w : workers) {
                    w.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                }
                running.set(false);
                monitor.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                assertEquals(List.of(), violations);
                assertEquals(50, granted.size(), "holds granted against a team of 5,000");
                assertTrue(refusals.stream().allMatch("team"::equals), "only the team refused: " + refusals);
                QuotaAccount held = store.account(teamSubject);
                assertEquals(List.of(0L, 5_000L), List.of(held.used(), held.reserved()));
                for (Reservation r : granted) {
                    store.commit(r.id(), 90);
                }
                QuotaAccount done = store.account(teamSubject);
                assertEquals(List.of(4_500L, 0L), List.of(done.used(), done.reserved()));
                long membersUsed = 0;
                for (String member : members) {
                    membersUsed += store.account(member).used();
                }
                assertEquals(4_500, membersUsed, "the team's used is its members' sum");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * A mixed workload (holds, commits over and under the hold, releases, consumes) of many members
     * of one team, some with their own limits tighter than the team's, ends with the team's and each
     * member's {@code used} equal to their charging events, nothing reserved, and the team's {@code used}
     * equal to the sum of its members'.
     */
    @Test
    void mixedWorkloadOfMembersEndsExact() throws Exception {
        QuotaStore store = store();
        String team = prefix + "mixed";
        String teamSubject = Team.subject(team);
        store.setPlan(teamSubject, 60_000);
        int threads = 10;
        List<String> members = new ArrayList<>();
        for (int m = 0; m < threads; m++) {
            String member = prefix + "mix-m" + m;
            members.add(member);
            store.setTeam(member, team);
            if (m % 3 == 0) {
                store.setPlan(member, 4_000);
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        AtomicLong grants = new AtomicLong();
        try {
            CyclicBarrier barrier = new CyclicBarrier(threads);
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                String member = members.get(t);
                long seed = t;
                workers.add(pool.submit((Callable<Void>) () -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                    for (int i = 0; i < operationsPerThread(); i++) {
                        long tokens = 1 + random.nextInt(600);
                        try {
                            if (random.nextInt(4) == 0) {
                                store.consume(HoldRequest.of(member, tokens).build());
                            } else {
                                Reservation r = store.reserve(HoldRequest.of(member, tokens).build()).reservation();
                                int fate = random.nextInt(3);
                                if (fate == 0) {
                                    store.release(r.id());
                                } else {
                                    store.commit(r.id(), fate == 1 ? tokens / 2 : tokens + random.nextInt(50));
                                }
                            }
                            grants.incrementAndGet();
                        } catch (QuotaExceededException refused) {
                            // either limit may refuse; the end state is what is checked
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> w : workers) {
                w.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(grants.get() > 0);
        YearMonth month = store.policy().currentMonth();
        QuotaAccount teamAccount = store.account(teamSubject);
        assertEquals(0, teamAccount.reserved());
        assertEquals(charged(store.events(teamSubject, month)), teamAccount.used());
        long membersUsed = 0;
        for (String member : members) {
            QuotaAccount a = store.account(member);
            assertEquals(0, a.reserved());
            assertEquals(charged(store.events(member, month)), a.used(), member);
            membersUsed += a.used();
        }
        assertEquals(membersUsed, teamAccount.used(), "the team's used is its members' sum");
    }

    /**
     * Users join a team whose allocation is spent while their own holds race the join (keyless, so on
     * PostgreSQL they are combined into one statement): a hold that began after the join returned is
     * refused by the team, never granted on the user's account alone, and each user's holds held before
     * it hold only the user's account.
     */
    @Test
    void holdsRacingAJoinNeverSkipTheTeam() throws Exception {
        QuotaStore store = store();
        String team = prefix + "spent";
        String teamSubject = Team.subject(team);
        store.setPlan(teamSubject, 0);
        int users = 4;
        int threadsPerUser = 3;
        ExecutorService pool = Executors.newFixedThreadPool(users * threadsPerUser + 1);
        try {
            for (int round = 0; round < rounds(); round++) {
                List<String> subjects = new ArrayList<>();
                AtomicBoolean[] joined = new AtomicBoolean[users];
                for (int u = 0; u < users; u++) {
                    subjects.add(prefix + "joiner-" + round + "-" + u);
                    joined[u] = new AtomicBoolean();
                }
                CyclicBarrier start = new CyclicBarrier(users * threadsPerUser + 1);
                List<String> wrong = new CopyOnWriteArrayList<>();
                List<Future<?>> workers = new ArrayList<>();
                for (int u = 0; u < users; u++) {
                    String subject = subjects.get(u);
                    AtomicBoolean isMember = joined[u];
                    for (int t = 0; t < threadsPerUser; t++) {
                        workers.add(pool.submit((Callable<Void>) () -> {
                            start.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                            for (int i = 0; i < 40; i++) {
                                boolean after = isMember.get();
                                try {
                                    Reservation r = store.reserve(subject, 10, null);
                                    if (after) {
                                        wrong.add(subject + " was granted " + r.id() + " after joining a spent team");
                                    } else if (r.teamId() != null) {
                                        wrong.add(subject + " was held against a spent team: " + r.id());
                                    }
                                } catch (QuotaExceededException e) {
                                    if (e.scope() != QuotaExceededException.Scope.TEAM) {
                                        wrong.add(subject + " refused by " + e.scope());
                                    }
                                }
                            }
                            return null;
                        }));
                    }
                }
                start.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                for (int u = 0; u < users; u++) {
                    store.setTeam(subjects.get(u), team);
                    joined[u].set(true);
                }
                for (Future<?> w : workers) {
                    w.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                }
                assertTrue(wrong.isEmpty(), () -> String.join("\n", wrong));
                QuotaAccount teamAccount = store.account(teamSubject);
                assertEquals(0, teamAccount.reserved() + teamAccount.used(), "the spent team held nothing");
                for (String subject : subjects) {
                    long held = store.events(subject, store.policy().currentMonth()).stream()
                            .filter(e -> e.kind() == EventKind.RESERVED).mapToLong(LedgerEvent::tokens).sum();
                    assertEquals(held, store.account(subject).reserved(), subject);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Opening a team's new month marks the open holds its members held against it, and opening a
     * member's new month marks that member's own: both lock the same hold rows. Members hold several
     * holds each across the month end (expiring in another order than they were made, so no index
     * hands the rows out in the order they were written), then the team's month opens (twice, as two
     * instances would), each member's month opens and its first hold of the new month is held and
     * committed, and every old hold is committed or released late, all at once. No call fails (a
     * deadlock would, on a store that does not retry it), and afterwards each old month holds nothing,
     * its {@code used} is its charging events, and the team's is its members' sum; the new month's too.
     */
    @Test
    void monthOpeningsOfATeamAndItsMembersRacingNeverDeadlock() throws Exception {
        QuotaStore store = newStoreForMonthRace(QuotaPolicy.builder().clock(clock).holdTtl(Duration.ofDays(1))
                .defaultAllocation(1_000_000).build());
        int membersPerTeam = 6;
        int holdsPerMember = 4;
        int threads = 2 + 2 * membersPerTeam;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            for (int round = 0; round < rounds(); round++) {
                YearMonth old = store.policy().currentMonth();
                clock.set(old.atEndOfMonth().atTime(23, 0).toInstant(java.time.ZoneOffset.UTC));
                String team = prefix + "turn-" + round;
                String teamSubject = Team.subject(team);
                store.setPlan(teamSubject, 1_000_000);
                List<String> members = new ArrayList<>();
                for (int m = 0; m < membersPerTeam; m++) {
                    members.add(prefix + "turn-" + round + "-m" + m);
                    store.setTeam(members.get(m), team);
                }
                // made member after member, expiring in another order: between 100 and 160 minutes on
                List<List<Reservation>> holds = new ArrayList<>();
                members.forEach(m -> holds.add(new ArrayList<>()));
                for (int h = 0; h < holdsPerMember; h++) {
                    for (int m = 0; m < membersPerTeam; m++) {
                        Duration ttl = Duration.ofMinutes(100 + (h * 17 + (membersPerTeam - m) * 7) % 60);
                        holds.get(m).add(store.reserve(HoldRequest.of(members.get(m), 10).ttl(ttl).build())
                                .reservation());
                    }
                }
                YearMonth next = old.plusMonths(1);
                clock.set(next.atDay(1).atTime(0, 30).toInstant(java.time.ZoneOffset.UTC));

                CyclicBarrier barrier = new CyclicBarrier(threads);
                List<String> failures = new CopyOnWriteArrayList<>();
                List<Future<?>> workers = new ArrayList<>();
                for (int t = 0; t < 2; t++) {
                    workers.add(pool.submit(watched(barrier, failures, () -> store.account(teamSubject))));
                }
                for (int m = 0; m < membersPerTeam; m++) {
                    String member = members.get(m);
                    List<Reservation> own = holds.get(m);
                    workers.add(pool.submit(watched(barrier, failures, () -> {
                        store.account(member);
                        Reservation first = store.reserve(HoldRequest.of(member, 10).build()).reservation();
                        store.commit(first.id(), 10);
                    })));
                    workers.add(pool.submit(watched(barrier, failures, () -> {
                        for (int h = 0; h < own.size(); h++) {
                            if (h % 2 == 0) {
                                store.commit(own.get(h).id(), 7);
                            } else {
                                store.release(own.get(h).id());
                            }
                        }
                    })));
                }
                for (Future<?> w : workers) {
                    w.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                }
                assertTrue(failures.isEmpty(), () -> String.join("\n", failures));

                long oldCharges = (long) membersPerTeam * (holdsPerMember / 2) * 7;
                assertMonthExact(store, teamSubject, members, old, oldCharges);
                assertMonthExact(store, teamSubject, members, next, 10L * membersPerTeam);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** A racer that waits for the others, then runs {@code body}; what it throws is written down, not lost. */
    private static Callable<Void> watched(CyclicBarrier barrier, List<String> failures, Runnable body) {
        return () -> {
            barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            try {
                body.run();
            } catch (RuntimeException e) {
                failures.add(e.toString());
            }
            return null;
        };
    }

    /** The month's accounts of the team and its members hold nothing, and charged {@code charges} in all. */
    private static void assertMonthExact(QuotaStore store, String teamSubject, List<String> members, YearMonth month,
                                         long charges) {
        QuotaAccount teamAccount = store.account(teamSubject, month).orElseThrow();
        assertEquals(0, teamAccount.reserved(), teamSubject + " " + month);
        assertEquals(charged(store.events(teamSubject, month)), teamAccount.used(), teamSubject + " " + month);
        long membersUsed = 0;
        for (String member : members) {
            QuotaAccount a = store.account(member, month).orElseThrow();
            assertEquals(0, a.reserved(), member + " " + month);
            assertEquals(charged(store.events(member, month)), a.used(), member + " " + month);
            membersUsed += a.used();
        }
        assertEquals(charges, membersUsed, "members' charges in " + month);
        assertEquals(membersUsed, teamAccount.used(), "the team's used in " + month + " is its members' sum");
    }

    private static long charged(List<LedgerEvent> events) {
        return events.stream().filter(e -> e.kind() == EventKind.COMMITTED || e.kind() == EventKind.LATE_COMMITTED)
                .mapToLong(LedgerEvent::tokens).sum();
    }
}
