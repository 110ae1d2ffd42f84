package io.tokenquota.servlet;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.util.List;
import java.util.Locale;

/**
 * How long an uploaded audio file plays, which is what a transcription model hears and bills: WAV
 * by its format and sample bytes, MP3 by its frames ({@link MpegDuration}), MP4/M4A by its sample
 * tables ({@link Mp4Duration}), FLAC and Ogg by their stream headers and pages ({@link FlacDuration},
 * {@link OggDuration}), WebM and Matroska by their blocks ({@link MatroskaDuration}), AMR by its
 * frames ({@link AmrFrames}), anything else by its size at a low
 * speech bitrate. Read as the file streams
 * past, holding only bounded buffers, never the file. Stateless.
 */
final class AudioDuration {
    /**
     * Audio input tokens a second: OpenAI's gpt-4o-transcribe bills 1,000 a minute (rounded up), and
     * whisper-1, billed by the second, costs the same per minute.
     */
    static final long AUDIO_TOKENS_PER_SECOND = 17;
    /**
     * Transcript tokens a second of speech may become: fast speech runs at about 180 words a minute,
     * 1.3 o200k tokens a word in English, so 4 a second (240 a minute) covers it with room for
     * languages that take more tokens a word; silence and music make fewer.
     */
    static final long TRANSCRIPT_TOKENS_PER_SECOND = 4;
    /**
     * Bits a second assumed for audio whose duration is not read (Layer I/II, a compressed WAV, an
     * unreadable file): low for speech (Opus voice notes and AMR-WB run at
     * 12 to 24 kbit/s, and long meetings are squeezed that low to fit an upload limit), so a long
     * low-bitrate recording is not held as a short one. The price is an over-hold of better
     * encodings, until usage settles it (charged so when the answer reports none).
     */
    static final long LOWEST_BITRATE = 16_000;
    /** The first bytes of a file kept to recognise it and to find its first MP3 frame. */
    static final int HEAD = 64 << 10;
    /**
     * The most milliseconds a byte of any format plays: a WAV's lowest rate (1 Hz, 8-bit mono) and
     * far above any codec's (silent FLAC or Opus runs at about 20 ms a byte), so a header claiming
     * hours for a few bytes cannot run away with a hold.
     */
    private static final long MOST_MILLIS_PER_BYTE = 1_000;

    /**
     * ISO base media brands of still images (HEIF's and AVIF's images and image sequences, Canon's CR3
     * raw photos): they share the {@code ftyp} box with audio and video but play nothing. Any other
     * brand is taken as a file that plays (round 291: Apple's and FFmpeg's {@code M4V }, missing from
     * a list of playing brands, held a 30-second video as one media item), read by its tracks.
     */
    private static final List<String> IMAGE_BRANDS = List.of("mif1", "mif2", "msf1", "heic", "heix", "heim", "heis",
            "hevc", "hevx", "hevm", "hevs", "avif", "avis", "avio", "crx ");

    private AudioDuration() {
    }

    /** Audio input tokens of {@code millis} of audio, rounded up. */
    static long inputTokens(long millis) {
        return perSecond(millis, AUDIO_TOKENS_PER_SECOND);
    }

    /** The transcript {@code millis} of speech may become, rounded up. */
    static long transcriptTokens(long millis) {
        return perSecond(millis, TRANSCRIPT_TOKENS_PER_SECOND);
    }

    /**
     * Whether a path is a transcription or translation endpoint (OpenAI's {@code /audio/transcriptions}
     * and {@code /audio/translations}, which Azure, Groq, vLLM and LocalAI copy): its answer is the
     * audio's words, so what it writes is bounded by the audio. Any other endpoint that takes audio
     * may answer at length, and keeps the output budget every request gets.
     */
    static boolean transcribes(String path) {
        String p = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
        return p.endsWith("/audio/transcriptions") || p.endsWith("/audio/translations");
    }

    /**
     * {@code tokens} a second of {@code millis}, rounded up. Cannot overflow: a rate of at most 1,000
     * tokens a second makes at most as many tokens as milliseconds.
     */
    static long perSecond(long millis, long tokens) {
        return millis / 1000 * tokens + (millis % 1000 * tokens + 999) / 1000;
    }

    /**
     * Whether a file is audio: labelled audio or video, or, whatever its label says, starting as an
     * audio file does. A decoder (and OpenAI, which goes by the file name) ignores the part's label,
     * so a label can add audio but not take it away.
     */
    static boolean isAudio(String contentType, byte[] head) {
        String type = contentType == null ? "" : contentType.trim().toLowerCase(Locale.ROOT);
        return type.startsWith("audio/") || type.startsWith("video/") || startsAsAudio(head);
    }

    /**
     * Whether bytes start as an audio container does: by its structure (a RIFF/WAVE header, an ID3v2
     * tag, three MP3 frames in a row, FLAC, Ogg, AMR, EBML, an ISO {@code ftyp} of an audio or video
     * brand), never by whether the bytes read as text: a long text comment or lyrics tag in front
     * leaves the file audio.
     */
    static boolean startsAsAudio(byte[] b) {
        return isWave(b) || MpegDuration.id3Size(b, 0) >= 0 || MpegDuration.firstFrame(b, 0) >= 0
                || startsWith(b, 0, "fLaC") || startsWith(b, 0, "OggS") || startsWith(b, 0, "#!AMR") || isEbml(b)
                || isIsoMedia(b);
    }

    /** An EBML header's ID (RFC 8794 section 11.2.1): WebM and Matroska. */
    private static boolean isEbml(byte[] b) {
        return b.length >= 4 && (b[0] & 0xFF) == 0x1A && (b[1] & 0xFF) == 0x45 && (b[2] & 0xFF) == 0xDF
                && (b[3] & 0xFF) == 0xA3;
    }

    private static boolean isIsoMedia(byte[] b) {
        return startsWith(b, 4, "ftyp") && b.length >= 12 && IMAGE_BRANDS.stream().noneMatch(brand -> startsWith(b, 8, brand));
    }

    /** As {@link #millis(byte[], InputStream, Sink)} with nothing watching the bytes. */
    static long millis(byte[] head, InputStream rest) throws IOException {
        return millis(head, rest, null);
    }

    /**
     * Milliseconds of audio in a file whose first bytes are {@code head} (up to {@link #HEAD}) and
     * whose rest {@code rest} gives; {@code rest} is read to its end, every byte of the file passing
     * {@code sink} once, in order (null for none).
     */
    static long millis(byte[] head, InputStream rest, Sink sink) throws IOException {
        return played(head, rest, sink).sound();
    }

    /**
     * What a file plays, in milliseconds: its sound, as {@link #millis(byte[], InputStream, Sink)}
     * reads it, and its pictures (an ISO file's video tracks, {@link Mp4Duration#tracks}, a WebM or
     * Matroska file's, {@link MatroskaDuration}; 0 for the other formats, which carry sound alone).
     */
    record Played(long sound, long video) {
    }

    /** As {@link #millis(byte[], InputStream, Sink)}, with the pictures beside the sound. */
    static Played played(byte[] head, InputStream rest, Sink sink) throws IOException {
        long[] bytes = {0};
        Played read = read(head, rest, sink, bytes);
        return read.sound() >= 0 ? read : new Played(atLowestBitrate(bytes[0]), read.video());
    }

    /** As {@link #millis(byte[], InputStream)}, but -1 for a format no reader reads (no size rule). */
    static long readMillis(byte[] head, InputStream rest) throws IOException {
        return read(head, rest, null, new long[1]).sound();
    }

    private static Played read(byte[] head, InputStream rest, Sink sink, long[] bytesRead) throws IOException {
        Counting in = new Counting(new BufferedInputStream(
                new SequenceInputStream(new ByteArrayInputStream(head), rest)), sink);
        long read;
        long video = 0;
        if (isWave(head)) {
            read = wave(in);
        } else if (startsWith(head, 4, "ftyp")) {
            Mp4Duration.Tracks tracks = Mp4Duration.tracks(in);
            read = tracks.sound();
            video = tracks.video();
        } else if (isEbml(head)) {
            Mp4Duration.Tracks tracks = MatroskaDuration.tracks(in);
            read = tracks.sound();
            video = tracks.video();
        } else if (startsWith(head, 0, "fLaC")) {
            read = FlacDuration.millis(in);
        } else if (startsWith(head, 0, "OggS")) {
            read = OggDuration.millis(in);
        } else if (startsWith(head, 0, "#!AMR")) {
            read = AmrFrames.raw(in);
        } else {
            read = MpegDuration.millis(in);
        }
        skip(in, Long.MAX_VALUE);
        long bytes = in.count;
        bytesRead[0] = bytes;
        long most = bytes > Long.MAX_VALUE / MOST_MILLIS_PER_BYTE ? Long.MAX_VALUE : bytes * MOST_MILLIS_PER_BYTE;
        return new Played(read >= 0 ? Math.min(read, most) : -1, Math.min(video, most));
    }

    /**
     * How long the audio an answer carries plays (a text-to-speech endpoint's): its first
     * {@link #HEAD} bytes are kept and the rest counted. Raw PCM ({@code audio/pcm}, {@code audio/L16}:
     * no header) plays at the rate its label names, OpenAI's 24 kHz 16-bit mono by default. Else an
     * answer that fits is measured whole by the readers of uploaded files, and ADTS AAC by its frames;
     * a longer one plays in proportion to its bytes at the rate of the part kept (WAV samples, MP3, AMR
     * and AAC frames, Ogg pages all come at a steady rate in a model's speech), unless its header states
     * the whole length (FLAC's sample count when not 0, an MP4's sample tables), which then counts. A
     * format none of them reads is not measured ({@code -1}): a size rule would overcharge a high
     * bitrate. Not thread-safe.
     */
    static final class Answer {
        private final String label;
        private final java.io.ByteArrayOutputStream head = new java.io.ByteArrayOutputStream();
        private long bytes;

        /** @param label the answer's Content-Type, lower case */
        Answer(String label) {
            this.label = label;
        }

        void feed(byte[] b, int off, int len) {
            int keep = (int) Math.min(len, Math.max(0, HEAD - head.size()));
            head.write(b, off, keep);
            bytes = saturatingAdd(bytes, len);
        }

        /** Milliseconds of audio the answer carried so far, or -1 when its format is not one read. */
        long millis() {
            byte[] kept = head.toByteArray();
            // a label the bytes contradict is no raw PCM: a framework labels a byte[] with what the client's
            // Accept names (round 244: a WAV labelled audio/L16;rate=999999 measured about 0 s)
            long pcm = startsAsAudio(kept) ? -1 : pcmBytesPerSecond(label);
            if (pcm > 0) {
                return AudioDuration.millis(bytes, pcm);
            }
            long measured;
            try {
                measured = readMillis(kept, InputStream.nullInputStream());
            } catch (IOException e) {
                measured = -1;
            }
            if (measured < 0) {
                measured = adtsMillis(kept);
            }
            if (measured < 0 || bytes <= kept.length || statesLength(kept)) {
                return measured;
            }
            return new java.math.BigDecimal(measured).multiply(new java.math.BigDecimal(bytes))
                    .divide(new java.math.BigDecimal(kept.length), java.math.RoundingMode.CEILING)
                    .min(new java.math.BigDecimal(Long.MAX_VALUE)).longValue();
        }

        /** Whether the header states the whole length: an MP4's sample tables, FLAC's nonzero sample count. */
        private static boolean statesLength(byte[] kept) {
            if (startsWith(kept, 4, "ftyp")) {
                return true;
            }
            // STREAMINFO right after the marker and its block header: 36 bits of samples at its byte 13
            return startsWith(kept, 0, "fLaC") && kept.length >= 8 + 18
                    && ((long) (kept[8 + 13] & 0x0F) << 32 | u32be(kept, 8 + 14)) > 0;
        }

        /** Bytes a second of raw PCM its label names ({@code rate}, {@code channels}, 16 bits), or -1. */
        private static long pcmBytesPerSecond(String label) {
            if (!label.startsWith("audio/pcm") && !label.startsWith("audio/l16")) {
                return -1;
            }
            long rate = 24_000;
            long channels = 1;
            for (String param : label.split(";")) {
                String[] kv = param.trim().split("=", 2);
                if (kv.length == 2 && kv[1].trim().matches("[0-9]{1,6}")) {
                    long v = Long.parseLong(kv[1].trim());
                    // at most what speech models send (48 kHz, stereo): the label may be the client's to choose
                    if (kv[0].trim().equals("rate") && v > 0) {
                        rate = Math.min(v, 48_000);
                    } else if (kv[0].trim().equals("channels") && v > 0) {
                        channels = Math.min(v, 2);
                    }
                }
            }
            return rate * channels * 2;
        }

        /**
         * ADTS AAC frames in {@code b} from its start (1,024 samples each, at the rate the header's
         * index names), or -1 when it does not start with one.
         */
        static long adtsMillis(byte[] b) {
            int[] rates = {96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350};
            long samples = 0;
            int rate = -1;
            int i = 0;
            while (i + 7 <= b.length && (b[i] & 0xFF) == 0xFF && (b[i + 1] & 0xF6) == 0xF0) {
                int index = (b[i + 2] & 0x3C) >> 2;
                int length = (b[i + 3] & 0x03) << 11 | (b[i + 4] & 0xFF) << 3 | (b[i + 5] & 0xE0) >> 5;
                if (index >= rates.length || length < 7 || (rate >= 0 && rates[index] != rate)) {
                    break;
                }
                rate = rates[index];
                samples += 1024L * ((b[i + 6] & 0x03) + 1);
                i += length;
            }
            return rate < 0 ? -1 : AudioDuration.millis(samples, rate);
        }
    }

    /** Milliseconds {@code bytes} play at {@link #LOWEST_BITRATE}: the size rule. */
    static long atLowestBitrate(long bytes) {
        return millis(bytes, LOWEST_BITRATE / 8);
    }

    /** Milliseconds of {@code units} (bytes, samples) at {@code perSecond} (1 to 2^32), rounded up. */
    static long millis(long units, long perSecond) {
        long whole = units / perSecond;
        if (whole > Long.MAX_VALUE / 1000 - 1000) {
            return Long.MAX_VALUE;
        }
        return whole * 1000 + (units % perSecond * 1000 + perSecond - 1) / perSecond;
    }

    static long saturatingAdd(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    /**
     * A WAV file: RIFF, or the same layout with 64-bit sizes in a {@code ds64} chunk (EBU's RF64 and
     * ITU's BW64, what broadcast recorders and FFmpeg past 4 GB write, FFmpeg's wavdec reads). The
     * sizes are not needed: {@link #wave} counts the data bytes present.
     */
    private static boolean isWave(byte[] b) {
        return (startsWith(b, 0, "RIFF") || startsWith(b, 0, "RF64") || startsWith(b, 0, "BW64"))
                && startsWith(b, 8, "WAVE");
    }

    /**
     * A WAV file's milliseconds from its first {@code fmt } chunk's rate and the bytes from its
     * {@code data} chunk on, or -1 when it is not PCM or has no such chunks. Only the first
     * {@code fmt } chunk counts, as FFmpeg's wavdec reads it (what OpenAI and whisper decode with): a
     * second one is ignored there, so it cannot change the rate here. The bytes present count, not
     * the chunk's declared size: a streamed WAV writes 0 or 0xFFFFFFFF there, and decoders read on
     * past a short size into further data chunks, so a header cannot shorten its audio.
     */
    private static long wave(InputStream in) throws IOException {
        skip(in, 12);
        long rate = -1;
        boolean format = false;
        byte[] chunk = new byte[8];
        while (in.readNBytes(chunk, 0, 8) == 8) {
            long size = u32le(chunk, 4);
            if (startsWith(chunk, 0, "data")) {
                return rate > 0 ? millis(skip(in, Long.MAX_VALUE), rate) : -1;
            }
            long skipped = 0;
            if (startsWith(chunk, 0, "fmt ") && !format) {
                byte[] fmt = in.readNBytes((int) Math.min(size, 40));
                rate = pcmRate(fmt);
                format = true;
                skipped = fmt.length;
            }
            skip(in, size + (size & 1) - skipped);
        }
        return -1;
    }

    /**
     * Bytes a second of PCM, float, A-law or mu-law samples (also as WAVE_FORMAT_EXTENSIBLE): the lower
     * of the byte rate the header states and the one its sample rate, channels and sample size make,
     * so one field cannot shorten the audio; -1 for a compressed format or a broken header.
     */
    private static long pcmRate(byte[] fmt) {
        if (fmt.length < 16) {
            return -1;
        }
        int format = (int) u16le(fmt, 0);
        if (format == 0xFFFE && fmt.length >= 26) {
            format = (int) u16le(fmt, 24);
        }
        if (format != 1 && format != 3 && format != 6 && format != 7) {
            return -1;
        }
        long samples = u32le(fmt, 4) * u16le(fmt, 2) * ((u16le(fmt, 14) + 7) / 8);
        long stated = u32le(fmt, 8);
        if (samples <= 0) {
            return stated > 0 ? stated : -1;
        }
        return Math.min(Math.min(samples, 0xFFFFFFFFL), stated > 0 ? stated : Long.MAX_VALUE);
    }

    /** Skips up to {@code n} bytes; how many there were. */
    static long skip(InputStream in, long n) throws IOException {
        long skipped = 0;
        while (skipped < n) {
            long step = in.skip(n - skipped);
            if (step <= 0) {
                if (in.read() < 0) {
                    break;
                }
                step = 1;
            }
            skipped += step;
        }
        return skipped;
    }

    static boolean startsWith(byte[] b, int at, String s) {
        if (at < 0 || b.length < at + s.length()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (b[at + i] != (byte) s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    static long u16le(byte[] b, int i) {
        return (b[i] & 0xFF) | ((b[i + 1] & 0xFF) << 8);
    }

    static long u32le(byte[] b, int i) {
        return u16le(b, i) | (u16le(b, i + 2) << 16);
    }

    static long u32be(byte[] b, int i) {
        return ((long) (b[i] & 0xFF) << 24) | ((b[i + 1] & 0xFF) << 16) | ((b[i + 2] & 0xFF) << 8) | (b[i + 3] & 0xFF);
    }

    /** What watches a file's bytes as they stream past the duration reader (its text, counted). */
    interface Sink {
        void accept(byte[] b, int off, int len);
    }

    /**
     * Counts the bytes read and skipped through it, and hands each to its sink once: with a sink, a
     * skip reads through. Closing it leaves its stream open: a {@link SequenceInputStream} closes what
     * it has read to the end, and what is left of the file is still to be counted; the file's owner
     * closes it.
     */
    static final class Counting extends FilterInputStream {
        private final Sink sink;
        private final byte[] one = new byte[1];
        private byte[] skipped;
        /** The bytes read and skipped so far. */
        long count;

        private Counting(InputStream in, Sink sink) {
            super(in);
            this.sink = sink;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                count++;
                if (sink != null) {
                    one[0] = (byte) b;
                    sink.accept(one, 0, 1);
                }
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) {
                count += n;
                if (sink != null) {
                    sink.accept(b, off, n);
                }
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            if (sink == null) {
                long step = super.skip(n);
                count += Math.max(0, step);
                return step;
            }
            if (skipped == null) {
                skipped = new byte[8192];
            }
            return Math.max(0, read(skipped, 0, (int) Math.min(n, skipped.length)));
        }

        @Override
        public void close() {
        }
    }
}
