package io.tokenquota.servlet.breakit499;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import io.tokenquota.servlet.testing.LateIncludes;
import io.tokenquota.servlet.testing.ModelCalls;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 499 of issue 11: the dispatch of an include's async cycle makes a second include that starts an async cycle
 * of its own, the way Spring MVC starts every one ({@code request.startAsync(request, response)}, with the request
 * and response the handler was given: {@code StandardServletAsyncWebRequest#startAsync}). Inside the first cycle's
 * dispatch that response is the first cycle's (the container hands the dispatch the cycle's response), so the second
 * cycle's response wraps the first's, and each write through it is marked twice, the first cycle's mark last.
 *
 * <p>A v2 JSON shim includes v1. v1 starts an async cycle inside the include; once the include returned its worker
 * calls the model once (the answer), reports 4,000 through the cycle's request (the documented way) and dispatches
 * the cycle to a view that includes a "related questions" fragment. That fragment calls a model of its own on a
 * worker (its async cycle, started inside that include) and, once the include returned, writes OpenAI's chat
 * completion with that call's usage (1,000 in, 3,000 out) through the cycle's response, reporting no figure: it
 * relies on the usage in its answer, which the README says is charged. Two model calls, 4,000 each: 8,000.
 *
 * <p>One quota filter (the README's: every path, protecting {@code /ai/}); both containers (Jetty under-charges,
 * Tomcat charges right: the Tomcat suite is a control of the same servlets).
 */
abstract class AbstractRound499 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();

    /** Each model's answer: 1,000 tokens in, 3,000 out. */
    static final long CALL = LateIncludes.FRAGMENT;

    /** The pages' include-returned signals (v1's worker waits for its page's). */
    static final LateIncludes PAGES = new LateIncludes();
    /** Per subject: counted down by the view once its include of the related fragment returned. */
    static final Map<String, CountDownLatch> RELATED_RETURNED = new ConcurrentHashMap<>();

    static String subject() {
        return "u499-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static CountDownLatch relatedReturned(String s) {
        return RELATED_RETURNED.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("related-spring", related(true), "/ai/v1/related-spring")
                .servlet("related-plain", related(false), "/ai/v1/related-plain")
                .servlet("view-spring", view("/ai/v1/related-spring"), "/ai/v1/view-spring")
                .servlet("view-plain", view("/ai/v1/related-plain"), "/ai/v1/view-plain")
                .servlet("v1-spring", v1Chat("/ai/v1/view-spring"), "/ai/v1/chat-spring")
                .servlet("v1-plain", v1Chat("/ai/v1/view-plain"), "/ai/v1/chat-plain")
                .servlet("v2-spring", PAGES.shim("/ai/v1/chat-spring", null), "/ai/v2/chat-spring")
                .servlet("v2-plain", PAGES.shim("/ai/v1/chat-plain", null), "/ai/v2/chat-plain")
                .servlet("v1-spring-small", v1Chat("/ai/v1/view-spring", SMALL), "/ai/v1/chat-spring-small")
                .servlet("v1-plain-small", v1Chat("/ai/v1/view-plain", SMALL), "/ai/v1/chat-plain-small")
                .servlet("v2-spring-small", PAGES.shim("/ai/v1/chat-spring-small", null), "/ai/v2/chat-spring-small")
                .servlet("v2-plain-small", PAGES.shim("/ai/v1/chat-plain-small", null), "/ai/v2/chat-plain-small");
    }

    /**
     * Added with the fix: v1's figure when it differs from the related call's. Tomcat hands the fragment v1's cycle
     * request itself, and the fragment's cycle took it as its own: v1's figure counted again for the fragment and the
     * fragment's usage covered by it. With equal figures that charged the right total by chance.
     */
    static final long SMALL = 1_500;

    /**
     * The v1 chat endpoint: starts an async cycle inside the include; once the include returned, its worker calls
     * the model, reports the call's 4,000 through the cycle's request and dispatches the cycle to {@code view},
     * writing nothing itself.
     */
    static HttpServlet v1Chat(String view) {
        return v1Chat(view, CALL);
    }

    /** As above, reporting {@code figure}. */
    static HttpServlet v1Chat(String view, long figure) {
        return LateIncludes.servlet((req, resp) -> {
            String s = req.getHeader("x-user-id");
            AsyncContext cycle = req.startAsync();
            CountDownLatch includeReturned = PAGES.returned(s);
            LateIncludes.startWorker("round499-v1-worker", () -> {
                includeReturned.await(10, TimeUnit.SECONDS);
                CALLS.count(s);
                cycle.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, figure);
                cycle.dispatch(view);
            });
        });
    }

    /** The view the v1 cycle dispatches to: a JSON layout that includes the related fragment, calling no model. */
    static HttpServlet view(String related) {
        return LateIncludes.servlet((req, resp) -> {
            resp.setContentType("application/json");
            try {
                req.getRequestDispatcher(related).include(req, resp);
            } finally {
                relatedReturned(req.getHeader("x-user-id")).countDown();
            }
        });
    }

    /**
     * The related fragment: starts an async cycle, as Spring MVC does ({@code springForm}: with the request and
     * response it was given) or as a plain servlet does ({@code startAsync()}); once its include returned, the
     * worker calls the model and writes OpenAI's chat completion with its usage through the cycle's response,
     * reporting no figure, and completes.
     */
    static HttpServlet related(boolean springForm) {
        return LateIncludes.servlet((req, resp) -> {
            String s = req.getHeader("x-user-id");
            AsyncContext cycle = springForm ? req.startAsync(req, resp) : req.startAsync();
            CountDownLatch includeReturned = relatedReturned(s);
            LateIncludes.startWorker("round499-related-worker", () -> {
                try {
                    includeReturned.await(10, TimeUnit.SECONDS);
                    CALLS.count(s);
                    LateIncludes.write((HttpServletResponse) cycle.getResponse(),
                            LateIncludes.completion("chatcmpl-499-related"));
                } finally {
                    cycle.complete();
                }
            });
        });
    }

    void assertCharged(String path, int modelCalls, long used, String what) {
        IncludeFigures.assertCharged(this, CALLS, subject(), path, modelCalls, used, what);
    }

    /**
     * The related fragment starts its cycle as Spring MVC does: two model calls, v1's reported 4,000 and the
     * related fragment's usage 4,000 in its answer: 8,000. Predicted: its bytes are marked as v1's cycle's (the
     * inner mark wins), covered by v1's figure, and the related call is free: 4,000. Seen on Jetty (charged 4,000,
     * [RESERVED 107, COMMITTED 4,000]); Tomcat charges 8,000 for the same servlets.
     */
    @Test
    void aSpringFragmentsCycleInsideTheDispatchOfAnIncludesCycleIsCharged() {
        assertCharged("/ai/v2/chat-spring", 2, 2 * CALL,
                "v2 shim including v1 (reports 4,000, dispatches to a view), the view including a fragment whose"
                        + " startAsync(req, resp) worker writes usage 4,000 and reports nothing");
    }

    /** Control: the same fragment starting its cycle with {@code startAsync()}: 8,000. */
    @Test
    void controlAPlainFragmentsCycleInsideTheDispatchOfAnIncludesCycleIsCharged() {
        assertCharged("/ai/v2/chat-plain", 2, 2 * CALL,
                "v2 shim including v1 (reports 4,000, dispatches to a view), the view including a fragment whose"
                        + " startAsync() worker writes usage 4,000 and reports nothing");
    }

    /**
     * Added with the fix: v1 reports 1,500, the related fragment (Spring's form) writes usage 4,000: 5,500. Each cycle
     * is its own call, whichever container hands the fragment which wrappers.
     */
    @Test
    void aSpringFragmentsCycleIsChargedItsOwnUsageBesideAnUnequalFigure() {
        assertCharged("/ai/v2/chat-spring-small", 2, SMALL + CALL,
                "v2 shim including v1 (reports 1,500, dispatches to a view), the view including a fragment whose"
                        + " startAsync(req, resp) worker writes usage 4,000 and reports nothing");
    }

    /** Control, added with the fix: the same with the fragment's {@code startAsync()}: 5,500. */
    @Test
    void controlAPlainFragmentsCycleIsChargedItsOwnUsageBesideAnUnequalFigure() {
        assertCharged("/ai/v2/chat-plain-small", 2, SMALL + CALL,
                "v2 shim including v1 (reports 1,500, dispatches to a view), the view including a fragment whose"
                        + " startAsync() worker writes usage 4,000 and reports nothing");
    }
}
