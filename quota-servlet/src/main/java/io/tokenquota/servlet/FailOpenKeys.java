package io.tokenquota.servlet;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The {@code Idempotency-Key}s, with their subjects, of the calls a filter let through uncharged while the
 * ledger was unreachable (fail-open). The store is the record of keys, and a call it never saw left no trace
 * there: its retry with the same key, once the store is back, would be reserved as a first request and buy a
 * second model call (round 502: 18,000 tokens of usage for one key, charged 9,000). So the filter keeps these
 * pairs itself, and a request naming one is answered as a replay is (409), whether the store is back or not.
 *
 * <p>The record is this filter's, in this JVM: another instance behind a load balancer does not see it. It is
 * bounded: at most {@link #MAX_KEYS} pairs, the oldest dropped first, each kept for a hold's TTL by the ledger's
 * clock (the time a keyed retry of a held call would still meet its hold), so an outage of any length costs a
 * bounded heap. Pairs are kept as digests, a fixed size whatever the subject and key. Thread-safe.
 */
final class FailOpenKeys {
    /** The most pairs a filter keeps: past it the oldest is dropped first. */
    static final int MAX_KEYS = 65_536;

    private final int maximum;
    private final Duration ttl;
    private final Supplier<Instant> clock;
    /** Digest of (subject, key) to when it is dropped; in the order they were let through, oldest first. */
    private final LinkedHashMap<ByteBuffer, Instant> kept = new LinkedHashMap<>();

    FailOpenKeys(Duration ttl, Supplier<Instant> clock) {
        this(MAX_KEYS, ttl, clock);
    }

    FailOpenKeys(int maximum, Duration ttl, Supplier<Instant> clock) {
        if (maximum < 1) {
            throw new IllegalArgumentException("maximum must be positive, was " + maximum);
        }
        this.maximum = maximum;
        this.ttl = ttl;
        this.clock = clock;
    }

    /**
     * Records that a call of {@code subject} with {@code key} goes through uncharged. False when the pair is
     * recorded already (a request with the same key went through first, perhaps still running): this one is
     * a replay. Of concurrent requests sharing a pair, exactly one is recorded.
     */
    boolean letThrough(String subject, String key) {
        ByteBuffer pair = digest(subject, key);
        Instant now = clock.get();
        synchronized (kept) {
            dropExpired(now);
            if (kept.containsKey(pair)) {
                return false;
            }
            kept.put(pair, now.plus(ttl));
            while (kept.size() > maximum) {
                Iterator<ByteBuffer> oldest = kept.keySet().iterator();
                oldest.next();
                oldest.remove();
            }
            return true;
        }
    }

    /** Whether a call of {@code subject} with {@code key} went through uncharged, within a TTL. */
    boolean used(String subject, String key) {
        ByteBuffer pair = digest(subject, key);
        Instant now = clock.get();
        synchronized (kept) {
            if (kept.isEmpty()) {
                return false;
            }
            dropExpired(now);
            Instant until = kept.get(pair);
            return until != null && until.isAfter(now);
        }
    }

    /** How many pairs are kept (expired ones the next call drops included). */
    int size() {
        synchronized (kept) {
            return kept.size();
        }
    }

    /** Drops the pairs past their TTL: the oldest come first, since every pair is kept as long. */
    private void dropExpired(Instant now) {
        Iterator<Map.Entry<ByteBuffer, Instant>> oldest = kept.entrySet().iterator();
        while (oldest.hasNext() && !oldest.next().getValue().isAfter(now)) {
            oldest.remove();
        }
    }

    /**
     * SHA-256 of the subject and key, apart by a NUL, which neither may contain (a hold request refuses
     * control characters in both before the store is asked, so no such pair reaches fail-open).
     */
    private static ByteBuffer digest(String subject, String key) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(subject.getBytes(StandardCharsets.UTF_8));
            sha.update((byte) 0);
            sha.update(key.getBytes(StandardCharsets.UTF_8));
            return ByteBuffer.wrap(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }
}
