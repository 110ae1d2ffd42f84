package io.tokenquota.examples.bench;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.OffsetDateTime;
import java.time.YearMonth;
import java.time.ZoneOffset;
import javax.sql.DataSource;

/** Filling and reading the library's tables in bulk, so a run starts from accounts that exist. */
final class Schema {
    private Schema() {
    }

    /**
     * Creates {@code prefix0 .. prefix(n-1)} accounts of {@code month} with {@code allocated} tokens in one
     * statement, as if each subject had been touched once already.
     */
    static void createAccounts(DataSource ds, Backend.Dialect dialect, String prefix, int n, long allocated,
                             YearMonth month) throws SQLException {
        String range = dialect == Backend.Dialect.H2
                ? "SELECT X AS g FROM SYSTEM_RANGE(0, " + (n - 1) + ")"
                : "SELECT g FROM generate_series(0, " + (n - 1) + ") AS g";
        String sql = "INSERT INTO tq_account (subject, plan_month, allocated, granted, carried, used, reserved,"
                + " created_at, updated_at) SELECT CONCAT(?, CAST(r.g AS VARCHAR(12))), ?, ?, 0, 0, 0, 0, ?, ?"
                + " FROM (" + range + ") r";
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
            ps.setString(1, prefix);
            ps.setString(2, month.toString());
            ps.setLong(3, allocated);
            ps.setObject(4, now);
            ps.setObject(5, now);
            ps.executeUpdate();
        }
        analyze(ds, dialect);
    }

    /** Refreshes the planner's statistics of every table of the database. */
    static void analyzeAll(DataSource ds) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute("ANALYZE");
        }
    }

    static void analyze(DataSource ds, Backend.Dialect dialect) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(dialect == Backend.Dialect.H2 ? "ANALYZE" : "ANALYZE tq_account");
        }
    }

    /** {@code used} of one account, as stored. */
    static long used(DataSource ds, String subject, YearMonth month) throws SQLException {
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement(
                     "SELECT used FROM tq_account WHERE subject = ? AND plan_month = ?")) {
            ps.setString(1, subject);
            ps.setString(2, month.toString());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }
}
