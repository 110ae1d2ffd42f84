package io.tokenquota.jdbi.breakit438;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.EventKind;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.RecordingDataSource;
import io.tokenquota.jdbi.testing.CombinerQueue;
import io.tokenquota.jdbi.testing.HostPool;
import io.tokenquota.jdbi.testing.PostgresBackends;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.MutableClock;
import java.time.YearMonth;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 438: the PostgreSQL store runs an operation again when the server ended its session for idleness
 * (SQLSTATE 57P05 {@code idle_session_timeout}, PostgreSQL 14+,
 * https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-IDLE-SESSION-TIMEOUT, and 25P03;
 * {@code Failures.isRetryable}, {@code Operations.operation}). The group commit ({@code Combiner}) runs the calls
 * queued in a lane as one statement on the <i>leader's</i> connection (finish-together.sql, take-together.sql);
 * when that statement fails, {@code Holds.finishTogether} / {@code takeTogether} swallow the failure ("every call
 * runs alone, on the path that retries") and the leader then runs its own call alone on the same handle.
 *
 * <p>Choreography (no sleeps): {@link CombinerQueue#underWay} makes a first call lead its lane and wait on a row
 * lock a host transaction holds, and queues a second and a third call behind it; once the lock is let go the
 * second leads a combined statement of the second and third. Just before that statement is sent, the test sets
 * {@code idle_session_timeout} on the leader's own session (a host pool's {@code connectionInitSql}, or a role's
 * setting, sets it the same way: {@code ALTER ROLE ... SET idle_session_timeout}) and waits, from a connection of
 * its own, until the server has ended that backend (gone from {@code pg_stat_activity}), as
 * {@code PostgresIdleSessionTest} does for 25P03.
 */
class PostgresRound438Test {
    private static final YearMonth MONTH = YearMonth.of(2033, 3);

    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    /** The server ends the store's session for idleness (57P05) just before the matched statement. */
    private static RecordingDataSource.Pause endedIdle() {
        return PostgresBackends.endedIdle("idle_session_timeout", DB.dataSource());
    }

    private static <T> Callable<T> capturing(AtomicReference<Object> outcome, Callable<T> call) {
        return () -> {
            try {
                T result = call.call();
                outcome.set(result);
                return result;
            } catch (Exception e) {
                outcome.set(e);
                return null;
            }
        };
    }

    private static QuotaPolicy policy() {
        return QuotaPolicy.builder().clock(MutableClock.at(MONTH, 10, 12)).defaultAllocation(10_000).build();
    }


    /** A hold of {@code subject} whose id falls in {@code lane} of the finish combiner. */
    private static Reservation holdInLane(JdbiQuotaStore store, String subject, int lane) {
        for (int i = 0; ; i++) {
            Reservation hold = store.reserve(subject, 3_000, null);
            if (CombinerQueue.lane(hold.id()) == lane) {
                return hold;
            }
            store.release(hold.id());
            if (i > 64) {
                throw new AssertionError("no hold in lane " + lane);
            }
        }
    }

    // ------------------------------------------------------------------ combined commits

    private void combinedCommits(String tag, boolean endLeaderSession) throws Exception {
        QuotaPolicy policy = policy();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        String locked = tag + "-lock";
        Reservation a = ops.reserve(locked, 3_000, null);
        int lane = CombinerQueue.lane(a.id());
        Reservation b = holdInLane(ops, tag + "-b", lane);
        Reservation c = holdInLane(ops, tag + "-c", lane);
        try (HikariDataSource host = HostPool.open(DB.database(), tag)) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            ds.pauseBefore(CombinerQueue.combinedFinish(false), endLeaderSession ? endedIdle() : conn -> { });
            AtomicReference<Object> first = new AtomicReference<>();
            AtomicReference<Object> second = new AtomicReference<>();
            AtomicReference<Object> third = new AtomicReference<>();
            CombinerQueue.underWay(DB.dataSource(), MONTH, true, locked,
                    capturing(first, () -> web.commit(a.id(), 1_000)),
                    capturing(second, () -> web.commit(b.id(), 2_500)), () -> { },
                    capturing(third, () -> web.commit(c.id(), 2_000)));
            assertTrue(ds.log().stream().anyMatch(CombinerQueue.combinedFinish(false)),
                    () -> "the second and third commits ran as one combined statement: " + ds.log());
            assertEquals(1_000, ((Reservation) first.get()).charged(), () -> "first: " + first.get());
            assertTrue(second.get() instanceof Reservation,
                    () -> "the combined statement's leader, whose session the server ended for idleness, is "
                            + "committed (run again like any call whose session ended idle), got: " + second.get());
            assertEquals(2_500, ((Reservation) second.get()).charged());
            assertEquals(2_000, ((Reservation) third.get()).charged(), () -> "third: " + third.get());
        }
        QuotaAccount lockAccount = ops.account(locked);
        QuotaAccount bAccount = ops.account(tag + "-b");
        QuotaAccount cAccount = ops.account(tag + "-c");
        assertEquals(1_000, lockAccount.used());
        assertEquals(2_500, bAccount.used(), "the leader's model call is charged its 2,500 tokens");
        assertEquals(0, bAccount.reserved(), "and its hold is not left open to expire");
        assertEquals(2_000, cAccount.used());
        assertEquals(0, cAccount.reserved());
    }

    /**
     * Found and fixed: two commits combined in one statement (finish-together.sql) on the leader's connection; the server
     * ends that session for idleness (57P05) just before the statement. {@code finishTogether} swallows the
     * failure and both run alone: the queued one on a connection of its own, the leader on the same, dead one:
     * its commit fails {@code STORE_UNAVAILABLE} (an I/O error, not retried), the hold stays open until it expires
     * and is returned, and the model call it held for is never charged.
     */
    @Test
    void aCombinedCommitWhoseLeaderSessionEndedIdleIsChargedRound438() throws Exception {
        combinedCommits("r438-fin", true);
    }

    /** Control: the same three commits, combined the same way, with the session left alone: all charged. */
    @Test
    void aCombinedCommitControlRound438() throws Exception {
        combinedCommits("r438-finok", false);
    }

    /**
     * Control: a lone commit (commit.sql) whose session the server ended for idleness is run again on another
     * connection and charged once (the retry the store already has).
     */
    @Test
    void aLoneCommitWhoseSessionEndedIdleIsRunAgainRound438() throws Exception {
        QuotaPolicy policy = policy();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        Reservation hold = ops.reserve("r438-lone", 3_000, null);
        try (HikariDataSource host = HostPool.open(DB.database(), "r438-lone")) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            ds.pauseBefore(sql -> sql.stripLeading().startsWith("WITH kept AS"), endedIdle());
            assertEquals(2_500, web.commit(hold.id(), 2_500).charged());
        }
        assertEquals(2_500, ops.account("r438-lone").used());
        assertEquals(0, ops.account("r438-lone").reserved());
    }

    // ------------------------------------------------------------------ combined takes

    private void combinedTakes(String tag, boolean endLeaderSession) throws Exception {
        QuotaPolicy policy = policy();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        String locked = tag + "-lock";
        int lane = CombinerQueue.lane(locked);
        String b = CombinerQueue.subjectInLane(tag + "-b", lane);
        String c = CombinerQueue.subjectInLane(tag + "-c", lane);
        ops.account(locked);
        ops.account(b);
        ops.account(c);
        try (HikariDataSource host = HostPool.open(DB.database(), tag)) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            ds.pauseBefore(CombinerQueue.combinedTake(false), endLeaderSession ? endedIdle() : conn -> { });
            AtomicReference<Object> first = new AtomicReference<>();
            AtomicReference<Object> second = new AtomicReference<>();
            AtomicReference<Object> third = new AtomicReference<>();
            CombinerQueue.underWay(DB.dataSource(), MONTH, true, locked,
                    capturing(first, () -> web.reserve(locked, 1_000, null)),
                    capturing(second, () -> web.reserve(b, 2_500, null)), () -> { },
                    capturing(third, () -> web.reserve(c, 2_000, null)));
            assertTrue(ds.log().stream().anyMatch(CombinerQueue.combinedTake(false)),
                    () -> "the second and third reserves ran as one combined statement: " + ds.log());
            assertTrue(first.get() instanceof Reservation, () -> "first: " + first.get());
            assertTrue(second.get() instanceof Reservation,
                    () -> "the combined statement's leader, whose session the server ended for idleness, is "
                            + "granted (run again like any call whose session ended idle), got: " + second.get());
            assertTrue(third.get() instanceof Reservation, () -> "third: " + third.get());
        }
        assertEquals(2_500, ops.account(b).reserved(), "the leader's hold is granted");
        assertEquals(2_000, ops.account(c).reserved());
    }

    /**
     * Found and fixed: the same for key-less reserves combined in take-together.sql: the leader's reserve fails
     * {@code STORE_UNAVAILABLE} on its dead connection instead of being run again.
     */
    @Test
    void aCombinedReserveWhoseLeaderSessionEndedIdleIsGrantedRound438() throws Exception {
        combinedTakes("r438-take", true);
    }

    /** Control: the same three reserves, combined, with the session left alone: all granted. */
    @Test
    void aCombinedReserveControlRound438() throws Exception {
        combinedTakes("r438-takeok", false);
    }

    // ------------------------------------------------------------------ a refusal run again

    private void refusedReserve(String subject, boolean endAfterRejectedEvent) throws Exception {
        QuotaPolicy policy = policy();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        ops.account(subject);
        try (HikariDataSource host = HostPool.open(DB.database(), subject)) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            // the statement after the REJECTED event's insert (Holds.reject: the event, then the account's read);
            // the insert ran in autocommit and is kept
            boolean[] inserted = {false};
            ds.pauseBefore(sql -> {
                if (inserted[0]) {
                    return true;
                }
                inserted[0] = sql.stripLeading().startsWith("INSERT INTO tq_event");
                return false;
            }, endAfterRejectedEvent ? endedIdle() : conn -> { });
            assertThrows(QuotaExceededException.class, () -> web.reserve(subject, 20_000, null));
            assertTrue(inserted[0], () -> "the REJECTED event was inserted: " + ds.log());
        }
        assertEquals(1, ops.events(subject, MONTH).stream().filter(e -> e.kind() == EventKind.REJECTED).count(),
                () -> "one refused call, one REJECTED event: " + ops.events(subject, MONTH));
        assertEquals(0, ops.account(subject).reserved());
    }

    /**
     * Found and fixed (log, not money): a refused reserve logs its REJECTED event in autocommit, then reads the account
     * for the refusal; the server ends the session for idleness between the two, and the whole reserve runs again
     * ({@code Operations.operation}), logging a second REJECTED event for the one refused call (blockStats and the
     * events read two refusals).
     */
    @Test
    void aRefusalWhoseSessionEndedIdleAfterItsEventIsLoggedOnceRound438() throws Exception {
        refusedReserve("r438-refused", true);
    }

    /** Control: the same refused reserve, session left alone: one REJECTED event. */
    @Test
    void aRefusalControlRound438() throws Exception {
        refusedReserve("r438-refusedok", false);
    }
}
