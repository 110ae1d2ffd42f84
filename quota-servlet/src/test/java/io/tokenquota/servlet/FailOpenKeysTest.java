package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The keys of calls let through under fail-open: one call per (subject, key), for a hold's TTL, bounded. */
class FailOpenKeysTest {
    private final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-12-06T05:00:00Z"));

    private FailOpenKeys keys(int maximum) {
        return new FailOpenKeys(maximum, Duration.ofMinutes(5), now::get);
    }

    @Test
    void aKeyLetThroughOnceIsUsedForItsSubjectOnly() {
        FailOpenKeys keys = keys(8);
        assertFalse(keys.used("alice", "k1"));
        assertTrue(keys.letThrough("alice", "k1"));
        assertTrue(keys.used("alice", "k1"), "the retry is a replay");
        assertFalse(keys.letThrough("alice", "k1"), "a second request with the key does not go through");
        assertFalse(keys.used("bob", "k1"), "keys are per subject, as in the store");
        assertFalse(keys.used("alice", "k2"));
        // the separator keeps ("a", "bc") and ("ab", "c") apart
        assertTrue(keys.letThrough("a", "bc"));
        assertFalse(keys.used("ab", "c"));
    }

    @Test
    void aKeyIsKeptForTheHoldsTtlByTheLedgersClock() {
        FailOpenKeys keys = keys(8);
        assertTrue(keys.letThrough("alice", "k1"));
        now.set(now.get().plus(Duration.ofMinutes(5)).minusMillis(1));
        assertTrue(keys.used("alice", "k1"), "within the TTL");
        now.set(now.get().plusMillis(1));
        assertFalse(keys.used("alice", "k1"), "a TTL on");
        assertEquals(0, keys.size(), "dropped, not only hidden");
        assertTrue(keys.letThrough("alice", "k1"), "the pair is free again");
    }

    @Test
    void pastTheMaximumTheOldestIsDroppedFirst() {
        FailOpenKeys keys = keys(3);
        for (int i = 1; i <= 3; i++) {
            assertTrue(keys.letThrough("alice", "k" + i));
            now.set(now.get().plusSeconds(1));
        }
        assertTrue(keys.letThrough("alice", "k4"));
        assertEquals(3, keys.size());
        assertFalse(keys.used("alice", "k1"), "the oldest went");
        assertTrue(keys.used("alice", "k2"));
        assertTrue(keys.used("alice", "k3"));
        assertTrue(keys.used("alice", "k4"));
    }

    @Test
    void aLongKeyCostsAsMuchAsAShortOne() {
        FailOpenKeys keys = keys(2);
        String huge = "k".repeat(100_000);
        assertTrue(keys.letThrough("alice", huge));
        assertTrue(keys.used("alice", huge));
        assertFalse(keys.used("alice", huge + "x"));
    }
}
