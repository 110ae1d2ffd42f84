package io.tokenquota.breakit316;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

/**
 * Round 316 (issue 11) on the in-memory reference store: the same two orders as the servlet round's
 * {@code AbstractRound316} (H2), so the cause is {@code LedgerRules}, which every store calls.
 * 1: a refund then a plan raise with a second purchase standing (docs/semantics.md: "a refund and a raise end the
 * same in either order"). 2: a late charge of January's hold and the release of February's, in March, in either
 * order ("Holds that outlive their month": every order gives the same accounts; the stated bound needs a refund).
 */
class InMemoryRound316Test {
    static final long ALLOWANCE = 20_000;

    // ------------------------------------------------------------------ 1

    /** 20,000 plan, packs of 10,000 ("P") and 5,000 ("Q"), 33,000 used: 2,000 left. */
    static InMemoryQuotaStore twoPacks(String s) {
        InMemoryQuotaStore store = new InMemoryQuotaStore(QuotaPolicy.builder().defaultAllocation(ALLOWANCE).build());
        store.grant(PurchaseRequest.grant("P", s, 10_000, PurchaseType.PURCHASE, "pack"));
        store.grant(PurchaseRequest.grant("Q", s, 5_000, PurchaseType.PURCHASE, "pack"));
        store.consume(s, 33_000, null);
        assertEquals(2_000, store.account(s).available());
        return store;
    }

    @Test
    void refundThenRaiseWithAnotherPackStanding() {
        InMemoryQuotaStore store = twoPacks("u");
        store.refund("P");
        store.setPlan("u", 30_000);
        QuotaAccount a = store.account("u");
        assertAll(() -> assertEquals(2_000, a.available(), "refund then raise: " + a),
                () -> assertEquals(2_000, a.unusedGranted(), a.toString()));
    }

    @Test
    void controlRaiseThenRefundWithAnotherPackStanding() {
        InMemoryQuotaStore store = twoPacks("u");
        store.setPlan("u", 30_000);
        store.refund("P");
        QuotaAccount a = store.account("u");
        assertAll(() -> assertEquals(2_000, a.available(), a.toString()),
                () -> assertEquals(2_000, a.unusedGranted(), a.toString()));
    }

    // ------------------------------------------------------------------ 2

    record Turn(InMemoryQuotaStore store, String job, String call) {
    }

    /** As AbstractRound316.acrossTwoMonthEnds: January's 31-day job hold, February's call holding the carried tokens. */
    static Turn acrossTwoMonthEnds(MutableClock clock, String s) {
        InMemoryQuotaStore store = new InMemoryQuotaStore(QuotaPolicy.builder().defaultAllocation(ALLOWANCE).clock(clock).build());
        store.grant(PurchaseRequest.grant("P", s, 10_000, PurchaseType.PURCHASE, "top-up"));
        store.consume(s, 12_000, null);
        String job = store.reserve(HoldRequest.of(s, 8_000).ttl(Duration.ofDays(31)).build()).reservation().id();
        clock.set(YearMonth.of(2027, 2).atEndOfMonth().atTime(23, 50).toInstant(ZoneOffset.UTC));
        assertEquals(10_000, store.account(s).carried());
        store.consume(s, ALLOWANCE, null);
        clock.advance(Duration.ofMinutes(8));
        String call = store.reserve(s, 10_000, null).id();
        clock.set(YearMonth.of(2027, 3).atDay(1).atTime(0, 1).toInstant(ZoneOffset.UTC));
        assertEquals(0, store.account(s).carried());
        return new Turn(store, job, call);
    }

    @Test
    void lateChargeThenLaterMonthsRelease() {
        MutableClock clock = MutableClock.at(YearMonth.of(2027, 1), 31, 22);
        Turn t = acrossTwoMonthEnds(clock, "u");
        t.store().commit(t.job(), 14_000);
        t.store().release(t.call());
        QuotaAccount march = t.store().account("u");
        assertAll(() -> assertEquals(4_000, march.unusedGranted(), "charge then release: " + march),
                () -> assertEquals(ALLOWANCE + 4_000, march.available(), march.toString()));
    }

    @Test
    void controlLaterMonthsReleaseThenLateCharge() {
        MutableClock clock = MutableClock.at(YearMonth.of(2027, 1), 31, 22);
        Turn t = acrossTwoMonthEnds(clock, "u");
        t.store().release(t.call());
        t.store().commit(t.job(), 14_000);
        QuotaAccount march = t.store().account("u");
        assertAll(() -> assertEquals(4_000, march.unusedGranted(), march.toString()),
                () -> assertEquals(ALLOWANCE + 4_000, march.available(), march.toString()));
    }
}
