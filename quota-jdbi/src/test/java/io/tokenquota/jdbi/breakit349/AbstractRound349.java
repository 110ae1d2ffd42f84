package io.tokenquota.jdbi.breakit349;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaException;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.PurchaseTotal;
import io.tokenquota.QuotaStatistics.ConsumerUsage;
import io.tokenquota.QuotaStatistics.DailyUsage;
import io.tokenquota.QuotaStore;
import io.tokenquota.testkit.MutableClock;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 349 (a ledger round): bad input and 64-bit amounts at the public API, on H2, PostgreSQL and the
 * in-memory reference.
 *
 * <p>The rules: "Bad input gets a specific, documented error and leaves the ledger unchanged. Amounts are
 * 64-bit." (issue 11); docs/semantics.md "64-bit amounts"; {@code ModelUsageTally}'s stated rule for
 * reports, "Sums saturate at Long.MAX_VALUE rather than wrap: a report over many accounts may pass 64 bits
 * where no one account can", which {@code modelUsage} follows on every store; and every store answering as
 * the in-memory reference does (docs/semantics.md: "What every QuotaStore ... promises").
 */
abstract class AbstractRound349 {
    protected abstract QuotaStore store(QuotaPolicy policy);

    protected String prefix;

    @BeforeEach
    void start() {
        prefix = "r349" + UUID.randomUUID().toString().substring(0, 8) + "-";
    }

    static final long E15 = 1_000_000_000_000_000L;

    /**
     * {@code users} users each get a 10^15-token bonus ({@code grant}, max quota 10^15, no allowance) in
     * one month; returns that month's purchase totals.
     */
    protected List<PurchaseTotal> monthOfHugeGrants(YearMonth month, int users) {
        MutableClock clock = MutableClock.at(month, 10, 12);
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(0).maxQuota(E15).build());
        for (int u = 0; u < users; u++) {
            store.grant(PurchaseRequest.grant(prefix + "tx" + u, prefix + "u" + u, E15, PurchaseType.BONUS, null));
        }
        return store.purchaseTotals(month);
    }

    // ------------------------------------------------------------ top consumers' order of tied subjects

    /**
     * Two users consume 100 each in one month; top consumers lists both, highest first, ties in the order
     * every store gives (code points, round 349's decision).
     */
    private List<String> tiedTop(YearMonth month, String first, String second) {
        MutableClock clock = MutableClock.at(month, 10, 12);
        QuotaStore store = store(QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).build());
        store.consume(first, 100, null);
        store.consume(second, 100, null);
        List<String> one = store.topConsumers(month, 1).stream().map(ConsumerUsage::subject).toList();
        List<String> both = store.topConsumers(month, 2).stream().map(ConsumerUsage::subject).toList();
        List<String> all = new ArrayList<>(one);
        all.add("|");
        all.addAll(both);
        return all;
    }

    /**
     * Finding (PostgreSQL): a subject with an emoji (U+1F600, a surrogate pair in Java) and one with a
     * full-width letter (U+FF21), both printable subjects of 1..128 code points, tie; the in-memory
     * reference (and H2) order the emoji first, as String.compareTo does; PostgreSQL's
     * {@code ORDER BY used DESC, subject COLLATE "C"} orders by code point, the full-width letter first, so
     * topConsumers(month, 1) names another user.
     *
     * <p>Round 349's decision: ties are listed in code point order on every store (the in-memory reference
     * by {@code LedgerRules.CODE_POINT_ORDER}, H2 by {@code STRINGTOUTF8(subject)}, PostgreSQL by
     * {@code COLLATE "C"}): the full-width letter (U+FF21) before the emoji (U+1F600).
     */
    @Test
    void tiedTopConsumersAreOrderedAsTheReferenceOrdersThem() {
        String emoji = "\uD83D\uDE00" + prefix;
        String fullWidth = "\uFF21" + prefix;
        assertEquals(List.of(fullWidth, "|", fullWidth, emoji), tiedTop(YearMonth.of(2031, 9), emoji, fullWidth),
                "topConsumers(month, 1) | topConsumers(month, 2)");
    }

    /** Control: two ASCII subjects tied: the same order on every store. */
    @Test
    void tiedAsciiTopConsumersAreOrderedBySubject() {
        String a = "a" + prefix;
        String b = "b" + prefix;
        assertEquals(List.of(a, "|", a, b), tiedTop(YearMonth.of(2031, 10), b, a),
                "topConsumers(month, 1) | topConsumers(month, 2)");
    }

    // ------------------------------------------------------------ daily usage at the ends of LocalDate

    /** A user consumes 100 on the 10th of {@code month} (its own month per test), then the day is read. */
    private String dailyOutcome(YearMonth month, LocalDate day) {
        QuotaStore store = store(QuotaPolicy.builder().clock(MutableClock.at(month, 10, 12)).build());
        store.consume(prefix + "d", 100, null);
        try {
            return store.dailyUsage(null, day, day).toString();
        } catch (QuotaException e) {
            return e.code().name();
        } catch (RuntimeException e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    /**
     * Finding (JDBI): a one-day range on the last day a LocalDate can name is a valid range of
     * {@code Validation.dayRange} (1 day, at most 366); the in-memory reference answers its one empty day,
     * the JDBI store throws java.time.DateTimeException (no QuotaException, no ErrorCode) computing the
     * day after it.
     *
     * <p>Round 349's decision: a day range's days must be in the years 1..9999 (those the ledger's
     * 'YYYY-MM' months name); past them every store refuses the range with INVALID_ARGUMENT.
     */
    @Test
    void dailyUsageOfTheLastDayALocalDateNamesIsRefused() {
        assertEquals("INVALID_ARGUMENT", dailyOutcome(YearMonth.of(2031, 11), LocalDate.MAX));
    }

    /**
     * Finding (PostgreSQL): a day in the year 300,000 (a valid LocalDate, a valid one-day range) is past
     * PostgreSQL's timestamptz range (4713 BC..294276 AD): the in-memory reference and H2 answer its empty
     * day, PostgreSQL fails STORE_UNAVAILABLE ("the store could not be reached") for bad input.
     *
     * <p>Round 349's decision: outside the years 1..9999 every store refuses the range with
     * INVALID_ARGUMENT; the last day of the year 9999 is still answered.
     */
    @Test
    void dailyUsageOfAFarFutureDayIsRefused() {
        LocalDate day = LocalDate.of(300_000, 1, 1);
        assertEquals("INVALID_ARGUMENT", dailyOutcome(YearMonth.of(2031, 12), day));
        assertEquals("INVALID_ARGUMENT", dailyOutcome(YearMonth.of(2031, 12), LocalDate.of(10_000, 1, 1)));
        assertEquals("INVALID_ARGUMENT", dailyOutcome(YearMonth.of(2031, 12), LocalDate.of(0, 12, 31)));
        LocalDate last = LocalDate.of(9_999, 12, 31);
        assertEquals(List.of(new DailyUsage(last, 0, 0, 0)).toString(), dailyOutcome(YearMonth.of(2031, 12), last));
    }

    /** Control: an ordinary day with the consume on it. */
    @Test
    void dailyUsageOfAnOrdinaryDay() {
        LocalDate day = LocalDate.of(2032, 1, 10);
        assertEquals(List.of(new DailyUsage(day, 100, 1, 0)).toString(), dailyOutcome(YearMonth.of(2032, 1), day));
    }
}
