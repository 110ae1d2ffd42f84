package io.tokenquota.servlet.testing;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The model calls a round's mock endpoints made, counted per subject, so a test can tell a call that
 * reached the model from one refused before it. Each round holds its own; thread-safe.
 */
public final class ModelCalls {
    private final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();

    /** Counts one call for {@code subject} (its {@code x-user-id}; a request without one counts as "?"). */
    public void count(String subject) {
        calls.computeIfAbsent(subject == null ? "?" : subject, s -> new AtomicInteger()).incrementAndGet();
    }

    /** The calls counted for {@code subject}. */
    public int of(String subject) {
        AtomicInteger n = calls.get(subject);
        return n == null ? 0 : n.get();
    }
}
