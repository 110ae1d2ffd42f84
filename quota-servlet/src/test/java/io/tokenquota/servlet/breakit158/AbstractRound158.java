package io.tokenquota.servlet.breakit158;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 158 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a figure reported through {@code X-Quota-Actual-Tokens} and kept across a {@code reset()}, from the
 * over-charge side. A chat endpoint written as plain servlets are calls the model once (9,000 tokens
 * by the provider's usage), reports that figure as the README asks of an answer without usage, starts
 * its HTML page, and then a moderation check of the model's output refuses it: the page is dropped with
 * {@code reset()} and a 200 page saying the answer was withheld is sent instead (as chat UIs show a
 * refusal: a normal answer, not an error). One model call ran; nothing after the reset reached a model.
 */
abstract class AbstractRound158 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();

    /** What the model's usage reported for the one call. */
    static final long USAGE = 9_000;

    /** A short question with a generous output budget, as chat UIs send. */
    static final String CHAT = "{\"model\":\"gpt-4.1\",\"max_tokens\":4000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write a short story about our product launch.\"}]}";

    static final String WITHHELD = "<!doctype html><html><body><p>This answer was withheld by our content policy."
            + " Please rephrase your question.</p></body></html>";

    static String subject() {
        return "u158-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                // as the README registers it: every path, every dispatcher type, and by servlet name
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/v1/*")
                .onStartup(filter::registerByServletName);
    }

    /**
     * The endpoint: calls the model (counted per subject) and reports its figure, then renders the
     * answer as HTML; the moderation check refuses the output, the page is dropped with {@code reset()}
     * and the withheld page answered 200.
     * <ul>
     *   <li>{@code /header}: the figure through {@code setHeader(X-Quota-Actual-Tokens)};</li>
     *   <li>{@code /attribute}: the figure through the request attribute;</li>
     *   <li>{@code /both}: a metering helper that reports through both (the documentation says that
     *   the attribute, when set, is the figure and the header is not read).</li>
     * </ul>
     */
    static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            CALLS.count(user);
            switch (path) {
                case "/header" -> resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(USAGE));
                case "/attribute" -> req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, USAGE);
                case "/both" -> {
                    req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, USAGE);
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(USAGE));
                }
                default -> {
                    resp.sendError(404);
                    return;
                }
            }
            resp.setContentType("text/html;charset=UTF-8");
            resp.setHeader("X-Model", "gpt-4.1");
            resp.getWriter().write("<!doctype html><html><body><h1>Your story</h1>");
            // the moderation check flags the model's output: the page is dropped, the refusal shown instead
            resp.reset();
            resp.setStatus(200);
            resp.setContentType("text/html;charset=UTF-8");
            resp.getWriter().write(WITHHELD);
        }
    }

    /** Calls {@code path} as a fresh subject and checks status, model calls and the charge. */
    private void assertCharged(String path, String what) {
        String user = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), user, CHAT);
        QuotaAccount account = settled(user);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(user), "model calls");
        assertEquals(USAGE, account.used(), kind() + ": " + what + " (status " + r.statusCode() + ", "
                + CALLS.of(user) + " model call reporting " + USAGE + ") was charged " + account.used() + " of "
                + account.limit() + " " + ledger(user));
    }

    /**
     * Attack (honest service, over-charge): one model call (9,000) reported through the header; the
     * moderation check refuses its output, the page is dropped with {@code reset()} and a 200 refusal
     * page without usage is sent. No model ran after the reset, yet the kept figure is charged "beside"
     * the refusal page, which, a 2xx without usage, is charged the request's estimate (the 4,000-token
     * output budget and the question) as if a second model call had answered it.
     */
    @Test
    void aRefusalPageAfterAResetIsNotChargedBesideTheFigure() {
        assertCharged("/ai/v1/header", "one model call reported through the header, then a 200 refusal page after reset()");
    }

    /** Control: the same refusal reporting through the request attribute is charged the call's 9,000. */
    @Test
    void theSameRefusalReportedThroughTheAttributeIsChargedOnce() {
        assertCharged("/ai/v1/attribute", "one model call reported through the attribute, then a refusal after reset()");
    }

    /**
     * Attack (honest service, over-charge): one model call (9,000) reported through the attribute and
     * the header both, as a metering helper that serves includes and plain servlets alike does. The
     * documentation says the attribute, when set, is the figure and the header is not read; without a
     * reset that holds. After a {@code reset()} the header's figure is kept as calls that ran before the
     * answer that follows, and added to the attribute's: the one call is charged twice, 18,000.
     */
    @Test
    void oneCallReportedThroughAttributeAndHeaderIsChargedOnceAcrossAReset() {
        assertCharged("/ai/v1/both", "one model call reported through the attribute and the header, then reset()");
    }
}
