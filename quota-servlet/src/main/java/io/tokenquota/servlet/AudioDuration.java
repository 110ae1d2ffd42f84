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
 * by its format and sample bytes, MP3 by its frames, anything else by its size at a low speech
 * bitrate. Read as the file streams past, holding only its first {@link #HEAD} bytes, never the
 * file. Stateless.
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
     * Bits a second assumed for audio whose duration is not read (m4a, ogg, webm, flac, an
     * unreadable file): low for speech (Opus voice notes and AMR-WB run at 12 to 24 kbit/s, and long
     * meetings are squeezed that low to fit an upload limit), so a long low-bitrate recording is not
     * held as a short one. The price is an over-hold of better encodings: a 128 kbit/s m4a is held
     * eight times its length until usage settles it (charged so when the answer reports none).
     */
    static final long LOWEST_BITRATE = 16_000;
    /** The first bytes of a file kept to recognise it and to find its first MP3 frame. */
    static final int HEAD = 64 << 10;

    private static final int[] MPEG1_KBPS = {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320};
    private static final int[] MPEG2_KBPS = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160};
    private static final int[] MPEG1_RATES = {44100, 48000, 32000};
    /** ISO base media brands of audio and of video that carries audio; HEIC and AVIF images share the box. */
    private static final List<String> MP4_BRANDS = List.of("M4A ", "M4B ", "mp41", "mp42", "isom", "iso2", "dash", "3gp",
            "qt  ");

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

    /** Cannot overflow: a rate of at most 1,000 tokens a second makes at most as many tokens as milliseconds. */
    private static long perSecond(long millis, long tokens) {
        return millis / 1000 * tokens + (millis % 1000 * tokens + 999) / 1000;
    }

    /**
     * Whether a file is audio: labelled audio or video, or labelled no more than "bytes" (none,
     * {@code application/octet-stream}) and starting as an audio file does. An image or a document
     * stays what its label says.
     */
    static boolean isAudio(String contentType, byte[] head) {
        String type = contentType == null ? "" : contentType.trim().toLowerCase(Locale.ROOT);
        if (type.startsWith("audio/") || type.startsWith("video/")) {
            return true;
        }
        boolean generic = type.isEmpty() || type.startsWith("application/octet-stream")
                || type.startsWith("binary/octet-stream");
        return generic && startsAsAudio(head);
    }

    private static boolean startsAsAudio(byte[] b) {
        return isWave(b) || id3Size(b, 0) >= 0 || firstFrame(b, 0) >= 0 || startsWith(b, 0, "fLaC")
                || startsWith(b, 0, "OggS") || startsWith(b, 0, "#!AMR")
                || b.length >= 4 && (b[0] & 0xFF) == 0x1A && (b[1] & 0xFF) == 0x45 && (b[2] & 0xFF) == 0xDF
                && (b[3] & 0xFF) == 0xA3
                || startsWith(b, 4, "ftyp") && MP4_BRANDS.stream().anyMatch(brand -> startsWith(b, 8, brand));
    }

    /**
     * Milliseconds of audio in a file whose first bytes are {@code head} (up to {@link #HEAD}) and
     * whose rest {@code rest} gives; {@code rest} is read to its end.
     */
    static long millis(byte[] head, InputStream rest) throws IOException {
        Counting in = new Counting(new BufferedInputStream(
                new SequenceInputStream(new ByteArrayInputStream(head), rest)));
        long read = isWave(head) ? wave(in) : mpeg(in);
        skip(in, Long.MAX_VALUE);
        return read >= 0 ? read : atLowestBitrate(in.count);
    }

    private static long atLowestBitrate(long bytes) {
        return millis(bytes, LOWEST_BITRATE / 8);
    }

    /** Milliseconds of {@code units} (bytes, samples) at {@code perSecond} (at most 2^32), rounded up. */
    private static long millis(long units, long perSecond) {
        long whole = units / perSecond;
        if (whole > Long.MAX_VALUE / 1000 - 1000) {
            return Long.MAX_VALUE;
        }
        return whole * 1000 + (units % perSecond * 1000 + perSecond - 1) / perSecond;
    }

    private static boolean isWave(byte[] b) {
        return startsWith(b, 0, "RIFF") && startsWith(b, 8, "WAVE");
    }

    /**
     * A WAV file's milliseconds from its {@code fmt } chunk's rate and the bytes from its
     * {@code data} chunk on, or -1 when it is not PCM or has no such chunks. The bytes present count,
     * not the chunk's declared size: a streamed WAV writes 0 or 0xFFFFFFFF there, and decoders read on
     * past a short size into further data chunks, so a header cannot shorten its audio.
     */
    private static long wave(InputStream in) throws IOException {
        skip(in, 12);
        long rate = -1;
        byte[] chunk = new byte[8];
        while (in.readNBytes(chunk, 0, 8) == 8) {
            long size = u32le(chunk, 4);
            if (startsWith(chunk, 0, "data")) {
                return rate > 0 ? millis(skip(in, Long.MAX_VALUE), rate) : -1;
            }
            long skipped = 0;
            if (startsWith(chunk, 0, "fmt ")) {
                byte[] fmt = in.readNBytes((int) Math.min(size, 40));
                rate = pcmRate(fmt);
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

    /**
     * An MP3's milliseconds, -1 when no frame is found: past its ID3v2 tags, the first MPEG Layer III
     * frame header that two more follow at the lengths their headers give (random bytes pass that
     * less than once in 10^14 positions), then every frame's samples. Frames are walked to the end
     * rather than the first one's bitrate or a Xing header's count trusted, so fast frames in front of
     * slow ones, or a header's count, cannot shorten the audio; bytes past a lost sync count at
     * {@link #LOWEST_BITRATE}.
     */
    private static long mpeg(InputStream in) throws IOException {
        byte[] window = in.readNBytes(HEAD);
        int start = 0;
        long tag;
        while ((tag = id3Size(window, start)) >= 0) {
            if (start + tag < window.length) {
                start += (int) tag;
            } else {
                skip(in, start + tag - window.length);
                window = in.readNBytes(HEAD);
                start = 0;
            }
        }
        int first = firstFrame(window, start);
        if (first < 0) {
            return -1;
        }
        InputStream frames = new SequenceInputStream(new ByteArrayInputStream(window, first, window.length - first), in);
        byte[] header = new byte[4];
        int sampleRate = sampleRate(window, first);
        long samples = 0;
        while (frames.readNBytes(header, 0, 4) == 4) {
            int length = frameLength(header, 0);
            if (length < 0 || !sameStream(header, 0, window, first)) {
                long heard = millis(samples, sampleRate) + atLowestBitrate(4 + skip(frames, Long.MAX_VALUE));
                return heard < 0 ? Long.MAX_VALUE : heard;
            }
            samples += (header[1] & 0x18) == 0x18 ? 1152 : 576;
            skip(frames, length - 4);
        }
        return millis(samples, sampleRate);
    }

    /** Where the first frame followed by two more of the same stream starts, at or after {@code from}; -1 if none. */
    private static int firstFrame(byte[] b, int from) {
        for (int i = from; i + 4 <= b.length; i++) {
            int at = i;
            int frames = 0;
            int length;
            while (frames < 3 && at + 4 <= b.length && (length = frameLength(b, at)) > 0 && sameStream(b, at, b, i)) {
                frames++;
                at += length;
            }
            if (frames == 3) {
                return i;
            }
        }
        return -1;
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
    private static long id3Size(byte[] b, int at) {
        if (!startsWith(b, at, "ID3") || b.length < at + 10) {
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

    /** Skips up to {@code n} bytes; how many there were. */
    private static long skip(InputStream in, long n) throws IOException {
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

    private static boolean startsWith(byte[] b, int at, String s) {
        if (b.length < at + s.length()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (b[at + i] != (byte) s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static long u16le(byte[] b, int i) {
        return (b[i] & 0xFF) | ((b[i + 1] & 0xFF) << 8);
    }

    private static long u32le(byte[] b, int i) {
        return u16le(b, i) | (u16le(b, i + 2) << 16);
    }

    /**
     * Counts the bytes read and skipped through it. Closing it leaves its stream open: a
     * {@link SequenceInputStream} closes what it has read to the end, and what is left of the file is
     * still to be counted; the file's owner closes it.
     */
    private static final class Counting extends FilterInputStream {
        long count;

        Counting(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) {
                count += n;
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long skipped = super.skip(n);
            count += Math.max(0, skipped);
            return skipped;
        }

        @Override
        public void close() {
        }
    }
}
