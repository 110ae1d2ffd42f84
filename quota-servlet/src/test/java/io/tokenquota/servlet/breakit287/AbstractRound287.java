package io.tokenquota.servlet.breakit287;

import static io.tokenquota.servlet.testing.MediaBytes.cat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.MediaBytes;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Pictures;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 287 of issue 11: video and audio a Gemini request carries inline. The filter holds an inline
 * image at Gemini's 258 a tile (its size read from its header), a PDF by its pages and inline audio by
 * its duration, but at OpenAI's rate of one token per 100 ms, and a video by its sound alone (an MP4
 * whose tracks are all video holds nothing but the one media item, 258). Gemini reads a video at
 * 263 tokens a second and audio at 32 (ai.google.dev/gemini-api/docs/tokens, "Multimodal tokens";
 * docs/audio: "Gemini represents each second of audio as 32 tokens"; Gemini by Example,
 * "Calculating multimodal input tokens": {@code duration_seconds * 263}, {@code * 32}), and
 * bills them as input ({@code usageMetadata.promptTokenCount},
 * {@code promptTokensDetails[].modality = VIDEO | AUDIO}).
 *
 * <p>Request shape: Gemini's {@code generateContent} with a part
 * {@code {"inlineData": {"mimeType": "video/mp4", "data": <base64>}}} beside the question
 * (ai.google.dev/gemini-api/docs/video-understanding, "Pass video data inline", for files under 20 MB;
 * the Java SDK's {@code Part.fromBytes(bytes, "video/mp4")}, the REST {@code inline_data} /
 * {@code inlineData} blob). The same for {@code audio/wav} (docs/audio-understanding, "Pass audio data
 * inline"). The relay without usage is Spring AI's documented video prompt on Vertex AI Gemini:
 * {@code chatClient.prompt().user(u -> u.text("Explain what do you see on this video?")
 * .media(MimeTypeUtils.parseMimeType("video/mp4"), resource)).call().content()}, a {@code String}
 * returned from a {@code @PostMapping} that takes the upload as a {@code MultipartFile}
 * (docs.spring.io/spring-ai, "VertexAI Gemini Chat", "Multimodal").
 */
abstract class AbstractRound287 extends ModelCallRound {

    static final ObjectMapper JSON = new ObjectMapper();
    /** Gemini's rates, tokens a second (docs/tokens). */
    static final long VIDEO_RATE = 263;
    static final long AUDIO_RATE = 32;
    static final long IMAGE = 258;
    static final long OUTPUT = 300;
    static final String GEMINI = "/ai/gemini/v1beta/models/gemini-2.5-flash:generateContent";
    static final String DESCRIBE = "/ai/app/video/describe";
    static final String QUESTION = "Summarize what happens in this screen recording, step by step.";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("gemini", new Gemini(), "/ai/gemini/*")
                .multipartServlet("describe", new Describe(), new MultipartConfigElement("", 8 << 20, 8 << 20, 0),
                        "/ai/app/*");
    }

    // ------------------------------------------------------------------ what Gemini reads

    /** What Gemini counts for the inline parts and texts of {@code contents}: its promptTokenCount. */
    static long prompt(JsonNode contents) {
        long tokens = 0;
        for (JsonNode content : contents) {
            for (JsonNode part : content.path("parts")) {
                JsonNode blob = part.has("inlineData") ? part.get("inlineData") : part.get("inline_data");
                if (blob != null) {
                    String type = blob.has("mimeType") ? blob.get("mimeType").asText() : blob.path("mime_type").asText();
                    tokens += media(type, Base64.getDecoder().decode(blob.get("data").asText()));
                } else if (part.has("text")) {
                    tokens += Math.max(1, part.get("text").asText().length() / 4);
                }
            }
        }
        return tokens;
    }

    /** Gemini's count for one media item of {@code type}. */
    static long media(String type, byte[] bytes) {
        if (type.startsWith("video/")) {
            return VIDEO_RATE * MediaBytes.mp4Seconds(bytes);
        }
        if (type.startsWith("audio/")) {
            return AUDIO_RATE * wavSeconds(bytes);
        }
        return IMAGE;
    }

    /** The duration of a PCM WAV by its byte rate and data size, in whole seconds. */
    static long wavSeconds(byte[] b) {
        ByteBuffer h = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        return Integer.toUnsignedLong(h.getInt(40)) / Integer.toUnsignedLong(h.getInt(28));
    }

    static String answer(long prompt) {
        return "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"The recording opens the settings page, turns on"
                + " two-factor sign-in and saves.\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],"
                + "\"usageMetadata\":{\"promptTokenCount\":" + prompt + ",\"candidatesTokenCount\":" + OUTPUT
                + ",\"totalTokenCount\":" + (prompt + OUTPUT) + "},\"modelVersion\":\"gemini-2.5-flash\"}";
    }

    /** Gemini's {@code generateContent}: answers with the usage Gemini reports for what it read. */
    class Gemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json; charset=UTF-8");
            resp.getOutputStream().write(answer(prompt(body.path("contents"))).getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * Spring AI's video prompt as an application serves it: the upload goes to Gemini with the question,
     * and the controller returns {@code .call().content()}, the text alone (text/plain): no usage.
     */
    class Describe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            Part file = req.getPart("file");
            byte[] video = file.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            reported.put(req.getHeader("x-user-id"), media("video/mp4", video) + 10 + OUTPUT);
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write("The recording opens the settings page, turns on two-factor sign-in and saves.");
        }
    }

    /** What Gemini billed the application's calls, by subject (the usage its controller drops). */
    final java.util.Map<String, Long> reported = new java.util.concurrent.ConcurrentHashMap<>();

    // ------------------------------------------------------------------ the media

    /** A screen recording as an MP4 (faststart): one H.264 video track, {@code seconds} long at one frame a second, no sound. */
    static byte[] screenRecording(int seconds) {
        return MediaBytes.recording("isom", "isomiso2avc1mp41", seconds, false);
    }

    /** A voice memo: 8 kHz 8-bit mono PCM WAV of {@code seconds}, a quiet tone (no silence). */
    static byte[] voiceMemo(int seconds) {
        byte[] samples = new byte[seconds * 8_000];
        for (int i = 0; i < samples.length; i++) {
            samples[i] = (byte) (128 + 40 * Math.sin(i * 2 * Math.PI * 220 / 8_000.0));
        }
        return cat(MediaBytes.wavHeader(1, samples.length), samples);
    }

    static String inline(String type, byte[] bytes) {
        return "{\"inlineData\":{\"mimeType\":\"" + type + "\",\"data\":\"" + Base64.getEncoder().encodeToString(bytes) + "\"}}";
    }

    static String ask(String... parts) {
        return "{\"contents\":[{\"role\":\"user\",\"parts\":[" + String.join(",", parts) + ",{\"text\":\"" + QUESTION
                + "\"}]}],\"generationConfig\":{\"maxOutputTokens\":" + OUTPUT + "}}";
    }

    long promptOf(String body) throws IOException {
        return prompt(JSON.readTree(body).path("contents"));
    }

    // ------------------------------------------------------------------ the attacks

    /**
     * A 30-second screen recording inline, three times: Gemini reads 30 x 263 = 7,890 tokens of video
     * and the question each time and writes 300 (about 8,200 a call). The filter holds each call at the
     * one media item (258), the question and the 300-token budget (575), so the third call is
     * served with about 3,600 tokens left: three calls, 24,615 charged on a 20,000 allowance. The
     * same 30 frames as 30 inline images (the control) stop at the allowance.
     */
    @Test
    void aGeminiCallWithAnInlineVideoIsHeldAtWhatTheModelReads() throws IOException {
        String body = ask(inline("video/mp4", screenRecording(30)));
        long perCall = promptOf(body) + OUTPUT;
        String s = subject();
        List<Integer> statuses = postTimes(3, GEMINI, s, body);
        assertWithinAllowance(s, "calls of a 30 s inline video (" + perCall + " tokens each)", statuses);
    }

    /**
     * A 90-second voice memo inline (a WAV, Gemini's {@code audio/wav}) on a 5,000-token plan: Gemini
     * reads 90 x 32 = 2,880 tokens of audio, about 3,190 a call with the question and the 300-token
     * answer. The filter holds the audio at 10 tokens a second (OpenAI's rate, 900), 1,217 a call,
     * so the second call is served with 1,810 left and the plan ends at 6,390.
     */
    @Test
    void aGeminiCallWithInlineAudioIsHeldAtGeminisRate() throws IOException {
        String body = ask(inline("audio/wav", voiceMemo(90)));
        long perCall = promptOf(body) + OUTPUT;
        String s = subject();
        store.setPlan(s, 5_000);
        List<Integer> statuses = postTimes(2, GEMINI, s, body);
        QuotaAccount a = settled(s);
        assertTrue(a.used() <= 5_000, kind() + ": calls of 90 s of inline audio (" + perCall + " tokens each) answered "
                + statuses + ", " + calls.of(s) + " model calls, charged " + a.used() + " on a 5,000 plan; " + ledger(s));
    }

    /**
     * The same recording uploaded to an application's Spring AI endpoint, which answers the model's text
     * alone (no usage): a whole answer without usage is charged its estimate, and the estimate of a
     * request whose video is in its body must count the video the model reads, as it counts an image's
     * tiles, a PDF's pages and a recording's sound. Gemini billed 7,890 + 310; charged 1,013 (the fallback).
     */
    @Test
    void aVideoUploadAnsweredWithoutUsageIsChargedTheVideoTheModelRead() {
        String s = subject();
        String boundary = "----r287" + s;
        byte[] multipart = TestHttp.multipart(boundary,
                "Content-Disposition: form-data; name=\"file\"; filename=\"recording.mp4\"\r\nContent-Type: video/mp4",
                screenRecording(30),
                "Content-Disposition: form-data; name=\"question\"", QUESTION);
        HttpResponse<String> r = TestHttp.post(container.uri(DESCRIBE), multipart, "x-user-id", s,
                "Content-Type", "multipart/form-data; boundary=" + boundary);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long billed = reported.get(s);
        long used = settled(s).used();
        assertTrue(used >= VIDEO_RATE * 30, kind() + ": a 30 s video Gemini billed " + billed + " tokens for, answered"
                + " without usage, charged " + used + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same 30 frames sent as 30 inline images (258 each) are held: the third call is refused. */
    @Test
    void controlTheSameFramesAsImagesStopAtTheAllowance() throws IOException {
        String[] frames = new String[30];
        for (int i = 0; i < frames.length; i++) {
            frames[i] = inline("image/png", Pictures.png(640, 360, 1_500 + i));
        }
        String body = ask(frames);
        String s = subject();
        List<Integer> statuses = postTimes(3, GEMINI, s, body);
        assertWithinAllowance(s, "calls of 30 inline frames (" + (promptOf(body) + OUTPUT) + " tokens each)", statuses);
        assertEquals(List.of(200, 200, 429), statuses, kind() + ": " + ledger(s));
    }

    /** Control: a call's usage is charged exactly (the video's 7,890 tokens among them). */
    @Test
    void controlAnInlineVideoCallIsChargedItsUsage() throws IOException {
        String body = ask(inline("video/mp4", screenRecording(30)));
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(GEMINI), s, body);
        assertServedOnceAndCharged(s, r, promptOf(body) + OUTPUT);
    }
}
