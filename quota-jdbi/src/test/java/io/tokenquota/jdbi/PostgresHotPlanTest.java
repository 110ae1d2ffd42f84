package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.jdbi.testing.PostgresExtension;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.statement.ColonPrefixSqlParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The hot path's statements reach their rows by the keys and the open-holds index even when the
 * tables were analyzed empty and have grown since (a fresh install, or a table that grows fast between
 * autoanalyze runs): no column statistics, so every equality is guessed at 1 row in 200. Read from the
 * generic plans (the ones a connection keeps for a prepared statement) rather than timed: the combined
 * commit used to join the holds to its calls by a scan of the whole table, 37-85 ms per statement with
 * 20,000 holds. A plan made while a table is still empty (0 pages) scans it whatever the statement says,
 * as a scan of nothing costs nothing; the next ANALYZE (autovacuum's) replans it.
 */
class PostgresHotPlanTest {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Test
    void hotStatementsUseTheirIndexesWithoutStatistics() throws SQLException {
        JdbiQuotaStore.installSchema(DB.dataSource());
        Sql sql = new Sql(Dialect.POSTGRESQL);
        Map<String, String> hot = Map.ofEntries(Map.entry("reserve", sql.reserveInOneStatement),
                Map.entry("consume-with-key", sql.consumeInOneStatement),
                Map.entry("consume", sql.consumeWithoutHoldInOneStatement),
                Map.entry("take-together", sql.takeTogetherInOneStatement),
                Map.entry("commit", sql.commitInOneStatement), Map.entry("release", sql.releaseInOneStatement),
                Map.entry("finish-together", sql.finishTogetherInOneStatement),
                Map.entry("team-take", sql.teamTakeInOneStatement),
                Map.entry("team-finish", sql.teamFinishInOneStatement),
                Map.entry("team-take-together", sql.teamTakeTogetherInOneStatement),
                Map.entry("team-finish-together", sql.teamFinishTogetherInOneStatement));
        try (Connection c = DB.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute("ANALYZE tq_account, tq_reservation, tq_event");
            // every tenth user in one of 100 teams (whose accounts are rows of the same table), and their
            // holds held against the team too, so the team statements' probes have rows to scan past
            s.execute("INSERT INTO tq_account (subject, plan_month, allocated, created_at, updated_at, team_subject)"
                    + " SELECT 's' || i, '2026-12', 1000, now(), now(), CASE WHEN i % 10 = 0 THEN 't' || (i % 100) END"
                    + " FROM generate_series(1, 10000) AS i");
            s.execute("INSERT INTO tq_account (subject, plan_month, allocated, created_at, updated_at)"
                    + " SELECT 't' || i, '2026-12', 100000, now(), now() FROM generate_series(0, 99) AS i");
            s.execute("INSERT INTO tq_reservation (id, subject, plan_month, held, state, is_consume, created_at,"
                    + " expires_at, finished_at, team_subject) SELECT md5(i::text), 's' || (i % 10000), '2026-12', 10,"
                    + " CASE WHEN i % 2 = 0 THEN 'HELD' ELSE 'COMMITTED' END, FALSE, now(), now() + INTERVAL '1 hour',"
                    + " CASE WHEN i % 2 = 0 THEN NULL ELSE now() END,"
                    + " CASE WHEN i % 10 = 0 THEN 't' || (i % 100) END FROM generate_series(1, 40000) AS i");
            s.execute("SET plan_cache_mode = force_generic_plan");
            for (Map.Entry<String, String> e : hot.entrySet()) {
                int n = new ColonPrefixSqlParser().parse(e.getValue(), null).getParameters().getParameterCount();
                s.execute("PREPARE p_" + e.getKey().replace('-', '_') + " AS "
                        + PostgresOnePlanTest.numbered(e.getValue()));
                List<String> plan = new ArrayList<>();
                try (ResultSet rs = s.executeQuery("EXPLAIN EXECUTE p_" + e.getKey().replace('-', '_') + "("
                        + String.join(", ", java.util.Collections.nCopies(n, "NULL")) + ")")) {
                    while (rs.next()) {
                        plan.add(rs.getString(1));
                    }
                }
                String text = String.join("\n", plan);
                for (String table : List.of("tq_reservation", "tq_account", "tq_event")) {
                    assertFalse(text.contains("Seq Scan on " + table), e.getKey() + " scans " + table + ":\n" + text);
                }
                assertTrue(text.contains("tq_account_pk"), e.getKey() + " does not use the account key:\n" + text);
                if (e.getKey().startsWith("team-take")) {
                    // a member's hold waits for its team's stale holds: found by the team's open-holds index
                    assertTrue(text.contains("tq_reservation_open_team"),
                            e.getKey() + " does not probe the team's open holds by their index:\n" + text);
                }
            }
        }
    }
}
