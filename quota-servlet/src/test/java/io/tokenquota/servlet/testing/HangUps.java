package io.tokenquota.servlet.testing;

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
}
