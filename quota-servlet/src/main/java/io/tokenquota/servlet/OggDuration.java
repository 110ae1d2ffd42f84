package io.tokenquota.servlet;

import java.io.IOException;
import java.io.InputStream;

/**
 * An Ogg file's milliseconds, by walking its pages: the audio stream is the first one whose first
 * packet is an Opus or Vorbis identification header, and its pages' granule positions count its
 * samples (Opus at 48 kHz, Vorbis at its header's rate). The largest granule counts, not the last
 * page's, so a page out of order cannot shorten the audio. A granule is the encoder's word, so a
 * crafted file could understate it: for Opus, the packets themselves are counted too (each packet's
 * first byte, its TOC, tells its frames and their length), the larger reading counting; Vorbis packets
 * take the codec's setup header to time, so Vorbis counts the larger of its granule and the size rule.
 * Bytes between pages are passed over to the next capture pattern, as a demuxer resynchronises.
 * Anything else in Ogg (Speex, FLAC) is measured by size. Holds one page (at most 64 KB).
 */
final class OggDuration {
    private static final int OPUS_RATE = 48_000;
    /** Samples at 48 kHz of one frame of each Opus configuration (RFC 6716 section 3.1): SILK, hybrid, CELT. */
    private static final int[] OPUS_FRAME = {480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,
            480, 960, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960};

    private OggDuration() {
    }

    /** The milliseconds, or -1 for the size rule; {@code in} is read to its end. */
    static long millis(AudioDuration.Counting in) throws IOException {
        byte[] header = new byte[27];
        byte[] lacing = new byte[255];
        long serial = -1;
        long rate = 0;
        boolean opus = false;
        long granule = 0;
        long packets = 0;
        boolean continued = false;
        while (page(in, header)) {
            int segments = header[26] & 0xFF;
            if (in.readNBytes(lacing, 0, segments) < segments) {
                break;
            }
            int size = 0;
            for (int i = 0; i < segments; i++) {
                size += lacing[i] & 0xFF;
            }
            byte[] body = in.readNBytes(size);
            long pageSerial = AudioDuration.u32le(header, 14);
            if (serial < 0 && (header[5] & 2) != 0) {
                // the first page of a stream: its identification header says what it is
                if (AudioDuration.startsWith(body, 0, "OpusHead")) {
                    opus = true;
                    rate = OPUS_RATE;
                } else if (body.length >= 16 && body[0] == 1 && AudioDuration.startsWith(body, 1, "vorbis")) {
                    rate = AudioDuration.u32le(body, 12);
                }
                serial = rate > 0 ? pageSerial : -1;
                continue;
            }
            if (pageSerial != serial || serial < 0) {
                continue;
            }
            long position = AudioDuration.u32le(header, 6) | AudioDuration.u32le(header, 10) << 32;
            // -1 (no packet ends on the page) and other negative positions are no count
            granule = Math.max(granule, position);
            if (opus) {
                packets = AudioDuration.saturatingAdd(packets, opusSamples(body, lacing, segments, (header[5] & 1) != 0));
            }
        }
        if (serial < 0) {
            return -1;
        }
        long read = AudioDuration.millis(Math.max(granule, packets), rate);
        if (opus) {
            return read;
        }
        AudioDuration.skip(in, Long.MAX_VALUE);
        return Math.max(read, AudioDuration.atLowestBitrate(in.count));
    }

    /**
     * Reads the next page header into {@code header}, past any bytes before its {@code OggS} capture
     * pattern; false at the end of the file.
     */
    private static boolean page(InputStream in, byte[] header) throws IOException {
        if (in.readNBytes(header, 0, 4) < 4) {
            return false;
        }
        while (!AudioDuration.startsWith(header, 0, "OggS")) {
            int b = in.read();
            if (b < 0) {
                return false;
            }
            System.arraycopy(header, 1, header, 0, 3);
            header[3] = (byte) b;
        }
        return in.readNBytes(header, 4, 23) == 23;
    }

    /**
     * The samples at 48 kHz of the Opus packets that start on a page: a packet starts at the first
     * segment unless the page continues one, and after each segment shorter than 255 bytes. Header
     * packets ({@code OpusHead}, {@code OpusTags}) count none.
     */
    private static long opusSamples(byte[] body, byte[] lacing, int segments, boolean continues) {
        long samples = 0;
        int at = 0;
        boolean starts = !continues;
        for (int i = 0; i < segments && at < body.length; i++) {
            int length = lacing[i] & 0xFF;
            if (starts && length > 0 && !AudioDuration.startsWith(body, at, "OpusTags")) {
                int toc = body[at] & 0xFF;
                int code = toc & 3;
                int frames = code == 0 ? 1 : code < 3 ? 2 : at + 1 < body.length ? body[at + 1] & 0x3F : 1;
                samples += (long) OPUS_FRAME[toc >> 3] * frames;
            }
            starts = length < 255;
            at += length;
        }
        return samples;
    }
}
