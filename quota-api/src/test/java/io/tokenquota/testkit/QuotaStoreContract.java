package io.tokenquota.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.Currency;
import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.Limits;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.BlockStats;
import io.tokenquota.QuotaStatistics.ConsumerUsage;
import io.tokenquota.QuotaStatistics.DailyUsage;
import io.tokenquota.QuotaStatistics.PurchaseTotal;
import io.tokenquota.QuotaStatistics.UsageForecast;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.internal.Validation;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * The behaviour every {@link QuotaStore} must show, outcome by outcome, as the ledger's
 * semantics state them (docs/semantics.md, and the errors of {@link ErrorCode}). Subclass it and implement {@link #newStore}.
 *
 * <p>Every test builds its own store, works on subjects with a per-test random prefix, and runs its
 * clock in a month no other test of this JVM uses, so tests can share one database schema: global
 * statistics (all subjects of a month) only ever see the test's own rows. Not thread-safe; JUnit
 * creates one instance per test.
 */
public abstract class QuotaStoreContract {
    /** Months apart between the clocks of two tests, more than any test moves its clock. */
    private static final int MONTHS_PER_TEST = 36;
    private static final AtomicInteger SLOT = new AtomicInteger(ThreadLocalRandom.current().nextInt(1500));
    private static final String SQL_SUBJECT = "'; DROP TABLE quota_accounts;--";

    /** A store of the implementation under test, using {@code policy} (and its clock) for everything. */
    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected MutableClock clock;
    /** The month the clock starts in: the 10th, 12:00 UTC. */
    protected YearMonth month;
    /** Every event listeners were told about, in order. */
    protected final List<LedgerEvent> heard = new CopyOnWriteArrayList<>();
    private String prefix;

    @BeforeEach
    void startClock() {
        month = YearMonth.of(2200, 1).plusMonths((long) SLOT.getAndIncrement() * MONTHS_PER_TEST);
        clock = MutableClock.at(month, 10, 12);
        prefix = "c" + UUID.randomUUID().toString().substring(0, 13) + "-";
    }

    /** A store with the default policy on the test clock, listened to by {@link #heard}. */
    protected QuotaStore store() {
        return store(b -> b);
    }

    protected QuotaStore store(UnaryOperator<QuotaPolicy.Builder> customize) {
        QuotaStore store = newStore(customize.apply(QuotaPolicy.builder().clock(clock)).build());
        store.addListener(heard::add);
        return store;
    }

    /** A subject id unique to this test. */
    protected String subject(String name) {
        return prefix + name;
    }

    protected static QuotaException assertCode(ErrorCode code, Executable call) {
        QuotaException e = assertThrows(QuotaException.class, call);
        assertEquals(code, e.code(), () -> "wrong error code, message: " + e.getMessage());
        return e;
    }

    /** What a failed call must leave untouched: the account, its event log, listeners, the month's accounts. */
    private record Snapshot(QuotaAccount account, List<LedgerEvent> events, int heard, List<ConsumerUsage> month,
                            List<Purchase> purchases) {
    }

    private Snapshot snapshot(QuotaStore store, String subject) {
        YearMonth current = store.policy().currentMonth();
        QuotaAccount account = store.account(subject);
        return new Snapshot(account, store.events(subject, current), heard.size(),
                store.topConsumers(current, 1000), store.purchases(subject, current));
    }

    /** Asserts the call fails with {@code code} and changes nothing visible through {@code subject}. */
    protected void assertRefused(QuotaStore store, String subject, ErrorCode code, Executable call) {
        Snapshot before = snapshot(store, subject);
        assertCode(code, call);
        assertEquals(before, snapshot(store, subject), "a refused call changed the ledger");
    }

    private static PurchaseRequest purchase(String tx, String subject, long tokens) {
        return new PurchaseRequest(tx, subject, tokens, PurchaseType.PURCHASE, "card", new BigDecimal("12.50"),
                Currency.USD, "top-up");
    }

    private static List<EventKind> kinds(List<LedgerEvent> events) {
        return events.stream().map(LedgerEvent::kind).toList();
    }

    private static void assertBalances(QuotaAccount a, long allocated, long granted, long carried, long used,
                                       long reserved) {
        assertEquals(List.of(allocated, granted, carried, used, reserved),
                List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved()),
                "allocated, granted, carried, used, reserved of " + a);
    }

    // ================================================================ reserve

    @Test
    void reserveHoldsTokensAndLogsTheHold() {
        QuotaStore store = store();
        String s = subject("alice");
        Reservation r = store.reserve(HoldRequest.of(s, 1_500).idempotencyKey("req-1").endpoint("/api/v1/ai/chat")
                .build()).reservation();
        assertEquals(ReservationState.HELD, r.state());
        assertEquals(s, r.subject());
        assertEquals(month, r.month());
        assertEquals(1_500, r.held());
        assertEquals(0, r.charged());
        assertNull(r.actual());
        assertEquals("req-1", r.idempotencyKey());
        assertEquals("/api/v1/ai/chat", r.endpoint());
        assertEquals(clock.instant(), r.createdAt());
        assertEquals(clock.instant().plus(Duration.ofMinutes(5)), r.expiresAt());
        assertNull(r.finishedAt());
        assertEquals(Optional.of(r), store.reservation(r.id()));

        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, 0, 0, 0, 1_500);
        assertEquals(8_500, a.available());
        List<LedgerEvent> events = store.events(s, month);
        assertEquals(List.of(EventKind.RESERVED), kinds(events));
        LedgerEvent e = events.get(0);
        assertEquals(1_500, e.tokens());
        assertEquals(r.id(), e.reservationId());
        assertEquals("/api/v1/ai/chat", e.detail());
        assertEquals(month, e.month());
        assertEquals(clock.instant(), e.at());
    }

    @Test
    void reserveUsesTheGivenTtl() {
        QuotaStore store = store();
        Reservation r = store.reserve(HoldRequest.of(subject("a"), 10).ttl(Duration.ofSeconds(30))
                .build()).reservation();
        assertEquals(clock.instant().plusSeconds(30), r.expiresAt());
        assertNull(r.idempotencyKey());
    }

    @Test
    void reserveIsGrantedExactlyWhenAvailableCoversIt() {
        QuotaStore store = store();
        String s = subject("edge");
        store.reserve(s, 9_999, null);
        Reservation last = store.reserve(s, 1, null);
        assertEquals(ReservationState.HELD, last.state());
        assertEquals(0, store.account(s).available());
        heard.clear();
        Snapshot before = snapshot(store, s);
        QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> store.reserve(HoldRequest.of(s, 1)
                .idempotencyKey("k").endpoint("/x").build()).reservation());
        assertEquals(ErrorCode.QUOTA_EXCEEDED, e.code());
        assertEquals(s, e.subject());
        assertEquals(1, e.requested());
        assertEquals(10_000, e.limit());
        assertEquals(0, e.available());
        assertEquals(month.plusMonths(1).atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC), e.resetAt());
        QuotaAccount after = store.account(s);
        assertEquals(before.account(), after, "a refusal changes no balance");
        List<LedgerEvent> events = store.events(s, month);
        LedgerEvent rejected = events.get(events.size() - 1);
        assertEquals(EventKind.REJECTED, rejected.kind());
        assertEquals(1, rejected.tokens());
        assertEquals("/x", rejected.detail());
        assertNull(rejected.reservationId());
        assertEquals(List.of(EventKind.REJECTED), kinds(heard));
    }

    @Test
    void refusedIdempotencyKeyIsNotStoredSoARetryIsEvaluatedAfresh() {
        QuotaStore store = store();
        String s = subject("retry");
        Reservation big = store.reserve(s, 9_000, null);
        assertThrows(QuotaExceededException.class, () -> store.reserve(s, 2_000, "retry-key"));
        store.release(big.id());
        Reservation retried = store.reserve(s, 2_000, "retry-key");
        assertEquals(ReservationState.HELD, retried.state());
        assertEquals(2_000, store.account(s).reserved());
    }

    @Test
    void reserveReplayReturnsTheFirstHoldAndChangesNothing() {
        QuotaStore store = store();
        String s = subject("replay");
        Reservation first = store.reserve(s, 700, "same");
        QuotaAccount account = store.account(s);
        int events = store.events(s, month).size();
        Reservation again = store.reserve(HoldRequest.of(s, 700).idempotencyKey("same").ttl(Duration.ofMinutes(5))
                .build()).reservation();
        assertEquals(first, again, "the policy's TTL given explicitly is the same request");
        assertEquals(account, store.account(s));
        assertEquals(events, store.events(s, month).size());

        store.commit(first.id(), 650);
        Reservation afterCommit = store.reserve(s, 700, "same");
        assertEquals(first.id(), afterCommit.id());
        assertEquals(ReservationState.COMMITTED, afterCommit.state(), "a replay answers the hold as it is now");
        assertEquals(650, store.account(s).used());
        assertEquals(0, store.account(s).reserved());
    }

    @Test
    void reserveWithAKnownKeyAndOtherParametersIsAConflict() {
        QuotaStore store = store();
        String s = subject("conflict");
        store.reserve(s, 700, "key-1");
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.reserve(s, 701, "key-1"));
        store.consume(s, 5, "consumed-key");
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.reserve(s, 5, "consumed-key"));
    }

    @Test
    void idempotencyKeysArePerSubject() {
        QuotaStore store = store();
        Reservation a = store.reserve(subject("a"), 100, "shared-key");
        Reservation b = store.reserve(subject("b"), 200, "shared-key");
        assertNotEquals(a.id(), b.id());
        assertEquals(100, store.account(subject("a")).reserved());
        assertEquals(200, store.account(subject("b")).reserved());
    }

    // ================================================================ commit

    @Test
    void commitChargesTheActualAmountAndFreesTheHold() {
        QuotaStore store = store();
        String s = subject("commit");
        Reservation r = store.reserve(HoldRequest.of(s, 1_000).idempotencyKey("k").endpoint("/e")
                .build()).reservation();
        clock.advance(Duration.ofSeconds(20));
        Reservation c = store.commit(r.id(), 640);
        assertEquals(ReservationState.COMMITTED, c.state());
        assertEquals(640, c.charged());
        assertEquals(640L, c.actual());
        assertEquals(0, c.overage());
        assertEquals(1_000, c.held());
        assertEquals(clock.instant(), c.finishedAt());
        assertBalances(store.account(s), 10_000, 0, 0, 640, 0);
        LedgerEvent e = store.events(s, month).get(1);
        assertEquals(EventKind.COMMITTED, e.kind());
        assertEquals(640, e.tokens());
        assertEquals(0, e.overage());
        assertEquals(r.id(), e.reservationId());
        assertEquals(clock.instant(), e.at());
    }

    @Test
    void commitOfZeroActualTokensChargesNothing() {
        QuotaStore store = store();
        String s = subject("zero");
        Reservation r = store.reserve(s, 300, null);
        Reservation c = store.commit(r, 0);
        assertEquals(ReservationState.COMMITTED, c.state());
        assertEquals(0, c.charged());
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
    }

    @Test
    void commitReplayReturnsTheCommittedHoldAndAnotherAmountConflicts() {
        QuotaStore store = store();
        String s = subject("commit-replay");
        Reservation r = store.reserve(s, 1_000, null);
        Reservation first = store.commit(r.id(), 900);
        clock.advance(Duration.ofMinutes(30));
        int events = store.events(s, month).size();
        assertEquals(first, store.commit(r.id(), 900));
        assertEquals(900, store.account(s).used(), "a replayed commit charges once");
        assertEquals(events, store.events(s, month).size());
        assertRefused(store, s, ErrorCode.RESERVATION_STATE_CONFLICT, () -> store.commit(r.id(), 901));
        assertRefused(store, s, ErrorCode.RESERVATION_STATE_CONFLICT, () -> store.release(r.id()));
    }

    @Test
    void commitOfAReleasedHoldConflicts() {
        QuotaStore store = store();
        String s = subject("released");
        Reservation r = store.reserve(s, 100, null);
        store.release(r.id());
        assertRefused(store, s, ErrorCode.RESERVATION_STATE_CONFLICT, () -> store.commit(r.id(), 100));
    }

    @Test
    void commitOfAnUnknownReservationIsNotFound() {
        QuotaStore store = store();
        String s = subject("unknown");
        assertRefused(store, s, ErrorCode.RESERVATION_NOT_FOUND, () -> store.commit(UUID.randomUUID().toString(), 1));
        assertRefused(store, s, ErrorCode.RESERVATION_NOT_FOUND, () -> store.release(UUID.randomUUID().toString()));
        assertRefused(store, s, ErrorCode.RESERVATION_NOT_FOUND, () -> store.commit("not-a-uuid", 1));
        assertRefused(store, s, ErrorCode.RESERVATION_NOT_FOUND, () -> store.release(SQL_SUBJECT));
        assertEquals(Optional.empty(), store.reservation(UUID.randomUUID().toString()));
        assertEquals(Optional.empty(), store.reservation(SQL_SUBJECT));
    }

    @Test
    void commitOfAHoldPastItsTtlThatNoSweepExpiredIsAnOrdinaryCommit() {
        QuotaStore store = store();
        String s = subject("past-ttl");
        Reservation r = store.reserve(HoldRequest.of(s, 2_000).ttl(Duration.ofSeconds(60)).endpoint("/late")
                .build()).reservation();
        clock.advance(Duration.ofSeconds(90));
        heard.clear();
        Reservation c = store.commit(r.id(), 2_500);
        assertEquals(ReservationState.COMMITTED, c.state());
        assertEquals(2_500, c.charged());
        assertEquals(500, c.overage());
        assertBalances(store.account(s), 10_000, 0, 0, 2_500, 0);
        assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED), kinds(store.events(s, month)));
        assertEquals(store.events(s, month).subList(1, 2), heard);
    }

    @Test
    void commitAfterTheHoldExpiredChargesTheUsageAsALateCommit() {
        QuotaStore store = store();
        String s = subject("late");
        Reservation r = store.reserve(HoldRequest.of(s, 2_000).ttl(Duration.ofSeconds(60)).endpoint("/late")
                .build()).reservation();
        clock.advance(Duration.ofSeconds(59));
        assertEquals(ReservationState.HELD, store.reservation(r.id()).orElseThrow().state());
        clock.advance(Duration.ofSeconds(1));
        heard.clear();
        assertEquals(0, store.account(s).reserved(), "a read expires the subject's holds past their TTL");
        assertEquals(ReservationState.EXPIRED, store.reservation(r.id()).orElseThrow().state());
        Reservation late = store.commit(r.id(), 1_500);
        assertEquals(ReservationState.COMMITTED, late.state(), "an expired hold becomes COMMITTED when committed late");
        assertEquals(1_500, late.charged());
        assertEquals(1_500L, late.actual());
        assertEquals(0, late.overage());
        assertEquals(clock.instant(), late.finishedAt());
        assertEquals(Optional.of(late), store.reservation(r.id()));
        assertBalances(store.account(s), 10_000, 0, 0, 1_500, 0);
        List<LedgerEvent> events = store.events(s, month);
        assertEquals(List.of(EventKind.RESERVED, EventKind.EXPIRED, EventKind.LATE_COMMITTED), kinds(events));
        assertEquals(2_000, events.get(1).tokens());
        LedgerEvent charged = events.get(2);
        assertEquals(1_500, charged.tokens());
        assertEquals(0, charged.overage());
        assertEquals(r.id(), charged.reservationId());
        assertEquals(List.of(EventKind.EXPIRED, EventKind.LATE_COMMITTED), kinds(heard));
        clock.advance(Duration.ofMinutes(1));
        assertEquals(late, store.commit(r.id(), 1_500), "a retried late commit charges once");
        assertEquals(1_500, store.account(s).used());
        assertRefused(store, s, ErrorCode.RESERVATION_STATE_CONFLICT, () -> store.commit(r.id(), 1_501));
        assertRefused(store, s, ErrorCode.RESERVATION_STATE_CONFLICT, () -> store.release(r.id()));
    }

    @Test
    void commitOfAnExpiredHoldThatASweepReturnedChargesTheActualTokensUnderChargeActual() {
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CHARGE_ACTUAL));
        String s = subject("late-sweep");
        Reservation r = store.reserve(HoldRequest.of(s, 8_000).ttl(Duration.ofSeconds(30)).build()).reservation();
        clock.advance(Duration.ofSeconds(31));
        assertTrue(store.expireStale() >= 1);
        assertEquals(ReservationState.EXPIRED, store.reservation(r.id()).orElseThrow().state());
        store.reserve(s, 9_000, null);
        Reservation late = store.commit(r.id(), 8_500);
        assertEquals(8_500, late.charged());
        assertEquals(500, late.overage());
        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, 0, 0, 8_500, 9_000);
        assertEquals(-7_500, a.available(), "a late commit may overdraw under CHARGE_ACTUAL");
        LedgerEvent e = store.events(s, month).get(store.events(s, month).size() - 1);
        assertEquals(EventKind.LATE_COMMITTED, e.kind());
        assertEquals(8_500, e.tokens());
        assertEquals(500, e.overage());
    }

    @Test
    void aLateCommitUnderCapAtHoldChargesAtMostWhatTheMonthHasAvailable() {
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CAP_AT_HOLD));
        String s = subject("late-cap");
        Reservation r = store.reserve(HoldRequest.of(s, 8_000).ttl(Duration.ofSeconds(30)).build()).reservation();
        clock.advance(Duration.ofSeconds(31));
        store.reserve(s, 9_000, null);
        assertEquals(ReservationState.EXPIRED, store.reservation(r.id()).orElseThrow().state());
        Reservation late = store.commit(r.id(), 8_000);
        assertEquals(ReservationState.COMMITTED, late.state());
        assertEquals(1_000, late.charged(), "at most the 1,000 the month still had");
        assertEquals(7_000, late.overage());
        assertEquals(8_000L, late.actual());
        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, 0, 0, 1_000, 9_000);
        assertEquals(0, a.available());
        assertTrue(a.used() <= a.limit());
    }

    @Test
    void overrunIsChargedInFullUnderChargeActual() {
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CHARGE_ACTUAL));
        String s = subject("overrun");
        Reservation r = store.reserve(s, 9_000, null);
        Reservation c = store.commit(r.id(), 12_000);
        assertEquals(12_000, c.charged());
        assertEquals(3_000, c.overage());
        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, 0, 0, 12_000, 0);
        assertEquals(-2_000, a.available());
        LedgerEvent committed = store.events(s, month).get(1);
        assertEquals(12_000, committed.tokens());
        assertEquals(3_000, committed.overage());
        QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> store.reserve(s, 1, null));
        assertEquals(-2_000, e.available());
        assertThrows(QuotaExceededException.class, () -> store.consume(s, 1, null));
    }

    @Test
    void overrunIsCappedAtTheHoldUnderCapAtHold() {
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CAP_AT_HOLD));
        String s = subject("cap");
        Reservation r = store.reserve(s, 9_000, null);
        Reservation c = store.commit(r.id(), 12_000);
        assertEquals(9_000, c.charged());
        assertEquals(3_000, c.overage());
        assertEquals(12_000L, c.actual());
        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, 0, 0, 9_000, 0);
        assertEquals(1_000, a.available());
        LedgerEvent committed = store.events(s, month).get(1);
        assertEquals(9_000, committed.tokens());
        assertEquals(3_000, committed.overage());
        assertEquals(c, store.commit(r.id(), 12_000));
        Reservation under = store.commit(store.reserve(s, 500, null).id(), 400);
        assertEquals(400, under.charged());
        assertEquals(0, under.overage());
    }

    @Test
    void aHoldIsChargedToItsOwnMonthWhenCommittedAfterTheMonthEnds() {
        clock.set(month.atEndOfMonth().atTime(23, 58).toInstant(ZoneOffset.UTC));
        QuotaStore store = store();
        String s = subject("boundary");
        Reservation r = store.reserve(HoldRequest.of(s, 1_000).ttl(Duration.ofMinutes(10)).build()).reservation();
        clock.advance(Duration.ofMinutes(3));
        YearMonth next = month.plusMonths(1);
        assertEquals(next, store.policy().currentMonth());
        QuotaAccount nextAccount = store.account(s);
        assertEquals(next, nextAccount.month());
        Reservation c = store.commit(r.id(), 800);
        assertEquals(month, c.month());
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 0, 0, 800, 0);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED), kinds(store.events(s, month)));
        assertEquals(List.of(), store.events(s, next));
    }

    // ================================================================ release

    @Test
    void releaseFreesTheHoldAndIsIdempotent() {
        QuotaStore store = store();
        String s = subject("release");
        Reservation r = store.reserve(HoldRequest.of(s, 1_200).endpoint("/r").build()).reservation();
        clock.advance(Duration.ofSeconds(5));
        Reservation released = store.release(r);
        assertEquals(ReservationState.RELEASED, released.state());
        assertEquals(0, released.charged());
        assertEquals(clock.instant(), released.finishedAt());
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        List<LedgerEvent> events = store.events(s, month);
        assertEquals(List.of(EventKind.RESERVED, EventKind.RELEASED), kinds(events));
        assertEquals(1_200, events.get(1).tokens());
        clock.advance(Duration.ofMinutes(10));
        assertEquals(released, store.release(r.id()));
        assertEquals(2, store.events(s, month).size());
    }

    @Test
    void releaseOfAHoldPastItsTtlReleasesItAndAfterASweepReturnsItAsExpired() {
        QuotaStore store = store();
        String s = subject("release-stale");
        Reservation r = store.reserve(s, 1_200, null);
        clock.advance(Duration.ofMinutes(5));
        Reservation released = store.release(r.id());
        assertEquals(ReservationState.RELEASED, released.state(), "a held hold no sweep expired yet is still held");
        assertEquals(List.of(EventKind.RESERVED, EventKind.RELEASED), kinds(store.events(s, month)));
        Reservation other = store.reserve(s, 800, null);
        clock.advance(Duration.ofMinutes(5));
        assertTrue(store.expireStale() >= 1);
        Reservation expired = store.release(other.id());
        assertEquals(ReservationState.EXPIRED, expired.state());
        assertEquals(expired, store.release(other.id()));
        assertEquals(List.of(EventKind.RESERVED, EventKind.RELEASED, EventKind.RESERVED, EventKind.EXPIRED),
                kinds(store.events(s, month)));
        assertEquals(0, store.account(s).reserved());
    }

    @Test
    void releaseOfACommittedHoldConflicts() {
        QuotaStore store = store();
        String s = subject("release-committed");
        Reservation r = store.reserve(s, 100, null);
        store.commit(r.id(), 80);
        assertRefused(store, s, ErrorCode.RESERVATION_STATE_CONFLICT, () -> store.release(r.id()));
        Reservation consumed = store.consume(s, 10, null);
        assertRefused(store, s, ErrorCode.RESERVATION_STATE_CONFLICT, () -> store.release(consumed.id()));
    }

    // ================================================================ consume

    @Test
    void consumeChargesInOneStepWithOneEvent() {
        QuotaStore store = store();
        String s = subject("consume");
        Reservation c = store.consume(HoldRequest.of(s, 300).idempotencyKey("c-1").endpoint("/embed").build());
        assertEquals(ReservationState.COMMITTED, c.state());
        assertEquals(300, c.held());
        assertEquals(300, c.charged());
        assertEquals(300L, c.actual());
        assertEquals(0, c.overage());
        assertEquals(c.createdAt(), c.expiresAt());
        assertEquals(clock.instant(), c.finishedAt());
        assertEquals("/embed", c.endpoint());
        assertBalances(store.account(s), 10_000, 0, 0, 300, 0);
        List<LedgerEvent> events = store.events(s, month);
        assertEquals(List.of(EventKind.COMMITTED), kinds(events));
        assertEquals(300, events.get(0).tokens());
        assertEquals(c.id(), events.get(0).reservationId());
        assertEquals(c, store.commit(c.id(), 300), "committing a consume with its amount is a replay");
    }

    @Test
    void aConsumeWithoutKeyIsFoundByItsIdLikeAnyOther() {
        QuotaStore store = store();
        String s = subject("consume-keyless");
        Reservation c = store.consume(HoldRequest.of(s, 120).endpoint("/embed").build());
        Reservation other = store.consume(s, 30, null);
        assertNotEquals(c.id(), other.id());
        assertEquals(c, store.reservation(c.id()).orElseThrow());
        assertNull(c.idempotencyKey());
        assertEquals(List.of(c.id(), other.id()),
                store.events(s, month).stream().map(LedgerEvent::reservationId).toList());
        assertEquals(c, store.commit(c.id(), 120), "committing a consume with its amount is a replay");
        assertRefused(store, s, ErrorCode.RESERVATION_STATE_CONFLICT, () -> store.commit(c.id(), 121));
        assertRefused(store, s, ErrorCode.RESERVATION_STATE_CONFLICT, () -> store.release(c.id()));
        assertBalances(store.account(s), 10_000, 0, 0, 150, 0);
        assertEquals(2, store.events(s, month).size());
        assertTrue(store.reservation("999999999999").isEmpty());
        assertRefused(store, s, ErrorCode.RESERVATION_NOT_FOUND, () -> store.release("999999999999"));
    }

    @Test
    void consumeReplayAndConflicts() {
        QuotaStore store = store();
        String s = subject("consume-replay");
        Reservation first = store.consume(s, 300, "c-1");
        clock.advance(Duration.ofHours(1));
        assertEquals(first, store.consume(s, 300, "c-1"));
        assertEquals(300, store.account(s).used());
        assertEquals(1, store.events(s, month).size());
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.consume(s, 301, "c-1"));
        store.reserve(s, 50, "held-key");
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.consume(s, 50, "held-key"));
    }

    @Test
    void oneHoldRequestNamesItsPartsAndReplaysAsItself() {
        QuotaStore store = store();
        String s = subject("hold-request");
        HoldRequest request = HoldRequest.of(s, 400).idempotencyKey("req-1").ttl(Duration.ofMinutes(2))
                .endpoint("/api/v1/ai/chat").build();
        Reserved first = store.reserve(request);
        assertFalse(first.replayed());
        assertEquals("req-1", first.reservation().idempotencyKey());
        assertEquals("/api/v1/ai/chat", first.reservation().endpoint());
        assertEquals(first.reservation().createdAt().plus(Duration.ofMinutes(2)), first.reservation().expiresAt());
        assertEquals(400, first.account().reserved());
        Reserved again = store.reserve(request);
        assertTrue(again.replayed());
        assertEquals(first.reservation(), again.reservation());
        // the key and the label are different parts: the same key with another label is another request
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.reserve(HoldRequest.of(s, 400)
                .idempotencyKey("req-1").ttl(Duration.ofMinutes(2)).endpoint("/api/v1/ai/other").build()));
    }

    @Test
    void aConsumeTakesNoTtl() {
        QuotaStore store = store();
        String s = subject("consume-ttl");
        store.account(s);
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT,
                () -> store.consume(HoldRequest.of(s, 10).ttl(Duration.ofMinutes(1)).build()));
        Reservation done = store.consume(HoldRequest.of(s, 10).idempotencyKey("c-ttl").endpoint("job").build());
        assertEquals(ReservationState.COMMITTED, done.state());
        assertEquals("job", done.endpoint());
        assertThrows(NullPointerException.class, () -> store.consume(null));
        assertThrows(NullPointerException.class, () -> store.reserve((HoldRequest) null));
    }

    @Test
    void consumeIsRefusedWhenItDoesNotFit() {
        QuotaStore store = store();
        String s = subject("consume-refused");
        store.consume(s, 9_500, null);
        Snapshot before = snapshot(store, s);
        QuotaExceededException e = assertThrows(QuotaExceededException.class,
                () -> store.consume(HoldRequest.of(s, 501).idempotencyKey("k").endpoint("/p").build()));
        assertEquals(500, e.available());
        assertEquals(10_000, e.limit());
        assertEquals(before.account(), store.account(s));
        List<LedgerEvent> events = store.events(s, month);
        assertEquals(EventKind.REJECTED, events.get(events.size() - 1).kind());
        assertEquals(501, events.get(events.size() - 1).tokens());
        assertEquals(ReservationState.COMMITTED, store.consume(s, 500, "k").state(), "a refused key is not stored");
    }

    // ================================================================ expiry

    @Test
    void expireStaleReturnsEveryHoldPastItsTtlInFull() {
        QuotaStore store = store();
        String s = subject("sweep");
        String t = subject("sweep-2");
        Reservation a = store.reserve(HoldRequest.of(s, 1_000).ttl(Duration.ofSeconds(10)).build()).reservation();
        Reservation b = store.reserve(HoldRequest.of(s, 2_000).ttl(Duration.ofSeconds(20)).build()).reservation();
        Reservation c = store.reserve(HoldRequest.of(t, 3_000).ttl(Duration.ofSeconds(10)).build()).reservation();
        clock.advance(Duration.ofSeconds(10));
        // >= rather than ==: a shared database may hold other tests' stale holds, which also expire
        assertTrue(store.expireStale() >= 2);
        assertEquals(ReservationState.EXPIRED, store.reservation(a.id()).orElseThrow().state());
        assertEquals(ReservationState.HELD, store.reservation(b.id()).orElseThrow().state());
        assertEquals(ReservationState.EXPIRED, store.reservation(c.id()).orElseThrow().state());
        assertBalances(store.account(s), 10_000, 0, 0, 0, 2_000);
        assertBalances(store.account(t), 10_000, 0, 0, 0, 0);
        assertEquals(0, store.expireStale());
        List<LedgerEvent> events = store.events(t, month);
        assertEquals(List.of(EventKind.RESERVED, EventKind.EXPIRED), kinds(events));
        assertEquals(3_000, events.get(1).tokens());
        clock.advance(Duration.ofSeconds(10));
        assertEquals(1, store.expireStale());
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
    }

    @Test
    void reserveLazilyExpiresTheSubjectsStaleHolds() {
        QuotaStore store = store();
        String s = subject("lazy");
        Reservation all = store.reserve(s, 10_000, null);
        clock.advance(Duration.ofMinutes(5));
        Reservation next = store.reserve(s, 4_000, null);
        assertEquals(ReservationState.HELD, next.state());
        assertEquals(ReservationState.EXPIRED, store.reservation(all.id()).orElseThrow().state());
        assertBalances(store.account(s), 10_000, 0, 0, 0, 4_000);
        assertEquals(List.of(EventKind.RESERVED, EventKind.EXPIRED, EventKind.RESERVED), kinds(store.events(s, month)));
    }

    @Test
    void consumeLazilyExpiresTheSubjectsStaleHolds() {
        QuotaStore store = store();
        String s = subject("lazy-consume");
        Reservation all = store.reserve(s, 10_000, null);
        clock.advance(Duration.ofMinutes(6));
        assertEquals(ReservationState.COMMITTED, store.consume(s, 4_000, null).state());
        assertEquals(ReservationState.EXPIRED, store.reservation(all.id()).orElseThrow().state());
        assertBalances(store.account(s), 10_000, 0, 0, 4_000, 0);
    }

    @Test
    void reserveReplayOfAStaleHoldAnswersItExpired() {
        QuotaStore store = store();
        String s = subject("stale-replay");
        Reservation r = store.reserve(s, 500, "k");
        clock.advance(Duration.ofMinutes(5));
        Reservation replay = store.reserve(s, 500, "k");
        assertEquals(r.id(), replay.id());
        assertEquals(ReservationState.EXPIRED, replay.state());
        assertEquals(0, store.account(s).reserved());
    }

    @Test
    void reserveReturnsTheAccountAsTheHoldLeftIt() {
        QuotaStore store = store();
        String s = subject("with-account");
        store.consume(s, 1_000, null);
        Reserved first = store.reserve(HoldRequest.of(s, 2_500).idempotencyKey("k").endpoint("/ai").build());
        assertEquals(store.account(s), first.account());
        assertEquals(1_000, first.account().used());
        assertEquals(2_500, first.account().reserved());
        assertEquals(store.reservation(first.reservation().id()).orElseThrow(), first.reservation());

        store.commit(first.reservation().id(), 2_000);
        Reserved replay = store.reserve(HoldRequest.of(s, 2_500).idempotencyKey("k").endpoint("/ai").build());
        assertEquals(first.reservation().id(), replay.reservation().id(), "a replayed key answers the first hold");
        assertEquals(ReservationState.COMMITTED, replay.reservation().state());
        assertEquals(store.account(s), replay.account(), "and the account as it is now");

        QuotaExceededException refused = assertThrows(QuotaExceededException.class,
                () -> store.reserve(HoldRequest.of(s, 1_000_000).build()));
        assertEquals(7_000, refused.available());
    }

    /** Found by the invariant properties on H2, where the replayed key is seen before the month's first touch. */
    @Test
    void aReplayedKeyInANewMonthCarriesThePurchasedTokensItsStaleHoldReturns() {
        QuotaStore store = store();
        String s = subject("replay-rollover");
        store.grant(PurchaseRequest.grant(subject("tx-carry"), s, 1, PurchaseType.BONUS, null));
        store.reserve(s, store.account(s).available(), "k");
        YearMonth first = store.account(s).month();
        clock.advanceMonths(1, 1, 0);
        assertCode(ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.consume(s, 1, "k"));
        assertEquals(1, store.account(s).carried(), "the purchased token the stale hold held comes to the new month");
        assertEquals(0, store.account(s, first).orElseThrow().reserved(), "the stale hold was returned");
    }

    // ================================================================ extend (keeping a hold alive)

    /** {@code r} as it reads with its expiry moved to {@code expiresAt}, and nothing else changed. */
    private static Reservation expiringAt(Reservation r, Instant expiresAt) {
        return new Reservation(r.id(), r.subject(), r.month(), r.held(), r.state(), r.charged(), r.actual(),
                r.overage(), r.idempotencyKey(), r.endpoint(), r.createdAt(), expiresAt, r.finishedAt(), r.teamId());
    }

    @Test
    void extendMovesTheExpiryToTtlFromNowAndASweepAtTheOldExpiryLeavesTheHoldHeld() {
        QuotaStore store = store();
        String s = subject("extend");
        Reservation r = store.reserve(HoldRequest.of(s, 1_000).ttl(Duration.ofSeconds(60)).endpoint("/long")
                .build()).reservation();
        clock.advance(Duration.ofSeconds(40));
        heard.clear();
        Snapshot before = snapshot(store, s);
        Reservation extended = store.extend(r.id(), Duration.ofSeconds(60));
        assertEquals(expiringAt(r, clock.instant().plusSeconds(60)), extended, "only the expiry moves");
        assertEquals(Optional.of(extended), store.reservation(r.id()));
        assertEquals(before, snapshot(store, s), "an extension moves no tokens and logs nothing");
        assertEquals(List.of(), heard);

        clock.advance(Duration.ofSeconds(20));   // the first TTL is over
        store.expireStale();
        assertEquals(Optional.of(extended), store.reservation(r.id()), "the sweep left it held");
        assertBalances(store.account(s), 10_000, 0, 0, 0, 1_000);
        clock.advance(Duration.ofSeconds(39));
        store.expireStale();
        assertEquals(ReservationState.HELD, store.reservation(r.id()).orElseThrow().state());
        clock.advance(Duration.ofSeconds(1));   // the extended TTL is over
        assertTrue(store.expireStale() >= 1);
        assertEquals(ReservationState.EXPIRED, store.reservation(r.id()).orElseThrow().state());
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        assertEquals(List.of(EventKind.RESERVED, EventKind.EXPIRED), kinds(store.events(s, month)));
    }

    @Test
    void extendNeverShortensAHold() {
        QuotaStore store = store();
        String s = subject("extend-shorter");
        Reservation r = store.reserve(HoldRequest.of(s, 500).idempotencyKey("k").ttl(Duration.ofMinutes(10))
                .build()).reservation();
        clock.advance(Duration.ofMinutes(1));
        assertEquals(r, store.extend(r.id(), Duration.ofMinutes(1)), "an earlier expiry is not taken");
        assertEquals(r, store.extend(r.id(), Duration.ofMinutes(9)), "nor the same one");
        assertEquals(Optional.of(r), store.reservation(r.id()));
        Reservation longer = store.extend(r.id(), Duration.ofMinutes(30));
        assertEquals(expiringAt(r, clock.instant().plus(Duration.ofMinutes(30))), longer);
        assertEquals(longer, store.extend(r.id(), Duration.ofMinutes(29)));
        assertEquals(Optional.of(longer), store.reservation(r.id()));
        assertBalances(store.account(s), 10_000, 0, 0, 0, 500);
    }

    @Test
    void aHoldPastItsExpiryThatNothingExpiredYetIsExtendedAndTheSubjectsNextReserveKeepsIt() {
        QuotaStore store = store();
        String s = subject("extend-past");
        Reservation all = store.reserve(s, 10_000, null);
        clock.advance(Duration.ofMinutes(6));   // past its 5 minutes; no sweep or reserve has run
        Reservation extended = store.extend(all.id(), Duration.ofMinutes(5));
        assertEquals(expiringAt(all, clock.instant().plus(Duration.ofMinutes(5))), extended);
        QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> store.reserve(s, 1, null),
                "the extended hold's tokens stay held: a reserve needing them is refused");
        assertEquals(0, e.available());
        assertEquals(Optional.of(extended), store.reservation(all.id()), "the reserve did not expire it");
        store.expireStale();
        assertEquals(Optional.of(extended), store.reservation(all.id()), "nor does a sweep");
        assertBalances(store.account(s), 10_000, 0, 0, 0, 10_000);
        assertEquals(List.of(EventKind.RESERVED, EventKind.REJECTED), kinds(store.events(s, month)));
        Reservation committed = store.commit(all.id(), 9_000);
        assertEquals(ReservationState.COMMITTED, committed.state(), "an ordinary commit, not a late one");
        assertBalances(store.account(s), 10_000, 0, 0, 9_000, 0);
    }

    @Test
    void extendReturnsAHoldNoLongerHeldUnchangedAndMovesNothing() {
        QuotaStore store = store();
        String s = subject("extend-finished");
        List<String> ids = new ArrayList<>();
        Reservation keyedCommitted = store.reserve(s, 100, "committed");
        store.commit(keyedCommitted.id(), 80);
        ids.add(keyedCommitted.id());
        Reservation keylessCommitted = store.reserve(s, 200, null);
        store.commit(keylessCommitted.id(), 250);
        ids.add(keylessCommitted.id());
        Reservation keyedReleased = store.reserve(s, 300, "released");
        store.release(keyedReleased.id());
        ids.add(keyedReleased.id());
        Reservation keylessReleased = store.reserve(s, 400, null);
        store.release(keylessReleased.id());
        ids.add(keylessReleased.id());
        ids.add(store.consume(s, 50, null).id());
        ids.add(store.consume(s, 60, "consumed").id());
        Reservation keyedExpired = store.reserve(HoldRequest.of(s, 500).idempotencyKey("expired")
                .ttl(Duration.ofSeconds(10)).build()).reservation();
        Reservation keylessExpired = store.reserve(HoldRequest.of(s, 600).ttl(Duration.ofSeconds(10)).build())
                .reservation();
        ids.add(keyedExpired.id());
        ids.add(keylessExpired.id());
        clock.advance(Duration.ofSeconds(10));
        assertTrue(store.expireStale() >= 2);
        Reservation lateCommitted = store.reserve(HoldRequest.of(s, 700).ttl(Duration.ofSeconds(10)).build())
                .reservation();
        clock.advance(Duration.ofSeconds(10));
        store.expireStale();
        store.commit(lateCommitted.id(), 700);
        ids.add(lateCommitted.id());
        clock.advance(Duration.ofMinutes(1));
        heard.clear();
        Snapshot before = snapshot(store, s);
        for (String id : ids) {
            Reservation finished = store.reservation(id).orElseThrow();
            assertNotEquals(ReservationState.HELD, finished.state());
            assertEquals(finished, store.extend(id, Duration.ofMinutes(5)), () -> "unchanged: " + finished);
            assertEquals(Optional.of(finished), store.reservation(id));
        }
        assertEquals(before, snapshot(store, s), "nothing in the accounts or the log moved");
        assertEquals(List.of(), heard);
    }

    @Test
    void extendOfAnUnknownIdOrWithABadTtlIsRefusedAndChangesNothing() {
        QuotaStore store = store();
        String s = subject("extend-bad");
        Reservation r = store.reserve(s, 100, null);
        for (String unknown : List.of(UUID.randomUUID().toString(), "not-a-uuid", "999999999999999",
                "999999999999999t999999999999998", SQL_SUBJECT)) {
            assertRefused(store, s, ErrorCode.RESERVATION_NOT_FOUND, () -> store.extend(unknown, Duration.ofMinutes(5)));
        }
        List<Duration> bad = new ArrayList<>(List.of(Duration.ZERO, Duration.ofMillis(999), Duration.ofSeconds(-5),
                Limits.MAX_TTL.plusMillis(1), Duration.ofDays(32)));
        bad.add(null);
        for (Duration ttl : bad) {
            assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.extend(r.id(), ttl));
            assertRefused(store, s, ErrorCode.INVALID_ARGUMENT,
                    () -> store.extend(UUID.randomUUID().toString(), ttl));
        }
        assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.extend(null, Duration.ofMinutes(5)));
        assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.extend("", Duration.ofMinutes(5)));
        assertEquals(Optional.of(r), store.reservation(r.id()));
        // the bounds a hold request takes are taken
        assertEquals(r, store.extend(r.id(), Limits.MIN_TTL), "a second from now is earlier than its expiry");
        assertEquals(clock.instant().plus(Limits.MAX_TTL), store.extend(r.id(), Limits.MAX_TTL).expiresAt());
    }

    @Test
    void extendKeepsAKeyedAndAKeylessHoldAliveToTheirCommits() {
        QuotaStore store = store();
        String s = subject("extend-both");
        Reservation keyed = store.reserve(HoldRequest.of(s, 3_000).idempotencyKey("k").ttl(Duration.ofSeconds(30))
                .build()).reservation();
        Reservation keyless = store.reserve(HoldRequest.of(s, 4_000).ttl(Duration.ofSeconds(30)).build())
                .reservation();
        clock.advance(Duration.ofSeconds(20));
        Instant until = clock.instant().plusSeconds(30);
        assertEquals(expiringAt(keyed, until), store.extend(keyed.id(), Duration.ofSeconds(30)));
        assertEquals(expiringAt(keyless, until), store.extend(keyless.id(), Duration.ofSeconds(30)));
        clock.advance(Duration.ofSeconds(20));   // past the first TTL of both
        store.expireStale();
        // the subject's next reserve expires its stale holds first; these are not
        QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> store.reserve(s, 3_001, null));
        assertEquals(3_000, e.available());
        assertEquals(Optional.of(expiringAt(keyed, until)), store.reservation(keyed.id()));
        assertEquals(Optional.of(expiringAt(keyless, until)), store.reservation(keyless.id()));
        // the keyed reserve repeated as it was first asked is still its replay, though its hold now lives longer
        Reserved again = store.reserve(HoldRequest.of(s, 3_000).idempotencyKey("k").ttl(Duration.ofSeconds(30)).build());
        assertTrue(again.replayed());
        assertEquals(expiringAt(keyed, until), again.reservation());

        Reservation a = store.commit(keyed.id(), 2_000);
        Reservation b = store.commit(keyless.id(), 5_000);
        assertEquals(ReservationState.COMMITTED, a.state());
        assertEquals(ReservationState.COMMITTED, b.state());
        assertEquals(until, a.expiresAt());
        assertEquals(until, b.expiresAt());
        assertEquals(Optional.of(b), store.reservation(keyless.id()), "the finished key-less hold reads as committed");
        assertEquals(b, store.extend(keyless.id(), Duration.ofMinutes(5)));
        assertEquals(a, store.extend(keyed.id(), Duration.ofMinutes(5)));
        assertBalances(store.account(s), 10_000, 0, 0, 7_000, 0);
        assertEquals(List.of(EventKind.RESERVED, EventKind.RESERVED, EventKind.REJECTED, EventKind.COMMITTED,
                EventKind.COMMITTED), kinds(store.events(s, month)));
    }

    @Test
    void anExtendedTeamMembersHoldStaysHeldOnBothAccountsAfterItsFirstTtl() {
        QuotaStore store = store();
        String alice = subject("alice");
        String bob = subject("bob");
        String acme = subject("acme");
        String team = Team.subject(acme);
        store.setPlan(team, 1_000);
        store.setTeam(alice, acme);
        store.setTeam(bob, acme);
        Reservation hold = store.reserve(HoldRequest.of(alice, 800).ttl(Duration.ofSeconds(60)).build()).reservation();
        assertEquals(acme, hold.teamId());
        clock.advance(Duration.ofSeconds(50));
        Reservation extended = store.extend(hold.id(), Duration.ofSeconds(60));
        assertEquals(expiringAt(hold, clock.instant().plusSeconds(60)), extended);
        assertBalances(store.account(team), 1_000, 0, 0, 0, 800);

        clock.advance(Duration.ofSeconds(30));   // past the first TTL
        store.expireStale();
        // another member's reserve expires the team's stale holds first; this one is not stale
        QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> store.reserve(bob, 300, null));
        assertEquals(QuotaExceededException.Scope.TEAM, e.scope());
        assertEquals(Optional.of(extended), store.reservation(hold.id()));
        assertEquals(800, store.account(alice).reserved());
        assertEquals(800, store.account(team).reserved());

        clock.advance(Duration.ofSeconds(30));   // past the extended TTL
        assertEquals(ReservationState.HELD, store.reserve(bob, 300, null).state(), "now the team's tokens are back");
        assertEquals(ReservationState.EXPIRED, store.reservation(hold.id()).orElseThrow().state());
        assertEquals(0, store.account(alice).reserved());
        assertEquals(300, store.account(team).reserved());
    }

    // ================================================================ months, history, plans

    @Test
    void aNewMonthStartsFromTheAllocationPlusUnusedPurchasedTokens() {
        QuotaStore store = store();
        String s = subject("rollover");
        store.grant(PurchaseRequest.grant(subject("tx-1"), s, 3_000, PurchaseType.BONUS, "welcome"));
        store.consume(s, 11_000, null);
        QuotaAccount january = store.account(s);
        assertEquals(2_000, january.unusedGranted());
        clock.advanceMonths(1, 1, 0);
        QuotaAccount february = store.account(s);
        assertEquals(month.plusMonths(1), february.month());
        assertBalances(february, 10_000, 0, 2_000, 0, 0);
        assertEquals(12_000, february.available());
        assertEquals(january, store.account(s, month).orElseThrow(), "a past month is read-only");
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 10_000, 0, 2_000, 0, 0);
    }

    @Test
    void purchasedTokensSurviveSkippedMonths() {
        QuotaStore store = store();
        String s = subject("skip");
        store.grant(PurchaseRequest.grant(subject("tx-skip"), s, 500, PurchaseType.PURCHASE, null));
        store.consume(s, 9_000, null);
        clock.advanceMonths(3, 15, 8);
        assertBalances(store.account(s), 10_000, 0, 500, 0, 0);
        assertEquals(Optional.empty(), store.account(s, month.plusMonths(1)));
        assertEquals(Optional.empty(), store.account(s, month.plusMonths(2)));
    }

    @Test
    void nothingCarriesOverWithRolloverOff() {
        QuotaStore store = store(b -> b.rolloverPurchased(false));
        String s = subject("no-rollover");
        store.grant(PurchaseRequest.grant(subject("tx-nr"), s, 500, PurchaseType.BONUS, null));
        clock.advanceMonths(1, 2, 0);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
    }

    @Test
    void carriedTokensStayWhenAPlanRaiseWouldPassMaxQuota() {
        QuotaStore store = store(b -> b.defaultAllocation(1_000).maxQuota(5_000));
        String s = subject("carry-cap");
        store.grant(PurchaseRequest.grant(subject("tx-cc"), s, 4_000, PurchaseType.PURCHASE, null));
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 1_000, 0, 4_000, 0, 0);
        assertRefused(store, s, ErrorCode.MAX_QUOTA_EXCEEDED, () -> store.setPlan(s, 1_001));
        assertRefused(store, s, ErrorCode.MAX_QUOTA_EXCEEDED,
                () -> store.grant(PurchaseRequest.grant(subject("tx-cc2"), s, 1, PurchaseType.BONUS, null)));
        assertBalances(store.setPlan(s, 1_000), 1_000, 0, 4_000, 0, 0);
        assertBalances(store.setPlan(s, 500), 500, 0, 4_000, 0, 0);
        assertEquals(4_500, store.account(s).available());
    }

    @Test
    void overrunDebtDoesNotCarryOver() {
        QuotaStore store = store();
        String s = subject("debt");
        Reservation r = store.reserve(s, 10_000, null);
        store.commit(r.id(), 15_000);
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
    }

    @Test
    void historyListsExistingMonthsNewestFirst() {
        QuotaStore store = store();
        String s = subject("history");
        store.consume(s, 100, null);
        clock.advanceMonths(2, 3, 0);
        store.consume(s, 200, null);
        clock.advanceMonths(1, 3, 0);
        List<QuotaAccount> history = store.history(s, 12);
        assertEquals(List.of(month.plusMonths(3), month.plusMonths(2), month),
                history.stream().map(QuotaAccount::month).toList());
        assertEquals(List.of(0L, 200L, 100L), history.stream().map(QuotaAccount::used).toList());
        assertEquals(List.of(month.plusMonths(3), month.plusMonths(2)),
                store.history(s, 2).stream().map(QuotaAccount::month).toList());
        assertEquals(1, store.history(s, 1).size());
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.history(s, 0));
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.history(s, 25));
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.history(s, -1));
        assertEquals(3, store.history(s, 24).size());
    }

    @Test
    void historyCreatesTheCurrentAccount() {
        QuotaStore store = store();
        String s = subject("history-new");
        assertEquals(Optional.empty(), store.account(s, month));
        List<QuotaAccount> history = store.history(s, 3);
        assertEquals(1, history.size());
        assertBalances(history.get(0), 10_000, 0, 0, 0, 0);
        assertTrue(store.account(s, month).isPresent());
    }

    @Test
    void accountOfAMonthReadsWithoutCreatingAndChecksTheRange() {
        QuotaStore store = store(b -> b.historyMonths(6));
        String s = subject("range");
        assertEquals(Optional.empty(), store.account(s, month));
        assertEquals(Optional.empty(), store.account(s, month.minusMonths(5)));
        assertRefused(store, s, ErrorCode.MONTH_OUT_OF_RANGE, () -> store.account(s, month.plusMonths(1)));
        assertRefused(store, s, ErrorCode.MONTH_OUT_OF_RANGE, () -> store.account(s, month.minusMonths(6)));
        assertRefused(store, s, ErrorCode.MONTH_OUT_OF_RANGE, () -> store.events(s, month.plusMonths(1)));
        assertRefused(store, s, ErrorCode.MONTH_OUT_OF_RANGE, () -> store.purchases(s, month.plusYears(1)));
        assertRefused(store, s, ErrorCode.MONTH_OUT_OF_RANGE, () -> store.purchases(s, month.minusYears(1)));
        assertRefused(store, s, ErrorCode.MONTH_OUT_OF_RANGE, () -> store.topConsumers(month.plusMonths(1), 10));
        assertRefused(store, s, ErrorCode.MONTH_OUT_OF_RANGE, () -> store.blockStats(s, month.minusMonths(6)));
        assertRefused(store, s, ErrorCode.MONTH_OUT_OF_RANGE, () -> store.purchaseTotals(month.plusMonths(1)));
        assertRefused(store, s, ErrorCode.MONTH_OUT_OF_RANGE, () -> store.account(s, YearMonth.of(1970, 1)));
        assertRefused(store, s, ErrorCode.MONTH_OUT_OF_RANGE, () -> store.account(s, YearMonth.of(999_999, 12)));
    }

    @Test
    void setPlanAppliesAtOnceAndToLaterMonths() {
        QuotaStore store = store();
        String s = subject("plan");
        QuotaAccount a = store.setPlan(s, 50_000);
        assertBalances(a, 50_000, 0, 0, 0, 0);
        assertEquals(a, store.account(s));
        LedgerEvent e = store.events(s, month).get(0);
        assertEquals(EventKind.PLAN_CHANGED, e.kind());
        assertEquals(50_000, e.tokens());
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 50_000, 0, 0, 0, 0);
        assertBalances(store.setPlan(s, 0), 0, 0, 0, 0, 0);
        assertThrows(QuotaExceededException.class, () -> store.reserve(s, 1, null));
    }

    @Test
    void setPlanNeverLowersBelowWhatTheMonthSpentOrHoldsOfItsAllocation() {
        QuotaStore store = store();
        String s = subject("plan-floor");
        store.grant(PurchaseRequest.grant(subject("tx-pf"), s, 1_000, PurchaseType.BONUS, null));
        store.consume(s, 6_000, null);
        Reservation held = store.reserve(s, 2_000, null);
        QuotaAccount a = store.setPlan(s, 1_000);
        assertEquals(8_000, a.allocated(), "used + reserved: what the month spent or holds of its allocation");
        assertEquals(1_000, a.available(), "the granted tokens, which the month never spent, stay");
        assertEquals(8_000, store.events(s, month).get(store.events(s, month).size() - 1).tokens());
        store.commit(held.id(), 2_000);
        assertEquals(1_000, store.account(s).unusedGranted(), "the hold, granted under the old plan, spent none of them");
        clock.advanceMonths(1, 1, 0);
        assertEquals(1_000, store.account(s).allocated(), "the plan itself is stored as asked");
    }

    @Test
    void setPlanOnAnOverdrawnAccountOnlyRaises() {
        QuotaStore store = store();
        String s = subject("plan-overdrawn");
        store.commit(store.reserve(s, 10_000, null).id(), 13_000);
        assertEquals(10_000, store.setPlan(s, 5_000).allocated());
        assertEquals(-3_000, store.account(s).available());
        assertEquals(12_000, store.setPlan(s, 12_000).allocated());
        assertEquals(-1_000, store.account(s).available());
    }

    @Test
    void setPlanAboveMaxQuotaOrNegativeIsRefused() {
        QuotaStore store = store(b -> b.maxQuota(100_000));
        String s = subject("plan-max");
        assertRefused(store, s, ErrorCode.MAX_QUOTA_EXCEEDED, () -> store.setPlan(s, 100_001));
        assertRefused(store, s, ErrorCode.INVALID_AMOUNT, () -> store.setPlan(s, -1));
        assertRefused(store, s, ErrorCode.INVALID_AMOUNT, () -> store.setPlan(s, Long.MIN_VALUE));
        assertRefused(store, s, ErrorCode.INVALID_AMOUNT, () -> store.setPlan(s, Long.MAX_VALUE));
        assertEquals(100_000, store.setPlan(s, 100_000).allocated());
    }

    // ================================================================ purchases

    @Test
    void recordPendingStoresThePurchaseWithoutCrediting() {
        QuotaStore store = store();
        String s = subject("pending");
        String tx = subject("pay-1");
        Purchase p = store.recordPending(purchase(tx, s, 5_000));
        assertEquals(PurchaseStatus.PENDING, p.status());
        assertEquals(tx, p.transactionId());
        assertEquals(s, p.subject());
        assertEquals(5_000, p.tokens());
        assertEquals(PurchaseType.PURCHASE, p.type());
        assertEquals("card", p.paymentMethod());
        assertEquals(0, new BigDecimal("12.50").compareTo(p.amount()));
        assertEquals(Currency.USD, p.currency());
        assertEquals("top-up", p.reason());
        assertNull(p.month());
        assertEquals(0, p.unrecovered());
        assertEquals(clock.instant(), p.createdAt());
        assertNull(p.processedAt());
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        List<LedgerEvent> events = store.events(s, month);
        assertEquals(List.of(EventKind.PURCHASE_RECORDED), kinds(events));
        assertEquals(tx, events.get(0).transactionId());
        assertEquals(Optional.of(p), store.purchase(tx));
        clock.advance(Duration.ofMinutes(1));
        assertEquals(p, store.recordPending(purchase(tx, s, 5_000)));
        assertEquals(1, store.events(s, month).size());
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.recordPending(purchase(tx, s, 5_001)));
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.recordPending(
                new PurchaseRequest(tx, s, 5_000, PurchaseType.PURCHASE, "card", new BigDecimal("12.50"), Currency.KRW,
                        "top-up")));
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.grant(purchase(tx, s, 5_001)));
    }

    @Test
    void completeCreditsOnceAndReplaysUnchanged() {
        QuotaStore store = store();
        String s = subject("complete");
        String tx = subject("pay-2");
        store.recordPending(purchase(tx, s, 5_000));
        clock.advance(Duration.ofMinutes(2));
        Purchase done = store.complete(tx);
        assertEquals(PurchaseStatus.COMPLETED, done.status());
        assertEquals(month, done.month());
        assertEquals(clock.instant(), done.processedAt());
        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, 5_000, 0, 0, 0);
        List<LedgerEvent> events = store.events(s, month);
        LedgerEvent credited = events.get(events.size() - 1);
        assertEquals(EventKind.CREDITED, credited.kind());
        assertEquals(5_000, credited.tokens());
        assertEquals(tx, credited.transactionId());
        assertEquals("top-up", credited.detail());
        clock.advance(Duration.ofMinutes(2));
        assertEquals(done, store.complete(tx));
        assertEquals(a, store.account(s), "a replayed callback credits once");
        assertEquals(events.size(), store.events(s, month).size());
        assertEquals(done, store.recordPending(purchase(tx, s, 5_000)), "replaying the request answers it as it is now");
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.fail(tx));
    }

    /**
     * Round 414: a pending record without money (PurchaseRequest's default currency, KRW), completed with the money
     * its provider captured, 33.00 USD: recorded and totalled as 33.00 USD; money left out keeps the record's, a
     * completed purchase keeps its money, and money out of range is refused before anything changes.
     */
    @Test
    void completeRecordsTheCapturedMoney() {
        QuotaStore store = store();
        String s = subject("captured");
        String tx = subject("pay-414");
        store.recordPending(new PurchaseRequest(tx, s, 5_000, PurchaseType.PURCHASE, null, null, null, null));
        assertRefused(store, s, ErrorCode.INVALID_MONEY, () -> store.complete(tx, new BigDecimal("33.005"), Currency.USD));
        assertEquals(PurchaseStatus.PENDING, store.purchase(tx).orElseThrow().status());
        Purchase done = store.complete(tx, new BigDecimal("33"), Currency.USD);
        assertEquals(PurchaseStatus.COMPLETED, done.status());
        assertEquals(new BigDecimal("33.00"), done.amount());
        assertEquals(Currency.USD, done.currency());
        assertEquals(Optional.of(done), store.purchase(tx));
        assertEquals(done, store.complete(tx, new BigDecimal("1.00"), Currency.EUR), "a replay changes nothing");
        assertBalances(store.account(s), 10_000, 5_000, 0, 0, 0);
        List<PurchaseTotal> totals = store.purchaseTotals(month);
        assertEquals(1, totals.size());
        assertEquals(Currency.USD, totals.get(0).currency());
        assertEquals(0, new BigDecimal("33.00").compareTo(totals.get(0).amount()));

        String kept = subject("pay-414-kept");
        store.recordPending(purchase(kept, s, 1_000));
        store.fail(kept);
        Purchase paid = store.complete(kept, null, null);
        assertEquals(new BigDecimal("12.50"), paid.amount());
        assertEquals(Currency.USD, paid.currency());
    }

    @Test
    void aRequestRepeatedAfterItsCompletionCapturedOtherMoneyIsAReplay() {
        QuotaStore store = store();
        String s = subject("captured-replay");
        String tx = subject("pay-417");
        PurchaseRequest noCurrency = new PurchaseRequest(tx, s, 5_000, PurchaseType.PURCHASE, "card",
                new BigDecimal("33.00"), null, null);
        store.recordPending(noCurrency);
        Purchase done = store.complete(tx, new BigDecimal("33.00"), Currency.USD);
        assertEquals(done, store.recordPending(noCurrency), "the pending request repeated (round 417)");
        assertEquals(done, store.grant(noCurrency));
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.recordPending(new PurchaseRequest(tx, s,
                5_000, PurchaseType.PURCHASE, "card", new BigDecimal("33.00"), null, "other reason")));
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.recordPending(new PurchaseRequest(tx, s,
                5_001, PurchaseType.PURCHASE, "card", new BigDecimal("33.00"), null, null)));

        String partial = subject("pay-417-partial");
        store.recordPending(purchase(partial, s, 1_000));
        Purchase captured = store.complete(partial, new BigDecimal("10.00"), Currency.USD);
        store.refund(partial);
        Purchase refunded = store.purchase(partial).orElseThrow();
        assertEquals(new BigDecimal("10.00"), refunded.amount());
        assertEquals(refunded, store.recordPending(purchase(partial, s, 1_000)), "completed 10.00 of 12.50, refunded");
        assertEquals(captured.amount(), store.purchase(partial).orElseThrow().amount());
        assertBalances(store.account(s), 10_000, 5_000, 0, 0, 0);

        // never credited: the money is the request's, and other money is another request
        String failed = subject("pay-417-failed");
        store.recordPending(purchase(failed, s, 1_000));
        store.fail(failed);
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.recordPending(new PurchaseRequest(failed,
                s, 1_000, PurchaseType.PURCHASE, "card", new BigDecimal("10.00"), Currency.USD, "top-up")));
        String uncredited = subject("pay-417-refunded");
        store.recordPending(purchase(uncredited, s, 1_000));
        store.refund(uncredited);
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.recordPending(new PurchaseRequest(
                uncredited, s, 1_000, PurchaseType.PURCHASE, "card", new BigDecimal("12.50"), Currency.EUR, "top-up")));
    }

    @Test
    void failMarksAPendingPurchaseAndALaterPaymentCompletesIt() {
        QuotaStore store = store();
        String s = subject("fail");
        String tx = subject("pay-3");
        store.recordPending(purchase(tx, s, 5_000));
        Purchase failed = store.fail(tx);
        assertEquals(PurchaseStatus.FAILED, failed.status());
        assertEquals(clock.instant(), failed.processedAt());
        assertNull(failed.month());
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        assertEquals(List.of(EventKind.PURCHASE_RECORDED, EventKind.PURCHASE_RECORDED), kinds(store.events(s, month)));
        clock.advance(Duration.ofSeconds(1));
        assertEquals(failed, store.fail(tx));
        // (a refund of a failed purchase marks it refunded since round 340: aRefundOfAFailedPurchase...)
        // declined, then paid with another card under the same id: credited once
        Purchase paid = store.complete(tx);
        assertEquals(PurchaseStatus.COMPLETED, paid.status());
        assertBalances(store.account(s), 10_000, 5_000, 0, 0, 0);
        assertEquals(paid, store.complete(tx));
        assertBalances(store.account(s), 10_000, 5_000, 0, 0, 0);
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.fail(tx));
    }

    @Test
    void unknownTransactionsAreNotFound() {
        QuotaStore store = store();
        String s = subject("no-tx");
        assertRefused(store, s, ErrorCode.PURCHASE_NOT_FOUND, () -> store.complete(subject("nope")));
        assertRefused(store, s, ErrorCode.PURCHASE_NOT_FOUND, () -> store.fail(subject("nope")));
        assertRefused(store, s, ErrorCode.PURCHASE_NOT_FOUND, () -> store.refund(subject("nope")));
        assertRefused(store, s, ErrorCode.PURCHASE_NOT_FOUND, () -> store.refund(SQL_SUBJECT + UUID.randomUUID()));
        assertEquals(Optional.empty(), store.purchase(subject("nope")));
    }

    @Test
    void refundOfAnUnspentPurchaseDebitsItInFull() {
        QuotaStore store = store();
        String s = subject("refund");
        String tx = subject("pay-4");
        store.recordPending(purchase(tx, s, 5_000));
        store.complete(tx);
        store.consume(s, 4_000, null);
        clock.advance(Duration.ofHours(1));
        Purchase refunded = store.refund(tx);
        assertEquals(PurchaseStatus.REFUNDED, refunded.status());
        assertEquals(0, refunded.unrecovered());
        assertEquals(clock.instant(), refunded.processedAt());
        assertEquals(month, refunded.month());
        assertBalances(store.account(s), 10_000, 0, 0, 4_000, 0);
        List<LedgerEvent> events = store.events(s, month);
        LedgerEvent debited = events.get(events.size() - 1);
        assertEquals(EventKind.DEBITED, debited.kind());
        assertEquals(5_000, debited.tokens());
        assertEquals(0, debited.overage());
        assertEquals(tx, debited.transactionId());
        clock.advance(Duration.ofHours(1));
        assertEquals(refunded, store.refund(tx));
        assertEquals(events.size(), store.events(s, month).size());
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.complete(tx));
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.fail(tx));
    }

    @Test
    void refundOfAPartlySpentPurchaseRecordsTheUnrecoveredPart() {
        QuotaStore store = store();
        String s = subject("refund-spent");
        String tx = subject("pay-5");
        store.grant(purchase(tx, s, 5_000));
        store.consume(s, 12_000, null);
        Purchase refunded = store.refund(tx);
        assertEquals(2_000, refunded.unrecovered(), "allowance first: 2,000 of the purchase were spent");
        QuotaAccount a = store.account(s);
        // the spent 2,000 no longer stand as purchased tokens: the month's allowance took them
        assertBalances(a, 12_000, 0, 0, 12_000, 0);
        assertEquals(0, a.available());
        List<LedgerEvent> events = store.events(s, month);
        LedgerEvent debited = events.get(events.size() - 1);
        assertEquals(5_000, debited.tokens(), "all the month's granted: 3,000 unspent, 2,000 spent turned allowance");
        assertEquals(2_000, debited.overage());
    }

    @Test
    void refundTakesNothingBackFromAnOverdrawnMonth() {
        QuotaStore store = store();
        String s = subject("refund-overdrawn");
        String tx = subject("pay-6");
        store.grant(purchase(tx, s, 1_000));
        store.commit(store.reserve(s, 11_000, null).id(), 14_000);
        Purchase refunded = store.refund(tx);
        assertEquals(1_000, refunded.unrecovered());
        assertBalances(store.account(s), 11_000, 0, 0, 14_000, 0);
    }

    /**
     * A refund's spent part and a later plan raise: the raise moves what the month used onto the larger
     * allowance, and must not make the refunded tokens unspent again, nor (in a month a charge beyond
     * its hold overdrew) be swallowed by them. The refund and the raise end the same in either order.
     */
    @Test
    void aPlanRaiseAfterARefundEndsAsTheRaiseBeforeIt() {
        QuotaStore store = store();
        for (boolean overdrawn : List.of(false, true)) {
            List<QuotaAccount> ends = new ArrayList<>();
            for (boolean refundFirst : List.of(true, false)) {
                String s = subject("refund-raise-" + overdrawn + "-" + refundFirst);
                String tx = subject("pay-raise-" + overdrawn + "-" + refundFirst);
                store.grant(purchase(tx, s, 5_000));
                store.consume(s, 12_500, null);
                if (overdrawn) {
                    // 5,000 beyond a 1,000 hold: 17,500 used on a 15,000 limit
                    store.commit(store.reserve(s, 1_000, null).id(), 5_000);
                }
                if (refundFirst) {
                    store.refund(tx);
                    store.setPlan(s, 15_000);
                } else {
                    store.setPlan(s, 15_000);
                    store.refund(tx);
                }
                QuotaAccount a = store.account(s);
                String label = "overdrawn " + overdrawn + ", refunded first " + refundFirst + ": " + a;
                assertEquals(0, a.unusedGranted(), label);
                assertEquals(overdrawn ? 0 : 2_500, a.available(), label);
                ends.add(a);
            }
            assertEquals(ends.get(0).limit(), ends.get(1).limit(), ends.toString());
            // a later downgrade takes the unspent allowance and leaves what the month spent covered, refunded part
            // included: nothing left, nothing owed
            String s = ends.get(0).subject();
            assertEquals(0, store.setPlan(s, 5_000).available(), "downgraded: " + store.account(s));
        }
    }

    // ---------------------------------------------------------------- refunds before their completion (round 340)

    /**
     * Round 340: payment providers deliver events out of order, so a refund may come before the completion it
     * reverses. A pending purchase's refund marks it refunded with nothing debited (nothing was credited):
     * {@code unrecovered} 0, no month, one {@code DEBITED} event of 0 tokens and 0 overage; the completion
     * delivered after it is {@code PURCHASE_STATE_CONFLICT} and credits nothing; replays of the refund answer
     * the refunded record and log nothing.
     */
    @Test
    void pendingThenRefundThenCompleteCreditsNothing() {
        QuotaStore store = store();
        String s = subject("refund-pending");
        String tx = subject("pay-7");
        store.recordPending(purchase(tx, s, 1_000));
        clock.advance(Duration.ofMinutes(1));
        heard.clear();
        Purchase refunded = store.refund(tx);
        assertEquals(PurchaseStatus.REFUNDED, refunded.status());
        assertEquals(0, refunded.unrecovered());
        assertNull(refunded.month(), "never credited");
        assertEquals(clock.instant(), refunded.processedAt());
        assertEquals(Optional.of(refunded), store.purchase(tx));
        List<LedgerEvent> events = store.events(s, month);
        assertEquals(List.of(EventKind.PURCHASE_RECORDED, EventKind.DEBITED), kinds(events));
        LedgerEvent debited = events.get(1);
        assertEquals(List.of(0L, 0L, tx), List.of(debited.tokens(), debited.overage(), debited.transactionId()));
        assertEquals(List.of(debited), heard);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);

        clock.advance(Duration.ofMinutes(1));
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.complete(tx));
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.fail(tx));
        // replays of the refund, and of the request that recorded it, answer the refunded record
        assertEquals(refunded, store.refund(tx));
        assertEquals(refunded, store.refund(tx));
        assertEquals(refunded, store.recordPending(purchase(tx, s, 1_000)));
        assertEquals(refunded, store.grant(purchase(tx, s, 1_000)), "a replayed grant credits nothing either");
        assertEquals(events, store.events(s, month));
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        assertEquals(List.of(), store.purchaseTotals(month), "nothing was credited: no month counts it");
        assertEquals(List.of(refunded), store.purchases(s, month));
    }

    /**
     * Round 340: a refund of a purchase the ledger does not know is {@code PURCHASE_NOT_FOUND} and changes
     * nothing (a transaction id alone names no user and no tokens); recorded from the refund event first, as
     * the payment callback does ({@code recordPending}, then {@code refund}), it ends refunded with nothing
     * credited or debited, and the completion delivered after it credits nothing.
     */
    @Test
    void unknownThenRefundThenCompleteCreditsNothing() {
        QuotaStore store = store();
        String s = subject("refund-unknown");
        String tx = subject("pay-7u");
        assertRefused(store, s, ErrorCode.PURCHASE_NOT_FOUND, () -> store.refund(tx));
        store.recordPending(purchase(tx, s, 5_000));
        Purchase refunded = store.refund(tx);
        assertEquals(PurchaseStatus.REFUNDED, refunded.status());
        assertEquals(0, refunded.unrecovered());
        clock.advance(Duration.ofMinutes(5));
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.complete(tx));
        // the completion as the callback delivers it for a purchase it does not know: a grant, then a complete
        assertEquals(refunded, store.grant(purchase(tx, s, 5_000)));
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.complete(tx));
        assertEquals(refunded, store.refund(tx), "the refund's retry");
        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, 0, 0, 0, 0);
        assertEquals(10_000, a.available());
        assertEquals(List.of(EventKind.PURCHASE_RECORDED, EventKind.DEBITED), kinds(store.events(s, month)));
        assertEquals(0, store.events(s, month).get(1).tokens());
    }

    /**
     * Round 340: a failed purchase's refund marks it refunded with nothing debited too (a payment declined
     * once and paid under the same id with another card, refunded before that completion came): the
     * completion, which a failed purchase would otherwise take, credits nothing.
     */
    @Test
    void failedThenRefundThenCompleteCreditsNothing() {
        QuotaStore store = store();
        String s = subject("refund-failed");
        String tx = subject("pay-7f");
        store.recordPending(purchase(tx, s, 2_000));
        store.fail(tx);
        Purchase refunded = store.refund(tx);
        assertEquals(PurchaseStatus.REFUNDED, refunded.status());
        assertEquals(0, refunded.unrecovered());
        assertNull(refunded.month());
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.complete(tx));
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.fail(tx));
        assertEquals(refunded, store.refund(tx));
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        assertEquals(List.of(EventKind.PURCHASE_RECORDED, EventKind.PURCHASE_RECORDED, EventKind.DEBITED),
                kinds(store.events(s, month)));
    }

    /**
     * Control (round 340): the refund of a purchase completed first still debits it, also when a refund of
     * another purchase of the subject came before its own completion; only the uncredited one is free.
     */
    @Test
    void anEarlyRefundLeavesOtherPurchasesToDebitAsBefore() {
        QuotaStore store = store();
        String s = subject("refund-early-other");
        String early = subject("pay-7e");
        String paid = subject("pay-7p");
        store.recordPending(purchase(early, s, 3_000));
        store.refund(early);
        store.grant(purchase(paid, s, 4_000));
        store.consume(s, 11_000, null);
        assertBalances(store.account(s), 10_000, 4_000, 0, 11_000, 0);
        Purchase refunded = store.refund(paid);
        assertEquals(1_000, refunded.unrecovered(), "allowance first: 1,000 of the paid purchase were spent");
        assertEquals(0, store.account(s).available());
        assertRefused(store, s, ErrorCode.PURCHASE_STATE_CONFLICT, () -> store.complete(early));
    }

    @Test
    void refundDebitsTheCurrentMonthAndCanReachCarriedTokens() {
        QuotaStore store = store();
        String s = subject("refund-carried");
        String tx = subject("pay-8");
        store.grant(purchase(tx, s, 3_000));
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 10_000, 0, 3_000, 0, 0);
        Purchase refunded = store.refund(tx);
        assertEquals(0, refunded.unrecovered());
        assertEquals(month, refunded.month(), "month stays the credited month");
        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, -3_000, 3_000, 0, 0);
        assertEquals(0, a.unusedGranted());
    }

    /**
     * Round 422: with rollover off a purchase of a closed month lapsed with it, so its refund in a later month takes
     * none of that month's purchased tokens (another pack's, paid for) and turns none into allowance; its
     * {@code unrecovered} is what its own month spent of it, and two packs of that month refunded one after the
     * other do not both find the same unspent tokens.
     */
    @Test
    void aLapsedPurchasesRefundTakesNothingFromTheCurrentMonth() {
        QuotaStore store = store(b -> b.rolloverPurchased(false));
        String s = subject("refund-lapsed");
        String a = subject("pay-422-a");
        String c = subject("pay-422-c");
        store.grant(purchase(a, s, 5_000));
        store.grant(purchase(c, s, 5_000));
        store.consume(s, 13_000, null);
        clock.advanceMonths(1, 1, 0);
        YearMonth next = month.plusMonths(1);
        store.grant(purchase(subject("pay-422-b"), s, 5_000));
        store.consume(s, 12_000, null);
        Purchase first = store.refund(a);
        Purchase second = store.refund(c);
        assertEquals(0, first.unrecovered(), "January left 7,000 of its 10,000 bought tokens unspent");
        assertEquals(3_000, second.unrecovered(), "of the 2,000 January left unspent, A's refund found them");
        assertEquals(month, second.month());
        assertBalances(store.account(s), 10_000, 5_000, 0, 12_000, 0);
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 10_000, 0, 13_000, 0);
        List<LedgerEvent> events = store.events(s, next);
        List<List<Long>> debits = new ArrayList<>();
        for (LedgerEvent e : events.subList(events.size() - 2, events.size())) {
            assertEquals(EventKind.DEBITED, e.kind());
            debits.add(List.of(e.tokens(), e.overage()));
        }
        assertEquals(List.of(List.of(0L, 0L), List.of(0L, 3_000L)), debits);
    }

    /**
     * Round 422: a pending request repeated after a completion recorded in one step ({@code grant}, as the payment
     * callback records a completion it never saw) may leave out the payment method and the reason the completion
     * carried: a replay. One that names others is still another request.
     */
    @Test
    void aPendingRequestAfterItsOneStepCompletionMayLeaveOutWhatTheCompletionCarried() {
        QuotaStore store = store();
        String s = subject("late-pending");
        String tx = subject("pay-422-late");
        Purchase done = store.grant(new PurchaseRequest(tx, s, 5_000, PurchaseType.PURCHASE, "card",
                new BigDecimal("33.00"), Currency.USD, "pack"));
        assertEquals(done, store.recordPending(new PurchaseRequest(tx, s, 5_000, PurchaseType.PURCHASE, null,
                new BigDecimal("33.00"), null, null)));
        assertEquals(done, store.recordPending(new PurchaseRequest(tx, s, 5_000, PurchaseType.PURCHASE, "card",
                null, null, "pack")));
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.recordPending(new PurchaseRequest(tx, s,
                5_000, PurchaseType.PURCHASE, "paypal", null, null, null)));
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.recordPending(new PurchaseRequest(tx, s,
                5_000, PurchaseType.PURCHASE, null, null, null, "other reason")));
        assertBalances(store.account(s), 10_000, 5_000, 0, 0, 0);

        // never credited: a request leaving them out is still another request
        String pending = subject("pay-422-pending");
        store.recordPending(new PurchaseRequest(pending, s, 1_000, PurchaseType.PURCHASE, "card", null, null, "pack"));
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.recordPending(new PurchaseRequest(pending,
                s, 1_000, PurchaseType.PURCHASE, null, null, null, null)));
    }

    @Test
    void grantCreditsAtOnceAndIsIdempotent() {
        QuotaStore store = store();
        String s = subject("grant");
        String tx = subject("bonus-1");
        PurchaseRequest request = PurchaseRequest.grant(tx, s, 2_500, PurchaseType.BONUS, "welcome bonus");
        Purchase p = store.grant(request);
        assertEquals(PurchaseStatus.COMPLETED, p.status());
        assertEquals(month, p.month());
        assertEquals(clock.instant(), p.createdAt());
        assertEquals(clock.instant(), p.processedAt());
        assertEquals(Currency.KRW, p.currency());
        assertNull(p.amount());
        assertBalances(store.account(s), 10_000, 2_500, 0, 0, 0);
        assertEquals(List.of(EventKind.CREDITED), kinds(store.events(s, month)));
        assertEquals("welcome bonus", store.events(s, month).get(0).detail());
        clock.advance(Duration.ofMinutes(1));
        assertEquals(p, store.grant(request));
        assertEquals(2_500, store.account(s).granted());
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT,
                () -> store.grant(PurchaseRequest.grant(tx, s, 2_500, PurchaseType.BONUS, "other reason")));
        // another subject's request: the conflict may create that subject's (empty) account, nothing more
        QuotaAccount before = store.account(s);
        assertCode(ErrorCode.IDEMPOTENCY_CONFLICT,
                () -> store.grant(PurchaseRequest.grant(tx, subject("other"), 2_500, PurchaseType.BONUS, "welcome bonus")));
        assertEquals(before, store.account(s));
        assertBalances(store.account(subject("other")), 10_000, 0, 0, 0, 0);
        assertEquals(p, store.purchase(tx).orElseThrow());
    }

    @Test
    void creditsPastMaxQuotaAreRefused() {
        QuotaStore store = store(b -> b.maxQuota(20_000));
        String s = subject("max");
        store.grant(PurchaseRequest.grant(subject("g-1"), s, 10_000, PurchaseType.BONUS, null));
        String tx = subject("g-2");
        assertRefused(store, s, ErrorCode.MAX_QUOTA_EXCEEDED,
                () -> store.grant(PurchaseRequest.grant(tx, s, 1, PurchaseType.BONUS, null)));
        assertEquals(Optional.empty(), store.purchase(tx), "a refused grant is not recorded");
        String pending = subject("p-1");
        store.recordPending(purchase(pending, s, 1));
        assertRefused(store, s, ErrorCode.MAX_QUOTA_EXCEEDED, () -> store.complete(pending));
        assertEquals(PurchaseStatus.PENDING, store.purchase(pending).orElseThrow().status());
        store.consume(s, 5_000, null);
        assertRefused(store, s, ErrorCode.MAX_QUOTA_EXCEEDED, () -> store.complete(pending));
    }

    @Test
    void creditsCannotOverflowTheCounters() {
        QuotaStore store = store(b -> b.maxQuota(Limits.MAX_TOKENS));
        String s = subject("overflow");
        store.grant(PurchaseRequest.grant(subject("big-1"), s, Limits.MAX_TOKENS - 10_000, PurchaseType.BONUS, null));
        assertEquals(Limits.MAX_TOKENS, store.account(s).limit());
        assertRefused(store, s, ErrorCode.MAX_QUOTA_EXCEEDED, () -> store.grant(
                PurchaseRequest.grant(subject("big-2"), s, Limits.MAX_TOKENS, PurchaseType.BONUS, null)));
        Reservation r = store.reserve(s, Limits.MAX_TOKENS, null);
        store.commit(r.id(), Limits.MAX_TOKENS);
        assertEquals(0, store.account(s).available());
    }

    @Test
    void purchasesOfAMonthAreListedNewestFirst() {
        QuotaStore store = store();
        String s = subject("list");
        store.recordPending(purchase(subject("l-1"), s, 100));
        clock.advance(Duration.ofMinutes(1));
        store.grant(purchase(subject("l-2"), s, 200));
        clock.advance(Duration.ofMinutes(1));
        store.recordPending(purchase(subject("l-3"), s, 300));
        store.fail(subject("l-3"));
        store.recordPending(purchase(subject("other-subject"), subject("other"), 300));
        assertEquals(List.of(subject("l-3"), subject("l-2"), subject("l-1")),
                store.purchases(s, month).stream().map(Purchase::transactionId).toList());
        clock.advanceMonths(1, 1, 0);
        assertEquals(3, store.purchases(s, month).size());
        assertEquals(List.of(), store.purchases(s, month.plusMonths(1)));
    }

    // ================================================================ statistics

    @Test
    void dailyUsageCountsChargesRequestsAndRejectionsPerDay() {
        QuotaStore store = store();
        String s = subject("daily");
        String t = subject("daily-2");
        LocalDate day1 = month.atDay(10);
        store.consume(s, 300, null);
        Reservation r = store.reserve(HoldRequest.of(s, 1_000).ttl(Duration.ofDays(2)).build()).reservation();
        clock.advance(Duration.ofDays(1));
        store.commit(r.id(), 700);
        store.reserve(s, 100, null);
        assertThrows(QuotaExceededException.class, () -> store.reserve(s, 50_000, null));
        store.consume(t, 5, null);
        clock.advance(Duration.ofDays(2));
        List<DailyUsage> days = store.dailyUsage(s, day1.minusDays(1), day1.plusDays(3));
        assertEquals(List.of(
                new DailyUsage(day1.minusDays(1), 0, 0, 0),
                new DailyUsage(day1, 300, 2, 0),
                new DailyUsage(day1.plusDays(1), 700, 1, 1),
                new DailyUsage(day1.plusDays(2), 0, 0, 0),
                new DailyUsage(day1.plusDays(3), 0, 0, 0)), days);
        List<DailyUsage> all = store.dailyUsage(null, day1, day1.plusDays(1));
        assertEquals(List.of(new DailyUsage(day1, 300, 2, 0), new DailyUsage(day1.plusDays(1), 705, 2, 1)), all);
        assertEquals(1, store.dailyUsage(s, day1, day1).size());
        assertEquals(366, store.dailyUsage(s, day1, day1.plusDays(365)).size());
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.dailyUsage(s, day1, day1.minusDays(1)));
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.dailyUsage(s, day1, day1.plusDays(366)));
        assertRefused(store, s, ErrorCode.INVALID_SUBJECT, () -> store.dailyUsage("", day1, day1));
    }

    @Test
    void topConsumersAreOrderedByUseThenSubject() {
        QuotaStore store = store();
        store.consume(subject("b"), 500, null);
        store.consume(subject("a"), 500, null);
        store.consume(subject("c"), 900, null);
        store.setPlan(subject("c"), 20_000);
        store.account(subject("d"));
        assertEquals(List.of(
                new ConsumerUsage(subject("c"), 900, 20_000),
                new ConsumerUsage(subject("a"), 500, 10_000),
                new ConsumerUsage(subject("b"), 500, 10_000)), store.topConsumers(month, 3));
        assertEquals(4, store.topConsumers(month, 1000).size());
        assertEquals(1, store.topConsumers(month, 1).size());
        String s = subject("a");
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.topConsumers(month, 0));
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.topConsumers(month, 1001));
        assertEquals(List.of(), store.topConsumers(month.minusMonths(1), 10));
    }

    @Test
    void blockStatsCompareGrantedAndRefusedHolds() {
        QuotaStore store = store();
        String s = subject("block");
        String t = subject("block-2");
        assertEquals(new BlockStats(0, 0, 0.0), store.blockStats(s, month));
        store.reserve(s, 9_000, null);
        store.consume(s, 500, null);
        store.commit(store.reserve(s, 100, null).id(), 100);
        assertThrows(QuotaExceededException.class, () -> store.reserve(s, 5_000, null));
        store.consume(t, 10, null);
        BlockStats stats = store.blockStats(s, month);
        assertEquals(3, stats.granted());
        assertEquals(1, stats.rejected());
        assertEquals(0.25, stats.ratio(), 1e-9);
        BlockStats all = store.blockStats(null, month);
        assertEquals(4, all.granted());
        assertEquals(1, all.rejected());
        assertEquals(0.2, all.ratio(), 1e-9);
        assertEquals(new BlockStats(0, 0, 0.0), store.blockStats(s, month.minusMonths(1)));
    }

    @Test
    void forecastProjectsExhaustionAtThePaceSoFar() {
        clock.set(month.atDay(11).atStartOfDay().toInstant(ZoneOffset.UTC));
        QuotaStore store = store();
        String s = subject("forecast");
        UsageForecast idle = store.forecast(s);
        assertEquals(0.0, idle.tokensPerDay());
        assertNull(idle.projectedExhaustion());
        assertEquals(month, idle.month());
        assertEquals(10_000, idle.available());
        assertEquals(month.plusMonths(1).atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC), idle.resetAt());

        store.consume(s, 5_000, null);
        UsageForecast f = store.forecast(s);
        assertEquals(s, f.subject());
        assertEquals(5_000, f.used());
        assertEquals(5_000, f.available());
        assertEquals(500.0, f.tokensPerDay(), 1e-9);
        assertNotNull(f.projectedExhaustion());
        Instant expected = clock.instant().plus(Duration.ofDays(10));
        assertTrue(Math.abs(Duration.between(expected, f.projectedExhaustion()).toMillis()) <= 1_000,
                () -> "expected about " + expected + ", was " + f.projectedExhaustion());

        String slow = subject("forecast-slow");
        store.consume(slow, 1_000, null);
        UsageForecast later = store.forecast(slow);
        assertEquals(100.0, later.tokensPerDay(), 1e-9);
        assertNull(later.projectedExhaustion(), "at 100 a day the month resets before 9,000 are used");

        String done = subject("forecast-done");
        store.consume(done, 10_000, null);
        assertEquals(clock.instant(), store.forecast(done).projectedExhaustion());
    }

    @Test
    void forecastAtTheStartOfAMonthUsesAtLeastAnHour() {
        clock.set(month.atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC));
        QuotaStore store = store();
        String s = subject("forecast-start");
        store.consume(s, 100, null);
        UsageForecast f = store.forecast(s);
        assertEquals(2_400.0, f.tokensPerDay(), 1e-6);
    }

    @Test
    void purchaseTotalsGroupCreditedPurchasesByTypeAndCurrency() {
        QuotaStore store = store();
        String s = subject("totals");
        store.grant(new PurchaseRequest(subject("t1"), s, 1_000, PurchaseType.PURCHASE, "card", new BigDecimal("10.00"),
                Currency.USD, null));
        store.grant(new PurchaseRequest(subject("t2"), s, 2_000, PurchaseType.PURCHASE, "card", new BigDecimal("5.25"),
                Currency.USD, null));
        store.grant(new PurchaseRequest(subject("t3"), s, 3_000, PurchaseType.PURCHASE, "card", new BigDecimal("4000"),
                Currency.KRW, null));
        store.grant(PurchaseRequest.grant(subject("t4"), s, 500, PurchaseType.BONUS, "promo"));
        store.refund(subject("t2"));
        store.recordPending(new PurchaseRequest(subject("t5"), s, 9_000, PurchaseType.PURCHASE, "card",
                new BigDecimal("99.00"), Currency.USD, null));
        store.recordPending(new PurchaseRequest(subject("t6"), s, 9_000, PurchaseType.PURCHASE, "card",
                new BigDecimal("99.00"), Currency.EUR, null));
        store.fail(subject("t6"));
        List<PurchaseTotal> totals = store.purchaseTotals(month);
        assertEquals(3, totals.size());
        assertEquals(List.of(PurchaseType.BONUS, PurchaseType.PURCHASE, PurchaseType.PURCHASE),
                totals.stream().map(PurchaseTotal::type).toList());
        assertEquals(List.of(Currency.KRW, Currency.KRW, Currency.USD),
                totals.stream().map(PurchaseTotal::currency).toList());
        assertEquals(List.of(1L, 1L, 2L), totals.stream().map(PurchaseTotal::count).toList());
        assertEquals(List.of(500L, 3_000L, 3_000L), totals.stream().map(PurchaseTotal::tokens).toList());
        assertEquals(0, BigDecimal.ZERO.compareTo(totals.get(0).amount()));
        assertEquals(0, new BigDecimal("4000.00").compareTo(totals.get(1).amount()));
        assertEquals(0, new BigDecimal("15.25").compareTo(totals.get(2).amount()));
        assertEquals(List.of(), store.purchaseTotals(month.minusMonths(1)));
    }

    // ================================================================ month boundaries, late holds, limits (issue 10)

    /** Moves the clock to {@code hour:minute} of the last day of the test's month. */
    private Instant lastDayOfMonthAt(int hour, int minute) {
        Instant at = month.atEndOfMonth().atTime(hour, minute).toInstant(ZoneOffset.UTC);
        clock.set(at);
        return at;
    }

    /** Moves the clock to {@code hour:minute} of the first day of the month after the test's month. */
    private Instant nextMonthAt(int hour, int minute) {
        Instant at = month.plusMonths(1).atDay(1).atTime(hour, minute).toInstant(ZoneOffset.UTC);
        clock.set(at);
        return at;
    }

    /**
     * The issue's opening scenario at 23:50 on the month's last day: 5,000 purchased tokens, the
     * allowance spent, and a hold on {@code held} tokens, which therefore are all purchased tokens.
     */
    private Reservation purchasedOnHoldAtMonthEnd(QuotaStore store, String s, long held, Duration ttl) {
        lastDayOfMonthAt(23, 50);
        store.grant(purchase(subject("tx-" + s.substring(prefix.length())), s, 5_000));
        store.consume(s, 10_000, null);
        Reservation r = store.reserve(HoldRequest.of(s, held).ttl(ttl).endpoint("/month-end").build()).reservation();
        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, 5_000, 0, 10_000, held);
        assertEquals(5_000 - held, a.unusedGranted());
        return r;
    }

    @Test
    void purchasedTokensOnHoldAtMonthEndAreCarriedWhenTheSweepRunsBeforeTheFirstRequest() {
        QuotaStore store = store();
        String s = subject("sweep-first");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 5_000, Duration.ofMinutes(5));
        nextMonthAt(0, 10);
        assertTrue(store.expireStale() >= 1);
        assertEquals(ReservationState.EXPIRED, store.reservation(r.id()).orElseThrow().state());
        QuotaAccount february = store.account(s);
        assertBalances(february, 10_000, 0, 5_000, 0, 0);
        assertEquals(15_000, february.available());
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 10_000, 0);
    }

    @Test
    void purchasedTokensOnHoldAtMonthEndAreCarriedWhenTheFirstRequestComesBeforeTheSweep() {
        QuotaStore store = store();
        String s = subject("request-first");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 5_000, Duration.ofMinutes(5));
        nextMonthAt(0, 10);
        Reservation next = store.reserve(s, 1, null);
        assertEquals(month.plusMonths(1), next.month());
        store.expireStale();
        assertEquals(ReservationState.EXPIRED, store.reservation(r.id()).orElseThrow().state());
        QuotaAccount february = store.account(s);
        assertBalances(february, 10_000, 0, 5_000, 0, 1);
        assertEquals(14_999, february.available());
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 10_000, 0);
    }

    @Test
    void purchasedTokensOfAHoldStillLiveAtTheNewMonthsFirstTouchComeToTheNewMonthWhenItExpires() {
        QuotaStore store = store();
        String s = subject("live-at-touch");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 5_000, Duration.ofHours(1));
        nextMonthAt(0, 10);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        clock.advance(Duration.ofHours(1));
        assertTrue(store.expireStale() >= 1);
        assertEquals(ReservationState.EXPIRED, store.reservation(r.id()).orElseThrow().state());
        assertBalances(store.account(s), 10_000, 0, 5_000, 0, 0);
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 10_000, 0);
        assertEquals(List.of(EventKind.CREDITED, EventKind.COMMITTED, EventKind.RESERVED, EventKind.EXPIRED),
                kinds(store.events(s, month)), "the hold's events stay in its own month");
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 10_000, 0, 5_000, 0, 0);
    }

    @Test
    void aLateReleaseGivesTheHeldPurchasedTokensToTheNewMonth() {
        QuotaStore store = store();
        String s = subject("late-release");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 5_000, Duration.ofHours(1));
        nextMonthAt(0, 10);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        Reservation released = store.release(r.id());
        assertEquals(ReservationState.RELEASED, released.state());
        assertEquals(month, released.month());
        assertBalances(store.account(s), 10_000, 0, 5_000, 0, 0);
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 10_000, 0);
        assertEquals(released, store.release(r.id()), "a repeated release returns nothing twice");
        assertBalances(store.account(s), 10_000, 0, 5_000, 0, 0);
    }

    @Test
    void aLateCommitForLessThanHeldGivesTheUnusedPurchasedTokensToTheNewMonth() {
        QuotaStore store = store();
        String s = subject("late-less");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 5_000, Duration.ofHours(1));
        nextMonthAt(0, 10);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        Reservation c = store.commit(r.id(), 2_000);
        assertEquals(ReservationState.COMMITTED, c.state());
        assertEquals(2_000, c.charged());
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 12_000, 0);
        assertBalances(store.account(s), 10_000, 0, 3_000, 0, 0);
        LedgerEvent committed = store.events(s, month).get(store.events(s, month).size() - 1);
        assertEquals(EventKind.COMMITTED, committed.kind());
        assertEquals(month, committed.month());
        assertEquals(List.of(), store.events(s, month.plusMonths(1)));
    }

    @Test
    void aLateCommitOfAnExpiredHoldForLessThanHeldTakesBackOnlyWhatItCharges() {
        QuotaStore store = store();
        String s = subject("late-expired-less");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 5_000, Duration.ofMinutes(5));
        nextMonthAt(0, 10);
        store.expireStale();
        assertBalances(store.account(s), 10_000, 0, 5_000, 0, 0);
        Reservation late = store.commit(r.id(), 2_000);
        assertEquals(ReservationState.COMMITTED, late.state());
        assertEquals(2_000, late.charged());
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 12_000, 0);
        assertBalances(store.account(s), 10_000, 0, 3_000, 0, 0);
        List<LedgerEvent> events = store.events(s, month);
        assertEquals(EventKind.LATE_COMMITTED, events.get(events.size() - 1).kind());
        assertEquals(2_000, events.get(events.size() - 1).tokens());
    }

    /** The issue's case: 5,000 bought, 5,000 spent in January, and February must not still carry 4,000. */
    @Test
    void aLateCommitForMoreThanHeldTakesThePurchasedTokensTheNewMonthCarried() {
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CHARGE_ACTUAL));
        String s = subject("late-more");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 1_000, Duration.ofHours(1));
        nextMonthAt(0, 10);
        assertBalances(store.account(s), 10_000, 0, 4_000, 0, 0);
        Reservation c = store.commit(r.id(), 6_000);
        assertEquals(6_000, c.charged());
        assertEquals(5_000, c.overage());
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 16_000, 0);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
        assertEquals(10_000, store.account(s).available());
    }

    @Test
    void aLateCommitOfAnExpiredHoldForMoreThanHeldTakesBackWhatTheExpiryReturned() {
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CHARGE_ACTUAL));
        String s = subject("late-expired-more");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 1_000, Duration.ofMinutes(5));
        nextMonthAt(0, 10);
        assertBalances(store.account(s), 10_000, 0, 5_000, 0, 0);
        Reservation late = store.commit(r.id(), 6_000);
        assertEquals(ReservationState.COMMITTED, late.state());
        assertEquals(6_000, late.charged());
        assertEquals(5_000, late.overage());
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 16_000, 0);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
    }

    @Test
    void aLateChargeTakesThePurchasedTokensTheLatestMonthAlreadySpentAndMayOverdrawIt() {
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CHARGE_ACTUAL));
        String s = subject("late-beyond");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 1_000, Duration.ofHours(1));
        nextMonthAt(0, 10);
        store.consume(s, 12_000, null);
        assertBalances(store.account(s), 10_000, 0, 4_000, 12_000, 0);
        store.commit(r.id(), 9_000);
        // January now spends all its 5,000 purchased tokens: the 4,000 February carried go back
        assertBalances(store.account(s), 10_000, 0, 0, 12_000, 0);
        assertEquals(-2_000, store.account(s).available());
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 19_000, 0);
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
    }

    /**
     * Round 392b (H2Round392Test's sixteen threads once left February at [20000, 0, 60, 20320, 0], used 260
     * beyond its limit): a hold open at the month turn and past its TTL is expired by the new month's first
     * call (its sweep), which gives the hold's purchased tokens to the new month; the new month spends them;
     * the commit that comes after is a late commit, charged in full to the closed month, and it takes the
     * purchased tokens back from the new month's {@code carried}, which ends below what the month spent: the
     * documented overdraft of a late charge (docs/semantics.md, "Late commit"). Committed before the sweep, the
     * same call would have freed only the 20 it did not use, and the consume been refused; the months carry
     * the same tokens in both orders.
     */
    @Test
    void aHoldSweptAtTheMonthTurnAndCommittedLateTakesBackThePurchasedTokensTheNewMonthSpent() {
        QuotaStore store = store();
        String s = subject("late-swept");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 300, Duration.ofMinutes(5));
        nextMonthAt(0, 10);
        // the sweep before the consume expires the hold: all 5,000 bought tokens are the new month's
        store.consume(s, 15_000, null);
        assertBalances(store.account(s), 10_000, 0, 5_000, 15_000, 0);
        Reservation late = store.commit(r.id(), 280);
        assertEquals(ReservationState.COMMITTED, late.state());
        assertEquals(280, late.charged());
        List<LedgerEvent> events = store.events(s, month);
        assertEquals(EventKind.LATE_COMMITTED, events.get(events.size() - 1).kind());
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 10_280, 0);
        // 4,720 carried, as a commit before the sweep leaves them, and 15,000 spent of them: 280 overdrawn
        assertBalances(store.account(s), 10_000, 0, 4_720, 15_000, 0);
        assertEquals(-280, store.account(s).available());
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
    }

    @Test
    void aCreditCompletedAfterTheMonthTurnGoesToTheNewMonth() {
        QuotaStore store = store();
        String s = subject("credit-turn");
        String tx = subject("pay-turn");
        Reservation r = purchasedOnHoldAtMonthEnd(store, s, 3_000, Duration.ofHours(1));
        lastDayOfMonthAt(23, 59);
        store.recordPending(purchase(tx, s, 2_000));
        nextMonthAt(0, 1);
        assertBalances(store.account(s), 10_000, 0, 2_000, 0, 0);
        Purchase done = store.complete(tx);
        assertEquals(month.plusMonths(1), done.month());
        assertBalances(store.account(s), 10_000, 2_000, 2_000, 0, 0);
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 10_000, 3_000);
        store.release(r.id());
        assertBalances(store.account(s), 10_000, 2_000, 5_000, 0, 0);
        assertEquals(17_000, store.account(s).available());
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 10_000, 0, 7_000, 0, 0);
    }

    @Test
    void aGrantJustBeforeMidnightIsCarriedAndAHoldFinishedAfterItAddsItsUnusedPurchasedTokens() {
        QuotaStore store = store();
        String s = subject("grant-midnight");
        lastDayOfMonthAt(23, 59);
        store.grant(PurchaseRequest.grant(subject("g-midnight-1"), s, 700, PurchaseType.BONUS, null));
        store.consume(s, 10_000, null);
        Reservation r = store.reserve(HoldRequest.of(s, 500).ttl(Duration.ofMinutes(30)).build()).reservation();
        clock.advance(Duration.ofSeconds(59));
        store.grant(PurchaseRequest.grant(subject("g-midnight-2"), s, 300, PurchaseType.BONUS, null));
        assertBalances(store.account(s), 10_000, 1_000, 0, 10_000, 500);
        clock.advance(Duration.ofSeconds(1));
        assertBalances(store.account(s), 10_000, 0, 500, 0, 0);
        store.commit(r.id(), 100);
        assertBalances(store.account(s), 10_000, 0, 900, 0, 0);
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 1_000, 0, 10_100, 0);
    }

    @Test
    void refundOfTokensOnHoldThenReleaseLeavesTheUserNone() {
        QuotaStore store = store();
        String s = subject("refund-held");
        String tx = subject("pay-held");
        store.grant(purchase(tx, s, 5_000));
        store.consume(s, 10_000, null);
        Reservation r = store.reserve(s, 3_000, null);
        Purchase refunded = store.refund(tx);
        assertEquals(0, refunded.unrecovered(), "held tokens are not spent");
        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, 0, 0, 10_000, 3_000);
        assertEquals(-3_000, a.available(), "the hold outlives the refund");
        LedgerEvent debited = store.events(s, month).get(store.events(s, month).size() - 1);
        assertEquals(EventKind.DEBITED, debited.kind());
        assertEquals(5_000, debited.tokens());
        assertEquals(0, debited.overage());
        store.release(r.id());
        a = store.account(s);
        assertEquals(0, a.available());
        assertEquals(0, a.unusedGranted());
        assertThrows(QuotaExceededException.class, () -> store.reserve(s, 1, null));
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 10_000, 0, 0, 0, 0);
    }

    @Test
    void refundOfTokensOnHoldThenCommitChargesTheAllowanceOverdraft() {
        QuotaStore store = store();
        String s = subject("refund-held-commit");
        String tx = subject("pay-held-commit");
        store.grant(purchase(tx, s, 5_000));
        store.consume(s, 10_000, null);
        Reservation r = store.reserve(s, 3_000, null);
        store.refund(tx);
        store.commit(r.id(), 3_000);
        QuotaAccount a = store.account(s);
        assertBalances(a, 10_000, 0, 0, 13_000, 0);
        assertEquals(-3_000, a.available());
    }

    @Test
    void refundReachingAClosedMonthsHoldThenItsReleaseLeavesTheUserNone() {
        QuotaStore store = store();
        String s = subject("refund-closed-hold");
        String tx = subject("pay-closed-hold");
        lastDayOfMonthAt(23, 50);
        store.grant(purchase(tx, s, 5_000));
        store.consume(s, 9_000, null);
        Reservation r = store.reserve(HoldRequest.of(s, 3_000).ttl(Duration.ofHours(1)).build()).reservation();
        // 1,000 allowance and 2,000 purchased tokens on hold, 3,000 purchased tokens unused
        assertEquals(3_000, store.account(s).unusedGranted());
        nextMonthAt(0, 10);
        assertBalances(store.account(s), 10_000, 0, 3_000, 0, 0);
        Purchase refunded = store.refund(tx);
        assertEquals(0, refunded.unrecovered(), "none of the purchase was spent");
        assertEquals(0, store.account(s).unusedGranted());
        store.release(r.id());
        QuotaAccount february = store.account(s);
        assertEquals(0, february.unusedGranted(), "the refunded tokens the hold held must not come back: " + february);
        assertEquals(10_000, february.available());
        clock.advanceMonths(1, 1, 0);
        assertEquals(0, store.account(s).carried());
    }

    /**
     * Fills {@code month}'s {@code used} of {@code subject} to at least {@code used} tokens. This
     * default charges 10^15-token overruns on 1-token holds (thousands of calls: fast in memory); a
     * SQL backend may override it with one UPDATE.
     */
    protected void fillUsed(QuotaStore store, String subject, YearMonth month, long used) {
        long calls = used / Limits.MAX_TOKENS + (used % Limits.MAX_TOKENS == 0 ? 0 : 1);
        List<Reservation> holds = new ArrayList<>();
        for (long i = 0; i < calls; i++) {
            holds.add(store.reserve(HoldRequest.of(subject, 1).ttl(Duration.ofDays(1)).build()).reservation());
        }
        for (Reservation r : holds) {
            store.commit(r.id(), Limits.MAX_TOKENS);
        }
    }

    @Test
    void aChargeThatWouldOverflow64BitsIsRefusedAndChangesNothing() {
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CHARGE_ACTUAL));
        String s = subject("overflow-used");
        Reservation r = store.reserve(HoldRequest.of(s, 1).ttl(Duration.ofDays(1)).build()).reservation();
        long filled = 9_223L * Limits.MAX_TOKENS;
        fillUsed(store, s, month, filled);
        QuotaAccount before = store.account(s);
        assertTrue(before.used() >= filled && before.used() > Long.MAX_VALUE - Limits.MAX_TOKENS - before.reserved(),
                "the next 10^15-token charge must not fit: used " + before.used());
        heard.clear();
        assertRefused(store, s, ErrorCode.AMOUNT_OVERFLOW, () -> store.commit(r.id(), Limits.MAX_TOKENS));
        assertEquals(List.of(), heard, "a refused change is told to no listener");
        assertEquals(ReservationState.HELD, store.reservation(r.id()).orElseThrow().state());
        assertTrue(store.account(s).used() > 0, "used did not wrap");
        Reservation c = store.commit(r.id(), 5);
        assertEquals(before.used() + 5, store.account(s).used());
        assertEquals(ReservationState.COMMITTED, c.state());
    }

    @Test
    void freeTextWithUnpairedSurrogatesIsRefusedAndNothingIsWritten() {
        QuotaStore store = store();
        String s = subject("surrogates");
        store.reserve(HoldRequest.of(s, 10).idempotencyKey("k0").endpoint("/first").build()).reservation();
        for (String bad : List.of("/chat\uD800", "\uDC00", "a\uDBFFb", "\uDC00\uD800")) {
            assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.reserve(HoldRequest.of(s, 10)
                    .idempotencyKey("k1").endpoint(bad).build()).reservation());
            assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.reserve(HoldRequest.of(s, 10)
                    .idempotencyKey("k1").endpoint(bad).build()));
            assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.consume(HoldRequest.of(s, 10)
                    .idempotencyKey("k2").endpoint(bad).build()));
            assertCode(ErrorCode.INVALID_ARGUMENT,
                    () -> PurchaseRequest.grant(subject("tx-sur"), s, 10, PurchaseType.BONUS, bad));
            assertCode(ErrorCode.INVALID_ARGUMENT, () -> new PurchaseRequest(subject("tx-sur"), s, 10,
                    PurchaseType.PURCHASE, bad, null, null, null));
        }
        assertEquals(Optional.empty(), store.purchase(subject("tx-sur")));
        // paired surrogates (an emoji) are text like any other and replay exactly
        String emoji = "gift \uD83C\uDF81 \uD83D\uDE00";
        PurchaseRequest request = PurchaseRequest.grant(subject("tx-emoji"), s, 10, PurchaseType.BONUS, emoji);
        Purchase p = store.grant(request);
        assertEquals(emoji, p.reason());
        assertEquals(p, store.grant(request), "an exact replay matches its first call");
        Reservation r = store.reserve(HoldRequest.of(s, 10).idempotencyKey("k3").endpoint("/" + emoji)
                .build()).reservation();
        assertEquals("/" + emoji, r.endpoint());
        assertEquals(r, store.reserve(HoldRequest.of(s, 10).idempotencyKey("k3").endpoint("/" + emoji)
                .build()).reservation());
        List<LedgerEvent> events = store.events(s, month);
        assertEquals("/" + emoji, events.get(events.size() - 1).detail());
    }

    @Test
    void aReplayedReserveWithAnotherTtlOrEndpointIsAConflict() {
        QuotaStore store = store();
        String s = subject("replay-params");
        Reservation first = store.reserve(HoldRequest.of(s, 700).idempotencyKey("k").ttl(Duration.ofMinutes(2))
                .endpoint("/a").build()).reservation();
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.reserve(HoldRequest.of(s, 700)
                .idempotencyKey("k").ttl(Duration.ofMinutes(3)).endpoint("/a").build()).reservation());
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.reserve(HoldRequest.of(s, 700)
                .idempotencyKey("k").endpoint("/a").build()).reservation());
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.reserve(HoldRequest.of(s, 700)
                .idempotencyKey("k").ttl(Duration.ofMinutes(2)).endpoint("/b").build()).reservation());
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.reserve(HoldRequest.of(s, 700)
                .idempotencyKey("k").ttl(Duration.ofMinutes(2)).build()).reservation());
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT,
                () -> store.reserve(HoldRequest.of(s, 700).idempotencyKey("k").ttl(Duration.ofMinutes(2))
                        .endpoint("/b").build()));
        clock.advance(Duration.ofSeconds(30));
        assertEquals(first, store.reserve(HoldRequest.of(s, 700).idempotencyKey("k").ttl(Duration.ofMinutes(2))
                .endpoint("/a").build()).reservation());
        Reserved again = store.reserve(HoldRequest.of(s, 700).idempotencyKey("k").ttl(Duration.ofMinutes(2))
                .endpoint("/a").build());
        assertEquals(first, again.reservation());
        assertTrue(again.replayed());
        store.consume(HoldRequest.of(s, 5).idempotencyKey("c").endpoint("/x").build());
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.consume(HoldRequest.of(s, 5)
                .idempotencyKey("c").endpoint("/y").build()));
        assertRefused(store, s, ErrorCode.IDEMPOTENCY_CONFLICT, () -> store.consume(HoldRequest.of(s, 5)
                .idempotencyKey("c").build()));
        assertEquals(705, store.account(s).used() + store.account(s).reserved());
    }

    @Test
    void aPlanRaisePastMaxQuotaIsRefused() {
        QuotaStore store = store(b -> b.maxQuota(20_000));
        String s = subject("plan-raise");
        store.grant(PurchaseRequest.grant(subject("tx-raise"), s, 5_000, PurchaseType.BONUS, null));
        assertRefused(store, s, ErrorCode.MAX_QUOTA_EXCEEDED, () -> store.setPlan(s, 15_001));
        QuotaAccount a = store.setPlan(s, 15_000);
        assertEquals(20_000, a.limit());
        clock.advanceMonths(1, 1, 0);
        assertBalances(store.account(s), 15_000, 0, 5_000, 0, 0);
        assertRefused(store, s, ErrorCode.MAX_QUOTA_EXCEEDED, () -> store.setPlan(s, 15_001));
        assertEquals(10_000, store.setPlan(s, 10_000).allocated(), "lowering the plan is never refused");
    }

    @Test
    void readsDoNotCountHoldsPastTheirTtl() {
        QuotaStore store = store();
        String s = subject("stale-read");
        Reservation r = store.reserve(HoldRequest.of(s, 2_000).ttl(Duration.ofSeconds(60)).build()).reservation();
        store.reserve(HoldRequest.of(s, 1_000).ttl(Duration.ofMinutes(10)).build()).reservation();
        clock.advance(Duration.ofSeconds(60));
        assertEquals(9_000, store.forecast(s).available());
        assertEquals(1_000, store.history(s, 1).get(0).reserved());
        assertEquals(9_000, store.account(s).available());
        assertEquals(1_000, store.account(s).reserved());
        assertEquals(ReservationState.EXPIRED, store.reservation(r.id()).orElseThrow().state());
    }

    @Test
    void aReadOfAGivenMonthDoesNotCountHoldsPastTheirTtl() {
        QuotaStore store = store();
        String s = subject("stale-read-month");
        store.reserve(HoldRequest.of(s, 2_000).ttl(Duration.ofSeconds(60)).build()).reservation();
        store.reserve(HoldRequest.of(s, 1_000).ttl(Duration.ofMinutes(10)).build()).reservation();
        clock.advance(Duration.ofSeconds(60));
        assertEquals(1_000, store.account(s, month).orElseThrow().reserved());
    }

    @Test
    void theNewMonthsFirstReadReturnsTheClosedMonthsHoldsPastTheirTtl() {
        QuotaStore store = store();
        String s = subject("stale-read-old");
        purchasedOnHoldAtMonthEnd(store, s, 2_000, Duration.ofMinutes(5));
        nextMonthAt(0, 10);
        assertBalances(store.account(s), 10_000, 0, 5_000, 0, 0);
        assertBalances(store.account(s, month).orElseThrow(), 10_000, 5_000, 0, 10_000, 0);
    }

    // ================================================================ listeners

    @Test
    void listenersHearExactlyTheLoggedEventsWithTheirLogIds() {
        QuotaStore store = store();
        String s = subject("listen");
        String bonus = subject("lg-1");
        String paid = subject("lg-2");
        String failed = subject("lg-3");
        Reservation r = store.reserve(HoldRequest.of(s, 100).idempotencyKey("k").endpoint("/a").build()).reservation();
        store.commit(r.id(), 90);
        Reservation r2 = store.reserve(s, 10, null);
        store.release(r2.id());
        Reservation c = store.consume(HoldRequest.of(s, 20).endpoint("/c").build());
        store.grant(PurchaseRequest.grant(bonus, s, 10, PurchaseType.BONUS, "bonus"));
        store.recordPending(purchase(paid, s, 500));
        store.complete(paid);
        store.recordPending(purchase(failed, s, 5));
        store.fail(failed);
        store.refund(paid);
        store.setPlan(s, 12_000);
        Reservation r3 = store.reserve(HoldRequest.of(s, 30).ttl(Duration.ofSeconds(10)).build()).reservation();
        clock.advance(Duration.ofSeconds(11));
        assertTrue(store.expireStale() >= 1);
        store.commit(r3.id(), 25);

        List<LedgerEvent> logged = store.events(s, month);
        assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED, EventKind.RESERVED, EventKind.RELEASED,
                EventKind.COMMITTED, EventKind.CREDITED, EventKind.PURCHASE_RECORDED, EventKind.CREDITED,
                EventKind.PURCHASE_RECORDED, EventKind.PURCHASE_RECORDED, EventKind.DEBITED, EventKind.PLAN_CHANGED,
                EventKind.RESERVED, EventKind.EXPIRED, EventKind.LATE_COMMITTED), kinds(logged));
        assertEquals(logged, heard, "listeners hear each logged event as the log has it, ids included, in order");
        List<List<Object>> expected = List.of(
                List.of(100L, 0L, r.id()), List.of(90L, 0L, r.id()), List.of(10L, 0L, r2.id()),
                List.of(10L, 0L, r2.id()), List.of(20L, 0L, c.id()), List.of(10L, 0L, bonus),
                List.of(paid), List.of(500L, 0L, paid), List.of(failed), List.of(failed), List.of(500L, 0L, paid),
                List.of(12_000L, 0L), List.of(30L, 0L, r3.id()), List.of(30L, 0L, r3.id()), List.of(25L, 0L, r3.id()));
        for (int i = 0; i < logged.size(); i++) {
            LedgerEvent e = logged.get(i);
            assertEquals(s, e.subject());
            assertEquals(month, e.month());
            assertNotEquals(0, e.id(), "a logged event has its log id: " + e);
            if (i > 0) {
                assertTrue(logged.get(i - 1).id() < e.id(), "events are oldest first");
            }
            List<Object> want = expected.get(i);
            List<Object> got = new ArrayList<>();
            if (want.size() > 1) {
                got.add(e.tokens());
                got.add(e.overage());
            }
            if (want.size() != 2) {
                got.add(e.reservationId() != null ? e.reservationId() : e.transactionId());
            }
            assertEquals(want, got, "event " + i + ": " + e);
        }
        assertNull(logged.get(0).transactionId());
        assertNull(logged.get(5).reservationId());
    }

    @Test
    void listenersHearOverageAndUnrecoveredTokensAsLogged() {
        QuotaStore store = store(b -> b.overrunPolicy(OverrunPolicy.CAP_AT_HOLD));
        String s = subject("listen-overage");
        String tx = subject("lo-1");
        store.grant(purchase(tx, s, 2_000));
        store.commit(store.reserve(s, 1_000, null).id(), 1_600);
        store.consume(s, 10_500, null);
        store.refund(tx);
        List<LedgerEvent> logged = store.events(s, month);
        assertEquals(logged, heard.stream().filter(e -> e.kind().logged()).toList());
        LedgerEvent committed = logged.get(2);
        assertEquals(List.of(EventKind.COMMITTED, 1_000L, 600L), List.of(committed.kind(), committed.tokens(),
                committed.overage()));
        LedgerEvent debited = logged.get(logged.size() - 1);
        assertEquals(List.of(EventKind.DEBITED, 2_000L, 1_500L, tx), List.of(debited.kind(), debited.tokens(),
                debited.overage(), debited.transactionId()));
    }

    @Test
    void refusedInvalidAndReplayedCallsAreToldNothingButARejection() {
        QuotaStore store = store(b -> b.maxQuota(20_000));
        String s = subject("listen-refused");
        String tx = subject("lr-1");
        String pending = subject("lr-2");
        Reservation r = store.reserve(s, 9_000, "k");
        Reservation released = store.reserve(s, 10, null);
        store.release(released.id());
        Reservation done = store.consume(s, 500, "c");
        store.grant(PurchaseRequest.grant(tx, s, 1_000, PurchaseType.BONUS, "b"));
        store.recordPending(purchase(pending, s, 100));
        heard.clear();
        int logged = store.events(s, month).size();

        assertThrows(QuotaExceededException.class, () -> store.reserve(HoldRequest.of(s, 5_000).endpoint("/big")
                .build()).reservation());
        assertThrows(QuotaExceededException.class, () -> store.consume(s, 5_000, null));
        List<LedgerEvent> events = store.events(s, month);
        assertEquals(events.subList(logged, events.size()), heard, "each refusal is heard as its logged REJECTED event");
        assertEquals(List.of(EventKind.REJECTED, EventKind.REJECTED), kinds(heard));
        assertTrue(heard.stream().allMatch(e -> e.id() != 0));
        heard.clear();

        List<Executable> toldNothing = List.of(
                () -> store.reserve(s, 0, null),
                () -> store.reserve(s, 9_001, "k"),
                () -> store.reserve(s, 9_000, "k"),
                () -> store.consume(s, 500, "c"),
                () -> store.consume(s, 501, "c"),
                () -> store.commit(UUID.randomUUID().toString(), 1),
                () -> store.commit(released.id(), 10),
                () -> store.release(released.id()),
                () -> store.release(done.id()),
                () -> store.commit(done.id(), 500),
                () -> store.commit(r.id(), -1),
                () -> store.grant(PurchaseRequest.grant(tx, s, 1_000, PurchaseType.BONUS, "b")),
                () -> store.grant(PurchaseRequest.grant(tx, s, 1_001, PurchaseType.BONUS, "b")),
                () -> store.grant(PurchaseRequest.grant(subject("lr-3"), s, 19_000, PurchaseType.BONUS, null)),
                () -> store.complete(subject("lr-none")),
                // (a pending purchase's refund refunds it since round 340: a completed one's fail is refused)
                () -> store.fail(tx),
                () -> store.refund(subject("lr-none")),
                () -> store.recordPending(purchase(pending, s, 100)),
                () -> store.setPlan(s, 20_001),
                () -> store.reserve(HoldRequest.of(s, 10).idempotencyKey("k2").endpoint("/x\uD800")
                        .build()).reservation(),
                () -> store.account(s),
                () -> store.history(s, 2),
                () -> store.forecast(s));
        for (Executable call : toldNothing) {
            try {
                call.execute();
            } catch (QuotaException expected) {
                // refused: the point is what listeners heard
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }
        assertEquals(List.of(), heard, "refused, invalid, replayed calls and reads are told nothing");
        assertEquals(logged + 2, store.events(s, month).size(), "and log nothing");
        assertEquals(ReservationState.HELD, store.reservation(r.id()).orElseThrow().state());
    }

    @Test
    void aLateCommitOrExpiryAfterTheMonthTurnIsHeardWithTheHoldsMonth() {
        QuotaStore store = store();
        String s = subject("listen-late");
        lastDayOfMonthAt(23, 50);
        Reservation a = store.reserve(HoldRequest.of(s, 1_000).ttl(Duration.ofHours(1)).build()).reservation();
        Reservation b = store.reserve(HoldRequest.of(s, 2_000).ttl(Duration.ofMinutes(5)).build()).reservation();
        heard.clear();
        nextMonthAt(0, 10);
        store.account(s);
        assertEquals(ReservationState.EXPIRED, store.reservation(b.id()).orElseThrow().state());
        store.commit(a.id(), 800);
        List<LedgerEvent> january = store.events(s, month);
        assertEquals(List.of(EventKind.RESERVED, EventKind.RESERVED, EventKind.EXPIRED, EventKind.COMMITTED),
                kinds(january));
        assertEquals(january.subList(2, 4), heard, "the expiry and the late commit, heard as January logged them");
        assertEquals(b.id(), heard.get(0).reservationId());
        assertEquals(List.of(a.id(), 800L, month), List.of(heard.get(1).reservationId(), heard.get(1).tokens(),
                heard.get(1).month()));
        assertEquals(List.of(), store.events(s, month.plusMonths(1)));
    }

    @Test
    void thresholdAndExhaustionFireOnceOnTheCrossingChange() {
        QuotaStore store = store();
        String s = subject("threshold");
        store.consume(s, 7_000, null);
        assertFalse(kinds(heard).contains(EventKind.THRESHOLD_CROSSED));
        Reservation r = store.reserve(s, 1_000, null);
        List<EventKind> afterHold = kinds(heard);
        assertEquals(List.of(EventKind.COMMITTED, EventKind.RESERVED, EventKind.THRESHOLD_CROSSED), afterHold);
        LedgerEvent crossing = heard.get(2);
        assertEquals(s, crossing.subject());
        assertEquals(month, crossing.month());
        assertEquals(8_000, crossing.tokens());
        assertEquals(store.events(s, month), heard.subList(0, 2), "the logged events are heard as logged, ids included");
        store.commit(r.id(), 1_000);
        store.consume(s, 500, null);
        assertEquals(1, kinds(heard).stream().filter(EventKind.THRESHOLD_CROSSED::equals).count());
        assertFalse(kinds(heard).contains(EventKind.EXHAUSTED));
        store.consume(s, 1_500, null);
        LedgerEvent exhausted = heard.get(heard.size() - 1);
        assertEquals(List.of(EventKind.EXHAUSTED, s, month, 10_000L),
                List.of(exhausted.kind(), exhausted.subject(), exhausted.month(), exhausted.tokens()));
        assertEquals(EventKind.COMMITTED, heard.get(heard.size() - 2).kind(), "after the change that crossed the line");
        assertThrows(QuotaExceededException.class, () -> store.consume(s, 1, null));
        assertEquals(1, kinds(heard).stream().filter(EventKind.EXHAUSTED::equals).count());
        assertEquals(EventKind.REJECTED, heard.get(heard.size() - 1).kind());
        assertFalse(store.events(s, month).stream().anyMatch(e -> !e.kind().logged()),
                "derived notifications are not logged");
    }

    @Test
    void aFailingListenerNeitherBlocksNorUndoesTheChange() {
        QuotaStore store = store();
        store.addListener(e -> {
            throw new IllegalStateException("listener broke");
        });
        List<LedgerEvent> later = new CopyOnWriteArrayList<>();
        store.addListener(later::add);
        String s = subject("bad-listener");
        Reservation r = store.reserve(s, 100, null);
        assertEquals(ReservationState.HELD, r.state());
        assertEquals(100, store.account(s).reserved());
        assertEquals(1, heard.size());
        assertEquals(List.of(EventKind.RESERVED), kinds(later), "listeners after the failing one still hear the event");
    }

    // ================================================================ bad input (ErrorCode INVALID_*, Limits)

    private static final long[] BAD_POSITIVE = {0, -1, -10_000, Long.MIN_VALUE, Long.MAX_VALUE,
        Limits.MAX_TOKENS + 1, Integer.MIN_VALUE};

    @Test
    void badTokenAmountsAreRefusedAndChangeNothing() {
        QuotaStore store = store();
        String s = subject("amounts");
        Reservation r = store.reserve(s, 100, null);
        for (long bad : BAD_POSITIVE) {
            assertRefused(store, s, ErrorCode.INVALID_AMOUNT, () -> store.reserve(s, bad, "k-" + bad));
            assertRefused(store, s, ErrorCode.INVALID_AMOUNT, () -> store.consume(s, bad, "c-" + bad));
            if (bad != 0) {
                assertRefused(store, s, ErrorCode.INVALID_AMOUNT, () -> store.commit(r.id(), bad));
                assertRefused(store, s, ErrorCode.INVALID_AMOUNT, () -> store.setPlan(s, bad));
            }
            assertCode(ErrorCode.INVALID_AMOUNT, () -> PurchaseRequest.grant("tx", s, bad, PurchaseType.BONUS, null));
        }
        assertEquals(ReservationState.HELD, store.reservation(r.id()).orElseThrow().state());
        QuotaExceededException e = assertThrows(QuotaExceededException.class,
                () -> store.reserve(s, Limits.MAX_TOKENS, null));
        assertEquals(9_900, e.available());
    }

    /** Subjects the id rules forbid: empty, too long, control characters, unpaired surrogates, blank. */
    protected static List<String> badSubjects() {
        List<String> bad = new ArrayList<>();
        bad.add(null);
        bad.add("");
        bad.add("x".repeat(129));
        bad.add("\uD83D\uDE00".repeat(129));
        bad.add("user\u0000");
        bad.add("user\nname");
        bad.add("user\tname");
        bad.add("\u0007bell");
        bad.add("\u007F");
        bad.add("\u0085next-line");
        bad.add("a\u2028b");
        bad.add("high\uD800");
        bad.add("\uDC00low");
        bad.add("\uD800\uD800");
        bad.add(" ");
        bad.add("   \u3000 ");
        return bad;
    }

    @Test
    void badSubjectsAreRefusedEverywhereAndCreateNothing() {
        QuotaStore store = store();
        String witness = subject("witness");
        store.reserve(witness, 10, null);
        for (String bad : badSubjects()) {
            String label = bad == null ? "null" : bad.codePoints().mapToObj(Integer::toHexString).toList().toString();
            List<Executable> calls = new ArrayList<>(List.of(
                    () -> store.reserve(bad, 10, null),
                    () -> store.reserve(HoldRequest.of(bad, 10).idempotencyKey("k").ttl(Duration.ofMinutes(1))
                            .endpoint("/e").build()).reservation(),
                    () -> store.consume(bad, 10, null),
                    () -> store.account(bad),
                    () -> store.account(bad, month),
                    () -> store.history(bad, 1),
                    () -> store.setPlan(bad, 1),
                    () -> store.events(bad, month),
                    () -> store.purchases(bad, month),
                    () -> store.forecast(bad),
                    () -> PurchaseRequest.grant("tx-1", bad, 10, PurchaseType.BONUS, null)));
            if (bad != null) {
                // a null subject asks the statistics for all subjects
                calls.add(() -> store.blockStats(bad, month));
                calls.add(() -> store.dailyUsage(bad, month.atDay(1), month.atDay(2)));
            }
            for (Executable call : calls) {
                Snapshot before = snapshot(store, witness);
                QuotaException e = assertThrows(QuotaException.class, call, label);
                assertEquals(ErrorCode.INVALID_SUBJECT, e.code(), label + ": " + e.getMessage());
                assertEquals(before, snapshot(store, witness), label);
            }
        }
    }

    @Test
    void subjectsAtTheLimitsAreAccepted() {
        QuotaStore store = store();
        List<String> good = List.of(
                prefix + "x".repeat(128 - prefix.length()),
                prefix + "\uD83D\uDE00".repeat(128 - prefix.length()),
                prefix + "사용자-한글",
                prefix + " padded ",
                "42" + prefix);
        for (String s : good) {
            Reservation r = store.reserve(s, 10, "k");
            assertEquals(s, r.subject());
            assertEquals(s, store.account(s).subject());
            assertEquals(10, store.account(s, month).orElseThrow().reserved());
        }
    }

    /** Text that means something to SQL, LIKE or shells: ordinary printable ids that must be stored verbatim. */
    protected static List<String> metacharacterIds() {
        return List.of("'; DROP TABLE quota_accounts;--", "\" OR 1=1 --", "a%", "a_", "\\", "' OR ''='",
                "$1; SELECT pg_sleep(10)", "`rm -rf /`", "NULL", "%' --", "x'); DELETE FROM purchases; --");
    }

    @Test
    void sqlMetacharactersAreOrdinaryIdsStoredVerbatim() {
        QuotaStore store = store();
        String plain = subject("a");
        store.consume(plain + "b", 7, null);
        for (String raw : metacharacterIds()) {
            String s = subject(raw);
            String key = raw + "-key";
            String tx = subject("tx" + raw);
            Reservation r = store.reserve(HoldRequest.of(s, 100).idempotencyKey(key).endpoint(raw)
                    .build()).reservation();
            assertEquals(s, r.subject());
            assertEquals(key, r.idempotencyKey());
            assertEquals(raw, r.endpoint());
            assertEquals(r, store.reserve(HoldRequest.of(s, 100).idempotencyKey(key).endpoint(raw)
                    .build()).reservation());
            store.commit(r.id(), 60);
            store.consume(s, 5, raw);
            Purchase p = store.grant(new PurchaseRequest(tx, s, 1_000, PurchaseType.BONUS, raw, null, null, raw));
            assertEquals(tx, p.transactionId());
            assertEquals(raw, p.reason());
            assertEquals(raw, p.paymentMethod());
            assertEquals(Optional.of(p), store.purchase(tx));
            assertEquals(List.of(p), store.purchases(s, month));
            QuotaAccount a = store.account(s);
            assertEquals(s, a.subject());
            assertBalances(a, 10_000, 1_000, 0, 65, 0);
            List<LedgerEvent> events = store.events(s, month);
            assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED, EventKind.COMMITTED, EventKind.CREDITED),
                    kinds(events));
            assertEquals(raw, events.get(0).detail());
            assertEquals(raw, events.get(3).detail());
            assertEquals(tx, events.get(3).transactionId());
            assertTrue(events.stream().allMatch(e -> e.subject().equals(s)));
            assertEquals(1, store.history(s, 3).size());
        }
        // LIKE wildcards must not match other subjects
        assertEquals(List.of(), store.events(subject("a%"), month).stream()
                .filter(e -> !e.subject().equals(subject("a%"))).toList());
        assertEquals(7, store.account(plain + "b").used());
        assertEquals(List.of(EventKind.COMMITTED), kinds(store.events(plain + "b", month)));
        assertEquals(Optional.empty(), store.account(plain, month));
        assertEquals(metacharacterIds().size() + 1, store.topConsumers(month, 1000).size());
    }

    @Test
    void badKeysAreRefusedAndChangeNothing() {
        QuotaStore store = store();
        String s = subject("keys");
        Reservation r = store.reserve(s, 100, null);
        List<String> badKeys = List.of("", "k".repeat(129), "key\u0000", "key\n", " ", "\uDBFF");
        for (String bad : badKeys) {
            assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.reserve(s, 10, bad));
            assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.consume(s, 10, bad));
            assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.commit(bad, 10));
            assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.release(bad));
            assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.complete(bad));
            assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.fail(bad));
            assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.refund(bad));
            assertCode(ErrorCode.INVALID_KEY, () -> PurchaseRequest.grant(bad, s, 10, PurchaseType.BONUS, null));
        }
        assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.commit((String) null, 10));
        assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.release((String) null));
        assertRefused(store, s, ErrorCode.INVALID_KEY, () -> store.complete(null));
        assertEquals(ReservationState.HELD, store.reservation(r.id()).orElseThrow().state());
        Reservation longest = store.reserve(s, 10, "k".repeat(128));
        assertEquals("k".repeat(128), longest.idempotencyKey());
    }

    @Test
    void badTtlsAndEndpointsAreRefusedAndChangeNothing() {
        QuotaStore store = store();
        String s = subject("ttl");
        for (Duration bad : List.of(Duration.ZERO, Duration.ofMillis(999), Duration.ofSeconds(-5), Duration.ofDays(32))) {
            assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.reserve(HoldRequest.of(s, 10)
                    .idempotencyKey("k").ttl(bad).build()).reservation());
        }
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.reserve(HoldRequest.of(s, 10)
                .idempotencyKey("k").endpoint("e".repeat(257)).build()).reservation());
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.reserve(HoldRequest.of(s, 10)
                .idempotencyKey("k").endpoint("/path\u0000").build()).reservation());
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.reserve(HoldRequest.of(s, 10)
                .idempotencyKey("k").endpoint("/path\uD800").build()).reservation());
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.consume(HoldRequest.of(s, 10)
                .idempotencyKey("k").endpoint("e".repeat(257)).build()));
        assertEquals(Duration.ofDays(31), Duration.between(clock.instant(),
                store.reserve(HoldRequest.of(s, 10).idempotencyKey("k").ttl(Duration.ofDays(31))
                        .endpoint("e".repeat(256)).build()).reservation().expiresAt()));
    }

    @Test
    void badPurchaseRequestsNeverReachTheStore() {
        QuotaStore store = store();
        String s = subject("requests");
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.recordPending(null));
        assertRefused(store, s, ErrorCode.INVALID_ARGUMENT, () -> store.grant(null));
        assertCode(ErrorCode.INVALID_PURCHASE_TYPE, () -> new PurchaseRequest("tx", s, 1, null, null, null, null, null));
        assertCode(ErrorCode.INVALID_PURCHASE_TYPE, () -> PurchaseType.parse("gift"));
        assertCode(ErrorCode.INVALID_CURRENCY, () -> Currency.parse("GBP"));
        assertCode(ErrorCode.INVALID_STATUS, () -> PurchaseStatus.parse("done"));
        assertCode(ErrorCode.INVALID_MONEY, () -> new PurchaseRequest("tx", s, 1, PurchaseType.PURCHASE, null,
                new BigDecimal("-0.01"), null, null));
        assertCode(ErrorCode.INVALID_MONEY, () -> new PurchaseRequest("tx", s, 1, PurchaseType.PURCHASE, null,
                new BigDecimal("1.001"), null, null));
        assertCode(ErrorCode.INVALID_ARGUMENT, () -> new PurchaseRequest("tx", s, 1, PurchaseType.PURCHASE, null,
                null, null, "r".repeat(501)));
    }
}
