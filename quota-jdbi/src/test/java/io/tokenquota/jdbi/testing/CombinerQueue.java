package io.tokenquota.jdbi.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.YearMonth;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import javax.sql.DataSource;

/**
 * Calls queued in the PostgreSQL store's group commit behind a leader that waits on a row lock the test holds
 * (round 343): how a test makes several calls of one subject run in one combined statement, on purpose.
 */
public final class CombinerQueue {
    private CombinerQueue() {
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
            blocker.setAutoCommit(false);
            try (PreparedStatement ps = blocker.prepareStatement(
                    "SELECT used FROM tq_account WHERE subject = ? AND plan_month = ? FOR UPDATE")) {
                ps.setString(1, lockedSubject);
                ps.setString(2, month.toString());
                try (ResultSet rs = ps.executeQuery()) {
                    assertTrue(rs.next(), "January's account is there to lock");
                }
            }
            Call a = Call.start("first", first);
            awaitRowLockWait(monitor);
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

    /** Waits until a backend of this database waits for a lock (the first call behind the host's row lock). */
    private static void awaitRowLockWait(Connection monitor) throws SQLException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            try (Statement s = monitor.createStatement(); ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM pg_stat_activity"
                    + " WHERE datname = current_database() AND wait_event_type = 'Lock'")) {
                rs.next();
                if (rs.getInt(1) > 0) {
                    return;
                }
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        fail("the first call never waited for the account's row lock");
    }

    /** One store call on a thread of its own. */
    private static final class Call {
        final FutureTask<Object> task;
        final Thread thread;

        private Call(String name, Callable<?> body) {
            this.task = new FutureTask<>(body::call);
            this.thread = new Thread(task, "combined-" + name);
        }

        static Call start(String name, Callable<?> body) {
            Call call = new Call(name, body);
            call.thread.start();
            return call;
        }

        /** Waits until the thread is parked by the store's combiner (queued behind the lane's leader). */
        void awaitParkedInCombiner() {
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

        Object get() throws Exception {
            try {
                return task.get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw e.getCause() instanceof Exception ex ? ex : e;
            }
        }
    }
}
