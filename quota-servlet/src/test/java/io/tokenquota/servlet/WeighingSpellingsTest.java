package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ModelWeights;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The names a model is weighed by (round 341): as written, after its namespace, without a Bedrock profile's geography,
 * a Bedrock id as its provider's name (round 411).
 */
final class WeighingSpellingsTest {

    @Test
    void aNamespacedOrProfiledNameIsAlsoWeighedByTheNameItResolvesTo() {
        assertEquals(List.of("library/llama3.3:70b", "llama3.3:70b"), Weighing.spellings("library/llama3.3:70b"));
        assertEquals(List.of("registry.ollama.ai/library/llama3.3:70b", "llama3.3:70b"),
                Weighing.spellings("registry.ollama.ai/library/llama3.3:70b"));
        assertEquals(List.of("us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0",
                "claude-sonnet-4-20250514"), Weighing.spellings("us.anthropic.claude-sonnet-4-20250514-v1:0"));
        assertEquals(List.of("anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4-20250514"),
                Weighing.spellings("anthropic.claude-sonnet-4-20250514-v1:0"));
        assertEquals(List.of("amazon.nova-pro-v1:0", "nova-pro"), Weighing.spellings("amazon.nova-pro-v1:0"));
        assertEquals(List.of("amazon.titan-text-express-v1", "titan-text-express"),
                Weighing.spellings("amazon.titan-text-express-v1"));
        assertEquals(List.of("openai.gpt-oss-120b-1:0", "gpt-oss-120b"), Weighing.spellings("openai.gpt-oss-120b-1:0"));
        assertEquals(List.of("anthropic.claude-3-sonnet-20240229-v1:0:200k", "claude-3-sonnet-20240229"),
                Weighing.spellings("anthropic.claude-3-sonnet-20240229-v1:0:200k"));
        assertEquals(List.of("claude-3-opus-20240229"), Weighing.spellings("claude-3-opus-20240229"));
        assertEquals(Weighing.canonical("claude-3-opus-20240229"), Weighing.canonical("us.anthropic.claude-3-opus-20240229-v1:0"));
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

    /** Anthropic's Messages answer, as Bedrock's InvokeModel relays it: 1,200 tokens in, 3,000 out. */
    private static UsageSniffer answer(String model) {
        byte[] body = ("{\"id\":\"msg_bdrk_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"" + model
                + "\",\"content\":[{\"type\":\"text\",\"text\":\"Thirty days.\"}],\"stop_reason\":\"end_turn\","
                + "\"usage\":{\"input_tokens\":1200,\"output_tokens\":3000}}").getBytes(StandardCharsets.UTF_8);
        UsageSniffer s = new UsageSniffer();
        s.begin("application/json", null, body);
        s.feed(body, 0, body.length);
        s.finish();
        return s;
    }

    @Test
    void aBedrockIdIsWeighedByItsProvidersNameAndTheAnswersNameByTheRequestsSpellingOfIt() {
        ModelWeights anthropicNames = ModelWeights.builder()
                .model("claude-3-opus*", ModelWeights.Rates.parse("2,2,4,4"))
                .defaults(ModelWeights.Rates.parse("1,1,1,1"))
                .build();
        assertEquals(2 * 1_000 + 4 * 1_000,
                new Weighing(anthropicNames, List.of("us.anthropic.claude-3-opus-20240229-v1:0")).hold(2_000, 1_000));
        ModelWeights bedrockIds = ModelWeights.builder()
                .model("anthropic.claude-3-opus*", ModelWeights.Rates.parse("2,2,4,4"))
                .defaults(ModelWeights.Rates.parse("1,1,1,1"))
                .build();
        Weighing byPath = new Weighing(bedrockIds, List.of("anthropic.claude-3-opus-20240229-v1:0"));
        assertEquals(1_200 * 2 + 3_000 * 4, byPath.weigh(4_200, answer("claude-3-opus-20240229")).charge());
        // an answer naming another model than the request's is charged at that model's rows (round 333)
        assertEquals(1_200 + 3_000, byPath.weigh(4_200, answer("claude-3-haiku-20240307")).charge());
        // the answer's name alone matches no Bedrock row: the table's default
        assertEquals(1_200 + 3_000,
                new Weighing(bedrockIds, List.of()).weigh(4_200, answer("claude-3-opus-20240229")).charge());
    }

    /**
     * Rounds 435 and 437: an answer naming a snapshot of the request's model is charged at that model's exact row
     * (the table covers a model's snapshots: {@code ModelWeights}), also where the default is dearer, and only a
     * snapshot: a date or a 3-4 digit number after the model's name.
     */
    @Test
    void anAnswersSnapshotWithoutARowIsChargedAtItsModelsRowAlone() {
        ModelWeights weights = ModelWeights.builder()
                .model("claude-3-5-haiku", ModelWeights.Rates.parse("0.5,0.5,1,1"))
                .model("claude-3-5-sonnet", ModelWeights.Rates.parse("3,3,15,15"))
                .defaults(ModelWeights.Rates.parse("5,5,20,20"))
                .build();
        // the default (5 / 20) is dearer than the row: the row alone applies
        assertEquals(1_200 / 2 + 3_000,
                new Weighing(weights, List.of("claude-3-5-haiku")).weigh(4_200, answer("claude-3-5-haiku-20241022")).charge());
        // a -latest alias names the model its snapshots extend
        assertEquals(1_200 * 3 + 3_000 * 15,
                new Weighing(weights, List.of("claude-3-5-sonnet-latest")).weigh(4_200, answer("claude-3-5-sonnet-20241022")).charge());
        // another model whose name extends the request's is no snapshot of it: its own rows (the default)
        assertEquals(1_200 * 5 + 3_000 * 20,
                new Weighing(weights, List.of("claude-3-5-sonnet")).weigh(4_200, answer("claude-3-5-sonnet-v2-20241022")).charge());
    }
}
