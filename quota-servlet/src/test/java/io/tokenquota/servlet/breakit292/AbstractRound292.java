package io.tokenquota.servlet.breakit292;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 292 of issue 11 ("no model call goes unpaid"): Anthropic's per-iteration usage. One Messages API
 * call may now run more than one sampling pass server-side, and the passes that are not the executor's
 * answer are reported <b>only</b> in {@code usage.iterations[]}, not in the top-level counts the filter
 * charges:
 * <ul>
 *   <li><b>Threshold compaction</b> ({@code context_management.edits: [{"type": "compact_20260112"}]}, beta
 *       {@code compact-2026-01-12}): when the conversation reaches the trigger, the API first runs a
 *       summarizing pass over the whole conversation (a {@code compaction} block), then answers from the
 *       summary. The top-level {@code input_tokens}/{@code output_tokens} count the answering pass only; the
 *       summarizing pass, billed like any other, is the {@code {"type": "compaction"}} entry of
 *       {@code usage.iterations}. Anthropic's own example (platform.claude.com/docs/en/build-with-claude/
 *       compaction-threshold, as quoted in velog.io/@jungseonw00/claude-compaction-usage-iterations): top-level
 *       23,000 in / 1,000 out, and an iteration of 180,000 in / 3,500 out beside it. The SDK's types:
 *       anthropic-sdk-python {@code types/beta/beta_usage.py} ({@code iterations: Optional[BetaIterationsUsage]},
 *       "Per-iteration token usage breakdown"), {@code beta_iterations_usage.py} (a union of
 *       {@code BetaMessageIterationUsage} {@code "message"}, {@code BetaCompactionIterationUsage}
 *       {@code "compaction"}, {@code BetaAdvisorMessageIterationUsage} {@code "advisor_message"} and
 *       {@code BetaFallbackMessageIterationUsage}), {@code beta_compaction_block.py} ({@code content},
 *       {@code encrypted_content}); streamed, the summary comes as {@code compaction_delta} deltas and the
 *       {@code message_delta}'s usage carries the iterations ({@code beta_message_delta_usage.py}).</li>
 *   <li><b>The advisor tool</b> ({@code {"type": "advisor_20260301", "name": "advisor", "model": "claude-opus-4-8"}},
 *       beta {@code advisor-tool-2026-03-01}; platform.claude.com/docs/en/agents-and-tools/tool-use/advisor-tool):
 *       the executor model consults a stronger advisor model server-side, inside the one call (a
 *       {@code server_tool_use} named {@code advisor} and an {@code advisor_tool_result} whose content is an
 *       {@code advisor_result}: {@code beta_advisor_tool_result_block.py}, {@code beta_advisor_result_block.py}).
 *       "The top-level usage covers the executor only; each {@code advisor_message} entry of
 *       {@code usage.iterations} is one advisor call, billed at its model's rates" (adk-model 3.0.0,
 *       {@code src/anthropic/advisor.rs}; the docs: "the bulk of token generation happens at executor-model
 *       rates", the advisor's 1,400 to 1,800 tokens a call on top).</li>
 * </ul>
 * A relay passing the Messages API on under the protected prefix (Spring AI's or LangChain4j's Anthropic
 * client pointed at it, or the Anthropic Java SDK with its {@code baseUrl}) gets these answers as they are. The
 * filter charges the top-level counts: a call that made the model read a 60,000-token conversation to
 * summarize it costs the user the 4,900 tokens of the answer after it; a call that asked Opus for a plan costs
 * only the executor's tokens. Every user with a long chat (compaction is Anthropic's "recommended strategy for
 * managing context in long-running conversations") or an agent with an advisor gets those passes free.
 *
 * <p>Expected: the usage the provider bills, that is the top-level counts plus every iteration that is not
 * the executor's own {@code message} pass (whose counts the top level already holds). Controls: a web-search
 * loop's {@code message}-only iterations (their sum is the top level) are charged the top level, and so is the
 * same compaction-enabled call that did not reach its trigger (no iterations but the one {@code message}).
 */
abstract class AbstractRound292 extends ShapedAnswerRound {
    /** The conversation a compaction-enabled chat sends: about 60,000 o200k tokens (Prose: 4.5 characters a token). */
    static final String HISTORY = Prose.english(270_000);

    /** What the agent's request carries for the advisor to read: about 12,000 tokens of code review context. */
    static final String TASK = Prose.english(54_000);

    // The summarizing pass read the whole conversation and wrote the summary; the answering pass read the summary.
    static final long COMPACT_IN = 60_000;
    static final long COMPACT_OUT = 2_800;
    static final long ANSWER_IN = 4_100;
    static final long ANSWER_OUT = 800;

    // The executor's two passes (before and after the advice) and the advisor's one.
    static final long EXEC1_IN = 12_000;
    static final long EXEC1_OUT = 150;
    static final long ADVISOR_IN = 12_200;
    static final long ADVISOR_OUT = 1_600;
    static final long EXEC2_IN = 13_900;
    static final long EXEC2_OUT = 1_000;

    static String subject() {
        return "u292-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String counts(long in, long out) {
        return "\"input_tokens\":" + in + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
                + "\"output_tokens\":" + out;
    }

    static String iteration(String type, String model, long in, long out) {
        return "{\"type\":\"" + type + "\"" + (model == null ? "" : ",\"model\":\"" + model + "\"") + ","
                + counts(in, out) + "}";
    }

    static String compactionUsage() {
        return "{" + counts(ANSWER_IN, ANSWER_OUT) + ",\"iterations\":["
                + iteration("compaction", null, COMPACT_IN, COMPACT_OUT) + ","
                + iteration("message", "claude-opus-4-6", ANSWER_IN, ANSWER_OUT) + "],\"service_tier\":\"standard\"}";
    }

    static String advisorUsage() {
        return "{" + counts(EXEC1_IN + EXEC2_IN, EXEC1_OUT + EXEC2_OUT) + ",\"iterations\":["
                + iteration("message", "claude-sonnet-4-6", EXEC1_IN, EXEC1_OUT) + ","
                + iteration("advisor_message", "claude-opus-4-8", ADVISOR_IN, ADVISOR_OUT) + ","
                + iteration("message", "claude-sonnet-4-6", EXEC2_IN, EXEC2_OUT) + "],"
                + "\"server_tool_use\":{\"web_search_requests\":0},\"service_tier\":\"standard\"}";
    }

    /** Control: a web-search loop, two executor passes, both in the top level. */
    static String searchUsage() {
        return "{" + counts(EXEC1_IN + EXEC2_IN, EXEC1_OUT + EXEC2_OUT) + ",\"iterations\":["
                + iteration("message", "claude-sonnet-4-6", EXEC1_IN, EXEC1_OUT) + ","
                + iteration("message", "claude-sonnet-4-6", EXEC2_IN, EXEC2_OUT) + "],"
                + "\"server_tool_use\":{\"web_search_requests\":1},\"service_tier\":\"standard\"}";
    }

    /** Control: the compaction-enabled chat below its trigger: one pass, no compaction. */
    static String uncompactedUsage() {
        return "{" + counts(COMPACT_IN, ANSWER_OUT) + ",\"iterations\":["
                + iteration("message", "claude-opus-4-6", COMPACT_IN, ANSWER_OUT) + "],\"service_tier\":\"standard\"}";
    }

    static final String SUMMARY = "Summary of the conversation: the user is building a quarterly report for the"
            + " committee; revenue in the northern regions grew, logistics costs rose with fuel prices, and"
            + " management proposed new contracts with regional carriers. Next step: draft the cost section.";
    static final String ANSWER = "Based on our conversation so far, here is the cost section of the report.";
    static final String ADVICE = "1. Read the failing test first. 2. The race is in the cache eviction; guard it"
            + " with the existing lock rather than adding a new one. 3. Run the whole module's tests before finishing.";

    static String content(String shape) {
        return switch (shape) {
            case "compaction" -> "[{\"type\":\"compaction\",\"content\":" + q(SUMMARY) + ",\"encrypted_content\":\"EqQBCkYICxgC\"},"
                    + "{\"type\":\"text\",\"text\":" + q(ANSWER) + "}]";
            case "uncompacted" -> "[{\"type\":\"text\",\"text\":" + q(ANSWER) + "}]";
            case "advisor" -> "[{\"type\":\"text\",\"text\":\"Let me check the approach before changing the cache.\"},"
                    + "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_01\",\"name\":\"advisor\",\"input\":{}},"
                    + "{\"type\":\"advisor_tool_result\",\"tool_use_id\":\"srvtoolu_01\",\"content\":{\"type\":\"advisor_result\","
                    + "\"text\":" + q(ADVICE) + ",\"stop_reason\":\"end_turn\"}},"
                    + "{\"type\":\"text\",\"text\":\"Following that plan, the fix guards eviction with the existing lock.\"}]";
            case "search" -> "[{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_02\",\"name\":\"web_search\","
                    + "\"input\":{\"query\":\"regional carrier fuel surcharge 2026\"}},"
                    + "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_02\",\"content\":[{\"type\":\"web_search_result\","
                    + "\"title\":\"Fuel surcharges\",\"url\":\"https://example.com/fuel\",\"encrypted_content\":\"EqgfCioIARgB\","
                    + "\"page_age\":\"2 days ago\"}]},"
                    + "{\"type\":\"text\",\"text\":\"Carriers raised fuel surcharges this winter.\"}]";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    static String model(String shape) {
        return shape.equals("advisor") || shape.equals("search") ? "claude-sonnet-4-6" : "claude-opus-4-6";
    }

    static String usage(String shape) {
        return switch (shape) {
            case "compaction" -> compactionUsage();
            case "uncompacted" -> uncompactedUsage();
            case "advisor" -> advisorUsage();
            case "search" -> searchUsage();
            default -> throw new IllegalArgumentException(shape);
        };
    }

    /** What the provider bills for the call. */
    static long billed(String shape) {
        return switch (shape) {
            case "compaction" -> COMPACT_IN + COMPACT_OUT + ANSWER_IN + ANSWER_OUT;
            case "uncompacted" -> COMPACT_IN + ANSWER_OUT;
            case "advisor" -> EXEC1_IN + EXEC1_OUT + ADVISOR_IN + ADVISOR_OUT + EXEC2_IN + EXEC2_OUT;
            case "search" -> EXEC1_IN + EXEC1_OUT + EXEC2_IN + EXEC2_OUT;
            default -> throw new IllegalArgumentException(shape);
        };
    }

    /** The whole (non-streamed) beta message, as the Messages API answers it. */
    @Override
    protected String body(String shape) {
        return "{\"id\":\"msg_01292\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"" + model(shape) + "\","
                + "\"content\":" + content(shape) + ",\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
                + "\"usage\":" + usage(shape) + "}";
    }

    /** {@code stream-{shape}}: the same call streamed, the iterations in the {@code message_delta}'s usage. */
    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (!shape.startsWith("stream-")) {
            return false;
        }
        String s = shape.substring(7);
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        long firstIn = s.equals("compaction") ? ANSWER_IN : s.equals("uncompacted") ? COMPACT_IN : EXEC1_IN;
        event(w, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01292\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"" + model(s) + "\",\"content\":[],\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":{" + counts(firstIn, 1) + "}}}");
        int index = 0;
        if (s.equals("compaction")) {
            event(w, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                    + "{\"type\":\"compaction\",\"content\":null,\"encrypted_content\":null}}");
            event(w, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                    + "{\"type\":\"compaction_delta\",\"content\":" + q(SUMMARY) + ",\"encrypted_content\":\"EqQBCkYICxgC\"}}");
            event(w, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
            index = 1;
        } else if (s.equals("advisor")) {
            event(w, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                    + "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_01\",\"name\":\"advisor\",\"input\":{}}}");
            event(w, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
            event(w, "content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":"
                    + "{\"type\":\"advisor_tool_result\",\"tool_use_id\":\"srvtoolu_01\",\"content\":{\"type\":\"advisor_result\","
                    + "\"text\":" + q(ADVICE) + ",\"stop_reason\":\"end_turn\"}}}");
            event(w, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}");
            index = 2;
        }
        event(w, "content_block_start", "{\"type\":\"content_block_start\",\"index\":" + index
                + ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
        event(w, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":" + index
                + ",\"delta\":{\"type\":\"text_delta\",\"text\":" + q(ANSWER) + "}}");
        event(w, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":" + index + "}");
        event(w, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                + "\"stop_sequence\":null},\"usage\":" + usage(s) + "}");
        event(w, "message_stop", "{\"type\":\"message_stop\"}");
        w.flush();
        return true;
    }

    static void event(PrintWriter w, String name, String data) {
        w.write("event: " + name + "\ndata: " + data + "\n\n");
    }

    /** The request each shape answers: a long chat with threshold compaction, or an agent's task with the advisor tool. */
    static String request(String shape, boolean stream) {
        String s = shape.startsWith("stream-") ? shape.substring(7) : shape;
        String streamed = stream ? ",\"stream\":true" : "";
        if (s.equals("advisor") || s.equals("search")) {
            String tool = s.equals("advisor")
                    ? "{\"type\":\"advisor_20260301\",\"name\":\"advisor\",\"model\":\"claude-opus-4-8\"}"
                    : "{\"type\":\"web_search_20250305\",\"name\":\"web_search\",\"max_uses\":3}";
            return "{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":8000" + streamed + ",\"tools\":[" + tool + "],"
                    + "\"messages\":[{\"role\":\"user\",\"content\":" + q("Fix the flaky cache test. Context:\n" + TASK) + "}]}";
        }
        return "{\"model\":\"claude-opus-4-6\",\"max_tokens\":4096" + streamed + ","
                + "\"messages\":[{\"role\":\"user\",\"content\":" + q(HISTORY) + "},"
                + "{\"role\":\"assistant\",\"content\":\"Noted. What next?\"},"
                + "{\"role\":\"user\",\"content\":\"Now draft the cost section.\"}],"
                + "\"context_management\":{\"edits\":[{\"type\":\"compact_20260112\""
                // the control keeps the default trigger (150,000), which 60,000 tokens do not reach
                + (s.equals("uncompacted") ? "" : ",\"trigger\":{\"type\":\"input_tokens\",\"value\":50000}") + "}]}}";
    }

    private void chargedWhatWasBilled(String shape) {
        String s = subject();
        // room for the hold of a 60,000-token conversation beside the 20,000 allowance
        store.grant(PurchaseRequest.grant("tx-" + s, s, 200_000, PurchaseType.PURCHASE, "pack"));
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s,
                request(shape, shape.startsWith("stream-")), "anthropic-version", "2023-06-01",
                "anthropic-beta", "compact-2026-01-12,advisor-tool-2026-03-01");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        String plain = shape.startsWith("stream-") ? shape.substring(7) : shape;
        long used = settled(s).used();
        assertEquals(billed(plain), used, shape + ": the provider billed " + billed(plain) + " (top level plus the"
                + " iterations it leaves out), the ledger charged " + used + ": " + ledger(s));
    }

    /**
     * The attack, compaction: a long chat's call whose summarizing pass read 60,000 tokens and wrote 2,800
     * (the {@code compaction} iteration) and whose answer read 4,100 and wrote 800 (the top level). Billed
     * 67,700; the filter charges the top level, 4,900.
     */
    @ParameterizedTest
    @ValueSource(strings = {"compaction", "stream-compaction"})
    void aCompactionPassIsCharged(String shape) {
        chargedWhatWasBilled(shape);
    }

    /**
     * The attack, advisor: an agent's call in which the Sonnet executor consulted the Opus advisor once (12,200
     * read, 1,600 written: the {@code advisor_message} iteration). Billed 40,850; the filter charges the
     * executor's top level, 27,050.
     */
    @ParameterizedTest
    @ValueSource(strings = {"advisor", "stream-advisor"})
    void anAdvisorCallIsCharged(String shape) {
        chargedWhatWasBilled(shape);
    }

    /** Control: a web-search loop's two executor passes are the top level (27,050), charged exactly. */
    @ParameterizedTest
    @ValueSource(strings = {"search", "stream-search"})
    void messageOnlyIterationsAreChargedTheTopLevel(String shape) {
        chargedWhatWasBilled(shape);
    }

    /** Control: the compaction-enabled chat that stayed under its trigger: one pass, 60,800, charged exactly. */
    @Test
    void aCallThatDidNotCompactIsChargedItsUsage() {
        chargedWhatWasBilled("uncompacted");
    }
}
