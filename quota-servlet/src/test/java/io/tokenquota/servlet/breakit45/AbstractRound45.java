package io.tokenquota.servlet.breakit45;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.AsyncTimeouts;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 45 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * mainstream paths only: the official providers' answer shapes as the Java stack's own AI libraries
 * (Spring AI) relay them, and the settlement rules on them.
 */
abstract class AbstractRound45 extends H2FilterRound {
    static final Map<String, CountDownLatch> HUNG_UP = new ConcurrentHashMap<>();
    static final Map<String, Boolean> WRITE_FAILED = new ConcurrentHashMap<>();

    static String subject() {
        return "u45-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** Output tokens of the streamed answers: 500 chunks of 10 one-token words. */
    static final int OUTPUT_TOKENS = 5_000;
    static final int CHUNKS = OUTPUT_TOKENS / 10;

    /** The app's own request, as a Spring AI chat controller takes it: the question and the output budget. */
    static final String ASK = "{\"message\":\"Write a long story about a lighthouse keeper.\",\"maxTokens\":8000}";

    // ------------------------------------------------------------------ Spring AI's Flux<ChatResponse>

    /**
     * One Spring AI {@code ChatResponse} as Spring MVC writes a {@code Flux<ChatResponse>} element to a
     * {@code text/event-stream} (Jackson; Spring's {@code data:} framing), with {@code usage} in
     * {@code metadata.usage}.
     */
    static String springAiChunk(String model, String usage, String text, String finishReason) {
        String result = "{\"metadata\":{\"contentFilters\":[],\"empty\":" + (finishReason == null) + ",\"finishReason\":"
                + (finishReason == null ? "null" : "\"" + finishReason + "\"") + "},"
                + "\"output\":{\"media\":[],\"messageType\":\"ASSISTANT\",\"metadata\":{\"messageType\":\"ASSISTANT\"},"
                + "\"text\":\"" + text + "\",\"toolCalls\":[]}}";
        return "data:{\"metadata\":{\"empty\":false,\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"model\":\"" + model + "\","
                + "\"promptMetadata\":[],\"rateLimit\":{\"requestsLimit\":0,\"requestsRemaining\":0,\"requestsReset\":\"PT0S\","
                + "\"tokensLimit\":0,\"tokensRemaining\":0,\"tokensReset\":\"PT0S\"},\"usage\":" + usage + "},"
                + "\"result\":" + result + ",\"results\":[" + result + "]}\n\n";
    }

    static final String WORDS = " word word word word word word word word word word";

    /**
     * Spring AI 1.0's {@code AnthropicChatModel.stream}: {@code StreamHelper} keeps message_start's
     * usage (input 25, output 1) in the builder every later chunk is built from, so each text chunk
     * carries {@code promptTokens 25, completionTokens 1, totalTokens 26}; only the chunk made of
     * message_delta has the output count.
     */
    static final String CLAUDE_START_USAGE = "{\"promptTokens\":25,\"completionTokens\":1,\"totalTokens\":26,"
            + "\"nativeUsage\":{\"input_tokens\":25,\"output_tokens\":1,\"cache_creation_input_tokens\":0,"
            + "\"cache_read_input_tokens\":0}}";
    static final String CLAUDE_FINAL_USAGE = "{\"promptTokens\":25,\"completionTokens\":" + OUTPUT_TOKENS
            + ",\"totalTokens\":" + (25 + OUTPUT_TOKENS) + ",\"nativeUsage\":{\"input_tokens\":25,\"output_tokens\":"
            + OUTPUT_TOKENS + "}}";

    /**
     * Spring AI's Gemini chat models ({@code VertexAiGeminiChatModel}, {@code GoogleGenAiChatModel}):
     * each chunk's usage is that chunk's {@code usageMetadata}, which before the last chunk counts the
     * prompt alone ({@code candidatesTokenCount} absent: 0).
     */
    static final String GEMINI_EARLY_USAGE = "{\"promptTokens\":25,\"completionTokens\":0,\"totalTokens\":25,"
            + "\"nativeUsage\":{\"promptTokenCount\":25,\"totalTokenCount\":25}}";

    static void write(OutputStream out, String s) throws IOException {
        out.write(s.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /**
     * A Spring AI chat controller streaming Claude ({@code Flux<ChatResponse>}, {@code text/event-stream}).
     * The client hangs up after reading the 5,000 output tokens; the next write fails and Spring cancels
     * the Flux (and with it the upstream call), so the chunk made of message_delta never goes out.
     */
    public static class SpringAiClaudeStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String subject = req.getHeader("x-user-id");
            resp.setStatus(200);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (int i = 0; i < CHUNKS; i++) {
                write(out, springAiChunk("claude-sonnet-4-5", CLAUDE_START_USAGE, WORDS, null));
            }
            write(out, ":5000 tokens sent\n\n");
            CountDownLatch hungUp = HUNG_UP.get(subject);
            if (hungUp != null) {
                try {
                    hungUp.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try {
                for (int i = 0; i < 2_000; i++) {
                    write(out, springAiChunk("claude-sonnet-4-5", CLAUDE_START_USAGE, WORDS, null));
                }
                write(out, springAiChunk("claude-sonnet-4-5", CLAUDE_FINAL_USAGE, "", "end_turn"));
                WRITE_FAILED.put(subject, false);
            } catch (IOException e) {
                WRITE_FAILED.put(subject, true);
            }
        }
    }

    /**
     * A Spring AI chat controller streaming Gemini through an {@code SseEmitter} with a timeout: the whole
     * answer text goes out, then the container's async timeout fires before Gemini's last chunk (the one
     * with {@code candidatesTokenCount}); the emitter completes on timeout, as SseEmitter does.
     */
    public static class SpringAiGeminiEmitter extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setStatus(200);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (int i = 0; i < CHUNKS; i++) {
                write(out, springAiChunk("gemini-2.5-flash", GEMINI_EARLY_USAGE, WORDS, null));
            }
            AsyncTimeouts.completeOnTimeout(req.startAsync(), 200);
        }
    }

    /**
     * The providers' token-counting endpoints, which run the model's tokenizer and call no model (all
     * three are free): Gemini {@code models/{model}:countTokens} (beside {@code :generateContent} on the
     * same path), Anthropic {@code /v1/messages/count_tokens} (under {@code /v1/messages}), OpenAI
     * {@code /v1/responses/input_tokens} (under {@code /v1/responses}). Each answers its count as the
     * provider does.
     */
    public static class TokenCounter extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String path = req.getRequestURI();
            resp.setContentType("application/json");
            if (path.endsWith(":countTokens")) {
                resp.getWriter().write("{\"totalTokens\":31,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":31}]}");
            } else if (path.endsWith("/count_tokens")) {
                resp.getWriter().write("{\"input_tokens\":31}");
            } else {
                resp.getWriter().write("{\"object\":\"response.input_tokens\",\"input_tokens\":31}");
            }
        }
    }

    /**
     * A Spring AI chat controller ({@code chatClient.prompt().user(message).call().chatResponse()}) whose
     * model is the application's choice (its {@code spring.ai.anthropic.chat.options.model}), not the
     * client's: the answer is Spring AI's {@code ChatResponse}, naming the model that answered in
     * {@code metadata.model} beside {@code metadata.usage}. With {@code raw} the same answer as Anthropic's
     * own Messages JSON (the control).
     */
    public static class SpringAiClaudeCall extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setContentType("application/json");
            if (req.getRequestURI().endsWith("/raw")) {
                resp.getWriter().write("{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"" + OPUS
                        + "\",\"content\":[{\"type\":\"text\",\"text\":\"A story.\"}],\"stop_reason\":\"end_turn\","
                        + "\"usage\":{\"input_tokens\":100,\"output_tokens\":100}}");
                return;
            }
            String result = "{\"metadata\":{\"contentFilters\":[],\"empty\":true,\"finishReason\":\"end_turn\"},"
                    + "\"output\":{\"media\":[],\"messageType\":\"ASSISTANT\",\"metadata\":{\"messageType\":\"ASSISTANT\"},"
                    + "\"text\":\"A story.\",\"toolCalls\":[]}}";
            resp.getWriter().write("{\"metadata\":{\"empty\":false,\"id\":\"msg_01\",\"model\":\"" + OPUS + "\","
                    + "\"promptMetadata\":[],\"rateLimit\":{\"requestsLimit\":0,\"requestsRemaining\":0,\"requestsReset\":\"PT0S\","
                    + "\"tokensLimit\":0,\"tokensRemaining\":0,\"tokensReset\":\"PT0S\"},\"usage\":{\"promptTokens\":100,"
                    + "\"completionTokens\":100,\"totalTokens\":200,\"nativeUsage\":{\"input_tokens\":100,\"output_tokens\":100}}},"
                    + "\"result\":" + result + ",\"results\":[" + result + "]}");
        }
    }

    /**
     * An OpenAI chat completions relay streaming without {@code stream_options.include_usage} (its
     * default): the model writes the whole {@code max_completion_tokens} it was given (50 one-token words
     * a chunk), and no usage comes.
     */
    public static class OpenAiStreamWithoutUsage extends HttpServlet {
        /** The budget the last request reached the endpoint with. */
        static final java.util.concurrent.atomic.AtomicLong SENT = new java.util.concurrent.atomic.AtomicLong();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            long budget = new com.fasterxml.jackson.databind.ObjectMapper().readTree(req.getInputStream())
                    .path("max_completion_tokens").asLong(1_000);
            SENT.set(budget);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String words = " word".repeat(50);
            for (long i = 0; i < budget; i += 50) {
                out.write(("data: {\"id\":\"chatcmpl-45\",\"object\":\"chat.completion.chunk\",\"model\":\"o3\","
                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + words + "\"}}]}\n\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String OPUS = "claude-opus-4-1-20250805";
    /** The weights of the second filter (on {@code /w/}): Opus at its list prices per MTok, anything else 1/4. */
    static final io.tokenquota.ModelWeights WEIGHTS = io.tokenquota.ModelWeights.builder()
            .model("claude-opus*", io.tokenquota.ModelWeights.Rates.of("15", "1.5", "75", "75"))
            .defaults(io.tokenquota.ModelWeights.Rates.of("1", "1", "4", "4"))
            .build();
    /** 100 input and 100 output tokens of Opus at those weights. */
    static final long OPUS_CHARGE = 100 * 15 + 100 * 75;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter weighed = filterFor("/w/").modelWeights(WEIGHTS).build();
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("weighed", weighed, "/w/*")
                .servlet("openai-stream", new OpenAiStreamWithoutUsage(), "/ai/v1/chat/completions")
                .servlet("springai-call", new SpringAiClaudeCall(), "/w/springai/chat", "/w/springai/chat/raw")
                .servlet("springai-claude", new SpringAiClaudeStream(), "/ai/springai/claude/stream")
                .servlet("springai-gemini", new SpringAiGeminiEmitter(), "/ai/springai/gemini/stream")
                .servlet("counter", new TokenCounter(), "/ai/v1beta/models/*", "/ai/v1/messages/*", "/ai/v1/responses/*");
    }

    static void readUntil(InputStream in, String marker) throws IOException {
        StringBuilder seen = new StringBuilder();
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) != -1) {
            seen.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
            if (seen.indexOf(marker) >= 0) {
                return;
            }
        }
        throw new AssertionError("the stream ended before " + marker);
    }

    // ------------------------------------------------------------------ tests

    /**
     * {@code POST /ai/springai/claude/stream} (a Spring AI 1.0 controller returning
     * {@code chatModel.stream(prompt)} of Claude): the client reads 5,000 output tokens and hangs up
     * before the last chunk. Every chunk it saw carries message_start's usage (26) as Spring AI's
     * {@code metadata.usage}, which the filter takes as a final count: the call is charged 26 where the
     * raw Anthropic stream cut at the same place is charged at least its estimate (8,000+).
     */
    @Test
    void aSpringAiClaudeStreamCutBeforeItsLastChunkIsNotChargedOnlyItsInput() throws Exception {
        String s = subject();
        CountDownLatch hungUp = new CountDownLatch(1);
        HUNG_UP.put(s, hungUp);
        byte[] body = ASK.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket("127.0.0.1", container.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /ai/springai/claude/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: " + body.length
                    + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            readUntil(socket.getInputStream(), ":5000 tokens sent");
            socket.setSoLinger(true, 0);
        } finally {
            hungUp.countDown();
        }
        QuotaAccount a = settled(s);
        assertEquals(Boolean.TRUE, WRITE_FAILED.get(s), "the controller noticed the hang-up");
        assertTrue(a.used() >= OUTPUT_TOKENS, "the client read " + OUTPUT_TOKENS + " output tokens (maxTokens 8,000)"
                + " before hanging up and was charged " + a.used() + "; ledger: " + ledger(s));
    }

    /**
     * {@code POST /ai/springai/gemini/stream} (a Spring AI controller streaming Gemini through an
     * SseEmitter): the async timeout fires after the whole answer text, before Gemini's last chunk.
     * Every chunk counted the prompt alone (25), as the filter's own Gemini rule knows, but in Spring AI's
     * shape the 25 is final: charged 25 for 5,000 output tokens delivered.
     */
    @Test
    void aSpringAiGeminiStreamTimedOutBeforeItsLastChunkIsNotChargedOnlyThePrompt() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/springai/gemini/stream"), s, ASK);
        assertEquals(200, r.statusCode());
        assertTrue(r.body().length() > OUTPUT_TOKENS * 5, "the client got the whole answer text");
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= OUTPUT_TOKENS, "the client received " + OUTPUT_TOKENS + " output tokens (maxTokens 8,000)"
                + " and was charged " + a.used() + "; ledger: " + ledger(s));
    }

    void assertNotCharged(String path, String body, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), what + " runs the tokenizer and calls no model, yet was charged: " + ledger(s));
    }

    /**
     * {@code POST /ai/v1beta/models/gemini-2.5-flash:countTokens} (the Google GenAI SDK's
     * {@code models.countTokens}, LangChain's {@code get_num_tokens}): the path is the model's own, the
     * one {@code :generateContent} is under, so no prefix can leave it out; the answer's
     * {@code totalTokens} is no usage the filter knows, so the count is charged as a model call:
     * input plus the 1,000-token default output budget.
     */
    @Test
    void aGeminiCountTokensCallIsNotCharged() {
        assertNotCharged("/ai/v1beta/models/gemini-2.5-flash:countTokens",
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"The quick brown fox jumps over the lazy dog.\"}]}]}",
                "Gemini countTokens");
    }

    /**
     * {@code POST /ai/v1/messages/count_tokens} (the Anthropic SDKs' {@code messages.countTokens}), under
     * the {@code /v1/messages} an Anthropic-compatible gateway protects: charged the Messages estimate.
     */
    @Test
    void anAnthropicCountTokensCallIsNotCharged() {
        assertNotCharged("/ai/v1/messages/count_tokens",
                "{\"model\":\"claude-sonnet-4-5\",\"messages\":[{\"role\":\"user\",\"content\":\"The quick brown fox jumps over the lazy dog.\"}]}",
                "Anthropic count_tokens");
    }

    /**
     * {@code POST /ai/v1/responses/input_tokens} (OpenAI's input token count for a Responses request):
     * under the {@code /v1/responses} an OpenAI-compatible gateway protects, charged as a model call.
     */
    @Test
    void anOpenAiResponsesInputTokensCallIsNotCharged() {
        assertNotCharged("/ai/v1/responses/input_tokens",
                "{\"model\":\"gpt-5\",\"input\":\"The quick brown fox jumps over the lazy dog.\"}",
                "OpenAI responses/input_tokens");
    }

    /**
     * {@code POST /w/springai/chat} ({@code {"message": …}}) behind a filter with model weights: the
     * Spring AI answer names the model that answered ({@code metadata.model}: Opus) where Spring AI puts
     * it, beside the {@code metadata.usage} the filter does read; the model is not read, the request names
     * none, so the call is weighed at the default rates (500 units) instead of Opus's (9,000), which the
     * same answer in Anthropic's own shape is charged.
     */
    @Test
    void aSpringAiAnswerIsWeighedAtTheRatesOfTheModelItNames() {
        String body = "{\"message\":\"Write a haiku about rain.\"}";
        String control = subject();
        HttpResponse<String> a = TestHttp.postJson(container.uri("/w/springai/chat/raw"), control, body);
        assertEquals(200, a.statusCode(), a.body());
        assertEquals(OPUS_CHARGE, settled(control).used(), "control: Anthropic's own answer " + ledger(control));
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/w/springai/chat"), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(OPUS_CHARGE, settled(s).used(), "100 input and 100 output tokens of " + OPUS
                + ", named by the answer's metadata.model: " + ledger(s));
    }

    /**
     * {@code POST /ai/v1/chat/completions} ({@code "stream": true}, no {@code include_usage},
     * {@code "max_completion_tokens": 19000} for a reasoning model whose limit is 100,000): the model
     * writes 19,000 tokens and reports none, so the call is charged its estimate; but the estimate holds
     * the budget only up to {@code outputBudgetCap} (16,384 by default) while the request goes to the
     * endpoint with its own 19,000: the 2,600 tokens past the cap were free (with
     * {@code max_completion_tokens: 100000} and a 100,000-token allowance, 83,000 would have been).
     * The endpoint must be sent no more than is held: the budget reaches it lowered to the cap.
     */
    @Test
    void aStreamWithoutUsageIsChargedAtLeastTheBudgetTheEndpointWasSent() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s,
                "{\"model\":\"o3\",\"stream\":true,\"max_completion_tokens\":19000,"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story.\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        long sent = OpenAiStreamWithoutUsage.SENT.get();
        assertTrue(settled(s).used() >= sent, "the endpoint was sent max_completion_tokens " + sent
                + " and wrote them without a usage report: " + ledger(s));
        assertEquals(Long.toString(sent), r.headers().firstValue("X-Quota-Output-Capped").orElse(null),
                "the lowered budget is announced");
    }
}
