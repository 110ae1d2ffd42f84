package io.tokenquota.servlet.breakit445;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * Round 445 of issue 11: an everyday Bedrock relay (AWS SDK for Java's {@code BedrockRuntimeClient.converse},
 * its answer relayed as JSON) with prompt caching, and a client retrying with {@code Idempotency-Key}.
 * Both held in this round's budget; kept as controls.
 */
abstract class AbstractRound445 extends ShapedAnswerRound {
    /**
     * A Converse answer with a cache read: Amazon Bedrock API reference, {@code Converse} response syntax
     * ({@code output.message}, {@code stopReason}, {@code usage} = {@code TokenUsage}: {@code inputTokens},
     * {@code outputTokens}, {@code totalTokens}, {@code cacheReadInputTokens}, {@code cacheWriteInputTokens};
     * {@code metrics.latencyMs}), figures as in the Bedrock user guide's prompt-caching Converse example
     * (4 input, 309 output, 1,011 read from the cache, total 1,324).
     */
    @Override
    protected String body(String shape) {
        return "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":" + q(TEXT.substring(0, 1200))
                + "}]}},\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":4,\"outputTokens\":309,"
                + "\"totalTokens\":1324,\"cacheReadInputTokens\":1011,\"cacheWriteInputTokens\":0},"
                + "\"metrics\":{\"latencyMs\":3120}}";
    }

    /** A Converse request body (API reference: {@code messages}, {@code inferenceConfig.maxTokens}). */
    static final String REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Summarise the"
            + " attached policy.\"}]}],\"inferenceConfig\":{\"maxTokens\":512}}";

    /** Control: the cached Converse call is charged its total, 1,324 (cache reads included). */
    @Test
    void aCachedConverseCallIsChargedItsTotal() {
        String s = "r445-converse-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/converse"), s, REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(1_324, settled(s).used(), kind() + ": " + ledger(s));
    }

    /**
     * Control: a client (the OpenAI and Anthropic SDKs retry with the same key on a timeout) retries a finished
     * call with its {@code Idempotency-Key}: 409, no second model call, one charge (docs/servlet.md step 4).
     */
    @Test
    void aRetryWithAFinishedCallsKeyBuysNoSecondCall() {
        String s = "r445-retry-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/converse"), s, REQUEST,
                "Idempotency-Key", "stainless-python-retry-" + s);
        assertEquals(200, first.statusCode(), first.body());
        HttpResponse<String> again = TestHttp.postJson(container.uri("/ai/converse"), s, REQUEST,
                "Idempotency-Key", "stainless-python-retry-" + s);
        assertEquals(409, again.statusCode(), again.body());
        assertEquals(1, calls.of(s));
        assertEquals(1_324, settled(s).used(), kind() + ": " + ledger(s));
    }
}
