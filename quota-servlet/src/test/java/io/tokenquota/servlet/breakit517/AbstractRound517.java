package io.tokenquota.servlet.breakit517;

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
 * Round 517 of issue 11 ("no model call goes unpaid"): an agent's answer relayed in the stream format of the
 * framework that ran it, where one answer carries the usage of each model call (step) and then the whole run's, so
 * a reader that takes one report for the run, or sums them all, charges the wrong figure. Each answer's short
 * request holds about 1,010 tokens, far from the figures, so a misread shows.
 * <ul>
 *   <li>Claude Code / the Claude Agent SDK in headless mode, {@code --output-format stream-json} (NDJSON, one message a
 *       line; docs.anthropic.com "Headless mode" and the Agent SDK's "Tracking costs and usage"): each
 *       {@code assistant} message carries its API call's {@code message.usage}; a message whose content the CLI splits
 *       over several lines (text, then a {@code tool_use}) repeats the same {@code id} and the same usage ("messages
 *       with the same ID report identical usage": charge once per id); the closing {@code result} message's
 *       {@code usage} is the run's cumulative total. Two calls: 3,000 + 200 and 3,500 + 800, result 6,500 + 1,000, so
 *       7,500.</li>
 *   <li>The Vercel AI SDK's data stream protocol (ai-sdk.dev, "Stream Protocols", data stream: header
 *       {@code x-vercel-ai-data-stream: v1}, {@code text/plain}, one {@code TYPE:JSON} part a line): {@code e:} (finish
 *       step) carries each step's usage, {@code d:} (finish message) the message's total. Two steps as above, 7,500.</li>
 * </ul>
 * Finding: the Claude Code run cut before its {@code result} line is charged its hold (1,008 for 7,500; 1,008 for
 * 12,000), on Jetty and Tomcat: {@link #aClaudeCodeRunCutBeforeItsResultIsChargedItsCallsUsage}. The complete runs,
 * the Vercel streams (whole and cut) and the one-call forms are charged right: controls.
 */
abstract class AbstractRound517 extends ShapedAnswerRound {
    static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"What happened today?\"}]}";
    static final String WORDS = "The committee met and agreed on the budget for next year. ";
    static final String SESSION = "\"session_id\":\"8f0e2b6c-517a-4c1e-9d55-3b2f1a0c7e41\"";

    static final String INIT = init(SESSION, "default", "Read", "WebSearch");

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        StringBuilder b = new StringBuilder();
        ClaudeCodeLines lines = new ClaudeCodeLines(null, "7d1c5e0a-517b-4a8e-b1f0-");
        String text = text(WORDS);
        switch (shape) {
            case "claude-code-two-calls" -> {
                resp.setContentType("application/x-ndjson");
                b.append(INIT);
                // the first call's message, split by the CLI over two lines with the same id and usage
                b.append(lines.assistant(SESSION, "msg_01A517", text("I'll look that up."), 3000, 200));
                b.append(lines.assistant(SESSION, "msg_01A517", toolUse("toolu_01", "WebSearch",
                        "{\"query\":\"news today\"}"), 3000, 200));
                b.append(lines.toolResult(SESSION, "toolu_01", WORDS, null));
                b.append(lines.assistant(SESSION, "msg_01B517", text, 3500, 800));
                b.append(lines.result(SESSION, 2, WORDS, 6500, 1000).line());
            }
            case "claude-code-one-call" -> {
                resp.setContentType("application/x-ndjson");
                b.append(INIT);
                b.append(lines.assistant(SESSION, "msg_01C517", text, 3000, 9000));
                b.append(lines.result(SESSION, 1, WORDS, 3000, 9000).line());
            }
            case "vercel-two-steps" -> {
                resp.setContentType("text/plain; charset=utf-8");
                resp.setHeader("x-vercel-ai-data-stream", "v1");
                b.append("f:{\"messageId\":\"step_1\"}\n");
                b.append("0:\"I'll look that up.\"\n");
                b.append("9:{\"toolCallId\":\"call_1\",\"toolName\":\"search\",\"args\":{\"query\":\"news today\"}}\n");
                b.append("a:{\"toolCallId\":\"call_1\",\"result\":" + q(WORDS) + "}\n");
                b.append("e:{\"finishReason\":\"tool-calls\",\"usage\":{\"promptTokens\":3000,\"completionTokens\":200},"
                        + "\"isContinued\":false}\n");
                b.append("f:{\"messageId\":\"step_2\"}\n");
                b.append("0:" + q(WORDS) + "\n");
                b.append("e:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":3500,\"completionTokens\":800},"
                        + "\"isContinued\":false}\n");
                b.append("d:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":6500,\"completionTokens\":1000}}\n");
            }
            case "vercel-one-step" -> {
                resp.setContentType("text/plain; charset=utf-8");
                resp.setHeader("x-vercel-ai-data-stream", "v1");
                b.append("f:{\"messageId\":\"step_1\"}\n");
                b.append("0:" + q(WORDS) + "\n");
                b.append("e:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":3000,\"completionTokens\":9000},"
                        + "\"isContinued\":false}\n");
                b.append("d:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":3000,\"completionTokens\":9000}}\n");
            }
            case "claude-code-cut" -> {
                // the run stopped (the process killed) after its second call's message: no result line
                resp.setContentType("application/x-ndjson");
                b.append(INIT);
                b.append(lines.assistant(SESSION, "msg_01D517", toolUse("toolu_02", "WebSearch",
                        "{\"query\":\"news today\"}"), 3000, 200));
                b.append(lines.toolResult(SESSION, "toolu_02", WORDS, null));
                b.append(lines.assistant(SESSION, "msg_01E517", text, 3500, 800));
            }
            case "claude-code-partial" -> {
                // --include-partial-messages: the raw Messages API events wrapped as stream_event, then the assembled
                // assistant message and the result, all of one call
                resp.setContentType("application/x-ndjson");
                b.append(INIT);
                b.append(lines.event(SESSION, messageStart("msg_01F517", 3000), null));
                b.append(lines.event(SESSION, blockStart(text("")), null));
                b.append(lines.event(SESSION, blockDelta(textDelta(WORDS)), null));
                b.append(lines.event(SESSION, blockStop(), null));
                b.append(lines.event(SESSION, messageDelta("end_turn", 9000), null));
                b.append(lines.event(SESSION, messageStop(), null));
                b.append(lines.assistant(SESSION, "msg_01F517", text, 3000, 9000));
                b.append(lines.result(SESSION, 1, WORDS, 3000, 9000).line());
            }
            case "claude-code-one-call-cut" -> {
                // one call's assembled message, the run stopped before its result line
                resp.setContentType("application/x-ndjson");
                b.append(INIT);
                b.append(lines.assistant(SESSION, "msg_01G517", text, 3000, 9000));
            }
            case "vercel-cut" -> {
                // the stream ended after the second step's finish, before the message's finish part
                resp.setContentType("text/plain; charset=utf-8");
                resp.setHeader("x-vercel-ai-data-stream", "v1");
                b.append("f:{\"messageId\":\"step_1\"}\n");
                b.append("9:{\"toolCallId\":\"call_1\",\"toolName\":\"search\",\"args\":{\"query\":\"news today\"}}\n");
                b.append("a:{\"toolCallId\":\"call_1\",\"result\":" + q(WORDS) + "}\n");
                b.append("e:{\"finishReason\":\"tool-calls\",\"usage\":{\"promptTokens\":3000,\"completionTokens\":200},"
                        + "\"isContinued\":false}\n");
                b.append("f:{\"messageId\":\"step_2\"}\n");
                b.append("0:" + q(WORDS) + "\n");
                b.append("e:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":3500,\"completionTokens\":800},"
                        + "\"isContinued\":false}\n");
            }
            default -> {
                return false;
            }
        }
        resp.getOutputStream().write(b.toString().getBytes(StandardCharsets.UTF_8));
        return true;
    }

    private void assertCharged(String shape, long expected) {
        String s = "r517-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, CHAT);
        assertEquals(expected, used, kind() + " " + shape + ": charged " + used + ", the run's usage is " + expected
                + "; " + ledger(s));
    }

    /**
     * The finding: Claude Code's stream-json cut before its {@code result} line (the CLI killed by the relay's
     * timeout, or a client that hangs up once it has read the last answer, so the relay stops the run) carries each
     * call's {@code message.usage} in its {@code assistant} lines, and is charged only its hold (about 1,008): the
     * {@code assistant} message's usage is not read, only the result's top-level {@code usage}. Two calls, 3,000 +
     * 200 and 3,500 + 800, should be 7,500; one call of 3,000 + 9,000 should be 12,000.
     */
    @ParameterizedTest
    @ValueSource(strings = {"claude-code-cut:7500", "claude-code-one-call-cut:12000"})
    void aClaudeCodeRunCutBeforeItsResultIsChargedItsCallsUsage(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }

    /**
     * Controls: the same runs complete (result line, charged its cumulative usage, the repeated message id not
     * counted twice), with partial messages (the raw events, the message and the result of one call: once), and the
     * Vercel data stream with its message total or cut after the last step's finish (the steps summed).
     */
    @ParameterizedTest
    @ValueSource(strings = {"claude-code-two-calls:7500", "vercel-two-steps:7500", "claude-code-partial:12000",
        "vercel-cut:7500"})
    void controlAnAgentRunOfTwoModelCallsIsChargedTheRunsUsage(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }

    @ParameterizedTest
    @ValueSource(strings = {"claude-code-one-call:12000", "vercel-one-step:12000"})
    void controlAnAgentRunOfOneModelCallIsChargedItsUsage(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }
}
