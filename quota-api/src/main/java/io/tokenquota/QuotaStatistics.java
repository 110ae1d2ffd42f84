package io.tokenquota;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.List;

/**
 * Read-only statistics computed from the accounts and the event log. A
 * {@code null} subject means all users (team accounts, whose figures repeat their members', are left
 * out; ask for one with its {@link io.tokenquota.Team#subject team subject}, or rank them with
 * {@link #topTeams}). Days and months are in the policy's zone. Thread-safe.
 */
public interface QuotaStatistics {

    /**
     * One entry per day from {@code from} to {@code to} inclusive (days without events included,
     * with zeros), oldest first. At most 366 days.
     */
    List<DailyUsage> dailyUsage(String subject, LocalDate from, LocalDate to);

    /** Users with the most tokens used in {@code month}, highest first, at most {@code limit}. */
    List<ConsumerUsage> topConsumers(YearMonth month, int limit);

    /**
     * Teams with the most tokens used in {@code month}, highest first, at most {@code limit}; each entry's
     * {@link ConsumerUsage#subject()} is the team id.
     */
    List<ConsumerUsage> topTeams(YearMonth month, int limit);

    /** Granted holds vs refused holds in {@code month}. */
    BlockStats blockStats(String subject, YearMonth month);

    /** The subject's pace this month and when, at that pace, its tokens run out. */
    UsageForecast forecast(String subject);

    /** Completed (and refunded) purchases of {@code month} by type and currency. */
    List<PurchaseTotal> purchaseTotals(YearMonth month);

    /**
     * How many holds are open ({@code HELD}) across all subjects right now, including any past their
     * TTL that no sweep has expired yet: what a metrics gauge of open holds shows.
     */
    long openHolds();

    /**
     * Charges of {@code month} by the model their recorded usage names ({@link LedgerEvent#usage()}):
     * one entry per model, highest charge first (then by model), with an entry of model {@code null}
     * for charges recorded without a usage or a model, so the entries add up to the month's charges.
     * A {@code null} subject means all users (team accounts are left out, as above).
     *
     * @throws QuotaException {@code MONTH_OUT_OF_RANGE} outside the policy's history window
     */
    default List<ModelUsage> modelUsage(String subject, YearMonth month) {
        throw new UnsupportedOperationException(getClass().getName() + " keeps no usage by model");
    }

    /**
     * @param model       the model, or {@code null} for charges without one
     * @param calls       charges (commits, late commits, consumes)
     * @param input       raw counts of each kind, summed over the calls with a recorded usage
     * @param charged     quota units charged, summed over all the calls
     */
    record ModelUsage(String model, long calls, long input, long cachedInput, long output, long reasoning,
                      long charged) {
    }

    /** @param used tokens charged that day; {@code requests} holds granted; {@code rejected} holds refused */
    record DailyUsage(LocalDate day, long used, long requests, long rejected) {
    }

    record ConsumerUsage(String subject, long used, long limit) {
    }

    /** @param ratio {@code rejected / (granted + rejected)}, 0 when there were none */
    record BlockStats(long granted, long rejected, double ratio) {
    }

    /**
     * @param tokensPerDay      used this month divided by the days elapsed (fractional days count)
     * @param projectedExhaustion when {@code available} reaches 0 at that pace; {@code null} when
     *                          the pace is 0 or the month resets first
     */
    record UsageForecast(String subject, YearMonth month, long used, long available, double tokensPerDay,
                         Instant projectedExhaustion, Instant resetAt) {
    }

    record PurchaseTotal(PurchaseType type, Currency currency, long count, long tokens, BigDecimal amount) {
    }
}
