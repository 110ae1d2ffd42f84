package io.tokenquota.servlet.breakit52;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 52 of issue 11: reasoning and thinking models whose output budget field does not bound what
 * the model writes. Each mock endpoint reads the request as the provider documents it and writes as
 * many tokens (one {@code " word"} each) as the request allows; the answer carries no final usage
 * (a stream without {@code include_usage}, a stream cut before its last chunk), so the charge is the
 * estimate, and the estimate must hold what the model may write.
 */
abstract class AbstractRound52 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Tokens each endpoint's model wrote (reasoning and answer), by subject. */
    static final Map<String, Long> WRITTEN = new ConcurrentHashMap<>();

    static String subject() {
        return "u52-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("models", new Models(), "/ai/*");
    }

    public static class Models extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getRequestURI();
            JsonNode body = JSON.readTree(req.getInputStream().readAllBytes());
            String subject = req.getHeader("x-user-id");
            if (path.endsWith("/siliconflow/v1/chat/completions")) {
                siliconFlow(body, subject, resp);
            } else if (path.endsWith(":streamGenerateContent")) {
                geminiCut(body, subject, resp);
            } else {
                resp.sendError(404);
            }
        }

        /**
         * SiliconFlow's (and DashScope's) OpenAI-compatible chat completions for Qwen3 / DeepSeek-R1:
         * {@code thinking_budget} bounds the chain of thought, {@code max_tokens} only the answer after
         * it ("Maximum Response Length (max_tokens): ... excluding the chain-of-thought part"). A stream
         * without {@code stream_options.include_usage} carries no usage.
         */
        private static void siliconFlow(JsonNode body, String subject, HttpServletResponse resp) throws IOException {
            long thinking = body.path("thinking_budget").asLong(4096);
            long answer = body.path("max_tokens").asLong(4096);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            long written = 0;
            for (long i = 0; i < thinking; i += 50) {
                int n = (int) Math.min(50, thinking - i);
                out.write(chunk("reasoning_content", n));
                written += n;
            }
            for (long i = 0; i < answer; i += 50) {
                int n = (int) Math.min(50, answer - i);
                out.write(chunk("content", n));
                written += n;
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            WRITTEN.put(subject, written);
        }

        private static byte[] chunk(String field, int words) {
            return ("data: {\"id\":\"0197\",\"object\":\"chat.completion.chunk\",\"created\":1753000000,"
                    + "\"model\":\"Qwen/Qwen3-32B\",\"choices\":[{\"index\":0,\"delta\":{\"" + field + "\":\""
                    + " word".repeat(words) + "\",\"role\":\"assistant\"},\"finish_reason\":null}],\"usage\":null}\n\n")
                    .getBytes(StandardCharsets.UTF_8);
        }

        /**
         * Gemini 2.5's streamGenerateContent with {@code includeThoughts}: the model thinks up to
         * {@code thinkingBudget}; each thought chunk's usageMetadata counts the prompt alone (the final
         * chunk would count thoughts and answer). The relay's upstream is reset after the thoughts:
         * the stream ends before its last chunk.
         */
        private static void geminiCut(JsonNode body, String subject, HttpServletResponse resp) throws IOException {
            long thinking = body.path("generationConfig").path("thinkingConfig").path("thinkingBudget").asLong(8192);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            long written = 0;
            for (long i = 0; i < thinking; i += 50) {
                out.write(("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + " word".repeat(50)
                        + "\",\"thought\":true}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,"
                        + "\"totalTokenCount\":12,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":12}]},"
                        + "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r52\"}\r\n\r\n").getBytes(StandardCharsets.UTF_8));
                written += 50;
            }
            WRITTEN.put(subject, written);
            // upstream reset here: no final chunk
        }
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + container.port() + path);
    }

    long charged(String path, String subject, String body) {
        HttpResponse<String> r = TestHttp.postJson(uri(path), subject, body);
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = settled(subject);
        return a.used();
    }

    /**
     * Under-charge. SiliconFlow / DashScope Qwen3 thinking: {@code max_tokens} 512 bounds the answer,
     * {@code thinking_budget} 12,000 the reasoning before it. A stream without include_usage is charged
     * its estimate, whose output part is max_tokens alone: 12,512 tokens written, about 540 charged.
     */
    @Test
    void qwenThinkingBudgetBeyondMaxTokensIsHeld() {
        String s = subject();
        long used = charged("/ai/siliconflow/v1/chat/completions", s, "{\"model\":\"Qwen/Qwen3-32B\",\"stream\":true,"
                + "\"enable_thinking\":true,\"thinking_budget\":12000,\"max_tokens\":512,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Prove that there are infinitely many primes.\"}]}");
        long written = WRITTEN.get(s);
        assertTrue(used >= written, "the model wrote " + written + " tokens (12,000 reasoning + 512 answer, as the "
                + "request allowed); charged " + used + ": " + ledger(s));
    }

    /**
     * Under-charge. Gemini 2.5 with {@code generationConfig.thinkingConfig.thinkingBudget} 12,000 and no
     * maxOutputTokens, streamed with includeThoughts; the stream is cut after the thoughts (each chunk's
     * usage counts the prompt alone, provisional), so it is charged its estimate, whose output part is
     * the 1,000-token default: 12,000 thought tokens written, about 1,030 charged.
     */
    @Test
    void geminiThinkingBudgetIsHeldWhenTheStreamIsCut() {
        String s = subject();
        long used = charged("/ai/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", s,
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Prove that there are infinitely many primes.\"}]}],"
                + "\"generationConfig\":{\"temperature\":1.0,\"thinkingConfig\":{\"thinkingBudget\":12000,\"includeThoughts\":true}}}");
        long written = WRITTEN.get(s);
        assertTrue(used >= written, "the model thought " + written + " tokens (its thinkingBudget 12,000); charged "
                + used + ": " + ledger(s));
    }
}
