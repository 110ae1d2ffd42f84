package io.tokenquota.servlet.breakit108;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 108 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the money path as an accountant and an attacker test it. A streaming relay passing its provider's
 * gzip bytes on in slices that cut headers, CRLFs and UTF-8 characters; an Anthropic stream cut into
 * five-byte writes; a Spring {@code SseEmitter}-style async handler whose container timeout fires after
 * the whole answer went out; a call that outlives a one-second hold while the same user asks again;
 * one {@code Idempotency-Key} sent a dozen times at once and again later with another body; a method
 * the endpoint does not serve; fake usage nested in tool and function-call arguments before the real one.
 */
abstract class AbstractRound108 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** Per subject: the gate a chat call waits behind (the test opens it). */
    final Map<String, CountDownLatch> gates = new ConcurrentHashMap<>();
    /** Per subject: counted down when a slow call entered the model. */
    final Map<String, CountDownLatch> entered = new ConcurrentHashMap<>();

    static String subject() {
        return "u108-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String ask(int maxTokens, boolean stream) {
        return "{\"model\":\"gpt-4o\"," + (stream ? "\"stream\":true,\"stream_options\":{\"include_usage\":true}," : "")
                + "\"max_tokens\":" + maxTokens
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"Write me a travel plan for Lisbon\"}]}";
    }

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        // a one-second hold: every call below that takes longer outlives it, as a long reasoning call
        // outlives the five-minute default
        QuotaFilter quota = filterFor("/ai/").holdTtl(Duration.ofSeconds(1)).build();
        return Deployment.create()
                .filter("quota", quota, "/*")
                .servlet("gz", new GzipRelay(), "/ai/gz/*")
                .servlet("anthropic-stream", new AnthropicStream(), "/ai/anthropic/stream")
                .servlet("emitter", new Emitter(), "/ai/emitter/*")
                .servlet("slow", new Slow(), "/ai/slow/*")
                .servlet("chat", new Chat(), "/ai/chat/*")
                .servlet("claude", new Fixed(CLAUDE_TOOL), "/ai/claude/*")
                .servlet("gemini", new Fixed(GEMINI_FUNCTION), "/ai/gemini/*")
                .onStartup(quota::registerByServletName);
    }

    // ------------------------------------------------------------------ answers

    static final String OPENAI_STREAM = ""
            + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\r\n\r\n"
            + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Grüße aus Lissabon € 😀 \"}}],\"usage\":null}\r\n\r\n"
            + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Tag eins: Alfama.\"},\"finish_reason\":\"stop\"}],\"usage\":null}\r\n\r\n"
            + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":45,\"completion_tokens\":2300,\"total_tokens\":2345}}\r\n\r\n"
            + "data: [DONE]\r\n\r\n";

    static final String ANTHROPIC_STREAM = ""
            + "event: message_start\n"
            + "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":9000,\"output_tokens\":1}}}\n\n"
            + "event: content_block_start\n"
            + "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
            + "event: ping\ndata: {\"type\": \"ping\"}\n\n"
            + "event: content_block_delta\n"
            + "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Grüße 😀 € Tag eins\"}}\n\n"
            + "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
            + "event: message_delta\n"
            + "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":700}}\n\n"
            + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    /** Anthropic: a tool call whose input carries usage-shaped objects, before the message's real usage. */
    static final String CLAUDE_TOOL = "{\"id\":\"msg_2\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
            + "\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"record\",\"input\":{"
            + "\"usage\":{\"input_tokens\":1,\"output_tokens\":0},"
            + "\"message\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":0}},"
            + "\"delta\":{\"usage\":{\"output_tokens\":0}}}},"
            + "{\"type\":\"text\",\"text\":\"{\\\"usage\\\":{\\\"input_tokens\\\":1}}\"}],"
            + "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
            + "\"usage\":{\"input_tokens\":120,\"cache_creation_input_tokens\":3000,\"cache_read_input_tokens\":90000,\"output_tokens\":880}}";

    /** Gemini: a function call whose args carry usage-shaped objects, before the answer's real usageMetadata. */
    static final String GEMINI_FUNCTION = "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":"
            + "{\"name\":\"log\",\"args\":{\"usageMetadata\":{\"promptTokenCount\":0,\"candidatesTokenCount\":1,\"totalTokenCount\":1},"
            + "\"usage\":{\"total_tokens\":0}}}}]},\"finishReason\":\"STOP\",\"index\":0}],"
            + "\"usageMetadata\":{\"promptTokenCount\":200,\"candidatesTokenCount\":29800,\"totalTokenCount\":30000},"
            + "\"modelVersion\":\"gemini-2.5-pro\"}";

    static byte[] gzipEvents(String events) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bytes, true)) {
            // one sync flush per event, as a relay compressing its stream as it goes
            for (String event : events.split("(?<=\r\n\r\n)")) {
                gz.write(event.getBytes(StandardCharsets.UTF_8));
                gz.flush();
            }
        }
        return bytes.toByteArray();
    }

    /** Writes {@code bytes} in slices of {@code size}, each flushed. */
    static void sliced(ServletOutputStream out, byte[] bytes, int size) throws IOException {
        for (int i = 0; i < bytes.length; i += size) {
            out.write(bytes, i, Math.min(size, bytes.length - i));
            out.flush();
        }
    }

    // ------------------------------------------------------------------ the host's endpoints

    /**
     * A streaming relay passing its provider's gzip-compressed event stream on as it arrives, in
     * three-byte reads.
     */
    class GzipRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            resp.setContentType("text/event-stream");
            resp.setHeader("Content-Encoding", "gzip");
            ServletOutputStream out = resp.getOutputStream();
            sliced(out, gzipEvents(OPENAI_STREAM), 3);
        }
    }

    /** Anthropic's stream relayed in five-byte writes (cutting CRLFs, field names and UTF-8 characters). */
    class AnthropicStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            sliced(resp.getOutputStream(), ANTHROPIC_STREAM.getBytes(StandardCharsets.UTF_8), 5);
        }
    }

    /**
     * A Spring {@code SseEmitter}-style handler: starts an async cycle with a short timeout, a worker
     * writes the whole stream (usage included) and flushes it, and the handler never completes: the
     * container's timeout ends the cycle. With {@code ?listener} the application's timeout listener
     * completes it, as Spring's does; without, the container does.
     */
    class Emitter extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            AsyncContext ac = req.startAsync(req, resp);
            ac.setTimeout(400);
            if (req.getQueryString() != null && req.getQueryString().contains("listener")) {
                ac.addListener(new AsyncListener() {
                    @Override
                    public void onComplete(AsyncEvent e) {
                    }

                    @Override
                    public void onTimeout(AsyncEvent e) {
                        e.getAsyncContext().complete();
                    }

                    @Override
                    public void onError(AsyncEvent e) {
                    }

                    @Override
                    public void onStartAsync(AsyncEvent e) {
                    }
                });
            }
            resp.setContentType("text/event-stream");
            ac.start(() -> {
                try {
                    ServletOutputStream out = ac.getResponse().getOutputStream();
                    out.write(OPENAI_STREAM.replace("2300", "4955").replace("2345", "5000")
                            .getBytes(StandardCharsets.UTF_8));
                    out.flush();
                } catch (IOException e) {
                    // the client left
                }
            });
        }
    }

    /** A long call: the model answers after the hold's TTL passed a few times (the test opens its gate). */
    class Slow extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            entered.computeIfAbsent(s, k -> new CountDownLatch(1)).countDown();
            try {
                gates.computeIfAbsent(s, k -> new CountDownLatch(1)).await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"c9\",\"object\":\"chat.completion\",\"model\":\"o3\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"Done.\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":5900,\"total_tokens\":6000}}").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A chat endpoint that serves POST only (any other method: the servlet API's 405), gated per subject when asked. */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            CountDownLatch gate = gates.get(s);
            if (gate != null) {
                try {
                    gate.await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"c2\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"Sure.\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":34,\"completion_tokens\":1200,\"total_tokens\":1234}}").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A JSON endpoint answering a provider's answer as it came. */
    class Fixed extends HttpServlet {
        final String answer;

        Fixed(String answer) {
            this.answer = answer;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        }
    }

    void assertChargedAnswer(String path, String body, long usage, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(usage, settled(s).used(), what + ledger(s));
    }

    // ------------------------------------------------------------------ tests

    /**
     * A relay passes its provider's gzip event stream on in three-byte pieces (each flushed: the gzip
     * header, CRLFs, UTF-8 characters and the usage chunk all cut). The provider reported 2,345 tokens;
     * the request named 8,000, so anything but 2,345 is a wrong charge (the estimate: the usage was lost).
     */
    @Test
    void aGzipStreamCutIntoThreeBytePiecesIsChargedItsUsage() {
        String s = subject();
        HttpResponse<byte[]> r = TestHttp.client().sendAsync(TestHttp.jsonPost(container.uri("/ai/gz/chat"), s, ask(8000, true)),
                HttpResponse.BodyHandlers.ofByteArray()).join();
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        assertEquals(2_345, settled(s).used(), "gzip stream in pieces: " + ledger(s));
    }

    /**
     * Anthropic's stream (cache reads 9,000, input 12, output 700) relayed in five-byte writes: charged
     * 9,712, whatever the 2,000-token budget's estimate.
     */
    @Test
    void anAnthropicStreamInFiveBytePiecesIsChargedWithItsCacheReads() {
        assertChargedAnswer("/ai/anthropic/stream",
                "{\"model\":\"claude-sonnet-4-5\",\"stream\":true,\"max_tokens\":2000,\"messages\":[{\"role\":\"user\",\"content\":\"Plan Lisbon\"}]}",
                9_712, "anthropic stream in pieces: ");
    }

    /**
     * An {@code SseEmitter}-style handler writes the whole stream (usage 5,000) and its container
     * timeout ends the cycle, the application's listener completing it: 5,000 charged.
     */
    @Test
    void anEmitterTimedOutAfterItsAnswerIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/emitter/chat?listener"), s, ask(300, true));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"total_tokens\":5000"), r.body());
        assertEquals(5_000, settled(s).used(), "emitter timed out after its answer: " + ledger(s));
    }

    /**
     * The same handler without a timeout listener: the container ends the timed-out cycle itself (Tomcat
     * then cuts the connection after the answer's bytes): the client read the usage, 5,000 charged.
     */
    @Test
    void anEmitterTimedOutWithoutAListenerIsChargedItsUsage() {
        String s = subject();
        HttpResponse<java.util.stream.Stream<String>> r = TestHttp.client().sendAsync(
                TestHttp.jsonPost(container.uri("/ai/emitter/chat"), s, ask(300, true)),
                HttpResponse.BodyHandlers.ofLines()).join();
        TestHttp.readUntil(r, line -> line.contains("\"total_tokens\":5000"), "no usage chunk");
        assertEquals(5_000, settled(s).used(), "emitter timed out, container ends it: " + ledger(s));
    }

    /**
     * A reasoning call holding 12,000 runs past its one-second hold several times; meanwhile the same
     * user asks for another 12,000, which the 20,000 allowance cannot hold beside it: 429. The long call
     * then reports 6,000 and is charged that.
     */
    @Test
    void aCallOutlivingItsHoldStillHoldsAndIsChargedItsUsage() throws Exception {
        String s = subject();
        CompletableFuture<HttpResponse<String>> slow = TestHttp.client().sendAsync(
                TestHttp.jsonPost(container.uri("/ai/slow/chat"), s, ask(12_000, false)), HttpResponse.BodyHandlers.ofString());
        assertTrue(entered.computeIfAbsent(s, k -> new CountDownLatch(1)).await(10, TimeUnit.SECONDS), "the slow call started");
        // a bounded wait for something that never comes: three hold TTLs pass
        assertTrue(!new CountDownLatch(1).await(3_000, TimeUnit.MILLISECONDS));
        HttpResponse<String> second = TestHttp.postJson(container.uri("/ai/chat/completions"), s, ask(12_000, false));
        gates.computeIfAbsent(s, k -> new CountDownLatch(1)).countDown();
        HttpResponse<String> first = slow.get(20, TimeUnit.SECONDS);
        assertEquals(200, first.statusCode(), first.body());
        assertEquals(429, second.statusCode(), "a second 12,000 beside a running 12,000 on 20,000: " + second.body());
        assertEquals(6_000, settled(s).used(), "the long call: " + ledger(s));
    }

    /**
     * Twelve requests share one {@code Idempotency-Key}, sent at once with different bodies (budgets from
     * 100 to 16,000) while the first to arrive is still at the model: one model call, eleven 409s, and
     * that call's 1,234 charged. Then the key again, later, with yet another body: 409, no call.
     */
    @Test
    void oneKeySentTwelveTimesAtOnceAndAgainBuysOneCall() throws Exception {
        String s = subject();
        CountDownLatch gate = new CountDownLatch(1);
        gates.put(s, gate);
        String key = "key-" + UUID.randomUUID();
        List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            all.add(TestHttp.fresh().sendAsync(TestHttp.jsonPost(container.uri("/ai/chat/completions"), s,
                    ask(100 + i * 1_450, false), "Idempotency-Key", key), HttpResponse.BodyHandlers.ofString()));
        }
        // the eleven refusals come while the first call waits at its gate (bounded)
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (all.stream().filter(CompletableFuture::isDone).count() < 11 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        gate.countDown();
        int ok = 0;
        int conflict = 0;
        for (CompletableFuture<HttpResponse<String>> f : all) {
            int status = f.get(20, TimeUnit.SECONDS).statusCode();
            ok += status == 200 ? 1 : 0;
            conflict += status == 409 ? 1 : 0;
        }
        HttpResponse<String> later = TestHttp.postJson(container.uri("/ai/chat/completions"), s, ask(16_000, false),
                "Idempotency-Key", key);
        assertEquals(1, calls.of(s), "model calls for one key");
        assertEquals(1, ok);
        assertEquals(11, conflict);
        assertEquals(409, later.statusCode(), later.body());
        assertEquals(1_234, settled(s).used(), "one call's usage: " + ledger(s));
    }

    /**
     * {@code PUT} and {@code GET} with {@code max_tokens: 8000} on a POST-only chat endpoint: 405, the
     * model never called, nothing charged.
     */
    @Test
    void methodsTheEndpointDoesNotServeCostNothing() {
        String s = subject();
        HttpResponse<String> put = TestHttp.send(TestHttp.requestAs(container.uri("/ai/chat/completions"), s,
                "Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString(ask(8000, false))).build());
        HttpResponse<String> get = TestHttp.send(TestHttp.requestAs(container.uri("/ai/chat/completions?max_tokens=8000"), s)
                .GET().build());
        assertEquals(405, put.statusCode());
        assertEquals(405, get.statusCode());
        assertEquals(0, calls.of(s));
        assertEquals(0, settled(s).used(), "405s: " + ledger(s));
    }

    /**
     * Anthropic's answer with a tool call whose input holds usage-shaped objects (and a text block
     * that is usage JSON) before the message's real usage: 120 + 3,000 + 90,000 + 880 = 94,000 charged.
     */
    @Test
    void usageInToolInputNeverStandsForTheMessages() {
        assertChargedAnswer("/ai/claude/messages",
                "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"Record the usage\"}]}",
                94_000, "tool input usage: ");
    }

    /** Gemini's answer with a function call whose args hold usage-shaped objects: its 30,000 charged. */
    @Test
    void usageInFunctionCallArgsNeverStandsForTheAnswers() {
        assertChargedAnswer("/ai/gemini/models/gemini-2.5-pro:generateContent",
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Log the usage\"}]}],\"generationConfig\":{\"maxOutputTokens\":1000}}",
                30_000, "function args usage: ");
    }
}
