package io.tokenquota.servlet.breakit117;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.MediaBytes;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 117 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * speech measured in answers to a POST that calls no model (a stored recording fetched by POST, the
 * endpoint reporting 0 as the docs have it do), and
 * an unprotected page that includes a protected endpoint with the call's parameters in the include's
 * own query string (the endpoint reads them; the filter does not).
 */
abstract class AbstractRound117 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    /** Fifteen minutes of a stored meeting recording. */
    static final int RECORDING_SECONDS = 15 * 60;

    static String subject() {
        return "u117-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        QuotaFilter quota = filterFor("/ai/").build();
        return Deployment.create()
                .filter("quota", quota, "/*")
                .servlet("history", new History(), "/ai/v1/history/*")
                .servlet("complete", new Complete(), "/ai/complete")
                .servlet("essay-page", new EssayPage(), "/pages/essay")
                .onStartup(quota::registerByServletName);
    }

    // ------------------------------------------------------------------ the host's servlets

    /**
     * ElevenLabs-style history: {@code POST /v1/history/download} with the ids of earlier generations
     * returns the stored audio file. Nothing is generated: no model runs, and the endpoint says so, as
     * the docs have an endpoint under a protected prefix that returns stored audio to a POST do (the
     * filter cannot tell stored audio from audio a model makes from a one-line prompt).
     */
    static class History extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            req.setAttribute(io.tokenquota.servlet.QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            resp.setContentType("audio/wav");
            MediaBytes.writeWav(resp.getOutputStream(), RECORDING_SECONDS, MediaBytes.silentSecond());
        }
    }

    /**
     * The host's completion endpoint: reads {@code prompt} and {@code max_tokens} from its parameters,
     * calls the model with them and renders the text (the host's HTML, no usage). The model writes its
     * whole budget here (an essay).
     */
    class Complete extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String prompt = req.getParameter("prompt");
            int budget = Integer.parseInt(req.getParameter("max_tokens") == null ? "256" : req.getParameter("max_tokens"));
            calls.count(req.getHeader("x-user-id") + "/" + budget);
            resp.setContentType("text/html");
            resp.getWriter().write("<article data-prompt=\"" + (prompt == null ? "" : prompt.length()) + "\">"
                    + "word ".repeat(budget) + "</article>");
            resp.getWriter().flush();
        }
    }

    /**
     * An unprotected page (a JSP with {@code <jsp:include page="/ai/complete"><jsp:param .../>}) that
     * renders an essay on the client's topic by including the protected endpoint, the call's prompt and
     * length in the include's query string.
     */
    static class EssayPage extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            resp.setContentType("text/html");
            resp.getWriter().write("<html><body>");
            String target = "/ai/complete?max_tokens=" + URLEncoder.encode(req.getParameter("len"), StandardCharsets.UTF_8)
                    + "&prompt=" + URLEncoder.encode(req.getParameter("topic"), StandardCharsets.UTF_8);
            req.getRequestDispatcher(target).include(req, resp);
            resp.getWriter().write("</body></html>");
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            doGet(req, resp);
        }
    }

    // ------------------------------------------------------------------ 1. a stored recording fetched by POST

    /**
     * {@code POST /ai/v1/history/download} fetches a 15-minute recording the user generated last week
     * (stored, no model runs now; the endpoint reports 0). It must not be charged as 15 minutes of speech
     * the model wrote (15,300 tokens).
     */
    @Test
    void aStoredRecordingFetchedByPostIsNotChargedAsNewSpeech() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/history/download"), s,
                "{\"history_item_ids\":[\"VW7YKqPnjY4h39yTbx2L\"]}");
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertTrue(used <= 1_100, kind() + ": fetching a stored recording (no model call) charged " + used + " of "
                + ALLOWANCE + ": " + ledger(s));
    }

    /**
     * After fetching two stored recordings (no model call), the user's first real chat call asking
     * for 2,000 tokens must be served: the allowance is 20,000 and nothing was generated.
     */
    @Test
    void aChatCallAfterFetchingStoredRecordingsIsServed() {
        String s = subject();
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/history/download"), s,
                    "{\"history_item_ids\":[\"item-" + i + "\"]}");
            assertEquals(200, r.statusCode());
        }
        long before = settled(s).used();
        HttpResponse<String> chat = TestHttp.get(container.uri("/ai/complete?max_tokens=2000&prompt=hello"), "x-user-id", s);
        assertEquals(200, chat.statusCode(), kind() + ": a first real model call refused after two downloads"
                + " charged " + before + " of " + ALLOWANCE + ": " + chat.body());
    }

    // ------------------------------------------------------------------ 2. a call's parameters in an include's query

    /** Control: the endpoint asked directly for an 8,000-token essay is charged its budget. */
    @Test
    void theEndpointAskedDirectlyIsChargedItsBudget() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/complete?max_tokens=8000&prompt=the+history+of+Lisbon"),
                "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/8000"));
        long used = settled(s).used();
        assertTrue(used >= 8_000, kind() + ": 8,000-token essay asked directly charged " + used + ": " + ledger(s));
    }

    /**
     * The same 8,000-token essay, asked through the unprotected page that includes the endpoint with
     * {@code ?max_tokens=8000&prompt=...} (the client chooses the length in the page's query). The
     * endpoint reads the include's parameters and the model writes 8,000 tokens; the filter held and
     * charged the request's own (empty) parameters: the default budget.
     */
    @Test
    void anEssayIncludedByAPageIsChargedItsBudget() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/pages/essay?len=8000&topic=the+history+of+Lisbon"),
                "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/8000"), "the model was asked for 8,000 tokens");
        long used = settled(s).used();
        assertTrue(used >= 8_000, kind() + ": 8,000-token essay through the page charged " + used + ": " + ledger(s));
    }

    /**
     * The page asked for 8,000-token essays again and again: the allowance (20,000) pays for two. The
     * third must be refused (or the ledger must show the overage); the endpoint must not be asked for
     * more than two.
     */
    @Test
    void essaysThroughThePageAreNotServedPastTheAllowance() {
        String s = subject();
        int served = 0;
        for (int i = 0; i < 8; i++) {
            HttpResponse<String> r = TestHttp.get(container.uri("/pages/essay?len=8000&topic=chapter+" + i), "x-user-id", s);
            if (r.statusCode() == 200 && calls.of(s + "/8000") > served) {
                served = calls.of(s + "/8000");
            }
        }
        long used = settled(s).used();
        assertTrue(served <= 2 || used >= served * 8_000L, kind() + ": " + served + " essays of 8,000 tokens served,"
                + " charged " + used + " of " + ALLOWANCE + ": " + ledger(s));
    }

    /**
     * Control: the same page posted as a form (the page reads the form, then includes the endpoint with
     * the same query): the 8,000-token essay is charged its budget.
     */
    @Test
    void anEssayIncludedByAFormPostedPageIsChargedItsBudget() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/pages/essay"), "len=8000&topic=the+history+of+Lisbon",
                "x-user-id", s, "Content-Type", "application/x-www-form-urlencoded");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s + "/8000"), "the model was asked for 8,000 tokens");
        long used = settled(s).used();
        assertTrue(used >= 8_000, kind() + ": 8,000-token essay through the posted page charged " + used + ": " + ledger(s));
    }
}
