package io.tokenquota.servlet.breakit91;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static io.tokenquota.servlet.testing.TestHttp.fresh;
import static io.tokenquota.servlet.testing.TestHttp.readToDone;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.SubjectGates;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 91 of issue 11: a call whose charge will be more than its hold although its answer reports no
 * usage, and the user's next call sent the moment the first answer is in hand. The mock model streams a
 * chat completion without usage (the OpenAI SDK's default: no {@code stream_options.include_usage}) and
 * then, as a relay that saves the conversation does, works on before it returns; or answers one JSON
 * completion with the usage its {@code x-prompt} and {@code x-completion} headers name.
 */
abstract class AbstractRound91 extends ModelCallRound {
    /** The endpoint's work after its answer (saving the thread) waits here, by subject. */
    final SubjectGates after = new SubjectGates();
    /** The bodies the model was sent, by subject. */
    final Map<String, String> received = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("digest", new Digest(), "/ai/digest/*")
                .servlet("summary", new Summary(), "/ai/summary", "/frag/summary")
                .servlet("model", new Model(), "/ai/*");
    }

    /** A chat model behind an application route; {@code x-variant} says how it answers. */
    class Model extends CountedModel {
        @Override
        protected void answer(Call call) throws IOException {
            String s = call.subject();
            received.merge(s, call.text(), (a, b) -> a + " | " + b);
            String variant = call.variant();
            if (variant.startsWith("stream")) {
                // an OpenAI-compatible stream without usage, then the relay's own work before it returns
                call.resp().setContentType("text/event-stream");
                PrintWriter w = call.resp().getWriter();
                for (int i = 0; i < 20; i++) {
                    w.write(ChatCompletions.wordEvent("chatcmpl-91"));
                }
                w.write("data: " + ChatCompletions.chunkHead("chatcmpl-91")
                        + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
                w.write(ChatCompletions.DONE);
                w.flush();
                if (variant.equals("stream-then-save")) {
                    after.pass(s);
                }
                return;
            }
            call.answerWithLength("chatcmpl-91");
        }
    }

    /**
     * A digest feed: an event stream whose summary event is written by an included fragment (a model call
     * that reports its tokens through the documented attribute); {@code x-include} names the fragment's
     * path. After {@code [DONE]} it saves the digest before it returns unless {@code x-variant} is
     * {@code plain}.
     */
    class Digest extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException,
                jakarta.servlet.ServletException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            w.write("event: start\ndata: {\"digest\":\"today\"}\n\n");
            w.flush();
            req.getRequestDispatcher(req.getHeader("x-include")).include(req, resp);
            w = resp.getWriter();
            w.write("data: [DONE]\n\n");
            w.flush();
            if (!"plain".equals(req.getHeader("x-variant"))) {
                after.pass(s);
            }
        }
    }

    /** The summary fragment: one model call of 18,500 tokens, reported through the attribute. */
    class Summary extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 18_500L);
            resp.getWriter().write("data: {\"summary\":\"Markets rose; rain tomorrow.\"}\n\n");
        }
    }

    static String chat(long maxTokens, boolean stream) {
        return "{\"model\":\"gpt-4o-mini\",\"stream\":" + stream + ",\"max_tokens\":" + maxTokens
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise our thread.\"}]}";
    }

    HttpRequest request(String path, String s, long maxTokens, boolean stream, String... headers) {
        return TestHttp.jsonPost(container.uri(path), s, chat(maxTokens, stream), headers);
    }

    /** A plain completion (a ~2,000-token budget) whose answer reports 1,000 + 1,000 tokens. */
    HttpResponse<String> secondCall(String s) throws Exception {
        return fresh().send(request("/ai/chat/completions", s, 2_000, false, "x-prompt", "1000", "x-completion",
                "1000", "x-variant", "plain"), HttpResponse.BodyHandlers.ofString());
    }

    /**
     * Sends {@code first}, a stream whose endpoint works on after its {@code [DONE]} (saving the thread),
     * reads it to that {@code [DONE]} and at once sends {@code s}'s {@link #secondCall}: its answer.
     */
    HttpResponse<String> secondCallAtDone(String s, HttpRequest first) throws Exception {
        return after.whileShut(s, () -> {
            readToDone(fresh().send(first, HttpResponse.BodyHandlers.ofLines()));
            return secondCall(s);
        });
    }

    /**
     * Control: a conversation the client named {@code tokenize} (an application route, so the path looks like
     * a token count) streamed without usage and asking 19,900 output tokens in its query string (which the
     * filter cannot lower: above the 16,384 cap, the endpoint is sent 19,900); once its whole answer is read to the end, its charge (its whole budget: the
     * answer is no count) has landed and the user's next call (~2,000) is refused.
     */
    @Test
    void controlOnceTheFirstChargeLandedTheNextCallIsRefused() throws Exception {
        String s = subject();
        HttpResponse<String> first = fresh().send(request("/ai/threads/tokenize?max_tokens=19900", s, 19_900, true,
                "x-variant", "stream"), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, first.statusCode(), first.body());
        QuotaAccount charged = settled(s);
        assertTrue(charged.used() > 19_000, "first call charged " + charged.used() + " " + ledger(s)
                + "; the model was sent " + received.get(s));
        HttpResponse<String> second = secondCall(s);
        QuotaAccount a = settled(s);
        assertEquals(429, second.statusCode(), kind() + ": second call answered " + second.statusCode()
                + "; used " + a.used() + " of " + a.limit() + " " + ledger(s));
    }

    /**
     * The same first call (a conversation named {@code tokenize}, 19,900 output tokens asked in the query
     * string, above the cap the filter cannot lower there, streamed without usage), but the relay saves the conversation after {@code [DONE]} before it returns.
     * The client has the whole answer at {@code [DONE]} and sends its next call (~2,000) at once: the first
     * call will be charged its whole budget (19,9xx, its hold only ~16,400), so the next call must be
     * refused, not served past the 20,000 allowance.
     */
    @Test
    void aNoUsageStreamChargedBeyondItsHoldDoesNotLetTheNextCallPast() throws Exception {
        String s = subject();
        HttpResponse<String> second = secondCallAtDone(s, request("/ai/threads/tokenize?max_tokens=19900", s, 19_900,
                true, "x-variant", "stream-then-save"));
        QuotaAccount a = settled(s);
        assertEquals(429, second.statusCode(), kind() + ": a second call sent at the first stream's [DONE]"
                + " answered " + second.statusCode() + "; model calls " + calls.of(s) + ", ledger used " + a.used()
                + " of " + a.limit() + " " + ledger(s));
        assertTrue(a.used() <= a.limit(), kind() + ": used " + a.used() + " of " + a.limit() + " " + ledger(s));
    }

    HttpRequest digest(String s, String include, String variant) {
        return TestHttp.jsonPost(container.uri("/ai/digest/today"), s, chat(500, true), "x-include", include,
                "x-variant", variant);
    }

    /**
     * Control: a digest stream whose included summary fragment reports 18,500 tokens, read to its end: its
     * charge has landed and the user's next call (~2,000) is refused.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"/ai/summary", "/frag/summary"})
    void controlADigestReadToItsEndCountsItsSummary(String include) throws Exception {
        String s = subject();
        HttpResponse<String> first = fresh().send(digest(s, include, "plain"), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, first.statusCode(), first.body());
        QuotaAccount charged = settled(s);
        assertTrue(charged.used() >= 18_500, include + ": digest charged " + charged.used() + " " + ledger(s));
        HttpResponse<String> second = secondCall(s);
        QuotaAccount a = settled(s);
        assertEquals(429, second.statusCode(), kind() + " (" + include + "): second call answered "
                + second.statusCode() + "; used " + a.used() + " of " + a.limit() + " " + ledger(s));
    }

    /**
     * A digest stream whose included summary fragment reported 18,500 tokens through the attribute; the feed
     * then saves the digest after {@code [DONE]} before it returns. The client has the whole digest at
     * {@code [DONE]} and sends its next call (~2,000) at once: the digest will be charged 18,500 past its
     * ~500 hold, so the next call must be refused, not served past the 20,000 allowance.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"/ai/summary", "/frag/summary"})
    void aDigestWhoseIncludedSummaryReportedItsTokensDoesNotLetTheNextCallPast(String include) throws Exception {
        String s = subject();
        HttpResponse<String> second = secondCallAtDone(s, digest(s, include, "stream-then-save"));
        QuotaAccount a = settled(s);
        assertEquals(429, second.statusCode(), kind() + " (" + include + "): a second call sent at the digest's"
                + " [DONE] answered " + second.statusCode() + "; model calls " + calls.of(s) + ", ledger used "
                + a.used() + " of " + a.limit() + " " + ledger(s));
        assertTrue(a.used() <= a.limit(), kind() + ": used " + a.used() + " of " + a.limit() + " " + ledger(s));
    }
}
