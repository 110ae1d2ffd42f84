package io.tokenquota.servlet.breakit325;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContextApp;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 325 of issue 11: the host's configuration. docs/servlet.md ("The next call sees the previous
 * call's charge") presents "a service with two filters (two prefixes, two wrappers of one store)" as a
 * valid set-up, and a host has reasons for it that one builder does not cover: {@code releaseOnError} and
 * {@code failOpen} are per filter, not per prefix (agent workers that run on after a 5xx want
 * {@code releaseOnError(false)}, the chat endpoints the default). Here: filter {@code quota-ai} (the round's
 * own, protecting {@code /ai/}) and filter {@code quota-agents} (protecting {@code /agents/},
 * {@code releaseOnError(false)}), both on the one store, both with the same subject resolver, both mapped
 * on every path as the README maps the filter.
 *
 * <p>The model is {@code /ai/chat/completions}, answering an OpenAI chat completion with {@code usage}
 * (1,200 prompt + 300 completion tokens: the Chat Completions API reference's object). The agent routes
 * under {@code /agents/} hand the request to it with the servlet API's {@code RequestDispatcher}
 * ({@code getRequestDispatcher(path).forward} / {@code .include}, Servlet 6.0 section 9), as an alias or
 * an agent step that delegates its completion does.
 */
abstract class AbstractRound325 extends H2FilterRound {
    static final long PROMPT = 1_200;
    static final long COMPLETION = 300;
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a weekend in Lisbon\"}]}";

    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u325-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** Hands the request to {@code target} by path: a forward, or an include inside its own page. */
    static final class Dispatching extends HttpServlet {
        private final String target;
        private final boolean include;

        Dispatching(String target, boolean include) {
            this.target = target;
            this.include = include;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            if (include) {
                resp.setContentType("application/json");
                req.getRequestDispatcher(target).include(req, resp);
            } else {
                req.getRequestDispatcher(target).forward(req, resp);
            }
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter ai) {
        QuotaFilter agents = filterFor("/agents/").releaseOnError(false).build();
        // one filter protecting both prefixes: the same routes, for the controls
        QuotaFilter both = filterFor("/one/ai/").protect("/one/agents/").build();
        return Deployment.create()
                .filter("quota-ai", ai, "/*")
                .filter("quota-agents", agents, "/*")
                .filter("quota-one", both, "/*")
                .servlet("chat", new ContextApp.Model(calls, "chatcmpl-325", PROMPT, COMPLETION),
                        "/ai/chat/completions", "/one/ai/chat/completions")
                .servlet("agent-forward", new Dispatching("/ai/chat/completions", false), "/agents/forward")
                .servlet("agent-include", new Dispatching("/ai/chat/completions", true), "/agents/include")
                .servlet("one-agent-forward", new Dispatching("/one/ai/chat/completions", false), "/one/agents/forward")
                .servlet("one-agent-include", new Dispatching("/one/ai/chat/completions", true), "/one/agents/include")
                // the team's budget beside the user's: two filters on one prefix, each with its own subject
                .filter("quota-team-user", filterFor("/team/").build(), "/*")
                .filter("quota-team", filterFor("/team/")
                        .subjectResolver(SubjectResolver.trustedHeader(TEAM_HEADER, "127.0.0.1", "::1")).build(), "/*")
                .servlet("team-page-header", new RenderedAnswer(calls, true), "/team/ask/header")
                .servlet("team-page-attribute", new RenderedAnswer(calls, false), "/team/ask/attribute");
    }

    static final String TEAM_HEADER = "x-team-id";
    /** What the page's model call cost, as the page's client library reported it. */
    static final long FIGURE = 9_000;

    /**
     * A page that calls the model and renders its text as HTML (no usage in what it writes), reporting what
     * the call cost by rule 1 of docs/servlet.md's settlement table: the response header
     * {@code X-Quota-Actual-Tokens} ({@link QuotaFilter#ACTUAL_TOKENS_HEADER}), or the request attribute
     * {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}, which that rule names as equivalent ways to report it.
     */
    static final class RenderedAnswer extends HttpServlet {
        private final ModelCalls calls;
        private final boolean header;

        RenderedAnswer(ModelCalls calls, boolean header) {
            this.calls = calls;
            this.header = header;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            if (header) {
                resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(FIGURE));
            } else {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FIGURE);
            }
            resp.setContentType("text/html;charset=UTF-8");
            resp.getWriter().write("<article><h1>Lisbon</h1><p>Day one: Alfama. Day two: Belem.</p></article>");
        }
    }

    /**
     * Sends the page request as the user {@code u} of the team {@code t} (both headers from the trusted
     * loopback proxy): each filter holds its own subject, and each must be charged the page's figure.
     */
    void assertBothChargedTheFigure(String path, String story) {
        String user = subject();
        String team = "t325-" + UUID.randomUUID().toString().substring(0, 12);
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), user, ASK, TEAM_HEADER, team);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(user), "the model ran once");
        QuotaAccount u = settled(user);
        QuotaAccount t = settled(team);
        assertEquals(List.of(FIGURE, FIGURE), List.of(u.used(), t.used()), kind() + ": " + story + ", [user, team] charged;"
                + " user " + ledger(user) + ", team " + ledger(team));
    }

    /** Control: the page reports its figure through the request attribute: user and team each charged 9,000. */
    @Test
    void controlAFigureReportedThroughTheAttributeReachesBothFilters() {
        assertBothChargedTheFigure("/team/ask/attribute", "the figure reported through the request attribute");
    }

    /**
     * The page reports the same figure through the {@code X-Quota-Actual-Tokens} header: the inner filter
     * (the team's, mapped second) consumes it (its {@code QuotaResponse.setHeader} keeps it and does not pass it
     * on), so the outer filter (the user's) never sees a figure and charges its estimate (~1,000) for a
     * 9,000-token call.
     */
    @Test
    void aFigureReportedThroughTheHeaderReachesBothFilters() {
        assertBothChargedTheFigure("/team/ask/header", "the figure reported through the X-Quota-Actual-Tokens header");
    }

    void assertChargedItsUsageOnce(String path, String story) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model ran once");
        QuotaAccount a = settled(s);
        assertEquals(PROMPT + COMPLETION, a.used(), kind() + ": " + story + " (model calls " + calls.of(s) + "): "
                + ledger(s));
    }

    /** Control: the model called directly under /ai/ is charged its usage once, 1,500. */
    @Test
    void controlADirectCallIsChargedItsUsage() {
        assertChargedItsUsageOnce("/ai/chat/completions", "a direct call");
    }

    /** Control: one filter protecting both prefixes, an agent route forwarding to the model: 1,500. */
    @Test
    void controlOneFilterAForwardBetweenItsPrefixesIsChargedOnce() {
        assertChargedItsUsageOnce("/one/agents/forward", "a forward from one protected prefix to another, one filter");
    }

    /** Control: one filter protecting both prefixes, an agent route including the model: 1,500. */
    @Test
    void controlOneFilterAnIncludeBetweenItsPrefixesIsChargedOnce() {
        assertChargedItsUsageOnce("/one/agents/include", "an include from one protected prefix to another, one filter");
    }

    /**
     * Two filters, one per prefix: the agent route's request is held by {@code quota-agents}; its forward
     * to the model is a FORWARD dispatch into {@code /ai/}, which {@code quota-ai} has not marked, so it holds
     * and charges it too. One model call of 1,500 tokens is charged twice.
     */
    @Test
    void aForwardFromOneFiltersPrefixToTheOthersIsChargedOnce() {
        assertChargedItsUsageOnce("/agents/forward", "a forward from /agents/ (one filter) to /ai/ (the other)");
    }

    /** The same with an include: the page's filter reads the included answer's usage, and so does the model's. */
    @Test
    void anIncludeFromOneFiltersPrefixToTheOthersIsChargedOnce() {
        assertChargedItsUsageOnce("/agents/include", "an include from /agents/ (one filter) to /ai/ (the other)");
    }
}
