package io.tokenquota.jdbi;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.jdbi.testing.TestDatabase;

/**
 * Pools as a host application configures them, and a separate pool for checking what a database
 * really holds. Test support; thread-safe.
 */
final class HostPools {
    private HostPools() {
    }

    /**
     * A HikariCP pool with {@code autoCommit=false} (Spring's common setting), optionally with a
     * stricter isolation level: work a store leaves uncommitted is rolled back when the connection
     * goes back to this pool.
     */
    static HikariDataSource autoCommitOff(TestDatabase db, String isolation) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setPoolName(db.name() + "-host");
        config.setAutoCommit(false);
        if (isolation != null) {
            config.setTransactionIsolation(isolation);
        }
        config.setMaximumPoolSize(8);
        config.setMinimumIdle(1);
        config.setConnectionTimeout(10_000);
        return new HikariDataSource(config);
    }

    /**
     * A pool of its own in autocommit at READ COMMITTED, for reading back what the database holds: it
     * shares no connection with the host pool, so it sees only what was committed.
     */
    static HikariDataSource committedReader(TestDatabase db) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setPoolName(db.name() + "-reader");
        config.setAutoCommit(true);
        config.setTransactionIsolation("TRANSACTION_READ_COMMITTED");
        config.setMaximumPoolSize(2);
        config.setMinimumIdle(1);
        config.setConnectionTimeout(10_000);
        return new HikariDataSource(config);
    }
}
