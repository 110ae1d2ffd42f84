package io.tokenquota.servlet.breakit55;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 55 of issue 11: model endpoints that are not chat (transcription, image generation and
 * edits, embeddings, rerank, speech), each mock answering as its provider does.
 */
abstract class AbstractRound55 extends H2FilterRound {

    static String subject() {
        return "u55-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .multipartServlet("models", new Models(), new MultipartConfigElement("", 32 << 20, 32 << 20, 0), "/ai/*");
    }

    /** ~1,500 words of transcript. */
    static final String TRANSCRIPT = "and then we looked at the quarterly figures again ".repeat(170);

    public static class Models extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getRequestURI();
            String model = null;
            if (req.getContentType() != null && req.getContentType().startsWith("multipart/")) {
                try {
                    req.getParts();
                } catch (jakarta.servlet.ServletException e) {
                    throw new IOException(e);
                }
                model = req.getParameter("model");
            } else {
                req.getInputStream().readAllBytes();
            }
            resp.setContentType("application/json");
            OutputStream out = resp.getOutputStream();
            if (path.endsWith("/v1/audio/transcriptions") && "text".equals(req.getParameter("response_format"))) {
                // OpenAI's transcription with response_format=text: the transcript alone, no usage
                resp.setContentType("text/plain;charset=utf-8");
                out.write(TRANSCRIPT.getBytes(StandardCharsets.UTF_8));
            } else if (path.endsWith("/v1/audio/transcriptions")) {
                String usage = "whisper-1".equals(model)
                        ? "{\"type\":\"duration\",\"seconds\":600}"
                        : "{\"type\":\"tokens\",\"input_tokens\":6000,\"input_token_details\":{\"text_tokens\":0,"
                        + "\"audio_tokens\":6000},\"output_tokens\":2000,\"total_tokens\":8000}";
                out.write(("{\"text\":\"" + TRANSCRIPT + "\",\"usage\":" + usage + "}").getBytes(StandardCharsets.UTF_8));
            } else if (path.endsWith("/v1/images/generations-cut")) {
                resp.setContentType("text/event-stream");
                String b64 = "A".repeat(200_000);
                for (int i = 0; i < 3; i++) {
                    out.write(("event: image_generation.partial_image\ndata: {\"type\":\"image_generation.partial_image\","
                            + "\"b64_json\":\"" + b64 + "\",\"created_at\":1753000000,\"size\":\"1024x1024\","
                            + "\"quality\":\"high\",\"background\":\"opaque\",\"output_format\":\"png\","
                            + "\"partial_image_index\":" + i + "}\n\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
                // upstream reset: image_generation.completed (with its usage) never comes
            } else if (path.endsWith("/v1/images/edits")) {
                out.write(("{\"created\":1753000000,\"background\":\"opaque\",\"data\":[{\"b64_json\":\""
                        + "A".repeat(300_000) + "\"}],\"output_format\":\"png\",\"quality\":\"high\",\"size\":\"1024x1024\","
                        + "\"usage\":{\"input_tokens\":1500,\"input_tokens_details\":{\"image_tokens\":1450,\"text_tokens\":50},"
                        + "\"output_tokens\":4160,\"total_tokens\":5660}}").getBytes(StandardCharsets.UTF_8));
            } else if (path.endsWith(":batchEmbedContents")) {
                StringBuilder b = new StringBuilder("{\"embeddings\":[");
                for (int i = 0; i < 40; i++) {
                    b.append(i == 0 ? "" : ",").append("{\"values\":[0.01,0.02,-0.03]}");
                }
                out.write(b.append("]}").toString().getBytes(StandardCharsets.UTF_8));
            } else if (path.endsWith("/v2/rerank")) {
                out.write(("{\"results\":[{\"index\":3,\"relevance_score\":0.99}],\"id\":\"07734bd2\",\"meta\":{"
                        + "\"api_version\":{\"version\":\"2\"},\"billed_units\":{\"search_units\":1}}}")
                        .getBytes(StandardCharsets.UTF_8));
            } else if (path.endsWith("/v1/audio/speech")) {
                resp.setContentType("text/event-stream");
                out.write(("data: {\"type\":\"speech.audio.delta\",\"audio\":\"" + "A".repeat(50_000) + "\"}\n\n"
                        + "data: {\"type\":\"speech.audio.done\",\"usage\":{\"input_tokens\":900,\"output_tokens\":9000,"
                        + "\"total_tokens\":9900}}\n\n").getBytes(StandardCharsets.UTF_8));
            } else if (path.endsWith("/v1/embeddings-ids")) {
                out.write(("{\"object\":\"list\",\"data\":[],\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":8000,"
                        + "\"total_tokens\":8000}}").getBytes(StandardCharsets.UTF_8));
            } else {
                resp.sendError(404);
            }
        }
    }

    HttpResponse<String> uploadTo(String path, String subject, byte[] file, String fileType, String... fields) {
        String boundary = "----b55" + UUID.randomUUID();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (int i = 0; i < fields.length; i += 2) {
            body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + fields[i] + "\"\r\n\r\n"
                    + fields[i + 1] + "\r\n").getBytes(StandardCharsets.UTF_8));
        }
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"call.mp3\"\r\n"
                + "Content-Type: " + fileType + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(file);
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return TestHttp.post(container.uri(path), body.toByteArray(), "x-user-id", subject, "Content-Type",
                "multipart/form-data; boundary=" + boundary);
    }

    static byte[] mp3(int size) {
        byte[] audio = new byte[size];
        new Random(55).nextBytes(audio);
        audio[0] = 'I';
        audio[1] = 'D';
        audio[2] = '3';
        return audio;
    }

    /**
     * OpenAI's {@code whisper-1} reports a transcription's usage as {@code {"type":"duration","seconds":600}}
     * (gpt-4o-transcribe as tokens). The sniffer knows no seconds, so the 10-minute upload (1 MB of MP3,
     * an "other file" of the multipart body) is charged the fallback estimate: 1,004 tokens, while the
     * answer alone carries a ~1,530-token transcript the model wrote, and the same audio and transcript
     * through gpt-4o-transcribe (same list price per minute at OpenAI) are charged 8,000. Choosing
     * {@code model=whisper-1} makes any long transcription nearly free.
     */
    @Test
    void aWhisperTranscriptionReportedInSecondsIsChargedAtLeastItsTranscript() {
        String control = subject();
        HttpResponse<String> a = uploadTo("/ai/v1/audio/transcriptions", control, mp3(1_000_000), "audio/mpeg",
                "model", "gpt-4o-transcribe");
        assertEquals(200, a.statusCode(), a.body());
        String s = subject();
        HttpResponse<String> b = uploadTo("/ai/v1/audio/transcriptions", s, mp3(1_000_000), "audio/mpeg", "model", "whisper-1");
        assertEquals(200, b.statusCode(), b.body());
        long transcriptTokens = 9L * 170; // "and then we looked at the quarterly figures again " is 9 o200k tokens
        assertTrue(settled(s).used() >= transcriptTokens, "whisper-1 wrote a " + transcriptTokens + "-token transcript of 600 s"
                + " of audio and was charged " + ledger(s) + "; the same call through gpt-4o-transcribe: " + ledger(control));
    }

    /**
     * The same 10-minute upload to gpt-4o-transcribe with {@code response_format=text}: OpenAI answers the
     * transcript as text/plain, no usage (it bills ~6,000 audio tokens and the output). The audio file is an
     * "other file" of the multipart body, costing the fallback whatever its size: charged 1,004, below the
     * ~1,530-token transcript in the answer, and an eighth of the same call answered as JSON.
     */
    @Test
    void aPlainTextTranscriptionOfALongUploadIsChargedAtLeastItsTranscript() {
        String s = subject();
        HttpResponse<String> r = uploadTo("/ai/v1/audio/transcriptions", s, mp3(1_000_000), "audio/mpeg",
                "model", "gpt-4o-transcribe", "response_format", "text");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(settled(s).used() >= 9L * 170, "a 1,530-token transcript of 1 MB of audio, charged " + ledger(s));
    }

    /**
     * gpt-image-1 streamed with {@code partial_images: 3}, size 1024x1024, quality high (4,160 output
     * tokens by OpenAI's table, plus 100 for each partial image). The relay's upstream is reset after
     * the three partial images were delivered, before {@code image_generation.completed} (the only
     * event with usage). The client holds three renderings (the last near-final) and is charged the
     * default estimate: 1,009 tokens. A client that hangs up after the last partial image gets the
     * same price. The estimate knows no image output from size, quality, n and partial_images.
     */
    @Test
    void aCutImageStreamIsChargedAtLeastTheImageOutputAsked() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/images/generations-cut"), s,
                "{\"model\":\"gpt-image-1\",\"prompt\":\"A watercolour fox\",\"size\":\"1024x1024\",\"quality\":\"high\","
                + "\"stream\":true,\"partial_images\":3}");
        assertEquals(200, r.statusCode());
        assertTrue(settled(s).used() >= 4160 + 300, "three partial images of a high 1024x1024 gpt-image-1 image were"
                + " delivered; charged " + ledger(s));
    }

}
