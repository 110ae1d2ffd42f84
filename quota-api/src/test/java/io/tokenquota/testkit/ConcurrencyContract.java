package io.tokenquota.testkit;

import java.util.stream.Collectors;
import java.util.Map;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
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
import java.util.function.IntFunction;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The ledger's no-overspend invariant (docs/semantics.md): many threads on one hot subject (and on many subjects) never get a
 * hold granted beyond the limit, and the balances are exact afterwards. Subclass it and implement
 * {@link #newStore}. The over-spend check itself is {@link #overspendViolations}, which
 * {@code NaiveStoreIsCaughtTest} runs against a deliberately broken store to prove it can fail.
 *
 * <p>Each test uses fresh random subjects and its own clock, so a shared schema does not matter.
 */
public abstract class ConcurrencyContract {
    private static final long TIMEOUT_SECONDS = 120;

    /** A store of the implementation under test, using {@code policy} (and its clock) for everything. */
    protected abstract QuotaStore newStore(QuotaPolicy policy);

    /** Barrier-started rounds per over-spend test; a slow backend may lower it. */
    protected int rounds() {
        return 10;
    }

    /** Operations per thread in the mixed workloads. */
    protected int operationsPerThread() {
        return 200;
    }

    protected MutableClock clock;
    private String prefix;

    @BeforeEach
    void startClock() {
        clock = MutableClock.at(YearMonth.of(2031, 5), 10, 12);
        prefix = "t" + UUID.randomUUID().toString().substring(0, 13) + "-";
    }

    protected QuotaStore store() {
        // long holds: the clock stands still anyway, and a hold must never expire mid-test
        return newStore(QuotaPolicy.builder().clock(clock).holdTtl(Duration.ofDays(1)).build());
    }

    protected String subject(String name) {
        return prefix + name;
    }

    // ================================================================ the over-spend check

    /**
     * Runs {@code rounds} rounds against fresh subjects from {@code subjectOfRound}: in each, all
     * {@code threads} threads are released together by a barrier and each keeps reserving
     * {@code hold} tokens until it is refused; then every granted hold is committed in full from
     * the threads that got it. A correct store grants exactly {@code limit / hold} holds per round,
     * never lets {@code available} go below zero, and ends with {@code used == limit - limit % hold},
     * nothing reserved, and {@code used} equal to the committed events.
     *
     * @return a description of every violation found; empty for a correct store
     */
    public static List<String> overspendViolations(QuotaStore store, IntFunction<String> subjectOfRound, int threads,
                                                   int rounds, long hold) throws Exception {
        List<String> violations = new CopyOnWriteArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            for (int round = 0; round < rounds; round++) {
                String subject = subjectOfRound.apply(round);
                QuotaAccount start = store.account(subject);
                long limit = start.limit();
                CyclicBarrier barrier = new CyclicBarrier(threads);
                List<Reservation> granted = new CopyOnWriteArrayList<>();
                AtomicBoolean running = new AtomicBoolean(true);
                Future<?> monitor = pool.submit(() -> watch(store, subject, running, violations));
                List<Future<?>> workers = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    workers.add(pool.submit((Callable<Void>) () -> {
                        List<Reservation> mine = new ArrayList<>();
                        barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                        try {
                            while (true) {
                                mine.add(store.reserve(subject, hold, null));
                            }
                        } catch (QuotaExceededException refused) {
                            granted.addAll(mine);
                        }
                        // all threads committing at once is a second contended phase
                        barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                        for (Reservation r : mine) {
                            store.commit(r.id(), hold);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : workers) {
                    f.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                }
                running.set(false);
                monitor.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);

                long grantedTokens = granted.stream().mapToLong(Reservation::held).sum();
                long fits = limit / hold;
                if (grantedTokens > limit) {
                    violations.add("round " + round + ": granted " + grantedTokens + " tokens in " + granted.size()
                            + " holds against a limit of " + limit);
                } else if (granted.size() != fits) {
                    violations.add("round " + round + ": granted " + granted.size() + " holds, " + fits + " fit");
                }
                Set<String> ids = new HashSet<>();
                granted.forEach(r -> ids.add(r.id()));
                if (ids.size() != granted.size()) {
                    violations.add("round " + round + ": the same hold was granted twice");
                }
                QuotaAccount end = store.account(subject);
                violations.addAll(balanceViolations(store, end, grantedTokens, "round " + round));
            }
        } finally {
            pool.shutdownNow();
        }
        return violations;
    }

    private static void watch(QuotaStore store, String subject, AtomicBoolean running, List<String> violations) {
        while (running.get()) {
            QuotaAccount a = store.account(subject);
            if (a.available() < 0) {
                violations.add("observed available " + a.available() + " of " + a);
                return;
            }
            if (a.used() < 0 || a.reserved() < 0) {
                violations.add("observed negative counters in " + a);
                return;
            }
        }
    }

    /** After all holds finished: nothing reserved, {@code used} as expected and equal to the log, not negative. */
    private static List<String> balanceViolations(QuotaStore store, QuotaAccount a, long expectedUsed, String label) {
        List<String> violations = new ArrayList<>();
        if (a.reserved() != 0) {
            violations.add(label + ": " + a.reserved() + " tokens still reserved after every hold finished");
        }
        if (a.used() != expectedUsed) {
            violations.add(label + ": used " + a.used() + ", committed " + expectedUsed);
        }
        if (a.available() < 0) {
            violations.add(label + ": available " + a.available() + " after commits of at most the hold");
        }
        if (a.limit() != a.used() + a.reserved() + a.available()) {
            violations.add(label + ": conservation broken in " + a);
        }
        long logged = store.events(a.subject(), a.month()).stream()
                .filter(e -> e.kind() == EventKind.COMMITTED).mapToLong(LedgerEvent::tokens).sum();
        if (logged != a.used()) {
            violations.add(label + ": used " + a.used() + " but committed events sum to " + logged);
        }
        return violations;
    }

    // ================================================================ tests

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {16, 32})
    void aHotSubjectGrantsExactlyTheHoldsThatFit(int threads) throws Exception {
        // 10,000 tokens, holds of 2,500: exactly 4 holds under any interleaving (a hold is granted only if available >= tokens at that instant)
        List<String> violations = overspendViolations(store(), r -> subject("hot4-" + threads + "-" + r), threads,
                rounds(), 2_500);
        assertEquals(List.of(), violations);
    }

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {16, 32})
    void aHotSubjectWithSmallHoldsNeverOverspends(int threads) throws Exception {
        List<String> violations = overspendViolations(store(), r -> subject("hot-small-" + threads + "-" + r), threads,
                Math.max(1, rounds() / 2), 97);
        assertEquals(List.of(), violations);
    }

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {16, 32})
    void mixedReserveCommitReleaseAndConsumeOnOneSubjectStayExact(int threads) throws Exception {
        QuotaStore store = store();
        String s = subject("mixed-" + threads);
        assertEquals(List.of(), mixedWorkload(store, List.of(s), threads));
    }

    @ParameterizedTest(name = "{0} threads")
    @ValueSource(ints = {16, 32})
    void manySubjectsStayExact(int threads) throws Exception {
        QuotaStore store = store();
        List<String> subjects = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            subjects.add(subject("many-" + threads + "-" + i));
        }
        assertEquals(List.of(), mixedWorkload(store, subjects, threads));
    }

    /**
     * Every thread picks a subject, then reserves and commits (at most the hold) or releases, or
     * consumes, in random sizes; some top-ups run alongside. Afterwards each subject's {@code used}
     * must equal what the threads were charged, with nothing reserved.
     */
    private List<String> mixedWorkload(QuotaStore store, List<String> subjects, int threads) throws Exception {
        List<String> violations = new CopyOnWriteArrayList<>();
        AtomicLong[] charged = new AtomicLong[subjects.size()];
        AtomicLong[] credited = new AtomicLong[subjects.size()];
        for (int i = 0; i < subjects.size(); i++) {
            charged[i] = new AtomicLong();
            credited[i] = new AtomicLong();
            store.account(subjects.get(i));
        }
        CyclicBarrier barrier = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        AtomicBoolean running = new AtomicBoolean(true);
        try {
            List<Future<?>> monitors = new ArrayList<>();
            monitors.add(pool.submit(() -> {
                while (running.get()) {
                    for (String s : subjects) {
                        QuotaAccount a = store.account(s);
                        if (a.available() < 0 || a.reserved() < 0 || a.used() < 0) {
                            violations.add("observed " + a);
                            return;
                        }
                    }
                }
            }));
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long seed = t * 7919L + 17;
                int thread = t;
                workers.add(pool.submit((Callable<Void>) () -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                    for (int op = 0; op < operationsPerThread(); op++) {
                        int i = random.nextInt(subjects.size());
                        String s = subjects.get(i);
                        long tokens = 1 + random.nextInt(400);
                        try {
                            int kind = random.nextInt(10);
                            if (kind < 5) {
                                Reservation r = store.reserve(s, tokens, null);
                                if (random.nextInt(4) == 0) {
                                    store.release(r.id());
                                } else {
                                    Reservation c = store.commit(r.id(), random.nextLong(tokens + 1));
                                    charged[i].addAndGet(c.charged());
                                }
                            } else if (kind < 9) {
                                Reservation c = store.consume(s, tokens, null);
                                charged[i].addAndGet(c.charged());
                            } else {
                                store.grant(PurchaseRequest.grant(s + "-tx-" + thread + "-" + op, s, 300,
                                        PurchaseType.BONUS, null));
                                credited[i].addAndGet(300);
                            }
                        } catch (QuotaExceededException refused) {
                            // the workload is meant to run the subjects dry
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : workers) {
                f.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            }
            running.set(false);
            for (Future<?> f : monitors) {
                f.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        for (int i = 0; i < subjects.size(); i++) {
            QuotaAccount a = store.account(subjects.get(i));
            violations.addAll(balanceViolations(store, a, charged[i].get(), subjects.get(i)));
            if (a.granted() != credited[i].get()) {
                violations.add(subjects.get(i) + ": granted " + a.granted() + ", credited " + credited[i].get());
            }
            if (a.used() > a.limit()) {
                violations.add(subjects.get(i) + ": used " + a.used() + " beyond the limit " + a.limit());
            }
        }
        return violations;
    }

    @Test
    void sixteenThreadsReplayingOneKeyGetOneHold() throws Exception {
        QuotaStore store = store();
        String s = subject("replay");
        List<Reservation> results = runTogether(16, () -> store.reserve(s, 700, "one-key"));
        assertEquals(1, results.stream().map(Reservation::id).distinct().count(), "every replay answers the first hold");
        assertTrue(results.stream().allMatch(r -> r.state() == ReservationState.HELD && r.held() == 700));
        QuotaAccount a = store.account(s);
        assertEquals(700, a.reserved());
        assertEquals(1, store.events(s, a.month()).stream().filter(e -> e.kind() == EventKind.RESERVED).count());

        List<Reservation> commits = runTogether(16, () -> store.commit(results.get(0).id(), 650));
        assertTrue(commits.stream().allMatch(r -> r.state() == ReservationState.COMMITTED && r.charged() == 650));
        assertEquals(650, store.account(s).used(), "a commit replayed concurrently charges once");
        assertEquals(0, store.account(s).reserved());
    }

    @Test
    void sixteenThreadsReplayingOneConsumeChargeOnce() throws Exception {
        QuotaStore store = store();
        String s = subject("consume-replay");
        List<Reservation> results = runTogether(16, () -> store.consume(s, 300, "one-consume"));
        assertEquals(1, results.stream().map(Reservation::id).distinct().count());
        assertEquals(300, store.account(s).used());
    }

    @Test
    void sixteenThreadsCompletingOnePurchaseCreditOnce() throws Exception {
        QuotaStore store = store();
        String s = subject("callback");
        String tx = subject("tx-callback");
        store.recordPending(PurchaseRequest.grant(tx, s, 5_000, PurchaseType.PURCHASE, null));
        runTogether(16, () -> store.complete(tx));
        assertEquals(5_000, store.account(s).granted(), "a payment callback delivered 16 times credits once");
        String bonus = subject("tx-bonus");
        runTogether(16, () -> store.grant(PurchaseRequest.grant(bonus, s, 1_000, PurchaseType.BONUS, null)));
        QuotaAccount a = store.account(s);
        assertEquals(6_000, a.granted());
        assertEquals(2, store.events(s, a.month()).stream().filter(e -> e.kind() == EventKind.CREDITED).count());
    }

    /** Runs {@code call} on {@code threads} threads released together; returns every result. */
    /**
     * Many callers draining one subject with key-less consumes of different sizes (a store may combine
     * concurrent ones into one statement): every grant fits what the earlier ones left, each caller gets
     * its own id, the log has one event per grant under that id, the listeners hear each grant once, and
     * every id reads back as the consume it named.
     */
    @Test
    void callersDrainingOneSubjectWithConsumesEachGetTheirOwnExactGrant() throws Exception {
        QuotaStore store = newStore(QuotaPolicy.builder().clock(clock).defaultAllocation(20_000).build());
        String s = subject("drain-consumes");
        store.account(s);
        List<LedgerEvent> heard = Collections.synchronizedList(new ArrayList<>());
        store.addListener(heard::add);
        AtomicLong seeds = new AtomicLong(11);
        List<List<Reservation>> perThread = runTogether(24, () -> {
            SplittableRandom random = new SplittableRandom(seeds.getAndIncrement());
            List<Reservation> granted = new ArrayList<>();
            int refusals = 0;
            while (refusals < 3) {
                try {
                    granted.add(store.consume(s, 1 + random.nextInt(97), null));
                } catch (QuotaExceededException refused) {
                    refusals++;
                }
            }
            return granted;
        });
        List<Reservation> grants = perThread.stream().flatMap(List::stream).toList();
        QuotaAccount a = store.account(s);
        long sum = grants.stream().mapToLong(Reservation::charged).sum();
        assertEquals(sum, a.used(), "charged exactly what the callers were granted");
        assertTrue(a.used() <= 20_000, "never beyond the allowance: " + a);
        assertTrue(a.available() < 97, "refused only when a call no longer fitted: " + a);
        Set<String> ids = new HashSet<>();
        grants.forEach(r -> assertTrue(ids.add(r.id()), "one id per grant: " + r.id()));
        List<LedgerEvent> logged = store.events(s, a.month()).stream()
                .filter(e -> e.kind() == EventKind.COMMITTED).toList();
        assertEquals(ids, logged.stream().map(LedgerEvent::reservationId).collect(Collectors.toSet()));
        assertEquals(grants.size(), logged.size());
        Map<String, Long> tokensById = grants.stream().collect(Collectors.toMap(Reservation::id, Reservation::charged));
        logged.forEach(e -> assertEquals(tokensById.get(e.reservationId()), e.tokens(), "event of " + e.reservationId()));
        List<LedgerEvent> heardGrants = heard.stream().filter(e -> e.kind() == EventKind.COMMITTED).toList();
        assertEquals(new HashSet<>(logged), new HashSet<>(heardGrants), "the listeners heard each grant, as logged");
        assertEquals(logged.size(), heardGrants.size());
        for (Reservation r : grants.subList(0, Math.min(20, grants.size()))) {
            assertEquals(r, store.reservation(r.id()).orElseThrow());
        }
    }

    protected static <T> List<T> runTogether(int threads, Callable<T> call) throws Exception {
        CyclicBarrier barrier = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                futures.add(pool.submit(() -> {
                    barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                    return call.call();
                }));
            }
            List<T> results = new ArrayList<>();
            for (Future<T> f : futures) {
                results.add(f.get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
            }
            return Collections.unmodifiableList(results);
        } finally {
            pool.shutdownNow();
        }
    }
}
