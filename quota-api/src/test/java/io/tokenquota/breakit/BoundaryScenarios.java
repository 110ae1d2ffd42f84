package io.tokenquota.breakit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.testkit.MutableClock;
import java.time.Clock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Scenarios from the "ledger integrity at the boundaries" issue, written to break the stores.
 * Subclasses supply the store. Not a test class by itself (no Test suffix).
 */
public abstract class BoundaryScenarios {
    protected static final YearMonth JAN = YearMonth.of(2031, 1);
    protected static final YearMonth FEB = JAN.plusMonths(1);
    protected static final YearMonth MAR = FEB.plusMonths(1);

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final List<LedgerEvent> heard = new CopyOnWriteArrayList<>();

    /** A new store on the given policy; several calls in one test share one backing ledger. */
    protected abstract QuotaStore newStore(QuotaPolicy policy);

    protected QuotaStore store(Clock clock) {
        return store(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000)
                .overrunPolicy(OverrunPolicy.CHARGE_ACTUAL).build());
    }

    protected QuotaStore store(QuotaPolicy policy) {
        QuotaStore s = newStore(policy);
        if (s instanceof AutoCloseable c) {
            closeables.add(c);
        }
        s.addListener(e -> {
            if (e.kind().logged()) {
                heard.add(e);
            }
        });
        return s;
    }

    @AfterEach
    void closeStores() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        closeables.clear();
        heard.clear();
    }

    protected static void balances(QuotaAccount a, long allocated, long granted, long carried, long used, long reserved) {
        assertEquals(List.of(allocated, granted, carried, used, reserved),
                List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved()),
                "allocated, granted, carried, used, reserved of " + a);
    }

    /** Listeners heard exactly the logged events of these subjects over these months. */
    protected void listenersHeardExactlyTheLog(QuotaStore store, List<String> subjects, YearMonth... months) {
        List<LedgerEvent> log = new ArrayList<>();
        for (String s : subjects) {
            for (YearMonth m : months) {
                log.addAll(store.events(s, m));
            }
        }
        log.sort(Comparator.comparingLong(LedgerEvent::id));
        List<LedgerEvent> got = new ArrayList<>(heard.stream().filter(e -> subjects.contains(e.subject())).toList());
        got.sort(Comparator.comparingLong(LedgerEvent::id));
        assertEquals(log, got, "listeners must hear exactly what was committed");
    }

    private static PurchaseRequest buy(String tx, String subject, long tokens) {
        return PurchaseRequest.grant(tx, subject, tokens, PurchaseType.PURCHASE, null);
    }

    // ------------------------------------------------------------------ item 4: refunds of held tokens

    /** In-month: a refund of purchased tokens that are only on hold takes them all back. */
    @Test
    void refundOfHeldTokensInTheSameMonthLeavesTheUserNoneOfThem() {
        MutableClock clock = MutableClock.at(JAN, 10, 12);
        QuotaStore store = store(clock);
        store.grant(buy("r1-tx", "r1", 5_000));
        Reservation hold = store.reserve(HoldRequest.of("r1", 6_000).ttl(Duration.ofHours(1)).build()).reservation();
        Purchase refunded = store.refund("r1-tx");
        assertEquals(0, refunded.unrecovered(), "held tokens are not spent");
        store.release(hold);
        QuotaAccount a = store.account("r1");
        assertEquals(1_000, a.available(), "after the release only the allowance is left: " + a);
        listenersHeardExactlyTheLog(store, List.of("r1"), JAN);
    }

    /** A refund in February of purchased tokens a January hold still holds; then the hold is released. */
    @Test
    void refundOfTokensHeldByAClosedMonthsHoldThenRelease() {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(clock);
        store.grant(buy("r2-tx", "r2", 5_000));
        Reservation hold = store.reserve(HoldRequest.of("r2", 6_000).ttl(Duration.ofDays(1)).build()).reservation();
        clock.advanceMonths(1, 1, 1);
        balances(store.account("r2"), 1_000, 0, 0, 0, 0);
        Purchase refunded = store.refund("r2-tx");
        assertEquals(0, refunded.unrecovered(), "held tokens are not spent");
        store.release(hold);
        QuotaAccount feb = store.account("r2");
        assertEquals(1_000, feb.available(), "February keeps only its allowance: " + feb);
        QuotaAccount jan = store.account("r2", JAN).orElseThrow();
        assertEquals(0, jan.used());
        assertEquals(0, jan.reserved());
        listenersHeardExactlyTheLog(store, List.of("r2"), JAN, FEB);
    }

    /** Same, but the hold expires by the sweep after the refund. */
    @Test
    void refundOfTokensHeldByAClosedMonthsHoldThenSweep() {
        MutableClock clock = MutableClock.at(JAN, 31, 23);
        QuotaStore store = store(clock);
        store.grant(buy("r3-tx", "r3", 5_000));
        store.reserve(HoldRequest.of("r3", 6_000).ttl(Duration.ofHours(2)).build()).reservation();
        clock.advanceMonths(1, 1, 0);
        Purchase refunded = store.refund("r3-tx");
        assertEquals(0, refunded.unrecovered());
        clock.advance(Duration.ofHours(3));
        store.expireStale();
        QuotaAccount feb = store.account("r3");
        assertEquals(1_000, feb.available(), "February keeps only its allowance: " + feb);
        listenersHeardExactlyTheLog(store, List.of("r3"), JAN, FEB);
    }

    // ------------------------------------------------------------------ item 1: order of events

    /** Six orders of touch / release / commit / sweep after the turn give the same carried. */
    @Test
    void carriedIsTheSameWhateverComesFirst() {
        MutableClock clock = MutableClock.at(JAN, 31, 23);
        QuotaStore store = store(clock);
        String[] subjects = {"o-touch-release", "o-release-touch", "o-commit-touch", "o-touch-commit",
                "o-sweep-touch", "o-touch-expired"};
        Reservation[] holds = new Reservation[subjects.length];
        for (int i = 0; i < subjects.length; i++) {
            store.grant(buy("tx-" + subjects[i], subjects[i], 5_000));
            store.consume(subjects[i], 1_000, null);
            holds[i] = store.reserve(HoldRequest.of(subjects[i], 5_000).ttl(Duration.ofMinutes(60))
                    .build()).reservation();
        }
        clock.advanceMonths(1, 1, 0); // 00:00, holds live until 00:00 + ... (taken at 23:00, 60 min) -> expire at 00:00
        clock.set(FEB.atDay(1).atStartOfDay().toInstant(java.time.ZoneOffset.UTC).minusSeconds(1800));
        // still January 31, 23:30: nothing yet; move into February while the holds are live? They expire at 00:00.
        clock.set(FEB.atDay(1).atStartOfDay().toInstant(java.time.ZoneOffset.UTC).plusSeconds(1));
        // at 00:00:01 the holds are past their TTL (taken 23:00 with 60 min)
        store.account(subjects[0]);
        store.release(holds[0]);
        store.release(holds[1]);
        store.account(subjects[1]);
        store.commit(holds[2], 2_000);
        store.account(subjects[2]);
        store.account(subjects[3]);
        store.commit(holds[3], 2_000);
        store.expireStale();
        store.account(subjects[4]);
        store.account(subjects[5]);
        for (int i = 0; i < subjects.length; i++) {
            long expected = (i == 2 || i == 3) ? 3_000 : 5_000;
            QuotaAccount feb = store.account(subjects[i]);
            assertEquals(expected, feb.granted() + feb.carried(), subjects[i] + ": " + feb);
            assertEquals(0, feb.used());
        }
        listenersHeardExactlyTheLog(store, List.of(subjects), JAN, FEB);
    }

    /** A January hold released in March, after February and March were both touched. */
    @Test
    void aHoldReleasedTwoMonthsLaterGivesItsPurchasedTokensToTheLatestMonth() {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(clock);
        store.grant(buy("skip-tx", "skip", 5_000));
        store.consume("skip", 1_000, null);
        Reservation hold = store.reserve(HoldRequest.of("skip", 5_000).ttl(Duration.ofDays(30)).build()).reservation();
        clock.advanceMonths(1, 5, 0);
        balances(store.account("skip"), 1_000, 0, 0, 0, 0);
        clock.advanceMonths(1, 1, 0);
        balances(store.account("skip"), 1_000, 0, 0, 0, 0);
        store.release(hold);
        QuotaAccount mar = store.account("skip");
        assertEquals(5_000, mar.granted() + mar.carried(), "March: " + mar);
        assertEquals(6_000, mar.available());
        listenersHeardExactlyTheLog(store, List.of("skip"), JAN, FEB, MAR);
    }

    // ------------------------------------------------------------------ item 2: late commit overage

    /** The double spend: 5,000 bought, 5,000 spent in January by a late overage, none may stay carried. */
    @Test
    void aLateOverageSpendsThePurchasedTokensFebruaryCarried() {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(clock);
        store.grant(buy("ov-tx", "ov", 5_000));
        store.consume("ov", 1_000, null);
        Reservation hold = store.reserve(HoldRequest.of("ov", 1_000).ttl(Duration.ofDays(1)).build()).reservation();
        clock.advanceMonths(1, 1, 0);
        QuotaAccount feb = store.account("ov");
        assertEquals(4_000, feb.carried());
        Reservation committed = store.commit(hold, 5_000);
        assertEquals(5_000, committed.charged());
        QuotaAccount jan = store.account("ov", JAN).orElseThrow();
        assertEquals(6_000, jan.used());
        feb = store.account("ov");
        assertEquals(0, feb.granted() + feb.carried(), "January spent all 5,000 purchased tokens: " + feb);
        listenersHeardExactlyTheLog(store, List.of("ov"), JAN, FEB);
    }

    // ------------------------------------------------------------------ item 7: reads ignore dead holds

    @Test
    void readsNeverCountHoldsPastTheirTtl() {
        MutableClock clock = MutableClock.at(JAN, 10, 12);
        QuotaStore store = store(clock);
        store.reserve(HoldRequest.of("dead", 800).ttl(Duration.ofMinutes(1)).build()).reservation();
        clock.advance(Duration.ofMinutes(2));
        assertEquals(0, store.history("dead", 1).get(0).reserved(), "history");
        assertEquals(1_000, store.forecast("dead").available(), "forecast");
        assertEquals(0, store.account("dead", JAN).orElseThrow().reserved(), "account(subject, month)");
        assertEquals(0, store.account("dead").reserved(), "account(subject)");
    }

    @Test
    void aReadOfAClosedMonthNeverCountsItsDeadHolds() {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(clock);
        store.reserve(HoldRequest.of("dead-jan", 800).ttl(Duration.ofHours(1)).build()).reservation();
        clock.advanceMonths(1, 2, 0);
        assertEquals(0, store.account("dead-jan", JAN).orElseThrow().reserved());
        assertEquals(0, store.history("dead-jan", 2).get(store.history("dead-jan", 2).size() - 1).reserved());
    }

    // ------------------------------------------------------------------ item 7: replays

    @Test
    void anExactReplayWithASubMicrosecondTtlReturnsTheFirstHold() {
        MutableClock clock = MutableClock.at(JAN, 10, 12);
        QuotaStore store = store(clock);
        Duration ttl = Duration.ofSeconds(90).plusNanos(1);
        Reservation first = store.reserve(HoldRequest.of("nano", 100).idempotencyKey("k1").ttl(ttl).endpoint("/x")
                .build()).reservation();
        Reservation again = store.reserve(HoldRequest.of("nano", 100).idempotencyKey("k1").ttl(ttl).endpoint("/x")
                .build()).reservation();
        assertEquals(first.id(), again.id());
        assertEquals(100, store.account("nano").reserved());
    }

    @Test
    void anExactReplayAtANanosecondClockReturnsTheFirstHold() {
        MutableClock clock = new MutableClock(JAN.atDay(10).atTime(12, 0, 0, 123_456_789)
                .toInstant(java.time.ZoneOffset.UTC));
        QuotaStore store = store(clock);
        Reservation first = store.reserve(HoldRequest.of("nano2", 100).idempotencyKey("k1").ttl(Duration.ofSeconds(90))
                .endpoint("/x").build()).reservation();
        clock.advance(Duration.ofNanos(333));
        Reservation again = store.reserve(HoldRequest.of("nano2", 100).idempotencyKey("k1").ttl(Duration.ofSeconds(90))
                .endpoint("/x").build()).reservation();
        assertEquals(first.id(), again.id());
    }

    @Test
    void aReplayWithAnotherTtlOrEndpointIsAConflict() {
        MutableClock clock = MutableClock.at(JAN, 10, 12);
        QuotaStore store = store(clock);
        store.reserve(HoldRequest.of("rp", 100).idempotencyKey("k1").ttl(Duration.ofSeconds(90)).endpoint("/x")
                .build()).reservation();
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, assertThrows(QuotaException.class,
                () -> store.reserve(HoldRequest.of("rp", 100).idempotencyKey("k1").ttl(Duration.ofSeconds(91))
                        .endpoint("/x").build()).reservation()).code());
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, assertThrows(QuotaException.class,
                () -> store.reserve(HoldRequest.of("rp", 100).idempotencyKey("k1").ttl(Duration.ofSeconds(90))
                        .endpoint("/y").build()).reservation()).code());
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, assertThrows(QuotaException.class,
                () -> store.reserve(HoldRequest.of("rp", 100).idempotencyKey("k1").ttl(Duration.ofSeconds(90))
                        .build()).reservation()).code());
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, assertThrows(QuotaException.class,
                () -> store.consume(HoldRequest.of("rp", 100).idempotencyKey("k1").endpoint("/x").build())).code());
        assertEquals(100, store.account("rp").reserved());
    }

    // ------------------------------------------------------------------ item 6: free text

    @Test
    void freeTextWithUnpairedSurrogatesIsRefusedAndPairedOnesRoundTrip() {
        MutableClock clock = MutableClock.at(JAN, 10, 12);
        QuotaStore store = store(clock);
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(QuotaException.class,
                () -> store.reserve(HoldRequest.of("txt", 10).endpoint("/a\ud800").build()).reservation()).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(QuotaException.class,
                () -> PurchaseRequest.grant("t-txt", "txt", 10, PurchaseType.PURCHASE, "\udc00 lone")).code());
        PurchaseRequest ok = new PurchaseRequest("t-txt2", "txt", 10, PurchaseType.PURCHASE, "카드 \ud83d\ude00",
                new java.math.BigDecimal("1.50"), io.tokenquota.Currency.USD, "reason \ud83d\ude00\r\n\tend");
        Purchase first = store.grant(ok);
        assertEquals(first, store.grant(ok), "an exact replay returns the first record");
        Reservation hold = store.reserve(HoldRequest.of("txt", 10).idempotencyKey("k").endpoint("/\ud83d\ude00 \u00e9")
                .build()).reservation();
        assertEquals(hold.id(), store.reserve(HoldRequest.of("txt", 10).idempotencyKey("k")
                .endpoint("/\ud83d\ude00 \u00e9").build()).reservation().id());
    }

    // ------------------------------------------------------------------ item 7: setPlan and maxQuota

    @Test
    void setPlanNeverTakesTheLimitPastMaxQuota() {
        MutableClock clock = MutableClock.at(JAN, 10, 12);
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000).maxQuota(10_000).build());
        store.grant(buy("mq-tx", "mq", 5_000));
        assertEquals(ErrorCode.MAX_QUOTA_EXCEEDED, assertThrows(QuotaException.class,
                () -> store.setPlan("mq", 9_000)).code());
        assertEquals(6_000, store.account("mq").limit());
        // a plan set with no account yet this month, carried from January
        clock.advanceMonths(1, 2, 0);
        assertEquals(ErrorCode.MAX_QUOTA_EXCEEDED, assertThrows(QuotaException.class,
                () -> store.setPlan("mq", 9_000)).code());
        QuotaAccount feb = store.account("mq");
        assertEquals(true, feb.limit() <= 10_000, feb.toString());
    }
}
