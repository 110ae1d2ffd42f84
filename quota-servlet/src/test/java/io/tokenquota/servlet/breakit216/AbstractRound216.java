package io.tokenquota.servlet.breakit216;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 216 of issue 11 (items 10 and 4).
 *
 * <p>Item 10: a .NET client ({@code new StringContent(json, Encoding.Unicode, "application/json")})
 * sends its JSON as UTF-16LE <em>without</em> a byte order mark, labelled {@code charset=utf-16}. Spring's
 * Jackson converter reads a UTF-16/UTF-32 label from the bytes ({@code objectMapper.readValue(InputStream)}),
 * and Jackson detects little-endian from the zero bytes, so the endpoint reads the call exactly, its
 * {@code max_tokens} too. The endpoint here reads the body the same way (Jackson on the input stream),
 * calls a reasoning model with that budget on a stream without {@code include_usage} (no usage comes),
 * so the call is charged its estimate, whose output part is the budget: it must be the budget the
 * endpoint sent the model, as for the same call in UTF-8.
 */
abstract class AbstractRound216 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    final Map<String, Integer> budgets = new ConcurrentHashMap<>();
    static final ObjectMapper JSON = new ObjectMapper();

    static String subject() {
        return "u216-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/chat")
                .servlet("async", new Async(), "/ai/async")
                .servlet("invalid", new Invalid(), "/ai/invalid")
                .onStartup(filter::registerByServletName);
    }

    /**
     * A chat relay that reads its request as Spring's Jackson converter does for a Unicode label (the
     * bytes, encoding detected), and streams the model's answer without usage (no include_usage).
     */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            int budget = body.path("max_tokens").asInt(0);
            String s = req.getHeader("x-user-id");
            calls.count(s);
            budgets.put(s, budget);
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            PrintWriter w = resp.getWriter();
            // a reasoning model thought through its whole budget, then answered shortly
            w.write("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"o3-mini\","
                    + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Yes.\"}}]}\n\n");
            w.write("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"o3-mini\","
                    + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
            w.write("data: [DONE]\n\n");
            w.flush();
        }
    }

    /**
     * Items 2/3: an async relay whose worker thread writes the whole stream, usage included, and never
     * completes the cycle; the container's 1 s timeout ends it. The client hangs up after the usage.
     */
    class Async extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            jakarta.servlet.AsyncContext ctx = req.startAsync(req, resp);
            ctx.setTimeout(1_000);
            resp.setContentType("text/event-stream");
            new Thread(() -> {
                try {
                    jakarta.servlet.ServletOutputStream out = ctx.getResponse().getOutputStream();
                    for (int i = 0; i < 50; i++) {
                        out.write(("data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                                + "\"delta\":{\"content\":\"word \"}}]}\n\n").getBytes(StandardCharsets.UTF_8));
                    }
                    out.write(("data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
                            + "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":8000,\"total_tokens\":9000}}\n\n")
                            .getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    // and never completes the cycle: the container's timeout ends it
                } catch (IOException gone) {
                    // the client left; the cycle is left to the container's timeout
                }
            }).start();
        }
    }

    @Test
    void anAsyncStreamCutAfterItsUsageAndTimedOutIsChargedItsUsage() throws Exception {
        String s = subject();
        String seen = TestHttp.postAndHangUpAfter(container.port(), "/ai/async", s, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "total_tokens");
        assertTrue(seen.contains("total_tokens"), seen);
        long used = chargedAtLeast(s, 9_000).used();
        assertTrue(used >= 9_000, "charged " + used + ": " + ledger(s));
    }

    /** Item 6: a validation failure, Spring's 422 problem body written under the status set first: no model call. */
    class Invalid extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JSON.readTree(req.getInputStream());
            resp.setStatus(422);
            resp.setContentType("application/problem+json");
            resp.getOutputStream().write("{\"type\":\"about:blank\",\"title\":\"Unprocessable Entity\",\"status\":422,\"detail\":\"messages must not be empty\"}"
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    @Test
    void aValidationFailureWithAProblemBodyIsReleased() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/invalid"), s, CALL, "Idempotency-Key", "v-" + s);
        assertEquals(422, r.statusCode(), r.body());
        long used = settled(s).used();
        assertEquals(0, used, "no model was called: " + ledger(s));
        // the fixed request with a new key is served
        HttpResponse<String> again = TestHttp.postJson(container.uri("/ai/chat"), s, CALL, "Idempotency-Key", "w-" + s);
        assertEquals(200, again.statusCode(), again.body());
    }

    static final String CALL = "{\"model\":\"o3-mini\",\"stream\":true,\"max_tokens\":16000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Is there a prime between 10^100 and 10^100+1000? Think carefully.\"}]}";

    HttpResponse<String> send(String s, byte[] body, String contentType) {
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/chat"), s, "Content-Type", contentType)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
    }

    /** Control: the call in UTF-8 is held and charged its budget. */
    @Test
    void theCallInUtf8IsChargedItsBudget() {
        String s = subject();
        HttpResponse<String> r = send(s, CALL.getBytes(StandardCharsets.UTF_8), "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(16000, budgets.get(s));
        long used = settled(s).used();
        assertTrue(used >= 16_000, "charged " + used + ": " + ledger(s));
    }

    /** The attack: the same call as .NET's Encoding.Unicode sends it (UTF-16LE, no BOM, charset=utf-16). */
    @Test
    void theCallInUtf16LeWithoutBomIsChargedItsBudget() {
        String s = subject();
        HttpResponse<String> r = send(s, CALL.getBytes(StandardCharsets.UTF_16LE), "application/json; charset=utf-16");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(16000, budgets.get(s), "the endpoint read the call's budget");
        long used = settled(s).used();
        assertTrue(used >= 16_000, "a call the endpoint sent with max_tokens 16000, answered without usage, is charged"
                + " its budget as in UTF-8; charged " + used + " (hold header " + r.headers().firstValue("X-Quota-Remaining")
                + "): " + ledger(s));
    }

    /** The same UTF-16LE call with its byte order mark (FF FE), labelled charset=utf-16. */
    @Test
    void theCallInUtf16LeWithBomIsChargedItsBudget() {
        String s = subject();
        byte[] bom = {(byte) 0xFF, (byte) 0xFE};
        byte[] text = CALL.getBytes(StandardCharsets.UTF_16LE);
        byte[] body = new byte[bom.length + text.length];
        System.arraycopy(bom, 0, body, 0, 2);
        System.arraycopy(text, 0, body, 2, text.length);
        HttpResponse<String> r = send(s, body, "application/json; charset=utf-16");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(16000, budgets.get(s));
        long used = settled(s).used();
        assertTrue(used >= 16_000, "charged " + used + ": " + ledger(s));
    }

    /** The same UTF-16LE bytes labelled UTF-8 (a client that labels every body UTF-8): Jackson detects them too. */
    @Test
    void theCallInUtf16LeLabelledUtf8IsChargedItsBudget() {
        String s = subject();
        HttpResponse<String> r = send(s, CALL.getBytes(StandardCharsets.UTF_16LE), "application/json; charset=utf-8");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(16000, budgets.get(s));
        long used = settled(s).used();
        assertTrue(used >= 16_000, "charged " + used + ": " + ledger(s));
    }

    /**
     * Item 4: one Idempotency-Key sent at once by 12 clients, with two different bodies. At most one
     * model call; it is charged.
     */
    @Test
    void oneKeySentAtOnceBuysOneCall() throws Exception {
        String s = subject();
        String key = "k-" + UUID.randomUUID();
        int n = 12;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<HttpResponse<String>>> all = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                String body = i % 2 == 0 ? CALL : CALL.replace("16000", "200");
                all.add(pool.submit(() -> {
                    go.await();
                    return TestHttp.fresh().send(TestHttp.jsonPost(container.uri("/ai/chat"), s, body, "Idempotency-Key", key),
                            HttpResponse.BodyHandlers.ofString());
                }));
            }
            go.countDown();
            int ok = 0;
            for (Future<HttpResponse<String>> f : all) {
                if (f.get(60, TimeUnit.SECONDS).statusCode() == 200) {
                    ok++;
                }
            }
            assertEquals(1, ok, "one key, one answer");
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, calls.of(s), "one key, one model call");
        long used = settled(s).used();
        assertTrue(used >= 200, "charged " + used);
    }
}
