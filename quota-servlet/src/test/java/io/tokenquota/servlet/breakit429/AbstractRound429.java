package io.tokenquota.servlet.breakit429;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.DeferredResultRound;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.RunsAgain;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Round 429 of issue 11: the rule of rounds 426 and 428 in {@code QuotaFilter.dispatch}, a pass the container runs
 * again while the call that held the request is under way is part of that call and runs through its wrappers, and
 * what that pass <em>reports</em> through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}.
 *
 * <p>Shapes: OpenAI Chat Completions (platform.openai.com/docs/api-reference/chat/create, "The chat completion
 * object" with its {@code usage}), written by {@link ChatCompletions}. The endpoints are {@code DeferredResult}
 * style, as rounds 426 and 428's (Spring MVC reference, "Asynchronous Requests", "DeferredResult": the request
 * thread starts the async cycle, another thread sets the result, the request is dispatched back to write it;
 * servlet API 6.0 {@code AsyncContext.dispatch}). A handler reports its own figure through
 * {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} (README, settlement rule 1), and one whose pass calls no model reports
 * 0 for itself (docs/decisions.md: "reports 0 for itself, as any endpoint that calls no model"). The pass the
 * container runs again is round 338's {@code CalledTwice} pass (it calls the model at once, synchronously) or
 * round 426's (it finds the request processing and calls none). The container's run again is {@link RunsAgain}
 * (Jetty only: Tomcat's filter chain runs each filter once per chain).
 */
abstract class AbstractRound429 extends DeferredResultRound {
    /** What the pass run again does. */
    enum Again {
        /** Round 426's: finds the request processing, calls no model, writes nothing, reports 0 for itself. */
        REPORTS_ZERO,
        /** Round 338's: calls the model again at once, writes its text and reports its figure, 3,000. */
        CALLS_AGAIN
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return withRunsAgain(filter)
                .servlet("againZero", new Deferred(Again.REPORTS_ZERO), "/ai/again/zero/*")
                .servlet("onceZero", new Deferred(Again.REPORTS_ZERO), "/ai/once/zero/*")
                .servlet("againCalls", new Deferred(Again.CALLS_AGAIN), "/ai/again/calls/*")
                .servlet("onceCalls", new Deferred(Again.CALLS_AGAIN), "/ai/once/calls/*");
    }

    /**
     * A {@code DeferredResult} handler. First pass: starts the cycle; a worker calls the model once and keeps its
     * result for the request: {@code REPORTS_ZERO}, the provider's chat.completion with its usage (5,000);
     * {@code CALLS_AGAIN}, the text, its 5,000 tokens reported through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}
     * on the request the handler was given (as round 428's); then it dispatches, and the ASYNC dispatch writes
     * the result. A pass the container runs again comes once the worker has its result (the handshake only makes
     * that order certain) and does what {@link Again} says.
     */
    class Deferred extends HttpServlet {
        private final Again again;

        Deferred(Again again) {
            this.again = again;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String s = req.getHeader("x-user-id");
            if (req.getDispatcherType() == DispatcherType.ASYNC) {
                writeResult(req, resp, s, again == Again.REPORTS_ZERO);
                return;
            }
            if (firstPass(req)) {
                startCall(req, resp, s, again == Again.CALLS_AGAIN);
                return;
            }
            // the container's pass run again
            if (!awaitWorkerAnswered(s)) {
                return;
            }
            if (again == Again.REPORTS_ZERO) {
                // already processing: this pass calls no model, and says so (0 for itself, docs/decisions.md)
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
                noted(s).add("REQUEST pass run again: already processing, no model call, reports 0 for itself");
            } else {
                // round 338's CalledTwice: the pass run again calls the model at once and answers
                callModelAgain(req, resp, s, false);
            }
        }
    }

    /**
     * Found and fixed (Jetty). The earlier call's worker calls the model once; its ASYNC dispatch writes the
     * chat.completion with its usage, 5,000. The pass the container ran again meanwhile found the request
     * processing, called no model and reported 0 for itself, as an endpoint that calls no model does. Since round
     * 428 that pass runs through the call's own request wrapper, so its 0 is the call's figure, and rule 1 (the
     * handler's figure first) charges it: the one model call is free. Rule: what a pass run again reports is
     * charged once "with that call" (docs/servlet.md), added to it, not put in its place.
     */
    @Test
    void aPassRunAgainReportingZeroForItselfDoesNotMakeTheCallFree() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/zero/chat", 1, USAGE,
                "the earlier call's completion (5,000), a pass run again reporting 0 for itself");
    }

    /** Control: the same handler run once, its ASYNC dispatch writing the completion: 5,000. */
    @Test
    void theCompletionOfTheDeferredResultRunOnceIsCharged() throws Exception {
        assertChatCharged("/ai/once/zero/chat", 1, USAGE, "a DeferredResult run once");
    }

    /**
     * Found and fixed (Jetty). Round 338's pass run again that calls the model at once, beside the earlier call's worker:
     * two model calls, 5,000 (the worker's figure) and 3,000 (the pass's own figure), both answers written to the
     * client. The pass reports through the call's request wrapper and its figure replaces the worker's: 3,000 is
     * charged, less than the first call alone. Every model call is paid: 8,000.
     */
    @Test
    void aPassRunAgainThatCallsTheModelAgainIsChargedBesideTheEarlierCall() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/calls/chat", 2, USAGE + AGAIN,
                "the earlier call's figure 5,000 and the pass run again's own model call, 3,000");
    }

    /** Control: the same handler run once, reporting its worker's figure: 5,000. */
    @Test
    void theFigureOfTheDeferredResultRunOnceIsCharged() throws Exception {
        assertChatCharged("/ai/once/calls/chat", 1, USAGE, "a DeferredResult reporting its figure, run once");
    }
}
