package io.tokenquota.servlet.breakit19;

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
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 19 (adv11 issue: "no model call goes unpaid, nothing that never reached a model is charged").
 */
abstract class AbstractRound19 extends H2FilterRound {
    static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> HUNG_UP = new ConcurrentHashMap<>();
    static final Map<String, Boolean> WRITE_FAILED = new ConcurrentHashMap<>();

    static int calls(String subject) {
        AtomicInteger n = CALLS.get(subject);
        return n == null ? 0 : n.get();
    }

    static void called(HttpServletRequest req) {
        CALLS.computeIfAbsent(String.valueOf(req.getHeader("x-user-id")), k -> new AtomicInteger()).incrementAndGet();
    }

    /** Output tokens of the answer the Anthropic mock streams: 500 deltas of 10 one-token words. */
    static final int OUTPUT_TOKENS = 5_000;

    static String event(String name, String data) {
        return "event: " + name + "\ndata: " + data + "\n\n";
    }

    /** The start of an Anthropic Messages stream and 5,000 output tokens of its text, each event flushed. */
    static void writeText(OutputStream out) throws IOException {
        out.write(event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_19\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,"
                + "\"cache_read_input_tokens\":0,\"output_tokens\":1}}}").getBytes(StandardCharsets.UTF_8));
        out.write(event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
                + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}").getBytes(StandardCharsets.UTF_8));
        out.flush();
        for (int i = 0; i < OUTPUT_TOKENS / 10; i++) {
            writeDelta(out);
        }
    }

    static void writeDelta(OutputStream out) throws IOException {
        out.write(event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
                + "\"delta\":{\"type\":\"text_delta\",\"text\":\" word word word word word word word word word word\"}}")
                .getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** An Anthropic Messages stream up to (and including) content_block_stop: the whole answer text. */
    static void writeAnswer(OutputStream out) throws IOException {
        writeText(out);
        out.write(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}")
                .getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** The end of the Anthropic stream: the final usage (message_delta) and message_stop. */
    static void writeEnd(OutputStream out) throws IOException {
        out.write(event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + OUTPUT_TOKENS + "}}")
                .getBytes(StandardCharsets.UTF_8));
        out.flush();
        out.write(event("message_stop", "{\"type\":\"message_stop\"}").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /**
     * A relay of Anthropic's Messages API (stream: true): every event is passed on as it comes. The
     * model's final message_delta arrives after the client already hung up; writing it fails and the
     * relay stops (it cancels its upstream call), as any proxy does.
     */
    public static class AnthropicRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            called(req);
            String subject = req.getHeader("x-user-id");
            resp.setStatus(200);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            writeText(out);
            out.write(": 5000 tokens sent\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            CountDownLatch hungUp = HUNG_UP.get(subject);
            if (hungUp != null) {
                try {
                    hungUp.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try {
                // the model goes on writing; each event is flushed to the client as it comes
                for (int i = 0; i < 2_000; i++) {
                    writeDelta(out);
                }
                out.write(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}")
                        .getBytes(StandardCharsets.UTF_8));
                writeEnd(out);
                WRITE_FAILED.put(subject, false);
            } catch (IOException e) {
                // the client is gone: the relay cancels its upstream call and stops
                WRITE_FAILED.put(subject, true);
            }
        }
    }

    /**
     * An async SSE endpoint (a Spring SseEmitter with a timeout) relaying an Anthropic stream from a
     * worker thread: the whole answer text is sent, then the container's timeout fires before the model's
     * final message_delta came; the emitter completes on timeout, as SseEmitter does.
     */
    public static class AsyncAnthropicRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            called(req);
            resp.setStatus(200);
            resp.setContentType("text/event-stream");
            // the whole answer up to content_block_stop is sent before the async timer starts, so the
            // timeout fires after it however slow the machine is; message_delta never comes
            writeAnswer(resp.getOutputStream());
            AsyncTimeouts.completeOnTimeout(req.startAsync(), 200);
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter forwarded = filterFor("/fwd/").build();
        return Deployment.create().forwardedHeaders("/fwd/")
                .filter("quota", filter, "/ai/*")
                .filter("fwd", forwarded, "/fwd/*")
                .servlet("echo", new Echo(), "/fwd/*")
                .servlet("spring", dispatcher(), "/ai/spring/*")
                .servlet("relay", new AnthropicRelay(), "/ai/v1/messages")
                .servlet("async-relay", new AsyncAnthropicRelay(), "/ai/v1/async/messages");
    }

    /** A model endpoint: charged its usage. */
    public static class Echo extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            called(req);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"remote\":\"" + req.getRemoteAddr() + "\",\"usage\":{\"total_tokens\":700}}");
        }
    }

    /** A Spring MVC chat endpoint that declares what it produces (JSON), as most REST endpoints do. */
    @org.springframework.web.bind.annotation.RestController
    public static class ChatController {
        @org.springframework.web.bind.annotation.PostMapping(value = "/chat", produces = "application/json")
        public Map<String, Object> chat(@org.springframework.web.bind.annotation.RequestBody Map<String, Object> body,
                                        HttpServletRequest req) {
            called(req);
            return Map.of("id", "chatcmpl-19", "object", "chat.completion", "choices", java.util.List.of(),
                    "usage", Map.of("prompt_tokens", 20, "completion_tokens", 300, "total_tokens", 320));
        }
    }

    @org.springframework.context.annotation.Configuration
    @org.springframework.web.servlet.config.annotation.EnableWebMvc
    static class WebConfig {
        @org.springframework.context.annotation.Bean
        ChatController chatController() {
            return new ChatController();
        }
    }

    static org.springframework.web.servlet.DispatcherServlet dispatcher() {
        org.springframework.web.context.support.AnnotationConfigWebApplicationContext context =
                new org.springframework.web.context.support.AnnotationConfigWebApplicationContext();
        context.register(WebConfig.class);
        return new org.springframework.web.servlet.DispatcherServlet(context);
    }

    static String subject() {
        return "u19-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String MESSAGES = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":8000,\"stream\":true,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story about a lighthouse keeper.\"}]}";

    // ------------------------------------------------------------ 1. Anthropic stream, hang-up before message_delta

    /**
     * The client reads 5,000 output tokens of an Anthropic stream and hangs up; the relay's next flush
     * fails and it stops (cancelling its upstream call), so no message_delta ever comes. The only usage
     * the filter saw is message_start's (input 25, output 1), so the call is charged 26: the output is free. The same call
     * without any usage seen is charged its estimate (8,000+), as is an OpenAI stream cut before its usage.
     */
    @Test
    void anthropicStreamHungUpBeforeMessageDeltaIsNotChargedOnlyItsInput() throws Exception {
        String s = subject();
        CountDownLatch hungUp = new CountDownLatch(1);
        HUNG_UP.put(s, hungUp);
        byte[] body = MESSAGES.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket("127.0.0.1", container.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /ai/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            readUntil(socket.getInputStream(), ": 5000 tokens sent");
            // the client has read 5,000 tokens of the answer: it hangs up (RST)
            socket.setSoLinger(true, 0);
        } finally {
            hungUp.countDown();
        }
        QuotaAccount a = settled(s);
        assertEquals(1, calls(s));
        assertEquals(Boolean.TRUE, WRITE_FAILED.get(s), "the relay noticed the hang-up");
        assertTrue(a.used() >= OUTPUT_TOKENS, "the client read " + OUTPUT_TOKENS
                + " output tokens (max_tokens 8,000) before hanging up and was charged " + a.used() + "; ledger: " + ledger(s));
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
        throw new AssertionError("the stream ended before " + marker + ": " + seen);
    }

    // ------------------------------------------------------------ 2. Anthropic stream, async timeout before message_delta

    /**
     * An SseEmitter-style endpoint (timeout 500 ms) sends the whole answer of an Anthropic stream (5,000
     * output tokens); the timeout fires before the model's final message_delta. Charged: message_start's
     * usage (26). An OpenAI stream in the same spot (no usage seen) is charged its estimate.
     */
    @Test
    void anthropicAsyncStreamTimedOutBeforeMessageDeltaIsNotChargedOnlyItsInput() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/v1/async/messages"), MESSAGES,
                "x-user-id", s, "Content-Type", "application/json");
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("content_block_stop"), "the client got the whole answer");
        QuotaAccount a = settled(s);
        assertEquals(1, calls(s));
        assertTrue(a.used() >= OUTPUT_TOKENS, "the client received the whole answer (" + OUTPUT_TOKENS
                + " output tokens, max_tokens 8,000) and was charged " + a.used() + "; ledger: " + ledger(s));
    }

    // ------------------------------------------------------------ 3. forwarded headers

    String rawFrom(String localAddress, String path, String... headerLines) throws IOException {
        return TestHttp.rawPostFrom(localAddress, container.port(), path, headerLines);
    }

    // ------------------------------------------------------------ 4. a 406 before the handler ran

    /**
     * {@code @PostMapping(produces = "application/json")}: a client that sends {@code Accept: text/csv}
     * gets 406 from Spring's handler mapping; the controller never runs, the model is never called. The
     * filter charges every 406 without usage its estimate: 8,000+ tokens for a call that never reached a model.
     */
    @Test
    void springNotAcceptableBeforeTheHandlerRanIsNotCharged() {
        String body = "{\"model\":\"gpt-4o\",\"max_tokens\":8000,\"messages\":[{\"role\":\"user\","
                + "\"content\":\"Write a long story about a lighthouse.\"}]}";
        String control = subject();
        HttpResponse<String> ok = TestHttp.post(container.uri("/ai/spring/chat"), body,
                "x-user-id", control, "Content-Type", "application/json");
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals(320, settled(control).used(), "control: the usage is charged (" + ledger(control) + ")");

        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/spring/chat"), body,
                "x-user-id", s, "Content-Type", "application/json", "Accept", "text/csv");
        QuotaAccount a = settled(s);
        assertEquals(406, r.statusCode(), r.body());
        assertEquals(0, calls(s), "the controller never ran");
        assertEquals(0, a.used(), "nothing reached a model, yet the 406 was charged " + a.used() + " (" + ledger(s) + ")");
    }
}
