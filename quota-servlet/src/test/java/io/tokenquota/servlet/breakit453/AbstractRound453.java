package io.tokenquota.servlet.breakit453;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 453 of issue 11: round 452's rule for an endpoint writing on its one JSON document after the container
 * reported its client gone ("every write it makes restarts that wait": docs/decisions.md, docs/servlet.md;
 * {@code Settlement.writeOnWaits}, {@code QuotaResponse.millisSinceDropped}).
 *
 * <p>The endpoint is a plain servlet relay with an async cycle of its own (Jakarta Servlet 6.0, section 2.3.3.3
 * "Asynchronous processing": {@code startAsync()}, {@code AsyncContext.setTimeout}, a worker thread of the
 * application that writes the answer and calls {@code AsyncContext.complete()}). It copies a provider's
 * non-streamed chat completion to its client as the bytes come from the provider, each piece flushed, either as
 * bytes ({@code ServletResponse.getOutputStream()}) or as text ({@code ServletResponse.getWriter()}, the servlet
 * API's way to write characters, as a relay does that reads its provider's answer as text, e.g. through an
 * {@code InputStreamReader} over {@code java.net.http.HttpResponse.BodyHandlers.ofInputStream()}). Shape: OpenAI
 * API reference, "The chat completion object" ({@code usage} last): {@link ChatCompletions#completion}. 1,200
 * prompt + 13,000 completion tokens billed = 14,200. The client is a raw HTTP/1.1 connection that resets (an
 * SDK's timeout: OkHttp cancels the call and closes its socket) once the first piece reached it.
 *
 * <p>The cycle's timeout is 4 s (on Tomcat, {@link #cycleTimeoutMillis}); the provider's pieces come 2 s apart after
 * the reset (a relay at work: each gap shorter than the timeout), the whole more than 4 s after the container's
 * report of the client gone.
 */
abstract class AbstractRound453 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long IN = 1_200;
    static final long OUT = 13_000;
    static final long CALL = IN + OUT;
    static final String DOC = ChatCompletions.completion("chatcmpl-453", "gpt-4o-2024-08-06", Prose.english(60_000), IN, OUT);
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write me a long story about a lighthouse keeper.\"}]}";
    static final int PIECES = 5;
    /**
     * The relay's async cycle's timeout ({@code AsyncContext.setTimeout}): 4 s on Tomcat, which stops running it
     * once it completed the cycle for the client's going. Jetty runs it on after that report (it ended both
     * relays at 4 s, the application's own bound, round 452's decision), so there it is 30 s, the relay ends
     * within it, and both tests are controls of the filter on Jetty.
     */
    long cycleTimeoutMillis() {
        return kind() == io.tokenquota.servlet.testing.ContainerKind.TOMCAT ? 4_000 : 30_000;
    }
    /** How long the test lets the relay wait for each later piece of the provider's answer (shorter than the timeout). */
    static final int GAP_SECONDS = 2;

    /** Per subject: the provider's pieces; {@code [0]} is there at once. */
    static final Map<String, CountDownLatch[]> PIECE = new ConcurrentHashMap<>();
    /** Per subject: counted down as the relay has written (and flushed) each piece. */
    static final Map<String, CountDownLatch[]> WROTE = new ConcurrentHashMap<>();
    static final Map<String, String> WRITE_END = new ConcurrentHashMap<>();

    AbstractRound453() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("relay", new Relay(), "/ai/relay");
    }

    static String piece(int i) {
        int a = DOC.length() / PIECES;
        return i == PIECES - 1 ? DOC.substring(i * a) : DOC.substring(i * a, (i + 1) * a);
    }

    /** The relay: {@code ?as=writer} writes text through {@code getWriter()}, else bytes through {@code getOutputStream()}. */
    static final class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) {
            String user = req.getHeader("x-user-id");
            boolean asText = "writer".equals(req.getParameter("as"));
            CALLS.count(user);
            resp.setStatus(200);
            resp.setContentType("application/json");
            resp.setCharacterEncoding("UTF-8");
            AsyncContext async = req.startAsync();
            async.setTimeout(Long.parseLong(req.getParameter("timeout")));
            Thread worker = new Thread(() -> {
                CountDownLatch[] pieces = PIECE.get(user);
                CountDownLatch[] wrote = WROTE.get(user);
                try {
                    PrintWriter text = asText ? resp.getWriter() : null;
                    OutputStream bytes = asText ? null : resp.getOutputStream();
                    for (int i = 0; i < PIECES; i++) {
                        if (!pieces[i].await(60, TimeUnit.SECONDS)) {
                            throw new IllegalStateException("the provider's piece " + i + " never came");
                        }
                        if (asText) {
                            text.write(piece(i));
                            text.flush();
                        } else {
                            bytes.write(piece(i).getBytes(StandardCharsets.UTF_8));
                            bytes.flush();
                        }
                        wrote[i].countDown();
                    }
                    WRITE_END.put(user, "written to its end");
                } catch (Exception e) {
                    WRITE_END.put(user, "stopped by " + e);
                } finally {
                    for (CountDownLatch w : wrote) {
                        w.countDown();
                    }
                    try {
                        async.complete();
                    } catch (RuntimeException e) {
                        WRITE_END.merge(user, "; complete() refused: " + e, String::concat);
                    }
                }
            }, "relay-453");
            worker.setDaemon(true);
            worker.start();
        }
    }

    /**
     * The client reads the first piece and resets; the relay writes the second (the write that fails, which
     * the container reports), then each later piece as the provider sends it, {@link #GAP_SECONDS} apart.
     */
    void resetWhileRelayed(String s, String as) throws Exception {
        CountDownLatch[] pieces = new CountDownLatch[PIECES];
        CountDownLatch[] wrote = new CountDownLatch[PIECES];
        for (int i = 0; i < PIECES; i++) {
            pieces[i] = new CountDownLatch(i == 0 ? 0 : 1);
            wrote[i] = new CountDownLatch(1);
        }
        PIECE.put(s, pieces);
        WROTE.put(s, wrote);
        // the client has the first piece (headers and part of the document) and its timeout resets it
        String path = "/ai/relay?as=" + as + "&timeout=" + cycleTimeoutMillis();
        assertTrue(TestHttp.postJsonAndResetOnceWritten(container.port(), path, s, ASK, wrote[0]),
                "the relay wrote the first piece");
        pieces[1].countDown();
        assertTrue(wrote[1].await(10, TimeUnit.SECONDS), "the relay wrote the second piece");
        for (int i = 2; i < PIECES; i++) {
            // the provider's next bytes come GAP_SECONDS later (earlier if the call was settled meanwhile)
            settledWithin(s, GAP_SECONDS);
            pieces[i].countDown();
            assertTrue(wrote[i].await(10, TimeUnit.SECONDS), "the relay wrote piece " + i);
        }
    }

    /**
     * Finding (Tomcat; a control on Jetty, see {@link #cycleTimeoutMillis}): the relay writes its text through {@code getWriter()}. Its writes after the
     * report go to the reader (the usage reaches it), but they do not restart the wait (only the byte stream's
     * dropped writes do, {@code QuotaResponse.TeeWriter} never notes them), so the call is settled 4 s after the
     * report, with what was read then, although the relay wrote every 2 s.
     */
    @Test
    void aRelayWritingItsCompletionAsTextAfterTheClientWentIsChargedItsUsage() throws Exception {
        String s = subject();
        resetWhileRelayed(s, "writer");
        assertRelayChargedItsUsage(s, IN, OUT, WRITE_END,
                "relay writing through getWriter(), a piece every " + GAP_SECONDS
                + " s on a " + cycleTimeoutMillis() + " ms cycle timeout");
    }

    /** Control: the same relay writing the same pieces as bytes through {@code getOutputStream()}. */
    @Test
    void controlARelayWritingItsCompletionAsBytesAfterTheClientWentIsChargedItsUsage() throws Exception {
        String s = subject();
        resetWhileRelayed(s, "stream");
        assertRelayChargedItsUsage(s, IN, OUT, WRITE_END,
                "relay writing through getOutputStream(), a piece every " + GAP_SECONDS
                + " s on a " + cycleTimeoutMillis() + " ms cycle timeout");
    }
}
