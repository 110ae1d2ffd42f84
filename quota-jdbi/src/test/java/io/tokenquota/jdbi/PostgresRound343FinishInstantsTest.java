package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Team;
import io.tokenquota.jdbi.testing.CombinerQueue;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round 343, the fix's own tests: combined commits and releases ({@code finish-together.sql},
 * {@code team-finish-together.sql}) each finish at their own caller's instant, as the combined takes do
 * (breakit343). The findings' choreography: a host transaction locks the account, the first commit leads
 * its lane and waits on that row lock, the second and the third queue in the combiner behind it, the
 * clock moves between the second and the third, then the host commits; the second leads both. Before the
 * fix the third, made at 13:30 (or on 1 February), was finished at the second's instant, 12:00 (or
 * 31 January): its event, the hold's {@code finishedAt} and the account's {@code updatedAt} said so. The
 * figures were right: a finish moves no month, and checks no expiry.
 */
class PostgresRound343FinishInstantsTest {
    @RegisterExtension
    static final PostgresExtension DB = new PostgresExtension();

    static final YearMonth JANUARY = YearMonth.of(2032, 1);

    private final MutableClock clock = MutableClock.at(JANUARY, 10, 12);
    private final String prefix = "r343f" + UUID.randomUUID().toString().substring(0, 8) + "-";
    /** What the listeners heard, by reservation id and kind. */
    private final Map<String, Instant> heard = new ConcurrentHashMap<>();

    private QuotaStore store() {
        QuotaStore store = JdbiQuotaStore.builder().dataSource(DB.dataSource())
                .policy(QuotaPolicy.builder().clock(clock).defaultAllocation(100_000).build()).installSchema(true)
                .build();
        store.addListener(e -> heard.put(e.reservationId() + " " + e.kind() + " " + e.subject(), e.at()));
        return store;
    }

    /**
     * Three holds of {@code subject} (1,000 each, for two hours) whose ids share a lane of the finishes'
     * combiners (by their hash, as {@code Combiner} spreads them); the others taken on the way are released.
     */
    private static List<String> threeInOneLane(QuotaStore store, String subject) {
        Map<Integer, List<String>> byLane = new java.util.HashMap<>();
        for (int i = 0; i < 200; i++) {
            String id = store.reserve(HoldRequest.of(subject, 1_000).ttl(Duration.ofHours(2)).build()).reservation().id();
            List<String> lane = byLane.computeIfAbsent(id.hashCode() & (Combiner.LANES - 1), l -> new ArrayList<>());
            lane.add(id);
            if (lane.size() == 3) {
                byLane.values().stream().flatMap(List::stream).filter(other -> !lane.contains(other))
                        .forEach(store::release);
                return lane;
            }
        }
        throw new IllegalStateException("no three holds in one lane");
    }

    @Test
    void aCommitQueuedBehindAWaitingCommitIsFinishedAtItsOwnInstant() throws Exception {
        QuotaStore store = store();
        String carol = prefix + "carol";
        List<String> holds = threeInOneLane(store, carol);
        Instant noon = clock.instant();
        Instant halfPastOne = noon.plus(Duration.ofMinutes(90));
        whileUnderWay(carol, () -> store.commit(holds.get(0), 800), () -> store.commit(holds.get(1), 800),
                () -> clock.advance(Duration.ofMinutes(90)), () -> store.commit(holds.get(2), 800));
        assertEquals(List.of(noon, noon, halfPastOne), finishedAt(store, holds), "each commit's finishedAt");
        assertEquals(List.of(noon, noon, halfPastOne), eventTimes(store, carol, holds), "each COMMITTED event's time");
        assertEquals(List.of(noon, noon, halfPastOne), heardAt(holds, carol), "what each commit's listeners heard");
        QuotaAccount account = store.account(carol);
        assertEquals(List.of(2_400L, 0L, halfPastOne), List.of(account.used(), account.reserved(), account.updatedAt()),
                "used, reserved, updated at the last commit");
    }

    @Test
    void aReleaseMadeInFebruaryOfAJanuaryHoldIsFinishedInFebruary() throws Exception {
        clock.set(JANUARY.atEndOfMonth().atTime(23, 0).toInstant(ZoneOffset.UTC));
        QuotaStore store = store();
        String dave = prefix + "dave";
        List<String> holds = threeInOneLane(store, dave);
        Instant lastNight = clock.instant();
        Instant february = JANUARY.plusMonths(1).atDay(1).atTime(0, 30).toInstant(ZoneOffset.UTC);
        whileUnderWay(dave, () -> store.release(holds.get(0)), () -> store.release(holds.get(1)),
                () -> clock.set(february), () -> store.release(holds.get(2)));
        assertEquals(List.of(lastNight, lastNight, february), finishedAt(store, holds), "each release's finishedAt");
        assertEquals(List.of(lastNight, lastNight, february), eventTimes(store, dave, holds),
                "each RELEASED event's time (in January's log: the holds are January's)");
        QuotaAccount january = store.account(dave, JANUARY).orElseThrow();
        assertEquals(List.of(0L, 0L), List.of(january.used(), january.reserved()), "January: nothing used or held");
    }

    @Test
    void aMembersCommitQueuedBehindAWaitingCommitIsFinishedAtItsOwnInstant() throws Exception {
        QuotaStore store = store();
        String erin = prefix + "erin";
        String team = prefix + "team";
        store.setTeam(erin, team);
        List<String> holds = threeInOneLane(store, erin);
        Instant noon = clock.instant();
        Instant halfPastOne = noon.plus(Duration.ofMinutes(90));
        whileUnderWay(Team.subject(team), () -> store.commit(holds.get(0), 800), () -> store.commit(holds.get(1), 800),
                () -> clock.advance(Duration.ofMinutes(90)), () -> store.commit(holds.get(2), 800));
        assertEquals(List.of(noon, noon, halfPastOne), finishedAt(store, holds), "each commit's finishedAt");
        assertEquals(List.of(noon, noon, halfPastOne), eventTimes(store, erin, holds), "the member's events' times");
        assertEquals(List.of(noon, noon, halfPastOne), eventTimes(store, Team.subject(team), holds),
                "the team's events' times");
        assertEquals(List.of(noon, noon, halfPastOne), heardAt(holds, Team.subject(team)), "what the listeners heard");
        QuotaAccount teamAccount = store.account(Team.subject(team));
        assertEquals(List.of(2_400L, 0L, halfPastOne),
                List.of(teamAccount.used(), teamAccount.reserved(), teamAccount.updatedAt()), "the team's account");
    }

    private static List<Instant> finishedAt(QuotaStore store, List<String> holds) {
        return holds.stream().map(id -> store.reservation(id).orElseThrow().finishedAt()).toList();
    }

    private List<Instant> eventTimes(QuotaStore store, String owner, List<String> holds) {
        List<Instant> times = new ArrayList<>();
        for (String id : holds) {
            times.add(store.events(owner, JANUARY).stream()
                    .filter(e -> id.equals(e.reservationId()) && e.kind() != EventKind.RESERVED)
                    .map(LedgerEvent::at).findFirst().orElseThrow(() -> new AssertionError("no event of " + id)));
        }
        return times;
    }

    private List<Instant> heardAt(List<String> holds, String owner) {
        return holds.stream().map(id -> heard.entrySet().stream()
                .filter(e -> e.getKey().startsWith(id + " ") && e.getKey().endsWith(" " + owner)
                        && !e.getKey().contains(" RESERVED "))
                .map(Map.Entry::getValue).findFirst().orElseThrow(() -> new AssertionError("nothing heard of " + id)))
                .toList();
    }

    private void whileUnderWay(String lockedSubject, Callable<?> first, Callable<?> second, Runnable move,
                               Callable<?> third) throws Exception {
        CombinerQueue.underWay(DB.dataSource(), JANUARY, true, lockedSubject, first, second, move, third);
    }
}
