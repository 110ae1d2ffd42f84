package io.tokenquota.servlet;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.Charset;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What bytes say as text, by one rule for request bodies, uploaded files and answers: the charsets a
 * {@code Content-Type} names, the charset a byte order mark or UTF-16/32's zero bytes tell, and
 * whether bytes are text at all. Not API.
 */
final class BodyText {
    /** Bytes are text when at most one character in this many did not decode or is a control character. */
    private static final int MAX_NOISE_SHARE = 8;
    /** A byte-by-byte reading is text when at most one character in this many is a C0 control character. */
    private static final int MAX_BYTE_CONTROL_SHARE = 64;

    /**
     * The most distinct charsets a body (or a multipart field) is read in. Each is one more reading of
     * the whole body, decoded and estimated, so a label listing every charset the JVM knows (173) would
     * multiply a call's work by that many; past this, only the readings a server can pick are kept.
     */
    static final int MAX_CHARSETS = 4;

    private BodyText() {
    }

    /**
     * The charsets a body is read in, each once: the container's, then those its labels name in order
     * ({@link #labelled}, a part's label, {@code _charset_}), at most {@link #MAX_CHARSETS}. A request
     * naming more is read in the container's charset and in the first and the last the labels name:
     * servers pick one of those (Jetty and Tomcat the first {@code charset}, Spring the last), never one
     * in between, so the work of an estimate stays bounded whatever the label lists.
     */
    static List<Charset> readings(Charset container, List<Charset> labelled) {
        List<Charset> charsets = new ArrayList<>(Math.min(labelled.size() + 1, MAX_CHARSETS));
        charsets.add(container);
        labelled.stream().filter(c -> !charsets.contains(c)).forEach(charsets::add);
        if (charsets.size() <= MAX_CHARSETS) {
            return charsets;
        }
        List<Charset> bounded = new ArrayList<>(3);
        bounded.add(container);
        for (Charset c : List.of(labelled.get(0), labelled.get(labelled.size() - 1))) {
            if (!bounded.contains(c)) {
                bounded.add(c);
            }
        }
        return bounded;
    }

    /**
     * Every {@code charset} parameter of a media type, in order: parameter names are case-insensitive
     * (RFC 9110) and a label may carry two, which containers and frameworks resolve differently
     * (Jetty's {@code getCharacterEncoding()} matches only {@code charset=} and takes the first,
     * Spring takes any case and the last), so every one counts. Quotes are dropped; unknown names too.
     */
    static List<Charset> labelled(String contentType) {
        List<Charset> charsets = new ArrayList<>(1);
        if (contentType == null) {
            return charsets;
        }
        String[] params = contentType.split(";");
        for (int i = 1; i < params.length; i++) {
            String p = params[i].trim();
            int eq = p.indexOf('=');
            if (eq < 0 || !p.substring(0, eq).trim().toLowerCase(Locale.ROOT).equals("charset")) {
                continue;
            }
            String name = p.substring(eq + 1).replace("\"", "").trim();
            try {
                Charset charset = Charset.forName(name);
                if (!charsets.contains(charset)) {
                    charsets.add(charset);
                }
            } catch (IllegalArgumentException unknown) {
                // IllegalCharsetNameException and UnsupportedCharsetException both extend it
            }
        }
        return charsets;
    }

    /**
     * The charset the first bytes tell (as RFC 4627 detects JSON's encoding): the one a byte order
     * mark names, else UTF-16/32 by where the zero bytes of the first character are, else UTF-8.
     */
    static Charset detected(byte[] head) {
        if (head == null || head.length < 2) {
            return StandardCharsets.UTF_8;
        }
        int b0 = head[0] & 0xFF;
        int b1 = head[1] & 0xFF;
        int b2 = head.length > 2 ? head[2] & 0xFF : -1;
        int b3 = head.length > 3 ? head[3] & 0xFF : -1;
        try {
            if (b0 == 0 && b1 == 0 && (b2 == 0xFE && b3 == 0xFF || b2 == 0)) {
                return Charset.forName("UTF-32BE");
            }
            if (b0 == 0xFF && b1 == 0xFE && b2 == 0 && b3 == 0 || b0 != 0 && b1 == 0 && b2 == 0 && b3 == 0) {
                return Charset.forName("UTF-32LE");
            }
        } catch (IllegalArgumentException e) {
            return StandardCharsets.UTF_8;
        }
        if (b0 == 0xFE && b1 == 0xFF || b0 == 0xFF && b1 == 0xFE) {
            // UTF-16 reads the byte order mark and drops it
            return StandardCharsets.UTF_16;
        }
        if (b0 == 0 && b1 != 0) {
            return StandardCharsets.UTF_16BE;
        }
        if (b0 != 0 && b1 == 0) {
            return StandardCharsets.UTF_16LE;
        }
        return StandardCharsets.UTF_8;
    }

    /**
     * The bytes as the text an endpoint's {@code Reader} gets, or {@code null} when they are not text
     * (audio, images and other binary data) or empty. Read in {@code charset} first; when that is not
     * text, in the charset a byte order mark names (a text file saved as UTF-16, Notepad's "Unicode"),
     * then in UTF-16/32 when their zero bytes run through the body (an endpoint that detects the
     * encoding from the bytes, as {@link #detected} does), then byte by byte as ISO-8859-1, which is
     * what {@code getReader()} gives for a body without a charset, and how a single-byte text
     * (windows-1251, Latin-1) or a double-byte one (Shift_JIS, GB18030, Big5, EUC-KR) reaches a model
     * behind such an endpoint.
     *
     * <p>A decoded reading is text when at most one character in {@link #MAX_NOISE_SHARE} did not
     * decode or is a control character other than white space (a NUL among them: one stray byte does
     * not make a text binary). The byte-by-byte reading decodes every byte, and a double-byte text
     * fills it with C1 characters, so there only C0 controls count, at most one in
     * {@link #MAX_BYTE_CONTROL_SHARE}: texts have next to none, while compressed data (images, audio,
     * archives) holds about one in nine.
     */
    static CharSequence text(byte[] body, Charset charset) {
        return text(body, charset, false);
    }

    /**
     * As {@link #text(byte[], Charset)}; for {@code media} (bytes labelled an image, audio or video,
     * and base64 payloads) only the charset's reading and a byte order mark's: uncompressed pixels
     * and samples (a light BMP, quiet A-law audio) hold next to no control bytes and would pass the
     * guessing readings as text of thousands of tokens, while no text endpoint reads its prompt from
     * bytes so labelled unless they are text in their charset.
     */
    static CharSequence text(byte[] body, Charset charset, boolean media) {
        if (body.length == 0) {
            return null;
        }
        CharSequence text = reading(body, charset);
        if (text != null) {
            return text;
        }
        Charset told = byteOrderMarked(body);
        if (told == null && !media && zeroBytesRunThrough(body)) {
            told = detected(body);
        }
        if (told != null && !told.equals(charset)) {
            text = reading(body, told);
            if (text != null) {
                return text;
            }
        }
        return media || charset.equals(StandardCharsets.ISO_8859_1) ? null : byteByByte(body);
    }

    /** The bytes as ISO-8859-1 reads them, or {@code null} when C0 controls fill more than their share. */
    private static CharSequence byteByByte(byte[] body) {
        long controls = 0;
        for (int i = 0; i < body.length; i++) {
            if (isC0Control((char) (body[i] & 0xFF))) {
                controls++;
                if (controls > 64 && controls * MAX_BYTE_CONTROL_SHARE > i + 1) {
                    // binary: no need to look at the rest of it (nor to decode it)
                    return null;
                }
            }
        }
        return controls * MAX_BYTE_CONTROL_SHARE > body.length ? null : new String(body, StandardCharsets.ISO_8859_1);
    }

    /**
     * Whether the body looks like UTF-16 text without a byte order mark: in its first 4 KB at least
     * three characters in four have a zero high byte, all on one side (Latin script, digits and white
     * space), which neither a compressed or random body that merely starts with a zero byte has nor raw
     * audio (a quiet signal's high bytes are zero or 0xFF in about equal numbers).
     */
    private static boolean zeroBytesRunThrough(byte[] body) {
        int n = Math.min(body.length, 4096);
        int even = 0;
        int odd = 0;
        for (int i = 0; i < n; i++) {
            if (body[i] == 0) {
                if ((i & 1) == 0) {
                    even++;
                } else {
                    odd++;
                }
            }
        }
        return n >= 4 && Math.max(even, odd) * 8 >= n * 3 && Math.min(even, odd) * 8 < Math.max(even, odd);
    }

    /** Whether a media type labels an image, audio or video. */
    static boolean isMedia(String contentType) {
        if (contentType == null) {
            return false;
        }
        String type = contentType.trim().toLowerCase(Locale.ROOT);
        return type.startsWith("image/") || type.startsWith("audio/") || type.startsWith("video/");
    }

    /** The charset a byte order mark at the start names, or {@code null} without one. */
    private static Charset byteOrderMarked(byte[] b) {
        if (b.length >= 3 && (b[0] & 0xFF) == 0xEF && (b[1] & 0xFF) == 0xBB && (b[2] & 0xFF) == 0xBF) {
            return StandardCharsets.UTF_8;
        }
        boolean utf32 = b.length >= 4 && ((b[0] == 0 && b[1] == 0 && (b[2] & 0xFF) == 0xFE && (b[3] & 0xFF) == 0xFF)
                || ((b[0] & 0xFF) == 0xFF && (b[1] & 0xFF) == 0xFE && b[2] == 0 && b[3] == 0));
        if (utf32) {
            return detected(b);
        }
        boolean utf16 = b.length >= 2 && (((b[0] & 0xFF) == 0xFE && (b[1] & 0xFF) == 0xFF)
                || ((b[0] & 0xFF) == 0xFF && (b[1] & 0xFF) == 0xFE));
        return utf16 ? StandardCharsets.UTF_16 : null;
    }

    /** The bytes decoded in {@code charset} (each malformed sequence a U+FFFD), or {@code null} when that is not text. */
    private static CharSequence reading(byte[] body, Charset charset) {
        CharsetDecoder decoder = charset.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(body);
        CharBuffer text = CharBuffer.allocate(capacity(body.length * (double) decoder.averageCharsPerByte() + 16));
        long noise = 0;
        while (true) {
            CoderResult r = decoder.decode(in, text, true);
            if (r.isUnderflow()) {
                r = decoder.flush(text);
                if (r.isUnderflow()) {
                    break;
                }
            }
            if (r.isOverflow()) {
                text = grown(text);
            } else if (r.isError()) {
                in.position(in.position() + r.length());
                if (!text.hasRemaining()) {
                    text = grown(text);
                }
                text.put('\uFFFD');
                noise++;
                if (noise > 64 && noise * MAX_NOISE_SHARE > in.position()) {
                    // binary: no need to decode the rest of it
                    return null;
                }
            }
        }
        text.flip();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (isC0Control(c) || (c >= 0x80 && c <= 0x9F)) {
                noise++;
            }
        }
        return noise * MAX_NOISE_SHARE > text.length() ? null : text;
    }

    /**
     * A file's text counted as it streams past, never kept: decoded in a charset chunk by chunk, each
     * chunk's tokens added up, and judged at its end by the rule {@link #text(byte[], Charset, boolean)}
     * reads media by (the charset's reading, at most one character in {@link #MAX_NOISE_SHARE} noise),
     * over the whole file. Holds 64 KB of bytes and as many characters. Not thread-safe.
     */
    static final class Tally implements AudioDuration.Sink {
        private static final int CHUNK = 64 << 10;
        private final CharsetDecoder decoder;
        private final java.util.function.ToLongFunction<CharSequence> tokens;
        private final ByteBuffer bytes = ByteBuffer.allocate(CHUNK);
        private final CharBuffer chars = CharBuffer.allocate(CHUNK + 16);
        private long length;
        private long noise;
        private long counted;

        /** @param tokens what a text costs, given a view it must not keep */
        Tally(Charset charset, java.util.function.ToLongFunction<CharSequence> tokens) {
            this.decoder = charset.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
            this.tokens = tokens;
        }

        @Override
        public void accept(byte[] b, int off, int len) {
            while (len > 0) {
                int n = Math.min(len, bytes.remaining());
                bytes.put(b, off, n);
                off += n;
                len -= n;
                if (!bytes.hasRemaining()) {
                    decode(false);
                }
            }
        }

        /** The tokens of the text, or 0 when the bytes are not text (or none); ends the tally. */
        long tokens() {
            decode(true);
            while (decoder.flush(chars).isOverflow()) {
                count();
            }
            count();
            return length == 0 || noise * MAX_NOISE_SHARE > length ? 0 : counted;
        }

        /** Decodes what has come, keeping a sequence cut at the chunk's end for the next one. */
        private void decode(boolean end) {
            bytes.flip();
            while (true) {
                CoderResult r = decoder.decode(bytes, chars, end);
                if (r.isOverflow()) {
                    count();
                } else if (r.isError()) {
                    bytes.position(bytes.position() + r.length());
                    if (!chars.hasRemaining()) {
                        count();
                    }
                    chars.put('\uFFFD');
                    noise++;
                } else {
                    break;
                }
            }
            bytes.compact();
        }

        private void count() {
            chars.flip();
            for (int i = 0; i < chars.length(); i++) {
                char c = chars.charAt(i);
                if (isC0Control(c) || (c >= 0x80 && c <= 0x9F)) {
                    noise++;
                }
            }
            length += chars.length();
            counted = AudioDuration.saturatingAdd(counted, Math.max(0, tokens.applyAsLong(chars)));
            chars.clear();
        }
    }

    /** C0 control characters and DEL, but not the white space of a text (tab, line ends, form feed). */
    private static boolean isC0Control(char c) {
        return (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || c == 0x7F;
    }

    private static int capacity(double chars) {
        return (int) Math.min(Integer.MAX_VALUE - 16, chars);
    }

    private static CharBuffer grown(CharBuffer text) {
        CharBuffer bigger = CharBuffer.allocate(capacity(text.capacity() * 2.0 + 16));
        text.flip();
        return bigger.put(text);
    }
}
