package io.tokenquota.servlet.breakit133;

import static io.tokenquota.servlet.testing.EventStreams.event;
import static io.tokenquota.servlet.testing.EventStreams.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.AgentLoopRound;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * Round 133 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the ids the rule "Several model calls in one answer" adds calls up by, as real servers give them.
 * <p>vLLM's OpenAI server names a chat completion {@code "chatcmpl-" + X-Request-Id} when the request
 * carries that header ({@code OpenAIServing._base_request_id}); a service mesh (Envoy, Istio) sets
 * {@code x-request-id} on the user's request and its applications forward it on every call they make,
 * as Envoy asks them to. An agent behind such a mesh calls vLLM three times for one user request, and
 * every chunk of every call carries the same id. Each call still ends with its own usage chunk
 * ({@code stream_options.include_usage}). The three calls use 2,000 + 100, 5,000 + 100 and
 * 8,000 + 400 tokens, 15,600 in all, on a 20,000 allowance.
 * <p>And an Assistants run with a tool, streamed as OpenAI's SDKs stream it: the run's first part ends in
 * {@code thread.run.requires_action} without usage, the rest comes from {@code submit_tool_outputs}
 * (streamed), whose {@code thread.run.completed} reports the whole run's usage.
 */
abstract class AbstractRound133 extends AgentLoopRound {
    /** The id an Envoy-fronted request carries, forwarded by the agent on each of its vLLM calls. */
    static final String MESH_ID = "7c3e1d2a-5b8f-4e6a-9d0c-1f2e3a4b5c6d";

    static String data(String data) {
        return "data: " + data + "\n\n";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return super.deploy(filter).servlet("assistants", new AssistantsRelay(), "/ai/v1/threads/*");
    }

    /**
     * {@code vllm-mesh}: vLLM streams, every call under {@code chatcmpl-<x-request-id>}; {@code vllm-fresh}:
     * the same without the header (vLLM's random id per call); {@code vllm-mesh-steps}: the same loop
     * without streaming, each {@code ChatCompletion} sent as one event.
     */
    @Override
    protected void relayCall(String format, OutputStream out, int step, boolean last) throws IOException {
        switch (format) {
            case "vllm-mesh" -> vllmCall(out, "chatcmpl-" + MESH_ID, step, last);
            case "vllm-fresh" -> vllmCall(out, "chatcmpl-" + (step + 1) + "f0c9a8b7e6d54c3b2a1908f7e6d5c4b", step, last);
            case "vllm-mesh-steps" -> vllmStep(out, "chatcmpl-" + MESH_ID, step, last);
            default -> throw new IllegalArgumentException(format);
        }
    }

    @Override
    protected void endAnswer(String format, OutputStream out) throws IOException {
        if (!format.endsWith("steps")) {
            write(out, "data: [DONE]\n\n");
        }
    }

    @Override
    protected String request(String format) {
        return "{\"model\":\"Qwen/Qwen2.5-72B-Instruct\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\""
                + QUESTION + "\"}]}";
    }

    /** One vLLM chat completion stream with {@code include_usage}, as vLLM 0.8 writes its chunks. */
    static void vllmCall(OutputStream out, String id, int step, boolean last) throws IOException {
        String head = "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":" + (1735689600 + step)
                + ",\"model\":\"Qwen/Qwen2.5-72B-Instruct\",";
        write(out, data(head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                + "\"logprobs\":null,\"finish_reason\":null}]}"));
        if (last) {
            write(out, data(head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + ANSWER + "\"},"
                    + "\"logprobs\":null,\"finish_reason\":null}]}"));
        } else {
            write(out, data(head + "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"chatcmpl-tool-8d1e" + step
                    + "\",\"type\":\"function\",\"index\":0,\"function\":{\"name\":\"fetch_page\",\"arguments\":\"{\\\"url\\\": \\\""
                    + url(step) + "\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}"));
        }
        write(out, data(head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\""
                + (last ? "stop" : "tool_calls") + "\",\"stop_reason\":null}]}"));
        long in = STEPS[step][0];
        long o = STEPS[step][1];
        write(out, data(head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + in + ",\"total_tokens\":" + (in + o)
                + ",\"completion_tokens\":" + o + ",\"prompt_tokens_details\":null}}"));
    }

    /** One vLLM chat completion without streaming, sent to the browser as one event. */
    static void vllmStep(OutputStream out, String id, int step, boolean last) throws IOException {
        long in = STEPS[step][0];
        long o = STEPS[step][1];
        String message = last ? "{\"role\":\"assistant\",\"reasoning_content\":null,\"content\":\"" + ANSWER + "\",\"tool_calls\":[]}"
                : "{\"role\":\"assistant\",\"reasoning_content\":null,\"content\":null,\"tool_calls\":[{\"id\":\"chatcmpl-tool-8d1e"
                        + step + "\",\"type\":\"function\",\"function\":{\"name\":\"fetch_page\",\"arguments\":\"{\\\"url\\\": \\\""
                        + url(step) + "\\\"}\"}}]}";
        write(out, data("{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":" + (1735689600 + step)
                + ",\"model\":\"Qwen/Qwen2.5-72B-Instruct\",\"choices\":[{\"index\":0,\"message\":" + message
                + ",\"logprobs\":null,\"finish_reason\":\"" + (last ? "stop" : "tool_calls") + "\",\"stop_reason\":null}],"
                + "\"usage\":{\"prompt_tokens\":" + in + ",\"total_tokens\":" + (in + o) + ",\"completion_tokens\":" + o
                + ",\"prompt_tokens_details\":null},\"prompt_logprobs\":null}"));
    }

    // ------------------------------------------------------------------ Assistants

    static final String THREAD = "thread_abc123";
    static final String RUN = "run_Qk5fx0WGLJ8nWbZqUvE2aT3m";
    /** The run's two model calls: the tool call (2,000 + 100), the answer after the tool's output (8,000 + 400). */
    static final long RUN_PROMPT = 10_000;
    static final long RUN_COMPLETION = 500;

    static String run(String status, String usage, String extra) {
        return "{\"id\":\"" + RUN + "\",\"object\":\"thread.run\",\"created_at\":1735689600,\"assistant_id\":\"asst_abc123\","
                + "\"thread_id\":\"" + THREAD + "\",\"status\":\"" + status + "\",\"model\":\"gpt-4o\",\"instructions\":null,"
                + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"fetch_page\",\"parameters\":{\"type\":\"object\"}}}],"
                + extra + "\"usage\":" + usage + ",\"max_prompt_tokens\":null,\"max_completion_tokens\":null}";
    }

    static String step(String id, String type, String status, String details, String usage) {
        return "{\"id\":\"" + id + "\",\"object\":\"thread.run.step\",\"created_at\":1735689601,\"run_id\":\"" + RUN
                + "\",\"assistant_id\":\"asst_abc123\",\"thread_id\":\"" + THREAD + "\",\"type\":\"" + type + "\",\"status\":\""
                + status + "\",\"step_details\":" + details + ",\"usage\":" + usage + "}";
    }

    /**
     * An Assistants relay ({@code POST /v1/threads/{id}/runs} and {@code …/runs/{id}/submit_tool_outputs},
     * both with {@code stream: true}), writing the events OpenAI's Assistants stream sends. The run makes
     * one model call before it requires the tool's output and one after; usage is reported only when the
     * run (or a step) completes.
     */
    class AssistantsRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo();
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            OutputStream out = resp.getOutputStream();
            String toolCalls = "{\"type\":\"tool_calls\",\"tool_calls\":[{\"id\":\"call_fetch1\",\"type\":\"function\","
                    + "\"function\":{\"name\":\"fetch_page\",\"arguments\":\"{\\\"url\\\":\\\"" + url(0) + "\\\"}\",\"output\":null}}]}";
            if (path.equals("/" + THREAD + "/runs")) {
                calls.count(user);
                write(out, event("thread.run.created", run("queued", "null", "")));
                write(out, event("thread.run.queued", run("queued", "null", "")));
                write(out, event("thread.run.in_progress", run("in_progress", "null", "")));
                write(out, event("thread.run.step.created", step("step_1", "tool_calls", "in_progress", toolCalls, "null")));
                write(out, event("thread.run.step.delta", "{\"id\":\"step_1\",\"object\":\"thread.run.step.delta\",\"delta\":"
                        + "{\"step_details\":{\"type\":\"tool_calls\",\"tool_calls\":[{\"index\":0,\"type\":\"function\","
                        + "\"function\":{\"arguments\":\"{\\\"url\\\":\\\"" + url(0) + "\\\"}\"}}]}}}"));
                write(out, event("thread.run.requires_action", run("requires_action", "null",
                        "\"required_action\":{\"type\":\"submit_tool_outputs\",\"submit_tool_outputs\":{\"tool_calls\":"
                                + "[{\"id\":\"call_fetch1\",\"type\":\"function\",\"function\":{\"name\":\"fetch_page\","
                                + "\"arguments\":\"{\\\"url\\\":\\\"" + url(0) + "\\\"}\"}}]}},")));
                write(out, "event: done\ndata: [DONE]\n\n");
            } else if (path.equals("/" + THREAD + "/runs/" + RUN + "/submit_tool_outputs")) {
                calls.count(user);
                write(out, event("thread.run.queued", run("queued", "null", "")));
                write(out, event("thread.run.in_progress", run("in_progress", "null", "")));
                write(out, event("thread.run.step.completed", step("step_1", "tool_calls", "completed", toolCalls,
                        "{\"prompt_tokens\":2000,\"completion_tokens\":100,\"total_tokens\":2100}")));
                String creation = "{\"type\":\"message_creation\",\"message_creation\":{\"message_id\":\"msg_001\"}}";
                write(out, event("thread.run.step.created", step("step_2", "message_creation", "in_progress", creation, "null")));
                write(out, event("thread.message.created", "{\"id\":\"msg_001\",\"object\":\"thread.message\",\"created_at\":1735689602,"
                        + "\"thread_id\":\"" + THREAD + "\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[],"
                        + "\"assistant_id\":\"asst_abc123\",\"run_id\":\"" + RUN + "\",\"attachments\":[],\"metadata\":{}}"));
                write(out, event("thread.message.delta", "{\"id\":\"msg_001\",\"object\":\"thread.message.delta\",\"delta\":"
                        + "{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"" + ANSWER + "\",\"annotations\":[]}}]}}"));
                write(out, event("thread.message.completed", "{\"id\":\"msg_001\",\"object\":\"thread.message\",\"created_at\":1735689602,"
                        + "\"thread_id\":\"" + THREAD + "\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
                        + "\"text\":{\"value\":\"" + ANSWER + "\",\"annotations\":[]}}],\"assistant_id\":\"asst_abc123\",\"run_id\":\""
                        + RUN + "\",\"attachments\":[],\"metadata\":{}}"));
                write(out, event("thread.run.step.completed", step("step_2", "message_creation", "completed", creation,
                        "{\"prompt_tokens\":8000,\"completion_tokens\":400,\"total_tokens\":8400}")));
                write(out, event("thread.run.completed", run("completed", "{\"prompt_tokens\":" + RUN_PROMPT
                        + ",\"completion_tokens\":" + RUN_COMPLETION + ",\"total_tokens\":" + (RUN_PROMPT + RUN_COMPLETION) + "}", "")));
                write(out, "event: done\ndata: [DONE]\n\n");
            } else {
                resp.sendError(404);
            }
        }
    }

    // ------------------------------------------------------------------ tests

    /**
     * Control: the vLLM tool loop with a fresh id per call (no {@code X-Request-Id} forwarded): three
     * calls of 2,100 + 5,100 + 8,400. Expected: charged 15,600.
     */
    @Test
    void controlVllmCallsUnderTheirOwnIdsAreChargedEveryCall() {
        chargedEveryCall("vllm-fresh", "vLLM streams, a random id per call");
    }

    /**
     * Attack: the same vLLM tool loop behind a service mesh that forwards the user request's
     * {@code x-request-id}: vLLM names every call {@code chatcmpl-<x-request-id>}, so the three calls'
     * streams share one id, each ending in its own usage chunk (2,100, 5,100, 8,400; the prompt grows
     * with each turn, so nothing looks like a restart). Expected: charged 15,600. The filter reads
     * "one id" as one call whose running totals the last report replaces, and charges 8,400: every call
     * but the last is free, and the user picks how many pages the agent reads before it answers.
     */
    @Test
    void vllmCallsSharingTheForwardedRequestIdAreChargedEveryCall() {
        chargedEveryCall("vllm-mesh", "vLLM streams, every call named chatcmpl-<x-request-id>");
    }

    /**
     * Attack: the same, each vLLM call made without streaming and its whole {@code ChatCompletion}
     * sent to the browser as one event ({@code SseEmitter.send}), all three named
     * {@code chatcmpl-<x-request-id>}, each with {@code finish_reason} and its usage. Whole answers are
     * never running totals. Expected: charged 15,600.
     */
    @Test
    void vllmWholeAnswersSharingTheForwardedRequestIdAreChargedEveryCall() {
        chargedEveryCall("vllm-mesh-steps", "vLLM whole answers, every one named chatcmpl-<x-request-id>");
    }

    /**
     * Attack (charged for what no model did): an Assistants run with one function tool, driven as
     * OpenAI's SDKs stream it. The run's creation streams until {@code thread.run.requires_action}
     * (no usage yet: a run reports usage when it ends); the client then calls
     * {@code submit_tool_outputs} with {@code stream: true}, whose {@code thread.run.completed} reports
     * the WHOLE run: 10,000 prompt + 500 completion = 10,500 (its two model calls, 2,100 and 8,400).
     * Expected: charged 10,500 in all. The creation's stream is charged its estimate (a stream without
     * usage), and the continuation the run's full usage again: the run's first model call is paid twice,
     * once as a guess. The rule for jobs remembers a run's charge by its id only when the answer is the
     * run object alone, not when the same run comes as events.
     */
    @Test
    void assistantsRunStreamedAcrossToolOutputsIsChargedItsUsageOnce() {
        String s = subject();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/v1/threads/" + THREAD + "/runs"), s,
                "{\"assistant_id\":\"asst_abc123\",\"stream\":true}");
        assertEquals(200, created.statusCode(), created.body());
        assertTrue(created.body().contains("requires_action"), created.body());
        QuotaAccount mid = settled(s);
        HttpResponse<String> resumed = TestHttp.postJson(container.uri("/ai/v1/threads/" + THREAD + "/runs/" + RUN
                + "/submit_tool_outputs"), s, "{\"tool_outputs\":[{\"tool_call_id\":\"call_fetch1\",\"output\":"
                + "\"Q3 revenue 4.2M, costs 3.1M\"}],\"stream\":true}");
        assertEquals(200, resumed.statusCode(), resumed.body());
        assertTrue(resumed.body().contains(ANSWER), "the run's answer was served");
        assertEquals(2, calls.of(s));
        QuotaAccount a = settled(s);
        assertEquals(RUN_PROMPT + RUN_COMPLETION, a.used(), kind() + ": one Assistants run used 10,500 tokens "
                + "(thread.run.completed); charged " + a.used() + " of " + a.limit() + " (" + mid.used()
                + " after the creation's stream); " + ledger(s));
    }
}
