package io.tokenquota.servlet.breakit385;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCalls;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
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
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 385 of issue 11: request bodies as a raw socket sends them (after round 246's first pass over the wire).
 * A half-close after the request (RFC 9112 section 9.6), alone, behind pipelined async calls and after a chunked
 * body with chunk extensions and a trailer field (RFC 9112 sections 7.1.1, 7.1.2); {@code Transfer-Encoding} beside
 * {@code Content-Length} (RFC 9112 section 6.3); a body shorter than its length and a chunked body without its last
 * chunk, each then reset; bytes past a {@code Content-Length} that are a second call; and a large one-document answer
 * cut by a reset with a call pipelined behind it. Every model call reports OpenAI's chat completion usage (API
 * reference, "The chat completion object"): 8,000 in and 1,000 out, 9,000. No finding: all are controls.
 */
abstract class AbstractRound385 extends H2FilterRound {
    static final long USAGE = 9_000;
    final ModelCalls calls = new ModelCalls();
    final ExecutorService workers = Executors.newCachedThreadPool();
    final Map<String, String> errors = new ConcurrentHashMap<>();

    static String subject() {
        return "u385-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise ticket 42.\"}]}";

    static byte[] answer() {
        return ChatCompletions.completion("chatcmpl-385", "gpt-4o", "The customer wants a refund.", 8_000, 1_000)
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
                .servlet("big", new BigAnswer(), "/ai/big");
    }

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

    final HangUps hangUps = new HangUps();

    /**
     * One large chat completion (OpenAI API reference, "The chat completion object": {@code choices}, then
     * {@code usage} last), its length declared: its first bytes flushed, then, once the client has hung up, the rest
     * in 8 KB writes, as Jackson writes a large document.
     */
    class BigAnswer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            String head = "{\"id\":\"chatcmpl-385b\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"MARK ";
            String filler = "word ".repeat(1_638);
            int pieces = 600;
            String tail = "\"},\"finish_reason\":\"stop\"}]," + ChatCompletions.usage(8_000, 1_000) + "}";
            byte[] h = head.getBytes(StandardCharsets.UTF_8);
            byte[] f = filler.getBytes(StandardCharsets.UTF_8);
            byte[] t = tail.getBytes(StandardCharsets.UTF_8);
            ChatCompletions.declareJson(resp, h.length + pieces * f.length + t.length);
            OutputStream out = resp.getOutputStream();
            out.write(h);
            out.flush();
            hangUps.await(s);
            for (int i = 0; i < pieces; i++) {
                out.write(f);
            }
            out.write(t);
        }
    }

    class AsyncChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            AsyncContext async = req.startAsync();
            async.setTimeout(0);
            CountDownLatch errored = new CountDownLatch(1);
            async.addListener(new AsyncListener() {
                @Override public void onComplete(AsyncEvent e) { }
                @Override public void onTimeout(AsyncEvent e) { }
                @Override public void onError(AsyncEvent e) {
                    errors.put(s, String.valueOf(e.getThrowable()));
                    errored.countDown();
                }
                @Override public void onStartAsync(AsyncEvent e) { }
            });
            workers.submit(() -> {
                try {
                    errored.await(2, TimeUnit.SECONDS);
                    calls.count(s);
                    HttpServletResponse r = (HttpServletResponse) async.getResponse();
                    ChatCompletions.writeWithLength(r, answer());
                } catch (Exception e) {
                    errors.merge(s, " write: " + e, String::concat);
                } finally {
                    try { async.complete(); } catch (IllegalStateException e) { }
                }
            });
        }
    }

    Socket connect() throws IOException {
        Socket socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", container.port()), 5_000);
        socket.setSoTimeout(15_000);
        return socket;
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

    static String readAll(Socket socket) throws IOException {
        try {
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "IOE " + e;
        }
    }

    // ------------------------------------------------------------------ the attacks (all held: controls)

    /**
     * The client sends its call and half-closes its side ({@code shutdownOutput}: curl's and netcat's way once the
     * request is sent, RFC 9112 section 9.6 lets the server still answer). The endpoint answers from a worker (a Spring
     * {@code DeferredResult}), after giving the container a chance to report the half-close as an error on the cycle
     * (at most 2 s, a latch its own listener opens). The client reads the whole answer: it is charged its usage.
     */
    @Test
    void anAsyncCallWhoseClientHalfClosedIsChargedItsUsage() throws Exception {
        String s = subject();
        String got;
        try (Socket socket = connect()) {
            write(socket, post("/ai/async", s, "Connection: close\r\n", CHAT));
            socket.shutdownOutput();
            got = readAll(socket);
        }
        assertServed(s, got, "async, half-closed after the request");
    }

    /** Control: the same async call, the client's side left open: charged its usage. */
    @Test
    void controlAnAsyncCallIsChargedItsUsage() throws Exception {
        String s = subject();
        String got;
        try (Socket socket = connect()) {
            write(socket, post("/ai/async", s, "Connection: close\r\n", CHAT));
            got = readAll(socket);
        }
        assertServed(s, got, "async");
    }

    /** The half-close on a synchronous endpoint: charged its usage. */
    @Test
    void aSyncCallWhoseClientHalfClosedIsChargedItsUsage() throws Exception {
        String s = subject();
        String got;
        try (Socket socket = connect()) {
            write(socket, post("/ai/chat", s, "Connection: close\r\n", CHAT));
            socket.shutdownOutput();
            got = readAll(socket);
        }
        assertServed(s, got, "sync, half-closed after the request");
    }

    /**
     * {@code Transfer-Encoding: chunked} beside {@code Content-Length: 2} (RFC 9112 section 6.3: chunked wins, or the
     * request is refused). Jetty 12 refuses it (400, no call), Tomcat reads it chunked and serves it: either way the
     * ledger charges exactly the calls made.
     */
    @Test
    void chunkedFramingBesideAContentLengthIsChargedExactlyTheCallsMade() throws Exception {
        String s = subject();
        String got;
        try (Socket socket = connect()) {
            write(socket, "POST /ai/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + Integer.toHexString(CHAT.length()) + "\r\n" + CHAT + "\r\n0\r\n\r\n");
            got = readAll(socket);
        }
        QuotaAccount a = settled(s);
        assertTrue(got.startsWith("HTTP/1.1 200") || got.startsWith("HTTP/1.1 400"), got);
        assertEquals(got.startsWith("HTTP/1.1 200") ? 1 : 0, calls.of(s), got);
        assertEquals(calls.of(s) * USAGE, a.used(), ledger(s));
        assertEquals(0, a.reserved(), ledger(s));
    }

    /** A body shorter than its {@code Content-Length}, then a reset: the endpoint never ran; nothing charged or held. */
    @Test
    void aBodyShorterThanItsLengthThenAResetChargesNothing() throws Exception {
        String s = subject();
        try (Socket socket = connect()) {
            write(socket, "POST /ai/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n" + CHAT);
            socket.setSoLinger(true, 0);
        }
        assertNothing(s);
    }

    /** A chunked body that never ends (no last chunk), then a reset: nothing charged or held. */
    @Test
    void aChunkedBodyThatNeverEndsThenAResetChargesNothing() throws Exception {
        String s = subject();
        try (Socket socket = connect()) {
            write(socket, "POST /ai/async HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + Integer.toHexString(CHAT.length()) + ";part=1\r\n" + CHAT + "\r\n");
            socket.setSoLinger(true, 0);
        }
        assertNothing(s);
    }

    /** Two async calls pipelined on one connection, then a half-close: each is served and charged its usage. */
    @Test
    void pipelinedAsyncCallsBeforeAHalfCloseAreEachChargedTheirUsage() throws Exception {
        String s = subject();
        String s2 = subject();
        String got;
        try (Socket socket = connect()) {
            write(socket, post("/ai/async", s, "", CHAT) + post("/ai/async", s2, "Connection: close\r\n", CHAT));
            socket.shutdownOutput();
            got = readAll(socket);
        }
        assertServed(s, got, "first of two pipelined, half-closed");
        assertEquals(2, got.split("HTTP/1.1 200").length - 1, got);
        assertEquals(1, calls.of(s2));
        assertEquals(USAGE, settled(s2).used(), ledger(s2));
    }

    /**
     * A chunked body with chunk extensions and a trailer field (RFC 9112 sections 7.1.1 and 7.1.2), then a half-close:
     * charged its usage.
     */
    @Test
    void aChunkedBodyWithExtensionsAndATrailerThenAHalfCloseIsChargedItsUsage() throws Exception {
        String s = subject();
        String got;
        try (Socket socket = connect()) {
            write(socket, "POST /ai/async HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n"
                    + Integer.toHexString(CHAT.length()) + ";ext=1\r\n" + CHAT + "\r\n0\r\nx-checksum: 1\r\n\r\n");
            socket.shutdownOutput();
            got = readAll(socket);
        }
        assertServed(s, got, "chunked with extensions and a trailer, half-closed");
    }

    /**
     * The first call's body is longer than its {@code Content-Length}: the rest is a second call of another subject on
     * the same connection. Each call is charged its own usage.
     */
    @Test
    void theBytesPastAContentLengthAreASecondCallChargedToItsOwnSubject() throws Exception {
        String s = subject();
        String s2 = subject();
        String got;
        try (Socket socket = connect()) {
            write(socket, post("/ai/chat", s, "", CHAT) + post("/ai/chat", s2, "Connection: close\r\n", CHAT));
            got = readAll(socket);
        }
        assertServed(s, got, "first call");
        assertEquals(1, calls.of(s2));
        assertEquals(USAGE, settled(s2).used(), ledger(s2));
    }

    /**
     * Two calls pipelined: the first's answer is one large JSON document (its usage at its end); the client reads its
     * first bytes and resets the connection. The first call is charged its usage (the model had answered); the
     * pipelined one is charged only if it reached the model.
     */
    @Test
    void aLargeAnswerCutByAResetWithACallPipelinedBehindIt() throws Exception {
        String s = subject();
        String s2 = subject();
        hangUps.expect(s);
        try (Socket socket = connect()) {
            write(socket, post("/ai/big", s, "", CHAT) + post("/ai/chat", s2, "Connection: close\r\n", CHAT));
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
        } finally {
            hangUps.happened(s);
        }
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, chargedAtLeast(s, 1).used(), ledger(s));
        long used2 = settled(s2).used();
        assertEquals(calls.of(s2) * USAGE, used2, ledger(s2));
    }

    void assertServed(String s, String got, String what) {
        assertTrue(got.startsWith("HTTP/1.1 200"), what + ": " + got);
        QuotaAccount a = settled(s);
        assertEquals(1, calls.of(s), what);
        assertEquals(USAGE, a.used(), kind() + ": " + what + ": the client read the whole answer (usage 9,000): " + ledger(s));
        assertEquals(0, a.reserved(), ledger(s));
    }

    void assertNothing(String s) {
        QuotaAccount a = settled(s);
        assertEquals(0, calls.of(s));
        assertEquals(0, a.used(), ledger(s));
        assertEquals(0, a.reserved(), ledger(s));
    }
}
