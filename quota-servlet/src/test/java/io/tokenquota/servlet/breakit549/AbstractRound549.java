package io.tokenquota.servlet.breakit549;

import static io.tokenquota.servlet.testing.ClaudeCodeLines.SONNET;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.init;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.modelUsage;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.text;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ClaudeCodeLines;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 549 of issue 11 ("no model call goes unpaid"): Claude Code's {@code compact_boundary} line, read since round
 * 545 as a call of counts unknown ({@code ClaudeCodeRuns.Run.compacted}). Shapes as the Agent SDK's TypeScript
 * reference gives them: {@code SDKSystemMessage} ({@code init}), {@code SDKAssistantMessage} ({@code message.id},
 * {@code message.usage}, the {@code message_start} snapshot output 1 as the CLI writes it, anthropics/claude-code
 * #22686), {@code SDKCompactBoundaryMessage} ({@code type: "system"}, {@code subtype: "compact_boundary"},
 * {@code compact_metadata: {trigger: "manual" | "auto", pre_tokens}}) and {@code SDKResultMessage} ({@code usage},
 * {@code modelUsage}: the process's cost tracker, a running total, anthropics/claude-code #83239).
 * <p>
 * The boundary is written once the summarising call is done: that call read the whole conversation, whose size the
 * boundary states ({@code pre_tokens}). Two ways the filter loses that call:
 * <ul>
 *   <li>the stream cut after the boundary (the CLI killed on a timeout, as round 517 cuts it): the summary is a call
 *       made that only the missing result would count, and the boundary's {@code pre_tokens} is not read, so it costs
 *       nothing ({@link #aSummaryCallCutBeforeItsResultIsCharged});</li>
 *   <li>a resumed process ({@code claude -p --resume}) that compacts automatically before its first call: that call
 *       sends the summary, not the conversation the last result counted, so the process's result adds to the last one
 *       at least its calls' counts and is taken for the same process's running total, the first process's call lost
 *       ({@link #aResumedProcessThatCompactsFirstIsAddedToTheSessionsLast}). docs/servlet.md says a resumed process is
 *       told apart because its first call resends the conversation; its open cases name a compaction followed by no
 *       call only.</li>
 * </ul>
 * And apart from compaction, {@code --output-format json --verbose} (the run's messages as one JSON array) is charged
 * its first call again and its result on top of its calls ({@link #aVerboseJsonArrayIsChargedItsRunOnce}).
 */
abstract class AbstractRound549 extends ShapedAnswerRound {
    static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the log.\"}]}";
    static final String WORDS = "The log shows the nightly import failing on a malformed row at line 48,112. ";
    static final String MAIN = SONNET;
    static final String SESSION = "\"session_id\":\"3c7d1e55-5490-4b2a-8f6e-1d2c3b4a5e49\"";
    static final String INIT = init(SESSION, "acceptEdits", List.of("compact", "context", "cost"), "Bash", "Read");

    private final ClaudeCodeLines lines = new ClaudeCodeLines("7b1e2d40-549a-4c3f-a1e2-");

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    private String compactBoundary(String trigger, long preTokens) {
        return "{\"type\":\"system\",\"subtype\":\"compact_boundary\"," + lines.uuid() + "," + SESSION
                + ",\"compact_metadata\":{\"trigger\":\"" + trigger + "\",\"pre_tokens\":" + preTokens + "}}\n";
    }

    private String assistant(String id, long input) {
        return lines.assistant(SESSION, id, text(WORDS), input, 1);
    }

    private String result(long usageIn, long usageOut, long modelIn, long modelOut) {
        return lines.result(SESSION, 1, WORDS, usageIn, usageOut).cost("0.0911")
                .modelUsage(modelUsage(MAIN, modelIn, modelOut, "0.0911")).withUuid().line();
    }

    /**
     * One process serving two turns ({@code --input-format stream-json}): turn 1's call 3,000 + 9,000; then
     * {@code /compact}, whose summarising call reads the 12,000 of the conversation and writes 600. {@code cut}: the
     * answer ends after the boundary; else the compact turn's result follows (usage all zero, modelUsage the running
     * total 15,000 + 9,600). 24,600 in all.
     */
    private String compactTurn(boolean cut) {
        String b = INIT + assistant("msg_01A549", 3000) + result(3000, 9000, 3000, 9000)
                + INIT + compactBoundary("manual", 12000);
        return cut ? b : b + result(0, 0, 15000, 9600);
    }

    /**
     * A process resumed ({@code claude -p --resume}) with only {@code /compact}: the summary reads 150,000 and writes
     * 2,000. {@code cut}: the answer ends after the boundary; else its result (usage zero, modelUsage 150,000 +
     * 2,000).
     */
    private String resumedCompact(boolean cut) {
        String b = INIT + compactBoundary("manual", 150000);
        return cut ? b : b + result(0, 0, 150000, 2000);
    }

    /**
     * A relay running the CLI once per task on one session. Process 1 ({@code claude -p}, a 170,000-token log piped
     * in): one call, 170,000 + 500. Process 2 ({@code claude -p --resume}): the context is past the auto-compact
     * threshold, so it first summarises (170,600 read, 2,000 written; boundary), then makes its call on the summary
     * (3,000 + 800); its result's modelUsage counts both (173,600 + 2,800). 170,500 + 176,400 = 346,900.
     * {@code compacts} false: process 2 makes its call on the whole conversation (171,000 + 800) with no summary,
     * 170,500 + 171,800 = 342,300.
     */
    private String resumedTwice(boolean compacts) {
        String first = INIT + assistant("msg_01P549", 170000) + result(170000, 500, 170000, 500);
        String second = compacts
                ? INIT + compactBoundary("auto", 170600) + assistant("msg_01Q549", 3000)
                        + result(3000, 800, 173600, 2800)
                : INIT + assistant("msg_01Q549", 171000) + result(171000, 800, 171000, 800);
        return first + second;
    }

    static final String OTHER = "\"session_id\":\"e2b9f6a0-5491-4d7c-b3e1-6f5a4c3d2b10\"";

    private String boundaryOf(String session, long preTokens) {
        return "{\"type\":\"system\",\"subtype\":\"compact_boundary\"," + lines.uuid() + "," + session
                + ",\"compact_metadata\":{\"trigger\":\"manual\",\"pre_tokens\":" + preTokens + "}}\n";
    }

    private String resultOf(String session, int turns, long usageIn, long usageOut, long modelIn, long modelOut) {
        return lines.result(session, turns, WORDS, usageIn, usageOut).cost("0.0911")
                .modelUsage(modelUsage(MAIN, modelIn, modelOut, "0.0911")).withUuid().line();
    }

    /**
     * One streaming-input process, turn 1 (3,000 + 9,000), then the local {@code /cost} command (no model call; its
     * result's usage zero, num_turns 0, modelUsage the process's running total unchanged), then turn 3 (14,000 + 700):
     * 26,700.
     */
    private String localCommand() {
        return INIT + assistant("msg_01A549", 3000) + resultOf(SESSION, 1, 3000, 9000, 3000, 9000)
                + INIT + resultOf(SESSION, 0, 0, 0, 3000, 9000)
                + INIT + assistant("msg_01C549", 14000) + resultOf(SESSION, 1, 14000, 700, 17000, 9700);
    }

    /**
     * Two sessions relayed at once, lines interleaved, each one process with a turn and a {@code /compact} turn:
     * SESSION 3,000 + 9,000 then the summary 12,000 + 600 (24,600); OTHER 4,000 + 5,000 then 9,000 + 500 (18,500).
     */
    private String interleaved() {
        String initOther = init(OTHER, "acceptEdits", List.of("compact"), "Bash", "Read");
        return INIT + initOther + assistant("msg_01A549", 3000)
                + lines.assistant(OTHER, "msg_01X549", text(WORDS), 4000, 1)
                + resultOf(SESSION, 1, 3000, 9000, 3000, 9000) + resultOf(OTHER, 1, 4000, 5000, 4000, 5000)
                + INIT + initOther + boundaryOf(SESSION, 12000) + boundaryOf(OTHER, 9000)
                + resultOf(OTHER, 0, 0, 0, 13000, 5500) + resultOf(SESSION, 0, 0, 0, 15000, 9600);
    }

    /** The compact turn as a relay that repeats its lines writes it: boundary twice, result twice: 24,600. */
    private String repeated() {
        String boundary = compactBoundary("manual", 12000);
        String result = result(0, 0, 15000, 9600);
        return INIT + assistant("msg_01A549", 3000) + result(3000, 9000, 3000, 9000)
                + INIT + boundary + boundary + result + result;
    }

    /**
     * {@code claude -p --output-format json --verbose}: with {@code --verbose} the CLI writes one JSON array of every
     * message of the run, the result object last, instead of the result alone (anthropics/claude-code #84784; the
     * array members system/init, assistant, ..., result, as anthropics' users report it). Init, two calls (3,000 and
     * 5,000 in, each line the message_start snapshot, output 1) and the result (8,000 + 1,500): 9,500.
     * {@code calls} 1: one call of 8,000 in, the same result. {@code array} false: the same messages as stream-json
     * lines.
     */
    private String verbose(int calls, boolean array) {
        List<String> messages = calls == 1
                ? List.of(INIT, assistant("msg_01V549", 8000), result(8000, 1500, 8000, 1500))
                : List.of(INIT, assistant("msg_01V549", 3000), assistant("msg_01W549", 5000),
                        result(8000, 1500, 8000, 1500));
        return array ? "[" + String.join(",", messages.stream().map(String::strip).toList()) + "]"
                : String.join("", messages);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        String body;
        switch (shape) {
            case "compact-turn-cut" -> body = compactTurn(true);
            case "compact-turn" -> body = compactTurn(false);
            case "resumed-compact-cut" -> body = resumedCompact(true);
            case "resumed-compact" -> body = resumedCompact(false);
            case "resumed-auto-compact" -> body = resumedTwice(true);
            case "resumed-no-compact" -> body = resumedTwice(false);
            case "local-command" -> body = localCommand();
            case "interleaved-compact" -> body = interleaved();
            case "repeated-compact" -> body = repeated();
            case "verbose-array-two-calls", "verbose-array-one-call" -> {
                resp.setContentType("application/json");
                resp.getOutputStream().write(verbose(shape.endsWith("two-calls") ? 2 : 1, true)
                        .getBytes(StandardCharsets.UTF_8));
                return true;
            }
            case "stream-json-two-calls" -> body = verbose(2, false);
            default -> {
                return false;
            }
        }
        resp.setContentType("application/x-ndjson");
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        return true;
    }

    private long charged(String shape) {
        String s = "r549-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, CHAT);
        System.out.println("r549 " + kind() + " " + shape + " charged " + used + "; " + ledger(s));
        return used;
    }

    /**
     * Finding: the answer ends after a compact boundary, the summarising call done. One process's {@code /compact}
     * turn: charged 12,000 (turn 1 alone), the summary read 12,000 more ({@code pre_tokens}), so at least 24,000
     * (24,600 with its output). A resumed process's {@code /compact}: charged its estimate, the summary read 150,000.
     * "At least" because the boundary states only what the summary read, not what it wrote.
     */
    @ParameterizedTest
    @ValueSource(strings = {"compact-turn-cut:24000", "resumed-compact-cut:150000"})
    void aSummaryCallCutBeforeItsResultIsCharged(String shapeAndAtLeast) {
        String[] p = shapeAndAtLeast.split(":");
        long used = charged(p[0]);
        long atLeast = Long.parseLong(p[1]);
        assertTrue(used >= atLeast, kind() + " " + p[0] + ": charged " + used + ", the summarising call alone read "
                + "the boundary's pre_tokens: at least " + atLeast);
    }

    /** Controls: the same answers with their result line, 24,600 and 152,000. */
    @ParameterizedTest
    @ValueSource(strings = {"compact-turn:24600", "resumed-compact:152000"})
    void controlTheSameSummaryWithItsResultIsCharged(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertEquals(Long.parseLong(p[1]), charged(p[0]), kind() + " " + p[0]);
    }

    /**
     * Finding: two processes of one session, the second resumed and compacting before its call: charged 176,400 (the
     * second process's result, taken for the first's running total), the calls used 346,900.
     */
    @ParameterizedTest
    @ValueSource(strings = {"resumed-auto-compact:346900"})
    void aResumedProcessThatCompactsFirstIsAddedToTheSessionsLast(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        long used = charged(p[0]);
        assertEquals(Long.parseLong(p[1]), used, kind() + " " + p[0] + ": charged " + used + ", the two processes "
                + "used " + p[1]);
    }

    /** Control: the same two processes, the second making its call on the whole conversation: 342,300. */
    @ParameterizedTest
    @ValueSource(strings = {"resumed-no-compact:342300"})
    void controlAResumedProcessThatResendsTheConversationIsAdded(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertEquals(Long.parseLong(p[1]), charged(p[0]), kind() + " " + p[0]);
    }

    /**
     * Tried, charged right: a local slash command's result between two turns, two sessions interleaved each
     * compacting, and a relay repeating the boundary and result.
     */
    @ParameterizedTest
    @ValueSource(strings = {"local-command:26700", "interleaved-compact:43100", "repeated-compact:24600"})
    void controlOtherCompactionShapesAreChargedTheirUsage(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertEquals(Long.parseLong(p[1]), charged(p[0]), kind() + " " + p[0]);
    }

    /**
     * Finding: {@code --output-format json --verbose}, a run of two calls and its result, 9,500 used, is charged
     * 20,503: the first call's 3,001 once more and the result added on top of the calls it counts.
     */
    @ParameterizedTest
    @ValueSource(strings = {"verbose-array-two-calls:9500"})
    void aVerboseJsonArrayIsChargedItsRunOnce(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        long used = charged(p[0]);
        assertEquals(Long.parseLong(p[1]), used, kind() + " " + p[0] + ": charged " + used + ", the run used " + p[1]);
    }

    /** Controls: the same array with one call, and the same two calls as stream-json lines: 9,500 each. */
    @ParameterizedTest
    @ValueSource(strings = {"verbose-array-one-call:9500", "stream-json-two-calls:9500"})
    void controlTheSameRunOneCallOrAsLinesIsChargedOnce(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertEquals(Long.parseLong(p[1]), charged(p[0]), kind() + " " + p[0]);
    }
}
