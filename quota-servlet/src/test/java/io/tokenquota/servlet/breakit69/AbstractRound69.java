package io.tokenquota.servlet.breakit69;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Observations;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 69 of issue 11: the response and request objects the filter hands to the endpoint. The same
 * plain servlet runs on an unprotected path (the control) and behind the filter; what it can observe of
 * its own response and request must be the same in both places, and a model call it makes must be
 * charged what it used.
 *
 * <p>Every servlet here calls the model once (counted per subject) before it writes the model's answer;
 * the answer is an OpenAI chat completion whose usage counts a server-side context the endpoint added
 * (retrieved documents: a RAG endpoint), so the usage is well above the filter's estimate of the
 * client's short body.
 */
abstract class AbstractRound69 extends H2FilterRound {
    /** Model calls per subject. */
    static final ModelCalls CALLS = new ModelCalls();
    /** What each servlet observed of its own response or request, per subject (for messages and comparisons). */
    static final Observations SEEN = new Observations();

    /** The usage of the model's answer: the client's question plus 8,800 tokens of retrieved context. */
    static final long USAGE = 9_000;
    /** The model\'s answer: an OpenAI chat completion with its usage. */
    static final String ANSWER = RelayedAnswers.q3Summary("chatcmpl-69", USAGE);

    static final String CHAT = "{\"model\":\"gpt-4.1\",\"max_tokens\":200,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise our Q3 report in two sentences.\"}]}";

    static String subject() {
        return "u69-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** The same answer rendered as an HTML page for a browser (the summary, the sources, a footer). */
    static String html(int bytes) {
        StringBuilder page = new StringBuilder("<!doctype html><html><head><title>Q3 summary</title></head><body>"
                + "<h1>Q3 summary</h1><p>Revenue grew 12% while costs fell; the margin reached a record.</p><ol>");
        int i = 0;
        while (page.length() < bytes) {
            page.append("<li><a href=\"/docs/q3/").append(i).append("\">Source ").append(i++)
                    .append(": quarterly report, section on revenue and costs by region</a></li>");
        }
        return page.toString();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .withControl("rag", Rag::new, "v1");
    }

    /**
     * A RAG chat endpoint written as plain servlets are written. Each path calls the model once, then:
     * <ul>
     *   <li>{@code /cached}: first serves the answer cached for the question, reporting 0 tokens through
     *   {@code X-Quota-Actual-Tokens} (no model call) as the filter's documentation asks; the cached
     *   entry turns out stale while it is written (its checksum fails), so the servlet discards the
     *   response with {@code reset()} (which clears the status, the headers and the buffer) and answers
     *   from a fresh model call.</li>
     *   <li>{@code /render-writer}: renders the answer as HTML through {@code getWriter()}; the template
     *   fails in the footer, so the servlet discards the page with {@code reset()} and falls back to the
     *   model's JSON, again through {@code getWriter()}.</li>
     *   <li>{@code /render-stream}: the same, but the fallback copies the upstream's JSON bytes through
     *   {@code getOutputStream()} (allowed after {@code reset()}: the servlet API resets the choice of
     *   writer or stream with the buffer).</li>
     *   <li>{@code /big-page}: sets a 256 KB buffer so that a rendering failure can still be answered
     *   cleanly, renders an 80 KB HTML page (the summary with its sources), fails in the footer, drops
     *   the page with {@code resetBuffer()} and answers the model's JSON instead.</li>
     * </ul>
     */
    public static class Rag extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (path) {
                case "/cached" -> cached(user, resp);
                case "/render-writer" -> render(user, resp, false);
                case "/render-stream" -> render(user, resp, true);
                case "/big-page" -> bigPage(user, resp);
                case "/render-plain" -> renderPlain(user, resp);
                default -> resp.sendError(404);
            }
        }

        private static void cached(String user, HttpServletResponse resp) throws IOException {
            // a cache hit calls no model: report 0 tokens, as the filter's README tells an endpoint to
            resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, "0");
            resp.setHeader("X-Cache", "HIT");
            resp.setContentType("application/json");
            byte[] cached = "{\"id\":\"chatcmpl-old\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{"
                    .getBytes(StandardCharsets.UTF_8);
            resp.getOutputStream().write(cached);
            // the cached entry's checksum fails half-way: discard everything (status, headers, buffer)
            resp.reset();
            SEEN.add(user, "after reset: X-Cache=" + resp.getHeader("X-Cache") + " " + QuotaFilter.ACTUAL_TOKENS_HEADER + "="
                    + resp.getHeader(QuotaFilter.ACTUAL_TOKENS_HEADER));
            CALLS.count(user);
            resp.setContentType("application/json");
            resp.setHeader("X-Cache", "MISS");
            resp.getOutputStream().write(ANSWER.getBytes(StandardCharsets.UTF_8));
        }

        private static void render(String user, HttpServletResponse resp, boolean relayBytes) throws IOException {
            CALLS.count(user);
            String json = ANSWER;
            resp.setContentType("text/html;charset=UTF-8");
            PrintWriter page = resp.getWriter();
            page.write(html(2_000));
            // the template's footer throws: the page is dropped, the model's JSON answered instead
            resp.reset();
            resp.setContentType("application/json;charset=UTF-8");
            try {
                if (relayBytes) {
                    resp.getOutputStream().write(json.getBytes(StandardCharsets.UTF_8));
                } else {
                    resp.getWriter().write(json);
                }
            } catch (RuntimeException e) {
                SEEN.add(user, "fallback failed: " + e);
                throw e;
            }
        }

        /**
         * The page in the container's default charset ({@code text/html} without one: ISO-8859-1), the
         * fallback in UTF-8 with the model's typographic punctuation.
         */
        private static void renderPlain(String user, HttpServletResponse resp) throws IOException {
            CALLS.count(user);
            String json = ANSWER.replace("Revenue grew 12%", "Revenue grew 12% \u2014 a record \u2014");
            resp.setContentType("text/html");
            resp.getWriter().write(html(2_000));
            resp.reset();
            resp.setContentType("application/json;charset=UTF-8");
            resp.getWriter().write(json);
            SEEN.add(user, "fallback written in " + resp.getCharacterEncoding());
        }

        private static void bigPage(String user, HttpServletResponse resp) throws IOException {
            CALLS.count(user);
            resp.setBufferSize(256 * 1024);
            resp.setContentType("text/html;charset=UTF-8");
            byte[] page = html(80 * 1024).getBytes(StandardCharsets.UTF_8);
            var out = resp.getOutputStream();
            for (int off = 0; off < page.length; off += 8 * 1024) {
                out.write(page, off, Math.min(8 * 1024, page.length - off));
            }
            SEEN.add(user, "committed after the page: " + resp.isCommitted());
            // the footer's template throws: the page is dropped (nothing was sent), the JSON answered
            resp.resetBuffer();
            resp.setContentType("application/json;charset=UTF-8");
            out.write(ANSWER.getBytes(StandardCharsets.UTF_8));
        }
    }

    private HttpResponse<String> call(String path, String user) {
        return TestHttp.postJson(container.uri(path), user, CHAT);
    }

    /**
     * Break: {@code reset()} clears every header, but behind the filter {@code X-Quota-Actual-Tokens} is
     * kept in the filter's own field and survives it. A RAG endpoint that reported 0 for a cache hit,
     * found the entry stale, reset the response and answered from a fresh model call is charged the 0
     * it had taken back: the model call is free. The endpoint sees it too: after the reset its own
     * {@code getHeader} still answers "0" behind the filter, null without it.
     */
    @Test
    void aResetTakesBackAZeroReportedForACacheHit() {
        String control = subject();
        HttpResponse<String> open = call("/open/v1/cached", control);
        assertEquals(200, open.statusCode(), open.body());
        assertTrue(open.body().contains("\"total_tokens\":" + USAGE), open.body());

        String user = subject();
        HttpResponse<String> r = call("/ai/v1/cached", user);
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertEquals(open.statusCode(), r.statusCode(), r.body());
        assertEquals(SEEN.of(control), SEEN.of(user), kind() + ": the endpoint saw its headers differently after reset()"
                + " behind the filter; charged " + account.used() + " " + ledger(user));
        assertEquals(USAGE, account.used(), kind() + ": a fresh model call answered after reset() was charged "
                + account.used() + " (the 0 reported for the discarded cache hit) " + ledger(user));
    }

    /**
     * Break: the servlet API lets an endpoint that wrote through {@code getWriter()} call {@code reset()}
     * and write again; behind the filter the second {@code getWriter()} returns the filter's cached
     * writer, around the container writer as it was before the reset (on Tomcat, whose reset drops
     * the writer's converter, writing through it then fails). The model's answer must still be
     * delivered and charged.
     */
    @Test
    void aPageDroppedWithResetThenAnsweredThroughTheWriterIsDeliveredAndCharged() {
        assertAnsweredAsWithoutTheFilterAndCharged("render-writer");
    }

    /**
     * The endpoint at {@code /open/v1/<endpoint>} (the control) and at {@code /ai/v1/<endpoint>}: the
     * same status and bytes behind the filter, and the model's usage charged when the answer went out.
     */
    private void assertAnsweredAsWithoutTheFilterAndCharged(String endpoint) {
        String control = subject();
        HttpResponse<String> open = call("/open/v1/" + endpoint, control);

        String user = subject();
        HttpResponse<String> r = call("/ai/v1/" + endpoint, user);
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertEquals(open.statusCode(), r.statusCode(), kind() + ": the servlet answered " + open.statusCode()
                + " without the filter and " + r.statusCode() + " behind it " + SEEN.of(user) + "; charged "
                + account.used() + " " + ledger(user));
        assertEquals(open.body(), r.body(), kind() + ": other bytes behind the filter");
        if (open.statusCode() == 200) {
            assertEquals(USAGE, account.used(), ledger(user));
        }
    }

    /**
     * The same fallback, but the dropped page was written in the container's default charset and the
     * answer in UTF-8: without the filter the container gives a writer in the new charset after the
     * reset (Jetty; Tomcat keeps the old writer's charset); behind it the endpoint gets the filter's
     * cached writer, which must encode as the container's would.
     */
    @Test
    void aWriterTakenAgainAfterResetEncodesInTheNewCharset() {
        String control = subject();
        HttpResponse<String> open = call("/open/v1/render-plain", control);
        assertEquals(200, open.statusCode(), open.body());

        String user = subject();
        HttpResponse<String> r = call("/ai/v1/render-plain", user);
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertEquals(open.statusCode(), r.statusCode(), r.body());
        assertEquals(open.body(), r.body(), kind() + ": the answer's bytes differ behind the filter; charged "
                + account.used() + " " + ledger(user));
        assertEquals(USAGE, account.used(), ledger(user));
    }

    /**
     * Break: after {@code reset()} the servlet API lets an endpoint that had taken the writer take the
     * stream (both containers reset the choice with the buffer). Behind the filter
     * {@code getOutputStream()} throws "getWriter() was already called": the model's answer never goes
     * out, the client gets 500, and the failure before anything was committed releases the hold: a
     * model call the endpoint made is free.
     */
    @Test
    void aPageDroppedWithResetThenAnsweredThroughTheStreamIsDeliveredAndCharged() {
        assertAnsweredAsWithoutTheFilterAndCharged("render-stream");
    }

    /**
     * Break: the filter reads what a reset discards on its own, so that the real answer after an HTML
     * prelude is still read from its first bytes, but only while it holds those bytes (64 KB). An
     * endpoint with a larger buffer (256 KB) that drops an 80 KB rendered page with
     * {@code resetBuffer()} and answers the model's JSON has its answer read as the continuation of an
     * HTML page: the usage (9,000) is never seen and the estimate of the short question is charged.
     */
    @Test
    void anAnswerAfterALargeDiscardedPageIsChargedItsUsage() {
        String control = subject();
        HttpResponse<String> open = call("/open/v1/big-page", control);
        assertEquals(200, open.statusCode(), open.body());
        assertEquals(ANSWER, open.body(), "the unprotected servlet's page was not discarded");

        String user = subject();
        HttpResponse<String> r = call("/ai/v1/big-page", user);
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(open.body(), r.body());
        assertEquals(USAGE, account.used(), kind() + ": the model's answer (usage " + USAGE + ") was charged "
                + account.used() + " " + SEEN.of(user) + " " + ledger(user));
    }
}
