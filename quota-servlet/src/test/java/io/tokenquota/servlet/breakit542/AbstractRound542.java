package io.tokenquota.servlet.breakit542;

import static io.tokenquota.servlet.testing.ClaudeCodeLines.SONNET;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.modelUsage;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.text;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ClaudeCodeLines;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 542 of issue 11 ("no model call goes unpaid"): Claude Code / the Claude Agent SDK headless output read as runs
 * keyed by {@code session_id} ({@code ClaudeCodeRuns}). Shapes as the Agent SDK's TypeScript reference gives them
 * ({@code SDKSystemMessage} init, {@code SDKAssistantMessage} with {@code message.id}/{@code message.usage} and
 * {@code parent_tool_use_id}, {@code SDKResultMessage} with {@code usage}, {@code total_cost_usd} and
 * {@code modelUsage}), each assistant line carrying the {@code message_start} snapshot output (1) as the CLI writes it
 * (anthropics/claude-code #22686).
 * <ul>
 *   <li>One session, several {@code query()} calls (processes): the Agent SDK's "Track cost and usage" page defines a
 *       session as "a series of query() calls linked by a session ID (using the resume option). Each query() call
 *       within a session reports its own cost independently", and "if you make multiple query() calls (for example,
 *       in a multi-turn session), each result only reflects the cost of that individual call". {@code --resume}
 *       keeps the session id unless {@code forkSession} / {@code --fork-session} is asked for. So a relay that runs
 *       {@code claude -p --resume <id>} once per step and relays each process's output holds two results of one
 *       session, each per call; the filter keeps the larger instead of adding them:
 *       {@link #queryCallsOfOneResumedSessionAreEachCharged}. By contrast one process serving several turns
 *       ({@code --input-format stream-json}) restates its running total on every result (anthropics/claude-code
 *       #83239: "the running total for the lifetime of that Claude Code process ... with --output-format json each
 *       invocation is its own process, so it reads as per-turn"): the control.</li>
 *   <li>A long run past {@code ClaudeCodeRuns.MAX_NAMED} (1,024 runs and calls): the calls past it are added up as
 *       "overflow" line by line (each line of a message split over text and tool_use counted again) and added on top
 *       of the run's result, which already counts them: {@link #aLongRunIsChargedItsResultNotMore}.</li>
 * </ul>
 */
abstract class AbstractRound542 extends ShapedAnswerRound {
    static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Fix the failing test.\"}]}";
    static final String WORDS = "The test now passes after the off-by-one in the loop bound was fixed. ";
    static final String MAIN = SONNET;

    private final ClaudeCodeLines lines = new ClaudeCodeLines("6c1e9a20-542c-4d2e-8f11-");

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    private static String session(char run) {
        return "\"session_id\":\"2d7c1f0a-542" + run + "-4b6e-8c3d-5e9f1a2b3c4d\"";
    }

    /** The init line every CLI process writes first (SDKSystemMessage, subtype init). */
    private static String init(char run) {
        return ClaudeCodeLines.init(session(run), "acceptEdits", "Bash", "Read", "Edit");
    }

    private String assistant(char run, String id, String content, int input, int output) {
        return lines.assistant(session(run), id, content, input, output);
    }

    private String toolResult(char run, String toolUseId) {
        return lines.toolResult(session(run), toolUseId, "ok", null);
    }

    private String result(char run, int turns, long input, long output) {
        return lines.result(session(run), turns, WORDS, input, output)
                .modelUsage(modelUsage(MAIN, input, output, "0.0345")).withUuid().line();
    }

    private static String toolUse(String id) {
        return ClaudeCodeLines.toolUse(id, "Bash", "{\"command\":\"mvn -q test\"}");
    }

    /**
     * Two query() calls of session 'r': the first 3,000 + 9,000; the second, resumed, sends the conversation so far
     * again, 12,600 + 800. {@code processes}: each call its own CLI process (init line, result of that call alone);
     * else one process serving both turns (one init line; the second result restates the running total).
     * {@code snapshot}: the assistant lines carry output 1, as the CLI writes them, else the calls' full counts.
     */
    private String twoCalls(boolean processes, boolean snapshot) {
        char r = 'r';
        String first = init(r) + assistant(r, "msg_01A542", text(WORDS), 3000, snapshot ? 1 : 9000)
                + result(r, 1, 3000, 9000);
        String second = assistant(r, "msg_01B542", text(WORDS), 12600, snapshot ? 1 : 800);
        return processes ? first + init(r) + second + result(r, 1, 12600, 800)
                : first + second + result(r, 2, 3000 + 12600, 9000 + 800);
    }

    /**
     * A run of {@code calls} API calls of 100 + 20 each, each but the last a text block and a tool_use block of one
     * message (two lines, one id, the snapshot usage), then its tool's result; the result line counts them all.
     */
    private String longRun(int calls) {
        char r = 'l';
        StringBuilder b = new StringBuilder(init(r));
        for (int i = 0; i < calls; i++) {
            String id = String.format("msg_01L542%06d", i);
            b.append(assistant(r, id, text(WORDS), 100, 1));
            if (i < calls - 1) {
                String tool = String.format("toolu_01L542%06d", i);
                b.append(assistant(r, id, toolUse(tool), 100, 1)).append(toolResult(r, tool));
            }
        }
        return b.append(result(r, calls, 100L * calls, 20L * calls)).toString();
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        String body;
        switch (shape) {
            case "resumed-stream-json" -> body = twoCalls(true, true);
            // --output-format json: each process prints its result object alone (one line); the relay joins them
            case "resumed-json" -> body = result('j', 1, 3000, 9000) + result('j', 1, 12600, 800);
            case "resumed-full-lines" -> body = twoCalls(true, false);
            case "multi-turn-one-process" -> body = twoCalls(false, true);
            case "long-run-1030" -> body = longRun(1030);
            case "long-run-1000" -> body = longRun(1000);
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
        String s = "r542-" + p[0] + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + p[0], s, CHAT);
        assertEquals(expected, used, kind() + " " + p[0] + ": charged " + used + ", the calls' usage is " + expected
                + "; " + ledger(s));
    }

    /**
     * Finding: two query() calls of one resumed session, 3,000 + 9,000 and 12,600 + 800 (25,400), each process's
     * result counting its own call, are charged as one run: the larger result, 13,400 (json), or the assistant
     * lines' snapshots, 15,602 (stream-json).
     */
    @ParameterizedTest
    @ValueSource(strings = {"resumed-stream-json:25400", "resumed-json:25400"})
    void queryCallsOfOneResumedSessionAreEachCharged(String shapeAndUsage) {
        assertCharged(shapeAndUsage);
    }

    /** Controls: the same calls with full counts on their lines; one process serving both turns (running totals). */
    @ParameterizedTest
    @ValueSource(strings = {"resumed-full-lines:25400", "multi-turn-one-process:25400"})
    void controlCallsOfOneSessionCountedOnceAreChargedRight(String shapeAndUsage) {
        assertCharged(shapeAndUsage);
    }

    /**
     * Finding: a complete run of 1,030 calls of 100 + 20 (123,600 by its result) is charged more: the calls past the
     * 1,024 names kept (the run takes one, so calls 1,024 to 1,030) are added up per line, 13 lines of 100 + 1,
     * on top of the result that already counts them: charged 124,913.
     */
    @ParameterizedTest
    @ValueSource(strings = {"long-run-1030:123600"})
    void aLongRunIsChargedItsResultNotMore(String shapeAndUsage) {
        assertCharged(shapeAndUsage);
    }

    /** Control: the same run of 1,000 calls, within the names kept: charged its result, 120,000. */
    @ParameterizedTest
    @ValueSource(strings = {"long-run-1000:120000"})
    void controlALongRunWithinTheNamesKeptIsChargedItsResult(String shapeAndUsage) {
        assertCharged(shapeAndUsage);
    }
}
