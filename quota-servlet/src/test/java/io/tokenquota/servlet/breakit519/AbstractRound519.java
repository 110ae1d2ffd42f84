package io.tokenquota.servlet.breakit519;

import static io.tokenquota.servlet.testing.ClaudeCodeLines.blockDelta;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.blockStart;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.blockStop;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.init;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.messageDelta;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.messageStart;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.messageStop;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.text;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.textDelta;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.toolUse;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ClaudeCodeLines;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 519 of issue 11 ("no model call goes unpaid"): Claude Code / the Claude Agent SDK in headless mode,
 * {@code --output-format stream-json --include-partial-messages} (NDJSON, one message a line; the Agent SDK's
 * "Streaming output": each raw Messages API event wrapped as {@code {"type":"stream_event","event":{...},
 * "parent_tool_use_id":null,"uuid":...,"session_id":...}}, beside the assembled {@code assistant} messages and the
 * closing {@code result}).
 * <p>
 * How the CLI writes an {@code assistant} line: once a content block is complete, before the message's
 * {@code message_delta}, so its {@code message.usage} is the {@code message_start} snapshot ({@code "output_tokens": 1},
 * {@code "stop_reason": null}); anthropics/claude-code issue #22686 ("Output tokens incorrectly recorded ... only
 * partial streaming values saved", v2.1.29) shows exactly this in the CLI's own transcript. The call's real output
 * count is only in the wrapped {@code message_delta} event's {@code usage.output_tokens} (Anthropic's streaming
 * format, docs.anthropic.com "Streaming Messages": "the token counts in the usage field of the message_delta
 * event are cumulative") and, for the whole run, in the {@code result} line.
 * <p>
 * Finding: such a run cut before its {@code result} line (the relay kills the CLI on a timeout, the client hangs up
 * after the last answer) is charged the assistant lines' snapshots: one call of 3,000 + 9,000 is charged 3,001,
 * should be 12,000; two calls of 3,000 + 200 and 3,500 + 800 are charged 6,502, should be 7,500:
 * {@link #aPartialMessagesRunCutBeforeItsResultIsChargedItsMessageDeltas}. The same runs complete (with the result)
 * are charged right: {@link #controlAPartialMessagesRunWithItsResultIsChargedTheRunsUsage}.
 */
abstract class AbstractRound519 extends ShapedAnswerRound {
    static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"What happened today?\"}]}";
    static final String WORDS = "The committee met and agreed on the budget for next year. ";
    static final String SESSION = "\"session_id\":\"8f0e2b6c-519a-4c1e-9d55-3b2f1a0c7e41\"";

    static final String INIT = init(SESSION, "default", "Read", "WebSearch");

    private final ClaudeCodeLines lines = new ClaudeCodeLines("3a9b7c10-519c-4d2e-8f11-", "7d1c5e0a-519b-4a8e-b1f0-");

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    private String wrap(String event) {
        return lines.event(SESSION, event, null);
    }

    /**
     * One API call as the CLI writes it with partial messages: the raw events, the assembled assistant line right
     * after the block's content_block_stop (usage still the message_start snapshot, output 1), then the
     * message_delta with the call's output count and message_stop.
     */
    private String call(String id, String block, String delta, int input, int output, String stop) {
        StringBuilder b = new StringBuilder();
        b.append(wrap(messageStart(id, input)));
        b.append(wrap(blockStart(block)));
        b.append(wrap(blockDelta(delta)));
        b.append(wrap(blockStop()));
        String assembled = block.contains("\"text\"") ? text(WORDS)
                : toolUse("toolu_01", "WebSearch", "{\"query\":\"news today\"}");
        b.append(lines.assistant(SESSION, id, assembled, input, 1));
        b.append(wrap(messageDelta(stop, output)));
        b.append(wrap(messageStop()));
        return b.toString();
    }

    private String oneCall() {
        return INIT + call("msg_01A519", text(""), textDelta(WORDS), 3000, 9000, "end_turn");
    }

    private String twoCalls() {
        return INIT
                + call("msg_01B519", toolUse("toolu_01", "WebSearch", "{}"),
                        "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"query\\\": \\\"news today\\\"}\"}",
                        3000, 200, "tool_use")
                + "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":\"toolu_01\","
                + "\"type\":\"tool_result\",\"content\":" + q(WORDS) + "}]},\"parent_tool_use_id\":null," + SESSION + "}\n"
                + call("msg_01C519", text(""), textDelta(WORDS), 3500, 800, "end_turn");
    }

    private String result(int turns, int input, int output) {
        return lines.result(SESSION, turns, WORDS, input, output).line();
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        String body;
        switch (shape) {
            case "partial-one-call-cut" -> body = oneCall();
            case "partial-two-calls-cut" -> body = twoCalls();
            case "partial-one-call" -> body = oneCall() + result(1, 3000, 9000);
            case "partial-two-calls" -> body = twoCalls() + result(2, 6500, 1000);
            default -> {
                return false;
            }
        }
        resp.setContentType("application/x-ndjson");
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        return true;
    }

    private void assertCharged(String shape, long expected) {
        String s = "r519-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, CHAT);
        assertEquals(expected, used, kind() + " " + shape + ": charged " + used + ", the run's usage is " + expected
                + "; " + ledger(s));
    }

    /**
     * The finding: a partial-messages run cut before its result line is charged its assistant lines' snapshots
     * (input + 1 a call), not its calls' message_delta output counts: 3,001 for 12,000 (one call of 3,000 + 9,000),
     * 6,502 for 7,500 (3,000 + 200 and 3,500 + 800).
     */
    @ParameterizedTest
    @ValueSource(strings = {"partial-one-call-cut:12000", "partial-two-calls-cut:7500"})
    void aPartialMessagesRunCutBeforeItsResultIsChargedItsMessageDeltas(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }

    /** Control: the same runs with their result line are charged the run's cumulative usage. */
    @ParameterizedTest
    @ValueSource(strings = {"partial-one-call:12000", "partial-two-calls:7500"})
    void controlAPartialMessagesRunWithItsResultIsChargedTheRunsUsage(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }
}
