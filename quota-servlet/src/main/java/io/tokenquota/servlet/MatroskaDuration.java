package io.tokenquota.servlet;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * What a WebM or Matroska file plays (RFC 9559), read from its blocks' timestamps as the file streams past: Chrome's
 * and Firefox's {@code MediaRecorder} write no {@code Duration} (a live recording's length is not known when its head
 * is written) and a Segment and Clusters of unknown size, so each track's length is the span of its blocks' timestamps
 * (a Cluster's {@code Timestamp} plus each block's relative one, at the Info's {@code TimestampScale}) and the last
 * block's own length (its {@code BlockDuration}, its Opus packets, or for each of its laces the track's
 * {@code DefaultDuration} or the shortest step between its blocks), the ticks at the track's
 * {@code TrackTimestampScale} when that lengthens them. A stated {@code Duration} only lengthens it: a file can
 * understate it. Video is timed by its timestamps, which a model sampling frames a second goes by (as {@link Mp4Fragments}); a sound track is never
 * shorter than its Opus packets' own lengths (their TOC bytes, as {@link OggDuration} counts them) or, for another
 * codec, than its blocks' bytes at {@link AudioDuration#LOWEST_BITRATE}, since timestamps are the writer's word and a
 * decoder plays every packet.
 *
 * <p>Bounded: element headers, a few bytes of each block and some numbers are read; bodies are skipped, never held,
 * whatever size they claim. An element that is broken (a bad length, a size beyond its parent's, an unknown size where
 * RFC 9559 allows none, a block above FFmpeg's 256 MB) makes the walk resynchronise on the next top-level element, as
 * FFmpeg's demuxer does ({@code matroska_resync}), so bytes slipped between clusters hide none after them. The DocType
 * is not checked: FFmpeg warns of an unknown one and plays on. A file without a declared audio or video track, or whose
 * tracks have no block and no {@code Duration}, is left to the size rule.
 */
final class MatroskaDuration {
    // element IDs as written, length marker included (RFC 9559 section 5.1): the Segment and its children
    private static final long SEGMENT = 0x18538067L, INFO = 0x1549A966L, TRACKS = 0x1654AE6BL, CLUSTER = 0x1F43B675L;
    // Info's, TrackEntry's, Cluster's and BlockGroup's children read
    private static final long TIMESTAMP_SCALE = 0x2AD7B1, DURATION = 0x4489;
    private static final long TRACK_ENTRY = 0xAE, TRACK_NUMBER = 0xD7, TRACK_TYPE = 0x83, CODEC_ID = 0x86,
            DEFAULT_DURATION = 0x23E383, TRACK_TIMESTAMP_SCALE = 0x23314F;
    private static final long TIMESTAMP = 0xE7, SIMPLE_BLOCK = 0xA3, BLOCK_GROUP = 0xA0, BLOCK = 0xA1,
            BLOCK_DURATION = 0x9B;
    /** Opus's CodecIDs (RFC 9559 section 5.1.4.1.21): A_OPUS, and mkvmerge's pre-final one, which FFmpeg maps to Opus. */
    private static final Set<String> OPUS = Set.of("A_OPUS", "A_OPUS/EXPERIMENTAL");
    /**
     * The largest TrackTimestampScale taken (RFC 9559 section 5.1.4.1.13): real files write 1.0; FFmpeg's time base
     * numerator (TimestampScale times it) is a 32-bit unsigned, so no larger one plays longer there, and every product
     * with it stays finite.
     */
    private static final double MOST_TRACK_SCALE = 0x1p32;
    /** The Segment's children: where FFmpeg resynchronises, and what ends a Cluster of unknown size (RFC 8794 6.2). */
    private static final Set<Long> TOP = Set.of(0x114D9B74L, INFO, TRACKS, CLUSTER, 0x1C53BB6BL, 0x1941A469L,
            0x1043A770L, 0x1254C367L);
    /** The EBML header (RFC 8794 section 11.2.1) and the Segment: what ends everything before them. */
    private static final Set<Long> ROOT = Set.of(0x1A45DFA3L, SEGMENT);
    /** RFC 9559 section 5.1.2.1: the default TimestampScale, a millisecond in nanoseconds. */
    private static final long DEFAULT_SCALE = 1_000_000;
    /** The most tracks kept, of those declared and of those only named by blocks: real files have a few. */
    private static final int MOST_TRACKS = 128;
    /** Cluster timestamps are capped here so that adding a block's offset cannot overflow. */
    private static final long MOST_TIMESTAMP = 1L << 62;
    /** The largest block taken (FFmpeg's limit for binary elements): a larger one is broken, not skipped to the end. */
    private static final long MOST_BLOCK = 1 << 28;
    private static final long UNKNOWN = -1;
    private static final long BAD = -2;
    private static final long NONE = Long.MAX_VALUE;

    /** A track: its declaration (type 1 video, 2 audio) and what its blocks showed, in TimestampScale ticks. */
    private static final class Track {
        boolean declared;
        boolean opus;
        long type;
        long defaultNanos;
        /** Its TrackTimestampScale (RFC 9559 section 5.1.4.1.13), at least 1: never shortening the track. */
        double trackScale = 1;
        /** The most laces (RFC 9559 section 10.3) of any of its blocks. */
        int laces = 1;
        long first = Long.MAX_VALUE;
        long last = Long.MIN_VALUE;
        long previous = Long.MIN_VALUE;
        long step = Long.MAX_VALUE;
        long statedEnd = Long.MIN_VALUE;
        /** The own length, in nanoseconds, of the block at {@link #last}: its Opus packets'. */
        long tailNanos;
        /** Opus samples at 48 kHz read from TOC bytes, and the bytes of the other blocks. */
        long samples;
        long bytes;

        void block(long at, long nanos, int n) {
            laces = Math.max(laces, n);
            first = Math.min(first, at);
            step = previous != Long.MIN_VALUE && at > previous ? Math.min(step, at - previous) : step;
            previous = at;
            tailNanos = at > last ? nanos : at == last ? Math.max(tailNanos, nanos) : tailNanos;
            last = Math.max(last, at);
        }

        long millis(long segmentScale) {
            if (first == Long.MAX_VALUE) {
                return 0;
            }
            // the track's ticks, and its DefaultDuration as FFmpeg counts it in them, at its TrackTimestampScale
            double scale = segmentScale * trackScale;
            double stepNanos = step == Long.MAX_VALUE ? 0 : step * scale;
            // RFC 9559 section 10.3: a block of n laces lasts n DefaultDurations (FFmpeg), or n shortest steps; the most
            // laces of any block taken as the last's, so a block before it is never cut short
            double lace = defaultNanos > 0 ? defaultNanos * trackScale : stepNanos;
            double tail = Math.max(Math.max(tailNanos, stepNanos), laces * lace);
            double nanos = Math.max((double) (last - first) * scale + tail,
                    statedEnd == Long.MIN_VALUE ? 0 : ((double) statedEnd - first) * scale);
            long played = nanos > 0 ? (long) Math.ceil(nanos / 1_000_000) : 0;
            return type != 2 ? played : Math.max(played, AudioDuration.saturatingAdd(
                    AudioDuration.millis(samples, 48_000), AudioDuration.atLowestBitrate(bytes)));
        }
    }

    private final InputStream in;
    private long at;
    /** Where the open Segment (0), Segment child (1), and TrackEntry or BlockGroup (2) end; NONE when not open. */
    private final long[] ends = {NONE, NONE, NONE};
    private long openTop;
    private final Map<Long, Track> tracks = new HashMap<>();
    private int declared;
    private int named;
    private Track entry;
    private long entryNumber;
    private long infoScale;
    private double infoDuration;
    private long scale = -1;
    private double durationNanos;
    private long cluster;
    private Track grouped;
    private long groupedAt;

    private MatroskaDuration(InputStream in) {
        this.in = in;
    }

    /** The sound and pictures, in milliseconds, of the file {@code in} gives from its first byte; sound -1 for the size rule. */
    static Mp4Duration.Tracks tracks(InputStream in) throws IOException {
        MatroskaDuration file = new MatroskaDuration(in);
        try {
            for (long start = 0; ; start = file.at) {
                long id = file.vint(true);
                long size = id < 0 ? BAD : file.vint(false);
                while (id < 0 || size == BAD || !file.element(start, id, size)) {
                    // broken: on from the next top-level element, the Segment taken as of unknown length (FFmpeg)
                    file.close(0);
                    id = file.resync();
                    start = file.at - 4;
                    size = file.vint(false);
                }
            }
        } catch (EOFException end) {
            // the end, or a file cut short (a MediaRecorder chunk, an upload cut off): it plays what it holds
        }
        file.close(0);
        return file.played();
    }

    /** Handles an element at {@code start} whose header is read; false when it is broken. */
    private boolean element(long start, long id, long size) throws IOException {
        int level = ROOT.contains(id) ? 0 : TOP.contains(id) ? 1 : id == TRACK_ENTRY || id == BLOCK_GROUP ? 2 : 3;
        for (int i = 2; i >= 0; i--) {
            if (ends[i] <= start || i >= level) {
                close(i);
            }
        }
        long room = Math.min(ends[0], Math.min(ends[1], ends[2])) - at;
        // RFC 9559 section 6.2: only a Segment and a Cluster may be of unknown size
        if (size == UNKNOWN ? id != SEGMENT && id != CLUSTER : size > room) {
            return false;
        }
        if (id == SEGMENT || level == 1 && (id == INFO || id == TRACKS || id == CLUSTER)
                || id == TRACK_ENTRY && openTop == TRACKS || id == BLOCK_GROUP && openTop == CLUSTER) {
            ends[level] = size == UNKNOWN ? NONE : at + size;
            if (level == 1) {
                openTop = id;
                infoScale = DEFAULT_SCALE;
                infoDuration = 0;
                cluster = 0;
            } else if (id == TRACK_ENTRY) {
                entry = new Track();
                entryNumber = 0;
            }
            return true;
        }
        boolean info = openTop == INFO;
        boolean inCluster = openTop == CLUSTER;
        boolean isBlock = inCluster && (id == SIMPLE_BLOCK || id == BLOCK && ends[2] != NONE);
        // RFC 8794 section 7.1: an unsigned integer takes at most 8 bytes
        boolean number = info && id == TIMESTAMP_SCALE || inCluster && id == TIMESTAMP || grouped != null
                && id == BLOCK_DURATION || entry != null && (id == TRACK_NUMBER || id == TRACK_TYPE || id == DEFAULT_DURATION);
        if (number && size > 8 || isBlock && size > MOST_BLOCK) {
            return false;
        }
        if (info && id == TIMESTAMP_SCALE) {
            long v = uint(size);
            infoScale = v > 0 ? v : DEFAULT_SCALE;
        } else if (info && id == DURATION && (size == 4 || size == 8)) {
            infoDuration = floating(size);
        } else if (entry != null && id == TRACK_NUMBER) {
            entryNumber = uint(size);
        } else if (entry != null && id == TRACK_TYPE) {
            entry.type = uint(size);
        } else if (entry != null && id == DEFAULT_DURATION) {
            entry.defaultNanos = Math.max(0, uint(size));
        } else if (entry != null && id == TRACK_TIMESTAMP_SCALE && (size == 4 || size == 8)) {
            // RFC 9559 section 5.1.4.1.13 (a float, RFC 8794 section 7.3): NaN, below 1 and infinite are bounded
            double v = floating(size);
            entry.trackScale = v > 1 ? Math.min(v, MOST_TRACK_SCALE) : 1;
        } else if (entry != null && id == CODEC_ID) {
            entry.opus = OPUS.contains(string(size, "A_OPUS/EXPERIMENTAL".length()));
        } else if (inCluster && id == TIMESTAMP) {
            long v = uint(size);
            cluster = v < 0 || v > MOST_TIMESTAMP ? MOST_TIMESTAMP : v;
        } else if (isBlock) {
            return block(size, id == BLOCK);
        } else if (grouped != null && id == BLOCK_DURATION) {
            grouped.statedEnd = Math.max(grouped.statedEnd, AudioDuration.saturatingAdd(groupedAt, Math.max(0, uint(size))));
        } else {
            skip(size);
        }
        return true;
    }

    /**
     * A SimpleBlock or a BlockGroup's Block of {@code size} bytes (RFC 9559 section 10.1 and 10.2): its track number,
     * its timestamp relative to the Cluster's (signed, 16 bits), its flags, and for an Opus track each laced frame's TOC
     * byte (section 10.3: Xiph, EBML or fixed-size lacing).
     */
    private boolean block(long size, boolean inGroup) throws IOException {
        long end = at + size;
        long number = vint(false);
        int relative = (short) (read() << 8 | read());
        int lacing = (read() >> 1) & 3;
        if (number < 0 || at > end) {
            return false;
        }
        // RFC 9559 section 10.3: a laced block (Xiph, fixed-size or EBML) opens on its number of frames less one
        int laces = lacing != 0 && at < end ? read() + 1 : 1;
        Track t = tracks.get(number);
        if (t == null && named < MOST_TRACKS) {
            named++;
            tracks.put(number, t = new Track());
        }
        long when = cluster + relative;
        long samples = 0;
        if (t != null && t.opus) {
            int frames = laces;
            long[] sizes = new long[frames];
            long listed = 0;
            for (int i = 0; i + 1 < frames && lacing != 2; i++) {
                if (lacing == 1) {
                    for (int b = 255; b == 255; sizes[i] += b) {
                        b = read();
                    }
                } else {
                    long v = vint(false);
                    // after the first, each size is a signed difference: its range's middle subtracted
                    sizes[i] = v < 0 ? -1 : i == 0 ? v : sizes[i - 1] + v - ((1L << (7 * lastLength - 1)) - 1);
                }
                listed += sizes[i];
                if (sizes[i] < 0) {
                    return false;
                }
            }
            if (at + listed > end) {
                return false;
            }
            for (int i = 0; i < frames; i++) {
                long frame = lacing == 2 ? (end - at) / (frames - i) : i + 1 < frames ? sizes[i] : end - at;
                long after = at + frame;
                if (frame > 0) {
                    samples += OggDuration.opusPacket(read(), frame > 1 ? read() : -1);
                }
                skip(after - at);
            }
            t.samples = AudioDuration.saturatingAdd(t.samples, samples);
        } else if (t != null) {
            t.bytes = AudioDuration.saturatingAdd(t.bytes, size);
        }
        skip(end - at);
        if (t != null) {
            t.block(when, samples * 62_500 / 3, laces);
        }
        if (t != null && inGroup) {
            grouped = t;
            groupedAt = when;
        }
        return true;
    }

    /** Closes the masters open at {@code level} and within: a TrackEntry declares its track, an Info gives its scale. */
    private void close(int level) {
        if (level <= 2 && entry != null) {
            Track t = tracks.get(entryNumber);
            if (entryNumber > 0 && (t == null || !t.declared) && declared++ < MOST_TRACKS) {
                t = t == null ? new Track() : t;
                t.declared = true;
                t.type = entry.type;
                t.opus = entry.opus;
                t.defaultNanos = entry.defaultNanos;
                t.trackScale = entry.trackScale;
                tracks.put(entryNumber, t);
            }
        }
        if (level <= 1 && openTop == INFO) {
            scale = Math.max(scale, infoScale);
            durationNanos = Math.max(durationNanos, infoDuration > 0 ? infoDuration * infoScale : 0);
        }
        entry = null;
        grouped = null;
        openTop = level <= 1 ? 0 : openTop;
        for (int i = level; i <= 2; i++) {
            ends[i] = NONE;
        }
    }

    private Mp4Duration.Tracks played() {
        long sound = 0;
        long video = 0;
        boolean pictures = false;
        boolean any = false;
        boolean blocks = false;
        for (Track t : tracks.values()) {
            if (t.declared && (t.type == 1 || t.type == 2)) {
                any = true;
                blocks |= t.first != Long.MAX_VALUE;
                pictures |= t.type == 1;
                long played = t.millis(scale > 0 ? scale : DEFAULT_SCALE);
                video = t.type == 1 ? Math.max(video, played) : video;
                sound = t.type == 2 ? Math.max(sound, played) : sound;
            }
        }
        if (!any || !blocks && durationNanos <= 0) {
            return new Mp4Duration.Tracks(-1, 0);
        }
        // a stated Duration lengthens the pictures, or the sound of a file without any
        long stated = (long) Math.ceil(durationNanos / 1_000_000);
        return pictures ? new Mp4Duration.Tracks(sound, Math.max(video, stated)) : new Mp4Duration.Tracks(Math.max(sound, stated), 0);
    }

    // ------------------------------------------------------------------ EBML (RFC 8794 section 4)

    private int lastLength;

    /**
     * A variable-length integer: an element ID with its length marker (at most 4 bytes), or a data size or a track
     * number without it (at most 8), {@link #UNKNOWN} when all its value bits are ones; {@link #BAD} when its first byte
     * marks no length.
     */
    private long vint(boolean id) throws IOException {
        int first = read();
        int length = Integer.numberOfLeadingZeros(first) - 23;
        if (length > (id ? 4 : 8)) {
            return BAD;
        }
        long value = id ? first : first & (0xFF >> length);
        for (int i = 1; i < length; i++) {
            value = value << 8 | read();
        }
        lastLength = length;
        return !id && value == (1L << (7 * length)) - 1 ? UNKNOWN : value;
    }

    /** The next top-level element's ID: the bytes before it are passed over. */
    private long resync() throws IOException {
        long window = 0;
        for (int n = 1; ; n++) {
            window = (window << 8 | read()) & 0xFFFFFFFFL;
            if (n >= 4 && TOP.contains(window)) {
                return window;
            }
        }
    }

    /** A float of 4 or 8 bytes (RFC 8794 section 7.3). */
    private double floating(long size) throws IOException {
        long bits = uint(size);
        return size == 4 ? Float.intBitsToFloat((int) bits) : Double.longBitsToDouble(bits);
    }

    /**
     * A String element's value (RFC 8794 section 7.4) up to {@code most} characters, more making it longer: it ends at
     * its first zero byte, the rest ignored (section 13: the padding a writer leaves when it shortens a value).
     */
    private String string(long size, int most) throws IOException {
        long end = at + size;
        StringBuilder s = new StringBuilder();
        for (int b; at < end && s.length() <= most && (b = read()) != 0; ) {
            s.append((char) b);
        }
        skip(end - at);
        return s.toString();
    }

    private long uint(long size) throws IOException {
        long v = 0;
        for (long i = 0; i < size; i++) {
            v = v << 8 | read();
        }
        return v;
    }

    private int read() throws IOException {
        int b = in.read();
        if (b < 0) {
            throw new EOFException();
        }
        at++;
        return b;
    }

    private void skip(long n) throws IOException {
        long skipped = AudioDuration.skip(in, Math.max(0, n));
        at += skipped;
        if (skipped < n) {
            throw new EOFException();
        }
    }
}
