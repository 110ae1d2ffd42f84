package io.tokenquota.servlet.breakit535;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.IncludeCycleRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 535 of issue 11: round 525's fix records a call let through under fail-open in the request's shared
 * {@code HOLDING} map, as a held call is, and the entry goes only when the filter forgets its call ({@code unmark}).
 * An include that starts an async cycle (a fragment whose model call runs on a worker: "an include's async cycle is
 * the include's", docs/decisions.md) returns to its page with its cycle open, so the filter keeps its mark and its
 * {@code HOLDING} entry while the page goes on. The page is an unprotected one (outside {@code /ai/}) that includes
 * a summary fragment, then the model's answer from the other application's endpoint, each include "a hold and a
 * charge per include, also after the page started its async cycle" (docs/servlet.md). The second include passes
 * uncharged: with two filters through the fragment's {@code HOLDING} entry, with one through the filter's own mark
 * (an include met while it is set is nested in that call), and the same with the store up and the fragment held,
 * so the kept mark, not only the let-through entry, is the cause. The model answers 1,200
 * prompt + 300 completion = 1,500 tokens (OpenAI chat.completion, written by the rig).
 */
abstract class AbstractRound535 extends IncludeCycleRound {
    AbstractRound535() {
        super("r535");
    }

    /**
     * A summary fragment whose model call runs on a worker: it starts the request's async cycle inside its include,
     * and the worker reports the call's 4,000 through the cycle's request and completes the cycle once the page is
     * done (a model call slower than the page's own rendering). {@code async} false: the same call made in the
     * include itself, reported before it returns.
     */
    final class Summary extends HttpServlet {
        private final boolean async;

        Summary(boolean async) {
            this.async = async;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) {
            String s = req.getHeader("x-user-id");
            calls.count(s);
            if (!async) {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
                return;
            }
            AsyncContext cycle = req.startAsync();
            CountDownLatch page = done(s);
            Thread worker = new Thread(() -> {
                try {
                    page.await(10, TimeUnit.SECONDS);
                    cycle.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    cycle.complete();
                }
            }, "round535-summary-worker");
            worker.setDaemon(true);
            worker.start();
        }
    }

    /**
     * An unprotected page of /a: includes its own summary fragment, then the chat answer from /b's model endpoint
     * (another application, its own filter), and lets the fragment's worker finish.
     */
    final class Page extends HttpServlet {
        /** The context whose model endpoint the page includes second: "/b", or null for its own. */
        private final String modelAt;

        Page(String modelAt) {
            this.modelAt = modelAt;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String s = req.getHeader("x-user-id");
            try {
                resp.setContentType("application/json");
                req.getRequestDispatcher("/ai/summary").include(req, resp);
                (modelAt == null ? req.getServletContext() : req.getServletContext().getContext(modelAt))
                        .getRequestDispatcher("/ai/chat/completions").include(req, resp);
            } finally {
                done(s).countDown();
            }
        }
    }

    private long run(QuotaFilter a, QuotaFilter b, boolean asyncFragment, boolean storeDown) throws Exception {
        try (Host host = two(a, servlets("/page", new Page("/b"), "/ai/summary", new Summary(asyncFragment)),
                b, servlets("/ai/chat/completions", model()))) {
            String s = subject();
            if (storeDown) {
                downOnce.add(s);
            }
            HttpResponse<String> r = TestHttp.postJson(host.uri("/a/page"), s, ASK);
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(2, calls.of(s), "the fragment's model and /b's model ran once each");
            return settled(s).used();
        }
    }

    /**
     * The fragment is let through (the store refuses its reserve, the failover ends right after), its cycle still
     * open as the page includes /b's model with the store back: /b's filter finds the fragment's HOLDING entry for
     * the subject and passes the include through as that call. Should be 1,500 (the fragment free under fail-open,
     * the model's include held and charged its usage); predicted 0.
     */
    @Test
    void theNextIncludeOfAPageIsChargedAfterAnAsyncFragmentWasLetThroughUnderTwoFilters() throws Exception {
        long used = run(failingOnce(), failingOnce(), true, true);
        assertEquals(USAGE, used, kind() + ": the page's include of /b's model after a let-through async fragment;"
                + " charged " + used + ", should be " + USAGE);
    }

    /** Control: the same fragment answering within its include (no cycle): /b's include is held and charged 1,500. */
    @Test
    void controlTheNextIncludeOfAPageIsChargedAfterASynchronousFragmentWasLetThroughUnderTwoFilters() throws Exception {
        long used = run(failingOnce(), failingOnce(), false, true);
        assertEquals(USAGE, used, kind() + ": charged " + used + ", should be " + USAGE);
    }

    /** The store up: the async fragment held and charged its 4,000, /b's include its 1,500: 5,500. */
    @Test
    void theNextIncludeOfAPageIsChargedAfterAnAsyncFragmentWasHeldUnderTwoFilters() throws Exception {
        long used = run(failingOnce(), failingOnce(), true, false);
        assertEquals(FRAGMENT + USAGE, used, kind() + ": charged " + used + ", should be " + (FRAGMENT + USAGE));
    }

    /** Control: the store up, the fragment synchronous: 4,000 + 1,500. */
    @Test
    void controlTheNextIncludeOfAPageIsChargedAfterASynchronousFragmentWasHeldUnderTwoFilters() throws Exception {
        long used = run(failingOnce(), failingOnce(), false, false);
        assertEquals(FRAGMENT + USAGE, used, kind() + ": charged " + used + ", should be " + (FRAGMENT + USAGE));
    }

    /** One filter instance in both contexts, the async fragment let through: /b's include should be 1,500. */
    @Test
    void theNextIncludeOfAPageIsChargedAfterAnAsyncFragmentWasLetThroughUnderOneFilter() throws Exception {
        QuotaFilter one = failingOnce();
        long used = run(one, one, true, true);
        assertEquals(USAGE, used, kind() + ": charged " + used + ", should be " + USAGE);
    }

    /** One filter instance in both contexts, the store up: 4,000 + 1,500. */
    @Test
    void theNextIncludeOfAPageIsChargedAfterAnAsyncFragmentWasHeldUnderOneFilter() throws Exception {
        QuotaFilter one = failingOnce();
        long used = run(one, one, true, false);
        assertEquals(FRAGMENT + USAGE, used, kind() + ": charged " + used + ", should be " + (FRAGMENT + USAGE));
    }

    /**
     * The plainest deployment (the README's: one application, one filter on /ai/): the page includes its async
     * summary, then its own model endpoint, the store up throughout. Should be 4,000 + 1,500 = 5,500; the second
     * include passes as part of the fragment's call (the filter's mark kept for the fragment's open cycle).
     */
    @Test
    void theNextIncludeOfAPageIsChargedAfterAnAsyncFragmentInOneApplication() throws Exception {
        try (Host host = two(failingOnce(), servlets("/page", new Page(null), "/ai/summary", new Summary(true),
                "/ai/chat/completions", model()), null, servlets())) {
            String s = subject();
            HttpResponse<String> r = TestHttp.postJson(host.uri("/a/page"), s, ASK);
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(2, calls.of(s), "the fragment's model and the chat model ran once each");
            long used = settled(s).used();
            assertEquals(FRAGMENT + USAGE, used, kind() + ": charged " + used + ", should be " + (FRAGMENT + USAGE));
        }
    }

    /** Control: the same application with a synchronous fragment: 5,500. */
    @Test
    void controlTheNextIncludeOfAPageIsChargedAfterASynchronousFragmentInOneApplication() throws Exception {
        try (Host host = two(failingOnce(), servlets("/page", new Page(null), "/ai/summary", new Summary(false),
                "/ai/chat/completions", model()), null, servlets())) {
            String s = subject();
            HttpResponse<String> r = TestHttp.postJson(host.uri("/a/page"), s, ASK);
            assertEquals(200, r.statusCode(), r.body());
            long used = settled(s).used();
            assertEquals(FRAGMENT + USAGE, used, kind() + ": charged " + used + ", should be " + (FRAGMENT + USAGE));
        }
    }
}
