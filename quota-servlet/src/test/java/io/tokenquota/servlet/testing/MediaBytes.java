package io.tokenquota.servlet.testing;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Function;

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

    /**
     * An MP4/QuickTime file with {@code moov} first (faststart) and one sound track whose samples are a
     * single chunk in {@code mdat}: the track's {@code stco} is appended to {@code sampleTable} (the
     * {@code stbl} boxes before it) and points at the first byte of {@code samples}.
     */
    public static byte[] faststartSoundTrack(byte[] ftyp, long movieMillis, byte[] mdhd, byte[] hdlr, byte[] sampleTable,
                                             byte[] samples) {
        byte[] smhd = box("smhd", new byte[8]);
        byte[] tkhd = box("tkhd", new byte[] {0, 0, 0, 7}, new byte[80]);
        Function<byte[], byte[]> moovWith = stco -> box("moov",
                box("mvhd", u32(0), u32(0), u32(0), u32(1000), u32(movieMillis), new byte[80]),
                box("trak", tkhd, box("mdia", mdhd, hdlr, box("minf", smhd, box("stbl", sampleTable, stco)))));
        // the offset depends on moov's size, which a placeholder stco of the same size gives
        int offset = ftyp.length + moovWith.apply(box("stco", u32(0), u32(1), u32(0))).length + 8;
        byte[] moov = moovWith.apply(box("stco", u32(0), u32(1), u32(offset)));
        return cat(ftyp, moov, box("mdat", samples));
    }
}
