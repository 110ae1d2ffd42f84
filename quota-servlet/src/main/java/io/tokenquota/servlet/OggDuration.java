package io.tokenquota.servlet;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;

/**
 * An Ogg file's milliseconds, by walking its pages: an audio stream starts at a page whose first
 * packet is an Opus or Vorbis identification header, and its pages' granule positions count its
 * samples (Opus at 48 kHz, Vorbis at its header's rate). The largest granule counts, not the last
 * page's, so a page out of order cannot shorten the audio. A granule is the encoder's word, so a
 * crafted file could understate it: for Opus, the packets themselves are counted too (each packet's
 * first byte, its TOC, tells its frames and their length), the larger reading counting; Vorbis packets
 * take the codec's setup header to time, so Vorbis counts the larger of its granule and the size rule.
 * Bytes between pages are passed over to the next capture pattern, as a demuxer resynchronises.
 *
 * <p>Every audio stream counts, and their durations add up. A chained file (RFC 7845 section 3:
 * {@code cat a.opus b.opus}) plays its links one after another (libopusfile, and FFmpeg replacing the
 * ended stream with the next), so sequential links add up; streams multiplexed side by side in one
 * link are added too, not the longest taken: the sum is never less than what a player picks, and no
 * real recording carries two sound streams at once. A stream whose serial starts again (a file
 * chained to itself) is a new one. Anything else in Ogg (Speex, FLAC) is measured by size. Holds one
 * page (at most 64 KB) and a few numbers for each of at most {@link #MOST_STREAMS} streams.
 */
final class OggDuration {
    private static final int OPUS_RATE = 48_000;
    /** Samples at 48 kHz of one frame of each Opus configuration (RFC 6716 section 3.1): SILK, hybrid, CELT. */
    private static final int[] OPUS_FRAME = {480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,
            480, 960, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960};
    /**
     * Audio streams of distinct serials timed, far above any real file (a link of one voice, or a
     * thousand voice notes joined): past it a stream is not timed and the file counts at least its size
     * rule, so a crafted file of countless streams keeps the memory bounded.
     */
    static final int MOST_STREAMS = 1024;

    private OggDuration() {
    }

    /** One audio stream's reading so far. */
    private static final class Stream {
        final boolean opus;
        final long rate;
        long granule;
        long packets;
        long bytes;

        Stream(boolean opus, long rate) {
            this.opus = opus;
            this.rate = rate;
        }

        /** Opus: the larger of its granule and its packets; Vorbis: of its granule and its pages' size. */
        long millis() {
            if (opus) {
                return AudioDuration.millis(Math.max(granule, packets), rate);
            }
            return Math.max(AudioDuration.millis(granule, rate), AudioDuration.atLowestBitrate(bytes));
        }
    }

    /** The milliseconds, or -1 for the size rule; {@code in} is read to its end. */
    static long millis(AudioDuration.Counting in) throws IOException {
        byte[] header = new byte[27];
        byte[] lacing = new byte[255];
        Map<Long, Stream> streams = new HashMap<>();
        long ended = 0;
        boolean audio = false;
        boolean floor = false;
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
            long serial = AudioDuration.u32le(header, 14);
            boolean continues = (header[5] & 1) != 0;
            // an identification header starts a stream with or without the BOS flag, a flag a crafted
            // file could leave off while a demuxer still opens the stream by its header
            Stream started = continues ? null : identification(body);
            if (started != null) {
                // a stream's first page (a link's, in a chained file): a serial seen before ends its stream
                Stream before = streams.remove(serial);
                ended = AudioDuration.saturatingAdd(ended, before == null ? 0 : before.millis());
                audio = true;
                if (streams.size() < MOST_STREAMS) {
                    streams.put(serial, started);
                } else {
                    floor = true;
                }
                floor |= !started.opus;
                continue;
            }
            Stream stream = streams.get(serial);
            if (stream == null) {
                continue;
            }
            long position = AudioDuration.u32le(header, 6) | AudioDuration.u32le(header, 10) << 32;
            // -1 (no packet ends on the page) and other negative positions are no count
            stream.granule = Math.max(stream.granule, position);
            stream.bytes += 27 + segments + size;
            if (stream.opus) {
                stream.packets = AudioDuration.saturatingAdd(stream.packets,
                        opusSamples(body, lacing, segments, continues));
            }
        }
        if (!audio) {
            return -1;
        }
        long total = ended;
        for (Stream stream : streams.values()) {
            total = AudioDuration.saturatingAdd(total, stream.millis());
        }
        if (!floor) {
            return total;
        }
        // Vorbis, or streams past the bound: never less than the whole file by size, as before
        AudioDuration.skip(in, Long.MAX_VALUE);
        return Math.max(total, AudioDuration.atLowestBitrate(in.count));
    }

    /** The stream an identification header (the first packet of {@code body}) starts, or null when it is none. */
    private static Stream identification(byte[] body) {
        if (AudioDuration.startsWith(body, 0, "OpusHead")) {
            return new Stream(true, OPUS_RATE);
        }
        if (body.length >= 16 && body[0] == 1 && AudioDuration.startsWith(body, 1, "vorbis")) {
            long rate = AudioDuration.u32le(body, 12);
            return rate > 0 ? new Stream(false, rate) : null;
        }
        return null;
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
                samples += opusPacket(body[at] & 0xFF, at + 1 < body.length ? body[at + 1] & 0xFF : -1);
            }
            starts = length < 255;
            at += length;
        }
        return samples;
    }

    /**
     * The samples at 48 kHz of an Opus packet whose TOC byte is {@code toc} and whose next byte is {@code second}
     * (-1 when it has none): its frames (one, two, or code 3's count in the second byte) times the length its
     * configuration codes (RFC 6716 section 3.1 and 3.2.5).
     */
    static long opusPacket(int toc, int second) {
        int code = toc & 3;
        int frames = code == 0 ? 1 : code < 3 ? 2 : second >= 0 ? second & 0x3F : 1;
        return (long) OPUS_FRAME[toc >> 3] * frames;
    }
}
