package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.tokenquota.jdbi.testing.PostgresBackends;
import io.tokenquota.jdbi.testing.PostgresExtension;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 547: the lock order of the combined take (take-together.sql) against the combined finish (finish-together.sql,
 * which locks its accounts FOR UPDATE ORDER BY subject). Written without a lock of its own, the take locked its rows
 * in the order its UPDATE's plan visits them: on a small analyzed account table PostgreSQL 14 drives that UPDATE from
 * a sequential scan of tq_account, so with 'b' stored before 'a' the take locked 'b' and then waited for 'a', which
 * the finish held while it waited for 'b': a deadlock, one statement aborted (40P01) after deadlock_timeout, its
 * batch run again call by call. The take now locks its accounts first, in subject order. The control stores 'a'
 * first (heap order = subject order).
 *
 * Choreography (no sleeps): a third transaction holds 'a'; the finish starts and waits for 'a'; the take starts and
 * waits for 'a'; the third transaction commits.
 */
class PostgresRound547LockOrderTest {
    private static final Sql SQL = new Sql(Dialect.POSTGRESQL);

    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    private static final String MONTH = "2026-12";

    @Test
    void combinedTakeAndFinishDoNotDeadlockWhenHeapOrderIsNotSubjectOrder() throws Exception {
        List<String> outcomes = race("b", "a");
        // subject order on both sides: the finish goes first, the take after it, both succeed
        assertEquals(List.of("finish ok", "take ok: 2 rows"), outcomes, () -> "plan of the take's UPDATE:\n" + plan());
    }

    @Test
    void controlCombinedTakeAndFinishWhenHeapOrderIsSubjectOrder() throws Exception {
        List<String> outcomes = race("a", "b");
        assertEquals(List.of("finish ok", "take ok: 2 rows"), outcomes, () -> "plan of the take's UPDATE:\n" + plan());
    }

    /** Accounts stored in {@code heapOrder} (plus fillers), a hold of 10 on each of 'a' and 'b', then the race. */
    private static List<String> race(String... heapOrder) throws Exception {
        JdbiQuotaStore.installSchema(DB.dataSource());
        exec("TRUNCATE tq_account, tq_reservation, tq_event");
        StringBuilder values = new StringBuilder();
        for (String s : heapOrder) {
            values.append(values.length() == 0 ? "" : ",").append("('").append(s).append("', '").append(MONTH)
                    .append("', 1000, 10, now(), now())");
        }
        // a handful of other users: a small table whose statistics make the planner scan it
        for (int i = 0; i < 5; i++) {
            values.append(",('x").append(i).append("', '").append(MONTH).append("', 1000, 0, now(), now())");
        }
        exec("INSERT INTO tq_account (subject, plan_month, allocated, reserved, created_at, updated_at) VALUES "
                + values);
        exec("INSERT INTO tq_reservation (id, subject, plan_month, held, state, is_consume, created_at, expires_at)"
                + " VALUES ('901', 'a', '" + MONTH + "', 10, 'HELD', FALSE, now(), now() + INTERVAL '1 hour'),"
                + " ('902', 'b', '" + MONTH + "', 10, 'HELD', FALSE, now(), now() + INTERVAL '1 hour')");
        exec("ANALYZE tq_account");
        exec("ANALYZE tq_reservation");

        Positional take = Positional.of(SQL.takeTogetherInOneStatement);
        Positional finish = Positional.of(SQL.finishTogetherInOneStatement);
        List<String> outcomes = new ArrayList<>();
        try (Connection blocker = DB.dataSource().getConnection(); Connection monitor = DB.dataSource().getConnection();
             Connection fc = DB.dataSource().getConnection(); Connection tc = DB.dataSource().getConnection()) {
            PostgresBackends.lockAccount(blocker, "a", YearMonth.parse(MONTH));
            CompletableFuture<String> finishing = CompletableFuture.supplyAsync(() -> {
                try (PreparedStatement ps = finish.prepare(fc, finishParams(fc)); ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        // drained
                    }
                    return "finish ok";
                } catch (SQLException e) {
                    return "finish failed " + e.getSQLState();
                }
            });
            awaitWaiting(monitor, 1);
            CompletableFuture<String> taking = CompletableFuture.supplyAsync(() -> {
                try (PreparedStatement ps = take.prepare(tc, takeParams(tc)); ResultSet rs = ps.executeQuery()) {
                    int n = 0;
                    while (rs.next()) {
                        n++;
                    }
                    return "take ok: " + n + " rows";
                } catch (SQLException e) {
                    return "take failed " + e.getSQLState();
                }
            });
            awaitWaiting(monitor, 2);
            blocker.commit();
            outcomes.add(finishing.get(60, TimeUnit.SECONDS));
            outcomes.add(taking.get(60, TimeUnit.SECONDS));
        }
        return outcomes;
    }

    private static Object[] takeParams(Connection c) throws SQLException {
        Instant now = Instant.now();
        long us = micros(now);
        // two consumes of 1 token, one of each subject, listed in subject order
        return new Object[] {"subjectList", c.createArrayOf("varchar", new String[] {"a", "b"}),
            "tokenList", c.createArrayOf("bigint", new Long[] {1L, 1L}),
            "endpointList", c.createArrayOf("varchar", new String[] {"e", "e"}),
            "expiryList", c.createArrayOf("bigint", new Long[] {null, null}),
            "nowList", c.createArrayOf("bigint", new Long[] {us, us}),
            "dbNowList", c.createArrayOf("bigint", new Long[] {us, us}), "month", MONTH, "dbNow", now};
    }

    private static Object[] finishParams(Connection c) throws SQLException {
        long us = micros(Instant.now());
        // commits of both holds, 5 tokens each
        return new Object[] {"idList", c.createArrayOf("varchar", new String[] {"901", "902"}),
            "actualList", c.createArrayOf("bigint", new Long[] {5L, 5L}),
            "modelList", c.createArrayOf("varchar", new String[] {null, null}),
            "inputList", c.createArrayOf("bigint", new Long[] {null, null}),
            "cachedList", c.createArrayOf("bigint", new Long[] {null, null}),
            "outputList", c.createArrayOf("bigint", new Long[] {null, null}),
            "reasoningList", c.createArrayOf("bigint", new Long[] {null, null}),
            "nowList", c.createArrayOf("bigint", new Long[] {us, us}), "month", MONTH, "capAtHeld", 0};
    }

    /** Waits until {@code n} backends of this database wait for a lock. */
    private static void awaitWaiting(Connection monitor, int n) throws SQLException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            try (Statement s = monitor.createStatement(); ResultSet rs = s.executeQuery(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                    + " AND wait_event_type = 'Lock'")) {
                rs.next();
                if (rs.getInt(1) >= n) {
                    return;
                }
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        fail(n + " backends never waited for a lock");
    }

    private static String plan() {
        StringBuilder out = new StringBuilder();
        try (Connection c = DB.dataSource().getConnection();
             PreparedStatement ps = Positional.of("EXPLAIN " + SQL.takeTogetherInOneStatement)
                     .prepare(c, takeParams(c));
             ResultSet rs = ps.executeQuery()) {
            boolean in = false;
            while (rs.next()) {
                String l = rs.getString(1);
                in = (in || l.contains("CTE account")) && !l.contains("CTE accepted");
                if (in && (l.contains("Join") || l.contains("Scan on") || l.contains("Nested"))) {
                    out.append(l).append('\n');
                }
            }
        } catch (SQLException e) {
            out.append(e);
        }
        return out.toString();
    }

    private static long micros(Instant instant) {
        return instant.getEpochSecond() * 1_000_000L + instant.getNano() / 1_000;
    }

    private static void exec(String sql) throws SQLException {
        try (Connection c = DB.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
