package io.tokenquota.servlet.breakit106;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
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
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 106 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * forwards by servlet name into protected servlets whose prefixes are configured differently (an agent
 * endpoint with a larger default output budget beside a chat endpoint), and a site's error page that
 * forwards by name to a servlet that calls no model.
 */
abstract class AbstractRound106 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    /** The agent prefix's default output budget: an agent run writes far more than a chat reply. */
    static final long AGENT_BUDGET = 12_000;

    static String subject() {
        return "u106-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** A request naming no output budget: the prefix's default budget is held and, without usage, charged. */
    /** An image request as a host's own picker sends it (the host chooses the model): no usage comes back. */
    static final String DRAW = "{\"prompt\":\"A lighthouse at dusk, oil painting\",\"size\":\"1536x1024\",\"quality\":\"high\",\"n\":1}";

    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a weekend in Lisbon\"}]}";

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        QuotaFilter quota = filterFor("/ai/").defaultOutputBudget("/ai/agent/", AGENT_BUDGET).build();
        return Deployment.create()
                // as the README registers it: every path, every dispatcher type
                .filter("quota", quota, "/*")
                .servlet("chat", new Model("chat"), "/ai/chat/completions")
                .servlet("agent", new Model("agent"), "/ai/agent/run")
                .servlet("images", new Model("images"), "/ai/images/generations")
                .servlet("legacy-chat", new NamedForward("chat"), "/legacy/chat")
                .servlet("legacy-images", new NamedForward("images"), "/legacy/images")
                .servlet("legacy-agent", new NamedForward("agent"), "/legacy/agent")
                .servlet("docs", new Missing(), "/docs/*")
                .servlet("static-pages", new StaticPage(), "/static/*")
                .servlet("not-found", new NotFoundPage(), "/errors/404")
                .errorPage(404, "/errors/404")
                // as the README has a host do while its context starts
                .onStartup(quota::registerByServletName);
    }

    // ------------------------------------------------------------------ the host's servlets

    /**
     * A model endpoint: calls the model and answers the host's own JSON, which carries no usage (the
     * filter charges the estimate for a 2xx without usage).
     */
    class Model extends HttpServlet {
        final String kind;

        Model(String kind) {
            this.kind = kind;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id") + "/" + kind);
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"reply\":\"Day one: Alfama, Day two: Belem\",\"by\":\"" + kind + "\"}")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A legacy route kept as an alias of a model servlet by forwarding to it by name. */
    static class NamedForward extends HttpServlet {
        final String target;

        NamedForward(String target) {
            this.target = target;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getServletContext().getNamedDispatcher(target).forward(req, resp);
        }
    }

    /** Documentation pages, every one missing: 404, no model called. */
    static class Missing extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(404);
        }
    }

    /** The site's static pages (what a container's default servlet serves): no model. */
    static class StaticPage extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/html");
            resp.getOutputStream().write("<html><body><h1>Page not found</h1></body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * The site's 404 page, outside the protected prefix: it hands the request by name to the static
     * pages servlet (as Spring's {@code DefaultServletHttpRequestHandler} hands requests to the
     * container's default servlet by name). No model is involved.
     */
    static class NotFoundPage extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getServletContext().getNamedDispatcher("static-pages").forward(req, resp);
        }
    }

    // ------------------------------------------------------------------ per-prefix settings by name

    /** Control: the agent on its own path is charged its prefix's estimate (input plus 12,000). */
    @Test
    void theAgentPathIsChargedItsPrefixBudget() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agent/run"), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/agent"));
        long used = settled(s).used();
        assertTrue(used > AGENT_BUDGET && used < AGENT_BUDGET + 200, "agent run charged " + used + ": " + ledger(s));
    }

    /** Control: the chat endpoint on its own path is charged the default estimate (input plus 1,000). */
    @Test
    void theChatPathIsChargedTheDefaultBudget() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat/completions"), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/chat"));
        long used = settled(s).used();
        assertTrue(used > 1_000 && used < 1_200, "chat charged " + used + ": " + ledger(s));
    }

    /**
     * {@code POST /legacy/agent}, an alias that forwards by name to the agent servlet: the docs promise
     * a dispatch by name is held "like a request to its path", so the agent run must cost what it costs
     * on {@code /ai/agent/run}. The containers report the caller's servlet mapping inside a dispatch by
     * name, so only a filter mapped by the agent servlet's own name can tell where the dispatch ends.
     */
    @Test
    void anAgentRunByNameIsChargedAsOnItsPath() {
        String direct = subject();
        TestHttp.postJson(container.uri("/ai/agent/run"), direct, ASK);
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/legacy/agent"), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/agent"), "the agent ran once");
        assertEquals(settled(direct).used(), settled(s).used(), "the agent run by name: " + ledger(s));
    }

    /** The same for the chat alias: a chat call by name costs what it costs on its own path. */
    @Test
    void aChatCallByNameIsChargedAsOnItsPath() {
        String direct = subject();
        TestHttp.postJson(container.uri("/ai/chat/completions"), direct, ASK);
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/legacy/chat"), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/chat"), "the chat model ran once");
        assertEquals(settled(direct).used(), settled(s).used(), "the chat call by name: " + ledger(s));
    }

    /** Control: an image generated on its own path is charged the image endpoint's estimate. */
    @Test
    void theImagePathIsChargedTheImageEstimate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/images/generations"), s, DRAW);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/images"));
        long used = settled(s).used();
        assertTrue(used > 1_000, "image charged " + used + ": " + ledger(s));
    }

    /**
     * {@code POST /legacy/images}, an alias forwarding by name to the image endpoint with no budget
     * configured anywhere (the filter's defaults): the image must cost what it costs on its path.
     */
    @Test
    void anImageByNameIsChargedAsOnItsPath() {
        String direct = subject();
        TestHttp.postJson(container.uri("/ai/images/generations"), direct, DRAW);
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/legacy/images"), s, DRAW);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/images"), "the image model ran once");
        assertEquals(settled(direct).used(), settled(s).used(), "the image by name: " + ledger(s));
    }

    /**
     * The three aliases, one user each: a filter that stood in one protected path for every dispatch by
     * name would hold and charge the other endpoints under that one's settings.
     */
    @Test
    void everyAliasIsChargedAsItsPath() {
        String[][] routes = {{"/ai/agent/run", "/legacy/agent", ASK}, {"/ai/chat/completions", "/legacy/chat", ASK},
                {"/ai/images/generations", "/legacy/images", DRAW}};
        StringBuilder byPath = new StringBuilder();
        StringBuilder byName = new StringBuilder();
        StringBuilder events = new StringBuilder();
        for (String[] route : routes) {
            String direct = subject();
            String named = subject();
            TestHttp.postJson(container.uri(route[0]), direct, route[2]);
            TestHttp.postJson(container.uri(route[1]), named, route[2]);
            byPath.append(settled(direct).used()).append(' ');
            byName.append(settled(named).used()).append(' ');
            events.append(route[1]).append(' ').append(ledger(named)).append(' ');
        }
        assertEquals(byPath.toString(), byName.toString(), "agent, chat, image by path vs by name: " + events);
    }

    /** Control: a user with 5,000 tokens left is refused an agent run (12,000 held) on its path. */
    @Test
    void aLowBalanceUserIsRefusedTheAgentOnItsPath() {
        String s = subject();
        store.consume(s, ALLOWANCE - 5_000, null);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agent/run"), s, ASK);
        assertEquals(429, r.statusCode(), r.body());
        assertEquals(0, calls.of(s + "/agent"));
    }

    /**
     * A user with 5,000 tokens left asks for the agent five times through the legacy alias. On its path
     * each run is refused (its 12,000-token hold does not fit); by name each must be refused too, or
     * the runs it serves must be charged and leave the user inside the allowance.
     */
    @Test
    void aLowBalanceUserGetsNoAgentRunsByName() {
        String s = subject();
        store.consume(s, ALLOWANCE - 5_000, null);
        for (int i = 0; i < 5; i++) {
            TestHttp.postJson(container.uri("/legacy/agent"), s, ASK);
        }
        int served = calls.of(s + "/agent");
        long used = settled(s).used();
        assertEquals(0, served, served + " agent runs served to a user with 5,000 left; used " + used + " of "
                + ALLOWANCE + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ an error page by name, no model

    /**
     * An anonymous visitor asks for a missing documentation page. The 404 page (outside the prefix)
     * hands the request by name to the static pages servlet; no model is called, and the visitor must
     * get the 404 page, not a 401.
     */
    @Test
    void anAnonymousVisitorGetsTheNotFoundPage() {
        HttpResponse<String> r = TestHttp.get(container.uri("/docs/no-such-page"));
        assertEquals(404, r.statusCode(), r.body());
        assertTrue(r.body().contains("Page not found"), r.body());
    }

    /**
     * A user with nothing left asks for a missing documentation page: no model is called, so nothing
     * is charged and the user gets the 404 page, not a 429.
     */
    @Test
    void aSpentUserGetsTheNotFoundPageUncharged() {
        String s = subject();
        store.consume(s, ALLOWANCE, null);
        HttpResponse<String> r = TestHttp.get(container.uri("/docs/no-such-page"), "x-user-id", s);
        assertEquals(ALLOWANCE, settled(s).used(), ledger(s));
        assertEquals(404, r.statusCode(), r.body());
        assertTrue(r.body().contains("Page not found"), r.body());
    }
}
