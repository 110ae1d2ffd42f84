package io.tokenquota.internal;

import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaStatistics.ModelUsage;
import io.tokenquota.TokenUsage;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Sums charge events by model for {@link io.tokenquota.QuotaStatistics#modelUsage}, the one ordering
 * every store answers in. Sums saturate at {@link Long#MAX_VALUE} rather than wrap: a report over many
 * accounts may pass 64 bits where no one account can. Not API; stateless.
 */
public final class ModelUsageTally {
    /** Highest charge first, then by model (no model last), as the stores' SQL orders them. */
    public static final Comparator<ModelUsage> ORDER = Comparator.comparingLong(ModelUsage::charged).reversed()
            .thenComparing(ModelUsage::model, Comparator.nullsLast(Comparator.naturalOrder()));

    private ModelUsageTally() {
    }

    /** {@code charges}: COMMITTED and LATE_COMMITTED events of one month. */
    public static List<ModelUsage> of(List<LedgerEvent> charges) {
        Map<String, long[]> byModel = new HashMap<>();
        for (LedgerEvent e : charges) {
            TokenUsage u = e.usage();
            long[] sums = byModel.computeIfAbsent(u == null ? null : u.model(), k -> new long[6]);
            sums[0] = add(sums[0], 1);
            if (u != null) {
                sums[1] = add(sums[1], u.input());
                sums[2] = add(sums[2], u.cachedInput());
                sums[3] = add(sums[3], u.output());
                sums[4] = add(sums[4], u.reasoning());
            }
            sums[5] = add(sums[5], e.tokens());
        }
        List<ModelUsage> result = new ArrayList<>();
        byModel.forEach((model, s) -> result.add(new ModelUsage(model, s[0], s[1], s[2], s[3], s[4], s[5])));
        result.sort(ORDER);
        return result;
    }

    private static long add(long a, long b) {
        return saturatedAdd(a, b);
    }

    /** {@code a + b} for a report's sums of non-negative figures, {@link Long#MAX_VALUE} past it (round 349). */
    public static long saturatedAdd(long a, long b) {
        long sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
    }
}
