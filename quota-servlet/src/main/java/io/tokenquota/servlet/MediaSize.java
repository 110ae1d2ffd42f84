package io.tokenquota.servlet;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Base64;
import java.nio.charset.StandardCharsets;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * What a media item sent inline (base64) costs a model, read from the item itself: an image by its
 * width and height (PNG, JPEG, GIF and WebP headers) at its provider's published rate, a PDF by its
 * pages, audio by its duration ({@link AudioDuration}, decoded as it is read, never held whole). Providers bill such items by their own measures, not by the characters of their encoding;
 * the filter holds at least this, and a stream that reports no usage is charged it. Stateless.
 */
final class MediaSize {
    /** Which provider's rate applies, told by where the item sits in the request. */
    enum Rate {
        /** OpenAI's {@code image_url}, {@code input_image}: 85 plus 170 per 512-pixel tile of the image scaled to 2048 then 768. */
        OPENAI,
        /** Anthropic's {@code source}: width × height / 750, the image scaled to 1568 pixels on its long side. */
        ANTHROPIC,
        /** Gemini's {@code inlineData}: 258 per 768-pixel tile, 258 for an image within 384 pixels. */
        GEMINI,
        /** Not known: the largest of the three. */
        ANY
    }

    /**
     * What an image the filter cannot see (given by URL or file id) costs: the largest single image
     * among the providers whose rules are documented, Anthropic's largest resized image (about 1,600
     * tokens), above OpenAI's 1,445 for a high-detail one on gpt-4o-class models. Models that bill an
     * image at a multiple of that (gpt-4o-mini) report their usage, which settles it.
     */
    static final long UNSEEN_IMAGE_TOKENS = 1_600;
    /** OpenAI's flat cost of an image sent with {@code "detail": "low"}, whatever its size. */
    static final long LOW_DETAIL_IMAGE_TOKENS = 85;
    /**
     * Tokens a second of audio sent inline costs: OpenAI bills audio input to its chat models
     * ({@code input_audio} of gpt-4o-audio-preview, gpt-4o-mini-audio) at one token per 100 ms of
     * audio. Gemini bills more (32 a second), and reports its usage, which settles it.
     */
    static final long AUDIO_TOKENS_PER_SECOND = 10;
    /** Tokens a PDF page costs at least (Gemini's rate; others bill more, which usage then settles). */
    static final long PDF_PAGE_TOKENS = 258;
    /** The most of a payload decoded to tell what it is and read an image's header (a JPEG's is followed further). */
    private static final int IMAGE_HEAD = 1 << 16;
    /** The most a PDF's object streams are inflated to, in all: bounds the work a crafted one can ask for. */
    private static final int PDF_INFLATED = 8 << 20;

    private MediaSize() {
    }

    /**
     * The tokens of a base64 payload ({@code data:…;base64,} prefix allowed), or 0 when it is no
     * image, PDF or audio this class reads. Audio is told by its bytes (RIFF/WAVE, ID3, MP3 frames and
     * the other containers {@link AudioDuration#startsAsAudio} knows), not by a {@code format} field.
     */
    static long tokens(CharSequence base64, Rate rate) {
        int start = 0;
        if (RequestEstimator.isDataUrl(base64)) {
            for (int i = 0; i < base64.length(); i++) {
                if (base64.charAt(i) == ',') {
                    start = i + 1;
                    break;
                }
            }
        }
        byte[] head = decode(base64, start, IMAGE_HEAD);
        if (head == null) {
            return 0;
        }
        if (startsWith(head, "%PDF-")) {
            byte[] whole = decode(base64, start, Integer.MAX_VALUE);
            return whole == null ? 0 : pdfPages(whole) * PDF_PAGE_TOKENS;
        }
        long[] size = isJpeg(head) ? jpegSize(payload(base64, start)) : imageSize(head);
        if (size != null) {
            return imageTokens(size[0], size[1], rate);
        }
        if (isImage(head) || (start > 0 && startsWith(base64, "data:image/"))) {
            // an image whose size cannot be read (a format or a header this class does not read) is an
            // image the filter cannot see: held at the most one image costs, as one by URL
            return UNSEEN_IMAGE_TOKENS;
        }
        return AudioDuration.startsAsAudio(head) ? AudioDuration.perSecond(audioMillis(base64, start), AUDIO_TOKENS_PER_SECOND) : 0;
    }

    /** The milliseconds of base64 audio from {@code start}, read by {@link AudioDuration} as it decodes. */
    private static long audioMillis(CharSequence base64, int start) {
        try (InputStream in = payload(base64, start)) {
            return AudioDuration.millis(in.readNBytes(AudioDuration.HEAD), in);
        } catch (IOException broken) {
            // padding before the end: what the decoded length plays at the lowest bitrate
            return AudioDuration.atLowestBitrate((base64.length() - start) / 4L * 3);
        }
    }

    /** The bytes of standard or URL-safe base64 from {@code start}, decoded as they are read, never held whole. */
    private static InputStream payload(CharSequence base64, int start) {
        InputStream chars = new InputStream() {
            private int at = start;

            @Override
            public int read() {
                if (at >= base64.length()) {
                    return -1;
                }
                char c = base64.charAt(at++);
                // URL-safe base64 read as the standard alphabet; the MIME decoder skips line breaks
                return c == '-' ? '+' : c == '_' ? '/' : c < 0x80 ? c : ' ';
            }
        };
        return Base64.getMimeDecoder().wrap(new BufferedInputStream(chars));
    }

    /** Decodes up to {@code most} bytes of standard or URL-safe base64 (white space skipped); null when not base64. */
    private static byte[] decode(CharSequence s, int start, int most) {
        StringBuilder clean = new StringBuilder();
        long wanted = most == Integer.MAX_VALUE ? Long.MAX_VALUE : (most / 3L + 1) * 4;
        for (int i = start; i < s.length() && clean.length() < wanted; i++) {
            char c = s.charAt(i);
            if (c == '=') {
                break;
            }
            if (!Character.isWhitespace(c)) {
                clean.append(c == '-' ? '+' : c == '_' ? '/' : c);
            }
        }
        clean.setLength(clean.length() - clean.length() % 4);
        try {
            return java.util.Base64.getDecoder().decode(clean.toString());
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static long imageTokens(long width, long height, Rate rate) {
        if (width <= 0 || height <= 0) {
            return 0;
        }
        return switch (rate) {
            case OPENAI -> openAi(width, height);
            case ANTHROPIC -> anthropic(width, height);
            case GEMINI -> gemini(width, height);
            case ANY -> Math.max(openAi(width, height), Math.max(anthropic(width, height), gemini(width, height)));
        };
    }

    private static long openAi(long w, long h) {
        double scale = Math.min(1, 2048.0 / Math.max(w, h));
        double sw = w * scale;
        double sh = h * scale;
        double shortest = Math.min(sw, sh);
        if (shortest > 768) {
            sw = sw * 768 / shortest;
            sh = sh * 768 / shortest;
        }
        return 85 + 170 * (long) Math.ceil(sw / 512) * (long) Math.ceil(sh / 512);
    }

    private static long anthropic(long w, long h) {
        double scale = Math.min(1, 1568.0 / Math.max(w, h));
        return (long) Math.ceil(w * scale * (h * scale) / 750);
    }

    private static long gemini(long w, long h) {
        if (w <= 384 && h <= 384) {
            return 258;
        }
        return 258 * (long) Math.ceil(w / 768.0) * (long) Math.ceil(h / 768.0);
    }

    /** {@code {width, height}} from an image's header, or {@code null}. */
    static long[] imageSize(byte[] b) {
        if (b.length >= 24 && (b[0] & 0xFF) == 0x89 && startsWith(b, 1, "PNG")) {
            return new long[] {u32(b, 16), u32(b, 20)};
        }
        if (b.length >= 10 && (startsWith(b, "GIF87a") || startsWith(b, "GIF89a"))) {
            return new long[] {u16le(b, 6), u16le(b, 8)};
        }
        if (b.length >= 30 && startsWith(b, "RIFF") && startsWith(b, 8, "WEBP")) {
            if (startsWith(b, 12, "VP8X")) {
                return new long[] {1 + u24le(b, 24), 1 + u24le(b, 27)};
            }
            if (startsWith(b, 12, "VP8L") && b.length >= 25) {
                long bits = u32le(b, 21);
                return new long[] {1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)};
            }
            if (startsWith(b, 12, "VP8 ")) {
                return new long[] {u16le(b, 26) & 0x3FFF, u16le(b, 28) & 0x3FFF};
            }
            return null;
        }
        if (isJpeg(b)) {
            return jpegSize(new java.io.ByteArrayInputStream(b));
        }
        return null;
    }

    private static boolean isJpeg(byte[] b) {
        return b.length >= 3 && (b[0] & 0xFF) == 0xFF && (b[1] & 0xFF) == 0xD8 && (b[2] & 0xFF) == 0xFF;
    }

    /** Whether the bytes start as one of the image formats {@link #imageSize} reads. */
    private static boolean isImage(byte[] b) {
        return isJpeg(b) || (b.length >= 4 && (b[0] & 0xFF) == 0x89 && startsWith(b, 1, "PNG"))
                || startsWith(b, "GIF8") || (b.length >= 12 && startsWith(b, "RIFF") && startsWith(b, 8, "WEBP"));
    }

    /** The most JPEG segments passed over to reach the frame header; any real file has a few dozen. */
    private static final int JPEG_SEGMENTS = 1_024;

    /**
     * A JPEG's {@code {width, height}} from its frame header, found by following the segments' lengths
     * from the start: metadata (EXIF, XMP, ICC profiles) may fill far more than the first 64 KB, and is
     * skipped, not kept. {@code null} when no frame header comes within {@link #JPEG_SEGMENTS}.
     */
    private static long[] jpegSize(InputStream in) {
        try (in) {
            in.skipNBytes(2);
            for (int segment = 0; segment < JPEG_SEGMENTS; segment++) {
                if (in.read() != 0xFF) {
                    return null;
                }
                int marker = in.read();
                while (marker == 0xFF) {
                    // fill bytes before a marker
                    marker = in.read();
                }
                if (marker < 0) {
                    return null;
                }
                byte[] length = in.readNBytes(2);
                if (length.length < 2) {
                    return null;
                }
                long size = u16(length, 0);
                boolean frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
                if (frame) {
                    byte[] header = in.readNBytes(5);
                    return header.length < 5 ? null : new long[] {u16(header, 3), u16(header, 1)};
                }
                if (size < 2) {
                    return null;
                }
                in.skipNBytes(size - 2);
            }
        } catch (IOException | RuntimeException broken) {
            // ended or broken before its frame header
        }
        return null;
    }

    /**
     * A PDF's pages: its page objects ({@code /Type /Page}), in the file and in its compressed object
     * streams; at least 1.
     */
    static long pdfPages(byte[] pdf) {
        String text = new String(pdf, StandardCharsets.ISO_8859_1);
        long pages = countPages(text);
        int budget = PDF_INFLATED;
        int at = 0;
        while (budget > 0 && (at = text.indexOf("/ObjStm", at)) >= 0) {
            int stream = text.indexOf("stream", at);
            if (stream < 0) {
                break;
            }
            int data = stream + "stream".length();
            if (data < text.length() && text.charAt(data) == '\r') {
                data++;
            }
            if (data < text.length() && text.charAt(data) == '\n') {
                data++;
            }
            int end = text.indexOf("endstream", data);
            if (end < 0) {
                break;
            }
            byte[] inflated = inflate(pdf, data, end - data, budget);
            budget -= inflated.length;
            pages += countPages(new String(inflated, StandardCharsets.ISO_8859_1));
            at = end;
        }
        return Math.max(1, pages);
    }

    private static long countPages(String text) {
        long pages = 0;
        java.util.regex.Matcher m = PAGE.matcher(text);
        while (m.find()) {
            pages++;
        }
        return pages;
    }

    private static final java.util.regex.Pattern PAGE = java.util.regex.Pattern.compile("/Type\\s*/Page(?![A-Za-z])");

    private static byte[] inflate(byte[] b, int off, int len, int most) {
        Inflater inflater = new Inflater();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            inflater.setInput(b, off, len);
            byte[] buffer = new byte[8192];
            while (!inflater.finished() && out.size() < most) {
                int n = inflater.inflate(buffer);
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
                out.write(buffer, 0, n);
            }
        } catch (DataFormatException e) {
            // not a Flate stream: what was inflated stands
        } finally {
            inflater.end();
        }
        return out.toByteArray();
    }

    /** Whether {@code text} starts with {@code prefix}, in any case (a data URL's media type is case-insensitive). */
    private static boolean startsWith(CharSequence text, String prefix) {
        return text.length() >= prefix.length() && text.subSequence(0, prefix.length()).toString().equalsIgnoreCase(prefix);
    }

    private static boolean startsWith(byte[] b, String prefix) {
        return startsWith(b, 0, prefix);
    }

    private static boolean startsWith(byte[] b, int at, String s) {
        if (b.length < at + s.length()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (b[at + i] != (byte) s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static long u32(byte[] b, int i) {
        return ((long) (b[i] & 0xFF) << 24) | ((b[i + 1] & 0xFF) << 16) | ((b[i + 2] & 0xFF) << 8) | (b[i + 3] & 0xFF);
    }

    private static long u16(byte[] b, int i) {
        return ((b[i] & 0xFF) << 8) | (b[i + 1] & 0xFF);
    }

    private static long u16le(byte[] b, int i) {
        return (b[i] & 0xFF) | ((b[i + 1] & 0xFF) << 8);
    }

    private static long u24le(byte[] b, int i) {
        return (b[i] & 0xFF) | ((b[i + 1] & 0xFF) << 8) | ((long) (b[i + 2] & 0xFF) << 16);
    }

    private static long u32le(byte[] b, int i) {
        return u24le(b, i) | ((long) (b[i + 3] & 0xFF) << 24);
    }
}
