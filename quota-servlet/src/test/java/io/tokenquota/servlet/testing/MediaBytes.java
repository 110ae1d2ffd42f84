package io.tokenquota.servlet.testing;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Byte builders for the media files the break-it rounds craft (ISO base media boxes and their parts). */
public final class MediaBytes {
    private MediaBytes() {
    }

    public static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** {@code v} as four big-endian bytes. */
    public static byte[] u32(long v) {
        return new byte[] {(byte) (v >>> 24), (byte) (v >>> 16), (byte) (v >>> 8), (byte) v};
    }

    public static byte[] cat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    /** An ISO base media box: its size, its type, its body. */
    public static byte[] box(String type, byte[]... body) {
        byte[] b = cat(body);
        return cat(u32(8 + b.length), ascii(type), b);
    }
}
