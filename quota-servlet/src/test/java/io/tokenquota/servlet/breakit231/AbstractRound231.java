package io.tokenquota.servlet.breakit231;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.AsyncTimeouts;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 231 of issue 11: a retrieval-augmented chat endpoint relaying Anthropic's Messages stream. The
 * client posts only its question ({@code {"question": …}}, about 20 tokens); the application adds the
 * retrieved documents (6,000 tokens of input the client never sends) and relays every event of the
 * provider's stream as it comes. Anthropic's {@code message_start} counts that input exactly
 * ({@code input_tokens: 6000}) and the output as 1; the final {@code message_delta} brings the output.
 *
 * <p>The client reads the answer (4,000 tokens of text) and stops before the {@code message_delta}: the
 * user's "Stop generating" (the relay's next write fails and it cancels the upstream call), or an
 * {@code SseEmitter} whose timeout fires before the model's last event. The model read 6,000 tokens and
 * wrote 4,000 that the client received: at least 10,000 tokens. The rule (docs/servlet.md, rule 2 and
 * "The estimate"): a provisional report is charged {@code max(usage, estimate)}, the estimate being "at
 * least its input plus the new text the answer's stream deltas carried" — hanging up after reading the
 * answer must not make its output free.
 */
abstract class AbstractRound231 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    final Map<String, CountDownLatch> hungUp = new ConcurrentHashMap<>();
    final Map<String, Boolean> writeFailed = new ConcurrentHashMap<>();

    static final int INPUT_TOKENS = 6_000;
    /** 400 deltas of ten one-token words. */
    static final int OUTPUT_TOKENS = 4_000;
    static final String QUESTION = "{\"question\":\"What does the contract say about termination for non-payment?\"}";

    static String subject() {
        return "u231-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static void event(OutputStream out, String name, String data) throws IOException {
        out.write(("event: " + name + "\ndata: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    static void start(OutputStream out, String usage) throws IOException {
        event(out, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_231\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":" + usage + "}}");
        event(out, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
                + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
    }

    static void delta(OutputStream out) throws IOException {
        event(out, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
                + "\"delta\":{\"type\":\"text_delta\",\"text\":\" word word word word word word word word word word\"}}");
    }

    static void text(OutputStream out, String usage) throws IOException {
        start(out, usage);
        for (int i = 0; i < OUTPUT_TOKENS / 10; i++) {
            delta(out);
        }
    }

    static void end(OutputStream out, int output) throws IOException {
        event(out, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
        event(out, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + output + "}}");
        event(out, "message_stop", "{\"type\":\"message_stop\"}");
    }

    static final String PLAIN_INPUT = "{\"input_tokens\":" + INPUT_TOKENS + ",\"cache_creation_input_tokens\":0,"
            + "\"cache_read_input_tokens\":0,\"output_tokens\":1}";
    /** The retrieved documents are a cached prefix (prompt caching): read from the cache. */
    static final String CACHED_INPUT = "{\"input_tokens\":20,\"cache_creation_input_tokens\":0,"
            + "\"cache_read_input_tokens\":" + INPUT_TOKENS + ",\"output_tokens\":1}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("rag", new RagRelay(), "/ai/rag/*")
                .servlet("ragAsync", new RagEmitter(), "/ai/rag-async/*")
                .onStartup(filter::registerByServletName);
    }

    /** Relays the provider's events as they come; stops (cancelling upstream) when its client is gone. */
    class RagRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            boolean cached = req.getPathInfo().endsWith("/cached");
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            text(out, cached ? CACHED_INPUT : PLAIN_INPUT);
            out.write(": END-OF-TEXT\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            CountDownLatch gone = hungUp.get(s);
            if (gone != null) {
                try {
                    gone.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try {
                // the model writes on (a few more words), each event flushed to the client as it comes
                for (int i = 0; i < 2_000; i++) {
                    delta(out);
                }
                end(out, OUTPUT_TOKENS + 20_000);
                writeFailed.put(s, false);
            } catch (IOException e) {
                writeFailed.put(s, true);
            }
        }
    }

    /**
     * An {@code SseEmitter} (timeout 1 s) fed by the provider's stream on a worker: the model's text comes,
     * then the model stalls before its last event, and the emitter's timeout ends the response.
     */
    class RagEmitter extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            boolean cached = req.getPathInfo().endsWith("/cached");
            resp.setContentType("text/event-stream");
            AsyncContext ctx = req.startAsync();
            AsyncTimeouts.completeOnTimeout(ctx, 1_000);
            ctx.start(() -> {
                try {
                    OutputStream out = ctx.getResponse().getOutputStream();
                    text(out, cached ? CACHED_INPUT : PLAIN_INPUT);
                    event(out, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
                } catch (IOException | RuntimeException e) {
                    // the client is gone or the cycle ended
                }
            });
        }
    }

    void assertChargedInputAndText(String s, String what) {
        long used = settled(s).used();
        assertEquals(1, calls.of(s), "one model call");
        assertTrue(used >= INPUT_TOKENS + OUTPUT_TOKENS, what + ": the model read " + INPUT_TOKENS
                + " input tokens (message_start) and the client received " + OUTPUT_TOKENS
                + " tokens of its text; charged " + used + ": " + ledger(s));
    }

    String hangUpAfterText(String path) throws IOException {
        String s = subject();
        CountDownLatch gone = new CountDownLatch(1);
        hungUp.put(s, gone);
        try {
            String read = TestHttp.postAndHangUpAfter(container.port(), path, s, QUESTION, "END-OF-TEXT");
            assertTrue(read.contains("END-OF-TEXT"), read);
        } finally {
            gone.countDown();
        }
        return s;
    }

    /** The attack: read the answer of a RAG relay, press "Stop" before the model's message_delta. */
    @Test
    void aRagStreamStoppedBeforeItsMessageDeltaPaysItsInputAndText() throws Exception {
        String s = hangUpAfterText("/ai/rag/messages");
        assertChargedInputAndText(s, "stopped before message_delta");
        assertEquals(Boolean.TRUE, writeFailed.get(s), "the relay noticed the hang-up");
    }

    /** The same with the retrieved documents read from Anthropic's prompt cache. */
    @Test
    void aCachedRagStreamStoppedBeforeItsMessageDeltaPaysItsInputAndText() throws Exception {
        String s = hangUpAfterText("/ai/rag/cached");
        assertChargedInputAndText(s, "cached input, stopped before message_delta");
    }

    /** The attack without a hostile client: the emitter's timeout fires before the model's last event. */
    @Test
    void aRagEmitterTimedOutBeforeItsMessageDeltaPaysItsInputAndText() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/rag-async/messages"), s, QUESTION);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("content_block_stop"), "the client got the whole answer");
        assertChargedInputAndText(s, "emitter timed out before message_delta");
    }

    /** Control: the same relay read to its end is charged its final usage (input and output). */
    @Test
    void theSameRagStreamReadToItsEndIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/rag/messages"), s, QUESTION);
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("message_stop"));
        long used = settled(s).used();
        assertTrue(used >= INPUT_TOKENS + OUTPUT_TOKENS + 20_000 - 1 || used >= ALLOWANCE,
                "charged " + used + ": " + ledger(s));
    }
}
