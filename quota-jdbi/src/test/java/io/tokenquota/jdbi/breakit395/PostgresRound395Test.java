package io.tokenquota.jdbi.breakit395;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.jdbi.testing.PostgresLocks;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 395's shared scenarios on the shared embedded PostgreSQL, and the PostgreSQL-only ones: the
 * event log's exclusive lock (retention's DROP / DETACH, a month's partition creation) against calls on
 * a host pool whose sessions carry a short {@code lock_timeout} or {@code statement_timeout}.
 *
 * <p>The host setting: HikariCP {@code connectionInitSql} ("a SQL statement that will be executed after
 * every new connection creation before adding it to the pool",
 * https://github.com/brettwooldridge/HikariCP#infrequently-used) of {@code SET lock_timeout = '250ms'}
 * ("Abort any statement that waits longer than the specified amount of time while attempting to acquire
 * a lock on a table, index, row, or other database object ... SQLSTATE 55P03",
 * https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-LOCK-TIMEOUT) or
 * {@code SET statement_timeout = '250ms'} (57014, same page). docs/storage.md, Concurrency 5.: "a call
 * queued behind retention's moment of exclusive lock on the event log is run again, not failed" (no lower
 * bound on the host's timeout is stated); the store's own DDL "waits at most 2 s for that lock".
 */
class PostgresRound395Test extends AbstractRound395 {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    @Override
    protected TestDatabase database() {
        return DB.database();
    }

    static HikariDataSource hostPool(TestDatabase db, String initSql) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setPoolName("r395-" + System.nanoTime());
        config.setMaximumPoolSize(4);
        config.setConnectionTimeout(10_000);
        config.setConnectionInitSql(initSql);
        return new HikariDataSource(config);
    }

    // ------------------------------------------------------------ retention behind a report, a short host timeout

    /**
     * Found and fixed (round 395: wait timeouts run again for 8.3 s): one store on a host pool with
     * {@code lock_timeout = 250ms} serves traffic and runs
     * retention (its scheduler). A report reads July's events in an open transaction; retention's DROP
     * of an old partition queues for the event log's exclusive lock behind it, with the 2 s lock_timeout
     * it sets itself ({@code SET LOCAL}, overriding the session's 250 ms); a call held (3,000) before the
     * report began is answered (2,500) and committed. The commit's INSERT waits 250 ms behind retention's
     * queued lock, is cancelled (55P03), and is run again: {@code maxRetries} (5) + 1 attempts of 250 ms
     * are 1.5 s, less than the 2 s retention waits, so the commit fails STORE_UNAVAILABLE ("gave up after 6
     * attempts"), and the hold stays open until it expires into a release: the model call is never charged.
     */
    @Test
    void aCommitQueuedBehindRetentionIsChargedOnAPoolWithAShortLockTimeout() throws Exception {
        assertEquals("charged 2500 [10000, 0, 0, 2700, 0]", queuedBehindRetention("SET lock_timeout = '250ms'", false),
                "a commit queued behind retention's lock on a pool with lock_timeout = 250ms");
    }

    /** Control: the same commit on a pool with lock_timeout = 500 ms (6 x 500 ms outlast retention's 2 s). */
    @Test
    void aCommitQueuedBehindRetentionIsChargedOnAPoolWithALockTimeout() throws Exception {
        assertEquals("charged 2500 [10000, 0, 0, 2700, 0]", queuedBehindRetention("SET lock_timeout = '500ms'", false));
    }

    /**
     * Found and fixed (the same with a statement_timeout, retention run by an operations instance on a plain
     * pool,
     * as in round 368): the commit's statement is cancelled (57014) six times in 1.5 s and the call fails.
     */
    @Test
    void aCommitQueuedBehindRetentionIsChargedOnAPoolWithAShortStatementTimeout() throws Exception {
        assertEquals("charged 2500 [10000, 0, 0, 2700, 0]", queuedBehindRetention("SET statement_timeout = '250ms'", true),
                "a commit queued behind retention's lock on a pool with statement_timeout = 250ms");
    }

    /** Control: the same with statement_timeout = 500 ms (round 368's case, served). */
    @Test
    void aCommitQueuedBehindRetentionIsChargedOnAPoolWithAStatementTimeout() throws Exception {
        assertEquals("charged 2500 [10000, 0, 0, 2700, 0]", queuedBehindRetention("SET statement_timeout = '500ms'", true));
    }

    private String queuedBehindRetention(String initSql, boolean opsInstance) throws Exception {
        try (TestDatabase db = TestDatabases.postgres(); HikariDataSource host = hostPool(db, initSql)) {
            clock = io.tokenquota.testkit.MutableClock.at(YearMonth.of(2031, 1), 10, 12);
            QuotaPolicy policy = QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).historyMonths(3).build();
            JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy)
                    .installSchema(true).build();
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(host).policy(policy).installSchema(false).build();
            JdbiQuotaStore retainer = opsInstance ? ops : web;
            String alice = prefix + "alice";
            web.consume(alice, 100, null);
            clock.advanceMonths(6, 10, 12);
            web.consume(alice, 200, null);
            String hold = web.reserve(HoldRequest.of(alice, 3_000).ttl(Duration.ofMinutes(5)).build()).reservation().id();
            ExecutorService threads = Executors.newFixedThreadPool(2);
            try (Connection report = db.dataSource().getConnection(); Connection monitor = db.dataSource().getConnection()) {
                report.setAutoCommit(false);
                try (Statement s = report.createStatement();
                     ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM tq_event WHERE plan_month = '2031-07'")) {
                    rs.next();
                }
                Future<List<YearMonth>> retention = threads.submit(retainer::dropEventsPastHistory);
                PostgresLocks.awaitEventLogLockQueued(monitor);
                Future<String> call = threads.submit(() -> {
                    try {
                        return "charged " + web.commit(hold, 2_500).charged();
                    } catch (QuotaException e) {
                        return e.code() + ": " + e.getMessage().substring(0, Math.min(120, e.getMessage().length()));
                    }
                });
                String outcome = call.get(30, TimeUnit.SECONDS);
                report.commit();
                try {
                    retention.get(30, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    // retention may give up behind the report: not this test's concern
                }
                return outcome + " " + view(ops.account(alice));
            } finally {
                threads.shutdownNow();
            }
        }
    }

    // ------------------------------------------------------------ a month's partition creation behind a report

    /**
     * Found and fixed (no retention at all): the month turn. A store built in January made December to
     * February's
     * partitions. Alice's hold (3,000) was made on 31 January; a report reads the event log in an open
     * transaction; Bob's first call of February creates March's partition (docs/storage.md: "when a month's
     * first account is created ... that month and the next") and its {@code CREATE TABLE ... PARTITION OF}
     * queues for the event log's exclusive lock for up to 2 s. Alice's call is answered (2,500) and
     * committed meanwhile: on the pool with lock_timeout = 250 ms its six attempts give up in 1.5 s, and
     * the model call is never charged.
     */
    @Test
    void aCommitQueuedBehindAPartitionCreationIsChargedOnAPoolWithAShortLockTimeout() throws Exception {
        assertEquals("charged 2500 [10000, 0, 0, 2600, 0]", queuedBehindCreation("SET lock_timeout = '250ms'"),
                "a commit queued behind March's partition creation on a pool with lock_timeout = 250ms");
    }

    /** Control: the same month turn on a pool with lock_timeout = 500 ms. */
    @Test
    void aCommitQueuedBehindAPartitionCreationIsChargedOnAPoolWithALockTimeout() throws Exception {
        assertEquals("charged 2500 [10000, 0, 0, 2600, 0]", queuedBehindCreation("SET lock_timeout = '500ms'"));
    }

    private String queuedBehindCreation(String initSql) throws Exception {
        try (TestDatabase db = TestDatabases.postgres(); HikariDataSource host = hostPool(db, initSql)) {
            clock = io.tokenquota.testkit.MutableClock.at(YearMonth.of(2031, 1), 31, 23);
            QuotaPolicy policy = QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).build();
            JdbiQuotaStore reader = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy)
                    .installSchema(true).build();
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(host).policy(policy).installSchema(false).build();
            String alice = prefix + "alice";
            String bob = prefix + "bob";
            web.consume(alice, 100, null);
            String hold = web.reserve(HoldRequest.of(alice, 3_000).ttl(Duration.ofHours(2)).build()).reservation().id();
            clock.advance(Duration.ofMinutes(70));
            ExecutorService threads = Executors.newFixedThreadPool(2);
            try (Connection report = db.dataSource().getConnection(); Connection monitor = db.dataSource().getConnection()) {
                report.setAutoCommit(false);
                try (Statement s = report.createStatement();
                     ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM tq_event WHERE plan_month = '2031-01'")) {
                    rs.next();
                }
                Future<String> first = threads.submit(() -> "charged " + web.consume(bob, 10, null).charged());
                PostgresLocks.awaitEventLogLockQueued(monitor);
                Future<String> call = threads.submit(() -> {
                    try {
                        return "charged " + web.commit(hold, 2_500).charged();
                    } catch (QuotaException e) {
                        return e.code() + ": " + e.getMessage().substring(0, Math.min(120, e.getMessage().length()));
                    }
                });
                String outcome = call.get(30, TimeUnit.SECONDS);
                report.commit();
                assertEquals("charged 10", first.get(30, TimeUnit.SECONDS), "Bob's first call of February");
                return outcome + " " + view(reader.account(alice, YearMonth.of(2031, 1)).orElseThrow());
            } finally {
                threads.shutdownNow();
            }
        }
    }
}
