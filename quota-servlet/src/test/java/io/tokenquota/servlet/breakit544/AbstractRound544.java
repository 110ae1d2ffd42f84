package io.tokenquota.servlet.breakit544;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.IncludeCycleRound;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * Round 544 of issue 11, against round 535's fix: when an include that started the request's async cycle returns to
 * its page, its call is kept off the page's request ({@code Kept}) and put back by the first dispatch that is the
 * cycle's, among them "an include or forward made through the call's own endpoint request (its worker's)". Such an
 * include is not a container dispatch: the fragment's worker makes it on its own thread while the page is still
 * rendering. Once it has put the call back, the fragment's mark (and its HOLDING entry) stay on the request that the
 * page shares with the cycle, so the page's next include of the model meets them and passes as part of the
 * fragment's call, uncharged; docs/servlet.md: "the page's next include is a call of its own, for that filter and for
 * another application's own filter over the same store".
 *
 * <p>The page (unprotected, outside /ai/) includes a summary fragment that starts the cycle; the fragment's worker
 * renders the summary by including a protected view (no model call) through the cycle's request, then, once the
 * page is done, reports the fragment's 4,000 and completes the cycle. The page includes the model second (1,200
 * prompt + 300 completion = 1,500, OpenAI chat.completion written by the rig). Latches fix the order: the worker's
 * include runs after the page's first include returned and before its second (a worker that starts at once and a
 * page that goes on rendering: the order a fast summary view takes); the control runs it after the page is done.
 * Should be 4,000 + 1,500 = 5,500 either way.
 */
abstract class AbstractRound544 extends IncludeCycleRound {
    /** Per subject: the page's first include has returned (the fragment's call is kept). */
    final Map<String, CountDownLatch> firstReturned = new ConcurrentHashMap<>();
    /** Per subject: the worker's include of the view has returned. */
    final Map<String, CountDownLatch> workerIncluded = new ConcurrentHashMap<>();

    AbstractRound544() {
        super("r544");
    }

    /**
     * A summary fragment whose model call runs on a worker: it starts the cycle in its include; the worker includes
     * the view that renders the summary through the cycle's request ({@code whilePageRuns}: as soon as the page's
     * include returned, before the page includes the model; otherwise once the page is done), then reports the
     * call's 4,000 through the cycle's request and completes the cycle.
     */
    final class Summary extends HttpServlet {
        private final boolean whilePageRuns;

        Summary(boolean whilePageRuns) {
            this.whilePageRuns = whilePageRuns;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) {
            String s = req.getHeader("x-user-id");
            calls.count(s);
            AsyncContext cycle = req.startAsync();
            Thread worker = new Thread(() -> {
                try {
                    await(latch(whilePageRuns ? firstReturned : pageDone, s));
                    cycle.getRequest().getRequestDispatcher("/ai/view").include(cycle.getRequest(), cycle.getResponse());
                    latch(workerIncluded, s).countDown();
                    await(latch(pageDone, s));
                    cycle.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
                } catch (IOException | ServletException e) {
                    throw new IllegalStateException(e);
                } finally {
                    latch(workerIncluded, s).countDown();
                    cycle.complete();
                }
            }, "round544-summary-worker");
            worker.setDaemon(true);
            worker.start();
        }
    }

    /**
     * An unprotected page of /a: its async summary fragment, then the model ({@code modelAt}: "/b", another
     * application with its own filter over the same store; null: its own).
     */
    final class Page extends HttpServlet {
        private final String modelAt;
        private final boolean waitForWorker;

        Page(String modelAt, boolean waitForWorker) {
            this.modelAt = modelAt;
            this.waitForWorker = waitForWorker;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String s = req.getHeader("x-user-id");
            try {
                resp.setContentType("application/json");
                req.getRequestDispatcher("/ai/summary").include(req, resp);
                latch(firstReturned, s).countDown();
                if (waitForWorker) {
                    // the worker's include of the view has returned before the page includes the model
                    await(latch(workerIncluded, s));
                }
                (modelAt == null ? req.getServletContext() : req.getServletContext().getContext(modelAt))
                        .getRequestDispatcher("/ai/chat/completions").include(req, resp);
            } finally {
                latch(pageDone, s).countDown();
            }
        }
    }

    /** The worker's include of the view has returned before the calls are counted. */
    @Override
    protected void answered(String s) {
        await(latch(workerIncluded, s));
    }

    private long oneApplication(boolean whilePageRuns) throws Exception {
        try (Host host = two(filter(), servlets("/page", new Page(null, whilePageRuns), "/ai/summary",
                new Summary(whilePageRuns), "/ai/view", new View(), "/ai/chat/completions", model()), null, servlets())) {
            return page(host);
        }
    }

    private long twoApplications(boolean whilePageRuns) throws Exception {
        try (Host host = two(filter(), servlets("/page", new Page("/b", whilePageRuns), "/ai/summary",
                new Summary(whilePageRuns), "/ai/view", new View()), filter(),
                servlets("/ai/chat/completions", model()))) {
            return page(host);
        }
    }

    /**
     * The README's setup (one application, one filter on /ai/): the worker's include put the fragment's mark back on
     * the shared request, and the page's include of the model is nested in the fragment's call with no endpoint
     * request of its own: charged 4,000, should be 5,500.
     */
    @Test
    void thePagesIncludeOfTheModelIsChargedAfterTheFragmentsWorkerIncludedThroughItsCycle() throws Exception {
        long used = oneApplication(true);
        assertEquals(FRAGMENT + USAGE, used, kind() + ": the page's include of the model after the fragment's worker"
                + " included its view; charged " + used + ", should be " + (FRAGMENT + USAGE));
    }

    /** Control: the worker includes its view once the page is done: 5,500. */
    @Test
    void controlThePagesIncludeOfTheModelIsChargedWhenTheWorkerIncludesAfterThePage() throws Exception {
        long used = oneApplication(false);
        assertEquals(FRAGMENT + USAGE, used, kind() + ": charged " + used + ", should be " + (FRAGMENT + USAGE));
    }

    /**
     * Each application its own filter over one store, the model in /b: the worker's include put the fragment's
     * HOLDING entry back, and /b's filter passes the page's include as the subject's call already under way:
     * charged 4,000, should be 5,500.
     */
    @Test
    void theOtherApplicationsModelIsChargedAfterTheFragmentsWorkerIncludedThroughItsCycle() throws Exception {
        long used = twoApplications(true);
        assertEquals(FRAGMENT + USAGE, used, kind() + ": /b's model included by the page after the fragment's worker"
                + " included its view; charged " + used + ", should be " + (FRAGMENT + USAGE));
    }

    /** Control: two applications, the worker includes its view once the page is done: 5,500. */
    @Test
    void controlTheOtherApplicationsModelIsChargedWhenTheWorkerIncludesAfterThePage() throws Exception {
        long used = twoApplications(false);
        assertEquals(FRAGMENT + USAGE, used, kind() + ": charged " + used + ", should be " + (FRAGMENT + USAGE));
    }

    /**
     * A page that hands its request to the summary fragment first ({@code forwardFirst}: a forward, which starts the
     * cycle; otherwise an include, kept off the page by round 535's fix) and then goes on with the model: an include
     * after the forward, a forward after the include. The servlet API leaves the response open after a forward that
     * put the request into async mode (Servlet 6.0, 9.4), so the page may go on; either way both calls ran.
     */
    final class HandingPage extends HttpServlet {
        private final boolean forwardFirst;

        HandingPage(boolean forwardFirst) {
            this.forwardFirst = forwardFirst;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String s = req.getHeader("x-user-id");
            try {
                resp.setContentType("application/json");
                if (forwardFirst) {
                    req.getRequestDispatcher("/ai/summary").forward(req, resp);
                    req.getRequestDispatcher("/ai/chat/completions").include(req, resp);
                } else {
                    req.getRequestDispatcher("/ai/summary").include(req, resp);
                    req.getRequestDispatcher("/ai/chat/completions").forward(req, resp);
                }
            } finally {
                latch(firstReturned, s).countDown();
                latch(pageDone, s).countDown();
            }
        }
    }

    private long handing(boolean forwardFirst) throws Exception {
        try (Host host = two(filter(), servlets("/page", new HandingPage(forwardFirst), "/ai/summary",
                new Summary(false), "/ai/view", new View(), "/ai/chat/completions", model()), null, servlets())) {
            return page(host);
        }
    }

    /**
     * The page forwards to the async fragment, then includes the model: the forward's mark stays on the request for
     * its open cycle (only an include's call is kept off the page), and the include is nested in the fragment's call
     * with no endpoint request of its own. Charged 4,000, should be 5,500 (the model ran).
     */
    @Test
    void aModelIncludedAfterAForwardThatStartedTheCycleIsCharged() throws Exception {
        long used = handing(true);
        assertEquals(FRAGMENT + USAGE, used, kind() + ": the model included after a forward that started the cycle;"
                + " charged " + used + ", should be " + (FRAGMENT + USAGE));
    }

    /** Control: the page includes the async fragment, then forwards to the model: 5,500. */
    @Test
    void controlAModelForwardedToAfterAnIncludeThatStartedTheCycleIsCharged() throws Exception {
        long used = handing(false);
        assertEquals(FRAGMENT + USAGE, used, kind() + ": charged " + used + ", should be " + (FRAGMENT + USAGE));
    }
}
