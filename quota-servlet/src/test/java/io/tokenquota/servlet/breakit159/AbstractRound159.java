package io.tokenquota.servlet.breakit159;

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
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 159 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a figure above 0 in {@code X-Quota-Actual-Tokens} survives {@code reset()}, and the answer that follows
 * is charged beside it until the endpoint reports again. Here the answer after the reset is the same
 * call's answer (charged twice), and a second reset drops a relayed call's usage once the endpoint
 * reports a third call.
 */
abstract class AbstractRound159 extends H2FilterRound {
    /** Why this round's tests are disabled: the open part of issue 11 they show. */
    static final String OPEN_RESET_FIGURE = "issue 11, open: a header figure kept across response.reset() cannot"
            + " tell a second model call's answer after the reset from the same call's answer sent again"
            + " (docs/decisions.md, \"A figure reported before a reset (open)\")";

    static final ModelCalls CALLS = new ModelCalls();

    /** The primary model call's usage (4,000 prompt + 2,000 completion). */
    static final long FIRST = 6_000;
    /** The fallback provider's usage, in the JSON it relays. */
    static final long FALLBACK = 7_000;
    /** A third, small model's call, rendered as HTML and reported through the header. */
    static final long THIRD = 2_000;

    static final String CHAT = "{\"model\":\"gpt-4.1\",\"max_tokens\":200,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise our Q3 report in two sentences.\"}]}";

    static String completion(long prompt, long completion) {
        return ChatCompletions.completion("chatcmpl-159", "gpt-4.1", "Revenue grew 12% while costs fell.",
                prompt, completion);
    }

    static String subject() {
        return "u159-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summary", new Summary(), "/ai/v1/*")
                .onStartup(filter::registerByServletName);
    }

    /**
     * A summary endpoint written as plain servlets are; it reports the model calls it renders itself
     * (HTML) through the header, one {@code addHeader} per call, and relays provider JSON as it came:
     * <ul>
     *   <li>{@code /json-fallback}: one model call (usage 6,000). The endpoint reports it, as the README
     *   asks of an answer without usage, and starts the HTML page; the template fails, the page is
     *   dropped with {@code reset()}, and the very answer of that call is sent as the provider's JSON
     *   (usage 6,000), the endpoint's fallback format. No second model call is made.</li>
     *   <li>{@code /two-resets}: the primary call (6,000) is reported and its HTML page fails
     *   ({@code reset()}); the fallback provider's JSON (usage 7,000) is relayed, and the output guard
     *   refuses it before it is sent ({@code reset()} again); a third, small model answers (2,000),
     *   reported with {@code addHeader}, and its HTML page is sent. Three model calls: 15,000.</li>
     * </ul>
     */
    static class Summary extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (path) {
                case "/json-fallback" -> {
                    CALLS.count(user);
                    String answer = completion(4_000, 2_000);
                    resp.addHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(FIRST));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write("<!doctype html><html><body><h1>Q3 summary</h1><p>");
                    // the template failed: the page is dropped, and the same answer is sent as JSON
                    resp.reset();
                    byte[] json = answer.getBytes(StandardCharsets.UTF_8);
                    resp.setStatus(200);
                    ChatCompletions.writeWithLength(resp, json);
                }
                case "/two-resets" -> {
                    CALLS.count(user);
                    resp.addHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(FIRST));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write("<!doctype html><html><body><h1>Q3 summary</h1><p>");
                    resp.reset();
                    CALLS.count(user);
                    byte[] relayed = completion(4_000, 3_000).getBytes(StandardCharsets.UTF_8);
                    resp.setStatus(200);
                    resp.setContentType("application/json");
                    resp.getOutputStream().write(relayed);
                    // the output guard refuses the fallback's answer before anything was sent
                    resp.reset();
                    CALLS.count(user);
                    resp.addHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(THIRD));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write("<!doctype html><html><body><p>Revenue grew 12% while costs fell.</p>"
                            + "</body></html>");
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
     * Attack (honest service, over-charge): one model call of 6,000, reported through the header; the
     * HTML page fails and is dropped with {@code reset()}, and the same call's answer is sent as the
     * provider's JSON with its usage 6,000. One call must cost 6,000, not its figure plus its usage.
     */
    @Disabled(OPEN_RESET_FIGURE)
    @Test
    void oneCallSentAsJsonAfterItsPageFailedIsChargedOnce() {
        assertCharged("/ai/v1/json-fallback", 1, FIRST, "one model call (6,000) reported, then its own JSON after reset()");
    }

    /**
     * Attack (honest service, under-charge): three model calls across two resets, the first and third
     * reported with {@code addHeader} (6,000 and 2,000), the second relayed with its usage (7,000) and
     * discarded by the second reset. All three ran: 15,000.
     */
    @Disabled(OPEN_RESET_FIGURE)
    @Test
    void aRelayedCallBetweenTwoResetsIsChargedBesideTheFigures() {
        assertCharged("/ai/v1/two-resets", 3, FIRST + FALLBACK + THIRD,
                "three model calls (6,000 reported, 7,000 relayed then reset, 2,000 reported)");
    }
}
