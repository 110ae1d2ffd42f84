package io.tokenquota.servlet.breakit308;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 308 of issue 11: Anthropic-compatible streams from servers that are not Anthropic, and two
 * OpenAI-compatible usage shapes no round named.
 *
 * <p>The finding. Anthropic's streaming docs (docs.anthropic.com, "Streaming Messages") say the counts
 * in {@code message_delta.usage} are <em>cumulative</em>; the SDK types make {@code input_tokens} of
 * {@code MessageDeltaUsage} optional. Servers that implement the Messages API with a plain struct write
 * it anyway, as 0 when they have no figure: Ollama's {@code /v1/messages} (ollama/ollama
 * {@code anthropic/anthropic.go}: {@code DeltaUsage{InputTokens int `json:"input_tokens"`}}, no
 * {@code omitempty}, set from the last chunk's {@code prompt_eval_count} since #13934, while
 * {@code message_start} carries the prompt's count or {@code EstimateInputTokens}); Ollama leaves
 * {@code prompt_eval_count} out when the prompt was cached (ollama#2068, ollama#3427), which a coding
 * agent's repeated context does. envoyproxy/ai-gateway#1631 ("input token overwritten by message delta":
 * "The message_delta event typically has input_tokens=0") and earendil-works/pi#1045 fixed the same
 * overwrite on their side. The filter merges Anthropic usage "field by field, last wins", so the
 * {@code 0} erases the input the same stream reported in {@code message_start}: a 9,000-token prompt
 * is charged only its 700 output tokens.
 */
abstract class AbstractRound308 extends ShapedAnswerRound {
    static String subject() {
        return "u308-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final long INPUT = 9_000;
    static final long OUTPUT = 700;

    @Override
    protected String body(String shape) {
        return switch (shape) {
            // xAI chat completions (docs.x.ai, "Reasoning"): completion_tokens leaves the reasoning out,
            // total_tokens counts it (prompt 500 + completion 900 + reasoning 6,000)
            case "xai-chat" -> "{\"id\":\"x1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"grok-4\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"Done.\",\"refusal\":null},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":500,\"completion_tokens\":900,\"total_tokens\":7400,"
                    + "\"prompt_tokens_details\":{\"text_tokens\":500,\"audio_tokens\":0,\"image_tokens\":0,\"cached_tokens\":0},"
                    + "\"completion_tokens_details\":{\"reasoning_tokens\":6000,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                    + "\"rejected_prediction_tokens\":0},\"num_sources_used\":0},\"system_fingerprint\":\"fp_1\"}";
            // Groq compound (groq-python types/chat/chat_completion.py: usage, and usage_breakdown.models[]
            // with each model's CompletionUsage): the top-level usage is the call's, the breakdown its parts
            case "groq-compound" -> "{\"id\":\"g1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"groq/compound\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"Done.\",\"executed_tools\":[]},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"queue_time\":0.1,\"prompt_tokens\":3000,\"prompt_time\":0.1,\"completion_tokens\":800,\"completion_time\":0.5,"
                    + "\"total_tokens\":3800,\"total_time\":0.6},"
                    + "\"usage_breakdown\":{\"models\":[{\"model\":\"openai/gpt-oss-120b\",\"usage\":{\"prompt_tokens\":2000,"
                    + "\"completion_tokens\":500,\"total_tokens\":2500}},{\"model\":\"llama-3.3-70b-versatile\",\"usage\":{"
                    + "\"prompt_tokens\":1000,\"completion_tokens\":300,\"total_tokens\":1300}}]},"
                    + "\"system_fingerprint\":\"fp_1\",\"x_groq\":{\"id\":\"req_1\"}}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (!shape.startsWith("messages-")) {
            return false;
        }
        // Ollama's /v1/messages stream (anthropic.go StreamConverter): message_start, a text block,
        // message_delta with the usage, message_stop; stop_sequence left out (omitempty)
        long startInput = shape.equals("messages-start-zero") ? 0 : INPUT;
        String deltaUsage = switch (shape) {
            case "messages-delta-zero" -> "{\"input_tokens\":0,\"output_tokens\":" + OUTPUT + "}";
            case "messages-delta-omits" -> "{\"output_tokens\":" + OUTPUT + "}";
            default -> "{\"input_tokens\":" + INPUT + ",\"output_tokens\":" + OUTPUT + "}";
        };
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"qwen3-coder\",\"content\":[],\"usage\":{\"input_tokens\":" + startInput
                + ",\"output_tokens\":0}}}");
        event(w, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
        event(w, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
                + "\"text\":\"I updated the parser.\"}}");
        event(w, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
        event(w, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":" + deltaUsage + "}");
        event(w, "message_stop", "{\"type\":\"message_stop\"}");
        w.flush();
        return true;
    }

    static void event(PrintWriter w, String name, String data) {
        w.write("event: " + name + "\ndata: " + data + "\n\n");
    }

    static final String ASK = "{\"model\":\"qwen3-coder\",\"max_tokens\":1000,\"stream\":true,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Fix the parser.\"}]}";

    private long used(String shape) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /**
     * The finding: Ollama's Messages stream reports the 9,000-token prompt in {@code message_start} and
     * writes {@code "input_tokens":0} in the cumulative {@code message_delta} (no prompt_eval_count on a
     * cached prompt). A cumulative count does not go down: the call read 9,000 tokens and wrote 700.
     */
    @Test
    void aMessageDeltaThatWritesZeroInputDoesNotEraseTheInputMessageStartReported() {
        long used = used("messages-delta-zero");
        assertTrue(used >= INPUT + OUTPUT, "message_start input 9,000, message_delta input 0 output 700: charged " + used);
    }

    /**
     * Controls: the same stream with {@code message_delta} leaving {@code input_tokens} out (Ollama before
     * #13934, Anthropic's older streams), repeating it (Anthropic today), or with the input only there
     * (vLLM's and SGLang's converters: {@code message_start} input 0 when the first chunk has no usage).
     */
    @ParameterizedTest
    @ValueSource(strings = {"messages-delta-omits", "messages-delta-repeats", "messages-start-zero"})
    void theSameStreamWithTheInputLeftOutRepeatedOrOnlyInTheDeltaIsChargedIt(String shape) {
        assertEquals(INPUT + OUTPUT, used(shape), shape);
    }

    /**
     * Controls on OpenAI-compatible shapes no round named: xAI's reasoning beside its completion tokens
     * (charged the total, 7,400) and Groq compound's {@code usage_breakdown} (its parts not added again
     * to the top-level usage: 3,800).
     */
    @Test
    void xaiReasoningBesideTheCompletionAndGroqsUsageBreakdownAreChargedTheirTotals() {
        assertEquals(7_400, used("xai-chat"));
        assertEquals(3_800, used("groq-compound"));
    }
}
