package io.tokenquota.jdbi.breakit326;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.testkit.MutableClock;
import java.time.Clock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 326's fixes, beyond the round's own scenarios ({@link AbstractRound326}), on H2 and
 * PostgreSQL. A hold's life is measured in one clock whichever instance reads it, on every path that
 * reads a hold back (its row, a key-less hold's finishing event, a team member's hold, an extended
 * hold, a committed one); and no thread waits for a lock or a combiner while it holds a connection, on
 * every path that waits (keyed takes on the subject stripe, the finish combiners, the team combiners),
 * so a host pool of one connection serves concurrent callers. The clocks are those of
 * {@link AbstractRound326}: {@code real}, and an instance that reads it {@link AbstractRound326#LAG}
 * late; calls meet by latches, nothing sleeps.
 */
abstract class AbstractRound326Fixes extends AbstractRound326 {
    private static final AtomicInteger SLOT = new AtomicInteger(ThreadLocalRandom.current().nextInt(2000));
    private static final Duration TTL = Duration.ofMinutes(5);
    private static final int THREADS = 6;

    @Override
    @BeforeEach
    void startClock() {
        // months of their own, apart from AbstractRound326's (years 9000 to 9999)
        jan = YearMonth.of(5000, 1).plusMonths((long) SLOT.getAndIncrement() * 6);
        feb = jan.plusMonths(1);
        real = MutableClock.at(jan, 10, 12);
        prefix = "r326f" + UUID.randomUUID().toString().substring(0, 12) + "-";
    }

    @Override
    QuotaPolicy policy(Clock clock) {
        return QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).holdTtl(TTL).build();
    }

    static Duration life(Reservation r) {
        return Duration.between(r.createdAt(), r.expiresAt());
    }

    static String outcome(QuotaStore store, HoldRequest request) {
        try {
            return "replayed=" + store.reserve(request).replayed();
        } catch (QuotaException e) {
            return e.code().name();
        }
    }

    // ---------------------------------------------------------------- one clock for a hold's life

    /**
     * A key-less hold read through the other instance, while held and once committed (on PostgreSQL its
     * row is deleted and its finishing event, held_at and held_until, is its record): its life is its
     * TTL through both instances, and each tells its creation in its own clock (the lagging one 90 s
     * earlier, give or take what the two measured of the database's clock). Through the instance that
     * took it, the instants are the ones its reserve answered (what a single instance reports).
     */
    @Test
    void aKeylessHoldLivesItsTtlThroughEitherInstanceHeldAndFinished() {
        QuotaStore accurate = accurate();
        QuotaStore lagging = lagging();
        String alice = prefix + "alice";
        Reservation first = accurate.reserve(HoldRequest.of(alice, 400).build()).reservation();
        assertEquals(TTL, life(first));
        Reservation heldThere = lagging.reservation(first.id()).orElseThrow();
        assertEquals(TTL, life(heldThere), "held, read through the lagging instance");
        Duration apart = Duration.between(heldThere.createdAt(), first.createdAt());
        assertTrue(apart.minus(AbstractRound326.LAG).abs().compareTo(Duration.ofSeconds(1)) < 0,
                "the lagging instance tells the creation in its clock, 90 s earlier: " + apart);
        Reservation heldHere = accurate.reservation(first.id()).orElseThrow();
        assertEquals(first.createdAt(), heldHere.createdAt());
        assertEquals(first.expiresAt(), heldHere.expiresAt());

        real.advance(Duration.ofSeconds(20));
        lagging.commit(first.id(), 300);
        for (QuotaStore store : List.of(accurate, lagging)) {
            Reservation done = store.reservation(first.id()).orElseThrow();
            assertEquals(ReservationState.COMMITTED, done.state());
            assertEquals(TTL, life(done), "committed, read through " + (store == accurate ? "accurate" : "lagging"));
        }
        Reservation doneHere = accurate.reservation(first.id()).orElseThrow();
        assertEquals(first.createdAt(), doneHere.createdAt(), "the creation as the instance that took it answered");
        // its RESERVED event, read back through the instance that took it, is at the reserve's instant
        List<LedgerEvent> log = accurate.events(alice, jan);
        LedgerEvent reserved = log.stream().filter(e -> e.kind() == EventKind.RESERVED).findFirst().orElseThrow();
        assertEquals(first.createdAt(), reserved.at());
        assertEquals(List.of(10_000L, 0L, 0L, 300L, 0L), AbstractRound326.view(accurate.account(alice)));
    }

    /**
     * A keyed hold committed through the lagging instance, retried (the very same request) through
     * either instance: a replay of the committed hold, never a conflict, and nothing charged twice.
     */
    @Test
    void aCommittedKeyedHoldRetriedThroughEitherInstanceIsAReplay() {
        QuotaStore accurate = accurate();
        QuotaStore lagging = lagging();
        String alice = prefix + "alice";
        HoldRequest call = HoldRequest.of(alice, 400).idempotencyKey("call-9").build();
        Reserved first = accurate.reserve(call);
        real.advance(Duration.ofSeconds(3));
        lagging.commit(first.reservation().id(), 350);
        for (QuotaStore store : List.of(lagging, accurate)) {
            Reserved retry = store.reserve(call);
            assertTrue(retry.replayed());
            assertEquals(first.reservation().id(), retry.reservation().id());
            assertEquals(ReservationState.COMMITTED, retry.reservation().state());
            assertEquals(TTL, life(retry.reservation()));
        }
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT.name(),
                outcome(lagging, HoldRequest.of(alice, 400).idempotencyKey("call-9").ttl(TTL.plusMinutes(1)).build()));
        assertEquals(List.of(10_000L, 0L, 0L, 350L, 0L), AbstractRound326.view(accurate.account(alice)));
    }

    /**
     * A keyed hold extended through the lagging instance: its life runs from its creation to the
     * expiry the extension set, one clock, so a retry through the accurate instance asking a little less
     * than that is a replay and one asking more is a conflict.
     */
    @Test
    void anExtensionThroughTheLaggingInstanceIsTheLifeTheAccurateOneMeasures() {
        QuotaStore accurate = accurate();
        QuotaStore lagging = lagging();
        String alice = prefix + "alice";
        Reserved first = accurate.reserve(HoldRequest.of(alice, 400).idempotencyKey("call-10").build());
        real.advance(Duration.ofMinutes(1));
        Reservation extended = lagging.extend(first.reservation().id(), Duration.ofMinutes(10));
        Duration lifeThere = life(extended);
        assertTrue(lifeThere.minus(Duration.ofMinutes(11)).abs().compareTo(Duration.ofSeconds(1)) < 0,
                "created a minute before a 10-minute extension: " + lifeThere);
        assertEquals(lifeThere, life(accurate.reservation(first.reservation().id()).orElseThrow()),
                "one life through both instances");
        assertEquals("replayed=true", outcome(accurate,
                HoldRequest.of(alice, 400).idempotencyKey("call-10").ttl(Duration.ofMinutes(10).plusSeconds(30)).build()));
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT.name(), outcome(accurate,
                HoldRequest.of(alice, 400).idempotencyKey("call-10").ttl(Duration.ofMinutes(12)).build()));
        assertEquals(List.of(10_000L, 0L, 0L, 0L, 400L), AbstractRound326.view(accurate.account(alice)));
    }

    /**
     * A team member's keyed hold (the team path writes its row) retried across instances: the same
     * request through the lagging instance is a replay; a longer one through the accurate instance of a
     * hold the lagging one took is a conflict.
     */
    @Test
    void aTeamMembersKeyedHoldRetriedAcrossInstancesMeasuresOneLife() {
        QuotaStore accurate = accurate();
        QuotaStore lagging = lagging();
        String team = "t" + prefix.substring(5, 15);
        String alice = prefix + "alice";
        String bob = prefix + "bob";
        accurate.setTeam(alice, team);
        accurate.setTeam(bob, team);
        HoldRequest call = HoldRequest.of(alice, 400).idempotencyKey("call-11").build();
        Reserved first = accurate.reserve(call);
        assertNotNull(first.reservation().teamId());
        real.advance(Duration.ofSeconds(2));
        assertEquals("replayed=true", outcome(lagging, call), "the same request through the lagging instance");

        lagging.reserve(HoldRequest.of(bob, 300).idempotencyKey("call-12").build());
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT.name(), outcome(accurate,
                HoldRequest.of(bob, 300).idempotencyKey("call-12").ttl(Duration.ofMinutes(6)).build()),
                "a 6-minute hold asked of a key whose hold lives 5 minutes");
        assertEquals(700L, accurate.account(Team.subject(team)).reserved());
    }

    // ---------------------------------------------------------------- a host pool of one connection

    /** Keyed holds (no combiner: they take turns on the subject's stripe) refused on a pool of one. */
    @Test
    void keyedRefusedHoldsOnAPoolOfOneConnectionAreRefused() throws Exception {
        QuotaStore store = instanceOnPoolOfOne(policy(real));
        String bob = prefix + "bob";
        store.consume(HoldRequest.of(bob, 10_000).build());
        AtomicInteger calls = new AtomicInteger();
        Map<String, Integer> others = race(t -> {
            try {
                store.reserve(HoldRequest.of(bob, 100).idempotencyKey("k" + calls.incrementAndGet()).build());
                return "GRANTED";
            } catch (QuotaExceededException refused) {
                return null;
            }
        });
        assertEquals(Map.of(), others);
        assertEquals(List.of(10_000L, 0L, 0L, 10_000L, 0L), AbstractRound326.view(store.account(bob)));
    }

    /**
     * Holds granted, then committed or released, by six threads on a pool of one: the take and finish
     * combiners, whose leaders run the batch on their connection while the others queue without one.
     */
    @Test
    void grantedHoldsCommittedAndReleasedOnAPoolOfOneConnection() throws Exception {
        QuotaStore store = instanceOnPoolOfOne(policy(real));
        String carol = prefix + "carol";
        AtomicLong charged = new AtomicLong();
        Map<String, Integer> others = race(t -> {
            Reserved held = store.reserve(HoldRequest.of(carol, 100).build());
            if (t % 2 == 0) {
                store.commit(held.reservation().id(), 80);
                charged.addAndGet(80);
            } else {
                store.release(held.reservation().id());
            }
            return null;
        });
        assertEquals(Map.of(), others);
        assertEquals(List.of(10_000L, 0L, 0L, charged.get(), 0L), AbstractRound326.view(store.account(carol)));
    }

    /**
     * Team members on a pool of one: holds refused by their spent team (the team take combiner, then
     * each member alone on the team path), and holds granted to members of a team with room, committed
     * (the team finish combiner).
     */
    @Test
    void teamMembersOnAPoolOfOneConnectionAreRefusedAndGranted() throws Exception {
        QuotaStore store = instanceOnPoolOfOne(policy(real));
        String spent = "s" + prefix.substring(5, 15);
        String roomy = "r" + prefix.substring(5, 15);
        List<String> spentMembers = new ArrayList<>();
        List<String> roomyMembers = new ArrayList<>();
        for (int m = 0; m < THREADS; m++) {
            spentMembers.add(prefix + "s" + m);
            roomyMembers.add(prefix + "r" + m);
            store.setTeam(spentMembers.get(m), spent);
            store.setTeam(roomyMembers.get(m), roomy);
        }
        store.consume(HoldRequest.of(spentMembers.get(0), 10_000).build());
        Map<String, Integer> refusals = race(t -> {
            try {
                store.reserve(HoldRequest.of(spentMembers.get(t), 100).build());
                return "GRANTED";
            } catch (QuotaExceededException refused) {
                return null;
            }
        });
        assertEquals(Map.of(), refusals, "a spent team refuses every member");
        Map<String, Integer> grants = race(t -> {
            Reserved held = store.reserve(HoldRequest.of(roomyMembers.get(t), 100).build());
            store.commit(held.reservation().id(), 90);
            return null;
        });
        assertEquals(Map.of(), grants);
        assertEquals(List.of(10_000L, 0L, 0L, 10_000L, 0L), AbstractRound326.view(store.account(Team.subject(spent))));
        assertEquals(List.of(10_000L, 0L, 0L, 90L * 3 * 2 * THREADS, 0L),
                AbstractRound326.view(store.account(Team.subject(roomy))));
    }

    /**
     * Subjects this instance last saw in a team, taken out by another instance: each one's first take
     * tries the team path, finds no team and falls back to the plain path (the take combiner, then the
     * stripe) with whatever connection the team path used.
     */
    @Test
    void formerMembersOnAPoolOfOneConnectionFallBackToThePlainPath() throws Exception {
        QuotaStore store = instanceOnPoolOfOne(policy(real));
        QuotaStore other = accurate();
        String team = "f" + prefix.substring(5, 15);
        List<String> members = new ArrayList<>();
        for (int m = 0; m < THREADS; m++) {
            members.add(prefix + "f" + m);
            store.setTeam(members.get(m), team);
        }
        for (String member : members) {
            other.setTeam(member, null);
        }
        Map<String, Integer> others = race(t -> {
            Reserved held = store.reserve(HoldRequest.of(members.get(t), 100).build());
            if (held.reservation().teamId() != null) {
                return "STILL_A_MEMBER";
            }
            store.release(held.reservation().id());
            return null;
        });
        assertEquals(Map.of(), others);
        for (String member : members) {
            assertEquals(List.of(10_000L, 0L, 0L, 0L, 0L), AbstractRound326.view(store.account(member)));
        }
    }

    /** A call of thread {@code t}: {@code null} when it went as it should, else what to count. */
    @FunctionalInterface
    interface Call {
        String run(int t);
    }

    /**
     * {@link #THREADS} threads, released together by a latch, each making its call three times, in two
     * rounds; the outcomes other than {@code null} (a code, or what the call returned), counted.
     */
    private static Map<String, Integer> race(Call call) throws Exception {
        Map<String, Integer> others = new ConcurrentHashMap<>();
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            for (int round = 0; round < 2; round++) {
                CountDownLatch go = new CountDownLatch(1);
                List<Future<?>> calls = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    int thread = t;
                    calls.add(pool.submit(() -> {
                        go.await();
                        for (int i = 0; i < 3; i++) {
                            String outcome;
                            try {
                                outcome = call.run(thread);
                            } catch (QuotaException e) {
                                outcome = e.code().name();
                            }
                            if (outcome != null) {
                                others.merge(outcome, 1, Integer::sum);
                            }
                        }
                        return null;
                    }));
                }
                go.countDown();
                for (Future<?> f : calls) {
                    f.get(120, TimeUnit.SECONDS);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        return Map.copyOf(others);
    }
}
