package io.tokenquota.servlet.breakit428;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Daemons;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.RunsAgain;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
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
abstract class AbstractRound428 extends ModelCallRound {
    /** An OpenAI chat body: 1,000-token budget, held at 1,015 (round 338's figure). */
    static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the attached quarterly report in five bullet points.\"}],\"max_tokens\":1000}";
    /** 4,000 in, 1,000 out. */
    static final String COMPLETION = ChatCompletions.completion("c428", "gpt-4o", "Here is the summary.", 4000, 1000);
    static final long USAGE = 5_000;
    /** The model's text as a {@code DeferredResult<String>} writes it (text/plain, Spring's StringHttpMessageConverter). */
    static final String TEXT = "Here is the summary: revenue grew, costs fell, margins widened, cash rose, outlook holds.";

    static final String FIRST_PASS = "round428.firstPass";
    static final String RESULT = "round428.result";

    private final ExecutorService workers = Daemons.pool("round428-model");
    private final Map<String, CountDownLatch> done = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> ready = new ConcurrentHashMap<>();
    private final Map<String, List<String>> seen = new ConcurrentHashMap<>();

    private static CountDownLatch latch(Map<String, CountDownLatch> of, String s) {
        return of.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    private List<String> noted(String s) {
        return seen.computeIfAbsent(s, k -> new CopyOnWriteArrayList<>());
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create().filter("again", new RunsAgain(), "/ai/again/*").filter("quota", filter, "/ai/*")
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
            if (req.getAttribute(FIRST_PASS) == null) {
                req.setAttribute(FIRST_PASS, Boolean.TRUE);
                req.getInputStream().readAllBytes();
                AsyncContext ac = req.startAsync(req, resp);
                ac.setTimeout(30_000);
                noted(s).add("first pass: async started");
                workers.submit(() -> {
                    calls.count(s);
                    if (figure) {
                        req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, USAGE);
                    }
                    req.setAttribute(RESULT, figure ? TEXT : COMPLETION);
                    noted(s).add("worker: model answered, result set, dispatching");
                    latch(ready, s).countDown();
                    ac.dispatch();
                });
                return;
            }
            if (req.getDispatcherType() == DispatcherType.REQUEST) {
                // the container's pass run again; here it comes once the worker has its result (as it may:
                // a fast model, a cached answer), the handshake only makes that order certain
                try {
                    assertTrue(latch(ready, s).await(10, TimeUnit.SECONDS), "the worker never answered");
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
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
                latch(done, s).countDown();
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

    private void assertOneCallCharged(String s, HttpResponse<String> r, String what) throws InterruptedException {
        assertTrue(latch(done, s).await(10, TimeUnit.SECONDS), "the async dispatch never ran: " + seen.get(s));
        QuotaAccount a = Ledgers.settled(store, s);
        String figures = kind() + ": " + what + ": answer " + r.statusCode() + " " + r.body() + "; model calls "
                + calls.of(s) + ", used " + a.used() + ", reserved " + a.reserved() + "; ledger " + ledger(s)
                + "; endpoint " + seen.get(s);
        assertAll(() -> assertEquals(200, r.statusCode(), figures),
                () -> assertEquals(1, calls.of(s), figures),
                () -> assertEquals(USAGE, a.used(), figures),
                () -> assertEquals(0, a.reserved(), figures));
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
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, "Tomcat's filter chain runs each filter once per chain");
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/again/figure/chat"), s, CHAT);
        assertOneCallCharged(s, r, "the earlier call's figure reported, a pass run again that called no model");
    }

    /** Control: the same handler run once is charged its figure, 5,000. */
    @Test
    void theFigureReportedByADeferredResultRunOnceIsCharged() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/once/figure/chat"), s, CHAT);
        assertOneCallCharged(s, r, "a DeferredResult reporting its figure, run once");
    }

    /**
     * Found and fixed (Jetty). The pass run again finds the worker's result and writes it (as Spring's handler adapter
     * writes a concurrent result on the pass that finds it), the chat.completion with its usage: that pass is
     * charged 5,000. The earlier call's ASYNC dispatch then finds nothing left and writes nothing; its cycle ends
     * 200 with nothing seen through its wrapper and is charged its estimate (1,015) on top: 6,015 for one call.
     */
    @Test
    void anAnswerWrittenByThePassRunAgainIsNotChargedTwice() throws Exception {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, "Tomcat's filter chain runs each filter once per chain");
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/again/usage/chat"), s, CHAT);
        assertOneCallCharged(s, r, "the earlier call's result written by the pass run again");
    }

    /** Control: the same handler run once, its ASYNC dispatch writing the completion: 5,000. */
    @Test
    void theCompletionWrittenByTheAsyncDispatchIsChargedItsUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/once/usage/chat"), s, CHAT);
        assertOneCallCharged(s, r, "a DeferredResult run once");
    }
}
