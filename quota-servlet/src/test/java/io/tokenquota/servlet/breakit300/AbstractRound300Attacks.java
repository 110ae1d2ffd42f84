package io.tokenquota.servlet.breakit300;

import static io.tokenquota.servlet.breakit300.AbstractRound300.CONTEXT;
import static io.tokenquota.servlet.breakit300.AbstractRound300.TEXT_PART;
import static io.tokenquota.servlet.breakit300.AbstractRound300.a2aMessage;
import static io.tokenquota.servlet.breakit300.AbstractRound300.artifact;
import static io.tokenquota.servlet.breakit300.AbstractRound300.mcpMessage;
import static io.tokenquota.servlet.breakit300.AbstractRound300.q;
import static io.tokenquota.servlet.breakit300.AbstractRound300.rpc;
import static io.tokenquota.servlet.breakit300.AbstractRound300.subject;
import static io.tokenquota.servlet.breakit300.AbstractRound300.usage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 300, the attacker's side of its fix: how a hostile client could use the releases the filter now makes for
 * MCP's messages that run no model and for A2A's polls of a working task ({@code JsonRpc},
 * {@code PolledCompletion.A2A_TASK}). The client writes the request; each release needs the answer to prove it, so
 * every request below that runs a model, or whose answer proves nothing, is charged. The controls show what is
 * released and what the final read of a polled task is charged.
 */
abstract class AbstractRound300Attacks extends H2FilterRound {
    /** The request's estimate (a short message and the default output budget) is at least this. */
    static final long ESTIMATE_AT_LEAST = 1_000;

    final ModelCalls calls = new ModelCalls();
    /** What the structured-output endpoint's model writes for each subject: the JSON it was asked for. */
    final Map<String, String> modelWrites = new ConcurrentHashMap<>();
    final Agent agent = new Agent();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new ChatApp(), "/ai/chat")
                .servlet("structured", new StructuredOutput(), "/ai/structured")
                .servlet("queue", new QueueApp(), "/ai/queue")
                .servlet("mcp-sse", new McpOverSse(), "/ai/mcp-sse")
                .servlet("agent", agent, "/ai/agent/*")
                .onStartup(filter::registerByServletName);
    }

    static String body(HttpServletRequest req) throws IOException {
        return new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }

    static void json(HttpServletResponse resp, int status, String body) throws IOException {
        resp.setStatus(status);
        resp.setContentType("application/json");
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }

    long used(String subject) {
        return settled(subject).used();
    }

    // ----------------------------------------------------------------------------------------------------
    // The applications a hostile client points its requests at

    static final long CHAT_TOKENS = 4_321;

    /** A chat endpoint: whatever JSON it is sent, it runs the model and answers a chat completion with its usage. */
    class ChatApp extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            body(req);
            calls.count(req.getHeader("x-user-id"));
            json(resp, 200, "{\"id\":\"chatcmpl-300\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"Here is the summary.\"},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":4000,\"completion_tokens\":321,\"total_tokens\":" + CHAT_TOKENS + "}}");
        }
    }

    /**
     * An endpoint that returns its model's structured output as its whole answer (JSON mode): the model writes
     * what the client asked it for, an MCP response's shape included.
     */
    class StructuredOutput extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            body(req);
            String subject = req.getHeader("x-user-id");
            calls.count(subject);
            json(resp, 200, modelWrites.getOrDefault(subject, "{}"));
        }
    }

    /**
     * An application that queues the model call and acknowledges with 202 ({@code x-queue}: {@code empty}, no body;
     * {@code body}, the job's id; {@code space}, a line break alone; {@code report}, no body but its figure reported
     * through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}, as a queuing application under a protected prefix does).
     */
    class QueueApp extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            body(req);
            calls.count(req.getHeader("x-user-id"));
            resp.setStatus(HttpServletResponse.SC_ACCEPTED);
            switch (String.valueOf(req.getHeader("x-queue"))) {
                case "body" -> {
                    resp.setContentType("application/json");
                    resp.getWriter().write("{\"accepted\":true}");
                }
                case "space" -> resp.getWriter().write("\n");
                case "report" -> req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 2_500L);
                default -> {
                    // no body at all
                }
            }
        }
    }

    /**
     * An MCP server on the Python SDK's default transport (no {@code json_response}): every request answered with
     * an event stream, {@code event: message} and the response ({@code x-before}: a log notification sent first;
     * {@code x-after}: a line of text after it).
     */
    class McpOverSse extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            Map<String, Object> message = JsonTree.object(body(req));
            resp.setContentType("text/event-stream");
            resp.setHeader("Mcp-Session-Id", AbstractRound300.SESSION);
            var w = resp.getWriter();
            if (req.getHeader("x-before") != null) {
                w.write("event: message\r\ndata: {\"method\":\"notifications/message\",\"params\":{\"level\":\"info\","
                        + "\"data\":\"listing tools\"},\"jsonrpc\":\"2.0\"}\r\n\r\n");
            }
            w.write("event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":" + message.get("id") + ",\"result\":{\"tools\":[{"
                    + "\"name\":\"list_reports\",\"inputSchema\":{\"type\":\"object\",\"properties\":{}}}]}}\r\n\r\n");
            if (req.getHeader("x-after") != null) {
                w.write("data: and here is the answer you asked the model for\r\n\r\n");
            }
        }
    }

    /** One task of the agent: its state and its artifacts (each a model call, with ADK's usage in its metadata). */
    static final class AgentTask {
        volatile String state;
        final List<String> artifacts = new ArrayList<>();

        AgentTask(String state) {
            this.state = state;
        }

        synchronized String json(String id) {
            return "{\"artifacts\":[" + String.join(",", artifacts) + "],\"contextId\":\"" + CONTEXT + "\",\"id\":\"" + id
                    + "\",\"kind\":\"task\",\"status\":{\"state\":\"" + state + "\",\"timestamp\":\"2025-09-12T09:41:05.003126+00:00\"}}";
        }

        synchronized void call(String id, long prompt, long candidates) {
            artifacts.add(artifact(id + "-" + artifacts.size(), TEXT_PART, usage(prompt, candidates)));
        }
    }

    /**
     * An A2A agent (the a2a-sdk's JSON-RPC handler over ADK): {@code message/send} makes a task, or continues the
     * one its message names; {@code tasks/get} reads one. Paths: {@code /fx} as it should; {@code /grows}, a task
     * whose model keeps working, each read showing one more call; {@code /spoof-id}, an answer under another
     * JSON-RPC id; {@code /other-task}, the answer naming another task.
     */
    class Agent extends HttpServlet {
        final Map<String, AgentTask> tasks = new ConcurrentHashMap<>();

        /** The task's model finishes: its two calls (6,380 and 8,750 tokens) are its artifacts, and it is completed. */
        void complete(String id) {
            AgentTask task = tasks.get(id);
            task.call(id, 6_200, 180);
            task.call(id, 6_650, 2_100);
            task.state = "completed";
        }

        @Override
        @SuppressWarnings("unchecked")
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            Map<String, Object> message = JsonTree.object(body(req));
            String rpcId = q((String) message.get("id"));
            Map<String, Object> params = (Map<String, Object>) message.get("params");
            String how = req.getPathInfo();
            String subject = req.getHeader("x-user-id");
            switch ((String) message.get("method")) {
                case "message/send" -> {
                    calls.count(subject);
                    Map<String, Object> sent = (Map<String, Object>) params.get("message");
                    Map<String, Object> configuration = (Map<String, Object>) params.get("configuration");
                    boolean blocking = configuration == null || !Boolean.FALSE.equals(configuration.get("blocking"));
                    String id = (String) sent.get("taskId");
                    AgentTask task;
                    if (id == null) {
                        id = UUID.randomUUID().toString();
                        task = new AgentTask("submitted");
                        tasks.put(id, task);
                    } else {
                        task = tasks.get(id);
                        task.state = "working";
                    }
                    if (blocking) {
                        complete(id);
                    }
                    json(resp, 200, rpc(rpcId, task.json(id)));
                }
                case "message/stream" -> {
                    // one model call a turn, streamed as the a2a-sdk does: the task (when new), the call's artifact, the
                    // status it ends the turn in (waiting for the user's next message, or done)
                    calls.count(subject);
                    Map<String, Object> sent = (Map<String, Object>) params.get("message");
                    String id = (String) sent.get("taskId");
                    resp.setContentType("text/event-stream");
                    var w = resp.getWriter();
                    AgentTask task;
                    if (id == null) {
                        id = UUID.randomUUID().toString();
                        task = new AgentTask("submitted");
                        tasks.put(id, task);
                        w.write("data: " + rpc(rpcId, task.json(id)) + "\r\n\r\n");
                    } else {
                        task = tasks.get(id);
                    }
                    task.call(id, 3_000, 300);
                    String last;
                    synchronized (task) {
                        last = task.artifacts.get(task.artifacts.size() - 1);
                    }
                    w.write("data: " + rpc(rpcId, "{\"append\":false,\"artifact\":" + last + ",\"contextId\":\"" + CONTEXT
                            + "\",\"kind\":\"artifact-update\",\"lastChunk\":true,\"taskId\":\"" + id + "\"}") + "\r\n\r\n");
                    task.state = req.getHeader("x-ask") != null ? "input-required" : "completed";
                    w.write("data: " + rpc(rpcId, "{\"contextId\":\"" + CONTEXT + "\",\"final\":true,\"kind\":\"status-update\","
                            + "\"status\":{\"state\":\"" + task.state + "\"},\"taskId\":\"" + id + "\"}") + "\r\n\r\n");
                }
                case "tasks/get" -> {
                    String id = (String) params.get("id");
                    AgentTask task = tasks.get(id);
                    if ("/grows".equals(how) && !"completed".equals(task.state)) {
                        // the agent's model is still at work: one more call done since the last read
                        calls.count(subject);
                        task.call(id, 2_000, 100);
                        task.state = "working";
                    }
                    String answerId = "/spoof-id".equals(how) ? q("a2a-" + UUID.randomUUID()) : rpcId;
                    String shown = "/other-task".equals(how) ? UUID.randomUUID().toString() : id;
                    json(resp, 200, rpc(answerId, task.json(shown)));
                }
                default -> json(resp, 200, "{\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":" + rpcId
                        + ",\"jsonrpc\":\"2.0\"}");
            }
        }
    }

    // ----------------------------------------------------------------------------------------------------
    // MCP

    HttpResponse<String> post(String path, String subject, String body, String... headers) {
        String[] all = new String[headers.length + 2];
        all[0] = "Accept";
        all[1] = "application/json, text/event-stream";
        System.arraycopy(headers, 0, all, 2, headers.length);
        return TestHttp.postJson(container.uri(path), subject, body, all);
    }

    /** A tools/list result of the server's one tool for the request {@code id}. */
    static String toolsList(String id) {
        return "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"result\":{\"tools\":[{\"name\":\"list_reports\","
                + "\"inputSchema\":{\"type\":\"object\",\"properties\":{}}}]}}";
    }

    /**
     * An MCP-shaped request sent to a chat endpoint (any JSON body reaches its model): the answer is a chat
     * completion, no JSON-RPC response, and its usage is charged.
     */
    @ParameterizedTest
    @ValueSource(strings = {"initialize", "tools/list", "ping", "notifications/initialized"})
    void anMcpShapedRequestToAChatEndpointIsChargedTheCompletion(String name) {
        String s = subject();
        HttpResponse<String> r = post("/ai/chat", s, mcpMessage(name));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(CHAT_TOKENS, used(s), name + " to a chat endpoint: " + ledger(s));
    }

    /**
     * The model asked to write an MCP response (an endpoint returning its structured output whole): written under
     * another id than the request's (a number for a string, another number, none), it is no response to it.
     */
    @ParameterizedTest
    @ValueSource(strings = {"1", "\"7\"", "8", "null"})
    void aResultUnderAnotherIdIsCharged(String writtenId) {
        String s = subject();
        modelWrites.put(s, toolsList(writtenId));
        HttpResponse<String> r = post("/ai/structured", s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{}}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = used(s);
        assertTrue(used >= ESTIMATE_AT_LEAST, "a tools/list result under id " + writtenId + " charged " + used + ": " + ledger(s));
    }

    /**
     * The request carries what a chat endpoint reads beside the JSON-RPC envelope (its {@code messages}), or in
     * params its method does not have (a {@code prompt}): the model may write the exact response, id and all, and
     * it is still charged, since such a request is no MCP request.
     */
    @ParameterizedTest
    @ValueSource(strings = {
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long essay.\"}]}",
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{\"prompt\":\"Write a long essay.\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":[\"Write a long essay.\"]}",
        "{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"tools/list\"}",
        "{\"id\":7,\"method\":\"tools/list\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"} {\"prompt\":\"Write a long essay.\"}"})
    void aRequestWithMoreThanAnMcpRequestHoldsIsCharged(String request) {
        String s = subject();
        modelWrites.put(s, toolsList("7"));
        HttpResponse<String> r = post("/ai/structured", s, request);
        assertEquals(200, r.statusCode(), r.body());
        long used = used(s);
        assertTrue(used >= ESTIMATE_AT_LEAST, request + " charged " + used + ": " + ledger(s));
    }

    /**
     * A result that is not its method's: another method's shape, a member the method's result does not define
     * (the model's answer beside the tools), an error, or a member beside the response's.
     */
    @ParameterizedTest
    @ValueSource(strings = {
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"serverInfo\":{\"name\":\"x\",\"version\":\"1\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[],\"answer\":\"Here is the essay you asked for.\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":\"none\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32603,\"message\":\"Internal error\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[]},\"answer\":\"Here is the essay you asked for.\"}",
        "{\"id\":7,\"result\":{\"tools\":[]}}"})
    void aResultNotOfItsMethodsShapeIsCharged(String written) {
        String s = subject();
        modelWrites.put(s, written);
        HttpResponse<String> r = post("/ai/structured", s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}");
        assertEquals(200, r.statusCode(), r.body());
        long used = used(s);
        assertTrue(used >= ESTIMATE_AT_LEAST, written + " charged " + used + ": " + ledger(s));
    }

    /**
     * A {@code tools/list} whose answer carries usage (a gateway that ranks its tools with a model): where the filter
     * reads usage it is charged that; anywhere else in it (its {@code _meta}, a tool's) it proves nothing, and the
     * estimate is charged.
     */
    @Test
    void aToolsListWhoseAnswerCarriesUsageIsCharged() {
        String s = subject();
        modelWrites.put(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[]},\"usage\":{\"prompt_tokens\":3000,"
                + "\"completion_tokens\":200,\"total_tokens\":3200}}");
        post("/ai/structured", s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}");
        assertEquals(3_200, used(s), ledger(s));

        String t = subject();
        modelWrites.put(t, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[],\"_meta\":{\"usage\":{\"input_tokens\":3000,"
                + "\"output_tokens\":200}}}}");
        post("/ai/structured", t, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}");
        long used = used(t);
        assertTrue(used >= ESTIMATE_AT_LEAST, "usage in _meta charged " + used + ": " + ledger(t));

        String u = subject();
        modelWrites.put(u, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[{\"name\":\"rank\",\"inputSchema\":{\"type\":"
                + "\"object\"},\"annotations\":{\"usage_metadata\":{\"total_token_count\":3200}}}]}}");
        post("/ai/structured", u, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}");
        used = used(u);
        assertTrue(used >= ESTIMATE_AT_LEAST, "usage in a tool charged " + used + ": " + ledger(u));
    }

    /**
     * A JSON-RPC batch (MCP 2025-03-26 allowed them; 2025-06-18 removed them): no request of its own is proven by an
     * array of responses, whatever they hold.
     */
    @Test
    void aJsonRpcBatchIsCharged() {
        String s = subject();
        modelWrites.put(s, "[" + toolsList("1") + ",{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}]");
        HttpResponse<String> r = post("/ai/structured", s, "[" + mcpMessage("tools/list") + "," + mcpMessage("ping") + "]");
        assertEquals(200, r.statusCode(), r.body());
        long used = used(s);
        assertTrue(used >= ESTIMATE_AT_LEAST, "a batch charged " + used + ": " + ledger(s));
    }

    /**
     * A notification acknowledged with 202 and a body (a queue's job id, or a line break alone): MCP's
     * acknowledgement has none, so the body proves nothing and the model call queued is charged.
     */
    @ParameterizedTest
    @ValueSource(strings = {"body", "space"})
    void aNotificationAnswered202WithABodyIsCharged(String how) {
        String s = subject();
        HttpResponse<String> r = post("/ai/queue", s, mcpMessage("notifications/initialized"), "x-queue", how);
        assertEquals(202, r.statusCode(), r.body());
        long used = used(s);
        assertTrue(used >= ESTIMATE_AT_LEAST, "202 with a body (" + how + ") charged " + used + ": " + ledger(s));
    }

    /**
     * A 202 with no body to anything but MCP's notification or a response: a request (it names an id: answered,
     * never only acknowledged), a notification of another method than MCP's {@code notifications/…}, a body that
     * is no JSON-RPC message. Each is an application's queued call.
     */
    @ParameterizedTest
    @ValueSource(strings = {
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"summarize_report\",\"arguments\":{}}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"summarize\",\"params\":{\"text\":\"Summarize the quarterly report.\"}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\",\"prompt\":\"Summarize the quarterly report.\"}",
        "{\"prompt\":\"Summarize the quarterly report.\"}"})
    void a202WithoutBodyToAnythingButAnAcknowledgementIsCharged(String request) {
        String s = subject();
        HttpResponse<String> r = post("/ai/queue", s, request, "x-queue", "empty");
        assertEquals(202, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = used(s);
        assertTrue(used >= ESTIMATE_AT_LEAST, request + " queued and acknowledged charged " + used + ": " + ledger(s));
    }

    /** A queuing application that answers MCP's notifications so reports its figure: it is charged that. */
    @Test
    void aQueuingApplicationReportsItsFigure() {
        String s = subject();
        HttpResponse<String> r = post("/ai/queue", s, mcpMessage("notifications/initialized"), "x-queue", "report");
        assertEquals(202, r.statusCode(), r.body());
        assertEquals(2_500, used(s), ledger(s));
    }

    /** Control: the Python SDK's default answer, the result as its one event, is released, as its JSON body is. */
    @Test
    void anMcpResultSentAsItsOneEventIsReleased() {
        String s = subject();
        HttpResponse<String> r = post("/ai/mcp-sse", s, mcpMessage("tools/list"));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("list_reports"), r.body());
        assertEquals(0, used(s), ledger(s));
    }

    /** An event stream with more than the result (a notification before it, text after it) proves nothing. */
    @ParameterizedTest
    @ValueSource(strings = {"x-before", "x-after"})
    void anEventStreamWithMoreThanTheResultIsCharged(String more) {
        String s = subject();
        HttpResponse<String> r = post("/ai/mcp-sse", s, mcpMessage("tools/list"), more, "1");
        assertEquals(200, r.statusCode(), r.body());
        long used = used(s);
        assertTrue(used >= ESTIMATE_AT_LEAST, more + ": charged " + used + ": " + ledger(s));
    }

    // ----------------------------------------------------------------------------------------------------
    // A2A

    static final long TASK_CALLS = AbstractRound300.CALL1 + AbstractRound300.CALL2;

    HttpResponse<String> a2a(String path, String subject, String body) {
        return TestHttp.postJson(container.uri("/ai/agent" + path), subject, body);
    }

    static String tasksGet(String taskId) {
        return "{\"id\":\"" + UUID.randomUUID() + "\",\"jsonrpc\":\"2.0\",\"method\":\"tasks/get\",\"params\":{\"id\":\""
                + taskId + "\",\"historyLength\":0}}";
    }

    /** A message to the task {@code taskId}, not blocking (the agent answers the task while it works). */
    static String messageTo(String taskId) {
        return "{\"id\":\"" + UUID.randomUUID() + "\",\"jsonrpc\":\"2.0\",\"method\":\"message/send\",\"params\":{"
                + "\"configuration\":{\"acceptedOutputModes\":[\"text/plain\"],\"blocking\":false},\"message\":{\"kind\":\"message\","
                + "\"messageId\":\"" + UUID.randomUUID() + "\",\"parts\":[{\"kind\":\"text\",\"text\":\"And in JPY?\"}],"
                + "\"role\":\"user\",\"taskId\":\"" + taskId + "\"}}}";
    }

    /** Sends a message that makes a task, not blocking: the task's id. */
    String started(String path, String subject) {
        HttpResponse<String> r = a2a(path, subject, a2aMessage("message/send", "{\"acceptedOutputModes\":[\"text/plain\"],\"blocking\":false}"));
        assertEquals(200, r.statusCode(), r.body());
        Matcher m = Pattern.compile("\"id\":\"([0-9a-f-]{36})\",\"kind\":\"task\"").matcher(r.body());
        assertTrue(m.find(), r.body());
        return m.group(1);
    }

    /**
     * Control: a task made, polled while it works (released), then read finished: the read is charged what its
     * calls used beyond the creation's estimate, so the task costs its usage in all; a read after that, nothing.
     */
    @Test
    void aPolledTasksFinalReadIsChargedItsUsageBeyondItsCreation() {
        String s = subject();
        String task = started("/fx", s);
        long afterSend = used(s);
        assertTrue(afterSend >= ESTIMATE_AT_LEAST, ledger(s));
        a2a("/fx", s, tasksGet(task));
        assertEquals(afterSend, used(s), ledger(s));
        agent.complete(task);
        HttpResponse<String> done = a2a("/fx", s, tasksGet(task));
        assertTrue(done.body().contains("\"state\":\"completed\""), done.body());
        assertEquals(TASK_CALLS, used(s), "the task's calls of " + TASK_CALLS + ": " + ledger(s));
        a2a("/fx", s, tasksGet(task));
        assertEquals(TASK_CALLS, used(s), "read again: " + ledger(s));
    }

    /** Control: a task a blocking send answered finished (charged its calls) read back is not charged again. */
    @Test
    void aFinishedTaskReadBackIsNotChargedAgain() {
        String s = subject();
        HttpResponse<String> r = a2a("/fx", s, a2aMessage("message/send", "{\"acceptedOutputModes\":[],\"blocking\":true}"));
        Matcher m = Pattern.compile("\"id\":\"([0-9a-f-]{36})\",\"kind\":\"task\"").matcher(r.body());
        assertTrue(m.find(), r.body());
        assertEquals(TASK_CALLS, used(s), ledger(s));
        a2a("/fx", s, tasksGet(m.group(1)));
        assertEquals(TASK_CALLS, used(s), ledger(s));
    }

    /**
     * A {@code tasks/get} of a task another subject made (its id leaked, or guessed from a shared context): the
     * other subject's creation paid nothing of this one's, so the read is charged as any answer: its estimate
     * while the task works, the task's calls once it finished.
     */
    @Test
    void aTasksGetForATaskAnotherSubjectMadeIsCharged() {
        String owner = subject();
        String task = started("/fx", owner);
        String other = subject();
        a2a("/fx", other, tasksGet(task));
        long used = used(other);
        assertTrue(used >= ESTIMATE_AT_LEAST, "another subject's working task read for " + used + ": " + ledger(other));
        agent.complete(task);
        String third = subject();
        a2a("/fx", third, tasksGet(task));
        assertEquals(TASK_CALLS, used(third), "another subject's finished task: " + ledger(third));
    }

    /**
     * A {@code tasks/get} naming the subject's own task whose answer does not show it: sent to a chat endpoint (a
     * completion), answered under another JSON-RPC id, or naming another task. No read is proven; each is charged.
     */
    @Test
    void aTasksGetWhoseAnswerIsNotThatTasksIsCharged() {
        String s = subject();
        String task = started("/fx", s);
        long afterSend = used(s);
        TestHttp.postJson(container.uri("/ai/chat"), s, tasksGet(task));
        assertEquals(afterSend + CHAT_TOKENS, used(s), "a tasks/get to a chat endpoint: " + ledger(s));
        long before = used(s);
        a2a("/spoof-id", s, tasksGet(task));
        assertTrue(used(s) - before >= ESTIMATE_AT_LEAST, "answered under another id: " + ledger(s));
        before = used(s);
        a2a("/other-task", s, tasksGet(task));
        assertTrue(used(s) - before >= ESTIMATE_AT_LEAST, "answered with another task: " + ledger(s));
    }

    /**
     * Control: a task whose two turns were streamed (the first ending {@code input-required}, the second naming the
     * task) is charged each turn's call as it streams; read back whole afterwards, both calls shown, it is charged
     * nothing more.
     */
    @Test
    void aTaskWhoseTurnsWereStreamedIsReadBackForNothingMore() {
        String s = subject();
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/agent/fx"), s, a2aMessage("message/stream", null),
                "Accept", "text/event-stream", "x-ask", "1");
        Matcher m = Pattern.compile("\"id\":\"([0-9a-f-]{36})\",\"kind\":\"task\"").matcher(first.body());
        assertTrue(m.find(), first.body());
        String task = m.group(1);
        assertEquals(3_300, used(s), ledger(s));
        TestHttp.postJson(container.uri("/ai/agent/fx"), s, messageTo(task).replace("message/send", "message/stream"),
                "Accept", "text/event-stream");
        assertEquals(6_600, used(s), ledger(s));
        HttpResponse<String> read = a2a("/fx", s, tasksGet(task));
        assertTrue(read.body().contains("\"state\":\"completed\""), read.body());
        assertEquals(6_600, used(s), "the task read back after its streamed turns: " + ledger(s));
    }

    /**
     * A task polled forever while its agent's model keeps working (each read shows one more call, the task still
     * {@code working}): each poll is charged the calls it shows beyond what the task was charged, so however long
     * it is polled the task costs what its calls used.
     */
    @Test
    void aTaskPolledForeverIsChargedEveryCallItsPollsShow() {
        String s = subject();
        String task = started("/grows", s);
        long afterSend = used(s);
        long previous = afterSend;
        for (int i = 1; i <= 5; i++) {
            HttpResponse<String> poll = a2a("/grows", s, tasksGet(task));
            assertTrue(poll.body().contains("\"state\":\"working\""), poll.body());
            long now = used(s);
            assertTrue(now > previous || i * 2_100L <= afterSend, "poll " + i + " showing a new call charged nothing: " + ledger(s));
            previous = now;
        }
        assertEquals(6, calls.of(s));
        assertEquals(5 * 2_100L, used(s), "five calls of 2,100 shown by five polls: " + ledger(s));
    }

    /**
     * Messages to a working task (each runs the agent's model; the answer, the task while it works, shows no new
     * usage) are each charged at least the estimate, and the task's final read only what its calls used beyond.
     */
    @Test
    void messagesToATaskAreEachChargedAndTheFinalReadOnlyTheRest() {
        String s = subject();
        String task = started("/fx", s);
        long previous = used(s);
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> r = a2a("/fx", s, messageTo(task));
            assertTrue(r.body().contains("\"state\":\"working\""), r.body());
            long now = used(s);
            assertTrue(now - previous >= ESTIMATE_AT_LEAST, "message " + i + " to the task: " + ledger(s));
            previous = now;
        }
        assertEquals(4, calls.of(s));
        agent.complete(task);
        a2a("/fx", s, tasksGet(task));
        assertEquals(Math.max(TASK_CALLS, previous), used(s), "the task's calls of " + TASK_CALLS + " after " + previous
                + " charged: " + ledger(s));
    }
}
