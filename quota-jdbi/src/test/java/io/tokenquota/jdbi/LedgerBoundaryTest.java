package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.MutableClock;
import java.time.Clock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The SQL store at the ledger's boundaries, on H2 and PostgreSQL: holds that outlive their month
 * (the order of sweep, first touch and late call does not change the accounts), late commits, 64-bit
 * overflow refused before anything is written, and expiry by the database's clock when two instances'
 * clocks differ.
 */
class LedgerBoundaryTest {
    private static final YearMonth JAN = YearMonth.of(2031, 1);
    private static final YearMonth FEB = JAN.plusMonths(1);
    private static final long MAX = Long.MAX_VALUE;
    private static final long E15 = 1_000_000_000_000_000L;

    static Stream<Supplier<TestDatabase>> databases() {
        return TestDatabases.both();
    }

    private static JdbiQuotaStore store(TestDatabase db, Clock clock) {
        return JdbiQuotaStore.builder().dataSource(db.dataSource()).installSchema(true)
                .policy(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000)
                        .overrunPolicy(OverrunPolicy.CHARGE_ACTUAL).build())
                .build();
    }

    private static void assertBalances(QuotaAccount a, long allocated, long granted, long carried, long used,
                                       long reserved) {
        assertEquals(List.of(allocated, granted, carried, used, reserved),
                List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved()), a::toString);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void purchasedTokensOnHoldAtMonthEndCarryWhicheverComesFirstSweepOrFirstTouch(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            MutableClock clock = MutableClock.at(JAN, 31, 20);
            JdbiQuotaStore store = store(db, clock);
            for (String s : List.of("touch-first", "sweep-first")) {
                store.grant(PurchaseRequest.grant("tx-" + s, s, 5_000, PurchaseType.PURCHASE, null));
                store.consume(s, 1_000, null);
                store.reserve(HoldRequest.of(s, 5_000).ttl(Duration.ofHours(1)).build()).reservation();
            }
            clock.advanceMonths(1, 1, 0);
            QuotaAccount touchFirst = store.account("touch-first");
            assertTrue(store.expireStale() >= 1);
            QuotaAccount sweepFirst = store.account("sweep-first");

            assertBalances(touchFirst, 1_000, 0, 5_000, 0, 0);
            assertBalances(sweepFirst, 1_000, 0, 5_000, 0, 0);
            for (String s : List.of("touch-first", "sweep-first")) {
                assertBalances(store.account(s, JAN).orElseThrow(), 1_000, 5_000, 0, 1_000, 0);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void aHoldOfAClosedMonthCommittedForLessGivesItsUnusedPurchasedTokensToTheLatestMonth(
            Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            MutableClock clock = MutableClock.at(JAN, 31, 20);
            JdbiQuotaStore store = store(db, clock);
            store.grant(PurchaseRequest.grant("tx-1", "late", 5_000, PurchaseType.PURCHASE, null));
            store.consume("late", 1_000, null);
            Reservation hold = store.reserve(HoldRequest.of("late", 3_000).ttl(Duration.ofDays(1))
                    .build()).reservation();
            clock.advanceMonths(1, 1, 0);
            assertBalances(store.account("late"), 1_000, 0, 2_000, 0, 0);

            Reservation committed = store.commit(hold.id(), 1_000);

            assertEquals(ReservationState.COMMITTED, committed.state());
            assertEquals(JAN, committed.month(), "charged to the month it was taken in");
            assertBalances(store.account("late", JAN).orElseThrow(), 1_000, 5_000, 0, 2_000, 0);
            assertBalances(store.account("late"), 1_000, 0, 4_000, 0, 0);
            assertEquals(committed, store.commit(hold.id(), 1_000), "a retry answers the commit");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void aLateCommitOfAnExpiredHoldChargesItsMonthAndTakesThePurchasedTokensBack(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            MutableClock clock = MutableClock.at(JAN, 31, 20);
            JdbiQuotaStore store = store(db, clock);
            List<LedgerEvent> heard = new CopyOnWriteArrayList<>();
            store.addListener(heard::add);
            store.grant(PurchaseRequest.grant("tx-1", "expired", 5_000, PurchaseType.PURCHASE, null));
            store.consume("expired", 1_000, null);
            Reservation hold = store.reserve(HoldRequest.of("expired", 3_000).ttl(Duration.ofHours(1))
                    .build()).reservation();
            clock.advanceMonths(1, 1, 0);
            // the read expires the stale hold: its purchased tokens move to February
            assertBalances(store.account("expired"), 1_000, 0, 5_000, 0, 0);
            assertEquals(ReservationState.EXPIRED, store.reservation(hold.id()).orElseThrow().state());
            heard.clear();

            Reservation committed = store.commit(hold.id(), 2_500);

            assertEquals(ReservationState.COMMITTED, committed.state());
            assertEquals(2_500, committed.charged());
            assertBalances(store.account("expired", JAN).orElseThrow(), 1_000, 5_000, 0, 3_500, 0);
            assertBalances(store.account("expired"), 1_000, 0, 2_500, 0, 0);
            LedgerEvent late = store.events("expired", JAN).get(store.events("expired", JAN).size() - 1);
            assertEquals(EventKind.LATE_COMMITTED, late.kind());
            assertEquals(2_500, late.tokens());
            assertEquals(List.of(late), heard.stream().filter(e -> e.kind().logged()).toList(),
                    "listeners hear the late commit with the id the log gave it");
            assertEquals(committed, store.commit(hold.id(), 2_500));
            assertEquals(ErrorCode.RESERVATION_STATE_CONFLICT,
                    assertThrows(QuotaException.class, () -> store.commit(hold.id(), 2_600)).code());
            assertEquals(committed, store.reservation(hold.id()).orElseThrow());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void aHeldHoldPastItsTtlThatNoSweepExpiredCommitsNormally(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            MutableClock clock = MutableClock.at(JAN, 10, 12);
            JdbiQuotaStore store = store(db, clock);
            Reservation hold = store.reserve(HoldRequest.of("slow", 500).ttl(Duration.ofSeconds(5))
                    .build()).reservation();
            clock.advance(Duration.ofMinutes(1));
            Reservation committed = store.commit(hold.id(), 400);
            assertEquals(ReservationState.COMMITTED, committed.state());
            assertBalances(store.account("slow"), 1_000, 0, 0, 400, 0);
            assertEquals(EventKind.COMMITTED, store.events("slow", JAN).get(1).kind());
        }
    }

    /** About 9,224 commits of 10^15 on 1-token holds reach 2^63; the account starts near there instead. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void commitsPast64BitsAreRefusedBeforeAnythingIsWritten(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            JdbiQuotaStore store = store(db, MutableClock.at(JAN, 10, 12));
            store.account("huge");
            db.execute("UPDATE tq_account SET allocated = " + MAX + ", used = " + (MAX - 3 * E15 + 10)
                    + " WHERE subject = 'huge'");
            QuotaException refused = null;
            int commits = 0;
            Reservation hold = null;
            QuotaAccount before = null;
            int eventsBefore = 0;
            while (refused == null) {
                hold = store.reserve("huge", 1, null);
                before = store.account("huge");
                eventsBefore = store.events("huge", JAN).size();
                try {
                    store.commit(hold.id(), E15);
                    commits++;
                } catch (QuotaException e) {
                    refused = e;
                }
            }
            assertEquals(2, commits);
            assertEquals(ErrorCode.AMOUNT_OVERFLOW, refused.code());
            assertEquals(before, store.account("huge"), "the account is unchanged");
            assertEquals(ReservationState.HELD, store.reservation(hold.id()).orElseThrow().state());
            assertEquals(eventsBefore, store.events("huge", JAN).size(), "nothing was logged");

            // used + reserved past 2^63 - 1 although used alone fits: the CHECK, told by its name
            Reservation other = store.reserve("huge", 200, null);
            db.execute("UPDATE tq_account SET used = " + (MAX - E15 - 100) + " WHERE subject = 'huge'");
            Reservation small = store.reserve("huge", 1, null);
            QuotaAccount near = store.account("huge");
            assertEquals(ErrorCode.AMOUNT_OVERFLOW,
                    assertThrows(QuotaException.class, () -> store.commit(small.id(), E15)).code());
            assertEquals(near, store.account("huge"));
            assertEquals(ReservationState.HELD, store.reservation(other.id()).orElseThrow().state());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void aStoreWhoseClockRunsTwoMinutesFastDoesNotExpireAnotherStoresLiveHold(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            MutableClock clock = MutableClock.at(JAN, 10, 12);
            JdbiQuotaStore slow = store(db, clock);
            JdbiQuotaStore fast = store(db, Clock.offset(clock, Duration.ofMinutes(2)));
            Reservation hold = slow.reserve(HoldRequest.of("two-clocks", 100).ttl(Duration.ofMinutes(1))
                    .build()).reservation();
            assertEquals(hold.expiresAt(), slow.reservation(hold.id()).orElseThrow().expiresAt(),
                    "expiresAt is handed out in the policy's clock");

            assertEquals(0, fast.expireStale());
            assertEquals(ReservationState.HELD, fast.reservation(hold.id()).orElseThrow().state());
            assertEquals(100, fast.account("two-clocks").reserved(), "a read by the fast store counts it as held");

            clock.advance(Duration.ofMinutes(1));
            assertTrue(fast.expireStale() >= 1, "once its TTL has passed, either store expires it");
            assertEquals(ReservationState.EXPIRED, slow.reservation(hold.id()).orElseThrow().state());
        }
    }
}
