package io.tokenquota.examples.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A database the benchmarks run on: embedded H2, embedded PostgreSQL (started here), or a
 * PostgreSQL given by URL. Each {@link #newDatabase(int)} is a fresh, empty database behind a
 * HikariCP pool. Not thread-safe; used by the benchmark driver thread only.
 */
final class Backend implements AutoCloseable {
    enum Dialect { H2, POSTGRES }

    private static final AtomicInteger SEQ = new AtomicInteger();

    private final String name;
    private final Dialect dialect;
    private final EmbeddedPostgres embedded;
    private final String externalUrl;
    private final String user;
    private final String password;
    private final List<HikariDataSource> pools = new ArrayList<>();
    private final List<String> databases = new ArrayList<>();

    private Backend(String name, Dialect dialect, EmbeddedPostgres embedded, String externalUrl, String user,
                    String password) {
        this.name = name;
        this.dialect = dialect;
        this.embedded = embedded;
        this.externalUrl = externalUrl;
        this.user = user;
        this.password = password;
    }

    static Backend h2() {
        return new Backend("H2 (in-memory)", Dialect.H2, null, null, "sa", "");
    }

    /**
     * Starts an embedded PostgreSQL. With {@code durable} false it keeps the embedded defaults
     * ({@code fsync=off}, {@code synchronous_commit=off}); with true, every commit waits for its WAL
     * flush, as a production server does.
     */
    static Backend embeddedPostgres(boolean durable) throws IOException {
        EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder();
        if (durable) {
            builder.setServerConfig("fsync", "on").setServerConfig("synchronous_commit", "on");
        }
        builder.setServerConfig("max_connections", "300");
        return new Backend(durable ? "PostgreSQL (embedded, fsync on)" : "PostgreSQL (embedded)",
                Dialect.POSTGRES, builder.start(), null, "postgres", "postgres");
    }

    /** A PostgreSQL server given by URL; each run creates its own databases there (needs CREATEDB). */
    static Backend externalPostgres(String url, String user, String password) {
        return new Backend("PostgreSQL (" + url.replaceAll("\\?.*", "") + ")", Dialect.POSTGRES, null, url,
                user, password);
    }

    String name() {
        return name;
    }

    Dialect dialect() {
        return dialect;
    }

    /** A fresh database and a pool of at most {@code poolSize} connections to it. */
    HikariDataSource newDatabase(int poolSize) throws SQLException {
        String db = "bench" + SEQ.incrementAndGet();
        String url;
        switch (dialect) {
            case H2 -> url = "jdbc:h2:mem:" + db + ";DB_CLOSE_DELAY=-1";
            case POSTGRES -> {
                try (Connection c = adminConnection(); Statement s = c.createStatement()) {
                    s.execute("CREATE DATABASE " + db);
                }
                databases.add(db);
                url = embedded != null ? embedded.getJdbcUrl(user, db) : externalUrl.replaceFirst(
                        "(jdbc:postgresql://[^/]+/)[^?]*", "$1" + db);
            }
            default -> throw new IllegalStateException();
        }
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(url);
        config.setUsername(user);
        config.setPassword(password);
        config.setMaximumPoolSize(poolSize);
        config.setMinimumIdle(poolSize);
        config.setPoolName("bench-" + db);
        HikariDataSource ds = new HikariDataSource(config);
        pools.add(ds);
        return ds;
    }

    /** The server version and the settings that bound a hot row: what BENCHMARKS.md reports. */
    Map<String, String> settings(HikariDataSource ds) throws SQLException {
        Map<String, String> out = new LinkedHashMap<>();
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            if (dialect == Dialect.H2) {
                try (ResultSet rs = s.executeQuery("SELECT H2VERSION()")) {
                    rs.next();
                    out.put("version", "H2 " + rs.getString(1));
                }
                return out;
            }
            for (String setting : List.of("server_version", "fsync", "synchronous_commit", "wal_level",
                    "shared_buffers", "max_connections", "default_transaction_isolation")) {
                try (ResultSet rs = s.executeQuery("SHOW " + setting)) {
                    rs.next();
                    out.put(setting, rs.getString(1));
                }
            }
        }
        return out;
    }

    /**
     * What the load runs charge CPU to: the load threads, plus the pool's server processes when the
     * server is the embedded one (so its /proc is ours to read).
     */
    CpuClock cpuClock(HikariDataSource ds) throws SQLException, InterruptedException {
        // the pool opens its connections in the background; every one of them must be counted
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (ds.getHikariPoolMXBean().getTotalConnections() < ds.getMaximumPoolSize()
                && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        if (embedded == null) {
            return CpuClock.threadsOnly();
        }
        List<Long> pids = new ArrayList<>();
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                     + " AND backend_type = 'client backend'")) {
            while (rs.next()) {
                pids.add(rs.getLong(1));
            }
        }
        return CpuClock.withServerProcesses(pids);
    }

    private Connection adminConnection() throws SQLException {
        if (embedded != null) {
            return embedded.getPostgresDatabase().getConnection();
        }
        return java.sql.DriverManager.getConnection(externalUrl, user, password);
    }

    @Override
    public void close() throws IOException {
        for (HikariDataSource ds : pools) {
            ds.close();
        }
        pools.clear();
        if (embedded != null) {
            embedded.close();
        } else if (dialect == Dialect.POSTGRES) {
            // a server given by URL outlives the run: leave it as it was found
            try (Connection c = adminConnection(); Statement s = c.createStatement()) {
                for (String db : databases) {
                    s.execute("DROP DATABASE IF EXISTS " + db);
                }
            } catch (SQLException e) {
                throw new IOException("could not drop the benchmark databases " + databases, e);
            }
        }
    }
}
