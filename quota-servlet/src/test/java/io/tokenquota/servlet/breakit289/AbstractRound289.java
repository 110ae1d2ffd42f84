package io.tokenquota.servlet.breakit289;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 289 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the counting
 * and release rules of rounds 274-288 tried with the shapes next to the ones those rounds taught the filter.
 *
 * <p>Shapes, from the providers' own clients and docs:
 * <ul>
 *   <li><b>Mistral's Conversations stream with a reasoning model</b> (round 288 counts a cut stream's
 *       {@code message.output.delta} {@code content} when it is a string). mistralai client-python 2.5.1,
 *       {@code src/mistralai/client/models/messageoutputevent.py}: {@code content: Union[str, OutputContentChunks]};
 *       {@code outputcontentchunks.py}: {@code TextChunk, ImageURLChunk, DocumentURLChunk, ThinkChunk, ToolFileChunk,
 *       ToolReferenceChunk}; {@code thinkchunk.py}: {@code {"type": "thinking", "thinking": [TextChunk…]}}. The SDK's own
 *       {@code examples/mistral/chat/reasoning_with_streaming.py} says of the chat stream "While the model is thinking,
 *       delta.content is a list containing a ThinkChunk"; in a Conversations event the chunk is the {@code content}
 *       itself. The reasoning is billed output, and a reasoning model writes most of its tokens there.</li>
 *   <li><b>Mistral's Conversations stream with the built-in code interpreter</b>
 *       ({@code "tools": [{"type": "code_interpreter"}]}): mistralai {@code conversationevents.py} lists
 *       {@code tool.execution.started} and {@code tool.execution.delta}
 *       ({@code toolexecutiondeltaevent.py}: {@code id}, {@code name} (a {@code BuiltInConnectors} such as
 *       {@code code_interpreter}), {@code arguments: str}, {@code output_index}): the code the model writes for the
 *       connector to run streams as those {@code arguments}. Round 288 counts only {@code function.call.delta}'s.</li>
 *   <li><b>Cohere v1's chat stream with tools</b> (round 274 counts its {@code text-generation} {@code text}): the
 *       {@code tool-calls-chunk} events, {@code {"event_type": "tool-calls-chunk", "text"?: string,
 *       "tool_call_delta"?: {"index", "name"?, "parameters"?: string}}}, then {@code tool-calls-generation} and
 *       {@code stream-end} with the usage (the Vercel AI SDK's {@code @ai-sdk/cohere} 0.x,
 *       {@code cohereChatChunkSchema}, which emits each {@code tool_call_delta.parameters} as the tool call's
 *       {@code argsTextDelta}; cohere-python's {@code StreamedChatResponse_ToolCallsChunk}).</li>
 *   <li><b>Ollama's unload</b> ({@code POST /api/generate} with {@code {"model": …, "keep_alive": 0}}; Ollama's
 *       {@code docs/api.md}, "Unload a model", answered {@code {"model": "llama3.2", "created_at": …, "response": "",
 *       "done": true, "done_reason": "unload"}}): what {@code ollama stop} and the Python and JavaScript clients'
 *       {@code generate(model=…, keep_alive=0)} send to free the GPU. No token is read or written. Round 282 releases
 *       Ollama's own business (pull, push, create, copy, delete); this is the same server's.</li>
 * </ul>
 * A relay of each stream whose upstream broke before the event with the usage ends its own stream there (as rounds
 * 274 and 288 did). The text is {@link #TEXT}, about 4,400 tokens by the filter's own estimator; the request names
 * no output budget, so the hold is about 1,000.
 */
abstract class AbstractRound289 extends ShapedAnswerRound {
    static String subject() {
        return "u289-" + java.util.UUID.randomUUID().toString().substring(0, 12);
    }

    /** {@code text} in pieces of {@code size} characters, as a stream's per-token events carry it. */
    static List<String> pieces(String text, int size) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < text.length(); i += size) {
            out.add(text.substring(i, Math.min(text.length(), i + size)));
        }
        return out;
    }

    static void event(PrintWriter w, String name, String data) {
        w.write("event: " + name + "\ndata: " + data + "\n\n");
    }

    /** The code the model writes for Mistral's code interpreter: a script that writes the report, {@link #TEXT}. */
    static String script() {
        return "report = " + q(TEXT) + "\nwith open('q3.md', 'w') as f:\n    f.write(report)\n";
    }

    /** The arguments Cohere's model writes for the client's {@code write_file} tool: the report, {@link #TEXT}. */
    static String fileArguments() {
        return "{\"path\": \"reports/q3.md\", \"content\": " + q(TEXT) + "}";
    }

    @Override
    protected String body(String shape) {
        return switch (shape) {
            case "ollama/api/generate" -> "{\"model\":\"llama3.2\",\"created_at\":\"2024-09-12T03:54:03.516566Z\","
                    + "\"response\":\"\",\"done\":true,\"done_reason\":\"unload\"}";
            case "mistral/v1/conversations" -> "{\"object\":\"conversation.response\",\"conversation_id\":\"" + conversation
                    + "\",\"outputs\":[{\"object\":\"entry\",\"type\":\"message.output\",\"created_at\":"
                    + "\"2026-12-01T10:00:01Z\",\"completed_at\":\"2026-12-01T10:00:02Z\",\"id\":\"msg_0289a\","
                    + "\"agent_id\":null,\"model\":\"mistral-medium-2508\",\"role\":\"assistant\",\"content\":"
                    + "\"Noted: the committee's figures for Q3.\"}],\"usage\":{\"prompt_tokens\":8000,"
                    + "\"completion_tokens\":40,\"total_tokens\":8040,\"connector_tokens\":null,\"connectors\":null}}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (shape.startsWith("mistral/v1/conversations/")) {
            // the append's stream, its upstream cut after the first words
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            event(w, "conversation.response.started", "{\"type\":\"conversation.response.started\","
                    + "\"created_at\":\"2026-12-01T10:01:00Z\",\"conversation_id\":\"" + conversation + "\"}");
            event(w, "message.output.delta", "{\"type\":\"message.output.delta\"," + MISTRAL_HEAD
                    + "\"id\":\"msg_0289b\",\"content_index\":0,\"model\":\"mistral-medium-2508\",\"agent_id\":null,"
                    + "\"role\":\"assistant\",\"content\":\"Q4 opens with\"}");
            w.flush();
            return true;
        }
        switch (shape) {
            case "mistral/thinking", "mistral/text", "mistral/code" -> {
                mistral(shape.substring("mistral/".length()), resp);
                return true;
            }
            case "cohere1/tool", "cohere1/text" -> {
                cohere(shape.endsWith("tool"), resp);
                return true;
            }
            default -> {
                return false;
            }
        }
    }

    private static final String MISTRAL_HEAD = "\"created_at\":\"2026-12-01T10:00:01Z\",\"output_index\":0,";

    /** Mistral's Conversations stream, cut before {@code conversation.response.done}. */
    private static void mistral(String kind, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "conversation.response.started", "{\"type\":\"conversation.response.started\","
                + "\"created_at\":\"2026-12-01T10:00:00Z\",\"conversation_id\":\"conv_0289\"}");
        switch (kind) {
            case "thinking" -> {
                // the reasoning, as ThinkChunks, then the start of the visible answer
                for (String p : pieces(TEXT, 24)) {
                    event(w, "message.output.delta", "{\"type\":\"message.output.delta\"," + MISTRAL_HEAD
                            + "\"id\":\"msg_0289\",\"content_index\":0,\"model\":\"magistral-medium-2509\",\"agent_id\":null,"
                            + "\"role\":\"assistant\",\"content\":{\"type\":\"thinking\",\"thinking\":[{\"type\":\"text\",\"text\":"
                            + q(p) + "}]}}");
                }
                event(w, "message.output.delta", "{\"type\":\"message.output.delta\"," + MISTRAL_HEAD
                        + "\"id\":\"msg_0289\",\"content_index\":1,\"model\":\"magistral-medium-2509\",\"agent_id\":null,"
                        + "\"role\":\"assistant\",\"content\":\"The trains meet\"}");
            }
            case "code" -> {
                event(w, "tool.execution.started", "{\"type\":\"tool.execution.started\"," + MISTRAL_HEAD
                        + "\"id\":\"tool_exec_0289\",\"name\":\"code_interpreter\",\"arguments\":\"\","
                        + "\"model\":\"mistral-medium-2508\",\"agent_id\":null}");
                for (String p : pieces("{\"code\": " + q(script()) + "}", 24)) {
                    event(w, "tool.execution.delta", "{\"type\":\"tool.execution.delta\"," + MISTRAL_HEAD
                            + "\"id\":\"tool_exec_0289\",\"name\":\"code_interpreter\",\"arguments\":" + q(p) + "}");
                }
            }
            default -> {
                // control (round 288): the answer's text as strings
                for (String p : pieces(TEXT, 24)) {
                    event(w, "message.output.delta", "{\"type\":\"message.output.delta\"," + MISTRAL_HEAD
                            + "\"id\":\"msg_0289\",\"content_index\":0,\"model\":\"mistral-medium-2508\",\"agent_id\":null,"
                            + "\"role\":\"assistant\",\"content\":" + q(p) + "}");
                }
            }
        }
        w.flush();
    }

    /** Cohere v1's chat stream (JSON lines), cut before {@code tool-calls-generation} and {@code stream-end}. */
    private static void cohere(boolean tool, HttpServletResponse resp) throws IOException {
        resp.setContentType("application/stream+json");
        PrintWriter w = resp.getWriter();
        w.write("{\"is_finished\":false,\"event_type\":\"stream-start\",\"generation_id\":\"g-289\"}\n");
        if (tool) {
            for (String p : pieces("I will write the committee's quarterly report to reports/q3.md.", 12)) {
                w.write("{\"is_finished\":false,\"event_type\":\"tool-calls-chunk\",\"text\":" + q(p) + "}\n");
            }
            w.write("{\"is_finished\":false,\"event_type\":\"tool-calls-chunk\",\"tool_call_delta\":{\"index\":0,"
                    + "\"name\":\"write_file\"}}\n");
            for (String p : pieces(fileArguments(), 24)) {
                w.write("{\"is_finished\":false,\"event_type\":\"tool-calls-chunk\",\"tool_call_delta\":{\"index\":0,"
                        + "\"parameters\":" + q(p) + "}}\n");
            }
        } else {
            // control (round 274): the answer's text as text-generation events
            for (String p : pieces(TEXT, 24)) {
                w.write("{\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":" + q(p) + "}\n");
            }
        }
        w.flush();
    }

    static final String MISTRAL_ASK = "{\"model\":\"magistral-medium-latest\",\"inputs\":\"Write the committee's quarterly"
            + " report.\",\"tools\":[{\"type\":\"code_interpreter\"}],\"stream\":true,\"store\":true}";
    static final String COHERE_ASK = "{\"model\":\"command-r-plus\",\"message\":\"Write the committee's quarterly report to"
            + " reports/q3.md.\",\"stream\":true,\"tools\":[{\"name\":\"write_file\",\"description\":\"Write a file.\","
            + "\"parameter_definitions\":{\"path\":{\"type\":\"str\",\"required\":true},\"content\":{\"type\":\"str\","
            + "\"required\":true}}}]}";

    private void chargedItsText(String shape, String ask, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s, ask);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 4_000, kind() + ": " + what + " (about 4,400 tokens the model wrote), cut before its usage,"
                + " charged " + used + ": " + ledger(s));
    }

    /**
     * Finding: a reasoning model's Conversations stream (Magistral) cut before {@code conversation.response.done}
     * after about 4,400 tokens of reasoning, sent as {@code ThinkChunk} contents of {@code message.output.delta}
     * events: round 288 counts the event's {@code content} only as a string.
     */
    @Test
    void aMistralConversationStreamCutAfterItsReasoningIsChargedIt() {
        chargedItsText("mistral/thinking", MISTRAL_ASK, "a Mistral Conversations stream of ThinkChunk deltas");
    }

    /**
     * Finding: a Conversations stream whose model wrote a 4,400-token script for the built-in code interpreter
     * ({@code tool.execution.delta} {@code arguments}), cut before its usage: round 288 counts only a
     * {@code function.call.delta}'s arguments.
     */
    @Test
    void aMistralConversationStreamCutAfterItsCodeInterpreterCallIsChargedIt() {
        chargedItsText("mistral/code", MISTRAL_ASK, "a Mistral Conversations stream of tool.execution.delta arguments");
    }

    /**
     * Finding: Cohere v1's stream of a tool call (its plan as {@code tool-calls-chunk} {@code text}, then the
     * arguments as {@code tool_call_delta.parameters}) writing the 4,400-token report, cut before
     * {@code tool-calls-generation} and {@code stream-end}: round 274 counts only {@code text-generation}'s text.
     */
    @Test
    void aCohereV1ToolCallStreamCutBeforeItsStreamEndIsChargedItsArguments() {
        chargedItsText("cohere1/tool", COHERE_ASK, "a Cohere v1 stream of tool-calls-chunk parameters");
    }

    /** Controls (rounds 274, 288): the same streams carrying the text as their counted deltas. */
    @ParameterizedTest
    @ValueSource(strings = {"mistral/text", "cohere1/text"})
    void controlTheSameStreamsOfTextAreChargedIt(String shape) {
        chargedItsText(shape, shape.startsWith("mistral") ? MISTRAL_ASK : COHERE_ASK, shape + " cut");
    }

    /** The conversation the Mistral start of {@link #aMistralAppendCutBeforeItsUsageIsHeldAtTheConversationItReads} made. */
    private volatile String conversation = "conv_0289";

    /**
     * Mistral's Conversations API keeps the conversation: a start ({@code POST /v1/conversations}) names it only in
     * its answer ({@code conversation_id}), an append ({@code POST /v1/conversations/{conversation_id}},
     * mistralai {@code beta.conversations.append_stream}) only in its path, and the model reads the whole
     * conversation again. The start read 8,000 tokens; the append's stream, cut before its usage, must be charged at
     * least that (it was held at its own input and output budget, about 1,000).
     */
    @Test
    void aMistralAppendCutBeforeItsUsageIsHeldAtTheConversationItReads() {
        String s = subject();
        conversation = "conv_" + s;
        HttpResponse<String> start = TestHttp.postJson(container.uri("/ai/mistral/v1/conversations"), s,
                "{\"model\":\"mistral-medium-latest\",\"inputs\":\"Here are the committee's Q3 figures: ...\"}");
        assertEquals(200, start.statusCode(), start.body());
        assertEquals(8_040, settled(s).used(), kind() + ": the start's usage: " + ledger(s));
        HttpResponse<String> append = TestHttp.postJson(container.uri("/ai/mistral/v1/conversations/" + conversation), s,
                "{\"inputs\":\"And what opens Q4?\",\"stream\":true}");
        assertEquals(200, append.statusCode(), append.body());
        assertEquals(2, calls.of(s));
        long appended = settled(s).used() - 8_040;
        assertTrue(appended >= 8_040, kind() + ": an append reading the 8,040-token conversation, cut before its usage,"
                + " charged " + appended + ": " + ledger(s));
    }

    /**
     * Finding: Ollama's unload ({@code ollama stop}; {@code ollama.generate(model, keep_alive=0)}) reads and writes
     * no token: it must be released, as round 282 releases Ollama's pull, push, create, copy and delete.
     */
    @Test
    void anOllamaUnloadIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/ollama/api/generate"), s,
                "{\"model\":\"llama3.2\",\"keep_alive\":0}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), kind() + ": an Ollama unload (done_reason \"unload\") charged: " + ledger(s));
    }
}
