package io.tokenquota.servlet.breakit93;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 93 of issue 11, error pages: the site's 404 page asks the model what the visitor may have
 * meant ("did you mean…", from the path and query the visitor sent) and, like every AI endpoint of
 * the site, lives under the protected prefix ({@code /ai/suggest}). The container dispatches to it as
 * an ERROR dispatch, which the filter lets pass, so every 404 anywhere on the site is a free model
 * call: also past the allowance, and also after a protected endpoint answered 404 (released as a call
 * that reached no model).
 */
abstract class AbstractRound93ErrorPage extends ModelCallRound {
    @Override
    protected String subjectPrefix() {
        return "u93e-";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("docs", new Articles(), "/docs/*")
                .servlet("articles", new Articles(), "/ai/articles/*")
                .servlet("suggest", new Suggest(), "/ai/suggest")
                .servlet("private", new Forbidden(), "/private/*")
                .servlet("static-error", new StaticErrorPage(), "/ai/static-error")
                .servlet("retired", new Gone(), "/retired/*")
                .servlet("moved", new MovedPage(), "/ai/moved")
                .errorPage(404, "/ai/suggest")
                .errorPage(403, "/ai/static-error")
                .errorPage(410, "/ai/moved");
    }

    /** Retired pages: 410, no model called. */
    static class Gone extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(410);
        }
    }

    /** The 410 page, under the prefix: it forwards to the suggestion endpoint (Tomcat keeps that an ERROR dispatch). */
    static class MovedPage extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException,
                jakarta.servlet.ServletException {
            req.getRequestDispatcher("/ai/suggest").forward(req, resp);
        }
    }

    /**
     * An error page under the prefix that forwards to the model endpoint under it: one call, charged its
     * usage once (the forward is part of the page's call, on either container).
     */
    @Test
    void anErrorPageForwardingToTheModelIsChargedOnce() {
        String s = subject();
        HttpResponse<String> r = get("/retired/pricing?q=pricing", s);
        assertEquals(410, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(5_000, settled(s).used(), ledger(s).toString());
    }

    /** Private pages: 403, no model called. */
    static class Forbidden extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(403);
        }
    }

    /**
     * A static error page kept under the protected prefix: it calls no model and says so, reporting 0
     * for itself, as a page that calls no model does.
     */
    static class StaticErrorPage extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0);
            resp.setContentType("text/html");
            resp.getOutputStream().write("<html><body>Not yours</body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Control: an error page under the prefix that reports 0 for itself is shown and charges nothing. */
    @Test
    void aStaticErrorPageThatReportsZeroIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = get("/private/report", s);
        assertEquals(403, r.statusCode(), r.body());
        assertEquals("<html><body>Not yours</body></html>", r.body());
        assertEquals(0, settled(s).used(), ledger(s).toString());
    }

    /** An article store: every article asked for here is missing (404, no model called). */
    static class Articles extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(404);
        }
    }

    /**
     * The model endpoint that suggests what the visitor meant: it calls the model with the question
     * (the query's {@code q}, kept through the error dispatch) and its own context (the site map: 4,000
     * input tokens) and answers the completion with its usage, 5,000 tokens.
     */
    class Suggest extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(AbstractRound93.COMPLETION.getBytes(StandardCharsets.UTF_8));
        }
    }

    HttpResponse<String> get(String path, String s, String... headers) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), s, headers).GET().build());
    }

    /** Control: the suggestion endpoint called directly is charged its usage, 5,000 tokens. */
    @Test
    void suggestCalledDirectlyIsChargedItsUsage() {
        String s = subject();
        assertServedOnceAndCharged(s, get("/ai/suggest?q=pricing", s), 5_000);
    }

    /**
     * A visitor asks for a page that does not exist outside the protected prefix; the container's 404
     * page (under it) runs the model, 5,000 tokens. The call must be charged them.
     */
    @Test
    void notFoundPageModelCallIsCharged() {
        String s = subject();
        assertEachCallCharged(s, 5_000, "404 page", get("/docs/no-such-page?q=what+does+the+pro+plan+cost", s));
    }

    /**
     * A protected endpoint answers 404 (released: no model called there), and the container's 404 page
     * runs the model, 5,000 tokens. The request must be charged them.
     */
    @Test
    void protectedNotFoundThenErrorPageModelCallIsCharged() {
        String s = subject();
        assertEachCallCharged(s, 5_000, "404 page", get("/ai/articles/no-such-article?q=pricing", s));
    }

    /**
     * The request that failed carried an {@code Idempotency-Key}: it names the client's call, held and
     * released for its 404, not the error page's. The page is shown (not a 409 for a replayed key) and
     * charged its usage.
     */
    @Test
    void anIdempotencyKeyIsTheFailedCallsNotTheErrorPages() {
        String s = subject();
        HttpResponse<String> r = get("/ai/articles/no-such-article?q=pricing", s, "Idempotency-Key", "k-" + s);
        assertEquals(404, r.statusCode(), r.body());
        assertEquals(AbstractRound93.COMPLETION, r.body());
        assertEquals(1, calls.of(s));
        assertEquals(5_000, settled(s).used());
    }

    /**
     * A user who spent the whole allowance on four suggestions (4 x 5,000 = 20,000) is refused the
     * fifth with 429, then asks for a missing page and gets the model's 5,000-token answer past the
     * allowance, as many times as they like.
     */
    @Test
    void notFoundPageServesTheModelPastTheAllowance() {
        String s = subject();
        assertNoModelCallPastTheAllowance(s, 5_000, () -> get("/ai/suggest?q=pricing", s), "404 page",
                () -> get("/docs/no-such-page?q=pricing", s));
    }
}
