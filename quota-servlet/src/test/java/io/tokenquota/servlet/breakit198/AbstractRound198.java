package io.tokenquota.servlet.breakit198;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 198 of issue 11: items 4 (one Idempotency-Key sent by many clients at once) and the IETF
 * RateLimit fields on the filter's own refusals.
 */
abstract class AbstractRound198 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u198-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String BODY = "{\"model\":\"gpt-4o\",\"max_tokens\":200,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the contract.\"}]}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/chat")
                .onStartup(filter::registerByServletName);
    }

    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"The contract says ...\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":200,\"total_tokens\":500}}");
        }
    }

    /** Twelve clients (an SDK's retries fanned out by a load balancer) send one key at once: one model call. */
    @Test
    void oneKeySentByTwelveClientsAtOnceBuysOneModelCall() throws Exception {
        String s = subject();
        String key = "idem-" + UUID.randomUUID();
        int n = 12;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<HttpResponse<String>>> futures = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            futures.add(pool.submit(() -> {
                go.await();
                return TestHttp.send(TestHttp.jsonPost(container.uri("/ai/chat"), s, BODY, "Idempotency-Key", key));
            }));
        }
        go.countDown();
        int ok = 0;
        int conflicts = 0;
        for (Future<HttpResponse<String>> f : futures) {
            HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
            if (r.statusCode() == 200) ok++;
            if (r.statusCode() == 409) conflicts++;
        }
        pool.shutdown();
        assertEquals(1, calls.of(s), "model calls for one key");
        assertEquals(1, ok);
        assertEquals(n - 1, conflicts);
        assertEquals(500, settled(s).used(), ledger(s));
    }

    /** A 409 for a replayed key is a protected response: docs/servlet.md step 5 puts the quota fields on every one. */
    @Test
    void aReplayedKeysConflictCarriesTheQuotaFields() {
        String s = subject();
        String key = "idem-" + UUID.randomUUID();
        HttpResponse<String> first = TestHttp.send(TestHttp.jsonPost(container.uri("/ai/chat"), s, BODY, "Idempotency-Key", key));
        assertEquals(200, first.statusCode(), first.body());
        assertNotNull(first.headers().firstValue("RateLimit").orElse(null));
        HttpResponse<String> again = TestHttp.send(TestHttp.jsonPost(container.uri("/ai/chat"), s, BODY, "Idempotency-Key", key));
        assertEquals(409, again.statusCode(), again.body());
        assertEquals(1, calls.of(s));
        assertNotNull(again.headers().firstValue("RateLimit").orElse(null), "RateLimit on the 409: " + again.headers().map());
    }

    /** The 429's RateLimit figures agree with its X-Quota figures and its body. */
    @Test
    void aRefusalsRateLimitAgreesWithItsBody() {
        String s = subject();
        String big = "{\"model\":\"gpt-4o\",\"max_tokens\":16000,\"messages\":[{\"role\":\"user\",\"content\":\"Write.\"}]}";
        HttpResponse<String> a = TestHttp.send(TestHttp.jsonPost(container.uri("/ai/chat"), s, big));
        assertEquals(200, a.statusCode(), a.body());
        HttpResponse<String> b = TestHttp.send(TestHttp.jsonPost(container.uri("/ai/chat"), s, big));
        // after 500 used, 19,500 remain: 16,000+ fits
        assertEquals(200, b.statusCode(), b.body());
        long used = settled(s).used();
        assertEquals(1_000, used);
        String huge = "{\"model\":\"gpt-4o\",\"max_tokens\":16384,\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"Write.\"}]}";
        HttpResponse<String> c = TestHttp.send(TestHttp.jsonPost(container.uri("/ai/chat"), s, huge));
        assertEquals(429, c.statusCode(), c.body());
        String rl = c.headers().firstValue("RateLimit").orElse("");
        String rem = c.headers().firstValue("X-Quota-Remaining").orElse("");
        assertEquals("\"monthly-tokens\";r=" + rem + ";t=" + c.headers().firstValue("Retry-After").orElse("?"), rl,
                c.headers().map().toString() + c.body());
        assertEquals("19000", rem);
    }
}
