package io.tokenquota.servlet.breakit523;

import static io.tokenquota.servlet.testing.ClaudeCodeLines.HAIKU;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.SONNET;
import static io.tokenquota.servlet.testing.ClaudeCodeLines.init;
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
 * Round 523 of issue 11 ("no model call goes unpaid"): Claude Code / the Claude Agent SDK in headless mode, a
 * complete run, {@code --output-format stream-json} (one message a line, closed by the {@code result} line) and
 * {@code --output-format json} (the {@code result} object alone).
 * <p>
 * The result message carries two figures (the Agent SDK's TypeScript reference, {@code SDKResultMessage}):
 * {@code usage}, Anthropic's counts of the run's main loop, and {@code modelUsage}, one entry per model the run
 * called ({@code inputTokens}, {@code outputTokens}, {@code cacheReadInputTokens}, {@code cacheCreationInputTokens},
 * {@code webSearchRequests}, {@code costUSD}, {@code contextWindow}). The SDK's "Track cost and usage" page calls
 * {@code modelUsage} the authoritative per-model usage, "suitable for billing purposes", and {@code total_cost_usd}
 * is computed from it. They differ: the CLI also calls a small fast model of its own (WebFetch reads the fetched
 * page with it, and it names and classifies the session), and those calls appear in no {@code assistant} line and
 * not in {@code usage}, only under {@code modelUsage} (anthropics/claude-agent-sdk-typescript issue #112,
 * "Discrepancies between usage and modelUsage in result messages": a run with {@code usage} output 904 and cache
 * writes 53,995 whose {@code modelUsage} says 1,284 and 123,506; anthropics/claude-code issue #18732 on the docs).
 * <p>
 * Finding: a run of two Sonnet calls (3,000 + 200, 3,500 + 800) whose WebFetch had Haiku read a 9,000-token page
 * (9,000 + 400) is charged 7,500, the main loop, where the calls that reached a model used 16,900:
 * {@link #aClaudeCodeRunIsChargedItsHelperModelCallsToo}, in both output formats. Control: the same run without a
 * helper call, whose {@code modelUsage} repeats {@code usage}, is charged 7,500:
 * {@link #controlARunWithoutHelperCallsIsChargedItsUsage}.
 */
abstract class AbstractRound523 extends ShapedAnswerRound {
    static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarize the release notes at https://example.com/notes\"}]}";
    static final String WORDS = "The release adds streaming uploads and fixes the retry loop in the client. ";
    static final String SESSION = "\"session_id\":\"2c4e6a80-523a-4b1c-9d2e-5f7a9c1e3b50\"";

    private final ClaudeCodeLines lines = new ClaudeCodeLines("5b8d1f20-523b-4c6d-8e0f-");

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    /** The main loop as stream-json writes it: a WebFetch call, its result, the answer. */
    private String mainLoop() {
        return init(SESSION, "default", "Read", "WebFetch")
                + lines.assistant(SESSION, "msg_01A523", toolUse("toolu_01F523", "WebFetch",
                        "{\"url\":\"https://example.com/notes\",\"prompt\":\"List the changes\"}"), "tool_use",
                        3000, 200, null)
                + lines.toolResult(SESSION, "toolu_01F523", WORDS, null)
                + lines.assistant(SESSION, "msg_01B523", text(WORDS), "end_turn", 3500, 800, null);
    }

    /**
     * The result message: {@code usage} the main loop's two Sonnet calls (6,500 + 1,000); {@code modelUsage} those
     * and, with {@code helper}, WebFetch's Haiku call on the fetched page (9,000 + 400). Costs at list prices
     * (Sonnet 4 $3 / $15, Haiku 3.5 $0.80 / $4 a million tokens).
     */
    private String claudeResult(boolean helper) {
        String models = modelUsage(SONNET, 6500, 1000, "0.0345")
                + (helper ? "," + modelUsage(HAIKU, 9000, 400, "0.0088") : "");
        return lines.result(SESSION, 2, WORDS, 6500, 1000).took(14230, 12880).cost(helper ? "0.0433" : "0.0345")
                .webFetches().modelUsage(models).withUuid().line();
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        String body;
        String type = "application/x-ndjson";
        switch (shape) {
            case "stream-json-helper" -> body = mainLoop() + claudeResult(true);
            case "stream-json" -> body = mainLoop() + claudeResult(false);
            case "json-helper" -> {
                body = claudeResult(true);
                type = "application/json";
            }
            case "json" -> {
                body = claudeResult(false);
                type = "application/json";
            }
            default -> {
                return false;
            }
        }
        resp.setContentType(type);
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        return true;
    }

    private void assertCharged(String shape, long expected) {
        String s = "r523-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, CHAT);
        assertEquals(expected, used, kind() + " " + shape + ": charged " + used + ", the run's model calls used "
                + expected + "; " + ledger(s));
    }

    /**
     * The finding: a complete run whose WebFetch had the helper model read the page (Haiku, 9,000 + 400, only under
     * modelUsage) is charged its main loop's usage, 7,500, where its calls used 16,900.
     */
    @ParameterizedTest
    @ValueSource(strings = {"stream-json-helper", "json-helper"})
    void aClaudeCodeRunIsChargedItsHelperModelCallsToo(String shape) {
        assertCharged(shape, 16_900);
    }

    /** Control: the same run without a helper call (modelUsage repeats usage) is charged 7,500. */
    @ParameterizedTest
    @ValueSource(strings = {"stream-json", "json"})
    void controlARunWithoutHelperCallsIsChargedItsUsage(String shape) {
        assertCharged(shape, 7_500);
    }
}
