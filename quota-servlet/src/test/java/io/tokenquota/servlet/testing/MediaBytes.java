package io.tokenquota.servlet.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.function.Function;
import java.util.Random;

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

    /**
     * A 640x360 H.264 screen recording of {@code seconds} at one frame a second, {@code moov} first, its
     * {@code ftyp} of major brand {@code brand} and the compatible brands {@code compatible}; with
     * {@code sound}, a second track of 8 kHz mono mu-law ({@code ulaw}) as long as the pictures.
     */
    public static byte[] recording(String brand, String compatible, int seconds, boolean sound) {
        int frameBytes = 3_000;
        int rate = 8_000;
        byte[] ftyp = box("ftyp", ascii(brand), u32(0x200), ascii(compatible));
        byte[] mvhd = box("mvhd", u32(0), u32(0), u32(0), u32(1000), u32(seconds * 1000L),
                u32(0x00010000), new byte[] {1, 0}, new byte[10],
                u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0), u32(0x40000000),
                new byte[24], u32(sound ? 3 : 2));
        byte[] vtkhd = box("tkhd", u32(3), u32(0), u32(0), u32(1), u32(0), u32(seconds * 1000L), new byte[8],
                new byte[4], new byte[4],
                u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0), u32(0x40000000),
                u32(640L << 16), u32(360L << 16));
        byte[] vmdhd = box("mdhd", u32(0), u32(0), u32(0), u32(1000), u32(seconds * 1000L), new byte[] {0x55, (byte) 0xc4, 0, 0});
        byte[] vhdlr = box("hdlr", u32(0), u32(0), ascii("vide"), new byte[12], ascii("VideoHandler\0"));
        byte[] vmhd = box("vmhd", u32(1), new byte[8]);
        byte[] dinf = box("dinf", box("dref", u32(0), u32(1), box("url ", u32(1))));
        byte[] avcC = box("avcC", new byte[] {1, 0x42, (byte) 0xc0, 0x1e, (byte) 0xff, (byte) 0xe1, 0, 9,
                0x67, 0x42, (byte) 0xc0, 0x1e, (byte) 0xd9, 0x00, (byte) 0xa0, 0x2f, (byte) 0xf9, 1, 0, 4, 0x68, (byte) 0xcb,
                (byte) 0x83, (byte) 0xcb});
        byte[] avc1 = box("avc1", new byte[6], new byte[] {0, 1}, new byte[16], new byte[] {2, (byte) 0x80, 1, 0x68},
                u32(0x00480000), u32(0x00480000), u32(0), new byte[] {0, 1}, new byte[32], new byte[] {0, 0x18, (byte) 0xff,
                        (byte) 0xff}, avcC);
        byte[] vstbl = cat(box("stsd", u32(0), u32(1), avc1), box("stts", u32(0), u32(1), u32(seconds), u32(1000)),
                box("stss", u32(0), u32(1), u32(1)), box("stsc", u32(0), u32(1), u32(1), u32(seconds), u32(1)),
                box("stsz", u32(0), u32(frameBytes), u32(seconds)));
        byte[] stkhd = box("tkhd", u32(3), u32(0), u32(0), u32(2), u32(0), u32(seconds * 1000L), new byte[8],
                new byte[] {0, 0, 0, 1}, new byte[] {1, 0, 0, 0},
                u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0), u32(0x40000000),
                u32(0), u32(0));
        byte[] smdhd = box("mdhd", u32(0), u32(0), u32(0), u32(rate), u32((long) seconds * rate), new byte[] {0x55, (byte) 0xc4, 0, 0});
        byte[] shdlr = box("hdlr", u32(0), u32(0), ascii("soun"), new byte[12], ascii("SoundHandler\0"));
        byte[] smhd = box("smhd", new byte[8]);
        // a QuickTime/ISO sound sample entry, version 0: 1 channel, 8 bits, 8,000 Hz (16.16)
        byte[] ulaw = box("ulaw", new byte[6], new byte[] {0, 1}, new byte[8], new byte[] {0, 1}, new byte[] {0, 8},
                new byte[4], u32((long) rate << 16));
        byte[] sstbl = cat(box("stsd", u32(0), u32(1), ulaw), box("stts", u32(0), u32(1), u32((long) seconds * rate), u32(1)),
                box("stsc", u32(0), u32(1), u32(1), u32((long) seconds * rate), u32(1)),
                box("stsz", u32(0), u32(1), u32((long) seconds * rate)));
        java.util.function.Function<long[], byte[]> moovWith = offsets -> {
            byte[] video = box("trak", vtkhd, box("mdia", vmdhd, vhdlr, box("minf", vmhd, dinf,
                    box("stbl", vstbl, box("stco", u32(0), u32(1), u32(offsets[0]))))));
            byte[] audio = box("trak", stkhd, box("mdia", smdhd, shdlr, box("minf", smhd, dinf,
                    box("stbl", sstbl, box("stco", u32(0), u32(1), u32(offsets[1]))))));
            return sound ? box("moov", mvhd, video, audio) : box("moov", mvhd, video);
        };
        long first = ftyp.length + moovWith.apply(new long[2]).length + 8;
        byte[] moov = moovWith.apply(new long[] {first, first + (long) seconds * frameBytes});
        byte[] frames = new byte[seconds * frameBytes];
        Random noise = new Random(seconds);
        noise.nextBytes(frames);
        for (int i = 0; i < seconds; i++) {
            ByteBuffer.wrap(frames, i * frameBytes, 5).putInt(frameBytes - 4).put((byte) (i == 0 ? 0x65 : 0x41));
        }
        byte[] samples = new byte[sound ? seconds * rate : 0];
        for (int i = 0; i < samples.length; i++) {
            // a quiet 220 Hz tone in mu-law (no silence)
            samples[i] = (byte) (0x70 + (int) (8 * Math.sin(i * 2 * Math.PI * 220 / rate)));
        }
        return cat(ftyp, moov, box("mdat", frames, samples));
    }

    /** The duration of an MP4 by its {@code mvhd} (version 0), in whole seconds: what a decoder plays. */
    public static long mp4Seconds(byte[] b) {
        for (int i = 4; i + 24 < b.length; i++) {
            if (b[i] == 'm' && b[i + 1] == 'v' && b[i + 2] == 'h' && b[i + 3] == 'd') {
                ByteBuffer h = ByteBuffer.wrap(b, i + 4, 20);
                h.getInt();
                h.getInt();
                h.getInt();
                long timescale = Integer.toUnsignedLong(h.getInt());
                return Integer.toUnsignedLong(h.getInt()) / timescale;
            }
        }
        throw new IllegalArgumentException("no mvhd");
    }
}
