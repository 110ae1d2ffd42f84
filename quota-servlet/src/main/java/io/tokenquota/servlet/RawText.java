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
     * The longest run of base64's characters (letters, digits, {@code + / = - _}, line breaks) counted as text: longer
     * ones are encoded data (an image as a {@code data:} URL or bare base64, a hex dump), no words a model
     * wrote, and at a token every few characters they would cost many times what the call did; unless the
     * run reads as words ({@link #words}: joined by hyphens or underscores, or run together), which are
     * counted.
     */
    static final int LONGEST_WORD = 256;

    private final TokenEstimator estimator;
    private final CharsetDecoder decoder;
    private final CharBuffer decoded = CharBuffer.allocate(WINDOW);
    private final CharBuffer window = CharBuffer.allocate(WINDOW);
    /** The run of base64's characters being read, until it ends or passes {@link #LONGEST_WORD}. */
    private final char[] run = new char[LONGEST_WORD];
    private int runLength;
    /** The run being read passed {@link #LONGEST_WORD}: its characters are passed over until it ends. */
    private boolean encodedData;
    /** The run being read passed {@link #LONGEST_WORD} as words ({@link #words}): counted. */
    private boolean joinedWords;
    /** The characters of base64's alphabet since the last line break or other character. */
    private int lineLength;
    /**
     * The shortest line a run goes on after: base64 is written in lines of 64 (PEM) or 76 (MIME)
     * characters, and a line of a model's text that has no blank (a number, an id, a sequence in FASTA's
     * 60) is shorter.
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
            if (lineLength < LONG_LINE) {
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
            if (encodedData) {
                return;
            }
            if (joinedWords) {
                put(c);
                return;
            }
            if (runLength == run.length) {
                if (words()) {
                    // kebab-case, snake_case, PascalCase prose: words a model wrote, each a token or more
                    for (int i = 0; i < runLength; i++) {
                        put(run[i]);
                    }
                    runLength = 0;
                    joinedWords = true;
                    put(c);
                    return;
                }
                encodedData = true;
                runLength = 0;
                return;
            }
            run[runLength++] = c;
            return;
        }
        endRun();
        put(c);
    }

    /** The run of base64's characters ended: a word, counted, or encoded data, passed over. */
    private void endRun() {
        for (int i = 0; i < runLength; i++) {
            put(run[i]);
        }
        runLength = 0;
        encodedData = false;
        joinedWords = false;
    }

    /** The minimum of joints a full run needs to be taken for joined words ({@link #joined}). */
    private static final int MIN_JOINTS = 16;
    /** The longest word of a run taken for words. */
    private static final int LONGEST_JOINED = 24;

    /**
     * Whether the full run is text a model wrote: words ({@link #joined}, {@link #runTogether}), text
     * encoded as base64 or hex ({@link #encodesText}), or a nucleotide sequence ({@link #sequence}).
     */
    private boolean words() {
        return joined() || runTogether() || encodesText() || sequence();
    }

    /**
     * Whether the full run is a nucleotide sequence (A, C, G, T, U and N, either case: what a bioinformatics
     * assistant writes): base64 of repeated bytes is one letter ({@code AAAA}) or mixes others in.
     */
    private boolean sequence() {
        int kinds = 0;
        for (int i = 0; i < runLength; i++) {
            char c = Character.toUpperCase(run[i]);
            int kind = "ACGTUN".indexOf(c);
            if (kind < 0 && c != '\n' && c != '\r') {
                return false;
            }
            if (kind >= 0) {
                kinds |= 1 << kind;
            }
        }
        return Integer.bitCount(kinds) >= 2;
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
        byte[] bytes;
        if (hex) {
            bytes = new byte[clean.length() / 2];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = (byte) Integer.parseInt(clean, 2 * i, 2 * i + 2, 16);
            }
        } else {
            int whole = clean.length() / 4 * 4;
            int padding = clean.indexOf("=");
            try {
                bytes = java.util.Base64.getDecoder().decode(clean.substring(0, padding >= 0 && padding < whole ? padding
                        / 4 * 4 : whole));
            } catch (IllegalArgumentException notBase64) {
                return false;
            }
        }
        return isText(bytes);
    }

    /** Whether {@code bytes} are UTF-8 text (a character cut at the end allowed) with no control character but white space. */
    private static boolean isText(byte[] bytes) {
        if (bytes.length < 16) {
            return false;
        }
        CharBuffer chars = CharBuffer.allocate(bytes.length);
        CoderResult result = java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(bytes), chars, false);
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

    /**
     * Whether the full run is words run together or joined by base64's own marks (a model told to answer as
     * one PascalCase or camelCase identifier, a query string's {@code +}, a path's {@code /}, round 205):
     * hardly a digit (one in 32 at most), two thirds letters or more, and at most three in ten of them upper
     * case. Base64 puts a digit in about every seven characters (its encoding of text too), and its encoding
     * of repeated bytes, the one without digits, is half upper case or more ({@code AAAA}, {@code YWFh},
     * {@code ICAg}); a hex dump is digits.
     */
    private boolean runTogether() {
        int digits = 0;
        int letters = 0;
        int upper = 0;
        for (int i = 0; i < runLength; i++) {
            char c = run[i];
            if (c >= '0' && c <= '9') {
                digits++;
            } else if (c >= 'A' && c <= 'Z') {
                letters++;
                upper++;
            } else if (c >= 'a' && c <= 'z') {
                letters++;
            }
        }
        return digits * 32 <= runLength && letters * 3 >= runLength * 2 && upper * 10 <= letters * 3;
    }

    /**
     * Whether the full run is words joined by hyphens or underscores (a model told to answer in kebab-case):
     * at least {@link #MIN_JOINTS} joints, and every piece between two of them a word of letters (lower
     * case, capitalised or upper case) of at most {@link #LONGEST_JOINED}. Base64 (URL-safe too) puts digits
     * and mixed case in its pieces, a hex dump or a UUID digits, and both seldom join.
     */
    private boolean joined() {
        int joints = 0;
        int start = -1;
        for (int i = 0; i < runLength; i++) {
            char c = run[i];
            if (c == '-' || c == '_') {
                if (start >= 0 && !word(start, i)) {
                    return false;
                }
                joints++;
                start = i + 1;
            }
        }
        return joints >= MIN_JOINTS;
    }

    private boolean word(int from, int to) {
        int length = to - from;
        if (length < 1 || length > LONGEST_JOINED) {
            return false;
        }
        boolean lower = false;
        for (int i = from; i < to; i++) {
            char c = run[i];
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')) {
                return false;
            }
            if (i > from && c >= 'a' && c <= 'z') {
                lower = true;
            } else if (i > from && lower) {
                return false; // "wOrD", "abC": mixed case inside a piece is no word
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
