package io.tokenquota.servlet.breakit273;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 273 of issue 11: a coding agent's file-writing tools that are not function calls. Round 272
 * charges a whole answer without usage its tool calls' arguments (a Response's {@code function_call}
 * and {@code custom_tool_call}, a chat completion's {@code function} tool call). The same agent on
 * OpenAI's other tool shapes writes the same 4,400-token file through: a Chat Completions custom tool
 * call ({@code tool_calls[].type = "custom"}, {@code custom.input}: openai-java's
 * {@code ChatCompletionMessageCustomToolCall}, GPT-5's free-form {@code apply_patch}); a Responses
 * {@code apply_patch_call} ({@code operation.diff}: {@code ResponseApplyPatchToolCall}); a Responses
 * {@code shell_call} ({@code action.commands[]}) and a Codex {@code local_shell_call}
 * ({@code action.command[]}) writing the file with a heredoc. Each is the model's output.
 */
abstract class AbstractRound273 extends ShapedAnswerRound {
    static String subject() {
        return "u273-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String diff() {
        return "+" + TEXT.replace("\n", "\n+");
    }

    static String heredoc() {
        return "cat > reports/q3.md <<'EOF'\n" + TEXT + "\nEOF";
    }

    static final String RESPONSE_HEAD = "{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"completed\","
            + "\"model\":\"gpt-5.1\",\"output\":[";

    static String item(String shape) {
        return switch (shape) {
            case "responses-apply-patch" -> "{\"type\":\"apply_patch_call\",\"id\":\"apc_1\",\"call_id\":\"call_1\","
                    + "\"status\":\"completed\",\"operation\":{\"type\":\"create_file\",\"path\":\"reports/q3.md\","
                    + "\"diff\":" + q(diff()) + "}}";
            case "responses-shell" -> "{\"type\":\"shell_call\",\"id\":\"sh_1\",\"call_id\":\"call_1\",\"status\":\"completed\","
                    + "\"action\":{\"commands\":[" + q(heredoc()) + "],\"timeout_ms\":60000,\"max_output_length\":4096}}";
            case "responses-local-shell" -> "{\"type\":\"local_shell_call\",\"id\":\"lsh_1\",\"call_id\":\"call_1\","
                    + "\"status\":\"completed\",\"action\":{\"type\":\"exec\",\"command\":[\"bash\",\"-lc\"," + q(heredoc())
                    + "],\"env\":{},\"timeout_ms\":60000,\"working_directory\":\"/repo\"}}";
            // control (round 272): the same file as a custom tool call's input
            case "responses-custom-tool" -> "{\"type\":\"custom_tool_call\",\"id\":\"ctc_1\",\"call_id\":\"call_1\","
                    + "\"name\":\"apply_patch\",\"input\":" + q(diff()) + ",\"status\":\"completed\"}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected String body(String shape) {
        return switch (shape) {
            case "chat-custom-tool" -> "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-5\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"refusal\":null,"
                    + "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"custom\",\"custom\":{\"name\":\"apply_patch\",\"input\":"
                    + q(diff()) + "}}]},\"finish_reason\":\"tool_calls\"}]}";
            // control (round 272): the same file as a function tool call's arguments
            case "chat-function-tool" -> "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-5\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
                    + "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"apply_patch\",\"arguments\":"
                    + q("{\"patch\":" + q(diff()) + "}") + "}}]},\"finish_reason\":\"tool_calls\"}]}";
            default -> RESPONSE_HEAD + item(shape) + "]}";
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (!shape.startsWith("cut-")) {
            return false;
        }
        cut(shape.substring(4), resp);
        return true;
    }

    /**
     * A relay of a Responses stream whose upstream broke after the item was done and before
     * {@code response.completed} (its usage): the relay ends its own stream there.
     */
    private void cut(String shape, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        String created = "{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"in_progress\","
                + "\"model\":\"gpt-5.1\",\"output\":[]}";
        event(w, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":" + created + "}");
        event(w, "response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":" + created + "}");
        if (shape.equals("responses-custom-tool")) {
            // control: the custom tool call's input arrives as deltas
            event(w, "response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":2,"
                    + "\"output_index\":0,\"item\":{\"type\":\"custom_tool_call\",\"id\":\"ctc_1\",\"call_id\":\"call_1\","
                    + "\"name\":\"apply_patch\",\"input\":\"\",\"status\":\"in_progress\"}}");
            String d = diff();
            int n = 3;
            for (int i = 0; i < d.length(); i += 200) {
                event(w, "response.custom_tool_call_input.delta", "{\"type\":\"response.custom_tool_call_input.delta\","
                        + "\"sequence_number\":" + (n++) + ",\"item_id\":\"ctc_1\",\"output_index\":0,\"delta\":"
                        + q(d.substring(i, Math.min(d.length(), i + 200))) + "}");
            }
        }
        event(w, "response.output_item.done", "{\"type\":\"response.output_item.done\",\"sequence_number\":900,"
                + "\"output_index\":0,\"item\":" + item(shape) + "}");
        w.flush();
    }

    static void event(PrintWriter w, String name, String data) {
        w.write("event: " + name + "\ndata: " + data + "\n\n");
    }

    static final String ASK = "{\"model\":\"gpt-5.1\",\"input\":\"Write the committee's quarterly report to reports/q3.md.\"}";

    private void charged(String shape) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 4_000, shape + ": a tool call writing about 4,400 tokens charged " + used + ": " + ledger(s));
    }

    /** The attack: the agent's model answers whole, without usage, with one file-writing tool call. */
    @ParameterizedTest
    @ValueSource(strings = {"chat-custom-tool", "responses-apply-patch", "responses-shell", "responses-local-shell"})
    void aWholeAnswerThatWritesAFileWithAnOpenAiToolIsChargedIt(String shape) {
        charged(shape);
    }

    /** The attack, streamed: the Responses stream is cut after the item is done, before its usage. */
    @ParameterizedTest
    @ValueSource(strings = {"responses-apply-patch", "responses-shell", "responses-local-shell"})
    void aStreamCutAfterAFileWritingItemIsChargedIt(String shape) {
        charged("cut-" + shape);
    }

    /** Controls (round 272's shapes): the same file as a function's or a custom tool's input. */
    @ParameterizedTest
    @ValueSource(strings = {"chat-function-tool", "responses-custom-tool", "cut-responses-custom-tool"})
    void theSameFileAsRound272sShapesIsCharged(String shape) {
        charged(shape);
    }
}
