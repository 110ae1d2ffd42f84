package io.tokenquota.servlet.breakit132;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.Reservation;
import io.tokenquota.Reserved;
import io.tokenquota.TokenUsage;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 132 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): a
 * store whose answer is lost after it did the work (the commit, release or reserve landed, then the
 * connection dropped: STORE_UNAVAILABLE), and holds whose extensions fail while calls of one user outlive
 * a short TTL side by side. The mock model answers a chat completion with the usage the request's
 * {@code x-prompt} and {@code x-completion} headers name; {@code x-variant: slow} makes it work 2.5 s first.
 */
abstract class AbstractRound132 extends ModelCallRound {
    /** Subjects whose next commit, release or reserve lands and then reports the store unreachable, once. */
    final Set<String> lostCommit = ConcurrentHashMap.newKeySet();
    final Set<String> lostRelease = ConcurrentHashMap.newKeySet();
    final Set<String> lostReserve = ConcurrentHashMap.newKeySet();
    /** Subjects whose hold extensions all fail (a replica the keeper's writes cannot reach). */
    final Set<String> noExtension = ConcurrentHashMap.newKeySet();

    static QuotaException unreachable() {
        return new QuotaException(ErrorCode.STORE_UNAVAILABLE, "I/O error: connection reset after the statement ran");
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        FailingLedger lossy = new FailingLedger(store) {
            private String subjectOf(String id) {
                return store.reservation(id).map(Reservation::subject).orElse("?");
            }

            @Override
            public Reservation commit(String id, long actual) {
                Reservation r = super.commit(id, actual);
                if (lostCommit.remove(r.subject())) {
                    throw unreachable();
                }
                return r;
            }

            @Override
            public Reservation commit(String id, long actual, TokenUsage usage) {
                Reservation r = super.commit(id, actual, usage);
                if (lostCommit.remove(r.subject())) {
                    throw unreachable();
                }
                return r;
            }

            @Override
            public Reservation release(String id) {
                Reservation r = super.release(id);
                if (lostRelease.remove(r.subject())) {
                    throw unreachable();
                }
                return r;
            }

            @Override
            public Reserved reserve(HoldRequest request) {
                Reserved r = super.reserve(request);
                if (lostReserve.remove(request.subject())) {
                    throw unreachable();
                }
                return r;
            }

            @Override
            protected void beforeExtend(String id) {
                if (noExtension.contains(subjectOf(id))) {
                    throw unreachable();
                }
            }
        };
        QuotaFilter lossyFilter = filterFor(lossy, "/lossy/").build();
        QuotaFilter shortFilter = filterFor(lossy, "/short/").holdTtl(Duration.ofSeconds(1)).build();
        return Deployment.create()
                .filter("lossy-quota", lossyFilter, "/lossy/*")
                .filter("short-quota", shortFilter, "/short/*")
                .servlet("lossy-model", new Model(), "/lossy/*")
                .servlet("short-model", new Model(), "/short/*");
    }

    /** A chat model: 404 for a path that is no model route, else the usage the headers name. */
    class Model extends CountedModel {
        @Override
        protected void doPost(jakarta.servlet.http.HttpServletRequest req, HttpServletResponse resp)
                throws IOException, jakarta.servlet.ServletException {
            if (req.getRequestURI().endsWith("/chat/completion")) {
                // a typo of the route: no model is called
                req.getInputStream().readAllBytes();
                resp.sendError(404);
                return;
            }
            super.doPost(req, resp);
        }

        @Override
        protected void answer(Call call) throws IOException {
            if ("slow".equals(call.variant())) {
                try {
                    // the model works longer than the 1 s hold TTL
                    TimeUnit.MILLISECONDS.sleep(2_500);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            call.resp().setContentType("application/json");
            call.resp().getWriter().write(call.completionJson("chatcmpl-132"));
        }
    }

    HttpResponse<String> send(HttpClient client, java.net.http.HttpRequest r) {
        try {
            return client.send(r, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /**
     * A commit that lands in the store and then reports the store unreachable (the connection dropped
     * after the statement ran). The filter retries the settlement. One call of 2,000 + 1,000 = 3,000
     * tokens must be charged exactly 3,000: once, not twice, and not the estimate.
     */
    @Test
    void aCommitWhoseAnswerIsLostIsChargedOnce() {
        String s = subject();
        lostCommit.add(s);
        HttpResponse<String> r = send(TestHttp.client(), usageRequest("/lossy/chat/completions", s, 1_000, 2_000, 1_000, "json"));
        assertCharged(s, r, 200, 1, 3_000, "a commit that landed before its answer was lost");
        assertTrue(lostCommit.isEmpty() || !lostCommit.contains(s), "the commit was tried");
    }

    /**
     * A route typo (404, no model call) whose release lands and then reports the store unreachable. Nothing
     * reached a model: the user is charged 0, and the next real call of 1,500 tokens is charged 1,500.
     */
    @Test
    void aReleaseWhoseAnswerIsLostChargesNothing() {
        String s = subject();
        lostRelease.add(s);
        HttpResponse<String> typo = send(TestHttp.client(), usageRequest("/lossy/chat/completion", s, 8_000, 0, 0, "json"));
        assertCharged(s, typo, 404, 0, 0, "a 404 whose release landed before its answer was lost");
        HttpResponse<String> next = send(TestHttp.client(), usageRequest("/lossy/chat/completions", s, 1_000, 1_000, 500, "json"));
        assertCharged(s, next, 200, 1, 1_500, "the next call after it");
    }

    /**
     * A reserve that lands (the hold is in the store) and then reports the store unreachable; the client
     * sees a 503 and retries with the same {@code Idempotency-Key}, as the header is meant for. No model
     * was called by the first request, so nothing may be charged for it; if the retry is served, it is
     * charged its usage (1,200), once.
     */
    @Test
    void aReserveWhoseAnswerIsLostThenRetriedWithItsKey() throws Exception {
        String s = subject();
        lostReserve.add(s);
        String key = "retry-" + s;
        HttpResponse<String> first = send(TestHttp.client(),
                usageRequest("/lossy/chat/completions", s, 1_000, 800, 400, "json", "Idempotency-Key", key));
        assertEquals(0, calls.of(s), "no model call on a failed reserve: " + first.statusCode() + " " + first.body());
        HttpResponse<String> retry = send(TestHttp.client(),
                usageRequest("/lossy/chat/completions", s, 1_000, 800, 400, "json", "Idempotency-Key", key));
        // the phantom hold (if any) must not become a charge: wait a bounded while for settlements
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
        QuotaAccount a = store.account(s);
        while (System.nanoTime() < deadline && a.used() != calls.of(s) * 1_200L) {
            TimeUnit.MILLISECONDS.sleep(50);
            a = store.account(s);
        }
        assertEquals(calls.of(s) * 1_200L, a.used(), figures(s, retry, a) + "; first " + first.statusCode());
        assertTrue(calls.of(s) <= 1, "the key's call ran at most once: " + figures(s, retry, a));
    }

    /**
     * Twelve calls of one user at once, each of 900 + 900 = 1,800 tokens asking at most 900 (held about
     * 1,000), on a 1 s hold TTL, the model working 2.5 s, while every extension of the user's holds fails:
     * the holds lapse mid-call. Whatever is served must be charged, 1,800 a call, and no more than the
     * 20,000 allowance pays for (eleven calls, a twelfth at most past it by one call).
     */
    @Test
    void callsOutlivingHoldsWhoseExtensionsFailAreAllCharged() throws Exception {
        String s = subject();
        noExtension.add(s);
        ExecutorService pool = Executors.newFixedThreadPool(12);
        try {
            HttpClient client = TestHttp.client();
            List<Future<HttpResponse<String>>> futures = new ArrayList<>();
            // the first six start together; the next six come while those run past their TTL
            for (int i = 0; i < 6; i++) {
                futures.add(pool.submit(() -> send(client, usageRequest("/short/chat/completions", s, 900, 900, 900, "slow"))));
            }
            // the next six once the first six are with the model, and their 1 s holds have passed their TTL
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (calls.of(s) < 6 && System.nanoTime() < until) {
                TimeUnit.MILLISECONDS.sleep(20);
            }
            TimeUnit.MILLISECONDS.sleep(1_200);
            for (int i = 0; i < 6; i++) {
                futures.add(pool.submit(() -> send(client, usageRequest("/short/chat/completions", s, 900, 900, 900, "slow"))));
            }
            int served = 0;
            StringBuilder statuses = new StringBuilder();
            for (Future<HttpResponse<String>> f : futures) {
                HttpResponse<String> r = f.get(30, TimeUnit.SECONDS);
                statuses.append(r.statusCode()).append(' ');
                if (r.statusCode() == 200) {
                    served++;
                }
            }
            noExtension.remove(s);
            QuotaAccount a = settled(s);
            String what = kind() + ": statuses " + statuses + ", served " + served + ", model calls " + calls.of(s)
                    + ", used " + a.used() + " of " + a.limit() + " (" + ledger(s) + ")";
            assertEquals(served, calls.of(s), what);
            assertEquals(served * 1_800L, a.used(), "every served call charged its usage: " + what);
            assertTrue(a.used() <= ALLOWANCE + 1_800, "served past the allowance by more than a call: " + what);
        } finally {
            noExtension.remove(s);
            pool.shutdownNow();
        }
    }
}
