package io.tokenquota.servlet;

import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
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
 * key is the store's alone. It is bounded: at most {@link #MAX_KEYS} pairs, the oldest (by when it was recorded or
 * its call ended) dropped first, so an outage of any length costs a bounded heap. Pairs are kept as digests, a fixed
 * size whatever the subject and key. Thread-safe.
 */
final class SeenKeys {
    /** The most pairs a filter keeps: past it the oldest is dropped first. */
    static final int MAX_KEYS = 65_536;

    private final int maximum;
    private final Duration ttl;
    private final Supplier<Instant> clock;
    /**
     * Digest of (subject, key) to its entry, in the order they were recorded or their calls last ended, oldest first:
     * the entries whose calls have all ended are so in the order of their expiry.
     */
    private final LinkedHashMap<ByteBuffer, Entry> kept = new LinkedHashMap<>();

    /** A pair: whether the store saw it, how many of its calls are running, and, once none is, until when it is kept. */
    private static final class Entry {
        final ByteBuffer pair;
        boolean stored;
        int running;
        Instant until = Instant.MIN;

        Entry(ByteBuffer pair) {
            this.pair = pair;
        }

        boolean keptAt(Instant now) {
            return running > 0 || until.isAfter(now);
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
     * A call of {@code subject} with {@code key} goes through uncharged, the store away: recorded, running, unless
     * the pair is kept already (a request with the same key went through or was reserved, perhaps still running):
     * then null, this one is a replay. Of concurrent requests sharing a pair, exactly one is recorded.
     */
    Call letThrough(String subject, String key) {
        ByteBuffer pair = digest(subject, key);
        synchronized (kept) {
            dropExpired(clock.get());
            if (kept.containsKey(pair)) {
                return null;
            }
            return start(record(pair));
        }
    }

    /**
     * The store took a reserve of {@code subject} with {@code key} (a first one, or its replay): recorded, running,
     * as the store's, which answers a retry itself while it is reachable. Unless a request with the key was let
     * through uncharged meanwhile (its reserve met the outage while this one was on its way to the store, which
     * never saw that call): then null, this one is its replay, though the store took it as a first request (round
     * 508: both were served, two model calls for one key). The pair stays the let-through call's.
     */
    Call reserved(String subject, String key) {
        ByteBuffer pair = digest(subject, key);
        synchronized (kept) {
            dropExpired(clock.get());
            Entry entry = kept.get(pair);
            if (entry == null) {
                entry = record(pair);
            } else if (!entry.stored) {
                return null;
            }
            entry.stored = true;
            return start(entry);
        }
    }

    /**
     * Whether a call of {@code subject} with {@code key} went through uncharged and the store never saw the key,
     * its call running or ended within a TTL: a retry is a replay, though the store would take it as a first request.
     */
    boolean letThroughOnly(String subject, String key) {
        ByteBuffer pair = digest(subject, key);
        synchronized (kept) {
            if (kept.isEmpty()) {
                return false;
            }
            Instant now = clock.get();
            dropExpired(now);
            Entry entry = kept.get(pair);
            return entry != null && !entry.stored && entry.keptAt(now);
        }
    }

    /** How many pairs are kept (expired ones the next call drops included). */
    int size() {
        synchronized (kept) {
            return kept.size();
        }
    }

    /** Puts a new entry last, dropping the oldest past the maximum. */
    private Entry record(ByteBuffer pair) {
        Entry entry = new Entry(pair);
        kept.put(pair, entry);
        while (kept.size() > maximum) {
            Iterator<ByteBuffer> oldest = kept.keySet().iterator();
            oldest.next();
            oldest.remove();
        }
        return entry;
    }

    private Call start(Entry entry) {
        entry.running++;
        return new Call(entry);
    }

    /**
     * Drops the pairs past their TTL. The entries whose calls have ended are in the order of their expiry, so the
     * first of them still kept ends the walk; the running ones met before it are skipped (as many as calls run).
     */
    private void dropExpired(Instant now) {
        Iterator<Entry> oldest = kept.values().iterator();
        while (oldest.hasNext()) {
            Entry entry = oldest.next();
            if (entry.running > 0) {
                continue;
            }
            if (entry.until.isAfter(now)) {
                return;
            }
            oldest.remove();
        }
    }

    /**
     * One call of a recorded pair: its pair is kept while it runs, and for a TTL after {@link #ended}. It is also
     * the listener of the async cycle such a call starts without a settlement (a call let through): the cycle's
     * end is the call's.
     */
    final class Call implements AsyncListener {
        private final Entry entry;
        private final AtomicBoolean over = new AtomicBoolean();

        private Call(Entry entry) {
            this.entry = entry;
        }

        /**
         * The call is over: its pair is kept a TTL from now (once every call of the pair is over). A second end (the
         * cycle's completion after its timeout or error, when the application may still have written the answer)
         * only moves that TTL on.
         */
        void ended() {
            boolean first = over.compareAndSet(false, true);
            Instant now = clock.get();
            synchronized (kept) {
                if (kept.get(entry.pair) != entry) {
                    // dropped past the maximum while it ran
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
                    kept.remove(entry.pair);
                    kept.put(entry.pair, entry);
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
