package io.tokenquota.servlet.testing;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The tokens a round's mock provider billed, added up per subject, so a test can hold the ledger's
 * charge against what the model calls really cost. Each round holds its own; thread-safe.
 */
public final class BilledTokens {
    private final Map<String, AtomicLong> billed = new ConcurrentHashMap<>();

    /** Adds {@code tokens} to what {@code subject} (its {@code x-user-id}) was billed. */
    public void add(String subject, long tokens) {
        billed.computeIfAbsent(subject, s -> new AtomicLong()).addAndGet(tokens);
    }

    /** The tokens billed to {@code subject}; 0 when none. */
    public long of(String subject) {
        AtomicLong n = billed.get(subject);
        return n == null ? 0 : n.get();
    }
}
