package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ModelWeights;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The names a model is weighed by (round 341): as written, after its namespace, without a Bedrock profile's geography. */
final class WeighingSpellingsTest {

    @Test
    void aNamespacedOrProfiledNameIsAlsoWeighedByTheNameItResolvesTo() {
        assertEquals(List.of("library/llama3.3:70b", "llama3.3:70b"), Weighing.spellings("library/llama3.3:70b"));
        assertEquals(List.of("registry.ollama.ai/library/llama3.3:70b", "llama3.3:70b"),
                Weighing.spellings("registry.ollama.ai/library/llama3.3:70b"));
        assertEquals(List.of("us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0"),
                Weighing.spellings("us.anthropic.claude-sonnet-4-20250514-v1:0"));
        assertEquals(List.of("anthropic.claude-sonnet-4-20250514-v1:0"), Weighing.spellings("anthropic.claude-sonnet-4-20250514-v1:0"));
        assertEquals(List.of("amazon.nova-pro-v1:0"), Weighing.spellings("amazon.nova-pro-v1:0"));
        assertEquals(List.of("gpt-4.1"), Weighing.spellings("gpt-4.1"));
        assertEquals(Arrays.asList((String) null), Weighing.spellings(null));
    }

    @Test
    void theDearestSpellingPricesTheCallSoNoSpellingLowersIt() {
        ModelWeights weights = ModelWeights.builder()
                .model("llama3.3:70b*", ModelWeights.Rates.parse("2,2,8,8"))
                .model("llama3.2:3b*", ModelWeights.Rates.parse("0.1,0.1,0.4,0.4"))
                .defaults(ModelWeights.Rates.parse("1,1,4,4"))
                .build();
        Weighing weighing = new Weighing(weights, List.of("library/llama3.3:70b"));
        assertEquals(2 * 1_000 + 8 * 1_000, weighing.hold(2_000, 1_000));
        // another namespace's model of a cheap row's name is another model: the default stays
        assertEquals(1_000 + 4 * 1_000, new Weighing(weights, List.of("evil/llama3.2:3b")).hold(2_000, 1_000));
    }
}
