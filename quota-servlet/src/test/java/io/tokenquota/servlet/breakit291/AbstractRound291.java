package io.tokenquota.servlet.breakit291;

import static io.tokenquota.servlet.testing.MediaBytes.ascii;
import static io.tokenquota.servlet.testing.MediaBytes.box;
import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static io.tokenquota.servlet.testing.MediaBytes.u32;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Round 291 of issue 11: the media rules of round 287 (a video held at Gemini's 263 tokens a second,
 * "wherever a video is not transcribed: in {@code inlineData}, in an application's own field and in a
 * multipart upload", docs/decisions.md "Video is priced as Gemini reads it"; docs/estimation.md: "a
 * payload in any other place (an application's own field) is priced at these") depend on two things
 * the rules do not say: that the bytes are told as a video by the MP4's {@code ftyp} major brand
 * (a fixed list: {@code M4A }, {@code M4B }, {@code mp41}, {@code mp42}, {@code isom}, {@code iso2},
 * {@code dash}, {@code 3gp}, {@code qt  }), and that the payload sits in a place priced at Gemini's
 * rate (a Bedrock/Nova {@code source} is priced as Anthropic's image source: sound only, pictures
 * free).
 *
 * <p>The files are real ones. FFmpeg's {@code ipod} muxer (its {@code .m4v} and {@code -f ipod} output,
 * libavformat/movenc.c {@code mov_write_ftyp_tag}: {@code MODE_IPOD ? (has_video ? "M4V " : "M4A ")})
 * and Apple's iTunes/QuickTime exports write the major brand {@code M4V } ("Apple iTunes Video
 * (.M4V)", ftyps.com; MIME {@code video/x-m4v}); FFmpeg's mov demuxer opens it as any MP4 (the major
 * brand only names the file's family). Gemini takes it inline as {@code video/mp4}
 * (ai.google.dev/gemini-api/docs/video-understanding, "Pass video data inline"); Amazon Nova takes a
 * video in {@code {"video": {"format": "mp4", "source": {"bytes": <base64>}}}} of an InvokeModel
 * {@code messages-v1} body (docs.aws.amazon.com/nova/latest/userguide/modalities-video-examples.html)
 * and samples it at one frame a second up to 16 minutes (modalities-video.html, "Video size
 * information"), answering {@code usage.inputTokens / outputTokens / totalTokens}.
 */
abstract class AbstractRound291 extends ModelCallRound {

    static final ObjectMapper JSON = new ObjectMapper();
    /** Gemini's rate for video, tokens a second (ai.google.dev/gemini-api/docs/tokens, "Multimodal tokens"). */
    static final long VIDEO_RATE = 263;
    /**
     * What the mock Nova bills a sampled frame: the flat rate Nova bills an image (Nova 2 user guide,
     * "Image-token estimation": "usage is billed at a flat rate of 230 tokens per image"), taken for a
     * frame resized to 672 x 672. Below the filter's own video rate (263 a second at one frame a second):
     * the finding does not depend on the exact per-frame figure.
     */
    static final long NOVA_FRAME = 230;
    static final long OUTPUT = 300;
    static final String GEMINI = "/ai/gemini/v1beta/models/gemini-2.5-flash:generateContent";
    static final String NOVA = "/ai/bedrock/model/amazon.nova-lite-v1:0/invoke";
    static final String DESCRIBE = "/ai/app/video/describe";
    static final String QUESTION = "Summarize what happens in this screen recording, step by step.";
    static final String ANSWER = "The recording opens the settings page, turns on two-factor sign-in and saves.";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("gemini", new Gemini(), "/ai/gemini/*")
                .servlet("nova", new Nova(), "/ai/bedrock/*")
                .servlet("describe", new Describe(), "/ai/app/*");
    }

    /** What the model billed the application's calls, by subject (the usage its controller drops). */
    final Map<String, Long> reported = new ConcurrentHashMap<>();

    // ------------------------------------------------------------------ the models

    /** The duration of an MP4 by its {@code mvhd} (version 0), in whole seconds: what a decoder plays. */
    static long mp4Seconds(byte[] b) {
        for (int i = 4; i + 24 < b.length; i++) {
            if (b[i] == 'm' && b[i + 1] == 'v' && b[i + 2] == 'h' && b[i + 3] == 'd') {
                ByteBuffer h = ByteBuffer.wrap(b, i + 4, 20);
                h.getInt();
                h.getInt();
                h.getInt();
                long timescale = Integer.toUnsignedLong(h.getInt());
                return Integer.toUnsignedLong(h.getInt()) / timescale;
            }
        }
        throw new IllegalArgumentException("no mvhd");
    }

    static long textTokens(String text) {
        return Math.max(1, text.length() / 4);
    }

    /** Gemini's {@code generateContent}: its promptTokenCount for the inline videos (263 a second) and texts. */
    class Gemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            long prompt = 0;
            for (JsonNode content : body.path("contents")) {
                for (JsonNode part : content.path("parts")) {
                    if (part.has("inlineData")) {
                        prompt += VIDEO_RATE * mp4Seconds(Base64.getDecoder().decode(part.get("inlineData").get("data").asText()));
                    } else {
                        prompt += textTokens(part.path("text").asText());
                    }
                }
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json; charset=UTF-8");
            resp.getOutputStream().write(("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + ANSWER
                    + "\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":"
                    + prompt + ",\"candidatesTokenCount\":" + OUTPUT + ",\"totalTokenCount\":" + (prompt + OUTPUT)
                    + "},\"modelVersion\":\"gemini-2.5-flash\"}").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * Bedrock's InvokeModel of Amazon Nova ({@code messages-v1}): a video sampled at one frame a second,
     * each frame billed at least {@link #NOVA_FRAME}; its answer's {@code usage} as Nova writes it.
     */
    class Nova extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            long input = 0;
            for (JsonNode message : body.path("messages")) {
                for (JsonNode block : message.path("content")) {
                    if (block.has("video")) {
                        input += NOVA_FRAME * mp4Seconds(Base64.getDecoder().decode(block.get("video").get("source").get("bytes").asText()));
                    } else {
                        input += textTokens(block.path("text").asText());
                    }
                }
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"output\":{\"message\":{\"content\":[{\"text\":\"" + ANSWER
                    + "\"}],\"role\":\"assistant\"}},\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":" + input
                    + ",\"outputTokens\":" + OUTPUT + ",\"totalTokens\":" + (input + OUTPUT)
                    + ",\"cacheReadInputTokenCount\":0,\"cacheWriteInputTokenCount\":0}}").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * An application's endpoint taking a browser's upload as JSON: {@code {"video": <data: URL>,
     * "question": …}}, the data URL from {@code FileReader.readAsDataURL(file)} (MDN: "the result attribute
     * contains the data as a data: URL representing the file's data as a base64 encoded string"). It sends
     * the video to Gemini with Spring AI ({@code .media(MimeTypeUtils.parseMimeType("video/mp4"), resource)},
     * docs.spring.io/spring-ai, "VertexAI Gemini Chat", "Multimodal") and returns {@code .call().content()}:
     * the text alone, no usage.
     */
    class Describe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String url = body.get("video").asText();
            byte[] video = Base64.getDecoder().decode(url.substring(url.indexOf(',') + 1));
            calls.count(req.getHeader("x-user-id"));
            reported.put(req.getHeader("x-user-id"), VIDEO_RATE * mp4Seconds(video) + textTokens(QUESTION) + OUTPUT);
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write(ANSWER);
        }
    }

    // ------------------------------------------------------------------ the media

    /**
     * A 640x360 H.264 screen recording of {@code seconds} at one frame a second, {@code moov} first, its
     * {@code ftyp} of major brand {@code brand} and the compatible brands {@code compatible}; with
     * {@code sound}, a second track of 8 kHz mono mu-law ({@code ulaw}) as long as the pictures.
     */
    static byte[] recording(String brand, String compatible, int seconds, boolean sound) {
        int frameBytes = 3_000;
        int rate = 8_000;
        byte[] ftyp = box("ftyp", ascii(brand), u32(0x200), ascii(compatible));
        byte[] mvhd = box("mvhd", u32(0), u32(0), u32(0), u32(1000), u32(seconds * 1000L),
                u32(0x00010000), new byte[] {1, 0}, new byte[10],
                u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0), u32(0x40000000),
                new byte[24], u32(sound ? 3 : 2));
        byte[] vtkhd = box("tkhd", u32(3), u32(0), u32(0), u32(1), u32(0), u32(seconds * 1000L), new byte[8],
                new byte[4], new byte[4],
                u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0), u32(0x40000000),
                u32(640L << 16), u32(360L << 16));
        byte[] vmdhd = box("mdhd", u32(0), u32(0), u32(0), u32(1000), u32(seconds * 1000L), new byte[] {0x55, (byte) 0xc4, 0, 0});
        byte[] vhdlr = box("hdlr", u32(0), u32(0), ascii("vide"), new byte[12], ascii("VideoHandler\0"));
        byte[] vmhd = box("vmhd", u32(1), new byte[8]);
        byte[] dinf = box("dinf", box("dref", u32(0), u32(1), box("url ", u32(1))));
        byte[] avcC = box("avcC", new byte[] {1, 0x42, (byte) 0xc0, 0x1e, (byte) 0xff, (byte) 0xe1, 0, 9,
                0x67, 0x42, (byte) 0xc0, 0x1e, (byte) 0xd9, 0x00, (byte) 0xa0, 0x2f, (byte) 0xf9, 1, 0, 4, 0x68, (byte) 0xcb,
                (byte) 0x83, (byte) 0xcb});
        byte[] avc1 = box("avc1", new byte[6], new byte[] {0, 1}, new byte[16], new byte[] {2, (byte) 0x80, 1, 0x68},
                u32(0x00480000), u32(0x00480000), u32(0), new byte[] {0, 1}, new byte[32], new byte[] {0, 0x18, (byte) 0xff,
                        (byte) 0xff}, avcC);
        byte[] vstbl = cat(box("stsd", u32(0), u32(1), avc1), box("stts", u32(0), u32(1), u32(seconds), u32(1000)),
                box("stss", u32(0), u32(1), u32(1)), box("stsc", u32(0), u32(1), u32(1), u32(seconds), u32(1)),
                box("stsz", u32(0), u32(frameBytes), u32(seconds)));
        byte[] stkhd = box("tkhd", u32(3), u32(0), u32(0), u32(2), u32(0), u32(seconds * 1000L), new byte[8],
                new byte[] {0, 0, 0, 1}, new byte[] {1, 0, 0, 0},
                u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0), u32(0x40000000),
                u32(0), u32(0));
        byte[] smdhd = box("mdhd", u32(0), u32(0), u32(0), u32(rate), u32((long) seconds * rate), new byte[] {0x55, (byte) 0xc4, 0, 0});
        byte[] shdlr = box("hdlr", u32(0), u32(0), ascii("soun"), new byte[12], ascii("SoundHandler\0"));
        byte[] smhd = box("smhd", new byte[8]);
        // a QuickTime/ISO sound sample entry, version 0: 1 channel, 8 bits, 8,000 Hz (16.16)
        byte[] ulaw = box("ulaw", new byte[6], new byte[] {0, 1}, new byte[8], new byte[] {0, 1}, new byte[] {0, 8},
                new byte[4], u32((long) rate << 16));
        byte[] sstbl = cat(box("stsd", u32(0), u32(1), ulaw), box("stts", u32(0), u32(1), u32((long) seconds * rate), u32(1)),
                box("stsc", u32(0), u32(1), u32(1), u32((long) seconds * rate), u32(1)),
                box("stsz", u32(0), u32(1), u32((long) seconds * rate)));
        Function<long[], byte[]> moovWith = offsets -> {
            byte[] video = box("trak", vtkhd, box("mdia", vmdhd, vhdlr, box("minf", vmhd, dinf,
                    box("stbl", vstbl, box("stco", u32(0), u32(1), u32(offsets[0]))))));
            byte[] audio = box("trak", stkhd, box("mdia", smdhd, shdlr, box("minf", smhd, dinf,
                    box("stbl", sstbl, box("stco", u32(0), u32(1), u32(offsets[1]))))));
            return sound ? box("moov", mvhd, video, audio) : box("moov", mvhd, video);
        };
        long first = ftyp.length + moovWith.apply(new long[2]).length + 8;
        byte[] moov = moovWith.apply(new long[] {first, first + (long) seconds * frameBytes});
        byte[] frames = new byte[seconds * frameBytes];
        Random noise = new Random(291);
        noise.nextBytes(frames);
        for (int i = 0; i < seconds; i++) {
            ByteBuffer.wrap(frames, i * frameBytes, 5).putInt(frameBytes - 4).put((byte) (i == 0 ? 0x65 : 0x41));
        }
        byte[] samples = new byte[sound ? seconds * rate : 0];
        for (int i = 0; i < samples.length; i++) {
            // a quiet 220 Hz tone in mu-law (no silence)
            samples[i] = (byte) (0x70 + (int) (8 * Math.sin(i * 2 * Math.PI * 220 / rate)));
        }
        return cat(ftyp, moov, box("mdat", frames, samples));
    }

    /** FFmpeg's {@code -f ipod} output, as Apple's .m4v exports: major brand {@code M4V }. */
    static byte[] m4v(int seconds, boolean sound) {
        return recording("M4V ", "M4V M4A mp42isom", seconds, sound);
    }

    /** FFmpeg's {@code -f mp4} output: major brand {@code isom} (the control). */
    static byte[] mp4(int seconds, boolean sound) {
        return recording("isom", "isomiso2avc1mp41", seconds, sound);
    }

    static String b64(byte[] bytes) {
        return Base64.getEncoder().encodeToString(bytes);
    }

    static String gemini(byte[] video) {
        return "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"inlineData\":{\"mimeType\":\"video/mp4\",\"data\":\""
                + b64(video) + "\"}},{\"text\":\"" + QUESTION + "\"}]}],\"generationConfig\":{\"maxOutputTokens\":" + OUTPUT + "}}";
    }

    static String nova(byte[] video) {
        return "{\"schemaVersion\":\"messages-v1\",\"system\":[{\"text\":\"You are an expert media analyst.\"}],"
                + "\"messages\":[{\"role\":\"user\",\"content\":[{\"video\":{\"format\":\"mp4\",\"source\":{\"bytes\":\""
                + b64(video) + "\"}}},{\"text\":\"" + QUESTION + "\"}]}],\"inferenceConfig\":{\"maxTokens\":" + OUTPUT
                + ",\"topP\":0.1,\"topK\":20,\"temperature\":0.3}}";
    }

    static String describe(String dataUrlType, byte[] video) {
        return "{\"video\":\"data:" + dataUrlType + ";base64," + b64(video) + "\",\"question\":\"" + QUESTION + "\"}";
    }

    List<Integer> calls(int times, String path, String s, String body) {
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < times; i++) {
            statuses.add(TestHttp.postJson(container.uri(path), s, body).statusCode());
        }
        return statuses;
    }

    // ------------------------------------------------------------------ the attacks

    /**
     * A 30-second recording exported as .m4v (major brand {@code M4V }), sent inline to Gemini as
     * {@code video/mp4}, three times: Gemini bills 30 x 263 = 7,890 of video, the question and 300 out
     * each time (8,205). The same file written by {@code -f mp4} ({@code isom}) is held at that and the
     * third call is refused (the control below); as {@code M4V } the video is not recognised and the
     * call is held at one media item, so the third call is served past the 20,000 allowance.
     */
    @Test
    void anInlineM4vVideoIsHeldAtWhatGeminiReads() {
        String body = gemini(m4v(30, false));
        String s = subject();
        List<Integer> statuses = calls(3, GEMINI, s, body);
        assertWithinAllowance(s, "calls of a 30 s inline .m4v video (" + (VIDEO_RATE * 30 + textTokens(QUESTION) + OUTPUT)
                + " tokens each by Gemini's count)", statuses);
    }

    /**
     * A 30-second recording with sound sent to Amazon Nova (InvokeModel, {@code messages-v1}) in its
     * documented video block: Nova samples 30 frames (at least 230 each, 6,900) and bills them with the
     * question and 300 out. The filter prices the payload of a {@code source} object at Anthropic's rate,
     * where a recording is its sound at 10 tokens a second and its pictures nothing, though its own rule
     * puts video at 263 a second wherever it is not transcribed: the third call is served past the
     * allowance.
     */
    @Test
    void aNovaVideoBlockIsHeldAtItsPictures() {
        String body = nova(mp4(30, true));
        String s = subject();
        List<Integer> statuses = calls(3, NOVA, s, body);
        assertWithinAllowance(s, "calls of a 30 s video to Nova (" + (NOVA_FRAME * 30 + textTokens(QUESTION) + OUTPUT)
                + " tokens each by Nova's count, at least)", statuses);
    }

    /**
     * A browser's .m4v upload ({@code FileReader.readAsDataURL}: {@code data:video/x-m4v;base64,…}) in an
     * application's own field, answered with the model's text alone (no usage): a whole answer without
     * usage is charged its estimate, and the documented estimate of a video in an application's own
     * field is 263 a second (7,890 for 30 s). The data URL says {@code video/}; the bytes are an MP4 any
     * decoder plays.
     */
    @Test
    void anM4vDataUrlAnsweredWithoutUsageIsChargedItsVideo() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(DESCRIBE), s, describe("video/x-m4v", m4v(30, false)));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= VIDEO_RATE * 30, kind() + ": a 30 s .m4v video Gemini billed " + reported.get(s)
                + " for, answered without usage, charged " + used + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same recording as {@code -f mp4} writes it ({@code isom}) stops at the allowance. */
    @Test
    void controlAnInlineIsomVideoStopsAtTheAllowance() {
        String body = gemini(mp4(30, false));
        String s = subject();
        List<Integer> statuses = calls(3, GEMINI, s, body);
        assertWithinAllowance(s, "calls of a 30 s inline .mp4 video", statuses);
        assertEquals(List.of(200, 200, 429), statuses, kind() + ": " + ledger(s));
    }

    /** Control: the same upload written as {@code -f mp4} writes it ({@code isom}) is charged its video. */
    @Test
    void controlAnIsomDataUrlAnsweredWithoutUsageIsChargedItsVideo() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(DESCRIBE), s, describe("video/mp4", mp4(30, false)));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= VIDEO_RATE * 30, kind() + ": a 30 s .mp4 video answered without usage charged " + used + ": "
                + ledger(s));
    }

    /** Control: a Nova call is charged its usage exactly (the harness reads Nova's answer). */
    @Test
    void controlANovaCallIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(NOVA), s, nova(mp4(10, true)));
        assertServedOnceAndCharged(s, r, NOVA_FRAME * 10 + textTokens(QUESTION) + OUTPUT);
    }
}
