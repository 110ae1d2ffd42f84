package io.tokenquota.servlet.breakit374;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 374 of issue 11, items 2 and 3: a servlet async cycle ({@code AsyncContext.setTimeout}) whose model
 * call finished and whose whole answer, usage included, was written before the container's timeout fired.
 *
 * <p>The answer is OpenAI's "The chat completion object" (API reference, Chat Completions, Create chat
 * completion, response) with its {@code usage} ({@code prompt_tokens}, {@code completion_tokens},
 * {@code total_tokens}); streamed, the chunk objects of "The chat completion chunk object" with
 * {@code stream_options.include_usage}'s last chunk ({@code "choices": []} and the usage), then
 * {@code data: [DONE]}.
 */
abstract class AbstractRound374 extends ModelCallRound {
    static final long PROMPT = 1_200;
    static final long COMPLETION = 3_800;
    static final long TOTAL = PROMPT + COMPLETION;
    static final String REQUEST = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Write a story about a lighthouse keeper.\"}]}";
    static final String STREAM_REQUEST = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":"
            + "{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Write a story about a lighthouse keeper.\"}]}";
    static final String WORDS = "The lighthouse keeper lit the lamp at dusk and watched the ships. ";

    @Override
    protected Deployment deploy(QuotaFilter quota) {
        return filteredAi(quota)
                .servlet("written", new WrittenThenTimedOut(), "/ai/written/*");
    }

    static String completion() {
        return "{\"id\":\"chatcmpl-374\",\"object\":\"chat.completion\",\"created\":1750000000,"
                + "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                + "\"content\":\"" + WORDS.repeat(40) + "\",\"refusal\":null},\"logprobs\":null,"
                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":"
                + COMPLETION + ",\"total_tokens\":" + TOTAL + "},\"system_fingerprint\":\"fp_374\"}";
    }

    static void chunks(OutputStream out) throws IOException {
        String head = "{\"id\":\"chatcmpl-374\",\"object\":\"chat.completion.chunk\",\"created\":1750000000,"
                + "\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_374\",";
        for (int i = 0; i < 20; i++) {
            EventStreams.write(out, "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{"
                    + (i == 0 ? "\"role\":\"assistant\"," : "") + "\"content\":\"" + WORDS
                    + "\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
        }
        EventStreams.write(out, "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                + "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n");
        EventStreams.write(out, "data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + PROMPT
                + ",\"completion_tokens\":" + COMPLETION + ",\"total_tokens\":" + TOTAL + "}}\n\n");
        EventStreams.write(out, "data: [DONE]\n\n");
    }

    /**
     * A handler whose model call runs on a worker (a {@code CompletableFuture}, as a Spring {@code DeferredResult}'s
     * or {@code SseEmitter}'s producer does): the worker writes the whole answer and then either completes the
     * cycle ({@code mode=complete}, the control), or leaves it to the container's timeout, which fires after the
     * answer was written: with no listener of the application ({@code mode=container}: the container answers its
     * own timeout), or with the application's listener completing it on timeout ({@code mode=listener}, as
     * {@code SseEmitter.onTimeout(emitter::complete)} does). {@code flush=false}: the answer stays in the
     * response's buffer when the timeout fires.
     */
    class WrittenThenTimedOut extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            boolean stream = body.contains("\"stream\":true");
            String mode = req.getParameter("mode");
            boolean flush = !"false".equals(req.getParameter("flush"));
            String s = req.getHeader("x-user-id");
            AsyncContext ctx = req.startAsync();
            CountDownLatch timedOut = new CountDownLatch(1);
            ctx.addListener(new AsyncListener() {
                @Override
                public void onComplete(AsyncEvent event) {
                    // nothing to clean up
                }

                @Override
                public void onTimeout(AsyncEvent event) {
                    timedOut.countDown();
                    if ("listener".equals(mode)) {
                        event.getAsyncContext().complete();
                    }
                }

                @Override
                public void onError(AsyncEvent event) {
                    // the timeout decides
                }

                @Override
                public void onStartAsync(AsyncEvent event) {
                    // one cycle only
                }
            });
            // the answer is written long before this fires: the worker waits for nothing but the timeout
            ctx.setTimeout("complete".equals(mode) ? 30_000 : 1_000);
            java.util.concurrent.CompletableFuture.runAsync(() -> {
                try {
                    calls.count(s);
                    HttpServletResponse out = (HttpServletResponse) ctx.getResponse();
                    out.setStatus(200);
                    if (stream) {
                        out.setContentType("text/event-stream");
                        chunks(out.getOutputStream());
                    } else {
                        out.setContentType("application/json");
                        out.setBufferSize(Math.max(out.getBufferSize(), 64 * 1024));
                        out.getOutputStream().write(completion().getBytes(StandardCharsets.UTF_8));
                    }
                    if (flush) {
                        out.flushBuffer();
                    }
                    if ("complete".equals(mode)) {
                        ctx.complete();
                    } else {
                        timedOut.await(20, TimeUnit.SECONDS);
                    }
                } catch (IOException | InterruptedException | RuntimeException e) {
                    // the cycle ended under the worker
                }
            });
        }
    }

    void assertChargedUsage(String s, String what) throws InterruptedException {
        QuotaAccount a = chargedAtLeast(s, 1);
        assertAll(() -> assertEquals(1, calls.of(s), "model calls"),
                () -> assertEquals(TOTAL, a.used(), kind() + ": " + what + ": the model answered with usage "
                        + TOTAL + " (" + PROMPT + " + " + COMPLETION + "), all of it written before the timeout; charged "
                        + a.used() + " of " + a.limit() + ": " + ledger(s)));
    }

    HttpResponse<String> call(String s, String query, String body) {
        return TestHttp.postJson(container.uri("/ai/written/v1/chat/completions?" + query), s, body);
    }

    /** Control: the worker completes the cycle after writing the answer. */
    @Test
    void anAnswerCompletedByTheWorkerIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        HttpResponse<String> r = call(s, "mode=complete", REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertChargedUsage(s, "completed by the worker");
    }

    /** Control: streamed, flushed, then the application's listener completes the cycle on its timeout. */
    @Test
    void aFlushedStreamCompletedOnTimeoutIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        call(s, "mode=listener", STREAM_REQUEST);
        assertChargedUsage(s, "streamed, completed by the application's timeout listener");
    }

    /** Streamed, flushed, the container answers its own timeout. */
    @Test
    void aFlushedStreamTheContainerTimesOutIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        try {
            call(s, "mode=container", STREAM_REQUEST);
        } catch (java.io.UncheckedIOException cut) {
            // Tomcat closes a committed stream's connection when its timeout's error cannot be answered
        }
        assertChargedUsage(s, "streamed, the container's own timeout");
    }

    /** JSON left in the buffer, the application's listener completes on timeout (what was written is sent). */
    @Test
    void aBufferedAnswerCompletedOnTimeoutIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        HttpResponse<String> r = call(s, "mode=listener&flush=false", REQUEST);
        assertChargedUsage(s, "buffered JSON (client got " + r.statusCode() + "), completed by the listener on timeout");
    }

    /** JSON left in the buffer, the container answers its own timeout (its error replaces the buffer). */
    @Test
    void aBufferedAnswerTheContainerTimesOutIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        HttpResponse<String> r = call(s, "mode=container&flush=false", REQUEST);
        assertChargedUsage(s, "buffered JSON (client got " + r.statusCode() + "), the container's own timeout");
    }
}
