package io.tokenquota.servlet.breakit94;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ErrorStatus;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.RequestDispatcher;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Round 94 of issue 11: the filter takes a protected path's hold once per request. A request's own
 * dispatch keeps the mark that says so after its call settled, and an async-started page keeps the
 * mark its first include set; any later dispatch into the protected prefix on the same request passes
 * the filter untouched:
 * <ul>
 *   <li>the site's 404 page (outside the protected prefix, as Spring Boot's {@code /error} is) hands
 *       a missing page to the assistant ("did you mean…", by a forward or an include of
 *       {@code /ai/suggest}); a protected endpoint that answers 404 (released: it called no model)
 *       leaves its mark on the request, so the assistant's model call on its error page is free, also
 *       past the allowance;</li>
 *   <li>a digest page (outside the prefix) that starts its async cycle first and then includes one
 *       model summary per item: the first include holds and settles when the cycle completes, every
 *       further include passes as a "nested" include of a hold that is not its own;</li>
 *   <li>the site's 410 page, under the protected prefix, asks the model and renders HTML: settled as
 *       an error page that called no model (no usage in a web page), released;</li>
 *   <li>a body-less {@code OPTIONS} to a Spring functional route matched by path whose answer is the
 *       application's own JSON (no provider usage): settled as a preflight, released.</li>
 * </ul>
 */
abstract class AbstractRound94 extends ModelCallRound {
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        Routes94.CALLS.set(calls);
        return Deployment.create()
                .servlet("spring", SpringMvc.bootDispatcher(Routes94.class), "/ai/spring/*")
                .filter("quota", filter, "/ai/*")
                // an article store where every article asked for is missing
                .servlet("docs", new ErrorStatus(404), "/docs/*")
                .servlet("articles", new ErrorStatus(404), "/ai/articles/*")
                .servlet("suggest", new Suggest(), "/ai/suggest")
                .servlet("not-found", new NotFoundPage(), "/errors/404")
                .servlet("digest", new Digest(true), "/open/digest")
                .servlet("digest-sync", new Digest(false), "/open/digest-sync")
                .servlet("retired", new ErrorStatus(410), "/retired/*")
                .servlet("help", new Help(), "/ai/help")
                .errorPage(404, "/errors/404")
                .errorPage(410, "/ai/help");
    }

    static final String COMPLETION = "{\"id\":\"c94\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"try this\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":4000,\"completion_tokens\":1000,\"total_tokens\":5000}}";

    /**
     * The assistant's help page, under the protected prefix and the site's 410 page: it asks the model
     * where the visitor's page went (from the path and its {@code q}) and renders the suggestion as
     * HTML, as a page does: the provider's usage is not part of a web page, so the page reports its
     * call's tokens itself (1,200), as docs/decisions.md asks of an error page that calls a model.
     */
    class Help extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 1_200L);
            resp.setContentType("text/html");
            resp.getOutputStream().write(("<html><body><p>That page moved: the Team plan is now described under"
                    + " <a href=\"/plans/team\">Plans</a>.</p></body></html>").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * The assistant's suggestion endpoint: it calls the model with the question ({@code q}) and its own
     * context (the site map: 4,000 input tokens) and answers the completion with its usage, 5,000.
     */
    class Suggest extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(COMPLETION.getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * The site's 404 page, outside the protected prefix: it hands the missing path to the assistant,
     * by a forward (the page is the suggestion) or, with {@code ?mode=include} on the missing page's
     * URL, by an include inside its own layout.
     */
    static class NotFoundPage extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            Object missing = req.getAttribute(RequestDispatcher.ERROR_REQUEST_URI);
            String target = "/ai/suggest?q=" + URLEncoder.encode(String.valueOf(missing), StandardCharsets.UTF_8);
            if ("include".equals(req.getParameter("mode"))) {
                resp.setContentType("text/html");
                resp.getOutputStream().write("<html><body><h1>Not found</h1><pre>".getBytes(StandardCharsets.UTF_8));
                req.getRequestDispatcher(target).include(req, resp);
                resp.getOutputStream().write("</pre></body></html>".getBytes(StandardCharsets.UTF_8));
            } else {
                req.getRequestDispatcher(target).forward(req, resp);
            }
        }
    }

    /**
     * A digest page outside the protected prefix: one model summary per item, each included from
     * {@code /ai/suggest} (three items). The async variant starts its async cycle first (to set a
     * long timeout for the whole page) and completes it once the last include returned.
     */
    static class Digest extends HttpServlet {
        private final boolean async;

        Digest(boolean async) {
            this.async = async;
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            AsyncContext cycle = null;
            if (async) {
                cycle = req.startAsync(req, resp);
                cycle.setTimeout(30_000);
            }
            resp.setContentType("text/html");
            for (int i = 0; i < 3; i++) {
                resp.getOutputStream().write(("<section id=\"item" + i + "\">").getBytes(StandardCharsets.UTF_8));
                req.getRequestDispatcher("/ai/suggest?q=item" + i).include(req, resp);
                resp.getOutputStream().write("</section>\n".getBytes(StandardCharsets.UTF_8));
            }
            if (cycle != null) {
                cycle.complete();
            }
        }
    }

    HttpResponse<String> get(String path, String s) {
        return TestHttp.send(TestHttp.request(container.uri(path), "x-user-id", s).GET().build());
    }

    /** What a new subject is charged for the call {@code call} sends for it, answered 200: a control's figure. */
    long chargedFor(Function<String, HttpResponse<String>> call) {
        String s = subject();
        assertEquals(200, call.apply(s).statusCode());
        return settled(s).used();
    }

    /** Leaves the subject {@code left} tokens of its allowance (the rest spent on earlier calls). */
    void spendAllBut(String s, long left) {
        store.consume(HoldRequest.of(s, ALLOWANCE - left).build());
        assertEquals(left, settled(s).available());
    }

    // ------------------------------------------------------------------ error pages

    /**
     * A missing page outside the prefix, whose 404 page (outside it too) forwards to the assistant under
     * it: the assistant's model call, 5,000 tokens, must be charged. A control on Jetty, where the
     * forward is a FORWARD dispatch to {@code /ai/suggest}. Tomcat keeps a forward made inside an error
     * page an ERROR dispatch and matches the filters' URL patterns against the error page's path
     * ({@code /errors/404}), so a filter mapped to {@code /ai/*} never runs, and the filter's own
     * mappings by servlet name cover FORWARD and INCLUDE only.
     */
    @Test
    void unprotectedNotFoundForwardedToTheAssistantIsCharged() {
        String s = subject();
        HttpResponse<String> r = get("/docs/no-such-page", s);
        assertEquals(1, calls.of(s), "status " + r.statusCode() + ": " + r.body());
        assertEquals(5_000, settled(s).used(), ledger(s));
    }

    /**
     * A client asks a protected endpoint for something it does not have (404, released: no model ran);
     * the 404 page outside the prefix forwards to the assistant, whose model call (5,000 tokens) must
     * be charged.
     */
    @Test
    void protectedNotFoundThenForwardedAssistantIsCharged() {
        String s = subject();
        HttpResponse<String> r = get("/ai/articles/no-such-article", s);
        assertEachCallCharged(s, 5_000, "", r, () -> ", ledger " + ledger(s) + ": " + r.body());
    }

    /** As above, the 404 page including the assistant's answer in its layout. */
    @Test
    void protectedNotFoundThenIncludedAssistantIsCharged() {
        String s = subject();
        HttpResponse<String> r = get("/ai/articles/no-such-article?mode=include", s);
        assertEachCallCharged(s, 5_000, "", r, () -> ", ledger " + ledger(s) + ": " + r.body());
    }

    /**
     * A user with 1,000 tokens left (a direct suggestion, held at its 1,000-token fallback plus its
     * question, is refused 429) asks for a missing article under the protected prefix three times: each
     * 404 holds the 1,000-token fallback and releases it, and each 404 page serves the assistant's
     * 5,000-token answer, 15,000 tokens past the allowance, as often as the client likes.
     */
    @Test
    void protectedNotFoundServesTheAssistantPastTheAllowance() {
        String s = subject();
        spendAllBut(s, 1_000);
        assertEquals(429, get("/ai/suggest?q=pricing", s).statusCode(), "a direct suggestion does not fit");
        HttpResponse<String> last = null;
        for (int i = 0; i < 3; i++) {
            last = get("/ai/articles/no-such-article-" + i, s);
        }
        assertEachCallChargedAfter(s, ALLOWANCE - 1_000, 5_000, "with 1,000 left, last", last,
                () -> " of " + ALLOWANCE + ", ledger " + ledger(s));
    }

    /** Control: the help page asked directly is charged the figure it reports (no usage in the HTML). */
    @Test
    void helpPageAskedDirectlyIsChargedItsFigure() {
        String s = subject();
        assertServedOnceAndCharged(s, get("/ai/help?q=team+plan", s), 1_200);
    }

    /**
     * A visitor opens a retired page (410): the site's 410 page, under the protected prefix, runs the
     * model and renders its suggestion as HTML. That model call must be charged as the same help page
     * asked directly is (the figure it reports), not released as an error page that "called no model".
     */
    @Test
    void goneHelpPageModelCallIsCharged() {
        long direct = chargedFor(d -> get("/ai/help?q=team+plan", d));
        String s = subject();
        HttpResponse<String> r = get("/retired/pricing-2023?q=team+plan", s);
        assertEachCallCharged(s, direct, "410 page", r, () -> " (asked directly: " + direct + "), ledger " + ledger(s));
    }

    // ------------------------------------------------------------------ async page with includes

    /** Control: the digest page without an async cycle: three included summaries, 15,000 tokens. */
    @Test
    void digestWithoutAsyncIsChargedEveryInclude() {
        String s = subject();
        assertCharged(s, get("/open/digest-sync", s), 200, 3, 15_000, "");
    }

    /**
     * The same digest page, its async cycle started before the includes: three model calls, 15,000
     * tokens, must all be charged.
     */
    @Test
    void asyncDigestIsChargedEveryInclude() {
        String s = subject();
        HttpResponse<String> r = get("/open/digest", s);
        assertEachCallCharged(s, 5_000, "", r, () -> ", ledger " + ledger(s));
    }

    /**
     * A user with 2,000 tokens left opens the async digest: the first include's 1,000-token hold fits,
     * and all three summaries (15,000 tokens) are served although not even one fits the balance.
     */
    @Test
    void asyncDigestServesIncludesPastTheAllowance() {
        String s = subject();
        spendAllBut(s, 2_000);
        HttpResponse<String> r = get("/open/digest", s);
        assertEachCallChargedAfter(s, ALLOWANCE - 2_000, 5_000, "", r,
                () -> " of " + ALLOWANCE + ", ledger " + ledger(s));
    }

    // ------------------------------------------------------------------ body-less OPTIONS without usage

    HttpResponse<String> ask(String method, String s) {
        return TestHttp.send(TestHttp.request(container.uri("/ai/spring/ask?q=what+plan+fits+a+team+of+five"),
                "x-user-id", s).method(method, HttpRequest.BodyPublishers.noBody()).build());
    }

    /** Control: the ask route's GET answers without provider usage and is charged its estimate. */
    @Test
    void askGetIsChargedTheEstimate() {
        String s = subject();
        long used = assertAnswered(s, ask("GET", s), 200, 1).used();
        assertEquals(true, used >= 1_000, "used " + used);
    }

    /**
     * The same question sent as a body-less {@code OPTIONS} (no {@code Origin}: no preflight) to the
     * route matched by path: the model answers as for the GET, the application's JSON carrying no
     * provider usage. It must be charged as the GET is, not released.
     */
    @Test
    void bodylessOptionsToAnAskRouteIsChargedAsTheGet() {
        long get = chargedFor(g -> ask("GET", g));
        String s = subject();
        HttpResponse<String> r = ask("OPTIONS", s);
        assertEachCallCharged(s, get, "OPTIONS", r, () -> " (the GET: " + get + "): " + r.body());
    }
}
