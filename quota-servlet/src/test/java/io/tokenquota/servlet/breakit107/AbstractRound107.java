package io.tokenquota.servlet.breakit107;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
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
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 107 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * dispatches against the registration the README shows (the filter on every path and dispatcher type,
 * {@code registerByServletName} while the context starts). A site servlet mapped under a protected and
 * an unprotected path that also renders the site's error pages, and includes by name nested inside an
 * include by name (or by path) that the filter holds.
 */
abstract class AbstractRound107 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u107-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String NOT_FOUND_PAGE = "<html><body><h1>Page not found</h1></body></html>";

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        QuotaFilter quota = filterFor("/ai/").build();
        return Deployment.create()
                // as the README registers it: every path, every dispatcher type
                .filter("quota", quota, "/*")
                // one application servlet serving the assistant API under /ai/app/ and the site's pages
                // under /site/ (one framework servlet with two mappings)
                .servlet("app", new App(), "/ai/app/*", "/site/*")
                .servlet("docs", new Missing(404), "/docs/*")
                .servlet("archive", new Missing(410), "/archive/*")
                .servlet("gone-page", new GonePage(), "/errors/410")
                .servlet("digest", new Digest(true), "/ai/digest")
                .servlet("brief", new Digest(false), "/ai/brief")
                .servlet("summary", new Summary(), "/ai/summary")
                .servlet("portal", new Portal("digest", false), "/portal")
                .servlet("portal-brief", new Portal("brief", false), "/portal-brief")
                .servlet("portal-path", new Portal("/ai/digest", true), "/portal-path")
                .servlet("later", new Later(), "/open/later")
                // the site's 404 page is a page of the application servlet, at its unprotected mapping
                .errorPage(404, "/site/not-found")
                // the 410 page forwards by path to the same site page
                .errorPage(410, "/errors/410")
                // as the README has a host do while its context starts
                .onStartup(quota::registerByServletName);
    }

    // ------------------------------------------------------------------ the host's servlets

    /**
     * The application servlet: under {@code /ai/app/} it calls the model (its own JSON, no usage: the
     * estimate is charged); under {@code /site/} it renders the site's static pages, no model.
     */
    class App extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if ("/ai/app".equals(req.getServletPath())) {
                req.getInputStream().readAllBytes();
                calls.count(req.getHeader("x-user-id") + "/app");
                resp.setContentType("application/json");
                resp.getOutputStream().write("{\"reply\":\"Try the Alfama\"}".getBytes(StandardCharsets.UTF_8));
                return;
            }
            resp.setContentType("text/html");
            resp.getOutputStream().write(NOT_FOUND_PAGE.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Documentation (404) or archive (410) pages, every one missing: no model called. */
    static class Missing extends HttpServlet {
        final int status;

        Missing(int status) {
            this.status = status;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(status);
        }
    }

    /** The 410 page, outside the prefix: forwards by path to the site's page (no model). */
    static class GonePage extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getRequestDispatcher("/site/not-found").forward(req, resp);
        }
    }

    /**
     * A protected digest page: it calls the model for its headline and includes, by name, the summary
     * fragment (which calls the model and reports 4,000). With {@code reports} it reports its own
     * headline's 1,000 after the include (5,000 tokens of model calls in all); without, it reports
     * nothing and is charged its estimate beside the fragment's figure, as the docs say.
     */
    class Digest extends HttpServlet {
        final boolean reports;

        Digest(boolean reports) {
            this.reports = reports;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            calls.count(req.getHeader("x-user-id") + "/page");
            resp.setContentType("text/html");
            resp.getOutputStream().write("<section><h1>Your week</h1>".getBytes(StandardCharsets.UTF_8));
            req.getServletContext().getNamedDispatcher("summary").include(req, resp);
            resp.getOutputStream().write("</section>".getBytes(StandardCharsets.UTF_8));
            if (reports) {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 1_000L);
            }
        }
    }

    /** A protected summary fragment: one model call, its 4,000 tokens reported through the attribute. */
    class Summary extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id") + "/summary");
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 4_000L);
            resp.getOutputStream().write("<p>Three meetings, two decisions.</p>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** An unprotected portal page that includes a protected page in its layout, by name or by path. */
    static class Portal extends HttpServlet {
        final String target;
        final boolean byPath;

        Portal(String target, boolean byPath) {
            this.target = target;
            this.byPath = byPath;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html");
            resp.getOutputStream().write("<html><body>".getBytes(StandardCharsets.UTF_8));
            if (byPath) {
                req.getRequestDispatcher(target).include(req, resp);
            } else {
                req.getServletContext().getNamedDispatcher(target).include(req, resp);
            }
            resp.getOutputStream().write("</body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** An unprotected page that goes async and dispatches to the protected path named by {@code ?to=}. */
    static class Later extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) {
            AsyncContext async = req.startAsync();
            String to = req.getParameter("to");
            async.start(() -> async.dispatch(to));
        }
    }

    // ------------------------------------------------------------------ error pages at a site servlet's unprotected mapping

    /** Control: the site's 404 page asked for directly, without credentials, is served. */
    @Test
    void controlTheSitePageIsServedAnonymously() {
        HttpResponse<String> r = TestHttp.get(container.uri("/site/not-found"));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("Page not found"), r.body());
    }

    /** Control: the assistant on the same servlet's protected mapping is held and charged. */
    @Test
    void controlTheAppAssistantIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/app/ask"), s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Where to eat in Lisbon?\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/app"));
        assertTrue(settled(s).used() > 0, ledger(s));
    }

    /**
     * An anonymous visitor asks for a missing documentation page. The 404 page is
     * {@code /site/not-found}, outside the protected prefix ("error pages outside the protected prefixes
     * pass untouched"); it is rendered by a servlet that is also mapped under {@code /ai/}. No model is
     * called: the visitor must get the 404 page, not a 401.
     */
    @Test
    void anAnonymousVisitorGetsTheSiteNotFoundPage() {
        HttpResponse<String> r = TestHttp.get(container.uri("/docs/no-such-page"));
        assertEquals(404, r.statusCode(), r.body());
        assertTrue(r.body().contains("Page not found"), r.body());
    }

    /**
     * A user with nothing left asks for a missing documentation page: the unprotected 404 page calls
     * no model, so the user gets it, uncharged, not a 429.
     */
    @Test
    void aSpentUserGetsTheSiteNotFoundPageUncharged() {
        String s = subject();
        store.consume(s, ALLOWANCE, null);
        HttpResponse<String> r = TestHttp.get(container.uri("/docs/no-such-page"), "x-user-id", s);
        assertEquals(ALLOWANCE, settled(s).used(), ledger(s));
        assertEquals(404, r.statusCode(), r.body());
        assertTrue(r.body().contains("Page not found"), r.body());
    }

    /**
     * An anonymous visitor asks for a removed archive page: the 410 page (outside the prefix) forwards
     * by path to {@code /site/not-found}, the site servlet's unprotected page. No model: the visitor must
     * get that page with its 410, not a 401.
     */
    @Test
    void anAnonymousVisitorGetsTheGonePageForwardedByPath() {
        HttpResponse<String> r = TestHttp.get(container.uri("/archive/2019/report"));
        assertEquals(410, r.statusCode(), r.body());
        assertTrue(r.body().contains("Page not found"), r.body());
    }

    // ------------------------------------------------------------------ includes by name inside a held include

    /** Control: the digest on its own path is charged its headline and its fragment: 5,000. */
    @Test
    void controlTheDigestOnItsPathIsChargedBothCalls() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/digest"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/page"));
        assertEquals(1, calls.of(s + "/summary"));
        assertEquals(5_000, settled(s).used(), ledger(s));
    }

    /**
     * {@code GET /portal}: the unprotected portal includes the digest by name; the digest (1,000) includes
     * the summary fragment by name (4,000). Two model calls, 5,000 tokens: the user must be charged
     * 5,000, as on the digest's own path.
     */
    @Test
    void aDigestIncludedByNameIsChargedItsFragmentToo() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/portal"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/page"), "the headline model call");
        assertEquals(1, calls.of(s + "/summary"), "the summary model call");
        assertEquals(5_000, settled(s).used(), "a 1,000 headline and a 4,000 summary by name: " + ledger(s));
    }

    /** The same, the portal including the digest by its path. */
    @Test
    void aDigestIncludedByPathIsChargedItsFragmentToo() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/portal-path"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/summary"), "the summary model call");
        assertEquals(5_000, settled(s).used(), "a 1,000 headline and a 4,000 summary, page by path: " + ledger(s));
    }

    /**
     * A brief page that reports nothing for its own model call (charged its estimate beside its
     * fragment's 4,000, as the docs say) costs the same included by name in the portal as asked for
     * on its path.
     */
    @Test
    void aBriefIncludedByNameCostsWhatItCostsOnItsPath() {
        String direct = subject();
        TestHttp.get(container.uri("/ai/brief"), "x-user-id", direct);
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/portal-brief"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/summary"));
        long onPath = settled(direct).used();
        assertTrue(onPath > 4_000, "on its path: " + onPath + ": " + ledger(direct));
        assertEquals(onPath, settled(s).used(), "the brief by name: " + ledger(s));
    }

    /**
     * A user with the whole allowance (20,000) opens the portal eight times: 40,000 tokens of model calls.
     * Every digest served must be charged its 5,000 (and the user kept inside the allowance).
     */
    @Test
    void portalDigestsAreNotServedPastTheAllowance() {
        String s = subject();
        for (int i = 0; i < 8; i++) {
            TestHttp.get(container.uri("/portal"), "x-user-id", s);
        }
        int served = calls.of(s + "/summary");
        long used = settled(s).used();
        assertEquals(served * 5_000L, used, served + " digests served (" + served * 5_000L
                + " tokens of model calls), charged " + used + " of " + ALLOWANCE + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ async dispatches

    /**
     * Control: an unprotected page goes async and dispatches to the digest's path: 5,000 charged.
     */
    @Test
    void anAsyncDispatchToTheDigestIsChargedBothCalls() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/open/later?to=/ai/digest"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/summary"));
        assertEquals(5_000, settled(s).used(), ledger(s));
    }
}
