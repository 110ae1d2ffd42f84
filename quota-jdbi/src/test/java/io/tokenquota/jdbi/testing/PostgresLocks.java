package io.tokenquota.jdbi.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/** Handshakes with PostgreSQL's lock table, so that a test orders two sessions without sleeping (rounds 335, 368). */
public final class PostgresLocks {
    private PostgresLocks() {
    }

    /**
     * Waits until a request for the event log's exclusive lock (retention's, {@code dropEventsPastHistory}) is queued,
     * reading {@code pg_locks} on {@code monitor}; fails after 20 s.
     */
    public static void awaitEventLogLockQueued(Connection monitor) throws SQLException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            try (Statement s = monitor.createStatement(); ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM pg_locks"
                    + " WHERE relation = to_regclass('tq_event') AND NOT granted AND mode = 'AccessExclusiveLock'")) {
                rs.next();
                if (rs.getInt(1) > 0) {
                    return;
                }
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        fail("retention never queued for the event log's lock");
    }
}
