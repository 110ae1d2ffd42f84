package io.tokenquota.testkit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Proves the over-spend check of {@link ConcurrencyContract} can fail: run against the original
 * Python/FastAPI service's check-then-update design it must report an overspend, and against the reference store it must not.
 */
class NaiveStoreIsCaughtTest {
    /** Upper bound on rounds; detection normally happens in the first few. */
    private static final int MAX_ROUNDS = 400;
    private static final int THREADS = 32;

    private static QuotaPolicy policy() {
        return QuotaPolicy.builder().clock(MutableClock.at(YearMonth.of(2031, 5), 10, 12))
                .holdTtl(Duration.ofDays(1)).build();
    }

    @Test
    void theOverspendCheckCatchesTheNaiveCheckThenUpdateStore() throws Exception {
        QuotaStore naive = new NaiveCheckThenUpdateStore(policy());
        String prefix = UUID.randomUUID() + "-";
        List<String> violations = List.of();
        int rounds = 0;
        // rounds in batches, stopping at the first detection: a race is a matter of chance per round,
        // so the bound is generous, but it never waits on time
        while (violations.isEmpty() && rounds < MAX_ROUNDS) {
            int batch = rounds;
            violations = ConcurrencyContract.overspendViolations(naive, r -> prefix + (batch + r), THREADS, 10, 2_500);
            rounds += 10;
        }
        List<String> found = violations;
        assertFalse(found.isEmpty(), "the naive store overspent in none of " + rounds + " rounds");
        assertTrue(found.stream().anyMatch(v -> v.contains("against a limit") || v.contains("observed available")),
                () -> "expected an overspend, got " + found);
        System.out.println("naive store caught after at most " + rounds + " rounds: " + found.get(0));
    }

    @Test
    void theSameCheckPassesTheReferenceStore() throws Exception {
        QuotaStore store = new InMemoryQuotaStore(policy());
        String prefix = UUID.randomUUID() + "-";
        assertTrue(ConcurrencyContract.overspendViolations(store, r -> prefix + r, THREADS, 20, 2_500).isEmpty());
    }
}
