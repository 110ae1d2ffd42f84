package io.tokenquota.examples.breakit118;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.tokenquota.QuotaAccount;
import io.tokenquota.examples.DemoApp;
import io.tokenquota.examples.DemoConfig;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Round 118: the demo as the README starts it, attacked over real HTTP and through its environment.
 */
class DemoRound118BreakItTest {
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    private static Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>();
        env.put("PORT", "0");
        env.put("QUOTA_JDBC_URL", "jdbc:h2:mem:r118-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return env;
    }

    private static DemoConfig.Builder demo() {
        return DemoConfig.builder().port(0).host("127.0.0.1")
                .jdbc("jdbc:h2:mem:r118-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1", "sa", "");
    }

    private static String startFailure(Map<String, String> env) {
        try {
            DemoConfig config = DemoConfig.fromEnv(env);
            try (DemoApp app = DemoApp.start(config)) {
                return null;
            }
        } catch (Exception e) {
            return String.valueOf(e.getMessage());
        }
    }

    private static HttpResponse<String> chat(DemoApp app, String user, String contentType, String body,
                                             String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port()
                        + DemoApp.CHAT_COMPLETIONS_PATH))
                .header("x-user-id", user).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (contentType != null) {
            b.header("content-type", contentType);
        }
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static QuotaAccount account(DemoApp app, String user) {
        return app.store().account(user, app.store().policy().currentMonth()).orElseThrow();
    }

    private static String user() {
        return "u118-" + UUID.randomUUID().toString().substring(0, 8);
    }

    // ---------------------------------------------------------------- the environment

    /**
     * QUOTA_DEFAULT_ALLOCATION=200000000: the demo's own check takes any non-negative number, the
     * library's policy refuses more than its 100,000,000 maximum quota. The start fails with the
     * policy's message, which names no variable, although the demo promises an unusable value fails
     * naming it.
     */
    @Test
    void anAllocationAboveTheMaximumQuotaFailsNamingItsVariable() {
        String failure = startFailure(env("QUOTA_DEFAULT_ALLOCATION", "200000000"));
        assertTrue(failure != null, "the demo started with an allocation the policy cannot hold");
        assertTrue(failure.contains("QUOTA_DEFAULT_ALLOCATION"), "failure names no variable: " + failure);
    }

    /**
     * QUOTA_HOLD_TTL=PT0.5S and P40D: the demo's check takes any positive duration, the library allows
     * 1 s to 31 days. The start fails with a message that names no variable.
     */
    @Test
    void aHoldTtlOutsideTheLibrarysRangeFailsNamingItsVariable() {
        for (String ttl : List.of("PT0.5S", "P40D")) {
            String failure = startFailure(env("QUOTA_HOLD_TTL", ttl));
            assertTrue(failure != null, "the demo started with QUOTA_HOLD_TTL=" + ttl);
            assertTrue(failure.contains("QUOTA_HOLD_TTL"), "QUOTA_HOLD_TTL=" + ttl + ": failure names no variable: " + failure);
        }
    }

    /**
     * QUOTA_SWEEP_INTERVAL=PT0.0005S is positive, so the demo accepts it; its whole milliseconds are 0,
     * and the scheduler refuses a delay of 0 after the server has started. The message names no variable.
     */
    @Test
    void aSweepIntervalBelowOneMillisecondFailsNamingItsVariable() {
        String failure = startFailure(env("QUOTA_SWEEP_INTERVAL", "PT0.0005S"));
        assertTrue(failure != null, "the demo started with a sweep every 0 ms");
        assertTrue(failure.contains("QUOTA_SWEEP_INTERVAL"), "failure names no variable: " + failure);
    }

    /**
     * A start that fails after the server is up (the sweep's interval refused by the scheduler) closes
     * the store, but leaves Jetty running on the port: the "failed" demo still answers HTTP, over a
     * closed store, and a restart on the same port finds it taken.
     */
    @Test
    void aFailedStartLeavesNoServerRunning() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        // refused where it is set now; whatever fails, nothing may be left running
        assertThrows(Exception.class, () -> DemoApp.start(demo().port(port).sweepInterval(Duration.ofNanos(500_000)).build())
                .close());
        boolean answered;
        try (Socket s = new Socket("127.0.0.1", port)) {
            answered = true;
        } catch (IOException refused) {
            answered = false;
        }
        assertTrue(!answered, "port " + port + " still accepts connections after DemoApp.start threw");
    }

    /**
     * QUOTA_JDBC_URL=postgres://localhost/quota (a libpq URL, not a JDBC one): the value is unusable,
     * and the start fails with the pool's message, which does not name the variable.
     */
    @Test
    void aJdbcUrlThatIsNoJdbcUrlFailsNamingItsVariable() {
        Map<String, String> env = env();
        env.put("QUOTA_JDBC_URL", "postgres://localhost:5432/quota");
        String failure = startFailure(env);
        assertTrue(failure != null, "the demo started");
        assertTrue(failure.contains("QUOTA_JDBC_URL"), "failure names no variable: " + failure);
    }

    // ---------------------------------------------------------------- HTTP

    /**
     * Sixteen clients send the same chat call with one Idempotency-Key at the same instant: one model
     * call at most, the others 409, and the ledger charges exactly that one answer's usage.
     */
    @Test
    void oneKeySentAtOnceBuysOneCall() throws Exception {
        try (DemoApp app = DemoApp.start(demo().build())) {
            String u = user();
            String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"one key, many clients\"}],\"max_tokens\":60}";
            String key = "k-" + UUID.randomUUID();
            int n = 16;
            CountDownLatch go = new CountDownLatch(1);
            ExecutorService pool = Executors.newFixedThreadPool(n);
            List<Future<HttpResponse<String>>> all = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                all.add(pool.submit(() -> {
                    go.await();
                    return chat(app, u, "application/json", body, "Idempotency-Key", key);
                }));
            }
            go.countDown();
            int ok = 0;
            int conflict = 0;
            long reported = 0;
            for (Future<HttpResponse<String>> f : all) {
                HttpResponse<String> r = f.get();
                if (r.statusCode() == 200) {
                    ok++;
                    reported += totalTokens(r.body());
                } else if (r.statusCode() == 409) {
                    conflict++;
                }
            }
            pool.shutdown();
            QuotaAccount a = account(app, u);
            assertEquals(1, ok, "model answers for one key (409s: " + conflict + ")");
            assertEquals(n - 1, conflict, "409s");
            assertEquals(reported, a.used(), "used");
            assertEquals(0, a.reserved(), "reserved");
        }
    }

    /**
     * QUOTA_HOLD_TTL=PT1S with a sweep every 100 ms and a 4 s model call holding 6,001 of 10,000. Two
     * seconds in (past the TTL), the same user sends a call that needs 5,001: had the first hold
     * lapsed, both would be served, past the allowance. The second must be 429, and the first is
     * charged its usage.
     */
    @Test
    void aCallThatOutlivesItsHoldKeepsItAndIsCharged() throws Exception {
        try (DemoApp app = DemoApp.start(demo().holdTtl(Duration.ofSeconds(1)).sweepInterval(Duration.ofMillis(100)).build())) {
            String u = user();
            String longCall = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":6000,\"mock_delay_ms\":4000}";
            ExecutorService pool = Executors.newSingleThreadExecutor();
            Future<HttpResponse<String>> first = pool.submit(() -> chat(app, u, "application/json", longCall));
            awaitReserved(app, u);
            Thread.sleep(2_000); // the hold's TTL passes; the sweep runs 20 times meanwhile
            HttpResponse<String> second = chat(app, u, "application/json",
                    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5000}");
            HttpResponse<String> r = first.get();
            pool.shutdown();
            awaitSettled(app, u);
            QuotaAccount a = account(app, u);
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(429, second.statusCode(), "second call while the first runs: " + second.body()
                    + " used=" + a.used() + " limit=" + a.limit());
            assertEquals(totalTokens(r.body()), a.used(), "used");
        }
    }

    /**
     * A streamed call whose client hangs up while the model is still working (mock_delay_ms), before any
     * byte of the answer: hanging up never makes a call free, so it is charged (its usage or the estimate).
     */
    @Test
    void aClientThatHangsUpDuringAStreamedCallIsCharged() throws Exception {
        try (DemoApp app = DemoApp.start(demo().build())) {
            String u = user();
            String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"stream me a story\"}],\"max_tokens\":300,"
                    + "\"stream\":true,\"mock_delay_ms\":1500}";
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            try (Socket s = new Socket("127.0.0.1", app.port())) {
                OutputStream out = s.getOutputStream();
                out.write(("POST " + DemoApp.CHAT_COMPLETIONS_PATH + " HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + u
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.write(bytes);
                out.flush();
                awaitReserved(app, u);
            } // hangs up while the model works
            awaitSettled(app, u);
            QuotaAccount a = account(app, u);
            assertTrue(a.used() > 0, "used " + a.used() + " after a model call whose client hung up");
        }
    }

    /**
     * A 2 MB chat body sent as text/plain: 413 whatever its label, nothing held or charged; and a
     * 750 KB JSON body under text/plain is held by what it says (429 on a 10,000 allowance), never at
     * the 1,000-token fallback.
     */
    @Test
    void misleadingContentTypesNeitherDodgeTheLimitNorTheEstimate() throws Exception {
        try (DemoApp app = DemoApp.start(demo().build())) {
            String u = user();
            HttpResponse<String> big = chat(app, u, "text/plain", bodyOf(2_000_000));
            HttpResponse<String> mid = chat(app, u, "text/plain; charset=us-ascii", bodyOf(750_000));
            QuotaAccount a = app.store().account(u, app.store().policy().currentMonth()).orElse(null);
            long used = a == null ? 0 : a.used();
            assertEquals(413, big.statusCode(), "2 MB under text/plain");
            assertEquals(429, mid.statusCode(), "750 KB under text/plain: " + mid.body());
            assertEquals(0, used, "used");
        }
    }

    /**
     * The quota headers on a 200 and on a 429: X-Quota-Limit/Remaining/Reset and the IETF RateLimit
     * fields on both, RateLimit's r equal to X-Quota-Remaining, Retry-After on the 429; and the 200's
     * remaining after the charge matches the ledger.
     */
    @Test
    void quotaHeadersOnTheAnswerAndTheRefusal() throws Exception {
        try (DemoApp app = DemoApp.start(demo().defaultAllocation(2_000).build())) {
            String u = user();
            HttpResponse<String> ok = chat(app, u, "application/json",
                    "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello, quota!\"}],\"max_tokens\":50}");
            HttpResponse<String> no = chat(app, u, "application/json",
                    "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello, quota!\"}],\"max_tokens\":5000}");
            assertEquals(200, ok.statusCode());
            assertEquals(429, no.statusCode());
            for (HttpResponse<String> r : List.of(ok, no)) {
                for (String h : List.of("X-Quota-Limit", "X-Quota-Remaining", "X-Quota-Reset", "RateLimit", "RateLimit-Policy")) {
                    assertTrue(r.headers().firstValue(h).isPresent(), h + " missing on " + r.statusCode());
                }
                String rl = r.headers().firstValue("RateLimit").orElseThrow();
                String rem = r.headers().firstValue("X-Quota-Remaining").orElseThrow();
                assertTrue(rl.contains(";r=" + rem + ";"), r.statusCode() + ": RateLimit " + rl + " vs remaining " + rem);
            }
            assertTrue(no.headers().firstValue("Retry-After").isPresent(), "Retry-After on 429");
            QuotaAccount a = account(app, u);
            assertEquals(String.valueOf(a.available()), no.headers().firstValue("X-Quota-Remaining").orElseThrow(),
                    "429's remaining vs ledger available (used " + a.used() + ")");
        }
    }

    /**
     * Methods the mock model does not serve (GET, PUT, DELETE) on the chat path with a large budget:
     * 405, the model never called, nothing charged.
     */
    @Test
    void methodsTheModelDoesNotServeAreNotCharged() throws Exception {
        try (DemoApp app = DemoApp.start(demo().build())) {
            String u = user();
            String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":8000}";
            URI uri = URI.create("http://127.0.0.1:" + app.port() + DemoApp.CHAT_COMPLETIONS_PATH);
            List<Integer> statuses = new ArrayList<>();
            for (String m : List.of("GET", "PUT", "DELETE", "PATCH")) {
                HttpRequest.BodyPublisher p = m.equals("GET") ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body);
                statuses.add(HTTP.send(HttpRequest.newBuilder(uri).header("x-user-id", u)
                        .header("content-type", "application/json").method(m, p).build(),
                        HttpResponse.BodyHandlers.ofString()).statusCode());
            }
            QuotaAccount a = app.store().account(u, app.store().policy().currentMonth()).orElse(null);
            long used = a == null ? 0 : a.used();
            assertEquals(0, used, "used after " + statuses);
        }
    }

    /**
     * An OPTIONS request carrying a chat body with max_tokens 8000 on the chat path. The mock model
     * serves POST only: the servlet API's default OPTIONS answers 200 with an Allow header and no
     * content, and no model runs. Nothing may be charged.
     */
    @Test
    void anOptionsWithABodyThatNoModelAnswersIsNotCharged() throws Exception {
        try (DemoApp app = DemoApp.start(demo().build())) {
            String u = user();
            String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":8000}";
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port()
                            + DemoApp.CHAT_COMPLETIONS_PATH)).header("x-user-id", u).header("content-type", "application/json")
                    .method("OPTIONS", HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            awaitSettled(app, u);
            QuotaAccount a = app.store().account(u, app.store().policy().currentMonth()).orElse(null);
            long used = a == null ? 0 : a.used();
            assertEquals(0, used, "used after OPTIONS answered " + r.statusCode() + " Allow="
                    + r.headers().firstValue("Allow").orElse("-") + " body='" + r.body() + "'");
        }
    }

    /**
     * A TRACE carrying a chat body: the servlet API's default TRACE echoes the request as message/http;
     * no model runs. Nothing may be charged.
     */
    @Test
    void aTraceWithABodyThatNoModelAnswersIsNotCharged() throws Exception {
        try (DemoApp app = DemoApp.start(demo().build())) {
            String u = user();
            String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":8000}";
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            String answer;
            try (Socket s = new Socket("127.0.0.1", app.port())) {
                OutputStream out = s.getOutputStream();
                out.write(("TRACE " + DemoApp.CHAT_COMPLETIONS_PATH + " HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + u
                        + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + bytes.length
                        + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(bytes);
                out.flush();
                answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            }
            awaitSettled(app, u);
            QuotaAccount a = app.store().account(u, app.store().policy().currentMonth()).orElse(null);
            long used = a == null ? 0 : a.used();
            assertEquals(0, used, "used after TRACE answered " + answer.lines().findFirst().orElse("-"));
        }
    }

    private static String bodyOf(int size) {
        StringBuilder text = new StringBuilder();
        String[] words = {"alpha ", "bravo ", "charlie ", "delta ", "echo ", "foxtrot ", "golf ", "hotel "};
        for (int i = 0; text.length() < size - 100; i++) {
            text.append(words[i % words.length]).append(i).append(' ');
        }
        return "{\"messages\":[{\"role\":\"user\",\"content\":\"" + text + "\"}],\"max_tokens\":50}";
    }

    private static long totalTokens(String body) {
        int i = body.lastIndexOf("\"total_tokens\":");
        if (i < 0) {
            fail("no usage in " + body);
        }
        int j = i + "\"total_tokens\":".length();
        int k = j;
        while (k < body.length() && Character.isDigit(body.charAt(k))) {
            k++;
        }
        return Long.parseLong(body.substring(j, k));
    }

    private static void awaitReserved(DemoApp app, String u) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline) {
            if (app.store().account(u, app.store().policy().currentMonth()).map(QuotaAccount::reserved).orElse(0L) > 0) {
                return;
            }
            Thread.sleep(10);
        }
        fail("no hold appeared for " + u);
    }

    private static void awaitSettled(DemoApp app, String u) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            if (app.store().account(u, app.store().policy().currentMonth()).map(QuotaAccount::reserved).orElse(0L) == 0) {
                return;
            }
            Thread.sleep(20);
        }
        fail("the hold of " + u + " never settled");
    }

    private static String many(int n, String content) {
        StringBuilder sb = new StringBuilder("{\"messages\":[");
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append("{\"role\":\"user\",\"content\":\"").append(content).append("\"}");
        }
        return sb.append("],\"max_tokens\":10}").toString();
    }
}
