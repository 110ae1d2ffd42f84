package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The keys a filter has seen: one call per (subject, key) across an outage, kept while the call runs and a hold's TTL
 * after, bounded; a key the store saw is the store's to answer while it is up.
 */
class SeenKeysTest {
    private static final Duration TTL = Duration.ofMinutes(5);
    private final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-12-06T05:00:00Z"));

    private SeenKeys keys(int maximum) {
        return new SeenKeys(maximum, TTL, now::get);
    }

    private void advance(Duration d) {
        now.set(now.get().plus(d));
    }

    @Test
    void aKeyLetThroughOnceIsUsedForItsSubjectOnly() {
        SeenKeys keys = keys(8);
        assertFalse(keys.letThroughOnly("alice", "k1"));
        assertNotNull(keys.letThrough("alice", "k1"));
        assertTrue(keys.letThroughOnly("alice", "k1"), "the retry is a replay");
        assertNull(keys.letThrough("alice", "k1"), "a second request with the key does not go through");
        assertFalse(keys.letThroughOnly("bob", "k1"), "keys are per subject, as in the store");
        assertFalse(keys.letThroughOnly("alice", "k2"));
        // the separator keeps ("a", "bc") and ("ab", "c") apart
        assertNotNull(keys.letThrough("a", "bc"));
        assertFalse(keys.letThroughOnly("ab", "c"));
    }

    @Test
    void anUnkeyedCallLetThroughRunsUntilItEndsAndIsRecordedNowhere() {
        SeenKeys keys = keys(1);
        SeenKeys.Call call = keys.unkeyed();
        assertFalse(call.over(), "running: its dispatches are part of it");
        assertEquals(0, keys.size(), "no key, nothing a retry could name");
        assertNotNull(keys.letThrough("alice", "k1"), "takes no room from keyed calls");
        call.ended();
        assertTrue(call.over(), "over: a later dispatch is a call of its own");
        call.ended();
        assertEquals(1, keys.size(), "a second end touches no keyed pair");
    }

    @Test
    void aKeyIsKeptWhileItsCallRunsAndForTheHoldsTtlAfterByTheLedgersClock() {
        SeenKeys keys = keys(8);
        SeenKeys.Call call = keys.letThrough("alice", "k1");
        advance(TTL.multipliedBy(3));
        assertTrue(keys.letThroughOnly("alice", "k1"), "running past the TTL: kept");
        assertNull(keys.letThrough("alice", "k1"));
        call.ended();
        advance(TTL.minusMillis(1));
        assertTrue(keys.letThroughOnly("alice", "k1"), "within the TTL after its end");
        advance(Duration.ofMillis(1));
        assertFalse(keys.letThroughOnly("alice", "k1"), "a TTL after its end");
        assertEquals(0, keys.size(), "dropped, not only hidden");
        assertNotNull(keys.letThrough("alice", "k1"), "the pair is free again");
    }

    @Test
    void aKeyReservedOnTheStoreIsNotLetThroughButTheStoreAnswersItsRetry() {
        SeenKeys keys = keys(8);
        SeenKeys.Call call = keys.reserved("alice", "k1");
        assertFalse(keys.letThroughOnly("alice", "k1"), "the store has it: its replay is the answer");
        advance(TTL.multipliedBy(2));
        assertNull(keys.letThrough("alice", "k1"), "running: not let through in an outage");
        call.ended();
        advance(TTL.minusMillis(1));
        assertNull(keys.letThrough("alice", "k1"), "ended within a TTL: not let through");
        advance(Duration.ofMillis(1));
        assertNotNull(keys.letThrough("bob", "k1"));
        assertNotNull(keys.letThrough("alice", "k1"), "an older key is the store's alone");
    }

    @Test
    void aReserveThatReachesTheStoreAfterItsKeyWasLetThroughIsAReplay() {
        SeenKeys keys = keys(8);
        // checked before its reserve: nothing let through yet
        assertFalse(keys.letThroughOnly("alice", "k1"));
        // meanwhile a twin's reserve met the outage and was let through
        SeenKeys.Call letThrough = keys.letThrough("alice", "k1");
        assertNotNull(letThrough);
        // the first reserve then reached the store, which never saw the key
        assertNull(keys.reserved("alice", "k1"), "the let-through call owns the key");
        assertTrue(keys.letThroughOnly("alice", "k1"), "still the let-through call's, not the store's");
        letThrough.ended();
        advance(TTL.minusMillis(1));
        assertNull(keys.reserved("alice", "k1"), "within the TTL after its end: still a replay");
        assertNotNull(keys.reserved("bob", "k1"), "keys are per subject");
        advance(Duration.ofMillis(1));
        assertNotNull(keys.reserved("alice", "k1"), "an older key is the store's alone");
    }

    @Test
    void aKeyReservedTwiceOnTheStoreIsRecordedForBoth() {
        SeenKeys keys = keys(8);
        // the store answers which is first: a replay the store refuses is recorded as the store's too
        SeenKeys.Call first = keys.reserved("alice", "k1");
        SeenKeys.Call replay = keys.reserved("alice", "k1");
        assertNotNull(first);
        assertNotNull(replay);
        replay.ended();
        first.ended();
        assertFalse(keys.letThroughOnly("alice", "k1"));
        assertNull(keys.letThrough("alice", "k1"));
    }

    @Test
    void anEndedPairExpiresBehindARunningOne() {
        SeenKeys keys = keys(8);
        SeenKeys.Call running = keys.letThrough("alice", "long");
        keys.letThrough("alice", "short").ended();
        advance(TTL.plusSeconds(1));
        assertFalse(keys.letThroughOnly("alice", "short"), "the running pair ahead does not keep it");
        assertEquals(1, keys.size());
        assertTrue(keys.letThroughOnly("alice", "long"));
        running.ended();
        running.ended();
        advance(TTL.minusMillis(1));
        assertTrue(keys.letThroughOnly("alice", "long"));
    }

    @Test
    void pastTheMaximumTheOldestIsDroppedFirst() {
        SeenKeys keys = keys(3);
        for (int i = 1; i <= 3; i++) {
            keys.letThrough("alice", "k" + i).ended();
            advance(Duration.ofSeconds(1));
        }
        assertNotNull(keys.letThrough("alice", "k4"));
        assertEquals(3, keys.size());
        assertFalse(keys.letThroughOnly("alice", "k1"), "the oldest went");
        assertTrue(keys.letThroughOnly("alice", "k2"));
        assertTrue(keys.letThroughOnly("alice", "k3"));
        assertTrue(keys.letThroughOnly("alice", "k4"));
    }

    @Test
    void aLongKeyCostsAsMuchAsAShortOne() {
        SeenKeys keys = keys(2);
        String huge = "k".repeat(100_000);
        assertNotNull(keys.letThrough("alice", huge));
        assertTrue(keys.letThroughOnly("alice", huge));
        assertFalse(keys.letThroughOnly("alice", huge + "x"));
    }

    @Test
    void pastTheMaximumARunningCallsPairIsNeverDropped() {
        SeenKeys keys = keys(3);
        SeenKeys.Call first = keys.letThrough("alice", "long");
        SeenKeys.Call second = keys.reserved("alice", "stored");
        keys.letThrough("alice", "e1").ended();
        for (int i = 2; i <= 5; i++) {
            keys.reserved("mallory", "m" + i).ended();
        }
        assertEquals(3, keys.size());
        assertTrue(keys.letThroughOnly("alice", "long"), "the running let-through pair is kept");
        assertNull(keys.letThrough("alice", "stored"), "the running reserved pair is kept");
        assertNull(keys.letThrough("mallory", "m5"), "the newest ended pair is kept");
        assertNotNull(keys.letThrough("mallory", "m4"), "older ended pairs went first");
        first.ended();
        second.ended();
    }

    @Test
    void whenEveryPairIsRunningANewOneIsRefused() {
        SeenKeys keys = keys(2);
        SeenKeys.Call a = keys.letThrough("alice", "a");
        assertNotNull(keys.reserved("alice", "b"));
        assertThrows(SeenKeys.Full.class, () -> keys.letThrough("alice", "c"));
        assertThrows(SeenKeys.Full.class, () -> keys.reserved("alice", "c"));
        assertNotNull(keys.reserved("alice", "b"), "a kept pair's replay still runs");
        assertTrue(keys.letThroughOnly("alice", "a"));
        a.ended();
        assertNotNull(keys.letThrough("alice", "c"), "an ended pair makes room");
        assertFalse(keys.letThroughOnly("alice", "a"), "the ended pair went for it");
    }
}
