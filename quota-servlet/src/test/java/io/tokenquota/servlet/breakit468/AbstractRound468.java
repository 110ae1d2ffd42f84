package io.tokenquota.servlet.breakit468;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.api.Test;

/**
 * Round 468 of issue 11: OpenAI's image edits streamed ({@code POST /v1/images/edits} with {@code stream: true},
 * gpt-image-1) send {@code image_edit.partial_image} events, then {@code image_edit.completed} with the picture
 * and the call's usage (OpenAI API reference, "Image edit streaming events": type, b64_json, created_at, size,
 * quality, background, output_format, usage{total_tokens, input_tokens, output_tokens, input_tokens_details
 * {text_tokens, image_tokens}}). A relay passing that stream on must be charged its usage, as the generations
 * stream ({@code image_generation.completed}, the control) is.
 */
abstract class AbstractRound468 extends ShapedAnswerRound {
    static final long INPUT = 50 + 323;
    static final long OUTPUT = 4_160 + 2 * 100;

    static String usage() {
        return "{\"total_tokens\":" + (INPUT + OUTPUT) + ",\"input_tokens\":" + INPUT + ",\"output_tokens\":" + OUTPUT
                + ",\"input_tokens_details\":{\"text_tokens\":50,\"image_tokens\":323}}";
    }

    /** About 60 KB of base64, standing for a PNG (its bytes are not read for usage). */
    static final String B64 = Base64.getEncoder().encodeToString(new byte[45_000]);

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        String kind;
        switch (shape) {
            case "image-edit-stream":
                kind = "image_edit";
                break;
            case "image-generation-stream":
                kind = "image_generation";
                break;
            default:
                return false;
        }
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        for (int i = 0; i < 2; i++) {
            out.write(("event: " + kind + ".partial_image\ndata: {\"type\":\"" + kind + ".partial_image\",\"b64_json\":\""
                    + B64 + "\",\"created_at\":1735689602,\"size\":\"1024x1536\",\"quality\":\"high\","
                    + "\"background\":\"opaque\",\"output_format\":\"png\",\"partial_image_index\":" + i + "}\n\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
        }
        out.write(("event: " + kind + ".completed\ndata: {\"type\":\"" + kind + ".completed\",\"b64_json\":\"" + B64
                + "\",\"created_at\":1735689602,\"size\":\"1024x1536\",\"quality\":\"high\",\"background\":\"opaque\","
                + "\"output_format\":\"png\",\"usage\":" + usage() + "}\n\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
        return true;
    }

    static final String REQUEST = "{\"model\":\"gpt-image-1\",\"prompt\":\"Put a red hat on the cat\","
            + "\"size\":\"1024x1536\",\"quality\":\"high\",\"stream\":true,\"partial_images\":2}";

    @Test
    void aStreamedImageEditIsChargedItsUsage() {
        String s = "r468-edit-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/image-edit-stream"), s, REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(INPUT + OUTPUT, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Control: the same stream from the generations endpoint. */
    @Test
    void aStreamedImageGenerationIsChargedItsUsage() {
        String s = "r468-gen-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/image-generation-stream"), s, REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(INPUT + OUTPUT, settled(s).used(), kind() + ": " + ledger(s));
    }
}
