package io.tokenquota.internal;

import io.tokenquota.EventKind;
import io.tokenquota.QuotaStatistics.DailyUsage;
import java.time.LocalDate;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

/**
 * Daily usage as both stores count it, one calendar day (in the policy's zone) per row: tokens
 * committed (saturating at {@link Long#MAX_VALUE}, as {@link ModelUsageTally}'s sums do: a day over many
 * accounts may pass 64 bits where no one account can, round 349), holds granted (a reserve, or a
 * one-step consume), holds refused. Not API: the
 * {@code internal} package may change in any release. Not thread-safe: one per query.
 */
public final class DailyTally {
    private final LocalDate from;
    private final LocalDate to;
    private final long[][] sums;

    /** @throws io.tokenquota.QuotaException INVALID_ARGUMENT for a missing, reversed or too long range */
    public DailyTally(LocalDate from, LocalDate to) {
        this.sums = new long[Validation.dayRange(from, to)][3];
        this.from = from;
        this.to = to;
    }

    /** Counts one event of {@code day}; days outside the range are ignored. */
    public void add(LocalDate day, EventKind kind, long tokens, boolean consume) {
        if (day.isBefore(from) || day.isAfter(to)) {
            return;
        }
        long[] row = sums[(int) ChronoUnit.DAYS.between(from, day)];
        if (kind.charges()) {
            row[0] = ModelUsageTally.saturatedAdd(row[0], tokens);
        }
        if (kind == EventKind.RESERVED || (kind == EventKind.COMMITTED && consume)) {
            row[1]++;
        }
        if (kind == EventKind.REJECTED) {
            row[2]++;
        }
    }

    /** Every day of the range, in order, days without events included. */
    public List<DailyUsage> days() {
        List<DailyUsage> result = new ArrayList<>(sums.length);
        for (int i = 0; i < sums.length; i++) {
            result.add(new DailyUsage(from.plusDays(i), sums[i][0], sums[i][1], sums[i][2]));
        }
        return result;
    }
}
