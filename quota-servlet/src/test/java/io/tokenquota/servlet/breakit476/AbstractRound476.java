package io.tokenquota.servlet.breakit476;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 476 of issue 11: interim (1xx) responses. Both containers turn {@code sendError(103)} into an RFC 8297
 * Early Hints interim response (Tomcat 11: {@code Response.sendError} calls {@code sendEarlyHints()}; Jetty 12:
 * {@code ServletApiResponse.sendError} writes 102 and 103 as interim responses) and the endpoint goes on to answer.
 * The filter sees a {@code sendError}; the call it then answers (the model's usage, or a refusal) must be settled as
 * that final answer, not as an error the interim response was taken for.
 */
abstract class AbstractRound476 extends ShapedAnswerRound {
    static final long PROMPT = 31;
    static final long COMPLETION = 4_480;

    /** OpenAI Chat Completions' answer (API reference, "The chat completion object"). */
    static String chatCompletion() {
        return "{\"id\":\"chatcmpl-476\",\"object\":\"chat.completion\",\"created\":1735689600,\"model\":\"gpt-4o-mini\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" + q(TEXT) + "},"
                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":"
                + COMPLETION + ",\"total_tokens\":" + (PROMPT + COMPLETION) + "}}";
    }

    /** OpenAI's streamed chat (stream_options.include_usage: the last chunk carries usage and no choices). */
    static void stream(HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        for (int i = 0; i < 4; i++) {
            String part = TEXT.substring(i * TEXT.length() / 4, (i + 1) * TEXT.length() / 4);
            out.write(("data: {\"id\":\"chatcmpl-476\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                    + "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":" + q(part)
                    + "},\"finish_reason\":null}],\"usage\":null}\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
        out.write(("data: {\"id\":\"chatcmpl-476\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                + "\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + PROMPT
                + ",\"completion_tokens\":" + COMPLETION + ",\"total_tokens\":" + (PROMPT + COMPLETION) + "}}\n\n"
                + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    @Override
    protected String body(String shape) {
        return chatCompletion();
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        switch (shape) {
            case "hints-json":
                resp.setHeader("Link", "</static/chat.css>; rel=preload; as=style");
                resp.sendError(103);
                resp.setContentType("application/json");
                resp.getOutputStream().write(chatCompletion().getBytes(StandardCharsets.UTF_8));
                return true;
            case "processing-json":
                resp.sendError(102);
                resp.sendError(102);
                resp.setContentType("application/json");
                resp.getOutputStream().write(chatCompletion().getBytes(StandardCharsets.UTF_8));
                return true;
            case "hints-stream":
                resp.setHeader("Link", "</static/chat.css>; rel=preload; as=style");
                resp.sendError(103);
                stream(resp);
                return true;
            case "stream":
                stream(resp);
                return true;
            case "hints-refused":
                // the hints go out first, then the app's own check refuses the call: no model was called
                resp.setHeader("Link", "</static/chat.css>; rel=preload; as=style");
                resp.sendError(103);
                resp.setStatus(422);
                resp.setContentType("application/json");
                resp.getOutputStream().write("{\"error\":{\"message\":\"messages must not be empty\",\"type\":\"invalid_request_error\"}}"
                        .getBytes(StandardCharsets.UTF_8));
                return true;
            case "refused":
                resp.setStatus(422);
                resp.setContentType("application/json");
                resp.getOutputStream().write("{\"error\":{\"message\":\"messages must not be empty\",\"type\":\"invalid_request_error\"}}"
                        .getBytes(StandardCharsets.UTF_8));
                return true;
            case "hints-sent-error":
                resp.setHeader("Link", "</static/chat.css>; rel=preload; as=style");
                resp.sendError(103);
                resp.sendError(400, "messages must not be empty");
                return true;
            case "sent-error":
                resp.sendError(400, "messages must not be empty");
                return true;
            default:
                return false;
        }
    }

    static final String REQUEST = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":6000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write a long essay about rivers.\"}]}";

    /** What the client of the last call received: its status and body length. */
    private String seen;

    private long charged(String shape) {
        String s = "r476-" + shape + "-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s, REQUEST);
        assertEquals(1, calls.of(s), r.body());
        seen = r.statusCode() + " with " + r.body().length() + " chars";
        return settled(s).used();
    }

    @Test
    void earlyHintsThenJsonAnswerIsChargedItsUsage() {
        assertEquals(PROMPT + COMPLETION, charged("hints-json"), kind() + ": 103 then the JSON answer");
    }

    /**
     * Jetty writes 102 as an interim response and the answer follows. Tomcat treats only 103 as interim: its
     * {@code sendError(102)} is an error, the JSON written after it is dropped and the client gets a 500 page, so
     * the model's answer never reached the client and the documented rule (5xx: release) applies.
     */
    @Test
    void processingThenJsonAnswerIsChargedItsUsage() {
        long charged = charged("processing-json");
        if (kind() == io.tokenquota.servlet.testing.ContainerKind.TOMCAT) {
            assertEquals(true, seen.startsWith("500 "), seen);
            assertEquals(0, charged, kind() + ": 102 on Tomcat is an error answered 500; the client got " + seen);
        } else {
            assertEquals(PROMPT + COMPLETION, charged, kind() + ": 102 x2 then the JSON answer; the client got " + seen);
        }
    }

    /** Control: the same answer without an interim response. */
    @Test
    void jsonAnswerIsChargedItsUsage() {
        assertEquals(PROMPT + COMPLETION, charged("json"), kind().toString());
    }

    @Test
    void earlyHintsThenStreamIsChargedItsUsage() {
        assertEquals(PROMPT + COMPLETION, charged("hints-stream"), kind() + ": 103 then the stream");
    }

    /** Control: the stream alone. */
    @Test
    void streamIsChargedItsUsage() {
        assertEquals(PROMPT + COMPLETION, charged("stream"), kind().toString());
    }

    @Test
    void earlyHintsThenRefusalIsReleased() {
        assertEquals(0, charged("hints-refused"), kind() + ": 103 then a 422 that called no model");
    }

    /** Control: the refusal alone. */
    @Test
    void refusalIsReleased() {
        assertEquals(0, charged("refused"), kind().toString());
    }

    @Test
    void earlyHintsThenSentErrorIsReleased() {
        assertEquals(0, charged("hints-sent-error"), kind() + ": 103 then sendError(400)");
    }

    /** Control: sendError(400) alone. */
    @Test
    void sentErrorIsReleased() {
        assertEquals(0, charged("sent-error"), kind().toString());
    }
}
