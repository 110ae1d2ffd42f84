package io.tokenquota.servlet.breakit478;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import io.tokenquota.servlet.testing.LateIncludes;
import io.tokenquota.servlet.testing.ModelCalls;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 478 of issue 11: what an include's async worker <em>writes</em> after the include returned (round 473 made
 * what it <em>reports</em> the include's). docs/servlet.md, includes: "What such an include writes is judged as an
 * include's answer, under its own status (200 ...), not the page's", and "A nested include's reported figure stands
 * for everything that include wrote: usage read from its bytes ... is that same call and is not counted again".
 *
 * <p>A fragment whose model call is slower than the page's rendering starts the async cycle inside its include and
 * writes the model's answer from its worker once the include returned (each page counts down a latch when its
 * include returned; the worker waits for it). The controls are the same fragments writing before the include
 * returns (synchronously, or from the worker while the include waits for it).
 *
 * <p>One quota filter (the README's: every path, protecting {@code /ai/}); both containers.
 */
abstract class AbstractRound478 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final String CHAT = IncludeFigures.CHAT;

    /** The v1 model's answer: 1,000 tokens in, 3,000 out, reported as 4,000. */
    static final long FRAGMENT = LateIncludes.FRAGMENT;

    /** The pages' include-returned signals (a late fragment's worker waits for its page's). */
    static final LateIncludes INCLUDES = new LateIncludes();

    static String subject() {
        return "u478-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                // a "did you mean" not-found page and the model's suggestions it includes
                .servlet("suggest-sync", suggestions(When.SYNC), "/ai/v1/suggest-sync")
                .servlet("suggest-early", suggestions(When.WORKER_BEFORE_RETURN), "/ai/v1/suggest-early")
                .servlet("suggest-late", suggestions(When.WORKER_AFTER_RETURN), "/ai/v1/suggest-late")
                .servlet("nf-sync", notFoundPage("/ai/v1/suggest-sync"), "/ai/articles/sync")
                .servlet("nf-early", notFoundPage("/ai/v1/suggest-early"), "/ai/articles/early")
                .servlet("nf-late", notFoundPage("/ai/v1/suggest-late"), "/ai/articles/late")
                // a v2 JSON shim including the v1 chat endpoint, which reports its figure and answers with usage
                .servlet("v1-sync", v1Chat(When.SYNC), "/ai/v1/chat-sync")
                .servlet("v1-early", v1Chat(When.WORKER_BEFORE_RETURN), "/ai/v1/chat-early")
                .servlet("v1-late", v1Chat(When.WORKER_AFTER_RETURN), "/ai/v1/chat-late")
                .servlet("v2-sync", INCLUDES.shim("/ai/v1/chat-sync", null), "/ai/v2/chat-sync")
                .servlet("v2-early", INCLUDES.shim("/ai/v1/chat-early", null), "/ai/v2/chat-early")
                .servlet("v2-late", INCLUDES.shim("/ai/v1/chat-late", null), "/ai/v2/chat-late");
    }

    enum When {
        /** Inside the include, on the container's thread. */
        SYNC,
        /** On the async cycle's worker, while the include waits for it. */
        WORKER_BEFORE_RETURN,
        /** On the async cycle's worker, once the include returned (the model is slower than the page). */
        WORKER_AFTER_RETURN
    }

    /**
     * A fragment that runs {@code work} (its model call and its writes) {@code when}: inside the include, or on the
     * worker of an async cycle started inside the include, which completes the cycle once it is done.
     */
    static HttpServlet fragment(When when, LateIncludes.Handler work) {
        return LateIncludes.servlet((req, resp) -> {
            if (when == When.SYNC) {
                work.service(req, resp);
                return;
            }
            AsyncContext cycle = req.startAsync();
            CountDownLatch done = new CountDownLatch(1);
            CountDownLatch includeReturned = INCLUDES.returned(req.getHeader("x-user-id"));
            LateIncludes.startWorker("round478-fragment-worker", () -> {
                try {
                    if (when == When.WORKER_AFTER_RETURN) {
                        includeReturned.await(10, TimeUnit.SECONDS);
                    }
                    // the documented way: through the cycle's request and response
                    work.service((HttpServletRequest) cycle.getRequest(), (HttpServletResponse) cycle.getResponse());
                } catch (ServletException e) {
                    throw new IllegalStateException(e);
                } finally {
                    done.countDown();
                    cycle.complete();
                }
            });
            if (when == When.WORKER_BEFORE_RETURN) {
                try {
                    done.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
    }

    /**
     * The model's suggestions for a missing article, as HTML: one model call, no usage in the markup, no figure
     * reported (docs/servlet.md: "suggestions the model writes into a protected 404 page make the page answering
     * (rule 6), and its 404 is charged the estimate (rule 4)").
     */
    static HttpServlet suggestions(When when) {
        return fragment(when, (rq, rs) -> {
            CALLS.count(rq.getHeader("x-user-id"));
            LateIncludes.write(rs, "<h2>Did you mean</h2><ul><li>Quarterly planning, March</li>"
                    + "<li>Planning the quarterly offsite</li><li>Q1 plan review notes</li></ul>");
        });
    }

    /** A protected not-found page: 404 set first, its notice, then the model's suggestions included. */
    static HttpServlet notFoundPage(String fragment) {
        return LateIncludes.servlet((req, resp) -> {
            req.getInputStream().readAllBytes();
            resp.setStatus(404);
            resp.setContentType("text/html;charset=utf-8");
            resp.getOutputStream().write("<html><body><p>No such article.</p>".getBytes(StandardCharsets.UTF_8));
            INCLUDES.include(req, resp, fragment);
        });
    }

    /**
     * The v1 chat endpoint: one model call, its figure reported through the attribute and its answer written as
     * OpenAI's chat completion object with its usage.
     */
    static HttpServlet v1Chat(When when) {
        return fragment(when, (rq, rs) -> {
            CALLS.count(rq.getHeader("x-user-id"));
            rq.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
            LateIncludes.write(rs, LateIncludes.completion("chatcmpl-478"));
        });
    }

    void assertCharged(String path, int status, int modelCalls, long used, String what) {
        IncludeFigures.assertCharged(this, CALLS, subject(), path, status, modelCalls, used, what);
    }

    /** The estimate of {@link #CHAT} (max_tokens 100 and its prompt): what a not-found page answering is charged. */
    static final long ESTIMATE = 107;

    // ---- a not-found page including the model's suggestions (rule 4: content a nested include wrote under its own
    // 200 makes the page answering, and its 404 is charged the estimate)

    /**
     * The suggestions' model call runs on the fragment's worker and writes after the include returned. Should be
     * charged the estimate, 107, as the controls are; today the worker's bytes are judged under the page's 404,
     * the page is taken for an error page with a body, and the hold is released: used 0 for a model call.
     */
    @Test
    void suggestionsAnAsyncFragmentWritesAfterItsIncludeReturnedIntoANotFoundPageAreCharged() {
        assertCharged("/ai/articles/late", 404, 1, ESTIMATE,
                "a 404 page whose included suggestions fragment's worker writes the model's answer after the include"
                        + " returned");
    }

    /** Control: the same suggestions written inside the include (the container's thread): 107. */
    @Test
    void suggestionsWrittenInsideTheIncludeAreCharged() {
        assertCharged("/ai/articles/sync", 404, 1, ESTIMATE, "a 404 page whose included fragment writes suggestions");
    }

    /** Control: the same async fragment, its worker writing while the include waits for it: 107. */
    @Test
    void suggestionsAnAsyncFragmentWritesBeforeItsIncludeReturnedAreCharged() {
        assertCharged("/ai/articles/early", 404, 1, ESTIMATE,
                "a 404 page whose included async fragment's worker writes suggestions before the include returned");
    }

    // ---- a v2 shim including v1, which reports its 4,000 and answers with usage 4,000 (docs/servlet.md: "4,000 is
    // charged, not 8,000")

    /**
     * v1's model call runs on its worker, which reports its 4,000 through the cycle's request (the documented way)
     * and writes the completion with usage 4,000 after the include returned. One model call: should be 4,000, as
     * the controls are; today the figure is counted as the include's and the usage in the bytes written after the
     * include returned again as the page's own: charged 8,000.
     */
    @Test
    void aShimsAsyncV1ReportingAndAnsweringAfterTheIncludeReturnedIsChargedOnce() {
        assertCharged("/ai/v2/chat-late", 200, 1, FRAGMENT,
                "a v2 shim including v1, whose worker reports 4,000 and writes usage 4,000 after the include returned");
    }

    /** Control: v1 reports and answers inside the include: 4,000. */
    @Test
    void aShimsV1ReportingAndAnsweringInsideTheIncludeIsChargedOnce() {
        assertCharged("/ai/v2/chat-sync", 200, 1, FRAGMENT, "a v2 shim including v1, which reports and answers");
    }

    /** Control: v1's worker reports and answers while the include waits for it: 4,000. */
    @Test
    void aShimsAsyncV1ReportingAndAnsweringBeforeTheIncludeReturnedIsChargedOnce() {
        assertCharged("/ai/v2/chat-early", 200, 1, FRAGMENT,
                "a v2 shim including v1, whose worker reports and answers before the include returned");
    }
}
