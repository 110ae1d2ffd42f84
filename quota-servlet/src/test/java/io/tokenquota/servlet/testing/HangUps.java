package io.tokenquota.servlet.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Holds a mock endpoint, per subject, until the test's client has hung up, so that what the endpoint
 * does next happens on a connection known to be gone. Each round holds its own; thread-safe.
 */
public final class HangUps {
    private final Map<String, CountDownLatch> pending = new ConcurrentHashMap<>();

    /** Before the request: the client of {@code subject} will hang up, and the endpoint waits for it. */
    public void expect(String subject) {
        pending.put(subject, new CountDownLatch(1));
    }

    /** The client of {@code subject} has hung up (or the test gave up on it): the endpoint goes on. */
    public void happened(String subject) {
        pending.get(subject).countDown();
    }

    /** In the endpoint: waits, at most 15 s, for the hang-up of {@code subject}; at once if none is expected. */
    public void await(String subject) {
        CountDownLatch hung = pending.get(subject);
        if (hung != null) {
            try {
                hung.await(15, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * The client: posts {@code body} as {@code subject} to {@code path} on a raw connection to the
     * container on {@code port}, reads until {@code until} appears, then hangs up
     * ({@link TestHttp#postAndHangUpAfter}); the endpoint of {@code subject} is held till then. What it read.
     */
    public String postAndHangUpAfter(int port, String path, String subject, String body, String until) throws IOException {
        expect(subject);
        try {
            return TestHttp.postAndHangUpAfter(port, path, subject, body, until);
        } finally {
            happened(subject);
        }
    }

    /** Whether a hang-up of {@code subject}'s client was announced ({@link #expect}), whether or not it happened yet. */
    public boolean expected(String subject) {
        return pending.containsKey(subject);
    }

    /**
     * {@link #relayUntilGone}, except that for a subject whose client announced no hang-up (it reads the answer
     * whole) the provider's nothing-carrying {@code filler} goes on only {@code fillers} times, not for five
     * seconds, before the {@code tail}: a client that stays reads the same kind of answer, ended sooner.
     */
    public void relayUntilGone(String subject, OutputStream out, String filler, String tail, int fillers) throws IOException {
        if (expected(subject)) {
            relayUntilGone(subject, out, filler, tail);
            return;
        }
        try {
            for (int i = 0; i < fillers; i++) {
                EventStreams.write(out, filler);
                Thread.sleep(10);
            }
        } catch (IOException | InterruptedException gone) {
            return;
        }
        EventStreams.write(out, tail);
    }

    /**
     * The relay, once it wrote what its client reads: after the client of {@code subject} was seen to hang
     * up, it goes on as a relay does, writing what its provider sends that carries nothing ({@code filler})
     * until a write fails, then cancels the provider call; only if the client were still there would it
     * write {@code tail} (the usage).
     */
    public void relayUntilGone(String subject, OutputStream out, String filler, String tail) throws IOException {
        await(subject);
        try {
            for (int i = 0; i < 500; i++) {
                EventStreams.write(out, filler);
                Thread.sleep(10);
            }
        } catch (IOException | InterruptedException gone) {
            return;
        }
        EventStreams.write(out, tail);
    }
}
