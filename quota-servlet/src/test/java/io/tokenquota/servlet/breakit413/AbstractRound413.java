package io.tokenquota.servlet.breakit413;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaAccount;
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
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 413 of issue 11 ("no model call goes unpaid"): the last hour's fixes attacked, round 406 (an AutoGen
 * AgentChat {@code TaskResult} read at its messages' {@code models_usage}; a message named again counts once) and
 * round 410 (a model named only in the request path: Workers AI, Replicate, Databricks).
 *
 * <p><b>1. AutoGen AgentChat before 0.6.2: {@code run_stream} is charged twice.</b> The messages' {@code id} field
 * came with microsoft/autogen commit da20f7c6c ("Feature/agentchat message id field 6317 (#6645)", 29 June 2025,
 * after the 0.6.1 release, 348bcb17a "Update version to 0.6.1"). In 0.6.1 ({@code autogen_agentchat/messages.py}
 * at that commit) {@code BaseChatMessage} / {@code BaseAgentEvent} are {@code source}, {@code models_usage}
 * ({@code RequestUsage(prompt_tokens, completion_tokens)}), {@code metadata}, {@code created_at}; a
 * {@code TextMessage} adds {@code content} and {@code type}; {@code TaskResult} ({@code base/_task.py}) is
 * {@code messages}, {@code stop_reason}. {@code BaseChatAgent.run_stream} ({@code agents/_base_chat_agent.py} at
 * 0.6.1) yields each message and appends it to {@code output_messages}, then yields
 * {@code TaskResult(messages=output_messages)}: the same messages again. Served as round 307/406 serve it (a
 * FastAPI {@code StreamingResponse} of {@code "data: " + m.model_dump_json() + "\n\n"}), the streamed messages are
 * counted (no id: parts that add up) and round 406's TaskResult reading adds them all again: the run is charged
 * twice. With ids (0.6.2+) the repeat is recognised (round 406's control, repeated here).
 *
 * <p><b>2. Cloudflare Workers AI through AI Gateway.</b> developers.cloudflare.com/ai-gateway/providers/workersai/:
 * "To interact with a REST API, update the URL used for your request: Previous:
 * {@code https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/run/{model_id}}, New:
 * {@code https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/workers-ai/{model_id}}" (its example:
 * {@code .../workers-ai/@cf/meta/llama-3.1-8b-instruct}). The answer is Workers AI's own envelope, passed through
 * ({@code {"result":{"response":…,"usage":{…}},"success":true,"errors":[],"messages":[]}}, round 410's shape): no
 * model. Round 410 reads only the {@code /ai/run/} form, so the same call through Cloudflare's gateway is weighed at
 * the table's default.
 *
 * <p><b>3. Replicate's {@code POST /v1/predictions} naming an official model.</b> replicate.com/changelog/
 * 2025-08-05-run-all-models-with-the-same-api-endpoint: "The POST /v1/predictions endpoint now accepts official
 * model identifiers in the owner/name format" in its {@code version} field ({@code {owner}/{name}},
 * {@code {owner}/{name}:{version_id}}, {@code {version_id}}). The same streamed call round 410 weighs at
 * {@code /v1/models/{owner}/{name}/predictions} names its model in the body's {@code version}, which the filter
 * does not read ({@code RequestEstimator.MODEL_FIELDS}), and the stream names none: charged the default.
 */
abstract class AbstractRound413 extends ModelCallRound {
    /** The 70B rows dear (8 a token of every kind), everything else (the default) 1 a token (round 410's table). */
    static final ModelWeights TABLE = ModelWeights.builder()
            .model("llama-3.1-70b*", ModelWeights.Rates.of("8", "8", "8", "8"))
            .model("meta-llama-3-70b*", ModelWeights.Rates.of("8", "8", "8", "8"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();
    static final long RATE = 8;

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter weighted = filterFor("/ai/").modelWeights(TABLE).modelWeights("/ai/plain/", ONE_UNIT_A_TOKEN).build();
        return Deployment.create()
                .filter("weighted", weighted, "/*")
                .servlet("agent", new AgentApp(), "/ai/agent/*")
                .servlet("cloudflare", new WorkersAi(), "/ai/cloudflare/*")
                .servlet("replicate", new Replicate(), "/ai/replicate/*")
                .servlet("plain", new Replicate(), "/ai/plain/*");
    }

    // ------------------------------------------------------------------ AutoGen AgentChat

    /** What the user asks the agent. */
    static final String TASK = "{\"task\":\"Read the three vendor contracts in the shared folder and draft a memo.\"}";

    /** A scenario of the agent app: its content type, the pieces it writes (each flushed), its model calls. */
    record Scenario(String type, List<String> pieces, int calls) {
    }

    final Map<String, Scenario> scenarios = new ConcurrentHashMap<>();

    /** The agent app ({@code POST /ai/agent/<scenario>}): the scenario's model calls, then its pieces. */
    class AgentApp extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            Scenario scenario = scenarios.get(req.getPathInfo().substring(1));
            for (int i = 0; i < scenario.calls(); i++) {
                calls.count(req.getHeader("x-user-id"));
            }
            resp.setContentType(scenario.type());
            resp.setCharacterEncoding("UTF-8");
            OutputStream out = resp.getOutputStream();
            for (String piece : scenario.pieces()) {
                EventStreams.write(out, piece);
            }
        }
    }

    /**
     * An AgentChat message as pydantic's {@code model_dump_json} writes it: with {@code id} (0.6.2 and later, round
     * 406's shape) or without (0.6.1 and before: {@code source}, {@code models_usage}, {@code metadata},
     * {@code created_at}, {@code content}, {@code type}).
     */
    static String message(String id, String source, String usage, String content, String type) {
        return "{" + (id == null ? "" : "\"id\":\"" + id + "\",") + "\"source\":\"" + source + "\",\"models_usage\":"
                + usage + ",\"metadata\":{},\"created_at\":\"2026-03-02T09:14:07.118204Z\",\"content\":" + content
                + ",\"type\":\"" + type + "\"}";
    }

    static String usage(long prompt, long completion) {
        return "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + "}";
    }

    /** An AssistantAgent with a tool and reflect_on_tool_use: task, tool call (call 1), execution, answer (call 2). */
    static List<String> run(boolean ids) {
        return List.of(
                message(ids ? "0b9d1f3a-6c2e-4e8b-a1d7-3f5c9e2b4a61" : null, "user", "null", "\"Draft the memo.\"",
                        "TextMessage"),
                message(ids ? "7e4a2c9b-1d3f-4b6a-8c5e-2f9d1a7b3c04" : null, "assistant", usage(1_214, 38),
                        "[{\"id\":\"call_Qm3rT8vX1yZ2\",\"arguments\":\"{\\\"folder\\\":\\\"contracts\\\"}\","
                                + "\"name\":\"read_folder\"}]", "ToolCallRequestEvent"),
                message(ids ? "c3f8e1d2-9a4b-4c7e-b2d6-5e1a8f3c9b27" : null, "assistant", "null",
                        "[{\"content\":\"three contracts\",\"name\":\"read_folder\",\"call_id\":\"call_Qm3rT8vX1yZ2\","
                                + "\"is_error\":false}]", "ToolCallExecutionEvent"),
                message(ids ? "4a1b2c3d-5e6f-4a8b-9c0d-1e2f3a4b5c6d" : null, "assistant", usage(1_322, 611),
                        "\"The memo is ready.\"", "TextMessage"));
    }

    static String taskResult(List<String> messages) {
        return "{\"messages\":[" + String.join(",", messages) + "],\"stop_reason\":null}";
    }

    /** run_stream served as SSE: each message as a data line, then the TaskResult holding them all. */
    static List<String> runStream(List<String> messages) {
        List<String> pieces = new java.util.ArrayList<>();
        messages.forEach(m -> pieces.add("data: " + m + "\n\n"));
        pieces.add("data: " + taskResult(messages) + "\n\n");
        return pieces;
    }

    static final long RUN = 1_214 + 38 + 1_322 + 611;

    {
        scenarios.put("v061-run-stream", new Scenario("text/event-stream", runStream(run(false)), 2));
        scenarios.put("v061-run", new Scenario("application/json", List.of(taskResult(run(false))), 2));
        scenarios.put("v062-run-stream", new Scenario("text/event-stream", runStream(run(true)), 2));
    }

    long agent(String scenario) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agent/" + scenario), s, TASK);
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(2, calls.of(s), figures(s, r, a));
        return a.used();
    }

    /**
     * Found and fixed: AgentChat 0.6.1's {@code run_stream} (messages without {@code id}) served as SSE, then the TaskResult
     * it ends with: two model calls, 1,214 + 38 and 1,322 + 611 = 3,185. The TaskResult repeats the streamed
     * messages; without ids they are counted again.
     */
    @Test
    void autoGenRunStreamWithoutMessageIdsIsChargedItsCallsOnce() {
        long used = agent("v061-run-stream");
        assertEquals(RUN, used, kind() + ": AgentChat 0.6.1 run_stream (no message ids): 4 messages then the TaskResult"
                + " repeating them; two calls of 1,252 and 1,933 tokens");
    }

    /** Control: the same 0.6.1 run returned whole ({@code agent.run()}), the TaskResult alone: 3,185. */
    @Test
    void controlAutoGenTaskResultWithoutMessageIdsIsChargedItsCalls() {
        assertEquals(RUN, agent("v061-run"), kind() + ": AgentChat 0.6.1 TaskResult returned whole");
    }

    /** Control: the same run_stream in 0.6.2+ (messages with ids): the TaskResult's repeat is recognised, 3,185. */
    @Test
    void controlAutoGenRunStreamWithMessageIdsIsChargedItsCallsOnce() {
        assertEquals(RUN, agent("v062-run-stream"), kind() + ": AgentChat 0.6.2+ run_stream (message ids)");
    }

    // ------------------------------------------------------------------ Workers AI: the model in the path

    static final long PROMPT = 40;
    static final long COMPLETION = 60;
    static final String CHAT = "{\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}],"
            + "\"max_tokens\":1000}";

    /** Workers AI's answer in Cloudflare's API envelope (round 410's shape), as its REST API and AI Gateway pass it. */
    class WorkersAi extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write("{\"result\":{\"response\":\"Paris.\",\"tool_calls\":[],"
                    + "\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + COMPLETION
                    + ",\"total_tokens\":" + (PROMPT + COMPLETION) + "}},"
                    + "\"success\":true,\"errors\":[],\"messages\":[]}");
        }
    }

    void assertUsed(String path, String body, long expected, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, calls.of(s), figures(s, r, a));
        assertEquals(expected, a.used(), kind() + ": " + what + ": " + figures(s, r, a));
    }

    /**
     * Found and fixed: the Workers AI call of round 410 through Cloudflare AI Gateway,
     * {@code /v1/{account_id}/{gateway_id}/workers-ai/@cf/meta/llama-3.1-70b-instruct}: 40 + 60 tokens of the 70B
     * model (row at 8), 800 units; the path is not read and the default weighs it, 100.
     */
    @Test
    void workersAiThroughAiGatewayPathModelIsWeighed() {
        assertUsed("/ai/cloudflare/v1/a1/my-gateway/workers-ai/@cf/meta/llama-3.1-70b-instruct", CHAT,
                (PROMPT + COMPLETION) * RATE, "AI Gateway's Workers AI path names @cf/meta/llama-3.1-70b-instruct"
                        + " (row llama-3.1-70b* at 8): 40 + 60 tokens, 800 units");
    }

    /** Control: the same call at Workers AI's own {@code /ai/run/} path, its {@code @} escaped and a trailing slash: 800. */
    @Test
    void controlWorkersAiRunPathEscapedIsWeighed() {
        assertUsed("/ai/cloudflare/client/v4/accounts/a1/ai/run/%40cf/meta/llama-3.1-70b-instruct/", CHAT,
                (PROMPT + COMPLETION) * RATE, "/ai/run/%40cf/meta/llama-3.1-70b-instruct/");
    }

    // ------------------------------------------------------------------ Replicate: the model in version

    /**
     * Replicate with {@code "stream": true}: the prediction's server-sent events (40 {@code output} events, then
     * {@code done}; replicate.com/docs/topics/predictions/streaming, round 410's shape): no model, no counts.
     */
    class Replicate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            java.io.PrintWriter w = resp.getWriter();
            for (int i = 0; i < 40; i++) {
                w.write("event: output\nid: " + i + "\ndata: Once upon a time, there was a long story.\n\n");
            }
            w.write("event: done\ndata: {}\n\n");
            w.flush();
        }
    }

    static final String STORY_INPUT = "\"stream\":true,\"input\":{\"prompt\":\"Write a very long story.\",\"max_tokens\":1000}";

    /** What {@code body} at {@code path} under {@code /ai/plain/} (one unit a token) costs. */
    long plain(String path, String body) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/plain" + path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    /**
     * Found and fixed: {@code POST /v1/predictions} with {@code "version": "meta/meta-llama-3-70b-instruct"} (Replicate's
     * official-model form), streamed: 8 times its one-unit cost (row meta-llama-3-70b* at 8); charged the default's 1.
     */
    @Test
    void replicatePredictionsVersionModelIsWeighed() {
        String body = "{\"version\":\"meta/meta-llama-3-70b-instruct\"," + STORY_INPUT + "}";
        long tokens = plain("/v1/predictions", body);
        assertUsed("/ai/replicate/v1/predictions", body, tokens * RATE, "POST /v1/predictions version"
                + " meta/meta-llama-3-70b-instruct, streamed: " + tokens + " tokens at 8");
    }

    /** Control: the same stream at {@code /v1/models/meta/meta-llama-3-70b-instruct/predictions}: 8 times. */
    @Test
    void controlReplicateModelsPathIsWeighed() {
        String body = "{" + STORY_INPUT + "}";
        String path = "/v1/models/meta/meta-llama-3-70b-instruct/predictions";
        long tokens = plain(path, body);
        assertUsed("/ai/replicate" + path, body, tokens * RATE, "the path's meta/meta-llama-3-70b-instruct");
    }
}
