package io.tokenquota.jdbi.breakit368;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 368's shared scenarios on the shared embedded PostgreSQL, on a host pool whose
 * {@code connectionInitSql} sets the session timeouts operators give application roles
 * ({@code statement_timeout}, {@code idle_in_transaction_session_timeout}:
 * https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT; HikariCP's
 * {@code connectionInitSql}: https://github.com/brettwooldridge/HikariCP#infrequently-used), and the
 * PostgreSQL-only scenarios.
 */
class PostgresRound368Test extends AbstractRound368 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected TestDatabase database() {
        return DB.database();
    }

    @Override
    protected String connectionInitSql() {
        return "SET statement_timeout = '5s'; SET idle_in_transaction_session_timeout = '1s'";
    }

    // ------------------------------------------------------------ a host statement_timeout and retention

    /**
     * A host pool whose sessions carry a {@code statement_timeout} (HikariCP {@code connectionInitSql}
     * {@code SET statement_timeout = '500ms'}; "Abort any statement that takes more than the specified
     * amount of time ... The timeout is measured from the time a command arrives at the server until it
     * is completed by the server": https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT;
     * a wait for a lock counts, and the cancel is SQLSTATE 57014 query_canceled:
     * https://www.postgresql.org/docs/current/errcodes-appendix.html), serving traffic while retention
     * runs from an operations instance on a plain pool of the same database (docs/storage.md, "Several
     * instances"). docs/storage.md, Concurrency 5.: "lock timeouts (... PostgreSQL's 55P03 under a
     * lock_timeout the host's pool or role sets: a call queued behind retention's moment of exclusive lock
     * on the event log is run again, not failed; round 335)". Retention waits at most 2 s for its lock
     * (README: "it waits at most 2 s for it behind a long reader"), so a call queued behind it is served.
     *
     * <p>Here a report reads July's events in an open transaction; retention's DROP queues for the event
     * log's exclusive lock behind it; a user's one-step consume queues behind that. Under the host's
     * statement_timeout the consume's INSERT is cancelled after 500 ms with 57014, which
     * {@code Failures.isRetryable} does not run again (class 40, 55P03 and H2's lock timeouts only): the
     * call fails STORE_UNAVAILABLE "database error" (the filter answers 503, or serves it fail-open and
     * free), where the same call under a lock_timeout of the same 500 ms is run again and charged.
     */
    @Test
    void aCallQueuedBehindRetentionIsServedOnAPoolWithAStatementTimeout() throws Exception {
        assertEquals("charged 400 [10000, 0, 0, 600, 0]",
                callQueuedBehindRetention("SET statement_timeout = '500ms'", false),
                "a consume queued behind retention's lock on a pool with statement_timeout = 500ms");
    }

    /** Control: the same traffic on a pool whose sessions carry a lock_timeout of 500 ms (round 335's rule). */
    @Test
    void aCallQueuedBehindRetentionIsServedOnAPoolWithALockTimeout() throws Exception {
        assertEquals("charged 400 [10000, 0, 0, 600, 0]", callQueuedBehindRetention("SET lock_timeout = '500ms'", false));
    }

    /**
     * Found (the worse form): a call held (3,000) before the report began, answered by the model (2,500)
     * while retention waits behind the report: its commit's statement (it writes the COMMITTED event) is
     * cancelled by the statement_timeout, the commit fails STORE_UNAVAILABLE, and the hold stays open
     * until it expires into a release: the model call is never charged.
     */
    @Test
    void aCommitQueuedBehindRetentionIsChargedOnAPoolWithAStatementTimeout() throws Exception {
        assertEquals("charged 2500 [10000, 0, 0, 2700, 0]",
                callQueuedBehindRetention("SET statement_timeout = '500ms'", true),
                "a commit queued behind retention's lock on a pool with statement_timeout = 500ms");
    }

    /** Control: the same commit on a pool whose sessions carry a lock_timeout of 500 ms. */
    @Test
    void aCommitQueuedBehindRetentionIsChargedOnAPoolWithALockTimeout() throws Exception {
        assertEquals("charged 2500 [10000, 0, 0, 2700, 0]", callQueuedBehindRetention("SET lock_timeout = '500ms'", true));
    }

    private String callQueuedBehindRetention(String initSql, boolean heldCall) throws Exception {
        try (TestDatabase db = TestDatabases.postgres()) {
            HikariConfig config = new HikariConfig();
            config.setJdbcUrl(db.jdbcUrl());
            config.setUsername(db.user());
            config.setPassword(db.password());
            config.setPoolName("r368-timeouts-" + System.nanoTime());
            config.setAutoCommit(false);
            config.setMaximumPoolSize(2);
            config.setConnectionTimeout(10_000);
            config.setConnectionInitSql(initSql);
            try (HikariDataSource host = new HikariDataSource(config)) {
                MutableClock clock = MutableClock.at(YearMonth.of(2031, 1), 10, 12);
                QuotaPolicy policy = QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).historyMonths(3).build();
                // the operations instance (retention) on the test database's plain pool; the web instance on the host pool
                JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy)
                        .installSchema(true).build();
                JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(host).policy(policy).installSchema(false).build();
                String alice = prefix + "alice";
                web.consume(alice, 100, null);
                clock.advanceMonths(6, 10, 12);
                // July's first account: partitions 2031-07, 2031-08; the window keeps May, June, July
                web.consume(alice, 200, null);
                // the held call: held before the report began, answered while retention waits
                String hold = heldCall ? web.reserve(io.tokenquota.HoldRequest.of(alice, 3_000)
                        .ttl(java.time.Duration.ofMinutes(5)).build()).reservation().id() : null;
                ExecutorService threads = Executors.newFixedThreadPool(2);
                try (Connection report = db.dataSource().getConnection();
                     Connection monitor = db.dataSource().getConnection()) {
                    report.setAutoCommit(false);
                    try (Statement s = report.createStatement();
                         ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM tq_event WHERE plan_month = '2031-07'")) {
                        rs.next();
                        assertEquals(1, rs.getInt(1));
                    }
                    Future<List<YearMonth>> retention = threads.submit(ops::dropEventsPastHistory);
                    PostgresLocks.awaitEventLogLockQueued(monitor);
                    Future<String> call = threads.submit(() -> {
                        try {
                            return "charged " + (heldCall ? web.commit(hold, 2_500).charged()
                                    : web.consume(alice, 400, null).charged());
                        } catch (QuotaException e) {
                            return e.code() + ": " + e.getMessage().substring(0, Math.min(160, e.getMessage().length()));
                        }
                    });
                    String outcome = call.get(30, TimeUnit.SECONDS);
                    report.commit();
                    try {
                        retention.get(30, TimeUnit.SECONDS);
                    } catch (java.util.concurrent.ExecutionException e) {
                        // retention may give up behind the report: not this test's concern
                    }
                    QuotaAccount account = ops.account(alice);
                    return outcome + " " + view(account);
                } finally {
                    threads.shutdownNow();
                }
            }
        }
    }
}
