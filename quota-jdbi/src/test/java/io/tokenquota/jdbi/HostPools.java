package io.tokenquota.jdbi;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.jdbi.testing.TestDatabase;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * Pools as a host application configures them, and a plain connection source for checking what a
 * database really holds. Test support; thread-safe.
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

    /** Every {@link #getConnection()} opens a new physical connection in autocommit: no pool in between. */
    static DataSource freshConnections(TestDatabase db) {
        return new DataSource() {
            @Override
            public Connection getConnection() throws SQLException {
                return DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
            }

            @Override
            public Connection getConnection(String user, String password) throws SQLException {
                return DriverManager.getConnection(db.jdbcUrl(), user, password);
            }

            @Override
            public PrintWriter getLogWriter() {
                return null;
            }

            @Override
            public void setLogWriter(PrintWriter out) {
            }

            @Override
            public void setLoginTimeout(int seconds) {
            }

            @Override
            public int getLoginTimeout() {
                return 0;
            }

            @Override
            public Logger getParentLogger() throws SQLFeatureNotSupportedException {
                throw new SQLFeatureNotSupportedException();
            }

            @Override
            public <T> T unwrap(Class<T> iface) throws SQLException {
                throw new SQLException("not a wrapper");
            }

            @Override
            public boolean isWrapperFor(Class<?> iface) {
                return false;
            }
        };
    }
}
