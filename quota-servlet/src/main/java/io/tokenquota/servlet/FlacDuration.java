package io.tokenquota.servlet;

import java.io.IOException;
import java.io.InputStream;

/**
 * A FLAC file's milliseconds: the samples of its frames, each frame timed at the lower of the sample
 * rate its header codes and STREAMINFO's (STREAMINFO's alone when the header codes none), or the
 * total STREAMINFO states at its rate when that is more. FFmpeg's flacdec plays a frame at its
 * header's rate, a reader going by STREAMINFO alone (libsndfile reports its rate) at that one: the
 * lower rate is the longer of what either plays, so neither field can shorten the audio. Frames are
 * found as a decoder finds them, by their sync code and a header whose CRC-8 holds (of the same
 * stream as the first: blocking strategy, rate code, channels and sample size), and their block sizes
 * added up; every position is tried, so no frame is passed over. FLAC's size says little of its
 * length (digital silence takes 13 bytes a 4,096-sample block: a 15-minute quiet room fits in 43 KB,
 * 23 s at the size rule, while 16 kHz speech runs at about 150 kbit/s, nine times the size rule), and
 * a stated total alone could be understated by a crafted header, a decoder playing every frame
 * whatever it says. Without a STREAMINFO rate: the size rule.
 * Holds 64 KB.
 */
final class FlacDuration {
    /** The longest frame header: sync, 2 bytes, a 7-byte frame number, 2 of block size, 2 of rate, the CRC. */
    private static final int LONGEST_HEADER = 16;
    /** The sample rates of a frame header's codes 0 to 11; 0: STREAMINFO's (12 to 14 code it in the header). */
    private static final long[] RATES = {0, 88_200, 176_400, 192_000, 8_000, 16_000, 22_050, 24_000, 32_000, 44_100,
            48_000, 96_000};

    private FlacDuration() {
    }

    /** The milliseconds, or -1 for the size rule. */
    static long millis(InputStream in) throws IOException {
        AudioDuration.skip(in, 4);
        long rate = 0;
        long stated = 0;
        byte[] block = new byte[4];
        boolean first = true;
        do {
            if (in.readNBytes(block, 0, 4) < 4) {
                return -1;
            }
            long length = (block[1] & 0xFF) << 16 | (block[2] & 0xFF) << 8 | (block[3] & 0xFF);
            if (first && (block[0] & 0x7F) == 0 && length >= 34) {
                // STREAMINFO: 20 bits of sample rate at byte 10, then channels, sample size, 36 bits of samples
                byte[] info = in.readNBytes(34);
                if (info.length < 34) {
                    return -1;
                }
                rate = (info[10] & 0xFF) << 12 | (info[11] & 0xFF) << 4 | (info[12] & 0xFF) >> 4;
                stated = (long) (info[13] & 0x0F) << 32 | AudioDuration.u32be(info, 14);
                length -= 34;
            }
            AudioDuration.skip(in, length);
            first = false;
        } while ((block[0] & 0x80) == 0);
        if (rate == 0) {
            return -1;
        }
        return Math.max(AudioDuration.millis(stated, rate), framesMillis(in, rate));
    }

    /**
     * The milliseconds of the frames in the rest of the stream, rounded up, each frame's samples at the
     * lower of its header's rate and {@code streamRate} (the frames of one stream may code their rate
     * differently, in codes 12 to 14, so each is timed on its own, in microseconds rounded up).
     */
    private static long framesMillis(InputStream in, long streamRate) throws IOException {
        byte[] buf = new byte[AudioDuration.HEAD + LONGEST_HEADER];
        byte[] stream = null;
        long micros = 0;
        int kept = 0;
        boolean end = false;
        while (!end) {
            int n = in.readNBytes(buf, kept, AudioDuration.HEAD);
            int limit = kept + n;
            end = n < AudioDuration.HEAD;
            // a header that may run past what was read is tried with the next bytes
            int scanned = end ? limit : limit - LONGEST_HEADER;
            for (int i = 0; i < scanned; i++) {
                if ((buf[i] & 0xFF) != 0xFF || i + 1 >= limit || (buf[i + 1] & 0xFE) != 0xF8) {
                    continue;
                }
                long[] frame = frame(buf, i, limit);
                if (frame != null && (stream == null || sameStream(buf, i, stream))) {
                    stream = stream == null ? new byte[] {buf[i + 1], buf[i + 2], buf[i + 3]} : stream;
                    long rate = frame[1] > 0 ? Math.min(frame[1], streamRate) : streamRate;
                    // at most 65,536 samples at 1 Hz or more: no overflow before the sum
                    micros = AudioDuration.saturatingAdd(micros, (frame[0] * 1_000_000 + rate - 1) / rate);
                }
            }
            System.arraycopy(buf, scanned, buf, 0, limit - scanned);
            kept = limit - scanned;
        }
        return micros / 1000 + (micros % 1000 == 0 ? 0 : 1);
    }

    /** Blocking strategy, sample rate, channels and sample size as the first frame's. */
    private static boolean sameStream(byte[] b, int at, byte[] stream) {
        return b[at + 1] == stream[0] && (b[at + 2] & 0x0F) == (stream[1] & 0x0F) && b[at + 3] == stream[2];
    }

    /**
     * The samples of the frame whose header is at {@code at} and the sample rate its header codes (0
     * when it codes none: STREAMINFO's), or null when there is no valid header there.
     */
    private static long[] frame(byte[] b, int at, int limit) {
        if (at + 5 > limit) {
            return null;
        }
        int sizeCode = (b[at + 2] & 0xFF) >> 4;
        int rateCode = b[at + 2] & 0x0F;
        int channels = (b[at + 3] & 0xFF) >> 4;
        if (sizeCode == 0 || rateCode == 15 || channels > 10 || ((b[at + 3] >> 1) & 7) == 3 || (b[at + 3] & 1) != 0) {
            return null;
        }
        // the frame or sample number, coded as UTF-8 is, 1 to 7 bytes
        int lead = b[at + 4] & 0xFF;
        int extra = lead < 0x80 ? 0 : lead < 0xC0 || lead == 0xFF ? -1 : Integer.numberOfLeadingZeros(~lead << 24) - 1;
        if (extra < 0) {
            return null;
        }
        int i = at + 5;
        for (int k = 0; k < extra; k++, i++) {
            if (i >= limit || (b[i] & 0xC0) != 0x80) {
                return null;
            }
        }
        long size;
        if (sizeCode == 6 || sizeCode == 7) {
            int bytes = sizeCode - 5;
            if (i + bytes > limit) {
                return null;
            }
            size = (bytes == 1 ? b[i] & 0xFF : (b[i] & 0xFF) << 8 | (b[i + 1] & 0xFF)) + 1;
            i += bytes;
        } else {
            size = sizeCode == 1 ? 192 : sizeCode <= 5 ? 576 << (sizeCode - 2) : 256 << (sizeCode - 8);
        }
        long rate;
        if (rateCode == 12) {
            rate = i < limit ? (b[i] & 0xFF) * 1000L : 0;
            i += 1;
        } else if (rateCode == 13 || rateCode == 14) {
            rate = i + 1 < limit ? ((b[i] & 0xFF) << 8 | (b[i + 1] & 0xFF)) * (rateCode == 14 ? 10L : 1L) : 0;
            i += 2;
        } else {
            rate = RATES[rateCode];
        }
        return i < limit && crc8(b, at, i) == (b[i] & 0xFF) ? new long[] {size, rate} : null;
    }

    /** FLAC's CRC-8 (polynomial 0x07) of {@code b[from, to)}. */
    private static int crc8(byte[] b, int from, int to) {
        int crc = 0;
        for (int i = from; i < to; i++) {
            crc ^= b[i] & 0xFF;
            for (int k = 0; k < 8; k++) {
                crc = (crc & 0x80) != 0 ? (crc << 1 ^ 0x07) & 0xFF : crc << 1 & 0xFF;
            }
        }
        return crc;
    }
}
