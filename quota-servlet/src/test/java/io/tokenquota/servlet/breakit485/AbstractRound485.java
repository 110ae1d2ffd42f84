package io.tokenquota.servlet.breakit485;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
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

    /** The model's answer: 1,000 tokens in, 3,000 out. */
    static final long PROMPT = 1_000;
    static final long COMPLETION = 3_000;
    static final long FRAGMENT = PROMPT + COMPLETION;

    /** The request attribute the worker leaves the model's completion in for the view. */
    static final String ANSWER = "round485.answer";

    /** Per subject: counted down by the page once its include has returned (the worker waits for it). */
    static final Map<String, CountDownLatch> INCLUDE_RETURNED = new ConcurrentHashMap<>();

    static String subject() {
        return "u485-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static CountDownLatch returned(String s) {
        return INCLUDE_RETURNED.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("render", new Render(), "/ai/v1/render")
                .servlet("v1-dispatch", new V1Chat(Then.DISPATCH_TO_VIEW), "/ai/v1/chat-dispatch")
                .servlet("v1-redispatch", new V1Chat(Then.DISPATCH_BACK), "/ai/v1/chat-redispatch")
                .servlet("v1-write", new V1Chat(Then.WRITE), "/ai/v1/chat-write")
                .servlet("v2-dispatch", new Shim("/ai/v1/chat-dispatch"), "/ai/v2/chat-dispatch")
                .servlet("v2-redispatch", new Shim("/ai/v1/chat-redispatch"), "/ai/v2/chat-redispatch")
                .servlet("v2-write", new Shim("/ai/v1/chat-write"), "/ai/v2/chat-write");
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
        return ChatCompletions.completion("chatcmpl-485", "gpt-4o-2024-08-06", "Three meetings, two decisions.",
                PROMPT, COMPLETION);
    }

    static void writeAnswer(HttpServletResponse resp, String answer) throws IOException {
        resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        resp.getOutputStream().flush();
    }

    /**
     * The v1 chat endpoint: on its first pass it starts an async cycle whose worker calls the model once, reports
     * its figure and then renders the answer ({@link Then}); a pass that finds the answer (a dispatch back) writes
     * it.
     */
    static class V1Chat extends HttpServlet {
        private final Then then;

        V1Chat(Then then) {
            this.then = then;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            Object answer = req.getAttribute(ANSWER);
            if (answer != null) {
                writeAnswer(resp, (String) answer);
                return;
            }
            String s = req.getHeader("x-user-id");
            boolean included = req.getAttribute("jakarta.servlet.include.request_uri") != null;
            AsyncContext cycle = req.startAsync();
            CountDownLatch includeReturned = returned(s);
            Thread worker = new Thread(() -> {
                try {
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
                                writeAnswer((HttpServletResponse) cycle.getResponse(), completion());
                            } finally {
                                cycle.complete();
                            }
                        }
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }, "round485-v1-worker");
            worker.setDaemon(true);
            worker.start();
        }
    }

    /** The view the worker dispatches to: writes the completion it was given, calling no model. */
    static class Render extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json");
            writeAnswer(resp, (String) req.getAttribute(ANSWER));
        }
    }

    /**
     * The v2 chat endpoint: a shim that includes v1's answer as it is, calling no model itself; a dispatch back
     * that finds v1's answer writes it.
     */
    static class Shim extends HttpServlet {
        private final String v1;

        Shim(String v1) {
            this.v1 = v1;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("application/json");
            Object answer = req.getAttribute(ANSWER);
            if (answer != null) {
                writeAnswer(resp, (String) answer);
                return;
            }
            String s = req.getHeader("x-user-id");
            try {
                req.getRequestDispatcher(v1).include(req, resp);
            } finally {
                returned(s).countDown();
            }
        }
    }

    void assertCharged(String path, int status, int modelCalls, long used, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT);
        QuotaAccount u = settled(s);
        String figures = kind() + ": " + what + ": answer " + r.statusCode() + "; model calls " + CALLS.of(s)
                + "; used " + u.used() + " reserved " + u.reserved() + "; " + ledger(s) + "; body " + r.body();
        assertAll(() -> assertEquals(status, r.statusCode(), figures),
                () -> assertEquals(modelCalls, CALLS.of(s), figures),
                () -> assertEquals(used, u.used(), figures),
                () -> assertEquals(0, u.reserved(), figures));
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
