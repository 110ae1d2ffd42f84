package io.tokenquota.jdbi.breakit444;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.Team;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.RecordingDataSource;
import io.tokenquota.jdbi.testing.CombinerQueue;
import io.tokenquota.jdbi.testing.CombinerQueue.Cut;
import io.tokenquota.jdbi.testing.HostPool;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.concurrent.Callable;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

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

    private enum Kind { CONSUME, RESERVE, COMMIT }

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
     * What {@link #scenario} leaves for its caller to check: a store on the test's own pool to read the ledger with,
     * the accounts (a, b, c, then the team's), the holds a commit scenario settled, and what the second and third
     * callers were told.
     */
    private record Run(JdbiQuotaStore ops, boolean team, String[] subjects, Reservation[] holds, Object second,
                       Object third) {
        /** What the second and third callers were told, in one line. */
        String told() {
            return "second " + describe(second) + ", third " + describe(third);
        }

        boolean bothUnavailable() {
            return unavailable(second) && unavailable(third);
        }

        /** Every account's figures in one line, so that a failure shows them all. */
        String ledger() {
            return figures(ops, "a", subjects[0]) + ", " + figures(ops, "b", subjects[1]) + ", "
                    + figures(ops, "c", subjects[2]) + (team ? ", " + figures(ops, "team", subjects[3]) : "");
        }
    }

    /**
     * Three calls of {@code kind} (1,000, 2,500, 2,000 tokens; a commit's hold is 3,000), the second and third
     * combined in one statement on which {@code cut} acts while it waits for a row lock
     * ({@link CombinerQueue#cutWhileWaiting}). Returns what the second and third callers were told, and leaves the
     * outcome in the ledger for the caller to check.
     */
    private Run scenario(String tag, boolean team, Kind kind, Cut cut, MutableClock clock) throws Exception {
        QuotaPolicy policy = QuotaPolicy.builder().clock(clock).defaultAllocation(100_000)
                .holdTtl(Duration.ofMinutes(5)).build();
        JdbiQuotaStore ops = JdbiQuotaStore.builder().dataSource(DB.dataSource()).policy(policy)
                .installSchema(true).build();
        String teamSubject = Team.subject(tag + "-team");
        String a = tag + "-a";
        String b = tag + "-b";
        String c = tag + "-c";
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
            case CONSUME, RESERVE -> CombinerQueue.combinedTake(team);
            case COMMIT -> CombinerQueue.combinedFinish(team);
        };
        long[] tokens = {1_000, 2_500, 2_000};
        Reservation[] holds = new Reservation[3];
        try (HikariDataSource host = HostPool.open(DB.database(), tag)) {
            RecordingDataSource ds = new RecordingDataSource(host);
            JdbiQuotaStore web = JdbiQuotaStore.builder().dataSource(ds).policy(policy).installSchema(false).build();
            if (team) {
                CombinerQueue.learnMembers(web, a, b, c);
            }
            if (kind == Kind.COMMIT) {
                holds[0] = web.reserve(a, 3_000, null);
                holds[1] = web.reserve(b, 3_000, null);
                holds[2] = web.reserve(c, 3_000, null);
            }
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
            Object[] outcomes = CombinerQueue.cutWhileWaiting(DB.dataSource(), MONTH, ds, combined, firstLock,
                    secondLock, cut, bodies[0], bodies[1], bodies[2]);
            return new Run(ops, team, new String[] {a, b, c, teamSubject}, holds, outcomes[0], outcomes[1]);
        }
    }

    // ------------------------------------------------------------------ commits lost, then tried again

    /**
     * Combined commits (finish-together.sql / team-finish-together.sql) whose connection is lost while the statement
     * waits; the server commits it and the callers hear STORE_UNAVAILABLE. Each then commits again, as the filter's
     * settlement retry does: answered COMMITTED at its figure, each hold charged once, nothing left held.
     */
    private void lostCommitsTriedAgain(String tag, boolean team, Cut cut) throws Exception {
        Run run = scenario(tag, team, Kind.COMMIT, cut, MutableClock.at(MONTH, 10, 12));
        String firstAnswers = run.told();
        // what a caller told STORE_UNAVAILABLE does: settle again
        Reservation again2 = run.ops().commit(run.holds()[1].id(), 2_500);
        Reservation again3 = run.ops().commit(run.holds()[2].id(), 2_000);
        String expected = "again: second COMMITTED 2500, third COMMITTED 2000; a used=1000 reserved=0 charges=1, "
                + "b used=2500 reserved=0 charges=1, c used=2000 reserved=0 charges=1"
                + (team ? ", team used=5500 reserved=0 charges=3" : "");
        String actual = "again: second " + describe(again2) + ", third " + describe(again3) + "; " + run.ledger();
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
        MutableClock clock = MutableClock.at(MONTH, 10, 12);
        Run run = scenario(tag, team, Kind.RESERVE, Cut.ABORT, clock);
        assertTrue(run.bothUnavailable(), () -> "told: " + run.told());
        clock.advance(Duration.ofMinutes(5).plusSeconds(1));
        run.ops().expireStale();
        // the first call's hold (1,000) expires too: it was never settled
        String expected = "a used=0 reserved=0 charges=0, b used=0 reserved=0 charges=0, c used=0 reserved=0 charges=0"
                + (team ? ", team used=0 reserved=0 charges=0" : "");
        assertEquals(expected, run.ledger());
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
        Run run = scenario(tag, team, Kind.CONSUME, cut, MutableClock.at(MONTH, 10, 12));
        boolean charged = !run.bothUnavailable();
        String expected = charged
                ? "second COMMITTED 2500, third COMMITTED 2000; a used=1000 reserved=0 charges=1, b used=2500 reserved=0"
                        + " charges=1, c used=2000 reserved=0 charges=1" + (team ? ", team used=5500 reserved=0 charges=3" : "")
                : "second STORE_UNAVAILABLE, third STORE_UNAVAILABLE; a used=1000 reserved=0 charges=1, b used=0"
                        + " reserved=0 charges=0, c used=0 reserved=0 charges=0"
                        + (team ? ", team used=1000 reserved=0 charges=1" : "");
        assertEquals(expected, run.told() + "; " + run.ledger());
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
