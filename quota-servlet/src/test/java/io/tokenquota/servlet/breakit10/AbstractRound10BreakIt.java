package io.tokenquota.servlet.breakit10;

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
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Round 10. Filter set up as docs/servlet.md shows: protect("/ai/") only, with per-prefix settings, one of them
 * for a sub-path ("/ai/chat/", longest prefix wins). A second filter instance (releaseOnError(false)).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRound10BreakIt {
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
        QuotaFilter filter = QuotaFilter.builder(store)
                .protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                .fallbackEstimate(1_000)
                .fallbackEstimate("/ai/chat/", 5_000)
                .defaultOutputBudget(1_000)
                .defaultOutputBudget("/ai/chat/", 4_000)
                .maxBodyBytes("/ai/chat/", 2_000)
                .build();
        QuotaFilter strict = QuotaFilter.builder(store).protect("/strict/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                .releaseOnError(false).build();
        container = kind().start(Deployment.create()
                .filter("strict", strict, "/strict/*")
                .filter("quota", filter, "/ai/*")
                .servlet("model", new Round10ModelServlet(), "/*"));
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
        return "u10-" + UUID.randomUUID().toString().substring(0, 12);
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

    // ---- per-prefix settings for a sub-path of a protected prefix (longest prefix wins) ----

    /** Non-JSON body, 2xx without usage: /ai/chat/'s fallback (5,000) must be the estimate charged. */
    @Test
    void subPrefixFallbackEstimateIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/chat/completions"), "hello",
                "x-user-id", s, "Content-Type", "text/plain");
        assertEquals(200, r.statusCode());
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 5_000, "fallbackEstimate(\"/ai/chat/\", 5000) ignored: charged " + a.used());
    }

    /** JSON without max_tokens, 2xx without usage: /ai/chat/'s output budget (4,000) must be in the charge. */
    @Test
    void subPrefixDefaultOutputBudgetIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/chat/completions"),
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "x-user-id", s, "Content-Type", "application/json");
        assertEquals(200, r.statusCode());
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 4_000, "defaultOutputBudget(\"/ai/chat/\", 4000) ignored: charged " + a.used());
    }

    /** maxBodyBytes("/ai/chat/", 2000): a 5,000-byte body must be 413, before reaching the model. */
    @Test
    void subPrefixMaxBodyBytesIsEnforced() {
        String s = subject();
        String body = "{\"model\":\"gpt-4o\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\""
                + "a ".repeat(2_500) + "\"}]}";
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/chat/completions"), body,
                "x-user-id", s, "Content-Type", "application/json");
        assertEquals(413, r.statusCode(), "maxBodyBytes(\"/ai/chat/\", 2000) ignored; charged " + settled(s).used());
    }

    /** Control: the outer prefix keeps its own fallback. */
    @Test
    void outerPrefixFallbackHolds() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/embed"), "hello",
                "x-user-id", s, "Content-Type", "text/plain");
        assertEquals(200, r.statusCode());
        assertEquals(1_000, settled(s).used());
    }

    // ---- releaseOnError(false) ----

    @Test
    void releaseOnErrorFalseCharges5xxEstimate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/strict/chat?status=500"), "hello",
                "x-user-id", s, "Content-Type", "text/plain");
        assertEquals(500, r.statusCode());
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 1_000, "releaseOnError(false), 5xx without usage: charged " + a.used());
        assertEquals(0, a.reserved());
    }

    // ---- two users, one Idempotency-Key ----

    @Test
    void twoUsersSharingAKeyEachPayForTheirCall() {
        String a = subject();
        String b = subject();
        String key = "shared-" + UUID.randomUUID();
        HttpResponse<String> ra = TestHttp.post(container.uri("/ai/embed"), "hello",
                "x-user-id", a, "Content-Type", "text/plain", "Idempotency-Key", key);
        HttpResponse<String> rb = TestHttp.post(container.uri("/ai/embed"), "hello",
                "x-user-id", b, "Content-Type", "text/plain", "Idempotency-Key", key);
        assertEquals(200, ra.statusCode());
        assertEquals(1_000, settled(a).used());
        if (rb.statusCode() == 200) {
            assertEquals(1_000, settled(b).used(), "B's call with A's key: B charged " + settled(b).used()
                    + ", A charged " + settled(a).used());
            assertEquals(1_000, settled(a).used(), "A charged for B's call");
        } else {
            assertEquals(409, rb.statusCode(), rb.body());
            assertEquals(0, settled(b).used());
        }
        assertTrue(rb.headers().firstValue("X-Quota-Limit").isPresent(), "no quota headers on " + rb.statusCode());
    }
}
