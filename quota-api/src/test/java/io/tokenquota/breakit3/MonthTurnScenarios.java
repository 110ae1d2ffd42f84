package io.tokenquota.breakit3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.ConsumerUsage;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.Reserved;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Round-3 month-turn scenarios shared by every store (one ledger per test). */
public abstract class MonthTurnScenarios {
    protected static final YearMonth JAN = YearMonth.of(2031, 1);
    protected static final YearMonth FEB = JAN.plusMonths(1);
    protected static final YearMonth MAR = FEB.plusMonths(1);
    private final List<AutoCloseable> closeables = new ArrayList<>();

    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected QuotaStore store(QuotaPolicy policy) {
        QuotaStore s = newStore(policy);
        if (s instanceof AutoCloseable c) {
            closeables.add(c);
        }
        return s;
    }

    @AfterEach
    void closeStores() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        closeables.clear();
    }

    private static PurchaseRequest buy(String tx, String subject, long tokens) {
        return PurchaseRequest.grant(tx, subject, tokens, PurchaseType.PURCHASE, null);
    }

    private static QuotaPolicy.Builder policy(MutableClock clock) {
        return QuotaPolicy.builder().clock(clock).defaultAllocation(1_000).overrunPolicy(OverrunPolicy.CHARGE_ACTUAL);
    }

    private static long purchased(QuotaAccount a) {
        return a.granted() + a.carried();
    }

    /** A request retried across midnight with the same idempotency key must not be charged twice. */
    @Test
    void consumeReplayedAcrossTheTurnIsAReplay() {
        MutableClock clock = MutableClock.at(JAN, 31, 23);
        QuotaStore store = store(policy(clock).build());
        Reservation first = store.consume("rk", 300, "req-1");
        clock.advanceMonths(1, 1, 1);
        Reservation again = store.consume("rk", 300, "req-1");
        assertEquals(first.id(), again.id(), "same key: the first call's hold");
        assertEquals(300, store.account("rk", JAN).orElseThrow().used());
        assertEquals(0, store.account("rk").used(), "February charged nothing: " + store.account("rk"));
    }

    /** A payment callback replayed after the month turned must not credit twice. */
    @Test
    void grantReplayedAcrossTheTurnCreditsOnce() {
        MutableClock clock = MutableClock.at(JAN, 31, 23);
        QuotaStore store = store(policy(clock).build());
        store.grant(buy("tx-r", "gr", 400));
        clock.advanceMonths(1, 1, 1);
        Purchase again = store.grant(buy("tx-r", "gr", 400));
        assertEquals(JAN, again.month());
        assertEquals(400, purchased(store.account("gr")), "one credit, carried: " + store.account("gr"));
    }

    /**
     * A January hold (allowance + all purchased tokens) that stays open through February into March,
     * then committed for less: the unused purchased part goes to the latest month (March), the same
     * as when the sweep expired it in February and the commit came late in March.
     */
    @Test
    void threeMonthHoldCommittedForLessGivesTheSameCarryWithOrWithoutTheSweep() {
        long[] results = new long[2];
        for (int variant = 0; variant < 2; variant++) {
            MutableClock clock = MutableClock.at(JAN, 31, 20);
            QuotaStore store = store(policy(clock).build());
            String s = "tm" + variant;
            store.grant(buy("tx-tm" + variant, s, 500));
            Duration ttl = variant == 0 ? Duration.ofDays(31) : Duration.ofHours(1);
            Reservation hold = store.reserve(HoldRequest.of(s, 1_500).ttl(ttl).build()).reservation();
            clock.advanceMonths(1, 1, 1);
            if (variant == 1) {
                store.expireStale();
            }
            store.account(s); // February's first touch
            clock.advanceMonths(1, 1, 1);
            store.account(s); // March's first touch
            store.commit(hold, 1_200);
            QuotaAccount mar = store.account(s);
            QuotaAccount jan = store.account(s, JAN).orElseThrow();
            assertEquals(1_200, jan.used(), "variant " + variant + ": " + jan);
            assertEquals(0, jan.reserved(), "variant " + variant + ": " + jan);
            results[variant] = purchased(mar);
            assertEquals(300, purchased(mar), "variant " + variant + ": unused purchased goes to March: " + mar);
            assertEquals(1_300, mar.available(), "variant " + variant + ": " + mar);
        }
        assertEquals(results[0], results[1]);
    }

    /** Same hold committed for more (CHARGE_ACTUAL): spends all purchased tokens, never more; March keeps its allowance. */
    @Test
    void threeMonthHoldCommittedForMoreNeverTakesMoreThanWasBought() {
        for (int variant = 0; variant < 2; variant++) {
            MutableClock clock = MutableClock.at(JAN, 31, 20);
            QuotaStore store = store(policy(clock).build());
            String s = "tx" + variant;
            store.grant(buy("tx-more" + variant, s, 500));
            Duration ttl = variant == 0 ? Duration.ofDays(31) : Duration.ofHours(1);
            Reservation hold = store.reserve(HoldRequest.of(s, 1_500).ttl(ttl).build()).reservation();
            clock.advanceMonths(1, 1, 1);
            if (variant == 1) {
                store.expireStale();
            }
            store.account(s);
            clock.advanceMonths(1, 1, 1);
            store.consume(s, 100, null); // March spends allowance only
            store.commit(hold, 1_800);
            QuotaAccount mar = store.account(s);
            QuotaAccount feb = store.account(s, FEB).orElseThrow();
            assertEquals(1_800, store.account(s, JAN).orElseThrow().used());
            assertEquals(0, purchased(mar), "variant " + variant + ": " + mar);
            assertEquals(900, mar.available(), "variant " + variant + ": March's allowance untouched: " + mar);
            assertTrue(feb.used() == 0 && feb.reserved() == 0, "variant " + variant + ": " + feb);
        }
    }

    /**
     * A refund races a release of the closed month's hold that holds the refunded tokens, on many
     * subjects, with February's first touch racing too. Whatever the order: the user keeps none of the
     * refunded tokens, nothing is unrecovered (nothing was spent), and January is empty.
     */
    @Test
    void refundRacingReleaseOfAClosedMonthHoldLeavesNoneOfTheTokens() throws Exception {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(policy(clock).build());
        int n = 30;
        List<Reservation> holds = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            store.grant(buy("tx-rr" + i, "rr" + i, 500));
            holds.add(store.reserve(HoldRequest.of("rr" + i, 1_500).ttl(Duration.ofDays(2)).build()).reservation());
        }
        clock.advanceMonths(1, 1, 1);
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            for (int i = 0; i < n; i++) {
                int k = i;
                CyclicBarrier barrier = new CyclicBarrier(3);
                List<Future<?>> fs = new ArrayList<>();
                fs.add(pool.submit(() -> { barrier.await(); return store.refund("tx-rr" + k); }));
                fs.add(pool.submit(() -> { barrier.await(); return store.release(holds.get(k)); }));
                fs.add(pool.submit(() -> { barrier.await(); return store.account("rr" + k); }));
                for (Future<?> f : fs) {
                    f.get();
                }
            }
        } finally {
            pool.shutdownNow();
        }
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            QuotaAccount feb = store.account("rr" + i);
            QuotaAccount jan = store.account("rr" + i, JAN).orElseThrow();
            Purchase p = store.purchase("tx-rr" + i).orElseThrow();
            if (feb.available() != 1_000 || jan.used() != 0 || jan.reserved() != 0 || p.unrecovered() != 0) {
                bad.add("rr" + i + ": feb=" + feb + " jan=" + jan + " unrecovered=" + p.unrecovered());
            }
        }
        assertEquals(List.of(), bad);
    }

    /** Many concurrent first touches of March (February skipped) on one subject: one carry, all charges counted. */
    @Test
    void manyConcurrentFirstTouchesCarryOnce() throws Exception {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(policy(clock).build());
        store.grant(buy("tx-ct", "ct", 500));
        store.consume("ct", 1_100, null); // 100 purchased spent, 400 left
        clock.advanceMonths(2, 1, 1);
        int threads = 12;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CyclicBarrier barrier = new CyclicBarrier(threads);
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int k = t;
                fs.add(pool.submit(() -> {
                    barrier.await();
                    return k % 3 == 0 ? store.reserve("ct", 50, "h" + k)
                            : k % 3 == 1 ? store.consume("ct", 50, "c" + k) : store.account("ct");
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        QuotaAccount mar = store.account("ct");
        assertEquals(MAR, mar.month());
        assertEquals(400, mar.carried(), "" + mar);
        assertEquals(200, mar.used(), "" + mar);
        assertEquals(200, mar.reserved(), "" + mar);
    }

    /**
     * Listeners hear exactly what committed: after a late commit and a late release across three
     * months, every logged event the listener heard is in the log with the same id, and vice versa.
     */
    @Test
    void listenersHearExactlyTheLoggedEventsAcrossLateCommitsAndReleases() {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(policy(clock).build());
        List<LedgerEvent> heard = Collections.synchronizedList(new ArrayList<>());
        store.addListener(heard::add);
        store.grant(buy("tx-le", "le", 500));
        Reservation a = store.reserve(HoldRequest.of("le", 600).ttl(Duration.ofHours(1)).build()).reservation();
        Reservation b = store.reserve(HoldRequest.of("le", 500).ttl(Duration.ofDays(40 / 2)).build()).reservation();
        clock.advanceMonths(1, 1, 1);
        store.expireStale();
        store.consume("le", 10, null);
        clock.advanceMonths(1, 1, 1);
        Reservation late = store.commit(a, 650);
        store.release(b);
        store.consume("le", 20, null);
        Set<String> logged = new HashSet<>();
        for (YearMonth m : List.of(JAN, FEB, MAR)) {
            for (LedgerEvent e : store.events("le", m)) {
                logged.add(e.id() + ":" + e.kind() + ":" + e.month() + ":" + e.tokens());
            }
        }
        Set<String> told = heard.stream().filter(e -> e.kind().logged())
                .map(e -> e.id() + ":" + e.kind() + ":" + e.month() + ":" + e.tokens()).collect(Collectors.toSet());
        assertEquals(logged, told);
        List<LedgerEvent> lateEvents = heard.stream().filter(e -> e.kind() == EventKind.LATE_COMMITTED).toList();
        assertEquals(1, lateEvents.size(), "" + heard);
        assertEquals(JAN, lateEvents.get(0).month());
        assertEquals(650, lateEvents.get(0).tokens());
        assertEquals(late.id(), lateEvents.get(0).reservationId());
        assertTrue(lateEvents.get(0).id() > 0);
        QuotaAccount mar = store.account("le");
        // January: used 650 (allowance 1000): no purchased spent by a; b released -> all 500 back, in March
        assertEquals(500, purchased(mar), "" + mar);
    }

    /** Statistics after late commits: top consumers and history agree with the accounts. */
    @Test
    void statisticsAgreeWithAccountsAfterLateCommits() {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(policy(clock).build());
        store.grant(buy("tx-st", "st", 500));
        Reservation a = store.reserve(HoldRequest.of("st", 900).ttl(Duration.ofHours(1)).build()).reservation();
        store.consume("st2", 100, null);
        clock.advanceMonths(1, 1, 1);
        store.expireStale();
        store.consume("st", 30, null);
        clock.advanceMonths(1, 1, 1);
        store.commit(a, 1_300);
        List<ConsumerUsage> top = store.topConsumers(JAN, 10);
        assertEquals("st", top.get(0).subject(), "" + top);
        assertEquals(1_300, top.get(0).used(), "" + top);
        for (QuotaAccount h : store.history("st", 3)) {
            assertEquals(store.account("st", h.month()).orElseThrow(), h);
        }
        assertEquals(1_300, store.account("st", JAN).orElseThrow().used());
        // 300 purchased spent late: 200 left, in March
        assertEquals(200, purchased(store.account("st")), "" + store.account("st"));
        assertEquals(1, store.purchaseTotals(JAN).stream().mapToLong(t -> t.count()).sum());
        Reserved r = store.reserve(HoldRequest.of("st", 1_200).build());
        assertEquals(0, r.account().available());
    }

    /**
     * Two expired January holds late-committed at once in February under CAP_AT_HOLD, together asking
     * more than January has left: "a late commit never takes a month's used past its limit under that
     * policy", whatever the interleaving.
     */
    @Test
    void concurrentCappedLateCommitsNeverPassTheClosedMonthsLimit() throws Exception {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000)
                .overrunPolicy(OverrunPolicy.CAP_AT_HOLD).build());
        int n = 25;
        List<Reservation[]> holds = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            holds.add(new Reservation[] {store.reserve(HoldRequest.of("cl" + i, 600).ttl(Duration.ofHours(1)).build())
                    .reservation(), null});
        }
        clock.advance(Duration.ofMinutes(90));
        store.expireStale();
        for (int i = 0; i < n; i++) {
            store.consume("cl" + i, 300, null);
            holds.get(i)[1] = store.reserve(HoldRequest.of("cl" + i, 700).ttl(Duration.ofHours(1)).build()).reservation();
        }
        clock.advanceMonths(1, 1, 1);
        store.expireStale();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            for (int i = 0; i < n; i++) {
                Reservation[] h = holds.get(i);
                CyclicBarrier barrier = new CyclicBarrier(2);
                Future<?> a = pool.submit(() -> { barrier.await(); return store.commit(h[0], 600); });
                Future<?> b = pool.submit(() -> { barrier.await(); return store.commit(h[1], 700); });
                a.get();
                b.get();
            }
        } finally {
            pool.shutdownNow();
        }
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            QuotaAccount jan = store.account("cl" + i, JAN).orElseThrow();
            if (jan.used() != 1_000 || jan.reserved() != 0) {
                bad.add(jan.toString());
            }
        }
        assertEquals(List.of(), bad);
    }
}
