package io.tokenquota.servlet.breakit456;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 456 of issue 11: a Gemini 2.5 thinking model whose thinking took the whole call answers a candidate
 * with no parts at all ({@code "content": {"role": "model"}}) and a {@code usageMetadata} without
 * {@code candidatesTokenCount}: only {@code promptTokenCount}, {@code thoughtsTokenCount} and
 * {@code totalTokenCount} (the GenerateContentResponse of ai.google.dev/api/generate-content; the empty
 * candidate is the shape google-gemini issues report for 2.5 models whose thoughts used the output budget).
 * No text came back, so nothing but the usage tells what the call cost: it must be charged its total,
 * whole and streamed ({@code streamGenerateContent?alt=sse}).
 */
abstract class AbstractRound456 extends ShapedAnswerRound {
    static final long PROMPT = 40;
    static final long THOUGHTS = 15_000;
    static final long ANSWER = 4_400;

    static String usage(long prompt, Long candidates, long thoughts) {
        return "{\"promptTokenCount\":" + prompt + (candidates == null ? "" : ",\"candidatesTokenCount\":" + candidates)
                + ",\"totalTokenCount\":" + (prompt + (candidates == null ? 0 : candidates) + thoughts)
                + ",\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":" + prompt + "}]"
                + ",\"thoughtsTokenCount\":" + thoughts + "}";
    }

    @Override
    protected String body(String shape) {
        switch (shape) {
            case "gemini-thought-only":
                return "{\"candidates\":[{\"content\":{\"role\":\"model\"},\"finishReason\":\"MAX_TOKENS\",\"index\":0}],"
                        + "\"usageMetadata\":" + usage(PROMPT, null, THOUGHTS)
                        + ",\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"x8dRaNnYDcWb1dkP5bWb0Ak\"}";
            case "gemini-answered":
                // control: the same call with its answer and candidatesTokenCount
                return "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":" + q(TEXT) + "}],\"role\":\"model\"},"
                        + "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":" + usage(PROMPT, ANSWER, THOUGHTS)
                        + ",\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"x8dRaNnYDcWb1dkP5bWb0Ak\"}";
            default:
                throw new IllegalArgumentException(shape);
        }
    }

    /** Gemini's SSE stream: each event one GenerateContentResponse, the last with the call's counts. */
    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (shape.equals("vertex-thought-only-array")) {
            // Vertex AI's streamGenerateContent without alt=sse answers a JSON array of
            // GenerateContentResponse objects written as they come (cloud.google.com Vertex AI
            // streamGenerateContent REST reference; elements parted by ",\r\n"), trafficType in its usage
            resp.setContentType("application/json; charset=UTF-8");
            String array = "[{\"candidates\":[{\"content\":{\"role\":\"model\"}}],\"usageMetadata\":{\"trafficType\":"
                    + "\"ON_DEMAND\"},\"modelVersion\":\"gemini-2.5-pro\",\"createTime\":\"2025-06-17T10:00:00.000000Z\","
                    + "\"responseId\":\"z8dRaNnYDcWb1dkP5bWb0Ak\"}\r\n,\r\n"
                    + "{\"candidates\":[{\"content\":{\"role\":\"model\"},\"finishReason\":\"MAX_TOKENS\"}],"
                    + "\"usageMetadata\":" + usage(PROMPT, null, THOUGHTS).replace("}]", "}],\"trafficType\":\"ON_DEMAND\"")
                    + ",\"modelVersion\":\"gemini-2.5-pro\",\"createTime\":\"2025-06-17T10:00:00.000000Z\","
                    + "\"responseId\":\"z8dRaNnYDcWb1dkP5bWb0Ak\"}\r\n]";
            resp.getOutputStream().write(array.getBytes(StandardCharsets.UTF_8));
            return true;
        }
        if (!shape.equals("gemini-thought-only-stream")) {
            return false;
        }
        resp.setContentType("text/event-stream");
        String sse = "data: {\"candidates\":[{\"content\":{\"role\":\"model\"},\"index\":0}],\"usageMetadata\":"
                + "{\"promptTokenCount\":40,\"totalTokenCount\":40,\"promptTokensDetails\":[{\"modality\":\"TEXT\","
                + "\"tokenCount\":40}]},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"y8dRaNnYDcWb1dkP5bWb0Ak\"}\r\n\r\n"
                + "data: {\"candidates\":[{\"content\":{\"role\":\"model\"},\"finishReason\":\"MAX_TOKENS\",\"index\":0}],"
                + "\"usageMetadata\":" + usage(PROMPT, null, THOUGHTS)
                + ",\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"y8dRaNnYDcWb1dkP5bWb0Ak\"}\r\n\r\n";
        resp.getOutputStream().write(sse.getBytes(StandardCharsets.UTF_8));
        return true;
    }

    static final String REQUEST = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Prove the Riemann hypothesis.\"}]}],"
            + "\"generationConfig\":{\"thinkingConfig\":{\"thinkingBudget\":16000}}}";

    @Test
    void aGeminiAnswerOfThoughtsOnlyIsChargedItsTotal() {
        String s = "r456-thought-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/gemini-thought-only"), s, REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + THOUGHTS, settled(s).used(), kind() + ": " + ledger(s));
    }

    @Test
    void aStreamedGeminiAnswerOfThoughtsOnlyIsChargedItsTotal() {
        String s = "r456-thought-sse-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/gemini-thought-only-stream"), s, REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + THOUGHTS, settled(s).used(), kind() + ": " + ledger(s));
    }

    @Test
    void aVertexArrayStreamOfThoughtsOnlyIsChargedItsTotal() {
        String s = "r456-thought-array-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/vertex-thought-only-array"), s, REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + THOUGHTS, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Control: an answer with its text and candidatesTokenCount. */
    @Test
    void aGeminiAnswerWithTextIsChargedItsTotal() {
        String s = "r456-answered-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/gemini-answered"), s, REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + ANSWER + THOUGHTS, settled(s).used(), kind() + ": " + ledger(s));
    }
}
