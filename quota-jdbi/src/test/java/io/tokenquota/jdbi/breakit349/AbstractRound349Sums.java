package io.tokenquota.jdbi.breakit349;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.DailyUsage;
import io.tokenquota.QuotaStatistics.PurchaseTotal;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 349's report sums past 2^63: some 9,000 charges or grants of 10^15 each, which no single account can
 * hold, summed over many accounts. Run in memory (daily usage is summed by the same {@code DailyTally} on every
 * store); the SQL stores' purchase totals ({@code SUM} read as a decimal and saturated, in {@code Statistics})
 * are checked on H2 alone ({@code H2Round349Test}): on PostgreSQL the writes take over a minute.
 */
abstract class AbstractRound349Sums extends AbstractRound349 {
    // ------------------------------------------------------------ daily usage over all users past 2^63

    /**
     * {@code users} users each hold {@code holdsEach} 1-token holds (a day's TTL) and commit each at
     * 10^15 (CHARGE_ACTUAL, the default: a call that used far more than its hold), all on one day; the
     * day's total over all users is {@code users * holdsEach * 10^15}. Returns dailyUsage(null, day, day).
     */
    private DailyUsage dayOfHugeCharges(YearMonth month, int users, int holdsEach) {
        MutableClock clock = MutableClock.at(month, 10, 12);
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).build());
        List<Reservation> holds = new ArrayList<>();
        for (int u = 0; u < users; u++) {
            String subject = prefix + "u" + u;
            for (int i = 0; i < holdsEach; i++) {
                holds.add(store.reserve(HoldRequest.of(subject, 1).ttl(Duration.ofDays(1)).build()).reservation());
            }
        }
        for (Reservation hold : holds) {
            store.commit(hold, E15);
        }
        LocalDate day = month.atDay(10);
        List<DailyUsage> days = store.dailyUsage(null, day, day);
        assertEquals(1, days.size());
        return days.get(0);
    }

    /**
     * Finding: two users' 9,224 charges of 10^15 on one day come to 9.224 * 10^18, past 2^63 - 1; no
     * account passes 64 bits (each used 4.612 * 10^18), but the all-users report's day wraps to a negative
     * figure instead of saturating at Long.MAX_VALUE as {@code modelUsage} over the same charges does.
     */
    @Test
    void dailyUsageOverAllUsersSaturatesPast64Bits() {
        DailyUsage day = dayOfHugeCharges(YearMonth.of(2031, 5), 2, 4_612);
        assertEquals(List.of(Long.MAX_VALUE, 9_224L, 0L), List.of(day.used(), day.requests(), day.rejected()),
                "the day's charges over all users (saturated, as modelUsage's are), its granted holds, its refusals");
    }

    /** Control: the same day with 2 * 4,000 such charges, 8 * 10^18, within 64 bits: summed exactly. */
    @Test
    void dailyUsageOverAllUsersSumsExactlyWithin64Bits() {
        DailyUsage day = dayOfHugeCharges(YearMonth.of(2031, 6), 2, 4_000);
        assertEquals(List.of(8_000L * E15, 8_000L, 0L), List.of(day.used(), day.requests(), day.rejected()),
                "the day's charges over all users, its granted holds, its refusals");
    }

    // ------------------------------------------------------------ purchase totals past 2^63

    /**
     * Finding: 9,224 users' 10^15-token bonuses, each within the max quota, come to 9.224 * 10^18 tokens in
     * the month's purchase totals: past 2^63 - 1. The in-memory reference wraps to a negative total; H2 and
     * PostgreSQL fail the read with AMOUNT_OVERFLOW, whose message says a change "would take the account's
     * used + reserved tokens past 2^63 - 1" (no account changed: it is a read).
     */
    @Test
    void purchaseTotalsSaturatePast64Bits() {
        List<PurchaseTotal> totals = monthOfHugeGrants(YearMonth.of(2031, 7), 9_224);
        assertEquals("BONUS KRW count=9224 tokens=" + Long.MAX_VALUE, String.join("; ", totals.stream()
                .map(t -> t.type() + " " + t.currency() + " count=" + t.count() + " tokens=" + t.tokens()).toList()),
                "the month's bonuses: 9,224 of them, their tokens saturated as modelUsage's sums are");
    }

    /** Control: 8,000 such bonuses, 8 * 10^18 tokens, within 64 bits: summed exactly. */
    @Test
    void purchaseTotalsSumExactlyWithin64Bits() {
        List<PurchaseTotal> totals = monthOfHugeGrants(YearMonth.of(2031, 8), 8_000);
        assertEquals("BONUS KRW count=8000 tokens=" + 8_000L * E15, String.join("; ", totals.stream()
                .map(t -> t.type() + " " + t.currency() + " count=" + t.count() + " tokens=" + t.tokens()).toList()),
                "the month's bonuses");
    }
}
