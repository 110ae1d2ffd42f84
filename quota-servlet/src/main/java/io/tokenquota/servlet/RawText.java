package io.tokenquota.servlet;

import io.tokenquota.TokenEstimator;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.Charset;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;

/**
 * The tokens of a model's text written raw, without a provider's JSON around it: a {@code text/plain}
 * answer (Spring AI's {@code call().content()} returned as a {@code String}) or an event stream's
 * events whose data is no JSON document ({@code Flux<String>}: {@code data:} and the text). No usage
 * comes with such an answer, and its text is what the model wrote. Counted as it passes, in bounded
 * memory: the bytes are decoded in their charset into a window of {@link #WINDOW} characters, each full
 * window (or piece, {@link #endPiece}) is estimated and emptied (a word cut at a window's end counts a
 * token more, never less). Encoded data among the text ({@link #LONGEST_WORD}) is not counted. Not
 * thread-safe.
 */
final class RawText {
    /** Characters estimated at once. */
    static final int WINDOW = 4096;
    /**
     * The longest run of base64's characters (letters, digits, {@code + / = - _}, line breaks) counted as
     * text unjudged; a longer one is judged by stretches of this length: a stretch that looks like a file's
     * base64 or hex (an image as a {@code data:} URL or bare base64, a hex dump) is encoded data, no words a
     * model wrote, and at a token every few characters it would cost many times what the call did; any
     * other stretch is text ({@link #words}).
     */
    static final int LONGEST_WORD = 256;

    private final TokenEstimator estimator;
    private final CharsetDecoder decoder;
    private final CharBuffer decoded = CharBuffer.allocate(WINDOW);
    private final CharBuffer window = CharBuffer.allocate(WINDOW);
    /** The stretch of the run of base64's characters being read, judged when it reaches {@link #LONGEST_WORD}. */
    private final char[] run = new char[LONGEST_WORD];
    private int runLength;
    /** The last whole stretch ({@link #LONGEST_WORD}) of the run being read was encoded data, passed over. */
    private boolean encodedData;
    /** The characters of base64's alphabet since the last line break or other character. */
    private int lineLength;
    /**
     * The longest line a run does not go on after: base64 is mostly written in MIME's lines of 76
     * characters, and a line of a model's text that has no blank (a number, an id, a 256-bit key in hex, a
     * sequence in FASTA's 60) is this long or shorter (round 214). PEM's lines of 64 are counted line by line.
     */
    private static final int LONG_LINE = 64;

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
            CoderResult result = decoder.decode(in, decoded, false);
            decoded.flip();
            while (decoded.hasRemaining()) {
                take(decoded.get());
            }
            decoded.clear();
            if (!result.isOverflow()) {
                break;
            }
        }
        leftover = in.hasRemaining() ? ByteBuffer.allocate(in.remaining()).put(in).flip() : ByteBuffer.allocate(0);
    }

    private void take(char c) {
        if (c == '\n' || c == '\r') {
            if (lineLength <= LONG_LINE) {
                // a short line (a number, an id, a word on its own line) ends the run: only base64's own lines
                // are long
                lineLength = 0;
                endRun();
                put(c);
                return;
            }
            if (c == '\n') {
                lineLength = 0;
            }
        } else if (encoded(c)) {
            lineLength++;
        } else {
            lineLength = 0;
        }
        if (encoded(c)) {
            if (runLength == run.length) {
                // each stretch of a long run is judged on its own: a run may open with a nonce or a header of
                // silence and go on as something else (round 214)
                boolean text = words();
                if (text) {
                    for (int i = 0; i < runLength; i++) {
                        put(run[i]);
                    }
                }
                encodedData = !text;
                runLength = 0;
            }
            run[runLength++] = c;
            return;
        }
        endRun();
        put(c);
    }

    /**
     * The run of base64's characters ended: its last stretch is text, counted, unless the stretch before
     * it was encoded data, whose end (its padding) it is.
     */
    private void endRun() {
        if (!encodedData) {
            for (int i = 0; i < runLength; i++) {
                put(run[i]);
            }
        }
        runLength = 0;
        encodedData = false;
    }

    /**
     * Whether the full run is text a model wrote rather than encoded data: anything but what base64 or hex
     * of a file looks like ({@link #looksEncoded}), and text encoded so ({@link #encodesText}). Words joined
     * by hyphens, underscores, {@code +} or {@code /} or run together (rounds 196, 205), numbers, ids,
     * sequences of any alphabet (rounds 212, 213), binary or base32 of text: none has base64's mix of both
     * cases and digits, or a hex dump's digits and letters a-f.
     */
    private boolean words() {
        return !looksEncoded() || encodesText();
    }

    /**
     * Whether the full run mixes characters as the base64 of a file does (images, PDFs, compressed data
     * spread over its 64 symbols: a tenth or more upper case, a tenth or more lower case, one in 25 or more a
     * digit), or as its hex does (only {@code 0-9a-f}, two in five or more digits and a tenth or more
     * letters).
     */
    private boolean looksEncoded() {
        int upper = 0;
        int lower = 0;
        int digits = 0;
        int hexLetters = 0;
        int other = 0;
        int n = 0;
        for (int i = 0; i < runLength; i++) {
            char c = run[i];
            if (c == '\n' || c == '\r') {
                continue;
            }
            n++;
            if (c >= '0' && c <= '9') {
                digits++;
            } else if (c >= 'A' && c <= 'Z') {
                upper++;
                hexLetters += c <= 'F' ? 1 : 0;
                other += c <= 'F' ? 0 : 1;
            } else if (c >= 'a' && c <= 'z') {
                lower++;
                hexLetters += c <= 'f' ? 1 : 0;
                other += c <= 'f' ? 0 : 1;
            } else {
                other++;
            }
        }
        boolean base64 = upper * 10 >= n && lower * 10 >= n && digits * 25 >= n;
        boolean hex = other == 0 && digits * 5 >= n * 2 && hexLetters * 10 >= n;
        return base64 || hex;
    }

    /**
     * Whether the full run is base64 or hex whose bytes are text (UTF-8 with no control characters but
     * white space): a model told to answer in base64 or hex (round 210: a story of 3,119 tokens written as
     * 26,672 base64 characters was charged 1,021), billed for every token it wrote. An image, a PDF or any
     * other file decodes to bytes that are no such text, and is passed over.
     */
    private boolean encodesText() {
        StringBuilder clean = new StringBuilder(runLength);
        boolean hex = true;
        for (int i = 0; i < runLength; i++) {
            char c = run[i];
            if (c != '\n' && c != '\r') {
                clean.append(c == '-' ? '+' : c == '_' ? '/' : c);
                hex &= c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F';
            }
        }
        if (hex) {
            // a stretch starts anywhere in the hex: both alignments are tried
            for (int skip = 0; skip < 2; skip++) {
                byte[] bytes = new byte[(clean.length() - skip) / 2];
                for (int i = 0; i < bytes.length; i++) {
                    bytes[i] = (byte) Integer.parseInt(clean, skip + 2 * i, skip + 2 * i + 2, 16);
                }
                if (isText(bytes)) {
                    return true;
                }
            }
            return false;
        } else {
            // a stretch starts anywhere in the base64: each of the four alignments is tried
            for (int skip = 0; skip < 4; skip++) {
                String aligned = clean.substring(Math.min(skip, clean.length()));
                int padding = aligned.indexOf('=');
                int end = (padding >= 0 ? padding : aligned.length()) / 4 * 4;
                try {
                    if (isText(java.util.Base64.getDecoder().decode(aligned.substring(0, end)))) {
                        return true;
                    }
                } catch (IllegalArgumentException notBase64) {
                    return false;
                }
            }
            return false;
        }
    }

    /** Whether {@code bytes} are UTF-8 text (a character cut at the end allowed) with no control character but white space. */
    private static boolean isText(byte[] bytes) {
        if (bytes.length < 16) {
            return false;
        }
        // a stretch may start inside a character: its continuation bytes are passed over
        int start = 0;
        while (start < 3 && (bytes[start] & 0xC0) == 0x80) {
            start++;
        }
        CharBuffer chars = CharBuffer.allocate(bytes.length);
        CoderResult result = java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(bytes, start, bytes.length - start), chars, false);
        if (result.isError()) {
            return false;
        }
        chars.flip();
        while (chars.hasRemaining()) {
            char c = chars.get();
            if (Character.isISOControl(c) && c != '\n' && c != '\r' && c != '\t') {
                return false;
            }
        }
        return true;
    }

    private void put(char c) {
        window.put(c);
        if (!window.hasRemaining()) {
            count();
        }
    }

    /**
     * A character of a run: base64's (URL-safe too), and line breaks after a long line ({@link #LONG_LINE}),
     * since base64 is mostly written in lines (MIME's 76 characters, PEM's 64, round 207: an e-mail's
     * attachment in lines was counted as 33,889 tokens of text); a short line ends the run (round 212: a
     * list of numbers, one per line, was passed over).
     */
    private static boolean encoded(char c) {
        return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                || c == '+' || c == '/' || c == '=' || c == '-' || c == '_' || c == '\n' || c == '\r';
    }

    /** Whether what was fed last is encoded data ({@link #LONGEST_WORD}), passed over until it ends. */
    boolean inEncodedData() {
        return encodedData;
    }

    /**
     * Ends a piece: what was fed since the last one is estimated on its own. An event stream's events
     * are the pieces of a {@code Flux<String>}, about a token each, whose leading space the event
     * format takes off ({@code data: word}): estimated run together, their words would count as one.
     */
    void endPiece() {
        endRun();
        if (window.position() > 0) {
            count();
        }
    }

    /** The tokens of what was fed so far, the characters not yet estimated included. */
    long tokens() {
        long pending = 0;
        if (window.position() > 0 || runLength > 0) {
            CharBuffer rest = CharBuffer.allocate(window.position() + runLength);
            rest.put(window.array(), 0, window.position()).put(run, 0, runLength).flip();
            pending = estimator.estimate(rest);
        }
        // a character cut at the end is at most one token more
        return StreamText.plus(tokens, pending + (leftover.hasRemaining() ? 1 : 0));
    }

    private void count() {
        window.flip();
        tokens = StreamText.plus(tokens, estimator.estimate(window));
        window.clear();
    }
}
