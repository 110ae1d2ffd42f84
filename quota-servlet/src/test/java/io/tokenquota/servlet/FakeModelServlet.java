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

    private final transient ExecutorService async = Executors.newCachedThreadPool();

    @Override
    public void destroy() {
        async.shutdownNow();
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException, IOException {
        String path = req.getPathInfo() == null ? "/" : req.getPathInfo();
        switch (path) {
            case "/echo" -> echo(req, resp);
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
            case "/async" -> asyncJson(req, resp);
            case "/async-disconnect" -> asyncDisconnect(req, resp);
            default -> resp.sendError(404);
        }
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
