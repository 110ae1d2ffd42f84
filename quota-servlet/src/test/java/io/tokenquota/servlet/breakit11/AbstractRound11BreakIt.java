package io.tokenquota.servlet.breakit11;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Round 11: filter registered as docs/servlet.md shows, protect("/ai/"), max body 2,000 bytes. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRound11BreakIt {
    static final long LIMIT = 10_000_000;
    QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(LIMIT).build();
    TestDatabase db;
    JdbiQuotaStore store;
    EmbeddedContainer container;

    abstract ContainerKind kind();

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy).installSchema(true).build();
        SubjectResolver who = SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1");
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/").subjectResolver(who)
                .maxBodyBytes(2_000).fallbackEstimate(1_000).defaultOutputBudget(1_000).build();
        container = kind().start(Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("quota-api", QuotaApiServlet.builder(store).subjectResolver(who).build(), "/ai/quota/*")
                .servlet("model", new Round11ModelServlet(), "/ai/*"));
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
        return "u11-" + UUID.randomUUID().toString().substring(0, 12);
    }

    QuotaAccount settled(String s) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (store.account(s).reserved() != 0 && System.nanoTime() < deadline) {
            try {
                TimeUnit.MILLISECONDS.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return store.account(s);
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":5000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    /** 429 with an Idempotency-Key, top-up, same key again: the model was never called, the retry must run. */
    @Test
    void refused429ThenToppedUpRetryWithSameKeyRuns() {
        String s = subject();
        String key = "k-" + UUID.randomUUID();
        store.setPlan(s, 100);
        HttpResponse<String> r1 = TestHttp.post(container.uri("/ai/chat"), CHAT,
                "x-user-id", s, "Content-Type", "application/json", "Idempotency-Key", key);
        assertEquals(429, r1.statusCode(), r1.body());
        assertEquals(0, settled(s).used());
        store.setPlan(s, 1_000_000);
        HttpResponse<String> r2 = TestHttp.post(container.uri("/ai/chat"), CHAT,
                "x-user-id", s, "Content-Type", "application/json", "Idempotency-Key", key);
        assertEquals(200, r2.statusCode(), "retry after 429 + top-up refused: " + r2.body());
        assertEquals(555, settled(s).used());
    }

    /** 401 (no subject) with a key, then the same key with the subject: must run and be charged once. */
    @Test
    void keyOn401ThenRetriedRuns() {
        String s = subject();
        String key = "k-" + UUID.randomUUID();
        HttpResponse<String> r1 = TestHttp.post(container.uri("/ai/chat"), CHAT,
                "Content-Type", "application/json", "Idempotency-Key", key);
        assertEquals(401, r1.statusCode());
        HttpResponse<String> r2 = TestHttp.post(container.uri("/ai/chat"), CHAT,
                "x-user-id", s, "Content-Type", "application/json", "Idempotency-Key", key);
        assertEquals(200, r2.statusCode(), r2.body());
        assertEquals(555, settled(s).used());
    }

    /** 413 with a key, then a body that fits with the same key: must run, charged its usage. */
    @Test
    void keyOn413ThenRetriedRuns() {
        String s = subject();
        String key = "k-" + UUID.randomUUID();
        String big = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "a ".repeat(2_000) + "\"}]}";
        HttpResponse<String> r1 = TestHttp.post(container.uri("/ai/chat"), big,
                "x-user-id", s, "Content-Type", "application/json", "Idempotency-Key", key);
        assertEquals(413, r1.statusCode());
        assertEquals(0, settled(s).used());
        HttpResponse<String> r2 = TestHttp.post(container.uri("/ai/chat"), CHAT,
                "x-user-id", s, "Content-Type", "application/json", "Idempotency-Key", key);
        assertEquals(200, r2.statusCode(), r2.body());
        assertEquals(555, settled(s).used());
    }

    /** 415 (unknown charset) with a key, then retried correctly. */
    @Test
    void keyOn415ThenRetriedRuns() {
        String s = subject();
        String key = "k-" + UUID.randomUUID();
        HttpResponse<String> r1 = TestHttp.post(container.uri("/ai/chat"), CHAT,
                "x-user-id", s, "Content-Type", "application/json; charset=x-nonexistent-11", "Idempotency-Key", key);
        assertEquals(415, r1.statusCode());
        HttpResponse<String> r2 = TestHttp.post(container.uri("/ai/chat"), CHAT,
                "x-user-id", s, "Content-Type", "application/json", "Idempotency-Key", key);
        assertEquals(200, r2.statusCode(), r2.body());
        assertEquals(555, settled(s).used());
    }

    /** The servlet reads 10 bytes of the body and answers with usage: the usage is charged. */
    @Test
    void partialBodyReadUsageCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/partial"), CHAT,
                "x-user-id", s, "Content-Type", "application/json");
        assertEquals(200, r.statusCode());
        assertEquals(777, settled(s).used());
    }

    /** 50,000 tiny SSE events then usage: charged the usage, quickly, with the quota headers. */
    @Test
    void thousandsOfTinySseEvents() {
        String s = subject();
        long t0 = System.nanoTime();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/sse?n=50000"), CHAT,
                "x-user-id", s, "Content-Type", "application/json");
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertEquals(200, r.statusCode());
        assertTrue(r.body().endsWith("data: [DONE]\n\n"));
        assertEquals(4321, settled(s).used());
        assertTrue(ms < 15_000, "50,000 tiny SSE events took " + ms + " ms");
        for (String h : new String[] {"X-Quota-Limit", "X-Quota-Remaining", "X-Quota-Reset", "RateLimit-Policy", "RateLimit"}) {
            assertNotNull(r.headers().firstValue(h).orElse(null), "SSE answer lacks " + h);
        }
    }

    /** The quota API mounted under the protected prefix: GET /quota never calls a model, must not be charged. */
    @Test
    void quotaApiUnderProtectedPrefixIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/quota/quota"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), "GET /ai/quota/quota (no model call) charged");
    }
}
