package io.tokenquota.servlet.breakit455;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 455 of issue 11: xAI's reasoning models (grok-3-mini) count their thinking at
 * {@code completion_tokens_details.reasoning_tokens} beside {@code completion_tokens}, and only
 * {@code total_tokens} adds it (docs.x.ai "Reasoning" guide, its chat completion example's usage:
 * prompt_tokens 12, completion_tokens 1, total_tokens 260, reasoning_tokens 247, num_sources_used 0).
 * The call must be charged its total, whole and streamed.
 */
abstract class AbstractRound455 extends ShapedAnswerRound {
    /** xAI's usage object as its reasoning guide shows it, with this round's figures. */
    static String xaiUsage(long prompt, long completion, long reasoning) {
        return "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + ",\"total_tokens\":"
                + (prompt + completion + reasoning) + ",\"prompt_tokens_details\":{\"text_tokens\":" + prompt
                + ",\"audio_tokens\":0,\"image_tokens\":0,\"cached_tokens\":0},\"completion_tokens_details\":"
                + "{\"reasoning_tokens\":" + reasoning + ",\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                + "\"rejected_prediction_tokens\":0},\"num_sources_used\":0}";
    }

    static final long PROMPT = 40;
    static final long COMPLETION = 4_400;
    static final long REASONING = 9_000;

    @Override
    protected String body(String shape) {
        switch (shape) {
            case "grok-mini":
                // xAI chat completion (docs.x.ai API reference POST /v1/chat/completions: id, object
                // "chat.completion", created, model, choices[{index, message{role, content, reasoning_content},
                // finish_reason}], usage, system_fingerprint)
                return "{\"id\":\"3c5c2a5e-6c4f-4c66-9f5e-7b7d6c0f1a11\",\"object\":\"chat.completion\","
                        + "\"created\":1743770302,\"model\":\"grok-3-mini\",\"choices\":[{\"index\":0,\"message\":"
                        + "{\"role\":\"assistant\",\"content\":" + q(TEXT) + ",\"reasoning_content\":\"Let me think.\","
                        + "\"refusal\":null},\"finish_reason\":\"stop\"}],\"usage\":" + xaiUsage(PROMPT, COMPLETION, REASONING)
                        + ",\"system_fingerprint\":\"fp_6ca29cf396\"}";
            case "grok-plain":
                // control: a non-reasoning Grok answer, total = prompt + completion
                return "{\"id\":\"3c5c2a5e-6c4f-4c66-9f5e-7b7d6c0f1a12\",\"object\":\"chat.completion\","
                        + "\"created\":1743770302,\"model\":\"grok-3\",\"choices\":[{\"index\":0,\"message\":"
                        + "{\"role\":\"assistant\",\"content\":" + q(TEXT) + ",\"refusal\":null},"
                        + "\"finish_reason\":\"stop\"}],\"usage\":" + xaiUsage(PROMPT, COMPLETION + REASONING, 0)
                        + ",\"system_fingerprint\":\"fp_6ca29cf396\"}";
            default:
                throw new IllegalArgumentException(shape);
        }
    }

    /**
     * xAI's stream (OpenAI's chat.completion.chunk format; xAI sends the usage in its chunks, the last with
     * the call's figures, then {@code data: [DONE]}); reasoning streamed as {@code delta.reasoning_content}.
     */
    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (!shape.equals("grok-mini-stream")) {
            return false;
        }
        resp.setContentType("text/event-stream");
        StringBuilder sse = new StringBuilder();
        String head = "{\"id\":\"3c5c2a5e-6c4f-4c66-9f5e-7b7d6c0f1a13\",\"object\":\"chat.completion.chunk\","
                + "\"created\":1743770302,\"model\":\"grok-3-mini\",\"choices\":[{\"index\":0,\"delta\":";
        sse.append("data: ").append(head).append("{\"role\":\"assistant\",\"reasoning_content\":\"Let me think.\"}}]}\n\n");
        for (int i = 0; i < TEXT.length(); i += 1_000) {
            sse.append("data: ").append(head).append("{\"content\":")
                    .append(q(TEXT.substring(i, Math.min(TEXT.length(), i + 1_000)))).append("}}]}\n\n");
        }
        sse.append("data: ").append(head).append("{},\"finish_reason\":\"stop\"}],\"usage\":")
                .append(xaiUsage(PROMPT, COMPLETION, REASONING)).append("}\n\n");
        sse.append("data: [DONE]\n\n");
        resp.getOutputStream().write(sse.toString().getBytes(StandardCharsets.UTF_8));
        return true;
    }

    static final String REQUEST = "{\"model\":\"grok-3-mini\",\"reasoning_effort\":\"high\",\"messages\":"
            + "[{\"role\":\"user\",\"content\":\"Write me a long essay.\"}]}";

    @Test
    void aGrokReasoningAnswerIsChargedItsTotal() {
        String s = "r455-grok-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/grok-mini"), s, REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + COMPLETION + REASONING, settled(s).used(), kind() + ": " + ledger(s));
    }

    @Test
    void aStreamedGrokReasoningAnswerIsChargedItsTotal() {
        String s = "r455-grok-sse-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/grok-mini-stream"), s,
                REQUEST.replace("}]}", "}],\"stream\":true}"));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + COMPLETION + REASONING, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Control: the same figures with the reasoning inside completion_tokens. */
    @Test
    void aGrokAnswerWhoseTotalIsItsPartsIsChargedIt() {
        String s = "r455-plain-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/grok-plain"), s, REQUEST.replace("-mini", ""));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + COMPLETION + REASONING, settled(s).used(), kind() + ": " + ledger(s));
    }
}
