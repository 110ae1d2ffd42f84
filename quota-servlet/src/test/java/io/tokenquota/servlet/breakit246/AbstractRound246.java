package io.tokenquota.servlet.breakit246;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 246 of issue 11: the HTTP/1.1 wire as a raw-socket client controls it. {@code Expect:
 * 100-continue} bodies that come late or never, chunked bodies with extensions and trailers, a
 * {@code Content-Length} shorter or longer than what follows, pipelined calls on one connection (the
 * second inside the first's bytes, async answers between them), {@code HEAD} and {@code OPTIONS} with
 * a chat body. Every model call here reports 8,000 tokens in (the endpoint's own context) and 1,000 out:
 * 9,000, far above the estimate of the client's short body.
 */
abstract class AbstractRound246 extends H2FilterRound {
    static final long USAGE = 9_000;
    final ModelCalls calls = new ModelCalls();
    final ExecutorService workers = Executors.newCachedThreadPool();

    static String subject() {
        return "u246-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise ticket 42.\"}]}";

    static byte[] answer() {
        return ChatCompletions.completion("chatcmpl-246", "gpt-4o", "The customer wants a refund.", 8_000, 1_000)
                .getBytes(StandardCharsets.UTF_8);
    }

    @AfterAll
    void stopWorkers() {
        workers.shutdownNow();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/chat")
                .servlet("async", new AsyncChat(), "/ai/async")
                .servlet("any", new AnyMethod(), "/ai/any/*")
                .servlet("stream", new Stream(), "/ai/stream");
    }

    /** Reads the whole body; a non-empty one calls the model (counted), answered with its usage. */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes();
            if (body.length == 0 || body[0] != '{') {
                resp.sendError(400);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            ChatCompletions.writeWithLength(resp, answer());
        }
    }

    /** The same, answered from a worker thread after {@code startAsync} (a Spring {@code DeferredResult}). */
    class AsyncChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            AsyncContext async = req.startAsync();
            workers.submit(() -> {
                try {
                    calls.count(s);
                    HttpServletResponse r = (HttpServletResponse) async.getResponse();
                    ChatCompletions.writeWithLength(r, answer());
                } catch (IOException e) {
                    // the client went
                } finally {
                    async.complete();
                }
            });
        }
    }

    /** A relay that forwards whatever method it gets with its body (a Go {@code HandleFunc}, an Express {@code app.all}). */
    class AnyMethod extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes();
            if (body.length == 0) {
                resp.setStatus(204);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            ChatCompletions.writeWithLength(resp, answer());
        }
    }

    /** A relay's stream: 400 flushed word events, then the usage event (include_usage), stopping when the client has gone. */
    class Stream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            java.io.PrintWriter w = resp.getWriter();
            for (int i = 0; i < 400 && !w.checkError(); i++) {
                w.write(ChatCompletions.wordEvent("chatcmpl-246s"));
                if (i == 100) {
                    w.write(": MARK\n\n");
                }
                w.flush();
            }
            w.write(ChatCompletions.usageEvent("chatcmpl-246s", 8_000, 400));
            w.write(ChatCompletions.DONE);
            w.flush();
        }
    }

    // ---- a raw HTTP/1.1 client ----

    record Answer(int status, String head, byte[] body) {
        String text() {
            return head + new String(body, StandardCharsets.UTF_8);
        }
    }

    Socket connect() throws IOException {
        Socket socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", container.port()), 5_000);
        socket.setSoTimeout(15_000);
        return socket;
    }

    static String line(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                break;
            }
            if (c != '\r') {
                b.write(c);
            }
        }
        if (c == -1 && b.size() == 0) {
            return null;
        }
        return b.toString(StandardCharsets.ISO_8859_1);
    }

    /** One final answer (interim 1xx answers skipped), or {@code null} at the end of the connection. */
    static Answer read(InputStream in, boolean head) throws IOException {
        while (true) {
            String status = line(in);
            if (status == null) {
                return null;
            }
            if (status.isEmpty()) {
                continue;
            }
            int code = Integer.parseInt(status.split(" ")[1]);
            StringBuilder headers = new StringBuilder(status).append('\n');
            long length = -1;
            boolean chunked = false;
            String h;
            while ((h = line(in)) != null && !h.isEmpty()) {
                headers.append(h).append('\n');
                String lower = h.toLowerCase(Locale.ROOT);
                if (lower.startsWith("content-length:")) {
                    length = Long.parseLong(h.substring(15).trim());
                } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
                    chunked = true;
                }
            }
            if (code / 100 == 1) {
                continue;
            }
            if (head || code == 204 || code == 304) {
                return new Answer(code, headers.toString(), new byte[0]);
            }
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            if (chunked) {
                while (true) {
                    String size = line(in);
                    int n = Integer.parseInt(size.split(";")[0].trim(), 16);
                    if (n == 0) {
                        while ((h = line(in)) != null && !h.isEmpty()) {
                            // trailers
                        }
                        break;
                    }
                    body.write(in.readNBytes(n));
                    line(in);
                }
            } else if (length >= 0) {
                body.write(in.readNBytes((int) length));
            } else {
                body.write(in.readAllBytes());
            }
            return new Answer(code, headers.toString(), body.toByteArray());
        }
    }

    static void write(Socket socket, String text) throws IOException {
        OutputStream out = socket.getOutputStream();
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    static String post(String path, String subject, String extra, String body) {
        return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + subject + "\r\nContent-Type: application/json\r\n"
                + extra + "Content-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body;
    }

    void assertChargedPerCall(String s, String what) {
        long used = settled(s).used();
        int n = calls.of(s);
        assertTrue(used >= n * USAGE, what + ": " + n + " model calls of " + USAGE + " tokens each, charged " + used + ": " + ledger(s));
        if (n == 0) {
            assertEquals(0, used, what + ": no model call, charged " + used + ": " + ledger(s));
        }
    }

    // ---- the attacks ----

    /**
     * {@code Expect: 100-continue} and a chunked body with chunk extensions and a trailer, sent only once
     * the server asked for it (curl's way for large bodies). The model runs once: charged its usage.
     */
    @Test
    void expectContinueChunkedBodyWithExtensionsAndTrailersIsChargedItsUsage() throws Exception {
        String s = subject();
        try (Socket socket = connect()) {
            write(socket, "POST /ai/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s + "\r\nContent-Type: application/json\r\n"
                    + "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n");
            InputStream in = socket.getInputStream();
            String interim = line(in);
            assertTrue(interim != null && interim.contains("100"), "interim " + interim);
            line(in);
            byte[] b = CHAT.getBytes(StandardCharsets.UTF_8);
            int half = b.length / 2;
            StringBuilder chunks = new StringBuilder();
            chunks.append(Integer.toHexString(half)).append(";name=\"first\"\r\n").append(CHAT, 0, half).append("\r\n");
            chunks.append(Integer.toHexString(b.length - half)).append(";x\r\n").append(CHAT.substring(half)).append("\r\n");
            chunks.append("0\r\nx-checksum: abc\r\n\r\n");
            write(socket, chunks.toString());
            Answer a = read(in, false);
            assertEquals(200, a.status(), a.text());
        }
        assertEquals(1, calls.of(s));
        assertChargedPerCall(s, "expect-continue chunked");
    }

    /**
     * {@code Expect: 100-continue} whose body never comes: the client half-closes after the headers.
     * No model was called: nothing charged, nothing held.
     */
    @Test
    void expectContinueWhoseBodyNeverComesIsNotCharged() throws Exception {
        String s = subject();
        try (Socket socket = connect()) {
            write(socket, "POST /ai/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s + "\r\nContent-Type: application/json\r\n"
                    + "Expect: 100-continue\r\nContent-Length: 400\r\n\r\n");
            socket.shutdownOutput();
            socket.getInputStream().readAllBytes();
        }
        assertEquals(0, calls.of(s));
        assertChargedPerCall(s, "expect-continue without body");
    }

    /**
     * A body shorter than its {@code Content-Length}, then a half-close: whatever the container makes of
     * it, a model call is charged its usage and no call is charged nothing else.
     */
    @Test
    void bodyShorterThanItsLengthThenHalfCloseIsChargedAsTheEndpointRead() throws Exception {
        String s = subject();
        try (Socket socket = connect()) {
            write(socket, "POST /ai/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s + "\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + (CHAT.length() + 300) + "\r\n\r\n" + CHAT);
            socket.shutdownOutput();
            socket.getInputStream().readAllBytes();
        }
        assertChargedPerCall(s, "short body, half-closed");
    }

    /**
     * One write carries two calls: the first's {@code Content-Length} ends inside the bytes, and the rest
     * is the second call (pipelined). Each model call is charged its usage.
     */
    @Test
    void secondCallInsideTheFirstsBytesIsChargedToo() throws Exception {
        String s = subject();
        List<Answer> answers = new ArrayList<>();
        try (Socket socket = connect()) {
            write(socket, post("/ai/chat", s, "", CHAT) + post("/ai/async", s, "", CHAT) + post("/ai/chat", s, "Connection: close\r\n", CHAT));
            InputStream in = socket.getInputStream();
            Answer a;
            while ((a = read(in, false)) != null) {
                answers.add(a);
            }
        }
        assertEquals(3, answers.size(), answers.toString());
        assertEquals(3, calls.of(s));
        assertChargedPerCall(s, "three pipelined calls");
    }

    /**
     * Four pipelined async calls, each 9,000 tokens on a 20,000 allowance with a small hold: the third
     * still fits (2,000 left), the fourth must be refused; each served one is charged its usage.
     */
    @Test
    void pipelinedAsyncCallsStopAtTheAllowance() throws Exception {
        String s = subject();
        List<Answer> answers = new ArrayList<>();
        try (Socket socket = connect()) {
            StringBuilder all = new StringBuilder();
            for (int i = 0; i < 5; i++) {
                all.append(post("/ai/async", s, i == 4 ? "Connection: close\r\n" : "", CHAT));
            }
            write(socket, all.toString());
            InputStream in = socket.getInputStream();
            Answer a;
            while ((a = read(in, false)) != null) {
                answers.add(a);
            }
        }
        long served = answers.stream().filter(a -> a.status() == 200).count();
        assertEquals(served, calls.of(s), answers.toString());
        assertTrue(served <= 3, "served " + served + " calls of 9,000 on 20,000: " + answers);
        assertChargedPerCall(s, "pipelined async");
    }

    /** {@code HEAD} with a chat body to a relay that forwards every method: the model runs; its usage is charged. */
    @Test
    void headWithAChatBodyIsChargedItsUsage() throws Exception {
        String s = subject();
        try (Socket socket = connect()) {
            write(socket, "HEAD /ai/any/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + CHAT.length() + "\r\n\r\n" + CHAT);
            Answer a = read(socket.getInputStream(), true);
            assertEquals(200, a.status(), a.text());
        }
        assertEquals(1, calls.of(s));
        assertChargedPerCall(s, "HEAD with body");
    }

    /** {@code OPTIONS} with a chunked chat body (no preflight) to the same relay: charged its usage. */
    @Test
    void optionsWithAChunkedChatBodyIsChargedItsUsage() throws Exception {
        String s = subject();
        try (Socket socket = connect()) {
            write(socket, "OPTIONS /ai/any/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + Integer.toHexString(CHAT.length()) + "\r\n" + CHAT + "\r\n0\r\n\r\n");
            Answer a = read(socket.getInputStream(), false);
            assertEquals(200, a.status(), a.text());
        }
        assertEquals(1, calls.of(s));
        assertChargedPerCall(s, "OPTIONS with chunked body");
    }

    /**
     * A HEAD whose body comes after {@code Expect: 100-continue}, pipelined with a POST; then a GET with a
     * chunked body to the any-method relay. Each model call charged its usage.
     */
    @Test
    void methodsWithBodiesPipelinedAreEachCharged() throws Exception {
        String s = subject();
        List<Answer> answers = new ArrayList<>();
        try (Socket socket = connect()) {
            String get = "GET /ai/any/x HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s
                    + "\r\nTransfer-Encoding: chunked\r\n\r\n" + Integer.toHexString(CHAT.length()) + "\r\n" + CHAT + "\r\n0\r\n\r\n";
            String head = "HEAD /ai/any/y HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s
                    + "\r\nContent-Length: " + CHAT.length() + "\r\n\r\n" + CHAT;
            write(socket, get + head + post("/ai/any/z", s, "Connection: close\r\n", CHAT));
            InputStream in = socket.getInputStream();
            answers.add(read(in, false));
            answers.add(read(in, true));
            answers.add(read(in, false));
        }
        assertEquals(3, calls.of(s), answers.toString());
        assertChargedPerCall(s, "GET, HEAD and POST with bodies");
    }

    /**
     * Keep-alive reuse after a cut stream: a streamed call and, pipelined behind it, a chat call of
     * another subject; the client reads part of the stream and resets the connection. The stream's call
     * is charged (hanging up never makes it free); the pipelined call is charged only if it reached a model.
     */
    @Test
    void aCallPipelinedBehindACutStreamIsNotCharged() throws Exception {
        String s1 = subject();
        String s2 = subject();
        try (Socket socket = connect()) {
            write(socket, post("/ai/stream", s1, "", CHAT) + post("/ai/chat", s2, "Connection: close\r\n", CHAT));
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream seen = new ByteArrayOutputStream();
            byte[] buf = new byte[1024];
            int n;
            while ((n = in.read(buf)) != -1) {
                seen.write(buf, 0, n);
                if (seen.toString(StandardCharsets.UTF_8).contains("MARK")) {
                    break;
                }
            }
            socket.setSoLinger(true, 0);
        }
        assertEquals(1, calls.of(s1));
        long used1 = settled(s1).used();
        assertTrue(used1 >= 50, "the cut stream's call charged " + used1 + ": " + ledger(s1));
        // the container may have served the pipelined call before the reset reached it (Jetty, on a busy
        // machine): then it reached the model and is charged; if not, it costs nothing
        long used2 = settled(s2).used();
        if (calls.of(s2) == 0) {
            assertEquals(0, used2, ledger(s2));
        } else {
            assertEquals(1, calls.of(s2));
            assertTrue(used2 > 0, "the pipelined call reached the model and was charged " + used2 + ": " + ledger(s2));
        }
    }

    /** {@code Expect: 100-continue} whose body follows the headers at once: the model call is charged its usage. */
    @Test
    void expectContinueBodySentAfterTheServerGaveUpWaiting() throws Exception {
        String s = subject();
        try (Socket socket = connect()) {
            // the body follows the headers at once, without waiting for the 100 (curl after its timeout)
            write(socket, "POST /ai/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " + CHAT.length() + "\r\n\r\n" + CHAT);
            Answer a = read(socket.getInputStream(), false);
            assertEquals(200, a.status(), a.text());
        }
        assertEquals(1, calls.of(s));
        assertChargedPerCall(s, "expect-continue with immediate body");
    }
}
