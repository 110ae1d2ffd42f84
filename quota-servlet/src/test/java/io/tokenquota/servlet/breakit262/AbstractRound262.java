package io.tokenquota.servlet.breakit262;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.util.Base64;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 262 of issue 11: OpenAI Responses features a relay passes on. A relay of {@code POST /v1/responses}
 * streams the provider's events as they come; its upstream connection breaks after the model wrote part of
 * its answer, so the stream ends without {@code response.completed} (no usage). The call is then charged
 * its estimate or the text it carried: the estimate must hold what the model read.
 */
abstract class AbstractRound262 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u262-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** Opaque ciphertext as OpenAI writes it (Fernet token, base64url, "gAAAAA…"), {@code chars} long. */
    static String ciphertext(int chars, long seed) {
        byte[] b = new byte[chars];
        new Random(seed).nextBytes(b);
        String s = "gAAAAA" + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
        return s.substring(0, chars);
    }

    static final String SENTENCE = "The supplier shall deliver the goods within thirty days of the order and bear the risk until delivery. ";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("relay", new Relay(), "/ai/v1/*");
    }

    static final String IN_PROGRESS = "{\"id\":\"resp_262\",\"object\":\"response\",\"created_at\":1760000000,"
            + "\"status\":\"in_progress\",\"background\":false,\"model\":\"gpt-5-codex\",\"output\":[],\"store\":false,\"usage\":null}";

    /**
     * A relay of {@code /v1/responses} and {@code /v1/responses/compact}. A compaction answers OpenAI's
     * {@code response.compaction} object with its usage. A first tool-loop step answers the reasoning item
     * (encrypted, as asked by {@code include}) and a function call, with its usage. A continuation (a body
     * sending back a {@code compaction} item or a {@code function_call_output}) streams 40 text deltas, then
     * the upstream connection breaks and the relay ends its answer: no {@code response.completed}.
     */
    class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            calls.count(req.getHeader("x-user-id"));
            OutputStream out = resp.getOutputStream();
            if (req.getPathInfo().endsWith("/responses/compact")) {
                resp.setContentType("application/json");
                out.write(("{\"id\":\"resp_cmp_262\",\"object\":\"response.compaction\",\"created_at\":1760000000,"
                        + "\"output\":[{\"type\":\"compaction\",\"id\":\"cmp_68f0a1\",\"encrypted_content\":\"" + COMPACTED
                        + "\"}],\"usage\":{\"input_tokens\":4000,\"input_tokens_details\":{\"cached_tokens\":0},"
                        + "\"output_tokens\":5000,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":9000}}")
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
                return;
            }
            if (body.contains("\"image_generation\"")) {
                drawAndBreak(resp);
                return;
            }
            int outputs = body.split("function_call_output", -1).length - 1;
            if (outputs < 2 && !body.contains("\"compaction\"")) {
                // step 1 (no tool output yet) or step 2 (one): a reasoning item and a function call, with usage
                int step = outputs + 1;
                long input = step == 1 ? 300 : 3_400;
                resp.setContentType("application/json");
                out.write(("{\"id\":\"resp_step" + step + "\",\"object\":\"response\",\"created_at\":1760000000,\"status\":\"completed\","
                        + "\"background\":false,\"model\":\"o4-mini\",\"store\":false,\"output\":["
                        + "{\"type\":\"reasoning\",\"id\":\"rs_68f0b" + step + "\",\"summary\":[],\"encrypted_content\":\"" + REASONING + "\"},"
                        + "{\"type\":\"function_call\",\"id\":\"fc_68f0c" + step + "\",\"call_id\":\"call_" + step + "\",\"name\":\"get_weather\","
                        + "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\",\"status\":\"completed\"}],"
                        + "\"usage\":{\"input_tokens\":" + input + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":3200,"
                        + "\"output_tokens_details\":{\"reasoning_tokens\":3000},\"total_tokens\":" + (input + 3_200) + "}}")
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8));
                return;
            }
            resp.setContentType("text/event-stream");
            ResponsesApi.event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":" + IN_PROGRESS + "}");
            ResponsesApi.event(out, "response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":" + IN_PROGRESS + "}");
            for (int i = 0; i < 40; i++) {
                ResponsesApi.event(out, "response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":"
                        + (i + 2) + ",\"item_id\":\"msg_262\",\"output_index\":0,\"content_index\":0,\"delta\":\"word \",\"logprobs\":[]}");
            }
            // upstream broke here: the relay has nothing more to pass on
        }
    }

    /**
     * The compacted session: 5,000 tokens the compaction wrote, as ciphertext of the size OpenAI's Codex
     * client reads as 5,000 tokens (base64 of 4 bytes a token and a 650-byte envelope).
     */
    static final String COMPACTED = ciphertext(sealed(5_000), 1);
    /** A step's 3,000 reasoning tokens, as ciphertext. */
    static final String REASONING = ciphertext(sealed(3_000), 2);

    static int sealed(int tokens) {
        return (tokens * 4 + 650) * 4 / 3;
    }

    private HttpResponse<String> post(String s, String path, String body) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        return r;
    }

    /**
     * A coding agent (Codex style; the Agents SDK's OpenAIResponsesCompactionSession) compacts its long
     * session with {@code POST /v1/responses/compact} (usage: 4,000 in, 5,000 out, charged) and continues
     * from the returned {@code compaction} item with store: false, as OpenAI documents: the state travels in
     * the request, and the model reads the compacted session as input. The continuation's stream is cut
     * before its usage: it must be charged at least the 5,000 tokens of compacted session it read, so the
     * subject's total is at least 9,000 + 5,000.
     */
    @Test
    void aContinuationFromACompactionItemCutBeforeItsUsageIsChargedTheCompactedSession() throws InterruptedException {
        String s = subject();
        String session = "[{\"type\":\"message\",\"role\":\"user\",\"content\":\"" + SENTENCE.repeat(150) + "\"}]";
        post(s, "/ai/v1/responses/compact", "{\"model\":\"gpt-5-codex\",\"input\":" + session + "}");
        long compacted = chargedAtLeast(s, 9_000).used();
        post(s, "/ai/v1/responses", "{\"model\":\"gpt-5-codex\",\"stream\":true,\"store\":false,"
                + "\"include\":[\"reasoning.encrypted_content\"],\"input\":[{\"type\":\"compaction\",\"id\":\"cmp_68f0a1\","
                + "\"encrypted_content\":\"" + COMPACTED + "\"},{\"type\":\"message\",\"role\":\"user\",\"content\":"
                + "[{\"type\":\"input_text\",\"text\":\"Continue with the failing test.\"}]}]}");
        assertEquals(2, calls.of(s), "the model was called twice");
        long used = settled(s).used();
        assertTrue(used - compacted >= 5_000, "the continuation read the 5,000-token compacted session; charged "
                + (used - compacted) + " (total " + used + "): " + ledger(s));
    }

    /** Control: the same continuation sending the session's items in plain text is charged them. */
    @Test
    void theSameContinuationWithThePlainSessionIsCharged() {
        String s = subject();
        post(s, "/ai/v1/responses", "{\"model\":\"gpt-5-codex\",\"stream\":true,\"store\":false,"
                + "\"input\":[{\"type\":\"compaction\",\"id\":\"none\"},{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\""
                + SENTENCE.repeat(250) + "\"}]},{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"Continue with the failing test.\"}]}]}");
        long used = settled(s).used();
        assertTrue(used >= 5_000, "charged " + used + ": " + ledger(s));
    }

    /**
     * A stateless (store: false, zero data retention) tool loop as OpenAI's reasoning guide and cookbook
     * describe it: each step answers a reasoning item (3,000 reasoning tokens, {@code encrypted_content} as
     * asked by {@code include}) and a function call; the client sends every item since the user's message
     * back with the function outputs, and the model keeps that reasoning in its context (billed as input:
     * step 2 reports 3,400 input tokens for about 400 of visible text). Steps 1 and 2 complete with their
     * usage (3,500 and 6,600, charged). Step 3 reads both reasoning items back (6,000 tokens) and its stream
     * is cut before its usage: it must be charged at least those 6,000.
     */
    @Test
    void aThirdToolLoopStepCarryingTwoEncryptedReasoningItemsCutBeforeItsUsageIsChargedWhatItRead() throws InterruptedException {
        String s = subject();
        String head = "{\"model\":\"o4-mini\",\"store\":false,\"include\":[\"reasoning.encrypted_content\"],"
                + "\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
                + "\"properties\":{\"city\":{\"type\":\"string\"}}}}],";
        String user = "{\"type\":\"message\",\"role\":\"user\",\"content\":\"Plan my trip to Paris given the weather.\"}";
        post(s, "/ai/v1/responses", head + "\"input\":[" + user + "]}");
        String items = user + "," + step(1);
        post(s, "/ai/v1/responses", head + "\"input\":[" + items + "]}");
        long before = chargedAtLeast(s, 3_500 + 6_600).used();
        post(s, "/ai/v1/responses", head + "\"stream\":true,\"input\":[" + items + "," + step(2) + "]}");
        assertEquals(3, calls.of(s), "the model was called three times");
        long used = settled(s).used();
        assertTrue(used - before >= 6_000, "the third step read 6,000 reasoning tokens back; charged "
                + (used - before) + " (total " + used + "): " + ledger(s));
    }

    /** A step's items as the client sends them back: its reasoning item, its function call and the function's output. */
    static String step(int n) {
        return "{\"type\":\"reasoning\",\"id\":\"rs_68f0b" + n + "\",\"summary\":[],\"encrypted_content\":\"" + REASONING + "\"},"
                + "{\"type\":\"function_call\",\"id\":\"fc_68f0c" + n + "\",\"call_id\":\"call_" + n + "\",\"name\":\"get_weather\","
                + "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"},"
                + "{\"type\":\"function_call_output\",\"call_id\":\"call_" + n + "\",\"output\":\"18C, light rain\"}";
    }

    /**
     * A Responses stream of the built-in image generation tool as OpenAI sends it: the model calls the tool,
     * two partial images arrive ({@code response.image_generation_call.partial_image}), then the upstream
     * connection breaks before the final image and {@code response.completed}.
     */
    static void drawAndBreak(HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        String inProgress = IN_PROGRESS.replace("gpt-5-codex", "gpt-5");
        ResponsesApi.event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":" + inProgress + "}");
        ResponsesApi.event(out, "response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":1,"
                + "\"output_index\":0,\"item\":{\"id\":\"ig_68f0d1\",\"type\":\"image_generation_call\",\"status\":\"in_progress\"}}");
        ResponsesApi.event(out, "response.image_generation_call.in_progress", "{\"type\":\"response.image_generation_call.in_progress\","
                + "\"sequence_number\":2,\"output_index\":0,\"item_id\":\"ig_68f0d1\"}");
        ResponsesApi.event(out, "response.image_generation_call.generating", "{\"type\":\"response.image_generation_call.generating\","
                + "\"sequence_number\":3,\"output_index\":0,\"item_id\":\"ig_68f0d1\"}");
        String png = Base64.getEncoder().encodeToString(new byte[30_000]);
        for (int i = 0; i < 2; i++) {
            ResponsesApi.event(out, "response.image_generation_call.partial_image", "{\"type\":\"response.image_generation_call.partial_image\","
                    + "\"sequence_number\":" + (4 + i) + ",\"output_index\":0,\"item_id\":\"ig_68f0d1\",\"partial_image_index\":" + i
                    + ",\"partial_image_b64\":\"" + png + "\",\"size\":\"1024x1536\",\"quality\":\"high\",\"output_format\":\"png\"}");
        }
        // upstream broke here
    }

    /**
     * A chat app's "make a poster" turn: gpt-5 with the built-in image generation tool, high quality,
     * 1024x1536, two partial images, streamed. Cut after both partial images: the image model was drawing a
     * 6,240-token image (OpenAI's table, which the filter applies to the Images API) plus 100 a partial
     * image; the call must be charged at least that, as the same image asked of /v1/images/generations is.
     */
    @Test
    void aResponsesImageToolStreamCutAfterItsPartialImagesIsChargedTheImage() {
        String s = subject();
        post(s, "/ai/v1/responses", "{\"model\":\"gpt-5\",\"stream\":true,\"input\":\"Draw a vintage travel poster of Lisbon.\","
                + "\"tools\":[{\"type\":\"image_generation\",\"model\":\"gpt-image-1\",\"quality\":\"high\",\"size\":\"1024x1536\","
                + "\"partial_images\":2}]}");
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= 6_440, "the image was being drawn; charged " + used + ": " + ledger(s));
    }
}
