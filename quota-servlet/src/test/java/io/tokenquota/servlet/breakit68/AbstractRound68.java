package io.tokenquota.servlet.breakit68;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 68 of issue 11: plain servlets that relay a provider's answer the way real relays are written,
 * behind the filter and, as a control, on an unprotected path of the same container. The filter must
 * change nothing the endpoint can observe of its own response: a relay that learns of a client's
 * hang-up from its writer, or writes the answer with {@code ServletOutputStream.print}, must behave
 * as it does without the filter, and be charged what its model call cost.
 */
abstract class AbstractRound68 extends H2FilterRound {
    /** Model calls per subject. */
    static final ModelCalls CALLS = new ModelCalls();
    /** Counted down by the test once its client has hung up. */
    static final HangUps HUNG_UP = new HangUps();
    /** The chunk at which a relay saw its client gone (and cancelled the upstream call), per subject. */
    static final Map<String, Integer> CANCELLED_AT = new ConcurrentHashMap<>();
    /** Chunks the upstream model wrote before the relay finished, per subject. */
    static final Map<String, Integer> CHUNKS = new ConcurrentHashMap<>();

    /** What the stream's model call costs when it is let run to its end (the provider's final usage). */
    static final long FULL_STREAM_TOKENS = 15_000;
    /** Chunks of the full answer. */
    static final int STREAM_CHUNKS = 400;
    /** The usage of the JSON answer written with print(String). */
    static final long PRINTED_TOKENS = 3_000;

    static String subject() {
        return "u68-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .withControl("relay", Relay::new, "v1");
    }

    /**
     * A plain servlet relaying an OpenAI-compatible upstream (vLLM, Ollama's /v1, a provider).
     * <ul>
     *   <li>{@code /stream}: relays the upstream's chat stream through {@code getWriter()}, flushing each
     *   chunk, and cancels the upstream call as soon as {@link PrintWriter#checkError()} says the client
     *   is gone (the writer swallows I/O errors; {@code checkError()} is how a writer-based SSE servlet
     *   learns of a hang-up, and what stops the model writing for nobody when a user presses "stop").</li>
     *   <li>{@code /print}: writes the upstream's JSON answer with {@code getOutputStream().print(String)},
     *   which Jetty encodes in the response's charset.</li>
     * </ul>
     */
    public static class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            CALLS.count(user);
            switch (path) {
                case "/stream" -> stream(user, resp);
                case "/print" -> print(resp);
                default -> resp.sendError(404);
            }
        }

        private static void stream(String user, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream;charset=UTF-8");
            PrintWriter out = resp.getWriter();
            out.write("data: {\"id\":\"c68\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                    + "\"delta\":{\"role\":\"assistant\",\"content\":\"Once\"}}]}\n\n");
            out.flush();
            HUNG_UP.await(user);
            String words = " upon a time there was a model that wrote a very long story about everything".repeat(12);
            for (int i = 1; i <= STREAM_CHUNKS; i++) {
                // the next chunk the upstream model wrote
                CHUNKS.merge(user, 1, Integer::sum);
                out.write("data: {\"id\":\"c68\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                        + "\"delta\":{\"content\":\"" + words + "\"}}]}\n\n");
                out.flush();
                if (out.checkError()) {
                    // the user is gone: cancel the upstream call (the provider bills what was generated so
                    // far and reports no usage for a cancelled stream)
                    CANCELLED_AT.put(user, i);
                    return;
                }
            }
            out.write("data: {\"id\":\"c68\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{"
                    + "\"prompt_tokens\":40,\"completion_tokens\":" + (FULL_STREAM_TOKENS - 40) + ",\"total_tokens\":"
                    + FULL_STREAM_TOKENS + "}}\n\ndata: [DONE]\n\n");
            out.flush();
        }

        private static void print(HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json;charset=UTF-8");
            // what models write in any English answer: an em dash and a typographic apostrophe
            resp.getOutputStream().print("{\"id\":\"chatcmpl-68\",\"object\":\"chat.completion\",\"model\":\"gpt-4.1\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Here\u2019s the"
                    + " summary \u2014 revenue grew, costs fell.\"},\"finish_reason\":\"stop\"}],\"usage\":{"
                    + "\"prompt_tokens\":1000,\"completion_tokens\":" + (PRINTED_TOKENS - 1_000) + ",\"total_tokens\":"
                    + PRINTED_TOKENS + "}}");
        }
    }

    private static final String CHAT = "{\"model\":\"gpt-4.1\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a long story.\"}]}";

    /** A user who reads the first words of a streamed answer, then presses "stop" (the connection is reset). */
    private String streamAndStop(String path, String user) throws IOException {
        HUNG_UP.expect(user);
        try {
            return TestHttp.postAndHangUpAfter(container.port(), path, user, CHAT, "Once");
        } finally {
            HUNG_UP.happened(user);
        }
    }

    private static boolean awaitFinished(String user) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            Integer chunks = CHUNKS.get(user);
            if (CANCELLED_AT.containsKey(user) || (chunks != null && chunks >= STREAM_CHUNKS)) {
                return true;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
        return false;
    }

    /**
     * Control (held on both containers): without the filter, the relay's writer reports the hang-up
     * within a few chunks and the relay cancels its upstream call.
     */
    @Test
    void controlAnUnprotectedWriterRelaySeesItsClientHangUp() throws IOException {
        String user = subject();
        String read = streamAndStop("/open/v1/stream", user);
        assertTrue(read.contains("Once"), read);
        assertTrue(awaitFinished(user), "the relay never finished");
        assertTrue(CANCELLED_AT.containsKey(user), kind() + ": the unprotected relay wrote all " + CHUNKS.get(user)
                + " chunks to a client that had hung up");
    }

    /**
     * Break: behind the filter, {@code getWriter()} returns the filter's own {@code PrintWriter} around a
     * writer that never throws, so {@code checkError()} is always false. A relay that stops its upstream
     * call when the user presses "stop" never learns of it: the model writes the whole answer for nobody,
     * and the user who stopped after one word is charged all of it (15,000 tokens on a 20,000 allowance)
     * rather than the estimate a stream cut before its usage costs (rule 5).
     */
    @Test
    void aUserWhoStopsAWriterRelayedStreamIsNotChargedTheWholeAnswer() throws IOException {
        String user = subject();
        String read = streamAndStop("/ai/v1/stream", user);
        assertTrue(read.contains("Once"), read);
        assertTrue(awaitFinished(user), "the relay never finished");
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertTrue(CANCELLED_AT.containsKey(user), kind() + ": behind the filter the relay's checkError() never"
                + " reported the hang-up; it wrote all " + CHUNKS.get(user) + " chunks of the model's answer for nobody,"
                + " charged " + account.used() + " " + ledger(user));
        assertTrue(account.used() < FULL_STREAM_TOKENS, kind() + ": a user who stopped after the first word was charged "
                + account.used() + ", the whole answer the relay could not cancel " + ledger(user));
    }

    /**
     * Break (Jetty): Jetty's {@code ServletOutputStream.print(String)} encodes in the response's
     * charset, but behind the filter the servlet got the filter's stream, which inherited the servlet
     * API's ISO-8859-1-only {@code print}: an answer with an em dash threw {@code CharConversionException}
     * after the model answered, the client got 500, and the hold was released: the model call was free.
     * The servlet must behave behind the filter as it does without it: on Tomcat, whose own
     * {@code print(String)} takes ISO-8859-1 only, it fails the same way in both places.
     */
    @Test
    void aJsonAnswerWrittenWithPrintIsDeliveredAndChargedItsUsage() {
        String control = subject();
        HttpResponse<String> open = TestHttp.postJson(container.uri("/open/v1/print"), control, CHAT);

        String user = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/print"), user, CHAT);
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertEquals(open.statusCode(), r.statusCode(), kind() + ": the servlet answered " + open.statusCode()
                + " without the filter and " + r.statusCode() + " behind it: " + r.body() + "; charged "
                + account.used() + " " + ledger(user));
        if (open.statusCode() == 200) {
            assertTrue(open.body().contains("\u2014"), open.body());
            assertTrue(r.body().contains("\u2014"), r.body());
            assertEquals(PRINTED_TOKENS, account.used(), ledger(user));
        }
    }
}
