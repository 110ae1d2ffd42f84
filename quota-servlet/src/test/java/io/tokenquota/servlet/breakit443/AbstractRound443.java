package io.tokenquota.servlet.breakit443;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.DeferredResultRound;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.RunsAgain;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 443 of issue 11: round 441's fix ({@code EndpointRequest.nestedReporting}: a pass the container runs again
 * while the call that held the request is under way registers its figure with the call, read when the call settles).
 * Attacked here: an include made inside that pass run again. A page that includes fragments, each its own model call
 * reporting its figure, is charged the page's own figure plus every fragment's (README / docs/servlet.md: an include
 * inside a held dispatch "reports its own model call ... added up with the holding call's at settlement"; a page's
 * summary fragments). When that page is the pass run again, the fragment's figure lands in the pass's single
 * {@code reported} slot ({@code PassAgain.setAttribute}) instead of being recorded apart, so the pass's own figure
 * replaces it (include first) or the restore of the pass's figure overwrites it (own figure first).
 *
 * <p>Shapes: OpenAI Chat Completions (platform.openai.com/docs/api-reference/chat/create), via
 * {@link ChatCompletions} / {@link DeferredResultRound}; the endpoint is {@code DeferredResult} style (Spring MVC
 * reference, "Asynchronous Requests"); the include is servlet API 6.0 {@code RequestDispatcher.include} (a JSP's
 * {@code <jsp:include>}, Spring's {@code InternalResourceView} include); the figures are reported by
 * {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} (settlement rule 1). The container's run again is {@link RunsAgain}
 * (Jetty only); those tests are skipped on Tomcat.
 */
abstract class AbstractRound443 extends DeferredResultRound {
    /** The included fragment's own model call, by its own figure. */
    static final long FRAGMENT = 2_000;
    static final String FRAGMENT_TEXT = "Key risks: supply chain, currency, churn.";

    /** What the page does on the pass run again (or, for ONCE_PAGE, on its one synchronous pass). */
    enum Page {
        /** Includes the fragment (2,000), then calls the model itself and reports 3,000 by the attribute. */
        INCLUDE_THEN_OWN,
        /** Calls the model itself and reports 3,000 by the attribute, then includes the fragment (2,000). */
        OWN_THEN_INCLUDE,
        /** Control: includes the fragment (2,000) and reports nothing of its own. */
        INCLUDE_ONLY,
        /** Control: the same page, synchronous, run once: includes the fragment, reports its own 3,000. */
        ONCE_PAGE,
        /**
         * Reports its own 3,000 only as a trailer field, whose supplier (the application's) waits until the
         * subject's next request was served; the pass itself waits as long, so that the call is under way meanwhile.
         */
        WAITING_TRAILER
    }

    /** The subject's next call, made while the first is under way: its own figure. */
    static final long NEXT = 1_000;

    private final Map<String, CountDownLatch> passCalled = new ConcurrentHashMap<>();
    /** WAITING_TRAILER: the pass run again has written and waits; its trailer supplier was asked; the next was served. */
    private final Map<String, CountDownLatch> passWaiting = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> trailerAsked = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> nextServed = new ConcurrentHashMap<>();

    private static CountDownLatch latch(Map<String, CountDownLatch> latches, String s) {
        return latches.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private CountDownLatch passCalled(String s) {
        return passCalled.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        Deployment d = withRunsAgain(filter)
                // under the protected prefix: the filter maps itself by this servlet's name for INCLUDE dispatches
                .servlet("fragment", new Fragment(), "/ai/fragment/*");
        for (Page p : Page.values()) {
            String name = p.name().toLowerCase(Locale.ROOT).replace('_', '-');
            d.servlet("p-" + name, new PageServlet(p), "/ai/again/" + name + "/*", "/ai/once/" + name + "/*");
        }
        return d.servlet("next", new Next(), "/ai/next/*");
    }

    /** The subject's next call: counted, reports its 1,000 by the attribute. */
    class Next extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, NEXT);
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write("next".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A page fragment that calls the model itself: counted, reports its 2,000 by the attribute, writes its text. */
    class Fragment extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String s = req.getHeader("x-user-id");
            calls.count(s);
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
            resp.getOutputStream().write(FRAGMENT_TEXT.getBytes(StandardCharsets.UTF_8));
            noted(s).add("fragment (" + req.getDispatcherType() + "): model called, " + FRAGMENT + " reported");
        }
    }

    /**
     * The page. DeferredResult style: first pass starts the cycle, a worker calls the model (5,000 by the attribute)
     * and dispatches once the pass run again is over; the ASYNC dispatch writes the result. The pass run again does
     * what {@link Page} says. ONCE_PAGE is synchronous, run once.
     */
    class PageServlet extends HttpServlet {
        private final Page page;

        PageServlet(Page page) {
            this.page = page;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String s = req.getHeader("x-user-id");
            if (page == Page.ONCE_PAGE) {
                req.getInputStream().readAllBytes();
                resp.setContentType("text/plain;charset=UTF-8");
                include(req, resp);
                own(req, resp, s);
                done(s).countDown();
                return;
            }
            if (req.getDispatcherType() == DispatcherType.ASYNC) {
                writeResult(req, resp, s, false);
                return;
            }
            if (firstPass(req)) {
                startCallDispatchingAfter(req, resp, s, passCalled(s));
                return;
            }
            if (!awaitWorkerAnswered(s)) {
                return;
            }
            try {
                resp.setContentType("text/plain;charset=UTF-8");
                switch (page) {
                    case INCLUDE_THEN_OWN -> {
                        include(req, resp);
                        own(req, resp, s);
                    }
                    case OWN_THEN_INCLUDE -> {
                        own(req, resp, s);
                        include(req, resp);
                    }
                    case WAITING_TRAILER -> {
                        // servlet API 6.0 setTrailerFields, before the body; the supplier is the application's
                        resp.setTrailerFields(() -> {
                            latch(trailerAsked, s).countDown();
                            await(latch(nextServed, s));
                            return Map.of(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(AGAIN));
                        });
                        calls.count(s);
                        resp.getOutputStream().write(TEXT_AGAIN.getBytes(StandardCharsets.UTF_8));
                        noted(s).add("REQUEST page: model called, " + AGAIN + " as a trailer field, waiting");
                        latch(passWaiting, s).countDown();
                        await(latch(nextServed, s));
                    }
                    default -> include(req, resp);
                }
            } finally {
                passCalled(s).countDown();
            }
        }

        private void include(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getRequestDispatcher("/ai/fragment/risks").include(req, resp);
        }

        private void own(HttpServletRequest req, HttpServletResponse resp, String s) throws IOException {
            calls.count(s);
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, AGAIN);
            resp.getOutputStream().write(TEXT_AGAIN.getBytes(StandardCharsets.UTF_8));
            noted(s).add(req.getDispatcherType() + " page: model called, " + AGAIN + " reported");
        }
    }

    // ------------------------------------------------------------------ an include inside the pass run again

    /**
     * The pass run again includes a fragment (its own model call, 2,000) and then calls the model itself (3,000):
     * with the worker's 5,000, three model calls, 10,000.
     */
    @Test
    void aPassRunAgainIncludingAFragmentThenReportingItsOwnIsChargedBoth() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/include-then-own/chat", 3, USAGE + FRAGMENT + AGAIN,
                "the worker's 5,000, the pass run again's included fragment 2,000, then its own 3,000");
    }

    /** As above, the pass's own 3,000 reported first, then the fragment included: 10,000. */
    @Test
    void aPassRunAgainReportingItsOwnThenIncludingAFragmentIsChargedBoth() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/own-then-include/chat", 3, USAGE + FRAGMENT + AGAIN,
                "the worker's 5,000, the pass run again's own 3,000, then its included fragment 2,000");
    }

    /** Control: the pass run again only includes the fragment: 5,000 + 2,000. */
    @Test
    void controlAPassRunAgainOnlyIncludingAFragmentIsCharged() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/include-only/chat", 2, USAGE + FRAGMENT,
                "the worker's 5,000, the pass run again's included fragment 2,000");
    }

    /**
     * A running call's figure (what the subject's next request is admitted against) does not ask a pass run again's
     * trailer supplier, as it does not ask the call's own: it is the application's and may wait (here until that
     * next request was served). Only the settlement asks it: 5,000 + 3,000 for the call, 1,000 for the next.
     */
    @Test
    void theSubjectsNextRequestDoesNotWaitForAPassRunAgainsTrailerSupplier() throws Exception {
        assumeRunsAgain();
        String s = subject();
        Future<HttpResponse<String>> first = workers.submit(
                () -> TestHttp.postJson(container.uri("/ai/again/waiting-trailer/chat"), s, CHAT));
        assertTrue(latch(passWaiting, s).await(10, TimeUnit.SECONDS), "the pass run again never ran: " + noted(s));
        HttpResponse<String> next = TestHttp.postJson(container.uri("/ai/next/chat"), s, CHAT);
        boolean askedMeanwhile = latch(trailerAsked, s).getCount() == 0;
        latch(nextServed, s).countDown();
        assertFalse(askedMeanwhile, kind() + ": the pass run again's trailer supplier was asked for the subject's next"
                + " request (answered " + next.statusCode() + " " + next.body() + "); endpoint " + noted(s));
        HttpResponse<String> r = first.get(20, TimeUnit.SECONDS);
        assertTrue(done(s).await(10, TimeUnit.SECONDS), "the async dispatch never ran: " + noted(s));
        QuotaAccount a = settled(s);
        String figures = kind() + ": answer " + r.statusCode() + " " + r.body() + ", next " + next.statusCode() + " "
                + next.body() + "; model calls " + calls.of(s) + ", used " + a.used() + ", reserved " + a.reserved()
                + "; ledger " + ledger(s) + "; endpoint " + noted(s);
        assertAll(() -> assertEquals(200, next.statusCode(), figures),
                () -> assertEquals(200, r.statusCode(), figures),
                () -> assertEquals(3, calls.of(s), figures),
                () -> assertEquals(USAGE + AGAIN + NEXT, a.used(), figures),
                () -> assertEquals(0, a.reserved(), figures));
    }

    /** Control: the same page run once, synchronously: the fragment's 2,000 plus its own 3,000. */
    @Test
    void controlThePageRunOnceIsChargedItsFragmentAndItsOwn() throws Exception {
        assertChatCharged("/ai/once/once-page/chat", 2, FRAGMENT + AGAIN,
                "the page run once: the included fragment's 2,000, its own 3,000");
    }
}
