package io.tokenquota.servlet.breakit105;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.anthropic.client.AnthropicClient;
import com.anthropic.client.okhttp.AnthropicOkHttpClient;
import com.anthropic.helpers.MessageAccumulator;
import com.anthropic.models.messages.Message;
import com.anthropic.models.messages.MessageCreateParams;
import com.anthropic.models.messages.RawMessageStreamEvent;
import com.anthropic.models.messages.Usage;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCompletedEvent;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseIncompleteEvent;
import com.openai.models.responses.ResponseStreamEvent;
import com.openai.models.responses.ResponseUsage;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ResponsesApi;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Round 105 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the official OpenAI and Anthropic Java SDKs as applications configure them (their own timeouts and
 * automatic retries on timeouts, 429, 529 and 5xx) against mock provider endpoints behind the filter.
 * Each test compares the ledger with the usage the SDK itself parsed and with the model runs the mock
 * counted.
 */
abstract class AbstractRound105 extends H2FilterRound {
    private static final ObjectMapper JSON = new ObjectMapper();

    static String subject() {
        return "u105-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /**
     * Mock OpenAI (chat completions, Responses) and Anthropic Messages under {@code /ai/<scenario>/}.
     * Every model run is counted per subject; an SDK attempt is told by its {@code X-Stainless-Retry-Count}.
     */
    public static class MockProviders extends HttpServlet {
        static final Map<String, AtomicInteger> RUNS = new ConcurrentHashMap<>();
        static final Map<String, CountDownLatch> RETRIED = new ConcurrentHashMap<>();
        static final Map<String, List<String>> ATTEMPTS = new ConcurrentHashMap<>();

        static int runs(String subject) {
            return RUNS.computeIfAbsent(subject, k -> new AtomicInteger()).get();
        }

        static CountDownLatch retried(String subject) {
            return RETRIED.computeIfAbsent(subject, k -> new CountDownLatch(1));
        }

        private static void run(String subject) {
            RUNS.computeIfAbsent(subject, k -> new AtomicInteger()).incrementAndGet();
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            String scenario = path.split("/")[1];
            String subject = req.getHeader("x-user-id");
            String retry = req.getHeader("X-Stainless-Retry-Count");
            int attempt = retry == null ? 0 : Integer.parseInt(retry.trim());
            ATTEMPTS.computeIfAbsent(subject, k -> new CopyOnWriteArrayList<>()).add(scenario + "#" + retry);
            JSON.readTree(req.getInputStream().readAllBytes());
            switch (scenario) {
                case "slow-chat" -> write(resp, "application/json", runPastTheTimeout(subject, attempt)
                        ? completion("chatcmpl-first", 1_000, 200) : completion("chatcmpl-retry", 700, 200));
                case "slow-messages" -> {
                    boolean first = runPastTheTimeout(subject, attempt);
                    anthropicStream(resp, first ? "msg_first" : "msg_retry", 2_000, 1_500, first ? 400 : 300);
                }
                case "busy-chat" -> {
                    if (attempt == 0) {
                        // OpenAI's rate limit: refused before any model ran
                        resp.setStatus(429);
                        resp.setHeader("retry-after-ms", "10");
                        resp.setHeader("x-should-retry", "true");
                        write(resp, "application/json", "{\"error\":{\"message\":\"Rate limit reached for gpt-4o\","
                                + "\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}");
                    } else {
                        run(subject);
                        write(resp, "application/json", completion("chatcmpl-busy", 500, 140));
                    }
                }
                case "overloaded-messages" -> {
                    if (attempt == 0) {
                        // Anthropic overloaded: 529 before any model ran
                        resp.setStatus(529);
                        resp.setHeader("x-should-retry", "true");
                        write(resp, "application/json", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                                + "\"message\":\"Overloaded\"}}");
                    } else {
                        run(subject);
                        anthropicStream(resp, "msg_after_529", 900, 0, 250);
                    }
                }
                case "reasoning-responses" -> {
                    run(subject);
                    responsesStream(resp, "resp_reason", "completed", "",
                            "{\"input_tokens\":1800,\"input_tokens_details\":{\"cached_tokens\":1536},"
                                    + "\"output_tokens\":2400,\"output_tokens_details\":{\"reasoning_tokens\":2176},"
                                    + "\"total_tokens\":4200}");
                }
                case "incomplete-responses" -> {
                    run(subject);
                    responsesStream(resp, "resp_cut", "incomplete",
                            "\"incomplete_details\":{\"reason\":\"content_filter\"},",
                            "{\"input_tokens\":40,\"input_tokens_details\":{\"cached_tokens\":0},"
                                    + "\"output_tokens\":96,\"output_tokens_details\":{\"reasoning_tokens\":96},"
                                    + "\"total_tokens\":136}");
                }
                case "cache-messages" -> {
                    run(subject);
                    write(resp, "application/json", "{\"id\":\"msg_cache\",\"type\":\"message\",\"role\":\"assistant\","
                            + "\"model\":\"claude-sonnet-4-5\",\"content\":[{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\","
                            + "\"name\":\"web_search\",\"input\":{\"query\":\"quota\"}},{\"type\":\"text\",\"text\":\"Found it.\"}],"
                            + "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":1100,"
                            + "\"cache_creation_input_tokens\":2048,\"cache_read_input_tokens\":4096,"
                            + "\"cache_creation\":{\"ephemeral_5m_input_tokens\":1024,\"ephemeral_1h_input_tokens\":1024},"
                            + "\"output_tokens\":350,\"server_tool_use\":{\"web_search_requests\":2},"
                            + "\"service_tier\":\"standard\"}}");
                }
                case "nulls-messages" -> {
                    // message_delta names every counter, the ones it does not update as null
                    run(subject);
                    anthropicStream(resp, "msg_nulls", "{\"input_tokens\":1200,\"output_tokens\":1,"
                            + "\"cache_creation_input_tokens\":3000,\"cache_read_input_tokens\":6000}",
                            "{\"input_tokens\":null,\"cache_creation_input_tokens\":null,\"cache_read_input_tokens\":null,"
                            + "\"output_tokens\":700,\"server_tool_use\":null}");
                }
                case "details-chat" -> {
                    run(subject);
                    write(resp, "application/json", "{\"id\":\"chatcmpl-details\",\"object\":\"chat.completion\","
                            + "\"created\":1700000000,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":"
                            + "{\"role\":\"assistant\",\"content\":null,\"refusal\":\"I can't help with that.\"},"
                            + "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2600,"
                            + "\"completion_tokens\":900,\"total_tokens\":3500,\"prompt_tokens_details\":{\"cached_tokens\":2048,"
                            + "\"audio_tokens\":300},\"completion_tokens_details\":{\"reasoning_tokens\":512,\"audio_tokens\":100,"
                            + "\"accepted_prediction_tokens\":120,\"rejected_prediction_tokens\":150}}}");
                }
                case "failing-chat" -> {
                    // the model answered (800 tokens, reported), then the handler's own step after it failed
                    run(subject);
                    req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 800L);
                    throw new ServletException("storing the answer failed");
                }
                default -> resp.sendError(404);
            }
        }

        /**
         * One model run of the attempt: the first runs past the SDK's timeout and answers in full only once
         * the SDK has retried (true), the retry runs at once (false).
         */
        private static boolean runPastTheTimeout(String subject, int attempt) {
            if (attempt == 0) {
                run(subject);
                await(retried(subject));
                return true;
            }
            retried(subject).countDown();
            run(subject);
            return false;
        }

        private static void await(CountDownLatch latch) {
            try {
                latch.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        static String completion(String id, long prompt, long completion) {
            return "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"gpt-4o\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello.\",\"refusal\":null},"
                    + "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + prompt
                    + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (prompt + completion) + "}}";
        }

        /** A whole Anthropic stream of {@code input} + {@code cacheRead} + {@code output} tokens. */
        private static void anthropicStream(HttpServletResponse resp, String id, long input, long cacheRead, long output)
                throws IOException {
            anthropicStream(resp, id, "{\"input_tokens\":" + input + ",\"output_tokens\":1,"
                    + "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":" + cacheRead + "}",
                    "{\"output_tokens\":" + output + "}");
        }

        /**
         * A whole Anthropic stream, {@code message_start} with {@code startUsage}, one text block, then
         * {@code message_delta} with {@code deltaUsage}; each event written whatever became of the client, as
         * a model server does.
         */
        private static void anthropicStream(HttpServletResponse resp, String id, String startUsage, String deltaUsage)
                throws IOException {
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            event(out, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\","
                    + "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,"
                    + "\"stop_sequence\":null,\"usage\":" + startUsage + "}}");
            event(out, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                    + "{\"type\":\"text\",\"text\":\"\"}}");
            event(out, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                    + "{\"type\":\"text_delta\",\"text\":\"Hello.\"}}");
            event(out, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
            event(out, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                    + "\"stop_sequence\":null},\"usage\":" + deltaUsage + "}");
            event(out, "message_stop", "{\"type\":\"message_stop\"}");
        }

        /** A Responses stream: a reasoning item, a message, then the final event with {@code usage}. */
        private static void responsesStream(HttpServletResponse resp, String id, String status, String fields,
                                            String usage) throws IOException {
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String model = "o4-mini";
            event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                    + ResponsesApi.response(id, "in_progress", "", model, "null", null) + "}");
            event(out, "response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":"
                    + ResponsesApi.response(id, "in_progress", "", model, "null", null) + "}");
            event(out, "response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":2,"
                    + "\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_" + id + "\",\"summary\":[]}}");
            event(out, "response.output_item.done", "{\"type\":\"response.output_item.done\",\"sequence_number\":3,"
                    + "\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_" + id + "\",\"summary\":[]}}");
            event(out, "response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":4,"
                    + "\"item_id\":\"msg_" + id + "\",\"output_index\":1,\"content_index\":0,\"delta\":\"Done.\",\"logprobs\":[]}");
            event(out, "response." + status, "{\"type\":\"response." + status + "\",\"sequence_number\":5,\"response\":"
                    + ResponsesApi.response(id, status, fields, model, usage, "Done.") + "}");
        }

        private static void write(HttpServletResponse resp, String type, String body) throws IOException {
            resp.setContentType(type);
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }

        private static void event(OutputStream out, String name, String data) {
            try {
                out.write(("event: " + name + "\ndata: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException gone) {
                // the client went away; the model still produced this event
            }
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("providers", new MockProviders(), "/ai/*");
    }

    /**
     * What {@code call} makes of the OpenAI SDK's answers, on a client as an application configures it
     * (its own timeout and retries), closed after the call whatever became of it.
     */
    <T> T openAi(String scenario, String subject, Duration timeout, int retries, Function<OpenAIClient, T> call) {
        OpenAIClient client = OpenAIOkHttpClient.builder().apiKey("sk-test")
                .baseUrl(container.uri("/ai/" + scenario + "/v1").toString())
                .putHeader("x-user-id", subject).timeout(timeout).maxRetries(retries).build();
        try {
            return call.apply(client);
        } finally {
            client.close();
        }
    }

    /** As {@link #openAi}, with the Anthropic SDK. */
    <T> T anthropic(String scenario, String subject, Duration timeout, int retries, Function<AnthropicClient, T> call) {
        AnthropicClient client = AnthropicOkHttpClient.builder().apiKey("sk-ant-test")
                .baseUrl(container.uri("/ai/" + scenario).toString())
                .putHeader("x-user-id", subject).timeout(timeout).maxRetries(retries).build();
        try {
            return call.apply(client);
        } finally {
            client.close();
        }
    }

    /** The message the SDK's own accumulator builds from the streamed {@link #messages()} call. */
    static Message streamed(AnthropicClient client) {
        MessageAccumulator accumulator = MessageAccumulator.create();
        try (com.anthropic.core.http.StreamResponse<RawMessageStreamEvent> events =
                     client.messages().createStreaming(messages())) {
            events.stream().forEach(accumulator::accumulate);
        }
        return accumulator.message();
    }

    /**
     * The usage of the last event of an o4-mini Responses stream (6,000 output tokens allowed) that
     * {@code last} finds a response in: only the event the test expects the stream to end with counts.
     */
    static ResponseUsage lastUsage(OpenAIClient client, String input,
                                   Function<ResponseStreamEvent, Optional<Response>> last) {
        ResponseUsage usage = null;
        try (StreamResponse<ResponseStreamEvent> events = client.responses().createStreaming(ResponseCreateParams
                .builder().model("o4-mini").input(input).maxOutputTokens(6_000L).build())) {
            for (ResponseStreamEvent e : (Iterable<ResponseStreamEvent>) events.stream()::iterator) {
                Optional<Response> response = last.apply(e);
                if (response.isPresent()) {
                    usage = response.get().usage().orElseThrow();
                }
            }
        }
        return usage;
    }

    static ChatCompletionCreateParams chat() {
        return ChatCompletionCreateParams.builder().model("gpt-4o").addUserMessage("Say hello to the quota filter.")
                .maxCompletionTokens(256).build();
    }

    static MessageCreateParams messages() {
        return MessageCreateParams.builder().model("claude-sonnet-4-5").maxTokens(512)
                .addUserMessage("Say hello to the quota filter.").build();
    }

    static long total(Usage usage) {
        return usage.inputTokens() + usage.outputTokens() + usage.cacheCreationInputTokens().orElse(0L)
                + usage.cacheReadInputTokens().orElse(0L);
    }

    /** The SDK's total for the non-streamed {@link #chat()} call. */
    static long chatTotal(OpenAIClient client) {
        return client.chat().completions().create(chat()).usage().orElseThrow().totalTokens();
    }

    /**
     * {@code s} is charged {@code owed} once the SDK's calls are settled ({@code owed} waited for, bounded);
     * a failure names {@code what} and the ledger. The account.
     */
    QuotaAccount assertOwed(String s, long owed, String what) throws InterruptedException {
        chargedAtLeast(s, owed);
        QuotaAccount a = settled(s);
        assertEquals(owed, a.used(), what + ": " + ledger(s));
        return a;
    }

    /** The SDK read {@code owed} tokens of usage ({@code read}), and that is what {@code s} is charged. */
    void assertReadAndOwed(String s, long read, long owed, String what) throws InterruptedException {
        assertEquals(owed, read, "the usage the SDK read");
        assertOwed(s, owed, what);
    }

    /** The mock ran the model {@code runs} times for {@code s}; a failure lists the SDK's attempts. */
    static void assertRuns(String s, int runs) {
        assertEquals(runs, MockProviders.runs(s), MockProviders.ATTEMPTS.get(s).toString());
    }

    /**
     * The SDK's own timeout (600 ms) fires while the model is still answering a non-streamed chat
     * completion; the SDK retries by itself ({@code X-Stainless-Retry-Count: 1}) and gets the answer of
     * a second run. The first run finished too (1,200 tokens, its answer written to a client that had
     * gone), the second cost 900: both ran, so 2,100 is owed; the SDK's retry must neither be free
     * nor make the first run free.
     */
    @Test
    void anSdkTimeoutRetryPaysForBothModelRuns() throws InterruptedException {
        String s = subject();
        assertEquals(900, openAi("slow-chat", s, Duration.ofMillis(600), 1, AbstractRound105::chatTotal),
                "the SDK's answer is the retry's");
        assertOwed(s, 2_100, "two model runs (1,200 + 900), the first cut by the SDK's timeout");
        assertRuns(s, 2);
    }

    /**
     * The same with the Anthropic SDK streaming: the stream's headers come only once the model has
     * answered, after the SDK's 600 ms timeout; the SDK retries by itself and reads the second stream.
     * The first run's whole stream (2,000 input, 1,500 cache read, 400 output: 3,900) is written all the
     * same; the retry's costs 3,800. 7,700 is owed.
     */
    @Test
    void anAnthropicStreamRetriedAfterTheSdksTimeoutPaysForBothRuns() throws InterruptedException {
        String s = subject();
        Message message = anthropic("slow-messages", s, Duration.ofMillis(600), 1, AbstractRound105::streamed);
        assertEquals(3_800, total(message.usage()), "the SDK's answer is the retry's");
        assertOwed(s, 7_700, "two streamed runs (3,900 + 3,800), the first cut by the SDK's timeout");
        assertRuns(s, 2);
    }

    /**
     * OpenAI's 429 (rate limit, {@code retry-after-ms: 10}) before any model ran; the SDK retries by
     * itself and the second attempt is answered (640 tokens). One model run: exactly 640 is charged,
     * nothing for the refused attempt.
     */
    @Test
    void anUpstream429RetriedByTheSdkIsChargedOnlyTheRunThatHappened() throws InterruptedException {
        String s = subject();
        assertReadAndOwed(s, openAi("busy-chat", s, Duration.ofSeconds(10), 2, AbstractRound105::chatTotal), 640,
                "one model run of 640 behind an upstream 429 the SDK retried");
        assertRuns(s, 1);
        assertEquals(2, MockProviders.ATTEMPTS.get(s).size(), MockProviders.ATTEMPTS.get(s).toString());
    }

    /**
     * Anthropic's 529 {@code overloaded_error} before a streamed call started; the SDK retries it by
     * itself and streams the second attempt (900 input, 250 output). One run: exactly 1,150.
     */
    @Test
    void anOverloaded529RetriedByTheSdkIsChargedOnlyTheStreamThatRan() throws InterruptedException {
        String s = subject();
        Message message = anthropic("overloaded-messages", s, Duration.ofSeconds(10), 2, AbstractRound105::streamed);
        assertReadAndOwed(s, total(message.usage()), 1_150, "one streamed run of 1,150 behind a 529 the SDK retried");
        assertRuns(s, 1);
    }

    /**
     * A reasoning model's Responses stream, read with the SDK: 1,800 input (1,536 of them cached), 2,400
     * output (2,176 of them reasoning), total 4,200, in {@code response.completed}. The cached and
     * reasoning counts are parts of the input and output: 4,200 is owed, not more, not less.
     */
    @Test
    void aReasoningResponsesStreamIsChargedItsTotal() throws InterruptedException {
        String s = subject();
        ResponseUsage usage = openAi("reasoning-responses", s, Duration.ofSeconds(10), 0, client -> lastUsage(client,
                "Plan the quarter.", e -> e.completed().map(ResponseCompletedEvent::response)));
        assertReadAndOwed(s, usage.totalTokens(), 4_200, "a reasoning stream whose usage says 4,200");
    }

    /**
     * A Responses stream that ends in {@code response.incomplete} (the content filter stopped it after
     * 96 reasoning tokens), as OpenAI ends a cut response: its usage (40 + 96 = 136) is the final count,
     * which the SDK reads from that event. The request allowed 6,000 output tokens; charging the hold
     * instead would charge a model call that never wrote them.
     */
    @Test
    void anIncompleteResponsesStreamIsChargedItsUsageNotItsBudget() throws InterruptedException {
        String s = subject();
        assertReadAndOwed(s, openAi("incomplete-responses", s, Duration.ofSeconds(10), 0, client -> lastUsage(client,
                "Describe it.", e -> e.incomplete().map(ResponseIncompleteEvent::response))).totalTokens(), 136,
                "an incomplete response whose usage says 136 (budget 6,000)");
    }

    /**
     * An Anthropic answer with a web search and prompt caching at two lifetimes: usage 1,100 input,
     * 2,048 cache writes (itemised as 1,024 five-minute and 1,024 one-hour writes in
     * {@code cache_creation}), 4,096 cache reads, 350 output and two search requests (not tokens). The
     * SDK's total is 7,594: the itemised writes are the same 2,048, not more.
     */
    @Test
    void anAnthropicAnswerWithItemisedCacheWritesIsChargedItsTokensOnce() throws InterruptedException {
        String s = subject();
        Message message = anthropic("cache-messages", s, Duration.ofSeconds(10), 0,
                client -> client.messages().create(messages()));
        assertReadAndOwed(s, total(message.usage()), 7_594, "an answer whose usage totals 7,594");
    }

    /**
     * An Anthropic-shaped stream whose {@code message_delta} names every counter and sets those it
     * does not update to {@code null} (1,200 input, 3,000 cache writes and 6,000 cache reads in
     * {@code message_start}, 700 output at the end). The SDK's accumulator keeps the start's counts for
     * the nulls: 10,900. A null is no count of zero tokens.
     */
    @Test
    void nullCountersInTheFinalDeltaDoNotEraseTheStartsCounts() throws InterruptedException {
        String s = subject();
        Message message = anthropic("nulls-messages", s, Duration.ofSeconds(10), 0, AbstractRound105::streamed);
        assertReadAndOwed(s, total(message.usage()), 10_900, "a stream whose usage the SDK totals at 10,900");
    }

    /**
     * A refusal from gpt-4o with every detail OpenAI itemises: cached, audio, reasoning, accepted and
     * rejected prediction tokens, all parts of {@code prompt_tokens} (2,600) and
     * {@code completion_tokens} (900). The SDK's {@code total_tokens} is 3,500, and so is the charge.
     */
    @Test
    void aRefusalWithItemisedDetailsIsChargedItsTotalOnce() throws InterruptedException {
        String s = subject();
        ChatCompletion completion = openAi("details-chat", s, Duration.ofSeconds(10), 0,
                client -> client.chat().completions().create(chat()));
        assertTrue(completion.choices().get(0).message().refusal().isPresent());
        assertReadAndOwed(s, completion.usage().orElseThrow().totalTokens(), 3_500, "a refusal whose usage says 3,500");
    }

    /**
     * Control: the handler's model answered (it reports 800 through the request attribute), then its own
     * next step threw: a 500, which the SDK retries twice by itself. Three model runs, each reported:
     * 2,400 is owed, the SDK's retries buy nothing free.
     */
    @Test
    void aReportedRunBeforeA500IsPaidForEachSdkRetry() throws InterruptedException {
        String s = subject();
        openAi("failing-chat", s, Duration.ofSeconds(10), 2,
                client -> assertThrows(RuntimeException.class, () -> client.chat().completions().create(chat())));
        QuotaAccount a = assertOwed(s, 2_400, "three reported runs of 800 behind 500s the SDK retried");
        assertRuns(s, 3);
        assertTrue(a.reserved() == 0);
    }
}
