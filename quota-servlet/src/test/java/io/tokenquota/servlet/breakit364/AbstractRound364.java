package io.tokenquota.servlet.breakit364;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.GeminiVideoModel;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.PdfFileRelay;
import io.tokenquota.servlet.testing.Pictures;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.api.Test;

/**
 * Round 364 of issue 11 ("no model call goes unpaid"): the hold and estimate of multimodal requests, on Gemini 3.
 *
 * <p>The rule (docs/estimation.md, "Media items"; {@code MediaSize}): an inline item is held at what its provider
 * bills for it, "an image by the width and height in its PNG, JPEG, GIF or WebP header ... at the rate of the
 * provider whose part holds it (... Gemini's {@code inlineData}: 258 per 768-pixel tile; elsewhere the largest of
 * the three), and a PDF by its pages ..., 258 each"; a stream that reports no usage is charged that.
 *
 * <p>Those are Gemini 2.x's rates. Gemini 3 bills media by its {@code media_resolution}, whose default is not the
 * tile rule: ai.google.dev/gemini-api/docs/media-resolution, "Token counts" (and the Gemini 3 developer guide,
 * "Media resolution"): images default to {@code media_resolution_high}, 1,120 tokens an image whatever its size;
 * PDFs to {@code media_resolution_medium}, 560 tokens a page; {@code ultra_high} (per part) 2,240 an image.
 * Measured by others with {@code countTokens}: a 64x64, a 256x256 and a 1024x1024 image each count 1,089 on a
 * Gemini 3 Flash model (AlaskanTuna/Rokabot issue 121, "Flat"), and google-gemini/gemini-cli PR 16004 sizes its
 * image fallback above Gemini 3's 2,240. So a small image (Gemini 2.x: one 258-token tile) is held at 258 for the
 * 1,120 Gemini 3 bills, and a PDF page at 258 for 560.
 *
 * <p>Shapes: Gemini's {@code generateContent} request and response (ai.google.dev/api/generate-content:
 * {@code contents[].parts[]} with {@code inlineData {mimeType, data}} and {@code text}; {@code generationConfig.
 * maxOutputTokens}; the answer's {@code candidates} and {@code usageMetadata {promptTokenCount,
 * candidatesTokenCount, totalTokenCount}}, {@code modelVersion}); Vertex AI's OpenAI-compatible Chat Completions
 * for Gemini (cloud.google.com/vertex-ai/generative-ai/docs/migrate/openai/overview: {@code image_url} takes a
 * {@code data:<MIME-TYPE>;base64,…} URL; model {@code google/<model>}), streamed as OpenAI streams
 * (platform.openai.com/docs/api-reference/chat/create: a usage chunk only with {@code stream_options.include_usage};
 * the SDKs' default sends none), as round 301's.
 */
abstract class AbstractRound364 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Gemini 3's default for an image (media_resolution_high), whatever its size. */
    static final long GEMINI3_IMAGE = 1_120;
    /** Gemini 3's default for a PDF page (media_resolution_medium). */
    static final long GEMINI3_PAGE = 560;
    /** Gemini 2.x: an image within 384 x 384 pixels is one tile; a PDF page 258 (ai.google.dev/gemini-api/docs/tokens). */
    static final long GEMINI2_IMAGE = 258;
    static final long GEMINI2_PAGE = 258;
    static final long OUTPUT = 300;
    static final String QUESTION = "Which of these product photos show a scratched or dented case? List them by number.";
    static final String SUMMARY = "Summarise the findings of this audit report in five bullets.";
    static final String ANSWER = "Photos 2 and 7 show a dented corner; photo 9 shows a scratch across the lid.";
    static final String VERTEX_CHAT = "/ai/vertex/v1/projects/acme-prod/locations/global/endpoints/openapi/chat/completions";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("gemini", new Gemini(), "/ai/gemini/*")
                .servlet("vertex", new VertexChat(), "/ai/vertex/*");
    }

    static boolean gemini3(String model) {
        return model.contains("gemini-3");
    }

    /** What the model bills one inline item: an image at its model's rate (all images here are 300 x 300), a PDF by its pages. */
    static long item(String model, String mimeType, String base64) {
        if (mimeType.startsWith("image/")) {
            return gemini3(model) ? GEMINI3_IMAGE : GEMINI2_IMAGE;
        }
        if ("application/pdf".equals(mimeType)) {
            return PdfFileRelay.pages(Base64.getDecoder().decode(base64)) * (gemini3(model) ? GEMINI3_PAGE : GEMINI2_PAGE);
        }
        throw new IllegalArgumentException(mimeType);
    }

    static long text(String text) {
        return GeminiVideoModel.textTokens(text);
    }

    /** Gemini's {@code generateContent} ({@code /v1beta/models/<model>:generateContent}), billing as above, with usageMetadata. */
    class Gemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String model = path.substring(path.indexOf("/models/") + 8, path.indexOf(':'));
            JsonNode body = JSON.readTree(req.getInputStream());
            long prompt = 0;
            for (JsonNode content : body.path("contents")) {
                for (JsonNode part : content.path("parts")) {
                    JsonNode inline = part.path("inlineData");
                    prompt += inline.isMissingNode() ? text(part.path("text").asText())
                            : item(model, inline.path("mimeType").asText(), inline.path("data").asText());
                }
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json; charset=UTF-8");
            resp.getOutputStream().write(("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + ANSWER
                    + "\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":"
                    + prompt + ",\"candidatesTokenCount\":" + OUTPUT + ",\"totalTokenCount\":" + (prompt + OUTPUT)
                    + "},\"modelVersion\":\"" + model + "\",\"responseId\":\"mJ5NaeSlBr2xqtsP7Z3y0Ak\"}").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Vertex AI's Chat Completions for Gemini: {@code image_url} data URLs billed as the model bills inline images. */
    class VertexChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String model = body.path("model").asText();
            long prompt = 0;
            for (JsonNode message : body.path("messages")) {
                for (JsonNode part : message.path("content")) {
                    if ("image_url".equals(part.path("type").asText())) {
                        String url = part.path("image_url").path("url").asText();
                        prompt += item(model, url.substring(5, url.indexOf(';')), url.substring(url.indexOf(',') + 1));
                    } else {
                        prompt += text(part.path("text").asText());
                    }
                }
            }
            calls.count(req.getHeader("x-user-id"));
            billed.put(req.getHeader("x-user-id"), prompt + OUTPUT);
            String head = "\"created\":1764583200,\"id\":\"kBxNaeHXBp-4nvgP8vOjyQ4\",\"model\":\"" + model + "\"";
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String[] words = ANSWER.split(" ");
            for (int i = 0; i < words.length; i++) {
                String chunk = "{\"choices\":[{\"delta\":{\"content\":\"" + (i == 0 ? "" : " ") + words[i]
                        + "\",\"role\":\"assistant\"},\"index\":0" + (i == words.length - 1 ? ",\"finish_reason\":\"stop\"" : "")
                        + "}]," + head + ",\"object\":\"chat.completion.chunk\",\"system_fingerprint\":\"\"}";
                out.write(("data: " + chunk + "\n\n").getBytes(StandardCharsets.UTF_8));
            }
            if (body.path("stream_options").path("include_usage").asBoolean()) {
                out.write(("data: {\"choices\":[]," + head + ",\"object\":\"chat.completion.chunk\",\"usage\":{"
                        + "\"completion_tokens\":" + OUTPUT + ",\"prompt_tokens\":" + prompt + ",\"total_tokens\":"
                        + (prompt + OUTPUT) + "}}\n\n").getBytes(StandardCharsets.UTF_8));
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** What the Vertex model billed each subject's call (its stream did not say). */
    final java.util.Map<String, Long> billed = new java.util.concurrent.ConcurrentHashMap<>();

    /** {@code n} distinct 300 x 300 PNG product photos, base64. */
    static String[] photos(int n) {
        String[] photos = new String[n];
        for (int i = 0; i < n; i++) {
            photos[i] = Base64.getEncoder().encodeToString(Pictures.png(300, 300, 2_000 + 7 * i));
        }
        return photos;
    }

    static String vertexChat(String model, String[] photos) {
        StringBuilder parts = new StringBuilder("{\"type\":\"text\",\"text\":\"" + QUESTION + "\"}");
        for (String photo : photos) {
            parts.append(",{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,").append(photo).append("\"}}");
        }
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":[" + parts + "]}],\"max_tokens\":"
                + OUTPUT + ",\"stream\":true}";
    }

    static String gemini(String mimeType, String[] items, String question) {
        StringBuilder parts = new StringBuilder();
        for (String item : items) {
            parts.append("{\"inlineData\":{\"mimeType\":\"").append(mimeType).append("\",\"data\":\"").append(item).append("\"}},");
        }
        return "{\"contents\":[{\"role\":\"user\",\"parts\":[" + parts + "{\"text\":\"" + question + "\"}]}],"
                + "\"generationConfig\":{\"maxOutputTokens\":" + OUTPUT + "}}";
    }

    static String geminiPath(String model) {
        return "/ai/gemini/v1beta/models/" + model + ":generateContent";
    }

    static String pdf(int pages) {
        return Base64.getEncoder().encodeToString(PdfFileRelay.pdf(pages));
    }

    /** Ten photos streamed through Vertex's Chat Completions to {@code model} without usage: the charge is the estimate. */
    void assertTenPhotosStreamedWithoutUsageChargedTheBill(String model, long perPhoto) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(VERTEX_CHAT), s, vertexChat(model, photos(10)));
        long bill = 10 * perPhoto + text(QUESTION) + OUTPUT;
        long used = settled(s).used();
        assertAll(() -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertTrue(r.body().contains("[DONE]"), r.body()),
                () -> assertEquals(1, calls.of(s)),
                () -> assertEquals(bill, billed.get(s)),
                () -> assertTrue(used >= bill, kind() + ": ten 300x300 photos (image_url data URLs) streamed to " + model
                        + " without usage: the model billed " + bill + " (" + perPhoto + " a photo), charged " + used
                        + ": " + ledger(s)));
    }

    // ------------------------------------------------------------------ findings

    /**
     * Found and fixed: ten 300 x 300 product photos sent to {@code google/gemini-3-pro-preview} through Vertex AI's Chat
     * Completions, streamed the SDKs' default way (no usage). Gemini 3 bills each image 1,120 at its default
     * resolution: 11,520 in all with the question and 300 out. The filter prices each at OpenAI's one tile (255,
     * raised to the 258 item floor) and charges its estimate: 2,901 for 11,520.
     */
    @Test
    void tenPhotosStreamedToGemini3WithoutUsageAreChargedWhatGemini3Bills() {
        assertTenPhotosStreamedWithoutUsageChargedTheBill("google/gemini-3-pro-preview", GEMINI3_IMAGE);
    }

    /**
     * Found and fixed: 18 product photos (300 x 300) inline to {@code gemini-3-pro-preview}'s {@code generateContent} by a
     * subject with its whole 20,000 allowance. Gemini 3 bills 18 x 1,120 = 20,160 for the images alone, more than
     * the allowance: the hold must refuse it (429, no model call). The filter holds each at one 258-token tile
     * (held 4,965 in all), serves it, and its 20,480 lands on the 20,000 allowance.
     */
    @Test
    void eighteenPhotosToGemini3AreRefusedOnTheAllowance() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(geminiPath("gemini-3-pro-preview")), s,
                gemini("image/png", photos(18), QUESTION));
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(429, r.statusCode(), kind() + ": 18 photos Gemini 3 bills "
                        + (18 * GEMINI3_IMAGE + text(QUESTION) + OUTPUT) + " for, on a fresh " + ALLOWANCE + " allowance: "
                        + figures(s, r, a)),
                () -> assertEquals(0, calls.of(s), "model calls"),
                () -> assertEquals(0, a.used(), ledger(s)));
    }

    /**
     * Found and fixed: a 40-page audit report (PDF) inline to {@code gemini-3-pro-preview}: Gemini 3 bills a page 560 at its
     * default resolution for PDFs, 22,400 for the report, more than the 20,000 allowance: 429 expected. The filter
     * holds a page at 258 (held 14,018 in all), serves it, and 22,715 lands on a 20,000 allowance.
     */
    @Test
    void aFortyPagePdfToGemini3IsRefusedOnTheAllowance() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(geminiPath("gemini-3-pro-preview")), s,
                gemini("application/pdf", new String[] {pdf(40)}, SUMMARY));
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(429, r.statusCode(), kind() + ": a 40-page PDF Gemini 3 bills "
                        + (40 * GEMINI3_PAGE + text(SUMMARY) + OUTPUT) + " for, on a fresh " + ALLOWANCE + " allowance: "
                        + figures(s, r, a)),
                () -> assertEquals(0, calls.of(s), "model calls"),
                () -> assertEquals(0, a.used(), ledger(s)));
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same ten photos streamed to {@code google/gemini-2.5-flash} (258 each): charged at least the bill. */
    @Test
    void controlTenPhotosStreamedToGemini25WithoutUsageAreChargedTheBill() {
        assertTenPhotosStreamedWithoutUsageChargedTheBill("google/gemini-2.5-flash", GEMINI2_IMAGE);
    }

    /** Control: the 18 photos to {@code gemini-2.5-flash} (258 each, 4,644 + text + 300): served, charged the usage. */
    @Test
    void controlEighteenPhotosToGemini25AreServedAndChargedTheUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(geminiPath("gemini-2.5-flash")), s,
                gemini("image/png", photos(18), QUESTION));
        assertCharged(s, r, 200, 1, 18 * GEMINI2_IMAGE + text(QUESTION) + OUTPUT, "18 photos on Gemini 2.5");
    }

    /** Control: the 40-page PDF to {@code gemini-2.5-flash} (258 a page): served, charged its usage, 10,635. */
    @Test
    void controlAFortyPagePdfToGemini25IsServedAndChargedTheUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(geminiPath("gemini-2.5-flash")), s,
                gemini("application/pdf", new String[] {pdf(40)}, SUMMARY));
        assertCharged(s, r, 200, 1, 40 * GEMINI2_PAGE + text(SUMMARY) + OUTPUT, "a 40-page PDF on Gemini 2.5");
    }
}
