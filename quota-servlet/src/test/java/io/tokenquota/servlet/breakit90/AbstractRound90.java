package io.tokenquota.servlet.breakit90;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static io.tokenquota.servlet.testing.TestHttp.fresh;
import static io.tokenquota.servlet.testing.TestHttp.readToDone;
import static io.tokenquota.servlet.testing.TestHttp.readUntil;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.SubjectGates;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Round 90 of issue 11: an endpoint that reports its call's actual tokens itself (the
 * {@code X-Quota-Actual-Tokens} response header or the {@code io.tokenquota.actualTokens} request
 * attribute, rule 1 of the settlement) rather than through usage in the answer, then streams the answer
 * to its {@code [DONE]} and saves the thread before it returns. The user's next call, sent at
 * {@code [DONE]}, must be reserved against what the finished call reported, as it is when the answer
 * itself carries the usage.
 */
abstract class AbstractRound90 extends ModelCallRound {
    /** The relay's work after the last event (saving the thread) waits here, by subject. */
    final SubjectGates after = new SubjectGates();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("model", new Model(), "/ai/*");
    }

    /** A chat model; {@code x-variant} says how it reports its tokens. */
    class Model extends CountedModel {
        @Override
        protected void answer(Call call) throws IOException {
            String s = call.subject();
            long prompt = call.prompt();
            long completion = call.completion();
            String variant = call.variant();
            HttpServletResponse resp = call.resp();
            if (variant.startsWith("stream")) {
                resp.setContentType("text/event-stream");
                boolean inAnswer = variant.equals("stream-usage");
                boolean running = variant.endsWith("-running");
                if (variant.startsWith("stream-header")) {
                    // the gateway knows the provider's bill and reports it in the documented header
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(prompt + completion));
                } else if (variant.startsWith("stream-attribute")) {
                    call.req().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, prompt + completion);
                }
                PrintWriter w = resp.getWriter();
                w.write(ChatCompletions.wordEvent("chatcmpl-90"));
                if (running) {
                    // an agent run: the gateway reported the tokens billed so far, the next step waits
                    w.flush();
                    after.pass(s);
                }
                if (inAnswer) {
                    w.write(ChatCompletions.usageEvent("chatcmpl-90", prompt, completion));
                }
                w.write(ChatCompletions.DONE);
                w.flush();
                if (!running) {
                    after.pass(s);
                }
                return;
            }
            call.answerWithLength("chatcmpl-90");
        }
    }

    static String chat(long maxTokens, boolean stream) {
        return "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"summarise the attached file\"}],"
                + (stream ? "\"stream\":true," : "") + "\"max_tokens\":" + maxTokens + "}";
    }

    HttpRequest request(String s, long maxTokens, long prompt, long completion, String variant) {
        return TestHttp.jsonPost(container.uri("/ai/chat/completions"), s, chat(maxTokens, variant.startsWith("stream")),
                "x-prompt", Long.toString(prompt), "x-completion", Long.toString(completion), "x-variant", variant);
    }

    /** The first call (reported 19,500 of 20,000 its own way), then the next call at its [DONE]. */
    void nextCallAtDone(String variant) throws Exception {
        String s = subject();
        HttpResponse<String> second = after.whileShut(s, () -> {
            readToDone(fresh().send(request(s, 1_000, 18_500, 1_000, variant), HttpResponse.BodyHandlers.ofLines()));
            return fresh().send(request(s, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        });
        assertTheNextCallIsRefused(s, variant + ": the next call at [DONE]", second);
    }

    /**
     * The call {@code second}, sent by {@code s} with 19,500 of the 20,000 tokens owed, was refused, the model
     * called once (for the first call) and the user not charged past the allowance.
     */
    void assertTheNextCallIsRefused(String s, String what, HttpResponse<String> second) throws InterruptedException {
        QuotaAccount account = chargedAtLeast(s, 19_500);
        String figures = kind() + " " + what + " answered " + second.statusCode()
                + "; model calls " + calls.of(s) + "; used " + account.used() + " of " + account.limit() + " "
                + ledger(s);
        assertEquals(429, second.statusCode(), figures);
        assertEquals(1, calls.of(s), figures);
        assertTrue(account.used() <= account.limit(), figures);
    }

    /**
     * A next call refused for what the finished call still owes does not spend its {@code Idempotency-Key}:
     * once the first call has settled and the user's plan was raised, the same request with the same key is
     * served (not 409 for a key "already used" by the refusal).
     */
    @Test
    void aCallRefusedForWhatAFinishedCallOwesKeepsItsIdempotencyKey() throws Exception {
        String s = subject();
        HttpRequest next = TestHttp.jsonPost(container.uri("/ai/chat/completions"), s, chat(1_000, false),
                "x-prompt", "500", "x-completion", "500", "x-variant", "plain", "Idempotency-Key", "k-" + s);
        HttpResponse<String> refused = after.whileShut(s, () -> {
            readToDone(fresh().send(request(s, 1_000, 18_500, 1_000, "stream-usage"), HttpResponse.BodyHandlers.ofLines()));
            return fresh().send(next, HttpResponse.BodyHandlers.ofString());
        });
        assertEquals(429, refused.statusCode(), refused.body());
        chargedAtLeast(s, 19_500);
        store.setPlan(s, 40_000);
        HttpResponse<String> again = fresh().send(next, HttpResponse.BodyHandlers.ofString());
        QuotaAccount account = chargedAtLeast(s, 20_500);
        assertEquals(200, again.statusCode(), kind() + ": the same request with the same key, once there was room,"
                + " answered " + again.statusCode() + " " + again.body() + "; " + ledger(s));
        assertEquals(20_500, account.used(), ledger(s));
    }

    /**
     * Control: the stream's own usage chunk reports 19,500 of 20,000 tokens before {@code [DONE]}; the
     * relay saves the thread; the next call at {@code [DONE]} is refused.
     */
    @Test
    void controlUsageInTheStreamRefusesTheNextCall() throws Exception {
        nextCallAtDone("stream-usage");
    }

    /**
     * The gateway reports the call's 19,500 tokens in the {@code X-Quota-Actual-Tokens} header it set
     * before the first event (the answer carries no usage: the client did not ask for it), streams to
     * {@code [DONE]}, then saves the thread. The user's next call at {@code [DONE]} (about 1,000 held,
     * 1,000 used) must be refused: served, the user is charged past the 20,000 allowance.
     */
    @Test
    void aCallReportedThroughTheHeaderIsSeenByTheNextCallAtDone() throws Exception {
        nextCallAtDone("stream-header");
    }

    /**
     * As above, the 19,500 tokens reported through the {@code io.tokenquota.actualTokens} request
     * attribute, set before the first event.
     */
    @Test
    void aCallReportedThroughTheAttributeIsSeenByTheNextCallAtDone() throws Exception {
        nextCallAtDone("stream-attribute");
    }

    /** The running call (reported 19,500 of 20,000 its own way, still streaming), then a call beside it. */
    void callBesideRunning(String variant) throws Exception {
        String s = subject();
        HttpResponse<String> second = after.whileShut(s, () -> {
            HttpResponse<Stream<String>> stream = fresh().sendAsync(request(s, 1_000, 18_500, 1_000, variant),
                    HttpResponse.BodyHandlers.ofLines()).get(10, TimeUnit.SECONDS);
            readUntil(stream, line -> line.contains("word"), "the stream ended without its first event");
            return fresh().send(request(s, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        });
        assertTheNextCallIsRefused(s, variant + ": the call beside the running stream", second);
    }

    /**
     * An agent run's gateway has already reported 19,500 tokens in the {@code X-Quota-Actual-Tokens}
     * header of its still running stream (its first event is out, the next step waits). A call of the
     * same user beside it (about 1,000 held, 1,000 used) must be refused; served, the user is charged past
     * the 20,000 allowance.
     */
    @Test
    void aRunningCallReportedThroughTheHeaderIsSeenByACallBesideIt() throws Exception {
        callBesideRunning("stream-header-running");
    }

    /** As above, the 19,500 tokens reported through the {@code io.tokenquota.actualTokens} attribute. */
    @Test
    void aRunningCallReportedThroughTheAttributeIsSeenByACallBesideIt() throws Exception {
        callBesideRunning("stream-attribute-running");
    }
}
