package io.tokenquota.breakit3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** 64-bit overflow on the late-commit path, after the month turned (one ledger per test). */
public abstract class LateOverflowScenarios {
    static final YearMonth JAN = YearMonth.of(2031, 1);
    static final long BIG = 1_000_000_000_000_000L;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    @AfterEach
    void closeStores() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        closeables.clear();
    }

    @Test
    void aLateCommitThatWouldOverflowIsRefusedAndWritesNothing() {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = newStore(QuotaPolicy.builder().clock(clock).defaultAllocation(10_000)
                .overrunPolicy(OverrunPolicy.CHARGE_ACTUAL).build());
        if (store instanceof AutoCloseable c) {
            closeables.add(c);
        }
        store.grant(PurchaseRequest.grant("tx-of", "of", 500, PurchaseType.PURCHASE, null));
        List<Reservation> holds = new ArrayList<>();
        for (int i = 0; i < 9_230; i++) {
            holds.add(store.reserve(HoldRequest.of("of", 1).ttl(Duration.ofHours(1)).build()).reservation());
        }
        int committed = 0;
        for (; committed < 9_222; committed++) {
            store.commit(holds.get(committed), BIG);
        }
        clock.advanceMonths(1, 1, 1);
        store.expireStale();
        store.consume("of", 10, null); // February's first touch
        store.commit(holds.get(committed++), BIG); // 9_223 * 10^15 + 7 fits
        QuotaAccount janBefore = store.account("of", JAN).orElseThrow();
        QuotaAccount febBefore = store.account("of");
        List<LedgerEvent> heard = Collections.synchronizedList(new ArrayList<>());
        store.addListener(heard::add);
        Reservation next = holds.get(committed);
        QuotaException e = assertThrows(QuotaException.class, () -> store.commit(next, BIG));
        assertEquals(ErrorCode.AMOUNT_OVERFLOW, e.code());
        assertEquals(janBefore, store.account("of", JAN).orElseThrow());
        assertEquals(febBefore, store.account("of"));
        assertEquals(ReservationState.EXPIRED, store.reservation(next.id()).orElseThrow().state());
        assertEquals(List.of(), heard.stream().filter(ev -> ev.kind() != EventKind.REJECTED).toList());
        // the same hold can still be late-committed for a small amount afterwards
        Reservation ok = store.commit(next, 1);
        assertEquals(ReservationState.COMMITTED, ok.state());
        assertEquals(janBefore.used() + 1, store.account("of", JAN).orElseThrow().used());
    }
}
