package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The holds of calls still running are kept held past their first TTL; a settled call's are not. */
class HoldKeeperTest {
    private static final Duration TTL = Duration.ofMinutes(5);

    private final MutableClock clock = MutableClock.at(YearMonth.of(2031, 3), 10, 12);
    private final InMemoryQuotaStore store = new InMemoryQuotaStore(
            QuotaPolicy.builder().defaultAllocation(20_000).clock(clock).build());

    private Reservation hold(String subject, long tokens) {
        return store.reserve(HoldRequest.of(subject, tokens).ttl(TTL).build()).reservation();
    }

    @Test
    void aRunningCallsHoldOutlivesItsTtlAndItsTokensStayHeld() {
        try (HoldKeeper keeper = new HoldKeeper(store, TTL)) {
            Reservation first = hold("u", 16_000);
            keeper.running(first, () -> 0);
            clock.advance(Duration.ofMinutes(6));
            // the user's next call: its reserve would expire the first hold, which the keeper extends first
            keeper.beforeReserve("u");
            assertThrows(QuotaExceededException.class, () -> hold("u", 16_000));
            assertEquals(0, store.expireStale());
            Reservation kept = store.reservation(first.id()).orElseThrow();
            assertEquals(ReservationState.HELD, kept.state());
            assertEquals(clock.instant().plus(TTL), kept.expiresAt());
            store.commit(first.id(), 15_000);
            assertEquals(15_000, store.account("u").used());
        }
    }

    @Test
    void aHoldYoungerThanAQuarterOfItsTtlIsLeftAlone() {
        try (HoldKeeper keeper = new HoldKeeper(store, TTL)) {
            Reservation first = hold("u", 1_000);
            keeper.running(first, () -> 0);
            clock.advance(Duration.ofMinutes(1));
            keeper.beforeReserve("u");
            assertEquals(first.expiresAt(), store.reservation(first.id()).orElseThrow().expiresAt());
        }
    }

    @Test
    void aSettlingCallsHoldIsNoLongerExtended() {
        try (HoldKeeper keeper = new HoldKeeper(store, TTL)) {
            Reservation first = hold("u", 16_000);
            keeper.running(first, () -> 0);
            keeper.settling(first);
            clock.advance(Duration.ofMinutes(6));
            keeper.beforeReserve("u");
            // expired by the next reserve, which is then granted: the call had ended
            hold("u", 16_000);
            assertEquals(ReservationState.EXPIRED, store.reservation(first.id()).orElseThrow().state());
        }
    }

    @Test
    void aCallThatNeverSettlesIsKeptForAnHourAtMost() {
        try (HoldKeeper keeper = new HoldKeeper(store, TTL)) {
            Reservation first = hold("u", 16_000);
            keeper.running(first, () -> 0);
            for (int i = 0; i < 15; i++) {
                clock.advance(Duration.ofMinutes(4));
                keeper.beforeReserve("u");
            }
            assertEquals(ReservationState.HELD, store.reservation(first.id()).orElseThrow().state(), "kept for an hour");
            clock.advance(Duration.ofMinutes(4));
            keeper.beforeReserve("u");
            clock.advance(Duration.ofMinutes(4));
            keeper.beforeReserve("u");
            // let go: its TTL runs out, and the next reserve expires it
            hold("u", 16_000);
            assertEquals(ReservationState.EXPIRED, store.reservation(first.id()).orElseThrow().state());
        }
    }

    @Test
    void theBackgroundThreadExtendsRunningHoldsWithoutAnotherCall() throws InterruptedException {
        Duration ttl = Duration.ofSeconds(4);
        try (HoldKeeper keeper = new HoldKeeper(store, ttl)) {
            Reservation first = store.reserve(HoldRequest.of("u", 1_000).ttl(ttl).build()).reservation();
            keeper.running(first, () -> 0);
            clock.advance(Duration.ofSeconds(3));
            // the thread runs every second: wait (bounded) until it has moved the expiry
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            Instant expiry = first.expiresAt();
            while (expiry.equals(first.expiresAt()) && System.nanoTime() < deadline) {
                TimeUnit.MILLISECONDS.sleep(20);
                expiry = store.reservation(first.id()).orElseThrow().expiresAt();
            }
            assertTrue(expiry.isAfter(first.expiresAt()), "extended: " + expiry);
            clock.advance(Duration.ofSeconds(2));
            // past its first expiry, not past the extended one
            assertEquals(0, store.expireStale());
            assertEquals(ReservationState.HELD, store.reservation(first.id()).orElseThrow().state());
        }
    }
}
