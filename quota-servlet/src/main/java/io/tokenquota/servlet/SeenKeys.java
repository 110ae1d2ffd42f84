package io.tokenquota.servlet;

import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * The {@code Idempotency-Key}s, with their subjects, of the calls a filter has seen: those it let through uncharged
 * while the ledger was unreachable (fail-open), and those it reserved on the store. The store is the record of
 * keys, but while it is away only this one answers, and a key buys at most one model call across an outage too:
 * <ul>
 *   <li>a call the store never saw (let through) left no trace there, so its retry is answered as a replay (409)
 *       from here, whether the store is back or not (round 502: once the store was back the retry was reserved as a
 *       first request, two model calls for one key), also one whose reserve was on its way to the store while the
 *       call was let through (round 508);</li>
 *   <li>a call the store holds or charged is the store's to answer while it answers (its replay carries the
 *       account); a retry that meets an outage would be let through as a first request, so it is refused from here
 *       (round 507: a key held, or charged, on the store and retried during a failover bought a second model call).</li>
 * </ul>
 * A key is kept while its call runs, however long (a long reasoning call outlives a hold's TTL, and a held call's
 * hold is extended meanwhile, round 507), and for a hold's TTL by the ledger's clock after the call ended (the time a
 * keyed retry of a held call would still meet its hold).
 *
 * <p>The record is this filter's, in this JVM: another instance behind a load balancer does not see it, and an older
 * key is the store's alone. It is bounded: at most {@link #MAX_KEYS} pairs, so an outage of any length costs a
 * bounded heap. Past the bound the pair whose call ended longest ago is dropped first; the pair of a call still
 * running never is (a long call's key dropped for 65,536 cheap keyed calls that ended would let its retry buy a
 * second model call: review 39). When every pair kept is a running call's, a new pair is refused ({@link Full})
 * rather than one forgotten. Running pairs and ended ones are kept apart, the ended ones in the order of their
 * expiry, so a request's work here does not grow with the calls running. Pairs are kept as digests, a fixed size
 * whatever the subject and key ({@link #pair}, computed once per request). Thread-safe.
 */
final class SeenKeys {
    /** The most pairs a filter keeps: past it the pair whose call ended longest ago is dropped first. */
    static final int MAX_KEYS = 65_536;

    private final int maximum;
    private final Duration ttl;
    private final Supplier<Instant> clock;
    /** The lock of both maps: a pair is in one of them at most. */
    private final Object lock = new Object();
    /** Digest of (subject, key) to its entry, for the pairs with at least one call running: never dropped. */
    private final HashMap<ByteBuffer, Entry> running = new HashMap<>();
    /**
     * Digest of (subject, key) to its entry, for the pairs whose calls have all ended, in the order they last
     * ended, which is the order of their expiry: the first is the next to expire and the first dropped past the
     * maximum.
     */
    private final LinkedHashMap<ByteBuffer, Entry> ended = new LinkedHashMap<>();

    /** A pair: whether the store saw it, how many of its calls are running, and, once none is, until when it is kept. */
    private static final class Entry {
        final ByteBuffer pair;
        boolean stored;
        int running;
        Instant until = Instant.MIN;

        Entry(ByteBuffer pair) {
            this.pair = pair;
        }
    }

    /**
     * Every pair kept is a running call's and the record is at its bound: a new pair cannot be recorded without
     * forgetting a running call's key, which would let its retry buy a second model call, so the request is refused.
     */
    static final class Full extends RuntimeException {
        Full() {
            super("the record of Idempotency-Keys holds its maximum of running calls", null, false, false);
        }
    }

    SeenKeys(Duration ttl, Supplier<Instant> clock) {
        this(MAX_KEYS, ttl, clock);
    }

    SeenKeys(int maximum, Duration ttl, Supplier<Instant> clock) {
        if (maximum < 1) {
            throw new IllegalArgumentException("maximum must be positive, was " + maximum);
        }
        this.maximum = maximum;
        this.ttl = ttl;
        this.clock = clock;
    }

    /**
     * The digest a request's (subject, key) is kept by: SHA-256 of the subject and key, apart by a NUL, which
     * neither may contain (a hold request refuses control characters in both before the store is asked, so no such
     * pair reaches fail-open). Computed once per request and passed to each question asked of the record.
     */
    static ByteBuffer pair(String subject, String key) {
        MessageDigest sha = AnswerCalls.sha256();
        sha.update(subject.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
        sha.update(key.getBytes(StandardCharsets.UTF_8));
        return ByteBuffer.wrap(sha.digest());
    }

    Call letThrough(String subject, String key) {
        return letThrough(pair(subject, key));
    }

    /**
     * A call of {@code pair} goes through uncharged, the store away: recorded, running, unless the pair is kept
     * already (a request with the same key went through or was reserved, perhaps still running): then null, this
     * one is a replay. Of concurrent requests sharing a pair, exactly one is recorded.
     *
     * @throws Full every pair kept is a running call's, at the maximum
     */
    Call letThrough(ByteBuffer pair) {
        synchronized (lock) {
            dropExpired(clock.get());
            if (running.containsKey(pair) || ended.containsKey(pair)) {
                return null;
            }
            return start(record(pair));
        }
    }

    /**
     * A call without a key goes through uncharged, the store away: nothing is recorded (it has no key a retry could
     * name), but it runs all the same, and a dispatch of its request is part of it while it does (a cross-context
     * async dispatch, the container's pass run again), told by this mark as a keyed call's is by its recorded one:
     * the rule is the same for both, so the mark is too (round 520: an unkeyed call's dispatch into another context,
     * once the store was back, was held and charged as a new call).
     */
    Call unkeyed() {
        return new Call(null);
    }

    Call reserved(String subject, String key) {
        return reserved(pair(subject, key));
    }

    /**
     * The store took a reserve of {@code pair} (a first one, or its replay): recorded, running, as the store's,
     * which answers a retry itself while it is reachable. Unless a request with the key was let through uncharged
     * meanwhile (its reserve met the outage while this one was on its way to the store, which never saw that call):
     * then null, this one is its replay, though the store took it as a first request (round 508: both were served,
     * two model calls for one key). The pair stays the let-through call's.
     *
     * @throws Full the pair is not kept, and every pair kept is a running call's, at the maximum
     */
    Call reserved(ByteBuffer pair) {
        synchronized (lock) {
            dropExpired(clock.get());
            Entry entry = running.get(pair);
            if (entry == null) {
                entry = ended.get(pair);
            }
            if (entry == null) {
                entry = record(pair);
            } else if (!entry.stored) {
                return null;
            }
            entry.stored = true;
            return start(entry);
        }
    }

    boolean letThroughOnly(String subject, String key) {
        return letThroughOnly(pair(subject, key));
    }

    /**
     * Whether a call of {@code pair} went through uncharged and the store never saw the key, its call running or
     * ended within a TTL: a retry is a replay, though the store would take it as a first request.
     */
    boolean letThroughOnly(ByteBuffer pair) {
        synchronized (lock) {
            Entry entry = running.get(pair);
            if (entry != null) {
                return !entry.stored;
            }
            if (ended.isEmpty()) {
                return false;
            }
            dropExpired(clock.get());
            entry = ended.get(pair);
            return entry != null && !entry.stored;
        }
    }

    /** How many pairs are kept (expired ones the next call drops included). */
    int size() {
        synchronized (lock) {
            return running.size() + ended.size();
        }
    }

    /**
     * A new entry for {@code pair}, not kept yet, to be started: room is made past the maximum by dropping the pair
     * whose call ended longest ago, never a running call's.
     */
    private Entry record(ByteBuffer pair) {
        if (running.size() >= maximum) {
            throw new Full();
        }
        while (running.size() + ended.size() >= maximum) {
            Iterator<ByteBuffer> oldest = ended.keySet().iterator();
            oldest.next();
            oldest.remove();
        }
        return new Entry(pair);
    }

    /** One more call of {@code entry} runs: its pair is among the running ones until its last call ends. */
    private Call start(Entry entry) {
        if (entry.running++ == 0) {
            ended.remove(entry.pair);
            running.put(entry.pair, entry);
        }
        return new Call(entry);
    }

    /**
     * Drops the ended pairs past their TTL: they are in the order of their expiry, so the first still kept ends the
     * walk. The running ones are elsewhere and never walked.
     */
    private void dropExpired(Instant now) {
        Iterator<Entry> oldest = ended.values().iterator();
        while (oldest.hasNext()) {
            if (oldest.next().until.isAfter(now)) {
                return;
            }
            oldest.remove();
        }
    }

    /**
     * One call of a recorded pair: its pair is kept while it runs, and for a TTL after {@link #ended}; or one
     * without a key ({@link #unkeyed}), which keeps nothing and only tells whether it runs. It is also the listener
     * of the async cycle such a call starts without a settlement (a call let through): the cycle's end is the call's.
     */
    final class Call implements AsyncListener {
        /** The call's pair; null for a call without a key, recorded nowhere. */
        private final Entry entry;
        private final AtomicBoolean over = new AtomicBoolean();

        private Call(Entry entry) {
            this.entry = entry;
        }

        /** Whether the call has ended ({@link #ended}): a dispatch of its request after that is not part of it. */
        boolean over() {
            return over.get();
        }

        /**
         * The call is over: its pair is kept a TTL from now (once every call of the pair is over), among the ended
         * ones, last. A second end (the cycle's completion after its timeout or error, when the application may
         * still have written the answer) only moves that TTL on.
         */
        void ended() {
            boolean first = over.compareAndSet(false, true);
            if (entry == null) {
                return;
            }
            Instant now = clock.get();
            synchronized (lock) {
                if (running.get(entry.pair) != entry && ended.get(entry.pair) != entry) {
                    // dropped a TTL after its end, before this second end
                    return;
                }
                if (first) {
                    entry.running--;
                }
                Instant until = now.plus(ttl);
                if (until.isAfter(entry.until)) {
                    entry.until = until;
                }
                if (entry.running == 0) {
                    // last, among the ended ones in the order of their expiry
                    running.remove(entry.pair);
                    ended.remove(entry.pair);
                    ended.put(entry.pair, entry);
                }
            }
        }

        @Override
        public void onComplete(AsyncEvent event) {
            ended();
        }

        @Override
        public void onTimeout(AsyncEvent event) {
            ended();
        }

        @Override
        public void onError(AsyncEvent event) {
            ended();
        }

        @Override
        public void onStartAsync(AsyncEvent event) {
            // a re-dispatched request that starts async again: its new cycle is still this call
            event.getAsyncContext().addListener(this);
        }
    }
}
