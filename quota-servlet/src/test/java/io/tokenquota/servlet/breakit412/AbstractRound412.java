package io.tokenquota.servlet.breakit412;

import io.tokenquota.servlet.QuotaFilter;
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
import org.junit.jupiter.api.Test;

/**
 * Round 412 of issue 11: agent frameworks' own result objects, relayed whole or streamed by a Java service the
 * filter guards.
 *
 * <p>A. Letta ({@code letta-ai/letta}). {@code POST /v1/agents/{agent_id}/messages} answers a {@code LettaResponse}
 * ({@code letta/schemas/letta_response.py}: {@code messages}, {@code stop_reason}, {@code usage}), its {@code usage} a
 * {@code LettaUsageStatistics} ({@code letta/schemas/usage.py}: {@code message_type: "usage_statistics"},
 * {@code completion_tokens}, {@code prompt_tokens}, {@code total_tokens}, {@code step_count}, {@code run_ids}, ...), the
 * agent loop's model calls summed ({@code letta/agents/letta_agent.py}, {@code _step}: {@code usage.prompt_tokens +=
 * response.usage.prompt_tokens} for each step). {@code POST /v1/agents/{agent_id}/messages/stream} sends each
 * {@code LettaMessage} as {@code data: {message.model_dump_json()}} and ends with
 * {@code BaseAgent.get_finish_chunks_for_stream} ({@code letta/agents/base_agent.py}): the {@code LettaStopReason}, then
 * the {@code LettaUsageStatistics} itself as a root-level document ({@code usage.model_dump_json()}), then
 * {@code [DONE]}. A real run read back (letta cloud, 2025-03-25): one step, {@code "usage": {"message_type":
 * "usage_statistics", "completion_tokens": 56, "prompt_tokens": 7199, "total_tokens": 7255, "step_count": 1}}: a Letta
 * agent's every call reads its whole core memory and recalled history, whatever the user typed.
 *
 * <p>B. Agno ({@code agno-agi/agno}). AgentOS's {@code POST /agents/{agent_id}/runs} ({@code
 * libs/agno/agno/os/routers/agents/router.py}, a form of {@code message} and {@code stream}) answers
 * {@code stream=false} with {@code RunOutput.to_dict()} ({@code libs/agno/agno/run/agent.py}): its non-null fields
 * ({@code run_id}, {@code agent_id}, {@code agent_name}, {@code session_id}, {@code content}, {@code content_type},
 * {@code model}, {@code model_provider}, {@code created_at}, {@code status}), then {@code metrics}
 * ({@code Metrics.to_dict()}, {@code libs/agno/agno/models/metrics.py}: {@code input_tokens}, {@code output_tokens},
 * {@code total_tokens}, ..., {@code time_to_first_token}, {@code duration}, zeros and nulls left out: the run's calls
 * summed) and {@code messages} ({@code Message.to_dict()}, {@code libs/agno/agno/models/message.py}: each model answer
 * with its own call's {@code metrics}).
 *
 * <p>Rules: README settlement "usage seen: charge it"; docs/decisions.md "Usage inside an application's envelope": an
 * application's own envelope is not read, "a framework's own documented result type is a provider-like shape and is
 * read" (LangServe, Spring AI, LangChain4j, AutoGen, LlamaIndex, CrewAI, Mastra are).
 */
abstract class AbstractRound412 extends ModelCallRound {
    /** Letta: one step reading the agent's core memory, recall and the user's turn. */
    static final long LETTA_PROMPT = 9_640;
    static final long LETTA_COMPLETION = 310;
    static final long LETTA_RUN = LETTA_PROMPT + LETTA_COMPLETION;

    /** Agno: one call reading the session's history and knowledge references. */
    static final long AGNO_INPUT = 11_400;
    static final long AGNO_OUTPUT = 950;
    static final long AGNO_RUN = AGNO_INPUT + AGNO_OUTPUT;

    static final String WORDS = "Clause fourteen lets the supplier terminate on thirty days notice for any unpaid invoice, ";
    static final String ANSWER = WORDS.repeat(12);

    /** Letta's request ({@code LettaRequest}: {@code messages} of {@code MessageCreate}). */
    static final String LETTA_REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":\"What did we agree about the supplier"
            + " contracts' termination clauses?\"}]}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("letta", new LettaServer(), "/ai/letta/*")
                .servlet("agno", new AgentOs(), "/ai/agno/*");
    }

    // ------------------------------------------------------------------ A: Letta

    /** The step's {@code ReasoningMessage} and {@code AssistantMessage} as {@code model_dump_json} writes them. */
    static String reasoning() {
        return "{\"id\":\"message-e79ec2f4-cb4a-49be-bab6-9e7ff4dfa830\",\"date\":\"2025-03-25T18:11:06Z\",\"name\":null,"
                + "\"message_type\":\"reasoning_message\",\"otid\":\"e79ec2f4-cb4a-49be-bab6-9e7ff4dfa800\",\"sender_id\":null,"
                + "\"step_id\":\"step-5d4a0c1e-7a3b-4b8e-9f0e-2a6f1d3c9b71\",\"is_err\":null,\"source\":\"reasoner_model\","
                + "\"reasoning\":\"The user asks about the termination clauses; my core memory holds the summary.\",\"signature\":null}";
    }

    static String assistant() {
        return "{\"id\":\"message-e79ec2f4-cb4a-49be-bab6-9e7ff4dfa830\",\"date\":\"2025-03-25T18:11:06Z\",\"name\":null,"
                + "\"message_type\":\"assistant_message\",\"otid\":\"e79ec2f4-cb4a-49be-bab6-9e7ff4dfa801\",\"sender_id\":null,"
                + "\"step_id\":\"step-5d4a0c1e-7a3b-4b8e-9f0e-2a6f1d3c9b71\",\"is_err\":null,\"content\":\"" + ANSWER + "\"}";
    }

    /** {@code LettaStopReason}. */
    static final String STOP = "{\"message_type\":\"stop_reason\",\"stop_reason\":\"end_turn\"}";

    /** {@code LettaUsageStatistics} as {@code model_dump_json} writes it. */
    static String lettaUsage() {
        return "{\"message_type\":\"usage_statistics\",\"completion_tokens\":" + LETTA_COMPLETION + ",\"prompt_tokens\":"
                + LETTA_PROMPT + ",\"total_tokens\":" + LETTA_RUN + ",\"step_count\":1,\"run_ids\":null}";
    }

    /** {@code LettaResponse} as FastAPI writes it. */
    static String lettaResponse() {
        return "{\"messages\":[" + reasoning() + "," + assistant() + "],\"stop_reason\":" + STOP + ",\"usage\":" + lettaUsage() + "}";
    }

    /** A service relaying Letta's agent endpoints: {@code /messages} whole, {@code /messages/stream} as Letta streams it. */
    class LettaServer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            OutputStream out = resp.getOutputStream();
            if (req.getPathInfo().endsWith("/messages/stream")) {
                resp.setContentType("text/event-stream");
                for (String e : new String[] {reasoning(), assistant(), STOP, lettaUsage(), "[DONE]"}) {
                    EventStreams.write(out, "data: " + e + "\n\n");
                }
            } else {
                resp.setContentType("application/json");
                EventStreams.write(out, lettaResponse());
            }
        }
    }

    /**
     * The attack: a Letta agent's turn streamed ({@code /messages/stream}), its one model call of 9,640 prompt and 310
     * completion tokens counted in the stream's closing {@code usage_statistics} message. Right: 9,950.
     */
    @Test
    void lettaStreamedTurnIsChargedItsUsageStatistics() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/letta/v1/agents/agent-3f1b/messages/stream"), s,
                LETTA_REQUEST);
        assertCharged(s, r, 200, 1, LETTA_RUN, "a Letta turn streamed, ending in {\"message_type\":\"usage_statistics\","
                + " \"prompt_tokens\": 9640, \"completion_tokens\": 310, \"total_tokens\": 9950}");
    }

    /** Control: the same turn answered whole ({@code LettaResponse}, its {@code usage}): 9,950 charged. */
    @Test
    void controlLettaTurnAnsweredWholeIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/letta/v1/agents/agent-3f1b/messages"), s,
                LETTA_REQUEST);
        assertCharged(s, r, 200, 1, LETTA_RUN, "the same turn as a LettaResponse");
    }

    // ------------------------------------------------------------------ B: Agno

    /** {@code RunOutput.to_dict()} of a one-call run. */
    static String runOutput() {
        String callMetrics = "{\"input_tokens\":" + AGNO_INPUT + ",\"output_tokens\":" + AGNO_OUTPUT + ",\"total_tokens\":" + AGNO_RUN
                + ",\"time_to_first_token\":0.8132,\"duration\":9.4211}";
        return "{\"run_id\":\"8d2c7e5a-3b1f-4f0e-9a61-0c4e2b7d9f13\",\"agent_id\":\"contracts-agent\",\"agent_name\":\"Contracts agent\","
                + "\"session_id\":\"5b0e9c1d-62f4-4a8e-b3d7-1f9a2c4e6d80\",\"content\":\"" + ANSWER + "\",\"content_type\":\"str\","
                + "\"model\":\"gpt-4.1\",\"model_provider\":\"OpenAI\",\"created_at\":1759741964,\"status\":\"COMPLETED\","
                + "\"metrics\":" + callMetrics + ",\"messages\":["
                + "{\"id\":\"0a6f2b1e-1c3d-4e5f-8a9b-2c3d4e5f6a71\",\"content\":\"You are the legal team's contracts agent.\","
                + "\"from_history\":false,\"stop_after_tool_call\":false,\"role\":\"system\",\"created_at\":1759741955},"
                + "{\"id\":\"0a6f2b1e-1c3d-4e5f-8a9b-2c3d4e5f6a72\",\"content\":\"Summarise the termination clauses.\","
                + "\"from_history\":false,\"stop_after_tool_call\":false,\"role\":\"user\",\"created_at\":1759741955},"
                + "{\"id\":\"0a6f2b1e-1c3d-4e5f-8a9b-2c3d4e5f6a73\",\"content\":\"" + ANSWER + "\",\"from_history\":false,"
                + "\"stop_after_tool_call\":false,\"role\":\"assistant\",\"metrics\":" + callMetrics + ",\"created_at\":1759741964}]}";
    }

    /** The same call as one chat completion would report it: the control's shape. */
    static String completionShaped() {
        return "{\"id\":\"chatcmpl-CNa2\",\"object\":\"chat.completion\",\"created\":1759741964,\"model\":\"gpt-4.1\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + ANSWER + "\"},"
                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + AGNO_INPUT + ",\"completion_tokens\":"
                + AGNO_OUTPUT + ",\"total_tokens\":" + AGNO_RUN + "}}";
    }

    /**
     * The same run streamed ({@code stream=true}), as AgentOS writes it ({@code libs/agno/agno/os/utils.py}
     * {@code format_sse_event}: {@code event: <event>}, {@code data: <event.to_json()>}): {@code RunStarted}, the
     * answer's {@code RunContent} deltas, the call's {@code ModelRequestCompleted} ({@code run/agent.py}
     * {@code ModelRequestCompletedEvent}: its counts at the top level), then {@code RunCompleted}
     * ({@code RunCompletedEvent}, {@code BaseRunOutputEvent.to_dict} in {@code run/base.py}: the run's {@code metrics}
     * last; no {@code status}, no {@code model_provider}).
     */
    static String runStream() {
        String head = "\"agent_id\":\"contracts-agent\",\"agent_name\":\"Contracts agent\","
                + "\"run_id\":\"8d2c7e5a-3b1f-4f0e-9a61-0c4e2b7d9f13\",\"session_id\":\"5b0e9c1d-62f4-4a8e-b3d7-1f9a2c4e6d80\","
                + "\"nested_depth\":0";
        StringBuilder sse = new StringBuilder("event: RunStarted\ndata: {\"created_at\":1759741955,\"event\":\"RunStarted\","
                + head + ",\"model\":\"gpt-4.1\",\"model_provider\":\"OpenAI\"}\n\n");
        for (int i = 0; i < 12; i++) {
            sse.append("event: RunContent\ndata: {\"created_at\":1759741957,\"event\":\"RunContent\",").append(head)
                    .append(",\"content\":\"").append(WORDS).append("\",\"workflow_agent\":false,\"content_type\":\"str\"}\n\n");
        }
        sse.append("event: ModelRequestCompleted\ndata: {\"created_at\":1759741964,\"event\":\"ModelRequestCompleted\",")
                .append(head).append(",\"model\":\"gpt-4.1\",\"model_provider\":\"OpenAI\",\"input_tokens\":").append(AGNO_INPUT)
                .append(",\"output_tokens\":").append(AGNO_OUTPUT).append(",\"total_tokens\":").append(AGNO_RUN)
                .append(",\"time_to_first_token\":0.8132}\n\n");
        sse.append("event: RunCompleted\ndata: {\"created_at\":1759741964,\"event\":\"RunCompleted\",").append(head)
                .append(",\"content\":\"").append(ANSWER).append("\",\"content_type\":\"str\",\"metrics\":{\"input_tokens\":")
                .append(AGNO_INPUT).append(",\"output_tokens\":").append(AGNO_OUTPUT).append(",\"total_tokens\":").append(AGNO_RUN)
                .append(",\"time_to_first_token\":0.8132,\"duration\":9.4211}}\n\n");
        return sse.toString();
    }

    /** A service relaying AgentOS's run endpoint: {@code RunOutput.to_dict()}, or with {@code stream=true} its events. */
    class AgentOs extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            boolean stream = new String(req.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8)
                    .contains("stream=true");
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType(stream ? "text/event-stream" : "application/json");
            EventStreams.write(resp.getOutputStream(), stream ? runStream()
                    : req.getPathInfo().endsWith("/completion") ? completionShaped() : runOutput());
        }
    }

    /** AgentOS's form: {@code message}, {@code stream=false}, {@code session_id}. */
    static final String AGNO_FORM = "message=Summarise+the+termination+clauses.&stream=false"
            + "&session_id=5b0e9c1d-62f4-4a8e-b3d7-1f9a2c4e6d80";

    /**
     * The attack: an Agno agent's run answered whole by AgentOS ({@code RunOutput.to_dict()}), its call of 11,400 input
     * and 950 output tokens counted in {@code metrics} (and again in its assistant message's). Right: 12,350.
     */
    @Test
    void agnoRunOutputIsChargedItsMetrics() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/agno/agents/contracts-agent/runs"), AGNO_FORM,
                "x-user-id", s, "Content-Type", "application/x-www-form-urlencoded");
        assertCharged(s, r, 200, 1, AGNO_RUN, "an Agno RunOutput, metrics {input_tokens: 11400, output_tokens: 950,"
                + " total_tokens: 12350}");
    }

    /**
     * The same run streamed ({@code stream=true}), its {@code RunCompleted} event's
     * {@code metrics} the run's; the call's {@code ModelRequestCompleted} counts are not added again. Right: 12,350.
     */
    @Test
    void agnoStreamedRunIsChargedItsRunCompletedMetrics() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/agno/agents/contracts-agent/runs"),
                AGNO_FORM.replace("stream=false", "stream=true"), "x-user-id", s,
                "Content-Type", "application/x-www-form-urlencoded");
        assertCharged(s, r, 200, 1, AGNO_RUN, "an Agno run streamed, ending in RunCompleted with metrics"
                + " {input_tokens: 11400, output_tokens: 950, total_tokens: 12350}");
    }

    /** Control: the same figures in a chat completion's {@code usage}: 12,350 charged. */
    @Test
    void controlTheSameFiguresAsAChatCompletionsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/agno/agents/contracts-agent/completion"), AGNO_FORM,
                "x-user-id", s, "Content-Type", "application/x-www-form-urlencoded");
        assertCharged(s, r, 200, 1, AGNO_RUN, "the same figures in a chat completion's usage");
    }
}
