package io.tokenquota.jdbi.breakit440;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.Currency;
import io.tokenquota.EventKind;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.RecordingDataSource;
import io.tokenquota.jdbi.testing.HostPool;
import io.tokenquota.jdbi.testing.PostgresBackends;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.MutableClock;
import java.math.BigDecimal;
import java.time.YearMonth;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 440: the PostgreSQL store's writes other than holds, under a session the server ends for idleness
 * ({@code idle_in_transaction_session_timeout}, SQLSTATE 25P03, FATAL, "terminating connection due to idle-in-transaction
 * timeout": https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-IDLE-IN-TRANSACTION-SESSION-TIMEOUT,
 * https://www.postgresql.org/docs/current/errcodes-appendix.html). {@code Failures.isRetryable} /
 * {@code Operations.operation} run such an attempt again on another connection; these tests look for the places
 * where the failure is not seen by that loop.
 *
 * <p>Choreography (no sleeps): before a chosen statement, or before the transaction's ROLLBACK, the test sets
 * {@code idle_in_transaction_session_timeout} on the store's own session (a host pool's {@code connectionInitSql}
 * or {@code ALTER ROLE ... SET} sets it the same way) and waits, from a connection of its own, until the server has
 * ended that backend (gone from {@code pg_stat_activity}), as {@code PostgresIdleSessionTest} does.
 */
class PostgresRound440Test {
    private static final YearMonth MONTH = YearMonth.of(2034, 5);
    private static final long PACK = 50_000;

    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    /** The server ends the store's session, idle inside its open transaction (25P03), before the matched one. */
    private static RecordingDataSource.Pause endedIdleInTransaction() {
        return PostgresBackends.endedIdle("idle_in_transaction_session_timeout", DB.dataSource());
    }

    /**
     * Stripe's payment_intent.succeeded for a token pack (https://docs.stripe.com/api/payment_intents/object:
     * {@code amount_received} in the currency's minor unit, here 33.00 USD), as the round's purchase fixtures record it.
     */
    private static PurchaseRequest pack(String tx, String subject) {
        return new PurchaseRequest(tx, subject, PACK, PurchaseType.PURCHASE, "card", new BigDecimal("33.00"),
                Currency.USD, null);
    }

    private static long credited(JdbiQuotaStore store, String subject, YearMonth month) {
        return store.events(subject, month).stream().filter(e -> e.kind() == EventKind.CREDITED).count();
    }

    // ------------------------------------------------------------------ a credit superseded, its ROLLBACK ended idle

    /**
     * A credit (complete or grant) whose month the next month's first touch supersedes while it waits (another
     * instance whose clock is a month ahead opens it between the credit's read of the account and its transaction):
     * the credit's statement matches nothing, the transaction is rolled back ({@code Superseded}) and the credit
     * runs again in the new month ({@code Purchases.complete} / {@code grant}). With {@code endAtRollback}, the server
     * ends the session, idle in that transaction, before it reads the ROLLBACK: the transaction rolled back with the
     * session, nothing kept, so the credit must still run again, on another connection, and credit once.
     */
    private void supersededCredit(String tag, boolean grant, boolean endAtRollback) throws Exception {
        MutableClock clock = MutableClock.at(MONTH, 28, 12);
        QuotaPolicy policy = QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).build();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        QuotaPolicy aheadPolicy = QuotaPolicy.builder().clock(MutableClock.at(MONTH.plusMonths(1), 1, 9))
                .defaultAllocation(10_000).build();
        JdbiQuotaStore ahead = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(aheadPolicy)
                .installSchema(false).build();
        String subject = tag + "-user";
        String tx = "pi_" + tag;
        ops.account(subject);
        if (!grant) {
            ops.recordPending(pack(tx, subject));
        }
        try (HikariDataSource host = HostPool.open(DB.database(), tag)) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            String first = grant ? "INSERT INTO tq_purchase" : "UPDATE tq_purchase SET status = 'completed'";
            ds.pauseBefore(sql -> sql.stripLeading().startsWith(first), conn -> {
                // the other instance's first touch of the next month, between the credit's read and its transaction
                ahead.account(subject);
                ds.pauseBefore("ROLLBACK"::equals, endAtRollback ? endedIdleInTransaction() : c -> { });
            });
            Purchase done = grant ? web.grant(pack(tx, subject)) : web.complete(tx, new BigDecimal("33.00"), Currency.USD);
            assertTrue(ds.log().contains("ROLLBACK"), () -> "the superseded credit was rolled back: " + ds.log());
            assertEquals(PurchaseStatus.COMPLETED, done.status());
        }
        QuotaAccount may = ops.account(subject, MONTH).orElseThrow();
        QuotaAccount june = ahead.account(subject);
        assertEquals(MONTH.plusMonths(1), june.month());
        assertEquals(0, may.granted(), "nothing credited to the superseded month");
        assertEquals(PACK, june.granted(), "the pack credited once, to the new month");
        assertEquals(0, credited(ops, subject, MONTH));
        assertEquals(1, credited(ahead, subject, MONTH.plusMonths(1)), () -> "one CREDITED event: "
                + ahead.events(subject, MONTH.plusMonths(1)));
        assertEquals(PurchaseStatus.COMPLETED, ops.purchase(tx).orElseThrow().status());
    }

    /**
     * Finding: a completion superseded by the next month's first touch whose session the server ends idle in the
     * transaction before its ROLLBACK. {@code Superseded} is built without suppression, so Jdbi's
     * {@code addSuppressed(rollbackFailure)} drops the 25P03; {@code complete} loops on the same, dead handle and fails
     * {@code STORE_UNAVAILABLE} instead of being run again: the captured payment is not credited.
     */
    @Test
    void aCompletionSupersededWhoseSessionEndedIdleBeforeItsRollbackIsCreditedRound440() throws Exception {
        supersededCredit("r440-complete", false, true);
    }

    /** Control: the same superseded completion, session left alone: credited once to the new month. */
    @Test
    void aCompletionSupersededControlRound440() throws Exception {
        supersededCredit("r440-completeok", false, false);
    }

    /** Finding: the same for a grant (a purchase completed in one step): fails instead of running again. */
    @Test
    void aGrantSupersededWhoseSessionEndedIdleBeforeItsRollbackIsCreditedRound440() throws Exception {
        supersededCredit("r440-grant", true, true);
    }

    /** Control: the same superseded grant, session left alone: credited once to the new month. */
    @Test
    void aGrantSupersededControlRound440() throws Exception {
        supersededCredit("r440-grantok", true, false);
    }

    // ------------------------------------------------------------------ the schema installer

    private void install(String tag, boolean endInTransaction) throws Exception {
        QuotaPolicy policy = QuotaPolicy.builder().clock(MutableClock.at(MONTH, 10, 12)).defaultAllocation(10_000)
                .build();
        JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy).installSchema(true).build();
        try (HikariDataSource host = HostPool.open(DB.database(), tag)) {
            RecordingDataSource ds = new RecordingDataSource(host);
            // SchemaInstaller.install: one transaction (advisory lock, CREATE TABLE IF NOT EXISTS tq_schema_version,
            // then a look at each version); the session ends idle in it before the first look
            ds.pauseBefore(sql -> sql.contains("FROM tq_schema_version WHERE version"),
                    endInTransaction ? endedIdleInTransaction() : conn -> { });
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(true).build();
            assertTrue(ds.log().stream().anyMatch(sql -> sql.contains("FROM tq_schema_version WHERE version")));
            assertEquals(10_000, web.account(tag + "-user").allocated());
        }
    }

    /**
     * Finding (availability): the schema installer's transaction whose session the server ends idle (25P03, round
     * 256's host with {@code idle_in_transaction_session_timeout} in its pool's {@code connectionInitSql}) is not run
     * again as every operation is: the build fails {@code STORE_UNAVAILABLE} "cannot open the quota store" and the
     * host does not start, although the install rolled back whole and is idempotent.
     */
    @Test
    void aSchemaInstallWhoseSessionEndedIdleIsRunAgainRound440() throws Exception {
        install("r440-install", true);
    }

    /** Control: the same build with install, session left alone. */
    @Test
    void aSchemaInstallControlRound440() throws Exception {
        install("r440-installok", false);
    }
}
