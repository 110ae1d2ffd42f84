package io.tokenquota.jdbi.breakit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.MutableClock;
import java.time.Clock;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Two instances whose clocks differ, on one database (H2 and PostgreSQL). */
class TwoClocksBreakItTest {
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

    /**
     * Item 2's "a credit that lands in the old month after the new month's first touch": the instance
     * whose clock is 2 minutes slow is still in January when the other one already opened February.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void aCreditLandingInJanuaryAfterFebruaryWasOpenedIsNotLost(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            MutableClock real = MutableClock.at(JAN, 31, 23);
            real.set(FEB.atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC).minusSeconds(60));
            JdbiQuotaStore slow = store(db, real);
            JdbiQuotaStore fast = store(db, Clock.offset(real, Duration.ofMinutes(2)));
            slow.grant(PurchaseRequest.grant("tx-a", "late-credit", 5_000, PurchaseType.PURCHASE, null));
            assertEquals(5_000, fast.account("late-credit").carried(), "February opened by the fast instance");
            slow.grant(PurchaseRequest.grant("tx-b", "late-credit", 3_000, PurchaseType.PURCHASE, null));
            real.advance(Duration.ofMinutes(5));
            QuotaAccount feb = slow.account("late-credit");
            assertEquals(FEB, feb.month());
            assertEquals(8_000, feb.granted() + feb.carried(), "both purchases reach February: " + feb);
        }
    }

    /** The slow instance spends in January the purchased tokens February already carried. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void aConsumeInJanuaryAfterFebruaryWasOpenedDoesNotDoubleSpend(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            MutableClock real = MutableClock.at(JAN, 31, 23);
            real.set(FEB.atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC).minusSeconds(60));
            JdbiQuotaStore slow = store(db, real);
            JdbiQuotaStore fast = store(db, Clock.offset(real, Duration.ofMinutes(2)));
            slow.grant(PurchaseRequest.grant("tx-c", "double", 5_000, PurchaseType.PURCHASE, null));
            assertEquals(5_000, fast.account("double").carried());
            // the lagging instance's consume lands in February, which the purchased tokens now belong to
            slow.consume("double", 6_000, null);
            assertEquals(0, slow.account("double", JAN).orElseThrow().used(), "nothing written behind February");
            QuotaAccount feb = fast.account("double");
            assertEquals(6_000, feb.used());
            assertEquals(0, feb.available(), "5,000 bought and February's 1,000: spent once, " + feb);
            assertThrows(QuotaExceededException.class, () -> slow.consume("double", 1, null),
                    "no purchased token is spent twice");
        }
    }

    /** A late commit (hold already expired) past 64 bits: refused with AMOUNT_OVERFLOW, nothing written. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void aLateCommitPast64BitsIsRefusedBeforeAnythingIsWritten(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            MutableClock clock = MutableClock.at(JAN, 10, 12);
            JdbiQuotaStore store = store(db, clock);
            store.account("huge-late");
            db.execute("UPDATE tq_account SET allocated = " + MAX + ", used = " + (MAX - E15 / 2)
                    + " WHERE subject = 'huge-late'");
            Reservation hold = store.reserve(HoldRequest.of("huge-late", 1).ttl(Duration.ofSeconds(5))
                    .build()).reservation();
            clock.advance(Duration.ofMinutes(1));
            store.expireStale();
            QuotaAccount before = store.account("huge-late");
            int events = store.events("huge-late", JAN).size();
            assertEquals(ErrorCode.AMOUNT_OVERFLOW,
                    assertThrows(QuotaException.class, () -> store.commit(hold.id(), E15)).code());
            assertEquals(before, store.account("huge-late"));
            assertEquals(events, store.events("huge-late", JAN).size());
            assertEquals(ReservationState.EXPIRED, store.reservation(hold.id()).orElseThrow().state());
        }
    }
}
