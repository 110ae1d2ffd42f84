package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
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

    /** The store, its releases refused (a failover's reset connection) while {@code refusals} is above 0, counted down. */
    private FailingLedger refusingReleases(AtomicInteger refusals) {
        return new FailingLedger(store) {
            @Override
            protected void beforeRelease(String reservationId) {
                if (refusals.getAndDecrement() > 0) {
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection reset (test)");
                }
            }
        };
    }

    /**
     * The release of a call refused before it ran (its key let through while it was reserved, or refused for
     * what earlier calls owe) that the store refuses at once is tried again before the refusal is answered, as a
     * settlement's release is: nothing is left held for a call that never ran.
     */
    @Test
    void aReleaseTheStoreRefusesOnceIsTriedAgainAtOnce() {
        AtomicInteger refusals = new AtomicInteger(1);
        FailingLedger ledger = refusingReleases(refusals);
        AtomicLong failures = new AtomicLong();
        try (HoldKeeper keeper = new HoldKeeper(ledger, TTL, new Settlement.Retries(new long[] {10}, 10, TimeUnit.SECONDS.toNanos(5)))) {
            Reservation refused = hold("u", 1_012);
            keeper.release(refused, failures);
            assertEquals(ReservationState.RELEASED, store.reservation(refused.id()).orElseThrow().state());
            assertEquals(0, store.account("u").reserved());
            assertEquals(0, failures.get());
        }
    }

    /**
     * A release the store refuses past the request's own retries is tried again by the subject's next reserve,
     * before it reserves (and by the keeper's threads meanwhile), not left to its TTL: the next call finds the
     * tokens free (round 515: 1,012 held until the TTL, and a call of 19,500 of an unused 20,000 refused 429).
     */
    @Test
    void aReleaseTheStoreStillRefusesIsTriedAgainBeforeTheSubjectsNextReserve() {
        AtomicInteger refusals = new AtomicInteger(Integer.MAX_VALUE);
        FailingLedger ledger = refusingReleases(refusals);
        AtomicLong failures = new AtomicLong();
        // no inline retries, and the background's first a minute away: the next reserve is what tries it
        try (HoldKeeper keeper = new HoldKeeper(ledger, TTL, new Settlement.Retries(new long[] {60_000}, 10, 0))) {
            Reservation refused = hold("u", 1_012);
            keeper.release(refused, failures);
            assertEquals(1_012, store.account("u").reserved(), "the store is still away");
            refusals.set(0);
            keeper.beforeReserve("u");
            assertEquals(ReservationState.RELEASED, store.reservation(refused.id()).orElseThrow().state());
            assertEquals(0, store.account("u").reserved());
            hold("u", 19_509);
            assertEquals(0, failures.get());
        }
    }
}
