package io.tokenquota.servlet.breakit485;

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
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 485 of issue 11: an include's async cycle that is <em>dispatched</em> once its worker has the model's answer
 * (the servlet API's way to render a slow result on a container thread: Spring's {@code DeferredResult} does the
 * same). docs/servlet.md, includes: "A nested include's reported figure stands for everything that include wrote:
 * usage read from its bytes ... is that same call and is not counted again as the page's usage (4,000 is charged,
 * not 8,000)".
 *
 * <p>A v2 JSON shim includes the v1 chat endpoint. v1 starts an async cycle inside the include; its worker waits
 * until the include returned (the page counts down a latch), calls the model, reports the call's 4,000 through the
 * cycle's request (the documented way) and keeps the completion as a request attribute for the view, then
 * dispatches the cycle to a view that writes that completion, usage 4,000 included. One model call: 4,000.
 *
 * <p>One quota filter (the README's: every path, protecting {@code /ai/}); both containers.
 */
abstract class AbstractRound485 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final String CHAT = IncludeFigures.CHAT;

    /** The model's answer: 1,000 tokens in, 3,000 out, reported as 4,000. */
    static final long FRAGMENT = LateIncludes.FRAGMENT;

    /** The request attribute the worker leaves the model's completion in for the view. */
    static final String ANSWER = "round485.answer";

    /** The pages' include-returned signals (the worker waits for its page's). */
    static final LateIncludes INCLUDES = new LateIncludes();

    static String subject() {
        return "u485-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("render", render(), "/ai/v1/render")
                .servlet("v1-dispatch", v1Chat(Then.DISPATCH_TO_VIEW), "/ai/v1/chat-dispatch")
                .servlet("v1-redispatch", v1Chat(Then.DISPATCH_BACK), "/ai/v1/chat-redispatch")
                .servlet("v1-write", v1Chat(Then.WRITE), "/ai/v1/chat-write")
                .servlet("v2-dispatch", shim("/ai/v1/chat-dispatch"), "/ai/v2/chat-dispatch")
                .servlet("v2-redispatch", shim("/ai/v1/chat-redispatch"), "/ai/v2/chat-redispatch")
                .servlet("v2-write", shim("/ai/v1/chat-write"), "/ai/v2/chat-write");
    }

    enum Then {
        /** The worker dispatches the cycle to the view ({@code AsyncContext.dispatch(path)}). */
        DISPATCH_TO_VIEW,
        /** The worker dispatches the cycle back ({@code AsyncContext.dispatch()}), as DeferredResult does. */
        DISPATCH_BACK,
        /** The worker writes the completion itself through the cycle's response (round 478's shape). */
        WRITE
    }

    /** OpenAI's chat completion object with its usage (platform.openai.com/docs/api-reference/chat/object). */
    static String completion() {
        return LateIncludes.completion("chatcmpl-485");
    }

    /**
     * The v1 chat endpoint: on its first pass it starts an async cycle whose worker calls the model once, reports
     * its figure and then renders the answer ({@link Then}); a pass that finds the answer (a dispatch back) writes
     * it.
     */
    static HttpServlet v1Chat(Then then) {
        return LateIncludes.servlet((req, resp) -> {
            Object answer = req.getAttribute(ANSWER);
            if (answer != null) {
                LateIncludes.write(resp, (String) answer);
                return;
            }
            String s = req.getHeader("x-user-id");
            boolean included = req.getAttribute("jakarta.servlet.include.request_uri") != null;
            AsyncContext cycle = req.startAsync();
            CountDownLatch includeReturned = INCLUDES.returned(s);
            LateIncludes.startWorker("round485-v1-worker", () -> {
                if (included) {
                    // the model is slower than the page: the include has returned before the answer arrives
                    includeReturned.await(10, TimeUnit.SECONDS);
                }
                HttpServletRequest rq = (HttpServletRequest) cycle.getRequest();
                CALLS.count(s);
                rq.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
                switch (then) {
                    case DISPATCH_TO_VIEW -> {
                        rq.setAttribute(ANSWER, completion());
                        cycle.dispatch("/ai/v1/render");
                    }
                    case DISPATCH_BACK -> {
                        rq.setAttribute(ANSWER, completion());
                        cycle.dispatch();
                    }
                    case WRITE -> {
                        try {
                            LateIncludes.write((HttpServletResponse) cycle.getResponse(), completion());
                        } finally {
                            cycle.complete();
                        }
                    }
                }
            });
        });
    }

    /** The view the worker dispatches to: writes the completion it was given, calling no model. */
    static HttpServlet render() {
        return LateIncludes.servlet((req, resp) -> {
            resp.setContentType("application/json");
            LateIncludes.write(resp, (String) req.getAttribute(ANSWER));
        });
    }

    /**
     * The v2 chat endpoint: a shim that includes v1's answer as it is, calling no model itself; a dispatch back
     * that finds v1's answer writes it.
     */
    static HttpServlet shim(String v1) {
        return INCLUDES.shim(v1, ANSWER);
    }

    void assertCharged(String path, int status, int modelCalls, long used, String what) {
        IncludeFigures.assertCharged(this, CALLS, subject(), path, status, modelCalls, used, what);
    }

    /**
     * v1's worker reports 4,000 through the cycle's request after the include returned and dispatches the cycle to
     * the view, which writes the completion with usage 4,000. One model call: should be 4,000.
     */
    @Test
    void aShimsAsyncV1DispatchingToItsViewIsChargedOnce() {
        assertCharged("/ai/v2/chat-dispatch", 200, 1, FRAGMENT,
                "a v2 shim including v1, whose worker reports 4,000 after the include returned and dispatches to a"
                        + " view writing usage 4,000");
    }

    /**
     * The same worker dispatching the cycle back ({@code AsyncContext.dispatch()}, as Spring's DeferredResult
     * does); the pass that finds the answer writes it with usage 4,000. One model call: should be 4,000.
     */
    @Test
    void aShimsAsyncV1DispatchingBackIsChargedOnce() {
        assertCharged("/ai/v2/chat-redispatch", 200, 1, FRAGMENT,
                "a v2 shim including v1, whose worker reports 4,000 after the include returned and dispatches back;"
                        + " the answer with usage 4,000 written on that dispatch");
    }

    /** Control: v1's worker writes the completion itself through the cycle's response (round 478): 4,000. */
    @Test
    void controlAShimsAsyncV1WritingAfterTheIncludeReturnedIsChargedOnce() {
        assertCharged("/ai/v2/chat-write", 200, 1, FRAGMENT,
                "a v2 shim including v1, whose worker reports 4,000 and writes usage 4,000 after the include returned");
    }

    /** Control: v1 called directly, its worker reporting 4,000 and dispatching to the view: 4,000. */
    @Test
    void controlV1DispatchingToItsViewIsChargedOnce() {
        assertCharged("/ai/v1/chat-dispatch", 200, 1, FRAGMENT,
                "v1, whose worker reports 4,000 and dispatches to a view writing usage 4,000");
    }

    /** Control: v1 called directly, its worker reporting 4,000 and dispatching back: 4,000. */
    @Test
    void controlV1DispatchingBackIsChargedOnce() {
        assertCharged("/ai/v1/chat-redispatch", 200, 1, FRAGMENT,
                "v1, whose worker reports 4,000 and dispatches back; the answer written on that dispatch");
    }
}
