package io.tokenquota.examples.faults;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 6, cases 3 and 4: several service instances (separate JVMs) on one PostgreSQL database, as
 * a user scales past one machine. 32 concurrent clients spread over the instances spend the same
 * users' quotas: nothing is overspent, the books balance exactly, every idempotency key is applied
 * once across instances; then replay storms (one signed payment callback, one Idempotency-Key, sent
 * at once from many threads to every instance) credit or hold exactly once.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class SeveralInstancesIT {
    private static final int INSTANCES = 3;
    private static final int CLIENTS = 32;
    private static final int REQUESTS_PER_CLIENT = 6;
    private static final long ALLOCATION = 3_000;
    private static final String[] HOT_USERS = {"multi-hot-1", "multi-hot-2"};

    @TempDir
    static Path work;

    private static EmbeddedPg pg;
    private static String url;
    private static final List<DemoProcess> demos = new ArrayList<>();
    private static JdbiQuotaStore store;
    private final DemoClient client = new DemoClient(Duration.ofSeconds(30));

    @BeforeAll
    static void startInstances() throws Exception {
        pg = EmbeddedPg.start(work.resolve("pg"));
        url = pg.createDatabase("instances");
        Map<String, String> env = DemoClient.baseEnv();
        env.put("QUOTA_JDBC_URL", url);
        env.put("QUOTA_JDBC_USER", EmbeddedPg.USER);
        env.put("QUOTA_JDBC_PASSWORD", EmbeddedPg.PASSWORD);
        env.put("QUOTA_DEFAULT_ALLOCATION", Long.toString(ALLOCATION));
        // all instances start at once, as in a rolling deploy: each one installs the schema
        ExecutorService starter = Executors.newFixedThreadPool(INSTANCES);
        try {
            List<Future<DemoProcess>> started = new ArrayList<>();
            for (int i = 0; i < INSTANCES; i++) {
                Path dir = work.resolve("instance-" + i);
                java.nio.file.Files.createDirectories(dir);
                String name = "demo-" + i;
                started.add(starter.submit(() -> DemoProcess.start(name, dir, env)));
            }
            for (Future<DemoProcess> f : started) {
                demos.add(f.get(120, TimeUnit.SECONDS));
            }
        } finally {
            starter.shutdownNow();
        }
        store = JdbiQuotaStore.builder().jdbcUrl(url).credentials(EmbeddedPg.USER, EmbeddedPg.PASSWORD)
                .policy(QuotaPolicy.builder().defaultAllocation(ALLOCATION).build()).installSchema(false).build();
    }

    @AfterAll
    static void stopInstances() throws Exception {
        for (DemoProcess demo : demos) {
            demo.close();
        }
        if (store != null) {
            store.close();
        }
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void thirtyTwoClientsOverThreeInstancesNeverOverspend() throws Exception {
        Map<String, Long> chargedByKey = new ConcurrentHashMap<>();
        Set<String> grantedKeys = ConcurrentHashMap.newKeySet();
        AtomicInteger ok = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        AtomicInteger replays = new AtomicInteger();
        List<String> unexpected = Collections.synchronizedList(new ArrayList<>());
        CyclicBarrier start = new CyclicBarrier(CLIENTS);
        List<Callable<Void>> clients = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            int clientNo = c;
            clients.add(() -> {
                start.await(30, TimeUnit.SECONDS);
                String user = HOT_USERS[clientNo % HOT_USERS.length];
                for (int i = 0; i < REQUESTS_PER_CLIENT; i++) {
                    String key = "c" + clientNo + "-r" + i;
                    DemoProcess instance = demos.get((clientNo + i) % INSTANCES);
                    String prompt = "question " + i + " from client " + clientNo;
                    Http.Response r = client.chat(instance, user, prompt, 40, key);
                    if (r.status() == 200) {
                        ok.incrementAndGet();
                        grantedKeys.add(user + "/" + key);
                        chargedByKey.put(user + "/" + key, DemoClient.totalTokens(r));
                        // the client retries (a lost response, say) on another instance: must not charge again
                        if (i % 2 == 0) {
                            Http.Response again = client.chat(demos.get((clientNo + i + 1) % INSTANCES), user, prompt, 40, key);
                            replays.incrementAndGet();
                            if (again.status() >= 500) {
                                unexpected.add("replay " + key + ": " + again);
                            }
                        }
                    } else if (r.status() == 429) {
                        refused.incrementAndGet();
                    } else {
                        unexpected.add(key + ": " + r);
                    }
                }
                return null;
            });
        }
        runAll(clients);
        assertTrue(unexpected.isEmpty(), () -> "unexpected answers: " + unexpected);
        assertTrue(refused.get() > 0, "the load must exhaust the hot users, or overspend is not tested");

        YearMonth month = YearMonth.now(ZoneOffset.UTC);
        for (String user : HOT_USERS) {
            store.expireStale();
            LedgerAudit.Report report = LedgerAudit.explain(store, user, month);
            long limit = report.account().limit();
            assertTrue(report.account().used() <= limit, () -> "overspent: " + report.describe());
            assertTrue(report.account().available() >= 0, () -> "overspent: " + report.describe());
            assertEquals(0, report.account().reserved(), report::describe);
            Set<String> keysInLedger = new HashSet<>();
            for (String key : report.grantedKeys()) {
                assertTrue(keysInLedger.add(key), () -> "key applied twice: " + key);
            }
            Set<String> keysAnswered = new HashSet<>();
            long expectedUsed = 0;
            for (Map.Entry<String, Long> e : chargedByKey.entrySet()) {
                if (e.getKey().startsWith(user + "/")) {
                    keysAnswered.add(e.getKey().substring(user.length() + 1));
                    expectedUsed += e.getValue();
                }
            }
            assertEquals(keysAnswered, keysInLedger, "every answered key is in the ledger once, and nothing else");
            assertEquals(expectedUsed, report.account().used(), () -> "used equals what the answers reported: " + report.describe());
            assertEquals(keysAnswered.size(), report.committed(), report::describe);
        }
        System.out.printf("several instances: %d ok, %d refused (429), %d replays%n", ok.get(), refused.get(), replays.get());
    }

    @Test
    void replayedPaymentCallbackCreditsOnce() throws Exception {
        String user = "storm-pay";
        String tx = "storm-tx-0001";
        long tokens = 5_000;
        String body = DemoClient.callbackBody(tx, user, tokens);
        List<Http.Response> answers = storm(i -> client.paymentCallback(demos.get(i % INSTANCES).uri("/"), body));
        for (Http.Response r : answers) {
            assertEquals(200, r.status(), () -> "every replay answers like the first: " + r);
        }
        Purchase purchase = store.purchase(tx).orElseThrow();
        assertEquals(PurchaseStatus.COMPLETED, purchase.status());
        YearMonth month = YearMonth.now(ZoneOffset.UTC);
        LedgerAudit.Report report = LedgerAudit.explain(store, user, month);
        assertEquals(tokens, report.account().granted(), report::describe);
        List<LedgerEvent> credits = report.events().stream()
                .filter(e -> e.kind() == EventKind.CREDITED && tx.equals(e.transactionId())).toList();
        assertEquals(1, credits.size(), () -> "exactly one credit: " + report.events());
    }

    @Test
    void replayedIdempotencyKeyHoldsOnce() throws Exception {
        String user = "storm-ai";
        String key = "storm-key-0001";
        String prompt = "one question asked many times";
        List<Http.Response> answers = storm(i -> client.chat(demos.get(i % INSTANCES), user, prompt, 40, key));
        long okCount = answers.stream().filter(r -> r.status() == 200).count();
        for (Http.Response r : answers) {
            assertTrue(r.status() < 500, () -> "no replay may fail the server: " + r);
        }
        assertTrue(okCount >= 1, () -> "the first request is served: " + answers);
        store.expireStale();
        LedgerAudit.Report report = LedgerAudit.explain(store, user, YearMonth.now(ZoneOffset.UTC));
        assertEquals(1, report.holds(), () -> "exactly one hold for one key: " + report.describe());
        assertEquals(1, report.committed(), report::describe);
        assertEquals(List.of(key), report.grantedKeys());
        long charged = answers.stream().filter(r -> r.status() == 200).mapToLong(DemoClient::totalTokens).max().orElseThrow();
        assertEquals(charged, report.account().used(), () -> "charged once: " + report.describe());
    }

    /** Sends one request from 24 threads released together, spread over the instances. */
    private static List<Http.Response> storm(java.util.function.IntFunction<Http.Response> send) throws Exception {
        int threads = 24;
        CyclicBarrier start = new CyclicBarrier(threads);
        List<Callable<Http.Response>> calls = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int n = t;
            calls.add(() -> {
                start.await(30, TimeUnit.SECONDS);
                return send.apply(n);
            });
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Http.Response> answers = new ArrayList<>();
            for (Future<Http.Response> f : pool.invokeAll(calls, 120, TimeUnit.SECONDS)) {
                answers.add(f.get());
            }
            return answers;
        } finally {
            pool.shutdownNow();
        }
    }

    private static void runAll(List<Callable<Void>> tasks) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
        try {
            for (Future<Void> f : pool.invokeAll(tasks, 180, TimeUnit.SECONDS)) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
