package io.tokenquota.servlet.breakit272;

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
 * Round 272 of issue 11: a coding agent's answer is a tool call. Rounds 270 and 271 charge a whole
 * answer without usage its text "where its provider puts it" (an Anthropic message's {@code content[]},
 * Cohere v2's {@code message}, Bedrock Converse's {@code output.message}, an OpenAI Response's
 * {@code output[]}, LangChain4j's {@code ChatResponse}), and a chat completion's tool call arguments
 * count. The same answers whose text is a tool call's input (the agent's {@code write_file} of a
 * 4,400-token report: Anthropic's {@code tool_use.input}, a Response's {@code function_call.arguments}
 * and {@code custom_tool_call.input}, Cohere v2's {@code tool_calls[].function.arguments}, Converse's
 * {@code toolUse.input}, LangChain4j's {@code toolExecutionRequests[].arguments}) are charged their hold,
 * though each streamed (the controls) is charged its text.
 */
abstract class AbstractRound272 extends ShapedAnswerRound {
    static String subject() {
        return "u272-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** The tool's arguments as a JSON object. */
    static String args(String content) {
        return "{\"path\":\"reports/q3.md\",\"content\":" + q(content) + "}";
    }

    @Override
    protected String body(String shape) {
        return switch (shape) {
            // control: round 270's chat completion, its tool call's arguments
            case "chat-tool" -> "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"local\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
                    + "\"type\":\"function\",\"function\":{\"name\":\"write_file\",\"arguments\":" + q(args(TEXT)) + "}}]},"
                    + "\"finish_reason\":\"tool_calls\"}]}";
            case "anthropic-tool-use" -> "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4\","
                    + "\"content\":[{\"type\":\"text\",\"text\":\"I'll write the report.\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\","
                    + "\"name\":\"write_file\",\"input\":" + args(TEXT) + "}],\"stop_reason\":\"tool_use\",\"stop_sequence\":null}";
            case "responses-function-call" -> "{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"completed\","
                    + "\"model\":\"gpt-4.1\",\"output\":[{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\","
                    + "\"name\":\"write_file\",\"arguments\":" + q(args(TEXT)) + ",\"status\":\"completed\"}]}";
            case "responses-custom-tool" -> "{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"completed\","
                    + "\"model\":\"gpt-5\",\"output\":[{\"type\":\"custom_tool_call\",\"id\":\"ctc_1\",\"call_id\":\"call_1\","
                    + "\"name\":\"apply_patch\",\"input\":" + q(TEXT) + ",\"status\":\"completed\"}]}";
            case "cohere2-tool-call" -> "{\"id\":\"c1\",\"finish_reason\":\"TOOL_CALL\",\"message\":{\"role\":\"assistant\","
                    + "\"tool_plan\":\"I will write the report to a file.\",\"tool_calls\":[{\"id\":\"t1\",\"type\":\"function\","
                    + "\"function\":{\"name\":\"write_file\",\"arguments\":" + q(args(TEXT)) + "}}]}}";
            case "converse-tool-use" -> "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"toolUse\":{\"toolUseId\":\"t1\","
                    + "\"name\":\"write_file\",\"input\":" + args(TEXT) + "}}]}},\"stopReason\":\"tool_use\"}";
            case "langchain4j-tool" -> "{\"aiMessage\":{\"text\":null,\"toolExecutionRequests\":[{\"id\":\"t1\",\"name\":\"write_file\","
                    + "\"arguments\":" + q(args(TEXT)) + "}]},\"metadata\":{\"id\":\"x\",\"modelName\":\"local\","
                    + "\"finishReason\":\"TOOL_EXECUTION\"}}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (!shape.startsWith("stream-")) {
            return false;
        }
        stream(shape.substring(7), resp);
        return true;
    }

    /** The same tool call streamed without usage, in each provider's own stream format (the controls). */
    private void stream(String shape, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        String all = args(TEXT);
        String input = shape.equals("responses-custom-tool") ? TEXT : all;
        for (int i = 0; i < input.length(); i += 200) {
            String part = input.substring(i, Math.min(input.length(), i + 200));
            String doc = switch (shape) {
                case "anthropic-tool-use" -> "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
                        + "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":" + q(part) + "}}";
                case "responses-function-call" -> "event: response.function_call_arguments.delta\ndata: {\"type\":"
                        + "\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\",\"output_index\":0,\"delta\":" + q(part) + "}";
                case "responses-custom-tool" -> "event: response.custom_tool_call_input.delta\ndata: {\"type\":"
                        + "\"response.custom_tool_call_input.delta\",\"item_id\":\"ctc_1\",\"output_index\":0,\"delta\":" + q(part) + "}";
                case "cohere2-tool-call" -> "event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":"
                        + "{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":" + q(part) + "}}}}}";
                case "converse-tool-use" -> "data: {\"contentBlockDelta\":{\"contentBlockIndex\":0,\"delta\":{\"toolUse\":{\"input\":"
                        + q(part) + "}}}}";
                default -> throw new IllegalArgumentException(shape);
            };
            w.write(doc + "\n\n");
        }
        w.flush();
    }

    static final String ASK = "{\"messages\":[{\"role\":\"user\",\"content\":\"Write the committee's quarterly report to reports/q3.md.\"}]}";

    /**
     * The attack: the agent's model answers with one tool call writing a 4,400-token file, as a whole
     * answer without usage, to a request that names no budget. Charged at least its text (4,000).
     */
    @ParameterizedTest
    @ValueSource(strings = {"anthropic-tool-use", "responses-function-call", "responses-custom-tool", "cohere2-tool-call",
            "converse-tool-use", "langchain4j-tool"})
    void aWholeAnswerThatIsAToolCallIsChargedItsArguments(String shape) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 4_000, shape + ": a tool call writing about 4,400 tokens charged " + used + ": " + ledger(s));
    }

    /** Control: round 270's chat completion whose answer is the same tool call is charged its arguments. */
    @ParameterizedTest
    @ValueSource(strings = {"chat-tool"})
    void theChatCompletionsToolCallIsChargedItsArguments(String shape) {
        aWholeAnswerThatIsAToolCallIsChargedItsArguments(shape);
    }

    /** Controls: the same tool calls streamed without usage are charged their arguments. */
    @ParameterizedTest
    @ValueSource(strings = {"anthropic-tool-use", "responses-function-call", "responses-custom-tool", "cohere2-tool-call",
            "converse-tool-use"})
    void theSameToolCallStreamedIsChargedItsArguments(String shape) {
        aWholeAnswerThatIsAToolCallIsChargedItsArguments("stream-" + shape);
    }
}
