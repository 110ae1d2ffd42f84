package io.tokenquota.breakit318;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

/**
 * Round 318 (issue 11) on the in-memory reference store; both cases were found by the new
 * {@code OrderIndependenceProperties} (testkit) and shrunk by hand. The arithmetic is {@code LedgerRules}, which
 * every store calls, and quota-jdbi's {@code Holds.finishLocked} reads the same available, so H2 and PostgreSQL
 * behave the same (the property's H2 and PostgreSQL subclasses run the same histories).
 * 1: a late commit under CAP_AT_HOLD is capped by an available that still counts another hold past its TTL that
 * no sweep has expired (docs/semantics.md, "a read never counts holds that are past their TTL"; "every order
 * gives the same accounts"): whether a read came first decides the charge.
 * 2: a refund then a plan raise, while a closed month's hold holds purchased tokens, ends otherwise than the raise
 * then the refund ("a refund and a raise end the same in either order"); once that hold is committed the
 * difference is permanent: 1,000 purchased tokens, whose money went back, were spent and paid by no one. Fixed:
 * a plan change moves a refund's take of a closed month onto the purchased tokens it frees
 * ({@code LedgerRules.planChange}; more cases in {@code testkit.RefundTakeContract}).
 */
class InMemoryRound318Test {
    static final long ALLOWANCE = 20_000;
    static final YearMonth JANUARY = YearMonth.of(2031, 1);

    // ------------------------------------------------------------------ 1

    record Stale(InMemoryQuotaStore store, MutableClock clock, Reservation late, Reservation stale) {
    }

    /**
     * CAP_AT_HOLD, 20,000 plan. 10:00 a 12,000-token call's hold (1 h TTL); 11:00 another call's 10,000 hold
     * (1 h TTL), whose reserve expires the first hold. 13:00: the second hold is past its TTL, nothing swept it.
     */
    static Stale twoCalls() {
        MutableClock clock = MutableClock.at(JANUARY, 10, 10);
        InMemoryQuotaStore store = new InMemoryQuotaStore(QuotaPolicy.builder().defaultAllocation(ALLOWANCE)
                .overrunPolicy(OverrunPolicy.CAP_AT_HOLD).clock(clock).build());
        Reservation late = store.reserve(HoldRequest.of("u", 12_000).ttl(Duration.ofHours(1)).build()).reservation();
        clock.advance(Duration.ofHours(1));
        Reservation stale = store.reserve(HoldRequest.of("u", 10_000).ttl(Duration.ofHours(1)).build()).reservation();
        clock.advance(Duration.ofHours(2));
        return new Stale(store, clock, late, stale);
    }

    @Test
    void lateCommitCappedByAHoldPastItsTtl() {
        Stale s = twoCalls();
        // the first call ends: it used its 12,000 tokens; the second call's hold is past its TTL, unswept
        Reservation committed = s.store().commit(s.late().id(), 12_000);
        QuotaAccount a = s.store().account("u");
        assertAll(() -> assertEquals(12_000, committed.charged(), "late commit with a stale hold unswept: " + committed),
                () -> assertEquals(12_000, a.used(), a.toString()),
                () -> assertEquals(8_000, a.available(), a.toString()));
    }

    @Test
    void controlLateCommitAfterARead() {
        Stale s = twoCalls();
        assertEquals(20_000, s.store().account("u").available());   // a read expires the second hold
        Reservation committed = s.store().commit(s.late().id(), 12_000);
        QuotaAccount a = s.store().account("u");
        assertAll(() -> assertEquals(12_000, committed.charged(), committed.toString()),
                () -> assertEquals(12_000, a.used(), a.toString()),
                () -> assertEquals(8_000, a.available(), a.toString()));
    }

    // ------------------------------------------------------------------ 2

    record Held(InMemoryQuotaStore store, MutableClock clock, Reservation job) {
    }

    /**
     * CHARGE_ACTUAL, 20,000 plan. January: packs P (1,000), Q (3,000), R (15,000); 5,000 used; a 31-day job
     * holds 16,000 (1,000 of it purchased). February: 18,000 carried, 38,000 used: every purchased token
     * February has is spent, 0 left. The only unspent purchased tokens are the 1,000 January's job holds.
     */
    static Held januaryJobOpen() {
        MutableClock clock = MutableClock.at(JANUARY, 10, 10);
        InMemoryQuotaStore store = new InMemoryQuotaStore(QuotaPolicy.builder().defaultAllocation(ALLOWANCE)
                .maxQuota(1_000_000).clock(clock).build());
        store.grant(PurchaseRequest.grant("P", "u", 1_000, PurchaseType.PURCHASE, "pack"));
        store.grant(PurchaseRequest.grant("Q", "u", 3_000, PurchaseType.PURCHASE, "pack"));
        store.grant(PurchaseRequest.grant("R", "u", 15_000, PurchaseType.PURCHASE, "pack"));
        store.consume("u", 5_000, null);
        Reservation job = store.reserve(HoldRequest.of("u", 16_000).ttl(Duration.ofDays(31)).build()).reservation();
        clock.set(JANUARY.plusMonths(1).atDay(1).atTime(0, 30).toInstant(ZoneOffset.UTC));
        assertEquals(18_000, store.account("u").carried());
        store.consume("u", 38_000, null);
        assertEquals(0, store.account("u").available());
        return new Held(store, clock, job);
    }

    @Test
    void refundThenRaiseWithAClosedMonthsHoldOpen() {
        Held h = januaryJobOpen();
        h.store().refund("P");
        h.store().setPlan("u", 25_000);
        QuotaAccount feb = h.store().account("u");
        QuotaAccount jan = h.store().account("u", JANUARY).orElseThrow();
        // the job ends having used all it held
        h.store().commit(h.job().id(), 16_000);
        QuotaAccount after = h.store().account("u");
        assertAll(() -> assertEquals(4_000, feb.available(), "refund then raise, February: " + feb),
                () -> assertEquals(18_000, jan.available(), "refund then raise, January: " + jan),
                () -> assertEquals(4_000, after.available(), "after the job's commit, February: " + after),
                () -> assertEquals(4_000, after.unusedGranted(), after.toString()));
    }

    @Test
    void controlRaiseThenRefundWithAClosedMonthsHoldOpen() {
        Held h = januaryJobOpen();
        h.store().setPlan("u", 25_000);
        h.store().refund("P");
        QuotaAccount feb = h.store().account("u");
        QuotaAccount jan = h.store().account("u", JANUARY).orElseThrow();
        h.store().commit(h.job().id(), 16_000);
        QuotaAccount after = h.store().account("u");
        assertAll(() -> assertEquals(4_000, feb.available(), feb.toString()),
                () -> assertEquals(18_000, jan.available(), jan.toString()),
                () -> assertEquals(4_000, after.available(), after.toString()),
                () -> assertEquals(4_000, after.unusedGranted(), after.toString()));
    }
}
