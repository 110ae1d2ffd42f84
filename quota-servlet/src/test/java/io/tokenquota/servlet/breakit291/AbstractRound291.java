package io.tokenquota.servlet.breakit291;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.GeminiVideoModel;
import io.tokenquota.servlet.testing.MediaBytes;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
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
                .servlet("gemini", new GeminiVideoModel(calls, data -> MediaBytes.mp4Seconds(Base64.getDecoder().decode(data)), ANSWER, OUTPUT), "/ai/gemini/*")
                .servlet("nova", new Nova(), "/ai/bedrock/*")
                .servlet("describe", new Describe(), "/ai/app/*");
    }

    /** What the model billed the application's calls, by subject (the usage its controller drops). */
    final Map<String, Long> reported = new ConcurrentHashMap<>();

    // ------------------------------------------------------------------ the models

    static long textTokens(String text) {
        return GeminiVideoModel.textTokens(text);
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
                        input += NOVA_FRAME * MediaBytes.mp4Seconds(Base64.getDecoder().decode(block.get("video").get("source").get("bytes").asText()));
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
            reported.put(req.getHeader("x-user-id"), VIDEO_RATE * MediaBytes.mp4Seconds(video) + textTokens(QUESTION) + OUTPUT);
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write(ANSWER);
        }
    }

    // ------------------------------------------------------------------ the media

    /** FFmpeg's {@code -f ipod} output, as Apple's .m4v exports: major brand {@code M4V }. */
    static byte[] m4v(int seconds, boolean sound) {
        return MediaBytes.recording("M4V ", "M4V M4A mp42isom", seconds, sound);
    }

    /** FFmpeg's {@code -f mp4} output: major brand {@code isom} (the control). */
    static byte[] mp4(int seconds, boolean sound) {
        return MediaBytes.recording("isom", "isomiso2avc1mp41", seconds, sound);
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
