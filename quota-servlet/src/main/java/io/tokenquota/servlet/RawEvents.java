package io.tokenquota.servlet;

/**
 * The raw events of a stream (data that is no JSON document) that repeat the event before them: an
 * application that renders the message so far and sends it whole in every event (markdown rendered on the
 * server, an HTML fragment the page swaps in) writes each earlier event again, and the model wrote it once.
 * An event that starts with the one before it (less that one's closing markup, {@code </p></div>}) is that
 * one grown; what the earlier one counted is counted again in it, and is given back. Only events of
 * {@link #SHORTEST} bytes or more are compared: a stream of deltas (a token an event) repeats a word now
 * and then, which the model did write twice. Events of any length are compared whole, in bounded memory:
 * by a hash of their bytes (a multiplier drawn for each stream, so no text can be written to collide), kept
 * for every prefix of the last {@link #TAIL} bytes, where the closing markup is (round 224: a revision that
 * kept its draft's first 6,000 characters was taken for the draft grown, compared by its first 4,096).
 * Not thread-safe.
 */
final class RawEvents {
    /** The shortest event compared with the next: longer than any delta a provider streams. */
    static final int SHORTEST = 64;
    /** The most closing markup taken off an event's end before it is compared. */
    private static final int MARKUP = 64;
    /** The bytes of an event's end kept, with the hash of what comes before each. */
    private static final int TAIL = 256;

    private final long base = new java.util.SplittableRandom().nextLong() | 1;

    /** The event being read: its length, its hash, its last bytes and the hash before each. */
    private long length;
    private long hash;
    private final byte[] tail = new byte[TAIL];
    private final long[] tailHashes = new long[TAIL];
    /** The hash of the event being read when it was as long as the last one's content. */
    private long hashAtLast;
    private boolean reachedLast;

    /** The last event: the length and hash of its content (less its closing markup), and what it counted. */
    private long lastContent = -1;
    private long lastHash;
    private long lastCounted;

    /** More bytes of the current event. */
    void feed(byte[] b, int off, int len) {
        for (int i = off; i < off + len; i++) {
            if (length == lastContent) {
                hashAtLast = hash;
                reachedLast = true;
            }
            int at = (int) (length % TAIL);
            tail[at] = b[i];
            tailHashes[at] = hash;
            hash = hash * base + (b[i] & 0xFF) + 1;
            length++;
        }
    }

    /**
     * The current event ended, and counted {@code counted} tokens: what of them the event before it had
     * counted already (that event's count when this one repeats it, else 0). It is the last event now.
     */
    long counted(long counted) {
        if (length == lastContent) {
            hashAtLast = hash;
            reachedLast = true;
        }
        long repeated = lastContent >= SHORTEST && reachedLast && hashAtLast == lastHash
                ? Math.min(lastCounted, counted) : 0;
        int kept = (int) Math.min(length, TAIL);
        byte[] end = new byte[kept];
        for (int i = 0; i < kept; i++) {
            end[i] = tail[(int) ((length - kept + i) % TAIL)];
        }
        long content = length - kept + content(end, kept);
        lastContent = content;
        lastHash = content == length ? hash : tailHashes[(int) (content % TAIL)];
        lastCounted = counted;
        reset();
        return repeated;
    }

    /** Forgets the current event (one that was no raw text, or was counted). */
    void reset() {
        length = 0;
        hash = 0;
        reachedLast = false;
    }

    /**
     * The length of {@code bytes} less its trailing white space, closing markup and typing cursor (at most
     * {@link #MARKUP}): an empty element ({@code <span class="cursor"></span>}) or a block character
     * ({@code ▌ █}, U+2580 to U+259F) that a chat page shows after the message while the model writes
     * (round 229: with it, no event started with the one before, and every prefix was charged: 39,225 for a
     * 561-token answer).
     */
    private static int content(byte[] bytes, int length) {
        int end = length;
        boolean closed = false;
        while (end > 0 && length - end <= MARKUP) {
            while (end > 0 && Character.isWhitespace(bytes[end - 1])) {
                end--;
            }
            if (end >= 3 && (bytes[end - 3] & 0xFF) == 0xE2 && (bytes[end - 2] & 0xFF) == 0x96
                    && (bytes[end - 1] & 0xFF) >= 0x80 && (bytes[end - 1] & 0xFF) <= 0x9F) {
                end -= 3;
                closed = false;
                continue;
            }
            if (end == 0 || bytes[end - 1] != '>') {
                break;
            }
            int open = end - 1;
            while (open > 0 && bytes[open] != '<' && end - open <= MARKUP) {
                open--;
            }
            if (bytes[open] != '<' || open + 1 >= end) {
                break;
            }
            if (bytes[open + 1] != '/') {
                // an opening tag right before the closing one just taken off: an empty element, a cursor
                if (!closed) {
                    break;
                }
                closed = false;
            } else {
                closed = true;
            }
            end = open;
        }
        return end;
    }
}
