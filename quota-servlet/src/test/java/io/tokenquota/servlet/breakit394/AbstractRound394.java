package io.tokenquota.servlet.breakit394;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 394 of issue 11: usage provenance in the readers of rounds 387 and 388 (Pydantic AI's {@code ModelResponse}
 * named by its {@code provider_response_id}; Mastra's {@code {type, runId, from, payload}} chunks).
 *
 * <ul>
 *   <li><b>Pydantic AI, a history the client sent back.</b> Pydantic AI's documented way to continue a conversation
 *       is {@code agent.run(prompt, message_history=previous)} (ai.pydantic.dev "Messages and chat history": "Using
 *       Messages as Input for Further Agent Runs", and "Storing and loading messages (to JSON)" with
 *       {@code ModelMessagesTypeAdapter}); a stateless FastAPI route takes that history from the client
 *       ({@code ModelMessagesTypeAdapter.validate_python(body.history)}) and answers
 *       {@code Response(result.all_messages_json(), media_type="application/json")}, which holds the history it was
 *       given, earlier {@code ModelResponse}s included, before this run's messages (pydantic_ai
 *       {@code agent/__init__.py}: {@code all_messages()} "Return the history of messages", {@code new_messages()}
 *       only this run's). The earlier calls were charged by the request that made them; the filter reads the
 *       echoed {@code ModelResponse}s as this run's calls (each under its own {@code provider_response_id}, round
 *       387) and charges them again. LangGraph's echoed thread is not charged (docs/decisions.md: "an AI message
 *       whose id the request body carries ... is that history and does not count"); Pydantic AI's is.</li>
 *   <li><b>Mastra, an agent streamed inside a tool.</b> Mastra's tool streaming (mastra.ai/docs/streaming/tool-streaming,
 *       "Agent using tool"): a tool's {@code execute} calls another agent and pipes its {@code fullStream} into its
 *       {@code writer} ({@code await stream.fullStream.pipeTo(writer)}). The tool's {@code ToolStream}
 *       (mastra-ai/mastra {@code packages/core/src/tools/stream.ts}, {@code _write}) writes each chunk into the
 *       outer agent's stream as {@code {type: "tool-output", runId, from: "USER", payload: {output: <chunk>,
 *       toolCallId, toolName}}}: the inner agent's own {@code step-finish} and {@code finish} chunks, each with its
 *       {@code payload.output.usage}, arrive whole under {@code payload.output}. The outer {@code finish} totals the
 *       outer agent's steps only. The inner agent's model call reached the model and reported its usage in the
 *       answer; it is not charged.</li>
 * </ul>
 * Rules: README settlement "usage seen → charge it"; the issue: "the ledger charged exactly the usage of the calls
 * that reached the model", "nothing that never reached a model is charged".
 */
abstract class AbstractRound394 extends ModelCallRound {
    static final String WORDS = "Clause fourteen lets the supplier terminate on thirty days notice for any unpaid invoice. ";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter)
                .servlet("pydantic", new PydanticChat(), "/ai/pydantic/*")
                .servlet("mastra", new MastraRelay(), "/ai/mastra/*");
    }

    // =============================================================================== Pydantic AI, history sent back

    static final long T1_IN = 2_100;
    static final long T1_OUT = 600;
    static final long T2_IN = 3_400;
    static final long T2_OUT = 900;

    /**
     * Pydantic AI's {@code ModelRequest} with a {@code user-prompt} part, as {@code ModelMessagesTypeAdapter} writes it
     * (pydantic_ai_slim/pydantic_ai/messages.py: {@code parts}, {@code instructions}, {@code kind: "request"};
     * {@code UserPromptPart}: {@code content}, {@code timestamp}, {@code part_kind}).
     */
    static String modelRequest(String prompt, String at) {
        return "{\"parts\":[{\"content\":\"" + prompt + "\",\"timestamp\":\"" + at + "\",\"part_kind\":\"user-prompt\"}],"
                + "\"instructions\":\"You are a contracts analyst.\",\"kind\":\"request\"}";
    }

    /**
     * Pydantic AI's {@code ModelResponse} with a {@code text} part as {@code ModelMessagesTypeAdapter} writes it (the
     * same fields as round 387's: {@code parts}, {@code usage} (RequestUsage), {@code model_name}, {@code timestamp},
     * {@code kind: "response"}, {@code provider_name}, {@code provider_details}, {@code provider_response_id},
     * {@code finish_reason}); {@code provider_response_id} is the OpenAI chat completion's {@code id}.
     */
    static String modelResponse(String text, long in, long out, String responseId, String at) {
        return "{\"parts\":[{\"content\":\"" + text + "\",\"id\":null,\"provider_details\":null,\"part_kind\":\"text\"}],"
                + "\"usage\":{\"input_tokens\":" + in + ",\"cache_write_tokens\":0,\"cache_read_tokens\":0,\"output_tokens\":"
                + out + ",\"input_audio_tokens\":0,\"cache_audio_read_tokens\":0,\"output_audio_tokens\":0,\"details\":"
                + "{\"accepted_prediction_tokens\":0,\"audio_tokens\":0,\"reasoning_tokens\":0,\"rejected_prediction_tokens\":0}},"
                + "\"model_name\":\"gpt-4.1-2025-04-14\",\"timestamp\":\"" + at + "\",\"kind\":\"response\","
                + "\"provider_name\":\"openai\",\"provider_details\":{\"finish_reason\":\"stop\"},"
                + "\"provider_response_id\":\"" + responseId + "\",\"finish_reason\":\"stop\"}";
    }

    static final String Q1 = "Summarise the termination clauses of our supplier contract.";
    static final String Q2 = "Which of them lets us leave without a penalty?";
    static final String TURN1_REQUEST = modelRequest(Q1, "2025-10-06T09:12:43Z");
    static final String TURN1_RESPONSE = modelResponse(WORDS.repeat(20).trim(), T1_IN, T1_OUT, "chatcmpl-CNa7Rk1xq0",
            "2025-10-06T09:12:44Z");
    static final String TURN2_REQUEST = modelRequest(Q2, "2025-10-06T09:14:02Z");
    static final String TURN2_RESPONSE = modelResponse(WORDS.repeat(30).trim(), T2_IN, T2_OUT, "chatcmpl-CNa9Qw4tz2",
            "2025-10-06T09:14:04Z");
    /** Turn 1's {@code all_messages_json()}: what the client keeps and sends back as its history. */
    static final String TURN1_MESSAGES = "[" + TURN1_REQUEST + "," + TURN1_RESPONSE + "]";

    /**
     * The FastAPI chat route: the body's {@code history} is the client's earlier {@code all_messages_json()}; it runs
     * the agent once (one model call) and answers {@code all_messages_json()} ({@code /all}) or
     * {@code new_messages_json()} ({@code /new}).
     */
    class PydanticChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            calls.count(req.getHeader("x-user-id"));
            boolean continued = body.contains("\"history\":[{");
            boolean all = "/all".equals(req.getPathInfo());
            String answer = !continued ? TURN1_MESSAGES
                    : all ? "[" + TURN1_REQUEST + "," + TURN1_RESPONSE + "," + TURN2_REQUEST + "," + TURN2_RESPONSE + "]"
                    : "[" + TURN2_REQUEST + "," + TURN2_RESPONSE + "]";
            resp.setContentType("application/json");
            EventStreams.write(resp.getOutputStream(), answer);
        }
    }

    void twoTurns(String path, String what) {
        String s = subject();
        HttpResponse<String> r1 = TestHttp.postJson(container.uri(path), s,
                "{\"prompt\":\"" + Q1 + "\",\"history\":[]}");
        assertCharged(s, r1, 200, 1, T1_IN + T1_OUT, "turn 1, one call of 2,700");
        // the client sends back what turn 1 answered, as Pydantic AI's message_history
        HttpResponse<String> r2 = TestHttp.postJson(container.uri(path), s,
                "{\"prompt\":\"" + Q2 + "\",\"history\":" + r1.body() + "}");
        assertCharged(s, r2, 200, 2, T1_IN + T1_OUT + T2_IN + T2_OUT, what);
    }

    /**
     * Attack (an honest client): turn 2 sends turn 1's messages back as its history, and the route answers
     * {@code all_messages_json()}, which repeats turn 1's {@code ModelResponse} (2,700, already charged by turn 1).
     * Turn 2 made one model call of 4,300. Right: 2,700 + 4,300 = 7,000 after both turns.
     */
    @Test
    void aPydanticAiHistoryTheClientSentBackIsNotChargedAgain() {
        twoTurns("/ai/pydantic/all", "turn 2 made one call of 4,300; its answer repeats the history the client sent"
                + " (turn 1's ModelResponse, chatcmpl-CNa7Rk1xq0, 2,700, charged by turn 1)");
    }

    /** Control: the route answers {@code new_messages_json()} (turn 2's messages only): 7,000 after both turns. */
    @Test
    void controlPydanticAiNewMessagesOnly() {
        twoTurns("/ai/pydantic/new", "turn 2's new messages only");
    }

    /**
     * Control (found and fixed: a ModelResponse sent back is history only as the client holds it): a client sends,
     * besides turn 1's messages, a {@code ModelResponse} under the id turn 2's call will get (an id some backends
     * let one guess, Ollama's {@code chatcmpl-<n>}) with other counts. Turn 2's call is still charged its 4,300: 7,000
     * after both turns.
     */
    @Test
    void controlAFakeHistoryUnderTheNewCallsIdDoesNotFreeIt() {
        String s = subject();
        HttpResponse<String> r1 = TestHttp.postJson(container.uri("/ai/pydantic/all"), s,
                "{\"prompt\":\"" + Q1 + "\",\"history\":[]}");
        assertCharged(s, r1, 200, 1, T1_IN + T1_OUT, "turn 1, one call of 2,700");
        String fake = modelResponse("Nothing.", 1, 1, "chatcmpl-CNa9Qw4tz2", "2025-10-06T09:13:00Z");
        HttpResponse<String> r2 = TestHttp.postJson(container.uri("/ai/pydantic/all"), s,
                "{\"prompt\":\"" + Q2 + "\",\"history\":[" + TURN1_REQUEST + "," + TURN1_RESPONSE + "," + fake + "]}");
        assertCharged(s, r2, 200, 2, T1_IN + T1_OUT + T2_IN + T2_OUT, "turn 2's call of 4,300 under the id the client"
                + " sent with counts of 2");
    }

    // =============================================================================== Mastra, an agent inside a tool

    static final long OUTER1_IN = 1_200;
    static final long OUTER1_OUT = 80;
    static final long INNER_IN = 6_000;
    static final long INNER_OUT = 1_500;
    static final long OUTER2_IN = 3_000;
    static final long OUTER2_OUT = 400;
    static final long OUTER = OUTER1_IN + OUTER1_OUT + OUTER2_IN + OUTER2_OUT;
    static final long INNER = INNER_IN + INNER_OUT;

    static String usage(long in, long out) {
        return "{\"inputTokens\":" + in + ",\"outputTokens\":" + out + ",\"totalTokens\":" + (in + out) + "}";
    }

    /**
     * An agent's run of one model call (the inner "contractReader" agent), its fullStream chunks as round 388 wrote
     * Mastra's (packages/core/src/stream/types.ts: {@code StepFinishPayload}, {@code FinishPayload},
     * {@code TextDeltaPayload}; loop/workflows/stream.ts).
     */
    static List<String> innerRun() {
        String base = "\"runId\":\"run_inner_394\",\"from\":\"AGENT\"";
        List<String> c = new ArrayList<>();
        c.add("{\"type\":\"start\"," + base + ",\"payload\":{\"id\":\"contractReader\",\"messageId\":\"msg_inner\"}}");
        c.add("{\"type\":\"step-start\"," + base + ",\"payload\":{\"messageId\":\"msg_inner\",\"request\":{},\"warnings\":[]}}");
        c.add("{\"type\":\"text-start\"," + base + ",\"payload\":{\"id\":\"txt_in\"}}");
        for (int i = 0; i < 40; i++) {
            c.add("{\"type\":\"text-delta\"," + base + ",\"payload\":{\"id\":\"txt_in\",\"text\":\"" + WORDS + "\"}}");
        }
        c.add("{\"type\":\"text-end\"," + base + ",\"payload\":{\"id\":\"txt_in\"}}");
        c.add("{\"type\":\"step-finish\"," + base + ",\"payload\":{\"messageId\":\"msg_inner\",\"stepResult\":{\"reason\":\"stop\","
                + "\"warnings\":[],\"isContinued\":false},\"output\":{\"usage\":" + usage(INNER_IN, INNER_OUT) + "},"
                + "\"metadata\":{\"modelId\":\"gpt-4o\"}}}");
        c.add("{\"type\":\"finish\"," + base + ",\"payload\":{\"stepResult\":{\"reason\":\"stop\",\"warnings\":[],\"isContinued\":false},"
                + "\"output\":{\"usage\":" + usage(INNER_IN, INNER_OUT) + "},\"metadata\":{\"modelId\":\"gpt-4o\"},"
                + "\"messages\":{\"all\":[],\"user\":[],\"nonUser\":[]}}}");
        return c;
    }

    /**
     * The outer agent's run: a tool call to {@code readContract}, whose {@code execute} pipes the inner agent's
     * fullStream into its writer (each inner chunk wrapped by {@code ToolStream._write} as a {@code tool-output}
     * chunk: {@code {type: "tool-output", runId, from: "USER", payload: {output: chunk, toolCallId, toolName}}}),
     * then the tool's result and the outer agent's report. {@code piped}: whether the tool streamed the inner agent.
     */
    static List<String> outerRun(boolean piped) {
        String base = "\"runId\":\"run_outer_394\",\"from\":\"AGENT\"";
        List<String> c = new ArrayList<>();
        c.add("{\"type\":\"start\"," + base + ",\"payload\":{\"id\":\"contractsAgent\",\"messageId\":\"msg_outer\"}}");
        c.add("{\"type\":\"step-start\"," + base + ",\"payload\":{\"messageId\":\"msg_outer\",\"request\":{},\"warnings\":[]}}");
        c.add("{\"type\":\"tool-call\"," + base + ",\"payload\":{\"toolCallId\":\"call_7\",\"toolName\":\"readContract\","
                + "\"args\":{\"contractId\":\"C-42\"}}}");
        if (piped) {
            for (String inner : innerRun()) {
                c.add("{\"type\":\"tool-output\",\"runId\":\"run_outer_394\",\"from\":\"USER\",\"payload\":{\"output\":" + inner
                        + ",\"toolCallId\":\"call_7\",\"toolName\":\"readContract\"}}");
            }
        }
        c.add("{\"type\":\"tool-result\"," + base + ",\"payload\":{\"toolCallId\":\"call_7\",\"toolName\":\"readContract\","
                + "\"result\":{\"value\":\"" + WORDS.repeat(40).trim() + "\"},\"args\":{\"contractId\":\"C-42\"}}}");
        c.add("{\"type\":\"step-finish\"," + base + ",\"payload\":{\"messageId\":\"msg_outer\",\"stepResult\":{\"reason\":\"tool-calls\","
                + "\"warnings\":[],\"isContinued\":true},\"output\":{\"usage\":" + usage(OUTER1_IN, OUTER1_OUT) + "},"
                + "\"metadata\":{\"modelId\":\"gpt-4o\"}}}");
        c.add("{\"type\":\"step-start\"," + base + ",\"payload\":{\"messageId\":\"msg_outer\",\"request\":{},\"warnings\":[]}}");
        c.add("{\"type\":\"text-start\"," + base + ",\"payload\":{\"id\":\"txt_out\"}}");
        for (int i = 0; i < 10; i++) {
            c.add("{\"type\":\"text-delta\"," + base + ",\"payload\":{\"id\":\"txt_out\",\"text\":\"" + WORDS + "\"}}");
        }
        c.add("{\"type\":\"text-end\"," + base + ",\"payload\":{\"id\":\"txt_out\"}}");
        c.add("{\"type\":\"step-finish\"," + base + ",\"payload\":{\"messageId\":\"msg_outer\",\"stepResult\":{\"reason\":\"stop\","
                + "\"warnings\":[],\"isContinued\":false},\"output\":{\"usage\":" + usage(OUTER2_IN, OUTER2_OUT) + "},"
                + "\"metadata\":{\"modelId\":\"gpt-4o\"}}}");
        c.add("{\"type\":\"finish\"," + base + ",\"payload\":{\"stepResult\":{\"reason\":\"stop\",\"warnings\":[],\"isContinued\":false},"
                + "\"output\":{\"usage\":" + usage(OUTER1_IN + OUTER2_IN, OUTER1_OUT + OUTER2_OUT) + "},"
                + "\"metadata\":{\"modelId\":\"gpt-4o\"},\"messages\":{\"all\":[],\"user\":[],\"nonUser\":[]}}}");
        return c;
    }

    /** Mastra's server, {@code POST /api/agents/:agentId/stream}: {@code data: <chunk>} events, relayed. */
    class MastraRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String shape = req.getPathInfo();
            List<String> chunks = "/piped".equals(shape) ? outerRun(true)
                    : "/inner".equals(shape) ? innerRun() : outerRun(false);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (String chunk : chunks) {
                EventStreams.write(out, "data: " + chunk + "\n\n");
            }
            EventStreams.write(out, ChatCompletions.DONE);
        }
    }

    static final String MASTRA_REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":\"Report on contract C-42's termination clauses.\"}]}";

    /**
     * Attack: the outer agent's tool pipes another agent's stream into its writer (Mastra's documented tool streaming).
     * Three model calls reached the model: the outer agent's two (1,280 and 3,400) and the inner agent's one (7,500,
     * reported in its own {@code step-finish} and {@code finish}, relayed whole under {@code payload.output}).
     * Right: 12,180.
     */
    @Test
    void aMastraAgentPipedThroughAToolIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/mastra/piped"), s, MASTRA_REQUEST);
        assertCharged(s, r, 200, 1, OUTER + INNER, "the outer run (4,680) and the inner agent's call (7,500) streamed"
                + " through its tool's writer as tool-output chunks");
    }

    /** Control: the outer run alone (its tool not streaming): 4,680. */
    @Test
    void controlTheOuterRunAlone() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/mastra/outer"), s, MASTRA_REQUEST);
        assertCharged(s, r, 200, 1, OUTER, "the outer run alone");
    }

    /** Control: the inner agent's run relayed on its own: 7,500. */
    @Test
    void controlTheInnerRunAlone() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/mastra/inner"), s, MASTRA_REQUEST);
        assertCharged(s, r, 200, 1, INNER, "the inner agent's run alone");
    }
}
