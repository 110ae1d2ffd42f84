package io.tokenquota.servlet;

/**
 * The raw events of a stream (data that is no JSON document) that repeat the event before them: an
 * application that renders the message so far and sends it whole in every event (markdown rendered on the
 * server, an HTML fragment the page swaps in) writes each earlier event again, and the model wrote it once.
 * An event that starts with the one before it (less that one's closing markup, {@code </p></div>}) is that
 * one grown; what the earlier one counted is counted again in it, and is given back. Only events of
 * {@link #SHORTEST} bytes or more are compared: a stream of deltas (a token an event) repeats a word now
 * and then, which the model did write twice. Events of any length are compared whole, in bounded memory:
 * by a hash of their bytes, kept for every prefix of the last {@link #TAIL} bytes, where the closing
 * markup is (round 224: a revision that kept its draft's first 6,000 characters was taken for the draft
 * grown, compared by its first 4,096).
 * Each event is compared with the last of its own name: a page that swaps each named event into its own
 * target (htmx's {@code sse-swap}) sends the message so far and a status line in turn (round 230: compared
 * with the status line, every prefix was charged, 38,678 for a 561-token answer); the last events of
 * {@link #NAMES} names are kept. The hash is a polynomial one modulo the prime 2^61 - 1 at a point drawn for
 * each stream: two texts of n bytes agree at fewer than n of its 2^61 points, so no text can be written to
 * collide (round 238: modulo 2^64, the one a multiply wraps to, a text and its Thue-Morse reordering collide
 * at every odd point, and five lines of 3,072 tokens each were charged as one). Not thread-safe.
 */
final class RawEvents {
    /** The shortest event compared with the next: longer than any delta a provider streams. */
    static final int SHORTEST = 64;
    /** The most closing markup taken off an event's end before it is compared. */
    private static final int MARKUP = 64;
    /** The bytes of an event's end kept, with the hash of what comes before each. */
    private static final int TAIL = 256;
    /**
     * The event names whose last event is kept: the least recently seen is forgotten past these (round 238:
     * a page that swaps the message so far and ten sources' cards, each its own name, cycled through 8).
     */
    private static final int NAMES = 64;
    /** The hash's modulus, the Mersenne prime 2^61 - 1. */
    private static final long PRIME = (1L << 61) - 1;

    /** The hash's point, drawn for each stream among 2^61 - 2 (not 0). */
    private final long base = 1 + new java.util.SplittableRandom().nextLong(PRIME - 1);

    /** The event being read: its length, its hash, its last bytes and the hash before each. */
    private long length;
    private long hash;
    private final byte[] tail = new byte[TAIL];
    private final long[] tailHashes = new long[TAIL];

    /** An event's content (less its closing markup): its length and hash, and what the event counted. */
    private record Last(long content, long hash, long counted) {
    }

    /** The last event of each name (an unnamed event is a {@code message}, as a browser dispatches it). */
    private final java.util.Map<String, Last> lasts = new java.util.LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<String, Last> eldest) {
            return size() > NAMES;
        }
    };
    /**
     * The lengths of the last events' contents, ascending, and the current event's hash at each once it
     * was that long ({@link #reached} of them so far): the name of an event may come after its data.
     */
    private long[] checkpoints = new long[0];
    private long[] hashesAt = new long[0];
    private int reached;

    /** More bytes of the current event. */
    void feed(byte[] b, int off, int len) {
        for (int i = off; i < off + len; i++) {
            checkpoint();
            int at = (int) (length % TAIL);
            tail[at] = b[i];
            tailHashes[at] = hash;
            hash = add(multiply(hash, base), (b[i] & 0xFF) + 1);
            length++;
        }
    }

    /** {@code a * b} modulo {@link #PRIME}, both below it. */
    private static long multiply(long a, long b) {
        long high = Math.multiplyHigh(a, b);
        long low = a * b;
        // the product is high * 2^64 + low (unsigned), and 2^61 is 1 modulo the prime
        return add(low & PRIME, (low >>> 61) | (high << 3));
    }

    /** {@code a + b} modulo {@link #PRIME}, both below 2^62. */
    private static long add(long a, long b) {
        long sum = a + b;
        sum = (sum & PRIME) + (sum >>> 61);
        return sum >= PRIME ? sum - PRIME : sum;
    }

    private void checkpoint() {
        while (reached < checkpoints.length && checkpoints[reached] == length) {
            hashesAt[reached++] = hash;
        }
    }

    /**
     * The current event, named {@code name} ({@code null}: unnamed), ended, and counted {@code counted}
     * tokens: what of them the last event of that name had counted already (that event's count when this one
     * repeats it, else 0). It is the last event of its name now.
     */
    long counted(long counted, String name) {
        checkpoint();
        String key = name == null ? "message" : name;
        Last last = lasts.get(key);
        long repeated = 0;
        if (last != null && last.content >= SHORTEST) {
            int i = java.util.Arrays.binarySearch(checkpoints, last.content);
            if (i >= 0 && i < reached && hashesAt[i] == last.hash) {
                repeated = Math.min(last.counted, counted);
            }
        }
        int kept = (int) Math.min(length, TAIL);
        byte[] end = new byte[kept];
        for (int i = 0; i < kept; i++) {
            end[i] = tail[(int) ((length - kept + i) % TAIL)];
        }
        long content = length - kept + content(end, kept);
        lasts.put(key, new Last(content, content == length ? hash : tailHashes[(int) (content % TAIL)], counted));
        checkpoints = lasts.values().stream().mapToLong(Last::content).sorted().toArray();
        hashesAt = new long[checkpoints.length];
        reset();
        return repeated;
    }

    /** Forgets the current event (one that was no raw text, or was counted). */
    void reset() {
        length = 0;
        hash = 0;
        reached = 0;
    }

    /**
     * The length of {@code bytes} less its trailing white space, closing markup and typing cursor (at most
     * {@link #MARKUP}): an empty element ({@code <span class="cursor"></span>}), one holding only the
     * cursor, or the cursor alone: a block character ({@code ▌ ▍ █}, U+2580 to U+259F), or a bar or an
     * underscore after a space ({@code " |"}), that a chat page shows after the message while the model
     * writes (rounds 229 and 230: with it, no event started with the one before, and every prefix was
     * charged: 39,351 for a 561-token answer).
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
                // the element that held it, if any, stays empty
                end -= 3;
                continue;
            }
            if (end >= 2 && (bytes[end - 1] == '|' || bytes[end - 1] == '_') && bytes[end - 2] == ' ') {
                end -= 1;
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
