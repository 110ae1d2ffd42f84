package io.tokenquota.servlet.breakit54;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.ModelWeights;
import io.tokenquota.ModelWeights.Rates;
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
 * Round 54 of issue 11: OpenAI-compatible providers and routers as a relay passes their answers on,
 * with their real quirks (LiteLLM proxy's usage for Anthropic models, vLLM's
 * {@code stream_options.continuous_usage_stats}, DeepSeek's {@code prompt_cache_hit_tokens}). Each mock
 * endpoint writes what that server writes, byte for byte in shape.
 */
abstract class AbstractRound54 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Tokens each endpoint's model read and wrote, by subject. */
    static final Map<String, Long> WRITTEN = new ConcurrentHashMap<>();

    /** DeepSeek's list prices (per 1M: cache miss $0.27, cache hit $0.07, output $1.10) as multipliers. */
    static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("deepseek*", Rates.of("1", "0.25", "4", "4"))
            .defaults(Rates.of("1", "1", "1", "1"))
            .build();

    static String subject() {
        return "u54-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter weighted = filterFor("/w/").modelWeights(WEIGHTS).build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("weighted", weighted, "/w/*")
                .servlet("models", new Models(), "/ai/*")
                .servlet("weightedModels", new Models(), "/w/*");
    }

    public static class Models extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getRequestURI();
            JsonNode body = JSON.readTree(req.getInputStream().readAllBytes());
            String subject = req.getHeader("x-user-id");
            if (path.endsWith("/litellm/v1/chat/completions")) {
                liteLlm(body, subject, resp);
            } else if (path.endsWith("/vllm/v1/chat/completions")) {
                vllmContinuousCut(body, subject, resp);
            } else if (path.endsWith("/deepseek/chat/completions")) {
                deepSeek(subject, resp);
            } else {
                resp.sendError(404);
            }
        }

        /**
         * LiteLLM proxy (1.6x/1.7x, {@code AnthropicConfig.calculate_usage}) relaying an Anthropic model
         * in OpenAI's shape: {@code prompt_tokens = input_tokens + cache_read_input_tokens},
         * {@code total_tokens = prompt_tokens + completion_tokens}; the cache write is left out of both
         * and reported beside them as {@code cache_creation_input_tokens}. The model read the 12,000-token
         * system prompt (written to the cache this call) and the 20-token question.
         */
        private static void liteLlm(JsonNode body, String subject, HttpServletResponse resp) throws IOException {
            long input = 20;
            long cacheWrite = 12_000;
            long output = 300;
            String usage = "{\"completion_tokens\":" + output + ",\"prompt_tokens\":" + input + ",\"total_tokens\":"
                    + (input + output) + ",\"completion_tokens_details\":null,\"prompt_tokens_details\":{\"audio_tokens\":null,"
                    + "\"cached_tokens\":0},\"cache_creation_input_tokens\":" + cacheWrite + ",\"cache_read_input_tokens\":0}";
            OutputStream out = resp.getOutputStream();
            if (body.path("stream").asBoolean(false)) {
                resp.setContentType("text/event-stream");
                for (int i = 0; i < 30; i++) {
                    out.write(("data: {\"id\":\"chatcmpl-54a\",\"created\":1753000000,\"model\":\"claude-sonnet-4-20250514\","
                            + "\"object\":\"chat.completion.chunk\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,"
                            + "\"delta\":{\"content\":\"" + " word".repeat(10) + "\",\"role\":\"assistant\"}}]}\n\n")
                            .getBytes(StandardCharsets.UTF_8));
                }
                out.write(("data: {\"id\":\"chatcmpl-54a\",\"created\":1753000000,\"model\":\"claude-sonnet-4-20250514\","
                        + "\"object\":\"chat.completion.chunk\",\"system_fingerprint\":null,\"choices\":[{\"finish_reason\":\"stop\","
                        + "\"index\":0,\"delta\":{}}]}\n\n").getBytes(StandardCharsets.UTF_8));
                out.write(("data: {\"id\":\"chatcmpl-54a\",\"created\":1753000000,\"model\":\"claude-sonnet-4-20250514\","
                        + "\"object\":\"chat.completion.chunk\",\"system_fingerprint\":null,\"choices\":[],\"usage\":" + usage
                        + "}\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
            } else {
                resp.setContentType("application/json");
                out.write(("{\"id\":\"chatcmpl-54a\",\"created\":1753000000,\"model\":\"claude-sonnet-4-20250514\","
                        + "\"object\":\"chat.completion\",\"system_fingerprint\":null,\"choices\":[{\"finish_reason\":\"stop\","
                        + "\"index\":0,\"message\":{\"content\":\"" + " word".repeat(300) + "\",\"role\":\"assistant\","
                        + "\"tool_calls\":null,\"function_call\":null}}],\"usage\":" + usage + "}")
                        .getBytes(StandardCharsets.UTF_8));
            }
            WRITTEN.put(subject, input + cacheWrite + output);
        }

        /**
         * vLLM's OpenAI server with {@code stream_options: {include_usage, continuous_usage_stats}} and
         * {@code n} choices: each chunk carries one choice's delta, and its usage counts that choice's
         * tokens alone ({@code completion_tokens = previous_num_tokens[i]}); only the final usage-only
         * chunk sums the choices. The relay's upstream is reset after every choice was written in full,
         * before that final chunk.
         */
        private static void vllmContinuousCut(JsonNode body, String subject, HttpServletResponse resp) throws IOException {
            int n = body.path("n").asInt(1);
            long max = body.path("max_tokens").asLong(16);
            long prompt = 20;
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            long[] done = new long[n];
            for (int i = 0; i < n; i++) {
                out.write(vllmChunk(i, "\"role\":\"assistant\",\"content\":\"\"", null, prompt, 0));
            }
            long written = 0;
            for (long step = 0; step < max; step += 10) {
                for (int i = 0; i < n; i++) {
                    int words = (int) Math.min(10, max - step);
                    done[i] += words;
                    written += words;
                    String finish = done[i] >= max ? "\"length\"" : null;
                    out.write(vllmChunk(i, "\"content\":\"" + " word".repeat(words) + "\"", finish, prompt, done[i]));
                }
            }
            WRITTEN.put(subject, written);
            // upstream reset here: the usage-only chunk that sums the choices never comes
        }

        private static byte[] vllmChunk(int index, String delta, String finish, long prompt, long completion) {
            return ("data: {\"id\":\"chatcmpl-54b\",\"object\":\"chat.completion.chunk\",\"created\":1753000000,"
                    + "\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":" + index + ",\"delta\":{" + delta
                    + "},\"logprobs\":null,\"finish_reason\":" + finish + "}],\"usage\":{\"prompt_tokens\":" + prompt
                    + ",\"total_tokens\":" + (prompt + completion) + ",\"completion_tokens\":" + completion + "}}\n\n")
                    .getBytes(StandardCharsets.UTF_8);
        }

        /**
         * DeepSeek's chat completions: its context cache is on for everyone; the usage counts the hits
         * in {@code prompt_cache_hit_tokens} (inside {@code prompt_tokens}), not in OpenAI's
         * {@code prompt_tokens_details.cached_tokens}.
         */
        private static void deepSeek(String subject, HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"930c60df-bf64-41c9-a88e-3ec75f81e00e\",\"object\":\"chat.completion\","
                    + "\"created\":1753000000,\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                    + "\"assistant\",\"content\":\"" + " word".repeat(200) + "\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":10000,\"completion_tokens\":200,\"total_tokens\":10200,"
                    + "\"prompt_cache_hit_tokens\":9984,\"prompt_cache_miss_tokens\":16},"
                    + "\"system_fingerprint\":\"fp_8802369eaa_prod0623_fp8_kvcache\"}").getBytes(StandardCharsets.UTF_8));
        }
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + container.port() + path);
    }

    long charged(String path, String subject, String body) {
        HttpResponse<String> r = TestHttp.postJson(uri(path), subject, body);
        assertEquals(200, r.statusCode(), r.body());
        return settled(subject).used();
    }

    /** A chat request with a long system prompt marked for Anthropic's prompt cache, as LiteLLM takes it. */
    static String cachedSystemPrompt(boolean stream) {
        return "{\"model\":\"claude-sonnet-4-20250514\",\"max_tokens\":400,\"stream\":" + stream
                + (stream ? ",\"stream_options\":{\"include_usage\":true}" : "")
                + ",\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\""
                + "policy ".repeat(6_000) + "\",\"cache_control\":{\"type\":\"ephemeral\"}}]},"
                + "{\"role\":\"user\",\"content\":\"Summarise section 4 of the policy.\"}]}";
    }

    /**
     * Under-charge. LiteLLM proxy relaying Claude: the call wrote a 12,000-token system prompt to the
     * cache; LiteLLM's usage leaves the write out of prompt_tokens and total_tokens (320) and
     * reports it beside them as cache_creation_input_tokens, which the filter never reads: 12,320 tokens
     * read and written, 320 charged.
     */
    @Test
    void liteLlmCacheWriteOutsidePromptTokensIsCharged() {
        String s = subject();
        long used = charged("/ai/litellm/v1/chat/completions", s, cachedSystemPrompt(false));
        long read = WRITTEN.get(s);
        assertTrue(used >= read, "the model read and wrote " + read + " tokens (20 input + 12,000 written to the cache"
                + " + 300 output); charged " + used + ": " + ledger(s));
    }

    /** The same through LiteLLM's stream (include_usage): its usage chunk has the same shape. */
    @Test
    void liteLlmStreamedCacheWriteOutsidePromptTokensIsCharged() {
        String s = subject();
        long used = charged("/ai/litellm/v1/chat/completions", s, cachedSystemPrompt(true));
        long read = WRITTEN.get(s);
        assertTrue(used >= read, "the model read and wrote " + read + " tokens (20 input + 12,000 written to the cache"
                + " + 300 output); charged " + used + ": " + ledger(s));
    }

    /**
     * Under-charge of a cut stream. vLLM with continuous_usage_stats and n=4: every chunk's usage
     * counts its own choice only. The stream is cut after all four choices were delivered in full
     * (4 x 1,000 tokens) but before the usage-only chunk that sums them: the filter takes the last
     * chunk's per-choice count as the answer's (20 + 1,000) where a stream cut without usage would have
     * been charged its estimate (the prompt + 4 x 1,000): 4,000 output tokens delivered, 1,020 charged.
     */
    @Test
    void vllmContinuousUsageOfOneChoiceIsNotTheAnswersUsage() {
        String s = subject();
        long used = charged("/ai/vllm/v1/chat/completions", s, "{\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"n\":4,"
                + "\"max_tokens\":1000,\"stream\":true,\"stream_options\":{\"include_usage\":true,"
                + "\"continuous_usage_stats\":true},\"messages\":[{\"role\":\"user\",\"content\":\"Write a poem.\"}]}");
        long written = WRITTEN.get(s);
        assertTrue(used >= written, "four choices of 1,000 tokens (" + written + " output tokens) were written to "
                + "the client; charged " + used + ": " + ledger(s));
    }

    /**
     * Over-charge with per-model weights. DeepSeek reports its cache hits as prompt_cache_hit_tokens
     * (inside prompt_tokens); the filter reads cached input only from prompt_tokens_details.cached_tokens,
     * so 9,984 cache hits are weighed as full-price input: 10,800 charged where DeepSeek's own rates
     * (hit 0.25 of a miss) give 16 + 2,496 + 800 = 3,312.
     */
    @Test
    void deepSeekCacheHitsAreWeighedAsCachedInput() {
        String s = subject();
        long used = charged("/w/deepseek/chat/completions", s, "{\"model\":\"deepseek-chat\",\"max_tokens\":500,"
                + "\"messages\":[{\"role\":\"system\",\"content\":\"" + "policy ".repeat(5_000) + "\"},"
                + "{\"role\":\"user\",\"content\":\"Summarise section 4 of the policy.\"}]}");
        long expected = 16 + 9_984 / 4 + 200 * 4;
        assertTrue(used <= expected + 2, "16 cache misses, 9,984 cache hits and 200 output tokens weigh " + expected
                + " at the table's deepseek rates; charged " + used + ": " + ledger(s));
    }
}
