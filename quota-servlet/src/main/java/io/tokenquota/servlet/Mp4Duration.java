package io.tokenquota.servlet;

import java.io.IOException;
import java.io.InputStream;

/**
 * An ISO base media file's (MP4, M4A, 3GP, QuickTime) milliseconds of sound, by its sample tables:
 * what a decoder plays is each track's samples, their durations in its last {@code stts} box (count
 * times delta, and any further samples its {@code stsz} lists at the largest delta) at its
 * {@code mdhd} timescale. The {@code mvhd} and {@code mdhd} duration fields are not
 * read: a file can understate them and still play its samples. The top-level boxes are walked as
 * they stream past ({@code mdat} skipped, never kept, wherever {@code moov} is, before or after it);
 * only the first {@code moov} is kept, as FFmpeg reads only the first, up to {@link #MOST_MOOV}.
 */
final class Mp4Duration {
    /**
     * The largest {@code moov} kept: its sample tables grow with the file (about 4 bytes a sample
     * for sizes, 20 AAC frames or 30 video frames a second), so 8 MB covers recordings of many hours.
     */
    private static final int MOST_MOOV = 8 << 20;

    private Mp4Duration() {
    }

    /**
     * The longest sound a track plays, or -1 for the size rule: a {@code moov} above the bound, or
     * one without tracks (compressed, broken), a fragmented file (an {@code mvex} box: its samples are
     * in {@code moof} boxes, its tables empty). A
     * file without {@code moov} cannot be played (FFmpeg: "moov atom not found"), and one whose tracks
     * are all video has no sound: 0, nothing to hear.
     */
    static long millis(InputStream in) throws IOException {
        byte[] header = new byte[16];
        while (in.readNBytes(header, 0, 8) == 8) {
            long size = AudioDuration.u32be(header, 0);
            long body;
            if (size == 1) {
                if (in.readNBytes(header, 8, 8) < 8) {
                    break;
                }
                body = (AudioDuration.u32be(header, 8) << 32 | AudioDuration.u32be(header, 12)) - 16;
            } else {
                // 0: the box runs to the end of the file
                body = size == 0 ? Long.MAX_VALUE : size - 8;
            }
            if (body < 0) {
                break;
            }
            if (AudioDuration.startsWith(header, 4, "moov")) {
                if (body > MOST_MOOV) {
                    return -1;
                }
                byte[] moov = in.readNBytes((int) body);
                return sound(moov);
            }
            AudioDuration.skip(in, body);
        }
        return 0;
    }

    /**
     * The longest track of a {@code moov} that is not video (by its last {@code hdlr}), or -1 when it has no track or is
     * fragmented. Any track but video counts, not only a {@code soun} handler's: FFmpeg takes an audio
     * sample entry ({@code mp4a}) for audio under any handler but {@code vide}, and the other tracks of
     * a real file (timecode, metadata, subtitles) run as long as its sound.
     */
    private static long sound(byte[] moov) {
        boolean tracks = false;
        long longest = 0;
        for (int at = 0; at + 8 <= moov.length; at = next(moov, at, moov.length)) {
            if (AudioDuration.startsWith(moov, at + 4, "mvex")) {
                return -1;
            }
            if (!AudioDuration.startsWith(moov, at + 4, "trak")) {
                continue;
            }
            tracks = true;
            int[] mdia = child(moov, headerEnd(moov, at, moov.length), next(moov, at, moov.length), "mdia");
            // every hdlr sets the track's type as FFmpeg reads it (mov_read_hdlr): the last one decides
            int[] hdlr = mdia == null ? null : lastChild(moov, mdia[0], mdia[1], "hdlr");
            if (hdlr == null || AudioDuration.startsWith(moov, hdlr[0] + 8, "vide")) {
                continue;
            }
            int[] mdhd = child(moov, mdia[0], mdia[1], "mdhd");
            int[] minf = child(moov, mdia[0], mdia[1], "minf");
            int[] stbl = minf == null ? null : child(moov, minf[0], minf[1], "stbl");
            // of several stts boxes FFmpeg keeps the last (mov_read_stts: "Duplicated STTS atom")
            int[] stts = stbl == null ? null : lastChild(moov, stbl[0], stbl[1], "stts");
            if (mdhd == null || mdhd[0] >= mdhd[1] || stbl == null) {
                continue;
            }
            int scale = mdhd[0] + (moov[mdhd[0]] == 1 ? 20 : 12);
            long timescale = scale + 4 <= mdhd[1] ? AudioDuration.u32be(moov, scale) : 0;
            if (timescale > 0) {
                long units = units(moov, stts, sampleCount(moov, stbl));
                if (units < 0) {
                    return -1;
                }
                longest = Math.max(longest, AudioDuration.millis(units, timescale));
            }
        }
        return tracks ? longest : -1;
    }

    /**
     * The time a track's samples take, in its timescale's units: the sum of its {@code stts} entries
     * (count times delta, those present), and, when {@code stsz} lists more samples than they time,
     * the rest at the largest delta. A demuxer indexes every sample {@code stsz} lists (FFmpeg's
     * mov_build_index walks its count, carrying the last delta on), and the decoder plays each, so a
     * short timing table cannot shorten the sound; the largest delta is the most those samples can
     * take. -1 (the size rule) when there are such samples and no delta to time them by ({@code stts}
     * empty or absent: {@code null}).
     */
    private static long units(byte[] b, int[] stts, long listed) {
        long entries = stts != null && stts[0] + 8 <= stts[1] ? AudioDuration.u32be(b, stts[0] + 4) : 0;
        long sum = 0;
        long timed = 0;
        long largest = 0;
        for (int i = entries > 0 ? stts[0] + 8 : 0; entries > 0 && i + 8 <= stts[1]; i += 8, entries--) {
            long count = AudioDuration.u32be(b, i);
            long delta = AudioDuration.u32be(b, i + 4);
            sum = AudioDuration.saturatingAdd(sum, times(count, delta));
            timed = AudioDuration.saturatingAdd(timed, count);
            largest = Math.max(largest, delta);
        }
        if (listed <= timed) {
            return sum;
        }
        return largest == 0 ? -1 : AudioDuration.saturatingAdd(sum, times(listed - timed, largest));
    }

    /**
     * The samples a track's sample size table lists ({@code stsz}, or the compact {@code stz2}: both
     * hold the count after their version, flags and one more word); of several, the largest, which is
     * never less than the one a demuxer keeps. 0 when there is none.
     */
    private static long sampleCount(byte[] b, int[] stbl) {
        long most = 0;
        for (int at = stbl[0]; at + 8 <= stbl[1]; at = next(b, at, stbl[1])) {
            int end = next(b, at, stbl[1]);
            int count = headerEnd(b, at, end) + 8;
            if ((AudioDuration.startsWith(b, at + 4, "stsz") || AudioDuration.startsWith(b, at + 4, "stz2"))
                    && count + 4 <= end) {
                most = Math.max(most, AudioDuration.u32be(b, count));
            }
        }
        return most;
    }

    /** {@code count} times {@code delta}, saturating. */
    private static long times(long count, long delta) {
        return delta > 0 && count > Long.MAX_VALUE / delta ? Long.MAX_VALUE : count * delta;
    }

    /** The body {@code {start, end}} of the first box of {@code type} among the boxes in {@code [from, to)}, or null. */
    private static int[] child(byte[] b, int from, int to, String type) {
        for (int at = from; at + 8 <= to; at = next(b, at, to)) {
            if (AudioDuration.startsWith(b, at + 4, type)) {
                return new int[] {headerEnd(b, at, to), next(b, at, to)};
            }
        }
        return null;
    }

    /** The body {@code {start, end}} of the last box of {@code type} among the boxes in {@code [from, to)}, or null. */
    private static int[] lastChild(byte[] b, int from, int to, String type) {
        int[] last = null;
        for (int[] found = child(b, from, to, type); found != null; found = child(b, found[1], to, type)) {
            last = found;
        }
        return last;
    }

    /** Where the body of the box at {@code at} starts. */
    private static int headerEnd(byte[] b, int at, int to) {
        return Math.min(to, at + (AudioDuration.u32be(b, at) == 1 ? 16 : 8));
    }

    /** Where the box at {@code at} ends, within {@code to}: a size running past its parent (or 0) ends there. */
    private static int next(byte[] b, int at, int to) {
        long size = AudioDuration.u32be(b, at);
        if (size == 1) {
            size = at + 16 <= to ? AudioDuration.u32be(b, at + 8) << 32 | AudioDuration.u32be(b, at + 12) : 0;
        }
        if (size < 8 || size > to - at) {
            return to;
        }
        return at + (int) size;
    }
}
