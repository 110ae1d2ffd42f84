package io.tokenquota.servlet;

import java.util.Arrays;

/**
 * The raw events of a stream (data that is no JSON document) that repeat the event before them: an
 * application that renders the message so far and sends it whole in every event (markdown rendered on the
 * server, an HTML fragment the page swaps in) writes each earlier event again, and the model wrote it once.
 * An event that starts with the one before it (less that one's closing markup, {@code </p></div>}) is that
 * one grown; what the earlier one counted is counted again in it, and is given back. Only events of
 * {@link #SHORTEST} bytes or more are compared: a stream of deltas (a token an event) repeats a word now
 * and then, which the model did write twice. Keeps the last event's first {@link RawText#WINDOW} bytes.
 * Not thread-safe.
 */
final class RawEvents {
    /** The shortest event compared with the next: longer than any delta a provider streams. */
    static final int SHORTEST = 64;
    /** The most closing markup taken off an event's end before it is compared. */
    private static final int MARKUP = 64;

    private final byte[] last = new byte[RawText.WINDOW];
    private int lastLength;
    private long lastCounted;

    /**
     * Records an event ({@code length} bytes of {@code event}) that counted {@code counted} tokens, and
     * returns what of them the event before it had counted already: that event's count when this one
     * repeats it, else 0.
     */
    long counted(byte[] event, int length, long counted) {
        int kept = content(last, lastLength);
        long repeated = kept >= SHORTEST && length >= kept && Arrays.equals(last, 0, kept, event, 0, kept)
                ? Math.min(lastCounted, counted) : 0;
        System.arraycopy(event, 0, last, 0, length);
        lastLength = length;
        lastCounted = counted;
        return repeated;
    }

    /** The length of {@code bytes} less its trailing white space and closing markup (at most {@link #MARKUP}). */
    private static int content(byte[] bytes, int length) {
        int end = length;
        while (end > 0 && length - end <= MARKUP) {
            while (end > 0 && Character.isWhitespace(bytes[end - 1])) {
                end--;
            }
            if (end == 0 || bytes[end - 1] != '>') {
                break;
            }
            int open = end - 1;
            while (open > 0 && bytes[open] != '<' && end - open <= MARKUP) {
                open--;
            }
            if (bytes[open] != '<' || open + 1 >= end || bytes[open + 1] != '/') {
                break;
            }
            end = open;
        }
        return end;
    }
}
