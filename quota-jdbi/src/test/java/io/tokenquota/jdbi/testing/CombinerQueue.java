package io.tokenquota.jdbi.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.RecordingDataSource;
import java.sql.Connection;
import java.time.YearMonth;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;
import javax.sql.DataSource;

/**
 * Calls queued in the PostgreSQL store's group commit behind a leader that waits on a row lock the test holds
 * (round 343): how a test makes several calls of one lane run in one combined statement, on purpose, and (rounds
 * 442, 444) acts on that statement's backend while it waits.
 */
public final class CombinerQueue {
    /**
     * {@code Combiner.LANES} (package-private there), worked out the same way: calls whose keys fall in one lane
     * are combined, so a test picks its subjects by lane.
     */
    private static final int LANES = Integer.highestOneBit(Math.max(1, Runtime.getRuntime().availableProcessors() / 2));

    private CombinerQueue() {
    }

    /**
     * Whether a statement the store sent is a combined take: {@code take-together.sql}, or a team's
     * ({@code team-take-together.sql}); known by its list of calls, which no other statement unnests.
     */
    public static java.util.function.Predicate<String> combinedTake(boolean team) {
        return sql -> sql.contains(team ? "AS t(subject, team, tokens," : "AS t(subject, tokens, endpoint,");
    }

    /** Whether a statement the store sent is a combined finish: {@code finish-together.sql}, or a team's. */
    public static java.util.function.Predicate<String> combinedFinish(boolean team) {
        return sql -> sql.contains("AS t(id, actual, model,") && sql.contains("team_event_id") == team;
    }

    /** The combiner lane of {@code key} (a subject, or a hold's id), as {@code Combiner} masks its hash. */
    public static int lane(String key) {
        return key.hashCode() & (LANES - 1);
    }

    /** The first of {@code prefix-0}, {@code prefix-1}, ... in {@code lane}: a subject whose calls join that lane. */
    public static String subjectInLane(String prefix, int lane) {
        for (int i = 0; ; i++) {
            String subject = prefix + "-" + i;
            if (lane(subject) == lane) {
                return subject;
            }
        }
    }

    /**
     * Makes {@code store} learn that {@code members} belong to a team, with one reserve and release each
     * ({@code Holds.members}, the hint a store keeps of the members it has seen), so that their later key-less
     * takes try the team path first and go to the team's lane, where they combine in team-take-together.sql.
     */
    public static void learnMembers(JdbiQuotaStore store, String... members) {
        for (String m : members) {
            store.release(store.reserve(m, 1, null).id());
        }
    }

    /**
     * Locks {@code lockedSubject}'s account of {@code month} in a host transaction, starts {@code first} (it leads
     * its lane and waits on that lock) and {@code second} (queued behind it in the combiner), moves the clock,
     * starts {@code third} (queued too when {@code queued}, else run once the others are done), then lets them all
     * run; every call must succeed. No sleeping: each step waits for what PostgreSQL and the threads show.
     */
    public static void underWay(DataSource data, YearMonth month, boolean queued, String lockedSubject, Callable<?> first,
                                Callable<?> second, Runnable move, Callable<?> third) throws Exception {
        try (Connection blocker = data.getConnection(); Connection monitor = data.getConnection()) {
            PostgresBackends.lockAccount(blocker, lockedSubject, month);
            Call a = Call.start("first", first);
            PostgresBackends.awaitLockWait(monitor, 0);
            Call b = Call.start("second", second);
            b.awaitParkedInCombiner();
            move.run();
            Call c = null;
            if (queued) {
                c = Call.start("third", third);
                c.awaitParkedInCombiner();
            }
            blocker.commit();
            a.get();
            b.get();
            if (c != null) {
                c.get();
            } else {
                third.call();
            }
        }
    }

    /** What the test does to the combined statement's backend while it waits for the row lock. */
    public enum Cut {
        /** Nothing: the control. */
        NONE,
        /** The connection lost ({@link PostgresBackends#abort}); the server goes on and commits. */
        ABORT,
        /** {@code pg_cancel_backend}: the statement rolled back (57014), the session kept. */
        CANCEL,
        /** {@code pg_terminate_backend}: the session ended (57P01), the statement rolled back with it. */
        TERMINATE;

        /** Whether the backend goes away, so that the test waits for it before reading the ledger. */
        boolean endsBackend() {
            return this == ABORT || this == TERMINATE;
        }
    }

    /**
     * Rounds 442 and 444's rig: {@code first} leads its lane and waits on {@code firstLock}'s row, held by the test;
     * {@code second} and {@code third} queue behind it; the lock is let go and {@code second} leads the combined
     * statement of the two ({@code combined}, seen through {@code store}). Just before that statement is sent, the
     * test locks {@code secondLock}'s row again from another connection; once the statement's backend is seen
     * waiting for it, {@code cut} acts on that backend, and only then is the lock let go, so that what the cut
     * does happens to a statement the server has taken and not yet finished. Waits for the backend to go when the
     * cut ends it, so that the ledger is settled. Checks that the choreography took place: {@code first} (run alone,
     * before any cut) succeeded with a hold, and a {@code combined} statement was sent.
     *
     * @return the second and third calls' outcomes, in order: each call's result, or what it threw
     */
    public static Object[] cutWhileWaiting(DataSource data, YearMonth month, RecordingDataSource store,
                                           Predicate<String> combined, String firstLock, String secondLock, Cut cut,
                                           Callable<?> first, Callable<?> second, Callable<?> third) throws Exception {
        try (Connection blocker = data.getConnection();
             Connection blocker2 = data.getConnection();
             Connection monitor = data.getConnection()) {
            AtomicReference<Connection> leader = new AtomicReference<>();
            CountDownLatch sending = new CountDownLatch(1);
            store.pauseBefore(combined, conn -> {
                PostgresBackends.lockAccount(blocker2, secondLock, month);
                leader.set(conn);
                sending.countDown();
            });

            PostgresBackends.lockAccount(blocker, firstLock, month);
            Call a = Call.start("first", first);
            PostgresBackends.awaitLockWait(monitor, 0);
            Call b = Call.start("second", second);
            b.awaitParkedInCombiner();
            Call c = Call.start("third", third);
            c.awaitParkedInCombiner();
            blocker.commit();

            assertTrue(sending.await(20, TimeUnit.SECONDS), () -> "no combined statement: " + store.log());
            int pid = PostgresBackends.pid(leader.get());
            PostgresBackends.awaitLockWait(monitor, pid);
            switch (cut) {
                case ABORT -> PostgresBackends.abort(leader.get());
                case CANCEL -> PostgresBackends.signal(monitor, "pg_cancel_backend", pid);
                case TERMINATE -> PostgresBackends.signal(monitor, "pg_terminate_backend", pid);
                case NONE -> { }
            }
            blocker2.commit();
            Object r1 = a.outcome();
            Object[] outcomes = {b.outcome(), c.outcome()};
            if (cut.endsBackend()) {
                PostgresBackends.awaitGone(monitor, pid);
            }
            assertTrue(r1 instanceof Reservation, () -> "first: " + r1);
            assertTrue(store.log().stream().anyMatch(combined), () -> "a combined statement was sent: " + store.log());
            return outcomes;
        }
    }

    /**
     * One store call on a thread of its own, so that the test can see it park in the combiner and then let the
     * call on the lock's other side go on.
     */
    public static final class Call {
        private final FutureTask<Object> task;
        private final Thread thread;

        private Call(String name, Callable<?> body) {
            this.task = new FutureTask<>(body::call);
            this.thread = new Thread(task, "combined-" + name);
        }

        /** Starts {@code body} on a new thread named after {@code name}. */
        public static Call start(String name, Callable<?> body) {
            Call call = new Call(name, body);
            call.thread.start();
            return call;
        }

        /** Waits until the thread is parked by the store's combiner (queued behind the lane's leader). */
        public void awaitParkedInCombiner() {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (System.nanoTime() < deadline) {
                Object blocker = LockSupport.getBlocker(thread);
                if (blocker != null && blocker.getClass().getSimpleName().equals("Combiner")) {
                    return;
                }
                if (task.isDone()) {
                    fail(thread.getName() + " finished instead of queueing in the combiner");
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
            }
            fail(thread.getName() + " never queued in the combiner");
        }

        /** The call's result; what it threw is thrown again (a setup call that must succeed). */
        public Object get() throws Exception {
            try {
                return task.get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw e.getCause() instanceof Exception ex ? ex : e;
            }
        }

        /** The call's result, or what it threw: for a test that checks what the caller was told. */
        public Object outcome() throws Exception {
            try {
                return task.get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                return e.getCause();
            }
        }
    }
}
