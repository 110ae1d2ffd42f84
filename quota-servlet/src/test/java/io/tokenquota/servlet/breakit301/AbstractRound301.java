package io.tokenquota.servlet.breakit301;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.GeminiVideoModel;
import io.tokenquota.servlet.testing.H264Files;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.servlet.testing.WebmFiles;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 301 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): video in
 * places and containers the session's video rule (docs/decisions.md, "Video is priced as Gemini reads it": "a video
 * by its video tracks' length at Gemini's 263 tokens a second ... wherever a video is not transcribed") does not
 * reach.
 *
 * <p><b>1. A video in an OpenAI-shaped {@code image_url}.</b> {@code RequestEstimator.rate} prices any payload under
 * {@code image_url} at {@code Rate.OPENAI}, and {@code MediaSize.tokens} prices a recording at that rate as its sound
 * alone ("OpenAI's chat models hear a recording and see no video"): a silent MP4's pictures cost nothing. But the
 * OpenAI-compatible endpoints in front of Gemini take any media there: Vertex AI's Chat Completions API
 * (cloud.google.com/vertex-ai/generative-ai/docs/migrate/openai/overview, "Supported parameters": "The
 * {@code image_url} type supports images stored a Cloud Storage URI or a base64 encoding in the form
 * {@code "data:<MIME-TYPE>;base64,<BASE64-ENCODED-BYTES>"}") hands it to Gemini as inline data of that MIME type, and
 * LiteLLM's Vertex provider lists "Videos with Cloud Storage URIs" among what it takes in {@code image_url}'s
 * {@code url} (docs.litellm.ai/docs/providers/vertex, "Gemini Pro Vision"). Gemini bills the video 263 a second.
 *
 * <p><b>2. A WebM video.</b> {@code AudioDuration.read} reads the video tracks of ISO files only; a WebM (EBML) is
 * timed by the audio size rule (16 kbit/s, priced at Gemini's 32 a second of sound) and its pictures are not
 * counted. WebM is what Chrome's {@code MediaRecorder} writes for a screen or camera recording
 * ({@code video/webm;codecs=vp8} / {@code vp9}, the types web apps pick first: e.g. PlayProbie's
 * {@code segment-recorder.constants.ts}, rynorris/monitor's {@code media.ts}), and Gemini takes it inline
 * (ai.google.dev/gemini-api/docs/video-understanding, "Supported video formats": {@code video/webm}). So a WebM's
 * price is its byte count, not its length: a low-rate screen recording is held and charged a fraction of what Gemini
 * bills, and a recording at Chrome's default 2.5 Mbit/s (muxinc/guestbook {@code constants/MediaRecorder.ts}:
 * "Double the default quality from 2.5Mbps to 5Mbps") is held at 19 times what Gemini bills and refused.
 * Fixed: {@code MatroskaDuration} times a WebM's tracks by its blocks' timestamps (the recordings here come from
 * {@code testing/WebmFiles}, shaped as Chrome writes them).
 */
abstract class AbstractRound301 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Gemini's rate for video, tokens a second (ai.google.dev/gemini-api/docs/tokens, "Multimodal tokens"). */
    static final long VIDEO_RATE = GeminiVideoModel.VIDEO_RATE;
    static final long OUTPUT = 300;
    static final String QUESTION = "Summarize what happens in this screen recording, step by step.";
    static final String ANSWER = "The recording opens the settings page, turns on two-factor sign-in and saves.";
    static final String GEMINI = "/ai/gemini/v1beta/models/gemini-2.5-flash:generateContent";
    /** Vertex AI's OpenAI-compatible Chat Completions endpoint (…/endpoints/openapi/chat/completions). */
    static final String VERTEX_CHAT = "/ai/vertex/v1/projects/acme-prod/locations/us-central1/endpoints/openapi/chat/completions";
    static final String DESCRIBE = "/ai/app/video/describe";
    /** What each video plays, in seconds, by its base64 (the mock models' and the application's count). */
    static final Map<String, Long> PLAYS = new ConcurrentHashMap<>();

    /** What the model billed the application's calls, by subject (the usage its controller drops). */
    final Map<String, Long> reported = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        // an operator serving Gemini's inline video raises the body limit on its path to Gemini's 20 MB request limit
        // (ai.google.dev/gemini-api/docs/video-understanding: inline data for "files under 20MB")
        QuotaFilter quota = filterFor("/ai/").maxBodyBytes("/ai/gemini/", 20 << 20).build();
        return Deployment.create().filter("quota", quota, "/*").onStartup(quota::registerByServletName)
                .servlet("gemini", new GeminiVideoModel(calls, data -> seconds(data), ANSWER, OUTPUT), "/ai/gemini/*")
                .servlet("vertex", new VertexChat(), "/ai/vertex/*")
                .servlet("describe", new Describe(), "/ai/app/*");
    }

    static long seconds(String base64) {
        Long s = PLAYS.get(base64);
        if (s == null) {
            throw new IllegalArgumentException("an unknown video");
        }
        return s;
    }

    static long textTokens(String text) {
        return GeminiVideoModel.textTokens(text);
    }

    static String b64(byte[] bytes) {
        return Base64.getEncoder().encodeToString(bytes);
    }

    /** {@code video}, its length noted for the mock models. */
    static byte[] played(byte[] video, long seconds) {
        PLAYS.put(b64(video), seconds);
        return video;
    }

    // ------------------------------------------------------------------ the models

    /**
     * Vertex AI's Chat Completions API for Gemini (OpenAI's chat shape): a media part ({@code image_url}, or the
     * {@code video_url} part of the OpenAI-compatible servers that take video: vLLM's and OpenRouter's) is Gemini's
     * inline data, billed 263 a second of video; text a token a four characters. A whole answer is a
     * {@code chat.completion} with {@code usage}; a stream ({@code "stream": true}) is {@code chat.completion.chunk}
     * events and {@code [DONE]}, with a usage chunk only when {@code stream_options.include_usage} asks for it
     * (platform.openai.com/docs/api-reference/chat/create, {@code stream_options}).
     */
    class VertexChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            long prompt = 0;
            for (JsonNode message : body.path("messages")) {
                for (JsonNode part : message.path("content")) {
                    String type = part.path("type").asText();
                    if ("image_url".equals(type) || "video_url".equals(type)) {
                        String url = part.path(type).path("url").asText();
                        prompt += VIDEO_RATE * seconds(url.substring(url.indexOf(',') + 1));
                    } else {
                        prompt += textTokens(part.path("text").asText());
                    }
                }
            }
            calls.count(req.getHeader("x-user-id"));
            String usage = "\"usage\":{\"completion_tokens\":" + OUTPUT + ",\"prompt_tokens\":" + prompt
                    + ",\"total_tokens\":" + (prompt + OUTPUT) + "}";
            String head = "\"created\":1764583200,\"id\":\"kBxNaeHXBp-4nvgP8vOjyQ4\",\"model\":\"google/gemini-2.5-flash\"";
            if (!body.path("stream").asBoolean()) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(("{\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"logprobs\":null,"
                        + "\"message\":{\"content\":\"" + ANSWER + "\",\"role\":\"assistant\"}}]," + head
                        + ",\"object\":\"chat.completion\",\"system_fingerprint\":\"\"," + usage + "}").getBytes(StandardCharsets.UTF_8));
                return;
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String[] words = ANSWER.split(" ");
            for (int i = 0; i < words.length; i++) {
                String delta = (i == 0 ? "" : " ") + words[i];
                String chunk = "{\"choices\":[{\"delta\":{\"content\":\"" + delta + "\",\"role\":\"assistant\"},\"index\":0"
                        + (i == words.length - 1 ? ",\"finish_reason\":\"stop\"" : "") + "}]," + head
                        + ",\"object\":\"chat.completion.chunk\",\"system_fingerprint\":\"\"}";
                out.write(("data: " + chunk + "\n\n").getBytes(StandardCharsets.UTF_8));
            }
            if (body.path("stream_options").path("include_usage").asBoolean()) {
                out.write(("data: {\"choices\":[]," + head + ",\"object\":\"chat.completion.chunk\"," + usage + "}\n\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * An application's endpoint taking a browser's recording as JSON, {@code {"video": <data: URL>, "question": …}}
     * (the data URL from {@code FileReader.readAsDataURL} of the {@code MediaRecorder}'s blob), that sends it to
     * Gemini and returns the text alone, no usage (Spring AI's {@code .call().content()}), as rounds 291, 293 and
     * 297's: a whole answer without usage is charged its estimate.
     */
    class Describe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String url = body.get("video").asText();
            calls.count(req.getHeader("x-user-id"));
            reported.put(req.getHeader("x-user-id"), VIDEO_RATE * seconds(url.substring(url.indexOf(',') + 1))
                    + textTokens(QUESTION) + OUTPUT);
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write(ANSWER);
        }
    }

    // ------------------------------------------------------------------ the requests

    static String vertexChat(String partType, String dataUrl, boolean stream) {
        return "{\"model\":\"google/gemini-2.5-flash\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\""
                + QUESTION + "\"},{\"type\":\"" + partType + "\",\"" + partType + "\":{\"url\":\"" + dataUrl + "\"}}]}],"
                + "\"max_tokens\":" + OUTPUT + (stream ? ",\"stream\":true" : "") + "}";
    }

    static String gemini(String mimeType, byte[] video) {
        return "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"inlineData\":{\"mimeType\":\"" + mimeType + "\",\"data\":\""
                + b64(video) + "\"}},{\"text\":\"" + QUESTION + "\"}]}],\"generationConfig\":{\"maxOutputTokens\":" + OUTPUT + "}}";
    }

    static String describe(String mimeType, byte[] video) {
        return "{\"video\":\"data:" + mimeType + ";base64," + b64(video) + "\",\"question\":\"" + QUESTION + "\"}";
    }

    // ------------------------------------------------------------------ 1. a video in image_url

    /**
     * A 60-second screen recording (round 293's: H.264 at one frame a second, 3,000-byte frames, no sound; FFmpeg's
     * {@code -f mp4 -movflags +faststart}) sent to Gemini through Vertex AI's Chat Completions API as an
     * {@code image_url} data URL ({@code data:video/mp4;base64,…}), streamed with the OpenAI SDK's default (no
     * {@code stream_options}: the stream carries no usage), so the charge is the estimate. Gemini billed
     * 60 x 263 = 15,780 for the pictures; the filter prices a recording under {@code image_url} as OpenAI hears it,
     * its sound alone (none), and charges one media item, the question and the output budget.
     */
    @Test
    void aVideoInAnImageUrlStreamedWithoutUsageIsChargedItsPictures() {
        String s = subject();
        byte[] video = played(H264Files.faststart(60, 1, 3_000), 60);
        HttpResponse<String> r = TestHttp.postJson(container.uri(VERTEX_CHAT), s,
                vertexChat("image_url", "data:video/mp4;base64," + b64(video), true));
        assertStreamedAndChargedItsPictures(s, r, 60, "a 60 s video in an image_url part (Vertex AI's Chat Completions)");
    }

    /**
     * Control: the same recording in the {@code video_url} part (vLLM's and OpenRouter's OpenAI-compatible video
     * part, openrouter.ai/docs/guides/overview/multimodal/videos), streamed the same way: priced at Gemini's rate,
     * charged at least its 15,780.
     */
    @Test
    void controlTheSameVideoInAVideoUrlIsChargedItsPictures() {
        String s = subject();
        byte[] video = played(H264Files.faststart(60, 1, 3_000), 60);
        HttpResponse<String> r = TestHttp.postJson(container.uri(VERTEX_CHAT), s,
                vertexChat("video_url", "data:video/mp4;base64," + b64(video), true));
        assertStreamedAndChargedItsPictures(s, r, 60, "a 60 s video in a video_url part");
    }

    void assertStreamedAndChargedItsPictures(String s, HttpResponse<String> r, long seconds, String what) {
        long used = settled(s).used();
        assertAll(() -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertTrue(r.body().contains("[DONE]"), r.body()),
                () -> assertEquals(1, calls.of(s)),
                () -> assertTrue(used >= VIDEO_RATE * seconds, kind() + ": " + what + ", streamed without usage: Gemini billed "
                        + (VIDEO_RATE * seconds + textTokens(QUESTION) + OUTPUT) + ", charged " + used + " (at least "
                        + VIDEO_RATE * seconds + " for its pictures): " + ledger(s)));
    }

    // ------------------------------------------------------------------ 2. WebM

    /**
     * A 60-second screen recording as Chrome's {@code MediaRecorder} writes it ({@code video/webm;codecs=vp9},
     * {@code getDisplayMedia} at one frame a second: 3,000-byte frames, 24 kbit/s, the same pictures as round 293's
     * MP4), sent to the application's describe endpoint as a data URL; answered without usage, charged its estimate.
     * Gemini billed 15,780 for the pictures; the filter times the WebM by its size at 16 kbit/s (about 90 s) at the
     * rate of sound, 32 a second.
     */
    @Test
    void aChromeWebmScreenRecordingAnsweredWithoutUsageIsChargedItsPictures() {
        String s = subject();
        byte[] video = played(WebmFiles.chrome(60, 1, 3_000, 10), 60);
        HttpResponse<String> r = TestHttp.postJson(container.uri(DESCRIBE), s, describe("video/webm", video));
        long used = settled(s).used();
        assertAll(() -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertEquals(1, calls.of(s)),
                () -> assertTrue(used >= VIDEO_RATE * 60, kind() + ": a 60 s Chrome WebM screen recording ("
                        + video.length + " bytes) Gemini billed " + reported.get(s) + " for, answered without usage, charged "
                        + used + " (at least " + VIDEO_RATE * 60 + " for its pictures): " + ledger(s)));
    }

    /**
     * A 10-second screen capture as Chrome's {@code MediaRecorder} writes it at its default video bitrate
     * (2.5 Mbit/s: 30 frames a second of about 10.4 KB, 3.1 MB), sent inline to Gemini as {@code video/webm} by a
     * user with the whole 20,000 allowance. Gemini bills 10 x 263 = 2,630 for it, the question and 300 out. The
     * filter holds the file by its size at 16 kbit/s (1,562 s) at 32 a second, about 50,000: refused 429.
     */
    @Test
    void aChromeWebmAtTheDefaultBitrateIsServedAndChargedItsUsage() {
        String s = subject();
        byte[] video = played(WebmFiles.chrome(10, 30, 10_416, 30), 10);
        HttpResponse<String> r = TestHttp.postJson(container.uri(GEMINI), s, gemini("video/webm", video));
        long usage = VIDEO_RATE * 10 + textTokens(QUESTION) + OUTPUT;
        long used = settled(s).used();
        assertAll(() -> assertEquals(200, r.statusCode(), kind() + ": a 10 s Chrome WebM (" + video.length
                        + " bytes at 2.5 Mbit/s) that Gemini bills " + usage + " for, on a fresh " + ALLOWANCE
                        + " allowance: " + r.body()),
                () -> assertEquals(usage, used, kind() + ": " + ledger(s)));
    }

    /**
     * Control: the same 10 seconds at the same bitrate as an MP4 (H.264, {@code +faststart}): held at its pictures,
     * served, charged Gemini's usage.
     */
    @Test
    void controlTheSameClipAsMp4IsServedAndChargedItsUsage() {
        String s = subject();
        byte[] video = played(H264Files.faststart(10, 30, 10_416), 10);
        HttpResponse<String> r = TestHttp.postJson(container.uri(GEMINI), s, gemini("video/mp4", video));
        assertServedOnceAndCharged(s, r, VIDEO_RATE * 10 + textTokens(QUESTION) + OUTPUT);
    }
}
