package io.tokenquota.jdbi.breakit442;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.EventKind;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.Team;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.RecordingDataSource;
import io.tokenquota.jdbi.testing.CombinerQueue;
import io.tokenquota.jdbi.testing.CombinerQueue.Cut;
import io.tokenquota.jdbi.testing.HostPool;
import io.tokenquota.jdbi.testing.PostgresBackends;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.MutableClock;
import java.sql.Connection;
import java.time.YearMonth;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 442: the PostgreSQL store's group commit ({@code Combiner}: take-together.sql, team-take-together.sql) when
 * the connection of a combined statement is lost <i>after the server took the statement</i>, so that the server
 * commits it while the store sees an I/O error (SQLSTATE 08006).
 *
 * <p>The store's own rule (docs/storage.md, Concurrency item 5; {@code Failures.isRetryable}; the control
 * {@code PostgresIdleSessionTest.aConnectionLostAtCommitIsNotRunAgain}): "Any other connection failure, an {@code 08}
 * on {@code COMMIT} included, is not run again: a {@code COMMIT} whose answer was lost may have committed". A lone
 * consume obeys it (STORE_UNAVAILABLE, run once). A combined statement runs in autocommit, so its failure <i>is</i> a
 * COMMIT whose answer was lost, yet {@code Holds.teamTakeTogether} / {@code takeTogether} catch every failure and hand
 * each call back to run alone ({@code Holds.eachAlone}): each key-less consume of the batch is charged a second time.
 *
 * <p>Where the shapes come from:
 * <ul>
 * <li>The statement is sent with the extended query protocol (pgjdbc: Parse/Bind/Execute/Sync in one write); per
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY the Sync "causes the backend to
 * close the current transaction if it's not inside a BEGIN/COMMIT transaction block ('close' meaning to commit if
 * no error)"; the answer (rows, ReadyForQuery) is flushed after that.</li>
 * <li>A backend waiting for a row lock does not notice its client went away unless
 * {@code client_connection_check_interval} is set (default 0, disabled:
 * https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-CLIENT-CONNECTION-CHECK-INTERVAL), so
 * it goes on, commits, and only fails when it writes the answer.</li>
 * <li>The connection is lost with {@code java.sql.Connection#abort} (JDBC 4.1; pgjdbc's {@code PgConnection.abort}
 * closes the socket; the reading thread gets "An I/O error occurred while sending to the backend", 08006): what a
 * TCP reset by a NAT, load balancer or proxy (PgBouncer, RDS Proxy) failing over, or the pool's own
 * {@code socketTimeout} (pgjdbc's documented connection property) does to a statement that waits on a row lock.</li>
 * </ul>
 *
 * <p>Choreography (no sleeps): a host transaction holds the row the first call needs, so it leads its lane and
 * waits; two more calls queue behind it (as {@code CombinerQueue} does); the lock is let go; the second call leads
 * the combined statement of the second and third, and just before it is sent the test takes the row lock again from
 * a connection of its own. Once the combined statement's backend is seen waiting on that lock
 * ({@code pg_stat_activity.wait_event_type = 'Lock'}), the test loses its connection (abort), then lets the lock go.
 */
class PostgresRound442Test {
    private static final YearMonth MONTH = YearMonth.of(2035, 2);

    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    private static QuotaPolicy policy() {
        return QuotaPolicy.builder().clock(MutableClock.at(MONTH, 10, 12)).defaultAllocation(100_000).build();
    }

    private static String describe(Object outcome) {
        return outcome instanceof Reservation r ? r.state() + " " + r.charged() : String.valueOf(outcome);
    }

    private static long used(JdbiQuotaStore store, String subject) {
        return store.account(subject, MONTH).orElseThrow().used();
    }

    private static long charges(JdbiQuotaStore store, String subject) {
        return store.events(subject, MONTH).stream().filter(e -> e.kind() == EventKind.COMMITTED).count();
    }

    /**
     * Three key-less consumes (1,000, 2,500, 2,000 tokens), the second and third combined in one statement whose
     * connection is lost ({@code lose}) while it waits for {@code lockedSubject}'s row. {@code team}: three members of
     * one team (team-take-together.sql), the team's row locked; else three users of one lane (take-together.sql),
     * the second's row locked for the combined statement.
     */
    private void combinedConsumes(String tag, boolean team, boolean lose) throws Exception {
        QuotaPolicy policy = policy();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        String teamId = tag + "-team";
        String teamSubject = Team.subject(teamId);
        String a;
        String b;
        String c;
        if (team) {
            a = tag + "-a";
            b = tag + "-b";
            c = tag + "-c";
            for (String m : new String[] {a, b, c}) {
                ops.setTeam(m, teamId);
            }
            ops.account(teamSubject);
        } else {
            a = tag + "-a";
            int lane = CombinerQueue.lane(a);
            b = CombinerQueue.subjectInLane(tag + "-b", lane);
            c = CombinerQueue.subjectInLane(tag + "-c", lane);
        }
        for (String s : new String[] {a, b, c}) {
            ops.account(s);
        }
        // first lock: the first call leads its lane and waits; second: the combined statement waits
        String firstLock = team ? teamSubject : a;
        String secondLock = team ? teamSubject : b;
        Predicate<String> combined = CombinerQueue.combinedTake(team);
        String told;
        try (HikariDataSource host = HostPool.open(DB.database(), tag)) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            if (team) {
                CombinerQueue.learnMembers(web, a, b, c);
            }
            // lose: the connection is lost while the server still has the statement, so it goes on and commits
            Object[] outcomes = CombinerQueue.cutWhileWaiting(DB.dataSource(), MONTH, ds, combined, firstLock,
                    secondLock, lose ? Cut.ABORT : Cut.NONE, () -> web.consume(a, 1_000, null),
                    () -> web.consume(b, 2_500, null), () -> web.consume(c, 2_000, null));
            told = "second " + describe(outcomes[0]) + ", third " + describe(outcomes[1]);
        }
        // every figure in one line, so that a failure shows them all: used and COMMITTED events per account
        String expected = "a used=1000 events=1, b used=2500 events=1, c used=2000 events=1"
                + (team ? ", team used=5500 events=3" : "");
        String actual = "a used=" + used(ops, a) + " events=" + charges(ops, a) + ", b used=" + used(ops, b)
                + " events=" + charges(ops, b) + ", c used=" + used(ops, c) + " events=" + charges(ops, c)
                + (team ? ", team used=" + used(ops, teamSubject) + " events=" + charges(ops, teamSubject) : "");
        assertEquals(expected, actual, "each key-less consume is charged once, on each of its accounts; the callers"
                + " were told: " + told);
    }

    /**
     * Finding: three team members' key-less consumes, the second and third combined in team-take-together.sql; its
     * connection is lost while the statement waits on the team's row, and the server commits it. The store runs both
     * calls again alone (eachAlone): each member, and the team, charged twice.
     */
    @Test
    void aCombinedMemberConsumeWhoseAnswerWasLostIsChargedOnceRound442() throws Exception {
        combinedConsumes("r442-tlost", true, true);
    }

    /** Control: the same three member consumes, combined, connection kept: each charged once, on both accounts. */
    @Test
    void aCombinedMemberConsumeControlRound442() throws Exception {
        combinedConsumes("r442-tok", true, false);
    }

    /** Finding: the same for plain users' key-less consumes combined in take-together.sql: charged twice. */
    @Test
    void aCombinedConsumeWhoseAnswerWasLostIsChargedOnceRound442() throws Exception {
        combinedConsumes("r442-plost", false, true);
    }

    /** Control: the same plain consumes, combined, connection kept: each charged once. */
    @Test
    void aCombinedConsumeControlRound442() throws Exception {
        combinedConsumes("r442-pok", false, false);
    }

    /**
     * Control, the store's rule on its lone path: a key-less consume alone, its connection lost the same way while
     * its statement waits on its account's row; the server commits it. The store does not run it again
     * (STORE_UNAVAILABLE, an 08): charged once.
     */
    @Test
    void aLoneConsumeWhoseAnswerWasLostIsNotRunAgainRound442() throws Exception {
        QuotaPolicy policy = policy();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        String a = "r442-lone";
        ops.account(a);
        Object outcome;
        try (HikariDataSource host = HostPool.open(DB.database(), a);
             Connection blocker = DB.dataSource().getConnection();
             Connection monitor = DB.dataSource().getConnection()) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            AtomicReference<Connection> lone = new AtomicReference<>();
            CountDownLatch sending = new CountDownLatch(1);
            ds.pauseBefore(sql -> true, conn -> {
                lone.set(conn);
                sending.countDown();
            });
            PostgresBackends.lockAccount(blocker, a, MONTH);
            CombinerQueue.Call call = CombinerQueue.Call.start("lone", () -> web.consume(a, 1_000, null));
            assertTrue(sending.await(20, TimeUnit.SECONDS));
            int pid = PostgresBackends.pid(lone.get());
            PostgresBackends.awaitLockWait(monitor, pid);
            PostgresBackends.abort(lone.get());
            blocker.commit();
            outcome = call.outcome();
            PostgresBackends.awaitGone(monitor, pid);
        }
        assertTrue(outcome instanceof io.tokenquota.QuotaException q && q.code() == io.tokenquota.ErrorCode.STORE_UNAVAILABLE,
                () -> "told: " + outcome);
        assertEquals("used=1000 events=1", "used=" + used(ops, a) + " events=" + charges(ops, a));
    }
}
