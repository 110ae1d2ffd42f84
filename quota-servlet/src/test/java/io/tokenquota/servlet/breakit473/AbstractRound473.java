package io.tokenquota.servlet.breakit473;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 473 of issue 11: round 467's fix (an include nested in a held dispatch starts without
 * {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}, taken off as no report and put back after it) against fragments that
 * report from another thread (an async cycle started inside the include), includes three deep with Spring MVC in
 * the middle, a Spring fragment that throws after its model call, and a page's figure given as a String.
 *
 * <p>The rules (docs/servlet.md, includes): a page is charged its own figure plus every figure its nested includes
 * reported, each a model call of its own; "a fragment's figure never stands for the page's own call".
 *
 * <p>One quota filter (the README's: every path, protecting {@code /ai/}); both containers.
 */
abstract class AbstractRound473 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();

    static final String CHAT = IncludeFigures.CHAT;
    static final long FRAGMENT = 4_000;
    static final long MIDDLE = 2_000;
    static final long HEADLINE = 1_000;

    /** Per subject: counted down by the page once its include has returned (the async fragment's worker waits). */
    static final Map<String, CountDownLatch> INCLUDE_RETURNED = new ConcurrentHashMap<>();

    static String subject() {
        return "u473-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, Fragments.class)
                .servlet("v1-summary", new IncludeFigures.Summary(CALLS), "/ai/v1/summary")
                .servlet("v1-async-late", new AsyncSummary(true), "/ai/v1/async-late")
                .servlet("v1-async-early", new AsyncSummary(false), "/ai/v1/async-early")
                .servlet("v1-async-status", new AsyncSummary(true, 0L), "/ai/v1/async-status")
                .servlet("v1-middle", new Middle("/ai/spring/summary"), "/ai/v1/middle")
                .servlet("v1-async-revised", new RevisedSummary(), "/ai/v1/async-revised")
                .servlet("v1-async-middle", new Middle("/ai/v1/async-late"), "/ai/v1/async-middle")
                .servlet("async-revised", new Page("/ai/v1/async-revised", HEADLINE, false), "/ai/pages/async-revised")
                .servlet("async-middle", new Page("/ai/v1/async-middle", HEADLINE, false), "/ai/pages/async-middle")
                .servlet("async-late", new Page("/ai/v1/async-late", HEADLINE, false), "/ai/pages/async-late")
                .servlet("async-status", new Page("/ai/v1/async-status", HEADLINE, false), "/ai/pages/async-status")
                .servlet("async-early", new Page("/ai/v1/async-early", HEADLINE, false), "/ai/pages/async-early")
                .servlet("plain-middle", new Page("/ai/v1/middle", HEADLINE, false), "/ai/pages/plain-middle")
                .servlet("spring-middle", new Page("/ai/spring/middle", HEADLINE, false), "/ai/pages/spring-middle")
                .servlet("spring-throws", new Page("/ai/spring/throws", HEADLINE, true), "/ai/pages/spring-throws")
                .servlet("string-first", new Page("/ai/spring/summary", "1000", false), "/ai/pages/string-first");
    }

    @RestController
    public static class Fragments {
        @PostMapping(value = "/summary", produces = "text/html")
        public String summary(HttpServletRequest req) {
            CALLS.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
            return "<p>Three meetings, two decisions.</p>";
        }

        /** A middle fragment as a Spring controller: its own 2,000, then a plain summary of 4,000 included. */
        @PostMapping(value = "/middle", produces = "text/html")
        public void middle(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            CALLS.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, MIDDLE);
            resp.getOutputStream().write("<section>".getBytes(StandardCharsets.UTF_8));
            req.getRequestDispatcher("/ai/v1/summary").include(req, resp);
            resp.getOutputStream().write("</section>".getBytes(StandardCharsets.UTF_8));
        }

        /** The summary's model call answered (4,000 reported), then rendering it fails. */
        @PostMapping(value = "/throws", produces = "text/html")
        public String throwing(HttpServletRequest req) {
            CALLS.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
            throw new IllegalStateException("template failed after the model answered");
        }
    }

    /** A plain middle fragment: its own 2,000, then {@code inner} included. */
    static class Middle extends HttpServlet {
        private final String inner;

        Middle(String inner) {
            this.inner = inner;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            CALLS.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, MIDDLE);
            resp.getOutputStream().write("<section>".getBytes(StandardCharsets.UTF_8));
            req.getRequestDispatcher(inner).include(req, resp);
            resp.getOutputStream().write("</section>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A summary fragment whose model call runs on a worker (the servlet API's async cycle, started inside the
     * include): the worker reports the call's 4,000 through the attribute on the request of the cycle and completes
     * it. {@code late}: the worker's model call answers after the include has returned to the page (it waits for the
     * page's signal), as any model call slower than the page's own rendering does; else it reports before the
     * include returns and only completes the cycle afterwards.
     */
    static class AsyncSummary extends HttpServlet {
        private final boolean late;
        /** What the worker reports: the summary's 4,000, or a status check's 0 (no model call). */
        private final long figure;

        AsyncSummary(boolean late) {
            this(late, FRAGMENT);
        }

        AsyncSummary(boolean late, long figure) {
            this.late = late;
            this.figure = figure;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) {
            String s = req.getHeader("x-user-id");
            CountDownLatch returned = INCLUDE_RETURNED.computeIfAbsent(s, k -> new CountDownLatch(1));
            AsyncContext cycle = req.startAsync();
            if (!late) {
                CALLS.count(s);
                cycle.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, figure);
            }
            Thread worker = new Thread(() -> {
                try {
                    returned.await(10, TimeUnit.SECONDS);
                    if (late) {
                        if (figure > 0) {
                            CALLS.count(s);
                        }
                        cycle.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, figure);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    cycle.complete();
                }
            }, "round473-fragment-worker");
            worker.setDaemon(true);
            worker.start();
        }
    }

    /**
     * Added with the fix: an async summary fragment that reports a preliminary 3,000 for its one model call
     * through the cycle's request before its include returns, and the call's final 4,000 from its worker after:
     * one call, its last figure.
     */
    static class RevisedSummary extends HttpServlet {
        static final long PRELIMINARY = 3_000;

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) {
            String s = req.getHeader("x-user-id");
            CountDownLatch returned = INCLUDE_RETURNED.computeIfAbsent(s, k -> new CountDownLatch(1));
            AsyncContext cycle = req.startAsync();
            CALLS.count(s);
            cycle.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, PRELIMINARY);
            Thread worker = new Thread(() -> {
                try {
                    returned.await(10, TimeUnit.SECONDS);
                    cycle.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    cycle.complete();
                }
            }, "round473-revising-worker");
            worker.setDaemon(true);
            worker.start();
        }
    }

    /**
     * A protected page: reports its own figure ({@code own}, a Long or the String a template engine hands over)
     * first, then includes {@code fragment} once; {@code catches}: a failed fragment is rendered as a notice and
     * the page goes on.
     */
    static class Page extends HttpServlet {
        private final String fragment;
        private final Object own;
        private final boolean catches;

        Page(String fragment, Object own, boolean catches) {
            this.fragment = fragment;
            this.own = own;
            this.catches = catches;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String s = req.getHeader("x-user-id");
            req.getInputStream().readAllBytes();
            resp.setContentType("text/html;charset=utf-8");
            CALLS.count(s);
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, own);
            resp.getOutputStream().write("<html><body><h1>Your week</h1>".getBytes(StandardCharsets.UTF_8));
            try {
                req.getRequestDispatcher(fragment).include(req, resp);
            } catch (ServletException | RuntimeException failed) {
                if (!catches) {
                    throw failed;
                }
                resp.getOutputStream().write("<p>Summary unavailable.</p>".getBytes(StandardCharsets.UTF_8));
            } finally {
                INCLUDE_RETURNED.computeIfAbsent(s, k -> new CountDownLatch(1)).countDown();
            }
            resp.getOutputStream().write("</body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    void assertCharged(String path, int modelCalls, long used, String what) {
        IncludeFigures.assertCharged(this, CALLS, subject(), path, modelCalls, used, what);
    }

    /**
     * The page reports its headline's 1,000, then includes a summary whose model call runs on the cycle's worker
     * and answers after the include returned (4,000): 5,000. Predicted: the worker's 4,000 lands in the page's own
     * slot (the include is over, its figure read as nothing), replacing the page's 1,000: charged 4,000.
     */
    @Test
    void aFragmentReportingFromItsWorkerAfterTheIncludeReturnedIsChargedBesideThePage() {
        assertCharged("/ai/pages/async-late", 2, HEADLINE + FRAGMENT,
                "the page's own 1,000, then an async fragment whose worker reports 4,000 after the include returned");
    }

    /**
     * The free call: the page's headline (1,000), then an async status fragment whose worker finds no model call
     * to make and says so by reporting 0, after the include returned: 1,000. Predicted: the 0 takes the page's own
     * slot, and the page's model call is charged 0.
     */
    @Test
    void anAsyncStatusFragmentReportingZeroAfterTheIncludeReturnedLeavesThePageCharged() {
        assertCharged("/ai/pages/async-status", 1, HEADLINE,
                "the page's own 1,000, then an async status fragment whose worker reports 0 after the include returned");
    }

    /** Control: the same async fragment reporting its 4,000 before its include returns: 5,000. */
    @Test
    void controlAnAsyncFragmentReportingBeforeTheIncludeReturnedIsChargedBesideThePage() {
        assertCharged("/ai/pages/async-early", 2, HEADLINE + FRAGMENT,
                "the page's own 1,000, then an async fragment reporting 4,000 before the include returned");
    }

    /**
     * Control the other way (added with the fix): an async fragment's worker that reports the final 4,000 of the
     * call it reported a preliminary 3,000 for before its include returned is one call, its last figure: 5,000, not
     * 8,000.
     */
    @Test
    void controlAnAsyncFragmentRevisingItsFigureAfterTheIncludeReturnedIsOneCall() {
        assertCharged("/ai/pages/async-revised", 2, HEADLINE + FRAGMENT,
                "the page's own 1,000, then an async fragment reporting 3,000 before the include returned, 4,000 after");
    }

    /**
     * Added with the fix: the async fragment three deep, under a plain middle reporting its own 2,000: the cycle is
     * the innermost include's, so its late 4,000 neither replaces the middle's figure nor counts twice: 7,000.
     */
    @Test
    void anAsyncFragmentThreeDeepReportingAfterTheIncludesReturnedIsChargedEachLevel() {
        assertCharged("/ai/pages/async-middle", 3, HEADLINE + MIDDLE + FRAGMENT,
                "page 1,000, plain middle 2,000, async fragment whose worker reports 4,000 after the includes returned");
    }

    /** Three deep, plain in the middle, Spring innermost: 1,000 + 2,000 + 4,000. */
    @Test
    void threeDeepWithSpringInnermostIsChargedEachLevel() {
        assertCharged("/ai/pages/plain-middle", 3, HEADLINE + MIDDLE + FRAGMENT,
                "page 1,000, plain middle 2,000, Spring summary 4,000");
    }

    /** Three deep, Spring in the middle, plain innermost: 1,000 + 2,000 + 4,000. */
    @Test
    void threeDeepWithSpringInTheMiddleIsChargedEachLevel() {
        assertCharged("/ai/pages/spring-middle", 3, HEADLINE + MIDDLE + FRAGMENT,
                "page 1,000, Spring middle 2,000, plain summary 4,000");
    }

    /** A Spring fragment that reported its 4,000 and then threw; the page renders a notice: 5,000. */
    @Test
    void aSpringFragmentThatThrowsAfterItsModelCallIsChargedBesideThePage() {
        assertCharged("/ai/pages/spring-throws", 2, HEADLINE + FRAGMENT,
                "the page's own 1,000, then a Spring fragment's 4,000 that threw after its model call");
    }

    /** The page's figure as the String "1000", then a Spring summary of 4,000: 5,000. */
    @Test
    void aPageFigureGivenAsAStringBeforeASpringFragmentIsChargedBoth() {
        assertCharged("/ai/pages/string-first", 2, HEADLINE + FRAGMENT,
                "the page's own \"1000\" as a String, then a Spring fragment's 4,000");
    }
}
