package io.tokenquota.servlet;

import java.io.IOException;
import java.io.InputStream;

/**
 * An MP3's milliseconds, by walking its frames: past its ID3v2 tags, the first MPEG Layer III frame
 * header within {@link AudioDuration#HEAD} bytes that two more follow at the lengths their headers
 * give (random bytes pass that less than once in 10^14 positions), then every frame's samples at its
 * own sample rate. Frames are walked to the end rather than the first one's bitrate or a Xing
 * header's count trusted, so fast frames in front of slow ones, or a header's count, cannot shorten
 * the audio. Where a header changes (another sample rate, damage, an ID3v1 tag), the walk locks again
 * on the next frame that two more follow, as a decoder resynchronises, and walks on at that frame's
 * rate; the bytes in between count at {@link AudioDuration#LOWEST_BITRATE}. Holds a 64 KB window.
 */
final class MpegDuration {
    private static final int[] MPEG1_KBPS = {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320};
    private static final int[] MPEG2_KBPS = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160};
    private static final int[] MPEG1_RATES = {44100, 48000, 32000};
    /** The longest Layer III frame (320 kbit/s at 32 kHz, 160 kbit/s at 8 kHz) and its padding byte. */
    private static final int LONGEST_FRAME = 1441;
    /** What is looked ahead to lock on a frame: three frames and the third one's header. */
    private static final int LOCK_AHEAD = 2 * LONGEST_FRAME + 4;

    private MpegDuration() {
    }

    /** The milliseconds, or -1 when no frame is found in the first bytes past the ID3v2 tags. */
    static long millis(InputStream in) throws IOException {
        Window w = new Window(in);
        long tag;
        while (w.fill(10) && (tag = id3Size(w.buf, w.pos)) >= 0) {
            w.skip(tag);
        }
        if (w.lock(AudioDuration.HEAD) < 0) {
            return -1;
        }
        long millis = 0;
        long unsynced = 0;
        byte[] locked = new byte[4];
        long skipped = 0;
        while (skipped >= 0) {
            unsynced += skipped;
            System.arraycopy(w.buf, w.pos, locked, 0, 4);
            long samples = 0;
            int length;
            while (w.fill(4) && (length = frameLength(w.buf, w.pos)) > 0 && sameStream(w.buf, w.pos, locked, 0)) {
                samples += (w.buf[w.pos + 1] & 0x18) == 0x18 ? 1152 : 576;
                w.skip(length);
            }
            millis = AudioDuration.saturatingAdd(millis, AudioDuration.millis(samples, sampleRate(locked, 0)));
            skipped = w.lock(Long.MAX_VALUE);
        }
        return AudioDuration.saturatingAdd(millis, AudioDuration.atLowestBitrate(unsynced - skipped - 1));
    }

    /**
     * Where the first frame followed by two more of the same stream starts, at or after {@code from}
     * in {@code b}; -1 if none.
     */
    static int firstFrame(byte[] b, int from) {
        for (int i = from; i + 4 <= b.length; i++) {
            if (chain(b, i, b.length)) {
                return i;
            }
        }
        return -1;
    }

    /** Whether three frames of one stream follow one another from {@code at}, within {@code end}. */
    private static boolean chain(byte[] b, int at, int end) {
        int frames = 0;
        int i = at;
        int length;
        while (frames < 3 && i + 4 <= end && (length = frameLength(b, i)) > 0 && sameStream(b, i, b, at)) {
            frames++;
            i += length;
        }
        return frames == 3;
    }

    /** The length of the MPEG Layer III frame whose header is at {@code at}, or -1 when there is none. */
    private static int frameLength(byte[] b, int at) {
        int b1 = b[at + 1] & 0xFF;
        int b2 = b[at + 2] & 0xFF;
        int version = (b1 >> 3) & 3;
        int bitrate = b2 >> 4;
        if ((b[at] & 0xFF) != 0xFF || (b1 & 0xE0) != 0xE0 || version == 1 || ((b1 >> 1) & 3) != 1
                || bitrate == 0 || bitrate == 15 || ((b2 >> 2) & 3) == 3) {
            return -1;
        }
        boolean mpeg1 = version == 3;
        long bitsPerSecond = (mpeg1 ? MPEG1_KBPS : MPEG2_KBPS)[bitrate] * 1000L;
        return (int) ((mpeg1 ? 144 : 72) * bitsPerSecond / sampleRate(b, at)) + ((b2 >> 1) & 1);
    }

    private static int sampleRate(byte[] b, int at) {
        int version = (b[at + 1] >> 3) & 3;
        int rate = MPEG1_RATES[(b[at + 2] >> 2) & 3];
        return version == 3 ? rate : version == 2 ? rate / 2 : rate / 4;
    }

    /** Same MPEG version, layer and sample rate: what a decoder takes for the same stream. */
    private static boolean sameStream(byte[] a, int at, byte[] b, int bt) {
        return (a[at + 1] & 0xFE) == (b[bt + 1] & 0xFE) && (a[at + 2] & 0x0C) == (b[bt + 2] & 0x0C);
    }

    /** The length of the ID3v2 tag at {@code at} (header, body and footer), or -1 when there is none. */
    static long id3Size(byte[] b, int at) {
        if (!AudioDuration.startsWith(b, at, "ID3") || b.length < at + 10) {
            return -1;
        }
        int major = b[at + 3] & 0xFF;
        if (major < 2 || major > 4 || (b[at + 4] & 0xFF) == 0xFF) {
            return -1;
        }
        long size = 0;
        for (int i = 6; i < 10; i++) {
            int digit = b[at + i] & 0xFF;
            if (digit >= 0x80) {
                return -1;
            }
            size = size << 7 | digit;
        }
        boolean footer = (b[at + 5] & 0x10) != 0;
        return 10 + size + (footer ? 10 : 0);
    }

    /** The file seen through a window of {@link AudioDuration#HEAD} bytes that slides as it is read. */
    private static final class Window {
        private final InputStream in;
        final byte[] buf = new byte[AudioDuration.HEAD];
        int pos;
        private int limit;
        private boolean ended;

        Window(InputStream in) {
            this.in = in;
        }

        /** Whether {@code n} bytes (at most {@link #LOCK_AHEAD}) are there from {@link #pos}, reading more if need be. */
        boolean fill(int n) throws IOException {
            if (limit - pos < n && !ended) {
                System.arraycopy(buf, pos, buf, 0, limit - pos);
                limit -= pos;
                pos = 0;
                int read = in.readNBytes(buf, limit, buf.length - limit);
                limit += read;
                ended = limit < buf.length;
            }
            return limit - pos >= n;
        }

        void skip(long n) throws IOException {
            long inWindow = Math.min(n, limit - pos);
            pos += (int) inWindow;
            if (n > inWindow) {
                AudioDuration.skip(in, n - inWindow);
            }
        }

        /**
         * Moves to the next position, within {@code most} bytes, where three frames of one stream
         * follow one another; the bytes passed over, or -1 minus them when none is found (the window
         * then at the end of the file, or {@code most} bytes on).
         */
        long lock(long most) throws IOException {
            long passed = 0;
            while (passed < most && fill(4)) {
                fill(LOCK_AHEAD);
                if (chain(buf, pos, limit)) {
                    return passed;
                }
                pos++;
                passed++;
            }
            if (passed < most) {
                // the last bytes, too few for a header
                passed += limit - pos;
                pos = limit;
            }
            return -1 - passed;
        }
    }
}
