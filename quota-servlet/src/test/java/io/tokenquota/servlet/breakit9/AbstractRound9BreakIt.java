package io.tokenquota.servlet.breakit9;

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
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Round 9. docs/servlet.md setup: filter on "/*" (REQUEST+FORWARD, async), protect("/ai/"), trusted x-user-id, holdTtl 1s. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRound9BreakIt {
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
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/").holdTtl(Duration.ofSeconds(1))
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        container = kind().start(Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("model", new Round9ModelServlet(), "/*"));
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
        return "u9-" + UUID.randomUUID().toString().substring(0, 12);
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

    /** Waits past the hold TTL and expires stale holds, so an unsettled hold shows as what it is: uncharged. */
    QuotaAccount finalAccount(String subject) {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (store.account(subject).reserved() != 0 && System.nanoTime() < deadline) {
            sleep(50);
        }
        if (store.account(subject).reserved() != 0) {
            sleep(1200);
            store.expireStale();
        }
        return store.account(subject);
    }

    static final String SMALL = "{\"model\":\"gpt-4o\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    HttpResponse<String> post(String subject, String query, String... extra) {
        List<String> h = new ArrayList<>(List.of("x-user-id", subject, "Content-Type", "application/json"));
        h.addAll(List.of(extra));
        return TestHttp.post(container.uri("/ai/chat?" + query), SMALL, h.toArray(String[]::new));
    }

    void assertChargedAtLeastUsage(String s, HttpResponse<String> r) {
        QuotaAccount a = finalAccount(s);
        assertTrue(a.used() >= 500, "model reported 500 tokens; charged " + a.used() + " reserved " + a.reserved()
                + " ledger " + ledger(s) + " status " + r.statusCode());
    }

    // ---- handler-reported figures the client must not gain from ----

    /** A handler that reports Long.MAX_VALUE: the commit is refused (INVALID_AMOUNT), the hold expires: free call. */
    @Test
    void hugeActualTokensAttributeMustNotMakeTheCallFree() {
        String s = subject();
        HttpResponse<String> r = post(s, "attr=max");
        assertEquals(200, r.statusCode());
        assertChargedAtLeastUsage(s, r);
    }

    /** Just above Limits.MAX_TOKENS (10^15). */
    @Test
    void actualTokensAboveStoreLimitMustNotMakeTheCallFree() {
        String s = subject();
        HttpResponse<String> r = post(s, "attr=over");
        assertEquals(200, r.statusCode());
        assertChargedAtLeastUsage(s, r);
    }

    /** Double.NaN is a Number; longValue() is 0. */
    @Test
    void nanActualTokensAttributeMustNotChargeZero() {
        String s = subject();
        HttpResponse<String> r = post(s, "attr=nan");
        assertChargedAtLeastUsage(s, r);
    }

    /** BigInteger 2^64+1 is huge; longValue() is 1. */
    @Test
    void bigIntegerActualTokensAttributeMustNotWrapToOne() {
        String s = subject();
        HttpResponse<String> r = post(s, "attr=big");
        assertChargedAtLeastUsage(s, r);
    }

    @Test
    void negativeActualTokensAttributeFallsBackToUsage() {
        String s = subject();
        HttpResponse<String> r = post(s, "attr=neg");
        assertChargedAtLeastUsage(s, r);
    }

    @Test
    void nonNumberActualTokensAttributeFallsBackToUsage() {
        String s = subject();
        HttpResponse<String> r = post(s, "attr=lots");
        assertChargedAtLeastUsage(s, r);
    }

    // ---- late commit, idempotency after expiry ----

    /** The stream outlives the 1 s TTL (and an expireStale sweep); the usage at its end is still charged. */
    @Test
    void slowStreamPastTtlIsStillCharged() {
        String s = subject();
        CompletableFuture<HttpResponse<String>> f = CompletableFuture.supplyAsync(() -> post(s, "mode=slowsse&ms=2500"));
        sleep(1600);
        store.expireStale();
        HttpResponse<String> r = f.join();
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("total_tokens"), r.body());
        // the settlement runs after the client has the body: give it time to record the late commit
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (store.account(s).used() < 500 && System.nanoTime() < deadline) {
            sleep(50);
        }
        assertChargedAtLeastUsage(s, r);
    }

    /** Same Idempotency-Key while the first (expired) hold's model call is still streaming: must be 409. */
    @Test
    void keyReusedAfterItsHoldExpiredBuysNoSecondCall() {
        String s = subject();
        String key = "k-" + UUID.randomUUID();
        CompletableFuture<HttpResponse<String>> f = CompletableFuture.supplyAsync(
                () -> post(s, "mode=slowsse&ms=3000", "Idempotency-Key", key));
        sleep(1600);
        store.expireStale();
        HttpResponse<String> second = post(s, "mode=json", "Idempotency-Key", key);
        HttpResponse<String> first = f.join();
        assertEquals(200, first.statusCode());
        assertEquals(409, second.statusCode(), "second call with the same key reached the model; ledger " + ledger(s)
                + "\n" + second.body());
    }

    /** Same key, bigger body, after the first finished: still 409 (no bigger call for the first hold). */
    @Test
    void sameKeyBiggerBodyIsRefused() {
        String s = subject();
        String key = "k-" + UUID.randomUUID();
        HttpResponse<String> first = post(s, "mode=json", "Idempotency-Key", key);
        assertEquals(200, first.statusCode());
        String big = "{\"model\":\"gpt-4o\",\"max_tokens\":16000,\"messages\":[{\"role\":\"user\",\"content\":\""
                + "word ".repeat(20000) + "\"}]}";
        HttpResponse<String> second = TestHttp.post(container.uri("/ai/chat?mode=json"), big, "x-user-id", s,
                "Content-Type", "application/json", "Idempotency-Key", key);
        assertEquals(409, second.statusCode(), second.body());
    }

    // ---- usage then throw; headers on 429 ----

    @Test
    void usageWrittenThenThrowIsCharged() {
        String s = subject();
        try {
            post(s, "mode=throw");
        } catch (java.io.UncheckedIOException expected) {
            // the container aborts the chunked answer after the exception
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (store.account(s).reserved() != 0 && System.nanoTime() < deadline) {
            sleep(50);
        }
        assertEquals(500, store.account(s).used(), ledger(s).toString());
    }

    @Test
    void quotaHeadersOn429() {
        String s = subject();
        store.consume(s, LIMIT, null);
        HttpResponse<String> r = post(s, "mode=json");
        assertEquals(429, r.statusCode(), r.body());
        for (String h : List.of("X-Quota-Limit", "X-Quota-Remaining", "X-Quota-Reset", "RateLimit-Policy", "RateLimit", "Retry-After")) {
            assertTrue(r.headers().firstValue(h).isPresent(), h + " missing on 429: " + r.headers().map());
        }
        assertEquals(LIMIT, finalAccount(s).used());
    }
}
