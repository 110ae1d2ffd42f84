package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Review 39: SeenKeys promises a key is kept "while its call runs, however long", yet past the maximum it drops the
 * head of its LinkedHashMap, where running entries stay (ended ones are moved to the tail): a running call's key is
 * dropped before keys whose calls ended.
 */
class SeenKeysReview39Test {
    private final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-12-06T05:00:00Z"));

    @Test
    void aRunningCallsKeyOutlivesEndedOnesPastTheMaximum() {
        SeenKeys keys = new SeenKeys(2, Duration.ofMinutes(5), now::get);
        // a long call let through during an outage, still running
        assertNotNull(keys.letThrough("alice", "long"));
        // others reserved on the store (store back), ended
        keys.reserved("mallory", "m1").ended();
        keys.reserved("mallory", "m2").ended();
        // the running call's key must still be known: its retry is a replay
        assertTrue(keys.letThroughOnly("alice", "long"),
                "a running let-through call's key was dropped ahead of ended ones: its retry buys a second model call");
    }
}
