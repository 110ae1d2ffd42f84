package io.tokenquota.servlet.breakit109;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 109 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * how the filter tells one dispatch from another. A protected page that renders an aside by including
 * itself (by path or by name, with other parameters), mixtures of path and name dispatches
 * several deep, a forward made from inside an include, an async page including by name, and an error
 * page rendered for an include by name that failed after its model call. With {@link #registers()} the
 * host calls {@code registerByServletName} as the README shows; without, the filter's own fallback.
 */
abstract class AbstractRound109 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    /** Whether the host calls {@code registerByServletName} while the context starts. */
    abstract boolean registers();

    static String subject() {
        return "u109-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final long MAIN = 1_000;
    static final long ASIDE = 4_000;
    static final long OTHER = 2_000;
    static final long FAILED = 3_000;
    static final long SORRY = 500;

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        QuotaFilter quota = filterFor("/ai/").build();
        Deployment d = Deployment.create()
                // as the README registers it: every path, every dispatcher type
                .filter("quota", quota, "/*")
                .servlet("page", new Page(), "/ai/page")
                .servlet("other", new Other(), "/ai/other")
                .servlet("failing", new Failing(), "/ai/failing")
                .servlet("sorry", new Sorry(), "/ai/sorry")
                .servlet("portal", new Portal(), "/portal")
                .servlet("portal-name", new PortalByName(), "/portal-name")
                .servlet("section", new Section(), "/open/section")
                .servlet("later", new LaterByName(), "/open/later")
                .servlet("portal-fail", new PortalFail(), "/portal-fail")
                .servlet("compose", new Compose(), "/ai/compose", "/open/compose")
                .servlet("translate", new Translate(), "/ai/translate", "/open/translate")
                .errorPage(500, "/ai/sorry");
        if (registers()) {
            d.onStartup(quota::registerByServletName);
        }
        return d;
    }

    /** The request as seen with {@code part} set to {@code value} (a named dispatch carries no query). */
    static HttpServletRequest withPart(HttpServletRequest req, String value) {
        return new HttpServletRequestWrapper(req) {
            @Override
            public String getParameter(String name) {
                return "part".equals(name) ? value : super.getParameter(name);
            }

            @Override
            public String[] getParameterValues(String name) {
                return "part".equals(name) ? new String[] {value} : super.getParameterValues(name);
            }

            @Override
            public java.util.Map<String, String[]> getParameterMap() {
                java.util.Map<String, String[]> m = new java.util.LinkedHashMap<>(super.getParameterMap());
                m.put("part", new String[] {value});
                return m;
            }

            @Override
            public java.util.Enumeration<String> getParameterNames() {
                return java.util.Collections.enumeration(getParameterMap().keySet());
            }
        };
    }

    static final String PART = "example.part";
    static final String DEPTH = "example.depth";
    /** How {@code /ai/other} includes the aside: "path" or "name". */
    static final String THEN = "example.then";

    /**
     * The part asked for: the attribute a self-include sets around itself, else the parameter (an include's
     * query string, or a wrapper's).
     */
    static String part(HttpServletRequest req) {
        Object a = req.getAttribute(PART);
        return a != null ? a.toString() : req.getParameter("part");
    }

    /** Includes {@code target} by path asking for the aside, also through an attribute; bounded depth. */
    static void includeAside(HttpServletRequest req, HttpServletResponse resp, String target)
            throws IOException, ServletException {
        int depth = req.getAttribute(DEPTH) instanceof Integer i ? i : 0;
        if (depth > 4) {
            throw new ServletException("runaway includes");
        }
        Object before = req.getAttribute(PART);
        req.setAttribute(DEPTH, depth + 1);
        req.setAttribute(PART, "aside");
        try {
            req.getRequestDispatcher(target).include(req, resp);
        } finally {
            req.setAttribute(DEPTH, depth);
            if (before == null) {
                req.removeAttribute(PART);
            } else {
                req.setAttribute(PART, before);
            }
        }
    }

    // ------------------------------------------------------------------ the host's servlets

    /**
     * A protected page. {@code part=aside}: one model call for the aside, 4,000 reported. Otherwise the
     * main part: one model call (1,000, reported after the aside) and the aside rendered by including
     * this very page again ({@code via=path}: {@code /ai/page?part=aside}; {@code via=name}: by name with
     * a wrapper; {@code via=chain}: by path through {@code /ai/other}).
     */
    class Page extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String user = req.getHeader("x-user-id");
            if ("aside".equals(part(req))) {
                calls.count(user + "/aside");
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, ASIDE);
                resp.getOutputStream().write("<aside>Three meetings</aside>".getBytes(StandardCharsets.UTF_8));
                return;
            }
            calls.count(user + "/main");
            resp.setContentType("text/html");
            resp.getOutputStream().write("<main>Your week".getBytes(StandardCharsets.UTF_8));
            String via = req.getParameter("via");
            if ("name".equals(via)) {
                req.getServletContext().getNamedDispatcher("page").include(withPart(req, "aside"), resp);
            } else if ("chain".equals(via) || "chain-name".equals(via)) {
                req.setAttribute(THEN, "chain".equals(via) ? "path" : "name");
                try {
                    req.getRequestDispatcher("/ai/other").include(req, resp);
                } finally {
                    req.removeAttribute(THEN);
                }
            } else {
                includeAside(req, resp, "/ai/page?part=aside");
            }
            resp.getOutputStream().write("</main>".getBytes(StandardCharsets.UTF_8));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, MAIN);
        }
    }

    /**
     * A protected fragment: one model call (2,000, reported last) that includes the page's aside, by path
     * ({@code then=path}) or by name ({@code then=name}).
     */
    class Other extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            calls.count(req.getHeader("x-user-id") + "/other");
            resp.getOutputStream().write("<div>".getBytes(StandardCharsets.UTF_8));
            if ("name".equals(req.getAttribute(THEN))) {
                req.getServletContext().getNamedDispatcher("page").include(withPart(req, "aside"), resp);
            } else {
                includeAside(req, resp, "/ai/page?part=aside");
            }
            resp.getOutputStream().write("</div>".getBytes(StandardCharsets.UTF_8));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, OTHER);
        }
    }

    /** A protected fragment whose model call (3,000, reported) is followed by a failure. */
    class Failing extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException {
            calls.count(req.getHeader("x-user-id") + "/failing");
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FAILED);
            throw new ServletException("the answer did not bind to its type");
        }
    }

    /** The 500 page, under the prefix: a "sorry" text written by the model (500 tokens, reported). */
    class Sorry extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id") + "/sorry");
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, SORRY);
            resp.setContentType("text/html");
            resp.getOutputStream().write("<p>Sorry, try again</p>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A protected page in the user's language ({@code ?lang=}) that includes the German translation,
     * {@code /ai/translate?lang=de}, as the servlet API lets an include add parameters.
     */
    static class Compose extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html");
            resp.getOutputStream().write(("<p lang=" + req.getParameter("lang") + ">Hello</p>")
                    .getBytes(StandardCharsets.UTF_8));
            // the translation under the same prefix as the page: /ai/translate, or /open/translate
            String prefix = req.getServletPath().startsWith("/open") ? "/open" : "/ai";
            req.getRequestDispatcher(prefix + "/translate?lang=de").include(req, resp);
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, MAIN);
        }
    }

    /** A protected translation fragment: writes the language it was asked for; 2,000 reported. */
    class Translate extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id") + "/translate");
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, OTHER);
            resp.getOutputStream().write(("<p lang=" + req.getParameter("lang") + ">Hallo</p>")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /** An unprotected portal that includes, by path, the page named by {@code ?to=}. */
    static class Portal extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html");
            resp.getOutputStream().write("<html><body>".getBytes(StandardCharsets.UTF_8));
            req.getRequestDispatcher(req.getParameter("to")).include(req, resp);
            resp.getOutputStream().write("</body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** An unprotected portal that includes the page by name (its {@code via} as the query says). */
    static class PortalByName extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html");
            resp.getOutputStream().write("<html><body>".getBytes(StandardCharsets.UTF_8));
            req.getServletContext().getNamedDispatcher("page").include(req, resp);
            resp.getOutputStream().write("</body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** An unprotected section that hands its request to the page's aside, forwarding by name. */
    static class Section extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getServletContext().getNamedDispatcher("page").forward(withPart(req, "aside"), resp);
        }
    }

    /** An unprotected page that goes async and includes the page's aside by name on the async thread. */
    static class LaterByName extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) {
            AsyncContext async = req.startAsync();
            async.start(() -> {
                try {
                    HttpServletRequest r = (HttpServletRequest) async.getRequest();
                    async.getResponse().setContentType("text/html");
                    r.getServletContext().getNamedDispatcher("page").include(withPart(r, "aside"), async.getResponse());
                } catch (IOException | ServletException e) {
                    throw new IllegalStateException(e);
                } finally {
                    async.complete();
                }
            });
        }
    }

    /** An unprotected portal that includes the failing fragment by name. */
    static class PortalFail extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html");
            req.getServletContext().getNamedDispatcher("failing").include(req, resp);
            resp.getOutputStream().write("</body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    static String to(String target) {
        return "/portal?to=" + URLEncoder.encode(target, StandardCharsets.UTF_8);
    }

    HttpResponse<String> get(String path, String s) {
        return TestHttp.get(container.uri(path), "x-user-id", s);
    }

    // ------------------------------------------------------------------ a page including itself

    /** Control: the page on its own path renders its aside by including itself by path: 5,000 charged. */
    @Test
    void controlThePageOnItsPathIsChargedBothCalls() {
        String s = subject();
        HttpResponse<String> r = get("/ai/page?via=path", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/aside"));
        assertEquals(MAIN + ASIDE, settled(s).used(), ledger(s));
    }

    /**
     * {@code GET /portal?to=/ai/page?via=path}: an unprotected portal includes the protected page by path;
     * the page renders its aside by including itself by path with {@code part=aside}. Two model calls,
     * 1,000 and 4,000: the user must be charged 5,000, as on the page's own path.
     */
    @Test
    void aPageIncludingItselfInsideAnIncludeIsChargedBothCalls() {
        String s = subject();
        HttpResponse<String> r = get(to("/ai/page?via=path"), s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/main"));
        assertEquals(1, calls.of(s + "/aside"));
        assertEquals(MAIN + ASIDE, settled(s).used(), "a 1,000 page and its 4,000 aside: " + ledger(s));
    }

    /**
     * A user with the whole allowance (20,000) opens the portal eight times: 40,000 tokens of model calls.
     * Every page served must be charged its 5,000, so that at most four are served.
     */
    @Test
    void portalPagesAreNotServedPastTheAllowance() {
        String s = subject();
        for (int i = 0; i < 8; i++) {
            get(to("/ai/page?via=path"), s);
        }
        int served = calls.of(s + "/aside");
        long used = settled(s).used();
        assertEquals(served * (MAIN + ASIDE), used, served + " pages served (" + served * (MAIN + ASIDE)
                + " tokens of model calls), charged " + used + " of " + ALLOWANCE + ": " + ledger(s));
    }

    /**
     * Three deep, all by path: the portal includes the page, the page includes {@code /ai/other}, which
     * includes the page's aside. 1,000 + 2,000 + 4,000 = 7,000 must be charged.
     */
    @Test
    void pathInsidePathInsidePathIsChargedEveryCall() {
        String s = subject();
        HttpResponse<String> r = get(to("/ai/page?via=chain"), s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/other"));
        assertEquals(1, calls.of(s + "/aside"));
        assertEquals(MAIN + OTHER + ASIDE, settled(s).used(), ledger(s));
    }

    /**
     * Name inside path inside name: the portal includes the page by name, the page includes
     * {@code /ai/other} by path, which includes the page's aside by name. 7,000 must be charged.
     */
    @Test
    void nameInsidePathInsideNameIsChargedEveryCall() {
        String s = subject();
        HttpResponse<String> r = get("/portal-name?via=chain-name", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/other"));
        assertEquals(1, calls.of(s + "/aside"));
        assertEquals(MAIN + OTHER + ASIDE, settled(s).used(), ledger(s));
    }

    /**
     * Path inside name: the portal includes the page by name; the page includes itself by path for its
     * aside. 5,000 must be charged.
     */
    @Test
    void aPageIncludedByNameIncludingItselfByPathIsChargedBothCalls() {
        String s = subject();
        HttpResponse<String> r = get("/portal-name?via=path", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/aside"));
        assertEquals(MAIN + ASIDE, settled(s).used(), ledger(s));
    }

    /**
     * Name inside path: the portal includes the page by path; the page includes itself by name, through a
     * request wrapper that asks for the aside. 5,000 must be charged.
     */
    @Test
    void aPageIncludedByPathIncludingItselfByNameIsChargedBothCalls() {
        String s = subject();
        HttpResponse<String> r = get(to("/ai/page?via=name"), s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/aside"));
        assertEquals(MAIN + ASIDE, settled(s).used(), ledger(s));
    }

    // ------------------------------------------------------------------ forwards inside includes, async, error pages

    /**
     * The portal includes an unprotected section by path, and the section forwards by name (a wrapper
     * asking for the aside) to the protected page: one model call of 4,000, which must be charged.
     */
    @Test
    void aForwardByNameFromInsideAnIncludeIsCharged() {
        String s = subject();
        HttpResponse<String> r = get(to("/open/section"), s);
        assertEquals(1, calls.of(s + "/aside"), r.statusCode() + " " + r.body());
        assertEquals(ASIDE, settled(s).used(), r.statusCode() + " " + r.body() + " " + ledger(s));
    }

    /** An unprotected page goes async and includes the aside by name on the async thread: 4,000 charged. */
    @Test
    void anAsyncPageIncludingByNameIsCharged() {
        String s = subject();
        HttpResponse<String> r = get("/open/later", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/aside"));
        assertEquals(ASIDE, settled(s).used(), ledger(s));
    }

    /**
     * The portal includes by name a protected fragment that calls the model (3,000 reported) and then
     * fails; the container renders the 500 page, {@code /ai/sorry}, itself a model call (500). Both calls
     * ran: 3,500 must be charged, each once.
     */
    @Test
    void aFailedIncludeByNameAndItsErrorPageAreEachChargedOnce() {
        String s = subject();
        HttpResponse<String> r = get("/portal-fail", s);
        assertEquals(500, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/failing"));
        assertEquals(1, calls.of(s + "/sorry"), r.body());
        assertEquals(FAILED + SORRY, settled(s).used(), ledger(s));
    }

    // ------------------------------------------------------------------ what an include is asked

    /** Control: the same page at its unprotected mapping: its fragment is asked for German. */
    @Test
    void controlUnprotectedTheIncludedFragmentSeesItsOwnQueryParameters() {
        HttpResponse<String> r = get("/open/compose?lang=en", subject());
        assertEquals(200, r.statusCode(), r.body());
        org.junit.jupiter.api.Assertions.assertTrue(r.body().contains("<p lang=de>Hallo</p>"), r.body());
    }

    /**
     * {@code GET /ai/compose?lang=en}: the page reads its language, then includes
     * {@code /ai/translate?lang=de}. The servlet API gives the include's query string precedence: the
     * fragment must be asked for German (and the two calls charged 3,000).
     */
    @Test
    void anIncludedProtectedFragmentSeesItsOwnQueryParameters() {
        String s = subject();
        HttpResponse<String> r = get("/ai/compose?lang=en", s);
        assertEquals(200, r.statusCode(), r.body());
        org.junit.jupiter.api.Assertions.assertTrue(r.body().contains("<p lang=de>Hallo</p>"),
                "the fragment was asked for: " + r.body());
        assertEquals(MAIN + OTHER, settled(s).used(), ledger(s));
    }
}
