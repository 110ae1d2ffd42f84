package io.tokenquota.servlet;

import java.io.IOException;
import java.io.InputStream;

/**
 * AMR and AMR-WB speech frames as their storage format lays them out (RFC 4867 section 5, the
 * {@code .amr} file and the samples of a 3GP/MP4 {@code samr} or {@code sawb} track): each frame starts
 * with a header byte whose frame type names the frame's size, and every frame plays 20 ms, whatever
 * its type, so a recording's length is its frames, not its size (4.75 kbit/s AMR-NB is a third of
 * the size rule's 16 kbit/s). Bytes that cannot be walked (a type no decoder takes, a frame running
 * past the end of its sample or file) count as the most frames they can be, {@link #SMALLEST} bytes
 * each: where unsure, the larger bound. Stateless.
 */
final class AmrFrames {
    /** Every AMR and AMR-WB frame plays 20 ms (160 samples at 8 kHz, 320 at 16 kHz). */
    static final long FRAME_MILLIS = 20;
    /**
     * The smallest frame that carries anything: a SID (comfort noise) frame, a header byte and 5 bytes
     * in AMR-NB and AMR-WB alike (FFmpeg's {@code amrnb_packed_size} and {@code amrwb_packed_size}).
     * A speech frame is at least 13 bytes.
     */
    static final int SMALLEST = 6;
    /**
     * A frame's bytes, its header byte included, by its frame type: AMR-NB's eight modes (4.75 to
     * 12.2 kbit/s), SID, reserved types (0: not a frame a decoder takes), NO_DATA (the header byte
     * alone, still 20 ms); AMR-WB's nine modes (6.60 to 23.85 kbit/s), SID, reserved, speech lost and
     * NO_DATA (the header byte alone).
     */
    private static final int[] NB = {13, 14, 16, 18, 20, 21, 27, 32, 6, 0, 0, 0, 0, 0, 0, 1};
    private static final int[] WB = {18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 0, 0, 0, 0, 1, 1};

    private AmrFrames() {
    }

    /**
     * Milliseconds of a raw AMR file ({@code #!AMR\n} or {@code #!AMR-WB\n}, then frames) read to
     * its end. Its multi-channel variants ({@code #!AMR_MC1.0\n}, {@code #!AMR-WB_MC1.0\n}: a frame
     * of every channel each 20 ms) and any other {@code #!AMR} head are not walked: their bytes count
     * at the most frames they can be.
     */
    static long raw(InputStream in) throws IOException {
        byte[] magic = in.readNBytes(6);
        boolean wide;
        if (AudioDuration.startsWith(magic, 0, "#!AMR\n")) {
            wide = false;
        } else {
            byte[] more = in.readNBytes(3);
            if (AudioDuration.startsWith(magic, 0, "#!AMR-") && AudioDuration.startsWith(more, 0, "WB\n")) {
                wide = true;
            } else {
                return millis(atMost(AudioDuration.skip(in, Long.MAX_VALUE)));
            }
        }
        return millis(frames(in, Long.MAX_VALUE, wide, new long[1]));
    }

    /**
     * The frames in the next {@code length} bytes of {@code in} (fewer when it ends first), walked by
     * their header bytes; a tail that does not walk (a reserved frame type, a frame running past
     * {@code length} or the end of the stream) counts as {@link #atMost} its bytes. Adds the bytes read
     * to {@code read[0]}.
     */
    static long frames(InputStream in, long length, boolean wide, long[] read) throws IOException {
        long frames = 0;
        long left = length;
        while (left > 0) {
            int header = in.read();
            if (header < 0) {
                break;
            }
            read[0]++;
            left--;
            int size = size(header, wide);
            if (size == 0 || size - 1 > left) {
                // garbled or cut short: the rest, this byte too, at the most frames it can be
                long rest = AudioDuration.skip(in, left);
                read[0] += rest;
                return AudioDuration.saturatingAdd(frames, atMost(1 + rest));
            }
            long body = AudioDuration.skip(in, size - 1);
            read[0] += body;
            left -= body;
            if (body < size - 1) {
                // the stream ended inside the frame
                return AudioDuration.saturatingAdd(frames, atMost(1 + body));
            }
            frames++;
        }
        return frames;
    }

    /** A frame's bytes, its header byte included, by its header byte; 0 for a type no decoder takes. */
    static int size(int header, boolean wide) {
        return (wide ? WB : NB)[header >>> 3 & 0x0F];
    }

    /**
     * Bytes walked as AMR (or AMR-WB) frames as they stream past, before it is known whether they
     * are frames at all (an {@code mdat} that precedes its {@code moov}): the size of the first frame,
     * and how far from the start the bytes walk as whole frames all of that size. Any byte range
     * inside that run that starts on one of its frames and spans a whole number of them walks, by
     * {@link #frames}, as exactly its bytes over that size frames; nothing else is known of the bytes.
     * Constant memory, whatever the length.
     */
    static final class UniformRun {
        private final boolean wide;
        /** The first frame's size; 0 before it. */
        private int frame;
        /** The bytes of whole frames of that size from the start. */
        private long length;
        /** The bytes of the current frame still to come. */
        private long pending;
        /** A frame of another size, or of no size, was met: the run has ended. */
        private boolean ended;

        UniformRun(boolean wide) {
            this.wide = wide;
        }

        void feed(byte[] b, int off, int len) {
            int end = off + len;
            for (int i = off; i < end && !ended; ) {
                if (pending == 0) {
                    int size = size(b[i++] & 0xFF, wide);
                    if (size == 0 || (frame != 0 && size != frame)) {
                        ended = true;
                        break;
                    }
                    frame = size;
                    pending = size - 1;
                } else {
                    int step = (int) Math.min(pending, end - i);
                    i += step;
                    pending -= step;
                }
                if (pending == 0) {
                    length += frame;
                }
            }
        }

        /** The size of the run's frames; 0 when none was walked. */
        int frame() {
            return frame;
        }

        /** The bytes from the start that walked as whole frames of {@link #frame} bytes. */
        long length() {
            return length;
        }
    }

    /** The most frames {@code bytes} can hold: one for every {@link #SMALLEST} bytes begun. */
    static long atMost(long bytes) {
        return bytes / SMALLEST + (bytes % SMALLEST == 0 ? 0 : 1);
    }

    /** Milliseconds of {@code frames} frames. */
    static long millis(long frames) {
        return frames > Long.MAX_VALUE / FRAME_MILLIS ? Long.MAX_VALUE : frames * FRAME_MILLIS;
    }
}
