package io.tokenquota.servlet;

import io.tokenquota.TokenEstimator;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.Charset;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;

/**
 * The tokens of a model's text written raw, without a provider's JSON around it: a {@code text/plain}
 * answer (Spring AI's {@code call().content()} returned as a {@code String}) or an event stream's
 * events whose data is no JSON document ({@code Flux<String>}: {@code data:} and the text). No usage
 * comes with such an answer, and its text is what the model wrote. Counted as it passes, in bounded
 * memory: the bytes are decoded in their charset into a window of {@link #WINDOW} characters, each full
 * window (or piece, {@link #endPiece}) is estimated and emptied (a word cut at a window's end counts a
 * token more, never less). Not thread-safe.
 */
final class RawText {
    /** Characters estimated at once. */
    static final int WINDOW = 4096;

    private final TokenEstimator estimator;
    private final CharsetDecoder decoder;
    private final CharBuffer window = CharBuffer.allocate(WINDOW);
    /** The bytes of a character cut at the end of a write, decoded with the next. */
    private ByteBuffer leftover = ByteBuffer.allocate(0);
    private long tokens;

    RawText(TokenEstimator estimator, Charset charset) {
        this.estimator = estimator;
        this.decoder = charset.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE);
    }

    void feed(byte[] b, int off, int len) {
        ByteBuffer in;
        if (leftover.hasRemaining()) {
            in = ByteBuffer.allocate(leftover.remaining() + len);
            in.put(leftover).put(b, off, len).flip();
        } else {
            in = ByteBuffer.wrap(b, off, len);
        }
        while (true) {
            decoder.decode(in, window, false);
            if (window.hasRemaining()) {
                break;
            }
            count();
        }
        leftover = in.hasRemaining() ? ByteBuffer.allocate(in.remaining()).put(in).flip() : ByteBuffer.allocate(0);
    }

    /**
     * Ends a piece: what was fed since the last one is estimated on its own. An event stream's events
     * are the pieces of a {@code Flux<String>}, about a token each, whose leading space the event
     * format takes off ({@code data: word}): estimated run together, their words would count as one.
     */
    void endPiece() {
        if (window.position() > 0) {
            count();
        }
    }

    /** The tokens of what was fed so far, the characters not yet estimated included. */
    long tokens() {
        long pending = window.position() == 0 ? 0 : estimator.estimate(CharBuffer.wrap(window.array(), 0, window.position()));
        // a character cut at the end is at most one token more
        return StreamText.plus(tokens, pending + (leftover.hasRemaining() ? 1 : 0));
    }

    private void count() {
        window.flip();
        tokens = StreamText.plus(tokens, estimator.estimate(window));
        window.clear();
    }
}
