package io.tokenquota.servlet.breakit58;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.servlet.testing.Transcriptions;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Round 58 of issue 11: audio uploads held at their duration ({@code AudioDuration}, {@code MultipartBody}).
 * A 20,000-token allowance; OpenAI's own 25 MB upload limit under {@code /ai/v1/} (an operator serving
 * transcriptions must raise the 1 MiB default to take any recording). Audio bills 17 tokens a second
 * (gpt-4o-transcribe: 1,000 a minute; whisper-1 by the second at the same price).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRound58 {
    static final long ALLOWANCE = 20_000;
    static final long AUDIO_TOKENS_PER_SECOND = 17;

    TestDatabase db;
    JdbiQuotaStore store;
    EmbeddedContainer container;

    protected abstract ContainerKind kind();

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource())
                .policy(QuotaPolicy.builder().defaultAllocation(ALLOWANCE).build()).installSchema(true).build();
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/").maxBodyBytes("/ai/v1/", 25 << 20)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        container = kind().start(Deployment.create().filter("quota", filter, "/*")
                .multipartServlet("models", new Models(), new MultipartConfigElement("", 32 << 20, 32 << 20, 0), "/ai/v1/*"));
    }

    @AfterAll
    void stop() {
        if (container != null) container.close();
        if (store != null) store.close();
        if (db != null) db.close();
    }

    /**
     * The endpoints: a transcription answered with {@code response_format=text} (the transcript alone, no
     * usage), as OpenAI answers it, which reads the {@code file} part whatever its label (OpenAI goes by the
     * file name); and a summariser that reads the uploaded file as UTF-8 text and answers in plain text.
     */
    public static class Models extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getRequestURI();
            if (path.endsWith("/chat/completions")) {
                // OpenAI Chat Completions streamed without stream_options.include_usage: no usage in the stream
                req.getInputStream().readAllBytes();
                resp.setContentType("text/event-stream");
                resp.getOutputStream().write(("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The caller asked"
                        + " about the quarterly figures.\"}}]}\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
                return;
            }
            byte[] file;
            try {
                file = req.getPart("file").getInputStream().readAllBytes();
            } catch (ServletException e) {
                throw new IOException(e);
            }
            resp.setContentType("text/plain;charset=utf-8");
            if (path.endsWith("/audio/transcriptions")) {
                resp.getOutputStream().write("and then we looked at the quarterly figures again".getBytes(StandardCharsets.UTF_8));
            } else if (path.endsWith("/files/summarise")) {
                String text = new String(file, StandardCharsets.UTF_8);
                resp.getOutputStream().write(("Summary of " + text.length() + " characters: revenue grew.")
                        .getBytes(StandardCharsets.UTF_8));
            } else {
                resp.sendError(404);
            }
        }
    }

    static String subject() {
        return "u58-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> upload(String path, String subject, String fileName, String fileType, byte[] file) {
        return Transcriptions.post(container.uri(path), subject,
                "----b58" + UUID.randomUUID(), file, fileName, fileType);
    }

    long used(String subject) {
        return Ledgers.settled(store, subject).used();
    }

    String ledger(String subject) {
        return Ledgers.events(store, subject, YearMonth.now(ZoneOffset.UTC)).toString();
    }

    static void ascii(ByteBuffer b, String s) {
        b.put(s.getBytes(StandardCharsets.US_ASCII));
    }

    /** 8 kHz mu-law mono samples (8,000 bytes a second) of {@code seconds}: telephone speech. */
    static byte[] muLawSpeech(int seconds) {
        byte[] speech = new byte[8_000 * seconds];
        new Random(seconds).nextBytes(speech);
        return speech;
    }

    /** A 16-byte {@code fmt } chunk of 8 kHz mu-law mono, as every telephony system writes it. */
    static void muLawFmt(ByteBuffer b) {
        ascii(b, "fmt ");
        b.putInt(16).putShort((short) 7).putShort((short) 1).putInt(8_000).putInt(8_000).putShort((short) 1)
                .putShort((short) 8);
    }

    // ---------------------------------------------------------------------------------------------
    // Under-charge
    // ---------------------------------------------------------------------------------------------

    /**
     * A WAV with two {@code fmt } chunks. FFmpeg (what OpenAI and whisper decode with) parses only the
     * first ("only parse the first 'fmt ' tag found", libavformat/wavdec.c, a warning for the rest): 8 kHz
     * mu-law, so 4.8 MB of samples play 10 minutes. AudioDuration.wave() keeps the last one it meets, a
     * PCM chunk claiming 4,294,967,295 bytes a second, and measures the 10 minutes as 2 ms: held and
     * charged 21 tokens plus the fields for 10,200 tokens of audio.
     */
    @Test
    void aSecondFmtChunkThatFfmpegIgnoresCannotShortenTheAudio() {
        int seconds = 600;
        byte[] speech = muLawSpeech(seconds);
        ByteBuffer b = ByteBuffer.allocate(12 + 24 + 24 + 8 + speech.length).order(ByteOrder.LITTLE_ENDIAN);
        ascii(b, "RIFF");
        b.putInt(b.capacity() - 8);
        ascii(b, "WAVE");
        muLawFmt(b);
        ascii(b, "fmt ");
        b.putInt(16).putShort((short) 1).putShort((short) 1).putInt(0xFFFFFFFF).putInt(0xFFFFFFFF).putShort((short) 1)
                .putShort((short) 8);
        ascii(b, "data");
        b.putInt(speech.length).put(speech);
        String s = subject();
        HttpResponse<String> r = upload("/ai/v1/audio/transcriptions", s, "call.wav", "audio/wav", b.array());
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(used(s) >= seconds * AUDIO_TOKENS_PER_SECOND, "10 minutes of audio (" + seconds * AUDIO_TOKENS_PER_SECOND
                + " tokens billed) charged " + ledger(s));
    }

    /**
     * A WAV whose first 64 KB are a {@code LIST/INFO} comment (an {@code ICMT} of meeting notes, as
     * recorders and editors write): the head decodes as text, so MultipartBody takes the file for a text
     * file, then finds the whole file is not text and counts nothing. Neither its duration nor any text:
     * 15 minutes of speech (15,300 tokens billed) are held at the 1,000 fallback and the 1,000 output
     * budget. The same holds for an MP3 with 64 KB of lyrics in its ID3 tag (USLT).
     */
    @Test
    void aWavWithALongTextCommentInFrontIsStillHeldAtItsDuration() {
        int seconds = 900;
        byte[] speech = muLawSpeech(seconds);
        byte[] notes = Prose.english(70_000).substring(0, 70_000).getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocate(12 + 12 + 8 + notes.length + 24 + 8 + speech.length).order(ByteOrder.LITTLE_ENDIAN);
        ascii(b, "RIFF");
        b.putInt(b.capacity() - 8);
        ascii(b, "WAVE");
        ascii(b, "LIST");
        b.putInt(4 + 8 + notes.length);
        ascii(b, "INFO");
        ascii(b, "ICMT");
        b.putInt(notes.length).put(notes);
        muLawFmt(b);
        ascii(b, "data");
        b.putInt(speech.length).put(speech);
        String s = subject();
        HttpResponse<String> r = upload("/ai/v1/audio/transcriptions", s, "meeting.wav", "audio/wav", b.array());
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(used(s) >= seconds * AUDIO_TOKENS_PER_SECOND, "15 minutes of audio (" + seconds * AUDIO_TOKENS_PER_SECOND
                + " tokens billed) charged " + ledger(s));
    }

    /**
     * Three fast MP3 frames in front of slow ones, of another sample rate: MPEG-1 48 kHz 320 kbit/s (72 ms),
     * then 10 minutes of MPEG-2.5 8 kHz 8 kbit/s frames (a phone-quality voice MP3). The walker locks on the
     * first stream, takes the first slow frame for a lost sync and counts the rest at 16 kbit/s: 300 s.
     * FFmpeg (whisper's {@code ffmpeg -i f -f s16le -ac 1 -ar 16000 -}) decodes 600.1 s (19,203,360 bytes).
     * docs/estimation.md: "neither a few fast frames in front of slow ones ... can shorten the audio".
     */
    @Test
    void fastFramesOfAnotherSampleRateInFrontCannotHalveAnMp3() {
        ByteArrayOutputStream mp3 = new ByteArrayOutputStream();
        for (int i = 0; i < 3; i++) {
            mp3.writeBytes(new byte[] {(byte) 0xFF, (byte) 0xFB, (byte) ((14 << 4) | (1 << 2)), (byte) 0xC0});
            mp3.writeBytes(new byte[960 - 4]);
        }
        int frames = 600_000 / 72;
        for (int i = 0; i < frames; i++) {
            mp3.writeBytes(new byte[] {(byte) 0xFF, (byte) 0xE3, (byte) ((1 << 4) | (2 << 2)), (byte) 0xC0});
            mp3.writeBytes(new byte[72 - 4]);
        }
        String s = subject();
        HttpResponse<String> r = upload("/ai/v1/audio/transcriptions", s, "voicemail.mp3", "audio/mpeg", mp3.toByteArray());
        assertEquals(200, r.statusCode(), r.body());
        long billed = frames * 576L / 8_000 * AUDIO_TOKENS_PER_SECOND;
        assertTrue(used(s) >= billed, "an MP3 playing " + frames * 576L / 8_000 + " s (" + billed + " tokens billed) charged "
                + ledger(s));
    }

    /**
     * The same 10-minute WAV labelled {@code image/png}: OpenAI (and any relay that forwards the file name
     * and bytes) ignores the part's label, but isAudio() trusts it ("an image stays what its label says"),
     * so the file costs the 1,000 fallback. Issue 11 item 1: a label must not shrink the hold.
     */
    @Test
    void audioLabelledAsAnImageIsStillHeldAtItsDuration() {
        int seconds = 600;
        byte[] speech = muLawSpeech(seconds);
        ByteBuffer b = ByteBuffer.allocate(12 + 24 + 8 + speech.length).order(ByteOrder.LITTLE_ENDIAN);
        ascii(b, "RIFF");
        b.putInt(b.capacity() - 8);
        ascii(b, "WAVE");
        muLawFmt(b);
        ascii(b, "data");
        b.putInt(speech.length).put(speech);
        String s = subject();
        HttpResponse<String> r = upload("/ai/v1/audio/transcriptions", s, "call.wav", "image/png", b.array());
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(used(s) >= seconds * AUDIO_TOKENS_PER_SECOND, "10 minutes of audio (" + seconds * AUDIO_TOKENS_PER_SECOND
                + " tokens billed) labelled image/png charged " + ledger(s));
    }

    /**
     * A 15-minute FLAC of a quiet room (16 kHz, 16-bit mono, the flac tool's 4,096-sample blocks; digital
     * silence is stored as one CONSTANT subframe a block, 13 bytes per 256 ms). FLAC is measured by its size
     * at 16 kbit/s: 46 KB is 23 seconds. OpenAI bills the 15 minutes it decodes (15,300 tokens); the
     * documented bound ("below 16 kbit/s ... held short by up to a factor of 2.7") is exceeded 40 times.
     * The frame headers give every block's length, as MP3's do.
     */
    @Test
    void aLongQuietFlacIsHeldAtWhatADecoderPlays() {
        int seconds = 900;
        byte[] flac = silentFlac(16_000, seconds);
        String s = subject();
        HttpResponse<String> r = upload("/ai/v1/audio/transcriptions", s, "room.flac", "audio/flac", flac);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(used(s) >= seconds * AUDIO_TOKENS_PER_SECOND, flac.length + " bytes of FLAC playing " + seconds
                + " s (" + seconds * AUDIO_TOKENS_PER_SECOND + " tokens billed) charged " + ledger(s));
    }

    /**
     * A text file labelled audio at a summariser that reads the upload as text: an ID3v2 tag whose 64 KB
     * body is binary (album art), then 300 KB of English. The head is not text, so the file is "audio":
     * no MP3 frame, measured by size, 182 s, 3,100 tokens plus the 1,000 output budget. The model reads
     * 300,000 characters, about 66,000 tokens; answered in plain text (no usage) it is charged the 4,100
     * (should be refused on a 20,000 allowance, or charged the text). The same file labelled
     * application/octet-stream without the ID3 header is counted as text.
     */
    @Test
    void aTextFileDressedAsAudioIsChargedItsTextAtASummariser() {
        byte[] art = new byte[64 << 10];
        new Random(58).nextBytes(art);
        byte[] text = Prose.english(300_000).getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocate(10 + art.length + text.length);
        ascii(b, "ID3");
        b.put((byte) 4).put((byte) 0).put((byte) 0);
        int n = art.length;
        b.put((byte) ((n >> 21) & 0x7F)).put((byte) ((n >> 14) & 0x7F)).put((byte) ((n >> 7) & 0x7F)).put((byte) (n & 0x7F));
        b.put(art).put(text);
        String s = subject();
        HttpResponse<String> r = upload("/ai/v1/files/summarise", s, "notes.mp3", "audio/mpeg", b.array());
        long textTokens = text.length / 5;
        assertTrue(r.statusCode() == 429 || used(s) >= textTokens, "a summariser read " + text.length
                + " characters (over " + textTokens + " tokens) and answered " + r.statusCode() + ", charged " + ledger(s));
    }

    /**
     * The same 10-minute WAV sent where the filter does not measure audio: base64 {@code input_audio} of a
     * Chat Completions body (gpt-4o-audio-preview), streamed without {@code include_usage}, so the stream
     * reports no usage and is charged the estimate (documented). The estimate prices the audio as one
     * media item, 258 tokens, although the filter can read its duration: 6.4 MB of base64 held at about
     * 1,270 tokens. OpenAI bills audio input at one token per 100 ms: 6,000 tokens (17 a second by the
     * filter's own rate: 10,200).
     */
    @Test
    void base64InputAudioIsHeldAtItsDurationNotOneMediaItem() {
        int seconds = 600;
        byte[] speech = muLawSpeech(seconds);
        ByteBuffer b = ByteBuffer.allocate(12 + 24 + 8 + speech.length).order(ByteOrder.LITTLE_ENDIAN);
        ascii(b, "RIFF");
        b.putInt(b.capacity() - 8);
        ascii(b, "WAVE");
        muLawFmt(b);
        ascii(b, "data");
        b.putInt(speech.length).put(speech);
        String body = "{\"model\":\"gpt-4o-audio-preview\",\"stream\":true,\"modalities\":[\"text\"],\"messages\":[{\"role\":"
                + "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Summarise this call.\"},{\"type\":\"input_audio\","
                + "\"input_audio\":{\"format\":\"wav\",\"data\":\"" + java.util.Base64.getEncoder().encodeToString(b.array())
                + "\"}}]}]}";
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/v1/chat/completions"), body.getBytes(StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        long billed = seconds * 10L;
        assertTrue(used(s) >= billed, "10 minutes of input_audio (" + billed + " audio tokens billed by OpenAI) charged "
                + ledger(s));
    }

    // ---------------------------------------------------------------------------------------------
    // Over-charge
    // ---------------------------------------------------------------------------------------------

    /**
     * A one-minute phone video (MP4, 1080p: 15 MB, nearly all of it video) sent to transcriptions, which
     * OpenAI accepts (mp4 is on its list) and bills as the 60 s of audio it hears: 1,020 tokens. An ISO
     * {@code ftyp} of brand isom counts as audio measured by its size at 16 kbit/s: 7,500 s, held 157,500
     * tokens, and the user with 20,000 tokens left is refused 429.
     */
    @Test
    void aOneMinutePhoneVideoIsNotRefusedOnAnAllowanceTwentyTimesItsCost() {
        byte[] video = new byte[15 << 20];
        new Random(60).nextBytes(video);
        ByteBuffer b = ByteBuffer.wrap(video);
        b.putInt(24);
        ascii(b, "ftyp");
        ascii(b, "isom");
        b.putInt(512);
        ascii(b, "isom");
        ascii(b, "mp41");
        b.putInt(video.length - 24);
        ascii(b, "mdat");
        String s = subject();
        HttpResponse<String> r = upload("/ai/v1/audio/transcriptions", s, "IMG_0058.mp4", "video/mp4", video);
        assertEquals(200, r.statusCode(), "a 60-second video (1,020 audio tokens billed) on a 20,000 allowance: "
                + r.body());
    }

    /**
     * A 10-minute iPhone Voice Memo (AAC in M4A at 64 kbit/s: 4.8 MB) answered as text: OpenAI bills the
     * 10 minutes, 10,200 tokens, and the transcript is at most 2,400 more; the user has 20,000. Measured at
     * 16 kbit/s it is 40 minutes, held 50,400 tokens, and refused 429. (docs/estimation.md calls the
     * size rule's over-hold a trade-off; it turns an affordable honest upload of the commonest phone
     * format into a refusal, and charged as text it would cost four times what the provider bills.)
     */
    @Test
    void aTenMinuteVoiceMemoIsNotRefusedOnAnAllowanceThatCoversIt() {
        byte[] memo = new byte[600 * 8_000];
        new Random(64).nextBytes(memo);
        ByteBuffer b = ByteBuffer.wrap(memo);
        b.putInt(28);
        ascii(b, "ftyp");
        ascii(b, "M4A ");
        b.putInt(0);
        ascii(b, "M4A ");
        ascii(b, "mp42");
        ascii(b, "isom");
        b.putInt(memo.length - 28);
        ascii(b, "mdat");
        String s = subject();
        HttpResponse<String> r = upload("/ai/v1/audio/transcriptions", s, "New Recording.m4a", "audio/x-m4a", memo);
        assertEquals(200, r.statusCode(), "a 10-minute voice memo (10,200 audio tokens billed) on a 20,000 allowance: "
                + r.body());
    }

    // ---------------------------------------------------------------------------------------------

    /** A FLAC stream of {@code seconds} of digital silence, 16-bit mono, 4,096-sample blocks, valid CRCs. */
    static byte[] silentFlac(int rate, int seconds) {
        long total = (long) rate * seconds;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("fLaC".getBytes(StandardCharsets.US_ASCII));
        ByteBuffer info = ByteBuffer.allocate(4 + 34);
        info.put((byte) 0x80).put((byte) 0).put((byte) 0).put((byte) 34);
        info.putShort((short) 4096).putShort((short) 4096);
        info.put(new byte[6]);
        long packed = ((long) rate << 44) | (0L << 41) | (15L << 36) | total;
        info.putLong(packed);
        info.put(new byte[16]);
        out.writeBytes(info.array());
        long frames = (total + 4095) / 4096;
        for (long f = 0; f < frames; f++) {
            long samples = Math.min(4096, total - f * 4096);
            ByteArrayOutputStream frame = new ByteArrayOutputStream();
            frame.write(0xFF);
            frame.write(0xF8);
            int rateCode = rate == 16_000 ? 0x5 : rate == 8_000 ? 0x4 : 0xA; // 0xA: 48 kHz
            frame.write((samples == 4096 ? 0xC0 : 0x70) | rateCode);
            frame.write(0x08); // mono, 16 bits
            frame.writeBytes(utf8Number(f));
            if (samples != 4096) {
                frame.write((int) ((samples - 1) >> 8));
                frame.write((int) ((samples - 1) & 0xFF));
            }
            frame.write(crc8(frame.toByteArray()));
            frame.write(0x00); // CONSTANT subframe, no wasted bits
            frame.write(0x00);
            frame.write(0x00); // the sample value 0
            int crc = crc16(frame.toByteArray());
            frame.write(crc >> 8);
            frame.write(crc & 0xFF);
            out.writeBytes(frame.toByteArray());
        }
        return out.toByteArray();
    }

    private static byte[] utf8Number(long v) {
        if (v < 0x80) {
            return new byte[] {(byte) v};
        }
        if (v < 0x800) {
            return new byte[] {(byte) (0xC0 | (v >> 6)), (byte) (0x80 | (v & 0x3F))};
        }
        return new byte[] {(byte) (0xE0 | (v >> 12)), (byte) (0x80 | ((v >> 6) & 0x3F)), (byte) (0x80 | (v & 0x3F))};
    }

    private static int crc8(byte[] data) {
        int crc = 0;
        for (byte d : data) {
            crc ^= d & 0xFF;
            for (int i = 0; i < 8; i++) {
                crc = (crc & 0x80) != 0 ? ((crc << 1) ^ 0x07) & 0xFF : (crc << 1) & 0xFF;
            }
        }
        return crc;
    }

    private static int crc16(byte[] data) {
        int crc = 0;
        for (byte d : data) {
            crc ^= (d & 0xFF) << 8;
            for (int i = 0; i < 8; i++) {
                crc = (crc & 0x8000) != 0 ? ((crc << 1) ^ 0x8005) & 0xFFFF : (crc << 1) & 0xFFFF;
            }
        }
        return crc;
    }
}
