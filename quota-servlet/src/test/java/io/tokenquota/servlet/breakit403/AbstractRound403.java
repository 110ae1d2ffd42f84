package io.tokenquota.servlet.breakit403;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
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
import org.junit.jupiter.api.Test;

/**
 * Round 403 of issue 11 ("no model call goes unpaid"): round 400's fix (a {@code WriteListener} relay whose client
 * left is given the {@code onWritePossible} it waits for, and writes its one JSON document on to its usage) when
 * the relay's upstream has not delivered the whole document yet at the moment the client leaves.
 *
 * <p>The relay is written as Jetty's {@code AsyncProxyServlet} relays (jetty-ee10-proxy,
 * {@code AsyncProxyServlet.StreamWriter}): async with no container timeout ({@code ProxyServlet.service}:
 * {@code asyncContext.setTimeout(0)}); the upstream's content chunks are queued as they arrive
 * ({@code StreamWriter.data}) and written from {@code onWritePossible} while {@code isReady()}; when the queue is
 * empty and the upstream's content has not ended the writer goes idle, and the next chunk that arrives calls
 * {@code onWritePossible} itself (the writer's IDLE state); at the upstream's end it completes the async cycle.
 * Its upstream's answer arrives as a network body does: in pieces, the last ones (with {@code usage}) after a while.
 * The relay registers an {@code AsyncListener} of its own that only observes (the servlet API's
 * {@code AsyncContext.addListener}), which tells the test when the container has reported the hang-up on the
 * async cycle; the test then lets the upstream's last pieces arrive. That is the order a slow upstream
 * (a 3 MB body over the network) makes: nothing in it is timed.
 *
 * <p>Shapes: OpenAI API reference, "The chat completion object" with {@code logprobs: true, top_logprobs: 5}
 * ({@code choices[].logprobs.content[]} of {@code token}, {@code logprob}, {@code bytes}, {@code top_logprobs[]}),
 * {@code usage} last, as round 400's answer; the request "Create chat completion" ({@code model}, {@code messages},
 * {@code logprobs}, {@code top_logprobs}).
 */
abstract class AbstractRound403 extends ModelCallRound {
    static final long LP_IN = 1_200;
    static final long LP_OUT = 8_800;
    static final String PATH = "/ai/relay/v1/chat/completions";
    static final String ASK = "{\"model\":\"gpt-4.1\",\"logprobs\":true,\"top_logprobs\":5,\"messages\":[{\"role\":"
            + "\"user\",\"content\":\"Write me a long story about a lighthouse keeper.\"}]}";
    static final byte[] ANSWER = ChatCompletions.withLogprobs("chatcmpl-403logprobs", LP_IN, LP_OUT);
    /** The upstream's last bytes (its {@code usage} among them), which arrive after a while. */
    static final int TAIL = 64 * 1024;
    static final int CHUNK = 4_096;

    final Map<String, CountDownLatch> blocked = new ConcurrentHashMap<>();
    final Map<String, CountDownLatch> ended = new ConcurrentHashMap<>();
    /** Per subject: counted down when the container reported the end of the async cycle (onError, onComplete). */
    final Map<String, CountDownLatch> reported = new ConcurrentHashMap<>();
    /** Per subject: opened by the test when the upstream's last pieces arrive. */
    final Map<String, CountDownLatch> tailArrives = new ConcurrentHashMap<>();
    final Map<String, String> events = new ConcurrentHashMap<>();
    /** Per subject: counted down when the writer, having waited on a full window once, went idle (queue empty). */
    final Map<String, CountDownLatch> idleAfterBlock = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("relay", new StreamingUpstreamRelay(), "/ai/relay/*");
    }

    static void chunk(Deque<byte[]> into, byte[] doc, int from, int to) {
        for (int i = from; i < to; i += CHUNK) {
            into.add(Arrays.copyOfRange(doc, i, Math.min(to, i + CHUNK)));
        }
    }

    /** The relay, as AsyncProxyServlet's StreamWriter: queued upstream chunks, idle when none, woken by the next. */
    final class StreamingUpstreamRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            Deque<byte[]> chunks = new ArrayDeque<>();
            chunk(chunks, ANSWER, 0, ANSWER.length - TAIL);
            AsyncContext ac = req.startAsync();
            ac.setTimeout(0);
            ac.addListener(new AsyncListener() {
                @Override
                public void onComplete(AsyncEvent e) {
                    events.merge(s, "onComplete;", String::concat);
                    count(reported, s);
                }

                @Override
                public void onTimeout(AsyncEvent e) {
                }

                @Override
                public void onError(AsyncEvent e) {
                    events.merge(s, "onError(" + e.getThrowable() + ");", String::concat);
                    count(reported, s);
                }

                @Override
                public void onStartAsync(AsyncEvent e) {
                }
            });
            resp.setStatus(200);
            resp.setContentType("application/json");
            ServletOutputStream out = resp.getOutputStream();
            Writer writer = new Writer(s, ac, out, chunks);
            out.setWriteListener(writer);
            CountDownLatch gate = tailArrives.computeIfAbsent(s, k -> new CountDownLatch(1));
            Thread upstream = new Thread(() -> {
                try {
                    if (!gate.await(30, TimeUnit.SECONDS)) {
                        return;
                    }
                    Deque<byte[]> tail = new ArrayDeque<>();
                    chunk(tail, ANSWER, ANSWER.length - TAIL, ANSWER.length);
                    writer.data(tail);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "upstream-403");
            upstream.setDaemon(true);
            upstream.start();
        }
    }

    final class Writer implements WriteListener {
        final String s;
        final AsyncContext ac;
        final ServletOutputStream out;
        final Deque<byte[]> chunks;
        boolean upstreamEnded;
        boolean idle;
        boolean done;
        boolean blockedOnce;

        Writer(String s, AsyncContext ac, ServletOutputStream out, Deque<byte[]> chunks) {
            this.s = s;
            this.ac = ac;
            this.out = out;
            this.chunks = chunks;
        }

        /** StreamWriter.data: the upstream's next content; an idle writer writes it at once. */
        synchronized void data(Deque<byte[]> more) {
            chunks.addAll(more);
            upstreamEnded = true;
            if (idle) {
                idle = false;
                try {
                    onWritePossible();
                } catch (IOException | RuntimeException e) {
                    onError(e);
                }
            }
        }

        @Override
        public synchronized void onWritePossible() throws IOException {
            if (done) {
                return;
            }
            while (out.isReady()) {
                byte[] next = chunks.poll();
                if (next == null) {
                    if (upstreamEnded) {
                        done = true;
                        try {
                            ac.complete();
                        } catch (RuntimeException already) {
                            events.merge(s, "complete:" + already + ";", String::concat);
                        }
                        count(ended, s);
                        count(blocked, s);
                    } else {
                        idle = true;
                        if (blockedOnce) {
                            count(idleAfterBlock, s);
                        }
                    }
                    return;
                }
                out.write(next);
            }
            blockedOnce = true;
            count(blocked, s);
        }

        @Override
        public synchronized void onError(Throwable t) {
            events.merge(s, "writer.onError(" + t + ");", String::concat);
            if (!done) {
                done = true;
                try {
                    ac.complete();
                } catch (RuntimeException ignored) {
                    // completed by the container already
                }
            }
            count(blocked, s);
            count(ended, s);
        }
    }

    static void count(Map<String, CountDownLatch> latches, String s) {
        CountDownLatch l = latches.get(s);
        if (l != null) {
            l.countDown();
        }
    }

    /**
     * Round 400's client (the OpenAI SDK's kind): reads nothing while it waits for the whole document from a small
     * receive window; once the relay's write is pending, its timeout closes the connection (reset). Then, once the
     * container reported that on the async cycle, the upstream's last pieces (with the usage) arrive at the relay.
     */
    void postStopReadingAndHangUp(String s) throws Exception {
        blocked.put(s, new CountDownLatch(1));
        ended.put(s, new CountDownLatch(1));
        reported.put(s, new CountDownLatch(1));
        idleAfterBlock.put(s, new CountDownLatch(1));
        CountDownLatch gate = tailArrives.computeIfAbsent(s, k -> new CountDownLatch(1));
        byte[] body = ASK.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket()) {
            socket.setReceiveBufferSize(4_096);
            socket.connect(new InetSocketAddress("127.0.0.1", container.port()));
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + PATH + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Accept: application/json\r\nx-user-id: " + s + "\r\nContent-Length: " + body.length
                    + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            assertTrue(blocked.get(s).await(15, TimeUnit.SECONDS), kind() + ": the relay's write never became pending");
            socket.setSoLinger(true, 0);
        }
        // the relay, given the onWritePossible it waited for (round 400), writes what it has and goes idle
        assertTrue(idleAfterBlock.get(s).await(15, TimeUnit.SECONDS), kind() + ": the relay never wrote on after the"
                + " hang-up: " + events.get(s));
        if (kind() == io.tokenquota.servlet.testing.ContainerKind.TOMCAT) {
            // Tomcat goes on to report the hang-up on the async cycle (AsyncContextImpl.setErrorState, then its own
            // completion); Jetty, with no timeout set, reports nothing more and waits for the relay
            assertTrue(reported.get(s).await(15, TimeUnit.SECONDS), kind() + ": the container never reported the"
                    + " hang-up on the async cycle: " + events.get(s));
        }
        gate.countDown();
        assertTrue(ended.get(s).await(15, TimeUnit.SECONDS), kind() + ": the relay never ended: " + events.get(s));
    }

    // ------------------------------------------------------------------ findings

    static final String OPEN_UPSTREAM_AFTER_HANG_UP = "issue 11, open: on Tomcat a non-blocking relay whose upstream is"
            + " still delivering a JSON answer when the client leaves is settled when Tomcat reports the hang-up, on"
            + " the text it carried, before its usage arrives (docs/decisions.md, \"A listener relay still receiving"
            + " its answer when the client leaves, on Tomcat (open)\")";

    /**
     * A relay whose upstream's last pieces (with the usage) arrive after the client hung up: round 400 promises the
     * endpoint writes its one JSON document on to its usage "as far as a blocking write would" (docs/decisions.md,
     * "One JSON document is written to its end after the client hung up"); a blocking relay would wait for its
     * upstream and write on. The usage the upstream billed must be charged.
     */
    @Test
    void aRelayWhoseUpstreamIsStillDeliveringWhenTheClientLeavesIsChargedItsUsage() throws Exception {
        // Jetty reports nothing more on the cycle and charges the usage: the test runs there; on Tomcat it is open
        org.junit.jupiter.api.Assumptions.assumeTrue(kind() == ContainerKind.JETTY, OPEN_UPSTREAM_AFTER_HANG_UP);
        String s = subject();
        postStopReadingAndHangUp(s);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(1, calls.of(s), "model calls"),
                () -> assertEquals(LP_IN + LP_OUT, a.used(), kind() + ": the upstream's model finished its answer"
                        + " (usage " + LP_IN + " + " + LP_OUT + ", billed) and the relay wrote it on to its end after the"
                        + " client left (its last " + TAIL + " bytes, with the usage, arrived after the container reported"
                        + " the hang-up; relay saw: " + events.get(s) + "); charged " + a.used() + " of " + a.limit()
                        + ": " + ledger(s)));
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same relay and upstream, the client reading to the end: charged the usage. */
    @Test
    void controlTheSameRelayReadToItsEndIsChargedItsUsage() {
        String s = subject();
        tailArrives.put(s, new CountDownLatch(0));
        HttpResponse<String> r = TestHttp.postJson(container.uri(PATH), s, ASK);
        assertEquals(ANSWER.length, r.body().getBytes(StandardCharsets.UTF_8).length, "the whole document");
        assertServedOnceAndCharged(s, r, LP_IN + LP_OUT);
    }
}
