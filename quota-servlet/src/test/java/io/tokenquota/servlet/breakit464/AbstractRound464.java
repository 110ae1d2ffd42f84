package io.tokenquota.servlet.breakit464;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 464 of issue 11: a response whose answer (an OpenAI chat completion with its usage) was written
 * but not yet sent when the endpoint replaced it with an error: {@code sendError(502)} (a handler's
 * post-processing failing after the model answered, as Spring's {@code ResponseStatusException} is
 * answered), or a {@code resetBuffer()} then a 502 problem body. The container discards the answer, but
 * the model ran: the usage it carried must be charged, as when the answer is sent (no finding: all are
 * charged 9,000 on Jetty and Tomcat; kept as controls).
 */
abstract class AbstractRound464 extends ShapedAnswerRound {
    static final long PROMPT = 1_200;
    static final long COMPLETION = 7_800;

    /**
     * OpenAI's chat completion object (platform.openai.com API reference, "The chat completion object":
     * id, object, created, model, choices[{index, message{role, content, refusal}, logprobs, finish_reason}],
     * usage{prompt_tokens, completion_tokens, total_tokens}).
     */
    static String completion() {
        return "{\"id\":\"chatcmpl-464\",\"object\":\"chat.completion\",\"created\":1741569952,\"model\":\"gpt-4o-2024-08-06\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Short answer.\",\"refusal\":null},"
                + "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + PROMPT
                + ",\"completion_tokens\":" + COMPLETION + ",\"total_tokens\":" + (PROMPT + COMPLETION) + "}}";
    }

    @Override
    protected String body(String shape) {
        if (shape.equals("sent")) {
            return completion();
        }
        throw new IllegalArgumentException(shape);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        switch (shape) {
            case "send-error" -> {
                resp.setContentType("application/json");
                resp.getOutputStream().write(completion().getBytes(StandardCharsets.UTF_8));
                // storing the answer failed: the handler answers 502 in its place (uncommitted, so allowed)
                resp.sendError(502);
                return true;
            }
            case "big-send-error" -> {
                // a 2 MB buffer (so a failure can still be answered cleanly) holding a 1.1 MB answer: past what
                // the filter holds before it chooses the format, still unsent when sendError drops it
                resp.setBufferSize(2 * 1024 * 1024);
                resp.setContentType("application/json");
                String big = completion().replace("Short answer.", "x".repeat(1_100_000));
                resp.getOutputStream().write(big.getBytes(StandardCharsets.UTF_8));
                resp.sendError(502);
                return true;
            }
            case "reset-buffer" -> {
                resp.setContentType("application/json");
                resp.getOutputStream().write(completion().getBytes(StandardCharsets.UTF_8));
                resp.resetBuffer();
                resp.setStatus(502);
                resp.setContentType("application/problem+json");
                resp.getOutputStream().write("{\"title\":\"Bad Gateway\",\"status\":502}".getBytes(StandardCharsets.UTF_8));
                return true;
            }
            case "reset" -> {
                resp.setContentType("application/json");
                resp.getOutputStream().write(completion().getBytes(StandardCharsets.UTF_8));
                resp.reset();
                resp.setStatus(502);
                resp.setContentType("application/problem+json");
                resp.getOutputStream().write("{\"title\":\"Bad Gateway\",\"status\":502}".getBytes(StandardCharsets.UTF_8));
                return true;
            }
            default -> {
                return false;
            }
        }
    }

    private long charged(String shape, int status) {
        String user = "u464-" + UUID.randomUUID();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), user,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}");
        assertEquals(status, r.statusCode(), r.body());
        assertEquals(1, calls.of(user), "one model call");
        return settled(user).used();
    }

    /** Control: the answer sent is charged its usage, 9,000. */
    @Test
    void anAnswerSentIsChargedItsUsage() {
        assertEquals(PROMPT + COMPLETION, charged("sent", 200));
    }

    @Test
    void anAnswerReplacedBySendErrorIsChargedItsUsage() {
        assertEquals(PROMPT + COMPLETION, charged("send-error", 502));
    }

    @Test
    void aLargeUnsentAnswerReplacedBySendErrorIsChargedItsUsage() {
        assertEquals(PROMPT + COMPLETION, charged("big-send-error", 502));
    }

    @Test
    void anAnswerDroppedByResetBufferIsChargedItsUsage() {
        assertEquals(PROMPT + COMPLETION, charged("reset-buffer", 502));
    }

    @Test
    void anAnswerDroppedByResetIsChargedItsUsage() {
        assertEquals(PROMPT + COMPLETION, charged("reset", 502));
    }
}
