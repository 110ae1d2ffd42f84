package io.tokenquota.servlet.breakit270;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 270 of issue 11: whole (non-streamed) answers that carry no usage, whose model wrote far more
 * than the default output budget (the request names no budget, so the server's own default applies).
 * An application's OpenAI-compatible facade that leaves {@code usage} out, a relay of the Hugging Face
 * Inference API ({@code [{"generated_text": …}]}) or of TGI's {@code /generate} (its token counts come
 * only in headers the relay does not pass on), an Anthropic-shaped facade. The same text streamed
 * without usage, written raw, or answered as a legacy {@code text_completion} or a Gemini answer, is
 * charged at least its text (about 4,400 tokens by the filter's own estimator); answered whole in these
 * shapes it is charged the hold, 1,015. A client of such an endpoint only has to send
 * {@code "stream": false} (and no {@code max_tokens}) to pay a quarter of what it is charged streaming.
 */
abstract class AbstractRound270 extends ShapedAnswerRound {
    static String subject() {
        return "u270-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if ("chat-stream".equals(shape)) {
            // control: the same text streamed as chat chunks, no usage (the client asked for none)
            resp.setContentType("text/event-stream");
            java.io.PrintWriter w = resp.getWriter();
            for (String part : TEXT.split("(?<=\\. )")) {
                w.write("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"local\","
                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":" + q(part) + "},\"finish_reason\":null}]}\n\n");
            }
            w.write("data: [DONE]\n\n");
            w.flush();
            return true;
        }
        if ("default".equals(shape)) {
            // control: the text written raw
            resp.setContentType("text/plain;charset=utf-8");
            resp.getOutputStream().write(TEXT.getBytes(StandardCharsets.UTF_8));
            return true;
        }
        return false;
    }

    @Override
    protected String body(String shape) {
        return switch (shape) {
            case "chat" -> "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"local\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" + q(TEXT)
                    + "},\"finish_reason\":\"stop\"}]}";
            case "tgi" -> "{\"generated_text\":" + q(TEXT) + "}";
            case "hf" -> "[{\"generated_text\":" + q(TEXT) + "}]";
            case "completion" -> "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"local\","
                    + "\"choices\":[{\"index\":0,\"text\":" + q(TEXT) + ",\"finish_reason\":\"stop\"}]}";
            case "anthropic" -> "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\","
                    + "\"content\":[{\"type\":\"text\",\"text\":" + q(TEXT) + "}],\"stop_reason\":\"end_turn\"}";
            case "ollama" -> "{\"model\":\"llama3\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\","
                    + "\"content\":" + q(TEXT) + "},\"done\":true}";
            case "gemini" -> "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":" + q(TEXT)
                    + "}]},\"finishReason\":\"STOP\"}]}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    /** The attack: each shape answered whole, without usage, to a request that names no budget. */
    @ParameterizedTest
    @ValueSource(strings = {"chat", "anthropic", "hf", "tgi"})
    void aWholeAnswerWithoutUsageIsChargedItsText(String shape) {
        charged(shape);
    }

    /** Controls (pass today): the same text streamed, raw, as a legacy completion, as a Gemini answer. */
    @ParameterizedTest
    @ValueSource(strings = {"chat-stream", "default", "completion", "gemini"})
    void theSameTextInOtherShapesIsChargedItsText(String shape) {
        charged(shape);
    }

    private void charged(String shape) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Write a long report on the committee's quarterly results.\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 4_000, shape + ": an answer of about 4,400 tokens (the estimator's count) of text charged " + used + ": " + ledger(s));
    }
}
