package io.tokenquota.jdbi.breakit390;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 390 (a ledger round): the public {@code QuotaLedger} API misused by a service developer, and 64-bit
 * amounts at their edges, on the in-memory reference, H2 and PostgreSQL. The rules: docs/semantics.md,
 * "Reservations" (commit, release, retries) and "64-bit amounts" ("a change that would take
 * {@code used + reserved} past 2^63 - 1 is refused with {@code AMOUNT_OVERFLOW} before anything is written,
 * on every store"), and {@code ErrorCode.AMOUNT_OVERFLOW} ("The change would take an account's
 * {@code used + reserved} past 64 bits").
 */
abstract class AbstractRound390 {
    protected abstract QuotaStore store(QuotaPolicy policy);

    static final YearMonth JAN = YearMonth.of(2031, 1);
    static final long E15 = 1_000_000_000_000_000L;
    static final long MAX = Long.MAX_VALUE;

    protected String p;
    protected MutableClock clock;

    @BeforeEach
    void start() {
        p = "r390" + UUID.randomUUID().toString().substring(0, 8) + "-";
        clock = MutableClock.at(JAN, 10, 12);
    }

    QuotaStore store(OverrunPolicy overrun) {
        // the largest month a policy allows (maxQuota and defaultAllocation up to Limits.MAX_TOKENS, 10^15)
        return store(QuotaPolicy.builder().clock(clock).maxQuota(E15).defaultAllocation(E15).overrunPolicy(overrun)
                .holdTtl(Duration.ofHours(1)).build());
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    static List<Long> v(long allocated, long granted, long carried, long used, long reserved) {
        return List.of(allocated, granted, carried, used, reserved);
    }

    /**
     * 9,222 one-token holds of {@code subject}, reserved by 16 threads at once: the SQL stores combine concurrent
     * calls into one statement (their group commit), so the climb to 2^63 takes seconds rather than the minute
     * that one call after another took on PostgreSQL; the order of these calls changes no figure.
     */
    static List<Reservation> oneTokenCalls(QuotaStore s, String subject) {
        return onSixteenThreads(9_222, i -> s.reserve(HoldRequest.of(subject, 1).build()).reservation());
    }

    /** Commits every hold of {@code calls} with {@code actual} tokens, on 16 threads at once. */
    static void commitEach(QuotaStore s, List<Reservation> calls, long actual) {
        onSixteenThreads(calls.size(), i -> s.commit(calls.get(i).id(), actual));
    }

    private static <T> List<T> onSixteenThreads(int n, java.util.function.IntFunction<T> task) {
        java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newFixedThreadPool(16);
        try {
            List<java.util.concurrent.Future<T>> futures = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                int index = i;
                futures.add(threads.submit(() -> task.apply(index)));
            }
            List<T> results = new ArrayList<>(n);
            for (java.util.concurrent.Future<T> f : futures) {
                results.add(f.get(60, java.util.concurrent.TimeUnit.SECONDS));
            }
            return results;
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (InterruptedException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException(e);
        } finally {
            threads.shutdownNow();
        }
    }

    /**
     * A heavy user near 2^63: with its 10^15 allowance it holds 9,222 one-token calls and one long job of
     * 4 * 10^14 tokens; each one-token call then reports 10^15 tokens (the per-call maximum), which
     * {@code CHARGE_ACTUAL} charges in full (docs/semantics.md, "Reservations": the overage may drive
     * {@code available} below zero). The account is then {@code used} 9,222 * 10^15, {@code reserved}
     * 4 * 10^14: 9,222,400,000,000,000,000 of the 9,223,372,036,854,775,807 a 64-bit counter holds. Returns
     * the job's hold.
     */
    Reservation nearTheTop(QuotaStore s, String subject) {
        List<Reservation> calls = oneTokenCalls(s, subject);
        Reservation job = s.reserve(HoldRequest.of(subject, 4 * E15 / 10).build()).reservation();
        commitEach(s, calls, E15);
        assertEquals(v(E15, 0, 0, 9_222 * E15, 4 * E15 / 10), view(s.account(subject)), "the account near 2^63");
        return job;
    }

    /**
     * The job then ends using 10^15 tokens. Its commit takes {@code used} to 9,223 * 10^15 and frees its own
     * 4 * 10^14 held tokens: {@code used + reserved} becomes 9,223,000,000,000,000,000, below 2^63 - 1
     * (9,223,372,036,854,775,807). No counter passes 64 bits, so nothing is refused: the call is charged in
     * full (refusing it leaves the model call unpaid: the hold later expires and returns everything).
     */
    @Test
    void aCommitWhoseResultFitsIsChargedAlthoughUsedPlusItsOwnHoldWouldNot() {
        QuotaStore s = store(OverrunPolicy.CHARGE_ACTUAL);
        String heavy = p + "heavy";
        Reservation job = nearTheTop(s, heavy);
        Reservation done = s.commit(job.id(), E15);
        assertEquals(ReservationState.COMMITTED, done.state(), "the job's state");
        assertEquals(v(E15, 0, 0, 9_223 * E15, 0), view(s.account(heavy)), "the account after the job");
    }

    /** Control: the same job ending using 5 * 10^14 tokens (used + reserved + its hold still fit): charged. */
    @Test
    void controlACommitThatFitsEvenWithItsOwnHoldCounted() {
        QuotaStore s = store(OverrunPolicy.CHARGE_ACTUAL);
        String heavy = p + "heavy";
        Reservation job = nearTheTop(s, heavy);
        Reservation done = s.commit(job.id(), 5 * E15 / 10);
        assertEquals(ReservationState.COMMITTED, done.state(), "the job's state");
        assertEquals(v(E15, 0, 0, 9_222 * E15 + 5 * E15 / 10, 0), view(s.account(heavy)), "the account after the job");
    }

    /**
     * Control: a result that really passes 2^63 - 1 is refused on every store, nothing written: a second job
     * of 4 * 10^14 left held while the first reports 10^15 would end at 9,223.4 * 10^15.
     */
    @Test
    void controlACommitWhoseResultPasses64BitsIsRefused() {
        QuotaStore s = store(OverrunPolicy.CHARGE_ACTUAL);
        String heavy = p + "heavy";
        List<Reservation> calls = oneTokenCalls(s, heavy);
        Reservation job = s.reserve(HoldRequest.of(heavy, 1).build()).reservation();
        Reservation other = s.reserve(HoldRequest.of(heavy, 4 * E15 / 10).build()).reservation();
        commitEach(s, calls, E15);
        QuotaAccount before = s.account(heavy);
        QuotaException e = assertThrows(QuotaException.class, () -> s.commit(job.id(), E15));
        assertEquals(ErrorCode.AMOUNT_OVERFLOW, e.code());
        assertEquals(view(before), view(s.account(heavy)), "unchanged");
        assertEquals(ReservationState.HELD, s.reservation(job.id()).orElseThrow().state());
        assertEquals(ReservationState.HELD, s.reservation(other.id()).orElseThrow().state());
    }
}
