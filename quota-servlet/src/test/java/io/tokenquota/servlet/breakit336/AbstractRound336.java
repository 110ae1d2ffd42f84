package io.tokenquota.servlet.breakit336;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.OpenAIIoException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 336 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): what the
 * official OpenAI Java SDK ({@code com.openai:openai-java} 4.8.0) really does as the client of an application behind
 * the filter, when its own timeout cuts a call the model keeps running, and when it retries that call by itself.
 *
 * <p>The SDK, read from its source (openai-java-core 4.8.0, {@code com.openai.core.http.RetryingHttpClient}): an
 * {@code IOException} (the OkHttp read or call timeout the builder's {@code timeout(Duration)} sets) is retried,
 * as are 408, 409, 429 and 5xx and any answer with {@code X-Should-Retry: true}; {@code maxRetries} is 2 unless set;
 * each attempt carries {@code X-Stainless-Retry-Count} (0, 1, 2) and no {@code Idempotency-Key} (the client's
 * {@code ClientOptions} never sets the retrying client's {@code idempotencyHeader}); backoff 0.5 s doubling to 8 s
 * with jitter, or {@code Retry-After(-Ms)} when at most 60 s. On its timeout OkHttp cancels the call and closes the
 * connection; the application's handler goes on, and its provider finishes the model call and bills it.
 *
 * <p>The application: an OpenAI-compatible proxy written as round 167's Spring MVC controllers are (the README's
 * filter in front of a {@code DispatcherServlet}), whose handler calls OpenAI with the SDK and returns the SDK's
 * {@code ChatCompletion} for Spring to write with Jackson. The SDK's model writes {@code usage} after
 * {@code choices}, as OpenAI's API reference ("The chat completion object") lists the fields and as the API sends
 * them: the answer's text comes first, its usage last.
 *
 * <p>The provider (outside the protected prefix) is OpenAI's Chat Completions endpoint, its answer "The chat
 * completion object" of the API reference: a story of about 40,000 characters (8,800 completion tokens) for a
 * 1,200-token prompt: 10,000 tokens billed per call.
 */
abstract class AbstractRound336 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    /** The provider's prompt and completion tokens per call. */
    static final long IN = 1_200;
    static final long OUT = 8_800;
    static final long CALL = IN + OUT;
    /** The story the model writes: about 40,000 characters (some 8,800 tokens of English prose). */
    static final String STORY = Prose.english(40_000);
    /** A short answer: the same call answered in one sentence (usage 1,200 + 8 tokens). */
    static final String SHORT = "The lighthouse keeper lit the lamp.";
    static final long SHORT_CALL = IN + 8;

    /** Per subject: the provider holds its first run until this is counted down. */
    static final Map<String, CountDownLatch> FIRST_RUN_GATE = new ConcurrentHashMap<>();
    /** Per subject: the provider's second run opens the first's gate (the SDK retried: its first attempt is gone). */
    static final Map<String, Boolean> RETRY_OPENS_GATE = new ConcurrentHashMap<>();
    /** Per subject: counted down once the provider's first run has started (the model is at work). */
    static final Map<String, CountDownLatch> FIRST_RUN_STARTED = new ConcurrentHashMap<>();
    /** Subjects whose model answers in one sentence. */
    static final Map<String, Boolean> SHORT_ANSWER = new ConcurrentHashMap<>();
    /** Per subject: the provider's runs, in order. */
    static final Map<String, AtomicInteger> RUNS = new ConcurrentHashMap<>();

    AbstractRound336() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter quota) {
        return Deployment.create()
                .filter("quota", quota, "/*")
                .servlet("provider", new Provider(), "/upstream/*")
                .servlet("spring", SpringMvc.dispatcher(Proxy.class), SpringMvc.MAPPING)
                .servlet("relay", new StreamRelay(), "/ai/relay/*")
                .onStartup(quota::registerByServletName);
    }

    /** The application's own OpenAI client (round 167's): its provider call, under the user's name for the mock's counts. */
    static OpenAIClient upstream(HttpServletRequest req, String user) {
        return OpenAIOkHttpClient.builder().apiKey("sk-app")
                .baseUrl("http://127.0.0.1:" + req.getLocalPort() + "/upstream/openai")
                .putHeader("x-subject", user).maxRetries(0).build();
    }

    /** The application: an OpenAI-compatible chat completions endpoint relaying to OpenAI with the SDK. */
    @RestController
    public static class Proxy {
        @PostMapping(path = "/v1/chat/completions", produces = MediaType.APPLICATION_JSON_VALUE)
        public ChatCompletion chat(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user,
                                   HttpServletRequest req) {
            OpenAIClient client = upstream(req, user);
            try {
                return client.chat().completions().create(ChatCompletionCreateParams.builder()
                        .model(String.valueOf(body.getOrDefault("model", "gpt-4o")))
                        .addSystemMessage("You are a storyteller.")
                        .addUserMessage("Write a long story about a lighthouse keeper.").build());
            } finally {
                client.close();
            }
        }
    }

    /** OpenAI's Chat Completions endpoint: counts each run under the application's {@code x-subject}. */
    static class Provider extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-subject");
            CALLS.count(s);
            int run = RUNS.computeIfAbsent(s, k -> new AtomicInteger()).incrementAndGet();
            CountDownLatch gate = FIRST_RUN_GATE.get(s);
            if (run == 1) {
                CountDownLatch started = FIRST_RUN_STARTED.get(s);
                if (started != null) started.countDown();
                if (gate != null) {
                    try {
                        gate.await(20, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            } else if (gate != null && RETRY_OPENS_GATE.containsKey(s)) {
                // the SDK's retry reached the model: its first attempt's client had gone, and that run goes on
                gate.countDown();
            }
            boolean shortAnswer = SHORT_ANSWER.containsKey(s);
            String text = shortAnswer ? SHORT : STORY;
            long out = shortAnswer ? SHORT_CALL - IN : OUT;
            String json = "{\"id\":\"chatcmpl-" + UUID.randomUUID().toString().replace("-", "") + "\","
                    + "\"object\":\"chat.completion\",\"created\":1750000000,\"model\":\"gpt-4o-2024-08-06\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + text + "\","
                    + "\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":" + IN + ",\"completion_tokens\":" + out + ",\"total_tokens\":"
                    + (IN + out) + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                    + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                    + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
                    + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_336\"}";
            resp.setContentType("application/json");
            resp.getOutputStream().write(json.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The user's client: the OpenAI SDK on the application's base URL, with the timeout and retries it chose. */
    OpenAIClient userClient(String s, Duration timeout, Integer maxRetries) {
        OpenAIOkHttpClient.Builder b = OpenAIOkHttpClient.builder().apiKey("sk-user")
                .baseUrl(container.uri("/ai/spring/v1").toString())
                .putHeader("x-user-id", s).timeout(timeout);
        if (maxRetries != null) {
            b.maxRetries(maxRetries);
        }
        return b.build();
    }

    static ChatCompletionCreateParams ask() {
        return ChatCompletionCreateParams.builder().model("gpt-4o")
                .addUserMessage("Write me a long story about a lighthouse keeper.").build();
    }

    /**
     * The user's SDK (timeout 1.5 s, no retries) gives up while the model is still writing; once it has, the
     * provider finishes the call and the application writes the answer to the connection the SDK closed.
     */
    void cutBySdkTimeout(String s) throws InterruptedException {
        CountDownLatch gate = new CountDownLatch(1);
        CountDownLatch started = new CountDownLatch(1);
        FIRST_RUN_GATE.put(s, gate);
        FIRST_RUN_STARTED.put(s, started);
        OpenAIClient client = userClient(s, Duration.ofMillis(1_500), 0);
        try {
            assertThrows(OpenAIIoException.class, () -> client.chat().completions().create(ask()),
                    "the SDK's own timeout cut the call");
        } finally {
            client.close();
            // the model was at work when the client left, and finishes now
            started.await(10, TimeUnit.SECONDS);
            gate.countDown();
        }
    }

    /** {@code s} made {@code runs} model calls, each billed {@code perRun}: it is charged that much. */
    void assertEachRunCharged(String s, int runs, long perRun, String what) throws InterruptedException {
        QuotaAccount a = chargedAtLeast(s, (long) runs * perRun);
        assertAll(() -> assertEquals(runs, CALLS.of(s), "model runs"),
                () -> assertEquals((long) runs * perRun, a.used(), kind() + ": " + what + ": " + runs
                        + " model call(s) ran to their end, each billed " + perRun + " tokens by the provider (usage "
                        + IN + " + " + (perRun - IN) + ", written by the application), charged " + a.used() + " of "
                        + a.limit() + ": " + ledger(s)));
    }

    // ------------------------------------------------------------------ findings

    /**
     * Finding: the user's SDK times out (its {@code timeout(Duration)}, 1.5 s) while the model writes a long story;
     * the application's SDK call finishes (10,000 tokens billed) and Spring writes the completion, usage last, to
     * the closed connection. The filter fails the endpoint's write once the container's buffer (Tomcat: 8 KB) met
     * the reset, so Jackson stops before {@code usage}; the call is charged its hold (the input and the default
     * 1,000-token budget), not even the story's text it saw. "usage seen → charge it (also after ... disconnect)":
     * the endpoint had it and was writing it.
     */
    @Test
    void aWholeAnswerWrittenAfterTheSdksTimeoutIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        cutBySdkTimeout(s);
        assertEachRunCharged(s, 1, CALL, "the SDK's timeout cut a non-streamed call its model finished");
    }

    /**
     * Finding: the same with the SDK's defaults (two retries): its first attempt times out, the SDK retries by
     * itself ({@code X-Stainless-Retry-Count: 1}) and reads the second run's answer. The first run finished too
     * (its answer written to a client that had gone): two model calls, 20,000 tokens billed; the retry's run is
     * charged its usage, the first run its 1,008-token hold.
     */
    @Test
    void anSdkRetryAfterItsTimeoutLeavesTheFirstRunChargedItsUsage() throws InterruptedException {
        String s = subject();
        FIRST_RUN_GATE.put(s, new CountDownLatch(1));
        RETRY_OPENS_GATE.put(s, true);
        OpenAIClient client = userClient(s, Duration.ofMillis(1_500), null);
        ChatCompletion answer;
        try {
            answer = client.chat().completions().create(ask());
        } finally {
            client.close();
            FIRST_RUN_GATE.get(s).countDown();
        }
        assertEquals(CALL, answer.usage().orElseThrow().totalTokens(), "the SDK read the retry's answer");
        assertEachRunCharged(s, 2, CALL, "the SDK's timeout and its own retry: both runs finished");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same call, the SDK waiting for the answer (its default timeout): charged its usage. */
    @Test
    void controlTheSameCallReadToItsEndIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        OpenAIClient client = userClient(s, Duration.ofSeconds(30), 0);
        try {
            assertEquals(CALL, client.chat().completions().create(ask()).usage().orElseThrow().totalTokens());
        } finally {
            client.close();
        }
        assertEachRunCharged(s, 1, CALL, "read to its end");
    }

    /** Control: the SDK's default retries, nothing to retry: one run, charged its usage. */
    @Test
    void controlTheSdksDefaultRetriesWithNothingToRetryChargeOneRun() throws InterruptedException {
        String s = subject();
        OpenAIClient client = userClient(s, Duration.ofSeconds(30), null);
        try {
            assertEquals(CALL, client.chat().completions().create(ask()).usage().orElseThrow().totalTokens());
        } finally {
            client.close();
        }
        assertEachRunCharged(s, 1, CALL, "the SDK's defaults, answered at once");
    }

    /**
     * Control: a short answer (one sentence) written after the SDK's timeout fits the container's buffer whole,
     * usage included: charged its usage, as the rule says, although the client had gone.
     */
    @Test
    void controlAShortAnswerWrittenAfterTheSdksTimeoutIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        SHORT_ANSWER.put(s, true);
        cutBySdkTimeout(s);
        assertEachRunCharged(s, 1, SHORT_CALL, "the SDK's timeout cut a call whose short answer came after");
    }

    // ------------------------------------------------------------------ reverse controls: a stream's write still fails

    /*
     * The fix lets a write fail silently only while the answer is one JSON document (the model finished before it
     * was written). A relay of a stream must still see its write fail once its client hung up, or it never cancels
     * its provider call: an event stream's (rounds 231, 328 and 331 assert that on both containers), and the JSON
     * streams below, which start like a document.
     */

    /** Per subject: whether the relay's write failed after its client hung up (it noticed, and cancels its provider call). */
    static final Map<String, Boolean> WRITE_FAILED = new ConcurrentHashMap<>();
    /** Per subject: counted down once the relay has returned. */
    static final Map<String, CountDownLatch> RELAY_DONE = new ConcurrentHashMap<>();
    static final HangUps HANG_UPS = new HangUps();
    /** What the client reads before it hangs up. */
    static final String MARK = "END-OF-TEXT";

    /**
     * A relay of a model's stream (the provider's call goes on while it writes): Ollama's {@code /api/chat} lines as
     * NDJSON ({@code /ndjson}), the same lines under {@code application/json} ({@code /lines}: a relay's label, the
     * first line, the story, written only after the hang-up), and Gemini's {@code streamGenerateContent} without
     * {@code alt=sse}, one JSON array written element by element ({@code /array}). After its client hung up it
     * writes on, flushing each piece, until a write fails; only if none did would it write the usage.
     */
    static class StreamRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            String kind = req.getPathInfo();
            try {
                boolean array = "/array".equals(kind);
                boolean lines = "/lines".equals(kind);
                resp.setContentType("/ndjson".equals(kind) ? "application/x-ndjson" : "application/json");
                OutputStream out = resp.getOutputStream();
                if (lines) {
                    // the headers alone go out before the hang-up
                    resp.flushBuffer();
                } else {
                    EventStreams.write(out, array ? "[" + gemini(MARK, false) : ollama(MARK, false) + "\n");
                }
                HANG_UPS.await(s);
                try {
                    if (lines) {
                        EventStreams.write(out, ollama(STORY, false) + "\n");
                    }
                    for (int i = 0; i < 2_000; i++) {
                        EventStreams.write(out, array ? "," + gemini(" word", false) : ollama(" word", false) + "\n");
                    }
                    EventStreams.write(out, array ? "," + gemini("", true) + "]" : ollama("", true) + "\n");
                    WRITE_FAILED.put(s, false);
                } catch (IOException e) {
                    // the client is gone: the relay stops, cancelling the provider's call
                    WRITE_FAILED.put(s, true);
                }
            } finally {
                RELAY_DONE.get(s).countDown();
            }
        }

        static String ollama(String text, boolean done) {
            return "{\"model\":\"llama3.2\",\"created_at\":\"2025-06-15T10:00:00Z\",\"message\":{\"role\":\"assistant\","
                    + "\"content\":\"" + text + "\"},\"done\":" + done
                    + (done ? ",\"done_reason\":\"stop\",\"prompt_eval_count\":" + IN + ",\"eval_count\":" + OUT : "") + "}";
        }

        static String gemini(String text, boolean done) {
            return "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + text + "\"}],\"role\":\"model\"}"
                    + (done ? ",\"finishReason\":\"STOP\"" : "") + "}],\"usageMetadata\":{\"promptTokenCount\":" + IN
                    + (done ? ",\"candidatesTokenCount\":" + OUT + ",\"totalTokenCount\":" + CALL : ",\"totalTokenCount\":" + IN)
                    + "},\"modelVersion\":\"gemini-2.0-flash\"}";
        }
    }

    /** The client of {@code s} reads the relay's {@code kind} until {@code until}, hangs up; the relay's write must fail. */
    void assertRelayNoticesTheHangUp(String kind, String until) throws Exception {
        String s = subject();
        CountDownLatch done = new CountDownLatch(1);
        RELAY_DONE.put(s, done);
        String read = HANG_UPS.postAndHangUpAfter(container.port(), "/ai/relay/" + kind, s,
                "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story.\"}]}", until);
        assertTrue(read.contains(until), read);
        assertTrue(done.await(30, TimeUnit.SECONDS), "the relay returned");
        assertEquals(Boolean.TRUE, WRITE_FAILED.get(s), kind() + ": " + kind + ": the relay's write failed after its"
                + " client hung up (it cancels its provider call), not its usage written to nobody");
    }

    /** Control: Ollama's NDJSON stream relayed, its client hung up: the relay's next writes fail. */
    @Test
    void controlAnNdjsonStreamWhoseClientHungUpStillFailsTheRelaysWrite() throws Exception {
        assertRelayNoticesTheHangUp("ndjson", MARK);
    }

    /**
     * Control: JSON lines under {@code application/json} whose first line (the story, longer than the container's
     * buffer) is written after the hang-up: one document so far, its write dropped; the second line makes it a
     * stream, and that write fails.
     */
    @Test
    void controlJsonLinesUnderAJsonLabelFailTheRelaysWriteAtTheirSecondLine() throws Exception {
        assertRelayNoticesTheHangUp("lines", " 200 ");
    }

    /** Control: Gemini's stream as one JSON array (no {@code alt=sse}), its client hung up: the relay's next writes fail. */
    @Test
    void controlAJsonArrayStreamWhoseClientHungUpStillFailsTheRelaysWrite() throws Exception {
        assertRelayNoticesTheHangUp("array", MARK);
    }
}
