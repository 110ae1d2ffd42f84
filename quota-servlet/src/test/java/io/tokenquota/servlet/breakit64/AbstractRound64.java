package io.tokenquota.servlet.breakit64;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 64 of issue 11: breadth over the issue's items 1-12 and its "Also" list, as a new user and a
 * hostile client meet the filter (not image sizing, image output estimates or error-shaped answers).
 */
abstract class AbstractRound64 extends H2FilterRound {
    static final byte[] PAYMENT_SECRET = "round64-payment-secret-0123456789".getBytes(StandardCharsets.UTF_8);

    /** Model calls per subject (every endpoint of this round counts them). */
    static final ModelCalls CALLS = new ModelCalls();

    static String subject() {
        return "u64-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // a second filter with a short hold, as QUOTA_HOLD_TTL=PT1S configures it, protecting /slow/
        QuotaFilter shortHold = filterFor("/slow/").holdTtl(Duration.ofSeconds(1)).build();
        // a gateway whose Spring MVC application is mounted at the root, as Spring Boot mounts it
        QuotaFilter gateway = filterFor("/gw/ai/").build();
        QuotaApiServlet api = QuotaApiServlet.builder(store).paymentSecret(PAYMENT_SECRET)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("short-hold", shortHold, "/slow/*")
                .filter("gateway", gateway, "/*")
                .servlet("models", new Models(), "/ai/*")
                .servlet("slow", new Slow(), "/slow/*")
                .servlet("quota-api", api, "/qapi/*")
                .forwardedHeaders("/ai/fwd/")
                .servlet("spring-root", SpringMvc.dispatcher(Gateway.class), "/");
    }

    /** A Spring gateway: every path under /gw/ai/ is relayed to the model (here: answered with usage). */
    @RestController
    public static class Gateway {
        @PostMapping("/gw/ai/**")
        public Map<String, Object> relay(@RequestHeader("x-user-id") String user, @RequestBody String body) {
            CALLS.count(user);
            return Map.of("id", "chatcmpl-gw", "object", "chat.completion",
                    "choices", List.of(Map.of("index", 0, "message", Map.of("role", "assistant", "content", "hello"))),
                    "usage", Map.of("prompt_tokens", 4_000, "completion_tokens", 1_000, "total_tokens", 5_000));
        }
    }

    /** Endpoints under /ai/ (the round's default filter). */
    public static class Models extends HttpServlet {
        static final CountDownLatch RELEASE = new CountDownLatch(1);

        /**
         * {@code GET /ai/v1/report?topic=…}: the model writes a report over the user's document library
         * (12,000 tokens, reported as OpenAI usage in the JSON answer).
         */
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            CALLS.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"chatcmpl-r\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"The report.\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":11000,\"completion_tokens\":1000,\"total_tokens\":12000}}")
                    .getBytes(StandardCharsets.UTF_8));
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            if (path.equals("/v1/held")) {
                // a slow model call: waits until the test lets it answer (at most 20 s)
                CALLS.count(user);
                try {
                    RELEASE.await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                json(resp, 3_000);
                return;
            }
            if (path.equals("/v1/sse-timeout")) {
                // an SseEmitter-style handler: async, 300 ms timeout, the whole answer (with usage) written
                // and flushed, the emitter never completed: the container's timeout ends the cycle
                CALLS.count(user);
                AsyncContext ctx = req.startAsync();
                ctx.setTimeout(300);
                resp.setContentType("text/event-stream");
                resp.setCharacterEncoding("UTF-8");
                var out = resp.getOutputStream();
                out.write(("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                        + "\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n"
                        + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
                        + "\"usage\":{\"prompt_tokens\":2000,\"completion_tokens\":5000,\"total_tokens\":7000}}\n\n"
                        + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                return;
            }
            if (path.startsWith("/v1/text")) {
                // a relay answering the model's text alone, no usage: charged the estimate
                CALLS.count(user);
                resp.setContentType("text/plain;charset=utf-8");
                resp.getWriter().write("An answer.");
                return;
            }
            CALLS.count(user);
            json(resp, 3_000);
        }

        static void json(HttpServletResponse resp, long total) throws IOException {
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"chatcmpl-x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":" + (total - 500) + ",\"completion_tokens\":500,\"total_tokens\":" + total
                    + "}}").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A long reasoning call under /slow/ (hold TTL 1 s): answers after 2.5 s, with usage
     * ({@code /slow/usage}) or as plain text without usage ({@code /slow/text}).
     */
    public static class Slow extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            CALLS.count(req.getHeader("x-user-id"));
            long until = System.nanoTime() + Duration.ofMillis(2_500).toNanos();
            while (System.nanoTime() < until) {
                LockSupport.parkNanos(until - System.nanoTime());
            }
            if ("/usage".equals(req.getPathInfo())) {
                Models.json(resp, 9_000);
            } else {
                resp.setContentType("text/plain;charset=utf-8");
                resp.getWriter().write("A long considered answer.");
            }
        }
    }

    private static long used(QuotaAccount a) {
        return a.used();
    }

    /**
     * The subject's used tokens once its hold has ended by a commit, a release or, after an expiry, a late
     * commit (polled up to 10 s after the expiry; an expired hold that nothing commits stays at 0).
     */
    private long usedAfterExpiry(String s) {
        settled(s);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < deadline) {
            String events = ledger(s);
            if (events.contains("COMMITTED") || events.contains("RELEASED")) {
                break;
            }
            LockSupport.parkNanos(Duration.ofMillis(20).toNanos());
        }
        return store.account(s).used();
    }

    // ---- item 6 / "Also": a HEAD of a GET model endpoint --------------------------------------------

    /**
     * HttpServlet answers HEAD by running doGet with the body discarded: the model ran (12,000 tokens,
     * reported in the body it wrote), the client only gets headers. Promise: a model call that ran is
     * charged, at least its reported usage.
     */
    @Test
    void headOfAGetModelEndpointIsChargedTheUsageTheHandlerWrote() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.request(container.uri("/ai/v1/report?topic=q3"), "x-user-id", s)
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, r.statusCode());
        assertEquals(1, CALLS.of(s), "the model ran once");
        long used = used(settled(s));
        assertTrue(used >= 12_000, "HEAD ran a 12,000-token model call, charged " + used + " " + ledger(s));
    }

    // ---- item 2: a call that outlives its hold -------------------------------------------------------

    @Test
    void callOutlivingItsOneSecondHoldIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/slow/usage"), s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"think hard\"}],\"max_tokens\":500}");
        assertEquals(200, r.statusCode(), r.body());
        long used = usedAfterExpiry(s);
        assertEquals(9_000, used, "the answer reported 9,000 tokens " + ledger(s));
    }

    @Test
    void callOutlivingItsOneSecondHoldWithoutUsageIsChargedTheEstimate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/slow/text"), s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"think hard\"}],\"max_tokens\":500}");
        assertEquals(200, r.statusCode(), r.body());
        long used = usedAfterExpiry(s);
        assertTrue(used >= 500, "a call answered without usage is charged its estimate (>= 500), charged " + used
                + " " + ledger(s));
    }

    // ---- item 3: async timeout after the whole answer ------------------------------------------------

    @Test
    void sseAnswerWrittenThenContainerTimeoutIsChargedItsUsage() {
        String s = subject();
        try {
            TestHttp.postJson(container.uri("/ai/v1/sse-timeout"), s,
                    "{\"messages\":[{\"role\":\"user\",\"content\":\"write\"}],\"stream\":true,"
                            + "\"stream_options\":{\"include_usage\":true}}");
        } catch (java.io.UncheckedIOException cut) {
            // the container may end the timed-out exchange by closing the connection
        }
        assertEquals(1, CALLS.of(s));
        long used = used(settled(s));
        assertEquals(7_000, used, "the stream reported 7,000 tokens " + ledger(s));
    }

    // ---- item 4: one Idempotency-Key, many clients at once -------------------------------------------

    @Test
    void oneIdempotencyKeyFromTwelveClientsAtOnceBuysOneModelCall() throws Exception {
        String s = subject();
        String key = "k64-" + UUID.randomUUID();
        ExecutorService pool = Executors.newFixedThreadPool(12);
        try {
            CountDownLatch go = new CountDownLatch(1);
            List<Future<HttpResponse<String>>> answers = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                answers.add(pool.submit(() -> {
                    go.await();
                    return TestHttp.postJson(container.uri("/ai/v1/held"), s,
                            "{\"messages\":[{\"role\":\"user\",\"content\":\"same call\"}],\"max_tokens\":100}",
                            "Idempotency-Key", key);
                }));
            }
            go.countDown();
            // all but the first come back at once (409); then the first may answer
            long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
            while (answers.stream().filter(Future::isDone).count() < 11 && System.nanoTime() < deadline) {
                LockSupport.parkNanos(Duration.ofMillis(10).toNanos());
            }
            Models.RELEASE.countDown();
            int ok = 0;
            for (Future<HttpResponse<String>> f : answers) {
                if (f.get(30, TimeUnit.SECONDS).statusCode() == 200) {
                    ok++;
                }
            }
            assertEquals(1, CALLS.of(s), "model calls for one key");
            assertEquals(1, ok, "full answers for one key");
            assertEquals(3_000, used(settled(s)), ledger(s));
        } finally {
            pool.shutdownNow();
        }
    }

    /** The same key from two subjects: whatever is served is charged to the one it was served to. */
    @Test
    void oneIdempotencyKeyFromTwoSubjectsChargesEachServedCall() {
        String a = subject();
        String b = subject();
        String key = "shared-" + UUID.randomUUID();
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"same words\"}],\"max_tokens\":100}";
        HttpResponse<String> ra = TestHttp.postJson(container.uri("/ai/v1/chat"), a, body, "Idempotency-Key", key);
        HttpResponse<String> rb = TestHttp.postJson(container.uri("/ai/v1/chat"), b, body, "Idempotency-Key", key);
        assertEquals(200, ra.statusCode(), ra.body());
        long ua = used(settled(a));
        long ub = used(settled(b));
        assertEquals(3_000, ua, ledger(a));
        assertEquals(CALLS.of(b) == 0 ? 0 : 3_000, ub, "b: " + rb.statusCode() + " " + ledger(b));
    }

    // ---- item 9: path-segment protection, as Spring matches paths ------------------------------------

    /**
     * Spring MVC mounted at the root matches the raw request URI; the container normalises dot segments
     * for the servlet path the filter reads. {@code /gw/ai/v1/chat/../../../../pub} is {@code /pub} to
     * the filter and {@code /gw/ai/**} to Spring.
     */
    @Test
    void dotSegmentsTakeARawPathPastTheFilterToAProtectedSpringRoute() throws IOException {
        String s = subject();
        String answer = rawPost("/gw/ai/v1/chat/../../../../pub", s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        String status = answer.lines().findFirst().orElse("");
        long used = used(settled(s));
        assertTrue(used >= 5_000L * CALLS.of(s), "the model ran " + CALLS.of(s) + " time(s) (" + status + "), charged "
                + used + " " + ledger(s));
        // the plain path is charged as a baseline
        String plain = subject();
        rawPost("/gw/ai/v1/chat", plain, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertEquals(5_000, used(settled(plain)), ledger(plain));
    }

    private String rawPost(String path, String subject, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", container.port()), 5_000);
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    + "x-user-id: " + subject + "\r\nContent-Type: application/json\r\nContent-Length: " + bytes.length
                    + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().write(bytes);
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    // ---- item 1: labels and sizes --------------------------------------------------------------------

    @Test
    void textPlainLabelStillGets413AndTheEstimate() {
        String s = subject();
        String big = "{\"messages\":[{\"role\":\"user\",\"content\":\"" + "word ".repeat(440_000) + "\"}]}";
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/v1/chat"), big.getBytes(StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "text/plain");
        assertEquals(413, r.statusCode());
        assertEquals(0, CALLS.of(s));
        assertEquals(0, used(settled(s)), ledger(s));
    }

    // ---- item 11: the payment callback's decimal amounts ---------------------------------------------

    @Test
    void paymentCallbackTakesDecimalStringAndNumberAmounts() {
        String s = subject();
        for (String amount : List.of("\"3300.00\"", "3300.5", "\"3300.5\"")) {
            String tx = "tx-" + UUID.randomUUID();
            String body = "{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + s + "\",\"token_amount\":1000,"
                    + "\"amount\":" + amount + ",\"currency\":\"USD\",\"payment_method\":\"card\",\"status\":\"completed\"}";
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            HttpResponse<String> r = TestHttp.post(container.uri("/qapi/payment-callback"), bytes,
                    "Content-Type", "application/json", "X-Signature", TestHttp.signature(PAYMENT_SECRET, bytes));
            assertEquals(200, r.statusCode(), amount + ": " + r.body());
        }
    }

    // ---- item 6: 4xx from the endpoint ---------------------------------------------------------------

    @Test
    void putAnsweredMethodNotAllowedIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.put(container.uri("/ai/v1/chat"), "{\"max_tokens\":8000}",
                "x-user-id", s, "Content-Type", "application/json");
        assertEquals(405, r.statusCode());
        assertEquals(0, used(settled(s)), ledger(s));
    }

    // ---- item 10: estimate coverage (answers without usage are charged the estimate) -----------------

    @Test
    void geminiBudgetAndSystemInstructionAreHeld() {
        String s = subject();
        String body = "{\"systemInstruction\":{\"parts\":[{\"text\":\"" + "Follow the style guide closely. ".repeat(400)
                + "\"}]},\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                + "\"generationConfig\":{\"maxOutputTokens\":8000}}";
        assertEquals(200, TestHttp.postJson(container.uri("/ai/v1/text/gemini"), s, body).statusCode());
        long used = used(settled(s));
        assertTrue(used >= 8_000 + 2_000, "budget 8,000 + ~2,400 tokens of system instruction, charged " + used);
    }

    @Test
    void responsesInstructionsInputAndToolsAreHeld() {
        String s = subject();
        String body = "{\"model\":\"gpt-4.1\",\"instructions\":\"" + "Answer as a tax adviser would. ".repeat(300)
                + "\",\"input\":[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
                + "\"text\":\"" + "My situation is complicated. ".repeat(300) + "\"}]}],"
                + "\"tools\":[{\"type\":\"function\",\"name\":\"lookup\",\"description\":\""
                + "Looks up a regulation by its number. ".repeat(300) + "\",\"parameters\":{\"type\":\"object\","
                + "\"properties\":{\"number\":{\"type\":\"string\"}}}}],\"max_output_tokens\":2000}";
        assertEquals(200, TestHttp.postJson(container.uri("/ai/v1/text/responses"), s, body).statusCode());
        long used = used(settled(s));
        assertTrue(used >= 2_000 + 4_000, "budget 2,000 + ~5,000 tokens of text, charged " + used);
    }

    @Test
    void unknownCharsetIs415AndNotCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/v1/chat"),
                "{\"messages\":[]}".getBytes(StandardCharsets.UTF_8), "x-user-id", s,
                "Content-Type", "application/json; charset=x-no-such-charset");
        assertTrue(r.statusCode() == 415 || r.statusCode() == 400, r.statusCode() + " " + r.body());
        assertEquals(0, CALLS.of(s));
        assertEquals(0, used(settled(s)), ledger(s));
    }

    // ---- item 7: forwarded headers -------------------------------------------------------------------

    @Test
    void forwardedLoopbackAddressDoesNotMakeAStrangerTheVictim() throws IOException {
        String victim = subject();
        String answer = TestHttp.rawPostFrom("127.0.0.2", container.port(), "/ai/fwd/v1/chat",
                "X-Forwarded-For: 127.0.0.1", "x-user-id: " + victim);
        assertEquals(0, CALLS.of(victim), answer);
        assertEquals(0, used(settled(victim)), ledger(victim));
    }
}
