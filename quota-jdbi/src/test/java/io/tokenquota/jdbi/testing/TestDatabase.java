package io.tokenquota.jdbi.testing;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;

/**
 * One fresh, empty database for a test: an in-memory H2 database or a database of its own on the
 * shared embedded PostgreSQL server. {@link #close()} drops it. Thread-safe.
 */
public final class TestDatabase implements AutoCloseable {
    /** Which engine a test database runs on. */
    public enum Kind { H2, POSTGRESQL }

    private final Kind kind;
    private final String name;
    private final String jdbcUrl;
    private final String user;
    private final String password;
    private final DataSource dataSource;
    private final AutoCloseable onClose;
    private volatile boolean closed;

    TestDatabase(Kind kind, String name, String jdbcUrl, String user, String password, DataSource dataSource,
                 AutoCloseable onClose) {
        this.kind = kind;
        this.name = name;
        this.jdbcUrl = jdbcUrl;
        this.user = user;
        this.password = password;
        this.dataSource = dataSource;
        this.onClose = onClose;
    }

    public Kind kind() {
        return kind;
    }

    /** The database's name, unique in this JVM. */
    public String name() {
        return name;
    }

    /** A pooled (PostgreSQL) or in-memory (H2) data source; the test must not close it. */
    public DataSource dataSource() {
        return dataSource;
    }

    /** For code under test that builds its own pool from a URL. */
    public String jdbcUrl() {
        return jdbcUrl;
    }

    public String user() {
        return user;
    }

    public String password() {
        return password;
    }

    /** Runs one SQL statement in autocommit (test setup, or poking at the schema). */
    public void execute(String sql) {
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        } catch (SQLException e) {
            throw new IllegalStateException(sql + ": " + e.getMessage(), e);
        }
    }

    /** Drops the database and releases its connections. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            onClose.close();
        } catch (Exception e) {
            throw new IllegalStateException("could not drop test database " + name, e);
        }
    }

    @Override
    public String toString() {
        return kind + " " + name;
    }
}
