package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.PostgresExtension;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * 32 HTTP clients hammer one subject through the filter over PostgreSQL: every hold is checked and
 * taken in one statement, so the month is never overspent, whatever the interleaving.
 */
final class ConcurrentClientsPostgresTest {
    private static final int CLIENTS = 32;
    private static final int REQUESTS_PER_CLIENT = 4;
    private static final long ALLOCATION = 10_000;
    private static final long COST = 300;

    @RegisterExtension
    static final PostgresExtension PG = new PostgresExtension();

    @ParameterizedTest
    @EnumSource(ContainerKind.class)
    void thirtyTwoClientsOnOneSubjectNeverOverspend(ContainerKind kind) throws Exception {
        QuotaPolicy policy = QuotaPolicy.defaults();
        JdbiQuotaStore store = JdbiQuotaStore.builder().dataSource(PG.database().dataSource()).policy(policy)
                .installSchema(true).build();
        String subject = "hot-" + kind.name().toLowerCase(java.util.Locale.ROOT);
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/").fallbackEstimate(COST)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1")).build();
        try (EmbeddedContainer container = kind.start(Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("model", new FakeModelServlet(), "/ai/*"))) {
            CyclicBarrier start = new CyclicBarrier(CLIENTS);
            ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
            List<Future<List<Integer>>> results = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                results.add(pool.submit(() -> {
                    start.await(30, TimeUnit.SECONDS);
                    List<Integer> statuses = new ArrayList<>();
                    for (int i = 0; i < REQUESTS_PER_CLIENT; i++) {
                        // text body: the fallback estimate (300) is held, and charged as no usage comes back
                        HttpResponse<String> r = TestHttp.post(container.uri("/ai/plain"), "hello",
                                "x-user-id", subject, "Content-Type", "text/plain");
                        statuses.add(r.statusCode());
                    }
                    return statuses;
                }));
            }
            int ok = 0;
            int refused = 0;
            for (Future<List<Integer>> f : results) {
                for (int status : f.get(120, TimeUnit.SECONDS)) {
                    if (status == 200) {
                        ok++;
                    } else if (status == 429) {
                        refused++;
                    } else {
                        throw new AssertionError("unexpected status " + status);
                    }
                }
            }
            pool.shutdown();
            Fixture.await(() -> store.account(subject).reserved() == 0, "all holds settled");
            QuotaAccount a = store.account(subject);
            assertEquals(CLIENTS * REQUESTS_PER_CLIENT, ok + refused);
            assertEquals(ALLOCATION / COST, ok, "exactly as many calls as the month pays for");
            assertEquals(ok * COST, a.used());
            assertTrue(a.used() <= a.limit(), "never overspent: " + a);
            List<LedgerEvent> events = store.events(subject, policy.currentMonth());
            assertEquals(ok, events.stream().filter(e -> e.kind() == EventKind.COMMITTED).count());
            assertEquals(refused, events.stream().filter(e -> e.kind() == EventKind.REJECTED).count());
        }
    }
}
