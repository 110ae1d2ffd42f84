package io.tokenquota.breakit2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.ConsumerUsage;
import io.tokenquota.QuotaStatistics.DailyUsage;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Month-model scenarios shared by every store. Subclasses supply the store (one ledger per test). */
public abstract class LedgerReportScenarios {
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

    private static long sum(List<DailyUsage> days, YearMonth month) {
        return days.stream().filter(d -> YearMonth.from(d.day()).equals(month)).mapToLong(DailyUsage::used).sum();
    }

    /**
     * A January hold committed just after midnight (charged to January, as documented). The issue:
     * "reports by month (used per month, history, daily usage) still add up exactly": the daily usage
     * of January's days must add up to January's used, February's to February's.
     */
    @Test
    void dailyUsageAddsUpToEachMonthsUsedAfterACommitAcrossTheTurn() {
        MutableClock clock = MutableClock.at(JAN, 31, 23);
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000).build());
        store.consume("d1", 100, null);
        Reservation hold = store.reserve(HoldRequest.of("d1", 500).ttl(Duration.ofHours(2)).build()).reservation();
        clock.advance(Duration.ofMinutes(90)); // Feb 1 00:30, hold still live
        store.commit(hold, 400);
        store.consume("d1", 50, null);
        QuotaAccount jan = store.account("d1", JAN).orElseThrow();
        QuotaAccount feb = store.account("d1");
        assertEquals(500, jan.used());
        assertEquals(50, feb.used());
        List<DailyUsage> days = store.dailyUsage("d1", LocalDate.of(2031, 1, 1), LocalDate.of(2031, 2, 28));
        assertEquals(List.of(jan.used(), feb.used()), List.of(sum(days, JAN), sum(days, FEB)),
                "daily usage by month must add up to each month's used: " + days.stream()
                        .filter(d -> d.used() > 0).toList());
        List<ConsumerUsage> top = store.topConsumers(JAN, 10);
        assertEquals(500, top.stream().filter(c -> c.subject().equals("d1")).findFirst().orElseThrow().used());
    }

    /** Same with a late commit (after the sweep expired the hold). */
    @Test
    void dailyUsageAddsUpToEachMonthsUsedAfterALateCommit() {
        MutableClock clock = MutableClock.at(JAN, 31, 23);
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000).build());
        Reservation hold = store.reserve(HoldRequest.of("d2", 500).ttl(Duration.ofMinutes(30)).build()).reservation();
        clock.advance(Duration.ofHours(2)); // Feb 1 01:00
        store.expireStale();
        store.commit(hold, 300);
        QuotaAccount jan = store.account("d2", JAN).orElseThrow();
        QuotaAccount feb = store.account("d2");
        assertEquals(300, jan.used());
        List<DailyUsage> days = store.dailyUsage("d2", LocalDate.of(2031, 1, 1), LocalDate.of(2031, 2, 28));
        assertEquals(List.of(jan.used(), feb.used()), List.of(sum(days, JAN), sum(days, FEB)),
                "daily usage by month must add up to each month's used: " + days.stream()
                        .filter(d -> d.used() > 0).toList());
    }

    /**
     * The max quota caps credits (and plan raises) when they are made, never tokens the subject already
     * bought: a late release returns its purchased tokens to February even past maxQuota (as carried
     * tokens are never capped), so nothing bought is lost whichever order the events came in.
     */
    @Test
    void aLateReleaseReturnsItsPurchasedTokensEvenPastMaxQuota() {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000).maxQuota(10_000)
                .overrunPolicy(OverrunPolicy.CHARGE_ACTUAL).build());
        store.grant(buy("mq-a", "mq", 9_000));
        Reservation hold = store.reserve(HoldRequest.of("mq", 10_000).ttl(Duration.ofDays(1)).build()).reservation();
        clock.advanceMonths(1, 1, 1);
        store.grant(buy("mq-b", "mq", 9_000));
        store.release(hold);
        QuotaAccount feb = store.account("mq");
        assertEquals(18_000, feb.granted() + feb.carried(), "both purchases are February's: " + feb);
        assertEquals(19_000, feb.available());
        assertEquals(io.tokenquota.ErrorCode.MAX_QUOTA_EXCEEDED, org.junit.jupiter.api.Assertions.assertThrows(
                QuotaException.class, () -> store.grant(buy("mq-c", "mq", 1))).code(), "no credit past the cap");
    }

    /** The other order of the same events, for contrast: the purchase is refused. */
    @Test
    void releaseFirstThenPurchaseIsRefused() {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000).maxQuota(10_000)
                .overrunPolicy(OverrunPolicy.CHARGE_ACTUAL).build());
        store.grant(buy("mq2-a", "mq2", 9_000));
        Reservation hold = store.reserve(HoldRequest.of("mq2", 10_000).ttl(Duration.ofDays(1)).build()).reservation();
        clock.advanceMonths(1, 1, 1);
        store.release(hold);
        QuotaException e = org.junit.jupiter.api.Assertions.assertThrows(QuotaException.class,
                () -> store.grant(buy("mq2-b", "mq2", 9_000)));
        assertEquals(io.tokenquota.ErrorCode.MAX_QUOTA_EXCEEDED, e.code());
        assertEquals(10_000, store.account("mq2").limit());
    }

    /**
     * Refund of a January purchase in March while holds are open in January and February
     * (holds take the allowance first, then purchased tokens): after both holds are released the user
     * keeps only March's allowance, and the refund recovered everything.
     */
    @Test
    void refundWithHoldsOpenInTwoClosedMonths() {
        MutableClock clock = MutableClock.at(JAN, 31, 20);
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000).build());
        store.grant(buy("rm-tx", "rm", 5_000));
        Reservation h1 = store.reserve(HoldRequest.of("rm", 3_000).ttl(Duration.ofDays(31)).build()).reservation();
        clock.advanceMonths(1, 27, 0);
        Reservation h2 = store.reserve(HoldRequest.of("rm", 4_000).ttl(Duration.ofDays(31)).build()).reservation();
        clock.advanceMonths(1, 2, 0);
        assertEquals(0, store.refund("rm-tx").unrecovered());
        store.release(h1);
        store.release(h2);
        QuotaAccount mar = store.account("rm");
        assertEquals(1_000, mar.available(), "March keeps only its allowance: " + mar);
        assertEquals(MAR, mar.month());
    }
}
