package io.tokenquota.servlet.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.function.Function;

/** Byte builders for the media files the break-it rounds craft (ISO base media boxes and their parts, WAV files). */
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

    /**
     * The 44-byte header of a WAV of 8 kHz 8-bit mono (8,000 bytes a second), its {@code format} 1 (PCM) or
     * 7 (mu-law), stating {@code dataBytes} of samples: the length a duration reader takes.
     */
    public static byte[] wavHeader(int format, long dataBytes) {
        ByteBuffer h = ByteBuffer.allocate(44).order(ByteOrder.LITTLE_ENDIAN);
        h.put(ascii("RIFF")).putInt((int) (36 + dataBytes)).put(ascii("WAVE"));
        h.put(ascii("fmt ")).putInt(16).putShort((short) format).putShort((short) 1).putInt(8_000).putInt(8_000)
                .putShort((short) 1).putShort((short) 8);
        h.put(ascii("data")).putInt((int) dataBytes);
        return h.array();
    }

    /** One second of silence in 8 kHz 8-bit PCM (unsigned samples: 0x80). */
    public static byte[] silentSecond() {
        byte[] second = new byte[8_000];
        java.util.Arrays.fill(second, (byte) 0x80);
        return second;
    }

    /**
     * Writes a WAV of 8 kHz 8-bit mono PCM lasting {@code seconds}, its header stating the length, its
     * samples {@code second} (8,000 bytes) over and over.
     */
    public static void writeWav(OutputStream out, long seconds, byte[] second) throws IOException {
        out.write(wavHeader(1, seconds * 8_000));
        for (long s = 0; s < seconds; s++) {
            out.write(second);
        }
    }
}
