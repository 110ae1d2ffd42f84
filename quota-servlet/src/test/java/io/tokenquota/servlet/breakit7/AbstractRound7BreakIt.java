package io.tokenquota.servlet.breakit7;

import io.tokenquota.servlet.testing.Ledgers;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Round 7. docs/servlet.md setup: filter on "/*" (REQUEST+FORWARD, async), protect("/ai/"), trusted x-user-id. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRound7BreakIt {
    QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(10_000_000).build();
    TestDatabase db;
    JdbiQuotaStore store;
    EmbeddedContainer container;

    abstract ContainerKind kind();

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy).installSchema(true).build();
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        container = kind().start(Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("model", new Breakit7ModelServlet(), "/*"));
    }

    @AfterAll
    void stop() {
        if (container != null) {
            container.close();
        }
        if (store != null) {
            store.close();
        }
        if (db != null) {
            db.close();
        }
    }

    static String subject() {
        return "u7-" + UUID.randomUUID().toString().substring(0, 12);
    }

    QuotaAccount settled(String subject) {
        return Ledgers.settled(store, subject);
    }

    static void sleep(long ms) {
        try {
            TimeUnit.MILLISECONDS.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    List<String> ledger(String subject) {
        return Ledgers.events(store, subject, policy.currentMonth());
    }

    static final String SMALL = "{\"model\":\"gpt-4o\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    static String request(String method, String path, String version, String subject, String contentType,
                          byte[] body, Integer contentLength, String extraHeaders) {
        return method + " " + path + " " + version + "\r\nHost: 127.0.0.1\r\nx-user-id: " + subject + "\r\n"
                + (contentType == null ? "" : "Content-Type: " + contentType + "\r\n")
                + "Content-Length: " + (contentLength != null ? contentLength : body.length) + "\r\n"
                + (extraHeaders == null ? "" : extraHeaders) + "\r\n";
    }

    /** Writes {@code bytes} on one connection and reads until the server closes or the timeout passes. */
    String raw(byte[] bytes, boolean halfClose, int timeoutMs) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", container.port())) {
            socket.setSoTimeout(timeoutMs);
            OutputStream out = socket.getOutputStream();
            out.write(bytes);
            out.flush();
            if (halfClose) {
                socket.shutdownOutput();
            }
            InputStream in = socket.getInputStream();
            StringBuilder sb = new StringBuilder();
            byte[] buf = new byte[8192];
            try {
                int n;
                while ((n = in.read(buf)) != -1) {
                    sb.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
                }
            } catch (java.net.SocketTimeoutException | java.net.SocketException e) {
                // keep-alive: the server left the connection open, or reset it
            }
            return sb.toString();
        }
    }

    static byte[] concat(byte[]... parts) {
        java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) {
            o.writeBytes(p);
        }
        return o.toByteArray();
    }

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    // ---- 1. HTTP/1.0 and pipelining ----

    @Test
    void http10SseStreamIsChargedItsUsage() throws Exception {
        String s = subject();
        byte[] body = ascii(SMALL);
        String answer = raw(concat(ascii(request("POST", "/ai/sse?u=777", "HTTP/1.0", s, "application/json", body, null,
                null)), body), false, 5000);
        assertTrue(answer.startsWith("HTTP/1.1 200") || answer.startsWith("HTTP/1.0 200"), answer);
        assertTrue(answer.contains("\"total_tokens\":777"), answer);
        assertEquals(777, settled(s).used(), "ledger " + ledger(s) + "\n" + answer);
    }

    @Test
    void http10AsyncSseEmitterIsChargedItsUsage() throws Exception {
        String s = subject();
        byte[] body = ascii(SMALL);
        String answer = raw(concat(ascii(request("POST", "/ai/sse-emitter?u=888", "HTTP/1.0", s, "application/json", body,
                null, "Connection: close\r\n")), body), false, 5000);
        assertTrue(answer.contains("\"total_tokens\":888"), answer);
        assertEquals(888, settled(s).used(), "ledger " + ledger(s) + "\n" + answer);
    }

    @Test
    void pipelinedPostsAreEachChargedTheirOwnUsage() throws Exception {
        String a = subject();
        String b = subject();
        String c = subject();
        byte[] body = ascii(SMALL);
        byte[] wire = concat(
                ascii(request("POST", "/ai/json?u=111", "HTTP/1.1", a, "application/json", body, null, null)), body,
                ascii(request("POST", "/ai/sse?u=222", "HTTP/1.1", b, "application/json", body, null, null)), body,
                ascii(request("POST", "/ai/streaming-body?u=333", "HTTP/1.1", c, "application/json", body, null,
                        "Connection: close\r\n")), body);
        String answer = raw(wire, false, 8000);
        assertEquals(3, answer.split("HTTP/1.1 200", -1).length - 1, answer);
        assertEquals(111, settled(a).used(), "first: " + ledger(a));
        assertEquals(222, settled(b).used(), "second: " + ledger(b));
        assertEquals(333, settled(c).used(), "third: " + ledger(c));
    }

    @Test
    void pipelinedSameUserTwoCallsBothCharged() throws Exception {
        String a = subject();
        byte[] body = ascii(SMALL);
        byte[] wire = concat(
                ascii(request("POST", "/ai/sse-emitter?u=1000", "HTTP/1.1", a, "application/json", body, null, null)), body,
                ascii(request("POST", "/ai/deferred?u=2000", "HTTP/1.1", a, "application/json", body, null,
                        "Connection: close\r\n")), body);
        String answer = raw(wire, false, 8000);
        assertEquals(2, answer.split("HTTP/1.1 200", -1).length - 1, answer);
        assertEquals(3000, settled(a).used(), "ledger " + ledger(a));
    }

    // ---- 2. Content-Length lies ----

    @Test
    void contentLengthSmallerThanBodyCallsAreCharged() throws Exception {
        String a = subject();
        byte[] body = ascii(SMALL);
        // declares only the first 30 bytes; the rest is garbage the container must treat as a next request
        int before = Breakit7ModelServlet.modelCalls.get();
        String answer = raw(concat(ascii(request("POST", "/ai/json?u=444", "HTTP/1.1", a, "application/json", body, 30,
                null)), body), true, 5000);
        int calls = Breakit7ModelServlet.modelCalls.get() - before;
        long used = settled(a).used();
        assertTrue(calls == 0 || used >= 444L * calls, "calls " + calls + " used " + used + " " + ledger(a) + "\n" + answer);
    }

    @Test
    void contentLengthLargerThanBodyCallsAreCharged() throws Exception {
        String a = subject();
        byte[] body = ascii(SMALL);
        int before = Breakit7ModelServlet.modelCalls.get();
        String answer = raw(concat(ascii(request("POST", "/ai/json?u=555", "HTTP/1.1", a, "application/json", body,
                body.length + 500, null)), body), true, 5000);
        sleep(300);
        int calls = Breakit7ModelServlet.modelCalls.get() - before;
        long used = settled(a).used();
        assertTrue(calls == 0 || used >= 555L * calls, "calls " + calls + " used " + used + " " + ledger(a));
    }

    // ---- 3. forms and getParameter ----

    static String longPrompt() {
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 40_000) {
            sb.append("the lighthouse keeper counts the waves again ");
        }
        return sb.toString();
    }

    @Test
    void formPromptReadWithGetParameterIsChargedLikeTheSameJsonPrompt() throws Exception {
        String prompt = longPrompt();
        String json = subject();
        HttpResponse<String> r0 = TestHttp.post(container.uri("/ai/form-json"),
                ("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}")
                        .getBytes(StandardCharsets.UTF_8), "x-user-id", json, "Content-Type", "application/json");
        assertEquals(200, r0.statusCode());
        long jsonCharge = settled(json).used();

        String s = subject();
        byte[] form = ("model=gpt-4o&prompt=" + URLEncoder.encode(prompt, StandardCharsets.UTF_8))
                .getBytes(StandardCharsets.UTF_8);
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/form"), form, "x-user-id", s,
                "Content-Type", "application/x-www-form-urlencoded");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(prompt, Breakit7ModelServlet.lastPrompt, "the endpoint read the prompt");
        long used = settled(s).used();
        // the JSON prompt's input tokens (without the default output budget of 1,000) are the floor
        assertTrue(used >= jsonCharge - 1_000, "json " + jsonCharge + ", form " + used + " " + ledger(s));
    }

    @Test
    void getParameterOnJsonBodyBeforeReadingKeepsBodyAndUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/param-then-json"), ascii(SMALL), "x-user-id", s,
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(SMALL, Breakit7ModelServlet.lastPrompt);
        assertEquals(423, settled(s).used(), ledger(s).toString());
    }

    @Test
    void jsonBodyLabelledAsFormReadAfterGetParameterIsCharged() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/param-then-json"), ascii(SMALL), "x-user-id", s,
                "Content-Type", "application/x-www-form-urlencoded");
        long used = settled(s).used();
        if (r.statusCode() == 200) {
            assertEquals(423, used, ledger(s).toString());
        } else {
            assertEquals(0, used, ledger(s).toString());
        }
    }

    // ---- 4. Spring-MVC-like async patterns ----

    @Test
    void streamingResponseBodyFromWorkerThenCompleteIsChargedItsUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/streaming-body?u=1234"), ascii(SMALL), "x-user-id", s,
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("1234"), r.body());
        assertEquals(1234, settled(s).used(), ledger(s).toString());
    }

    @Test
    void sseEmitterFromWorkerThenCompleteIsChargedItsUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/sse-emitter?u=2345"), ascii(SMALL), "x-user-id", s,
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("2345"), r.body());
        assertEquals(2345, settled(s).used(), ledger(s).toString());
    }

    @Test
    void sseEmitterFromWorkerThenDispatchIsChargedItsUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/sse-emitter?u=3456&end=dispatch"), ascii(SMALL),
                "x-user-id", s, "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("3456"), r.body());
        assertEquals(3456, settled(s).used(), ledger(s).toString());
    }

    @Test
    void deferredResultDispatchWritingUsageIsCharged() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/deferred?u=4567"), ascii(SMALL), "x-user-id", s,
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("4567"), r.body());
        assertEquals(4567, settled(s).used(), ledger(s).toString());
    }

    // ---- 5. usage report shapes ----

    @Test
    void openAiUsageReportedTwiceIsChargedOnce() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/openai-dup"), ascii(SMALL), "x-user-id", s,
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1000, settled(s).used(), ledger(s).toString());
    }

    @Test
    void anthropicStreamWithCacheAndLowerLaterDeltaChargesLastPerField() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/anthropic"), ascii(SMALL), "x-user-id", s,
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        // input 2000 + cache read 3000 + output (last report) 400
        assertEquals(5400, settled(s).used(), ledger(s).toString());
    }

    @Test
    void responsesApiStreamChargedResponseUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/responses"), ascii(SMALL), "x-user-id", s,
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2200, settled(s).used(), ledger(s).toString());
    }

    // ---- 6. many connections, small allowance ----

    @Test
    void manyConnectionsSmallAllowanceNeverOverspendOrOverserve() throws Exception {
        String s = subject();
        store.setPlan(s, 5_000);
        byte[] body = ascii("{\"model\":\"gpt-4o\",\"max_tokens\":900,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        int n = 24;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<String>> fs = new ArrayList<>();
        String[] paths = {"/ai/json?u=900", "/ai/sse?u=900", "/ai/streaming-body?u=900", "/ai/deferred?u=900",
                "/ai/sse-emitter?u=900"};
        int before = Breakit7ModelServlet.modelCalls.get();
        for (int i = 0; i < n; i++) {
            String path = paths[i % paths.length];
            boolean http10 = i % 3 == 0;
            fs.add(pool.submit((Callable<String>) () -> {
                go.await();
                byte[] wire = concat(ascii(request("POST", path, http10 ? "HTTP/1.0" : "HTTP/1.1", s, "application/json",
                        body, null, "Connection: close\r\n")), body);
                String a = raw(wire, false, 10_000);
                return a.length() >= 12 ? a.substring(9, 12) : "(none)";
            }));
        }
        go.countDown();
        int ok = 0;
        List<String> statuses = new ArrayList<>();
        for (Future<String> f : fs) {
            String st = f.get(30, TimeUnit.SECONDS);
            statuses.add(st);
            if (st.equals("200")) {
                ok++;
            }
        }
        pool.shutdown();
        int calls = Breakit7ModelServlet.modelCalls.get() - before;
        QuotaAccount acc = settled(s);
        assertEquals(ok, calls, "served calls vs 200s " + statuses);
        assertEquals(900L * calls, acc.used(), ledger(s).toString());
        assertTrue(acc.used() <= 5_000, "used " + acc.used());
        assertTrue(calls <= 5_000 / 900 + 0, "calls " + calls);
    }

    /**
     * The same request as a form: an endpoint that reads {@code max_tokens} with getParameter passes
     * 16,000 on to the model, but the filter estimates a form as plain text (no output budget), so a
     * 2xx answer without usage (rule 7) is charged the 1,000 fallback instead of ~16,000.
     */
    @Test
    void formMaxTokensIsNotInTheEstimate() throws Exception {
        String json = subject();
        HttpResponse<String> r0 = TestHttp.post(container.uri("/ai/form-json"),
                ascii("{\"model\":\"gpt-4o\",\"prompt\":\"write a long story\",\"max_tokens\":16000}"),
                "x-user-id", json, "Content-Type", "application/json");
        assertEquals(200, r0.statusCode());
        long jsonCharge = settled(json).used();
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/form"),
                ascii("model=gpt-4o&prompt=write+a+long+story&max_tokens=16000"), "x-user-id", s,
                "Content-Type", "application/x-www-form-urlencoded");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("write a long story", Breakit7ModelServlet.lastPrompt);
        long used = settled(s).used();
        assertTrue(used >= jsonCharge, "json " + jsonCharge + ", same request as a form " + used + " " + ledger(s));
    }

    @Test
    void chunkedBodyWithContentLengthToo() throws Exception {
        String control = subject();
        String prompt = longPrompt();
        byte[] body = ("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}")
                .getBytes(StandardCharsets.UTF_8);
        HttpResponse<String> r0 = TestHttp.post(container.uri("/ai/form-json"), body, "x-user-id", control,
                "Content-Type", "application/json");
        assertEquals(200, r0.statusCode());
        long expected = settled(control).used();
        for (int cl : new int[] {10, body.length + 1000}) {
            String s = subject();
            int before = Breakit7ModelServlet.modelCalls.get();
            String head = "POST /ai/form-json HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + cl
                    + "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            byte[] wire = concat(ascii(head), ascii(Integer.toHexString(body.length) + "\r\n"), body, ascii("\r\n0\r\n\r\n"));
            raw(wire, false, 5000);
            sleep(200);
            int calls = Breakit7ModelServlet.modelCalls.get() - before;
            long used = settled(s).used();
            assertTrue(calls == 0 || used >= expected, "CL " + cl + ": calls " + calls + " used " + used + " vs " + expected);
        }
    }
}
