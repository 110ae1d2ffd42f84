package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.jdbi.testing.PostgresExtension;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Many members of two teams racing in one JVM: their key-less reserves and consumes, then their
 * commits and releases, are combined into shared statements (the members' group commit,
 * team-take-together.sql and team-finish-together.sql), and every call is still decided by both of its
 * accounts in queue order. Each team grants exactly its limit, members with tight limits of their own
 * are refused by their own scope, nothing is ever over-held, and afterwards each team's account, its
 * members' sum and the events agree to the token.
 */
class PostgresTeamGroupCommitTest {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    private static final int MEMBERS_PER_TEAM = 12;
    private static final long TEAM_LIMIT = 6_000;
    private static final long TIGHT_MEMBER_LIMIT = 230;

    /**
     * The transaction that wrote an event (its row's {@code xmin}): the events of one combined statement
     * share it. Not their instant: since round 343 each combined call keeps its own.
     */
    private static final String TX = "CAST(CAST(xmin AS TEXT) AS BIGINT) AS tx";

    @Test
    void membersOfTwoTeamsCombinedStayExactInBothScopes() throws Exception {
        QuotaStore store = JdbiQuotaStore.builder().dataSource(DB.dataSource())
                .policy(QuotaPolicy.builder().defaultAllocation(1_000_000).build()).installSchema(true).build();
        String first = "gc-" + System.nanoTime();
        // a second team whose subject's hash shares its low bits with the first's, so both meet in one lane
        String second = first;
        for (int i = 0; (Team.subject(second).hashCode() & 0xFF) != (Team.subject(first).hashCode() & 0xFF)
                || second.equals(first); i++) {
            second = first + "-" + i;
        }
        List<String> teams = List.of(first, second);
        Map<String, String> teamOf = new ConcurrentHashMap<>();
        List<String> members = new ArrayList<>();
        for (String team : teams) {
            store.setPlan(Team.subject(team), TEAM_LIMIT);
            for (int m = 0; m < MEMBERS_PER_TEAM; m++) {
                String member = team + "-m" + m;
                store.setTeam(member, team);
                if (m % 4 == 0) {
                    // refused by its own scope while its team still has room
                    store.setPlan(member, TIGHT_MEMBER_LIMIT);
                }
                members.add(member);
                teamOf.put(member, team);
            }
        }

        // every member reserves (or, every third one, consumes) 50 tokens until refused
        int threads = members.size();
        List<Reserved> holds = new CopyOnWriteArrayList<>();
        AtomicLong consumed = new AtomicLong();
        Map<String, String> refusedBy = new ConcurrentHashMap<>();
        List<String> violations = new CopyOnWriteArrayList<>();
        AtomicBoolean racing = new AtomicBoolean(true);
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            Future<?> monitor = pool.submit(() -> {
                while (racing.get()) {
                    for (String team : teams) {
                        QuotaAccount a = store.account(Team.subject(team));
                        if (a.available() < 0) {
                            violations.add("team over-held: " + a);
                        }
                    }
                }
            });
            CyclicBarrier start = new CyclicBarrier(threads);
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                String member = members.get(t);
                boolean consumes = t % 3 == 2;
                workers.add(pool.submit((Callable<Void>) () -> {
                    start.await(2, TimeUnit.MINUTES);
                    try {
                        while (true) {
                            if (consumes) {
                                store.consume(HoldRequest.of(member, 50).build());
                                consumed.addAndGet(50);
                            } else {
                                Reserved r = store.reserve(HoldRequest.of(member, 50).build());
                                if (r.team() == null || r.team().available() < 0 || r.account().available() < 0
                                        || !teamOf.get(member).equals(r.reservation().teamId())) {
                                    violations.add("a grant's accounts: " + r);
                                }
                                holds.add(r);
                            }
                        }
                    } catch (QuotaExceededException refused) {
                        refusedBy.put(member, refused.scope().wireName());
                    }
                    return null;
                }));
            }
            for (Future<?> w : workers) {
                w.get(2, TimeUnit.MINUTES);
            }
            racing.set(false);
            monitor.get(2, TimeUnit.MINUTES);
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(), violations);
        for (String member : members) {
            QuotaAccount a = store.account(member);
            if (tight(member)) {
                assertTrue(a.used() + a.reserved() <= TIGHT_MEMBER_LIMIT, member + ": " + a);
                if ("user".equals(refusedBy.get(member))) {
                    assertEquals(200, a.used() + a.reserved(), member + " refused by its own 230 after four fifties");
                }
            }
        }
        assertTrue(refusedBy.containsValue("user"), "no member was refused by its own limit: " + refusedBy);
        long membersHeld = 0;
        for (String team : teams) {
            QuotaAccount account = store.account(Team.subject(team));
            // every member of the team kept asking until refused: the team is held to its last token
            assertEquals(TEAM_LIMIT, account.used() + account.reserved(), team);
            long sum = 0;
            for (String member : members) {
                if (teamOf.get(member).equals(team)) {
                    QuotaAccount a = store.account(member);
                    sum += a.used() + a.reserved();
                    assertEquals(a.month(), account.month());
                }
            }
            assertEquals(TEAM_LIMIT, sum, team + ": its members' holds and consumes add up to the team's");
            membersHeld += sum;
        }
        assertEquals(membersHeld, holds.size() * 50L + consumed.get());
        for (Map.Entry<String, String> e : refusedBy.entrySet()) {
            if (!tight(e.getKey())) {
                assertEquals("team", e.getValue(), e.getKey() + " has room of its own; only its team refuses it");
            }
        }

        // commit half the holds for less than they held, release the rest, all at once
        ExecutorService finishers = Executors.newFixedThreadPool(16);
        AtomicLong charged = new AtomicLong();
        try {
            CyclicBarrier go = new CyclicBarrier(16);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 16; t++) {
                int from = t;
                done.add(finishers.submit((Callable<Void>) () -> {
                    go.await(2, TimeUnit.MINUTES);
                    for (int i = from; i < holds.size(); i += 16) {
                        Reservation hold = holds.get(i).reservation();
                        if (i % 2 == 0) {
                            Reservation r = store.commit(hold.id(), 30 + i % 7);
                            assertEquals(ReservationState.COMMITTED, r.state());
                            charged.addAndGet(r.charged());
                        } else {
                            assertEquals(ReservationState.RELEASED, store.release(hold.id()).state());
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(2, TimeUnit.MINUTES);
            }
        } finally {
            finishers.shutdownNow();
        }
        long teamsUsed = 0;
        for (String team : teams) {
            QuotaAccount account = store.account(Team.subject(team));
            assertEquals(0, account.reserved(), team);
            long sum = 0;
            for (String member : members) {
                if (teamOf.get(member).equals(team)) {
                    QuotaAccount a = store.account(member);
                    assertEquals(0, a.reserved(), member);
                    sum += a.used();
                }
            }
            assertEquals(account.used(), sum, team + ": the team's used is its members' sum");
            teamsUsed += account.used();
        }
        assertEquals(consumed.get() + charged.get(), teamsUsed);

        Jdbi jdbi = Jdbi.create(DB.dataSource());
        List<String> teamSubjects = teams.stream().map(Team::subject).toList();
        // each account's used is what its charging events say, for every member and both teams
        List<String> owners = new ArrayList<>(members);
        owners.addAll(teamSubjects);
        for (String owner : owners) {
            long fromEvents = jdbi.withHandle(h -> h.createQuery("SELECT COALESCE(SUM(tokens), 0) FROM tq_event"
                    + " WHERE subject = :s AND kind = 'COMMITTED'").bind("s", owner).mapTo(Long.class).one());
            assertEquals(store.account(owner).used(), fromEvents, owner);
        }
        // the combining happened (so the checks above are of it): events of one statement share its transaction
        long sharedTakes = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM (SELECT " + TX + " FROM tq_event"
                + " WHERE subject IN (<teams>) AND (kind = 'RESERVED' OR (kind = 'COMMITTED' AND is_consume))"
                + " GROUP BY tx HAVING COUNT(*) > 1) AS s").bindList("teams", teamSubjects)
                .mapTo(Long.class).one());
        long sharedAcrossTeams = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM (SELECT " + TX
                + " FROM tq_event WHERE subject IN (<teams>) GROUP BY tx HAVING COUNT(DISTINCT subject) = 2)"
                + " AS s").bindList("teams", teamSubjects).mapTo(Long.class).one());
        long sharedFinishes = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM (SELECT " + TX
                + " FROM tq_event WHERE subject IN (<teams>) AND kind IN ('COMMITTED', 'RELEASED') AND NOT is_consume"
                + " GROUP BY tx HAVING COUNT(*) > 1) AS s").bindList("teams", teamSubjects)
                .mapTo(Long.class).one());
        assertTrue(sharedTakes > 0, "no two member takes shared a statement");
        assertTrue(sharedAcrossTeams > 0, "no statement took for both teams");
        assertTrue(sharedFinishes > 0, "no two member commits or releases shared a statement");
    }

    /** Every fourth member of a team has a limit of its own tighter than its share of the team's. */
    private static boolean tight(String member) {
        return Integer.parseInt(member.substring(member.lastIndexOf("-m") + 2)) % 4 == 0;
    }
}
