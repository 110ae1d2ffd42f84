package io.tokenquota;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaStatistics.ModelUsage;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The README's "Per-model weights" example, number by number. */
class ModelWeightsReadmeExampleTest {
    @Test
    void theWorkedExample() {
        ModelWeights weights = ModelWeights.builder()
                .model("gpt-4o*", ModelWeights.Rates.of("2.5", "1.25", "10", "10"))
                .model("gpt-4o-mini*", ModelWeights.Rates.of("0.15", "0.075", "0.6", "0.6"))
                .defaults(ModelWeights.Rates.of("1", "1", "4", "4"))
                .build();
        InMemoryQuotaStore store = new InMemoryQuotaStore();
        String userId = "user-42";
        Reservation hold = store.reserve(userId, weights.hold("gpt-4o-mini", 1_200, 400), "request-7");
        assertEquals(420, hold.held());
        TokenUsage usage = new TokenUsage("gpt-4o-mini-2024-07-18", 1_000, 200, 300, 0);
        assertEquals(345, weights.charge(usage));
        store.commit(hold.id(), weights.charge(usage), usage);
        assertEquals(List.of(new ModelUsage("gpt-4o-mini-2024-07-18", 1, 1_000, 200, 300, 0, 345)),
                store.modelUsage(userId, store.policy().currentMonth()));
        assertEquals(5_750, weights.charge(new TokenUsage("gpt-4o", 1_000, 200, 300, 0)));
        assertEquals(2_400, weights.charge(new TokenUsage("unknown", 1_000, 200, 300, 0)));
    }
}
