package io.tokenquota.servlet.breakit276;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 276 of issue 11: a sweep of the formats docs/servlet.md says the filter reads, each answered
 * without its usage (a whole answer whose model or framework reports none, a stream cut before its usage
 * event, a stream whose model never reports one), with text, tool calls and reasoning. The answer is
 * {@link #TEXT}, about 4,400 tokens by the filter's own estimator; the request names no output budget,
 * so its hold is 1,016. Rounds 270 to 274 taught the filter where the text is for chat completions,
 * Anthropic, Gemini, Ollama, llama.cpp, TGI, Cohere, Converse as JSON events, Responses, LangChain4j's
 * {@code ChatResponse}, Spring AI's text, Workers AI and Cohere v1 (being fixed); these are the others.
 *
 * <p>Charged the hold (1,016) for 4,400 tokens of text today:
 * <ul>
 *   <li><b>Bedrock ConverseStream relayed as AWS's binary event stream</b>
 *       ({@code application/vnd.amazon.eventstream}, which docs/servlet.md says is unframed and read as the
 *       provider's stream). In that framing the event's name is the {@code :event-type} header and the
 *       payload is the event's own body, {@code {"contentBlockIndex":0,"delta":{"text":…},"p":…}}, not the
 *       {@code {"contentBlockDelta":{…}}} wrapper the JSON rendering has (AWS's event-stream encoding; the
 *       Vercel AI SDK's {@code packages/amazon-bedrock/src/bedrock-event-stream-decoder.ts} reads
 *       {@code :event-type} and its response handler wraps the payload as {@code {[eventType]: data}};
 *       Smithy's {@code EventStreamCodec}). The filter reads the closing {@code metadata} payload's usage (the
 *       control is charged exactly 4,420) but none of the deltas: text, {@code reasoningContent.text} or
 *       {@code toolUse.input}. A relay that streams Bedrock's bytes through (as AWS's own Java SDK
 *       {@code InvokeModelWithResponseStream}/{@code ConverseStream} publishers deliver them) and is cut
 *       before {@code metadata} is charged its hold.</li>
 *   <li><b>Framework streams</b> whose text sits where no rule looks, cut before (or never sending) the event
 *       with the usage: LangServe's {@code /stream} ({@code event: data} with an {@code AIMessageChunk} at the
 *       top, {@code usage_metadata: null} when the model reports none; LangServe README, "Endpoints"),
 *       LangGraph Platform's {@code messages-tuple} ({@code event: messages}, {@code [chunk, metadata]}) and
 *       {@code messages} modes ({@code messages/partial}, each the message so far: LangGraph SDK's
 *       {@code StreamPart}; round 76's and 72's fixtures), Dify's chat ({@code event: message},
 *       {@code answer}) and workflow ({@code text_chunk}, {@code data.text}) streams (Dify's app API docs,
 *       round 43), Coze v3's {@code conversation.message.delta} (round 43), Koog's
 *       {@code StreamFrame.TextDelta} and Quarkus LangChain4j's {@code PartialResponse} (round 257), the Vercel
 *       AI SDK v4 data stream's tool call part ({@code 9:{toolCallId, toolName, args}}, sent whole: v4's
 *       {@code toolCallStreaming} is off by default; "Stream Protocols", round 72), and Gemini's stream as a
 *       Python relay writes it ({@code model_dump(exclude_none=True)} of google-genai's
 *       {@code GenerateContentResponse}: {@code function_call.args}, {@code executable_code.code}, with the
 *       prompt-only {@code usage_metadata} of a chunk that ends nothing; the camelCase control is
 *       charged its text).</li>
 *   <li><b>Whole answers</b> without usage: LangServe's {@code /invoke} ({@code {"output": AIMessage,
 *       "metadata": {run_id, feedback_tokens}}}) of a model that reports no {@code usage_metadata}; Spring AI's
 *       {@code ChatResponse} whose answer is a tool call ({@code internalToolExecutionEnabled(false)}: the
 *       {@code AssistantMessage.getToolCalls()} records {@code id, type, name, arguments}; usage Spring AI's
 *       {@code EmptyUsage}, zeros); LangChain4j's {@code AiMessage.thinking()} (1.2+, {@code returnThinking})
 *       and its 0.x {@code Response<AiMessage>} without {@code TokenUsage} (the Hugging Face model sets none);
 *       Cohere v2's reasoning ({@code message.content[]} item {@code {"type":"thinking","thinking":…}}:
 *       docs.cohere.com/v2/docs/reasoning, OCI's {@code CohereThinkingContentV2}); a Koog
 *       {@code Message.Assistant} whose {@code ResponseMetaInfo} counts are null (Koog 1.0 {@code Message.kt}:
 *       {@code totalTokensCount: Int? = null}; kotlinx.serialization leaves defaults out); a Replicate
 *       prediction ({@code output} a list of the tokens' strings) of a model whose {@code metrics} report only
 *       {@code predict_time}.</li>
 * </ul>
 *
 * <p>Counted twice: a Responses stream of an {@code apply_patch_call} or a {@code shell_call} (round 273)
 * sends the diff or the command as deltas ({@code response.apply_patch_call_operation_diff.delta},
 * {@code response.shell_call_command.delta}: OpenAI's API spec, e.g. openai-php's
 * {@code ApplyPatchCallOperationDiffDelta}, @effect/ai-openai's generated
 * {@code ResponseApplyPatchCallOperationDiffDeltaEvent}, openai-python's {@code SHELL_CALL_COMMAND_DELTA}) and
 * then whole in {@code response.output_item.done}; cut before {@code response.completed}, the filter counts
 * both: 8,997 and 9,562 for 4,400 tokens. Round 273 assumed the item came with no deltas before it. The
 * same stream of a {@code function_call} (deltas, then the item) is the control: counted once.
 *
 * <p>Not kept: LangGraph Platform's {@code /runs/wait} answered its final state ({@code {"messages": […]}})
 * without {@code usage_metadata} is charged its estimate, by decision (docs/decisions.md: a graph's state
 * carries its thread's history, whose earlier answers are not this run's).
 */
abstract class AbstractRound276 extends ShapedAnswerRound {
    static String subject() {
        return "u276-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static List<String> pieces(String text, int size) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < text.length(); i += size) {
            out.add(text.substring(i, Math.min(text.length(), i + size)));
        }
        return out;
    }

    /** The text as a tokenizer's pieces: one word and its leading space each. */
    static List<String> words() {
        return List.of(TEXT.split("(?= )"));
    }

    /** The agent's {@code write_file} arguments: the report, about 4,400 tokens. */
    static String args() {
        return "{\"path\":\"reports/q3.md\",\"content\":" + q(TEXT) + "}";
    }

    static String diff() {
        return "+" + TEXT;
    }

    static String heredoc() {
        return "cat > reports/q3.md <<'EOF'\n" + TEXT + "\nEOF";
    }

    /** Bedrock's padding field against token-length side channels. */
    static final String PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

    static byte[] awsEvent(String type, String json) {
        return io.tokenquota.servlet.testing.RelayedAnswers.awsEvent(type, json);
    }

    static void sse(PrintWriter w, String event, String data) {
        w.write((event == null ? "" : "event: " + event + "\n") + "data: " + data + "\n\n");
    }

    static final String AI_CHUNK_TAIL = ",\"additional_kwargs\":{},\"response_metadata\":{},\"type\":\"AIMessageChunk\","
            + "\"name\":null,\"id\":\"run-1\",\"example\":false,\"tool_calls\":[],\"invalid_tool_calls\":[],"
            + "\"usage_metadata\":null,\"tool_call_chunks\":[]}";

    static String aiMessage(String content) {
        return "{\"content\":" + q(content) + ",\"additional_kwargs\":{},\"response_metadata\":{},\"type\":\"ai\",\"name\":null,"
                + "\"id\":\"run-1\",\"example\":false,\"tool_calls\":[],\"invalid_tool_calls\":[],\"usage_metadata\":null}";
    }

    @Override
    protected String body(String shape) {
        return switch (shape) {
            case "langserve-invoke" -> "{\"output\":" + aiMessage(TEXT) + ",\"metadata\":{\"run_id\":\"7f0c3e58-0c2a-4b8e-9a59-"
                    + "1f5d0c8e6a11\",\"feedback_tokens\":[]}}";
            case "springai-tool" -> {
                String call = "{\"id\":\"call_1\",\"type\":\"function\",\"name\":\"write_file\",\"arguments\":" + q(args()) + "}";
                String generation = "{\"output\":{\"messageType\":\"ASSISTANT\",\"metadata\":{\"messageType\":\"ASSISTANT\"},"
                        + "\"toolCalls\":[" + call + "],\"media\":[],\"text\":\"\"},\"metadata\":{\"finishReason\":\"TOOL_CALLS\","
                        + "\"contentFilters\":[],\"empty\":true}}";
                yield "{\"result\":" + generation + ",\"results\":[" + generation + "],\"metadata\":{\"id\":\"\",\"model\":\"\","
                        + "\"usage\":{\"promptTokens\":0,\"completionTokens\":0,\"totalTokens\":0},\"promptMetadata\":[],\"empty\":true}}";
            }
            case "lc4j-thinking" -> "{\"aiMessage\":{\"text\":\"The report is written.\",\"thinking\":" + q(TEXT)
                    + ",\"toolExecutionRequests\":[],\"attributes\":{},\"type\":\"AI\"},\"metadata\":{\"id\":\"x\",\"modelName\":\"local\","
                    + "\"finishReason\":\"STOP\"}}";
            case "lc4j-response" -> "{\"content\":{\"text\":" + q(TEXT) + ",\"toolExecutionRequests\":[],\"type\":\"AI\"},"
                    + "\"tokenUsage\":null,\"finishReason\":null,\"metadata\":{}}";
            case "cohere2-thinking" -> "{\"id\":\"c1\",\"finish_reason\":\"COMPLETE\",\"message\":{\"role\":\"assistant\",\"content\":"
                    + "[{\"type\":\"thinking\",\"thinking\":" + q(TEXT) + "},{\"type\":\"text\",\"text\":\"The report is right.\"}]}}";
            case "koog" -> "[{\"type\":\"ai.koog.prompt.message.Message.Assistant\",\"content\":" + q(TEXT)
                    + ",\"metaInfo\":{\"timestamp\":\"2025-06-02T10:15:30.123Z\"},\"finishReason\":\"stop\"}]";
            case "replicate" -> "{\"id\":\"rrr4z55ocneqzikepnug6xezpe\",\"model\":\"acme/report-writer\",\"version\":\"5c7d5dc6dd8b\","
                    + "\"input\":{\"prompt\":\"Write the committee's quarterly report.\"},\"logs\":\"\",\"output\":["
                    + String.join(",", words().stream().map(ShapedAnswerRound::q).toList()) + "],\"data_removed\":false,"
                    + "\"error\":null,\"status\":\"succeeded\",\"created_at\":\"2025-06-02T10:15:30.123Z\",\"metrics\":{\"predict_time\":41.2}}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (shape.startsWith("converse-binary-")) {
            converse(shape.substring("converse-binary-".length()), resp);
            return true;
        }
        if (!shape.startsWith("stream-")) {
            return false;
        }
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        switch (shape.substring(7)) {
            case "apply-patch" -> responsesItem(w, "{\"type\":\"apply_patch_call\",\"id\":\"apc_1\",\"call_id\":\"call_1\",\"status\":\"%s\","
                    + "\"operation\":{\"type\":\"create_file\",\"path\":\"reports/q3.md\",\"diff\":%s}}", "", diff(),
                    "response.apply_patch_call_operation_diff", "\"item_id\":\"apc_1\",\"output_index\":0", "diff");
            case "shell" -> responsesItem(w, "{\"type\":\"shell_call\",\"id\":\"sh_1\",\"call_id\":\"call_1\",\"status\":\"%s\","
                    + "\"action\":{\"commands\":[%s],\"timeout_ms\":60000,\"max_output_length\":4096}}", null, heredoc(),
                    "response.shell_call_command", "\"output_index\":0,\"command_index\":0", "command");
            case "function-call" -> responsesItem(w, "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"status\":\"%s\","
                    + "\"name\":\"write_file\",\"arguments\":%s}", "", args(),
                    "response.function_call_arguments", "\"item_id\":\"fc_1\",\"output_index\":0", "arguments");
            case "langserve" -> {
                sse(w, "metadata", "{\"run_id\":\"7f0c3e58-0c2a-4b8e-9a59-1f5d0c8e6a11\"}");
                for (String p : words()) {
                    sse(w, "data", "{\"content\":" + q(p) + AI_CHUNK_TAIL);
                }
                w.write("event: end\n\n");
            }
            case "langgraph-tuple" -> {
                sse(w, "metadata", "{\"run_id\":\"1ef9b7a2-7c1d-6f3e-8b4a-2d5c9e0f1a23\",\"attempt\":1}");
                for (String p : words()) {
                    sse(w, "messages", "[{\"content\":" + q(p) + AI_CHUNK_TAIL + ",{\"langgraph_node\":\"agent\",\"langgraph_step\":1,"
                            + "\"ls_provider\":\"openai\",\"ls_model_name\":\"gpt-4o\"}]");
                }
            }
            case "langgraph-partial" -> {
                sse(w, "metadata", "{\"run_id\":\"1ef9b7a2-7c1d-6f3e-8b4a-2d5c9e0f1a23\",\"attempt\":1}");
                sse(w, "messages/metadata", "{\"run-1\":{\"metadata\":{\"langgraph_node\":\"agent\",\"langgraph_step\":1}}}");
                StringBuilder sofar = new StringBuilder();
                for (String p : pieces(TEXT, 1000)) {
                    sofar.append(p);
                    sse(w, "messages/partial", "[" + aiMessage(sofar.toString()) + "]");
                }
            }
            case "dify-chat" -> {
                for (String p : words()) {
                    sse(w, null, "{\"event\":\"message\",\"task_id\":\"900bbd43-dc0b-4383-a372-aa6e6c414227\",\"id\":\"663c5084-a254-4040-"
                            + "8ad3-51f2a3c1a77c\",\"message_id\":\"663c5084-a254-4040-8ad3-51f2a3c1a77c\",\"conversation_id\":\"45701982-8118-"
                            + "4bc5-8e9b-64562b4555f2\",\"answer\":" + q(p) + ",\"created_at\":1705398420}");
                }
            }
            case "dify-workflow" -> {
                sse(w, null, "{\"event\":\"workflow_started\",\"task_id\":\"5ad4cb98-f0c7-4085-b384-88c403be6290\",\"workflow_run_id\":"
                        + "\"5ad498-f0c7-4085-b384-88cbe6290\",\"data\":{\"id\":\"5ad498-f0c7-4085-b384-88cbe6290\",\"workflow_id\":"
                        + "\"dfjasklfjdslag\",\"sequence_number\":1,\"created_at\":1679586595}}");
                for (String p : words()) {
                    sse(w, null, "{\"event\":\"text_chunk\",\"task_id\":\"5ad4cb98-f0c7-4085-b384-88c403be6290\",\"workflow_run_id\":"
                            + "\"5ad498-f0c7-4085-b384-88cbe6290\",\"data\":{\"text\":" + q(p) + ",\"from_variable_selector\":[\"llm\",\"text\"]}}");
                }
            }
            case "coze" -> {
                String ids = "\"id\":\"7382159487131697202\",\"conversation_id\":\"7381473525342978089\",\"bot_id\":\"7379462189365198898\"";
                w.write("event:conversation.chat.created\ndata:{" + ids + ",\"status\":\"created\"}\n\n");
                for (String p : words()) {
                    w.write("event:conversation.message.delta\ndata:{" + ids + ",\"role\":\"assistant\",\"type\":\"answer\",\"content\":"
                            + q(p) + ",\"content_type\":\"text\",\"chat_id\":\"7382159487131697202\"}\n\n");
                }
                // the whole message again, then (cut here) conversation.chat.completed with the usage
                w.write("event:conversation.message.completed\ndata:{" + ids + ",\"role\":\"assistant\",\"type\":\"answer\",\"content\":"
                        + q(TEXT) + ",\"content_type\":\"text\",\"chat_id\":\"7382159487131697202\"}\n\n");
            }
            case "koog" -> {
                for (String p : words()) {
                    sse(w, null, "{\"type\":\"ai.koog.prompt.streaming.StreamFrame.TextDelta\",\"text\":" + q(p) + "}");
                }
            }
            case "quarkus" -> {
                for (String p : words()) {
                    sse(w, null, "{\"eventType\":\"PartialResponse\",\"chunk\":" + q(p) + "}");
                }
            }
            case "vercel4-tool", "vercel4-text" -> {
                resp.setContentType("text/plain;charset=utf-8");
                resp.setHeader("x-vercel-ai-data-stream", "v1");
                w.write("f:{\"messageId\":\"msg-8Fl3vTGiK1kMpCY3cHFyLxyF\"}\n");
                if (shape.endsWith("tool")) {
                    w.write("9:{\"toolCallId\":\"call_1\",\"toolName\":\"writeFile\",\"args\":" + args() + "}\n");
                } else {
                    for (String p : words()) {
                        w.write("0:" + q(p) + "\n");
                    }
                }
            }
            case "gemini-snake-fc" -> sse(w, null, "{\"candidates\":[{\"content\":{\"parts\":[{\"function_call\":{\"name\":\"write_file\","
                    + "\"args\":" + args() + "}}],\"role\":\"model\"}}],\"usage_metadata\":{\"prompt_token_count\":24,"
                    + "\"total_token_count\":24},\"model_version\":\"gemini-2.5-flash\",\"response_id\":\"9mXHaOahA8rz\"}");
            case "gemini-snake-code" -> sse(w, null, "{\"candidates\":[{\"content\":{\"parts\":[{\"executable_code\":{\"language\":\"PYTHON\","
                    + "\"code\":" + q("open('reports/q3.md', 'w').write(\"\"\"" + TEXT + "\"\"\")") + "}}],\"role\":\"model\"}}],"
                    + "\"usage_metadata\":{\"prompt_token_count\":24,\"total_token_count\":24},\"model_version\":\"gemini-2.5-flash\","
                    + "\"response_id\":\"9mXHaOahA8rz\"}");
            case "gemini-fc" -> sse(w, null, "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"write_file\","
                    + "\"args\":" + args() + "}}],\"role\":\"model\"}}],\"usageMetadata\":{\"promptTokenCount\":24,"
                    + "\"totalTokenCount\":24},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"9mXHaOahA8rz\"}");
            default -> throw new IllegalArgumentException(shape);
        }
        w.flush();
        return true;
    }

    /**
     * A Responses stream of one output item whose text the model writes as deltas (named {@code prefix}.delta,
     * then {@code prefix}.done with the whole {@code doneField}), then the whole item in
     * {@code response.output_item.done}; cut there, before {@code response.completed} and its usage.
     */
    private static void responsesItem(PrintWriter w, String item, String empty, String text, String prefix, String ids,
            String doneField) {
        String created = "{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"in_progress\",\"model\":\"gpt-5.1\","
                + "\"output\":[]}";
        sse(w, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":" + created + "}");
        sse(w, "response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":" + created + "}");
        sse(w, "response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,"
                + "\"item\":" + String.format(item, "in_progress", empty == null ? "" : q(empty)) + "}");
        int n = 3;
        if (empty == null) {
            // the shell call's command starts empty, then grows
            sse(w, prefix + ".added", "{\"type\":\"" + prefix + ".added\",\"sequence_number\":" + (n++) + "," + ids + ",\"command\":\"\"}");
        }
        for (String p : pieces(text, 200)) {
            sse(w, prefix + ".delta", "{\"type\":\"" + prefix + ".delta\",\"sequence_number\":" + (n++) + "," + ids + ",\"delta\":"
                    + q(p) + "}");
        }
        sse(w, prefix + ".done", "{\"type\":\"" + prefix + ".done\",\"sequence_number\":" + (n++) + "," + ids + ",\"" + doneField
                + "\":" + q(text) + "}");
        sse(w, "response.output_item.done", "{\"type\":\"response.output_item.done\",\"sequence_number\":" + n + ",\"output_index\":0,"
                + "\"item\":" + String.format(item, "completed", q(text)) + "}");
    }

    /** Bedrock ConverseStream as AWS's binary event stream: cut before {@code metadata}, or ({@code usage}) whole. */
    private static void converse(String kind, HttpServletResponse resp) throws IOException {
        resp.setContentType("application/vnd.amazon.eventstream");
        ServletOutputStream out = resp.getOutputStream();
        out.write(awsEvent("messageStart", "{\"role\":\"assistant\",\"p\":\"" + PAD + "\"}"));
        if (kind.equals("tool")) {
            out.write(awsEvent("contentBlockStart", "{\"contentBlockIndex\":0,\"start\":{\"toolUse\":{\"toolUseId\":\"tooluse_1\","
                    + "\"name\":\"write_file\"}},\"p\":\"" + PAD + "\"}"));
        }
        for (String p : pieces(kind.equals("tool") ? args() : TEXT, 200)) {
            String delta = switch (kind) {
                case "reasoning" -> "{\"reasoningContent\":{\"text\":" + q(p) + "}}";
                case "tool" -> "{\"toolUse\":{\"input\":" + q(p) + "}}";
                default -> "{\"text\":" + q(p) + "}";
            };
            out.write(awsEvent("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":" + delta + ",\"p\":\"" + PAD + "\"}"));
        }
        if (kind.equals("usage")) {
            out.write(awsEvent("contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"" + PAD + "\"}"));
            out.write(awsEvent("messageStop", "{\"stopReason\":\"end_turn\",\"p\":\"" + PAD + "\"}"));
            out.write(awsEvent("metadata", "{\"usage\":{\"inputTokens\":" + PROMPT + ",\"outputTokens\":" + COMPLETION
                    + ",\"totalTokens\":" + (PROMPT + COMPLETION) + "},\"metrics\":{\"latencyMs\":8123},\"p\":\"" + PAD + "\"}"));
        }
        out.flush();
    }

    static final long PROMPT = 20;
    static final long COMPLETION = 4_400;

    static final String ASK = "{\"messages\":[{\"role\":\"user\",\"content\":\"Write the committee's quarterly report to reports/q3.md.\"}]}";

    private long call(String shape, String s) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /** Charged its 4,400 tokens of text, once: at least 4,000, at most 5,500. */
    private void chargedItsTextOnce(String shape) {
        String s = subject();
        long used = call(shape, s);
        assertTrue(used >= 4_000 && used <= 5_500, shape + ": an answer of about 4,400 tokens without usage charged " + used
                + " (the hold is 1,016): " + ledger(s));
    }

    /**
     * The attack on Bedrock: ConverseStream relayed as its binary event stream, cut before its
     * {@code metadata} event; the text, the reasoning or the tool call's input carried 4,400 tokens.
     */
    @ParameterizedTest
    @ValueSource(strings = {"text", "reasoning", "tool"})
    void aBinaryConverseStreamCutBeforeItsMetadataIsChargedItsText(String kind) {
        chargedItsTextOnce("converse-binary-" + kind);
    }

    /** Control: the same binary stream with its {@code metadata} is charged exactly that usage. */
    @Test
    void theBinaryConverseStreamWithItsMetadataIsChargedItsUsage() {
        String s = subject();
        assertEquals(PROMPT + COMPLETION, call("converse-binary-usage", s), ledger(s));
    }

    /**
     * The attack on frameworks' streams: each cut before (or never sending) the event that carries the
     * usage. LangGraph's {@code messages/partial} and Coze's {@code conversation.message.completed} repeat
     * the text: counted once.
     */
    @ParameterizedTest
    @ValueSource(strings = {"langserve", "langgraph-tuple", "langgraph-partial", "dify-chat", "dify-workflow", "coze", "koog",
            "quarkus", "vercel4-tool", "gemini-snake-fc", "gemini-snake-code"})
    void aFrameworkStreamWithoutItsUsageIsChargedItsText(String shape) {
        chargedItsTextOnce("stream-" + shape);
    }

    /** Controls: a Vercel data stream's text parts and Gemini's camelCase function call, cut the same way. */
    @ParameterizedTest
    @ValueSource(strings = {"vercel4-text", "gemini-fc"})
    void theSameStreamsInShapesTheFilterReadsAreChargedTheirText(String shape) {
        chargedItsTextOnce("stream-" + shape);
    }

    /** The attack on whole answers: each without usage (or Spring AI's zeros), to a request naming no budget. */
    @ParameterizedTest
    @ValueSource(strings = {"langserve-invoke", "springai-tool", "lc4j-thinking", "lc4j-response",
            "cohere2-thinking", "koog", "replicate"})
    void aWholeAnswerWithoutUsageIsChargedItsText(String shape) {
        chargedItsTextOnce(shape);
    }

    /**
     * Counted twice: a Responses stream whose {@code apply_patch_call} diff or {@code shell_call} command came
     * as deltas, then whole in {@code response.output_item.done}, cut before {@code response.completed}.
     */
    @ParameterizedTest
    @ValueSource(strings = {"apply-patch", "shell"})
    void aResponsesStreamOfAFileWritingCallIsChargedItsTextOnce(String shape) {
        chargedItsTextOnce("stream-" + shape);
    }

    /** Control: the same stream of a {@code function_call} (arguments as deltas, then the item) is counted once. */
    @Test
    void aResponsesStreamOfAFunctionCallIsChargedItsArgumentsOnce() {
        chargedItsTextOnce("stream-function-call");
    }
}
