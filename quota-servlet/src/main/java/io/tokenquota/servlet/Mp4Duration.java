package io.tokenquota.servlet;

import java.io.IOException;
import java.io.InputStream;

/**
 * An ISO base media file's (MP4, M4A, 3GP, QuickTime) milliseconds of sound, by its sample tables:
 * what a decoder plays is each track's samples, their durations in its last {@code stts} box (count
 * times delta, and any further samples its {@code stsz} lists at the largest delta) at its
 * {@code mdhd} timescale, and never less than those samples decode to ({@link #decoded}): those
 * are timestamps, while an AAC frame decodes to 1,024 samples at the codec's own rate whatever they
 * say, so deltas of 1 or 0, or a timescale of 10^9, cannot shorten the sound. The {@code mvhd} and
 * {@code mdhd} duration fields are not read: a file can understate them and still play its samples.
 * The top-level boxes are walked as they stream past ({@code mdat} skipped, never kept, wherever
 * {@code moov} is, before or after it); only the first {@code moov} is kept, as FFmpeg reads only the
 * first, up to {@link #MOST_MOOV}. An {@code mdat} before {@code moov} (FFmpeg's default layout) is
 * walked as it passes as AMR-NB and as AMR-WB frames ({@link AmrFrames.UniformRun}), since which of
 * its bytes are an AMR track's samples is known only once {@code moov} has come.
 */
final class Mp4Duration {
    /**
     * The largest {@code moov} kept: its sample tables grow with the file (about 4 bytes a sample
     * for sizes, 20 AAC frames or 30 video frames a second), so 8 MB covers recordings of many hours.
     */
    private static final int MOST_MOOV = 8 << 20;
    /** AAC's sampling frequencies by their AudioSpecificConfig index (ISO/IEC 14496-3 1.6.3.4); 13 and 14 reserved. */
    private static final long[] AAC_RATES = {96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000,
        12_000, 11_025, 8_000, 7_350};
    /** The highest rate each codec plays at: a stated rate above it cannot make its frames shorter. */
    private static final long AAC_MOST_RATE = 96_000;
    private static final long MPEG_AUDIO_MOST_RATE = 48_000;
    private static final long AC3_MOST_RATE = 48_000;
    /** ALAC's cookie holds any 32-bit rate; Apple's encoder goes to 384 kHz. */
    private static final long ALAC_MOST_RATE = 384_000;
    /** FLAC's highest rate (STREAMINFO's 20 bits allow more, the format caps it at 655,350 Hz). */
    private static final long FLAC_MOST_RATE = 655_350;
    /** FFmpeg refuses an ALAC cookie's frame length of 0 or above 4,096 x 4,096 (alac_set_info). */
    private static final long ALAC_MOST_FRAME = 4_096L * 4_096;
    /** AMR's frames all last 20 ms (160 samples at 8 kHz for AMR-NB, 320 at 16 kHz for AMR-WB). */
    private static final long AMR_FRAME_MILLIS = 20;
    /** The largest AMR-NB frame (12.2 kbit/s: a header byte and 31), and AMR-WB's (23.85 kbit/s: 1 and 60). */
    private static final long AMR_NB_MOST_FRAME = 32;
    private static final long AMR_WB_MOST_FRAME = 61;
    /** The most AMR tracks whose frames are walked; any further one keeps its other floors. */
    private static final int MOST_AMR_TRACKS = 16;
    /** The {@code mdat} boxes before {@code moov} walked as AMR frames ({@link MdatWalk}); any further one is skipped. */
    private static final int MOST_MDAT_WALKS = 8;
    /** The highest rate taken for PCM: recorded PCM goes to 768 kHz (DXD), and a stated rate is the decoder's. */
    private static final long PCM_MOST_RATE = 768_000;

    private Mp4Duration() {
    }

    /**
     * The longest sound a track plays, or -1 for the size rule: a {@code moov} above the bound, or
     * one without tracks (compressed, broken). A fragmented file (an {@code mvex} box: its samples are
     * in {@code moof} boxes, its tables empty) is timed by its fragments ({@link Mp4Fragments}). A
     * file without {@code moov} cannot be played (FFmpeg: "moov atom not found"), and one whose tracks
     * are all video has no sound: 0, nothing to hear.
     */
    static long millis(InputStream in) throws IOException {
        return tracks(in).sound();
    }

    /**
     * What a file plays: its sound in milliseconds as {@link #millis} reads it, and the longest video
     * track's pictures, timed by that track's {@code stts} at its {@code mdhd} timescale (0 when it has
     * none). Timestamps are what a model sampling frames a second goes by: a file that states its frames
     * shorter is also sampled shorter.
     */
    record Tracks(long sound, long video) {
    }

    /** {@link #millis} with the video tracks' length beside the sound. */
    static Tracks tracks(InputStream in) throws IOException {
        byte[] header = new byte[16];
        // where the next box starts in the file: an AMR track's samples are found by their offsets
        long at = 0;
        java.util.List<MdatWalk> walks = new java.util.ArrayList<>();
        for (long body = boxBody(in, header); body >= 0; body = boxBody(in, header)) {
            int headerBytes = AudioDuration.u32be(header, 0) == 1 ? 16 : 8;
            at += headerBytes;
            if (AudioDuration.startsWith(header, 4, "moov")) {
                if (body > MOST_MOOV) {
                    return new Tracks(-1, 0);
                }
                byte[] moov = in.readNBytes((int) body);
                if (child(moov, 0, moov.length, "mvex") != null) {
                    // fragmented: the samples are in the moof boxes that follow, its tables empty
                    return Mp4Fragments.tracks(moov, in);
                }
                // the bytes after it stream past to the caller's count, or to the AMR frames' walk
                return sound(moov, in, at + moov.length, headerBytes + moov.length, walks);
            }
            if (AudioDuration.startsWith(header, 4, "mdat") && walks.size() < MOST_MDAT_WALKS) {
                MdatWalk walk = MdatWalk.of(in, at, body);
                walks.add(walk);
                at = AudioDuration.saturatingAdd(at, walk.read);
                continue;
            }
            at = AudioDuration.saturatingAdd(at, AudioDuration.skip(in, body));
        }
        return new Tracks(0, 0);
    }

    /**
     * Reads the next top-level box's header into {@code header} (its size and type, then its 64-bit size
     * when the size is 1) and answers its body's length ({@link Long#MAX_VALUE} for a box that runs to
     * the end of the file), or -1 at the end of the file or for a broken header.
     */
    static long boxBody(InputStream in, byte[] header) throws IOException {
        if (in.readNBytes(header, 0, 8) < 8) {
            return -1;
        }
        long size = AudioDuration.u32be(header, 0);
        if (size == 1) {
            return in.readNBytes(header, 8, 8) < 8 ? -1
                    : Math.max(-1, (AudioDuration.u32be(header, 8) << 32 | AudioDuration.u32be(header, 12)) - 16);
        }
        // 0: the box runs to the end of the file
        return size == 0 ? Long.MAX_VALUE : Math.max(-1, size - 8);
    }

    /**
     * The longest track of a {@code moov} that is not video (by its last {@code hdlr}), or -1 when it has no track or is
     * fragmented. Any track but video counts, not only a {@code soun} handler's: FFmpeg takes an audio
     * sample entry ({@code mp4a}) for audio under any handler but {@code vide}, and the other tracks of
     * a real file (timecode, metadata, subtitles) run as long as its sound. An AMR track also counts
     * the frames its samples really hold ({@link AmrSamples}), walked in {@code in}, the rest of the
     * file from offset {@code after} on, or in the {@code walks} of the {@code mdat} boxes that came
     * before it; {@code moovBytes} is the {@code moov} box's own size.
     */
    private static Tracks sound(byte[] moov, InputStream in, long after, long moovBytes, java.util.List<MdatWalk> walks)
            throws IOException {
        boolean tracks = false;
        long longest = 0;
        long video = 0;
        java.util.List<AmrSamples> amr = new java.util.ArrayList<>();
        for (int at = 0; at + 8 <= moov.length; at = next(moov, at, moov.length)) {
            if (!AudioDuration.startsWith(moov, at + 4, "trak")) {
                continue;
            }
            tracks = true;
            int[] mdia = child(moov, headerEnd(moov, at, moov.length), next(moov, at, moov.length), "mdia");
            // every hdlr sets the track's type as FFmpeg reads it (mov_read_hdlr): the last one decides
            int[] hdlr = mdia == null ? null : lastChild(moov, mdia[0], mdia[1], "hdlr");
            if (mdia != null && isVideo(moov, mdia, hdlr)) {
                video = Math.max(video, pictures(moov, mdia));
                continue;
            }
            if (hdlr == null) {
                continue;
            }
            int[] minf = child(moov, mdia[0], mdia[1], "minf");
            int[] stbl = minf == null ? null : child(moov, minf[0], minf[1], "stbl");
            if (stbl == null) {
                continue;
            }
            // of several stts boxes FFmpeg keeps the last (mov_read_stts: "Duplicated STTS atom")
            int[] stts = lastChild(moov, stbl[0], stbl[1], "stts");
            long listed = sampleCount(moov, stbl);
            long floor = decoded(moov, stbl, listed, sampleBytes(moov, stbl));
            // the timescale only times the timestamps, which the decoded floor bounds from beneath
            long timescale = timescale(moov, mdia);
            long timed = 0;
            if (timescale > 0) {
                long units = units(moov, stts, listed);
                if (units < 0 && floor < 0) {
                    return new Tracks(-1, video);
                }
                // samples without any delta but of a known codec: what they decode to (the floor)
                timed = units < 0 ? 0 : AudioDuration.millis(units, timescale);
            }
            longest = Math.max(longest, Math.max(timed, floor));
            int codec = amrCodec(moov, stbl);
            if (codec != 0 && amr.size() < MOST_AMR_TRACKS) {
                AmrSamples track = new AmrSamples(moov, stbl, codec, sampleBytes(moov, stbl));
                track.walkedBefore(walks);
                amr.add(track);
            }
        }
        if (!amr.isEmpty()) {
            long end = AmrSamples.walk(amr, in, after);
            for (AmrSamples track : amr) {
                longest = Math.max(longest, track.millis(end - moovBytes));
            }
        }
        return new Tracks(tracks ? longest : -1, video);
    }

    /** A video track's length by its timestamps ({@code stts} at the {@code mdhd} timescale); 0 when not timed. */
    private static long pictures(byte[] moov, int[] mdia) {
        int[] minf = child(moov, mdia[0], mdia[1], "minf");
        int[] stbl = minf == null ? null : child(moov, minf[0], minf[1], "stbl");
        long timescale = timescale(moov, mdia);
        if (stbl == null || timescale == 0) {
            return 0;
        }
        long units = units(moov, lastChild(moov, stbl[0], stbl[1], "stts"), sampleCount(moov, stbl));
        return units < 0 ? 0 : AudioDuration.millis(units, timescale);
    }

    /**
     * A track's timescale, from its first {@code mdhd} (FFmpeg refuses a track with a second one,
     * "Multiple mdhd?": the file fails to open, nothing is decoded); one that states none (0, or no
     * {@code mdhd}) is timed at the movie's {@code mvhd} timescale, as FFmpeg's {@code mov_fix_timescale}
     * does ("timescale not set", round 312); 0 when neither states one.
     */
    static long timescale(byte[] moov, int[] mdia) {
        int[] mdhd = child(moov, mdia[0], mdia[1], "mdhd");
        int scale = mdhd == null || mdhd[0] >= mdhd[1] ? -1 : mdhd[0] + (moov[mdhd[0]] == 1 ? 20 : 12);
        long own = scale >= 0 && scale + 4 <= mdhd[1] ? AudioDuration.u32be(moov, scale) : 0;
        if (own > 0) {
            return own;
        }
        int[] mvhd = child(moov, 0, moov.length, "mvhd");
        int movie = mvhd == null || mvhd[0] >= mvhd[1] ? -1 : mvhd[0] + (moov[mvhd[0]] == 1 ? 20 : 12);
        return movie >= 0 && movie + 4 <= mvhd[1] ? AudioDuration.u32be(moov, movie) : 0;
    }

    /** The sample entries FFmpeg decodes as video (H.264, HEVC, AV1, VP8/9, MPEG-4, H.263, Motion JPEG, ProRes, Dolby Vision). */
    private static final java.util.Set<String> VIDEO_ENTRIES = java.util.Set.of("avc1", "avc3", "hvc1", "hev1", "av01",
            "vp08", "vp09", "mp4v", "s263", "h263", "mjpa", "mjpb", "jpeg", "apch", "apcn", "apcs", "apco", "ap4h",
            "dvh1", "dvhe", "dva1", "dvav");

    /**
     * Whether a track is video as FFmpeg decodes it: a {@code vide} handler, or, with any handler but
     * {@code soun} (or none), a video sample entry: {@code mov_read_hdlr} types only {@code vide},
     * {@code soun} and subtitles, and a track of another type takes its codec's (round 312: an
     * {@code auxv} handler or none hid a minute of video).
     */
    static boolean isVideo(byte[] moov, int[] mdia, int[] hdlr) {
        if (hdlr != null && AudioDuration.startsWith(moov, hdlr[0] + 8, "vide")) {
            return true;
        }
        if (hdlr != null && AudioDuration.startsWith(moov, hdlr[0] + 8, "soun")) {
            return false;
        }
        int[] minf = child(moov, mdia[0], mdia[1], "minf");
        int[] stbl = minf == null ? null : child(moov, minf[0], minf[1], "stbl");
        int[] stsd = stbl == null ? null : child(moov, stbl[0], stbl[1], "stsd");
        // version and flags, the entry count, then the first entry: its size and its type
        int entry = stsd == null ? -1 : stsd[0] + 8;
        return entry >= 0 && entry + 8 <= stsd[1]
                && VIDEO_ENTRIES.contains(new String(moov, entry + 4, 4, java.nio.charset.StandardCharsets.ISO_8859_1));
    }

    /**
     * 1 when a track's sample entries are AMR-NB ({@code samr}), 2 when AMR-WB ({@code sawb}), 3 when
     * both (not walked: which frames are which is not known), 0 for neither.
     */
    private static int amrCodec(byte[] b, int[] stbl) {
        int codec = 0;
        for (int at = stbl[0]; at + 8 <= stbl[1]; at = next(b, at, stbl[1])) {
            if (!AudioDuration.startsWith(b, at + 4, "stsd")) {
                continue;
            }
            int end = next(b, at, stbl[1]);
            for (int entry = headerEnd(b, at, end) + 8; entry + 8 <= end; entry = next(b, entry, end)) {
                codec |= AudioDuration.startsWith(b, entry + 4, "samr") ? 1 : AudioDuration.startsWith(b, entry + 4, "sawb") ? 2 : 0;
            }
        }
        return codec;
    }

    /**
     * The least a track's {@code samples} (its {@code stsz}/{@code stz2} count) decode to, in
     * milliseconds, or -1 when no sample entry is of a codec whose frames have a known length.
     * {@code stts} and {@code mdhd} are timestamps; the decoder makes each sample into the codec's own
     * number of samples at the codec's own rate, whatever they say, and that is what a model hears
     * and bills. So: samples times the samples a frame, at the lowest rate the track states for
     * itself (its sample entry, and the codec's configuration where the decoder takes its rate from),
     * never above the highest rate the codec plays at. Of several sample entries (or {@code stsd}
     * boxes) the longest counts: {@code stsc} assigns samples to entries, and any of them may hold
     * them all.
     */
    private static long decoded(byte[] b, int[] stbl, long samples, long bytes) {
        long most = -1;
        for (int at = stbl[0]; at + 8 <= stbl[1]; at = next(b, at, stbl[1])) {
            if (!AudioDuration.startsWith(b, at + 4, "stsd")) {
                continue;
            }
            int end = next(b, at, stbl[1]);
            // the FullBox header and the entry count; every entry present counts, whatever the count says
            for (int entry = headerEnd(b, at, end) + 8; entry + 8 <= end; entry = next(b, entry, end)) {
                most = Math.max(most, entryFloor(b, entry, next(b, entry, end), samples, bytes));
            }
        }
        return most;
    }

    /**
     * What {@code samples} of the audio sample entry at {@code at} (ending at {@code end}), holding
     * {@code bytes} in all, decode to, the larger bound where its fields leave a choice (where unsure,
     * the filter holds the most a decoder may play), or -1 for a codec without a rule (Vorbis, anything
     * else keeps its timestamps). Per frame, by the entry's type:
     * <ul>
     * <li>{@code mp4a}: by its {@code esds} object type. AAC (the default, as FFmpeg takes an
     *     {@code mp4a} without a readable {@code esds}): 1,024 samples, 960 when the
     *     AudioSpecificConfig says so (frameLengthFlag), 512 or 480 for AAC LD and ELD; HE-AAC
     *     decodes 2,048 at twice its core rate, the same as 1,024 at the core rate its config states
     *     first. MPEG-1/2 audio (object types 0x6B, 0x69): as {@code .mp3}. AC-3 and E-AC-3 object
     *     types: as {@code ac-3} and {@code ec-3}. Any other object type: no rule.</li>
     * <li>{@code .mp3}: 1,152, though an MPEG-2/2.5 (LSF) Layer III frame holds 576: the rate stated
     *     in the entry does not tell which the frames are, and 1,152 is the larger bound.</li>
     * <li>{@code ac-3}: 1,536. {@code ec-3}: 256, its shortest frame (one block); {@code dec3} does
     *     not say how many blocks a frame holds.</li>
     * <li>{@code alac}: its cookie's frame length (4,096 without one): every frame of an encoder's
     *     file but the last holds that many, and FFmpeg refuses a frame claiming more.</li>
     * <li>{@code Opus}: 2.5 ms a packet (120 samples at 48 kHz, the shortest Opus frame). Opus always
     *     decodes at 48 kHz, so no stated rate (dOps' input rate is informational) changes that.</li>
     * <li>{@code fLaC}: the {@code dfLa} STREAMINFO's smallest block (16, the format's smallest but
     *     the last frame's, when it states less or there is none).</li>
     * <li>{@code samr} (AMR-NB), {@code sawb} (AMR-WB): 20 ms, whatever rate is stated. A 3GP sample
     *     may hold several frames, so a track is at least its bytes over the codec's largest frame
     *     (32 bytes, 61 for AMR-WB) frames long, when that is more than its samples; the frames its
     *     samples really hold, walked in the file, count too ({@link AmrSamples}).</li>
     * <li>Uncompressed PCM ({@link #pcmSampleBytes}): each sample is one frame (a sample of every
     *     channel) at the stated rate (up to {@link #PCM_MOST_RATE}), as QuickTime and FFmpeg's muxer
     *     write them; and as FFmpeg reads more into one: a sample's bytes over the frame's (channels
     *     times the bytes a channel's sample takes) when the table lists larger samples, and a QuickTime
     *     version 1 or 2 entry's {@code bytesPerFrame} per {@code samplesPerPacket} samples (FFmpeg's
     *     chunk reading) when it states more than one sample a packet.</li>
     * </ul>
     * Where a configuration box turns up more than once (QuickTime keeps it in a {@code wave} box, and
     * an entry's children start at 28, 44 or 64 bytes by its version, all three tried), the larger
     * frame and the lower rate count: a hostile entry can only lengthen itself.
     */
    private static long entryFloor(byte[] b, int at, int end, long samples, long bytes) {
        int body = headerEnd(b, at, end);
        if (body + 28 > end) {
            return -1;
        }
        long rate = statedRate(b, body, end);
        int type = at + 4;
        if (AudioDuration.startsWith(b, type, "mp4a")) {
            return mp4a(b, body, end, samples, rate);
        }
        if (AudioDuration.startsWith(b, type, ".mp3")) {
            return atRate(samples, 1_152, rate, MPEG_AUDIO_MOST_RATE);
        }
        if (AudioDuration.startsWith(b, type, "ac-3")) {
            return atRate(samples, 1_536, rate, AC3_MOST_RATE);
        }
        if (AudioDuration.startsWith(b, type, "ec-3")) {
            return atRate(samples, 256, rate, AC3_MOST_RATE);
        }
        if (AudioDuration.startsWith(b, type, "Opus")) {
            return AudioDuration.millis(times(samples, 120), 48_000);
        }
        if (AudioDuration.startsWith(b, type, "alac")) {
            long frame = 0;
            for (int[] cookie : configs(b, body, end, "alac")) {
                // FullBox header, then frameLength; compatibleVersion, bitDepth, pb, mb, kb, numChannels,
                // maxRun, maxFrameBytes, avgBitRate; then sampleRate
                if (cookie[0] + 28 <= cookie[1]) {
                    long length = AudioDuration.u32be(b, cookie[0] + 4);
                    frame = Math.max(frame, length > 0 && length <= ALAC_MOST_FRAME ? length : 4_096);
                    rate = lower(rate, AudioDuration.u32be(b, cookie[0] + 24));
                }
            }
            return atRate(samples, frame > 0 ? frame : 4_096, rate, ALAC_MOST_RATE);
        }
        if (AudioDuration.startsWith(b, type, "samr") || AudioDuration.startsWith(b, type, "sawb")) {
            long most = AudioDuration.startsWith(b, type, "samr") ? AMR_NB_MOST_FRAME : AMR_WB_MOST_FRAME;
            return times(Math.max(samples, bytes / most), AMR_FRAME_MILLIS);
        }
        long channelBytes = pcmSampleBytes(b, type, body, end);
        if (channelBytes > 0) {
            return pcm(b, body, end, samples, bytes, channelBytes, rate);
        }
        if (AudioDuration.startsWith(b, type, "fLaC")) {
            long block = 16;
            for (int[] dfla : configs(b, body, end, "dfLa")) {
                // FullBox header, then the first metadata block: its 4-byte header, then STREAMINFO:
                // min and max block size (16 bits each), min and max frame size (24 each), sample rate (20)
                int info = dfla[0] + 8;
                if (info + 14 <= dfla[1] && (b[dfla[0] + 4] & 0x7F) == 0) {
                    block = Math.max(block, (AudioDuration.u32be(b, info) >>> 16));
                    rate = lower(rate, AudioDuration.u32be(b, info + 10) >>> 12);
                }
            }
            return atRate(samples, block, rate, FLAC_MOST_RATE);
        }
        return -1;
    }

    /**
     * The bytes one channel's sample takes in an uncompressed PCM entry of {@code type} (body at
     * {@code body}), as FFmpeg's mov demuxer picks the codec; 0 when the entry is no PCM. mu-law,
     * A-law: 1; {@code in24}: 3; {@code in32}, {@code fl32}: 4; {@code fl64}: 8. {@code twos},
     * {@code sowt}, {@code raw }, {@code lpcm}, {@code ipcm} take the bits the entry states (QuickTime
     * version 2's constBitsPerChannel, else the sample size field), at most 8 bytes, and 8 when
     * they state none: more bytes a frame make fewer frames of the same bytes, the lower bound.
     */
    private static long pcmSampleBytes(byte[] b, int type, int body, int end) {
        if (AudioDuration.startsWith(b, type, "ulaw") || AudioDuration.startsWith(b, type, "alaw")) {
            return 1;
        }
        if (AudioDuration.startsWith(b, type, "in24")) {
            return 3;
        }
        if (AudioDuration.startsWith(b, type, "in32") || AudioDuration.startsWith(b, type, "fl32")) {
            return 4;
        }
        if (AudioDuration.startsWith(b, type, "fl64")) {
            return 8;
        }
        if (AudioDuration.startsWith(b, type, "twos") || AudioDuration.startsWith(b, type, "sowt")
                || AudioDuration.startsWith(b, type, "raw ") || AudioDuration.startsWith(b, type, "lpcm")
                || AudioDuration.startsWith(b, type, "ipcm")) {
            long bits = version(b, body) != 2 ? AudioDuration.u32be(b, body + 16) & 0xFFFF
                    : body + 52 <= end ? AudioDuration.u32be(b, body + 48) : 0;
            return bits == 0 ? 8 : Math.min(8, (bits + 7) / 8);
        }
        return 0;
    }

    /**
     * An uncompressed PCM entry's floor ({@link #entryFloor}): the most frames any of FFmpeg's readings
     * of its tables makes, at the stated rate. Its frame is {@code channelBytes} times its channels
     * (QuickTime version 2's numAudioChannels, else the channel count field; none counted as one).
     */
    private static long pcm(byte[] b, int body, int end, long samples, long bytes, long channelBytes, long rate) {
        long version = version(b, body);
        // version 1's fields end at 44 bytes, version 2's at 64: a cut entry's are not read
        boolean packets = version == 1 ? body + 44 <= end : version == 2 && body + 64 <= end;
        long channels = version != 2 ? AudioDuration.u32be(b, body + 16) >>> 16 : packets ? AudioDuration.u32be(b, body + 40) : 1;
        long frame = times(Math.max(1, channels), channelBytes);
        long frames = Math.max(samples, bytes / frame);
        if (packets) {
            // version 1: samplesPerPacket, bytesPerPacket, bytesPerFrame; version 2: constBytesPerAudioPacket,
            // constLPCMFramesPerAudioPacket. FFmpeg reads a chunk's samples as packets of that many
            // samples, each of that many bytes, when a packet holds more than one sample
            long perPacket = AudioDuration.u32be(b, body + (version == 2 ? 60 : 28));
            long packetBytes = AudioDuration.u32be(b, body + (version == 2 ? 56 : 36));
            if (perPacket > 1 && packetBytes > 0) {
                frames = Math.max(frames, times(samples / perPacket, packetBytes) / frame);
            }
        }
        return AudioDuration.millis(frames, lower(rate, PCM_MOST_RATE));
    }

    /** A QuickTime sound sample entry's version (body at {@code body}): 0 for ISO's AudioSampleEntry. */
    private static long version(byte[] b, int body) {
        return AudioDuration.u32be(b, body + 8) >>> 16;
    }

    /** An {@code mp4a} entry's floor, by its {@code esds} object type and AudioSpecificConfig; see {@link #entryFloor}. */
    private static long mp4a(byte[] b, int body, int end, long samples, long rate) {
        long most = -1;
        boolean read = false;
        for (int[] esds : configs(b, body, end, "esds")) {
            long[] config = decoderConfig(b, esds[0] + 4, esds[1]);
            if (config == null) {
                continue;
            }
            read = true;
            long objectType = config[0];
            long floor;
            if (objectType == 0x6B || objectType == 0x69) {
                floor = atRate(samples, 1_152, rate, MPEG_AUDIO_MOST_RATE);
            } else if (objectType == 0xA5) {
                floor = atRate(samples, 1_536, rate, AC3_MOST_RATE);
            } else if (objectType == 0xA6) {
                floor = atRate(samples, 256, rate, AC3_MOST_RATE);
            } else if (objectType == 0x40 || objectType >= 0x66 && objectType <= 0x68) {
                // config: {object type, frame samples, rate}; frame samples 0 and rate 0 where unread
                long frame = config[1] > 0 ? config[1] : 1_024;
                floor = atRate(samples, frame, lower(rate, config[2]), frame == 1_152 ? MPEG_AUDIO_MOST_RATE : AAC_MOST_RATE);
            } else {
                floor = -1;
            }
            most = Math.max(most, floor);
        }
        return read ? most : atRate(samples, 1_024, rate, AAC_MOST_RATE);
    }

    /**
     * An {@code esds} body's (past its FullBox header) {@code {object type, samples a frame, rate}} as
     * FFmpeg reads it (ff_mov_read_esds, ff_mp4_read_dec_config_descr): an ES_Descriptor (or, if the
     * first descriptor is another, its 2-byte ID), then the DecoderConfigDescriptor, whose
     * DecoderSpecificInfo is the AudioSpecificConfig. The last two are 0 where there is no such
     * config; null without a DecoderConfigDescriptor.
     */
    private static long[] decoderConfig(byte[] b, int from, int to) {
        int[] es = descriptor(b, from, to);
        if (es == null) {
            return null;
        }
        int at = es[1];
        if (es[0] == 3) {
            // ES_ID, then flags: streamDependence (a 2-byte ES id), URL (a length and the URL), OCR (2)
            if (at + 3 > to) {
                return null;
            }
            int flags = b[at + 2] & 0xFF;
            at += 3;
            at += (flags & 0x80) != 0 ? 2 : 0;
            at += (flags & 0x40) != 0 && at < to ? 1 + (b[at] & 0xFF) : 0;
            at += (flags & 0x20) != 0 ? 2 : 0;
        } else {
            at += 2;
        }
        int[] dcd = descriptor(b, at, to);
        if (dcd == null || dcd[0] != 4 || dcd[1] + 13 > to) {
            return null;
        }
        long objectType = b[dcd[1]] & 0xFF;
        int[] dsi = descriptor(b, dcd[1] + 13, to);
        long[] asc = dsi != null && dsi[0] == 5 ? audioSpecificConfig(b, dsi[1], Math.min(dsi[2], to)) : new long[2];
        return new long[] {objectType, asc[0], asc[1]};
    }

    /**
     * An MPEG-4 descriptor at {@code at}: {@code {tag, body start, body end}} (its length in up to four
     * 7-bit groups), or null past {@code to}.
     */
    private static int[] descriptor(byte[] b, int at, int to) {
        if (at < 0 || at >= to) {
            return null;
        }
        int tag = b[at] & 0xFF;
        long length = 0;
        int i = at + 1;
        for (int n = 0; n < 4 && i < to; n++) {
            int x = b[i++] & 0xFF;
            length = length << 7 | x & 0x7F;
            if ((x & 0x80) == 0) {
                break;
            }
        }
        return new int[] {tag, i, (int) Math.min(to, i + length)};
    }

    /**
     * An AudioSpecificConfig's (ISO/IEC 14496-3 1.6.2.1) {@code {samples a frame, sampling rate}},
     * each 0 where unread. The rate is the first the config states: for HE-AAC and HE-AAC v2 (object
     * types 5 and 29) the core rate, at which a frame is 1,024 samples (its 2,048 output samples run
     * at twice it). Frames: GASpecificConfig's frameLengthFlag (960 instead of 1,024; 480 instead of
     * 512 for AAC LD, object type 23, and ELD, 39); MPEG-1/2 Layers I to III (32 to 34) 1,152, the
     * larger bound; 0 (AAC's 1,024) for any other.
     */
    private static long[] audioSpecificConfig(byte[] b, int from, int to) {
        Bits in = new Bits(b, from, to);
        long objectType = objectType(in);
        long rate = rate(in);
        in.read(4); // channel configuration
        if (objectType == 5 || objectType == 29) {
            rate(in); // the extension (output) rate, twice the core rate: the core rate counts
            objectType = objectType(in);
            if (objectType == 22) {
                in.read(4);
            }
        }
        long frame = 0;
        if (objectType == 23 || objectType == 39) {
            long flag = in.read(1);
            frame = flag == 1 ? 480 : 512;
        } else if (objectType >= 1 && objectType <= 4 || objectType == 6 || objectType == 7
                || objectType >= 17 && objectType <= 22) {
            frame = in.read(1) == 1 ? 960 : 0;
        } else if (objectType >= 32 && objectType <= 34) {
            frame = 1_152;
        }
        return new long[] {frame, Math.max(rate, 0)};
    }

    /** An audio object type: 5 bits, 31 escaping to 32 plus 6 more. -1 past the end. */
    private static long objectType(Bits in) {
        long type = in.read(5);
        if (type != 31) {
            return type;
        }
        long escaped = in.read(6);
        return escaped < 0 ? -1 : 32 + escaped;
    }

    /** A sampling frequency: a 4-bit index into {@link #AAC_RATES}, 15 escaping to 24 explicit bits. 0 when reserved. */
    private static long rate(Bits in) {
        long index = in.read(4);
        if (index == 15) {
            return Math.max(in.read(24), 0);
        }
        return index >= 0 && index < AAC_RATES.length ? AAC_RATES[(int) index] : 0;
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
    static long units(byte[] b, int[] stts, long listed) {
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
    static long sampleCount(byte[] b, int[] stbl) {
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

    /**
     * The bytes a track's sample size table lists: {@code stsz}'s constant size times its count, or
     * the sum of its entries (those present), or of a compact {@code stz2}'s 4, 8 or 16-bit entries;
     * of several tables, the largest. 0 when there is none.
     */
    static long sampleBytes(byte[] b, int[] stbl) {
        long most = 0;
        for (int at = stbl[0]; at + 8 <= stbl[1]; at = next(b, at, stbl[1])) {
            int end = next(b, at, stbl[1]);
            int body = headerEnd(b, at, end);
            if (body + 12 > end) {
                continue;
            }
            long count = AudioDuration.u32be(b, body + 8);
            long sum = 0;
            if (AudioDuration.startsWith(b, at + 4, "stsz")) {
                long size = AudioDuration.u32be(b, body + 4);
                if (size != 0) {
                    sum = times(size, count);
                } else {
                    for (int i = body + 12; count > 0 && i + 4 <= end; i += 4, count--) {
                        sum += AudioDuration.u32be(b, i);
                    }
                }
            } else if (AudioDuration.startsWith(b, at + 4, "stz2")) {
                int field = b[body + 7] & 0xFF;
                if (field == 4 || field == 8 || field == 16) {
                    long bits = (long) (end - body - 12) * 8;
                    long present = Math.min(count, bits / field);
                    for (long i = 0; i < present; i++) {
                        int at2 = body + 12 + (int) (i * field / 8);
                        sum += field == 16 ? (b[at2] & 0xFF) << 8 | b[at2 + 1] & 0xFF
                                : field == 8 ? b[at2] & 0xFF : (i % 2 == 0 ? (b[at2] & 0xFF) >>> 4 : b[at2] & 0x0F);
                    }
                }
            }
            most = Math.max(most, sum);
        }
        return most;
    }

    /**
     * The rate an audio sample entry states (body at {@code body}): QuickTime's version 2 keeps it as a
     * float64 (its 16.16 field then holds the constant 1.0, not a rate), versions 0 and 1 (and ISO's
     * AudioSampleEntry) in the integer half of the 16.16 field. 0 when it states none.
     */
    private static long statedRate(byte[] b, int body, int end) {
        if (AudioDuration.u32be(b, body + 8) >>> 16 == 2) {
            if (body + 40 > end) {
                return 0;
            }
            double rate = Double.longBitsToDouble(AudioDuration.u32be(b, body + 32) << 32 | AudioDuration.u32be(b, body + 36));
            // NaN and anything below 1 Hz state nothing; the cast truncates, to the lower rate
            return rate >= 1 ? (long) Math.min(rate, Long.MAX_VALUE) : 0;
        }
        return AudioDuration.u32be(b, body + 24) >>> 16;
    }

    /**
     * The bodies of the boxes of {@code type} among an audio sample entry's children (body at
     * {@code body}), and among those of a QuickTime {@code wave} box there. The children start after
     * the version 0 fields (28 bytes), QuickTime's version 1 (44) or version 2 (64), and ISO's version 1
     * keeps 28 where QuickTime's has 44: every start is walked, as a wrong one ends its walk at the
     * first size that does not fit.
     */
    private static java.util.List<int[]> configs(byte[] b, int body, int end, String type) {
        java.util.List<int[]> found = new java.util.ArrayList<>();
        for (int start : new int[] {body + 28, body + 44, body + 64}) {
            for (int at = start; at + 8 <= end; at = next(b, at, end)) {
                int[] box = {headerEnd(b, at, end), next(b, at, end)};
                if (AudioDuration.startsWith(b, at + 4, type)) {
                    found.add(box);
                } else if (AudioDuration.startsWith(b, at + 4, "wave")) {
                    for (int in = box[0]; in + 8 <= box[1]; in = next(b, in, box[1])) {
                        if (AudioDuration.startsWith(b, in + 4, type)) {
                            found.add(new int[] {headerEnd(b, in, box[1]), next(b, in, box[1])});
                        }
                    }
                }
            }
        }
        return found;
    }

    /**
     * Milliseconds of {@code samples} frames of {@code frame} samples at {@code stated} Hz (0: none
     * stated), never faster than {@code most}: a codec plays no faster than its highest rate, so a
     * stated rate above it cannot shorten the frames.
     */
    private static long atRate(long samples, long frame, long stated, long most) {
        return AudioDuration.millis(times(samples, frame), lower(stated, most));
    }

    /** The lower of two rates, 0 standing for none stated. */
    private static long lower(long a, long b) {
        return a <= 0 ? Math.max(b, 0) : b <= 0 ? a : Math.min(a, b);
    }

    /** A big-endian bit reader over {@code [from, to)}: -1 for bits past the end. */
    private static final class Bits {
        private final byte[] b;
        private final int to;
        private long bit;

        Bits(byte[] b, int from, int to) {
            this.b = b;
            this.to = to;
            this.bit = (long) from * 8;
        }

        long read(int n) {
            if (bit + n > (long) to * 8) {
                bit = (long) to * 8;
                return -1;
            }
            long v = 0;
            for (int i = 0; i < n; i++, bit++) {
                v = v << 1 | (b[(int) (bit >>> 3)] >> (7 - (int) (bit & 7))) & 1;
            }
            return v;
        }
    }

    /** {@code count} times {@code delta}, saturating. */
    static long times(long count, long delta) {
        return delta > 0 && count > Long.MAX_VALUE / delta ? Long.MAX_VALUE : count * delta;
    }

    /** The body {@code {start, end}} of the first box of {@code type} among the boxes in {@code [from, to)}, or null. */
    static int[] child(byte[] b, int from, int to, String type) {
        for (int at = from; at + 8 <= to; at = next(b, at, to)) {
            if (AudioDuration.startsWith(b, at + 4, type)) {
                return new int[] {headerEnd(b, at, to), next(b, at, to)};
            }
        }
        return null;
    }

    /** The body {@code {start, end}} of the last box of {@code type} among the boxes in {@code [from, to)}, or null. */
    static int[] lastChild(byte[] b, int from, int to, String type) {
        int[] last = null;
        for (int[] found = child(b, from, to, type); found != null; found = child(b, found[1], to, type)) {
            last = found;
        }
        return last;
    }

    /** Where the body of the box at {@code at} starts. */
    static int headerEnd(byte[] b, int at, int to) {
        return Math.min(to, at + (AudioDuration.u32be(b, at) == 1 ? 16 : 8));
    }

    /** Where the box at {@code at} ends, within {@code to}: a size running past its parent (or 0) ends there. */
    static int next(byte[] b, int at, int to) {
        long size = AudioDuration.u32be(b, at);
        if (size == 1) {
            size = at + 16 <= to ? AudioDuration.u32be(b, at + 8) << 32 | AudioDuration.u32be(b, at + 12) : 0;
        }
        if (size < 8 || size > to - at) {
            return to;
        }
        return at + (int) size;
    }

    /**
     * Where an AMR track's samples lie in the file, as a demuxer finds them: its chunks' offsets
     * ({@code stco} or {@code co64}), the samples each chunk holds ({@code stsc}) and their sizes
     * ({@code stsz} or {@code stz2}); and what they hold, walked frame by frame ({@link AmrFrames}) as
     * the bytes after {@code moov} stream past. A 3GP sample may hold several frames of any mode (FFmpeg
     * hands the decoder a sample, and the decoder plays every frame in it), so the frames' own header
     * bytes, not the sample count nor the largest frame, say how long the track plays. Samples that
     * cannot be walked (a {@code moov} after its {@code mdat}, which has streamed past unkept; a
     * chunk behind one already walked; a table missing or given twice; a file ending early) count as
     * the most frames their bytes can be ({@link AmrFrames#atMost}), but never more bytes than the file
     * holds outside {@code moov}: a sample that is not in the file is not played.
     */
    /**
     * An {@code mdat} that streamed past before {@code moov}, walked as AMR-NB and as AMR-WB frames
     * ({@link AmrFrames.UniformRun}) from its payload's offset in the file, {@code start}; {@code read}
     * its payload bytes that came.
     */
    private record MdatWalk(long start, long read, AmrFrames.UniformRun nb, AmrFrames.UniformRun wb) {
        static MdatWalk of(InputStream in, long start, long body) throws IOException {
            AmrFrames.UniformRun nb = new AmrFrames.UniformRun(false);
            AmrFrames.UniformRun wb = new AmrFrames.UniformRun(true);
            byte[] buffer = new byte[8192];
            long read = 0;
            while (read < body) {
                int n = in.read(buffer, 0, (int) Math.min(buffer.length, body - read));
                if (n < 0) {
                    break;
                }
                nb.feed(buffer, 0, n);
                wb.feed(buffer, 0, n);
                read += n;
            }
            return new MdatWalk(start, read, nb, wb);
        }
    }

    private static final class AmrSamples {
        private final byte[] b;
        private final boolean wide;
        /** The sample bytes the size table lists. */
        private final long total;
        /** The first chunk offset, its width (4 or 8), and the chunks present. */
        private int offsets;
        private int offsetBytes;
        private long chunks;
        /** The first {@code stsc} entry and the entries present. */
        private int stsc;
        private long stscEntries;
        /** The size table: its first entry, its bits an entry (32, or stz2's 4, 8, 16), a constant size (0: the table), the samples listed. */
        private int sizes;
        private int bits;
        private long constant;
        private long samples;

        private long chunk;
        private int entry;
        private long sample;
        private long frames;
        /** The sample bytes walked (their frames counted). */
        private long walked;

        AmrSamples(byte[] b, int[] stbl, int codec, long total) {
            this.b = b;
            this.wide = codec == 2;
            this.total = total;
            if (codec == 3) {
                return;
            }
            int[] stco = null;
            int[] stsc = null;
            int[] stsz = null;
            int tables = 0;
            for (int at = stbl[0]; at + 8 <= stbl[1]; at = next(b, at, stbl[1])) {
                int[] box = {headerEnd(b, at, stbl[1]), next(b, at, stbl[1])};
                if (AudioDuration.startsWith(b, at + 4, "stco") || AudioDuration.startsWith(b, at + 4, "co64")) {
                    tables |= stco == null ? 0 : 1;
                    stco = box;
                    offsetBytes = AudioDuration.startsWith(b, at + 4, "co64") ? 8 : 4;
                } else if (AudioDuration.startsWith(b, at + 4, "stsc")) {
                    tables |= stsc == null ? 0 : 1;
                    stsc = box;
                } else if (AudioDuration.startsWith(b, at + 4, "stsz") || AudioDuration.startsWith(b, at + 4, "stz2")) {
                    tables |= stsz == null ? 0 : 1;
                    stsz = box;
                    bits = AudioDuration.startsWith(b, at + 4, "stsz") ? 32 : 0;
                }
            }
            // a table missing (FFmpeg drops such a track) or given twice (which one a demuxer keeps
            // differs by table): nothing is located, every sample byte counts at the most
            if (tables != 0 || stco == null || stsc == null || stsz == null || stco[0] + 8 > stco[1]
                    || stsc[0] + 8 > stsc[1] || stsz[0] + 12 > stsz[1]) {
                return;
            }
            offsets = stco[0] + 8;
            chunks = Math.min(AudioDuration.u32be(b, stco[0] + 4), (stco[1] - offsets) / offsetBytes);
            this.stsc = stsc[0] + 8;
            stscEntries = Math.min(AudioDuration.u32be(b, stsc[0] + 4), (stsc[1] - this.stsc) / 12);
            sizes = stsz[0] + 12;
            long count = AudioDuration.u32be(b, stsz[0] + 8);
            if (bits == 32) {
                constant = AudioDuration.u32be(b, stsz[0] + 4);
                samples = constant != 0 ? count : Math.min(count, (stsz[1] - sizes) / 4);
            } else {
                bits = b[stsz[0] + 7] & 0xFF;
                samples = bits == 4 || bits == 8 || bits == 16 ? Math.min(count, (long) (stsz[1] - sizes) * 8 / bits) : 0;
            }
        }

        /**
         * Counts the track's frames from the {@code walks} of the {@code mdat} boxes that passed before
         * {@code moov}, when every sample its tables locate lies in one of them where it walked as
         * frames of one size, starting on one of those frames and spanning a whole number of them: each
         * sample then walks, as {@link #walk} walks a sample, as its bytes over that size frames. Any
         * sample elsewhere (or none located) leaves the track as it was: its samples behind the stream
         * count at the most frames their bytes can be ({@link #millis}).
         */
        void walkedBefore(java.util.List<MdatWalk> walks) {
            long counted = 0;
            long bytes = 0;
            boolean located = false;
            for (long o = nextOffset(); o != Long.MAX_VALUE; o = nextOffset()) {
                long n = inChunk();
                for (long i = 0; i < n && sample < samples; i++, sample++) {
                    long size = size(sample);
                    long frame = 0;
                    for (MdatWalk w : walks) {
                        AmrFrames.UniformRun run = wide ? w.wb() : w.nb();
                        long into = o - w.start();
                        if (run.frame() > 0 && into >= 0 && into <= run.length() && size <= run.length() - into
                                && into % run.frame() == 0 && size % run.frame() == 0) {
                            frame = run.frame();
                            break;
                        }
                    }
                    if (frame == 0) {
                        // not walked: the track is read as before, from its first chunk
                        chunk = 0;
                        entry = 0;
                        sample = 0;
                        return;
                    }
                    counted = AudioDuration.saturatingAdd(counted, size / frame);
                    bytes = AudioDuration.saturatingAdd(bytes, size);
                    located = true;
                    o += size;
                }
                chunk++;
            }
            if (!located) {
                chunk = 0;
                entry = 0;
                sample = 0;
                return;
            }
            frames = counted;
            walked = bytes;
        }

        /** The next chunk's offset, or {@link Long#MAX_VALUE} when no chunk or sample is left. */
        long nextOffset() {
            if (chunk >= chunks || sample >= samples) {
                return Long.MAX_VALUE;
            }
            int at = offsets + (int) (chunk * offsetBytes);
            return offsetBytes == 8 ? AudioDuration.u32be(b, at) << 32 | AudioDuration.u32be(b, at + 4)
                    : AudioDuration.u32be(b, at);
        }

        /** The samples the current chunk holds: its {@code stsc} entry's (the last whose first chunk it has reached). */
        long inChunk() {
            while (entry + 1 < stscEntries && AudioDuration.u32be(b, stsc + (entry + 1) * 12) - 1 <= chunk) {
                entry++;
            }
            return stscEntries == 0 ? 0 : AudioDuration.u32be(b, stsc + entry * 12 + 4);
        }

        long size(long i) {
            if (bits == 32) {
                return constant != 0 ? constant : AudioDuration.u32be(b, sizes + (int) (i * 4));
            }
            int at = sizes + (int) (i * bits / 8);
            return bits == 16 ? (b[at] & 0xFF) << 8 | b[at + 1] & 0xFF
                    : bits == 8 ? b[at] & 0xFF : (i % 2 == 0 ? (b[at] & 0xFF) >>> 4 : b[at] & 0x0F);
        }

        /** Milliseconds of the frames walked, and of the rest at the most, within {@code outside} bytes of the file. */
        long millis(long outside) {
            long rest = Math.min(Math.max(0, total - walked), Math.max(0, outside - walked));
            return AmrFrames.millis(AudioDuration.saturatingAdd(frames, AmrFrames.atMost(rest)));
        }

        /**
         * Walks the tracks' chunks in file order as {@code in} (at offset {@code at}) streams past, to its
         * end; the file's size. A chunk behind the stream (in an {@code mdat} before {@code moov}, or
         * under one already walked) is not walked.
         */
        static long walk(java.util.List<AmrSamples> tracks, InputStream in, long at) throws IOException {
            long[] read = new long[1];
            while (true) {
                AmrSamples track = null;
                long offset = Long.MAX_VALUE;
                for (AmrSamples t : tracks) {
                    long o = t.nextOffset();
                    if (o < offset) {
                        offset = o;
                        track = t;
                    }
                }
                if (track == null) {
                    break;
                }
                long n = track.inChunk();
                if (offset < at) {
                    track.sample = AudioDuration.saturatingAdd(track.sample, n);
                    track.chunk++;
                    continue;
                }
                long gap = AudioDuration.skip(in, offset - at);
                at += gap;
                if (at < offset) {
                    return at;
                }
                for (long i = 0; i < n && track.sample < track.samples; i++, track.sample++) {
                    long size = track.size(track.sample);
                    read[0] = 0;
                    track.frames = AudioDuration.saturatingAdd(track.frames, AmrFrames.frames(in, size, track.wide, read));
                    at += read[0];
                    track.walked += read[0];
                    if (read[0] < size) {
                        return at;
                    }
                }
                track.chunk++;
            }
            return AudioDuration.saturatingAdd(at, AudioDuration.skip(in, Long.MAX_VALUE));
        }
    }
}
