package io.tokenquota.servlet.breakit24;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;

import jakarta.servlet.http.HttpServletRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;


import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;




/**
 * Round 24 (adv11 issue: "no model call goes unpaid, nothing that never reached a model is charged").
 *
 * <p>The filter's estimator reads the request fields of Bedrock Converse ({@code inferenceConfig.maxTokens}),
 * Ollama ({@code options.num_predict}) and llama.cpp ({@code n_predict}), so those servers sit behind it;
 * but their answers' usage is never read: the call is charged its estimate, whose output part is the
 * 1,000-token default budget when the client names no budget, while those servers then write as much
 * as the model wants (Bedrock: the model's maximum; Ollama and llama.cpp: no limit, -1).
 */
abstract class AbstractRound24 extends H2FilterRound {
    static final long PROMPT = 40;
    static final long OUTPUT = 12_000;
    static final long TOTAL = PROMPT + OUTPUT;

    static final String STORY = "Once upon a time, in a land far away, there lived a dragon who loved long stories.";

    @RestController
    public static class Relays {
        /** The usual OpenAI chat relay: the control. */
        @PostMapping(value = "/openai/v1/chat/completions", produces = "application/json")
        public String openai(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
                    + "{\"role\":\"assistant\",\"content\":\"" + STORY + "\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + OUTPUT
                    + ",\"total_tokens\":" + TOTAL + "}}";
        }

        /** A relay of Bedrock Runtime's Converse answer, as {@code POST /model/{id}/converse} returns it. */
        @PostMapping(value = "/bedrock/model/anthropic.claude-sonnet-4/converse", produces = "application/json")
        public String converse(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"" + STORY + "\"}]}},"
                    + "\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":" + PROMPT + ",\"outputTokens\":" + OUTPUT
                    + ",\"totalTokens\":" + TOTAL + "},\"metrics\":{\"latencyMs\":61234}}";
        }

        /** A relay of Ollama's native {@code /api/chat} answer ({@code "stream": false}). */
        @PostMapping(value = "/ollama/api/chat", produces = "application/json")
        public String ollamaChat(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return "{\"model\":\"llama3.1\",\"created_at\":\"2026-12-01T23:50:00Z\",\"message\":{\"role\":\"assistant\","
                    + "\"content\":\"" + STORY + "\"},\"done_reason\":\"stop\",\"done\":true,\"total_duration\":95000000000,"
                    + "\"load_duration\":1000000,\"prompt_eval_count\":" + PROMPT + ",\"prompt_eval_duration\":20000000,"
                    + "\"eval_count\":" + OUTPUT + ",\"eval_duration\":94000000000}";
        }

        /** A relay of Ollama's native streamed {@code /api/chat} answer (NDJSON, the default). */
        @PostMapping(value = "/ollama/api/chat-stream", produces = "application/x-ndjson")
        public String ollamaChatStream(@RequestBody String body, HttpServletRequest req) {
            called(req);
            StringBuilder sb = new StringBuilder();
            for (String word : STORY.split(" ")) {
                sb.append("{\"model\":\"llama3.1\",\"created_at\":\"2026-12-01T23:50:00Z\",\"message\":{\"role\":\"assistant\","
                        + "\"content\":\"").append(word).append(" \"},\"done\":false}\n");
            }
            return sb.append("{\"model\":\"llama3.1\",\"created_at\":\"2026-12-01T23:51:00Z\",\"message\":{\"role\":\"assistant\","
                    + "\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,\"total_duration\":95000000000,"
                    + "\"prompt_eval_count\":" + PROMPT + ",\"eval_count\":" + OUTPUT + "}\n").toString();
        }

        /** A relay of Cohere's v2 chat answer ({@code POST /v2/chat}). */
        @PostMapping(value = "/cohere/v2/chat", produces = "application/json")
        public String cohere(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return "{\"id\":\"c-1\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\""
                    + STORY + "\"}]},\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":" + PROMPT
                    + ",\"output_tokens\":" + OUTPUT + "},\"tokens\":{\"input_tokens\":" + PROMPT + ",\"output_tokens\":"
                    + OUTPUT + "}}}";
        }

        /**
         * A relay of Groq's streamed chat completion (OpenAI-compatible): without
         * stream_options.include_usage, Groq reports the usage in the last chunk's {@code x_groq.usage}.
         */
        @PostMapping(value = "/groq/openai/v1/chat/completions", produces = "text/event-stream")
        public String groq(@RequestBody String body, HttpServletRequest req) {
            called(req);
            StringBuilder sb = new StringBuilder();
            for (String word : STORY.split(" ")) {
                sb.append("data: {\"id\":\"chatcmpl-g\",\"object\":\"chat.completion.chunk\",\"model\":\"llama-3.3-70b-versatile\","
                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"").append(word).append(" \"},\"finish_reason\":null}]}\n\n");
            }
            return sb.append("data: {\"id\":\"chatcmpl-g\",\"object\":\"chat.completion.chunk\",\"model\":\"llama-3.3-70b-versatile\","
                    + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":\"req_1\",\"usage\":"
                    + "{\"queue_time\":0.02,\"prompt_tokens\":" + PROMPT + ",\"prompt_time\":0.003,\"completion_tokens\":" + OUTPUT
                    + ",\"completion_time\":9.1,\"total_tokens\":" + TOTAL + ",\"total_time\":9.103}}}\n\n")
                    .append("data: [DONE]\n\n").toString();
        }

        /** A relay of llama.cpp server's native {@code /completion} answer. */
        @PostMapping(value = "/llamacpp/completion", produces = "application/json")
        public String llamaCpp(@RequestBody String body, HttpServletRequest req) {
            called(req);
            return "{\"index\":0,\"content\":\"" + STORY + "\",\"id_slot\":0,\"stop\":true,\"model\":\"llama\","
                    + "\"tokens_predicted\":" + OUTPUT + ",\"tokens_evaluated\":" + PROMPT + ",\"stop_type\":\"eos\","
                    + "\"tokens_cached\":" + (TOTAL - 1) + ",\"timings\":{\"prompt_n\":" + PROMPT + ",\"predicted_n\":" + OUTPUT + "}}";
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, Relays.class);
    }

    static String subject() {
        return "u24-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body) {
        return TestHttp.post(container.uri(path), body.getBytes(StandardCharsets.UTF_8),
                "x-user-id", subject, "Content-Type", "application/json");
    }

    void assertChargedItsUsage(String path, String body) {
        // control: the same call answered in OpenAI's format is charged its usage
        String control = subject();
        HttpResponse<String> ok = post("/ai/spring/openai/v1/chat/completions", control,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + ASK + "\"}]}");
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals(TOTAL, settled(control).used(), "control: " + ledger(control));

        String s = subject();
        HttpResponse<String> r = post(path, s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls(s));
        assertTrue(r.body().contains(String.valueOf(OUTPUT)), r.body());
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= TOTAL, "the model's answer reported " + TOTAL + " tokens (" + OUTPUT
                + " written), the call was charged " + a.used() + " (" + ledger(s) + ")");
    }

    static final String ASK = "Write a very long story about a dragon.";

    /**
     * Bedrock Converse (whose inferenceConfig.maxTokens the estimator reads; without it Bedrock lets
     * the model write up to its maximum) reports {@code usage.inputTokens/outputTokens/totalTokens}.
     */
    @Test
    void bedrockConverseUsageIsCharged() {
        assertChargedItsUsage("/ai/spring/bedrock/model/anthropic.claude-sonnet-4/converse",
                "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"" + ASK + "\"}]}]}");
    }

    /** Ollama's native chat (options.num_predict is read; its default -1 is "no limit"). */
    @Test
    void ollamaNativeChatUsageIsCharged() {
        assertChargedItsUsage("/ai/spring/ollama/api/chat",
                "{\"model\":\"llama3.1\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"" + ASK + "\"}]}");
    }

    /** Ollama's native streamed chat: NDJSON, the counts on the last line. */
    @Test
    void ollamaNativeChatStreamUsageIsCharged() {
        assertChargedItsUsage("/ai/spring/ollama/api/chat-stream",
                "{\"model\":\"llama3.1\",\"messages\":[{\"role\":\"user\",\"content\":\"" + ASK + "\"}]}");
    }

    /** llama.cpp's native /completion (n_predict is read; its default -1 is "no limit"). */
    @Test
    void llamaCppCompletionUsageIsCharged() {
        assertChargedItsUsage("/ai/spring/llamacpp/completion", "{\"prompt\":\"" + ASK + "\"}");
    }

    /** Cohere v2 chat (listed for max_tokens in estimation.md): usage.billed_units / usage.tokens. */
    @Test
    void cohereV2ChatUsageIsCharged() {
        assertChargedItsUsage("/ai/spring/cohere/v2/chat",
                "{\"model\":\"command-a-03-2025\",\"messages\":[{\"role\":\"user\",\"content\":\"" + ASK + "\"}]}");
    }

    /** Groq's OpenAI-compatible stream: the usage rides in the last chunk's x_groq.usage. */
    @Test
    void groqStreamUsageIsCharged() {
        assertChargedItsUsage("/ai/spring/groq/openai/v1/chat/completions",
                "{\"model\":\"llama-3.3-70b-versatile\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"" + ASK + "\"}]}");
    }
}
