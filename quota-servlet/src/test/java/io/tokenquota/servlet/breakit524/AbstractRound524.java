package io.tokenquota.servlet.breakit524;

import static io.tokenquota.servlet.testing.ClaudeCodeLines.HAIKU;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.SONNET;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.modelUsage;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.text;
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
 * Round 524 of issue 11 ("no model call goes unpaid"): Claude Code / the Claude Agent SDK in headless mode,
 * {@code --output-format stream-json} (NDJSON, one message a line), relayed through the filter. Shapes as the Agent
 * SDK's TypeScript reference and its "Tracking costs and usage" page give them: {@code system}/{@code init}, then
 * {@code assistant} messages ({@code message.id}, {@code message.usage}: one API call's counts, repeated per id), and a
 * closing {@code result} per {@code query()} run ({@code SDKResultMessage}: {@code usage}, the run's cumulative
 * counts, {@code total_cost_usd}, and {@code modelUsage}: a map of model name to {@code ModelUsage} {@code
 * {inputTokens, outputTokens, cacheReadInputTokens, cacheCreationInputTokens, webSearchRequests, costUSD,
 * contextWindow}}, "the per-model breakdown", e.g. how much went to Opus and how much to Haiku in one run).
 * <p>
 * How the CLI fills an {@code assistant} line's usage: the line is written once a content block is complete, before
 * the message's {@code message_delta}, so its {@code output_tokens} is the {@code message_start} snapshot (1);
 * anthropics/claude-code issue #22686 (v2.1.29); relays that count the assistant lines report near-zero output
 * (multica-ai/multica #728/#729: "the assistant messages report zeros in stream-json mode; parse modelUsage from the
 * result"). The run's real output is only in its {@code result} line.
 * <ul>
 *   <li>Several runs in one answer (a relay that runs the CLI once per task and streams each run's lines, each run its
 *       own {@code session_id}, {@code init} line and {@code result}; the Agent SDK's cost page: "each query() call
 *       reports its own cost independently ... accumulate yourself"): the filter keeps the last {@code result} as
 *       the answer's total instead of adding the runs' results up:
 *       {@link #severalClaudeCodeRunsInOneAnswerAreEachChargedTheirResult}.</li>
 *   <li>Model calls that appear only in the result's {@code modelUsage}: the CLI's helper calls to a small model
 *       (WebFetch's page summarising, a Haiku call) and background subagents ({@code run_in_background: true}: their
 *       assistant lines are not written to the parent's stream, anthropics/claude-code issue #48439), while the
 *       result's {@code usage} counts the main loop's calls: charged the main loop only:
 *       {@link #callsReportedOnlyInTheResultsModelUsageAreCharged}.</li>
 * </ul>
 * Each short request holds about 1,010 tokens, far from the figures, so a misread shows.
 */
abstract class AbstractRound524 extends ShapedAnswerRound {
    static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"What happened today?\"}]}";
    static final String WORDS = "The committee met and agreed on the budget for next year. ";
    static final String MAIN = SONNET;
    static final String HELPER = HAIKU;

    private final ClaudeCodeLines lines = new ClaudeCodeLines("3a9b7c10-524c-4d2e-8f11-");

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    private static String session(char run) {
        return "\"session_id\":\"8f0e2b6c-524" + run + "-4c1e-9d55-3b2f1a0c7e41\"";
    }

    private static String init(char run) {
        return ClaudeCodeLines.init(session(run), "default", "Task", "WebFetch", "WebSearch");
    }

    private String assistant(char run, String id, String content, int input, int output, String parent) {
        return lines.assistant(session(run), id, content, null, input, output, parent);
    }

    private String toolResult(char run, String toolUseId, String parent) {
        return lines.toolResult(session(run), toolUseId, WORDS, parent);
    }

    private String result(char run, int turns, int input, int output, String... models) {
        return lines.result(session(run), turns, WORDS, input, output).modelUsage(models).withUuid().line();
    }

    /** One run of one call, 3,000 + 9,000; its assistant line carries the snapshot ({@code output} 1) or the full count. */
    private String runOfOneCall(char run, String id, int input, int output, boolean snapshot) {
        return init(run) + assistant(run, id, text(WORDS), input, snapshot ? 1 : output, null)
                + result(run, 1, input, output, modelUsage(MAIN, input, output, "0.144"));
    }

    /**
     * A run of two main-loop calls (3,000 + 200 with a tool call, then 3,500 + 800), whose tool made calls of its own
     * that no assistant line shows: {@code helper} (WebFetch's summary of a fetched page by the small model, 20,000 +
     * 400) or a background subagent's (Task with {@code run_in_background}, two calls of 9,000 + 1,500 and 11,000 +
     * 2,500 by the main model); they are only in {@code modelUsage}, beside the main loop's.
     */
    private String runWithToolCalls(String tool, boolean inModelUsage) {
        char r = 'h';
        String call = switch (tool) {
            case "helper" -> toolUse("toolu_01F", "WebFetch", "{\"url\":\"https://example.org/news\",\"prompt\":"
                    + "\"Summarise today's news\"}");
            default -> toolUse("toolu_01T", "Task", "{\"description\":\"Research the news\",\"prompt\":\"Find today's "
                    + "news\",\"subagent_type\":\"general-purpose\",\"run_in_background\":true}");
        };
        String mainModel = tool.equals("helper") ? modelUsage(MAIN, 6500, 1000, "0.0345")
                : inModelUsage ? modelUsage(MAIN, 6500 + 20000, 1000 + 4000, "0.1545") : modelUsage(MAIN, 6500, 1000, "0.0345");
        String[] models = tool.equals("helper") && inModelUsage
                ? new String[] {mainModel, modelUsage(HELPER, 20000, 400, "0.0176")} : new String[] {mainModel};
        return init(r)
                + assistant(r, "msg_01A524", text("I'll look that up."), 3000, 200, null)
                + assistant(r, "msg_01A524", call, 3000, 200, null)
                + toolResult(r, call.contains("toolu_01F") ? "toolu_01F" : "toolu_01T", null)
                + assistant(r, "msg_01B524", text(WORDS), 3500, 800, null)
                + result(r, 2, 6500, 1000, models);
    }

    /**
     * A foreground subagent (Task without run_in_background): its calls' assistant lines are in the parent's stream,
     * marked by {@code parent_tool_use_id} (anthropics/claude-code issue #48439 shows them), written as the CLI writes
     * every assistant line, with the snapshot output (1); the result's usage counts the main loop, modelUsage all.
     */
    private String foregroundSubagent() {
        char r = 's';
        String task = toolUse("toolu_01S", "Task", "{\"description\":\"Research the news\",\"prompt\":\"Find today's "
                + "news\",\"subagent_type\":\"general-purpose\"}");
        String parent = "toolu_01S";
        return init(r)
                + assistant(r, "msg_01K524", task, 3000, 1, null)
                + assistant(r, "msg_01L524", toolUse("toolu_01W", "WebSearch", "{\"query\":\"news today\"}"), 9000, 1,
                        parent)
                + toolResult(r, "toolu_01W", parent)
                + assistant(r, "msg_01M524", text(WORDS), 11000, 1, parent)
                + toolResult(r, "toolu_01S", null)
                + assistant(r, "msg_01N524", text(WORDS), 3500, 1, null)
                + result(r, 2, 6500, 1000, modelUsage(MAIN, 6500 + 20000, 1000 + 4000, "0.1545"));
    }

    /**
     * A run stopped by --max-turns: SDKResultMessage's error form (subtype error_max_turns, is_error true, errors,
     * no result text) still carries usage and modelUsage (the cost page: costs are reported on error results too).
     */
    private String errorMaxTurns() {
        char r = 'm';
        return init(r)
                + assistant(r, "msg_01P524", toolUse("toolu_01X", "WebSearch", "{\"query\":\"news\"}"), 3000, 1, null)
                + toolResult(r, "toolu_01X", null)
                + assistant(r, "msg_01Q524", toolUse("toolu_01Y", "WebSearch", "{\"query\":\"more news\"}"), 3500, 1,
                        null)
                + toolResult(r, "toolu_01Y", null)
                + lines.result(session(r), 2, WORDS, 6500, 1000).modelUsage(modelUsage(MAIN, 6500, 1000, "0.0345"))
                        .error("error_max_turns", "Reached maximum number of turns (2)").withUuid().line();
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        String body;
        switch (shape) {
            // two runs in one answer, as the CLI writes their assistant lines (the snapshot, output 1)
            case "two-runs" -> body = runOfOneCall('a', "msg_01C524", 3000, 9000, true)
                    + runOfOneCall('b', "msg_01D524", 3500, 800, true);
            case "two-runs-big-last" -> body = runOfOneCall('a', "msg_01E524", 3500, 800, true)
                    + runOfOneCall('b', "msg_01F524", 3000, 9000, true);
            // controls: the same two runs whose assistant lines carry the calls' full counts; one run alone
            case "two-runs-full-lines" -> body = runOfOneCall('a', "msg_01G524", 3000, 9000, false)
                    + runOfOneCall('b', "msg_01H524", 3500, 800, false);
            case "one-run" -> body = runOfOneCall('a', "msg_01J524", 3000, 9000, true);
            case "helper-model" -> body = runWithToolCalls("helper", true);
            case "background-subagent" -> body = runWithToolCalls("subagent", true);
            case "foreground-subagent" -> body = foregroundSubagent();
            case "error-max-turns" -> body = errorMaxTurns();
            // control: the same main loop, its modelUsage naming no other call
            case "main-loop-only" -> body = runWithToolCalls("helper", false);
            default -> {
                return false;
            }
        }
        resp.setContentType("application/x-ndjson");
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        return true;
    }

    private void assertCharged(String shape, long expected) {
        String s = "r524-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, CHAT);
        assertEquals(expected, used, kind() + " " + shape + ": charged " + used + ", the runs' usage is " + expected
                + "; " + ledger(s));
    }

    /**
     * Finding: two complete runs in one answer, 3,000 + 9,000 and 3,500 + 800 by their result lines (16,300), are
     * charged as the last result line or the assistant lines' snapshots, whichever is larger, not the two results
     * added up: charged 6,502 (the snapshots) when the smaller run is last, 12,000 (the last result) when the larger
     * is.
     */
    @ParameterizedTest
    @ValueSource(strings = {"two-runs:16300", "two-runs-big-last:16300"})
    void severalClaudeCodeRunsInOneAnswerAreEachChargedTheirResult(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }

    /** Control: the same two runs with full counts on their assistant lines, and one run alone. */
    @ParameterizedTest
    @ValueSource(strings = {"two-runs-full-lines:16300", "one-run:12000"})
    void controlRunsWhoseAssistantLinesOrResultCountEveryCallAreChargedRight(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }

    /**
     * Finding: a run whose result's {@code usage} counts its main loop (6,500 + 1,000) while {@code modelUsage} also
     * names the calls its tools made: a helper model's 20,000 + 400 (27,900 in all: charged 7,500), a background
     * subagent's 20,000 + 4,000 (31,500 in all: charged 7,500), a foreground subagent's whose sidechain lines carry
     * the snapshot output (31,500 in all: charged 26,504, the lines' inputs and the main loop's result).
     */
    @ParameterizedTest
    @ValueSource(strings = {"helper-model:27900", "background-subagent:31500", "foreground-subagent:31500"})
    void callsReportedOnlyInTheResultsModelUsageAreCharged(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }

    /** Controls: the same main loop, its modelUsage the same as its usage; a run ended by --max-turns: 7,500 each. */
    @ParameterizedTest
    @ValueSource(strings = {"main-loop-only:7500", "error-max-turns:7500"})
    void controlARunWhoseModelUsageIsItsUsageIsChargedIt(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }
}
