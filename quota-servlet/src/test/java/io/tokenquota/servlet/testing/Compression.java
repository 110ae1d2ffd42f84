package io.tokenquota.servlet.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.zip.DeflaterOutputStream;
import java.util.zip.GZIPOutputStream;

/** Bodies in the HTTP content codings the JDK writes: what a provider or client sends compressed. */
public final class Compression {
    private Compression() {
    }

    /** {@code bytes} as one gzip member ({@code Content-Encoding: gzip}). */
    public static byte[] gzip(byte[] bytes) {
        return encode(bytes, true);
    }

    /** {@code bytes} as zlib-wrapped deflate ({@code Content-Encoding: deflate}, RFC 9110's "deflate"). */
    public static byte[] deflate(byte[] bytes) {
        return encode(bytes, false);
    }

    private static byte[] encode(byte[] bytes, boolean gzip) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (OutputStream g = gzip ? new GZIPOutputStream(out) : new DeflaterOutputStream(out)) {
            g.write(bytes);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }
}
