package io.tokenquota.servlet;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A stand-in for AI endpoints behind the filter, one behaviour per path. Tests coordinate with the
 * streaming behaviours through latches keyed by the {@code X-Test-Id} request header.
 */
final class FakeModelServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    static final String OPENAI_BODY = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"Hello there, \\\"usage\\\": {\\\"total_tokens\\\": 999}\"}}],"
            + "\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":31,\"total_tokens\":42,"
            + "\"prompt_tokens_details\":{\"cached_tokens\":5}}}";

    /** Test id -> latch the client counts down once it has read the first streamed event. */
    static final Map<String, CountDownLatch> FIRST_EVENT_READ = new ConcurrentHashMap<>();
    /** Test id -> latch counted down by the servlet when it saw the client disconnect. */
    static final Map<String, CountDownLatch> DISCONNECT_SEEN = new ConcurrentHashMap<>();
    /** Test id -> latch the {@code /gated} model call waits for before it answers. */
    static final Map<String, CountDownLatch> GATE = new ConcurrentHashMap<>();
    /** Test id -> latch counted down when a {@code /gated} model call has started. */
    static final Map<String, CountDownLatch> STARTED = new ConcurrentHashMap<>();
    /** Test id -> how many model calls {@code /gated} made. */
    static final Map<String, java.util.concurrent.atomic.AtomicInteger> CALLS = new ConcurrentHashMap<>();

    /** An Anthropic message whose tool input holds a fake usage object; the real usage costs 124. */
    static final String ANTHROPIC_TOOL_BODY = "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
            + "\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"report\","
            + "\"input\":{\"usage\":{\"total_tokens\":1},\"usageMetadata\":{\"totalTokenCount\":0}}}],"
            + "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":100,\"output_tokens\":24}}";
    /** 12 input + 1,000 written to and 90,000 read from the cache + 300 output = 91,312. */
    static final String ANTHROPIC_CACHE_BODY = "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],"
            + "\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":1000,\"cache_read_input_tokens\":90000,"
            + "\"output_tokens\":300}}";
    /** A Gemini answer whose function call arguments hold a fake usageMetadata; the real one costs 57. */
    static final String GEMINI_TOOL_BODY = "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":"
            + "{\"name\":\"f\",\"args\":{\"usageMetadata\":{\"totalTokenCount\":0},\"usage\":{\"total_tokens\":0}}}}]}}],"
            + "\"usageMetadata\":{\"promptTokenCount\":50,\"candidatesTokenCount\":7,\"totalTokenCount\":57}}";
    /** An Anthropic stream: 30 input + 10 cache read at the start, 15 output at the end = 55. */
    static final String ANTHROPIC_STREAM = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\","
            + "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"usage\":{\"input_tokens\":30,"
            + "\"cache_read_input_tokens\":10,\"output_tokens\":1}}}\n\n"
            + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
            + "{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"f\",\"input\":{}}}\n\n"
            + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
            + "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"usage\\\":{\\\"output_tokens\\\":1}}\"}}\n\n"
            + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
            + "\"usage\":{\"output_tokens\":15}}\n\n"
            + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    /** Bytes of the base64 image in {@code /image}: past jackson's default string limits. */
    static final int IMAGE_BYTES = 9_000_000;

    private final transient ExecutorService async = Executors.newCachedThreadPool();

    @Override
    public void destroy() {
        async.shutdownNow();
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException, IOException {
        String info = req.getPathInfo() == null ? "/" : req.getPathInfo();
        // the behaviour is the last path segment, so any mount (/ai/x, /seg/ai/x) reaches it
        String path = info.substring(info.lastIndexOf('/'));
        switch (path) {
            case "/echo" -> echo(req, resp);
            case "/form" -> text(resp, "prompt=" + req.getParameter("prompt") + ";n="
                    + String.join(",", req.getParameterValues("n")) + ";x=" + req.getParameter("x"));
            case "/openai" -> openai(req, resp);
            case "/openai-split" -> json(resp, "{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6}}");
            case "/anthropic" -> {
                drain(req);
                resp.setContentType("application/json");
                resp.getWriter().write("{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],"
                        + "\"usage\":{\"input_tokens\":20,\"output_tokens\":22}}");
            }
            case "/header" -> {
                drain(req);
                resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, "77");
                text(resp, "charged by header");
            }
            case "/attribute" -> {
                drain(req);
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 88L);
                json(resp, "{\"usage\":{\"total_tokens\":5}}");
            }
            case "/plain" -> {
                drain(req);
                text(resp, "no usage here");
            }
            case "/fail" -> {
                drain(req);
                resp.sendError(502, "upstream model failed");
            }
            case "/throw" -> {
                drain(req);
                throw new ServletException("model client blew up");
            }
            case "/sse" -> sse(req, resp);
            case "/status" -> {
                // an endpoint that refuses the call before any model runs (validation, 405, an upstream 429)
                drain(req);
                resp.setStatus(Integer.parseInt(req.getParameter("code")));
                resp.setContentType("application/json");
                resp.getOutputStream().write("{\"error\":{\"message\":\"refused\"}}".getBytes(StandardCharsets.UTF_8));
            }
            case "/anthropic-tool" -> {
                drain(req);
                json(resp, ANTHROPIC_TOOL_BODY);
            }
            case "/anthropic-cache" -> {
                drain(req);
                json(resp, ANTHROPIC_CACHE_BODY);
            }
            case "/gemini-tool" -> {
                drain(req);
                json(resp, GEMINI_TOOL_BODY);
            }
            case "/anthropic-stream" -> {
                drain(req);
                resp.setContentType("text/event-stream");
                resp.getOutputStream().write(ANTHROPIC_STREAM.getBytes(StandardCharsets.UTF_8));
            }
            case "/image" -> image(req, resp);
            case "/gated" -> gated(req, resp);
            case "/async-timeout" -> asyncTimeout(req, resp);
            case "/async" -> asyncJson(req, resp);
            case "/async-disconnect" -> asyncDisconnect(req, resp);
            default -> resp.sendError(404);
        }
    }

    /** An image generation answer: one huge base64 string, written in pieces, then the usage. */
    private static void image(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        drain(req);
        resp.setContentType("application/json");
        ServletOutputStream out = resp.getOutputStream();
        out.write("{\"created\":1,\"data\":[{\"b64_json\":\"".getBytes(StandardCharsets.US_ASCII));
        byte[] piece = "QUJD".repeat(4096).getBytes(StandardCharsets.US_ASCII);
        for (int written = 0; written < IMAGE_BYTES; written += piece.length) {
            out.write(piece);
        }
        out.write("\"}],\"usage\":{\"input_tokens\":50,\"output_tokens\":4000,\"total_tokens\":4050}}"
                .getBytes(StandardCharsets.US_ASCII));
    }

    /** A model call the test holds open: counts itself, then waits for the test's gate. */
    private static void gated(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        drain(req);
        String id = req.getHeader("X-Test-Id");
        CALLS.computeIfAbsent(id, k -> new java.util.concurrent.atomic.AtomicInteger()).incrementAndGet();
        STARTED.computeIfAbsent(id, k -> new CountDownLatch(1)).countDown();
        try {
            if (!GATE.computeIfAbsent(id, k -> new CountDownLatch(1)).await(30, TimeUnit.SECONDS)) {
                resp.sendError(504, "gate never opened");
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        json(resp, OPENAI_BODY);
    }

    /**
     * A streaming handler (Spring's SseEmitter style) that writes the whole answer, usage included,
     * and never completes: the container's async timeout (1 s) ends the cycle.
     */
    private void asyncTimeout(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        drain(req);
        AsyncContext ctx = req.startAsync(req, resp);
        ctx.setTimeout(1_000);
        async.execute(() -> {
            try {
                resp.setContentType("text/event-stream");
                ServletOutputStream out = resp.getOutputStream();
                out.write(("data: {\"choices\":[{\"delta\":{\"content\":\"" + "word ".repeat(1000) + "\"}}]}\n\n"
                        + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4988,\"total_tokens\":5000}}\n\n"
                        + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                // the test sees the missing charge
            }
        });
    }

    private static void drain(HttpServletRequest req) throws IOException {
        try (InputStream in = req.getInputStream()) {
            in.transferTo(OutputStreamSink.INSTANCE);
        }
    }

    /** Returns the body exactly as received, read through the reader or the stream (?via=reader). */
    private static void echo(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/plain;charset=UTF-8");
        if ("reader".equals(req.getParameter("via"))) {
            StringWriter w = new StringWriter();
            try (Reader r = req.getReader()) {
                r.transferTo(w);
            }
            resp.getOutputStream().write(w.toString().getBytes(StandardCharsets.UTF_8));
        } else {
            byte[] body = req.getInputStream().readAllBytes();
            resp.getOutputStream().write(body);
        }
    }

    /** OpenAI-shaped JSON written in 7-byte pieces, so the usage object is split across writes. */
    private static void openai(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        drain(req);
        resp.setContentType("application/json");
        byte[] body = OPENAI_BODY.getBytes(StandardCharsets.UTF_8);
        ServletOutputStream out = resp.getOutputStream();
        for (int i = 0; i < body.length; i += 7) {
            out.write(body, i, Math.min(7, body.length - i));
        }
    }

    private static void json(HttpServletResponse resp, String body) throws IOException {
        resp.setContentType("application/json");
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }

    private static void text(HttpServletResponse resp, String body) throws IOException {
        resp.setContentType("text/plain;charset=UTF-8");
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * An OpenAI-style stream: the first event is flushed, then the servlet waits until the client has
     * read it, so the test proves the filter passes streamed bytes through before the end.
     */
    private static void sse(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        drain(req);
        CountDownLatch read = FIRST_EVENT_READ.computeIfAbsent(req.getHeader("X-Test-Id"), k -> new CountDownLatch(1));
        resp.setContentType("text/event-stream");
        ServletOutputStream out = resp.getOutputStream();
        out.write("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}\n\n".getBytes(StandardCharsets.UTF_8));
        out.flush();
        boolean clientSawFirst;
        try {
            clientSawFirst = read.await(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            clientSawFirst = false;
        }
        String marker = clientSawFirst ? "first-event-read" : "timed-out";
        out.write(("data: {\"choices\":[{\"delta\":{\"content\":\"" + marker + "\"}}],\"usage\":null}\n\n")
                .getBytes(StandardCharsets.UTF_8));
        out.write("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":14,\"total_tokens\":23}}\r\n\r\n"
                .getBytes(StandardCharsets.UTF_8));
        out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private void asyncJson(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        drain(req);
        AsyncContext ctx = req.startAsync(req, resp);
        async.execute(() -> {
            try {
                resp.setContentType("application/json");
                resp.getOutputStream().write("{\"usage\":{\"input_tokens\":30,\"output_tokens\":3}}".getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                // the test sees the missing charge
            } finally {
                ctx.complete();
            }
        });
    }

    /**
     * Streams until the client hangs up: writes one event, then, once the test has closed its socket,
     * keeps writing until the container reports the broken connection.
     */
    private void asyncDisconnect(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        drain(req);
        String id = req.getHeader("X-Test-Id");
        CountDownLatch closed = FIRST_EVENT_READ.computeIfAbsent(id, k -> new CountDownLatch(1));
        AsyncContext ctx = req.startAsync(req, resp);
        ctx.setTimeout(30_000);
        async.execute(() -> {
            try {
                resp.setContentType("text/event-stream");
                ServletOutputStream out = resp.getOutputStream();
                out.write("data: {\"choices\":[{\"delta\":{\"content\":\"first\"}}]}\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                closed.await(20, TimeUnit.SECONDS);
                byte[] chunk = ("data: {\"choices\":[{\"delta\":{\"content\":\"" + "x".repeat(8000) + "\"}}]}\n\n")
                        .getBytes(StandardCharsets.UTF_8);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (System.nanoTime() < deadline) {
                    out.write(chunk);
                    out.flush();
                }
            } catch (IOException e) {
                DISCONNECT_SEEN.computeIfAbsent(id, k -> new CountDownLatch(1)).countDown();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                try {
                    ctx.complete();
                } catch (IllegalStateException e) {
                    // the container already ended the cycle after the error
                }
            }
        });
    }

    /** Discards bytes. */
    private static final class OutputStreamSink extends java.io.OutputStream {
        static final OutputStreamSink INSTANCE = new OutputStreamSink();

        @Override
        public void write(int b) {
        }

        @Override
        public void write(byte[] b, int off, int len) {
        }
    }
}
