package io.tokenquota.servlet;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.Map;

/**
 * The usage of the calls one answer reports one by one (a batch results file's lines, llama.cpp's
 * answer to a list of prompts), added up, in memory that does not grow with what the client chose to
 * name its calls: a finished call's counts go into a running total at once, and only a 64-bit digest
 * of its name is kept, so that a second report of it is not counted again. A call still running (a
 * llama.cpp stream's running counts, before its {@code "stop": true}) keeps its last report until it
 * finishes. The digest is keyed by a random salt of this process, so no client can choose two names
 * that collide. The digests of the finished calls also make the answer's {@link #fingerprint} when each
 * is named by an id its provider gave it: the same results read again have the same one. Not
 * thread-safe: {@link UsageSniffer} guards it.
 */
final class AnswerCalls {
    /** Calls running at once whose last report is kept; reports of more are added up as they come. */
    static final int MAX_RUNNING = 10_000;
    /** Finished calls whose digests are kept (in 2 MB at most); reports of more are added up as they come. */
    static final int MAX_FINISHED = 100_000;
    private static final byte[] SALT = new byte[16];

    static {
        new SecureRandom().nextBytes(SALT);
    }

    private final MessageDigest sha256;
    /** The finished calls' digests, combined (exclusive or) and counted. */
    private long combined;
    private long combinedCount;
    /** {@code {total, input, cachedInput, output, reasoning}} of the finished calls and of those past the limits. */
    private final long[] counted = new long[5];
    private final Map<Long, long[]> running = new HashMap<>();
    /** Open addressing over the digests of finished calls; 0 marks a free slot (a digest of 0 is stored as 1). */
    private long[] finished = new long[1024];
    private int finishedCount;
    private boolean any;
    /** A finished call was named by nothing but what its client chose (a custom_id, an index). */
    private boolean unidentified;
    /** The last final report under each name a client chose (its total and measure), by the name's digest; at most {@link #MAX_RUNNING}. */
    private final Map<Long, Long> lastTotals = new HashMap<>();
    /** Calls counted as others under a name already finished, and the digest each such name's latest call has. */
    private long renamed;
    private final Map<Long, Long> aliases = new HashMap<>();

    AnswerCalls() {
        sha256 = sha256();
    }

    /** A new SHA-256 digest: the one helper the filter's digests (of names, prompts, keys) are made with. */
    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    /**
     * One report of the call named {@code call}: {@code entry} is {@code {total, input, cachedInput,
     * output, reasoning}}; {@code ended} when these are its final counts; {@code identified} when the
     * name holds an id the provider gave the call. A finished call's first final report counts; later
     * reports of it are ignored, but for one under a name its client chose whose counts (or what the call
     * measured of itself, {@code measured}: llama.cpp's timings) differ from that name's last final report:
     * another call.
     */
    void report(String call, long[] entry, boolean ended, boolean identified, String measured) {
        any = true;
        // a report is known again by its counts and what its call measured of itself (llama.cpp's timings)
        long sameness = entry[0] * 31 + (measured == null ? 0 : measured.hashCode());
        long named = digest(call);
        Long alias = aliases.get(named);
        long digest = alias != null ? alias : named;
        if (isFinished(digest)) {
            Long last = identified ? null : lastTotals.get(named);
            if (last == null || last == sameness || aliases.size() >= MAX_RUNNING && alias == null) {
                return;
            }
            // other counts under a name its client gave, after that call finished: another call (llama.cpp
            // answers every request as index 0: round 278, two drafts relayed as a list were charged as one),
            // whose later reports go under the same new name
            digest = digest(call + "\u0000" + ++renamed);
            aliases.put(named, digest);
        }
        if (ended && !identified && (lastTotals.size() < MAX_RUNNING || lastTotals.containsKey(named))) {
            lastTotals.put(named, sameness);
        }
        if (ended) {
            unidentified |= !identified;
            running.remove(digest);
            add(entry);
            combined ^= digest;
            combinedCount++;
            if (finishedCount < MAX_FINISHED) {
                remember(digest);
            }
        } else if (running.size() < MAX_RUNNING || running.containsKey(digest)) {
            running.put(digest, entry);
        } else {
            add(entry);
        }
    }

    /**
     * Which finished calls the answer reported, as one string (their digests combined and counted),
     * or {@code null} while a call still runs or when one was named by its client alone: the same
     * results read again (a batch's output file downloaded twice) have the same fingerprint, and a
     * later answer whose calls reuse the client's names (llama.cpp's index 0, a batch's custom_ids
     * given again) is other calls.
     */
    String fingerprint() {
        return combinedCount == 0 || !running.isEmpty() || unidentified ? null
                : Long.toHexString(combined) + "/" + combinedCount;
    }

    /** Whether any call was reported. */
    boolean any() {
        return any;
    }

    /** Whether a call's last report came before its final counts. */
    boolean anyRunning() {
        return !running.isEmpty();
    }

    /** The calls' usage added up, {@code {total, input, cachedInput, output, reasoning}}. */
    long[] total() {
        long[] total = counted.clone();
        for (long[] one : running.values()) {
            addTo(total, one);
        }
        return total;
    }

    private void add(long[] entry) {
        addTo(counted, entry);
    }

    private static void addTo(long[] sum, long[] entry) {
        for (int i = 0; i < sum.length; i++) {
            sum[i] = sum[i] + entry[i] < 0 ? Long.MAX_VALUE : sum[i] + entry[i];
        }
    }

    private long digest(String call) {
        return digest(sha256, call);
    }

    /**
     * A name's 64-bit digest, keyed by this process's random salt (never 0): what is kept of a name
     * the answer chose, here and for the messages of {@link UsageSniffer}'s LangChain reports.
     */
    static long digest(MessageDigest sha256, String name) {
        sha256.update(SALT);
        byte[] d = sha256.digest(name.getBytes(StandardCharsets.UTF_8));
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | (d[i] & 0xFF);
        }
        return v == 0 ? 1 : v;
    }

    private boolean isFinished(long digest) {
        int mask = finished.length - 1;
        for (int i = slot(digest, mask); finished[i] != 0; i = (i + 1) & mask) {
            if (finished[i] == digest) {
                return true;
            }
        }
        return false;
    }

    private void remember(long digest) {
        if ((finishedCount + 1) * 2 > finished.length) {
            long[] old = finished;
            finished = new long[old.length * 2];
            for (long d : old) {
                if (d != 0) {
                    insert(d);
                }
            }
        }
        insert(digest);
        finishedCount++;
    }

    private void insert(long digest) {
        int mask = finished.length - 1;
        int i = slot(digest, mask);
        while (finished[i] != 0) {
            i = (i + 1) & mask;
        }
        finished[i] = digest;
    }

    private static int slot(long digest, int mask) {
        return (int) (digest ^ (digest >>> 32)) & mask;
    }
}
