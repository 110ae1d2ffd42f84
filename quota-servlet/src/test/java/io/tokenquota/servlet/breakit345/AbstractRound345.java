package io.tokenquota.servlet.breakit345;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Round 345 of issue 11, items 2 and 4 across instances: two containers, each its own {@link QuotaFilter}, over
 * one shared ledger. Instance B's store is a second {@link JdbiQuotaStore} object on the round's H2 database (as
 * a second JVM builds its own: its own subject stripes, its own team cache), so keyed reserves race in the
 * database, not on one store's in-JVM locks: one key sent to both instances at once, and a keyed retry reaching
 * the other instance after the first call failed. No break was found; the round's time-driven scenarios (calls
 * outliving 1-second holds while the other instance sweeps, keyed calls across the month turn) also passed and
 * were left out of the suite for their wall-clock time.
 *
 * <p>Shapes: the request is an OpenAI Chat Completions request ({@code model}, {@code max_tokens},
 * {@code messages}: platform.openai.com/docs/api-reference/chat/create); the answer a {@code chat.completion}
 * object with its {@code usage} ({@code prompt_tokens}, {@code completion_tokens}, {@code total_tokens}:
 * platform.openai.com/docs/api-reference/chat/object). {@code Idempotency-Key} is the header the filter reads
 * (README, docs/servlet.md step 4; the IETF draft-ietf-httpapi-idempotency-key-header's field).
 */
abstract class AbstractRound345 extends H2FilterRound {
    static final String PATH = "/ai/v1/chat/completions";
    static final long USAGE = 2_000;
    static final String REQUEST = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":3000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise the attached quarterly report in five bullet points.\"}]}";
    static final String COMPLETION = "{\"id\":\"chatcmpl-345\",\"object\":\"chat.completion\",\"created\":1767225600,"
            + "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            + "\"content\":\"- Revenue grew\\n- Costs fell\\n- Margins widened\\n- Cash rose\\n- Outlook stable\","
            + "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":800,\"total_tokens\":2000},"
            + "\"system_fingerprint\":\"fp_345\"}";

    /** The provider behind both instances: counts every call by subject, holds a subject's calls on request. */
    final Model model = new Model();

    JdbiQuotaStore storeB;
    QuotaFilter filterB;
    EmbeddedContainer containerB;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create().filter("quota", filter, "/*").servlet("model", model, PATH);
    }

    @BeforeAll
    void startB() {
        storeB = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy).build();
        filterB = filterFor(storeB, "/ai/").build();
        containerB = kind().start(deploy(filterB));
    }

    @AfterAll
    void stopB() {
        if (containerB != null) containerB.close();
        if (storeB != null) storeB.close();
    }

    static final class Model extends HttpServlet {
        final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
        final Map<String, CountDownLatch> entered = new ConcurrentHashMap<>();
        final Map<String, CountDownLatch> release = new ConcurrentHashMap<>();
        final Map<String, Integer> failWith = new ConcurrentHashMap<>();

        void hold(String s) {
            entered.put(s, new CountDownLatch(1));
            release.put(s, new CountDownLatch(1));
        }

        boolean arrived(String s) throws InterruptedException {
            return entered.get(s).await(10, TimeUnit.SECONDS);
        }

        void letGo(String s) {
            release.get(s).countDown();
        }

        int calls(String s) {
            AtomicInteger n = calls.get(s);
            return n == null ? 0 : n.get();
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.computeIfAbsent(s, k -> new AtomicInteger()).incrementAndGet();
            CountDownLatch in = entered.get(s);
            if (in != null) {
                in.countDown();
                try {
                    release.get(s).await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            Integer status = failWith.get(s);
            if (status != null) {
                // an upstream failure before any token: OpenAI's error object
                // (platform.openai.com/docs/guides/error-codes: 500 "server_error")
                resp.setStatus(status);
                resp.setContentType("application/json");
                resp.getOutputStream().write(("{\"error\":{\"message\":\"The server had an error while processing"
                        + " your request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}")
                        .getBytes(StandardCharsets.UTF_8));
                return;
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(COMPLETION.getBytes(StandardCharsets.UTF_8));
        }
    }

    static String subject() {
        return "u345-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String key() {
        return "idem-" + UUID.randomUUID();
    }

    static HttpResponse<String> call(EmbeddedContainer at, String s, String key) {
        return key == null ? TestHttp.postJson(at.uri(PATH), s, REQUEST)
                : TestHttp.postJson(at.uri(PATH), s, REQUEST, "Idempotency-Key", key);
    }

    static CompletableFuture<HttpResponse<String>> callAsync(EmbeddedContainer at, String s, String key) {
        return TestHttp.client().sendAsync(TestHttp.jsonPost(at.uri(PATH), s, REQUEST, "Idempotency-Key", key),
                HttpResponse.BodyHandlers.ofString());
    }

    /** {@code n} requests with one key, alternating between A and B, released together; their statuses. */
    List<Integer> atOnce(EmbeddedContainer a, EmbeddedContainer b, String s, String key, int n) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            CountDownLatch ready = new CountDownLatch(n);
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Integer>> out = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                EmbeddedContainer at = i % 2 == 0 ? a : b;
                out.add(pool.submit(() -> {
                    ready.countDown();
                    go.await();
                    return call(at, s, key).statusCode();
                }));
            }
            ready.await();
            go.countDown();
            List<Integer> statuses = new ArrayList<>();
            for (Future<Integer> f : out) {
                statuses.add(f.get(30, TimeUnit.SECONDS));
            }
            return statuses;
        } finally {
            pool.shutdownNow();
        }
    }

    // ------------------------------------------------------------------ 1. one key, two instances at once

    /**
     * One {@code Idempotency-Key} sent eight times at once, four through each instance (two store objects on
     * one database). Rule: "A key buys at most one model call" (docs/servlet.md step 4): one 200, seven 409, one
     * model call, 2,000 charged.
     */
    @Test
    void oneKeyAtBothInstancesAtOnceBuysOneCall() throws Exception {
        for (int round = 0; round < 5; round++) {
            String s = subject();
            List<Integer> statuses = atOnce(container, containerB, s, key(), 8);
            QuotaAccount a = settled(s);
            long ok = statuses.stream().filter(x -> x == 200).count();
            assertAll(() -> assertEquals(1, ok, kind() + ": " + statuses),
                    () -> assertEquals(7, statuses.stream().filter(x -> x == 409).count(), kind() + ": " + statuses),
                    () -> assertEquals(1, model.calls(s), kind() + ": model calls for one key, " + statuses),
                    () -> assertEquals(USAGE * model.calls(s), a.used(), kind() + ": " + a + " " + ledger(s)));
        }
    }

    /** The same for a team member (the team path of each store): one call, charged to the member and the team. */
    @Test
    void oneKeyAtBothInstancesAtOnceBuysOneCallForATeamMember() throws Exception {
        for (int round = 0; round < 5; round++) {
            String s = subject();
            String team = "t345-" + UUID.randomUUID().toString().substring(0, 8);
            store.setTeam(s, team);
            List<Integer> statuses = atOnce(container, containerB, s, key(), 8);
            QuotaAccount a = settled(s);
            QuotaAccount t = Ledgers.settled(store, io.tokenquota.Team.subject(team));
            assertAll(() -> assertEquals(1, statuses.stream().filter(x -> x == 200).count(), kind() + ": " + statuses),
                    () -> assertEquals(1, model.calls(s), kind() + ": model calls for one key, " + statuses),
                    () -> assertEquals(USAGE * model.calls(s), a.used(), kind() + ": " + a + " " + ledger(s)),
                    () -> assertEquals(USAGE * model.calls(s), t.used(), kind() + ": team " + t));
        }
    }

    // ------------------------------------------------------------------ 2. a call that outlives short holds


    /**
     * A keyed call at A whose model fails (500, no usage: released, README settlement rules), then its retry at B:
     * 409 (a key buys at most one model call, decided), nothing charged, one model call.
     */
    @Test
    void controlAKeyedRetryAtTheOtherInstanceAfterAFailure() {
        String s = subject();
        String key = key();
        model.failWith.put(s, 500);
        HttpResponse<String> first = call(container, s, key);
        model.failWith.remove(s);
        HttpResponse<String> retry = call(containerB, s, key);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(500, first.statusCode()),
                () -> assertEquals(409, retry.statusCode(), retry.body()),
                () -> assertEquals(1, model.calls(s)),
                () -> assertEquals(0, a.used(), a + " " + ledger(s)));
    }

    // ------------------------------------------------------------------ 3. the month turns during a long keyed call

}
