package io.tokenquota.jdbi.breakit407;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
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
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 407 (a ledger round): idempotency keys on the ledger, the store-level answer to issue 11's item 4 ("the
 * store should say whether a reserve was a replay"), on the in-memory reference, H2 and PostgreSQL (two store
 * instances over one database). One key sent by many threads at once to reserve and to consume, at a month's first
 * touch, across a month turn, after the first try expired, was committed, released or refused; a key reused with
 * other tokens, TTL, endpoint or kind; a team member's key after it moved; keys at the 128 code point limit; keyed
 * calls replayed after retention dropped their month's events. The rules: docs/semantics.md "Reservations"
 * ("Idempotency": same kind, tokens and endpoint and a TTL no longer than the hold's life is a replay that changes
 * nothing, anything else IDEMPOTENCY_CONFLICT, of concurrent calls exactly one is not a replay), "Teams"
 * ("Idempotent replays": never refused, whatever the membership is now), docs/decisions.md ("Subjects and keys":
 * 1..128 code points; "A filter request with an Idempotency-Key": a keyed call refused for quota is refused before
 * it holds, so its key stays free), docs/storage.md ("A hold with an idempotency key keeps its row (a retry must
 * find it)", "Retention": never touches tq_reservation).
 */
abstract class AbstractRound407 {
    protected abstract QuotaStore store(QuotaPolicy policy);

    /** Another instance over the same database (the in-memory reference: the same store). */
    protected abstract QuotaStore secondInstance(QuotaStore first, QuotaPolicy policy);

    /** {@code JdbiQuotaStore.dropEventsPastHistory()}; the reference keeps every event. */
    protected abstract List<YearMonth> dropEventsPastHistory(QuotaStore store);

    static final Duration TEN_MINUTES = Duration.ofMinutes(10);
    static final int THREADS = 16;

    protected String p;
    protected MutableClock clock;
    protected QuotaPolicy policy;

    @BeforeEach
    void start() {
        p = "r407" + UUID.randomUUID().toString().substring(0, 8) + "-";
        clock = new MutableClock(Instant.parse("2031-01-10T12:00:00Z"));
        policy = policy(24);
    }

    QuotaPolicy policy(int historyMonths) {
        return QuotaPolicy.builder().clock(clock).zone(ZoneOffset.UTC).defaultAllocation(10_000).holdTtl(TEN_MINUTES)
                .historyMonths(historyMonths).build();
    }

    void at(String instant) {
        clock.set(Instant.parse(instant));
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    static List<Long> v(long allocated, long granted, long carried, long used, long reserved) {
        return List.of(allocated, granted, carried, used, reserved);
    }

    static HoldRequest hold(String subject, long tokens, String key) {
        return HoldRequest.of(subject, tokens).idempotencyKey(key).ttl(TEN_MINUTES).build();
    }

    static HoldRequest consume(String subject, long tokens, String key) {
        return HoldRequest.of(subject, tokens).idempotencyKey(key).build();
    }

    static Map<EventKind, Long> kinds(List<LedgerEvent> events) {
        return events.stream().collect(Collectors.groupingBy(LedgerEvent::kind, Collectors.counting()));
    }

    static ErrorCode code(Runnable call) {
        return assertThrows(QuotaException.class, call::run).code();
    }

    /** {@code n} calls released at once by one latch; each answer, or the exception it threw. */
    static List<Object> race(int n, IntFunction<Object> call) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            CountDownLatch ready = new CountDownLatch(n);
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Object>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int k = i;
                futures.add(pool.submit(() -> {
                    ready.countDown();
                    go.await();
                    try {
                        return call.apply(k);
                    } catch (RuntimeException e) {
                        return e;
                    }
                }));
            }
            assertTrue(ready.await(30, TimeUnit.SECONDS));
            go.countDown();
            List<Object> answers = new ArrayList<>();
            for (Future<Object> f : futures) {
                answers.add(f.get(60, TimeUnit.SECONDS));
            }
            return answers;
        } finally {
            pool.shutdownNow();
        }
    }

    // ------------------------------------------------------------------ many threads, one key

    /**
     * Sixteen threads, half through each instance, reserve 500 with one key at once: exactly one is not a replay,
     * all sixteen hand back the same hold, 500 are held once; its commit of 700 charges 700.
     */
    @Test
    void controlOneKeyReservedBySixteenThreadsOnTwoInstancesHoldsOnce() throws Exception {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String ann = p + "ann";
        List<Object> answers = race(THREADS, i -> (i % 2 == 0 ? a : b).reserve(hold(ann, 500, "req-1")));
        List<Reserved> held = answers.stream().map(Reserved.class::cast).toList();
        assertEquals(1, held.stream().filter(r -> !r.replayed()).count(), "exactly one is not a replay");
        assertEquals(1, held.stream().map(r -> r.reservation().id()).distinct().count(), "one hold");
        assertEquals(v(10_000, 0, 0, 0, 500), view(a.account(ann)));
        assertEquals(ReservationState.COMMITTED, b.commit(held.get(0).reservation().id(), 700).state());
        assertEquals(v(10_000, 0, 0, 700, 0), view(a.account(ann)));
        assertEquals(Map.of(EventKind.RESERVED, 1L, EventKind.COMMITTED, 1L),
                kinds(a.events(ann, YearMonth.of(2031, 1))));
    }

    /** Sixteen keyed consumes of 400 at once on two instances: charged 400 once, one reservation. */
    @Test
    void controlOneKeyConsumedBySixteenThreadsOnTwoInstancesChargesOnce() throws Exception {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String ben = p + "ben";
        List<Object> answers = race(THREADS, i -> (i % 2 == 0 ? a : b).consume(consume(ben, 400, "c-1")));
        assertEquals(1, answers.stream().map(r -> ((Reservation) r).id()).distinct().count(), "one consume");
        assertEquals(v(10_000, 0, 0, 400, 0), view(b.account(ben)));
        assertEquals(Map.of(EventKind.COMMITTED, 1L), kinds(a.events(ben, YearMonth.of(2031, 1))));
    }

    /**
     * The same key sent as a reserve by eight threads and as a consume by eight others at once: one kind wins,
     * the other kind's calls are IDEMPOTENCY_CONFLICT, the winner's kind are replays of it; the ledger holds or
     * charges 500 once, never both.
     */
    @Test
    void controlOneKeySentAsReserveAndConsumeAtOnceIsOneCallAndConflicts() throws Exception {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String cy = p + "cy";
        List<Object> answers = race(THREADS, i -> {
            QuotaStore s = i % 4 < 2 ? a : b;
            return i % 2 == 0 ? s.reserve(hold(cy, 500, "mixed")) : s.consume(consume(cy, 500, "mixed"));
        });
        long holds = answers.stream().filter(Reserved.class::isInstance).count();
        long consumes = answers.stream().filter(Reservation.class::isInstance).count();
        long conflicts = answers.stream().filter(e -> e instanceof QuotaException q
                && q.code() == ErrorCode.IDEMPOTENCY_CONFLICT).count();
        assertEquals(THREADS, holds + consumes + conflicts, "answers: " + answers);
        assertEquals(THREADS / 2, conflicts, "the losing kind's calls conflict");
        QuotaAccount after = a.account(cy);
        if (holds > 0) {
            assertEquals(1, answers.stream().filter(r -> r instanceof Reserved h && !h.replayed()).count());
            assertEquals(v(10_000, 0, 0, 0, 500), view(after));
        } else {
            assertEquals(v(10_000, 0, 0, 500, 0), view(after));
        }
    }

    /**
     * The month's first touch: January bought 1,000 tokens; at 00:00:05 on February 1st sixteen threads on two
     * instances reserve 500 with one key. February opens once, carrying the 1,000, and holds 500 once.
     */
    @Test
    void controlOneKeyAtTheMonthsFirstTouchOpensTheMonthAndHoldsOnce() throws Exception {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String dee = p + "dee";
        a.grant(PurchaseRequest.grant(p + "tx", dee, 1_000, PurchaseType.PURCHASE, "card"));
        at("2031-02-01T00:00:05Z");
        List<Reserved> held = race(THREADS, i -> (i % 2 == 0 ? a : b).reserve(hold(dee, 500, "first")))
                .stream().map(Reserved.class::cast).toList();
        assertEquals(1, held.stream().filter(r -> !r.replayed()).count());
        assertEquals(Set.of(YearMonth.of(2031, 2)), held.stream().map(r -> r.reservation().month())
                .collect(Collectors.toSet()));
        assertEquals(v(10_000, 0, 1_000, 0, 500), view(b.account(dee, YearMonth.of(2031, 2)).orElseThrow()));
        assertEquals(v(10_000, 1_000, 0, 0, 0), view(b.account(dee, YearMonth.of(2031, 1)).orElseThrow()));
    }

    // ------------------------------------------------------------------ the first try's fate

    /**
     * A hold of 500 taken at 23:55 on January 31st (10 minutes), retried through the other instance at 00:02 on
     * February 1st, still live: a replay of January's hold beside February's account; nothing held in February.
     * Its commit of 700 charges January.
     */
    @Test
    void controlAKeyRetriedAcrossTheMonthTurnReplaysJanuarysHold() {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String eve = p + "eve";
        at("2031-01-31T23:55:00Z");
        Reserved first = a.reserve(hold(eve, 500, "turn"));
        at("2031-02-01T00:02:00Z");
        Reserved again = b.reserve(hold(eve, 500, "turn"));
        assertTrue(again.replayed());
        assertEquals(first.reservation().id(), again.reservation().id());
        assertEquals(ReservationState.HELD, again.reservation().state());
        assertEquals(YearMonth.of(2031, 1), again.reservation().month());
        assertEquals(YearMonth.of(2031, 2), again.account().month());
        assertEquals(10_000, again.available());
        assertEquals(v(10_000, 0, 0, 0, 500), view(a.account(eve, YearMonth.of(2031, 1)).orElseThrow()));
        assertEquals(v(10_000, 0, 0, 0, 0), view(a.account(eve, YearMonth.of(2031, 2)).orElseThrow()));
        b.commit(first.reservation().id(), 700);
        assertEquals(v(10_000, 0, 0, 700, 0), view(a.account(eve, YearMonth.of(2031, 1)).orElseThrow()));
        assertEquals(v(10_000, 0, 0, 0, 0), view(a.account(eve, YearMonth.of(2031, 2)).orElseThrow()));
    }

    /**
     * A hold of 500 past its TTL (20 minutes later): its retry answers it EXPIRED as a replay and holds nothing;
     * the late commit of 700 charges 700; a retry after that answers COMMITTED and changes nothing.
     */
    @Test
    void controlAKeyRetriedAfterItsHoldExpiredIsAReplayOfTheExpiredHold() {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String fay = p + "fay";
        Reserved first = a.reserve(hold(fay, 500, "slow"));
        clock.advance(Duration.ofMinutes(20));
        Reserved again = b.reserve(hold(fay, 500, "slow"));
        assertTrue(again.replayed());
        assertEquals(ReservationState.EXPIRED, again.reservation().state());
        assertEquals(v(10_000, 0, 0, 0, 0), view(a.account(fay)));
        assertEquals(700, a.commit(first.reservation().id(), 700).charged());
        Reserved third = a.reserve(hold(fay, 500, "slow"));
        assertTrue(third.replayed());
        assertEquals(ReservationState.COMMITTED, third.reservation().state());
        assertEquals(v(10_000, 0, 0, 700, 0), view(b.account(fay)));
        assertEquals(Map.of(EventKind.RESERVED, 1L, EventKind.EXPIRED, 1L, EventKind.LATE_COMMITTED, 1L),
                kinds(a.events(fay, YearMonth.of(2031, 1))));
    }

    /** A committed key's retry answers COMMITTED, a released key's RELEASED; neither charges or holds again. */
    @Test
    void controlKeysRetriedAfterCommitAndReleaseAreReplays() {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String gus = p + "gus";
        a.commit(a.reserve(hold(gus, 500, "k1")).reservation().id(), 300);
        a.release(a.reserve(hold(gus, 800, "k2")).reservation().id());
        Reserved c = b.reserve(hold(gus, 500, "k1"));
        Reserved r = b.reserve(hold(gus, 800, "k2"));
        assertTrue(c.replayed() && r.replayed());
        assertEquals(ReservationState.COMMITTED, c.reservation().state());
        assertEquals(300, c.reservation().charged());
        assertEquals(ReservationState.RELEASED, r.reservation().state());
        assertEquals(v(10_000, 0, 0, 300, 0), view(a.account(gus)));
    }

    /**
     * A keyed reserve of 1,500 refused on a 1,000 allowance records nothing under its key: after a purchase of
     * 1,000 its retry is granted (not a replay of the refusal), holds 1,500 and is charged 1,500. The same for a
     * keyed consume of 1,200 refused, retried after a plan raise to 2,000.
     */
    @Test
    void controlARefusedKeyIsFreeAndItsRetryIsGrantedLater() {
        QuotaPolicy small = QuotaPolicy.builder().clock(clock).zone(ZoneOffset.UTC).defaultAllocation(1_000)
                .holdTtl(TEN_MINUTES).build();
        QuotaStore a = store(small);
        QuotaStore b = secondInstance(a, small);
        String hal = p + "hal";
        assertThrows(QuotaExceededException.class, () -> a.reserve(hold(hal, 1_500, "big")));
        b.grant(PurchaseRequest.grant(p + "tx-hal", hal, 1_000, PurchaseType.PURCHASE, "card"));
        Reserved retry = b.reserve(hold(hal, 1_500, "big"));
        assertFalse(retry.replayed(), "the refusal held nothing");
        assertEquals(v(1_000, 1_000, 0, 0, 1_500), view(a.account(hal)));
        a.commit(retry.reservation().id(), 1_500);
        assertEquals(v(1_000, 1_000, 0, 1_500, 0), view(a.account(hal)));

        String ida = p + "ida";
        assertThrows(QuotaExceededException.class, () -> a.consume(consume(ida, 1_200, "c")));
        b.setPlan(ida, 2_000);
        Reservation charged = b.consume(consume(ida, 1_200, "c"));
        assertEquals(ReservationState.COMMITTED, charged.state());
        assertEquals(v(2_000, 0, 0, 1_200, 0), view(a.account(ida)));
        assertEquals(Map.of(EventKind.REJECTED, 1L, EventKind.PLAN_CHANGED, 1L, EventKind.COMMITTED, 1L),
                kinds(a.events(ida, YearMonth.of(2031, 1))));
    }

    /**
     * A key reused with other tokens, a longer TTL, another endpoint (or none), or as the other kind, is
     * IDEMPOTENCY_CONFLICT and changes nothing; a shorter TTL is a replay (no longer than the hold's life).
     */
    @Test
    void controlAKeyReusedWithOtherParametersConflictsAndChangesNothing() {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String jo = p + "jo";
        a.reserve(HoldRequest.of(jo, 500).idempotencyKey("k").ttl(TEN_MINUTES).endpoint("/v1/chat").build());
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, code(() -> b.reserve(HoldRequest.of(jo, 501).idempotencyKey("k")
                .ttl(TEN_MINUTES).endpoint("/v1/chat").build())));
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, code(() -> b.reserve(HoldRequest.of(jo, 500).idempotencyKey("k")
                .ttl(Duration.ofMinutes(11)).endpoint("/v1/chat").build())));
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, code(() -> b.reserve(HoldRequest.of(jo, 500).idempotencyKey("k")
                .ttl(TEN_MINUTES).endpoint("/v1/embed").build())));
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, code(() -> b.reserve(hold(jo, 500, "k"))));
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, code(() -> b.consume(HoldRequest.of(jo, 500).idempotencyKey("k")
                .endpoint("/v1/chat").build())));
        assertTrue(b.reserve(HoldRequest.of(jo, 500).idempotencyKey("k").ttl(Duration.ofMinutes(9))
                .endpoint("/v1/chat").build()).replayed());
        a.consume(consume(jo, 400, "c"));
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, code(() -> b.consume(consume(jo, 401, "c"))));
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, code(() -> b.reserve(hold(jo, 400, "c"))));
        assertEquals(v(10_000, 0, 0, 400, 500), view(a.account(jo)));
    }

    // ------------------------------------------------------------------ teams

    /**
     * A member's keyed hold of 500 against team A; the member moves to team B; the retry through the other
     * instance is a replay of A's hold (team A's account beside it), B holds nothing; the commit of 700 charges
     * the member and A. A new key then charges B.
     */
    @Test
    void controlAMovedMembersKeyReplaysTheOldTeamsHold() {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String kim = p + "kim";
        String teamA = p + "A";
        String teamB = p + "B";
        a.setTeam(kim, teamA);
        Reserved first = a.reserve(hold(kim, 500, "tk"));
        b.setTeam(kim, teamB);
        Reserved again = b.reserve(hold(kim, 500, "tk"));
        assertTrue(again.replayed());
        assertEquals(first.reservation().id(), again.reservation().id());
        assertEquals(teamA, again.reservation().teamId());
        assertEquals(Team.subject(teamA), again.team().subject());
        assertEquals(v(10_000, 0, 0, 0, 500), view(again.team()));
        assertEquals(v(10_000, 0, 0, 0, 0), view(a.account(Team.subject(teamB))));
        b.commit(first.reservation().id(), 700);
        b.consume(consume(kim, 300, "tk2"));
        assertEquals(v(10_000, 0, 0, 1_000, 0), view(a.account(kim)));
        assertEquals(v(10_000, 0, 0, 700, 0), view(a.account(Team.subject(teamA))));
        assertEquals(v(10_000, 0, 0, 300, 0), view(a.account(Team.subject(teamB))));
    }

    /**
     * A replay is never refused: a member's keyed consume of 900 and keyed hold of 50 on a team of 1,000, then
     * another member spends the team's last 50; both retries are replays, nothing is refused or charged again. A
     * user's keyed consume of 300 made before it joined that full team is replayed too.
     */
    @Test
    void controlAMembersReplayOnAFullTeamIsNeverRefused() {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String team = p + "T";
        String lea = p + "lea";
        String max = p + "max";
        String ned = p + "ned";
        a.setPlan(Team.subject(team), 1_000);
        a.setTeam(lea, team);
        a.setTeam(max, team);
        Reservation c = a.consume(consume(lea, 900, "c"));
        Reserved h = a.reserve(hold(lea, 50, "h"));
        a.consume(consume(max, 50, "m"));
        Reservation ned1 = a.consume(consume(ned, 300, "n"));
        b.setTeam(ned, team);
        assertEquals(c.id(), b.consume(consume(lea, 900, "c")).id());
        Reserved h2 = b.reserve(hold(lea, 50, "h"));
        assertTrue(h2.replayed());
        assertEquals(h.reservation().id(), h2.reservation().id());
        assertEquals(ned1.id(), b.consume(consume(ned, 300, "n")).id());
        assertEquals(v(1_000, 0, 0, 950, 50), view(a.account(Team.subject(team))));
        assertEquals(v(10_000, 0, 0, 900, 50), view(a.account(lea)));
        assertEquals(v(10_000, 0, 0, 300, 0), view(a.account(ned)));
        assertEquals(Map.of(EventKind.COMMITTED, 1L, EventKind.RESERVED, 1L), kinds(a.events(lea, YearMonth.of(2031, 1))));
    }

    // ------------------------------------------------------------------ key length

    /**
     * Keys of 128 code points outside the BMP (256 UTF-16 units, 512 UTF-8 bytes) are valid and stored whole:
     * two that differ only in the last code point are two calls (100 + 200), each replayed on its own; a key of
     * 129 code points is INVALID_KEY.
     */
    @Test
    void controlKeysOf128SupplementaryCodePointsAreWholeAnd129IsInvalid() {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String max = p + "long";
        String stem = "\uD83D\uDE00".repeat(127); // U+1F600 x 127
        String k1 = stem + "\uD83D\uDE01";
        String k2 = stem + "\uD83D\uDE02";
        assertEquals(128, k1.codePointCount(0, k1.length()));
        Reservation one = a.consume(consume(max, 100, k1));
        Reservation two = a.consume(consume(max, 200, k2));
        assertEquals(one.id(), b.consume(consume(max, 100, k1)).id());
        assertEquals(two.id(), b.consume(consume(max, 200, k2)).id());
        assertEquals(k1, b.reservation(one.id()).orElseThrow().idempotencyKey());
        assertEquals(ErrorCode.INVALID_KEY, code(() -> consume(max, 100, k1 + "x")));
        assertEquals(v(10_000, 0, 0, 300, 0), view(a.account(max)));
    }

    // ------------------------------------------------------------------ retention

    /**
     * January's keyed consume of 400 and keyed hold of 500 (committed 600); in April, with two months of history,
     * retention drops January's events; both keys' retries are replays of January's calls (the rows stay:
     * retention never touches tq_reservation), and April is charged nothing.
     */
    @Test
    void controlKeyedCallsRetriedAfterRetentionDroppedTheirMonthAreReplays() {
        QuotaPolicy twoMonths = policy(2);
        QuotaStore a = store(twoMonths);
        QuotaStore b = secondInstance(a, twoMonths);
        String oz = p + "oz";
        Reservation c = a.consume(consume(oz, 400, "jan-c"));
        Reserved h = a.reserve(hold(oz, 500, "jan-h"));
        a.commit(h.reservation().id(), 600);
        at("2031-04-10T12:00:00Z");
        dropEventsPastHistory(a);
        Reservation c2 = b.consume(consume(oz, 400, "jan-c"));
        assertEquals(c.id(), c2.id());
        assertEquals(YearMonth.of(2031, 1), c2.month());
        Reserved h2 = b.reserve(hold(oz, 500, "jan-h"));
        assertTrue(h2.replayed());
        assertEquals(ReservationState.COMMITTED, h2.reservation().state());
        assertEquals(600, h2.reservation().charged());
        assertEquals(v(10_000, 0, 0, 0, 0), view(a.account(oz)));
        assertEquals(List.of(), a.events(oz, YearMonth.of(2031, 4)));
    }

    // ------------------------------------------------------------------ more races

    /**
     * A team member's key sent by sixteen threads on two instances at once (team of 10,000): one hold of 500 on
     * the member and on the team, exactly one call not a replay.
     */
    @Test
    void controlOneMembersKeyReservedBySixteenThreadsHoldsOnceOnBothAccounts() throws Exception {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String pat = p + "pat";
        String team = p + "P";
        a.setTeam(pat, team);
        List<Reserved> held = race(THREADS, i -> (i % 2 == 0 ? a : b).reserve(hold(pat, 500, "team-key")))
                .stream().map(Reserved.class::cast).toList();
        assertEquals(1, held.stream().filter(r -> !r.replayed()).count());
        assertEquals(1, held.stream().map(r -> r.reservation().id()).distinct().count());
        assertEquals(v(10_000, 0, 0, 0, 500), view(a.account(pat)));
        assertEquals(v(10_000, 0, 0, 0, 500), view(b.account(Team.subject(team))));
    }

    /**
     * A hold of 500 past its TTL, retried by eight threads while eight others commit it with 700 (the late
     * commit), on two instances at once: charged 700 once, nothing held; every retry is a replay of the hold,
     * EXPIRED or COMMITTED.
     */
    @Test
    void controlRetriesRacingTheLateCommitOfAnExpiredKeyChargeOnce() throws Exception {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String quin = p + "quin";
        String id = a.reserve(hold(quin, 500, "late")).reservation().id();
        clock.advance(Duration.ofMinutes(30));
        List<Object> answers = race(THREADS, i -> {
            QuotaStore s = i % 4 < 2 ? a : b;
            return i % 2 == 0 ? s.reserve(hold(quin, 500, "late")) : s.commit(id, 700);
        });
        for (Object o : answers) {
            if (o instanceof Reserved r) {
                assertTrue(r.replayed());
                assertEquals(id, r.reservation().id());
            } else {
                assertEquals(700, ((Reservation) o).charged(), String.valueOf(o));
            }
        }
        assertEquals(v(10_000, 0, 0, 700, 0), view(a.account(quin)));
        // a commit that reaches the stale hold before any sweep is an ordinary commit (docs/semantics.md
        // "Reservations"); a retry's sweep first makes it a late commit: either way one charge of 700
        assertTrue(Set.of(Map.of(EventKind.RESERVED, 1L, EventKind.COMMITTED, 1L),
                Map.of(EventKind.RESERVED, 1L, EventKind.EXPIRED, 1L, EventKind.LATE_COMMITTED, 1L))
                .contains(kinds(b.events(quin, YearMonth.of(2031, 1)))), String.valueOf(b.events(quin, YearMonth.of(2031, 1))));
    }

    /** An empty endpoint is not "no endpoint": a key taken with "" and retried with none (or back) conflicts. */
    @Test
    void controlAnEmptyEndpointAndNoEndpointAreDifferentParameters() {
        QuotaStore a = store(policy);
        QuotaStore b = secondInstance(a, policy);
        String ray = p + "ray";
        a.consume(HoldRequest.of(ray, 100).idempotencyKey("e").endpoint("").build());
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, code(() -> b.consume(consume(ray, 100, "e"))));
        a.consume(consume(ray, 200, "n"));
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT,
                code(() -> b.consume(HoldRequest.of(ray, 200).idempotencyKey("n").endpoint("").build())));
        b.consume(HoldRequest.of(ray, 100).idempotencyKey("e").endpoint("").build());
        assertEquals(v(10_000, 0, 0, 300, 0), view(a.account(ray)));
    }
}
