package io.tokenquota.servlet.breakit446;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * Round 446 of issue 11: providers' usage formats relayed whole by an endpoint (the answer passed through
 * as JSON): Amazon Nova's InvokeModel answer with prompt caching, and xAI's Grok reasoning answer whose
 * reasoning tokens are counted beside {@code completion_tokens}. The charge must be the call's total of
 * every kind the provider bills.
 */
abstract class AbstractRound446 extends ShapedAnswerRound {
    @Override
    protected String body(String shape) {
        String text = q(TEXT.substring(0, 1200));
        switch (shape) {
            case "nova-invoke-cache-read":
                // Amazon Nova on Bedrock InvokeModel (native body): {"output": {"message": {"role", "content":
                // [{"text"}]}}, "stopReason", "usage": {...}} (Amazon Nova user guide, "Response structure
                // highlights", docs.aws.amazon.com/nova/latest/userguide/complete-request-schema-response.html);
                // the Invoke API's usage also carries cacheReadInputTokenCount / cacheWriteInputTokenCount
                // (as printed in the OpenSearch ml-commons Bedrock Nova tutorial and AWS samples). Figures: a
                // cache-read Nova answer where totalTokens = input + output + cache read
                // (1,078 + 694 + 19,892 = 21,664).
                return "{\"output\":{\"message\":{\"content\":[{\"text\":" + text + "}],\"role\":\"assistant\"}},"
                        + "\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":1078,\"outputTokens\":694,"
                        + "\"totalTokens\":21664,\"cacheReadInputTokenCount\":19892,\"cacheWriteInputTokenCount\":0}}";
            case "grok-reasoning":
                // xAI Grok on Vertex AI's OpenAI-compatible endpoint, "Reasoning for Grok models" example
                // response (docs.cloud.google.com/vertex-ai/generative-ai/docs/partner-models/grok/capabilities/reasoning):
                // "the reasoning token count is outputted in the reasoning_tokens field, separated from the
                // completion_tokens": 663 prompt (654 cached) + 50 completion + 124 reasoning = 837 total.
                return "{\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"logprobs\":null,\"message\":{\"content\":"
                        + text + ",\"role\":\"assistant\"}}],\"created\":1775523905,\"id\":\"knTMaJC0EJfM5OMP7I3xkAk\","
                        + "\"model\":\"xai/grok-4.1-fast-reasoning\",\"object\":\"chat.completion\","
                        + "\"system_fingerprint\":\"fp_39c5j0a324\",\"usage\":{\"completion_tokens\":50,"
                        + "\"completion_tokens_details\":{\"accepted_prediction_tokens\":0,\"audio_tokens\":0,"
                        + "\"reasoning_tokens\":124,\"rejected_prediction_tokens\":0},\"cost_in_usd_ticks\":0,"
                        + "\"num_sources_used\":0,\"prompt_tokens\":663,\"prompt_tokens_details\":{\"audio_tokens\":0,"
                        + "\"cached_tokens\":654,\"image_tokens\":0,\"text_tokens\":663},\"total_tokens\":837}}";
            default:
                throw new IllegalArgumentException(shape);
        }
    }

    /** A Nova InvokeModel request body (Nova user guide, "Using the Invoke API": messages, inferenceConfig.maxTokens). */
    static final String NOVA_REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"what are the use"
            + " cases?\"}]}],\"inferenceConfig\":{\"maxTokens\":300}}";

    /** An OpenAI-compatible chat request naming Grok. */
    static final String GROK_REQUEST = "{\"model\":\"xai/grok-4.1-fast-reasoning\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Who are you?\"}]}";

    /** Nova InvokeModel with a cache read is charged its total, 21,664 (cache reads included). */
    @Test
    void aNovaInvokeModelCacheReadIsChargedItsTotal() {
        String s = "r446-nova-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/nova-invoke-cache-read"), s, NOVA_REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(21_664, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Grok's reasoning tokens, counted beside completion_tokens, are charged: 837 in all. */
    @Test
    void aGrokReasoningAnswerIsChargedItsReasoningToo() {
        String s = "r446-grok-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/grok-reasoning"), s, GROK_REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(837, settled(s).used(), kind() + ": " + ledger(s));
    }
}
