package io.tokenquota.servlet.breakit471;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.CrossContextRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.Filter;
import jakarta.servlet.ServletContainerInitializer;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Round 471 of issue 11: round 465's fix ({@code QuotaFilter.crossContextAsync}: a REQUEST of another context that
 * carries the filter's open call, on a request other than the call's own, is that call's async dispatch) tried
 * from the sides it does not name. Two web applications {@code /a} and {@code /b} in one server with cross-context
 * dispatch on (Tomcat {@code crossContext=true}; Jetty 12.1 {@code setCrossContextDispatchSupported(true)}), each set
 * up by a {@link ServletContainerInitializer} with a quota filter on {@code /*} (REQUEST, FORWARD, INCLUDE, ASYNC) as
 * the README maps it. Every model is an OpenAI chat completion (the Chat Completions API reference's object, and its
 * stream with {@code stream_options.include_usage}: chunks, then a chunk with empty {@code choices} and the
 * {@code usage}, then {@code [DONE]}) with 1,200 prompt and 300 completion tokens: each call that reaches one owes
 * 1,500.
 */
abstract class AbstractRound471 extends CrossContextRound {
    AbstractRound471() {
        super("471");
    }

    /** A streamed chat completion written off the dispatch thread in an async cycle of its own. */
    final class StreamingModel extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String who = req.getHeader("x-user-id");
            AsyncContext async = req.startAsync();
            async.start(() -> {
                try {
                    calls.count(who);
                    HttpServletResponse r = (HttpServletResponse) async.getResponse();
                    r.setContentType("text/event-stream");
                    ServletOutputStream out = r.getOutputStream();
                    String id = "chatcmpl-471s";
                    for (int i = 0; i < 5; i++) {
                        out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                    out.write((ChatCompletions.usageEvent(id, PROMPT, COMPLETION) + ChatCompletions.DONE)
                            .getBytes(StandardCharsets.UTF_8));
                } catch (IOException gone) {
                    // the client hung up
                } finally {
                    async.complete();
                }
            });
        }
    }

    /** A model endpoint that writes and flushes its whole answer, then fails (a bug in its logging after the call). */
    final class ThrowsAfterAnswer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-471t", "gpt-4o-2024-08-06",
                    "Day one: Alfama.", PROMPT, COMPLETION).getBytes(StandardCharsets.UTF_8));
            resp.flushBuffer();
            throw new IllegalStateException("audit log unavailable");
        }
    }

    /**
     * As {@link #assertChargedItsUsage} for an endpoint that throws after its committed answer: the container then
     * aborts the exchange (or appends its error page), so the client's outcome is not asserted, only the ledger.
     */
    void assertChargedItsUsageOfABrokenAnswer(Host host, String path, String story) {
        String s = subject();
        try {
            TestHttp.postJson(host.uri(path), s, ASK);
        } catch (RuntimeException aborted) {
            // the container cut the answer after the endpoint threw: the model was called all the same
        }
        assertEquals(1, calls.of(s), "the model ran once");
        QuotaAccount a = settled(s);
        assertEquals(USAGE, a.used(), kind() + ": " + story + ": charged " + a.used() + ", should be " + USAGE
                + ": " + ledger(s));
    }

    /**
     * /a's {@code relay} (beside /a's model at {@code model}) async-dispatches to /b's router at {@code /route}, which
     * hands the request back to /a's {@code model} by {@code back}.
     */
    Host bounce(Filter aFilter, String relay, String model, Filter bFilter, Hand back) throws Exception {
        return two(aFilter, servlets(relay, new CrossHop("/b", "/route", Hand.ASYNC), model, model()),
                bFilter, servlets("/route", new CrossHop("/a", model, back)));
    }

    // ---- a call's async dispatch bounced through another context back into the call's own ----

    /**
     * One filter instance in both contexts. /a's held relay async-dispatches to /b's router (unprotected), which
     * async-dispatches back to /a's protected chat model: one model call, owed 1,500. On Tomcat both hops are ASYNC
     * dispatches of the call's request and pass as part of it. On Jetty each hop is a new REQUEST of its target
     * context over the previous one; the second lands in the call's own context, so it is not taken for a
     * cross-context async dispatch (crossContextAsync asks for a context other than the call's), and the "pass run
     * again" branch finds no async cycle on it, unmarks the request and holds it as a call of its own, while the
     * relay's call reads the same answer. Measured on Jetty 12.1: charged 3,000 instead of 1,500, ledger
     * {@code RESERVED:1009, RESERVED:1009, COMMITTED:1500, COMMITTED:1500}, model calls 1. Tomcat: 1,500.
     */
    @Test
    void oneInstanceAsyncBouncedBackIntoTheCallersContextIsChargedOnce() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = bounce(one, "/ai/relay", "/ai/chat/completions", one, Hand.ASYNC)) {
            assertChargedItsUsage(host, "/a/ai/relay", "an async dispatch bounced /a -> /b -> /a's protected model");
        }
    }

    /** As above, bounced back to /a's model at an unprotected path: the relay's call reads its answer, 1,500. */
    @Test
    void oneInstanceAsyncBouncedBackToAnUnprotectedModelIsChargedItsUsage() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = bounce(one, "/ai/relay", "/model", one, Hand.ASYNC)) {
            assertChargedItsUsage(host, "/a/ai/relay", "an async dispatch bounced /a -> /b -> /a's unprotected model");
        }
    }

    /** Control: the router in /b async-dispatches on within /b, to /b's protected model: 1,500. */
    @Test
    void oneInstanceAsyncThenAsyncWithinTheOtherContextIsChargedOnce() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = two(one, servlets("/ai/relay", new CrossHop("/b", "/route", Hand.ASYNC)),
                one, servlets("/route", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC),
                        "/ai/chat/completions", model()))) {
            assertChargedItsUsage(host, "/a/ai/relay", "an async dispatch /a -> /b, then within /b to its model");
        }
    }

    /** Control: the router in /b forwards (not async) back to /a's protected model: 1,500. */
    @Test
    void oneInstanceAsyncThenForwardBackIsChargedOnce() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = bounce(one, "/ai/relay", "/ai/chat/completions", one, Hand.FORWARD)) {
            assertChargedItsUsage(host, "/a/ai/relay", "an async dispatch /a -> /b, forwarded back to /a's model");
        }
    }

    /**
     * Two filter instances (one store): the same bounce /a -> /b -> /a's protected model, owed 1,500. /a's own
     * instance meets its own mark again in /a, so the second instance's "subject already held" does not help:
     * measured on Jetty 12.1, charged 3,000 (same ledger as above). Tomcat: 1,500.
     */
    @Test
    void twoInstancesAsyncBouncedBackIsChargedOnce() throws Exception {
        try (Host host = bounce(filterFor("/ai/").build(), "/ai/relay", "/ai/chat/completions",
                filterFor("/ai/").build(), Hand.ASYNC)) {
            assertChargedItsUsage(host, "/a/ai/relay", "two instances, an async dispatch bounced /a -> /b -> /a");
        }
    }

    /**
     * Control (the fix's other side): the bounce starting from /a's unprotected relay, which holds nothing. The hop
     * back into /a carries no open call, so it is held at /a's protected model as a call of its own: 1,500, not 0.
     */
    @Test
    void unheldRelayBouncedBackToTheProtectedModelIsCharged() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = bounce(one, "/relay", "/ai/chat/completions", one, Hand.ASYNC)) {
            assertChargedItsUsage(host, "/a/relay", "an unheld relay bounced /a -> /b -> /a's protected model");
        }
    }

    /**
     * Control (the fix's other side): two bounced calls of one subject, one after the other, are two model calls:
     * the second request meets no open call of the first (settled), so it is held and charged in its own right.
     */
    @Test
    void twoBouncedCallsInARowAreEachCharged() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = bounce(one, "/ai/relay", "/ai/chat/completions", one, Hand.ASYNC)) {
            String s = subject();
            for (int i = 1; i <= 2; i++) {
                HttpResponse<String> r = TestHttp.postJson(host.uri("/a/ai/relay"), s, ASK);
                assertEquals(200, r.statusCode(), r.body());
                assertEquals(i, calls.of(s), "the model ran once per request: " + r.body());
                QuotaAccount a = settled(s);
                assertEquals(i * USAGE, a.used(), kind() + ": bounced call " + i + ": charged " + a.used()
                        + ", should be " + i * USAGE + ": " + ledger(s));
            }
        }
    }

    // ---- the target in /b streams, or throws ----

    /** /a's held relay async-dispatches to /b's model, which streams its answer from an async cycle of its own. */
    @Test
    void oneInstanceAsyncDispatchToAStreamingModelIsChargedItsUsage() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = two(one, servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)),
                one, servlets("/ai/chat/completions", new StreamingModel()))) {
            assertChargedItsUsage(host, "/a/ai/relay", "an async dispatch to /b's streaming model");
        }
    }

    /** /a's held relay async-dispatches to /b's model, which writes and flushes its answer and then throws. */
    @Test
    void oneInstanceAsyncDispatchToAModelThatThrowsAfterAnsweringIsChargedItsUsage() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = two(one, servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)),
                one, servlets("/ai/chat/completions", new ThrowsAfterAnswer()))) {
            assertChargedItsUsageOfABrokenAnswer(host, "/a/ai/relay", "an async dispatch to /b's model that throws after answering");
        }
    }

    /** Control for the one above, in one context: a model that throws after its flushed answer is charged 1,500. */
    @Test
    void controlModelThatThrowsAfterAnsweringIsChargedItsUsage() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = two(one, servlets("/ai/chat/completions", new ThrowsAfterAnswer()), null, servlets())) {
            assertChargedItsUsageOfABrokenAnswer(host, "/a/ai/chat/completions", "a model that throws after answering");
        }
    }

    // ---- a cross-context dispatch by name ----

    /** /a's unprotected hop forwards by name to /b's protected model (one instance): 1,500. */
    @Test
    void oneInstanceNamedForwardIntoTheOtherContextsModelIsCharged() throws Exception {
        // Jetty 12.1's cross-context ServletContext refuses getNamedDispatcher (UnsupportedOperationException)
        Assumptions.assumeTrue(kind() == ContainerKind.TOMCAT, "no cross-context dispatch by name on Jetty");
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = two(one, servlets("/hop", new CrossHop("/b", name("/ai/chat/completions"), Hand.NAMED_FORWARD)),
                one, servlets("/ai/chat/completions", model()))) {
            assertChargedItsUsage(host, "/a/hop", "a cross-context forward by name into /b's model");
        }
    }

    /** /a (no filter) forwards by name to /b's protected model: 1,500. */
    @Test
    void namedForwardFromAnUnfilteredContextIsCharged() throws Exception {
        // Jetty 12.1's cross-context ServletContext refuses getNamedDispatcher (UnsupportedOperationException)
        Assumptions.assumeTrue(kind() == ContainerKind.TOMCAT, "no cross-context dispatch by name on Jetty");
        try (Host host = two(null, servlets("/hop", new CrossHop("/b", name("/ai/chat/completions"), Hand.NAMED_FORWARD)),
                filterFor("/ai/").build(), servlets("/ai/chat/completions", model()))) {
            assertChargedItsUsage(host, "/a/hop", "a cross-context forward by name from an unfiltered context");
        }
    }
}
