package io.tokenquota.servlet.breakit428;

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
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 428 of issue 11: the pass the container runs again (rounds 338 and 426) while the earlier call's async
 * cycle is under way, and what it sees of that call.
 *
 * <p>Shapes: OpenAI Chat Completions (platform.openai.com/docs/api-reference/chat/create, "The chat completion
 * object" with its {@code usage}), written by {@link ChatCompletions}. The endpoints are {@code DeferredResult}
 * style (Spring MVC reference, "Asynchronous Requests", "DeferredResult": the request thread starts the async
 * cycle, another thread sets the result, and the request is dispatched back to write it; servlet API 6.0,
 * {@code AsyncContext.dispatch}). Spring keeps that state in a request attribute ({@code WebAsyncManager},
 * {@code WebAsyncUtils.WEB_ASYNC_MANAGER_ATTRIBUTE}) and its {@code RequestMappingHandlerAdapter.invokeHandlerMethod}
 * writes the concurrent result on whichever pass finds it set ({@code asyncManager.hasConcurrentResult()}, then
 * {@code clearConcurrentResult()}), not by the dispatch's type. A handler that calls a model without usage in its
 * answer reports its tokens through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} (README, settlement rule 1).
 * The container's run again is {@link RunsAgain} (Jetty only: Tomcat's filter chain runs each filter once per chain).
 */
abstract class AbstractRound428 extends DeferredResultRound {
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return withRunsAgain(filter)
                .servlet("againFigure", new Deferred(true), "/ai/again/figure/*")
                .servlet("onceFigure", new Deferred(true), "/ai/once/figure/*")
                .servlet("againUsage", new Deferred(false), "/ai/again/usage/*")
                .servlet("onceUsage", new Deferred(false), "/ai/once/usage/*");
    }

    /**
     * A {@code DeferredResult} handler. First pass: starts the cycle; a worker calls the model once, keeps its
     * result for the request ({@code figure}: the text, its tokens reported through
     * {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} on the request the handler was given; else the provider's
     * chat.completion with its usage) and dispatches. {@code figure}: a pass run again does nothing (round 426's
     * shape: the request is already processing) and the ASYNC dispatch writes the result. Else whichever pass
     * finds the result writes it and clears it (Spring's {@code hasConcurrentResult}/{@code clearConcurrentResult}),
     * and a pass that finds none does nothing.
     */
    class Deferred extends HttpServlet {
        private final boolean figure;

        Deferred(boolean figure) {
            this.figure = figure;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String s = req.getHeader("x-user-id");
            if (firstPass(req)) {
                startCall(req, resp, s, figure);
                return;
            }
            // the container's pass run again comes once the worker has its result
            if (req.getDispatcherType() == DispatcherType.REQUEST && !awaitWorkerAnswered(s)) {
                return;
            }
            // figure: the round-426 shape (the pass run again finds the request processing and returns, the
            // ASYNC dispatch writes); else Spring's, the pass that finds the result writes it
            Object result = figure && req.getDispatcherType() == DispatcherType.REQUEST ? null : req.getAttribute(RESULT);
            if (result != null) {
                req.removeAttribute(RESULT);
                noted(s).add(req.getDispatcherType() + " pass writes the result");
                write(resp, (String) result);
            } else {
                noted(s).add(req.getDispatcherType() + " pass: no result left, nothing written");
            }
            if (req.getDispatcherType() == DispatcherType.ASYNC) {
                done(s).countDown();
            }
        }

        private void write(HttpServletResponse resp, String result) throws IOException {
            if (figure) {
                byte[] bytes = result.getBytes(StandardCharsets.UTF_8);
                resp.setContentType("text/plain;charset=UTF-8");
                resp.setContentLength(bytes.length);
                resp.getOutputStream().write(bytes);
            } else {
                ChatCompletions.writeWithLength(resp, result.getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    /**
     * Found and fixed (Jetty). The one model call reports its 5,000 tokens through the request attribute
     * ({@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}, set by the worker on the request the handler was given) before
     * the container's pass run again returns; that pass calls no model and writes nothing (rule 2b: released). Its
     * settlement reads the figure off the shared request all the same (Settlement.reportedAttribute falls back to
     * {@code request.getAttribute}) and charges it: 5,000 for the pass, 5,000 for the call.
     */
    @Test
    void aPassRunAgainDoesNotChargeTheFigureTheEarlierCallReported() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/figure/chat", 1, USAGE,
                "the earlier call's figure reported, a pass run again that called no model");
    }

    /** Control: the same handler run once is charged its figure, 5,000. */
    @Test
    void theFigureReportedByADeferredResultRunOnceIsCharged() throws Exception {
        assertChatCharged("/ai/once/figure/chat", 1, USAGE, "a DeferredResult reporting its figure, run once");
    }

    /**
     * Found and fixed (Jetty). The pass run again finds the worker's result and writes it (as Spring's handler adapter
     * writes a concurrent result on the pass that finds it), the chat.completion with its usage: that pass is
     * charged 5,000. The earlier call's ASYNC dispatch then finds nothing left and writes nothing; its cycle ends
     * 200 with nothing seen through its wrapper and is charged its estimate (1,015) on top: 6,015 for one call.
     */
    @Test
    void anAnswerWrittenByThePassRunAgainIsNotChargedTwice() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/usage/chat", 1, USAGE, "the earlier call's result written by the pass run again");
    }

    /** Control: the same handler run once, its ASYNC dispatch writing the completion: 5,000. */
    @Test
    void theCompletionWrittenByTheAsyncDispatchIsChargedItsUsage() throws Exception {
        assertChatCharged("/ai/once/usage/chat", 1, USAGE, "a DeferredResult run once");
    }
}
