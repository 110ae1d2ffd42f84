package io.tokenquota.servlet.breakit65;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import static io.tokenquota.servlet.testing.MediaBytes.ascii;
import static io.tokenquota.servlet.testing.MediaBytes.box;
import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static io.tokenquota.servlet.testing.MediaBytes.faststartSoundTrack;
import static io.tokenquota.servlet.testing.MediaBytes.u32;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.servlet.testing.Transcriptions;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.UUID;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;

/**
 * Round 65 of issue 11: the code changed most recently. Images measured by their headers and priced
 * by the named model, audio uploads timed by their containers' tables, and which 2xx event streams
 * are released as a provider's error.
 */
abstract class AbstractRound65 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Model calls per subject. */
    static final ModelCalls CALLS = new ModelCalls();

    static String subject() {
        return "u65-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("chat", new StreamingChat(), "/ai/v1/chat/*")
                .servlet("relay", new NaiveRelay(), "/ai/v1/relay")
                .multipartServlet("audio", new CountingTranscriptions(), Transcriptions.upTo4Mb(), "/ai/v1/audio/*");
    }

    /**
     * An OpenAI-compatible chat endpoint relaying a stream the client asked for without
     * {@code stream_options.include_usage}: the upstream reports no usage, so the estimate is the charge.
     */
    public static class StreamingChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            CALLS.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            var out = resp.getOutputStream();
            out.write(("data: {\"id\":\"chatcmpl-65\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","
                    + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"The second parcel is "
                    + "crushed at its corner.\"},\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
            out.write(("data: {\"id\":\"chatcmpl-65\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\","
                    + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n").getBytes(StandardCharsets.UTF_8));
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A hand-written relay for a chat UI: it calls the model without streaming and sends the whole
     * answer text to the browser as one server-sent event, {@code "data: " + text + "\n\n"} (no usage:
     * the estimate is the charge). The mock model does what the user asks: it repeats the text after the
     * user's first line verbatim.
     */
    public static class NaiveRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            CALLS.count(req.getHeader("x-user-id"));
            JsonNode messages = body.path("messages");
            String prompt = messages.get(messages.size() - 1).path("content").asText();
            int nl = prompt.indexOf('\n');
            String answer = nl < 0 ? "Paris is the capital of France." : prompt.substring(nl + 1);
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            resp.getOutputStream().write(("data: " + answer + "\n\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** OpenAI's transcriptions with {@code response_format=text}: the transcript alone, no usage. */
    public static class CountingTranscriptions extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            try {
                req.getPart("file").getInputStream().readAllBytes();
            } catch (jakarta.servlet.ServletException e) {
                throw new IOException(e);
            }
            CALLS.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=utf-8");
            resp.getOutputStream().write("and then we went through the delivery schedule once more".getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ helpers


    static byte[] pngChunk(String type, byte[] data) {
        CRC32 crc = new CRC32();
        crc.update(ascii(type));
        crc.update(data);
        return cat(u32(data.length), ascii(type), data, u32(crc.getValue()));
    }

    /**
     * A grey PNG of {@code width} x {@code height}, well formed (CRCs, zlib data), with {@code before}
     * chunks between the signature and IHDR.
     */
    static byte[] png(int width, int height, byte[]... before) {
        byte[] raw = new byte[(width + 1) * height];
        Deflater deflater = new Deflater();
        deflater.setInput(raw);
        deflater.finish();
        ByteArrayOutputStream z = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        while (!deflater.finished()) {
            z.write(buf, 0, deflater.deflate(buf));
        }
        deflater.end();
        byte[] ihdr = pngChunk("IHDR", cat(u32(width), u32(height), new byte[] {8, 0, 0, 0, 0}));
        return cat(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, cat(before), ihdr,
                pngChunk("IDAT", z.toByteArray()), pngChunk("IEND", new byte[0]));
    }

    static String dataUrl(byte[] png) {
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(png);
    }

    /** A streamed chat request (no include_usage) with {@code parts} (JSON) after a question. */
    String streamedChat(String model, String parts) {
        String s = subject();
        String body = "{\"model\":\"" + model + "\",\"stream\":true,\"max_tokens\":50,\"messages\":[{\"role\":\"user\","
                + "\"content\":[{\"type\":\"text\",\"text\":\"Which of these parcels is damaged?\"}," + parts + "]}]}";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(s), "the model ran once");
        return s;
    }

    static String imageByUrl(String url, String detail) {
        return "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + url + "\",\"detail\":\"" + detail + "\"}}";
    }

    // ------------------------------------------------------------------ (a) images priced by the named model

    /**
     * A fine-tuned gpt-4o-mini (OpenAI names it {@code ft:gpt-4o-mini-2024-07-18:org::id}) reading
     * three parcel photos by URL at low detail, streamed without usage. gpt-4o-mini bills a low-detail
     * image 2,833 tokens (a fine-tune bills images as its base model does), 8,499 for three; the
     * filter matches model names by their start after a {@code provider/} prefix, so {@code ft:} hides
     * the family and each image is held at 85 (258, mediaItemTokens).
     */
    @Test
    void fineTunedGpt4oMiniLowDetailImagesByUrlAreHeldAtGpt4oRates() {
        String parts = imageByUrl("https://cdn.example.com/p1.jpg", "low") + "," + imageByUrl("https://cdn.example.com/p2.jpg", "low")
                + "," + imageByUrl("https://cdn.example.com/p3.jpg", "low");
        String s = streamedChat("ft:gpt-4o-mini-2024-07-18:acme-logistics::A1b2C3d4", parts);
        long charged = settled(s).used();
        assertTrue(charged >= 3 * 2_833, "three low-detail images on a fine-tuned gpt-4o-mini (8,499 image tokens billed)"
                + " were charged " + charged + ": " + ledger(s));
    }

    /** Control: the same request naming {@code gpt-4o-mini-2024-07-18} is held at gpt-4o-mini's low-detail figure. */
    @Test
    void controlGpt4oMiniLowDetailImagesByUrlAreHeldAtItsRate() {
        String parts = imageByUrl("https://cdn.example.com/p1.jpg", "low") + "," + imageByUrl("https://cdn.example.com/p2.jpg", "low")
                + "," + imageByUrl("https://cdn.example.com/p3.jpg", "low");
        String s = streamedChat("gpt-4o-mini-2024-07-18", parts);
        long charged = settled(s).used();
        assertTrue(charged >= 3 * 2_833, "charged " + charged + ": " + ledger(s));
    }

    /**
     * A 512x1024 PNG whose first chunk is a private ancillary chunk ({@code prVw}, 8 bytes: 1, 1)
     * before IHDR. Pillow's PngImageFile walks the chunks up to IDAT and takes IHDR wherever it is
     * (unknown chunks are read and CRC-checked), so the provider sees 512x1024: on gpt-4o-mini 2,833 +
     * 2 tiles x 5,667 = 14,167 tokens. The filter reads the width and height at byte 16 whatever the
     * first chunk is: 1x1, one tile, 8,500.
     */
    @Test
    void aPngWhoseIhdrIsNotTheFirstChunkIsMeasuredFromAnotherChunk() {
        byte[] png = png(512, 1024, pngChunk("prVw", cat(u32(1), u32(1))));
        String s = streamedChat("gpt-4o-mini", "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + dataUrl(png) + "\"}}");
        long charged = settled(s).used();
        assertTrue(charged >= 14_167, "a 512x1024 image on gpt-4o-mini (14,167 image tokens billed) was charged "
                + charged + ": " + ledger(s));
    }

    /** Control: the same image with IHDR first is charged its two tiles. */
    @Test
    void controlAPngWithIhdrFirstIsMeasured() {
        byte[] png = png(512, 1024);
        String s = streamedChat("gpt-4o-mini", "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + dataUrl(png) + "\"}}");
        long charged = settled(s).used();
        assertTrue(charged >= 14_167, "charged " + charged + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ (d) which 2xx streams are released

    /**
     * A relay that writes the model's answer text raw into one event ({@code "data: " + text + "\n\n"}).
     * The client asks the model to repeat an Anthropic overload error followed by a line
     * {@code event: error}. The answer on the wire is then one data line holding an error-shaped
     * document, and an {@code event:} line of the same event that the model wrote, not the server.
     * The model ran (400-token budget), but the stream reads as "the only event is a provider's error":
     * released, free. (The filter already treats a second data line or a lone CR as the model's
     * writing; an {@code event:} line is not.)
     */
    @Test
    void aModelWrittenEventLineMakesARelayedAnswerAProviderError() {
        String s = subject();
        String prompt = "Repeat the following two lines exactly, nothing else:\n"
                + "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\nevent: error";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/relay"), s,
                "{\"model\":\"gpt-4o\",\"max_tokens\":400,\"messages\":[{\"role\":\"user\",\"content\":" + quote(prompt) + "}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(s), "the model ran once");
        long charged = settled(s).used();
        assertTrue(charged >= 400, "a model call that ran (a 400-token budget, no usage reported) was charged " + charged
                + "; the answer was " + r.body().replace("\n", "\\n") + ": " + ledger(s));
    }

    /** Control: the same relay with an ordinary answer is charged its estimate. */
    @Test
    void controlTheRelayedAnswerIsChargedItsEstimate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/relay"), s,
                "{\"model\":\"gpt-4o\",\"max_tokens\":400,\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        long charged = settled(s).used();
        assertTrue(charged >= 400, "charged " + charged + ": " + ledger(s));
    }

    static String quote(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    // ------------------------------------------------------------------ (b) audio: codecs without a floor

    /** 10 minutes of AMR-NB: 30,000 frames of 20 ms. */
    static final int AMR_FRAMES = 30_000;

    /**
     * A 3GP voice memo of {@link #AMR_FRAMES} AMR-NB frames (4.75 kbit/s, 13 bytes each, 8 kHz mono as
     * its {@code samr} entry says), {@code moov} first, its {@code mdhd} timescale {@code timescale} and
     * its {@code stts} one entry of every frame at {@code delta}.
     */
    static byte[] amr3gp(long timescale, long delta) {
        int frames = AMR_FRAMES;
        int frameBytes = 13;
        byte[] ftyp = box("ftyp", ascii("3gp4"), u32(0), ascii("3gp4isom"));
        byte[] mdhd = box("mdhd", u32(0), u32(0), u32(0), u32(timescale), u32(frames * delta), new byte[] {0x55, (byte) 0xc4, 0, 0});
        byte[] hdlr = box("hdlr", u32(0), u32(0), ascii("soun"), new byte[12], ascii("SoundHandler\0"));
        byte[] damr = box("damr", ascii("FFMP"), new byte[] {0, (byte) 0x81, (byte) 0xFF, 0, 1});
        byte[] samr = box("samr", new byte[6], new byte[] {0, 1}, new byte[8], new byte[] {0, 2, 0, 16}, new byte[4],
                u32(8_000L << 16), damr);
        byte[] stsd = box("stsd", u32(0), u32(1), samr);
        byte[] stts = box("stts", u32(0), u32(1), u32(frames), u32(delta));
        byte[] stsz = box("stsz", u32(0), u32(frameBytes), u32(frames));
        byte[] stsc = box("stsc", u32(0), u32(1), u32(1), u32(frames), u32(1));
        byte[] samples = new byte[frames * frameBytes];
        for (int i = 0; i < frames; i++) {
            // frame header: FT 0 (4.75 kbit/s), Q 1
            samples[i * frameBytes] = 0x04;
        }
        return faststartSoundTrack(ftyp, 600_000, mdhd, hdlr, cat(stsd, stts, stsz, stsc), samples);
    }

    /**
     * A QuickTime movie of {@code samples} mu-law samples (8 kHz mono, QuickTime's {@code ulaw} entry),
     * each its own sample in the tables, as QuickTime writes uncompressed sound.
     */
    static byte[] ulawMov(int samples, long timescale, long delta) {
        byte[] ftyp = box("ftyp", ascii("qt  "), u32(0), ascii("qt  "));
        byte[] mdhd = box("mdhd", u32(0), u32(0), u32(0), u32(timescale), u32(samples * delta), new byte[] {0x55, (byte) 0xc4, 0, 0});
        byte[] hdlr = box("hdlr", u32(0), ascii("mhlr"), ascii("soun"), new byte[12], new byte[] {0});
        byte[] ulaw = box("ulaw", new byte[6], new byte[] {0, 1}, new byte[8], new byte[] {0, 1, 0, 16}, new byte[4],
                u32(8_000L << 16));
        byte[] stsd = box("stsd", u32(0), u32(1), ulaw);
        byte[] stts = box("stts", u32(0), u32(1), u32(samples), u32(delta));
        byte[] stsz = box("stsz", u32(0), u32(1), u32(samples));
        byte[] stsc = box("stsc", u32(0), u32(1), u32(1), u32(samples), u32(1));
        byte[] data = new byte[samples];
        java.util.Random random = new java.util.Random(65);
        random.nextBytes(data);
        return faststartSoundTrack(ftyp, 120_000, mdhd, hdlr, cat(stsd, stts, stsz, stsc), data);
    }

    /** A transcription request ({@code response_format=text}) of {@code file}; the subject charged for it. */
    String transcribe(byte[] file, String filename, String type) {
        String s = subject();
        HttpResponse<String> r = Transcriptions.post(container.uri("/ai/v1/audio/transcriptions"), s,
                "----b65" + UUID.randomUUID(), file, filename, type);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(s), "the model ran once");
        return s;
    }

    /**
     * A 10-minute AMR-NB voice memo (3GP, what phones record) under an {@code mdhd} timescale of
     * 10^9 with {@code stts} deltas of 1: its timestamps span 30 µs. An AMR-NB frame decodes to 160
     * samples at 8 kHz (20 ms) whatever the timestamps say, as an AAC frame decodes to 1,024: the
     * decoder plays 600 s, billed 10,200 audio tokens. The filter's decoded floor has no rule for AMR
     * ("keeps its timestamps"), so the recording is held at its fields alone.
     */
    @Test
    void aHugeMdhdTimescaleShrinksAnAmrVoiceMemo() {
        String s = transcribe(amr3gp(1_000_000_000L, 1), "memo.3gp", "audio/3gpp");
        long charged = settled(s).used();
        assertTrue(charged >= 600 * 17, "10 minutes of AMR-NB (10,200 audio tokens billed) under a 10^9 timescale were"
                + " charged " + charged + ": " + ledger(s));
    }

    /** Control: the same memo with honest tables (8 kHz timescale, 160 a frame) is charged its 600 s. */
    @Test
    void controlAnAmrVoiceMemoWithHonestTablesIsChargedItsDuration() {
        String s = transcribe(amr3gp(8_000, 160), "memo.3gp", "audio/3gpp");
        long charged = settled(s).used();
        assertTrue(charged >= 600 * 17, "charged " + charged + ": " + ledger(s));
    }

    /**
     * Two minutes of 8 kHz mu-law in a QuickTime movie (960,000 one-byte samples, 960 KB) whose
     * {@code mdhd} timescale is 10^9: timestamps spanning under a millisecond. A PCM decoder turns
     * every byte into one sample at the entry's 8 kHz: 120 s heard and billed (2,040 audio tokens).
     * PCM has no decoded floor in the filter either.
     */
    @Test
    void aHugeMdhdTimescaleShrinksUncompressedQuickTimeSound() {
        String s = transcribe(ulawMov(960_000, 1_000_000_000L, 1), "call.mov", "video/quicktime");
        long charged = settled(s).used();
        assertTrue(charged >= 120 * 17, "2 minutes of mu-law (2,040 audio tokens billed) under a 10^9 timescale were"
                + " charged " + charged + ": " + ledger(s));
    }
}
