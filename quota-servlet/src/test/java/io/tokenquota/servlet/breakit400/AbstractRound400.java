package io.tokenquota.servlet.breakit400;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 400 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): servlet
 * non-blocking output ({@code ServletOutputStream.setWriteListener}, Jakarta Servlet 6.0 section 3.7 "Non Blocking
 * IO") to a client that stops reading, then hangs up.
 *
 * <p>The application is a relay written as Jetty's {@code AsyncProxyServlet} (jetty-ee10-proxy,
 * {@code AsyncProxyServlet.StreamWriter}) relays its upstream's answer: the request is put in async mode with no
 * timeout of the container's ({@code ProxyServlet.service}: {@code asyncContext.setTimeout(0)}), each content chunk
 * the upstream delivered is written from {@code onWritePossible} while {@code isReady()}, the relay waits for the
 * next {@code onWritePossible} when the client's window is full, and {@code onError} (the container's report that
 * the write to the client failed) ends the exchange and completes the async cycle.
 *
 * <p>The upstream is OpenAI's Chat Completions endpoint, not streamed: "The chat completion object" of OpenAI's API
 * reference, {@code choices} first and {@code usage} last, a whole document the provider sends only once the model
 * finished (and billed it). The answer is a long story (120,000 characters, 26,500 completion tokens, within
 * gpt-4.1's 32,768-token output limit) for a 1,200-token prompt.
 *
 * <p>The client is the OpenAI SDK's kind (round 336): it waits for the whole document, reads nothing until then from
 * a small receive window here, and its own timeout closes the connection (a socket closed with unread data is reset).
 */
abstract class AbstractRound400 extends ModelCallRound {
    static final long IN = 1_200;
    static final long OUT = 26_500;
    static final long CALL = IN + OUT;
    static final String STORY = Prose.english(120_000);
    static final String PATH = "/ai/relay/v1/chat/completions";
    /** The client's request: OpenAI's "Create chat completion" body, not streamed, no {@code max_tokens}. */
    static final String ASK = "{\"model\":\"gpt-4.1\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write me a long story about a lighthouse keeper.\"}]}";
    /** Size of the upstream's content chunks as the relay receives them. */
    static final int CHUNK = 4_096;

    /** Per subject: counted down when the relay's write is pending (the client's window full). */
    final Map<String, CountDownLatch> blocked = new ConcurrentHashMap<>();
    /** Per subject: counted down when the relay ended its exchange (completed, or its onError). */
    final Map<String, CountDownLatch> ended = new ConcurrentHashMap<>();
    /** Per subject: bytes the relay had written when its write first became pending. */
    final Map<String, Long> writtenAtBlock = new ConcurrentHashMap<>();
    /** Per subject: what the container reported to the relay's {@code onError}. */
    final Map<String, String> errors = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("relay", new NonBlockingRelay(), "/ai/relay/*");
    }

    /** The model's answer, as the upstream sent it: the chat completion object, usage last. */
    static byte[] answer() {
        return ChatCompletions.completion("chatcmpl-400story", "gpt-4.1-2025-04-14", STORY, IN, OUT)
                .getBytes(StandardCharsets.UTF_8);
    }

    /** Prompt and completion tokens of the answer with log probabilities. */
    static final long LP_IN = 1_200;
    static final long LP_OUT = 8_800;
    static final String LOGPROBS_PATH = "/ai/relay/logprobs/v1/chat/completions";
    /** The request asking for log probabilities: "Create chat completion", {@code logprobs} and {@code top_logprobs}. */
    static final String ASK_LOGPROBS = "{\"model\":\"gpt-4.1\",\"logprobs\":true,\"top_logprobs\":5,\"messages\":[{\"role\":"
            + "\"user\",\"content\":\"Write me a long story about a lighthouse keeper.\"}]}";
    static final byte[] LOGPROBS_ANSWER = ChatCompletions.withLogprobs("chatcmpl-400logprobs", LP_IN, LP_OUT);

    /** The relay: the upstream's answer (its model call made) written chunk by chunk through a {@code WriteListener}. */
    final class NonBlockingRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            byte[] doc = req.getRequestURI().contains("/logprobs/") ? LOGPROBS_ANSWER : answer();
            Deque<byte[]> chunks = new ArrayDeque<>();
            for (int i = 0; i < doc.length; i += CHUNK) {
                chunks.add(Arrays.copyOfRange(doc, i, Math.min(doc.length, i + CHUNK)));
            }
            AsyncContext ac = req.startAsync();
            ac.setTimeout(0);
            resp.setStatus(200);
            resp.setContentType("application/json");
            ServletOutputStream out = resp.getOutputStream();
            AtomicLong written = new AtomicLong();
            out.setWriteListener(new WriteListener() {
                @Override
                public void onWritePossible() throws IOException {
                    while (out.isReady()) {
                        byte[] next = chunks.poll();
                        if (next == null) {
                            ac.complete();
                            end(s);
                            return;
                        }
                        out.write(next);
                        written.addAndGet(next.length);
                    }
                    // the client's window is full: wait for the next onWritePossible
                    writtenAtBlock.putIfAbsent(s, written.get());
                    CountDownLatch b = blocked.get(s); // (also counted down at the end: see end)
                    if (b != null) {
                        b.countDown();
                    }
                }

                @Override
                public void onError(Throwable t) {
                    errors.put(s, String.valueOf(t));
                    ac.complete();
                    end(s);
                }
            });
        }
    }

    void end(String s) {
        // an answer the container took whole never made the relay wait: the client's hang-up comes after it
        CountDownLatch b = blocked.get(s);
        if (b != null) {
            b.countDown();
        }
        CountDownLatch e = ended.get(s);
        if (e != null) {
            e.countDown();
        }
    }

    /**
     * The SDK's kind of client: posts the request on a connection whose receive window is small, reads nothing
     * while it waits for the whole document, and once the relay's write is pending (its window full), its timeout
     * closes the connection with the answer unread (the kernel resets it).
     */
    void postStopReadingAndHangUp(String s, String path, String ask) throws Exception {
        blocked.put(s, new CountDownLatch(1));
        ended.put(s, new CountDownLatch(1));
        byte[] body = ask.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket()) {
            socket.setReceiveBufferSize(4_096);
            socket.connect(new InetSocketAddress("127.0.0.1", container.port()));
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Accept: application/json\r\nx-user-id: " + s + "\r\nContent-Length: " + body.length
                    + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            assertTrue(blocked.get(s).await(15, TimeUnit.SECONDS), kind() + ": the relay's write never became pending, nor ended");
            socket.setSoLinger(true, 0);
        }
        assertTrue(ended.get(s).await(15, TimeUnit.SECONDS), kind() + ": the relay's exchange never ended");
    }

    // ------------------------------------------------------------------ findings

    /**
     * Found and fixed: a relay that writes the model's finished answer (one JSON document, usage last) through a
     * {@code WriteListener} to a client that stopped reading, then hung up (the OpenAI SDK's timeout), is charged
     * the text it carried, not its usage. Round 336 decided the blocking form of this very case (docs/decisions.md,
     * "One JSON document is written to its end after the client hung up"; docs/servlet.md): while the answer is one
     * JSON document, a write that fails because the client went away is dropped, the reader reads on, and the
     * endpoint writes its document to the end and its usage is charged (rule 2). In non-blocking mode the failure
     * never reaches the filter's stream as a thrown write: the container reports it to the endpoint's own
     * {@code WriteListener.onError} (the filter passes the listener through), so the relay stops and the usage the
     * upstream billed is never read.
     */
    @Test
    void aFinishedAnswerWrittenWithoutBlockingToAClientThatStoppedReadingThenLeftIsChargedItsUsage() throws Exception {
        String s = subject();
        postStopReadingAndHangUp(s, PATH, ASK);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(1, calls.of(s), "model calls"),
                () -> assertEquals(CALL, a.used(), kind() + ": the upstream's model finished its answer (usage " + IN
                        + " + " + OUT + ", billed) and the relay wrote it without blocking; " + writtenAtBlock.get(s)
                        + " of its " + answer().length + " bytes went out (null: all) before the client's window was full, then the"
                        + " client's timeout closed the connection (onError: " + errors.get(s) + "); charged "
                        + a.used() + " of " + a.limit() + ": " + ledger(s)));
    }

    /**
     * Found and fixed: the same with a chat completion asking for log probabilities ({@code top_logprobs: 5}), some 3 MB, its
     * usage last: more than any socket buffer takes, so the relay waits on Jetty too. The client stopped reading, then
     * its timeout closed the connection: charged its hold, not the 10,000 tokens billed.
     */
    @Test
    void aFinishedAnswerWithLogprobsWrittenWithoutBlockingToAClientThatLeftIsChargedItsUsage() throws Exception {
        String s = subject();
        postStopReadingAndHangUp(s, LOGPROBS_PATH, ASK_LOGPROBS);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(1, calls.of(s), "model calls"),
                () -> assertEquals(LP_IN + LP_OUT, a.used(), kind() + ": the upstream's model finished its answer (usage "
                        + LP_IN + " + " + LP_OUT + ", billed) and the relay wrote it without blocking; "
                        + writtenAtBlock.get(s) + " of its " + LOGPROBS_ANSWER.length + " bytes went out before the"
                        + " client's window was full, then the client's timeout closed the connection (onError: "
                        + errors.get(s) + "); charged " + a.used() + " of " + a.limit() + ": " + ledger(s)));
    }

    // ------------------------------------------------------------------ controls

    /** Control: the answer with log probabilities, read to its end: charged the usage. */
    @Test
    void controlTheAnswerWithLogprobsReadToItsEndIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(LOGPROBS_PATH), s, ASK_LOGPROBS);
        assertEquals(LOGPROBS_ANSWER.length, r.body().getBytes(StandardCharsets.UTF_8).length, "the whole document");
        assertServedOnceAndCharged(s, r, LP_IN + LP_OUT);
    }

    /** Control: the same relay, its client reading the answer to its end: charged the usage. */
    @Test
    void controlTheSameAnswerReadToItsEndIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(PATH), s, ASK);
        assertEquals(answer().length, r.body().getBytes(StandardCharsets.UTF_8).length, "the whole document");
        assertServedOnceAndCharged(s, r, CALL);
    }
}
