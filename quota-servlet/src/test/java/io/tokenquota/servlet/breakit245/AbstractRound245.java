package io.tokenquota.servlet.breakit245;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
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
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 245 of issue 11: the picture rules (rounds 240 and 241). An answer to a non-GET call that is an
 * image, or JSON whose {@code b64_json}/{@code b64Json} strings are pictures, is charged at least its input
 * plus OpenAI's image-table figure per picture for its shape and the {@code quality} the request's JSON
 * names, when it has no usage. The provider's bill for each subject is kept in {@link #billed}.
 */
abstract class AbstractRound245 extends H2FilterRound {
    static String subject() {
        return "u245-" + UUID.randomUUID().toString().substring(0, 12);
    }

    final Map<String, AtomicLong> billed = new ConcurrentHashMap<>();

    long billedTo(String s) {
        AtomicLong a = billed.get(s);
        return a == null ? 0 : a.get();
    }

    void bill(HttpServletRequest req, long tokens) {
        billed.computeIfAbsent(req.getHeader("x-user-id"), k -> new AtomicLong()).addAndGet(tokens);
    }

    static String read(HttpServletRequest req) throws IOException {
        return new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("enumQuality", new EnumQuality(), "/ai/draw", "/ai/draw.json")
                .servlet("houseStyle", new HouseStyle(), "/ai/sticker")
                .servlet("mime", new MimePoster(), "/ai/poster")
                .servlet("openai", new OpenAiImages(), "/ai/v1/images/generations")
                .onStartup(filter::registerByServletName);
    }

    /**
     * A Spring MVC controller whose request body is {@code record Draw(String prompt, String size, Quality quality)}
     * with {@code enum Quality { LOW, MEDIUM, HIGH }}: Jackson reads an enum by its name, so the application's
     * own clients send {@code "quality": "LOW"}; it calls gpt-image-1 with {@code quality.name().toLowerCase()}
     * and returns the decoded {@code b64_json} as {@code ResponseEntity<byte[]>} ({@code /ai/draw}) or the
     * provider's {@code b64_json} in its own JSON without usage ({@code /ai/draw.json}).
     */
    class EnumQuality extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = read(req);
            String quality = Pictures.field(body, "quality", "HIGH");
            if (!quality.equals("LOW") && !quality.equals("MEDIUM") && !quality.equals("HIGH")) {
                resp.sendError(400, "quality: one of LOW, MEDIUM, HIGH");
                return;
            }
            String size = Pictures.field(body, "size", "1024x1024");
            String prompt = Pictures.field(body, "prompt", "");
            long billed = Pictures.imageTokens(size, quality.toLowerCase(Locale.ROOT)) + Math.max(1, prompt.length() / 4);
            bill(req, billed);
            // at its own path the filter cannot know the application honoured the client's quality: the
            // application says what the call cost (docs/decisions.md, "A picture the model draws")
            req.setAttribute(io.tokenquota.servlet.QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, billed);
            String[] wh = size.split("x");
            byte[] picture = Pictures.png(Integer.parseInt(wh[0]), Integer.parseInt(wh[1]), 300_000);
            if (req.getRequestURI().endsWith(".json")) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(("{\"id\":\"img-1\",\"b64_json\":\"" + Base64.getEncoder().encodeToString(picture)
                        + "\"}").getBytes(StandardCharsets.US_ASCII));
                return;
            }
            resp.setContentType("image/png");
            resp.setContentLength(picture.length);
            resp.getOutputStream().write(picture);
        }
    }

    /**
     * A sticker maker: the server draws every sticker at its house setting (gpt-image-1, 1024x1024, quality
     * high), whatever else the body holds (Spring ignores unknown fields), and answers the PNG.
     */
    class HouseStyle extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = read(req);
            String prompt = Pictures.field(body, "prompt", "");
            bill(req, Pictures.imageTokens("1024x1024", "high") + Math.max(1, prompt.length() / 4));
            byte[] picture = Pictures.png(1024, 1024, 300_000);
            resp.setContentType("image/png");
            resp.setContentLength(picture.length);
            resp.getOutputStream().write(picture);
        }
    }

    /**
     * An application that re-encodes the picture before answering it in JSON with {@code Base64.getMimeEncoder()}
     * (or Apache commons-codec's chunked {@code encodeBase64String}, Python's {@code base64.encodebytes}): the
     * base64 has a line break every 76 characters, which every base64 decoder in a browser or an SDK skips.
     */
    class MimePoster extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = read(req);
            String prompt = Pictures.field(body, "prompt", "");
            bill(req, Pictures.imageTokens("1024x1536", "high") + Math.max(1, prompt.length() / 4));
            byte[] picture = Pictures.png(1024, 1536, 300_000);
            String b64 = Base64.getMimeEncoder().encodeToString(picture).replace("\r", "\\r").replace("\n", "\\n");
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"created\":1735689602,\"data\":[{\"b64_json\":\"" + b64 + "\"}]}")
                    .getBytes(StandardCharsets.US_ASCII));
        }
    }

    /**
     * OpenAI's image API relayed verbatim: gpt-image-1 answers WITH usage
     * ({@code input_tokens}, {@code output_tokens}, {@code input_tokens_details}), {@code n} pictures; with
     * {@code stream: true} it sends {@code image_generation.partial_image} events, then
     * {@code image_generation.completed} with the picture and usage.
     */
    class OpenAiImages extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = read(req);
            String size = Pictures.field(body, "size", "1024x1024");
            String quality = Pictures.field(body, "quality", "low");
            int n = body.contains("\"n\":4") ? 4 : 1;
            int partials = body.contains("\"partial_images\":2") ? 2 : 0;
            long output = n * Pictures.imageTokens(size, quality) + partials * 100L;
            long input = 50;
            bill(req, input + output);
            String usage = "{\"total_tokens\":" + (input + output) + ",\"input_tokens\":" + input + ",\"output_tokens\":" + output
                    + ",\"input_tokens_details\":{\"text_tokens\":" + input + ",\"image_tokens\":0}}";
            String[] wh = size.split("x");
            String b64 = Base64.getEncoder().encodeToString(Pictures.png(Integer.parseInt(wh[0]), Integer.parseInt(wh[1]), 120_000));
            if (body.contains("\"stream\":true")) {
                resp.setContentType("text/event-stream");
                OutputStream out = resp.getOutputStream();
                for (int i = 0; i < partials; i++) {
                    out.write(("event: image_generation.partial_image\ndata: {\"type\":\"image_generation.partial_image\",\"b64_json\":\""
                            + b64 + "\",\"created_at\":1735689602,\"size\":\"" + size + "\",\"quality\":\"" + quality
                            + "\",\"background\":\"opaque\",\"output_format\":\"png\",\"partial_image_index\":" + i + "}\n\n")
                            .getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                }
                out.write(("event: image_generation.completed\ndata: {\"type\":\"image_generation.completed\",\"b64_json\":\""
                        + b64 + "\",\"created_at\":1735689602,\"size\":\"" + size + "\",\"quality\":\"" + quality
                        + "\",\"background\":\"opaque\",\"output_format\":\"png\",\"usage\":" + usage + "}\n\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                return;
            }
            StringBuilder data = new StringBuilder();
            for (int i = 0; i < n; i++) {
                data.append(i == 0 ? "" : ",").append("{\"b64_json\":\"").append(b64).append("\"}");
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"created\":1735689602,\"background\":\"opaque\",\"data\":[" + data
                    + "],\"output_format\":\"png\",\"quality\":\"" + quality + "\",\"size\":\"" + size + "\",\"usage\":" + usage + "}")
                    .getBytes(StandardCharsets.US_ASCII));
        }
    }

    static final String PROMPT = "A watercolour lighthouse on a cliff at dawn, gulls over the sea";

    /**
     * Honest: the application's own client asks for a LOW-quality sketch, as its API spells the enum. The
     * model drew 272 output tokens. At the application's own path the filter charges a picture without usage
     * at the high figure (a client could name a quality the endpoint ignores: round 244), so the application
     * reports what the call cost, and is charged that.
     */
    @Test
    void aLowQualityPictureNamedAsTheApplicationsEnumAndReportedIsChargedItsFigure() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/draw"), s,
                "{\"prompt\":\"" + PROMPT + "\",\"size\":\"1024x1024\",\"quality\":\"LOW\"}");
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertEquals(billedTo(s), used, "a low picture, reported: " + ledger(s));
    }

    /** The same, answered as the provider's {@code b64_json} inside the application's JSON. */
    @Test
    void aLowQualityPictureInJsonNamedAsTheApplicationsEnumAndReportedIsChargedItsFigure() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/draw.json"), s,
                "{\"prompt\":\"" + PROMPT + "\",\"size\":\"1024x1024\",\"quality\":\"LOW\"}");
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertEquals(billedTo(s), used, "a low picture, reported: " + ledger(s));
    }

    /** Control: the same in lower case (not accepted by the application: 400, nothing charged). */
    @Test
    void controlLowerCaseIsRefusedByTheApplication() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/draw"), s,
                "{\"prompt\":\"" + PROMPT + "\",\"size\":\"1024x1024\",\"quality\":\"low\"}");
        assertEquals(400, r.statusCode());
        assertEquals(0, settled(s).used(), ledger(s));
    }

    /**
     * Hostile: the sticker maker draws at high whatever the body says; the client adds {@code "quality":"low"}
     * to its body (ignored by the application). The model drew 4,160 output tokens; the call is charged at
     * least that.
     */
    @Test
    void aClientNamingLowQualityToAnEndpointThatDrawsHighPaysForHigh() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/sticker"), s,
                "{\"prompt\":\"" + PROMPT + "\",\"quality\":\"low\"}");
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertTrue(used >= 4_160, "billed " + billedTo(s) + " (a high picture: 4,160 output tokens), charged " + used + ": " + ledger(s));
    }

    /** Control: the same without the field is charged the high figure. */
    @Test
    void controlTheStickerWithoutQualityIsChargedHigh() {
        String s = subject();
        TestHttp.postJson(container.uri("/ai/sticker"), s, "{\"prompt\":\"" + PROMPT + "\"}");
        long used = settled(s).used();
        assertTrue(used >= 4_160, "billed " + billedTo(s) + ", charged " + used + ": " + ledger(s));
    }

    /** A picture answered in {@code b64_json} as a MIME base64 encoder writes it (line breaks every 76 characters). */
    @Test
    void aPictureInMimeBase64IsChargedAsAPicture() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/poster"), s, "{\"prompt\":\"" + PROMPT + "\"}");
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertTrue(used >= 6_240, "billed " + billedTo(s) + " (a high portrait: 6,240 output tokens), charged " + used + ": " + ledger(s));
    }

    /** OpenAI's image API with usage, one low picture: charged exactly its usage. */
    @Test
    void openAisImageAnswerWithUsageIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/images/generations"), s,
                "{\"model\":\"gpt-image-1\",\"prompt\":\"" + PROMPT + "\",\"size\":\"1024x1024\",\"quality\":\"low\"}");
        assertEquals(200, r.statusCode());
        assertEquals(billedTo(s), settled(s).used(), ledger(s));
    }

    /** OpenAI's image API with usage, n=4 low pictures: charged exactly its usage. */
    @Test
    void openAisImageAnswerOfFourWithUsageIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/images/generations"), s,
                "{\"model\":\"gpt-image-1\",\"prompt\":\"" + PROMPT + "\",\"size\":\"1024x1024\",\"quality\":\"low\",\"n\":4}");
        assertEquals(200, r.statusCode());
        assertEquals(billedTo(s), settled(s).used(), ledger(s));
    }

    /** OpenAI's image stream (two partial images, the completed event with usage): charged exactly its usage. */
    @Test
    void openAisImageStreamWithPartialsIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/images/generations"), s,
                "{\"model\":\"gpt-image-1\",\"prompt\":\"" + PROMPT + "\",\"size\":\"1024x1024\",\"quality\":\"low\","
                        + "\"stream\":true,\"partial_images\":2}");
        assertEquals(200, r.statusCode());
        assertEquals(billedTo(s), settled(s).used(), ledger(s));
    }
}
