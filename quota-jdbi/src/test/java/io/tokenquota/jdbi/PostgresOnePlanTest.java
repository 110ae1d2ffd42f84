package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.jdbi.testing.PostgresExtension;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import org.jdbi.v3.core.statement.ColonPrefixSqlParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A plain user's combined statements (take and finish) keep one generic plan on a connection whatever their
 * batches' lengths, instead of being planned anew for each batch. PostgreSQL keeps a prepared statement's generic plan
 * only while the plans it makes for given values do not look cheaper; a list's length seen by the
 * planner (in {@code = ANY(list)}, or in {@code unnest(list)}, which it estimates by the length of a
 * constant array and as 100 rows otherwise) made a batch's own plan look cheaper than the generic one:
 * the combined finish was planned for 1,085 of 1,102 batches, at about three times its execution's time.
 * Read from {@code pg_prepared_statements}' plan counts (PostgreSQL 14 and later), not timed.
 */
class PostgresOnePlanTest {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    /** Runs of each statement: the first five are planned for their values whatever the statement says. */
    private static final int RUNS = 30;

    @Test
    void combinedStatementsArePlannedOnceWhateverTheBatchLength() throws SQLException {
        JdbiQuotaStore.installSchema(DB.dataSource());
        Sql sql = new Sql(Dialect.POSTGRESQL);
        // a team member's combined statements are left to plan for their batches: with their lists hidden from
        // the planner too, a member's reserve + commit ran at half its calls per second (docs/storage.md)
        Map<String, String> combined = Map.of("take-together", sql.takeTogetherInOneStatement,
                "finish-together", sql.finishTogetherInOneStatement);
        try (Connection c = DB.dataSource().getConnection(); Statement s = c.createStatement()) {
            // users with room for every call, and a hold of 10 each for the finishes to find
            s.execute("INSERT INTO tq_account (subject, plan_month, allocated, reserved, created_at, updated_at)"
                    + " SELECT 's' || i, '2026-12', 1000000, 10, now(), now() FROM generate_series(1, 1000) AS i");
            s.execute("INSERT INTO tq_reservation (id, subject, plan_month, held, state, is_consume, created_at,"
                    + " expires_at) SELECT CAST(1000000 + i AS VARCHAR), 's' || i, '2026-12', 10, 'HELD', FALSE,"
                    + " now(), now() + INTERVAL '1 hour' FROM generate_series(1, 1000) AS i");
            s.execute("ANALYZE tq_account, tq_reservation, tq_event");
            c.setAutoCommit(false);
            for (Map.Entry<String, String> e : combined.entrySet()) {
                String name = "p_" + e.getKey().replace('-', '_');
                List<String> names = new ColonPrefixSqlParser().parse(e.getValue(), null).getParameters()
                        .getParameterNames();
                s.execute("PREPARE " + name + " AS " + numbered(e.getValue()));
                for (int run = 0; run < RUNS; run++) {
                    // batches of 2 to 16 calls, each on subjects (and holds) of its own
                    int length = 2 + run % 15;
                    int first = 1 + run * 16 % 960;
                    List<String> values = new ArrayList<>();
                    for (String parameter : names) {
                        values.add(value(parameter, length, first));
                    }
                    String execute = "EXECUTE " + name + "(" + String.join(", ", values) + ")";
                    try {
                        s.execute(execute);
                    } catch (SQLException failure) {
                        throw new SQLException(e.getKey() + ": " + execute + ": " + failure.getMessage(), failure);
                    }
                }
                try (ResultSet rs = s.executeQuery("SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                        + " WHERE name = '" + name + "'")) {
                    assertTrue(rs.next());
                    long generic = rs.getLong(1);
                    long custom = rs.getLong(2);
                    assertEquals(RUNS, generic + custom);
                    assertTrue(custom <= 5, e.getKey() + " was planned for its values " + custom + " times in "
                            + RUNS + " runs (generic plan " + generic + " times)");
                }
            }
            // what the runs wrote is not this test's subject
            c.rollback();
        }
    }

    /** The statement with JDBI's named parameters as PREPARE's {@code $1, $2, ...}, in their order. */
    static String numbered(String namedSql) {
        String positional = new ColonPrefixSqlParser().parse(namedSql, null).getSql();
        StringBuilder numbered = new StringBuilder();
        int n = 0;
        for (char ch : positional.toCharArray()) {
            if (ch == '?') {
                numbered.append('$').append(++n);
            } else {
                numbered.append(ch);
            }
        }
        return numbered.toString();
    }

    /**
     * A literal for one parameter of a batch of {@code length} calls on subjects (and holds) from {@code first}:
     * holds of 10 tokens for the take, commits of 10 for the finish.
     */
    private static String value(String parameter, int length, int first) {
        return switch (parameter) {
            case "subjectList" -> list(length, i -> "s" + (first + i));
            // the holds' ids (the take's calls are holds, numbered by the statement)
            case "idList" -> list(length, i -> Integer.toString(1000000 + first + i));
            case "tokenList", "actualList", "inputList", "outputList" -> list(length, i -> "10");
            case "cachedList", "reasoningList" -> list(length, i -> "NULL");
            case "expiryList" -> list(length, i -> "1796086800000000");
            case "modelList", "endpointList" -> list(length, i -> "NULL");
            case "nowList", "dbNowList" -> list(length, i -> "1796083200000000");
            case "month" -> "'2026-12'";
            case "dbNow" -> "TIMESTAMPTZ '2026-12-01 00:00:00+00'";
            case "capAtHeld" -> "0";
            default -> throw new IllegalArgumentException("no value for :" + parameter);
        };
    }

    private static String list(int length, IntFunction<String> element) {
        List<String> elements = new ArrayList<>(Collections.nCopies(length, ""));
        for (int i = 0; i < length; i++) {
            elements.set(i, element.apply(i));
        }
        return "'{" + String.join(",", elements) + "}'";
    }
}
