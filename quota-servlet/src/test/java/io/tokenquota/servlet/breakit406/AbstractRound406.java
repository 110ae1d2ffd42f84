package io.tokenquota.servlet.breakit406;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 406 of issue 11 ("no model call goes unpaid"): usage shapes of agent frameworks served as they are.
 *
 * <p><b>Found and fixed: AutoGen AgentChat's {@code TaskResult} returned whole.</b> {@code agent.run(task=...)} and
 * {@code team.run(task=...)} return {@code TaskResult} (microsoft/autogen,
 * {@code python/packages/autogen-agentchat/src/autogen_agentchat/base/_task.py}: fields {@code messages}, "Messages
 * produced by the task", and {@code stop_reason}); a FastAPI route that returns it writes
 * {@code {"messages": [...], "stop_reason": ...}}, each message as pydantic dumps an AgentChat message
 * ({@code BaseChatMessage} / {@code BaseAgentEvent}: {@code id}, {@code source}, {@code models_usage} =
 * {@code RequestUsage(prompt_tokens, completion_tokens)} of the model call that wrote it, {@code metadata},
 * {@code created_at}, {@code content}, {@code type}; the shapes of rounds 302 and 307). An agent with a tool makes
 * two model calls: the {@code ToolCallRequestEvent} carries the first's usage, the final {@code TextMessage} the
 * second's. The filter reads {@code models_usage} at a document's top (one message, round 302), in AutoGen
 * Studio's {@code data.task_result.messages[]} (round 302) and in {@code run_stream}'s messages one by one (round
 * 307), but not in the {@code TaskResult} itself: the run was charged its hold (now read there, in its exact
 * shape only).
 *
 * <p>Controls: the same run streamed ({@code run_stream}, round 307's framing: each message as an SSE
 * {@code data:} line, then the same TaskResult), and Google ADK's {@code POST /run} (google/adk-python
 * {@code cli/adk_web_server.py}: {@code agent_run(...) -> list[Event]}, {@code response_model_exclude_none=True},
 * events by alias, camelCase) with a function-call event and a final event each carrying its call's
 * {@code usageMetadata}, as one JSON array, and the same events over {@code /run_sse}.
 */
abstract class AbstractRound406 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    static final String ADK_TAIL = "\"invocationId\":\"e-3f9a1c2d-406\",\"author\":\"contracts_agent\",\"actions\":"
            + "{\"stateDelta\":{},\"artifactDelta\":{},\"requestedAuthConfigs\":{}},";

    static String adkUsage(long prompt, long candidates) {
        return "\"usageMetadata\":{\"candidatesTokenCount\":" + candidates + ",\"promptTokenCount\":" + prompt
                + ",\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":" + prompt + "}],\"totalTokenCount\":"
                + (prompt + candidates) + "},";
    }

    static String adkFunctionCall(String id, long prompt, long candidates) {
        return "{\"content\":{\"parts\":[{\"functionCall\":{\"id\":\"adk-fc-1\",\"args\":{\"folder\":\"contracts\"},"
                + "\"name\":\"read_folder\"}}],\"role\":\"model\"}," + adkUsage(prompt, candidates) + ADK_TAIL
                + "\"longRunningToolIds\":[],\"id\":\"" + id + "\",\"timestamp\":1735689600.3}";
    }

    static String adkFunctionResponse(String id) {
        return "{\"content\":{\"parts\":[{\"functionResponse\":{\"id\":\"adk-fc-1\",\"name\":\"read_folder\","
                + "\"response\":{\"result\":\"three contracts\"}}}],\"role\":\"user\"}," + ADK_TAIL + "\"id\":\"" + id
                + "\",\"timestamp\":1735689600.4}";
    }

    static String adkFinal(String id, String text, long prompt, long candidates) {
        return "{\"content\":{\"parts\":[{\"text\":\"" + text + "\"}],\"role\":\"model\"},"
                + adkUsage(prompt, candidates) + ADK_TAIL + "\"id\":\"" + id + "\",\"timestamp\":1735689600.5}";
    }

    static String message(String id, String source, String usage, String content, String type) {
        return "{\"id\":\"" + id + "\",\"source\":\"" + source + "\",\"models_usage\":" + usage + ",\"metadata\":{},"
                + "\"created_at\":\"2026-03-02T09:14:07.118204Z\",\"content\":" + content + ",\"type\":\"" + type + "\"}";
    }

    static String usage(long prompt, long completion) {
        return "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + "}";
    }

    {
        String a = adkFunctionCall("adk-a1", 3_000, 40);
        String b = adkFunctionResponse("adk-t1");
        String c = adkFinal("adk-a2", "The memo is ready.", 3_200, 400);
        answer("adk-run-array", "application/json", List.of("[" + a + "," + b + "," + c + "]"), 2);
        sse("adk-run-sse", 2, List.of(data(a), data(b), data(c)));
        String task = message("0b9d1f3a-6c2e-4e8b-a1d7-3f5c9e2b4a61", "user", "null", "\"Draft the memo.\"", "TextMessage");
        String req = message("7e4a2c9b-1d3f-4b6a-8c5e-2f9d1a7b3c04", "assistant", usage(1_214, 38),
                "[{\"id\":\"call_Qm3rT8vX1yZ2\",\"arguments\":\"{\\\"folder\\\":\\\"contracts\\\"}\",\"name\":\"read_folder\"}]",
                "ToolCallRequestEvent");
        String exe = message("c3f8e1d2-9a4b-4c7e-b2d6-5e1a8f3c9b27", "assistant", "null",
                "[{\"content\":\"three contracts\",\"name\":\"read_folder\",\"call_id\":\"call_Qm3rT8vX1yZ2\",\"is_error\":false}]",
                "ToolCallExecutionEvent");
        String ans = message("4a1b2c3d-5e6f-4a8b-9c0d-1e2f3a4b5c6d", "assistant", usage(1_322, 611), "\"The memo is ready.\"",
                "TextMessage");
        String result = "{\"messages\":[" + task + "," + req + "," + exe + "," + ans + "],\"stop_reason\":null}";
        answer("autogen-taskresult", "application/json", List.of(result), 2);
        String messages = "\"messages\":[" + task + "," + req + "," + exe + "," + ans + "]";
        answer("autogen-taskresult-stop-first", "application/json",
                List.of("{\"stop_reason\":\"Maximum number of turns 4 reached.\"," + messages + "}"), 2);
        answer("autogen-taskresult-extra-field", "application/json",
                List.of("{" + messages + ",\"stop_reason\":null,\"thread_id\":\"t-406\"}"), 2);
        answer("messages-alone", "application/json", List.of("{" + messages + "}"), 2);
        sse("autogen-run-stream", 2, List.of(data(task), data(req), data(exe), data(ans), data(result)));
    }

    static final long RUN = 1_214 + 38 + 1_322 + 611;
    /** What an answer whose usage is not read is charged here: its hold. */
    static final long HOLD = 1_014;

    // ------------------------------------------------------------------ found and fixed

    /**
     * A FastAPI route returning {@code await agent.run(task=...)}: the TaskResult whole, two model calls
     * (1,214 + 38 for the tool call, 1,322 + 611 for the answer). Expected 3,185; it was charged the hold, 1,014.
     */
    @Test
    void anAutoGenTaskResultReturnedWholeIsChargedItsCallsUsage() {
        charged("autogen-taskresult", RUN, "AutoGen TaskResult {messages, stop_reason} returned whole: ToolCallRequestEvent"
                + " models_usage 1,214 + 38, TextMessage 1,322 + 611");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same run streamed as {@code run_stream} yields it (messages, then the TaskResult): 3,185. */
    @Test
    void controlTheSameRunStreamedIsChargedItsCallsUsage() {
        charged("autogen-run-stream", RUN, "AutoGen run_stream: the same messages one by one, then the TaskResult");
    }

    /**
     * Control (found and fixed): the same TaskResult, its {@code stop_reason} a string written before its
     * {@code messages}: 3,185.
     */
    @Test
    void controlATaskResultStopReasonFirstIsChargedItsCallsUsage() {
        charged("autogen-taskresult-stop-first", RUN, "AutoGen TaskResult {stop_reason, messages}");
    }

    /**
     * Control: the same messages and {@code stop_reason} beside another field ({@code thread_id}) are an application's
     * own document, not a TaskResult: charged its hold, as before round 406.
     */
    @Test
    void controlATaskResultWithAnotherFieldIsNotReadAsOne() {
        charged("autogen-taskresult-extra-field", HOLD, "{messages, stop_reason, thread_id}: not a TaskResult");
    }

    /**
     * Control: a root {@code messages} list alone is LangGraph's {@code /runs/wait} state (the thread's history,
     * decided not counted), whatever its messages: charged its hold, AgentChat messages and all.
     */
    @Test
    void controlARootMessagesListAloneIsNotReadAsATaskResult() {
        charged("messages-alone", HOLD, "{messages} alone (LangGraph's /runs/wait state): not a TaskResult");
    }

    /** Control: Google ADK's {@code /run}, a JSON array of events, two model calls (3,000 + 40, 3,200 + 400): 6,640. */
    @Test
    void controlAdkRunAnswerIsChargedItsCallsUsage() {
        charged("adk-run-array", 6_640, "ADK /run: function-call event 3,000 + 40, final event 3,200 + 400");
    }

    /** Control: the same ADK events over {@code /run_sse}: 6,640. */
    @Test
    void controlAdkRunSseIsChargedItsCallsUsage() {
        charged("adk-run-sse", 6_640, "ADK /run_sse: function-call event 3,000 + 40, final event 3,200 + 400");
    }
}
