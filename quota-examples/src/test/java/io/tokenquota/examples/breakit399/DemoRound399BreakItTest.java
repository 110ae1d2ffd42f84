package io.tokenquota.examples.breakit399;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.examples.DemoApp;
import io.tokenquota.examples.DemoConfig;
import java.io.ByteArrayOutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;

/**
 * Round 399: the demo as docs/demo.md starts it ({@code DemoConfig.fromEnv}, then {@code DemoApp.start}), attacked
 * over raw HTTP/1.1 sockets (so request targets and methods go out exactly as written). Request bodies are
 * OpenAI chat completions requests (platform.openai.com/docs/api-reference/chat/create: {@code model},
 * {@code messages[].content}, {@code max_tokens}, {@code stream}); the answers are the demo's mock model's
 * (MockModelServlet: OpenAI {@code chat.completion} / {@code chat.completion.chunk} with {@code usage}).
 * Payment callbacks are docs/servlet.md's ({@code X-Signature: sha256=<hex HMAC-SHA256 of the raw body>}).
 *
 * <p>No finding this round: every scenario below is a control that passes on today's code.
 */
class DemoRound399BreakItTest {
    private static final String ADMIN = "round399-admin-token-0123456789";
    private static final String SECRET = "round399-payment-secret-0123456789";
    private static final String CHAT = DemoApp.CHAT_COMPLETIONS_PATH;
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.USE_LONG_FOR_INTS);
    private static final String PROMPT = "Tell me about the sea and the ships that sail on it, at length. ".repeat(20);

    private static Map<String, String> env() {
        Map<String, String> env = new HashMap<>();
        env.put("PORT", "0");
        env.put("QUOTA_JDBC_URL", "jdbc:h2:mem:r399-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        env.put("QUOTA_ADMIN_TOKEN", ADMIN);
        env.put("QUOTA_PAYMENT_SECRET", SECRET);
        return env;
    }

    private static String chatBody(String model, boolean stream) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT
                + "\"}],\"max_tokens\":400,\"stream\":" + stream + "}";
    }

    /** One HTTP/1.1 request as written (RFC 9112 section 3: method SP request-target SP version), body in UTF-8. */
    private static String request(String method, String target, String user, String body, String... headers) {
        StringBuilder b = new StringBuilder(method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if (user != null) {
            b.append("x-user-id: ").append(user).append("\r\n");
        }
        for (String h : headers) {
            b.append(h).append("\r\n");
        }
        if (body != null) {
            b.append("Content-Type: application/json\r\nContent-Length: ")
                    .append(body.getBytes(StandardCharsets.UTF_8).length).append("\r\n\r\n").append(body);
        } else {
            b.append("\r\n");
        }
        return b.toString();
    }

    private static String exchange(DemoApp app, String request) throws Exception {
        try (Socket s = new Socket("127.0.0.1", app.port())) {
            s.setSoTimeout(30_000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            s.getInputStream().transferTo(out);
            return out.toString(StandardCharsets.UTF_8);
        }
    }

    private static int status(String response) {
        return Integer.parseInt(response.substring(9, 12));
    }

    /** The last {@code usage.total_tokens} the answer carried (the final usage chunk of a stream). */
    private static long usageOf(String response) {
        int i = response.lastIndexOf("\"total_tokens\":");
        assertTrue(i >= 0, "no usage in the answer");
        int j = i + "\"total_tokens\":".length();
        int k = j;
        while (Character.isDigit(response.charAt(k))) {
            k++;
        }
        return Long.parseLong(response.substring(j, k));
    }

    /** GET /quota once the user's holds are settled (the filter charges after the answer reached the client). */
    private static JsonNode settled(DemoApp app, String user) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            String r = exchange(app, request("GET", "/api/v1/user-quota/quota", user, null));
            JsonNode q = JSON.readTree(r.substring(r.indexOf("\r\n\r\n") + 4));
            if (q.get("reserved_tokens").asLong() == 0) {
                return q;
            }
            assertTrue(System.nanoTime() < deadline, "holds still open: " + q);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    private static long used(DemoApp app, String user) throws Exception {
        return settled(app, user).get("used_tokens").asLong();
    }

    /**
     * Control: request targets Jetty maps to the mock model (a path parameter, a dot segment, a
     * percent-encoded unreserved letter, the absolute form of RFC 9112 section 3.2.2) are served and
     * charged exactly the usage the answer reports; those it does not map (a trailing slash, another case)
     * or refuses (an empty segment, an encoded slash) charge nothing.
     */
    @Test
    void controlEveryTargetThatReachesTheMockIsChargedItsUsage() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            String body = chatBody("mock-gpt", false);
            String[] served = {CHAT, CHAT + ";x=1", "/api/v1/ai;x/chat/completions", "/api/v1/ai/./chat/completions",
                "/api/v1/x/../ai/chat/completions", "/api/v1/ai/chat/%63ompletions", "/api/v1/%61i/chat/completions",
                CHAT + "?x=1", "http://localhost" + CHAT};
            int n = 0;
            for (String target : served) {
                String user = "served" + n++;
                String r = exchange(app, request("POST", target, user, body));
                assertEquals(200, status(r), target);
                assertEquals(usageOf(r), used(app, user), target);
            }
            for (String target : new String[] {CHAT + "/", "/API/v1/ai/chat/completions", "/api/v1//ai/chat/completions",
                "/api/v1/ai%2Fchat/completions"}) {
                String user = "unserved" + n++;
                String r = exchange(app, request("POST", target, user, body));
                assertTrue(status(r) >= 400, target + ": " + status(r));
                assertEquals(0, used(app, user), target);
            }
        }
    }

    /** Control: every method but POST (HttpServlet's 405/501, OPTIONS and TRACE answered by the container) is free. */
    @Test
    void controlMethodsTheMockDoesNotServeChargeNothing() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            String body = chatBody("mock-gpt", false);
            for (String method : new String[] {"GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "post", "PROPFIND"}) {
                String user = "method-" + method;
                String r = exchange(app, request(method, CHAT, user, body, "X-HTTP-Method-Override: POST"));
                assertTrue(r.isEmpty() || !r.contains("total_tokens"), method + " reached the mock");
                assertEquals(0, used(app, user), method);
            }
        }
    }

    /**
     * Control: the mock echoes the request's {@code model} in every chunk (OpenAI's chunk object carries
     * {@code model}); a 300,000-character name makes each SSE event ~300 KB, yet the final usage chunk is
     * read: the call costs exactly its usage, streamed or not.
     */
    @Test
    void controlAHugeEchoedModelNameDoesNotHideTheUsage() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            String model = "mock-" + "x".repeat(300_000);
            for (boolean stream : new boolean[] {false, true}) {
                String user = "huge-" + stream;
                String r = exchange(app, request("POST", CHAT, user, chatBody(model, stream)));
                assertEquals(200, status(r));
                assertEquals(usageOf(r), used(app, user), "stream=" + stream);
            }
        }
    }

    /**
     * Control: a client that reads the first bytes of a stream whose events are ~200 KB each and then resets
     * the connection is never charged less than the same call read to its end.
     */
    @Test
    void controlAStreamCutAfterItsFirstBytesCostsAtLeastTheWholeCall() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            String body = chatBody("mock-" + "x".repeat(200_000), true);
            long whole = usageOf(exchange(app, request("POST", CHAT, "reader", body)));
            assertEquals(whole, used(app, "reader"));
            try (Socket s = new Socket("127.0.0.1", app.port())) {
                s.setReceiveBufferSize(4096);
                s.getOutputStream().write(request("POST", CHAT, "quitter", body).getBytes(StandardCharsets.UTF_8));
                byte[] first = new byte[1024];
                int n = s.getInputStream().read(first);
                assertTrue(new String(first, 0, n, StandardCharsets.ISO_8859_1).startsWith("HTTP/1.1 200"));
                s.setSoLinger(true, 0);
            }
            long quitter = used(app, "quitter");
            assertTrue(quitter >= whole, "a cut stream cost " + quitter + ", the whole call " + whole);
        }
    }

    /**
     * Control: eight copies of one {@code completed} callback delivered at once (Stripe retries and may deliver
     * an event more than once, docs.stripe.com/webhooks#handle-duplicate-events) credit its 5,000 tokens once
     * and all answer 200.
     */
    @Test
    void controlConcurrentCopiesOfOneCompletedCallbackCreditOnce() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            String body = "{\"transaction_id\":\"tx-r399\",\"user_id\":\"payer\",\"token_amount\":5000,\"amount\":\"9.99\","
                    + "\"currency\":\"USD\",\"payment_method\":\"card\",\"status\":\"completed\"}";
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            String signature = "X-Signature: sha256=" + HexFormat.of().formatHex(mac.doFinal(body.getBytes(StandardCharsets.UTF_8)));
            CountDownLatch go = new CountDownLatch(1);
            List<Integer> statuses = Collections.synchronizedList(new ArrayList<>());
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                Thread t = new Thread(() -> {
                    try {
                        go.await();
                        statuses.add(status(exchange(app, request("POST", "/api/v1/user-quota/payment-callback", null, body, signature))));
                    } catch (Exception e) {
                        statuses.add(-1);
                    }
                });
                t.start();
                threads.add(t);
            }
            go.countDown();
            for (Thread t : threads) {
                t.join();
            }
            assertEquals(Collections.nCopies(8, 200), statuses);
            JsonNode q = settled(app, "payer");
            assertEquals(5000, q.get("purchased_tokens").asLong());
            assertEquals(15_000, q.get("total_quota").asLong());
        }
    }
}
