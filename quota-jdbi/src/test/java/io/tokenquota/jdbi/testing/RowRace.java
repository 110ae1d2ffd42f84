package io.tokenquota.jdbi.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.jdbi.JdbiQuotaStore;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs a statement against account rows another transaction has changed and not yet committed, on a test class's
 * PostgreSQL: the statement takes its snapshot first and waits for the rows' locks, and the other transaction
 * commits only once {@code pg_locks} shows that wait, so PostgreSQL must test and move the rows as they are after
 * that commit (their newest versions), not as the snapshot saw them. Deterministic: no sleep decides the order.
 * Also the small reads such tests check the ledger with.
 */
public final class RowRace {
    /** What runs on its own connection while the other transaction holds the rows: one line per row it reads back. */
    public interface Work {
        List<String> run(Connection c) throws SQLException;
    }

    private final PostgresExtension db;

    public RowRace(PostgresExtension db) {
        this.db = db;
    }

    /**
     * Runs {@code work} while another transaction has run {@code changes} and not committed; commits them once the
     * work's statement waits for a row they hold, and returns what the work returned.
     */
    public List<String> raceAgainst(List<String> changes, Work work) throws Exception {
        try (Connection other = db.dataSource().getConnection()) {
            other.setAutoCommit(false);
            try (Statement s = other.createStatement()) {
                for (String change : changes) {
                    s.executeUpdate(change);
                }
            }
            CompletableFuture<List<String>> done = CompletableFuture.supplyAsync(() -> {
                try (Connection c = db.dataSource().getConnection()) {
                    return work.run(c);
                } catch (SQLException e) {
                    throw new IllegalStateException(e.getMessage(), e);
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (count("SELECT COUNT(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'") == 0) {
                assertTrue(System.nanoTime() < deadline, "the statement never waited for the other transaction");
                Thread.onSpinWait();
            }
            other.commit();
            return done.get(30, TimeUnit.SECONDS);
        }
    }

    /** The class's tests share one database: each starts from empty tables. */
    public void emptyLedger() throws SQLException {
        JdbiQuotaStore.installSchema(db.dataSource());
        exec("TRUNCATE tq_account, tq_reservation, tq_event");
    }

    /** Every account as {@code subject:used/reserved}, by subject. */
    public List<String> accounts() throws SQLException {
        List<String> out = new ArrayList<>();
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT subject, used, reserved FROM tq_account ORDER BY subject")) {
            while (rs.next()) {
                out.add(rs.getString(1) + ":" + rs.getLong(2) + "/" + rs.getLong(3));
            }
        }
        return out;
    }

    public long count(String sql) throws SQLException {
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    public void exec(String sql) throws SQLException {
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    /** An instant as the combined statements take it: microseconds since the epoch. */
    public static long micros(Instant instant) {
        return instant.getEpochSecond() * 1_000_000L + instant.getNano() / 1_000;
    }
}
