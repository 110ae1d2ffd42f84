package io.tokenquota.jdbi.breakit444;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.Team;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.RecordingDataSource;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.MutableClock;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.YearMonth;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.PGConnection;
import org.postgresql.jdbc.PgConnection;

/**
 * Round 444: the group commit's combined statements after round 442's rule ({@code Holds.afterCombinedFailure},
 * {@code Failures.mayHaveCommitted}, {@code Combiner} handing a batch's QuotaException to every caller), attacked
 * with the failures a PostgreSQL backend can meet while a combined statement waits on a row lock:
 * <ul>
 * <li>the connection lost after the server took the statement (pgjdbc's documented {@code Connection.abort}, JDBC
 * 4.1; "An I/O error occurred while sending to the backend", 08006): the server goes on and commits at Sync
 * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY), so each caller is told
 * STORE_UNAVAILABLE; what it then does is what a client does with a 503: a settlement tried again (the servlet
 * filter's background retry, docs/decisions.md "Charges land after the response"), a hold left to expire;</li>
 * <li>{@code pg_cancel_backend} (https://www.postgresql.org/docs/current/functions-admin.html, "Cancels the current
 * query of the session"): 57014, the statement and its transaction rolled back;</li>
 * <li>{@code pg_terminate_backend} (same page, "Terminates the session"): FATAL 57P01 while the statement waits,
 * rolled back with the session.</li>
 * </ul>
 * The promise: nothing charged twice, nothing lost, and what each caller is told equals what the ledger did (a
 * call told "failed" changed nothing, or its change is undone by expiry for a hold). Choreography as round 442's
 * (no sleeps): a host transaction holds the first call's row so that it leads the lane and waits; two calls queue;
 * the lock is let go; the second leads a combined statement, just before which the test takes the lock again; once
 * that backend is seen waiting ({@code pg_stat_activity.wait_event_type = 'Lock'}) the test acts on it.
 */
class PostgresRound444Test {
    private static final YearMonth MONTH = YearMonth.of(2035, 3);

    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    private enum Cut { NONE, ABORT, CANCEL, TERMINATE }

    private enum Kind { CONSUME, RESERVE, COMMIT }

    private static HikariDataSource pool(String name) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(DB.database().jdbcUrl());
        config.setUsername(DB.database().user());
        config.setPassword(DB.database().password());
        config.setPoolName(name + "-" + System.nanoTime());
        config.setMaximumPoolSize(6);
        config.setConnectionTimeout(10_000);
        return new HikariDataSource(config);
    }

    private static void lockAccount(Connection blocker, String subject) throws Exception {
        blocker.setAutoCommit(false);
        try (PreparedStatement ps = blocker.prepareStatement(
                "SELECT used FROM tq_account WHERE subject = ? AND plan_month = ? FOR UPDATE")) {
            ps.setString(1, subject);
            ps.setString(2, MONTH.toString());
            try (ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next(), "the account is there to lock");
            }
        }
    }

    private static void awaitLockWait(Connection monitor, int pid) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        String sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                + " AND wait_event_type = 'Lock'" + (pid == 0 ? "" : " AND pid = " + pid);
        while (System.nanoTime() < deadline) {
            try (PreparedStatement ps = monitor.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
                rs.next();
                if (rs.getInt(1) > 0) {
                    return;
                }
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        fail("no backend " + (pid == 0 ? "" : pid + " ") + "ever waited for the row lock");
    }

    private static void awaitGone(Connection monitor, int pid) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            try (PreparedStatement ps = monitor.prepareStatement("SELECT 1 FROM pg_stat_activity WHERE pid = ?")) {
                ps.setInt(1, pid);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return;
                    }
                }
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        fail("backend " + pid + " still there after 20 s");
    }

    private static void signal(Connection monitor, String function, int pid) throws Exception {
        try (PreparedStatement ps = monitor.prepareStatement("SELECT " + function + "(?)")) {
            ps.setInt(1, pid);
            try (ResultSet rs = ps.executeQuery()) {
                assertTrue(rs.next() && rs.getBoolean(1), function + " reached backend " + pid);
            }
        }
    }

    private static final class Call {
        final FutureTask<Object> task;
        final Thread thread;

        Call(String name, Callable<?> body) {
            this.task = new FutureTask<>(body::call);
            this.thread = new Thread(task, "r444-" + name);
            this.thread.start();
        }

        void awaitParkedInCombiner() {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (System.nanoTime() < deadline) {
                Object blocker = LockSupport.getBlocker(thread);
                if (blocker != null && blocker.getClass().getSimpleName().equals("Combiner")) {
                    return;
                }
                if (task.isDone()) {
                    fail(thread.getName() + " finished instead of queueing in the combiner");
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
            }
            fail(thread.getName() + " never queued in the combiner");
        }

        Object get() throws Exception {
            try {
                return task.get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                return e.getCause();
            }
        }
    }

    private static String describe(Object outcome) {
        if (outcome instanceof Reservation r) {
            return r.state() + " " + (r.state() == io.tokenquota.ReservationState.HELD ? r.held() : r.charged());
        }
        return outcome instanceof QuotaException q ? q.code().name() : String.valueOf(outcome);
    }

    private static boolean unavailable(Object outcome) {
        return outcome instanceof QuotaException q && q.code() == ErrorCode.STORE_UNAVAILABLE;
    }

    private static String figures(JdbiQuotaStore store, String label, String subject) {
        var account = store.account(subject, MONTH).orElseThrow();
        long charges = store.events(subject, MONTH).stream().filter(e -> e.kind() == EventKind.COMMITTED).count();
        return label + " used=" + account.used() + " reserved=" + account.reserved() + " charges=" + charges;
    }

    /**
     * Three calls of {@code kind} (1,000, 2,500, 2,000 tokens; a commit's hold is 3,000), the second and third
     * combined in one statement on which {@code cut} acts while it waits for a row lock. Returns what the second and
     * third callers were told, and leaves the outcome in the ledger for the caller to check.
     */
    private Object[] scenario(String tag, boolean team, Kind kind, Cut cut, JdbiQuotaStore[] stores, String[] subjects,
                              MutableClock clock, Reservation[] holds) throws Exception {
        QuotaPolicy policy = QuotaPolicy.builder().clock(clock).defaultAllocation(100_000)
                .holdTtl(Duration.ofMinutes(5)).build();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        stores[0] = ops;
        String teamSubject = Team.subject(tag + "-team");
        String a = tag + "-a";
        String b = tag + "-b";
        String c = tag + "-c";
        subjects[0] = a;
        subjects[1] = b;
        subjects[2] = c;
        subjects[3] = teamSubject;
        if (team) {
            for (String m : new String[] {a, b, c}) {
                ops.setTeam(m, tag + "-team");
            }
            ops.account(teamSubject);
        }
        for (String s : new String[] {a, b, c}) {
            ops.account(s);
        }
        String firstLock = team ? teamSubject : a;
        String secondLock = team ? teamSubject : b;
        Predicate<String> combined = switch (kind) {
            case CONSUME, RESERVE -> sql -> sql.stripLeading().startsWith("WITH RECURSIVE calls AS")
                    && sql.contains("team_event_id") == team;
            case COMMIT -> sql -> sql.stripLeading().startsWith("WITH calls AS") && sql.contains("team_event_id") == team;
        };
        long[] tokens = {1_000, 2_500, 2_000};
        Object r2;
        Object r3;
        try (HikariDataSource host = pool(tag);
             Connection blocker = DB.dataSource().getConnection();
             Connection blocker2 = DB.dataSource().getConnection();
             Connection monitor = DB.dataSource().getConnection()) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            stores[1] = web;
            if (team) {
                for (String m : new String[] {a, b, c}) {
                    web.release(web.reserve(m, 1, null).id());
                }
            }
            if (kind == Kind.COMMIT) {
                holds[0] = web.reserve(a, 3_000, null);
                holds[1] = web.reserve(b, 3_000, null);
                holds[2] = web.reserve(c, 3_000, null);
            }
            AtomicReference<Connection> leader = new AtomicReference<>();
            CountDownLatch sending = new CountDownLatch(1);
            ds.pauseBefore(combined, conn -> {
                lockAccount(blocker2, secondLock);
                leader.set(conn);
                sending.countDown();
            });
            String[] who = {a, b, c};
            Callable<?>[] bodies = new Callable<?>[3];
            for (int i = 0; i < 3; i++) {
                int k = i;
                bodies[i] = switch (kind) {
                    case CONSUME -> () -> web.consume(who[k], tokens[k], null);
                    case RESERVE -> () -> web.reserve(who[k], tokens[k], null);
                    case COMMIT -> () -> web.commit(holds[k].id(), tokens[k]);
                };
            }
            lockAccount(blocker, firstLock);
            Call first = new Call("first", bodies[0]);
            awaitLockWait(monitor, 0);
            Call second = new Call("second", bodies[1]);
            second.awaitParkedInCombiner();
            Call third = new Call("third", bodies[2]);
            third.awaitParkedInCombiner();
            blocker.commit();

            assertTrue(sending.await(20, TimeUnit.SECONDS), () -> "no combined statement: " + ds.log());
            int pid = leader.get().unwrap(PGConnection.class).getBackendPID();
            awaitLockWait(monitor, pid);
            switch (cut) {
                case ABORT -> leader.get().unwrap(PgConnection.class).abort(Runnable::run);
                case CANCEL -> signal(monitor, "pg_cancel_backend", pid);
                case TERMINATE -> signal(monitor, "pg_terminate_backend", pid);
                case NONE -> { }
            }
            blocker2.commit();
            Object r1 = first.get();
            r2 = second.get();
            r3 = third.get();
            if (cut == Cut.ABORT || cut == Cut.TERMINATE) {
                awaitGone(monitor, pid);
            }
            assertTrue(r1 instanceof Reservation, () -> "first: " + r1);
            assertTrue(ds.log().stream().anyMatch(combined), () -> "a combined statement was sent: " + ds.log());
        }
        return new Object[] {r2, r3};
    }

    private String ledger(JdbiQuotaStore ops, boolean team, String[] s) {
        return figures(ops, "a", s[0]) + ", " + figures(ops, "b", s[1]) + ", " + figures(ops, "c", s[2])
                + (team ? ", " + figures(ops, "team", s[3]) : "");
    }

    // ------------------------------------------------------------------ commits lost, then tried again

    /**
     * Combined commits (finish-together.sql / team-finish-together.sql) whose connection is lost while the statement
     * waits; the server commits it and the callers hear STORE_UNAVAILABLE. Each then commits again, as the filter's
     * settlement retry does: answered COMMITTED at its figure, each hold charged once, nothing left held.
     */
    private void lostCommitsTriedAgain(String tag, boolean team, Cut cut) throws Exception {
        JdbiQuotaStore[] stores = new JdbiQuotaStore[2];
        String[] s = new String[4];
        Reservation[] holds = new Reservation[3];
        Object[] told = scenario(tag, team, Kind.COMMIT, cut, stores, s, MutableClock.at(MONTH, 10, 12), holds);
        JdbiQuotaStore ops = stores[0];
        String firstAnswers = "second " + describe(told[0]) + ", third " + describe(told[1]);
        // what a caller told STORE_UNAVAILABLE does: settle again
        Reservation again2 = ops.commit(holds[1].id(), 2_500);
        Reservation again3 = ops.commit(holds[2].id(), 2_000);
        String expected = "again: second COMMITTED 2500, third COMMITTED 2000; a used=1000 reserved=0 charges=1, "
                + "b used=2500 reserved=0 charges=1, c used=2000 reserved=0 charges=1"
                + (team ? ", team used=5500 reserved=0 charges=3" : "");
        String actual = "again: second " + describe(again2) + ", third " + describe(again3) + "; " + ledger(ops, team, s);
        assertEquals(expected, actual, "first told: " + firstAnswers);
    }

    @Test
    void combinedCommitsLostThenTriedAgainRound444() throws Exception {
        lostCommitsTriedAgain("r444-clost", false, Cut.ABORT);
    }

    @Test
    void combinedMemberCommitsLostThenTriedAgainRound444() throws Exception {
        lostCommitsTriedAgain("r444-tclost", true, Cut.ABORT);
    }

    @Test
    void combinedCommitsKeptThenTriedAgainControlRound444() throws Exception {
        lostCommitsTriedAgain("r444-cok", false, Cut.NONE);
    }

    @Test
    void combinedMemberCommitsTerminatedThenTriedAgainRound444() throws Exception {
        lostCommitsTriedAgain("r444-tcterm", true, Cut.TERMINATE);
    }

    // ------------------------------------------------------------------ holds lost: returned by expiry

    /**
     * Combined key-less reserves whose connection is lost while the statement waits; the server grants them, the
     * callers hear STORE_UNAVAILABLE and never learn the holds' ids. Past the TTL the sweep returns them: nothing
     * used, nothing reserved, on member and team alike.
     */
    private void lostReservesExpire(String tag, boolean team) throws Exception {
        JdbiQuotaStore[] stores = new JdbiQuotaStore[2];
        String[] s = new String[4];
        MutableClock clock = MutableClock.at(MONTH, 10, 12);
        Object[] told = scenario(tag, team, Kind.RESERVE, Cut.ABORT, stores, s, clock, new Reservation[3]);
        JdbiQuotaStore ops = stores[0];
        assertTrue(unavailable(told[0]) && unavailable(told[1]),
                () -> "told: second " + describe(told[0]) + ", third " + describe(told[1]));
        clock.advance(Duration.ofMinutes(5).plusSeconds(1));
        ops.expireStale();
        // the first call's hold (1,000) expires too: it was never settled
        String expected = "a used=0 reserved=0 charges=0, b used=0 reserved=0 charges=0, c used=0 reserved=0 charges=0"
                + (team ? ", team used=0 reserved=0 charges=0" : "");
        assertEquals(expected, ledger(ops, team, s));
    }

    @Test
    void combinedReservesLostAreReturnedByExpiryRound444() throws Exception {
        lostReservesExpire("r444-rlost", false);
    }

    @Test
    void combinedMemberReservesLostAreReturnedByExpiryRound444() throws Exception {
        lostReservesExpire("r444-trlost", true);
    }

    // ------------------------------------------------------------------ consumes cancelled or terminated

    /**
     * Combined key-less consumes whose statement is cancelled (57014, rolled back: each call runs alone and is charged
     * once, told so) or whose session is terminated (57P01, rolled back with the session: told STORE_UNAVAILABLE and
     * charged nothing; the rule a lone call follows).
     */
    private void cutConsumes(String tag, boolean team, Cut cut) throws Exception {
        JdbiQuotaStore[] stores = new JdbiQuotaStore[2];
        String[] s = new String[4];
        Object[] told = scenario(tag, team, Kind.CONSUME, cut, stores, s, MutableClock.at(MONTH, 10, 12),
                new Reservation[3]);
        JdbiQuotaStore ops = stores[0];
        String answers = "second " + describe(told[0]) + ", third " + describe(told[1]);
        boolean charged = !(unavailable(told[0]) && unavailable(told[1]));
        String expected = charged
                ? "second COMMITTED 2500, third COMMITTED 2000; a used=1000 reserved=0 charges=1, b used=2500 reserved=0"
                        + " charges=1, c used=2000 reserved=0 charges=1" + (team ? ", team used=5500 reserved=0 charges=3" : "")
                : "second STORE_UNAVAILABLE, third STORE_UNAVAILABLE; a used=1000 reserved=0 charges=1, b used=0"
                        + " reserved=0 charges=0, c used=0 reserved=0 charges=0"
                        + (team ? ", team used=1000 reserved=0 charges=1" : "");
        assertEquals(expected, answers + "; " + ledger(ops, team, s));
    }

    @Test
    void combinedConsumesCancelledRunAloneOnceRound444() throws Exception {
        cutConsumes("r444-pcancel", false, Cut.CANCEL);
    }

    @Test
    void combinedMemberConsumesCancelledRunAloneOnceRound444() throws Exception {
        cutConsumes("r444-tcancel", true, Cut.CANCEL);
    }

    @Test
    void combinedConsumesTerminatedChargeNothingRound444() throws Exception {
        cutConsumes("r444-pterm", false, Cut.TERMINATE);
    }

    @Test
    void combinedMemberConsumesTerminatedChargeNothingRound444() throws Exception {
        cutConsumes("r444-tterm", true, Cut.TERMINATE);
    }
}
