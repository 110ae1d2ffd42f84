package io.tokenquota.servlet.testing;

import static io.tokenquota.servlet.testing.MediaBytes.ascii;
import static io.tokenquota.servlet.testing.MediaBytes.cat;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * WebM files (EBML, RFC 8794; Matroska, RFC 9559) as browsers' {@code MediaRecorder} and FFmpeg write them, and the
 * elements to craft others: Chrome's (libwebm in live mode: a Segment and Clusters of unknown size, no Duration, a
 * Cluster on each keyframe, one SimpleBlock a frame or an Opus packet of 60 ms) and FFmpeg's ({@code -f webm}: sizes
 * known, a SeekHead, a Duration, the video track's DefaultDuration, Clusters of about 5 s and Cues at the end). Checked
 * against FFmpeg 5.1 ({@code ffprobe -count_frames}) and mkvinfo when written.
 */
public final class WebmFiles {
    public static final long EBML = 0x1A45DFA3L;
    public static final long SEGMENT = 0x18538067L;
    public static final long INFO = 0x1549A966L;
    public static final long TIMESTAMP_SCALE = 0x2AD7B1;
    public static final long DURATION = 0x4489;
    public static final long TRACKS = 0x1654AE6BL;
    public static final long TRACK_ENTRY = 0xAE;
    public static final long CLUSTER = 0x1F43B675L;
    public static final long TIMESTAMP = 0xE7;
    public static final long SIMPLE_BLOCK = 0xA3;
    public static final long BLOCK_GROUP = 0xA0;
    public static final long BLOCK = 0xA1;
    public static final long BLOCK_DURATION = 0x9B;
    public static final long CUES = 0x1C53BB6BL;
    public static final long VOID = 0xEC;
    /** An Opus packet's TOC byte: configuration 31 (CELT fullband, 20 ms frames), code 3 (a count follows). */
    public static final int OPUS_CELT_20MS_CODE3 = 0xFB;
    /** Opus packets of 60 ms (three 20 ms frames), as Chrome's MediaRecorder encodes them. */
    public static final int OPUS_MILLIS = 60;

    private WebmFiles() {
    }

    /** An element with a size of as few bytes as it takes (FFmpeg's, mkvmerge's). */
    public static byte[] element(long id, byte[]... body) {
        byte[] b = cat(body);
        return cat(id(id), size(b.length), b);
    }

    /** An element with an 8-byte size ({@code 01} and 7 bytes), as libwebm writes the sizes it fills in later. */
    public static byte[] element8(long id, byte[]... body) {
        byte[] b = cat(body);
        return cat(id(id), uint(0x0100000000000000L | b.length, 8), b);
    }

    /** The head of an element of unknown size (all value bits ones, RFC 8794 section 6.2), its children to follow. */
    public static byte[] unknownSize(long id) {
        return cat(id(id), new byte[] {0x01, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
            (byte) 0xFF});
    }

    /** An element ID as written (its length marker included). */
    public static byte[] id(long id) {
        int n = id > 0xFFFFFF ? 4 : id > 0xFFFF ? 3 : id > 0xFF ? 2 : 1;
        return uint(id, n);
    }

    /** A data size in as few bytes as it fits (an all-ones value would mean unknown, so one more byte then). */
    public static byte[] size(long size) {
        int n = 1;
        while (size >= (1L << (7 * n)) - 1) {
            n++;
        }
        byte[] out = uint(size, n);
        out[0] |= (byte) (0x80 >> (n - 1));
        return out;
    }

    public static byte[] uint(long v, int bytes) {
        byte[] out = new byte[bytes];
        for (int i = 0; i < bytes; i++) {
            out[i] = (byte) (v >>> (8 * (bytes - 1 - i)));
        }
        return out;
    }

    public static byte[] float64(double v) {
        return uint(Double.doubleToLongBits(v), 8);
    }

    /** The EBML header: version 1, IDs of up to 4 bytes, sizes of up to 8, {@code docType} (version 4, read version 2). */
    public static byte[] ebmlHeader(String docType) {
        return element(EBML, element(0x4286, uint(1, 1)), element(0x42F7, uint(1, 1)), element(0x42F2, uint(4, 1)),
                element(0x42F3, uint(8, 1)), element(0x4282, ascii(docType)), element(0x4287, uint(4, 1)),
                element(0x4285, uint(2, 1)));
    }

    /** A video TrackEntry ({@code V_VP8}, {@code V_VP9}), {@code defaultNanos} a frame when above 0. */
    public static byte[] videoTrack(int number, String codec, long defaultNanos) {
        return element(TRACK_ENTRY, element(0xD7, uint(number, 1)), element(0x73C5, uint(0x5A3C9E21L + number, 4)),
                element(0x83, uint(1, 1)), element(0x86, ascii(codec)),
                defaultNanos > 0 ? element(0x23E383, uint(defaultNanos, 4)) : new byte[0],
                element(0xE0, element(0xB0, uint(1280, 2)), element(0xBA, uint(720, 2))));
    }

    /** An Opus TrackEntry: its OpusHead (mono, 48 kHz, pre-skip 312), CodecDelay and SeekPreRoll as Chrome writes them. */
    public static byte[] opusTrack(int number) {
        byte[] head = cat(ascii("OpusHead"), new byte[] {1, 1, 0x38, 0x01, (byte) 0x80, (byte) 0xBB, 0, 0, 0, 0, 0});
        return element(TRACK_ENTRY, element(0xD7, uint(number, 1)), element(0x73C5, uint(0x31F0A2B7L + number, 4)),
                element(0x83, uint(2, 1)), element(0x86, ascii("A_OPUS")), element(0x63A2, head),
                element(0x56AA, uint(6_500_000, 3)), element(0x56BB, uint(80_000_000, 4)),
                element(0xE1, element(0xB5, float64(48_000)), element(0x9F, uint(1, 1))));
    }

    /** A SimpleBlock of track {@code track} at {@code relative} to its Cluster's Timestamp, unlaced. */
    public static byte[] simpleBlock(int track, long relative, boolean key, byte[] frame) {
        return element(SIMPLE_BLOCK, size(track), uint(relative, 2), new byte[] {(byte) (key ? 0x80 : 0x00)}, frame);
    }

    /**
     * A 60 ms Opus packet of about {@code bytes}: three 20 ms CELT frames of equal size, constant bitrate (RFC 6716
     * section 3.2.5: the two header bytes, then the frames).
     */
    public static byte[] opusPacket(int bytes, Random noise) {
        byte[] p = new byte[2 + (bytes - 2) / 3 * 3];
        noise.nextBytes(p);
        p[0] = (byte) OPUS_CELT_20MS_CODE3;
        p[1] = 0x03;
        return p;
    }

    /** A VP9 frame of {@code bytes}: its frame marker and profile 0, a keyframe's sync code. */
    public static byte[] vp9Frame(int bytes, boolean key, Random noise) {
        byte[] frame = new byte[bytes];
        noise.nextBytes(frame);
        frame[0] = (byte) (key ? 0x82 : 0x86);
        if (key) {
            frame[1] = 0x49;
            frame[2] = (byte) 0x83;
            frame[3] = 0x42;
        }
        return frame;
    }

    /** A block to come: its track, its time in milliseconds, whether it is a keyframe, its bytes. */
    private record Block(int track, long millis, boolean key, byte[] bytes) {
    }

    /**
     * The blocks of a recording of {@code seconds}: {@code fps} video frames of {@code frameBytes} (track 1) when
     * {@code fps} is above 0, a keyframe every {@code gop}; with {@code opus}, a 60 ms Opus packet of
     * {@code packetBytes} (track 2) every 60 ms; in time order, video first at the same time.
     */
    private static List<Block> blocks(int seconds, int fps, int frameBytes, int gop, boolean opus, int packetBytes) {
        Random noise = new Random(seconds * 31L + fps);
        List<Block> blocks = new ArrayList<>();
        int frames = seconds * fps;
        int packets = opus ? seconds * 1000 / OPUS_MILLIS : 0;
        for (int f = 0, p = 0; f < frames || p < packets; ) {
            long video = f < frames ? f * 1000L / fps : Long.MAX_VALUE;
            long audio = p < packets ? (long) p * OPUS_MILLIS : Long.MAX_VALUE;
            if (video <= audio) {
                blocks.add(new Block(1, video, f % gop == 0, vp9Frame(frameBytes, f % gop == 0, noise)));
                f++;
            } else {
                blocks.add(new Block(2, audio, true, opusPacket(packetBytes, noise)));
                p++;
            }
        }
        return blocks;
    }

    /**
     * A WebM as Chrome's {@code MediaRecorder} writes it (Blink's {@code WebmMuxer} over libwebm in live mode): the
     * EBML header (DocType {@code webm}), a Segment of unknown size holding Info (TimestampScale 1 ms, MuxingApp and
     * WritingApp {@code Chrome}, no Duration: a live recording's length is not known when its head is written),
     * Tracks (a VP9 video track, 1280x720, when {@code fps} is above 0; with {@code opus} an Opus track) and Clusters of
     * unknown size, each opening on a video keyframe (every 5 s of sound without video) with its Timestamp and one
     * SimpleBlock a frame or packet. {@code seconds} at {@code fps}, frames of {@code frameBytes}, a keyframe every
     * {@code gop} frames; Opus packets of 60 ms and {@code packetBytes}.
     */
    public static byte[] chrome(int seconds, int fps, int frameBytes, int gop, boolean opus, int packetBytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ebmlHeader("webm"));
        out.writeBytes(unknownSize(SEGMENT));
        out.writeBytes(element8(INFO, element8(TIMESTAMP_SCALE, uint(1_000_000, 3)), element8(0x4D80, ascii("Chrome")),
                element8(0x5741, ascii("Chrome"))));
        out.writeBytes(element8(TRACKS, fps > 0 ? videoTrack(1, "V_VP9", 0) : new byte[0],
                opus ? opusTrack(2) : new byte[0]));
        long cluster = -1;
        for (Block b : blocks(seconds, fps, frameBytes, gop, opus, packetBytes)) {
            if (fps > 0 ? b.track() == 1 && b.key() : cluster < 0 || b.millis() - cluster >= 5_000) {
                cluster = b.millis();
                out.writeBytes(unknownSize(CLUSTER));
                out.writeBytes(element(TIMESTAMP, uint(cluster, 4)));
            }
            out.writeBytes(simpleBlock(b.track(), b.millis() - cluster, b.key(), b.bytes()));
        }
        return out.toByteArray();
    }

    /** A video-only Chrome WebM ({@code video/webm;codecs=vp9}), as round 301's screen recordings. */
    public static byte[] chrome(int seconds, int fps, int frameBytes, int gop) {
        return chrome(seconds, fps, frameBytes, gop, false, 0);
    }

    /**
     * A WebM as FFmpeg writes it to a file ({@code -f webm}, or {@code matroska} as {@code docType}): the EBML header,
     * a Segment of known size with a SeekHead and a Void, Info with a Duration of {@code statedSeconds}
     * (TimestampScale 1 ms), Tracks (VP9 with its DefaultDuration when {@code fps} is above 0, Opus with {@code opus}),
     * Clusters of known size every 5 s (on a keyframe where there is video) and Cues naming them. The blocks as
     * {@link #chrome(int, int, int, int, boolean, int)}'s, a keyframe every {@code fps} frames.
     */
    public static byte[] ffmpeg(String docType, int seconds, int fps, int frameBytes, boolean opus, int packetBytes,
                                double statedSeconds) {
        ByteArrayOutputStream clusters = new ByteArrayOutputStream();
        ByteArrayOutputStream cluster = new ByteArrayOutputStream();
        List<Long> starts = new ArrayList<>();
        List<Long> positions = new ArrayList<>();
        byte[] head = cat(element(0x114D9B74L, element(0x4DBB, element(0x53AB, id(INFO)), element(0x53AC, uint(0, 1)))),
                element(VOID, new byte[60]),
                element(INFO, element(TIMESTAMP_SCALE, uint(1_000_000, 3)), element(0x4D80, ascii("Lavf59.27.100")),
                        element(0x5741, ascii("Lavf59.27.100")), element(DURATION, float64(statedSeconds * 1000))),
                element(TRACKS, fps > 0 ? videoTrack(1, "V_VP9", 1_000_000_000L / fps) : new byte[0],
                        opus ? opusTrack(2) : new byte[0]));
        for (Block b : blocks(seconds, fps, frameBytes, Math.max(fps, 1), opus, packetBytes)) {
            long start = starts.isEmpty() ? -1 : starts.get(starts.size() - 1);
            if (start < 0 || b.millis() - start >= 5_000 && (fps == 0 || b.track() == 1 && b.key())) {
                if (start >= 0) {
                    clusters.writeBytes(element(CLUSTER, cluster.toByteArray()));
                }
                cluster.reset();
                starts.add(b.millis());
                positions.add((long) head.length + clusters.size());
                cluster.writeBytes(element(TIMESTAMP, uint(b.millis(), 4)));
                start = b.millis();
            }
            cluster.writeBytes(simpleBlock(b.track(), b.millis() - start, b.key(), b.bytes()));
        }
        clusters.writeBytes(element(CLUSTER, cluster.toByteArray()));
        ByteArrayOutputStream cues = new ByteArrayOutputStream();
        for (int i = 0; i < starts.size(); i++) {
            cues.writeBytes(element(0xBB, element(0xB3, uint(starts.get(i), 4)),
                    element(0xB7, element(0xF7, uint(fps > 0 ? 1 : 2, 1)), element(0xF1, uint(positions.get(i), 4)))));
        }
        return cat(ebmlHeader(docType), element(SEGMENT, head, clusters.toByteArray(), element(CUES, cues.toByteArray())));
    }
}
