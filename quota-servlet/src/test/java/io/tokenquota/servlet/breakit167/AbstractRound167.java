package io.tokenquota.servlet.breakit167;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.anthropic.client.AnthropicClient;
import com.anthropic.client.okhttp.AnthropicOkHttpClient;
import com.anthropic.core.http.StreamResponse;
import com.anthropic.models.messages.Message;
import com.anthropic.models.messages.MessageCreateParams;
import com.anthropic.models.messages.RawMessageStreamEvent;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/**
 * Round 167 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the README's filter in front of a Spring MVC application whose controllers call OpenAI and Anthropic
 * through their official Java SDKs (a mock provider outside the protected prefix) and hand the SDK's
 * own objects to Spring: returned as the JSON body, or relayed chunk by chunk through an
 * {@link SseEmitter}. Each call is charged what the provider reported.
 */
abstract class AbstractRound167 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final ExecutorService RELAYS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "relay-167");
        t.setDaemon(true);
        return t;
    });

    /** The provider's counts for every OpenAI call: 2,400 in, 5,600 out. */
    static final long OPENAI_IN = 2_400;
    static final long OPENAI_OUT = 5_600;
    /** The provider's counts for every Anthropic call: 3,000 in, 1,500 read from the cache, 4,500 out. */
    static final long CLAUDE_IN = 3_000;
    static final long CLAUDE_CACHE = 1_500;
    static final long CLAUDE_OUT = 4_500;

    /** Per subject: the provider holds its answer until the test opens the gate. */
    static final Map<String, java.util.concurrent.CountDownLatch> GATES = new java.util.concurrent.ConcurrentHashMap<>();

    static final String ASK = "{\"message\":\"Write me a short story about a lighthouse keeper.\"}";

    static String subject() {
        return "u167-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter quota) {
        return Deployment.create()
                .filter("quota", quota, "/*")
                .servlet("provider", new Provider(), "/upstream/*")
                .servlet("spring", SpringMvc.dispatcher(Chat.class), SpringMvc.MAPPING)
                .onStartup(quota::registerByServletName);
    }

    static String base(HttpServletRequest req, String provider) {
        return "http://127.0.0.1:" + req.getLocalPort() + "/upstream/" + provider;
    }

    static OpenAIClient openAi(HttpServletRequest req, String user) {
        return OpenAIOkHttpClient.builder().apiKey("sk-test").baseUrl(base(req, "openai"))
                .putHeader("x-subject", user).maxRetries(0).build();
    }

    static AnthropicClient claudeClient(HttpServletRequest req, String user) {
        return AnthropicOkHttpClient.builder().apiKey("sk-ant-test").baseUrl(base(req, "anthropic"))
                .putHeader("x-subject", user).maxRetries(0).build();
    }

    static ChatCompletionCreateParams.Builder chatParams(Map<String, Object> body) {
        return ChatCompletionCreateParams.builder().model("gpt-4o")
                .addSystemMessage("You are a helpful writer.")
                .addUserMessage(String.valueOf(body.get("message")));
    }

    static MessageCreateParams claudeParams(Map<String, Object> body) {
        return MessageCreateParams.builder().model("claude-sonnet-4-5").maxTokens(8_192)
                .addUserMessage(String.valueOf(body.get("message"))).build();
    }

    /** The application's controller, as its README-following author writes it. */
    @RestController
    public static class Chat {
        /** Returns the SDK's completion as it came (Spring writes it with Jackson). */
        @PostMapping(path = "/chat", produces = MediaType.APPLICATION_JSON_VALUE)
        public ChatCompletion chat(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user,
                                   HttpServletRequest req) {
            OpenAIClient client = openAi(req, user);
            try {
                return client.chat().completions().create(chatParams(body).build());
            } finally {
                client.close();
            }
        }

        /** Returns the SDK's Anthropic message as it came. */
        @PostMapping(path = "/claude", produces = MediaType.APPLICATION_JSON_VALUE)
        public Message claude(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user,
                              HttpServletRequest req) {
            AnthropicClient client = claudeClient(req, user);
            try {
                return client.messages().create(claudeParams(body));
            } finally {
                client.close();
            }
        }

        /** Returns the reply text with the SDK's usage object beside it. */
        @PostMapping(path = "/reply", produces = MediaType.APPLICATION_JSON_VALUE)
        public Map<String, Object> reply(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user,
                                         HttpServletRequest req) {
            OpenAIClient client = openAi(req, user);
            try {
                ChatCompletion c = client.chat().completions().create(chatParams(body).build());
                return Map.of("reply", c.choices().get(0).message().content().orElse(""),
                        "usage", c.usage().orElseThrow());
            } finally {
                client.close();
            }
        }

        /** Relays the SDK's chunks, usage included, through an SseEmitter. */
        @PostMapping(path = "/chat/stream", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
        public SseEmitter chatStream(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user,
                                     HttpServletRequest req) {
            SseEmitter emitter = new SseEmitter(60_000L);
            OpenAIClient client = openAi(req, user);
            ChatCompletionCreateParams params = chatParams(body)
                    .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
            RELAYS.submit(() -> {
                try (com.openai.core.http.StreamResponse<ChatCompletionChunk> chunks =
                             client.chat().completions().createStreaming(params)) {
                    chunks.stream().forEach(chunk -> send(emitter, SseEmitter.event().data(chunk)));
                    emitter.send(SseEmitter.event().data("[DONE]"));
                    emitter.complete();
                } catch (Exception e) {
                    emitter.completeWithError(e);
                } finally {
                    client.close();
                }
            });
            return emitter;
        }

        /** Relays the SDK's Anthropic events, each under its type's name, through an SseEmitter. */
        @PostMapping(path = "/claude/stream", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
        public SseEmitter claudeStream(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user,
                                       HttpServletRequest req) {
            SseEmitter emitter = new SseEmitter(60_000L);
            AnthropicClient client = claudeClient(req, user);
            MessageCreateParams params = claudeParams(body);
            RELAYS.submit(() -> {
                try (StreamResponse<RawMessageStreamEvent> events = client.messages().createStreaming(params)) {
                    events.stream().forEach(event -> send(emitter, SseEmitter.event().name(type(event)).data(event)));
                    emitter.complete();
                } catch (Exception e) {
                    emitter.completeWithError(e);
                } finally {
                    client.close();
                }
            });
            return emitter;
        }

        /** Relays the SDK's Anthropic events as plain data events (no name), as most relays do. */
        @PostMapping(path = "/claude/plain", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
        public SseEmitter claudePlain(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user,
                                      HttpServletRequest req) {
            SseEmitter emitter = new SseEmitter(60_000L);
            AnthropicClient client = claudeClient(req, user);
            MessageCreateParams params = claudeParams(body);
            RELAYS.submit(() -> {
                try (StreamResponse<RawMessageStreamEvent> events = client.messages().createStreaming(params)) {
                    events.stream().forEach(event -> send(emitter, SseEmitter.event().data(event)));
                    emitter.complete();
                } catch (Exception e) {
                    emitter.completeWithError(e);
                } finally {
                    client.close();
                }
            });
            return emitter;
        }

        /** The SDK's async client: Spring writes the completion when the future completes. */
        @PostMapping(path = "/chat/async", produces = MediaType.APPLICATION_JSON_VALUE)
        public java.util.concurrent.CompletableFuture<ChatCompletion> chatAsync(@RequestBody Map<String, Object> body,
                @RequestHeader("x-user-id") String user, HttpServletRequest req) {
            OpenAIClient client = openAi(req, user);
            return client.async().chat().completions().create(chatParams(body).build())
                    .whenComplete((c, e) -> client.close());
        }

        /**
         * A reasoning call behind a {@code DeferredResult} with a timeout (a Spring application's
         * {@code spring.mvc.async.request-timeout}, here 1 s): the SDK's async call goes on after it.
         */
        @PostMapping(path = "/reason", produces = MediaType.APPLICATION_JSON_VALUE)
        public org.springframework.web.context.request.async.DeferredResult<ChatCompletion> reason(
                @RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user, HttpServletRequest req) {
            org.springframework.web.context.request.async.DeferredResult<ChatCompletion> result =
                    new org.springframework.web.context.request.async.DeferredResult<>(1_000L);
            OpenAIClient client = openAi(req, user);
            client.async().chat().completions().create(chatParams(body).model("o3").build())
                    .whenComplete((c, e) -> {
                        client.close();
                        if (e != null) result.setErrorResult(e);
                        else result.setResult(c);
                    });
            return result;
        }

        /**
         * A sync controller whose SDK client has the timeout its author picked (and the SDK's default two
         * retries, on a timeout too): each attempt the provider takes longer than that is a model run.
         */
        @PostMapping(path = "/chat/patient", produces = MediaType.APPLICATION_JSON_VALUE)
        public ChatCompletion patient(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user,
                                      HttpServletRequest req) {
            OpenAIClient client = OpenAIOkHttpClient.builder().apiKey("sk-test").baseUrl(base(req, "openai"))
                    .putHeader("x-subject", user).timeout(java.time.Duration.ofMillis(500)).build();
            try {
                return client.chat().completions().create(chatParams(body).model("o3").build());
            } finally {
                client.close();
            }
        }

        static String type(RawMessageStreamEvent e) {
            if (e.isMessageStart()) return "message_start";
            if (e.isMessageDelta()) return "message_delta";
            if (e.isMessageStop()) return "message_stop";
            if (e.isContentBlockStart()) return "content_block_start";
            if (e.isContentBlockDelta()) return "content_block_delta";
            return "content_block_stop";
        }

        static void send(SseEmitter emitter, SseEmitter.SseEventBuilder event) {
            try {
                emitter.send(event);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    // ------------------------------------------------------------------ the provider (outside the prefix)

    /** A mock OpenAI and Anthropic API: counts each call under the application's {@code x-subject}. */
    static class Provider extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            CALLS.count(req.getHeader("x-subject"));
            java.util.concurrent.CountDownLatch gate = GATES.get(req.getHeader("x-subject"));
            if (gate != null) {
                try {
                    gate.await(15, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            boolean stream = body.replace(" ", "").contains("\"stream\":true");
            String path = req.getPathInfo();
            if (path.startsWith("/openai")) {
                openAi(resp, stream);
            } else {
                anthropic(resp, stream);
            }
        }

        private static void openAi(HttpServletResponse resp, boolean stream) throws IOException {
            String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
            String usage = "\"usage\":{\"prompt_tokens\":" + OPENAI_IN + ",\"completion_tokens\":" + OPENAI_OUT
                    + ",\"total_tokens\":" + (OPENAI_IN + OPENAI_OUT) + ",\"prompt_tokens_details\":{\"cached_tokens\":0,"
                    + "\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                    + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}";
            String head = "{\"id\":\"" + id + "\",\"created\":1760000000,\"model\":\"gpt-4o-2024-08-06\","
                    + "\"system_fingerprint\":\"fp_1\",\"service_tier\":\"default\",";
            if (!stream) {
                write(resp, "application/json", head + "\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                        + "\"message\":{\"role\":\"assistant\",\"content\":\"Once upon a time, a keeper.\",\"refusal\":null,"
                        + "\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}]," + usage + "}");
                return;
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String chunk = head + "\"object\":\"chat.completion.chunk\",";
            event(out, null, chunk + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                    + "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}");
            for (String word : new String[] {"Once ", "upon ", "a ", "time."}) {
                event(out, null, chunk + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + word + "\"},"
                        + "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}");
            }
            event(out, null, chunk + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                    + "\"usage\":null}");
            event(out, null, chunk + "\"choices\":[]," + usage + "}");
            event(out, null, "[DONE]");
        }

        private static void anthropic(HttpServletResponse resp, boolean stream) throws IOException {
            String id = "msg_" + UUID.randomUUID().toString().replace("-", "");
            String full = "{\"input_tokens\":" + CLAUDE_IN + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":"
                    + CLAUDE_CACHE + ",\"output_tokens\":" + CLAUDE_OUT + ",\"service_tier\":\"standard\"}";
            if (!stream) {
                write(resp, "application/json", "{\"id\":\"" + id + "\",\"type\":\"message\",\"role\":\"assistant\","
                        + "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"Once upon a time.\"}],"
                        + "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":" + full + "}");
                return;
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            event(out, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\","
                    + "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,"
                    + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + CLAUDE_IN + ",\"cache_creation_input_tokens\":0,"
                    + "\"cache_read_input_tokens\":" + CLAUDE_CACHE + ",\"output_tokens\":1,\"service_tier\":\"standard\"}}}");
            event(out, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
                    + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
            event(out, "ping", "{\"type\": \"ping\"}");
            for (String word : new String[] {"Once ", "upon ", "a ", "time."}) {
                event(out, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
                        + "\"delta\":{\"type\":\"text_delta\",\"text\":\"" + word + "\"}}");
            }
            event(out, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
            event(out, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                    + "\"stop_sequence\":null},\"usage\":{\"input_tokens\":" + CLAUDE_IN + ",\"cache_creation_input_tokens\":0,"
                    + "\"cache_read_input_tokens\":" + CLAUDE_CACHE + ",\"output_tokens\":" + CLAUDE_OUT + "}}");
            event(out, "message_stop", "{\"type\":\"message_stop\"}");
        }

        private static void write(HttpServletResponse resp, String type, String body) throws IOException {
            resp.setContentType(type);
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }

        private static void event(OutputStream out, String name, String data) throws IOException {
            String e = (name == null ? "" : "event: " + name + "\n") + "data: " + data + "\n\n";
            out.write(e.getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    // ------------------------------------------------------------------ the tests

    HttpResponse<String> ask(String path, String s) {
        return TestHttp.postJson(container.uri("/ai/spring" + path), s, ASK);
    }

    void assertCharged(String s, String path, long owed) {
        HttpResponse<String> r = ask(path, s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(s), "one provider call");
        long used = settled(s).used();
        assertEquals(owed, used, path + " answered " + r.body().substring(0, Math.min(600, r.body().length()))
                + "\nledger " + ledger(s));
    }

    /** A controller that returns the OpenAI SDK's {@code ChatCompletion} as its body: charged the provider's total. */
    @Test
    void aReturnedSdkChatCompletionIsChargedItsUsage() {
        assertCharged(subject(), "/chat", OPENAI_IN + OPENAI_OUT);
    }

    /** A controller that returns the Anthropic SDK's {@code Message}: charged input, cache reads and output. */
    @Test
    void aReturnedSdkMessageIsChargedItsUsage() {
        assertCharged(subject(), "/claude", CLAUDE_IN + CLAUDE_CACHE + CLAUDE_OUT);
    }

    /** A controller that returns the reply beside the SDK's {@code CompletionUsage}: charged that usage. */
    @Test
    void aReplyBesideTheSdksUsageIsChargedThatUsage() {
        assertCharged(subject(), "/reply", OPENAI_IN + OPENAI_OUT);
    }

    /** An SseEmitter relaying the OpenAI SDK's chunks (usage included): charged the provider's total. */
    @Test
    void anSseEmitterRelayOfSdkChunksIsChargedItsUsage() {
        assertCharged(subject(), "/chat/stream", OPENAI_IN + OPENAI_OUT);
    }

    /** An SseEmitter relaying the Anthropic SDK's events under their names: charged the final counts. */
    @Test
    void anSseEmitterRelayOfNamedSdkEventsIsChargedItsUsage() {
        assertCharged(subject(), "/claude/stream", CLAUDE_IN + CLAUDE_CACHE + CLAUDE_OUT);
    }

    /** An SseEmitter relaying the Anthropic SDK's events as unnamed data: charged the final counts. */
    @Test
    void anSseEmitterRelayOfUnnamedSdkEventsIsChargedItsUsage() {
        assertCharged(subject(), "/claude/plain", CLAUDE_IN + CLAUDE_CACHE + CLAUDE_OUT);
    }

    /** A controller returning the SDK's {@code CompletableFuture<ChatCompletion>}: charged the provider's total. */
    @Test
    void anSdkAsyncCompletionIsChargedItsUsage() {
        assertCharged(subject(), "/chat/async", OPENAI_IN + OPENAI_OUT);
    }

    /**
     * A reasoning call that outlasts the application's async request timeout: Spring answers 503 before
     * anything was written while the provider is still working; the provider then finishes the call
     * (and bills it). Nothing the filter sees tells that 503 from one before any model call, and the
     * settlement rule is "a 5xx without usage before any answer is released" unless the host builds the
     * filter with {@code releaseOnError(false)} (docs/decisions.md, "A 5xx without usage is released"):
     * released here, by default.
     */
    @Test
    void aReasoningCallThatOutlastsTheAsyncTimeoutIsReleasedAsA5xxBeforeAnyAnswer() throws InterruptedException {
        String s = subject();
        GATES.put(s, new java.util.concurrent.CountDownLatch(1));
        HttpResponse<String> r;
        try {
            r = ask("/reason", s);
        } finally {
            GATES.get(s).countDown();
        }
        assertEquals(503, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(s), "the provider ran the model");
        assertReleased(s);
    }

    /**
     * A sync controller whose SDK times out (500 ms, the SDK's default two retries) while the provider
     * is still running the model: three runs on the provider, the exception becomes a 500 before any
     * answer. Released by default, as any 5xx before an answer ({@code releaseOnError(false)} charges
     * the estimate instead); a host whose SDK retries slow calls reports what they cost.
     */
    @Test
    void modelRunsTheSdkTimedOutAndRetriedAreReleasedAsA5xxBeforeAnyAnswer() throws InterruptedException {
        String s = subject();
        GATES.put(s, new java.util.concurrent.CountDownLatch(1));
        HttpResponse<String> r;
        try {
            r = ask("/chat/patient", s);
        } finally {
            GATES.get(s).countDown();
        }
        assertEquals(500, r.statusCode(), r.body());
        org.junit.jupiter.api.Assertions.assertTrue(CALLS.of(s) >= 1, "the provider ran the model");
        assertReleased(s);
    }

    private void assertReleased(String s) {
        assertEquals(0, settled(s).used(), ledger(s));
        org.junit.jupiter.api.Assertions.assertTrue(ledger(s).contains("RELEASED"), ledger(s));
    }
}
