package io.tokenquota.servlet.breakit44;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 44 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the accountant's side. Honest clients and endpoints that the rules added in rounds 36-42 against
 * under-charging now over-charge, or refuse although the call's true cost fits the allowance.
 */
abstract class AbstractRound44 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();

    static String subject() {
        return "u44-" + UUID.randomUUID().toString().substring(0, 12);
    }

    // ------------------------------------------------------------------ endpoints

    /**
     * A model endpoint that reads its body and answers with the usage the model billed: a fixed
     * {@value #BILLED_PROMPT} prompt tokens (text plus one image or audio clip, as a vision or audio
     * model bills them) and {@value #BILLED_OUTPUT} output tokens.
     */
    static final long BILLED_PROMPT = 900;
    static final long BILLED_OUTPUT = 150;

    public static class BilledModel extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String header = req.getHeader("x-billed-prompt");
            long prompt = header == null ? BILLED_PROMPT : Long.parseLong(header);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"chatcmpl-44\",\"object\":\"chat.completion\",\"model\":\"m\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"A sky.\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + prompt
                    + ",\"completion_tokens\":" + BILLED_OUTPUT + ",\"total_tokens\":" + (prompt + BILLED_OUTPUT) + "}}");
        }
    }

    /**
     * An OpenAI-compatible chat endpoint that reads its body as Jackson (and OpenAI's API) does: a
     * {@code null} parameter is absent; the budget is {@code max_completion_tokens}, else
     * {@code max_tokens}, else its default of 1,000. It streams that many tokens without a usage
     * report (no {@code stream_options.include_usage}), so the call is charged its estimate.
     */
    public static class OpenAiStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            long budget = 1_000;
            JsonNode mct = body.get("max_completion_tokens");
            JsonNode mt = body.get("max_tokens");
            if (mct != null && !mct.isNull()) {
                budget = mct.asLong();
            } else if (mt != null && !mt.isNull()) {
                budget = mt.asLong();
            }
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            for (long i = 0; i < budget; i += 50) {
                w.write("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                        + "\"delta\":{\"content\":\"tok \"}}]}\n\n");
            }
            w.write("data: [DONE]\n\n");
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("billed", new BilledModel(), "/ai/billed/*")
                .servlet("stream", new OpenAiStream(), "/ai/v1/chat/completions");
    }

    // ------------------------------------------------------------------ uncompressed media

    /** A 24-bit BMP of a light picture (a sky, a pale diagram, a screenshot of a light UI): 180 KB. */
    static byte[] lightBmp() {
        int w = 300;
        int h = 200;
        int row = w * 3;
        ByteBuffer b = ByteBuffer.allocate(54 + row * h).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 'B').put((byte) 'M').putInt(54 + row * h).putInt(0).putInt(54);
        b.putInt(40).putInt(w).putInt(h).putShort((short) 1).putShort((short) 24).putInt(0).putInt(row * h)
                .putInt(2835).putInt(2835).putInt(0).putInt(0);
        Random r = new Random(3);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                b.put((byte) (0xE0 + r.nextInt(16))).put((byte) (0xA0 + y / 4 + r.nextInt(8)))
                        .put((byte) (0x60 + y / 3 + r.nextInt(8)));
            }
        }
        return b.array();
    }

    /** G.711 A-law of one 16-bit sample (the European telephone network's codec). */
    static byte alaw(int pcm16) {
        int pcm = pcm16 >> 3;
        int sign = pcm >= 0 ? 0x80 : 0;
        int mag = Math.min(Math.abs(pcm), 4095);
        int seg = 0;
        for (int m = mag >> 5; m > 0; m >>= 1) {
            seg++;
        }
        int mant = seg == 0 ? (mag >> 1) & 0xF : (mag >> seg) & 0xF;
        return (byte) ((sign | (seg << 4) | mant) ^ 0x55);
    }

    /** A 30-second 8 kHz A-law WAV of a voice at telephone level (format 6, as call recorders write it). */
    static byte[] alawWav() {
        Random r = new Random(7);
        int n = 8000 * 30;
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (int i = 0; i < n; i++) {
            double t = i / 8000.0;
            double env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t);
            double s = 1_400 * env * (Math.sin(2 * Math.PI * 180 * t) * 0.6 + Math.sin(2 * Math.PI * 720 * t) * 0.3
                    + r.nextGaussian() * 0.2);
            data.write(alaw((int) Math.max(-32768, Math.min(32767, s))));
        }
        byte[] pcm = data.toByteArray();
        ByteBuffer b = ByteBuffer.allocate(44 + pcm.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(36 + pcm.length).put("WAVE".getBytes(StandardCharsets.US_ASCII));
        b.put("fmt ".getBytes(StandardCharsets.US_ASCII)).putInt(16).putShort((short) 6).putShort((short) 1)
                .putInt(8000).putInt(8000).putShort((short) 1).putShort((short) 8);
        b.put("data".getBytes(StandardCharsets.US_ASCII)).putInt(pcm.length).put(pcm);
        return b.array();
    }

    void assertChargedTheBill(HttpResponse<String> r, String s, String what) {
        assertChargedTheBill(r, s, what, BILLED_PROMPT + BILLED_OUTPUT);
    }

    void assertChargedTheBill(HttpResponse<String> r, String s, String what, long bill) {
        assertEquals(200, r.statusCode(), what + ": the model bills " + bill
                + " tokens on a 20,000-token allowance, yet the request was refused: " + r.body());
        assertEquals(bill, settled(s).used(), what + " (" + ledger(s) + ")");
    }

    /**
     * A vLLM-served vision model (OpenAI chat, {@code image_url} data URL) asked about a BMP screenshot
     * of a light UI: BMP is uncompressed, its pixel bytes decode byte by byte as ISO-8859-1 with almost no
     * C0 controls, so round 38's "base64 payload that decodes to text" counts 180 KB of pixels as
     * ~150,000 tokens of text beside the image item: a 1,050-token call is refused (429).
     */
    @Test
    void aBmpImageDataUrlIsNotHeldAsTextOfItsPixels() {
        String s = subject();
        String url = "data:image/bmp;base64," + Base64.getEncoder().encodeToString(lightBmp());
        String body = "{\"model\":\"Qwen/Qwen2-VL-7B-Instruct\",\"max_tokens\":300,\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"text\",\"text\":\"What does this screenshot show?\"},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + url + "\"}}]}]}";
        assertChargedTheBill(TestHttp.postJson(container.uri("/ai/billed/v1/chat/completions"), s, body),
                s, "a BMP image in a data URL");
    }

    /**
     * The same picture uploaded raw ({@code Content-Type: image/bmp}) to an app's describe endpoint:
     * the body is read byte by byte as ISO-8859-1 text (round 36/38) instead of costing the fallback
     * a binary body costs.
     */
    @Test
    void aRawBmpUploadIsNotHeldAsText() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/billed/describe"), lightBmp(),
                "x-user-id", s, "Content-Type", "image/bmp");
        assertChargedTheBill(r, s, "a raw BMP upload");
    }

    /**
     * A call-centre recording (8 kHz A-law WAV, 30 s, 240 KB) sent to Gemini as {@code inlineData}
     * audio/wav for a summary: A-law's bytes hold next to no C0 controls (its silence is 0xD5/0x55),
     * so the decoded audio counts as ~100,000 tokens of Latin-1 text. Gemini bills 32 tokens a second
     * (960) plus the prompt.
     */
    @Test
    void anALawWavAudioPartIsNotHeldAsText() {
        String s = subject();
        String body = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Summarise this call.\"},"
                + "{\"inlineData\":{\"mimeType\":\"audio/wav\",\"data\":\"" + Base64.getEncoder().encodeToString(alawWav())
                + "\"}}]}],\"generationConfig\":{\"maxOutputTokens\":300}}";
        assertChargedTheBill(TestHttp.postJson(container.uri("/ai/billed/v1beta/models/gemini-2.5-flash:generateContent"), s, body),
                s, "an A-law WAV audio part");
    }

    /** The same recording uploaded raw to a transcription endpoint ({@code Content-Type: audio/wav}). */
    @Test
    void aRawALawWavUploadIsNotHeldAsText() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/billed/transcribe"), alawWav(),
                "x-user-id", s, "Content-Type", "audio/wav");
        assertChargedTheBill(r, s, "a raw A-law WAV upload");
    }

    /**
     * A Java client serialising its request record with a default ObjectMapper (nulls included) sends
     * {@code "max_tokens":null,"max_completion_tokens":300} (max_tokens kept for older models,
     * max_completion_tokens for o-series): OpenAI (and any Jackson/Go/Python endpoint) reads the null
     * as absent and writes at most 300 tokens. Round 37's rule takes any null budget as "the endpoint's
     * default, which a budget beside it does not bound": the stream (no usage) is charged the 1,000
     * default budget instead of the 300 the endpoint is bound to, and a user with 700 tokens left is
     * refused a call that costs at most ~310.
     */
    @Test
    void aNullMaxTokensBesideMaxCompletionTokensIsChargedTheNamedBudget() {
        String messages = "\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Write a haiku about rain.\"}]";
        String control = subject();
        HttpResponse<String> a = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), control,
                "{" + messages + ",\"max_completion_tokens\":300}");
        assertEquals(200, a.statusCode(), a.body());
        long plain = settled(control).used();

        String s = subject();
        HttpResponse<String> b = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s,
                "{" + messages + ",\"max_tokens\":null,\"max_completion_tokens\":300,\"temperature\":null}");
        assertEquals(200, b.statusCode(), b.body());
        assertEquals(plain, settled(s).used(), "the endpoint wrote the same 300-token answer; the body only"
                + " adds a null max_tokens it reads as absent (" + ledger(s) + ")");
    }

    /**
     * A web chat front end attaches a CSV with the browser's {@code FileReader.readAsDataURL} in its own
     * field; the Spring back end decodes it and sends its text to the model. The filter counts the
     * base64 characters as text (any field's string counts) and, since round 38, the decoded CSV again:
     * a call the model bills as the CSV's text (about 10,000 tokens by the filter's own estimator) plus
     * the question and answer is held at over 25,000 and refused.
     */
    @Test
    void aDataUrlAttachmentInAnAppFieldIsNotHeldTwice() {
        StringBuilder csv = new StringBuilder("date,region,product,units,revenue\n");
        Random r = new Random(11);
        String[] regions = {"north", "south", "east", "west"};
        String[] products = {"widget", "gadget", "gizmo", "doohickey"};
        while (csv.length() < 22_000) {
            csv.append("2026-").append(1 + r.nextInt(12)).append('-').append(1 + r.nextInt(28)).append(',')
                    .append(regions[r.nextInt(4)]).append(',').append(products[r.nextInt(4)]).append(',')
                    .append(r.nextInt(500)).append(',').append(r.nextInt(90_000) / 100.0).append('\n');
        }
        String url = "data:text/csv;base64," + Base64.getEncoder().encodeToString(csv.toString().getBytes(StandardCharsets.UTF_8));
        // the model reads the CSV's text and the question: billed as the filter's own estimator counts them
        long prompt = new io.tokenquota.estimator.DefaultTokenEstimator().estimate(csv) + 20;
        String s = subject();
        HttpResponse<String> resp = TestHttp.postJson(container.uri("/ai/billed/ask"), s,
                "{\"question\":\"Which region sold the most gadgets?\",\"attachment\":\"" + url + "\"}",
                "x-billed-prompt", Long.toString(prompt));
        assertChargedTheBill(resp, s, "a CSV attached as a data URL in the app's own field", prompt + BILLED_OUTPUT);
    }
}
