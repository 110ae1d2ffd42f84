package io.tokenquota.jdbi.breakit442;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.EventKind;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.Team;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.RecordingDataSource;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.MutableClock;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.YearMonth;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.PGConnection;
import org.postgresql.jdbc.PgConnection;

/**
 * Round 442: the PostgreSQL store's group commit ({@code Combiner}: take-together.sql, team-take-together.sql) when
 * the connection of a combined statement is lost <i>after the server took the statement</i>, so that the server
 * commits it while the store sees an I/O error (SQLSTATE 08006).
 *
 * <p>The store's own rule (docs/storage.md, Concurrency item 5; {@code Failures.isRetryable}; the control
 * {@code PostgresIdleSessionTest.aConnectionLostAtCommitIsNotRunAgain}): "Any other connection failure, an {@code 08}
 * on {@code COMMIT} included, is not run again: a {@code COMMIT} whose answer was lost may have committed". A lone
 * consume obeys it (STORE_UNAVAILABLE, run once). A combined statement runs in autocommit, so its failure <i>is</i> a
 * COMMIT whose answer was lost, yet {@code Holds.teamTakeTogether} / {@code takeTogether} catch every failure and hand
 * each call back to run alone ({@code Holds.eachAlone}): each key-less consume of the batch is charged a second time.
 *
 * <p>Where the shapes come from:
 * <ul>
 * <li>The statement is sent with the extended query protocol (pgjdbc: Parse/Bind/Execute/Sync in one write); per
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY the Sync "causes the backend to
 * close the current transaction if it's not inside a BEGIN/COMMIT transaction block ('close' meaning to commit if
 * no error)"; the answer (rows, ReadyForQuery) is flushed after that.</li>
 * <li>A backend waiting for a row lock does not notice its client went away unless
 * {@code client_connection_check_interval} is set (default 0, disabled:
 * https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-CLIENT-CONNECTION-CHECK-INTERVAL), so
 * it goes on, commits, and only fails when it writes the answer.</li>
 * <li>The connection is lost with {@code java.sql.Connection#abort} (JDBC 4.1; pgjdbc's {@code PgConnection.abort}
 * closes the socket; the reading thread gets "An I/O error occurred while sending to the backend", 08006): what a
 * TCP reset by a NAT, load balancer or proxy (PgBouncer, RDS Proxy) failing over, or the pool's own
 * {@code socketTimeout} (pgjdbc's documented connection property) does to a statement that waits on a row lock.</li>
 * </ul>
 *
 * <p>Choreography (no sleeps): a host transaction holds the row the first call needs, so it leads its lane and
 * waits; two more calls queue behind it (as {@code CombinerQueue} does); the lock is let go; the second call leads
 * the combined statement of the second and third, and just before it is sent the test takes the row lock again from
 * a connection of its own. Once the combined statement's backend is seen waiting on that lock
 * ({@code pg_stat_activity.wait_event_type = 'Lock'}), the test loses its connection (abort), then lets the lock go.
 */
class PostgresRound442Test {
    private static final YearMonth MONTH = YearMonth.of(2035, 2);
    /** {@code Combiner.LANES}. */
    private static final int LANES = Integer.highestOneBit(Math.max(1, Runtime.getRuntime().availableProcessors() / 2));

    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    private static int lane(String key) {
        return key.hashCode() & (LANES - 1);
    }

    private static String subjectInLane(String prefix, int lane) {
        for (int i = 0; ; i++) {
            String subject = prefix + "-" + i;
            if (lane(subject) == lane) {
                return subject;
            }
        }
    }

    private static HikariDataSource pool(String name) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(DB.database().jdbcUrl());
        config.setUsername(DB.database().user());
        config.setPassword(DB.database().password());
        config.setPoolName(name + "-" + System.nanoTime());
        config.setMaximumPoolSize(6);
        config.setConnectionTimeout(10_000);
        return new HikariDataSource(config);
    }

    private static QuotaPolicy policy() {
        return QuotaPolicy.builder().clock(MutableClock.at(MONTH, 10, 12)).defaultAllocation(100_000).build();
    }

    /** Locks {@code subject}'s account of the month in a transaction of {@code blocker}'s, kept open. */
    private static void lockAccount(Connection blocker, String subject) throws Exception {
        blocker.setAutoCommit(false);
        try (PreparedStatement ps = blocker.prepareStatement(
                "SELECT used FROM tq_account WHERE subject = ? AND plan_month = ? FOR UPDATE")) {
            ps.setString(1, subject);
            ps.setString(2, MONTH.toString());
            try (ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next(), "the account is there to lock");
            }
        }
    }

    /** Waits until some backend of this database ({@code pid}, or any with 0) waits for a lock. */
    private static void awaitLockWait(Connection monitor, int pid) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        String sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                + " AND wait_event_type = 'Lock'" + (pid == 0 ? "" : " AND pid = " + pid);
        while (System.nanoTime() < deadline) {
            try (PreparedStatement ps = monitor.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
                rs.next();
                if (rs.getInt(1) > 0) {
                    return;
                }
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        fail("no backend " + (pid == 0 ? "" : pid + " ") + "ever waited for the row lock");
    }

    /** Waits until backend {@code pid} is gone (it finished its statement and found its client gone). */
    private static void awaitGone(Connection monitor, int pid) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            try (PreparedStatement ps = monitor.prepareStatement("SELECT 1 FROM pg_stat_activity WHERE pid = ?")) {
                ps.setInt(1, pid);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return;
                    }
                }
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        fail("backend " + pid + " still there after 20 s");
    }

    /** One store call on a thread of its own. */
    private static final class Call {
        final FutureTask<Object> task;
        final Thread thread;

        Call(String name, Callable<?> body) {
            this.task = new FutureTask<>(body::call);
            this.thread = new Thread(task, "r442-" + name);
            this.thread.start();
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
                return e.getCause();
            }
        }
    }

    private static String describe(Object outcome) {
        return outcome instanceof Reservation r ? r.state() + " " + r.charged() : String.valueOf(outcome);
    }

    private static long used(JdbiQuotaStore store, String subject) {
        return store.account(subject, MONTH).orElseThrow().used();
    }

    private static long charges(JdbiQuotaStore store, String subject) {
        return store.events(subject, MONTH).stream().filter(e -> e.kind() == EventKind.COMMITTED).count();
    }

    /**
     * Three key-less consumes (1,000, 2,500, 2,000 tokens), the second and third combined in one statement whose
     * connection is lost ({@code lose}) while it waits for {@code lockedSubject}'s row. {@code team}: three members of
     * one team (team-take-together.sql), the team's row locked; else three users of one lane (take-together.sql),
     * the second's row locked for the combined statement.
     */
    private void combinedConsumes(String tag, boolean team, boolean lose) throws Exception {
        QuotaPolicy policy = policy();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        String teamId = tag + "-team";
        String teamSubject = Team.subject(teamId);
        String a;
        String b;
        String c;
        if (team) {
            a = tag + "-a";
            b = tag + "-b";
            c = tag + "-c";
            for (String m : new String[] {a, b, c}) {
                ops.setTeam(m, teamId);
            }
            ops.account(teamSubject);
        } else {
            a = tag + "-a";
            int lane = lane(a);
            b = subjectInLane(tag + "-b", lane);
            c = subjectInLane(tag + "-c", lane);
        }
        for (String s : new String[] {a, b, c}) {
            ops.account(s);
        }
        // first lock: the first call leads its lane and waits; second: the combined statement waits
        String firstLock = team ? teamSubject : a;
        String secondLock = team ? teamSubject : b;
        Predicate<String> combined = team
                ? sql -> sql.stripLeading().startsWith("WITH RECURSIVE calls AS") && sql.contains("team_event_id")
                : sql -> sql.stripLeading().startsWith("WITH RECURSIVE calls AS") && !sql.contains("team_event_id");
        String told;
        try (HikariDataSource host = pool(tag);
             Connection blocker = DB.dataSource().getConnection();
             Connection blocker2 = DB.dataSource().getConnection();
             Connection monitor = DB.dataSource().getConnection()) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            if (team) {
                // this instance learns they are members (Holds.members), so their takes go to the team lane
                for (String m : new String[] {a, b, c}) {
                    web.release(web.reserve(m, 1, null).id());
                }
            }
            AtomicReference<Connection> leader = new AtomicReference<>();
            CountDownLatch sending = new CountDownLatch(1);
            ds.pauseBefore(combined, conn -> {
                lockAccount(blocker2, secondLock);
                leader.set(conn);
                sending.countDown();
            });

            lockAccount(blocker, firstLock);
            Call first = new Call("first", () -> web.consume(a, 1_000, null));
            awaitLockWait(monitor, 0);
            Call second = new Call("second", () -> web.consume(b, 2_500, null));
            second.awaitParkedInCombiner();
            Call third = new Call("third", () -> web.consume(c, 2_000, null));
            third.awaitParkedInCombiner();
            blocker.commit();

            assertTrue(sending.await(20, TimeUnit.SECONDS), () -> "no combined statement: " + ds.log());
            int pid = leader.get().unwrap(PGConnection.class).getBackendPID();
            awaitLockWait(monitor, pid);
            if (lose) {
                // the connection is lost while the server still has the statement: it goes on and commits
                leader.get().unwrap(PgConnection.class).abort(Runnable::run);
            }
            blocker2.commit();
            Object r1 = first.get();
            Object r2 = second.get();
            Object r3 = third.get();
            if (lose) {
                awaitGone(monitor, pid);
            }
            assertTrue(r1 instanceof Reservation, () -> "first: " + r1);
            told = "second " + describe(r2) + ", third " + describe(r3);
            assertTrue(ds.log().stream().anyMatch(combined), () -> "a combined statement was sent: " + ds.log());
        }
        // every figure in one line, so that a failure shows them all: used and COMMITTED events per account
        String expected = "a used=1000 events=1, b used=2500 events=1, c used=2000 events=1"
                + (team ? ", team used=5500 events=3" : "");
        String actual = "a used=" + used(ops, a) + " events=" + charges(ops, a) + ", b used=" + used(ops, b)
                + " events=" + charges(ops, b) + ", c used=" + used(ops, c) + " events=" + charges(ops, c)
                + (team ? ", team used=" + used(ops, teamSubject) + " events=" + charges(ops, teamSubject) : "");
        assertEquals(expected, actual, "each key-less consume is charged once, on each of its accounts; the callers"
                + " were told: " + told);
    }

    /**
     * Finding: three team members' key-less consumes, the second and third combined in team-take-together.sql; its
     * connection is lost while the statement waits on the team's row, and the server commits it. The store runs both
     * calls again alone (eachAlone): each member, and the team, charged twice.
     */
    @Test
    void aCombinedMemberConsumeWhoseAnswerWasLostIsChargedOnceRound442() throws Exception {
        combinedConsumes("r442-tlost", true, true);
    }

    /** Control: the same three member consumes, combined, connection kept: each charged once, on both accounts. */
    @Test
    void aCombinedMemberConsumeControlRound442() throws Exception {
        combinedConsumes("r442-tok", true, false);
    }

    /** Finding: the same for plain users' key-less consumes combined in take-together.sql: charged twice. */
    @Test
    void aCombinedConsumeWhoseAnswerWasLostIsChargedOnceRound442() throws Exception {
        combinedConsumes("r442-plost", false, true);
    }

    /** Control: the same plain consumes, combined, connection kept: each charged once. */
    @Test
    void aCombinedConsumeControlRound442() throws Exception {
        combinedConsumes("r442-pok", false, false);
    }

    /**
     * Control, the store's rule on its lone path: a key-less consume alone, its connection lost the same way while
     * its statement waits on its account's row; the server commits it. The store does not run it again
     * (STORE_UNAVAILABLE, an 08): charged once.
     */
    @Test
    void aLoneConsumeWhoseAnswerWasLostIsNotRunAgainRound442() throws Exception {
        QuotaPolicy policy = policy();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        String a = "r442-lone";
        ops.account(a);
        Object outcome;
        try (HikariDataSource host = pool(a);
             Connection blocker = DB.dataSource().getConnection();
             Connection monitor = DB.dataSource().getConnection()) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            AtomicReference<Connection> lone = new AtomicReference<>();
            CountDownLatch sending = new CountDownLatch(1);
            ds.pauseBefore(sql -> true, conn -> {
                lone.set(conn);
                sending.countDown();
            });
            lockAccount(blocker, a);
            Call call = new Call("lone", () -> web.consume(a, 1_000, null));
            assertTrue(sending.await(20, TimeUnit.SECONDS));
            int pid = lone.get().unwrap(PGConnection.class).getBackendPID();
            awaitLockWait(monitor, pid);
            lone.get().unwrap(PgConnection.class).abort(Runnable::run);
            blocker.commit();
            outcome = call.get();
            awaitGone(monitor, pid);
        }
        assertTrue(outcome instanceof io.tokenquota.QuotaException q && q.code() == io.tokenquota.ErrorCode.STORE_UNAVAILABLE,
                () -> "told: " + outcome);
        assertEquals("used=1000 events=1", "used=" + used(ops, a) + " events=" + charges(ops, a));
    }
}
