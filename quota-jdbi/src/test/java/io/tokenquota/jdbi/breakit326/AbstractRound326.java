package io.tokenquota.jdbi.breakit326;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reserved;
import io.tokenquota.testkit.MutableClock;
import java.time.Clock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 326 (a ledger round): several instances of the store on one database, each with its own
 * clock, through the public {@link QuotaStore} API, on H2, PostgreSQL and the in-memory reference
 * (one ledger, one clock: every "instance" of a scenario is that store). The rules:
 * docs/semantics.md ("Reservations": "One clock for expiry", "Idempotency"; "Accounts and the month
 * model") and docs/decisions.md ("Expiry clock", "A replayed reserve with another TTL or endpoint").
 *
 * <p>Clocks: {@code real} stands for true time; the accurate instance reads it, the lagging one reads
 * it 90 s late ({@link Clock#offset}), as a host whose NTP drifted would. Both stores are built with
 * their clocks already skewed, so each measures its own offset to the database's clock when it is
 * built (semantics.md: "when it is built it measures the offset between its policy clock and the
 * database's CURRENT_TIMESTAMP"), and the test then moves {@code real}, which both follow.
 */
abstract class AbstractRound326 {
    // months from year 9000 on, six per test, starting at most 500 years in: the stored month is seven
    // characters (YYYY-MM), so a year past 9999 does not fit (a start near 2,000 slots once overflowed)
    private static final AtomicInteger SLOT = new AtomicInteger(ThreadLocalRandom.current().nextInt(1000));
    static final Duration LAG = Duration.ofSeconds(90);

    /** One instance of the ledger under {@code policy}; the in-memory reference answers one store for all. */
    protected abstract QuotaStore instance(QuotaPolicy policy);

    /**
     * An instance over a host pool of ONE connection (HikariCP {@code maximumPoolSize=1},
     * {@code autoCommit=false}, {@code connectionTimeout=2000}) on the same database; the in-memory
     * reference answers its one store.
     */
    protected abstract QuotaStore instanceOnPoolOfOne(QuotaPolicy policy);

    protected MutableClock real;
    protected YearMonth jan;
    protected YearMonth feb;
    protected String prefix;

    private static final List<com.zaxxer.hikari.HikariDataSource> POOLS = new java.util.concurrent.CopyOnWriteArrayList<>();

    /**
     * A SQL instance over a host pool of one connection to {@code db} ({@link #instanceOnPoolOfOne}), closed after
     * the class.
     */
    static QuotaStore onPoolOfOne(io.tokenquota.jdbi.testing.TestDatabase db, QuotaPolicy policy) {
        com.zaxxer.hikari.HikariConfig config = new com.zaxxer.hikari.HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setMaximumPoolSize(1);
        config.setAutoCommit(false);
        config.setConnectionTimeout(2_000);
        config.setPoolName("r326-one-" + System.nanoTime());
        com.zaxxer.hikari.HikariDataSource host = new com.zaxxer.hikari.HikariDataSource(config);
        POOLS.add(host);
        return io.tokenquota.jdbi.JdbiQuotaStore.builder().dataSource(host).policy(policy).installSchema(true).build();
    }

    @org.junit.jupiter.api.AfterAll
    static void closePools() {
        POOLS.forEach(com.zaxxer.hikari.HikariDataSource::close);
        POOLS.clear();
    }

    @BeforeEach
    void startClock() {
        jan = YearMonth.of(9000, 1).plusMonths((long) SLOT.getAndIncrement() * 6);
        feb = jan.plusMonths(1);
        real = MutableClock.at(jan, 10, 12);
        prefix = "r326" + UUID.randomUUID().toString().substring(0, 12) + "-";
    }

    QuotaPolicy policy(Clock clock) {
        return QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).build();
    }

    /** The instance whose clock is right (built first: the in-memory reference keeps its clock). */
    QuotaStore accurate() {
        return instance(policy(real));
    }

    /** An instance whose clock reads {@link #LAG} behind. */
    QuotaStore lagging() {
        return instance(policy(Clock.offset(real, LAG.negated())));
    }

    /** allocated, granted, carried, used, reserved. */
    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    // ---------------------------------------------------------------- idempotent replays across instances

    /**
     * A client's retry of a keyed hold (same subject, tokens, key, endpoint and the default TTL: the
     * very same request) that the load balancer sends to the other instance, whose clock is 90 s
     * behind. semantics.md, "Idempotency": "the same key with the same kind, tokens and endpoint, and a
     * TTL no longer than the hold's life (from its creation to its expiry ...), returns the first call's
     * hold as it is now (Reserved.replayed() is true) and changes nothing". The hold's life is the
     * default TTL, 5 minutes; the retry asks exactly that, so it is a replay, as the one ledger of the
     * in-memory store answers. The SQL store answers IDEMPOTENCY_CONFLICT: it reads the hold's
     * createdAt as the accurate instance stamped it (its policy clock) but converts expires_at (database
     * time) into the lagging instance's clock, so the life it sees is 5 min - 90 s.
     */
    @Test
    void aRetryOfTheSameHoldReachingTheLaggingInstanceIsAReplay() {
        QuotaStore accurate = accurate();
        QuotaStore lagging = lagging();
        String alice = prefix + "alice";
        HoldRequest call = HoldRequest.of(alice, 400).idempotencyKey("call-7").build();
        Reserved first = accurate.reserve(call);
        real.advance(Duration.ofSeconds(2));
        String outcome;
        Reserved retry = null;
        try {
            retry = lagging.reserve(call);
            outcome = "replayed=" + retry.replayed();
        } catch (QuotaException e) {
            outcome = e.code().name();
        }
        assertEquals("replayed=true", outcome, "the same request retried through the instance 90 s behind");
        assertEquals(first.reservation().id(), retry.reservation().id());
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 400L), view(accurate.account(alice)), "one hold, held once");
        lagging.commit(first.reservation().id(), 380);
        assertEquals(List.of(10_000L, 0L, 0L, 380L, 0L), view(accurate.account(alice)));
    }

    /** Control: the same retry reaching the instance that took the hold is a replay. */
    @Test
    void aRetryOfTheSameHoldReachingTheSameInstanceIsAReplay() {
        QuotaStore accurate = accurate();
        String alice = prefix + "alice";
        HoldRequest call = HoldRequest.of(alice, 400).idempotencyKey("call-7").build();
        Reserved first = accurate.reserve(call);
        real.advance(Duration.ofSeconds(2));
        Reserved retry = accurate.reserve(call);
        assertEquals(true, retry.replayed());
        assertEquals(first.reservation().id(), retry.reservation().id());
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 400L), view(accurate.account(alice)));
        accurate.commit(first.reservation().id(), 380);
        assertEquals(List.of(10_000L, 0L, 0L, 380L, 0L), view(accurate.account(alice)));
    }

    /**
     * The mirror image: a hold taken through the lagging instance with the default TTL (5 min), and a
     * "retry" through the accurate instance asking a 6-minute hold. docs/decisions.md: "A replayed
     * reserve with another TTL ... is IDEMPOTENCY_CONFLICT, not a silent return of the first hold: a
     * retry must not get a hold it did not ask for"; semantics.md allows a TTL "no longer than the
     * hold's life", which is 5 minutes. Through the accurate instance the SQL store sees a life of
     * 5 min + 90 s and hands the 5-minute hold back as the 6-minute one asked for.
     */
    @Test
    void aRetryAskingALongerHoldThroughTheAccurateInstanceIsAConflict() {
        QuotaStore accurate = accurate();
        QuotaStore lagging = lagging();
        String alice = prefix + "alice";
        lagging.reserve(HoldRequest.of(alice, 400).idempotencyKey("call-8").build());
        HoldRequest longer = HoldRequest.of(alice, 400).idempotencyKey("call-8").ttl(Duration.ofMinutes(6)).build();
        String outcome;
        try {
            outcome = "replayed=" + accurate.reserve(longer).replayed();
        } catch (QuotaException e) {
            outcome = e.code().name();
        }
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT.name(), outcome,
                "a 6-minute hold asked of a key whose hold lives 5 minutes");
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 400L), view(accurate.account(alice)));
    }

    /** Control: the same longer retry through the instance that took the hold is a conflict. */
    @Test
    void aRetryAskingALongerHoldThroughTheSameInstanceIsAConflict() {
        QuotaStore lagging = lagging();
        String alice = prefix + "alice";
        lagging.reserve(HoldRequest.of(alice, 400).idempotencyKey("call-8").build());
        HoldRequest longer = HoldRequest.of(alice, 400).idempotencyKey("call-8").ttl(Duration.ofMinutes(6)).build();
        QuotaException e = assertThrows(QuotaException.class, () -> lagging.reserve(longer));
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, e.code());
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 400L), view(lagging.account(alice)));
    }

    // ---------------------------------------------------------------- a host pool of one connection

    /**
     * A host pool of one connection (HikariCP {@code maximumPoolSize=1}, {@code autoCommit=false}: the
     * README's host-pool section says any host pool works unchanged) and six request threads whose
     * holds the subject's exhausted month refuses. Each call's right answer is a refusal
     * ({@code QuotaExceededException}, semantics.md "Reservations": "granted only if available >= tokens
     * ... else QuotaExceededException"), whatever the pool's size. The rounds are released together by a
     * latch so that the calls meet (no sleeping).
     */
    @Test
    void refusedHoldsOnAPoolOfOneConnectionAreRefusedNotTimedOut() throws Exception {
        assertEquals(List.of(), refusalsOnPoolOfOne(6), "outcomes other than a refusal (code: count)");
    }

    /** Control: the same refused holds from one thread at a time on the same pool are all refusals. */
    @Test
    void refusedHoldsOnAPoolOfOneConnectionFromOneThreadAreRefused() throws Exception {
        assertEquals(List.of(), refusalsOnPoolOfOne(1), "outcomes other than a refusal (code: count)");
    }

    private List<String> refusalsOnPoolOfOne(int threads) throws Exception {
        QuotaStore store = instanceOnPoolOfOne(policy(real));
        String bob = prefix + "bob";
        store.consume(HoldRequest.of(bob, 10_000).build());
        java.util.Map<String, Integer> others = new java.util.concurrent.ConcurrentHashMap<>();
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
        try {
            for (int round = 0; round < 2; round++) {
                java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
                List<java.util.concurrent.Future<?>> calls = new java.util.ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    calls.add(pool.submit(() -> {
                        go.await();
                        for (int i = 0; i < 3; i++) {
                            try {
                                store.reserve(HoldRequest.of(bob, 100).build());
                                others.merge("GRANTED", 1, Integer::sum);
                            } catch (io.tokenquota.QuotaExceededException refused) {
                                // the right answer
                            } catch (QuotaException e) {
                                others.merge(e.code().name(), 1, Integer::sum);
                            }
                        }
                        return null;
                    }));
                }
                go.countDown();
                for (java.util.concurrent.Future<?> f : calls) {
                    f.get(120, java.util.concurrent.TimeUnit.SECONDS);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(10_000L, 0L, 0L, 10_000L, 0L), view(store.account(bob)));
        return others.entrySet().stream().map(e -> e.getKey() + ": " + e.getValue()).sorted().toList();
    }
}
