package io.tokenquota.servlet.breakit157;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 157 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a figure above 0 in {@code X-Quota-Actual-Tokens} now survives {@code reset()} and stands for the
 * whole request, while a 0 is dropped by it. What an endpoint sends after the reset (a relayed
 * provider answer with its usage, a cache hit's 0, a cached answer) is then judged against it.
 */
abstract class AbstractRound157 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();

    /** The first model call's usage, reported through the header. */
    static final long FIRST = 6_000;
    /** The fallback model's usage, in the body it relays. */
    static final long FALLBACK = 7_000;
    /** The usage stored with a cached answer (of a call made and paid for long ago). */
    static final long CACHED = 5_000;

    static final String CHAT = "{\"model\":\"gpt-4.1\",\"max_tokens\":200,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise our Q3 report in two sentences.\"}]}";

    static String completion(long prompt, long completion) {
        return ChatCompletions.completion("chatcmpl-157", "gpt-4.1", "Revenue grew 12% while costs fell.",
                prompt, completion);
    }

    static String subject() {
        return "u157-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summary", new Summary(), "/ai/v1/*")
                .onStartup(filter::registerByServletName);
    }

    /**
     * A summary endpoint written as plain servlets are. A metering step reports each model call it makes
     * itself through {@code setHeader(X-Quota-Actual-Tokens)}; answers relayed from a provider carry their
     * own usage, as the README says the filter reads:
     * <ul>
     *   <li>{@code /fallback-relay}: calls the primary model (6,000, header set), starts the HTML page;
     *   the primary's output fails validation while rendering, so the page is dropped with
     *   {@code reset()} and the request is sent to a fallback provider whose JSON answer (usage 7,000) is
     *   relayed as it came, as any OpenAI-compatible relay does;</li>
     *   <li>{@code /retry-from-cache}: calls the model (6,000, header set); the answer was stored in the
     *   response cache as it arrived; the serialiser fails, the page is dropped with {@code reset()} and
     *   the retry finds the answer in the cache, whose hit path reports {@code 0} (a cache hit calls no
     *   model) and writes the cached text;</li>
     *   <li>{@code /cached-fallback}: a cache hit (no model call) reports {@code 0} and starts the HTML
     *   page; the template fails, the page is dropped with {@code reset()} and the cached provider
     *   answer is sent as JSON as stored, with the usage of the call made long ago (5,000).</li>
     * </ul>
     */
    static class Summary extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (path) {
                case "/fallback-relay" -> {
                    CALLS.count(user);
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(FIRST));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write("<!doctype html><html><body><h1>Q3 summary</h1><p>");
                    resp.reset();
                    CALLS.count(user);
                    byte[] relayed = completion(4_000, 3_000).getBytes(StandardCharsets.UTF_8);
                    resp.setStatus(200);
                    ChatCompletions.writeWithLength(resp, relayed);
                }
                case "/retry-from-cache" -> {
                    CALLS.count(user);
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(FIRST));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write("<!doctype html><html><body><h1>Q3 summary</h1><p>");
                    resp.reset();
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, "0");
                    resp.setContentType("text/plain;charset=UTF-8");
                    resp.getWriter().write("Revenue grew 12% while costs fell; the margin reached a record.");
                }
                case "/cached-fallback" -> {
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, "0");
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write("<!doctype html><html><body><h1>Q3 summary</h1><p>");
                    resp.reset();
                    // the reset took the headers, the cache hit's 0 with them: the hit path says it again
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, "0");
                    byte[] cached = completion(3_000, 2_000).getBytes(StandardCharsets.UTF_8);
                    resp.setStatus(200);
                    ChatCompletions.writeWithLength(resp, cached);
                }
                default -> resp.sendError(404);
            }
        }
    }

    private void assertCharged(String path, int modelCalls, long charge, String what) {
        String user = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), user, CHAT);
        QuotaAccount account = settled(user);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(modelCalls, CALLS.of(user), "model calls");
        assertEquals(charge, account.used(), kind() + ": " + what + " was charged " + account.used() + " of "
                + account.limit() + " " + ledger(user));
    }

    /**
     * Attack (honest service, under-charge): the primary model's call (6,000) is reported through the
     * header; its output fails while the page renders, the page is dropped with {@code reset()}, and the
     * fallback provider's answer is relayed with its usage (7,000). Two model calls ran: 13,000. The
     * figure kept across the reset now stands for the whole request, so the relayed usage after it is
     * never read: the fallback call is free.
     */
    @Test
    void aRelayedAnswerAfterAResetIsChargedBesideTheFigure() {
        assertCharged("/ai/v1/fallback-relay", 2, FIRST + FALLBACK,
                "a reported call (6,000) and a relayed fallback with usage 7,000 after reset()");
    }

    /**
     * Attack (honest service, under-charge): one model call (6,000) reported through the header; the
     * serialiser fails, the page is dropped with {@code reset()}, and the retry is answered from the cache,
     * whose hit path reports {@code 0} as a cache hit should. The 0 replaces the 6,000 kept across the
     * reset, and the one model call that ran is free.
     */
    @Test
    void aCacheHitAfterAResetDoesNotEraseTheCallBeforeIt() {
        assertCharged("/ai/v1/retry-from-cache", 1, FIRST, "a reported call (6,000) then a cache hit's 0 after reset()");
    }

    /**
     * Honest service: a cache hit, no model call, reports {@code 0}; its HTML page fails, is dropped with
     * {@code reset()}, and the cached provider answer is sent as stored, usage 5,000 of a call made and
     * paid long ago. The reset drops the 0 with the answer it described (as the container drops every
     * header), so the hit path reports 0 again after it, as docs/servlet.md asks; the request, which
     * reached no model, costs nothing. (Without that second report the stored usage was charged 5,000.)
     */
    @Test
    void aCacheHitSentAsStoredAfterAResetIsNotCharged() {
        assertCharged("/ai/v1/cached-fallback", 0, 0, "a cache hit (0) sent as the stored JSON after reset()");
    }
}
