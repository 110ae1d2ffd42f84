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
     * base64 (an image as a {@code data:} URL or bare base64) is encoded data, no words a model wrote, and at
     * a token every few characters it would cost many times what the call did; any other stretch is text
     * ({@link #words}), but filler in a file's run ({@link #filler}).
     */
    static final int LONGEST_WORD = 256;

    private final TokenEstimator estimator;
    private final CharsetDecoder decoder;
    private final CharBuffer decoded = CharBuffer.allocate(WINDOW);
    private final CharBuffer window = CharBuffer.allocate(WINDOW);
    /** The stretch of the run of base64's characters being read, judged when it reaches {@link #LONGEST_WORD}. */
    private final char[] run = new char[LONGEST_WORD];
    private int runLength;
    /** The last whole stretch ({@link #LONGEST_WORD}) of the run being read was passed over. */
    private boolean encodedData;
    /** A stretch of the run being read was a file's base64 ({@link #looksEncoded}): the run is a file's. */
    private boolean runEncoded;
    /**
     * The tokens of the run's filler stretches ({@link #filler}) while the run is not known to be a file's:
     * counted when it ends as text, dropped when a stretch shows it is a file's.
     */
    private long fillerTokens;
    /** The characters of the run's filler stretches while the run is not known to be a file's. */
    private long fillerChars;
    /** The characters of a file's run passed over: its encoded stretches and its filler. */
    private long fileChars;
    /**
     * The tokens of the run's text stretches and their characters, held until the run ends: text in a file
     * (a PNG's metadata chunks, a JPEG's XMP, before or after its image data) or a model's text around a few
     * random characters, told apart by their share of the run ({@link #FILE_TO_TEXT}).
     */
    private long textTokens;
    private long textChars;
    /**
     * How many times its text a file's run must pass over for that text to be the file's: an image tool's
     * metadata is a few hundredths of its image (round 219: ComfyUI's workflow, 25 KB of JSON in a 794 KB
     * PNG, was charged 13,764 for a 74-token call), while a model's text after a few random characters
     * (round 214) is most of its run, and a model would have to write eight times the text in random
     * characters, paid to the provider, to hide it.
     */
    private static final int FILE_TO_TEXT = 8;
    /** The last character was base64's padding, {@code =}: only more padding or a line break goes on with the run. */
    private boolean afterPadding;
    /** The characters of base64's alphabet since the last line break or other character. */
    private int lineLength;
    /**
     * The only line a run goes on after: MIME's lines of 76 characters, the width base64 is written in by
     * e-mail, {@code base64}, Java's and Python's MIME encoders. A line of any other width ends the run: a
     * list of ids, keys or secrets one per line (64-character hex keys, round 214; 128-character keys,
     * {@code openssl rand -base64 64}'s 88, a {@code .env}'s lines, round 215), a number, a sequence in
     * FASTA's 60, PEM's lines of 64 (counted line by line).
     */
    private static final int MIME_LINE = 76;

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
            if (lineLength != MIME_LINE) {
                // a line of another width (a number, an id, a key, a word on its own line) ends the run
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
            if (afterPadding && c != '=') {
                // padding ends base64: what follows is another run (a .env's next key, round 215)
                endRun();
            }
            afterPadding = c == '=';
        } else {
            lineLength = 0;
        }
        if (encoded(c)) {
            if (runLength == run.length) {
                judge();
            }
            run[runLength++] = c;
            return;
        }
        endRun();
        put(c);
    }

    /**
     * Judges the full stretch of a long run on its own: a run may open with a nonce or a header of silence
     * and go on as something else (round 214). A file's base64 is passed over, and makes the run a file's;
     * text and filler ({@link #filler}) are held as tokens until the run ends ({@link #heldTokens}).
     */
    private void judge() {
        if (filler()) {
            if (runEncoded) {
                fileChars += runLength;
            } else {
                fillerTokens = StreamText.plus(fillerTokens, estimator.estimate(CharBuffer.wrap(run, 0, runLength)));
                fillerChars += runLength;
            }
            encodedData = runEncoded;
        } else if (words()) {
            holdText();
            encodedData = false;
        } else {
            runEncoded = true;
            fileChars += runLength + fillerChars;
            fillerTokens = 0;
            fillerChars = 0;
            encodedData = true;
        }
        runLength = 0;
    }

    private void holdText() {
        textTokens = StreamText.plus(textTokens, estimator.estimate(CharBuffer.wrap(run, 0, runLength)));
        textChars += runLength;
    }

    /**
     * The run of base64's characters ended: its last stretch is text, unless the stretch before it was
     * passed over, whose end (its padding) it is; then what it held counts ({@link #heldTokens}).
     */
    private void endRun() {
        if (!encodedData) {
            if (runEncoded) {
                holdText();
            } else {
                for (int i = 0; i < runLength; i++) {
                    put(run[i]);
                }
            }
        }
        tokens = StreamText.plus(tokens, heldTokens());
        runLength = 0;
        encodedData = false;
        runEncoded = false;
        fillerTokens = 0;
        fillerChars = 0;
        fileChars = 0;
        textTokens = 0;
        textChars = 0;
        afterPadding = false;
    }

    /**
     * The tokens the run being read holds back that count as it stands: its text and filler while it is not
     * known to be a file's; in a file's run its text, unless the file outweighs it ({@link #FILE_TO_TEXT}).
     */
    private long heldTokens() {
        if (!runEncoded) {
            return StreamText.plus(textTokens, fillerTokens);
        }
        return fileChars < FILE_TO_TEXT * textChars ? textTokens : 0;
    }

    /**
     * Whether the full run is text a model wrote rather than a file's base64: anything but what base64 of a
     * file looks like ({@link #looksEncoded}), and text encoded so ({@link #encodesText}). Words joined by
     * hyphens, underscores, {@code +} or {@code /} or run together (rounds 196, 205), numbers, ids, hex,
     * sequences of any alphabet (rounds 212, 213, 215), binary or base32 of text: none has base64's mix of
     * both cases and digits.
     */
    private boolean words() {
        return !looksEncoded() || encodesText();
    }

    /**
     * Whether the full run mixes characters as the base64 of a file does (images, PDFs, compressed data
     * spread over its 64 symbols: a tenth or more upper case, a tenth or more lower case, one in 25 or more a
     * digit, and {@code +} or {@code /} at least: 256 of a file's characters have neither about three times
     * in 10,000). Hex never does: a model writes hex (keys, hashes, a contract's bytecode, round 215) far
     * more often than an application puts a file's hex in a model's answer; nor do letters and digits alone
     * (a random string a model was asked for, base58, round 219), nor URL-safe base64's {@code - _} (a
     * random id in nanoid's alphabet, round 221: files come in standard base64, as {@code data:} URLs and
     * providers' JSON write them).
     */
    private boolean looksEncoded() {
        int upper = 0;
        int lower = 0;
        int digits = 0;
        int symbols = 0;
        int urlSafe = 0;
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
            } else if (c >= 'a' && c <= 'z') {
                lower++;
            } else if (c == '+' || c == '/') {
                symbols++;
            } else if (c == '-' || c == '_') {
                urlSafe++;
            }
        }
        return symbols > 0 && urlSafe == 0 && upper * 10 >= n && lower * 10 >= n && digits * 25 >= n;
    }

    /** The full run without its line breaks, URL-safe base64's symbols as base64's. */
    private String cleanRun() {
        StringBuilder clean = new StringBuilder(runLength);
        for (int i = 0; i < runLength; i++) {
            char c = run[i];
            if (c != '\n' && c != '\r') {
                clean.append(c == '-' ? '+' : c == '_' ? '/' : c);
            }
        }
        return clean.toString();
    }

    /**
     * The bytes of the full run decoded as base64 from its character {@code skip} (a stretch starts anywhere
     * in the base64), up to its padding; null if it is no base64.
     */
    private static byte[] decoded(String clean, int skip) {
        String aligned = clean.substring(Math.min(skip, clean.length()));
        int padding = aligned.indexOf('=');
        int end = (padding >= 0 ? padding : aligned.length()) / 4 * 4;
        try {
            return java.util.Base64.getDecoder().decode(aligned.substring(0, end));
        } catch (IllegalArgumentException notBase64) {
            return null;
        }
    }

    /**
     * Whether the full run is base64 whose bytes are text ({@link #isText}): a model told to answer in base64 (round 210: a story of 3,119 tokens written as 26,672 base64
     * characters was charged 1,021), billed for every token it wrote. An image, a PDF or any other file
     * decodes to bytes that are no such text, and is passed over.
     */
    private boolean encodesText() {
        String clean = cleanRun();
        for (int skip = 0; skip < 4; skip++) {
            byte[] bytes = decoded(clean, skip);
            if (bytes == null) {
                return false;
            }
            if (isText(bytes)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether the full run is filler in a file's base64: one pattern repeated (a uniform area of an image)
     * or bytes at or near zero (audio's silence, a file's padding), whose base64 ({@code AAAA}, {@code ////})
     * has none of base64's mix of characters. In a run a stretch has shown to be a file's, it is that file
     * too (round 215: a spoken answer whose clips were joined by silence, as a {@code data:} URL, was
     * charged 33,131 for a call of 319 tokens).
     */
    private boolean filler() {
        String clean = cleanRun();
        for (int period = 1; period <= 16; period++) {
            boolean repeats = true;
            for (int i = period; i < clean.length() && repeats; i++) {
                repeats = clean.charAt(i) == clean.charAt(i - period);
            }
            if (repeats) {
                return true;
            }
        }
        for (int skip = 0; skip < 4; skip++) {
            byte[] bytes = decoded(clean, skip);
            if (bytes == null || bytes.length == 0) {
                return false;
            }
            int quiet = 0;
            for (byte b : bytes) {
                quiet += b >= -8 && b < 8 ? 1 : 0;
            }
            if (quiet * 4 >= bytes.length * 3) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether {@code bytes} are text: UTF-8 (a character cut at the end allowed) with no control character but
     * white space, or UTF-16 of nine in ten printable ASCII characters or more (PowerShell's
     * {@code -EncodedCommand}, base64 of UTF-16LE, round 219).
     */
    private static boolean isText(byte[] bytes) {
        return bytes.length >= 16 && (isUtf8Text(bytes) || isUtf16Text(bytes));
    }

    private static boolean isUtf16Text(byte[] bytes) {
        // a stretch starts at either byte of a code unit, and either byte order
        for (int start = 0; start < 2; start++) {
            for (int order = 0; order < 2; order++) {
                int units = 0;
                int ascii = 0;
                for (int i = start; i + 1 < bytes.length; i += 2) {
                    int u = order == 0 ? (bytes[i] & 0xFF) | (bytes[i + 1] & 0xFF) << 8
                            : (bytes[i] & 0xFF) << 8 | (bytes[i + 1] & 0xFF);
                    units++;
                    ascii += u >= 0x20 && u < 0x7F || u == '\n' || u == '\r' || u == '\t' ? 1 : 0;
                }
                if (ascii * 10 >= units * 9) {
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean isUtf8Text(byte[] bytes) {
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
     * A character of a run: base64's (URL-safe too), and line breaks after a line of MIME's width
     * ({@link #MIME_LINE}), since base64 is mostly written in such lines (round 207: an e-mail's attachment
     * in lines was counted as 33,889 tokens of text); a line of another width ends the run (round 212: a
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
        return StreamText.plus(StreamText.plus(tokens, heldTokens()), pending + (leftover.hasRemaining() ? 1 : 0));
    }

    private void count() {
        window.flip();
        tokens = StreamText.plus(tokens, estimator.estimate(window));
        window.clear();
    }
}
