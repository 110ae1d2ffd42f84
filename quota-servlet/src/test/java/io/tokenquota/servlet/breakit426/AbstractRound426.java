package io.tokenquota.servlet.breakit426;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.AsyncTimeouts;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.DeferredResultRound;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 426 of issue 11: how the filter tells one call from another across dispatches, and two leftovers of
 * the async cycle.
 *
 * <p>Shapes: OpenAI Chat Completions (platform.openai.com/docs/api-reference/chat/create; "The chat completion
 * object" with its {@code usage}; the streamed "chat completion chunk" with {@code stream_options.include_usage},
 * ending {@code data: [DONE]}), written by {@link ChatCompletions}. The async endpoints are the servlet API's
 * (jakarta.servlet 6.0, {@code AsyncContext}): {@code setTimeout} ("the timeout applies to this AsyncContext once
 * the container-initiated dispatch during which one of the ServletRequest#startAsync methods was called has
 * returned to the container"), and when it fires with no listener calling {@code complete()} or
 * {@code dispatch()}, the container ends the cycle itself (section 2.3.3.3: "If none of the listeners called
 * AsyncContext.complete() or any of the AsyncContext.dispatch methods, then perform an error dispatch with a
 * status code equal to HttpServletResponse.SC_INTERNAL_SERVER_ERROR").
 */
abstract class AbstractRound426 extends DeferredResultRound {
    /** {@link #CHAT} streamed, asking for the usage chunk. */
    static final String STREAMED_CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the attached quarterly report in five bullet points.\"}],\"max_tokens\":1000,"
            + "\"stream\":true,\"stream_options\":{\"include_usage\":true}}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return withRunsAgain(filter)
                .servlet("never", new NeverEnds(false, false), "/ai/never/*")
                .servlet("ends", new NeverEnds(true, false), "/ai/ends/*")
                .servlet("neverStream", new NeverEnds(false, true), "/ai/never-stream/*")
                .servlet("endsStream", new NeverEnds(true, true), "/ai/ends-stream/*")
                .servlet("deferred", new DeferredAgain(), "/ai/again/*")
                .servlet("deferredOnce", new DeferredAgain(), "/ai/once/*");
    }

    // ---------------------------------------------------------------------------------------------------------
    // Leftover: an endpoint that never ends its cycle after the container's timeout, its usage already written
    // ---------------------------------------------------------------------------------------------------------

    /**
     * A worker that calls the model, writes its whole chat.completion (5,000 tokens) with its length, flushes it,
     * and never calls {@code complete()} (a forgotten {@code complete()} in a hand-written async servlet; an
     * {@code SseEmitter} whose {@code complete()} is never called). {@code ends}: the control, whose listener
     * completes the cycle on timeout ({@link AsyncTimeouts#completeOnTimeout}). {@code stream}: the same as a
     * stream, a word chunk, the usage chunk and [DONE] written and flushed, then no {@code complete()}.
     */
    class NeverEnds extends HttpServlet {
        private final boolean ends;
        private final boolean stream;

        NeverEnds(boolean ends, boolean stream) {
            this.ends = ends;
            this.stream = stream;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            AsyncContext ac = req.startAsync(req, resp);
            if (ends) {
                AsyncTimeouts.completeOnTimeout(ac, 500);
            } else {
                ac.setTimeout(500);
            }
            workers.submit(() -> {
                try {
                    calls.count(s);
                    if (stream) {
                        resp.setContentType("text/event-stream");
                        OutputStream out = resp.getOutputStream();
                        out.write((ChatCompletions.wordEvent("s426") + ChatCompletions.usageEvent("s426", 4000, 1000)
                                + ChatCompletions.DONE).getBytes(StandardCharsets.UTF_8));
                        out.flush();
                        noted(s).add("stream written and flushed; no complete()");
                    } else {
                        ChatCompletions.writeWithLength(resp, COMPLETION.getBytes(StandardCharsets.UTF_8));
                        resp.getOutputStream().flush();
                        noted(s).add("answer written and flushed; no complete()");
                    }
                } catch (Exception e) {
                    noted(s).add("worker failed " + e);
                } finally {
                    done(s).countDown();
                }
            });
        }
    }

    private QuotaAccount settledAfter(String s) throws InterruptedException {
        assertTrue(done(s).await(10, TimeUnit.SECONDS), "the worker never finished: " + noted(s));
        return chargedAtLeast(s, 1);
    }

    private void assertUsageCharged(String s, HttpResponse<String> r, String what) throws InterruptedException {
        assertUsageCharged(s, r.statusCode() + " " + r.body(), what);
    }

    /** The stream read over a raw connection to its end (Connection: close): the container may cut it unterminated. */
    private String readStream(String path, String s) throws IOException {
        return TestHttp.postAndHangUpAfter(container.port(), path, s, STREAMED_CHAT, "\u0000not in the answer");
    }

    private void assertUsageCharged(String s, String answer, String what) throws InterruptedException {
        QuotaAccount a = settledAfter(s);
        String figures = kind() + ": " + what + ": answer " + answer.replace("\r", "").replace("\n", "\\n")
                + "; model calls " + calls.of(s) + ", used " + a.used() + ", reserved " + a.reserved() + "; ledger "
                + ledger(s) + "; endpoint " + noted(s);
        assertAll(() -> assertEquals(1, calls.of(s), figures),
                () -> assertEquals(USAGE, a.used(), figures),
                () -> assertEquals(0, a.reserved(), figures));
    }

    /** Rule: usage seen is charged, also after a timeout. The whole completion went out before it fired. */
    @Test
    void completionWrittenThenTimeoutWithoutCompleteIsChargedItsUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/never/chat"), s, CHAT);
        assertUsageCharged(s, r, "a completion written and flushed, the cycle left to the container's timeout");
    }

    /** Control: the same, a listener completing the cycle on the timeout. */
    @Test
    void completionWrittenThenCompletedOnTimeoutIsChargedItsUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/ends/chat"), s, CHAT);
        assertUsageCharged(s, r, "a completion written and flushed, completed on timeout");
    }

    /** The same as a stream whose usage chunk and [DONE] went out before the timeout. */
    @Test
    void streamWrittenThenTimeoutWithoutCompleteIsChargedItsUsage() throws Exception {
        String s = subject();
        String r = readStream("/ai/never-stream/chat", s);
        assertUsageCharged(s, r, "a stream with its usage written and flushed, the cycle left to the container's timeout");
    }

    /** Control: the stream completed on timeout. */
    @Test
    void streamWrittenThenCompletedOnTimeoutIsChargedItsUsage() throws Exception {
        String s = subject();
        String r = readStream("/ai/ends-stream/chat", s);
        assertUsageCharged(s, r, "a stream with its usage written and flushed, completed on timeout");
    }

    // ---------------------------------------------------------------------------------------------------------
    // The request run again while its first pass's async cycle is live (round 338's deterministic shape)
    // ---------------------------------------------------------------------------------------------------------

    /**
     * A {@code DeferredResult}-style endpoint (Spring MVC's {@code WebAsyncManager}: the request thread starts the
     * cycle, a worker calls the model and {@code dispatch()}es; the ASYNC dispatch writes the result). Its pass run
     * again finds the request already processing (the attribute its first pass left, as Spring's
     * {@code WebAsyncManager} keeps its state in a request attribute and its {@code isConcurrentHandlingStarted})
     * and does nothing: it calls no model.
     */
    class DeferredAgain extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String s = req.getHeader("x-user-id");
            if (req.getDispatcherType() == DispatcherType.ASYNC) {
                noted(s).add("ASYNC dispatch writes the result");
                ChatCompletions.writeWithLength(resp, ((String) req.getAttribute(RESULT)).getBytes(StandardCharsets.UTF_8));
                done(s).countDown();
                return;
            }
            if (!firstPass(req)) {
                noted(s).add("pass run again: already processing, no model call");
                return;
            }
            startCall(req, resp, s, false);
        }
    }

    /**
     * The request passes the chain a second time (a REQUEST dispatch after its first pass returned with the cycle
     * started) and that pass calls no model; the first pass's cycle goes on and its ASYNC dispatch writes the one
     * model answer, 5,000. One model call: 5,000, nothing more.
     *
     * <p>Found and fixed (Jetty; Tomcat's chain cannot be run twice by a filter): charged 6,000. The pass run again is
     * held anew (the round-338 rule: mark met on a REQUEST dispatch without the passing attribute), returns with
     * the first pass's cycle still started, and is taken for a pass that started it ({@code asyncBefore} is only
     * computed for non-REQUEST dispatches in {@code QuotaFilter.filter}): its settlement joins the cycle and, having
     * seen nothing through its own wrapper under a 200, is charged its estimate (1,000) at the cycle's end, on top
     * of the first call's usage. Now a pass run again while the call is under way is part of it (round 428's
     * fix): it runs through the call's wrappers, and the call is charged once.
     */
    @Test
    void aPassRunAgainThatCallsNoModelWhileTheCycleLivesIsNotChargedOnTop() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/chat", 1, USAGE,
                "a pass run again that called no model, the first pass's DeferredResult answering");
    }

    /** Control: the same endpoint, the request run once. */
    @Test
    void theDeferredResultRunOnceIsChargedItsUsage() throws Exception {
        assertChatCharged("/ai/once/chat", 1, USAGE, "a DeferredResult run once");
    }
}
