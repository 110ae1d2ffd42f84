package io.tokenquota.servlet.breakit494;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 494 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): round 487 made
 * a top-level {@code completion} (Claude Text Completions' text field) count as a model's text in every answer without
 * usage, every document of a stream counted whole. Anthropic's own Text Completions API (POST /v1/complete), streamed
 * under its first API version, sends the completion SO FAR in every event, not the new text:
 * <ul>
 *   <li>Anthropic API reference, "Versions" (platform.claude.com/docs/en/api/versioning): 2023-06-01 changed the
 *       streaming format so that "Completions are incremental. For example, " Hello", " my", " name", " is",
 *       " Claude." instead of " Hello", " Hello my", " Hello my name", " Hello my name is", " Hello my name is
 *       Claude."", made all events named events, removed the {@code data: [DONE]} event and the {@code exception}
 *       and {@code truncated} values. 2023-01-01 (the initial release) is the cumulative, data-only format.</li>
 *   <li>"Streaming Text Completions" (docs.anthropic.com/en/api/streaming): the 2023-06-01 events,
 *       {@code event: completion} / {@code data: {"type":"completion","completion":" Hello","stop_reason":null,
 *       "model":"claude-2.0"}}, the last one with an empty completion and its {@code stop_reason}.</li>
 * </ul>
 * Neither format has usage: the call is charged its estimate, or the text it carried when that is more. A genuine
 * cumulative stream of an answer of N tokens in k events now counts about k*N/2 of "text": charged many times its
 * estimate, though the model wrote less than the budget it was given. Controls: the same answer streamed in the
 * 2023-06-01 incremental format, and answered whole (not streamed), both charged the estimate.
 */
abstract class AbstractRound494 extends ShapedAnswerRound {
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** The model's whole answer: 562 tokens by the default estimator, below the 1,000 the request lets it write. */
    static final String ANSWER = " " + Prose.english(3_600);
    static final int PIECES = 24;

    /** The answer as the model streamed it, piece by piece. */
    static List<String> pieces() {
        List<String> out = new ArrayList<>();
        int size = ANSWER.length() / PIECES;
        for (int i = 0; i < PIECES; i++) {
            out.add(ANSWER.substring(i * size, i == PIECES - 1 ? ANSWER.length() : (i + 1) * size));
        }
        return out;
    }

    /** A Text Completions request (API reference, "Create a Text Completion"): Human/Assistant prompt, a budget. */
    static final String REQUEST = "{\"model\":\"claude-instant-1\",\"prompt\":\"\\n\\nHuman: Write a short note about"
            + " the history of the harbour.\\n\\nAssistant:\",\"max_tokens_to_sample\":1000,\"stream\":true}";

    @Override
    protected String body(String shape) {
        if ("whole".equals(shape)) {
            // the non-streamed answer of the first API version: the completion and the values 2023-06-01 removed
            return "{\"completion\":" + q(ANSWER) + ",\"stop_reason\":\"stop_sequence\",\"truncated\":false,"
                    + "\"stop\":\"\\n\\nHuman:\",\"model\":\"claude-instant-1.1\",\"log_id\":\"a1b2c3\",\"exception\":null}";
        }
        throw new IllegalArgumentException(shape);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if ("whole".equals(shape)) {
            return false;
        }
        StringBuilder out = new StringBuilder();
        StringBuilder soFar = new StringBuilder();
        for (String p : pieces()) {
            soFar.append(p);
            switch (shape) {
                // 2023-01-01: data-only events, each with the completion so far
                case "cumulative" -> out.append("data: {\"completion\":").append(q(soFar.toString()))
                        .append(",\"stop_reason\":null,\"truncated\":false,\"stop\":null,\"model\":\"claude-instant-1.1\","
                                + "\"log_id\":\"a1b2c3\",\"exception\":null}\n\n");
                // 2023-06-01: named events, each with the new text only
                case "incremental" -> out.append("event: completion\ndata: {\"type\":\"completion\",\"completion\":")
                        .append(q(p)).append(",\"stop_reason\":null,\"model\":\"claude-instant-1.1\"}\n\n");
                default -> throw new IllegalArgumentException(shape);
            }
        }
        if ("cumulative".equals(shape)) {
            out.append("data: {\"completion\":").append(q(soFar.toString()))
                    .append(",\"stop_reason\":\"stop_sequence\",\"truncated\":false,\"stop\":\"\\n\\nHuman:\","
                            + "\"model\":\"claude-instant-1.1\",\"log_id\":\"a1b2c3\",\"exception\":null}\n\n")
                    .append("data: [DONE]\n\n");
        } else {
            out.append("event: completion\ndata: {\"type\":\"completion\",\"completion\":\"\",\"stop_reason\":\"stop_sequence\","
                    + "\"model\":\"claude-instant-1.1\"}\n\n");
        }
        resp.setContentType("text/event-stream");
        resp.getOutputStream().write(out.toString().getBytes(StandardCharsets.UTF_8));
        return true;
    }

    long call(String shape, String version) {
        String s = "r494-" + shape + "-" + kind() + "-" + System.nanoTime();
        HttpRequest req = TestHttp.requestAs(container.uri("/ai/" + shape), s, "Content-Type", "application/json",
                        "anthropic-version", version)
                .POST(HttpRequest.BodyPublishers.ofString(REQUEST, StandardCharsets.UTF_8)).build();
        HttpResponse<String> r = TestHttp.send(req);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /**
     * The attack on the settlement (a genuine call, over-charged): a 2023-01-01 Text Completions stream of a
     * 562-token answer in 24 events, each the completion so far, is charged the text of every prefix, 7,817 on Jetty
     * and Tomcat, instead of its estimate, what the same answer streamed incrementally is charged: 1,017.
     */
    @Test
    void aCumulativeTextCompletionsStreamIsChargedItsAnswerOnce() {
        long incremental = call("incremental", "2023-06-01");
        long cumulative = call("cumulative", "2023-01-01");
        assertEquals(incremental, cumulative, kind() + ": the same " + TOKENS.estimate(ANSWER) + "-token answer,"
                + " streamed as the first API version streams it (each event the completion so far), charged "
                + cumulative + "; streamed incrementally, charged " + incremental);
    }

    /** Controls: the incremental stream and the whole answer are charged the estimate, the answer being below it. */
    @ParameterizedTest
    @ValueSource(strings = {"incremental", "whole"})
    void theSameAnswerIncrementalOrWholeIsChargedItsEstimate(String shape) {
        long used = call(shape, "whole".equals(shape) ? "2023-01-01" : "2023-06-01");
        long answer = TOKENS.estimate(ANSWER);
        org.junit.jupiter.api.Assertions.assertTrue(used >= 1_000 && used < 1_000 + answer, kind() + " " + shape
                + ": charged " + used + " for a " + answer + "-token answer to a request whose budget is 1,000");
    }
}
