package io.tokenquota.servlet.breakit513;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 513 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): OpenAI's stream
 * obfuscation. Since August 2025 OpenAI adds, by default, an {@code obfuscation} field of random characters to every
 * streamed delta event, to pad payload sizes against side-channel attacks (API reference, Chat Completions "Create",
 * {@code stream_options.include_obfuscation}: "These obfuscation fields are included by default"; Responses
 * "Streaming events", {@code response.output_text.delta} carries {@code obfuscation}). A client that streams without
 * {@code include_usage} gets no usage, and the filter charges the text the deltas carried (docs/decisions.md, "A stream
 * whose client asked for no usage"). The padding is no model output and the chunks stay the provider's format: the
 * same answer must be charged the same with and without it. Found charged alike (no finding); kept as controls.
 */
abstract class AbstractRound513 extends ShapedAnswerRound {
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    static final int SLICES = 60;

    static final String CHAT_REQUEST = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write the committee's quarterly report.\"}]}";
    static final String RESPONSES_REQUEST = "{\"model\":\"gpt-4o-mini\",\"stream\":true,"
            + "\"input\":\"Write the committee's quarterly report.\"}";

    /** Random-looking padding as OpenAI sends it (letters and digits, a few to a few dozen). */
    static String pad(int i) {
        String alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        StringBuilder b = new StringBuilder();
        long x = 0x9E3779B97F4A7C15L * (i + 1);
        int n = 4 + (int) ((x >>> 7) & 15);
        for (int k = 0; k < n; k++) {
            x = x * 6364136223846793005L + 1442695040888963407L;
            b.append(alphabet.charAt((int) ((x >>> 33) % alphabet.length())));
        }
        return b.toString();
    }

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        boolean obf = shape.endsWith("-obf");
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        StringBuilder sse = new StringBuilder();
        if (shape.startsWith("chat")) {
            // Chat Completions streaming: chat.completion.chunk objects, data-only SSE, then [DONE]
            sse.append("data: {\"id\":\"chatcmpl-513\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                    + "\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_513\","
                    + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
                    + "\"logprobs\":null,\"finish_reason\":null}]" + (obf ? ",\"obfuscation\":\"" + pad(999) + "\"" : "") + "}\n\n");
            for (int i = 0; i < SLICES; i++) {
                sse.append("data: {\"id\":\"chatcmpl-513\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                        + "\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_513\","
                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":" + q(slice(i, SLICES)) + "},\"logprobs\":null,"
                        + "\"finish_reason\":null}]" + (obf ? ",\"obfuscation\":\"" + pad(i) + "\"" : "") + "}\n\n");
            }
            sse.append("data: {\"id\":\"chatcmpl-513\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                    + "\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_513\","
                    + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]"
                    + (obf ? ",\"obfuscation\":\"" + pad(998) + "\"" : "") + "}\n\n");
            sse.append("data: [DONE]\n\n");
        } else {
            // Responses streaming events, cut after the text's deltas (the client left before response.completed)
            sse.append("event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                    + "{\"id\":\"resp_513\",\"object\":\"response\",\"created_at\":1735689600,\"status\":\"in_progress\","
                    + "\"model\":\"gpt-4o-mini-2024-07-18\",\"output\":[],\"usage\":null}}\n\n");
            sse.append("event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,"
                    + "\"output_index\":0,\"item\":{\"id\":\"msg_513\",\"type\":\"message\",\"status\":\"in_progress\","
                    + "\"content\":[],\"role\":\"assistant\"}}\n\n");
            for (int i = 0; i < SLICES; i++) {
                sse.append("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
                        + "\"sequence_number\":" + (i + 2) + ",\"item_id\":\"msg_513\",\"output_index\":0,\"content_index\":0,"
                        + "\"delta\":" + q(slice(i, SLICES)) + ",\"logprobs\":[]"
                        + (obf ? ",\"obfuscation\":\"" + pad(i) + "\"" : "") + "}\n\n");
            }
        }
        out.write(sse.toString().getBytes(StandardCharsets.UTF_8));
        return true;
    }

    private void assertChargedItsText(String shape) {
        String s = "r513-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, shape.startsWith("chat") ? CHAT_REQUEST : RESPONSES_REQUEST);
        long text = TOKENS.estimate(TEXT);
        assertTrue(used >= text && used <= text + text / 2, kind() + " " + shape + ": a stream without usage carrying "
                + text + " tokens of text charged " + used + ", should be at least " + text + "; " + ledger(s));
    }

    /** Probe: the streams with OpenAI's default obfuscation padding, charged their text. */
    @ParameterizedTest
    @ValueSource(strings = {"chat-obf", "responses-obf"})
    void aStreamWithObfuscationIsChargedItsText(String shape) {
        assertChargedItsText(shape);
    }

    /** Controls: the same streams without the padding. */
    @ParameterizedTest
    @ValueSource(strings = {"chat", "responses"})
    void theSameStreamWithoutObfuscationIsChargedItsText(String shape) {
        assertChargedItsText(shape);
    }
}
