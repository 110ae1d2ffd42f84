package io.tokenquota.breakit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class InMemoryEdgesBreakItTest {
    private static final YearMonth JAN = YearMonth.of(2031, 1);
    private static final YearMonth FEB = JAN.plusMonths(1);
    private static final long E15 = 1_000_000_000_000_000L;

    /** The recipe: commits of 10^15 on 1-token holds until used would pass 2^63 - 1. */
    @Test
    void commitsOf10To15OnOneTokenHoldsNeverWrapUsed() {
        MutableClock clock = MutableClock.at(JAN, 10, 12);
        InMemoryQuotaStore store = new InMemoryQuotaStore(QuotaPolicy.builder().clock(clock)
                .defaultAllocation(10_000).overrunPolicy(OverrunPolicy.CHARGE_ACTUAL).build());
        List<Reservation> holds = new ArrayList<>();
        for (int i = 0; i < 9_300; i++) {
            holds.add(store.reserve(HoldRequest.of("wrap", 1).ttl(Duration.ofDays(1)).build()).reservation());
        }
        QuotaException refused = null;
        int commits = 0;
        for (Reservation hold : holds) {
            QuotaAccount before = store.account("wrap");
            try {
                store.commit(hold, E15);
                commits++;
            } catch (QuotaException e) {
                refused = e;
                assertEquals(before, store.account("wrap"), "nothing written");
                assertEquals(ReservationState.HELD, store.reservation(hold.id()).orElseThrow().state());
                break;
            }
            QuotaAccount a = store.account("wrap");
            assertEquals(true, a.used() >= 0 && a.available() < 0, "after " + commits + " commits: " + a);
        }
        assertEquals(true, refused != null, "some commit must be refused");
        assertEquals(ErrorCode.AMOUNT_OVERFLOW, refused.code());
    }

    /** The clock steps back a minute (NTP) just after February was opened; a credit lands in January. */
    @Test
    void aCreditLandingInJanuaryAfterFebruaryWasOpenedIsNotLost() {
        MutableClock clock = new MutableClock(FEB.atDay(1).atStartOfDay().toInstant(ZoneOffset.UTC).minusSeconds(120));
        InMemoryQuotaStore store = new InMemoryQuotaStore(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000).build());
        store.grant(PurchaseRequest.grant("m-a", "step", 5_000, PurchaseType.PURCHASE, null));
        clock.advance(Duration.ofSeconds(150));
        assertEquals(5_000, store.account("step").carried());
        clock.advance(Duration.ofSeconds(-60));
        store.grant(PurchaseRequest.grant("m-b", "step", 3_000, PurchaseType.PURCHASE, null));
        clock.advance(Duration.ofMinutes(5));
        QuotaAccount feb = store.account("step");
        assertEquals(FEB, feb.month());
        assertEquals(8_000, feb.granted() + feb.carried(), "both purchases reach February: " + feb);
    }
}
