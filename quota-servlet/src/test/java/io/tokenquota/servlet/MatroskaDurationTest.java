package io.tokenquota.servlet;

import static io.tokenquota.servlet.testing.MediaBytes.ascii;
import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static io.tokenquota.servlet.testing.WebmFiles.BLOCK;
import static io.tokenquota.servlet.testing.WebmFiles.BLOCK_DURATION;
import static io.tokenquota.servlet.testing.WebmFiles.BLOCK_GROUP;
import static io.tokenquota.servlet.testing.WebmFiles.CLUSTER;
import static io.tokenquota.servlet.testing.WebmFiles.DURATION;
import static io.tokenquota.servlet.testing.WebmFiles.INFO;
import static io.tokenquota.servlet.testing.WebmFiles.SEGMENT;
import static io.tokenquota.servlet.testing.WebmFiles.SIMPLE_BLOCK;
import static io.tokenquota.servlet.testing.WebmFiles.TIMESTAMP;
import static io.tokenquota.servlet.testing.WebmFiles.TIMESTAMP_SCALE;
import static io.tokenquota.servlet.testing.WebmFiles.TRACKS;
import static io.tokenquota.servlet.testing.WebmFiles.VOID;
import static io.tokenquota.servlet.testing.WebmFiles.element;
import static io.tokenquota.servlet.testing.WebmFiles.float64;
import static io.tokenquota.servlet.testing.WebmFiles.id;
import static io.tokenquota.servlet.testing.WebmFiles.size;
import static io.tokenquota.servlet.testing.WebmFiles.uint;
import static io.tokenquota.servlet.testing.WebmFiles.unknownSize;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.WebmFiles;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** WebM and Matroska timed by their blocks ({@link MatroskaDuration}), read through {@link AudioDuration} as uploads are. */
class MatroskaDurationTest {
    private static final Random NOISE = new Random(7);

    /** What a file plays, its first {@link AudioDuration#HEAD} bytes given apart as the multipart reader does. */
    static AudioDuration.Played played(byte[] file) throws IOException {
        int head = Math.min(file.length, AudioDuration.HEAD);
        return AudioDuration.played(Arrays.copyOf(file, head), new ByteArrayInputStream(file, head, file.length - head), null);
    }

    static Mp4Duration.Tracks tracks(byte[] file) throws IOException {
        return MatroskaDuration.tracks(new ByteArrayInputStream(file));
    }

    /** The head of a Chrome-shaped file: EBML header, Segment of unknown size, Info at 1 ms, the given TrackEntries. */
    static byte[] head(byte[]... trackEntries) {
        return cat(WebmFiles.ebmlHeader("webm"), unknownSize(SEGMENT), element(INFO, element(TIMESTAMP_SCALE,
                uint(1_000_000, 3))), element(TRACKS, trackEntries));
    }

    /** A Cluster of unknown size at {@code millis} holding {@code blocks}. */
    static byte[] cluster(long millis, byte[]... blocks) {
        return cat(unknownSize(CLUSTER), element(TIMESTAMP, uint(millis, 4)), cat(blocks));
    }

    static byte[] frame(int track, long relative) {
        return WebmFiles.simpleBlock(track, relative, relative == 0, WebmFiles.vp9Frame(500, relative == 0, NOISE));
    }

    // ------------------------------------------------------------------ files as they are written

    @Test
    void aChromeScreenRecordingIsTimedByItsClustersAndBlocks() throws IOException {
        // 60 frames at one a second in Clusters of 10, no Duration: the last frame at 59 s and one frame's step
        byte[] webm = WebmFiles.chrome(60, 1, 3_000, 10);
        assertEquals(new AudioDuration.Played(0, 60_000), played(webm));
        assertEquals(15_780, MediaSize.playedTokens(played(webm), 32), "263 tokens a second of pictures");
    }

    @Test
    void aChromeCameraClipCountsItsPicturesAndItsOpusSound() throws IOException {
        // 10 s at 30 frames a second (frames at whole milliseconds: the last at 9,966, a step of 33) and 166 packets of 60 ms
        AudioDuration.Played played = played(WebmFiles.chrome(10, 30, 10_416, 30, true, 240));
        assertEquals(9_999, played.video());
        assertEquals(166 * 60, played.sound());
        assertEquals(2_630, MediaSize.playedTokens(played, 32), "10 s of pictures, the sound within them");
    }

    @Test
    void anFfmpegFileWithKnownSizesDurationAndCuesIsRead() throws IOException {
        // 12 s at 25 frames a second, DefaultDuration 40 ms: the last frame at 11,960 and its 40 ms
        assertEquals(new AudioDuration.Played(12_000, 12_000), played(WebmFiles.ffmpeg("webm", 12, 25, 2_000, true, 240, 12.0)));
        // Matroska (DocType matroska) is read the same way
        assertEquals(new AudioDuration.Played(20_000, 0), played(WebmFiles.ffmpeg("matroska", 20, 0, 0, true, 240, 20.0)));
    }

    @Test
    void anAudioOnlyWebmIsTimedAsSoundByItsBlocksNotBySize() throws IOException {
        // Chrome's audio/webm;codecs=opus at 6 kbit/s (45-byte packets of 60 ms): 120 s, where its size made 50 s
        byte[] low = WebmFiles.chrome(120, 0, 0, 1, true, 45);
        assertEquals(new AudioDuration.Played(120_000, 0), played(low));
        assertTrue(AudioDuration.atLowestBitrate(low.length) < 60_000, "the size rule would hold it short");
        // and at 64 kbit/s, 30 s where its size made 120 s
        byte[] high = WebmFiles.chrome(30, 0, 0, 1, true, 480);
        assertEquals(new AudioDuration.Played(30_000, 0), played(high));
        assertTrue(AudioDuration.atLowestBitrate(high.length) > 100_000, "the size rule would over-hold it");
    }

    @Test
    void aBlockGroupsBlockDurationEndsItsTrack() throws IOException {
        byte[] group = element(BLOCK_GROUP, element(BLOCK, size(1), uint(2_000, 2), new byte[] {0}, new byte[100]),
                element(BLOCK_DURATION, uint(3_000, 2)));
        byte[] webm = cat(head(WebmFiles.videoTrack(1, "V_VP8", 0)), cluster(0, frame(1, 0), frame(1, 1_000), group));
        assertEquals(new Mp4Duration.Tracks(0, 5_000), tracks(webm), "the last block at 2 s lasting 3 s");
    }

    @Test
    void laceOpusPacketsAreEachCounted() throws IOException {
        // three 20 ms packets (TOC 0xF8: CELT fullband 20 ms, one frame) Xiph-laced in one block at 0 (RFC 9559 10.3)
        byte[] laced = element(SIMPLE_BLOCK, size(2), uint(0, 2), new byte[] {(byte) 0x82, 2, 40, 40},
                cat(packet20(40), packet20(40), packet20(40)));
        byte[] webm = cat(head(WebmFiles.opusTrack(2)), cluster(0, laced));
        assertEquals(new Mp4Duration.Tracks(60, 0), tracks(webm));
        // EBML lacing: a first size of 40, then a difference of 0 (signed, one byte: 0xBF)
        byte[] ebmlLaced = element(SIMPLE_BLOCK, size(2), uint(0, 2), new byte[] {(byte) 0x86, 2, (byte) 0xA8, (byte) 0xBF},
                cat(packet20(40), packet20(40), packet20(40)));
        assertEquals(new Mp4Duration.Tracks(60, 0), tracks(cat(head(WebmFiles.opusTrack(2)), cluster(0, ebmlLaced))));
    }

    // ------------------------------------------------------------------ round 317: laces, track scales, CodecIDs

    /**
     * A SimpleBlock of track 1 at {@code relative} holding {@code n} frames of 100 bytes laced as {@code lacing} says
     * (RFC 9559 section 10.3: 1 Xiph, 2 fixed-size, 3 EBML): the frame count less one, then the sizes.
     */
    static byte[] laced(long relative, int lacing, int n) {
        ByteArrayOutputStream sizes = new ByteArrayOutputStream();
        for (int i = 0; i + 1 < n && lacing != 2; i++) {
            // Xiph: 100 in one byte; EBML: the first as a 1-byte vint (0xE4), then differences of 0 (0xBF)
            sizes.write(lacing == 1 ? 100 : i == 0 ? 0xE4 : 0xBF);
        }
        return element(SIMPLE_BLOCK, size(1), uint(relative, 2), new byte[] {(byte) (lacing << 1), (byte) (n - 1)},
                sizes.toByteArray(), new byte[100 * n]);
    }

    @Test
    void lacedVideoFramesEachLastADefaultDuration() throws IOException {
        // a frame at 0 and 59 laced in a block at 1 s, DefaultDuration 1 s: FFmpeg's frames at 0 ... 59 s
        for (int lacing = 1; lacing <= 3; lacing++) {
            byte[] webm = cat(head(WebmFiles.videoTrack(1, "V_VP9", 1_000_000_000L)), cluster(0, frame(1, 0), laced(1_000, lacing, 59)));
            assertEquals(new Mp4Duration.Tracks(0, 60_000), tracks(webm), "lacing " + lacing);
        }
        // without a DefaultDuration, each lace lasts the shortest step (1 s): 2 s and 58 laces
        byte[] stepped = cat(head(WebmFiles.videoTrack(1, "V_VP9", 0)), cluster(0, frame(1, 0), frame(1, 1_000), laced(2_000, 1, 58)));
        assertEquals(new Mp4Duration.Tracks(0, 60_000), tracks(stepped));
        // a laced block before the last is not cut short by it: 10 laces at 0, a frame at 1 s
        byte[] early = cat(head(WebmFiles.videoTrack(1, "V_VP9", 1_000_000_000L)), cluster(0, laced(0, 1, 10), frame(1, 1_000)));
        assertTrue(tracks(early).video() >= 10_000);
        // the most laces a block holds (256) at 4 s a lace
        byte[] most = cat(head(WebmFiles.videoTrack(1, "V_VP9", 4_000_000_000L)), cluster(0, laced(0, 2, 256)));
        assertEquals(new Mp4Duration.Tracks(0, 256 * 4_000), tracks(most));
        // a laced block cut before its frame count: one frame, no exception, the Cluster read on
        byte[] cut = element(SIMPLE_BLOCK, size(1), uint(0, 2), new byte[] {0x02});
        assertEquals(new Mp4Duration.Tracks(0, 2_000), tracks(cat(head(WebmFiles.videoTrack(1, "V_VP9", 1_000_000_000L)),
                cluster(0, cut, frame(1, 1_000)))));
    }

    /** 60 VP9 frames {@code stepMillis} apart in a Cluster at 0, the track's TrackTimestampScale element {@code scale}. */
    static byte[] scaled(long stepMillis, long defaultNanos, byte[] scale) {
        byte[] track = element(0xAE, element(0xD7, uint(1, 1)), element(0x83, uint(1, 1)), element(0x86, ascii("V_VP9")),
                defaultNanos > 0 ? element(0x23E383, uint(defaultNanos, 4)) : new byte[0], scale);
        ByteArrayOutputStream blocks = new ByteArrayOutputStream();
        for (int i = 0; i < 60; i++) {
            blocks.writeBytes(frame(1, i * stepMillis));
        }
        return cat(head(track), cluster(0, blocks.toByteArray()));
    }

    static byte[] trackScale(double v) {
        return element(0x23314F, float64(v));
    }

    @Test
    void aTrackTimestampScaleLengthensItsTrack() throws IOException {
        // 60 frames 10 ms apart at a track scale of 100 (RFC 9559 section 5.1.4.1.13): FFmpeg's 0 ... 59 s
        assertEquals(new Mp4Duration.Tracks(0, 60_000), tracks(scaled(10, 0, trackScale(100))));
        assertEquals(new Mp4Duration.Tracks(0, 60_000), tracks(scaled(10, 0,
                element(0x23314F, uint(Float.floatToIntBits(100f), 4)))), "a 4-byte float");
        // its DefaultDuration too, in FFmpeg's ticks: 59 s and a 10 ms frame at 100
        assertEquals(new Mp4Duration.Tracks(0, 60_000), tracks(scaled(10, 10_000_000, trackScale(100))));
        // never shortening: below 1, 0, negative, NaN, a negative infinity and a 3-byte float leave the 0.6 s
        for (byte[] lower : new byte[][] {trackScale(0.5), trackScale(0), trackScale(-100), trackScale(Double.NaN),
            trackScale(Double.NEGATIVE_INFINITY), element(0x23314F, uint(0x42C800, 3)), new byte[0]}) {
            assertEquals(new Mp4Duration.Tracks(0, 600), tracks(scaled(10, 0, lower)));
        }
    }

    @Test
    void hugeTrackTimestampScalesStayBounded() throws IOException {
        for (double huge : new double[] {Double.POSITIVE_INFINITY, Double.MAX_VALUE, 1e300, 0x1p33}) {
            byte[] webm = scaled(10, 0, trackScale(huge));
            // capped at 2^32 (FFmpeg's largest time base): 600 ticks of 1 ms, finite, never negative or wrapped
            assertEquals(new Mp4Duration.Tracks(0, (long) Math.ceil(600 * 0x1p32)), tracks(webm), "scale " + huge);
            assertEquals(1_000L * webm.length, played(webm).video());
        }
        // a single frame at a scale of infinity and no step or DefaultDuration: no NaN, its 0 length
        byte[] one = cat(head(element(0xAE, element(0xD7, uint(1, 1)), element(0x83, uint(1, 1)), element(0x86, ascii("V_VP9")),
                trackScale(Double.POSITIVE_INFINITY))), cluster(0, frame(1, 0)));
        assertEquals(new Mp4Duration.Tracks(0, 0), tracks(one));
        // the largest Cluster timestamp at the largest TimestampScale and track scale: saturated, not wrapped
        byte[] far = cat(WebmFiles.ebmlHeader("webm"), unknownSize(SEGMENT), element(INFO, element(TIMESTAMP_SCALE,
                uint(-1L >>> 1, 8))), element(TRACKS, element(0xAE, element(0xD7, uint(1, 1)), element(0x83, uint(1, 1)),
                trackScale(1e300))), cluster(0, frame(1, 0)), unknownSize(CLUSTER), element(TIMESTAMP, uint(-1L >>> 1, 8)),
                frame(1, 0));
        assertEquals(Long.MAX_VALUE, tracks(far).video());
    }

    /** 1,000 Opus packets of 60 ms and 20 bytes stamped at 0 (60 s), track 2's CodecID bytes {@code codecId}. */
    static byte[] voiceNote(byte[] codecId) {
        byte[] track = element(0xAE, element(0xD7, uint(2, 1)), element(0x83, uint(2, 1)), element(0x86, codecId));
        ByteArrayOutputStream blocks = new ByteArrayOutputStream();
        for (int i = 0; i < 1_000; i++) {
            blocks.writeBytes(WebmFiles.simpleBlock(2, 0, true, WebmFiles.opusPacket(20, NOISE)));
        }
        return cat(head(track), cluster(0, blocks.toByteArray()));
    }

    @Test
    void opusIsKnownByEitherCodecIdItsValueEndingAtAZeroByte() throws IOException {
        // A_OPUS, mkvmerge's pre-final A_OPUS/EXPERIMENTAL, either padded or ended by a zero byte (RFC 8794 section 13)
        for (byte[] id : new byte[][] {ascii("A_OPUS"), ascii("A_OPUS/EXPERIMENTAL"), cat(ascii("A_OPUS"), new byte[3]),
            cat(ascii("A_OPUS/EXPERIMENTAL"), new byte[1]), cat(ascii("A_OPUS"), new byte[1], ascii("/EXPERIMENTAL2")),
            cat(ascii("A_OPUS"), new byte[100_000]), cat(ascii("A_OPUS/EXPERIMENTAL"), new byte[100_000], ascii("X"))}) {
            assertEquals(new Mp4Duration.Tracks(60_000, 0), tracks(voiceNote(id)), new String(id, 0, Math.min(id.length, 30)));
        }
        // others are timed by their bytes at 16 kbit/s: 24 KB, 12 s
        for (byte[] id : new byte[][] {ascii("A_OPUSX"), ascii("A_OPUS/EXPERIMENTAL2"), ascii("a_opus"), ascii("A_OPU"),
            new byte[0], cat(ascii("A_OPUS"), new byte[] {' '}), cat(ascii("A_OPUSX"), new byte[100_000]),
            cat(ascii("A_OPUS/EXPERIMENTALX"), new byte[1]), cat(new byte[100_000], ascii("A_OPUS"))}) {
            assertEquals(new Mp4Duration.Tracks(12_000, 0), tracks(voiceNote(id)), new String(id, 0, Math.min(id.length, 30)));
        }
    }

    static byte[] packet20(int bytes) {
        byte[] p = new byte[bytes];
        p[0] = (byte) 0xF8;
        return p;
    }

    // ------------------------------------------------------------------ hostile files

    @Test
    void aDurationShorterThanTheClustersIsNotTaken() throws IOException {
        // FFmpeg's layout stating 1 s over 60 s of frames: the frames count; stating 90 s, the longer counts
        assertEquals(60_000, played(WebmFiles.ffmpeg("webm", 60, 1, 3_000, false, 0, 1.0)).video());
        assertEquals(90_000, played(WebmFiles.ffmpeg("webm", 60, 1, 3_000, false, 0, 90.0)).video());
    }

    @Test
    void audioTimestampsAllAtZeroStillCountTheirOpusPackets() throws IOException {
        ByteArrayOutputStream blocks = new ByteArrayOutputStream();
        for (int i = 0; i < 1_000; i++) {
            blocks.writeBytes(WebmFiles.simpleBlock(2, 0, true, WebmFiles.opusPacket(120, NOISE)));
        }
        // 1,000 packets of 60 ms stamped at 0: 60 s of sound as a decoder plays them
        assertEquals(new Mp4Duration.Tracks(60_000, 0), tracks(cat(head(WebmFiles.opusTrack(2)), cluster(0, blocks.toByteArray()))));
    }

    @Test
    void anotherCodecsSoundIsNeverShorterThanItsBytesAtTheLowestBitrate() throws IOException {
        byte[] vorbis = element(0xAE, element(0xD7, uint(1, 1)), element(0x83, uint(2, 1)), element(0x86, ascii("A_VORBIS")));
        ByteArrayOutputStream blocks = new ByteArrayOutputStream();
        for (int i = 0; i < 100; i++) {
            blocks.writeBytes(WebmFiles.simpleBlock(1, 0, true, new byte[2_000]));
        }
        // 200 KB stamped at 0: 100 s at 16 kbit/s
        assertTrue(tracks(cat(head(vorbis), cluster(0, blocks.toByteArray()))).sound() >= 100_000);
    }

    @Test
    void aTruncatedFilePlaysWhatItHolds() throws IOException {
        byte[] webm = WebmFiles.chrome(60, 1, 3_000, 10);
        // cut in the middle of the 31st frame: 30 frames, the last at 29 s, a step of 1 s
        int cut = indexOfBlock(webm, 30) + 700;
        assertEquals(new Mp4Duration.Tracks(0, 30_000), tracks(Arrays.copyOf(webm, cut)));
        // cut before any frame, or inside the header: left to the size rule
        assertEquals(new Mp4Duration.Tracks(-1, 0), tracks(Arrays.copyOf(webm, indexOfBlock(webm, 0))));
        assertEquals(new Mp4Duration.Tracks(-1, 0), tracks(Arrays.copyOf(webm, 20)));
        assertEquals(new AudioDuration.Played(AudioDuration.atLowestBitrate(20), 0), played(Arrays.copyOf(webm, 20)));
    }

    /** Where the {@code n}th SimpleBlock (from 0) of a file starts. */
    static int indexOfBlock(byte[] b, int n) {
        for (int i = 0, seen = 0; i + 1 < b.length; i++) {
            // the 3,000-byte frames' SimpleBlocks: ID A3, their size 3,004 in two bytes (4B BC), track 1 (81)
            if (i + 3 < b.length && (b[i] & 0xFF) == 0xA3 && (b[i + 1] & 0xFF) == 0x4B && (b[i + 2] & 0xFF) == 0xBC
                    && (b[i + 3] & 0xFF) == 0x81 && seen++ == n) {
                return i;
            }
        }
        throw new IllegalArgumentException("no block " + n);
    }

    @Test
    void hugeClaimedSizesAllocateNothingAndHideNoClusterAfterThem() throws IOException {
        byte[] head = head(WebmFiles.videoTrack(1, "V_VP9", 0));
        // a Void claiming 2^56 - 2 bytes inside a Cluster of known size: beyond its parent, so broken; the walk
        // resynchronises on the next Cluster
        byte[] lying = element(CLUSTER, element(TIMESTAMP, uint(0, 1)), frame(1, 0),
                cat(id(VOID), new byte[] {0x01, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
                    (byte) 0xFE}));
        assertEquals(new Mp4Duration.Tracks(0, 60_000), tracks(cat(head, lying, cluster(1_000, frame(1, 0)),
                cluster(59_000, frame(1, 0)))));
        // a SimpleBlock claiming 2^50 bytes in a Cluster of unknown size: more than any block (FFmpeg's 256 MB), broken
        byte[] huge = cat(id(SIMPLE_BLOCK), new byte[] {0x01, 0x04, 0, 0, 0, 0, 0, 0}, size(1), uint(0, 2), new byte[1]);
        assertEquals(new Mp4Duration.Tracks(0, 60_000), tracks(cat(head, cluster(0, frame(1, 0), huge),
                cluster(1_000, frame(1, 0)), cluster(59_000, frame(1, 0)))));
        // an Info and Tracks claiming 2^56 - 2 bytes in a Segment of unknown size: walked into, nothing held
        byte[] bigInfo = cat(id(INFO), new byte[] {0x01, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
            (byte) 0xFF, (byte) 0xFE}, element(TIMESTAMP_SCALE, uint(1_000_000, 3)));
        assertEquals(new Mp4Duration.Tracks(-1, 0), tracks(cat(WebmFiles.ebmlHeader("webm"), unknownSize(SEGMENT), bigInfo)));
    }

    @Test
    void bytesSlippedBetweenClustersHideNoneAfterThem() throws IOException {
        byte[] webm = WebmFiles.chrome(60, 1, 3_000, 10);
        // 100 zero bytes (no element ID starts with 0) before the third Cluster: FFmpeg resynchronises, and so does the walk
        int third = indexOf(webm, id(CLUSTER), 3);
        byte[] junk = cat(Arrays.copyOf(webm, third), new byte[100], Arrays.copyOfRange(webm, third, webm.length));
        assertEquals(new Mp4Duration.Tracks(0, 60_000), tracks(junk));
    }

    static int indexOf(byte[] b, byte[] pattern, int nth) {
        for (int i = 0, seen = 0; i + pattern.length <= b.length; i++) {
            if (Arrays.equals(b, i, i + pattern.length, pattern, 0, pattern.length) && ++seen == nth) {
                return i;
            }
        }
        throw new IllegalArgumentException("not found");
    }

    @Test
    void withoutTracksOrBlocksTheFileIsLeftToTheSizeRule() throws IOException {
        byte[] noTracks = cat(WebmFiles.ebmlHeader("webm"), unknownSize(SEGMENT), element(INFO, element(TIMESTAMP_SCALE,
                uint(1_000_000, 3))), cluster(0, frame(1, 0)), cluster(59_000, frame(1, 0)));
        assertEquals(new Mp4Duration.Tracks(-1, 0), tracks(noTracks));
        assertEquals(AudioDuration.atLowestBitrate(noTracks.length), played(noTracks).sound());
        // a subtitle track alone, or a video track with no block and no Duration
        byte[] subtitles = element(0xAE, element(0xD7, uint(1, 1)), element(0x83, uint(0x11, 1)), element(0x86, ascii("S_TEXT/WEBVTT")));
        assertEquals(new Mp4Duration.Tracks(-1, 0), tracks(cat(head(subtitles), cluster(0, frame(1, 0)))));
        assertEquals(new Mp4Duration.Tracks(-1, 0), tracks(head(WebmFiles.videoTrack(1, "V_VP9", 0))));
        // blocks of a track the Tracks do not declare are not the file's
        assertEquals(new Mp4Duration.Tracks(-1, 0), tracks(cat(head(WebmFiles.videoTrack(1, "V_VP9", 0)), cluster(0, frame(3, 0)))));
        // a Duration alone times the file
        byte[] stated = cat(WebmFiles.ebmlHeader("webm"), unknownSize(SEGMENT), element(INFO, element(DURATION, float64(8_000))),
                element(TRACKS, WebmFiles.videoTrack(1, "V_VP9", 0)));
        assertEquals(new Mp4Duration.Tracks(0, 8_000), tracks(stated));
    }

    @Test
    void aTimestampScaleTimesTheTicks() throws IOException {
        // TimestampScale 10 ms: ticks of 0 and 5,900 are 0 and 59 s, a step of 1 s
        byte[] head = cat(WebmFiles.ebmlHeader("webm"), unknownSize(SEGMENT), element(INFO, element(TIMESTAMP_SCALE,
                uint(10_000_000, 3))), element(TRACKS, WebmFiles.videoTrack(1, "V_VP9", 0)));
        assertEquals(new Mp4Duration.Tracks(0, 60_000), tracks(cat(head, cluster(0, frame(1, 0), frame(1, 100)),
                cluster(5_900, frame(1, 0)))));
    }

    /** Bytes of a real recording flipped or cut anywhere: never an exception, never longer than a second a byte. */
    @Property(tries = 300)
    void damagedFilesNeverThrow(@ForAll @IntRange(min = 0, max = 40_000) int at, @ForAll @IntRange(min = 0, max = 255) int value,
                                @ForAll boolean cut) throws IOException {
        byte[] webm = WebmFiles.chrome(4, 5, 1_000, 5, true, 120);
        byte[] damaged = cut ? Arrays.copyOf(webm, Math.min(at, webm.length)) : webm.clone();
        if (!cut && at < damaged.length) {
            damaged[at] = (byte) value;
        }
        AudioDuration.Played played = played(damaged);
        assertTrue(played.sound() >= 0 && played.video() >= 0);
        assertTrue(played.sound() <= 1_000L * damaged.length && played.video() <= 1_000L * damaged.length);
    }
}
