package io.tokenquota.jdbi.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.tokenquota.jdbi.RecordingDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.YearMonth;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.jdbc.PgConnection;

/**
 * A test's hand on the PostgreSQL backends behind the store's connections (rounds 343, 438, 440, 442, 444): a row
 * lock held from a connection of the test's own, a backend seen waiting for it or gone from
 * {@code pg_stat_activity}, and the ways a session ends under a statement (the server's idle timeouts, a lost
 * connection, a cancel or a terminate). Every wait polls what the server shows, never sleeps for a guessed time,
 * and fails after 20 s so that a test whose choreography broke fails instead of hanging.
 */
public final class PostgresBackends {
    private static final long WAIT_NANOS = TimeUnit.SECONDS.toNanos(20);

    private PostgresBackends() {
    }

    /** The server process id of {@code connection}'s session, as {@code pg_stat_activity.pid} shows it. */
    public static int pid(Connection connection) throws SQLException {
        return connection.unwrap(PGConnection.class).getBackendPID();
    }

    /**
     * Locks {@code subject}'s account of {@code month} ({@code SELECT ... FOR UPDATE}) in a transaction of
     * {@code blocker}'s, left open: a store statement that needs that row waits until the test commits
     * {@code blocker}. Fails if the account is not there (the lock would then hold nothing back).
     */
    public static void lockAccount(Connection blocker, String subject, YearMonth month) throws SQLException {
        blocker.setAutoCommit(false);
        try (PreparedStatement ps = blocker.prepareStatement(
                "SELECT used FROM tq_account WHERE subject = ? AND plan_month = ? FOR UPDATE")) {
            ps.setString(1, subject);
            ps.setString(2, month.toString());
            try (ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next(), () -> subject + "'s account of " + month + " is there to lock");
            }
        }
    }

    /**
     * Waits until backend {@code pid} of this database (any backend with 0) waits for a lock
     * ({@code wait_event_type = 'Lock'}): the statement the test means to act on has reached the server and is
     * held there.
     */
    public static void awaitLockWait(Connection monitor, int pid) throws SQLException {
        String sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                + " AND wait_event_type = 'Lock'" + (pid == 0 ? "" : " AND pid = " + pid);
        long deadline = System.nanoTime() + WAIT_NANOS;
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

    /**
     * Waits until backend {@code pid} is gone from {@code pg_stat_activity}: the server has ended its session (a
     * backend leaves the view only after it sent its FATAL error, or found its client gone), so whatever it did
     * is settled before the test reads the ledger.
     */
    public static void awaitGone(Connection monitor, int pid) throws SQLException {
        long deadline = System.nanoTime() + WAIT_NANOS;
        try (PreparedStatement ps = monitor.prepareStatement("SELECT 1 FROM pg_stat_activity WHERE pid = ?")) {
            ps.setInt(1, pid);
            while (System.nanoTime() < deadline) {
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return;
                    }
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
            }
        }
        fail("backend " + pid + " still there after 20 s");
    }

    /**
     * A pause (for {@link RecordingDataSource#pauseBefore}) in which the server ends the session for idleness:
     * {@code timeoutSetting} ({@code idle_session_timeout}, 57P05, or {@code idle_in_transaction_session_timeout},
     * 25P03) set to 20 ms on the store's own connection, then waited for, from a connection of {@code monitors},
     * until its backend is gone. A host sets the same through its pool's {@code connectionInitSql} or
     * {@code ALTER ROLE ... SET}; setting it on the one connection ends just that session, at the moment chosen.
     */
    public static RecordingDataSource.Pause endedIdle(String timeoutSetting, DataSource monitors) {
        return connection -> {
            int pid = pid(connection);
            try (Statement s = connection.createStatement()) {
                s.execute("SET " + timeoutSetting + " = '20ms'");
            }
            try (Connection monitor = monitors.getConnection()) {
                awaitGone(monitor, pid);
            }
        };
    }

    /**
     * Loses {@code connection} as the network would: pgjdbc's {@code PgConnection.abort} (JDBC 4.1) closes the
     * socket, and the thread reading from it gets an I/O error (08006), while the backend goes on with the
     * statement it has (a backend waiting for a row lock does not look at its client) and commits it.
     */
    public static void abort(Connection connection) throws SQLException {
        connection.unwrap(PgConnection.class).abort(Runnable::run);
    }

    /**
     * Calls the server's {@code function} ({@code pg_cancel_backend}: 57014, the statement rolled back;
     * {@code pg_terminate_backend}: 57P01, the session ended) on backend {@code pid}; fails if it did not reach it.
     */
    public static void signal(Connection monitor, String function, int pid) throws SQLException {
        try (PreparedStatement ps = monitor.prepareStatement("SELECT " + function + "(?)")) {
            ps.setInt(1, pid);
            try (ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next() && rs.getBoolean(1), function + " reached backend " + pid);
            }
        }
    }
}
