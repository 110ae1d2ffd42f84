package io.tokenquota.servlet.breakit504;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.BedrockAgentRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RelayedAnswers;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 504 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"), on round 500's
 * reading of Bedrock knowledge-base and flow answers: a top-level {@code output.text} in a document of no
 * {@code type} now counts as new text in every document of a JSON body ({@code StreamText}'s rule
 * {@code KNOWLEDGE_BASE}, {@code Seen#jsonBody}), and a JSON body includes JSON lines.
 *
 * <p>Finding 1 (charged more than the model wrote): Alibaba Cloud Model Studio's application API (DashScope,
 * {@code POST /api/v1/apps/{APP_ID}/completion}; Model Studio docs, "DashScope API reference for applications")
 * answers {@code {"output": {"text", "finish_reason", "session_id"}, "usage": {"models": [{"model_id",
 * "input_tokens", "output_tokens"}]}, "request_id"}}; streamed ({@code X-DashScope-SSE: enable}) with its default
 * {@code incremental_output: false}, every event carries the answer so far in {@code output.text}. The usage it
 * sends is per model ({@code usage.models[]}), which the filter does not read, so the text decides. Relayed as JSON
 * lines (an application passing each event's data on as one line of {@code application/x-ndjson}, as the DashScope
 * SDKs' streamed results are handed to a Spring {@code Flux} or a FastAPI {@code StreamingResponse}), each line's
 * prefix is counted as new text: 12 events of a 2,620-token answer are charged the sum of their prefixes,
 * 17,509 tokens (its hold 1,014), for one answer. The docs (servlet.md) say {@code output.text} is not read in a text stream's
 * events for this very reason; JSON lines are such a stream. Controls: the same answer whole (one JSON body), and
 * the same stream with {@code incremental_output: true} (each event new text), are charged the answer once.
 *
 * <p>Finding 2 (charged less than the model wrote): Bedrock Agent Runtime's {@code OptimizePrompt}
 * ({@code POST /optimize-prompt}; API reference "OptimizePrompt", Response Syntax: an event stream
 * {@code optimizedPrompt} of {@code analyzePromptEvent} {@code {"message"}} and {@code optimizedPromptEvent}
 * {@code {"optimizedPrompt": {"textPrompt": {"text"}}}}, no usage) has a model rewrite the prompt: the rewritten
 * prompt is the model's output, and AWS bills it by the target model's tokens. No reader counts either event, so the
 * call is charged its hold (the prompt's estimate and the fallback output), not the prompt plus the rewritten one.
 * Control: the same text as a flow's output node's document (round 500's reading) is charged its text.
 */
abstract class AbstractRound504 extends BedrockAgentRound {
    AbstractRound504() {
        super("r504");
    }

    static final List<String> PARAGRAPHS = paragraphs(12, 0);

    private static List<String> paragraphs(int n, int from) {
        String prose = Prose.english((from + n) * 1_400 + 100);
        List<String> out = new ArrayList<>();
        for (int i = from; i < from + n; i++) {
            out.add(prose.substring(i * 1_400, (i + 1) * 1_400));
        }
        return out;
    }

    static String answer() {
        return String.join("", PARAGRAPHS);
    }

    static long answerTokens() {
        return TOKENS.estimate(answer());
    }

    /** The application call's request (Model Studio application API, Request body): a prompt, streamed. */
    static final String APP_CALL = "{\"input\":{\"prompt\":\"Summarise everything the knowledge base says about"
            + " order 48213.\"},\"parameters\":{},\"debug\":{}}";

    /** The same call asking for incremental output (each event's text new). */
    static final String APP_CALL_INCREMENTAL = "{\"input\":{\"prompt\":\"Summarise everything the knowledge base"
            + " says about order 48213.\"},\"parameters\":{\"incremental_output\":true},\"debug\":{}}";

    /** One application answer document as DashScope writes it (whole, or one streamed event's data). */
    static String appDocument(String text, boolean last) {
        return appDocument(text, text, last);
    }

    /**
     * One answer document whose usage counts {@code soFar}: DashScope's streamed events count the output so far
     * whatever {@code incremental_output} says (fix round 504: this control counted each event's own text, which
     * no DashScope stream reports).
     */
    static String appDocument(String text, String soFar, boolean last) {
        return "{\"output\":{\"session_id\":\"6105c965c31b40958a43dc93c28c7a59\",\"finish_reason\":"
                + (last ? "\"stop\"" : "\"null\"") + ",\"text\":" + q(text) + "},\"usage\":{\"models\":[{"
                + "\"input_tokens\":74,\"output_tokens\":" + TOKENS.estimate(soFar) + ",\"model_id\":\"qwen-plus\"}]},"
                + "\"request_id\":\"e4b1b1a4-7a0c-9f0e-8b5d-3c2f1a0e9d8c\"}";
    }

    /** The prompt a user asks Bedrock to optimize: a template of six paragraphs (about 1,311 tokens). */
    static final String PROMPT = String.join("", paragraphs(6, 12));

    /** OptimizePrompt's request (API reference "OptimizePrompt", Request Syntax). */
    static final String OPTIMIZE_PROMPT = "{\"input\":{\"textPrompt\":{\"text\":" + q(PROMPT) + "}},"
            + "\"targetModelId\":\"anthropic.claude-3-5-sonnet-20240620-v1:0\"}";

    /** The rewritten prompt (the model's output): longer than the original, as optimized prompts are. */
    static final String OPTIMIZED = answer();

    /** An InvokeFlow request (API reference "InvokeFlow") for the control. */
    static final String INVOKE_FLOW = "{\"inputs\":[{\"content\":{\"document\":" + q(PROMPT) + "},"
            + "\"nodeName\":\"FlowInputNode\",\"nodeOutputName\":\"document\"}]}";

    @Override
    protected String body(String shape) {
        return switch (shape) {
            // the application's answer whole (a call without X-DashScope-SSE): the control
            case "app-whole" -> appDocument(answer(), true);
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        switch (shape) {
            case "app-lines", "app-lines-incremental" -> {
                // each streamed event's data passed on as one JSON line: the answer so far (incremental_output
                // false, DashScope's default), or each event's new text (incremental_output true)
                StringBuilder soFar = new StringBuilder();
                for (int i = 0; i < PARAGRAPHS.size(); i++) {
                    soFar.append(PARAGRAPHS.get(i));
                    String text = shape.equals("app-lines") ? soFar.toString() : PARAGRAPHS.get(i);
                    out.writeBytes((appDocument(text, soFar.toString(), i == PARAGRAPHS.size() - 1) + "\n")
                            .getBytes(StandardCharsets.UTF_8));
                }
                resp.setContentType("application/x-ndjson");
                resp.getOutputStream().write(out.toByteArray());
                return true;
            }
            case "optimize-prompt" -> {
                // OptimizePrompt's stream: the model's analysis of the prompt, then the rewritten prompt
                out.writeBytes(RelayedAnswers.awsEvent("analyzePromptEvent", "{\"message\":\"The prompt lacks a clear"
                        + " role, output format and examples; restructuring it with explicit instructions.\"}"));
                out.writeBytes(RelayedAnswers.awsEvent("optimizedPromptEvent", "{\"optimizedPrompt\":{\"textPrompt\":"
                        + "{\"text\":" + q(OPTIMIZED) + "}}}"));
            }
            case "invoke-flow" -> {
                // the control: the same text as a flow's output node's document (what its prompt node wrote)
                out.writeBytes(RelayedAnswers.awsEvent("flowOutputEvent", "{\"content\":{\"document\":" + q(OPTIMIZED)
                        + "},\"nodeName\":\"FlowOutputNode\",\"nodeType\":\"Output\"}"));
                out.writeBytes(RelayedAnswers.awsEvent("flowCompletionEvent", "{\"completionReason\":\"SUCCESS\"}"));
            }
            default -> {
                return false;
            }
        }
        writeEventStream(resp, out.toByteArray(), null);
        return true;
    }

    /** One application call answered in {@code shape}: charged the answer's text once (with the prompt). */
    private void assertAppAnswerChargedOnce(String shape, String request) {
        String s = "r504-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, request);
        long text = answerTokens();
        assertTrue(used >= text * 9 / 10 && used <= text * 3 / 2, kind() + " " + shape + ": charged " + used
                + ", should be the answer's " + text + " tokens of text (with the prompt), once: " + ledger(s));
    }

    /**
     * Finding 1: a Model Studio application's stream (incremental_output false, its default) relayed as JSON lines,
     * 12 events of a 2,620-token answer, is charged each event's answer so far (the sum of the prefixes, 17,509;
     * the allowance is 20,000); it should be charged the answer once (about 2,620).
     */
    @Test
    void anAppStreamRelayedAsJsonLinesIsChargedItsAnswerOnce() {
        assertAppAnswerChargedOnce("app-lines", APP_CALL);
    }

    /** Controls: the same answer whole, and the same stream with incremental output, are charged it once. */
    @ParameterizedTest
    @ValueSource(strings = {"app-whole", "app-lines-incremental"})
    void theSameAnswerWholeOrIncrementalIsChargedOnce(String shape) {
        assertAppAnswerChargedOnce(shape, shape.equals("app-whole") ? APP_CALL : APP_CALL_INCREMENTAL);
    }

    /** Charged at least the prompt and the rewritten prompt (less a tenth of the latter). */
    private void assertChargedThePromptAndTheRewrite(String shape, String request) {
        long used = call(shape, request);
        long prompt = TOKENS.estimate(PROMPT);
        long rewritten = TOKENS.estimate(OPTIMIZED);
        assertTrue(used >= prompt + rewritten * 9 / 10, kind() + " " + shape + ": charged " + used
                + ", should be at least the prompt's " + prompt + " tokens and the model's " + rewritten
                + " tokens of output: " + last);
    }

    /**
     * Finding 2: OptimizePrompt's answer, the model's 2,620-token rewrite of a 1,311-token prompt, no usage (AWS
     * sends none), is charged its hold, 2,330 (the prompt and the fallback output); it should be at least the prompt and
     * the rewrite, 3,669 and more.
     */
    @Test
    void anOptimizedPromptIsChargedTheModelsRewrite() {
        assertChargedThePromptAndTheRewrite("optimize-prompt", OPTIMIZE_PROMPT);
    }

    /** Control: the same text as a flow's output document is charged with it (round 500). */
    @Test
    void theSameTextAsAFlowsOutputIsCharged() {
        assertChargedThePromptAndTheRewrite("invoke-flow", INVOKE_FLOW);
    }
}
