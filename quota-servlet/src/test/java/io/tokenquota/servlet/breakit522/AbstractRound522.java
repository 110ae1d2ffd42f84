package io.tokenquota.servlet.breakit522;

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
 * Round 522 of issue 11 ("no model call goes unpaid"), attacking round 519's reading of Claude Code's
 * {@code --output-format stream-json --include-partial-messages} lines: each raw Messages API event is wrapped as
 * {@code {"type":"stream_event","event":{...},"parent_tool_use_id":...,"uuid":...,"session_id":...}} (the Agent
 * SDK's {@code SDKPartialAssistantMessage}: its {@code parent_tool_use_id} is null for the main thread and the id of
 * the {@code Task} tool_use for a subagent's messages; the SDK docs "Subagents in the SDK": Claude may run several
 * subagents at once, "concurrent execution").
 * <p>
 * A wrapped {@code message_delta} carries no message id (docs.anthropic.com "Streaming Messages": message_delta's
 * {@code usage} holds the cumulative {@code output_tokens} only); the filter gives it to the last wrapped
 * {@code message_start} seen ("the CLI streams one API call at a time"). Two subagents running at once interleave
 * their events on the one stdout: start A, start B, ..., delta A, delta B. Subagent A's output count is then merged
 * over B's start, B's own delta replaces it, and A is left at its start snapshot (output 1).
 * <p>
 * Finding: a run of a main call (3,000 + 300, the two Task calls) and two concurrent subagents (2,000 + 6,000 and
 * 2,500 + 5,000), cut before its result line (the relay kills the CLI on a timeout, or the client hangs up), is
 * charged 13,801, should be 18,800 ({@link #concurrentSubagentsCutBeforeTheResultArePaidEachTheirOutput}). The same
 * subagents run one after the other are charged right ({@link #controlSubagentsOneAfterTheOtherCutBeforeTheResult}),
 * and so is the interleaved run with its result line ({@link #controlConcurrentSubagentsWithTheirResult}).
 * <p>
 * The wrapper's {@code parent_tool_use_id} tells the two calls' events apart.
 */
abstract class AbstractRound522 extends ShapedAnswerRound {
    static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Research the two vendors' offers and compare them.\"}]}";
    static final String WORDS = "Vendor one offers a three-year contract with support included at a flat rate. ";
    static final String SESSION = "\"session_id\":\"4c2a9e7d-522a-4b1f-8e3c-6d0b5a7f1e22\"";
    static final String INIT = init(SESSION, "default", "Task", "Read", "WebSearch");

    private final ClaudeCodeLines lines = new ClaudeCodeLines("3a9b7c10-522c-4d2e-8f11-", "7d1c5e0a-522b-4a8e-b1f0-");

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    private String wrap(String event, String toolUse) {
        return lines.event(SESSION, event, toolUse);
    }

    private String result(int turns, int input, int output) {
        return lines.result(SESSION, turns, WORDS, input, output).took(21120, 19410).cost("0.1345").line();
    }

    /** A call's opening: its message_start (usage the snapshot, output 1) and its one text block. */
    private String start(String id, int input, String toolUse) {
        return wrap(messageStart(id, input), toolUse) + wrap(blockStart(text("")), toolUse)
                + wrap(blockDelta(textDelta(WORDS)), toolUse);
    }

    /**
     * A call's close: content_block_stop, the assembled assistant line (still the start's snapshot, as the CLI
     * writes it before the message_delta), the message_delta with the call's cumulative output, message_stop.
     */
    private String end(String id, int input, int output, String toolUse) {
        return wrap(blockStop(), toolUse)
                + lines.assistant(SESSION, id, text(WORDS), null, input, 1, toolUse)
                + wrap(messageDelta("end_turn", output), toolUse)
                + wrap(messageStop(), toolUse);
    }

    /** The main thread's call asking for two subagents (two Task tool_uses): 3,000 in, 300 out. */
    private String mainCall() {
        String id = "msg_01M522";
        String tasks = toolUse("toolu_01A522", "Task", "{\"description\":\"Vendor one\",\"prompt\":\"Summarise vendor "
                + "one's offer\",\"subagent_type\":\"general-purpose\"}") + ","
                + toolUse("toolu_01B522", "Task", "{\"description\":\"Vendor two\",\"prompt\":\"Summarise vendor two's "
                + "offer\",\"subagent_type\":\"general-purpose\"}");
        return wrap(messageStart(id, 3000), null)
                + lines.assistant(SESSION, id, tasks, null, 3000, 1, null)
                + wrap(messageDelta("tool_use", 300), null)
                + wrap(messageStop(), null);
    }

    private static final String A = "toolu_01A522";
    private static final String B = "toolu_01B522";

    /** The two subagents at once: their events interleaved on the CLI's one stdout. */
    private String concurrent() {
        return INIT + mainCall()
                + start("msg_01SA522", 2000, A) + start("msg_01SB522", 2500, B)
                + end("msg_01SA522", 2000, 6000, A) + end("msg_01SB522", 2500, 5000, B);
    }

    /** The same two subagents one after the other. */
    private String sequential() {
        return INIT + mainCall()
                + start("msg_01SA522", 2000, A) + end("msg_01SA522", 2000, 6000, A)
                + start("msg_01SB522", 2500, B) + end("msg_01SB522", 2500, 5000, B);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        String body;
        switch (shape) {
            case "subagents-concurrent-cut" -> body = concurrent();
            case "subagents-sequential-cut" -> body = sequential();
            case "subagents-concurrent" -> body = concurrent() + result(3, 7500, 11300);
            default -> {
                return false;
            }
        }
        resp.setContentType("application/x-ndjson");
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        return true;
    }

    private void assertCharged(String shape, long expected) {
        String s = "r522-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, CHAT);
        assertEquals(expected, used, kind() + " " + shape + ": charged " + used + ", the run's usage is " + expected
                + "; " + ledger(s));
    }

    /**
     * The finding: two concurrent subagents' interleaved events, the run cut before its result line: charged
     * 13,801 (main 3,300; subagent A its start snapshot 2,001; subagent B 2,500 + A's 6,000), should be 18,800
     * (3,300 + 8,000 + 7,500).
     */
    @ParameterizedTest
    @ValueSource(strings = {"subagents-concurrent-cut:18800"})
    void concurrentSubagentsCutBeforeTheResultArePaidEachTheirOutput(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }

    /** Control: the same subagents one after the other, cut the same way, are charged their calls' usage. */
    @ParameterizedTest
    @ValueSource(strings = {"subagents-sequential-cut:18800"})
    void controlSubagentsOneAfterTheOtherCutBeforeTheResult(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }

    /** Control: the interleaved run with its result line is charged the run's cumulative usage. */
    @ParameterizedTest
    @ValueSource(strings = {"subagents-concurrent:18800"})
    void controlConcurrentSubagentsWithTheirResult(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }
}
