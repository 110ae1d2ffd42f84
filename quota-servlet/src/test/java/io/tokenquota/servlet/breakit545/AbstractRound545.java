package io.tokenquota.servlet.breakit545;

import static io.tokenquota.servlet.testing.ClaudeCodeLines.SONNET;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.init;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.modelUsage;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.text;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ClaudeCodeLines;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 545 of issue 11 ("no model call goes unpaid"): one Claude Code process serving several turns
 * ({@code claude -p --input-format stream-json --output-format stream-json}, the Agent SDK's streaming input mode),
 * read as one session's processes ({@code ClaudeCodeRuns.Run.result}). Shapes as the Agent SDK's TypeScript reference
 * gives them: {@code SDKSystemMessage} (subtype {@code init}), {@code SDKAssistantMessage} ({@code message.id},
 * {@code message.usage}, {@code parent_tool_use_id}), {@code SDKCompactBoundaryMessage} ({@code type: "system"},
 * {@code subtype: "compact_boundary"}, {@code compact_metadata: {trigger: "manual" | "auto", pre_tokens}}) and
 * {@code SDKResultMessage} ({@code usage}, {@code total_cost_usd}, {@code modelUsage}); each assistant line carries
 * the {@code message_start} snapshot output (1), as the CLI writes it (anthropics/claude-code #22686).
 * <p>
 * The filter takes one process's results as running totals (its {@code modelUsage} is the process's cost tracker,
 * cumulative: the control of round 542) and tells a next process apart by the calls read since the last result. A
 * turn can make a model call that no assistant line shows: {@code /compact} sent as a turn's prompt (the Agent SDK's
 * "Slash Commands in the SDK" page sends {@code "/compact"} as the prompt and reads the {@code compact_boundary}
 * message) runs the summarising call with the main model and writes only the boundary and a result; that result's
 * {@code usage} is all zero (tiann/hapi #1691: "the result message that follows a compact reports all-zero usage")
 * while its {@code modelUsage} counts the summarising call on top of the process's total. With no call read since
 * and a figure that is not the last one repeated, the rule takes that result for a new process and adds the first
 * turn's total again: {@link #aCompactTurnOfOneProcessIsNotChargedAsANewProcess}.
 */
abstract class AbstractRound545 extends ShapedAnswerRound {
    static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Fix the failing test.\"}]}";
    static final String WORDS = "The test now passes after the off-by-one in the loop bound was fixed. ";
    static final String MAIN = SONNET;
    static final String SESSION = "\"session_id\":\"9a3e5c71-5450-4c1d-9e2f-7b8a6d4c3e21\"";
    /** The init line the CLI writes (at each turn of a streaming-input process too). */
    static final String INIT = init(SESSION, "acceptEdits", List.of("compact", "context", "cost"), "Bash", "Read",
            "Edit");

    private final ClaudeCodeLines lines = new ClaudeCodeLines("5e0d7b31-545c-4a9e-b2f7-");

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    /** SDKCompactBoundaryMessage: the conversation was summarised, manually ({@code /compact}) or automatically. */
    private String compactBoundary(String trigger, long preTokens) {
        return "{\"type\":\"system\",\"subtype\":\"compact_boundary\"," + lines.uuid() + "," + SESSION
                + ",\"compact_metadata\":{\"trigger\":\"" + trigger + "\",\"pre_tokens\":" + preTokens + "}}\n";
    }

    /** An assistant line with the message_start snapshot: the call's input, output 1. */
    private String assistant(String id, int input) {
        return lines.assistant(SESSION, id, text(WORDS), input, 1);
    }

    /** A result: {@code usage} as given, {@code modelUsage} the process's running total. */
    private String result(int turns, long usageIn, long usageOut, long modelIn, long modelOut) {
        return lines.result(SESSION, turns, WORDS, usageIn, usageOut).cost("0.0911")
                .modelUsage(modelUsage(MAIN, modelIn, modelOut, "0.0911")).withUuid().line();
    }

    /**
     * One process, three calls: turn 1's 3,000 + 9,000; the summarising call, 12,000 + 600 (the conversation in, the
     * summary out); the next call on the summarised conversation, 2,500 + 700. 27,800 in all.
     * {@code manual}: the summary is its own turn ({@code /compact}: boundary and result, no assistant line); else
     * the CLI compacts automatically at the start of the next turn, before that turn's call.
     * {@code zeroUsage}: each result's {@code usage} is its turn's (the compact turn's all zero), else the running
     * total like its {@code modelUsage}.
     */
    private String compacted(boolean manual, boolean zeroUsage) {
        StringBuilder b = new StringBuilder(INIT).append(assistant("msg_01A545", 3000))
                .append(result(1, 3000, 9000, 3000, 9000));
        if (manual) {
            b.append(INIT).append(compactBoundary("manual", 12000))
                    .append(result(0, zeroUsage ? 0 : 15000, zeroUsage ? 0 : 9600, 15000, 9600))
                    .append(INIT);
        } else {
            b.append(INIT).append(compactBoundary("auto", 12000));
        }
        return b.append(assistant("msg_01C545", 2500))
                .append(result(1, zeroUsage ? 2500 : 17500, zeroUsage ? 700 : 10300, 17500, 10300)).toString();
    }

    /** One process, two turns without compaction: 3,000 + 9,000 and 14,000 + 700 (26,700). */
    private String twoTurns(boolean zeroUsage) {
        return INIT + assistant("msg_01A545", 3000) + result(1, 3000, 9000, 3000, 9000)
                + INIT + assistant("msg_01B545", 14000)
                + result(1, zeroUsage ? 14000 : 17000, zeroUsage ? 700 : 9700, 17000, 9700);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        String body;
        switch (shape) {
            case "compact-turn-turn-usage" -> body = compacted(true, true);
            case "compact-turn-running-usage" -> body = compacted(true, false);
            case "auto-compact-turn-usage" -> body = compacted(false, true);
            case "auto-compact-running-usage" -> body = compacted(false, false);
            case "two-turns-turn-usage" -> body = twoTurns(true);
            case "two-turns-running-usage" -> body = twoTurns(false);
            default -> {
                return false;
            }
        }
        resp.setContentType("application/x-ndjson");
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        return true;
    }

    private void assertCharged(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        long expected = Long.parseLong(p[1]);
        String s = "r545-" + p[0] + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + p[0], s, CHAT);
        assertEquals(expected, used, kind() + " " + p[0] + ": charged " + used + ", the calls' usage is " + expected
                + "; " + ledger(s));
    }

    /**
     * Finding: one process, a {@code /compact} turn between two turns (27,800 in all, the last result's
     * {@code modelUsage}) is charged 39,800: the compact turn's result, with no call read since and not the last
     * figure repeated, is taken for a new process, so turn 1's 12,000 is added on top of the running total that
     * already counts it.
     */
    @ParameterizedTest
    @ValueSource(strings = {"compact-turn-turn-usage:27800", "compact-turn-running-usage:27800"})
    void aCompactTurnOfOneProcessIsNotChargedAsANewProcess(String shapeAndUsage) {
        assertCharged(shapeAndUsage);
    }

    /**
     * Controls: the same summarising call made automatically at the start of the next turn (its call's line read
     * before the result), 27,800; and two turns without compaction, 26,700.
     */
    @ParameterizedTest
    @ValueSource(strings = {"auto-compact-turn-usage:27800", "auto-compact-running-usage:27800",
        "two-turns-turn-usage:26700", "two-turns-running-usage:26700"})
    void controlTurnsWhoseCallsAreReadBeforeTheirResultAreChargedOnce(String shapeAndUsage) {
        assertCharged(shapeAndUsage);
    }
}
