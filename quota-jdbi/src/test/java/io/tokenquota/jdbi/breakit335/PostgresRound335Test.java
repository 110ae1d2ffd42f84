package io.tokenquota.jdbi.breakit335;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.jdbi.testing.PostgresLocks;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.MutableClock;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.YearMonth;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 335's scenarios on the shared embedded PostgreSQL, and the PostgreSQL-only ones.
 *
 * <p>The host configuration of the shared scenarios: pgJDBC's {@code stringtype=unspecified} and
 * {@code prepareThreshold=0} (the PgBouncer transaction-mode setting; both are documented connection
 * properties, https://jdbc.postgresql.org/documentation/use/#connection-parameters) and a HikariCP
 * {@code connectionInitSql} of {@code SET TIME ZONE 'Pacific/Kiritimati'} (UTC+14: the session's day
 * and month turn 14 hours before UTC's; https://www.postgresql.org/docs/current/sql-set.html).
 */
class PostgresRound335Test extends AbstractRound335 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    private static final List<HikariDataSource> POOLS = new CopyOnWriteArrayList<>();
    private static HikariDataSource odd;

    static HikariDataSource pool(TestDatabase db, String urlOptions, String initSql) {
        HikariConfig config = new HikariConfig();
        String url = db.jdbcUrl();
        config.setJdbcUrl(urlOptions == null ? url : url + (url.contains("?") ? "&" : "?") + urlOptions);
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setMaximumPoolSize(4);
        config.setConnectionTimeout(10_000);
        if (initSql != null) {
            config.setConnectionInitSql(initSql);
        }
        config.setPoolName("r335-pg-" + System.nanoTime());
        HikariDataSource pool = new HikariDataSource(config);
        POOLS.add(pool);
        return pool;
    }

    @AfterAll
    static void closePools() {
        POOLS.forEach(HikariDataSource::close);
        POOLS.clear();
        odd = null;
    }

    @Override
    protected QuotaStore store(QuotaPolicy policy) {
        return JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
    }

    @Override
    protected QuotaStore storeOnHostConfiguration(QuotaPolicy policy) {
        synchronized (PostgresRound335Test.class) {
            if (odd == null) {
                odd = pool(DB.database(), "stringtype=unspecified&prepareThreshold=0",
                        "SET TIME ZONE 'Pacific/Kiritimati'");
            }
        }
        return JdbiQuotaStore.builder().dataSource(odd).policy(policy).installSchema(true).build();
    }

    // ------------------------------------------------------------ a host lock_timeout and retention

    /**
     * A host pool whose sessions carry a {@code lock_timeout} (HikariCP {@code connectionInitSql}
     * {@code SET lock_timeout = '500ms'}: https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-LOCK-TIMEOUT,
     * the setting PostgreSQL operators give application roles so that no query queues for long behind
     * a lock), while retention runs beside the traffic. README / JdbiQuotaStore.dropEventsPastHistory:
     * "Safe while the store serves traffic ... Dropping a partition holds an exclusive lock on the event
     * log for a moment; it waits at most 2 s for it behind a long reader"; docs/storage.md: a store's
     * DDL "waits at most 2 s for that lock (lock_timeout): behind a long reader of the event log (a
     * report, pg_dump)". So a call made meanwhile waits at most those 2 s and is served.
     *
     * <p>Here a report reads July's events in an open transaction (the long reader); retention's DROP of
     * an old partition queues for the event log's exclusive lock behind it; a user's one-step consume
     * in July queues behind that. On the plain pool (the control) the consume waits until retention gives
     * up its first attempt (2 s) and is charged. On the lock_timeout pool the consume's INSERT into the
     * event log is cancelled after 500 ms (SQLSTATE 55P03, lock_not_available), which the store neither
     * retries (only class 40 and H2's lock timeouts are: Failures.isRetryable) nor prevents (it sets
     * autocommit and the isolation on every connection it takes, not the session's lock_timeout), and
     * the call fails STORE_UNAVAILABLE "database error", where H2 with LOCK_TIMEOUT retries it.
     */
    @Test
    void aCallQueuedBehindRetentionIsServedOnAPoolWithALockTimeout() throws Exception {
        callQueuedBehindRetention("SET lock_timeout = '500ms'");
    }

    /** Control: the same traffic on a pool without a lock_timeout. */
    @Test
    void aCallQueuedBehindRetentionIsServed() throws Exception {
        callQueuedBehindRetention(null);
    }

    private void callQueuedBehindRetention(String initSql) throws Exception {
        try (TestDatabase db = TestDatabases.postgres()) {
            HikariDataSource host = pool(db, null, initSql);
            MutableClock clock = MutableClock.at(YearMonth.of(2031, 1), 10, 12);
            QuotaPolicy policy = QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).historyMonths(3).build();
            // built in January: partitions 2030-12, 2031-01, 2031-02
            JdbiQuotaStore store = JdbiQuotaStore.builder().dataSource(host).policy(policy).installSchema(true).build();
            String alice = prefix + "alice";
            store.consume(alice, 100, null);
            clock.advanceMonths(6, 10, 12);
            // July's first account: partitions 2031-07, 2031-08; the window keeps May, June, July
            store.consume(alice, 200, null);
            ExecutorService threads = Executors.newFixedThreadPool(2);
            try (Connection report = db.dataSource().getConnection(); Connection monitor = db.dataSource().getConnection()) {
                report.setAutoCommit(false);
                try (Statement s = report.createStatement();
                     ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM tq_event WHERE plan_month = '2031-07'")) {
                    rs.next();
                    assertEquals(1, rs.getInt(1));
                }
                Future<List<YearMonth>> retention = threads.submit(store::dropEventsPastHistory);
                PostgresLocks.awaitEventLogLockQueued(monitor);
                Future<String> call = threads.submit(() -> {
                    try {
                        return "charged " + store.consume(alice, 400, null).charged();
                    } catch (QuotaException e) {
                        return e.code() + ": " + e.getMessage();
                    }
                });
                String outcome = call.get(30, TimeUnit.SECONDS);
                report.commit();
                assertEquals(List.of(YearMonth.of(2030, 12), YearMonth.of(2031, 1), YearMonth.of(2031, 2)),
                        retention.get(30, TimeUnit.SECONDS), "retention dropped the months before May");
                assertEquals("charged 400", outcome, "the call made while retention waited for its lock");
                assertEquals(List.of(10_000L, 0L, 0L, 600L, 0L), view(store.account(alice)));
            } finally {
                threads.shutdownNow();
            }
        }
    }
}
