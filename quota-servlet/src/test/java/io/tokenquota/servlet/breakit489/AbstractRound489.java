package io.tokenquota.servlet.breakit489;

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
 * Round 489 of issue 11: the dispatch of an include's async cycle renders the worker's answer through a
 * <em>layout</em> view, which includes the fragment that writes it (a JSP layout's {@code <jsp:include>}, Tiles,
 * SiteMesh: the body is an include of the layout). docs/servlet.md, includes: the cycle's dispatch writes "the
 * include's call, its usage and text covered by the include's figure" (round 485: "4,000 is charged, not 8,000").
 *
 * <p>A v2 JSON shim includes the v1 chat endpoint. v1 starts an async cycle inside the include; its worker waits
 * until the include returned (the page counts down a latch), calls the model once, reports the call's 4,000 through
 * the cycle's request (the documented way), leaves the completion in a request attribute and dispatches the cycle to
 * a view. One model call: 4,000 whatever view renders it.
 *
 * <p>One quota filter (the README's: every path, protecting {@code /ai/}); both containers.
 */
abstract class AbstractRound489 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final String CHAT = IncludeFigures.CHAT;

    /** The model's answer: 1,000 tokens in, 3,000 out. */
    static final long PROMPT = 1_000;
    static final long COMPLETION = 3_000;
    static final long FRAGMENT = PROMPT + COMPLETION;

    /** The request attribute the worker leaves the model's completion in for the view. */
    static final String ANSWER = "round489.answer";

    /** Per subject: counted down by the page once its include has returned (the worker waits for it). */
    static final Map<String, CountDownLatch> INCLUDE_RETURNED = new ConcurrentHashMap<>();

    static String subject() {
        return "u489-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static CountDownLatch returned(String s) {
        return INCLUDE_RETURNED.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("body", new Body(), "/ai/v1/body")
                .servlet("layout", new Layout("/ai/v1/body"), "/ai/v1/layout")
                .servlet("broken", new BrokenView(), "/ai/v1/broken")
                .servlet("v1-layout", new V1Chat("/ai/v1/layout", true), "/ai/v1/chat-layout")
                .servlet("v1-body", new V1Chat("/ai/v1/body", true), "/ai/v1/chat-body")
                .servlet("v1-broken", new V1Chat("/ai/v1/broken", true), "/ai/v1/chat-broken")
                .servlet("v1-silent", new V1Chat("/ai/v1/body", false), "/ai/v1/chat-silent")
                .servlet("v1-silent-layout", new V1Chat("/ai/v1/layout", false), "/ai/v1/chat-silent-layout")
                .servlet("v1-sync-layout", new SyncV1Chat(), "/ai/v1/chat-sync-layout")
                .servlet("v2-layout", new Shim("/ai/v1/chat-layout"), "/ai/v2/chat-layout")
                .servlet("v2-body", new Shim("/ai/v1/chat-body"), "/ai/v2/chat-body")
                .servlet("v2-broken", new Shim("/ai/v1/chat-broken", true), "/ai/v2/chat-broken")
                .servlet("v2-silent", new Shim("/ai/v1/chat-silent"), "/ai/v2/chat-silent")
                .servlet("v2-silent-layout", new Shim("/ai/v1/chat-silent-layout"), "/ai/v2/chat-silent-layout")
                .servlet("v2-sync-layout", new Shim("/ai/v1/chat-sync-layout"), "/ai/v2/chat-sync-layout");
    }

    /** OpenAI's chat completion object with its usage (platform.openai.com/docs/api-reference/chat/object). */
    static String completion() {
        return ChatCompletions.completion("chatcmpl-489", "gpt-4o-2024-08-06", "Three meetings, two decisions.",
                PROMPT, COMPLETION);
    }

    static void writeAnswer(HttpServletResponse resp, String answer) throws IOException {
        resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        resp.getOutputStream().flush();
    }

    /**
     * The v1 chat endpoint: starts an async cycle whose worker calls the model once, reports its figure through the
     * cycle's request when {@code reports} (else it relies on the usage in the answer), leaves the completion for the
     * view and dispatches the cycle to {@code view}.
     */
    static class V1Chat extends HttpServlet {
        private final String view;
        private final boolean reports;

        V1Chat(String view, boolean reports) {
            this.view = view;
            this.reports = reports;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) {
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
                    if (reports) {
                        rq.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
                    }
                    rq.setAttribute(ANSWER, completion());
                    cycle.dispatch(view);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "round489-v1-worker");
            worker.setDaemon(true);
            worker.start();
        }
    }

    /** v1 without a worker: calls the model, reports 4,000 and renders through the same layout, inside the include. */
    static class SyncV1Chat extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            CALLS.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
            req.setAttribute(ANSWER, completion());
            req.getRequestDispatcher("/ai/v1/layout").include(req, resp);
        }
    }

    /** The view's body: writes the completion it was given, calling no model. */
    static class Body extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            writeAnswer(resp, (String) req.getAttribute(ANSWER));
        }
    }

    /**
     * A layout view, as a JSP layout or Tiles renders one: sets the content type and includes the body fragment
     * that writes the answer (here the whole answer, so that it stays one JSON document). Calls no model.
     */
    static class Layout extends HttpServlet {
        private final String body;

        Layout(String body) {
            this.body = body;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("application/json");
            req.getRequestDispatcher(body).include(req, resp);
        }
    }

    /** A view that fails to render (its template is missing): 500 by sendError, calling no model. */
    static class BrokenView extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(500, "template not found");
        }
    }

    /**
     * The v2 chat endpoint: a shim that includes v1's answer as it is, calling no model itself; {@code reportsZero}:
     * it says so, reporting 0 for itself (docs/servlet.md: "A page that calls no model itself reports 0 for itself
     * and is charged its fragments alone").
     */
    static class Shim extends HttpServlet {
        private final String v1;
        private final boolean reportsZero;

        Shim(String v1) {
            this(v1, false);
        }

        Shim(String v1, boolean reportsZero) {
            this.v1 = v1;
            this.reportsZero = reportsZero;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("application/json");
            String s = req.getHeader("x-user-id");
            if (reportsZero) {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            }
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
     * v1's worker reports 4,000 through the cycle's request after the include returned and dispatches to the layout,
     * whose included body writes the completion with usage 4,000. One model call: should be 4,000, as the controls
     * are; charged 8,000 on Jetty and Tomcat. The body's include is taken for a fragment of its own that reported
     * nothing, so the usage it wrote is neither the cycle's (covered by the include's figure) nor covered, and is
     * charged as the page's usage beside the include's 4,000.
     */
    @Test
    void aShimsAsyncV1DispatchingToALayoutThatIncludesItsAnswerIsChargedOnce() {
        assertCharged("/ai/v2/chat-layout", 200, 1, FRAGMENT,
                "a v2 shim including v1, whose worker reports 4,000 after the include returned and dispatches to a"
                        + " layout whose included body writes usage 4,000");
    }

    /** Control: the same worker dispatching to the body itself (round 485's shape): 4,000. */
    @Test
    void controlAShimsAsyncV1DispatchingToTheBodyIsChargedOnce() {
        assertCharged("/ai/v2/chat-body", 200, 1, FRAGMENT,
                "a v2 shim including v1, whose worker reports 4,000 and dispatches to the body writing usage 4,000");
    }

    /** Control: v1 called directly, its worker reporting 4,000 and dispatching to the layout: 4,000. */
    @Test
    void controlV1DispatchingToTheLayoutIsChargedOnce() {
        assertCharged("/ai/v1/chat-layout", 200, 1, FRAGMENT,
                "v1, whose worker reports 4,000 and dispatches to the layout whose body writes usage 4,000");
    }

    /** Control: the shim's v1 rendering through the same layout inside the include, without a worker: 4,000. */
    @Test
    void controlAShimsV1RenderingThroughTheLayoutInsideTheIncludeIsChargedOnce() {
        assertCharged("/ai/v2/chat-sync-layout", 200, 1, FRAGMENT,
                "a v2 shim including v1, which reports 4,000 and renders through the layout inside the include");
    }

    /**
     * Control: v1's worker reports no figure and dispatches to the body, whose answer carries usage 4,000 (rule 2):
     * 4,000.
     */
    @Test
    void controlAShimsAsyncV1ReportingNothingIsChargedTheUsageItsDispatchWrote() {
        assertCharged("/ai/v2/chat-silent", 200, 1, FRAGMENT,
                "a v2 shim including v1, whose worker reports nothing and dispatches to the body writing usage 4,000");
    }

    /** Control: the layout again, v1's worker reporting nothing: the usage its dispatch wrote (rule 2), 4,000. */
    @Test
    void controlAShimsAsyncV1ReportingNothingAndDispatchingToTheLayoutIsChargedTheUsage() {
        assertCharged("/ai/v2/chat-silent-layout", 200, 1, FRAGMENT,
                "a v2 shim including v1, whose worker reports nothing and dispatches to the layout writing usage 4,000");
    }

    /**
     * Control: v1's worker reports 4,000 and dispatches to a view that fails (sendError 500); the shim reports 0 for
     * itself. The model was called and its figure reported, so the page's failure still pays for it (docs/servlet.md:
     * "a page released by its status still pays for the fragments that reported a call"): 4,000. Jetty answers the
     * 500; Tomcat gave the cycle started inside the include the include's response, which ignores sendError, and
     * answers an empty 200.
     */
    @Test
    void controlAShimsAsyncV1DispatchingToAFailingViewStillPaysItsFigure() {
        assertCharged("/ai/v2/chat-broken", kind() == io.tokenquota.servlet.testing.ContainerKind.TOMCAT ? 200 : 500,
                1, FRAGMENT,
                "a v2 shim including v1, whose worker reports 4,000 and dispatches to a view answering 500");
    }
}
