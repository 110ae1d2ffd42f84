package io.tokenquota.servlet.breakit63;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * Round 63 of issue 11: images the filter can see (crafted headers that understate what the
 * provider's decoder sees), images it cannot see (by URL, detail low) on the OpenAI models whose
 * published image rates are above the filter's fixed figures, images the model generates (an image
 * model the filter does not know, an image edit sent as multipart), and a streamed answer whose only
 * event a model wrote to look like a provider's error.
 *
 * <p>Every mock endpoint computes what the provider bills by the provider's published rules and
 * remembers it per subject ({@link Models#BILLED}), so the assertions compare the charge to the bill.
 */
abstract class AbstractRound63 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();

    static String subject() {
        return "u63-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .multipartServlet("edits", new Edits(), new MultipartConfigElement("", 8 << 20, 8 << 20, 0),
                        "/ai/v1/images/edits")
                .servlet("models", new Models(), "/ai/*");
    }

    // ------------------------------------------------------------------------------------------------
    // images the provider's decoder sees larger than the header the filter reads
    // ------------------------------------------------------------------------------------------------

    /**
     * A GIF whose logical screen says 1x1 and whose one frame (a 1x1 pixel) sits at (767, 2047).
     * Pillow (GifImagePlugin: {@code if x1 > self.size[0] or y1 > self.size[1]: self._size = max(...)})
     * and browsers' GIF decoders grow the image to the first frame's extent: the model is handed a
     * 768x2048 image. A perfectly valid, 43-byte file.
     */
    static byte[] gifWiderThanItsScreen() {
        return new byte[] {'G', 'I', 'F', '8', '9', 'a',
            1, 0, 1, 0, (byte) 0x80, 0, 0, // logical screen 1x1, global colour table of 2
            0, 0, 0, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
            0x2C, (byte) 0xFF, 0x02, (byte) 0xFF, 0x07, 1, 0, 1, 0, 0, // frame at (767, 2047), 1x1
            0x02, 0x02, 0x44, 0x01, 0x00, // LZW image data
            0x3B};
    }

    /** The size Pillow opens a GIF at: its logical screen, grown to the first frame's extent. */
    static int[] pillowGifSize(byte[] gif) {
        int w = u16le(gif, 6);
        int h = u16le(gif, 8);
        int i = 13 + ((gif[10] & 0x80) != 0 ? 3 << ((gif[10] & 7) + 1) : 0);
        while (i < gif.length && gif[i] == 0x21) {
            // extension blocks: label, then sub-blocks
            i += 2;
            while (gif[i] != 0) {
                i += (gif[i] & 0xFF) + 1;
            }
            i++;
        }
        if (i < gif.length && gif[i] == 0x2C) {
            w = Math.max(w, u16le(gif, i + 1) + u16le(gif, i + 5));
            h = Math.max(h, u16le(gif, i + 3) + u16le(gif, i + 7));
        }
        return new int[] {w, h};
    }

    private static int u16le(byte[] b, int i) {
        return (b[i] & 0xFF) | ((b[i + 1] & 0xFF) << 8);
    }

    /**
     * A real 768x2048 baseline JPEG (ImageIO's), with two segments inserted after its SOI: an RST0
     * marker ({@code FF D0}), which libjpeg ({@code jdmarker.c}: RSTn and TEM are "parameterless
     * markers") and Pillow (its MARKER table: RSTn, no handler) pass over as the two bytes they are,
     * then an APP1 segment of 65,535 bytes of zeros. A reader that takes every marker to carry a
     * length reads the APP1 marker's own bytes ({@code FF E1}) as RST0's length and lands 65,503 bytes
     * further, inside APP1's data, where a fake SOF0 says 1x1. Every decoder skips APP1 whole and
     * decodes the 768x2048 frame.
     */
    static byte[] jpegWithParameterlessMarker() throws IOException {
        BufferedImage img = new BufferedImage(768, 2048, BufferedImage.TYPE_INT_RGB);
        ByteArrayOutputStream real = new ByteArrayOutputStream();
        ImageIO.write(img, "jpg", real);
        byte[] jpeg = real.toByteArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(jpeg, 0, 2); // SOI
        out.write(new byte[] {(byte) 0xFF, (byte) 0xD0}); // RST0: no length
        byte[] app1 = new byte[2 + 2 + 65_533];
        app1[0] = (byte) 0xFF;
        app1[1] = (byte) 0xE1;
        app1[2] = (byte) 0xFF;
        app1[3] = (byte) 0xFF; // length 65,535
        // where the misreading lands: absolute offset 65,509 = 4 bytes before APP1 + 65,505 into it
        int at = 65_509 - 4;
        byte[] fakeSof = {(byte) 0xFF, (byte) 0xC0, 0x00, 0x11, 0x08, 0x00, 0x01, 0x00, 0x01, 0x03};
        System.arraycopy(fakeSof, 0, app1, at, fakeSof.length);
        out.write(app1);
        out.write(jpeg, 2, jpeg.length - 2);
        return out.toByteArray();
    }

    /** gpt-4o's published image rate (detail high/auto): 85 + 170 per 512-pixel tile after fitting. */
    static long gpt4o(long w, long h) {
        double scale = Math.min(1, 2048.0 / Math.max(w, h));
        double sw = w * scale;
        double sh = h * scale;
        double shortest = Math.min(sw, sh);
        if (shortest > 768) {
            sw = sw * 768 / shortest;
            sh = sh * 768 / shortest;
        }
        return 85 + 170 * (long) Math.ceil(sw / 512) * (long) Math.ceil(sh / 512);
    }

    // ------------------------------------------------------------------------------------------------
    // the mock provider
    // ------------------------------------------------------------------------------------------------

    /**
     * Mock model endpoints. Chat completions stream the way OpenAI streams by default: without
     * {@code stream_options.include_usage} no chunk carries usage. What OpenAI bills is computed by its
     * published rules (text at 4 characters a token; images per model and detail) and kept in
     * {@link #BILLED} under the caller's {@code x-user-id}.
     */
    public static class Models extends HttpServlet {
        static final Map<String, Long> BILLED = new ConcurrentHashMap<>();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? req.getServletPath() : req.getServletPath() + req.getPathInfo();
            String who = req.getHeader("x-user-id");
            JsonNode body = JSON.readTree(req.getInputStream());
            if (path.endsWith("/v1/chat/completions")) {
                chat(resp, body, who);
            } else if (path.endsWith("/v1/structured/stream")) {
                structured(resp, body, who);
            } else if (path.contains(":streamGenerateContent")) {
                gemini(resp);
            } else if (path.endsWith("/v1/responses")) {
                responsesIncomplete(resp);
            } else if (path.endsWith("/v1/images/generations")) {
                images(resp, body.path("model").asText(), body.path("quality").asText("high"),
                        body.path("size").asText("1024x1024"), body.path("partial_images").asInt(0), who, "image_generation");
            } else {
                resp.sendError(404);
            }
        }

        /** OpenAI's chat completions; images priced by the model's published rates. */
        private void chat(HttpServletResponse resp, JsonNode body, String who) throws IOException {
            String model = body.path("model").asText();
            long prompt = 0;
            for (JsonNode message : body.path("messages")) {
                JsonNode content = message.path("content");
                if (content.isTextual()) {
                    prompt += content.asText().length() / 4 + 4;
                }
                for (JsonNode part : content) {
                    if ("text".equals(part.path("type").asText())) {
                        prompt += part.path("text").asText().length() / 4;
                    } else if ("image_url".equals(part.path("type").asText())) {
                        prompt += image(model, part.path("image_url"));
                    }
                }
            }
            int words = Math.max(1, Math.min(body.path("max_tokens").asInt(50), 50));
            BILLED.merge(who, prompt + words, Long::sum);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String head = "{\"id\":\"chatcmpl-63\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\""
                    + model + "\",";
            for (int i = 0; i < words; i++) {
                out.write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"},"
                        + "\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
            }
            out.write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
                    .getBytes(StandardCharsets.UTF_8));
            if (body.path("stream_options").path("include_usage").asBoolean(false)) {
                out.write(("data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt
                        + ",\"completion_tokens\":" + words + ",\"total_tokens\":" + (prompt + words) + "}}\n\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }

        /**
         * One image, as OpenAI's vision guide prices it: gpt-4o 85 + 170 a tile (85 for detail low);
         * gpt-4o-mini 2,833 + 5,667 a tile (2,833 for detail low). An image by URL here is a 1024x1024
         * photo; an inline image is decoded as the provider's decoder does (Pillow for GIF, libjpeg for
         * JPEG).
         */
        private static long image(String model, JsonNode imageUrl) throws IOException {
            String url = imageUrl.path("url").asText();
            boolean low = "low".equals(imageUrl.path("detail").asText());
            long[] size = {1024, 1024};
            if (url.startsWith("data:")) {
                byte[] bytes = Base64.getDecoder().decode(url.substring(url.indexOf(',') + 1));
                if (url.startsWith("data:image/gif")) {
                    int[] s = pillowGifSize(bytes);
                    size = new long[] {s[0], s[1]};
                } else {
                    BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(bytes));
                    size = new long[] {decoded.getWidth(), decoded.getHeight()};
                }
            }
            long tiles = (gpt4o(size[0], size[1]) - 85) / 170;
            if (model.startsWith("gpt-4o-mini")) {
                return low ? 2_833 : 2_833 + 5_667 * tiles;
            }
            return low ? 85 : 85 + 170 * tiles;
        }

        /**
         * A structured-output endpoint: it asks the model for a JSON object (OpenAI's
         * {@code response_format: json_object}) and hands the object to the browser as one server-sent
         * event, {@code data:<the model's JSON>} (Spring's {@code SseEmitter.send(String)}); the usage
         * stays in the application. The model writes what the user asks for: here one line of JSON
         * holding a 1,500-word essay, in the shape the user asked for.
         */
        private void structured(HttpServletResponse resp, JsonNode body, String who) throws IOException {
            StringBuilder essay = new StringBuilder();
            for (int i = 0; i < 1_500; i++) {
                essay.append("word").append(i % 10).append(' ');
            }
            String shape = body.path("metadata").path("shape").asText("answer");
            String answer = "error".equals(shape)
                    ? "{\"error\":{\"message\":\"" + essay + "\",\"type\":\"essay\"}}"
                    : "{\"answer\":\"" + essay + "\"}";
            BILLED.merge(who, 2_000L, Long::sum);
            resp.setContentType("text/event-stream");
            resp.getOutputStream().write(("data:" + answer + "\n\n").getBytes(StandardCharsets.UTF_8));
        }

        /**
         * Gemini's {@code streamGenerateContent} without {@code alt=sse}: one JSON array of chunks, the
         * early ones counting the prompt (with its cached part) and the thoughts so far, the last one
         * the answer with thoughts, tool-use prompt (a Google Search grounding) and cached content.
         */
        private void gemini(HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json; charset=UTF-8");
            String early = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Tides are\"}],\"role\":\"model\"},"
                    + "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9000,\"totalTokenCount\":10200,"
                    + "\"cachedContentTokenCount\":8000,\"thoughtsTokenCount\":1200,\"promptTokensDetails\":[{\"modality\":"
                    + "\"TEXT\",\"tokenCount\":9000}]},\"modelVersion\":\"gemini-2.5-pro\",\"responseId\":\"r63\"}";
            String last = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" the rise and fall.\"}],\"role\":"
                    + "\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9000,"
                    + "\"candidatesTokenCount\":700,\"totalTokenCount\":13900,\"cachedContentTokenCount\":8000,"
                    + "\"toolUsePromptTokenCount\":2000,\"thoughtsTokenCount\":2200,\"cacheTokensDetails\":[{\"modality\":"
                    + "\"TEXT\",\"tokenCount\":8000}]},\"modelVersion\":\"gemini-2.5-pro\",\"responseId\":\"r63\"}";
            resp.getOutputStream().write(("[" + early + "\r\n," + early + "\r\n," + last + "]")
                    .getBytes(StandardCharsets.UTF_8));
        }

        /**
         * A Responses stream that stops at {@code max_output_tokens}: it ends with
         * {@code response.incomplete}, whose usage is what OpenAI bills (no {@code response.completed}).
         */
        private void responsesIncomplete(HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream");
            String r = "{\"id\":\"resp_r63\",\"object\":\"response\",\"model\":\"o4-mini\",\"status\":";
            String out = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                    + r + "\"in_progress\",\"usage\":null}}\n\n"
                    + "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,"
                    + "\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Tides\"}\n\n"
                    + "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"sequence_number\":2,\"response\":"
                    + r + "\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"usage\":{"
                    + "\"input_tokens\":6000,\"input_tokens_details\":{\"cached_tokens\":4000},\"output_tokens\":3000,"
                    + "\"output_tokens_details\":{\"reasoning_tokens\":2990},\"total_tokens\":9000}}}\n\n";
            resp.getOutputStream().write(out.getBytes(StandardCharsets.UTF_8));
        }

        /**
         * OpenAI's image streaming ({@code stream: true}): {@code partial_images} previews, then the
         * final image with usage after the model finished drawing. A client that has its previews and
         * hangs up before the final event: the endpoint notices when its next write fails.
         */
        static void images(HttpServletResponse resp, String model, String quality, String size, int partials, String who,
                           String kind) throws IOException {
            long output = ("low".equals(quality) ? 272 : "medium".equals(quality) ? 1_056 : 4_160) + 100L * partials;
            BILLED.merge(who, output + 20, Long::sum);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String b64 = "iVBORw0KGgo" + "A".repeat(4_000);
            try {
                for (int i = 0; i < partials; i++) {
                    out.write(("event: " + kind + ".partial_image\ndata: {\"type\":\"" + kind + ".partial_image\","
                            + "\"b64_json\":\"" + b64 + "\",\"partial_image_index\":" + i + ",\"size\":\"" + size
                            + "\",\"quality\":\"" + quality + "\"}\n\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
                // the model finishes the full image: keep-alive comments until it is done (or the client left)
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(8);
                while (System.nanoTime() < deadline) {
                    out.write(": drawing\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    Thread.sleep(20);
                }
                out.write(("event: " + kind + ".completed\ndata: {\"type\":\"" + kind + ".completed\",\"b64_json\":\""
                        + b64 + "\",\"usage\":{\"input_tokens\":20,\"output_tokens\":" + output
                        + ",\"total_tokens\":" + (output + 20) + ",\"input_tokens_details\":{\"text_tokens\":20,"
                        + "\"image_tokens\":0}}}\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException gone) {
                // the client hung up after its previews
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** OpenAI's {@code POST /v1/images/edits}: multipart, the image(s) to edit and the same fields. */
    public static class Edits extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            try {
                for (Part p : req.getParts()) {
                    p.getInputStream().readAllBytes();
                }
            } catch (ServletException e) {
                throw new IOException(e);
            }
            String partials = req.getParameter("partial_images");
            Models.images(resp, req.getParameter("model"), req.getParameter("quality"), req.getParameter("size"),
                    partials == null ? 0 : Integer.parseInt(partials), req.getHeader("x-user-id"), "image_edit");
        }
    }

    /**
     * A raw POST on its own connection: reads the streamed answer until {@code until} appears, then
     * resets the connection (a client that had what it wanted and hung up).
     */
    String postAndHangUp(String path, String subject, String contentType, byte[] body, String until) throws IOException {
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", container.port()), 5_000);
            socket.setSoTimeout(15_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + subject
                    + "\r\nContent-Type: " + contentType + "\r\nContent-Length: " + body.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream seen = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) != -1) {
                seen.write(buf, 0, n);
                if (seen.toString(StandardCharsets.ISO_8859_1).contains(until)) {
                    break;
                }
            }
            socket.setSoLinger(true, 0);
            return seen.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private String chatWithImages(String model, String detail, int count, String dataUrl) {
        StringBuilder parts = new StringBuilder("{\"type\":\"text\",\"text\":\"What do these show?\"}");
        for (int i = 0; i < count; i++) {
            String url = dataUrl != null ? dataUrl : "https://img.example.com/photo-" + i + ".jpg";
            parts.append(",{\"type\":\"image_url\",\"image_url\":{\"url\":\"").append(url).append('"')
                    .append(detail == null ? "" : ",\"detail\":\"" + detail + "\"").append("}}");
        }
        return "{\"model\":\"" + model + "\",\"stream\":true,\"max_tokens\":50,"
                + "\"messages\":[{\"role\":\"user\",\"content\":[" + parts + "]}]}";
    }

    // ------------------------------------------------------------------------------------------------
    // attacks
    // ------------------------------------------------------------------------------------------------

    /**
     * Ten GIFs whose logical screen says 1x1, each a 768x2048 image to Pillow (the frame sits at its
     * far corner), sent inline to gpt-4o on a stream without usage. gpt-4o bills 1,445 per image
     * (2x4 tiles); the filter reads the screen size and holds an item's 258.
     */
    @Test
    void gifScreenSmallerThanItsFrameIsHeldAsATinyImage() {
        String s = subject();
        byte[] gif = gifWiderThanItsScreen();
        int[] seen = pillowGifSize(gif);
        assertEquals(768, seen[0]);
        assertEquals(2048, seen[1]);
        String url = "data:image/gif;base64," + Base64.getEncoder().encodeToString(gif);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s,
                chatWithImages("gpt-4o", "high", 10, url));
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = settled(s);
        long billed = Models.BILLED.get(s);
        assertTrue(billed >= 14_450, "the provider bills 10 x 1,445: " + billed);
        assertTrue(a.used() >= billed, "ten 768x2048 images (as Pillow decodes the GIFs) on a stream without usage: "
                + "OpenAI bills " + billed + ", the filter charged " + a.used() + " " + ledger(s));
    }

    /**
     * Five real 768x2048 JPEGs with an RST0 marker before their metadata: libjpeg and Pillow pass over
     * it as the parameterless marker it is; the filter reads two bytes of length after it and lands on
     * a fake 1x1 frame header in the APP1 segment's data.
     */
    @Test
    void jpegParameterlessMarkerLeadsTheHeaderReaderToAFakeFrame() throws IOException {
        String s = subject();
        byte[] jpeg = jpegWithParameterlessMarker();
        BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(jpeg));
        assertEquals(768, decoded.getWidth(), "the JPEG decodes (libjpeg) at its real size");
        assertEquals(2048, decoded.getHeight());
        assertTrue(jpeg.length < 150_000, "a small file: " + jpeg.length);
        String url = "data:image/jpeg;base64," + Base64.getEncoder().encodeToString(jpeg);
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s,
                chatWithImages("gpt-4o", "high", 5, url));
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = settled(s);
        long billed = Models.BILLED.get(s);
        assertTrue(a.used() >= billed, "five 768x2048 JPEGs on a stream without usage: OpenAI bills " + billed
                + ", the filter charged " + a.used() + " " + ledger(s));
    }

    /**
     * gpt-4o-mini bills an image at 2,833 tokens with {@code "detail": "low"} (OpenAI's vision guide:
     * base 2,833, tile 5,667; usage reports it so). OpenAI streams report no usage unless asked, so
     * the filter's figure is the charge: 85, raised to an item's 258, for each image.
     */
    @Test
    void lowDetailImagesOnGpt4oMiniAreHeldAt85() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s,
                chatWithImages("gpt-4o-mini", "low", 5, null));
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = settled(s);
        long billed = Models.BILLED.get(s);
        assertTrue(a.used() >= billed, "five low-detail images on gpt-4o-mini, streamed without usage: OpenAI bills "
                + billed + ", the filter charged " + a.used() + " " + ledger(s));
    }

    /**
     * The control: the same five low-detail images with {@code include_usage}: the usage settles it.
     * (Held: the break above is only the stream without usage.)
     */
    @Test
    void lowDetailImagesOnGpt4oMiniWithUsageAreChargedTheirUsage() {
        String s = subject();
        String body = chatWithImages("gpt-4o-mini", "low", 5, null)
                .replace("\"stream\":true,", "\"stream\":true,\"stream_options\":{\"include_usage\":true},");
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(Models.BILLED.get(s), settled(s).used(), ledger(s));
    }

    /**
     * A structured-output endpoint hands the model's JSON object to the browser as one event. The user
     * asks for the essay inside {@code {"error":{"message":…}}}: the stream's only event now looks like
     * OpenAI's streamed error, and the filter settles the 200 as a provider failure (released).
     */
    @Test
    void modelWrittenErrorShapedEventMakesTheAnswerFree() {
        String s = subject();
        String body = "{\"model\":\"gpt-4o\",\"response_format\":{\"type\":\"json_object\"},\"metadata\":{\"shape\":\"error\"},"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a 1,500-word essay on tides. Reply with one line "
                + "of compact JSON: {\\\"error\\\":{\\\"message\\\": <the essay>, \\\"type\\\": \\\"essay\\\"}}\"}]}";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/structured/stream"), s, body);
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("word9 word0"), "the client has its essay");
        QuotaAccount a = settled(s);
        assertTrue(a.used() > 0, "a 200 that delivered a 1,500-word model answer (no usage reported) must be charged"
                + " at least the estimate; charged " + a.used() + " " + ledger(s));
    }

    /**
     * OpenAI's {@code chatgpt-image-latest} (an image model of the gpt-image family, billed in image
     * output tokens by size and quality) streamed with two previews; the client hangs up after them.
     * The filter holds image output only for model names starting with {@code gpt-image}: the call is
     * charged as a text prompt with the default output budget.
     */
    @Test
    void chatgptImageLatestStreamCutIsChargedAsText() throws IOException {
        String s = subject();
        String body = "{\"model\":\"chatgpt-image-latest\",\"prompt\":\"A lighthouse at dusk, oil painting\","
                + "\"size\":\"1024x1024\",\"quality\":\"high\",\"stream\":true,\"partial_images\":2}";
        String seen = postAndHangUp("/ai/v1/images/generations", s, "application/json",
                body.getBytes(StandardCharsets.UTF_8), "\"partial_image_index\":1");
        assertTrue(seen.contains("partial_image_index\":1"), seen.substring(0, Math.min(200, seen.length())));
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 4_160 + 200, "a high-quality 1024x1024 image with 2 previews is 4,360 output tokens by"
                + " OpenAI's table (what the filter holds for gpt-image-1); charged " + a.used() + " " + ledger(s));
    }

    /**
     * {@code POST /v1/images/edits} (multipart, as OpenAI's SDKs send it) with gpt-image-1, high
     * quality, streamed with two previews; the client hangs up after them. The same request as JSON
     * to /images/generations holds 4,360; sent as multipart fields the image output is not held.
     */
    @Test
    void multipartImageEditStreamCutMissesTheImageOutput() throws IOException {
        String s = subject();
        String boundary = "----r63" + UUID.randomUUID();
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        Map<String, String> fields = new java.util.LinkedHashMap<>();
        fields.put("model", "gpt-image-1");
        fields.put("prompt", "Add a red scarf to the cat");
        fields.put("size", "1024x1024");
        fields.put("quality", "high");
        fields.put("stream", "true");
        fields.put("partial_images", "2");
        for (Map.Entry<String, String> f : fields.entrySet()) {
            b.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f.getKey() + "\"\r\n\r\n"
                    + f.getValue() + "\r\n").getBytes(StandardCharsets.UTF_8));
        }
        BufferedImage img = new BufferedImage(256, 256, BufferedImage.TYPE_INT_RGB);
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(img, "png", png);
        b.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"image[]\"; filename=\"cat.png\"\r\n"
                + "Content-Type: image/png\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        b.writeBytes(png.toByteArray());
        b.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        String seen = postAndHangUp("/ai/v1/images/edits", s, "multipart/form-data; boundary=" + boundary,
                b.toByteArray(), "\"partial_image_index\":1");
        assertTrue(seen.contains("partial_image_index\":1"), seen.substring(0, Math.min(200, seen.length())));
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 4_160 + 200, "a high-quality 1024x1024 gpt-image-1 edit with 2 previews is 4,360 output"
                + " tokens (held so for the JSON generation request); charged " + a.used() + " " + ledger(s));
    }

    /**
     * The control for the two above: gpt-image-1 as JSON to /images/generations, cut the same way,
     * is charged its image (held).
     */
    @Test
    void gptImage1JsonStreamCutIsChargedItsImage() throws IOException {
        String s = subject();
        String body = "{\"model\":\"gpt-image-1\",\"prompt\":\"A lighthouse at dusk, oil painting\","
                + "\"size\":\"1024x1024\",\"quality\":\"high\",\"stream\":true,\"partial_images\":2}";
        postAndHangUp("/ai/v1/images/generations", s, "application/json", body.getBytes(StandardCharsets.UTF_8),
                "\"partial_image_index\":1");
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= 4_360, "charged " + a.used() + " " + ledger(s));
    }

    /**
     * Gemini's JSON-array stream with cached content, thoughts and a grounding tool's prompt: the last
     * chunk's totalTokenCount (13,900) is the bill (held if charged so).
     */
    @Test
    void geminiArrayStreamWithThoughtsCacheAndToolUseIsChargedItsTotal() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1beta/models/gemini-2.5-pro:streamGenerateContent"), s,
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Explain tides\"}]}],"
                        + "\"tools\":[{\"google_search\":{}}],\"generationConfig\":{\"maxOutputTokens\":4000}}");
        assertEquals(200, r.statusCode());
        assertEquals(13_900, settled(s).used(), ledger(s));
    }

    /** A Responses stream ended by {@code response.incomplete}: charged its usage, 9,000 (held if so). */
    @Test
    void responsesIncompleteStreamIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/responses"), s,
                "{\"model\":\"o4-mini\",\"input\":\"Explain tides\",\"stream\":true,\"max_output_tokens\":3000}");
        assertEquals(200, r.statusCode());
        assertEquals(9_000, settled(s).used(), ledger(s));
    }
}
