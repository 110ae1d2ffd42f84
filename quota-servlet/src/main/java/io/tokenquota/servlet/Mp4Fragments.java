package io.tokenquota.servlet;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;

/**
 * What a fragmented ISO file plays: one whose {@code moov} has an {@code mvex} box and whose samples are
 * listed in the {@code moof} boxes after it, as Safari's {@code MediaRecorder} writes {@code video/mp4}
 * and FFmpeg writes {@code -movflags frag_keyframe+empty_moov}, and, without {@code empty_moov}, in the
 * {@code moov}'s own tables too (its first fragment). Each track's samples are timed by the tables
 * ({@code stts}) and their fragments' run durations ({@code trun}, else the fragment's default in {@code tfhd}, else the track's
 * in {@code trex}) at its {@code mdhd} timescale, and their bytes added up from the same boxes' sizes. A
 * fragment's durations are its writer's word: a sound track is held at least at what its bytes play at
 * {@link AudioDuration#LOWEST_BITRATE} (the rule for a file whose length is not read), so stating short
 * durations cannot shorten a transcription; a video track's timestamps are what a model sampling a frame
 * a second goes by. Each {@code moof} is read whole up to {@link #MOST_MOOF}; {@code mdat} streams past.
 */
final class Mp4Fragments {
    /** The largest {@code moof} read: a fragment lists its samples at 4 to 16 bytes each. */
    private static final int MOST_MOOF = 8 << 20;

    /** A track: its timescale, whether it is video, its {@code trex} defaults, and its samples' units and bytes. */
    private static final class Track {
        long timescale;
        boolean video;
        long defaultDuration;
        long defaultSize;
        long units;
        long bytes;
        /** The moov's own tables list samples of it. */
        boolean listed;
    }

    private Mp4Fragments() {
    }

    /**
     * The sound and pictures of a fragmented file whose {@code moov} is {@code moov} and whose boxes after
     * it {@code in} gives: the longest sound track and the longest video track. The sound is -1 (the size
     * rule) when no fragment is read.
     */
    static Mp4Duration.Tracks tracks(byte[] moov, InputStream in) throws IOException {
        Map<Long, Track> tracks = new HashMap<>();
        for (int at = 0; at + 8 <= moov.length; at = Mp4Duration.next(moov, at, moov.length)) {
            int end = Mp4Duration.next(moov, at, moov.length);
            int body = Mp4Duration.headerEnd(moov, at, moov.length);
            if (AudioDuration.startsWith(moov, at + 4, "trak")) {
                track(moov, body, end, tracks);
            } else if (AudioDuration.startsWith(moov, at + 4, "mvex")) {
                for (int[] trex = Mp4Duration.child(moov, body, end, "trex"); trex != null;
                        trex = Mp4Duration.child(moov, trex[1], end, "trex")) {
                    // version and flags, track_ID, default sample description index, duration, size, flags
                    if (trex[0] + 20 <= trex[1]) {
                        Track t = tracks.computeIfAbsent(AudioDuration.u32be(moov, trex[0] + 4), id -> new Track());
                        t.defaultDuration = AudioDuration.u32be(moov, trex[0] + 12);
                        t.defaultSize = AudioDuration.u32be(moov, trex[0] + 16);
                    }
                }
            }
        }
        boolean fragments = false;
        byte[] header = new byte[16];
        for (long body = Mp4Duration.boxBody(in, header); body >= 0; body = Mp4Duration.boxBody(in, header)) {
            if (AudioDuration.startsWith(header, 4, "moof") && body <= MOST_MOOF) {
                byte[] moof = in.readNBytes((int) body);
                for (int[] traf = Mp4Duration.child(moof, 0, moof.length, "traf"); traf != null;
                        traf = Mp4Duration.child(moof, traf[1], moof.length, "traf")) {
                    fragments |= fragment(moof, traf, tracks);
                }
            } else {
                AudioDuration.skip(in, body);
            }
        }
        if (!fragments && tracks.values().stream().noneMatch(t -> t.listed)) {
            return new Mp4Duration.Tracks(-1, 0);
        }
        long sound = 0;
        long video = 0;
        for (Track t : tracks.values()) {
            long timed = t.timescale > 0 ? AudioDuration.millis(t.units, t.timescale) : 0;
            if (t.video) {
                video = Math.max(video, timed);
            } else if (t.bytes > 0 || t.units > 0) {
                sound = Math.max(sound, Math.max(timed, AudioDuration.atLowestBitrate(t.bytes)));
            }
        }
        return new Mp4Duration.Tracks(sound, video);
    }

    /** A {@code trak} of {@code moov}: its id ({@code tkhd}), its timescale and whether its handler is video. */
    private static void track(byte[] moov, int from, int to, Map<Long, Track> tracks) {
        int[] tkhd = Mp4Duration.child(moov, from, to, "tkhd");
        int[] mdia = Mp4Duration.child(moov, from, to, "mdia");
        if (tkhd == null || mdia == null) {
            return;
        }
        // version 1 has 64-bit creation and modification times before the id
        int id = tkhd[0] + (moov[tkhd[0]] == 1 ? 20 : 12);
        if (id + 4 > tkhd[1]) {
            return;
        }
        Track t = tracks.computeIfAbsent(AudioDuration.u32be(moov, id), key -> new Track());
        t.timescale = Mp4Duration.timescale(moov, mdia);
        // the last hdlr sets the track's type, as FFmpeg reads it; a video sample entry makes it video too
        t.video = Mp4Duration.isVideo(moov, mdia, Mp4Duration.lastChild(moov, mdia[0], mdia[1], "hdlr"));
        // the samples the moov lists itself: FFmpeg's frag_keyframe without empty_moov writes the first
        // fragment as an ordinary moov and mdat (round 297: a clip of one GOP has no moof at all)
        int[] minf = Mp4Duration.child(moov, mdia[0], mdia[1], "minf");
        int[] stbl = minf == null ? null : Mp4Duration.child(moov, minf[0], minf[1], "stbl");
        if (stbl != null) {
            long listed = Mp4Duration.sampleCount(moov, stbl);
            long units = Mp4Duration.units(moov, Mp4Duration.lastChild(moov, stbl[0], stbl[1], "stts"), listed);
            t.units = AudioDuration.saturatingAdd(t.units, Math.max(0, units));
            t.bytes = AudioDuration.saturatingAdd(t.bytes, Math.max(0, Mp4Duration.sampleBytes(moov, stbl)));
            t.listed = listed > 0;
        }
    }

    /**
     * Adds a {@code traf}'s samples to its track: their durations and sizes from each {@code trun}, the
     * {@code tfhd}'s defaults where a run lists none; {@code false} when it names no track of the file.
     */
    private static boolean fragment(byte[] moof, int[] traf, Map<Long, Track> tracks) {
        int[] tfhd = Mp4Duration.child(moof, traf[0], traf[1], "tfhd");
        if (tfhd == null || tfhd[0] + 8 > tfhd[1]) {
            return false;
        }
        Track t = tracks.get(AudioDuration.u32be(moof, tfhd[0] + 4));
        if (t == null) {
            return false;
        }
        long flags = AudioDuration.u32be(moof, tfhd[0]) & 0xFFFFFF;
        // base data offset (8 bytes), sample description index (4), then the defaults
        int at = tfhd[0] + 8 + ((flags & 0x1) != 0 ? 8 : 0) + ((flags & 0x2) != 0 ? 4 : 0);
        long duration = t.defaultDuration;
        long size = t.defaultSize;
        if ((flags & 0x8) != 0 && at + 4 <= tfhd[1]) {
            duration = AudioDuration.u32be(moof, at);
            at += 4;
        }
        if ((flags & 0x10) != 0 && at + 4 <= tfhd[1]) {
            size = AudioDuration.u32be(moof, at);
        }
        for (int[] trun = Mp4Duration.child(moof, traf[0], traf[1], "trun"); trun != null;
                trun = Mp4Duration.child(moof, trun[1], traf[1], "trun")) {
            run(moof, trun, duration, size, t);
        }
        return true;
    }

    /** Adds one {@code trun}'s samples to {@code t}: per sample where the run lists them, else the defaults. */
    private static void run(byte[] moof, int[] trun, long defaultDuration, long defaultSize, Track t) {
        if (trun[0] + 8 > trun[1]) {
            return;
        }
        long flags = AudioDuration.u32be(moof, trun[0]) & 0xFFFFFF;
        long count = AudioDuration.u32be(moof, trun[0] + 4);
        // data offset, first sample's flags, then each sample's duration, size, flags, composition offset
        int at = trun[0] + 8 + ((flags & 0x1) != 0 ? 4 : 0) + ((flags & 0x4) != 0 ? 4 : 0);
        boolean durations = (flags & 0x100) != 0;
        boolean sizes = (flags & 0x200) != 0;
        int stride = (durations ? 4 : 0) + (sizes ? 4 : 0) + ((flags & 0x400) != 0 ? 4 : 0) + ((flags & 0x800) != 0 ? 4 : 0);
        if (stride == 0) {
            t.units = AudioDuration.saturatingAdd(t.units, Mp4Duration.times(count, defaultDuration));
            t.bytes = AudioDuration.saturatingAdd(t.bytes, Mp4Duration.times(count, defaultSize));
            return;
        }
        // a run lists no more samples than its box holds
        long listed = Math.min(count, Math.max(0, trun[1] - at) / stride);
        for (long i = 0; i < listed; i++, at += stride) {
            t.units = AudioDuration.saturatingAdd(t.units, durations ? AudioDuration.u32be(moof, at) : defaultDuration);
            t.bytes = AudioDuration.saturatingAdd(t.bytes, sizes ? AudioDuration.u32be(moof, at + (durations ? 4 : 0)) : defaultSize);
        }
    }
}
