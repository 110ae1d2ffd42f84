package io.tokenquota.servlet.breakit465;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.CrossContextRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.Filter;
import jakarta.servlet.ServletContainerInitializer;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Round 465 of issue 11: cross-context dispatch. Two web applications in one server, {@code /a} and
 * {@code /b}, with cross-context dispatch switched on (Tomcat: {@code crossContext=true} on the contexts;
 * Jetty 12.1: {@code ContextHandler.setCrossContextDispatchSupported(true)}), so a servlet of one reaches the
 * other's servlets through {@code getServletContext().getContext("/b")}: a forward, an include, or an async
 * dispatch ({@code AsyncContext.dispatch(ServletContext, String)}). The model is {@code /b}'s chat servlet, an
 * OpenAI chat completion with {@code usage.prompt_tokens} 1,200 and {@code completion_tokens} 300 (the Chat
 * Completions API reference's object), so every call that reaches it owes 1,500.
 *
 * <p>Each context is set up as a host sets one up, by a {@link ServletContainerInitializer}: its own quota
 * filter (when it has one) on {@code /*} with the README's dispatcher types (REQUEST, FORWARD, INCLUDE,
 * ASYNC), async support on everywhere. All filters are built on this round's one store (docs/decisions.md
 * counts two stores over one database as two ledgers; that case is not tried here).
 */
abstract class AbstractRound465 extends CrossContextRound {
    AbstractRound465() {
        super("465");
    }

    /** The model context {@code /b}: the chat model at a protected and at an unprotected path. */
    Map<String, HttpServlet> modelContext() {
        return servlets("/ai/chat/completions", model(), "/model", model());
    }

    /** Two contexts: {@code /a} with {@code aFilter} and {@code aServlets}, {@code /b} the model's with {@code bFilter}. */
    Host twoContexts(Filter aFilter, Map<String, HttpServlet> aServlets, Filter bFilter) throws Exception {
        return two(aFilter, aServlets, bFilter, modelContext());
    }

    static Map<String, HttpServlet> hop(String at, String to, Hand hand) {
        return servlets(at, new CrossHop("/b", to, hand));
    }

    /** /a (with {@code aFilter}) hands {@code /a<at>} to /b's {@code to} (with {@code bFilter}): a call there owes 1,500. */
    void assertHopCharged(Filter aFilter, String at, String to, Hand hand, Filter bFilter, String story) throws Exception {
        try (Host host = twoContexts(aFilter, hop(at, to, hand), bFilter)) {
            assertChargedItsUsage(host, "/a" + at, story);
        }
    }

    // ---- the model's context protected, the caller's not ----

    /** Control: a direct call to /b's protected model is charged 1,500. */
    @Test
    void controlDirectCallToTheOtherContextsModel() throws Exception {
        try (Host host = twoContexts(null, hop("/hop", "/ai/chat/completions", Hand.FORWARD), filterFor("/ai/").build())) {
            assertChargedItsUsage(host, "/b/ai/chat/completions", "a direct call to /b's model");
        }
    }

    /** A forward from /a (no filter) into /b's protected model. */
    @Test
    void forwardFromAnUnprotectedContextIntoTheModel() throws Exception {
        assertHopCharged(null, "/hop", "/ai/chat/completions", Hand.FORWARD, filterFor("/ai/").build(),
                "a cross-context forward into /b's model");
    }

    /** An include from /a (no filter) of /b's protected model. */
    @Test
    void includeFromAnUnprotectedContextOfTheModel() throws Exception {
        assertHopCharged(null, "/hop", "/ai/chat/completions", Hand.INCLUDE, filterFor("/ai/").build(),
                "a cross-context include of /b's model");
    }

    /** An async dispatch from /a (no filter) into /b's protected model. */
    @Test
    void asyncDispatchFromAnUnprotectedContextIntoTheModel() throws Exception {
        assertHopCharged(null, "/hop", "/ai/chat/completions", Hand.ASYNC, filterFor("/ai/").build(),
                "a cross-context async dispatch into /b's model");
    }

    // ---- the caller's context protected, the model's context not ----

    /** /a's protected endpoint forwards to /b's model (no filter in /b): /a's filter reads the answer. */
    @Test
    void protectedEndpointForwardsToTheOtherContextsModel() throws Exception {
        assertHopCharged(filterFor("/ai/").build(), "/ai/relay", "/model", Hand.FORWARD, null,
                "/a's protected relay forwarding to /b's model");
    }

    /** /a's protected page includes /b's model (no filter in /b). */
    @Test
    void protectedPageIncludesTheOtherContextsModel() throws Exception {
        assertHopCharged(filterFor("/ai/").build(), "/ai/relay", "/model", Hand.INCLUDE, null,
                "/a's protected page including /b's model");
    }

    /** /a's protected endpoint async-dispatches to /b's model (no filter in /b). */
    @Test
    void protectedEndpointAsyncDispatchesToTheOtherContextsModel() throws Exception {
        assertHopCharged(filterFor("/ai/").build(), "/ai/relay", "/model", Hand.ASYNC, null,
                "/a's protected relay async-dispatching to /b's model");
    }

    // ---- both contexts protected, each by its own filter on the one store ----

    /** Forward from /a's held call into /b's protected model: one call, charged once. */
    @Test
    void twoFiltersForwardIsChargedOnce() throws Exception {
        assertHopCharged(filterFor("/ai/").build(), "/ai/relay", "/ai/chat/completions", Hand.FORWARD, filterFor("/ai/").build(),
                "two filters, a cross-context forward");
    }

    /** Include of /b's protected model in /a's held page: one call, charged once. */
    @Test
    void twoFiltersIncludeIsChargedOnce() throws Exception {
        assertHopCharged(filterFor("/ai/").build(), "/ai/relay", "/ai/chat/completions", Hand.INCLUDE, filterFor("/ai/").build(),
                "two filters, a cross-context include");
    }

    /** Async dispatch from /a's held call into /b's protected model: one call, charged once. */
    @Test
    void twoFiltersAsyncDispatchIsChargedOnce() throws Exception {
        assertHopCharged(filterFor("/ai/").build(), "/ai/relay", "/ai/chat/completions", Hand.ASYNC, filterFor("/ai/").build(),
                "two filters, a cross-context async dispatch");
    }

    // ---- one filter instance in both contexts ----

    /**
     * One instance in both: /a's held relay async-dispatches into /b's protected model. One model call, owed
     * 1,500. Measured on Jetty 12.1: charged 3,000 (two holds of 1,009, two charges of 1,500): Jetty's
     * {@code CrossContextDispatcher.async} runs the dispatch as a new request of the target context, which
     * shares the caller's attributes, so the filter meets its own mark on what looks like a REQUEST pass run
     * again with no async cycle of its own, takes it for a call of its own, holds it and reads the same answer
     * the relay's call reads. Tomcat (an ASYNC dispatch on the same request) charges 1,500; so does Jetty with
     * two filter instances on the store (the second finds the subject held on its store), and the forward and
     * include beside it. Fixed: a REQUEST of another context that carries the filter's open call is taken for
     * that call's async dispatch, as Tomcat's ASYNC one is, and passes as part of the call.
     */
    @Test
    void oneInstanceAsyncDispatchIsChargedOnce() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        assertHopCharged(one, "/ai/relay", "/ai/chat/completions", Hand.ASYNC, one,
                "one instance, a cross-context async dispatch");
    }

    /** One instance in both: /a's unprotected hop forwards into /b's protected model. */
    @Test
    void oneInstanceForwardFromUnprotectedPathIsCharged() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        assertHopCharged(one, "/hop", "/ai/chat/completions", Hand.FORWARD, one,
                "one instance, a cross-context forward from an unprotected path");
    }

    /** One instance in both: /a's unprotected hop async-dispatches into /b's protected model. */
    @Test
    void oneInstanceAsyncFromUnprotectedPathIsCharged() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        assertHopCharged(one, "/hop", "/ai/chat/completions", Hand.ASYNC, one,
                "one instance, a cross-context async dispatch from an unprotected path");
    }

    /** Control beside the async one: one instance in both, /a's held relay forwards into /b's protected model. */
    @Test
    void oneInstanceForwardFromHeldRelayIsChargedOnce() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        assertHopCharged(one, "/ai/relay", "/ai/chat/completions", Hand.FORWARD, one,
                "one instance, a cross-context forward from a held relay");
    }

    /** Control beside the async one: one instance in both, /a's held page includes /b's protected model. */
    @Test
    void oneInstanceIncludeFromHeldPageIsChargedOnce() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        assertHopCharged(one, "/ai/relay", "/ai/chat/completions", Hand.INCLUDE, one,
                "one instance, a cross-context include from a held page");
    }

    // ---- controls beside the fix: the cross-context async dispatch is part of the relay's call, and still counts ----

    /**
     * Control (the fix must not charge less): one instance in both, /a's held relay async-dispatches to /b's
     * unprotected model. The dispatch is part of the relay's call, which reads the model's answer: 1,500, not
     * the estimate.
     */
    @Test
    void oneInstanceAsyncDispatchToAnUnprotectedModelIsChargedItsUsage() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        assertHopCharged(one, "/ai/relay", "/model", Hand.ASYNC, one,
                "one instance, a cross-context async dispatch to an unprotected model");
    }

    /**
     * Control (the fix must not charge less): one instance in both, /a's held relay async-dispatches to a page of
     * /b that includes /b's protected model. The include inside the relay's call is a fragment of it, as it is
     * inside any async dispatch of a held call: its usage is charged, once (before the fix, Jetty held the page's
     * pass as a call of its own too: 3,000).
     */
    @Test
    void oneInstanceAsyncDispatchToAPageIncludingTheModelIsChargedOnce() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        Map<String, HttpServlet> b = modelContext();
        b.put("/page", new HttpServlet() {
            @Override
            protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException, IOException {
                resp.setContentType("application/json");
                req.getRequestDispatcher("/ai/chat/completions").include(req, resp);
            }
        });
        try (Host host = two(one, hop("/ai/relay", "/page", Hand.ASYNC), one, b)) {
            assertChargedItsUsage(host, "/a/ai/relay", "one instance, a cross-context async dispatch to a page including the model");
        }
    }

    /**
     * Control (the fix must not charge less): one instance in both, the same subject's two calls through the
     * relay in a row are two model calls, each charged: nothing of the first call's dispatch is left to pass the
     * second through as already held.
     */
    @Test
    void oneInstanceTwoAsyncDispatchesInARowAreEachCharged() throws Exception {
        QuotaFilter one = filterFor("/ai/").build();
        try (Host host = twoContexts(one, hop("/ai/relay", "/ai/chat/completions", Hand.ASYNC), one)) {
            String s = subject();
            for (int i = 0; i < 2; i++) {
                HttpResponse<String> r = TestHttp.postJson(host.uri("/a/ai/relay"), s, ASK);
                assertEquals(200, r.statusCode(), r.body());
            }
            assertEquals(2, calls.of(s), "the model ran twice");
            QuotaAccount a = settled(s);
            assertEquals(2 * USAGE, a.used(), kind() + ": two cross-context async calls in a row: charged " + a.used()
                    + ", should be " + 2 * USAGE + ": " + ledger(s));
        }
    }
}
