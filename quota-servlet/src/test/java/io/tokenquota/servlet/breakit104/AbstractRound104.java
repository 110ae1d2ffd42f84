package io.tokenquota.servlet.breakit104;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 104 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * dispatches by servlet name that do not come straight from the client's request (after a forward by
 * path, inside an include by path, from an error page), and a protected page's included fragments
 * under two quota filters (a team's beside the user's).
 */
abstract class AbstractRound104 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u104-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":100,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}]}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter team = filterFor("/ai/team/")
                .subjectResolver(SubjectResolver.trustedHeader("x-team-id", "127.0.0.1", "::1")).build();
        return Deployment.create()
                // as the README registers it: every path, every dispatcher type (the round has error pages)
                .filter("quota", filter, "/*")
                .filter("quota-team", team, "/ai/team/*")
                .servlet("model-chat", new ModelChat(), "/ai/chat")
                .servlet("legacy-chat", new NamedForward(), "/legacy/chat")
                .servlet("v0-chat", new PathForward(), "/v0/chat")
                .servlet("portal", new Portal(), "/portal")
                .servlet("assist-widget", new NamedIncludeWidget(), "/widgets/assist")
                .servlet("docs", new Missing(), "/docs/*")
                .servlet("not-found", new NotFoundPage(), "/errors/404")
                .servlet("digest", new Digest(), "/ai/team/digest")
                .servlet("summary", new Summary(), "/ai/team/summary")
                .errorPage(404, "/errors/404")
                // as the README has a host do while its context starts: each protected servlet reached by
                // name is held under its own path (Tomcat keeps an error page's forward by name an error
                // dispatch with the page's paths)
                .onStartup(filter::registerByServletName)
                .onStartup(team::registerByServletName);
    }

    // ------------------------------------------------------------------ the host's servlets

    /** The model endpoint under /ai/: calls the model and relays its answer with usage (5,000 tokens). */
    class ModelChat extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(RelayedAnswers.completionJson("Once upon a time", 4_000, 1_000)
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A legacy route kept as an alias of the model servlet by forwarding to it by name (what Spring's
     * {@code ServletForwardingController} does).
     */
    static class NamedForward extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getServletContext().getNamedDispatcher("model-chat").forward(req, resp);
        }
    }

    /** The v0 API, which forwards by path to the legacy route (a {@code forward:} view does the same). */
    static class PathForward extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getRequestDispatcher("/legacy/chat").forward(req, resp);
        }
    }

    /** A portal page that includes its assistant widget by path inside its layout. */
    static class Portal extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html");
            resp.getOutputStream().write("<html><body><div id=\"assistant\">".getBytes(StandardCharsets.UTF_8));
            req.getRequestDispatcher("/widgets/assist").include(req, resp);
            resp.getOutputStream().write("</div></body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The assistant widget: it includes the model servlet by name. */
    static class NamedIncludeWidget extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getServletContext().getNamedDispatcher("model-chat").include(req, resp);
        }
    }

    /** Documentation pages, every one missing: 404, no model called. */
    static class Missing extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(404);
        }
    }

    /**
     * The site's 404 page, outside the protected prefix: it hands the request to the assistant, by name
     * (or, with {@code ?by=path} on the missing page's URL, by its path, the control).
     */
    static class NotFoundPage extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            if ("path".equals(req.getParameter("by"))) {
                req.getRequestDispatcher("/ai/chat").forward(req, resp);
            } else {
                req.getServletContext().getNamedDispatcher("model-chat").forward(req, resp);
            }
        }
    }

    /**
     * A protected digest page that calls the model for its headline (1,000 tokens, reported through the
     * usage attribute once it has written it) and includes one protected summary fragment, which calls
     * the model too and reports its own 4,000: 5,000 tokens of model calls in all.
     */
    class Digest extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/html");
            resp.getOutputStream().write("<html><body><h1>Your week</h1>".getBytes(StandardCharsets.UTF_8));
            req.getRequestDispatcher("/ai/team/summary").include(req, resp);
            resp.getOutputStream().write("</body></html>".getBytes(StandardCharsets.UTF_8));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 1_000L);
        }
    }

    /** A protected summary fragment: one model call, its 4,000 tokens reported through the attribute. */
    class Summary extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 4_000L);
            resp.getOutputStream().write("<p>Three meetings, two decisions.</p>".getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ dispatches by name

    /** Control: the model servlet on its own path is charged its usage. */
    @Test
    void theModelPathIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat"), s, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(5_000, settled(s).used(), ledger(s));
    }

    /** Control: the legacy alias, a forward by name straight from the client's request, is charged. */
    @Test
    void aNamedForwardFromTheRequestIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/legacy/chat"), s, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(5_000, settled(s).used(), ledger(s));
    }

    /**
     * {@code POST /v0/chat}: the v0 route forwards by path to the legacy route, which forwards by name
     * to the model servlet. The model answers 5,000 tokens; the ledger must charge them. The named
     * forward still carries the first forward's {@code jakarta.servlet.forward.request_uri}, so the
     * filter does not take it for a dispatch by name and judges it by the caller's path.
     */
    @Test
    void aNamedForwardAfterAForwardByPathIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/v0/chat"), s, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        assertEquals(5_000, settled(s).used(), "a 5,000-token model call reached by path, then by name: " + ledger(s));
    }

    /**
     * {@code POST /portal}: the portal includes its widget by path, and the widget includes the model
     * servlet by name. The included named dispatch carries the outer include's
     * {@code jakarta.servlet.include.request_uri}, and the model's 5,000 tokens must still be charged.
     */
    @Test
    void aNamedIncludeInsideAnIncludeByPathIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/portal"), s, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        assertEquals(5_000, settled(s).used(), "a 5,000-token model call included by name in a widget: " + ledger(s));
    }

    /**
     * Control: a missing documentation page whose 404 page forwards by path to the model servlet:
     * the model's 5,000 tokens are charged.
     */
    @Test
    void aNotFoundPageForwardingByPathIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/docs/no-such-page?by=path"), "x-user-id", s);
        assertEquals(1, calls.of(s), "status " + r.statusCode() + ": " + r.body());
        assertEquals(5_000, settled(s).used(), ledger(s));
    }

    /**
     * {@code GET /docs/no-such-page}: the 404 page (outside the prefix, as the docs allow) hands the
     * request to the assistant by name ("did you mean"). The assistant's model call, 5,000 tokens, must
     * be charged as the docs promise for a forward an error page makes into a protected servlet.
     */
    @Test
    void aNotFoundPageForwardingByNameIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/docs/no-such-page"), "x-user-id", s);
        assertEquals(1, calls.of(s), "status " + r.statusCode() + ": " + r.body());
        assertEquals(5_000, settled(s).used(), "the error page's model call by name: " + ledger(s));
    }

    /**
     * A user with nothing left asks for missing documentation three times: each 404 page forwards by
     * name to the assistant. Each model call must be refused (429) or charged; a user past the
     * allowance must not get model answers.
     */
    @Test
    void aSpentUserGetsNoErrorPageModelCallsByName() {
        String s = subject();
        store.consume(s, ALLOWANCE, null);
        for (int i = 0; i < 3; i++) {
            TestHttp.get(container.uri("/docs/missing-" + i), "x-user-id", s);
        }
        int served = calls.of(s);
        long used = settled(s).used();
        assertEquals(0, served, "model calls served to a user with nothing left (used " + used + " of "
                + ALLOWANCE + "): " + ledger(s));
    }

    // ------------------------------------------------------------------ two filters and nested figures

    /**
     * Control: one filter. The digest page reports 1,000 for its headline, its included summary 4,000:
     * the user is charged 5,000.
     */
    @Test
    void aDigestIsChargedItsPageAndFragmentFiguresWithTheTeamFilter() {
        String s = subject();
        String team = "team-" + s;
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/team/digest"), s, CHAT, "x-team-id", team);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls.of(s), "the page and its fragment each called the model");
        assertEquals(5_000, settled(team).used(), "the team's filter (the inner one): " + ledger(team));
    }

    /**
     * {@code POST /ai/team/digest} with the user's filter (on {@code /*}) and the team's filter (on
     * {@code /ai/team/*}) both in front of it, as docs/decisions.md allows ("each holds and charges its
     * own subject"). The page's headline (1,000) and its included summary (4,000) are two model calls;
     * the user must be charged 5,000 as the team is. The fragment's figure is recorded only on the
     * innermost filter's request, and the outer filter's copy of the figure is then replaced by the
     * page's own 1,000.
     */
    @Test
    void aDigestUnderTwoFiltersChargesTheUserBothCalls() {
        String s = subject();
        String team = "team-" + s;
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/team/digest"), s, CHAT, "x-team-id", team);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls.of(s), "the page and its fragment each called the model");
        assertEquals(5_000, settled(s).used(), "the user's filter (the outer one), team charged "
                + settled(team).used() + ": " + ledger(s));
    }

    /**
     * The same digest, asked for again and again by a user whose allowance (20,000) covers four: each is
     * 5,000 tokens of model calls, so the fifth must be refused or the ledger must show the overage.
     */
    @Test
    void digestsUnderTwoFiltersAreNotServedPastTheAllowance() {
        String s = subject();
        String team = "team-" + s;
        for (int i = 0; i < 8; i++) {
            TestHttp.postJson(container.uri("/ai/team/digest"), s, CHAT, "x-team-id", "team-" + s + "-" + i);
        }
        int served = calls.of(s) / 2;
        long used = settled(s).used();
        assertEquals(served * 5_000L, used, served + " digests served (" + served * 5_000L
                + " tokens of model calls), user charged " + used + ": " + ledger(s));
    }
}
