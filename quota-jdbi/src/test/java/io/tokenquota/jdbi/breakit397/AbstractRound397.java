package io.tokenquota.jdbi.breakit397;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 397 (a ledger round: teams under concurrency), on the in-memory reference, H2 and PostgreSQL. The
 * rules: docs/semantics.md "Teams" (all or nothing, the stricter limit wins, settling: "a team's used is
 * always the sum of its holds' charges and its reserved the sum of its open holds"; "A hold already open
 * keeps its team"), "Holds that outlive their month" and "Reservations" (late commit), "Credits and
 * refunds" (setPlan never below used + reserved).
 */
abstract class AbstractRound397 {
    /** A store on the shared database (each call a new instance: several instances on one database). */
    protected abstract QuotaStore store(QuotaPolicy policy);

    static final YearMonth JAN = YearMonth.of(2032, 1);
    static final YearMonth FEB = YearMonth.of(2032, 2);

    static final int MEMBERS = 16;
    static final int THREADS = 24;
    static final long TEAM_PLAN = 4_000;
    static final long LOW_TEAM_PLAN = 2_500;
    static final long TIGHT = 400;

    protected String p;
    protected MutableClock clock;

    @BeforeEach
    void start() {
        p = "r397" + UUID.randomUUID().toString().substring(0, 8) + "-";
        clock = MutableClock.at(JAN, 20, 12);
    }

    QuotaPolicy policy(OverrunPolicy overrun) {
        return QuotaPolicy.builder().clock(clock).defaultAllocation(100_000).overrunPolicy(overrun).build();
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    String member(int i) {
        return p + "m" + i;
    }

    static boolean tight(int i) {
        return i % 4 == 0;
    }

    /** What the racers did: every finished call (its final state, with its team and month), every refusal. */
    static final class Log {
        final ConcurrentLinkedQueue<Reservation> finished = new ConcurrentLinkedQueue<>();
        final List<String> violations = new CopyOnWriteArrayList<>();
    }

    /**
     * One racer: {@code ops} random calls by random members (so many threads share each member), holds
     * keyless and keyed, of 31 days and of one hour, consumes, and commits (never beyond the hold) or
     * releases of holds it took; its open holds are left in {@code open}.
     */
    void race(QuotaStore s, Random rnd, int ops, List<Reservation> open, Log log, String tag) {
        for (int i = 0; i < ops; i++) {
            int kind = rnd.nextInt(10);
            int m = rnd.nextInt(MEMBERS);
            String member = member(m);
            try {
                if (kind < 4) {
                    Duration ttl = rnd.nextInt(3) == 0 ? Duration.ofHours(1) : Duration.ofDays(31);
                    HoldRequest.Builder b = HoldRequest.of(member, 50).ttl(ttl);
                    if (kind == 3) {
                        b.idempotencyKey(tag + "-" + i);
                    }
                    Reserved r = s.reserve(b.build());
                    if (r.replayed()) {
                        log.violations.add("a fresh key replayed: " + r);
                    }
                    if (r.reservation().teamId() != null && (r.team() == null || r.team().available() < 0)) {
                        log.violations.add("a member's grant over-held its team: " + r);
                    }
                    if (r.account().available() < 0) {
                        log.violations.add("a grant over-held its member: " + r);
                    }
                    open.add(r.reservation());
                } else if (kind < 6) {
                    log.finished.add(s.consume(HoldRequest.of(member, 50).build()));
                } else if (!open.isEmpty()) {
                    Reservation h = open.remove(rnd.nextInt(open.size()));
                    Reservation done = rnd.nextBoolean() ? s.commit(h.id(), rnd.nextInt(51)) : s.release(h.id());
                    log.finished.add(done);
                }
            } catch (QuotaExceededException e) {
                if (e.available() >= e.requested()) {
                    log.violations.add("refused with room: " + e.getMessage() + " available " + e.available());
                }
                if (!tight(m) && e.scope() != QuotaExceededException.Scope.TEAM) {
                    log.violations.add(member + " (plan 100,000) refused by " + e.scope() + ": " + e.getMessage());
                }
                if (e.scope() == QuotaExceededException.Scope.USER && e.limit() != TIGHT) {
                    log.violations.add("a USER refusal names limit " + e.limit() + ": " + e.getMessage());
                }
            }
        }
    }

    void finishAll(QuotaStore s, Random rnd, List<Reservation> open, Log log) {
        for (Reservation h : open) {
            log.finished.add(rnd.nextBoolean() ? s.commit(h.id(), rnd.nextInt(51)) : s.release(h.id()));
        }
        open.clear();
    }

    /**
     * 24 threads on two store instances, 16 members of acme and globex (every fourth with a 400 limit of its
     * own), while a mover thread moves four members between acme, globex and no team and a planner lowers and
     * raises acme's plan. At the end of January each thread keeps its open holds; the clock then reads
     * February 2nd (one-hour holds are stale; a sweeper expires them) and the threads race again, finishing
     * January's holds late among February's calls. Afterwards, for each (account, month): used is exactly the
     * sum of the charges of its finished calls (a team's: of the calls held against it), nothing is reserved.
     */
    void membersRacingMovesPlansAndAMonthTurn(OverrunPolicy overrun) throws Exception {
        membersRacingMovesPlansAndAMonthTurn(overrun, false);
    }

    /**
     * {@code lagging}: in February the second instance is one whose clock still reads January 31st, 23:00
     * (built then, so its database-clock offset is measured: docs/semantics.md "One clock for expiry"); its
     * writes land in the later of its clock's month and the subject's (or team's) latest account.
     */
    void membersRacingMovesPlansAndAMonthTurn(OverrunPolicy overrun, boolean lagging) throws Exception {
        QuotaStore one = store(policy(overrun));
        QuotaStore two = store(policy(overrun));
        String acme = p + "acme", globex = p + "globex";
        one.setPlan(Team.subject(acme), TEAM_PLAN);
        one.setPlan(Team.subject(globex), TEAM_PLAN);
        for (int i = 0; i < MEMBERS; i++) {
            if (tight(i)) {
                one.setPlan(member(i), TIGHT);
            }
            one.setTeam(member(i), i % 2 == 0 ? acme : globex);
        }
        Log log = new Log();
        List<List<Reservation>> open = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            open.add(new ArrayList<>());
        }
        runPhase(one, two, log, open, acme, globex, false);
        clock.set(Instant.parse("2032-02-02T10:00:00Z"));
        QuotaStore first = one;
        QuotaStore second = two;
        if (lagging) {
            // instances built after the step, so both measure their offset to the database's clock and agree on
            // it (a clock stepped after a store was built is not followed: docs/semantics.md, "One clock for
            // expiry"; with one stepped and one not, each saw the other's fresh one-hour holds as stale)
            // (a clock object of its own: stores on one clock share their first measurement)
            first = store(QuotaPolicy.builder().clock(new MutableClock(Instant.parse("2032-02-02T10:00:00Z")))
                    .defaultAllocation(100_000).overrunPolicy(overrun).build());
            MutableClock behind = new MutableClock(Instant.parse("2032-01-31T23:00:00Z"));
            second = store(QuotaPolicy.builder().clock(behind).defaultAllocation(100_000).overrunPolicy(overrun)
                    .build());
        }
        runPhase(first, second, log, open, acme, globex, true);
        assertEquals(List.of(), log.violations);

        Map<String, Long> expected = new TreeMap<>();
        for (Reservation r : log.finished) {
            if (r.state() == ReservationState.HELD) {
                throw new AssertionError("left open: " + r);
            }
            expected.merge(r.subject() + "@" + r.month(), r.charged(), Long::sum);
            if (r.teamId() != null) {
                expected.merge("team " + r.teamId() + "@" + r.month(), r.charged(), Long::sum);
            }
        }
        Map<String, Long> actual = new TreeMap<>();
        List<String> owners = new ArrayList<>();
        for (int i = 0; i < MEMBERS; i++) {
            owners.add(member(i));
        }
        owners.add(Team.subject(acme));
        owners.add(Team.subject(globex));
        List<String> reservedLeft = new ArrayList<>();
        for (String owner : owners) {
            for (YearMonth month : List.of(JAN, FEB)) {
                QuotaAccount a = one.account(owner, month).orElse(null);
                if (a == null) {
                    continue;
                }
                String key = (Team.isTeam(owner) ? "team " + owner.substring(Team.SUBJECT_PREFIX.length()) : owner)
                        + "@" + month;
                if (a.used() != 0) {
                    actual.put(key, a.used());
                }
                if (a.reserved() != 0) {
                    reservedLeft.add(key + " reserved " + a.reserved());
                }
            }
        }
        expected.values().removeIf(v -> v == 0);
        assertEquals(List.of(), reservedLeft, "nothing stays reserved");
        assertEquals(expected, actual, "each account's used is the sum of its calls' charges");
    }

    private void runPhase(QuotaStore one, QuotaStore two, Log log, List<List<Reservation>> open, String acme,
                          String globex, boolean finish) throws Exception {
        AtomicBoolean racing = new AtomicBoolean(true);
        ExecutorService pool = Executors.newFixedThreadPool(THREADS + 3);
        try {
            CyclicBarrier go = new CyclicBarrier(THREADS + 2);
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int n = t;
                QuotaStore s = n % 2 == 0 ? one : two;
                workers.add(pool.submit((Callable<Void>) () -> {
                    Random rnd = new Random(397L * (n + 1) + (finish ? 7 : 0));
                    go.await(2, TimeUnit.MINUTES);
                    race(s, rnd, 60, open.get(n), log, (finish ? "f" : "j") + n);
                    if (finish) {
                        finishAll(s, rnd, open.get(n), log);
                    }
                    return null;
                }));
            }
            // the mover: four members between acme, globex and no team; the planner: acme's plan down and up
            Future<?> mover = pool.submit((Callable<Void>) () -> {
                Random rnd = new Random(3970);
                go.await(2, TimeUnit.MINUTES);
                int k = 0;
                while (racing.get() && k < 40) {
                    int m = 1 + 4 * rnd.nextInt(4);
                    int to = rnd.nextInt(3);
                    (k++ % 2 == 0 ? one : two).setTeam(member(m), to == 0 ? acme : to == 1 ? globex : null);
                }
                return null;
            });
            Future<?> planner = pool.submit((Callable<Void>) () -> {
                go.await(2, TimeUnit.MINUTES);
                int k = 0;
                while (racing.get() && k < 200) {
                    two.setPlan(Team.subject(acme), k++ % 2 == 0 ? LOW_TEAM_PLAN : TEAM_PLAN);
                    if (finish) {
                        one.expireStale();
                    }
                }
                return null;
            });
            for (Future<?> w : workers) {
                w.get(3, TimeUnit.MINUTES);
            }
            racing.set(false);
            mover.get(1, TimeUnit.MINUTES);
            planner.get(1, TimeUnit.MINUTES);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void membersRacingMovesPlansAndAMonthTurnChargeActual() throws Exception {
        membersRacingMovesPlansAndAMonthTurn(OverrunPolicy.CHARGE_ACTUAL);
    }

    @Test
    void membersRacingWithALaggingInstanceChargeActual() throws Exception {
        membersRacingMovesPlansAndAMonthTurn(OverrunPolicy.CHARGE_ACTUAL, true);
    }

    @Test
    void membersRacingWithALaggingInstanceCapAtHold() throws Exception {
        membersRacingMovesPlansAndAMonthTurn(OverrunPolicy.CAP_AT_HOLD, true);
    }

    @Test
    void membersRacingMovesPlansAndAMonthTurnCapAtHold() throws Exception {
        membersRacingMovesPlansAndAMonthTurn(OverrunPolicy.CAP_AT_HOLD);
    }

    /**
     * CAP_AT_HOLD, a late commit of a member's hold after the member moved team (docs/semantics.md "Teams",
     * Settling: "a late commit under CAP_AT_HOLD charges at most what the stricter account still has", the
     * accounts the hold settles: its own team's, whatever team the member is in now). acme (1,000) holds
     * alice's one-hour 800 and bob's 200; the sweep expires alice's; bob consumes 700 (acme has 100 left);
     * alice moves to globex (10,000 free) and her call reports 800: charged 100 to alice and acme; globex
     * untouched.
     */
    @Test
    void aLateCommitAfterMovingIsCappedByTheTeamItWasHeldAgainst() {
        QuotaStore s = store(policy(OverrunPolicy.CAP_AT_HOLD));
        String alice = p + "alice", bob = p + "bob", acme = p + "acme", globex = p + "globex";
        s.setPlan(Team.subject(acme), 1_000);
        s.setPlan(Team.subject(globex), 10_000);
        s.setTeam(alice, acme);
        s.setTeam(bob, acme);
        Reservation job = s.reserve(HoldRequest.of(alice, 800).ttl(Duration.ofHours(1)).build()).reservation();
        Reservation other = s.reserve(HoldRequest.of(bob, 200).ttl(Duration.ofDays(31)).build()).reservation();
        clock.set(Instant.parse("2032-01-20T14:00:00Z"));
        assertEquals(1, s.expireStale());
        s.consume(HoldRequest.of(bob, 700).build());
        s.setTeam(alice, globex);
        Reservation done = s.commit(job.id(), 800);
        assertEquals(100, done.charged(), "charged");
        assertEquals(List.of(1_000L, 0L, 0L, 800L, 200L), view(s.account(Team.subject(acme))), "acme");
        assertEquals(List.of(100_000L, 0L, 0L, 100L, 0L), view(s.account(alice)), "alice");
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), view(s.account(Team.subject(globex))), "globex");
        s.release(other.id());
    }
}
