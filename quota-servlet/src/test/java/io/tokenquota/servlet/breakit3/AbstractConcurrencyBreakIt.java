package io.tokenquota.servlet.breakit3;

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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Many requests of one user at once: holds never overspend; one Idempotency-Key buys one call. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractConcurrencyBreakIt {
    QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(5_000).build();
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
                .servlet("model", new Breakit3ModelServlet(), "/ai/*"));
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

    List<HttpResponse<String>> burst(int n, String subject, String key) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(n);
        CountDownLatch go = new CountDownLatch(1);
        try {
            List<CompletableFuture<HttpResponse<String>>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                fs.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        go.await();
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                    List<String> h = new ArrayList<>(List.of("x-user-id", subject, "Content-Type", "application/json"));
                    if (key != null) {
                        h.add("Idempotency-Key");
                        h.add(key);
                    }
                    return TestHttp.post(container.uri("/ai/v1/chat/query"),
                            "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", h.toArray(String[]::new));
                }, pool));
            }
            go.countDown();
            List<HttpResponse<String>> out = new ArrayList<>();
            for (CompletableFuture<HttpResponse<String>> f : fs) {
                out.add(f.get(60, TimeUnit.SECONDS));
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    QuotaAccount settled(String subject) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (store.account(subject).reserved() != 0) {
            assertTrue(System.nanoTime() < deadline, "never settled");
            TimeUnit.MILLISECONDS.sleep(10);
        }
        return store.account(subject);
    }

    /** 5,000 tokens, 24 concurrent requests of ~1,001 each (2xx, no usage: estimate charged). */
    @Test
    void concurrentBurstNeverOverspends() throws Exception {
        String s = "c3-" + UUID.randomUUID().toString().substring(0, 12);
        List<HttpResponse<String>> rs = burst(24, s, null);
        long ok = rs.stream().filter(r -> r.statusCode() == 200).count();
        long refused = rs.stream().filter(r -> r.statusCode() == 429).count();
        assertEquals(24, ok + refused, "statuses " + rs.stream().map(HttpResponse::statusCode).toList());
        QuotaAccount a = settled(s);
        assertTrue(a.used() <= 5_000, "used " + a.used() + " of 5,000 with " + ok + " calls");
        assertTrue(ok >= 1 && ok <= 4, ok + " calls passed");
    }

    /** 16 concurrent requests sharing one Idempotency-Key: one model call, one charge. */
    @Test
    void concurrentSameKeyBuysOneCall() throws Exception {
        String s = "c3-" + UUID.randomUUID().toString().substring(0, 12);
        List<HttpResponse<String>> rs = burst(16, s, "same-" + UUID.randomUUID());
        long ok = rs.stream().filter(r -> r.statusCode() == 200).count();
        assertEquals(1, ok, "statuses " + rs.stream().map(HttpResponse::statusCode).toList());
        assertEquals(15, rs.stream().filter(r -> r.statusCode() == 409).count());
        QuotaAccount a = settled(s);
        assertTrue(a.used() > 0 && a.used() < 2_000, "used " + a.used());
    }
}
