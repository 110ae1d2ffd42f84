package io.tokenquota.servlet.breakit152;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 152 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a handler that reports its model call's figure through {@code X-Quota-Actual-Tokens}, as the README
 * asks of one whose answer carries no usage (an HTML page, an error), and then discards the response
 * with {@code reset()} (a template that fails, a moderation check that refuses the model's output, a
 * retry after an invalid answer). The model was called and its figure was reported; a reset only
 * changes what the client is sent. The same figure in the body's usage is charged when a reset
 * discards it ("the model produced it"), and the same figure through the request attribute survives.
 */
abstract class AbstractRound152 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();

    /** What the model reported for one call: the question plus the retrieved context the endpoint added. */
    static final long USAGE = 9_000;
    /** What the model reported for a second, retried call. */
    static final long RETRY_USAGE = 6_000;

    static final String CHAT = "{\"model\":\"gpt-4.1\",\"max_tokens\":200,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise our Q3 report in two sentences.\"}]}";

    static String subject() {
        return "u152-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                // as the README registers it: every path, every dispatcher type, and by servlet name
                .filter("quota", filter, "/*")
                .servlet("report", new Report(), "/ai/v1/*")
                .onStartup(filter::registerByServletName);
    }

    /** An HTML page for the model's summary (what a browser-facing endpoint renders). */
    static String html(int bytes) {
        StringBuilder page = new StringBuilder("<!doctype html><html><head><title>Q3 summary</title></head><body>"
                + "<h1>Q3 summary</h1><p>Revenue grew 12% while costs fell; the margin reached a record.</p><ol>");
        int i = 0;
        while (page.length() < bytes) {
            page.append("<li>Source ").append(i++).append(": quarterly report, revenue and costs by region</li>");
        }
        return page.toString();
    }

    /**
     * A RAG endpoint written as plain servlets are: it calls the model (counted per subject), reports
     * the tokens the model's usage gave it, as the filter's documentation asks of an answer without
     * usage, and then:
     * <ul>
     *   <li>{@code /page}: renders the summary as HTML; the template's footer fails, so the servlet
     *   drops the page with {@code reset()} and answers a 500 error document;</li>
     *   <li>{@code /moderated}: the moderation check of the model's output refuses it before anything
     *   is written, so the servlet drops the success headers it had set with {@code reset()} and
     *   answers 422;</li>
     *   <li>{@code /moderated-attribute}: the same, reporting through the request attribute;</li>
     *   <li>{@code /retry}: the first answer is found invalid while it is rendered, so the page is
     *   dropped with {@code reset()} and the model asked again; each call's figure is added to the
     *   header (once per model call, as documented) and the second page is answered 200.</li>
     * </ul>
     */
    static class Report extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (path) {
                case "/page" -> {
                    CALLS.count(user);
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(USAGE));
                    resp.setContentType("text/html;charset=UTF-8");
                    PrintWriter page = resp.getWriter();
                    page.write(html(2_000));
                    // the template's footer throws: the page is dropped, an error answered instead
                    resp.reset();
                    resp.setStatus(500);
                    resp.setContentType("application/json;charset=UTF-8");
                    resp.getWriter().write("{\"error\":\"the summary could not be rendered\"}");
                }
                case "/moderated" -> {
                    CALLS.count(user);
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(USAGE));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.setHeader("Cache-Control", "private, max-age=60");
                    resp.setHeader("X-Model", "gpt-4.1");
                    // the moderation check flags the model's output: nothing of the success answer may go out
                    resp.reset();
                    resp.setStatus(422);
                    resp.setContentType("application/problem+json");
                    resp.getWriter().write("{\"type\":\"about:blank\",\"title\":\"The answer was withheld by moderation\",\"status\":422}");
                }
                case "/moderated-attribute" -> {
                    CALLS.count(user);
                    req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, USAGE);
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.setHeader("Cache-Control", "private, max-age=60");
                    resp.setHeader("X-Model", "gpt-4.1");
                    resp.reset();
                    resp.setStatus(422);
                    resp.setContentType("application/problem+json");
                    resp.getWriter().write("{\"type\":\"about:blank\",\"title\":\"The answer was withheld by moderation\",\"status\":422}");
                }
                case "/retry" -> {
                    CALLS.count(user);
                    resp.addHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(USAGE));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write(html(1_000));
                    // the first answer's citations do not resolve: drop the page, ask the model again
                    resp.reset();
                    CALLS.count(user);
                    resp.addHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(RETRY_USAGE));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write(html(1_500) + "</ol></body></html>");
                }
                default -> resp.sendError(404);
            }
        }
    }

    private HttpResponse<String> call(String path, String user) {
        return TestHttp.postJson(container.uri(path), user, CHAT);
    }

    /** Calls {@code path} as a fresh subject and checks status, model calls and the charge. */
    private void assertCharged(String path, int status, int modelCalls, long charge, String what) {
        String user = subject();
        HttpResponse<String> r = call(path, user);
        QuotaAccount account = settled(user);
        assertEquals(status, r.statusCode(), r.body());
        assertEquals(modelCalls, CALLS.of(user), "model calls");
        assertEquals(charge, account.used(), kind() + ": " + what + " (status " + r.statusCode() + ", "
                + CALLS.of(user) + " model call(s) reporting " + charge + ") was charged " + account.used() + " of "
                + account.limit() + " " + ledger(user));
    }

    /**
     * Break: the endpoint called the model (9,000 tokens), reported that through
     * {@code X-Quota-Actual-Tokens}, began its HTML page, and a template failure made it drop the
     * page with {@code reset()} and answer 500. The reset took the reported figure back, so the call
     * was charged the estimate of the short question (the endpoint was answering) instead of 9,000.
     * Expected: the 9,000 reported, plus at most the estimate (209) that a 5xx after the endpoint began
     * answering is charged beside it (where unsure, the filter charges).
     */
    @Test
    void aFigureReportedBeforeAFailedPageIsCharged() {
        String user = subject();
        HttpResponse<String> r = call("/ai/v1/page", user);
        QuotaAccount account = settled(user);
        assertEquals(500, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(user), "model calls");
        assertTrue(account.used() >= USAGE && account.used() <= USAGE + 209, kind() + ": a model call reported (9,000),"
                + " then its page dropped for a 500, was charged " + account.used() + " " + ledger(user));
    }

    /**
     * Break: the endpoint called the model (9,000 tokens) and reported it through the header; a
     * moderation check refused the output, so before writing anything it reset the response and
     * answered 422. A 4xx with nothing written is released: the model call reported in full is free.
     */
    @Test
    void aFigureReportedBeforeAModerationRefusalIsCharged() {
        assertCharged("/ai/v1/moderated", 422, 1, USAGE, "a model call reported, then refused by moderation with reset()");
    }

    /** Control: the same moderation refusal reporting through the request attribute is charged 9,000. */
    @Test
    void theSameRefusalReportedThroughTheAttributeIsCharged() {
        assertCharged("/ai/v1/moderated-attribute", 422, 1, USAGE, "the attribute's figure before a reset");
    }

    /**
     * Break: an endpoint retries the model once after its first answer proved invalid while being
     * rendered, adding each call's figure to the header as documented ("added once per model call")
     * and dropping the first page with {@code reset()}. Two model calls (9,000 + 6,000) are charged
     * only the second's 6,000: the first call, whose figure was reported, is free.
     */
    @Test
    void bothCallsOfARetryAfterResetAreCharged() {
        assertCharged("/ai/v1/retry", 200, 2, USAGE + RETRY_USAGE, "two model calls, the first page dropped with reset()");
    }
}
