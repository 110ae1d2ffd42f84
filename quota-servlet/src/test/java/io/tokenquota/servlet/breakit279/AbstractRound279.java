package io.tokenquota.servlet.breakit279;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 279 of issue 11: the text rules of rounds 274 to 277 from both sides. The model's text is
 * {@link #TEXT} (about 4,400 tokens by the filter's estimator); the request names no output budget, so its
 * hold is 1,016.
 *
 * <p><b>A call for free: a repeat that is not one.</b> Round 276 counts a Responses item sent whole in
 * {@code response.output_item.done} only when no delta came before it at the same {@code output_index}
 * ({@code StreamText.Seen.deltaOutputs}), kept for the whole answer. An agent that relays each of its model
 * calls' events to its client (round 239's relay of two Responses calls) starts every call's
 * {@code output_index} at 0: the first call's {@code read_file} arguments streamed as deltas at index 1
 * (after its reasoning item at 0), the second call's Codex {@code local_shell_call} (codex-mini-latest's
 * {@code local_shell} tool: no delta events, the item comes whole in {@code response.output_item.done}, as
 * round 273 has it; Azure.AI.AgentServer.Responses' {@code ResponseEventStream}: output_item.added, then
 * output_item.done) at index 1 too, writing a 4,400-token report with a heredoc. Cut before the second
 * call's {@code response.completed}, the second call is taken for the first's repeat and charged nothing:
 * 2,250 (the first call's usage). At index 2, or alone, it is charged its command.
 *
 * <p><b>Over-charged: text the model never wrote, or counted twice.</b>
 * <ul>
 *   <li>The Vercel AI SDK v5 UI message stream ({@code toUIMessageStreamResponse()}, header
 *       {@code x-vercel-ai-ui-message-stream: v1}; vercel/ai {@code packages/ai/src/ui-message-stream/ui-message-chunks.ts})
 *       of a call whose tool ran on the server: {@code tool-output-available}'s {@code output} is what the
 *       tool returned (a file read: the string, or an object), not the model's text; the rule that counts a
 *       Replicate prediction's {@code output} (round 276) counts it in every event. With an async generator
 *       tool the SDK sends {@code "preliminary": true} outputs, each the output so far, before the last:
 *       each counted again. The model wrote a 10-token tool call; the charge is the hold (1,016).</li>
 *   <li>A page under the protected prefix that includes a fragment ({@code RequestDispatcher.include}, a
 *       JSP's {@code <jsp:include>}) which calls the model, writes its text and reports its usage (4,420)
 *       through {@code QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE}: docs/servlet.md charges a page that reports
 *       nothing "its estimate beside" its fragments' figures (1,016 + 4,420). The filter counts the
 *       fragment's text as the page's own answer too (raw text), although the fragment's figure "stands
 *       for everything it wrote" ({@code QuotaResponse.nestedInclude}): 8,818.</li>
 *   <li>LangChain.js's {@code HttpResponseOutputParser({contentType: "text/event-stream"})} (langchainjs
 *       {@code langchain/src/output_parsers/http_response.ts}: {@code event: data\ndata: ${JSON.stringify(chunk)}},
 *       then {@code event: end}) and LangServe's {@code /stream} of a chain ending in {@code StrOutputParser}
 *       send each token as a JSON string. The filter counts them as raw text with their quotes: 11,783 for
 *       4,400 tokens. The same tokens as a Spring {@code Flux<String>} ({@code data:} and the text) are the
 *       control: about 4,300.</li>
 * </ul>
 */
abstract class AbstractRound279 extends ShapedAnswerRound {
    static String subject() {
        return "u279-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** The text as a tokenizer's pieces: one word and its leading space each. */
    static List<String> words() {
        return List.of(TEXT.split("(?= )"));
    }

    static void sse(PrintWriter w, String event, String data) {
        w.write((event == null ? "" : "event: " + event + "\n") + "data: " + data + "\n\n");
    }

    /** What the fragment's model call used, by the provider's count (its SDK's usage). */
    static final long FRAGMENT_USAGE = 4_420;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return super.deploy(filter).servlet("page", new Page(), "/ai/page").servlet("fragment", new Fragment(), "/ai/fragment");
    }

    /** The page: a heading, the included summary fragment, a footer; with {@code ?own=0} it reports 0 for itself. */
    class Page extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getInputStream().readAllBytes();
            if ("0".equals(req.getParameter("own"))) {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            }
            resp.setContentType("text/plain;charset=utf-8");
            resp.getWriter().write("Summary of the quarter:\n\n");
            req.getRequestDispatcher("/ai/fragment").include(req, resp);
            resp.getWriter().write("\n\n-- generated for the committee\n");
        }
    }

    /** The summary fragment: calls the model, reports the call's usage, writes its text. */
    class Fragment extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT_USAGE);
            resp.setContentType("text/plain;charset=utf-8");
            resp.getWriter().write(TEXT);
        }
    }

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        if (shape.startsWith("agent-")) {
            agent(w, shape.substring("agent-".length()));
            w.flush();
            return true;
        }
        switch (shape) {
            case "ui-text" -> {
                resp.setHeader("x-vercel-ai-ui-message-stream", "v1");
                sse(w, null, "{\"type\":\"start\",\"messageId\":\"msg-1\"}");
                sse(w, null, "{\"type\":\"start-step\"}");
                sse(w, null, "{\"type\":\"text-start\",\"id\":\"txt-0\"}");
                for (String p : words()) {
                    sse(w, null, "{\"type\":\"text-delta\",\"id\":\"txt-0\",\"delta\":" + q(p) + "}");
                }
                sse(w, null, "{\"type\":\"text-end\",\"id\":\"txt-0\"}");
                sse(w, null, "{\"type\":\"finish-step\"}");
                sse(w, null, "{\"type\":\"finish\"}");
                w.write("data: [DONE]\n\n");
            }
            case "ui-tool-string", "ui-tool-object", "ui-tool-preliminary" -> {
                resp.setHeader("x-vercel-ai-ui-message-stream", "v1");
                sse(w, null, "{\"type\":\"start\",\"messageId\":\"msg-1\"}");
                sse(w, null, "{\"type\":\"start-step\"}");
                sse(w, null, "{\"type\":\"tool-input-start\",\"toolCallId\":\"call_1\",\"toolName\":\"readFile\"}");
                sse(w, null, "{\"type\":\"tool-input-delta\",\"toolCallId\":\"call_1\",\"inputTextDelta\":"
                        + q("{\"path\":\"reports/q3.md\"}") + "}");
                sse(w, null, "{\"type\":\"tool-input-available\",\"toolCallId\":\"call_1\",\"toolName\":\"readFile\","
                        + "\"input\":{\"path\":\"reports/q3.md\"}}");
                if (shape.endsWith("preliminary")) {
                    for (int i = 1; i <= 3; i++) {
                        sse(w, null, "{\"type\":\"tool-output-available\",\"toolCallId\":\"call_1\",\"output\":"
                                + q(TEXT.substring(0, TEXT.length() * i / 4)) + ",\"preliminary\":true}");
                    }
                }
                String output = shape.endsWith("object") ? "{\"path\":\"reports/q3.md\",\"content\":" + q(TEXT) + "}" : q(TEXT);
                sse(w, null, "{\"type\":\"tool-output-available\",\"toolCallId\":\"call_1\",\"output\":" + output + "}");
                sse(w, null, "{\"type\":\"finish-step\"}");
                sse(w, null, "{\"type\":\"finish\"}");
                w.write("data: [DONE]\n\n");
            }
            case "langchain-strings" -> {
                for (String p : words()) {
                    sse(w, "data", q(p));
                }
                w.write("event: end\n\n");
            }
            case "flux-strings" -> {
                for (String p : words()) {
                    w.write("data:" + p + "\n\n");
                }
            }
            default -> throw new IllegalArgumentException(shape);
        }
        w.flush();
        return true;
    }

    static final long FIRST_IN = 2_100;
    static final long FIRST_OUT = 150;

    static String response(String id, String status, String output, String usage) {
        return "{\"id\":\"" + id + "\",\"object\":\"response\",\"created_at\":1735689600,\"status\":\"" + status
                + "\",\"model\":\"codex-mini-latest\",\"output\":" + output + ",\"usage\":" + usage + "}";
    }

    static String usage(long in, long out) {
        return "{\"input_tokens\":" + in + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + out
                + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + (in + out) + "}";
    }

    static final String READ_ARGS = "{\"path\":\"reports/q3-data.csv\"}";
    static final String FUNCTION_CALL = "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"read_file\","
            + "\"arguments\":" + q(READ_ARGS) + ",\"status\":\"completed\"}";

    static String reasoning(String id) {
        return "{\"type\":\"reasoning\",\"id\":\"" + id + "\",\"summary\":[]}";
    }

    static String heredoc() {
        return "cat > reports/q3.md <<'EOF'\n" + TEXT + "\nEOF";
    }

    static void event(PrintWriter w, String type, int seq, String rest) {
        sse(w, type, "{\"type\":\"" + type + "\",\"sequence_number\":" + seq + "," + rest + "}");
    }

    /**
     * An agent's relay of its model calls on the Responses API ({@code kind}: {@code two} the read, then the
     * report's shell call at the same index; {@code two-index2} the report's call one index further;
     * {@code alone} the report's call only): the report's call is cut after its {@code local_shell_call},
     * before its {@code response.completed}.
     */
    static void agent(PrintWriter w, String kind) {
        int seq = 0;
        if (!kind.equals("alone")) {
            event(w, "response.created", seq++, "\"response\":" + response("resp_1", "in_progress", "[]", "null"));
            event(w, "response.output_item.added", seq++, "\"output_index\":0,\"item\":" + reasoning("rs_1"));
            event(w, "response.output_item.done", seq++, "\"output_index\":0,\"item\":" + reasoning("rs_1"));
            event(w, "response.output_item.added", seq++, "\"output_index\":1,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\","
                    + "\"call_id\":\"call_1\",\"name\":\"read_file\",\"arguments\":\"\",\"status\":\"in_progress\"}");
            event(w, "response.function_call_arguments.delta", seq++, "\"item_id\":\"fc_1\",\"output_index\":1,\"delta\":" + q(READ_ARGS));
            event(w, "response.function_call_arguments.done", seq++, "\"item_id\":\"fc_1\",\"output_index\":1,\"arguments\":" + q(READ_ARGS));
            event(w, "response.output_item.done", seq++, "\"output_index\":1,\"item\":" + FUNCTION_CALL);
            event(w, "response.completed", seq++, "\"response\":" + response("resp_1", "completed",
                    "[" + reasoning("rs_1") + "," + FUNCTION_CALL + "]", usage(FIRST_IN, FIRST_OUT)));
        }
        seq = 0;
        int index = kind.equals("two-index2") ? 2 : 1;
        event(w, "response.created", seq++, "\"response\":" + response("resp_2", "in_progress", "[]", "null"));
        for (int i = 0; i < index; i++) {
            event(w, "response.output_item.added", seq++, "\"output_index\":" + i + ",\"item\":" + reasoning("rs_2" + i));
            event(w, "response.output_item.done", seq++, "\"output_index\":" + i + ",\"item\":" + reasoning("rs_2" + i));
        }
        String call = "{\"type\":\"local_shell_call\",\"id\":\"lsh_2\",\"call_id\":\"call_2\",\"status\":\"%s\",\"action\":{\"type\":"
                + "\"exec\",\"command\":[\"bash\",\"-lc\",%s],\"env\":{},\"timeout_ms\":60000,\"working_directory\":\"/repo\"}}";
        event(w, "response.output_item.added", seq++, "\"output_index\":" + index + ",\"item\":" + String.format(call, "in_progress", q("")));
        event(w, "response.output_item.done", seq, "\"output_index\":" + index + ",\"item\":" + String.format(call, "completed", q(heredoc())));
    }

    static final String ASK = "{\"messages\":[{\"role\":\"user\",\"content\":\"Write the committee's quarterly report to reports/q3.md.\"}]}";

    private long call(String path, String s) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + path), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    // ------------------------------------------------------------------ a second call taken for a repeat

    /**
     * The attack: the agent's second call writes the report in a {@code local_shell_call} at the index where
     * its first call's arguments streamed; cut before its usage, it must be charged the command it carried
     * beside the first call's 2,250 (its control at another index: 7,150). Today: 2,250, the report free.
     */
    @Test
    void aSecondCallsShellCommandAtTheIndexOfTheFirstCallsDeltasIsCharged() {
        String s = subject();
        long used = call("agent-two", s);
        assertTrue(used >= FIRST_IN + FIRST_OUT + 4_000, "the second call's 4,400-token shell command, cut before its usage,"
                + " after a first call that used " + (FIRST_IN + FIRST_OUT) + ": charged " + used + ": " + ledger(s));
    }

    /** Controls: the same second call one index further, or alone, is charged its command. */
    @ParameterizedTest
    @ValueSource(strings = {"two-index2", "alone"})
    void theSameShellCommandElsewhereIsCharged(String kind) {
        String s = subject();
        long used = call("agent-" + kind, s);
        long before = kind.equals("alone") ? 0 : FIRST_IN + FIRST_OUT;
        assertTrue(used >= before + 4_000, kind + ": charged " + used + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ a tool's output taken for the model's text

    /**
     * The attack on the UI message stream: the model wrote a 10-token {@code readFile} call, the server ran
     * the tool and streamed its output (the 4,400-token file, as a string, as an object, or as preliminary
     * outputs and then the last); no usage. Charged the hold, 1,016, at most 1,100. Today 4,510, 4,510, 11,239.
     */
    @ParameterizedTest
    @ValueSource(strings = {"string", "object", "preliminary"})
    void aToolsOutputInAUiMessageStreamIsNotChargedAsTheModelsText(String output) {
        String s = subject();
        long used = call("ui-tool-" + output, s);
        assertTrue(used <= 1_100, output + ": a 10-token tool call whose tool returned a 4,400-token file charged " + used
                + " (the hold is 1,016): " + ledger(s));
    }

    /** Control: the model's own 4,400 tokens of text in the same stream are charged, once. */
    @Test
    void theModelsTextInAUiMessageStreamIsCharged() {
        String s = subject();
        long used = call("ui-text", s);
        assertTrue(used >= 4_000 && used <= 5_500, "charged " + used + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ a fragment's text beside its figure

    /**
     * The attack on includes: the page reports nothing for itself, its fragment reported 4,420. Charged the
     * page's estimate beside the fragment's figure: 1,016 + 4,420, at most 5,506. Today 8,818.
     */
    @Test
    void aFragmentsTextIsNotChargedAgainBesideItsFigure() {
        String s = subject();
        long used = call("page", s);
        assertTrue(used <= 1_016 + FRAGMENT_USAGE + 70, "a page whose fragment reported " + FRAGMENT_USAGE
                + " for the text it wrote charged " + used + ": " + ledger(s));
    }

    /** Control: the page that reports 0 for itself is charged its fragment's figure exactly. */
    @Test
    void aPageReportingZeroIsChargedItsFragmentsFigure() {
        String s = subject();
        assertEquals(FRAGMENT_USAGE, call("page?own=0", s), ledger(s));
    }

    // ------------------------------------------------------------------ tokens sent as JSON strings

    /**
     * The attack on LangChain.js's and LangServe's string streams: 4,400 tokens, one JSON string an event.
     * Charged its text once, at least 4,000 and at most 5,500. Today 11,783.
     */
    @Test
    void aStreamOfJsonStringsIsChargedItsTextOnce() {
        String s = subject();
        long used = call("langchain-strings", s);
        assertTrue(used >= 4_000 && used <= 5_500, "4,400 tokens sent as " + words().size() + " JSON strings charged " + used
                + ": " + ledger(s));
    }

    /** Control: the same tokens as a {@code Flux<String>}'s raw events. */
    @Test
    void theSameTokensAsRawEventsAreChargedTheirText() {
        String s = subject();
        long used = call("flux-strings", s);
        assertTrue(used >= 4_000 && used <= 5_500, "charged " + used + ": " + ledger(s));
    }
}
