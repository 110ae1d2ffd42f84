package io.tokenquota.servlet.breakit31;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static io.tokenquota.servlet.testing.RelayedAnswers.completionJson;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 31 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the handler's own report (the request attribute) and the settlement of included calls.
 */
abstract class AbstractRound31 extends H2FilterRound {
    static final long PROMPT = 40;
    static final long OUTPUT = 4_960;
    static final long CALL = PROMPT + OUTPUT;

    /**
     * A poll of a stored (background) response. As docs/decisions.md ("Jobs the provider runs on
     * its own are charged where their usage is read") allows such a handler, it reports 0 through the request attribute: it
     * calls no model.
     */
    public static class Poll extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"resp_1\",\"status\":\"in_progress\"}");
        }
    }

    /**
     * A relay of the model: it calls the model and writes the OpenAI chat completion with its usage,
     * leaving the usage to the filter's reading of the answer (settlement rule 2), as a plain relay does.
     */
    public static class Chat extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            called(req);
            resp.setContentType("application/json");
            resp.getWriter().write(completionJson("Summary.", PROMPT, OUTPUT));
        }
    }

    /**
     * An endpoint that validates its input before it calls the model, and refuses a request without
     * a question with 400 (problem+json), as any endpoint does: the model is not called.
     */
    public static class Validating extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String q = req.getParameter("q");
            if (q == null || q.isBlank()) {
                resp.setStatus(400);
                resp.setContentType("application/problem+json");
                resp.getWriter().write("{\"title\":\"q is required\",\"status\":400}");
                return;
            }
            called(req);
            resp.setContentType("application/json");
            resp.getWriter().write(completionJson("Answer.", PROMPT, OUTPUT));
        }
    }

    /**
     * An unprotected page that renders one widget per item the client lists ({@code ?items=poll,chat}),
     * each by including the protected endpoint of that widget, as a JSP's {@code <jsp:include>} in a
     * loop (or a portal's fragments) does.
     */
    public static class WidgetPage extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html");
            String q = req.getParameter("q");
            for (String item : String.valueOf(req.getParameter("items")).split(",")) {
                resp.getWriter().write("<section>");
                resp.getWriter().flush();
                req.getRequestDispatcher("/ai/" + item + (q == null ? "" : "?q=" + q)).include(req, resp);
                resp.getWriter().write("</section>");
            }
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("poll", new Poll(), "/ai/poll")
                .servlet("chat", new Chat(), "/ai/chat")
                .servlet("validating", new Validating(), "/ai/ask")
                .servlet("page", new WidgetPage(), "/page/widgets");
    }

    static String subject() {
        return "u31-" + UUID.randomUUID().toString().substring(0, 12);
    }

    // ------------------------------------------------------------------ 1. a poll's reported 0 is charged to the calls after it

    /**
     * {@code GET /page/widgets?items=poll,chat,chat,chat}: the page includes the poll (which reports 0
     * through the attribute, as the docs tell a poll to) and then the model relay three times. Each
     * include is its own hold, but the request attribute is the request's: the poll's 0 is still set
     * when each chat include settles, and rule 1 ("the handler reported the actual tokens") charges
     * every model call 0. Three calls of 5,000 tokens are free; a client lists a poll first and calls
     * the model as often as it likes.
     */
    @Test
    void aPollsReportedZeroDoesNotMakeTheModelCallsIncludedAfterItFree() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/page/widgets?items=poll,chat,chat,chat"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(3, calls(s), "three model calls were made");
        QuotaAccount a = settled(s);
        assertEquals(3 * CALL, a.used(), "the page made " + calls(s) + " model calls of " + CALL
                + " tokens after a poll that reported 0; the ledger charged " + a.used() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 2. an included refusal is charged

    /**
     * {@code GET /page/widgets?items=ask} (no {@code q}): the included endpoint refuses with 400 before
     * calling any model. The container ignores a status set inside an include, so the filter sees the
     * page's 200 "without usage" and charges the 1,000-token fallback for a call that never reached
     * a model (rule 4 says a 4xx without usage is released).
     */
    @Test
    void anIncludedEndpointsRefusalIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/page/widgets?items=ask"), "x-user-id", s);
        assertTrue(r.body().contains("q is required"), r.body());
        assertEquals(0, calls(s), "the endpoint refused before calling the model");
        QuotaAccount a = settled(s);
        assertEquals(0, a.used(), "an included endpoint answered 400 without calling the model; the ledger charged "
                + a.used() + ": " + ledger(s));
    }
}
