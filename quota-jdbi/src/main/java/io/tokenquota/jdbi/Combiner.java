package io.tokenquota.jdbi;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A group commit for concurrent calls of the hot path in this JVM: key-less reserves and consumes
 * (keyed by subject), and commits and releases of held holds (keyed by hold id), each kind in its
 * own combiner. Keys are spread over {@link #LANES} lanes by hash; in each lane the first caller
 * leads, callers that arrive while its statement runs queue behind it, and when it is done the next
 * queued caller leads, takes every call queued by then (at most {@link #MAX_BATCH}) and runs them as
 * one statement and one commit: one round trip and, with fsync on, one WAL flush for all of them. The
 * statement grants only what running the calls one after another would grant (a plain take grants a
 * subject's calls all together, when its balance holds their sum, or none of them), each call at its own
 * caller's instant (round 343: not the leader's, which may be long before a caller queued; see
 * {@code Holds.inTurn}); the combined statements lock their accounts in one order (a team's before its
 * members', each in subject order), so two never deadlock. A caller waits for at most the batch in flight and its own (uninterruptibly: an interrupt
 * is kept for its return), and holds no connection while it waits: one it has (a leader whose statement
 * left its own call undecided, a member take that fell back from the team path) goes back to the pool
 * before it queues ({@link Operations.Op#releaseConnection}, round 326), and its operation opens one
 * again when it runs a statement; the leader may be waiting for a connection itself, so a caller
 * keeping one could hold up the whole lane on a small pool.
 *
 * <p>What a batch cannot decide (a refusal, a subject whose calls in the batch do not all fit together, a
 * month's first touch, a stale hold, a hold that is not held, a database failure that shows the statement
 * did not commit) comes back as {@code null}: that caller
 * then runs its call alone, on the path that explains refusals and retries. A batch whose statement may have
 * committed although it failed (its connection lost after the server took it, round 442) fails every call
 * it carried instead: run again alone, a key-less consume would be charged twice. Not API. Thread-safe.
 *
 * @param <C> one call
 * @param <R> what one call gets back
 */
final class Combiner<C, R> {
    /** Calls per statement at most: bounds the statement's size and the leader's work. */
    static final int MAX_BATCH = 128;
    /**
     * Statements in flight at once per JVM, at most: a power of two, about half the processors. Each
     * lane keeps at most one backend busy, and fewer lanes make bigger batches: on 2 cores, 16 callers
     * over 10,000 subjects ran 0.61-0.62x the ceiling with one lane and 0.37-0.39x with four (64 callers:
     * 1.46-1.52x and 1.32-1.41x), while larger machines keep statements side by side.
     */
    static final int LANES = Integer.highestOneBit(Math.max(1, Runtime.getRuntime().availableProcessors() / 2));

    /** Yields of a leader gathering its batch, at most (see {@code lead}). */
    static final int GATHER_YIELDS = 4;

    private static final class Lane<C, R> {
        final ArrayDeque<Waiter<C, R>> queued = new ArrayDeque<>();
        boolean running;
    }

    private static final class Waiter<C, R> {
        final C call;
        final Thread thread = Thread.currentThread();
        /** Set once: {@code LEAD}, or the call's result (which may be {@link #ALONE} or a {@link Failed}). */
        volatile Object outcome;

        Waiter(C call) {
            this.call = call;
        }
    }

    private static final Object LEAD = new Object();
    private static final Object ALONE = new Object();

    /**
     * Thrown by a batch whose statement failed and may have committed ({@code Holds.afterCombinedFailure}):
     * the calls it carried ({@code carried}, positions in the batch) fail with {@code failure}, and none runs
     * again; the batch's other calls (left out of the statement: a later month's, one behind an expired hold)
     * were never sent, and run alone as usual.
     */
    static final class CarriedFailed extends RuntimeException {
        final QuotaException failure;
        final java.util.Set<Integer> carried;

        CarriedFailed(QuotaException failure, java.util.Collection<Integer> carried) {
            super(failure.getMessage(), failure, false, false);
            this.failure = failure;
            this.carried = java.util.Set.copyOf(carried);
        }
    }

    /** The outcome of every call of a batch that threw a {@link QuotaException}: each caller fails with it. */
    private record Failed(QuotaException failure) {
        /** A copy for this caller's thread (same code and message), the leader's failure as its cause. */
        QuotaException rethrown() {
            return new QuotaException(failure.code(), failure.getMessage(), failure);
        }
    }

    @SuppressWarnings("unchecked")
    private final Lane<C, R>[] lanes = new Lane[LANES];

    Combiner() {
        for (int i = 0; i < LANES; i++) {
            lanes[i] = new Lane<>();
        }
    }

    /**
     * Runs {@code call} with whatever calls of the same lane queue meanwhile. {@code batch} gets two or
     * more calls in queue order (the caller's own first) and returns one result per call, {@code null}
     * for a call it could not decide (a failure that ran nothing is all {@code null}s); it must not throw,
     * except a {@link QuotaException} when its calls must not run again (its statement may have committed):
     * the leader then throws it, and every other caller of the batch a copy of it; or a {@link CarriedFailed},
     * which fails only the calls the statement carried, the others running alone. Should it throw anything
     * else, every caller fails {@code STORE_UNAVAILABLE} (the leader with the failure itself when it is an
     * {@code Error}), as its statement may have committed. A leader with no one queued behind it, even after
     * yielding (it yields while that brings callers to its batch), runs {@code alone}, still leading (callers that
     * arrive meanwhile queue for the next batch).
     * Returns this call's result, or {@code null}: the caller then runs it alone. {@code op} is the caller's
     * operation: a caller that queues gives its connection back first.
     */
    @SuppressWarnings("unchecked")
    R submit(String subject, C call, Operations.Op op, Function<List<C>, List<R>> batch, Supplier<R> alone) {
        Lane<C, R> lane = lanes[subject.hashCode() & (LANES - 1)];
        Waiter<C, R> self = new Waiter<>(call);
        boolean queued;
        synchronized (lane) {
            queued = lane.running;
            if (queued) {
                lane.queued.add(self);
            } else {
                lane.running = true;
                self.outcome = LEAD;
            }
        }
        if (queued) {
            // no thread waits for a combiner while it holds a connection (round 326, Op.releaseConnection)
            op.releaseConnection();
        }
        Object outcome;
        boolean interrupted = false;
        while ((outcome = self.outcome) == null) {
            LockSupport.park(this);
            // an interrupted thread's park returns at once: without clearing the flag this loop would spin
            // until the batch ahead is done (round 343). The wait cannot be abandoned (the caller is in the
            // queue, and its call may already be in the leader's statement), so it is uninterruptible, as
            // java.util.concurrent's uninterruptible waits are, and the interrupt is restored on return
            interrupted |= Thread.interrupted();
        }
        try {
            if (outcome != LEAD) {
                if (outcome instanceof Failed failed) {
                    throw failed.rethrown();
                }
                return outcome == ALONE ? null : (R) outcome;
            }
            return lead(lane, self, batch, alone);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Runs the batch this caller leads: its own call and every call queued by now, at most {@link #MAX_BATCH}. */
    private R lead(Lane<C, R> lane, Waiter<C, R> self, Function<List<C>, List<R>> batch, Supplier<R> alone) {
        List<Waiter<C, R>> members = new ArrayList<>();
        members.add(self);
        drain(lane, members);
        // the callers of a batch are released together and come back together: the first of them back here
        // finds the lane free and leads, and without a pause it would lead a batch of one (more than half of a
        // team's statements were such single calls, each a turn on the team's row) or of the few that beat it
        // here, the rest queuing behind that statement. So the leader yields its processor and drains again, as
        // long as a yield brings someone, at most GATHER_YIELDS times: the callers already runnable queue and
        // join this batch. With no one runnable a yield returns at once, so a lone caller (one thread, an idle
        // service) pays one yield. Measured in alternated runs (BENCHMARKS.md, "The leader gathers"): a hot
        // subject's consume 0.68-0.71x the ceiling with one yield for a lone leader only, 0.85-0.87x with this
        for (int yields = 0; yields < GATHER_YIELDS && members.size() < MAX_BATCH; yields++) {
            int before = members.size();
            Thread.yield();
            drain(lane, members);
            if (members.size() == before) {
                break;
            }
        }
        if (members.size() == 1) {
            try {
                return alone.get();
            } finally {
                handOver(lane);
            }
        }
        List<C> calls = new ArrayList<>(members.size());
        members.forEach(m -> calls.add(m.call));
        List<R> results = null;
        Failed failed = null;
        // the positions that fail with failed; null: every one
        java.util.Set<Integer> failing = null;
        try {
            results = batch.apply(calls);
        } catch (CarriedFailed e) {
            failed = new Failed(e.failure);
            failing = e.carried;
            if (failing.contains(0)) {
                throw e.failure;
            }
            // the leader's own call was not in the statement: it runs alone
            return null;
        } catch (QuotaException e) {
            failed = new Failed(e);
            throw e;
        } catch (RuntimeException | Error e) {
            // the batch must not throw anything else; should it (an OutOfMemoryError, a bug), its statement may
            // have committed, and a key-less consume run again alone would be charged twice (round 444): every
            // caller fails STORE_UNAVAILABLE, the leader too unless it is an Error (which the caller's operation does
            // not retry, where a retryable RuntimeException would run the leader's call again)
            failed = new Failed(new QuotaException(ErrorCode.STORE_UNAVAILABLE,
                    "a combined statement failed unexpectedly; its calls are not run again", e));
            if (e instanceof Error) {
                throw e;
            }
            throw failed.failure();
        } finally {
            handOver(lane);
            for (int i = 1; i < members.size(); i++) {
                Waiter<C, R> member = members.get(i);
                R result = results == null ? null : results.get(i);
                member.outcome = failed != null && (failing == null || failing.contains(i)) ? failed
                        : result == null ? ALONE : result;
                LockSupport.unpark(member.thread);
            }
        }
        return results.get(0);
    }

    /** Adds the lane's queued callers to {@code members}, up to {@link #MAX_BATCH}. */
    private static <C, R> void drain(Lane<C, R> lane, List<Waiter<C, R>> members) {
        synchronized (lane) {
            while (!lane.queued.isEmpty() && members.size() < MAX_BATCH) {
                members.add(lane.queued.poll());
            }
        }
    }

    /** The next queued caller leads; with none, the lane is free. */
    private void handOver(Lane<C, R> lane) {
        Waiter<C, R> next;
        synchronized (lane) {
            next = lane.queued.poll();
            if (next == null) {
                lane.running = false;
                return;
            }
        }
        next.outcome = LEAD;
        LockSupport.unpark(next.thread);
    }
}
