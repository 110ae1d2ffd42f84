package io.tokenquota.servlet.breakit80;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.Reservation;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.AsyncAgent;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 80 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the hold keeper ({@code HoldKeeper}) with a one-second filter {@code holdTtl} around a settlement whose
 * ledger call fails. {@code Settlement.settle} drops the call's hold from the keeper first
 * ({@code settling.run()}), then commits; a commit the store could not take ({@code STORE_UNAVAILABLE}) is
 * tried again after 100 ms and 1 s, off the request thread. Between, nothing extends the hold: with a
 * one-second TTL it is past its expiry before the last attempt, and the user's next reserve expires it and
 * is granted from the tokens of the call still being charged; the late commit then bills both past the
 * allowance.
 */
abstract class AbstractRound80 extends H2FilterRound {

    static final long USAGE = 15_000;
    static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();
    /** Subjects whose commits fail twice with STORE_UNAVAILABLE; the third attempt waits for GO. */
    static final Map<String, AtomicInteger> FAILING = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> THIRD = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> GO = new ConcurrentHashMap<>();

    /** The store, except that an armed subject's commits fail twice, then the third waits for the test. */
    final class FlakyLedger extends FailingLedger {
        FlakyLedger() {
            super(store);
        }

        @Override
        protected void beforeCommit(String id) {
            Optional<Reservation> r = store.reservation(id);
            if (r.isEmpty()) {
                return;
            }
            String s = r.get().subject();
            AtomicInteger n = FAILING.get(s);
            if (n == null) {
                return;
            }
            int attempt = n.incrementAndGet();
            if (attempt <= 2) {
                throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection is not available, request timed out");
            }
            if (attempt == 3) {
                HOLDS.put(s, r.get());
                THIRD.get(s).countDown();
                try {
                    GO.get(s).await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /** An OpenAI chat endpoint: every call answers 15,000 tokens of usage. */
    public static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            CALLS.computeIfAbsent(req.getHeader("x-user-id"), k -> new AtomicInteger()).incrementAndGet();
            resp.setStatus(200);
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-1", "gpt-4o", "Done.", 5_000, 10_000)
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    static final Map<String, jakarta.servlet.AsyncContext> PENDING = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> STARTED = new ConcurrentHashMap<>();
    /** The hold whose third commit attempt is under way, by subject. */
    static final Map<String, Reservation> HOLDS = new ConcurrentHashMap<>();

    static void answerAndComplete(jakarta.servlet.AsyncContext ctx) throws IOException {
        HttpServletResponse resp = (HttpServletResponse) ctx.getResponse();
        resp.setStatus(200);
        resp.setContentType("application/json");
        resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-2", "gpt-4o", "Done.", 5_000, 10_000)
                .getBytes(StandardCharsets.UTF_8));
        ctx.complete();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter flaky = QuotaFilter.builder(new FlakyLedger()).protect("/ret/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                .holdTtl(Duration.ofSeconds(1)).build();
        QuotaFilter longCalls = filterFor("/long/").holdTtl(Duration.ofSeconds(1)).build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("flaky-quota", flaky, "/ret/*")
                .filter("long-quota", longCalls, "/long/*")
                .servlet("chat", new Chat(), "/ai/*", "/ret/*")
                .servlet("agent", new AsyncAgent(s -> CALLS.computeIfAbsent(s, k -> new AtomicInteger()).incrementAndGet(),
                        PENDING, STARTED), "/long/*");
    }
    static HttpRequest call(java.net.URI uri, String subject) {
        return TestHttp.jsonPost(uri, subject, "{\"model\":\"gpt-4o\",\"max_tokens\":12000,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Plan the migration.\"}]}");
    }

    /**
     * The first call (held about 12,000 of 20,000, used 15,000) has answered; its commit fails twice (a
     * store blip), and the third attempt is the one that lands, late. Meanwhile the call's hold must stay
     * kept past its one-second TTL, or the same user's second call (held about 12,000 again) is granted from
     * it. Expected: the second call refused (429), one model call, 15,000 used. The test orders the race
     * with latches: it sends the second call once the third commit attempt has begun and the hold's first
     * TTL has run out, and lets that attempt land after.
     */
    @Test
    void aHoldWhoseCommitIsBeingRetriedIsNotFreedForTheUsersNextCall() throws Exception {
        java.net.URI uri = container.uri("/ret/v1/chat/completions");
        String s = "u80-" + UUID.randomUUID().toString().substring(0, 12);
        FAILING.put(s, new AtomicInteger());
        THIRD.put(s, new CountDownLatch(1));
        GO.put(s, new CountDownLatch(1));
        HttpResponse<String> first;
        HttpResponse<String> second;
        try {
            // the answer ends once its charge has landed: it waits for the third attempt
            java.util.concurrent.CompletableFuture<HttpResponse<String>> pending = TestHttp.client().sendAsync(
                    call(uri, s), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            assertTrue(THIRD.get(s).await(20, TimeUnit.SECONDS), "the commit was retried");
            java.time.Instant firstExpiry = HOLDS.get(s).createdAt().plusSeconds(1);
            while (!store.policy().now().isAfter(firstExpiry)) {
                // the hold's own TTL runs out while its commit is still being tried
                TimeUnit.MILLISECONDS.sleep(10);
            }
            second = TestHttp.send(call(uri, s));
            GO.get(s).countDown();
            first = pending.get(20, TimeUnit.SECONDS);
            assertEquals(200, first.statusCode(), first.body());
        } finally {
            GO.get(s).countDown();
        }
        QuotaAccount account = chargedAtLeast(s, USAGE * CALLS.get(s).get());
        String what = kind() + ": second call " + second.statusCode() + ", model calls " + CALLS.get(s)
                + ", account " + account + ", events " + ledger(s);
        assertEquals(429, second.statusCode(), what);
        assertEquals(1, CALLS.get(s).get(), what);
        assertEquals(USAGE, account.used(), what);
    }

    /**
     * A real attack that held: an async agent call through a filter with one-second holds (held about
     * 12,000 of 20,000) whose servlet returns at once and whose answer is written and completed seconds
     * later from another thread. For three seconds the stale-hold sweep runs and the balance is read
     * ({@code expireStale()}, {@code account()}), then the same user calls the model through a second
     * {@code QuotaFilter} on the same store (its own keeper, which knows nothing of the first's holds; its
     * reserve expires the subject's stale holds). Expected: the second call 429, one model call, 15,000 used.
     */
    @Test
    void anAsyncCallsOneSecondHoldOutlivesTheSweepAndAReserveThroughAnotherFilter() throws Exception {
        String s = "u80-" + UUID.randomUUID().toString().substring(0, 12);
        STARTED.put(s, new CountDownLatch(1));
        java.util.concurrent.CompletableFuture<HttpResponse<String>> running = TestHttp.client().sendAsync(
                call(container.uri("/long/v1/agent"), s), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        HttpResponse<String> second;
        boolean expired = false;
        try {
            assertTrue(STARTED.get(s).await(20, TimeUnit.SECONDS), "the agent call started");
            long deadline = System.nanoTime() + Duration.ofSeconds(3).toNanos();
            while (!expired && System.nanoTime() < deadline) {
                store.expireStale();
                expired = store.account(s).reserved() == 0;
            }
            second = TestHttp.send(call(container.uri("/ai/v1/chat/completions"), s));
        } finally {
            answerAndComplete(PENDING.remove(s));
        }
        HttpResponse<String> first = running.get(30, TimeUnit.SECONDS);
        assertEquals(200, first.statusCode(), first.body());
        QuotaAccount account = chargedAtLeast(s, USAGE * CALLS.get(s).get());
        String what = kind() + ": hold expired under the async call " + expired + ", second call "
                + second.statusCode() + ", model calls " + CALLS.get(s) + ", account " + account + ", events " + ledger(s);
        assertEquals(429, second.statusCode(), what);
        assertEquals(1, CALLS.get(s).get(), what);
        assertEquals(USAGE, account.used(), what);
    }
}
