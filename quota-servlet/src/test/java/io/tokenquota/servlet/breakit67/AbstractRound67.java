package io.tokenquota.servlet.breakit67;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 67 of issue 11: per-model weights against usage kinds and the output-budget fit, the quota
 * API, and the demo's own servlets.
 */
abstract class AbstractRound67 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();

    /** Output and reasoning four times the input, as the README's own default row. */
    static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("gpt-4o*", ModelWeights.Rates.of("2.5", "1.25", "10", "10"))
            .model("gpt-4o-mini*", ModelWeights.Rates.of("0.15", "0.075", "0.6", "0.6"))
            .defaults(ModelWeights.Rates.of("1", "1", "4", "4"))
            .build();

    /** Tokens each subject's model call wrote (reasoning and answer), and the budgets it was sent. */
    static final Map<String, Long> WRITTEN = new ConcurrentHashMap<>();
    static final Map<String, String> SENT = new ConcurrentHashMap<>();

    static String subject() {
        return "u67-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter fittingWeighted = filterFor("/fitw/").fitOutputBudget(16).modelWeights(WEIGHTS).build();
        QuotaFilter weighted = filterFor("/w/").modelWeights(WEIGHTS).build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("fittingWeighted", fittingWeighted, "/fitw/*")
                .filter("weighted", weighted, "/w/*")
                .servlet("qwen", new QwenThinking(), "/fitw/siliconflow/v1/chat/completions",
                        "/w/siliconflow/v1/chat/completions");
    }

    /**
     * SiliconFlow's (and DashScope's) OpenAI-compatible chat completions for Qwen3:
     * {@code thinking_budget} bounds the chain of thought, {@code max_tokens} only the answer after it
     * ("Maximum Response Length ... excluding the chain-of-thought part"; round 52 had the estimator
     * count it). Streamed without {@code stream_options.include_usage}: no usage, the estimate is the
     * charge. It thinks its whole budget, then answers its whole budget, and remembers what it wrote.
     */
    public static class QwenThinking extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String subject = String.valueOf(req.getHeader("x-user-id"));
            long thinking = body.path("thinking_budget").asLong(4096);
            long answer = body.path("max_tokens").asLong(4096);
            SENT.put(subject, "thinking_budget " + thinking + ", max_tokens " + answer);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (long i = 0; i < thinking; i += 100) {
                out.write(chunk("reasoning_content", (int) Math.min(100, thinking - i)));
            }
            for (long i = 0; i < answer; i += 100) {
                out.write(chunk("content", (int) Math.min(100, answer - i)));
            }
            out.write(("data: {\"id\":\"0197\",\"object\":\"chat.completion.chunk\",\"created\":1753000000,"
                    + "\"model\":\"Qwen/Qwen3-32B\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],"
                    + "\"usage\":null}\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
            WRITTEN.put(subject, thinking + answer);
        }

        private static byte[] chunk(String field, int words) {
            return ("data: {\"id\":\"0197\",\"object\":\"chat.completion.chunk\",\"created\":1753000000,"
                    + "\"model\":\"Qwen/Qwen3-32B\",\"choices\":[{\"index\":0,\"delta\":{\"" + field + "\":\""
                    + " word".repeat(words) + "\",\"role\":\"assistant\"},\"finish_reason\":null}],\"usage\":null}\n\n")
                    .getBytes(StandardCharsets.UTF_8);
        }
    }

    private long used(String subject) {
        return settled(subject).used();
    }

    // ------------------------------------------------------------------ (b) fit x weights x reasoning budget

    static final String QWEN_THINKING = "{\"model\":\"Qwen/Qwen3-32B\",\"stream\":true,\"enable_thinking\":true,"
            + "\"thinking_budget\":4000,\"max_tokens\":3000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Prove that there are infinitely many primes.\"}]}";

    /**
     * Control (held expected): the same Qwen3 thinking call on the weighted filter without fitting. As
     * asked it holds its 7,000 output tokens (4,000 thinking + 3,000 answer) at the output rate 4:
     * 28,000 units, more than the 20,000 allowance, so it is refused and charged nothing.
     */
    @Test
    void weightedQwenThinkingCallWithoutFittingIsHeldAtTheOutputRate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/w/siliconflow/v1/chat/completions"), s, QWEN_THINKING);
        long used = used(s);
        if (r.statusCode() == 429) {
            assertEquals(0, used, ledger(s));
            return;
        }
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(used >= 4 * WRITTEN.get(s), "wrote " + WRITTEN.get(s) + " reasoning and answer tokens at output"
                + " rate 4, charged " + used + ": " + ledger(s));
    }

    /**
     * Under-charge. The same call through a filter that fits the output budget and weighs by model. As
     * asked it needs 28,000 units (the thinking budget is output, docs: "the output budget at the larger
     * of the output and reasoning rates"), above the 20,000 allowance, so the fit looks for a smaller
     * max_tokens. But the fit counts the 4,000-token thinking budget as input (rate 1), not output
     * (rate 4): 20 + 4,000 + 4 x 3,000 = 16,020 fits, the body goes out unchanged, and the model thinks
     * 4,000 and answers 3,000 tokens without usage. Charged the fitted hold, 16,020, for 28,000 units of
     * output. The promise: a call answered without usage is charged its estimate, which weighs its
     * reasoning at the reasoning rate (the control refuses it at 28,000+); the fit must lower max_tokens to
     * what 20,000 units cover (about 995) or refuse.
     */
    @Test
    void fittedQwenThinkingBudgetIsWeighedAtTheReasoningRate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/fitw/siliconflow/v1/chat/completions"), s, QWEN_THINKING);
        long used = used(s);
        if (r.statusCode() == 429) {
            assertEquals(0, used, ledger(s));
            return;
        }
        assertEquals(200, r.statusCode(), r.body());
        long written = WRITTEN.get(s);
        assertTrue(used >= 4 * written, "the endpoint was sent " + SENT.get(s) + " (X-Quota-Output-Capped: "
                + r.headers().firstValue("X-Quota-Output-Capped").orElse("-") + ") and wrote " + written
                + " reasoning and answer tokens without usage, worth " + 4 * written + " units at the output and"
                + " reasoning rate 4; charged " + used + ": " + ledger(s));
    }
}
