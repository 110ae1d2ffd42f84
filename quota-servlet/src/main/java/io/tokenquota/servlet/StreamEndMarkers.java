package io.tokenquota.servlet;

import java.nio.charset.StandardCharsets;

/**
 * Takes an event stream's end marker, {@code [DONE]}, out from between JSON documents written one after
 * another: a relay that passes a provider's stream on as its HTTP client decoded it (WebClient's
 * {@code bodyToFlux(String.class)} returned as NDJSON or as text) passes each call's marker on with its
 * chunks. The marker is no JSON; left in, it would end the reading of the documents (an agent's later
 * calls and their usage unread) or make them all look like a model's text (round 230: 22,806 charged for a
 * 340-token call; round 234: a second call's 11,500 tokens unread). Only a marker at the top level, outside
 * any document and string, is taken out. Not thread-safe.
 */
final class StreamEndMarkers {
    private static final byte[] MARKER = "[DONE]".getBytes(StandardCharsets.US_ASCII);

    /** Where the bytes passed on stand: the documents' nesting, and inside a string (after a backslash). */
    private int depth;
    private boolean inString;
    private boolean escaped;
    /** How many bytes of a marker at the top level were read and held back. */
    private int matched;
    private byte[] out = new byte[0];
    private int length;

    /** {@code b[off..off+len)} less the markers in it: {@link #bytes()} up to {@link #length()}. */
    void filter(byte[] b, int off, int len) {
        if (out.length < len + MARKER.length) {
            out = new byte[len + MARKER.length];
        }
        length = 0;
        for (int i = off; i < off + len; i++) {
            step(b[i]);
        }
    }

    /** The end of the input: a marker's start that never completed is passed on after all. */
    void flush() {
        if (out.length < MARKER.length) {
            out = new byte[MARKER.length];
        }
        length = 0;
        int held = matched;
        matched = 0;
        for (int i = 0; i < held; i++) {
            pass(MARKER[i]);
        }
    }

    byte[] bytes() {
        return out;
    }

    int length() {
        return length;
    }

    private void step(byte c) {
        if (matched > 0) {
            if (c == MARKER[matched]) {
                if (++matched == MARKER.length) {
                    matched = 0;
                }
                return;
            }
            // no marker: what was held back is the documents' (an array's opening bracket)
            int held = matched;
            matched = 0;
            for (int i = 0; i < held; i++) {
                pass(MARKER[i]);
            }
        }
        if (c == MARKER[0] && depth == 0 && !inString) {
            matched = 1;
            return;
        }
        pass(c);
    }

    private void pass(byte c) {
        out[length++] = c;
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
            }
            return;
        }
        switch (c) {
            case '"' -> inString = true;
            case '{', '[' -> depth++;
            case '}', ']' -> depth = Math.max(0, depth - 1);
            default -> {
            }
        }
    }
}
