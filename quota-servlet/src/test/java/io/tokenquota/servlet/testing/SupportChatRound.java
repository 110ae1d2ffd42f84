package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import java.util.function.LongFunction;

/**
 * A round on a support chat, the most common shape of an AI endpoint (break-it rounds 328, 331, 339): its client
 * posts only its question ({@link #QUESTION}, about 20 tokens); the handler puts its own system message in front of
 * it (so OpenAI reports a prompt the client never sent: the round's {@code prompt}), calls OpenAI with
 * {@code stream: true} and {@code stream_options.include_usage} (Chat Completions, {@link #chat()}) or the Responses
 * API ({@link #responses()}), and relays each event as it comes. A client that stops ({@link #stopped}) hangs up
 * after {@link #READ} tokens, at a comment {@link #MARK}; the model writes on until the relay's next write fails,
 * and the relay then stops, cancelling its provider call: the usage, which OpenAI sends last, never comes.
 *
 * <p>Shapes: OpenAI API reference, "The chat completion chunk object" (first chunk {@code delta.role}, content
 * deltas, a chunk with {@code finish_reason}, then with {@code include_usage} a last chunk with {@code "choices":
 * []} and {@code usage}, then {@code data: [DONE]}), and "Streaming events" of the Responses API
 * ({@code response.created} with {@code "usage": null}, {@code response.output_text.delta},
 * {@code response.completed} with the usage).
 */
public abstract class SupportChatRound extends ModelCallRound {
    /** The answer the client reads before it stops: 100 deltas of ten one-token words. */
    protected static final int DELTAS = 100;
    protected static final long READ = DELTAS * 10L;
    protected static final String TEN_WORDS = " word word word word word word word word word word";
    /** The comment the relay writes once the client has read {@link #READ} tokens, for the client to hang up at. */
    protected static final String MARK = "END-OF-TEXT";
    protected static final String QUESTION = "{\"question\":\"How do I reset the router to its factory settings?\"}";
    /** The deltas the model writes on after the client stopped, until the relay's write fails. */
    private static final long MORE = 2_000;

    /** Per subject: counted down once its client has hung up. */
    private final Map<String, CountDownLatch> hungUp = new ConcurrentHashMap<>();
    /** Per subject: whether the relay's write failed (it noticed the hang-up) rather than reaching the usage. */
    protected final Map<String, Boolean> writeFailed = new ConcurrentHashMap<>();

    private final String round;
    private final long prompt;
    private final boolean nullUsageOnDeltas;
    private final String head;

    /**
     * A support chat whose OpenAI calls report {@code prompt} tokens of input; {@code round} names its ids
     * ({@code chatcmpl-}, {@code fp_}, {@code msg_}, {@code resp_}); Chat Completions content deltas carry
     * {@code "usage": null} when {@code nullUsageOnDeltas}.
     */
    protected SupportChatRound(String round, long prompt, boolean nullUsageOnDeltas) {
        this.round = round;
        this.prompt = prompt;
        this.nullUsageOnDeltas = nullUsageOnDeltas;
        this.head = "{\"id\":\"chatcmpl-" + round + "\",\"object\":\"chat.completion.chunk\",\"created\":1750000000,"
                + "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_" + round + "\",";
    }

    /** What OpenAI reports as the prompt of {@code s}'s calls: the round's {@code prompt}, unless a round says otherwise. */
    protected long prompt(String s) {
        return prompt;
    }

    /** The support chat on OpenAI's Chat Completions stream. */
    protected HttpServlet chat() {
        return new SupportChat(false);
    }

    /** The support chat on the Responses API's stream. */
    protected HttpServlet responses() {
        return new SupportChat(true);
    }

    private final class SupportChat extends HttpServlet {
        private final boolean responses;

        SupportChat(boolean responses) {
            this.responses = responses;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            EventStreams.write(out, responses ? created() : first());
            for (int i = 0; i < DELTAS; i++) {
                EventStreams.write(out, delta(i + 1));
            }
            relayTheRest(s, out, n -> delta(DELTAS + n + 1), completion -> responses ? completed(prompt(s), completion)
                    : last(prompt(s), completion));
        }

        private String delta(int n) {
            if (responses) {
                return "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
                        + "\"sequence_number\":" + (n + 1) + ",\"item_id\":\"msg_" + round + "\",\"output_index\":0,"
                        + "\"content_index\":0,\"delta\":\"" + TEN_WORDS + "\",\"logprobs\":[]}\n\n";
            }
            return "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + TEN_WORDS + "\"},"
                    + "\"logprobs\":null,\"finish_reason\":null}]" + (nullUsageOnDeltas ? ",\"usage\":null" : "") + "}\n\n";
        }
    }

    /**
     * The rest of a relay that has written its client's first {@link #DELTAS} deltas to {@code out}: if {@code s}'s
     * client is to stop ({@link #stopped}), the comment {@link #MARK}, the wait for its hang-up, then {@code MORE}
     * more deltas ({@code delta} of 0, 1, …); then the last events ({@code last} of the completion tokens); records in
     * {@link #writeFailed} whether a write failed.
     */
    protected final void relayTheRest(String s, OutputStream out, IntFunction<String> delta, LongFunction<String> last)
            throws IOException {
        CountDownLatch gone = hungUp.get(s);
        long more = 0;
        if (gone != null) {
            EventStreams.write(out, ": " + MARK + "\n\n");
            try {
                gone.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            more = MORE;
        }
        try {
            // the model writes on (more words, each relayed as it comes), then its last events; past the
            // hang-up the relay's next writes fail (the container's buffer fills, or its flush meets the
            // closed connection)
            for (int i = 0; i < more; i++) {
                EventStreams.write(out, delta.apply(i));
            }
            EventStreams.write(out, last.apply(READ + more * 10));
            writeFailed.put(s, false);
        } catch (IOException e) {
            // the client is gone: the relay stops, cancelling the provider's call
            writeFailed.put(s, true);
        }
    }

    private String first() {
        return "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                + "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n";
    }

    private String last(long prompt, long completion) {
        return "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                + "\"usage\":null}\n\n"
                + "data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":"
                + completion + ",\"total_tokens\":" + (prompt + completion) + ",\"prompt_tokens_details\":"
                + "{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,"
                + "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n"
                + "data: [DONE]\n\n";
    }

    private String response(String status, String usage) {
        return "{\"id\":\"resp_" + round + "\",\"object\":\"response\",\"created_at\":1750000000,\"status\":\"" + status
                + "\",\"model\":\"gpt-4.1-mini-2025-04-14\",\"output\":[],\"usage\":" + usage + "}";
    }

    private String created() {
        return "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                + response("in_progress", "null") + "}\n\n";
    }

    private String completed(long input, long output) {
        return "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":99999,"
                + "\"response\":" + response("completed", "{\"input_tokens\":" + input + ",\"input_tokens_details\":"
                + "{\"cached_tokens\":0},\"output_tokens\":" + output + ",\"output_tokens_details\":"
                + "{\"reasoning_tokens\":0},\"total_tokens\":" + (input + output) + "}") + "}\n\n";
    }

    /**
     * {@code body} posted to {@code path} and read to its end (a Responses stream, on a path naming "responses", to
     * its {@code response.completed}; else to {@code [DONE]}): 200; what {@code s} was charged for it.
     */
    protected long readToItsEnd(String s, String path, String body) {
        long before = settled(s).used();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains(path.contains("responses") ? "response.completed" : "[DONE]"), "read to its end");
        return settled(s).used() - before;
    }

    /** {@code body} posted to {@code path}, its answer stopped after {@link #READ} tokens: what {@code s} was charged for it. */
    protected long stopped(String s, String path, String body) throws IOException {
        long before = settled(s).used();
        CountDownLatch gone = new CountDownLatch(1);
        hungUp.put(s, gone);
        try {
            String read = TestHttp.postAndHangUpAfter(container.port(), path, s, body, MARK);
            assertTrue(read.startsWith("HTTP/1.1 200") && read.contains(MARK), read.lines().findFirst().orElse(""));
        } finally {
            gone.countDown();
        }
        long used = settled(s).used() - before;
        hungUp.remove(s);
        return used;
    }
}
