package io.tokenquota.examples;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.testkit.MutableClock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static io.tokenquota.examples.TestJson.longAt;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The original Python/FastAPI service's four scenarios over real HTTP against the demo's wiring (embedded Jetty, quota filter,
 * quota API, mock model, JDBI store on H2), each with its own users so they do not interfere.
 */
class DemoScenariosTest {
    private static final YearMonth MONTH = YearMonth.of(2026, 11);
    private static final MutableClock CLOCK = MutableClock.at(MONTH, 10, 9);

    private static DemoApp app;
    private static DemoClient client;

    @BeforeAll
    static void start() throws Exception {
        app = DemoApp.start(DemoConfig.builder()
                .port(0)
                .host("127.0.0.1")
                .jdbc("jdbc:h2:mem:scenarios-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1", "sa", "")
                .adminToken(DemoClient.ADMIN_TOKEN)
                .paymentSecret(DemoClient.PAYMENT_SECRET)
                .clock(CLOCK)
                .build());
        client = new DemoClient(app.baseUri());
    }

    @AfterAll
    static void stop() throws Exception {
        if (app != null) {
            app.close();
        }
    }

    private static String user(String role) {
        return role + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** Scenario 1: the first AI request of a new user creates the month's quota and succeeds. */
    @Test
    void newUsersFirstRequestCreatesTheQuotaAndSucceeds() throws Exception {
        String user = user("new");
        assertTrue(app.store().account(user, MONTH).isEmpty(), "no account before the first request");

        HttpResponse<String> r = client.chat(user, "Hello! Summarise my week in one line.", 40);

        assertEquals(200, r.statusCode(), r.body());
        long total = longAt(TestJson.object(r.body()), "usage", "total_tokens");
        assertTrue(total > 0);
        assertEquals("10000", r.headers().firstValue("X-Quota-Limit").orElseThrow());
        // the headers leave before the charge: they count the request's hold, at least its usage
        long remainingHeader = Long.parseLong(r.headers().firstValue("X-Quota-Remaining").orElseThrow());
        assertTrue(remainingHeader > 0 && remainingHeader <= 10_000 - total, "X-Quota-Remaining " + remainingHeader);

        Map<String, Object> q = client.settledQuota(user);
        assertEquals(user, q.get("user_id"));
        assertEquals("2026-11-01", q.get("plan_month"));
        assertEquals(10_000, longAt(q, "allocated_quota"));
        assertEquals(total, longAt(q, "used_tokens"));
        assertEquals(10_000 - total, longAt(q, "remaining_tokens"));
        assertEquals(0, longAt(q, "reserved_tokens"));
        assertEquals(Boolean.FALSE, q.get("is_quota_exceeded"));
    }

    /** Scenario 2: every request is charged exactly the usage the model reported, streaming included. */
    @Test
    void normalRequestsAreChargedTheirUsage() throws Exception {
        String user = user("normal");
        long charged = 0;
        String[] prompts = {"What is a token quota?", "Translate 'good morning' into Korean.",
                "Write a haiku about month-end rollovers and purchased credits.", "Ok"};
        int[] budgets = {16, 64, 200, 1};
        for (int i = 0; i < prompts.length; i++) {
            HttpResponse<String> r = client.chat(user, prompts[i], budgets[i]);
            assertEquals(200, r.statusCode(), r.body());
            Map<String, Object> body = TestJson.object(r.body());
            long completion = longAt(body, "usage", "completion_tokens");
            assertTrue(completion <= budgets[i], "completion " + completion + " within max_tokens " + budgets[i]);
            assertEquals(longAt(body, "usage", "prompt_tokens") + completion, longAt(body, "usage", "total_tokens"));
            charged += longAt(body, "usage", "total_tokens");
        }

        HttpResponse<String> streamed = client.chat(user, "Stream me a long answer, please.", 48, "\"stream\":true");
        assertEquals(200, streamed.statusCode(), streamed.body());
        assertTrue(streamed.headers().firstValue("content-type").orElseThrow().startsWith("text/event-stream"));
        assertTrue(streamed.body().endsWith("data: [DONE]\n\n"), streamed.body());
        Map<String, Object> usage = lastUsage(streamed.body());
        assertTrue(longAt(usage, "completion_tokens") <= 48);
        charged += longAt(usage, "total_tokens");

        Map<String, Object> q = client.settledQuota(user);
        assertEquals(charged, longAt(q, "used_tokens"));
        assertEquals(10_000 - charged, longAt(q, "remaining_tokens"));
        assertEquals(0, longAt(q, "reserved_tokens"), "every hold was settled");
        QuotaAccount account = app.store().account(user, MONTH).orElseThrow();
        assertEquals(charged, account.used());
    }

    /**
     * Scenario 3: a user who runs out gets 429 with Retry-After until the month resets; an admin
     * top-up, then a signed payment callback, let requests through again.
     */
    @Test
    void exhaustionBlocksWith429UntilATopUpOrAPayment() throws Exception {
        String user = user("exhausted");
        assertEquals(200, client.setPlan(user, 150).statusCode());

        long used = 0;
        HttpResponse<String> blocked;
        int requests = 0;
        while ((blocked = client.chat(user, "One more long answer, please.", 100)).statusCode() == 200) {
            used += longAt(TestJson.object(blocked.body()), "usage", "total_tokens");
            assertTrue(++requests < 10, "a 150-token plan ran out");
        }
        assertTrue(requests >= 1, "the first request fits the plan");
        assertEquals(429, blocked.statusCode(), blocked.body());
        assertTrue(blocked.headers().firstValue("content-type").orElseThrow().startsWith("application/problem+json"));
        Map<String, Object> problem = TestJson.object(blocked.body());
        assertTrue(((String) problem.get("type")).endsWith("/quota-exceeded"), blocked.body());
        QuotaPolicy policy = app.store().policy();
        long untilReset = Duration.between(policy.now(), policy.resetOf(MONTH)).toSeconds();
        long retryAfter = Long.parseLong(blocked.headers().firstValue("Retry-After").orElseThrow());
        assertTrue(Math.abs(retryAfter - untilReset) <= 1, "Retry-After " + retryAfter + " vs " + untilReset);
        assertEquals(used, longAt(client.settledQuota(user), "used_tokens"), "a blocked request charges nothing");

        // a top-up needs the admin token: none -> 401, a wrong one -> 403, nothing credited
        assertEquals(401, client.addTokens(null, user, 1_000, "topup-" + user).statusCode());
        assertEquals(403, client.addTokens("not-the-admin-token", user, 1_000, "topup-" + user).statusCode());
        assertEquals(0, longAt(client.settledQuota(user), "purchased_tokens"));

        HttpResponse<String> topUp = client.addTokens(DemoClient.ADMIN_TOKEN, user, 1_000, "topup-" + user);
        assertEquals(200, topUp.statusCode(), topUp.body());
        assertEquals(1_000, longAt(client.settledQuota(user), "purchased_tokens"));
        HttpResponse<String> afterTopUp = client.chat(user, "One more long answer, please.", 100);
        assertEquals(200, afterTopUp.statusCode(), afterTopUp.body());

        // spend the rest, then pay through the payment system's signed callback
        HttpResponse<String> r;
        int guard = 0;
        do {
            r = client.chat(user, "Keep going until the credit is gone.", 200);
            assertTrue(++guard < 50, "the top-up never ran out");
        } while (r.statusCode() == 200);
        assertEquals(429, r.statusCode(), r.body());

        String tx = "pay-" + user;
        HttpResponse<String> forged = client.paymentCallback("wrong-secret-0000", user, tx, 5_000, "4900.00", "KRW", "completed");
        assertEquals(401, forged.statusCode(), forged.body());
        assertEquals(1_000, longAt(client.settledQuota(user), "purchased_tokens"), "a forged callback credits nothing");

        HttpResponse<String> paid = client.paymentCallback(DemoClient.PAYMENT_SECRET, user, tx, 5_000, "4900.00", "KRW", "completed");
        assertEquals(200, paid.statusCode(), paid.body());
        HttpResponse<String> replay = client.paymentCallback(DemoClient.PAYMENT_SECRET, user, tx, 5_000, "4900.00", "KRW", "completed");
        assertEquals(200, replay.statusCode(), replay.body());
        assertEquals(6_000, longAt(client.settledQuota(user), "purchased_tokens"), "a replayed callback credits once");

        HttpResponse<String> afterPayment = client.chat(user, "Back in business?", 50);
        assertEquals(200, afterPayment.statusCode(), afterPayment.body());
    }

    /** Scenario 4: a power user firing 20 requests at once is never charged past the quota. */
    @Test
    void powerUserWithTwentyConcurrentRequestsNeverOverspends() throws Exception {
        powerUserNeverOverspends(client, user("power"));
    }

    /** 20 simultaneous requests of ~130 tokens against a 1,000-token plan; shared with the PostgreSQL run. */
    static void powerUserNeverOverspends(DemoClient client, String user) throws Exception {
        long plan = 1_000;
        assertEquals(200, client.setPlan(user, plan).statusCode());

        int n = 20;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<HttpResponse<String>>> futures = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                String prompt = "Power request number " + i + ": draft a detailed project plan.";
                futures.add(pool.submit(() -> {
                    go.await();
                    // the model takes a moment, so all holds overlap as they would under real load
                    return client.chat(user, prompt, 120, "\"mock_delay_ms\":150");
                }));
            }
            go.countDown();
            long charged = 0;
            int ok = 0;
            int blocked = 0;
            for (Future<HttpResponse<String>> f : futures) {
                HttpResponse<String> r = f.get(60, TimeUnit.SECONDS);
                if (r.statusCode() == 200) {
                    ok++;
                    charged += longAt(TestJson.object(r.body()), "usage", "total_tokens");
                } else {
                    assertEquals(429, r.statusCode(), r.body());
                    assertNotNull(r.headers().firstValue("Retry-After").orElse(null));
                    blocked++;
                }
            }
            assertTrue(ok > 0, "some requests ran");
            assertTrue(blocked > 0, "20 requests of ~130 tokens cannot all fit in 1,000");

            Map<String, Object> q = client.settledQuota(user);
            long used = longAt(q, "used_tokens");
            assertEquals(charged, used, "charged exactly the usage of the requests that ran");
            assertTrue(used <= plan, "used " + used + " never past the quota " + plan);
            assertEquals(plan, longAt(q, "allocated_quota"));
        } finally {
            pool.shutdownNow();
        }
    }

    /** The quota API's view and the dashboard's data endpoint agree; the endpoint wants the admin token. */
    @Test
    void dashboardDataAgreesWithTheQuotaApi() throws Exception {
        String user = user("dash");
        assertEquals(200, client.chat(user, "Numbers for the dashboard.", 30).statusCode());
        assertEquals(200, client.addTokens(DemoClient.ADMIN_TOKEN, user, 700, "dash-" + user).statusCode());

        assertEquals(401, client.get(DemoApp.DASHBOARD_DATA_PATH + "?user_id=" + user, null).statusCode());
        assertEquals(403, client.adminGet(DemoApp.DASHBOARD_DATA_PATH + "?user_id=" + user, "wrong-token-123").statusCode());
        // the same AdminAuthorizer as the quota API: the auth scheme is case-insensitive (RFC 9110)
        HttpResponse<String> lower = client.send(java.net.http.HttpRequest.newBuilder(
                        app.baseUri().resolve(DemoApp.DASHBOARD_DATA_PATH + "?user_id=" + user))
                .header("authorization", "bearer " + DemoClient.ADMIN_TOKEN).GET());
        assertEquals(200, lower.statusCode(), lower.body());
        HttpResponse<String> r = client.adminGet(DemoApp.DASHBOARD_DATA_PATH + "?user_id=" + user, DemoClient.ADMIN_TOKEN);
        assertEquals(200, r.statusCode(), r.body());
        Map<String, Object> d = TestJson.object(r.body());
        Map<String, Object> q = client.settledQuota(user);
        assertEquals(longAt(q, "used_tokens"), longAt(d, "quota", "used"));
        assertEquals(longAt(q, "reserved_tokens"), longAt(d, "quota", "reserved"));
        assertEquals(longAt(q, "remaining_tokens"), longAt(d, "quota", "remaining"));
        assertEquals(longAt(q, "purchased_tokens"), longAt(d, "quota", "purchased"));
        assertEquals(1, longAt(d, "blocks", "granted"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> purchases = (List<Map<String, Object>>) d.get("purchases");
        assertEquals(1, purchases.size());
        assertEquals("bonus", purchases.get(0).get("type"));
        assertEquals(700, longAt(purchases.get(0), "tokens"));
    }

    @Test
    void healthIsNotProtectedButAiPathsNeedAUser() throws Exception {
        HttpResponse<String> health = client.get(DemoApp.HEALTH_PATH, null);
        assertEquals(200, health.statusCode());
        assertFalse(health.headers().firstValue("X-Quota-Limit").isPresent());
        HttpResponse<String> anonymous = client.send(java.net.http.HttpRequest.newBuilder(
                        app.baseUri().resolve(DemoApp.CHAT_COMPLETIONS_PATH))
                .header("content-type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"messages\":[]}")));
        assertEquals(401, anonymous.statusCode(), anonymous.body());
    }

    @Test
    void aBadRequestToTheModelChargesNothing() throws Exception {
        String user = user("bad");
        HttpResponse<String> r = client.chat(user, "x", 10, "\"mock_delay_ms\":-5");
        assertEquals(400, r.statusCode(), r.body());
        assertEquals(0, longAt(client.settledQuota(user), "used_tokens"));
    }

    static Map<String, Object> lastUsage(String sse) {
        Map<String, Object> usage = null;
        for (String line : sse.split("\n")) {
            if (line.startsWith("data: {")) {
                Map<String, Object> event = TestJson.object(line.substring(6));
                if (event.get("usage") != null) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> u = (Map<String, Object>) event.get("usage");
                    usage = u;
                }
            }
        }
        assertNotNull(usage, "the stream carries a usage chunk: " + sse);
        return usage;
    }
}
