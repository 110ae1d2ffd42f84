package io.tokenquota.servlet.testing;

import static io.tokenquota.servlet.testing.MediaBytes.ascii;
import static io.tokenquota.servlet.testing.MediaBytes.box;
import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static io.tokenquota.servlet.testing.MediaBytes.u32;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.function.Function;

/**
 * 640x360 H.264 videos as FFmpeg's mov muxer writes them: faststart ({@code moov} first, its tables filled),
 * and fragmented ({@code -movflags frag_keyframe}, with or without {@code empty_moov}), for the rounds that
 * price a video by its pictures.
 */
public final class H264Files {
    private H264Files() {
    }

    /**
     * A 640x360 H.264 video of {@code seconds} at {@code fps}, frames of {@code frameBytes}, as FFmpeg's
     * {@code -f mp4 -movflags +faststart} writes it: {@code moov} first, its sample tables filled, one chunk.
     */
    public static byte[] faststart(int seconds, int fps, int frameBytes) {
        int count = seconds * fps;
        long delta = TIMESCALE / fps;
        byte[] ftyp = box("ftyp", ascii("isom"), u32(0x200), ascii("isomiso2avc1mp41"));
        Function<Long, byte[]> moovWith = offset -> box("moov", mvhd(seconds * 1000L),
                box("trak", tkhd(seconds * 1000L), mdia(count * delta, box("stbl",
                        box("stsd", u32(0), u32(1), avc1()), box("stts", u32(0), u32(1), u32(count), u32(delta)),
                        box("stss", u32(0), u32(1), u32(1)), box("stsc", u32(0), u32(1), u32(1), u32(count), u32(1)),
                        box("stsz", u32(0), u32(frameBytes), u32(count)), box("stco", u32(0), u32(1), u32(offset))))));
        long first = ftyp.length + moovWith.apply(0L).length + 8;
        return cat(ftyp, moovWith.apply(first), box("mdat", frames(count, fps, frameBytes, seconds)));
    }

    private static final byte[] AVCC = box("avcC", new byte[] {1, 0x42, (byte) 0xc0, 0x1e, (byte) 0xff, (byte) 0xe1, 0, 9,
            0x67, 0x42, (byte) 0xc0, 0x1e, (byte) 0xd9, 0x00, (byte) 0xa0, 0x2f, (byte) 0xf9, 1, 0, 4, 0x68, (byte) 0xcb,
            (byte) 0x83, (byte) 0xcb});
    private static final byte[] MATRIX = cat(u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0),
            u32(0x40000000));
    private static final long TIMESCALE = 15_360;

    private static byte[] avc1() {
        return box("avc1", new byte[6], new byte[] {0, 1}, new byte[16], new byte[] {2, (byte) 0x80, 1, 0x68},
                u32(0x00480000), u32(0x00480000), u32(0), new byte[] {0, 1}, new byte[32], new byte[] {0, 0x18,
                        (byte) 0xff, (byte) 0xff}, AVCC);
    }

    /** H.264 frames of {@code bytes} each (a length-prefixed IDR slice every {@code gop} frames, else a P slice). */
    private static byte[] frames(int count, int gop, int bytes, long seed) {
        byte[] frames = new byte[count * bytes];
        new Random(seed).nextBytes(frames);
        for (int i = 0; i < count; i++) {
            ByteBuffer.wrap(frames, i * bytes, 5).putInt(bytes - 4).put((byte) (i % gop == 0 ? 0x65 : 0x41));
        }
        return frames;
    }

    private static byte[] mvhd(long millis) {
        return box("mvhd", u32(0), u32(0), u32(0), u32(1000), u32(millis), u32(0x00010000), new byte[] {1, 0},
                new byte[10], MATRIX, new byte[24], u32(2));
    }

    private static byte[] tkhd(long millis) {
        return box("tkhd", u32(3), u32(0), u32(0), u32(1), u32(0), u32(millis), new byte[8], new byte[4], new byte[4],
                MATRIX, u32(640L << 16), u32(360L << 16));
    }

    private static byte[] mdia(long duration, byte[] stbl) {
        return box("mdia", box("mdhd", u32(0), u32(0), u32(0), u32(TIMESCALE), u32(duration), new byte[] {0x55, (byte) 0xc4, 0, 0}),
                box("hdlr", u32(0), u32(0), ascii("vide"), new byte[12], ascii("VideoHandler\0")),
                box("minf", box("vmhd", u32(1), new byte[8]), box("dinf", box("dref", u32(0), u32(1), box("url ", u32(1)))),
                        stbl));
    }

    /**
     * A 640x360 H.264 video of {@code seconds} at {@code fps} (frames of {@code frameBytes}, a keyframe every
     * {@code gop} frames) as FFmpeg's mov muxer writes it with {@code -movflags frag_keyframe} (no {@code empty_moov}):
     * {@code ftyp}, then the first fragment as an ordinary {@code moov} (its sample tables filled for the first GOP, its
     * durations those of that GOP, an {@code mvex} with the track's {@code trex}) and its {@code mdat}, then one
     * {@code moof} + {@code mdat} for each further GOP ({@code tfhd}, {@code tfdt}, {@code trun} with a data offset and
     * each sample's duration and size). A clip of one GOP is the {@code moov}+{@code mdat} pair alone.
     */
    public static byte[] fragKeyframe(int seconds, int fps, int gop, int frameBytes) {
        return fragmented(seconds, fps, gop, frameBytes, false);
    }

    /** As {@link #fragKeyframe}, with {@code empty_moov} too: the {@code moov}'s tables empty, every GOP a fragment. */
    public static byte[] fragmented(int seconds, int fps, int gop, int frameBytes, boolean emptyMoov) {
        int count = seconds * fps;
        int first = emptyMoov ? 0 : Math.min(count, gop);
        long delta = TIMESCALE / fps;
        long firstMillis = first * 1000L / fps;
        byte[] all = frames(count, gop, frameBytes, seconds * 31L + gop);
        // FFmpeg writes iso5 for empty_moov+default_base_moof (movenc.c mov_write_ftyp_tag)
        byte[] ftyp = emptyMoov ? box("ftyp", ascii("iso5"), u32(0x200), ascii("iso5iso6mp41"))
                : box("ftyp", ascii("isom"), u32(0x200), ascii("isomiso2avc1mp41"));
        Function<Long, byte[]> moovWith = offset -> box("moov", mvhd(firstMillis),
                box("trak", tkhd(firstMillis), mdia(first * delta, first == 0
                        ? box("stbl", box("stsd", u32(0), u32(1), avc1()), box("stts", u32(0), u32(0)),
                                box("stsc", u32(0), u32(0)), box("stsz", u32(0), u32(0), u32(0)), box("stco", u32(0), u32(0)))
                        : box("stbl", box("stsd", u32(0), u32(1), avc1()), box("stts", u32(0), u32(1), u32(first), u32(delta)),
                        box("stss", u32(0), u32(1), u32(1)), box("stsc", u32(0), u32(1), u32(1), u32(first), u32(1)),
                        box("stsz", u32(0), u32(frameBytes), u32(first)), box("stco", u32(0), u32(1), u32(offset))))),
                box("mvex", box("trex", u32(0), u32(1), u32(1), u32(0), u32(0), u32(0))));
        long offset = ftyp.length + moovWith.apply(0L).length + 8;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ftyp);
        out.writeBytes(moovWith.apply(offset));
        if (first > 0) {
            byte[] head = new byte[first * frameBytes];
            System.arraycopy(all, 0, head, 0, head.length);
            out.writeBytes(box("mdat", head));
        }
        int sequence = 1;
        for (int at = first; at < count; at += gop) {
            int n = Math.min(gop, count - at);
            int from = at;
            int seq = sequence++;
            Function<Long, byte[]> moofWith = dataOffset -> {
                ByteArrayOutputStream samples = new ByteArrayOutputStream();
                for (int i = 0; i < n; i++) {
                    samples.writeBytes(u32(delta));
                    samples.writeBytes(u32(frameBytes));
                }
                return box("moof", box("mfhd", u32(0), u32(seq)),
                        box("traf", box("tfhd", u32(0x020000), u32(1)),
                                box("tfdt", u32(0x01000000), u32(0), u32((long) from * delta)),
                                box("trun", u32(0x000301), u32(n), u32(dataOffset), samples.toByteArray())));
            };
            byte[] moof = moofWith.apply(0L);
            out.writeBytes(moofWith.apply((long) moof.length + 8));
            byte[] chunk = new byte[n * frameBytes];
            System.arraycopy(all, from * frameBytes, chunk, 0, chunk.length);
            out.writeBytes(box("mdat", chunk));
        }
        return out.toByteArray();
    }
}
