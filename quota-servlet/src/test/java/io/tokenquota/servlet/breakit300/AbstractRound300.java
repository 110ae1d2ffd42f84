package io.tokenquota.servlet.breakit300;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 300 of issue 11: protocols layered over HTTP that carry model calls through a protected path.
 *
 * <ul>
 *   <li><b>MCP's Streamable HTTP transport</b> (modelcontextprotocol.io, specification 2025-06-18,
 *       "Transports", "Streamable HTTP"; the official Python SDK's {@code StreamableHTTPSessionManager}
 *       and TypeScript SDK's {@code StreamableHTTPServerTransport} answer so): every client message is a
 *       {@code POST} of one JSON-RPC message to the one MCP endpoint; a request is answered
 *       {@code application/json} or {@code text/event-stream}; "If the input is a JSON-RPC response or
 *       notification: if the server accepts the input, the server MUST return HTTP status code 202
 *       Accepted with no body". A session opens with {@code initialize}, the notification
 *       {@code notifications/initialized} and {@code tools/list} (what every MCP client sends on
 *       connecting: Claude Desktop through {@code mcp-remote}, the MCP Inspector, Codex's {@code rmcp});
 *       {@code ping} keeps it alive; a tool's answer may stream {@code notifications/progress} first.</li>
 *   <li><b>Google's A2A protocol</b> (a2a-protocol.org, specification 0.3, JSON-RPC binding:
 *       {@code message/send}, {@code message/stream}, {@code tasks/get}; the {@code a2a-sdk} Python
 *       server's {@code DefaultRequestHandler}), served by a Google ADK agent
 *       ({@code google.adk.a2a}: {@code A2aAgentExecutor}). ADK copies each model response's
 *       {@code usage_metadata} into the A2A event it sends for it, under the key
 *       {@code adk_usage_metadata} ({@code _get_adk_metadata_key("usage_metadata")},
 *       {@code model_dump(exclude_none=True, by_alias=True)}: Gemini's camelCase counts): ADK 1.x's
 *       {@code a2a/converters/event_converter.py} ({@code _get_context_metadata}) in the
 *       {@code TaskStatusUpdateEvent}'s {@code metadata}; the current
 *       {@code a2a/converters/from_adk_event.py} ({@code _add_event_metadata}) in the
 *       {@code TaskArtifactUpdateEvent}'s {@code artifact.metadata}, which the SDK's task manager keeps in
 *       the {@code Task}'s {@code artifacts} that a blocking {@code message/send} answers.</li>
 * </ul>
 *
 * The same two model calls of an ADK currency agent (a function call, 6,200 + 180 tokens; the answer after
 * the tool's result, 6,650 + 2,100 tokens: 15,130 in all) are served through ADK's own API server as the
 * control ({@code POST /run}: a JSON list of ADK events with their top-level {@code usageMetadata}).
 */
abstract class AbstractRound300 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** {@code tasks/get} reads per A2A task id. */
    final Map<String, AtomicInteger> reads = new ConcurrentHashMap<>();

    static String subject() {
        return "u300-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("mcp", new McpServer(), "/ai/mcp")
                .servlet("a2a", new A2aServer(), "/ai/a2a/*")
                .servlet("adk", new AdkApiServer(), "/ai/adk/*")
                .onStartup(filter::registerByServletName);
    }

    static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    /** A JSON-RPC message's {@code method}, or null (a response). */
    static String method(Map<String, Object> message) {
        return (String) message.get("method");
    }

    /** A JSON-RPC message's {@code id} as JSON, or null (a notification). */
    static String id(Map<String, Object> message) {
        Object id = message.get("id");
        return id == null ? null : id instanceof String t ? q(t) : id.toString();
    }

    // ----------------------------------------------------------------------------------------------------
    // MCP

    static final String SESSION = "1868a90c4b5c4b1f9d3f1d0f6a8c7e21";
    static final String SUMMARY = Prose.english(6_000);

    /**
     * An MCP server on the Streamable HTTP transport (the Python SDK's shapes, {@code json_response} for
     * the plain requests, an SSE stream from sse-starlette for a tool's call: {@code event: message},
     * CRLF): its tool {@code summarize_report} calls the application's model; nothing else does.
     */
    class McpServer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            Map<String, Object> message = JsonTree.object(body);
            String method = method(message);
            String id = id(message);
            if (method == null || id == null) {
                // a JSON-RPC notification or response: 202, no body (spec 2025-06-18, Streamable HTTP, 2.1.4)
                resp.setStatus(HttpServletResponse.SC_ACCEPTED);
                return;
            }
            resp.setHeader("Mcp-Session-Id", SESSION);
            switch (method) {
                case "initialize" -> json(resp, "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"result\":{"
                        + "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"experimental\":{},\"logging\":{},"
                        + "\"prompts\":{\"listChanged\":false},\"resources\":{\"subscribe\":false,\"listChanged\":false},"
                        + "\"tools\":{\"listChanged\":false}},\"serverInfo\":{\"name\":\"report-tools\",\"version\":\"1.9.4\"},"
                        + "\"instructions\":\"Tools for reading and summarizing the company's quarterly reports.\"}}");
                case "tools/list" -> json(resp, "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"result\":{\"tools\":[{"
                        + "\"name\":\"summarize_report\",\"description\":\"Summarize a quarterly report with the company's model.\","
                        + "\"inputSchema\":{\"properties\":{\"report_id\":{\"title\":\"Report Id\",\"type\":\"string\"},"
                        + "\"style\":{\"default\":\"executive\",\"title\":\"Style\",\"type\":\"string\"}},"
                        + "\"required\":[\"report_id\"],\"title\":\"summarize_reportArguments\",\"type\":\"object\"},"
                        + "\"outputSchema\":{\"properties\":{\"result\":{\"title\":\"Result\",\"type\":\"string\"}},"
                        + "\"required\":[\"result\"],\"title\":\"summarize_reportOutput\",\"type\":\"object\"}},"
                        + "{\"name\":\"list_reports\",\"description\":\"List the quarterly reports on file.\","
                        + "\"inputSchema\":{\"properties\":{},\"title\":\"list_reportsArguments\",\"type\":\"object\"}}]}}");
                case "ping" -> json(resp, "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"result\":{}}");
                case "tools/call" -> {
                    calls.count(req.getHeader("x-user-id"));
                    resp.setContentType("text/event-stream");
                    resp.setHeader("Cache-Control", "no-cache, no-transform");
                    PrintWriter w = resp.getWriter();
                    w.write("event: message\r\ndata: {\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"p-3\","
                            + "\"progress\":1.0,\"total\":2.0,\"message\":\"Reading report q3-2025\"},\"jsonrpc\":\"2.0\"}\r\n\r\n");
                    w.flush();
                    w.write("event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"result\":{\"content\":[{\"type\":\"text\","
                            + "\"text\":" + q(SUMMARY) + "}],\"structuredContent\":{\"result\":" + q(SUMMARY) + "},\"isError\":false}}\r\n\r\n");
                    w.flush();
                }
                default -> json(resp, "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}");
            }
        }
    }

    static void json(HttpServletResponse resp, String body) throws IOException {
        resp.setContentType("application/json");
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }

    HttpResponse<String> mcp(String subject, String message) {
        return TestHttp.postJson(container.uri("/ai/mcp"), subject, message,
                "Accept", "application/json, text/event-stream", "Mcp-Protocol-Version", "2025-06-18",
                "Mcp-Session-Id", SESSION);
    }

    /** What an MCP client sends, by name: the session's opening messages and its keep-alive. */
    static String mcpMessage(String name) {
        return switch (name) {
            case "initialize" -> "{\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{"
                    + "\"sampling\":{},\"elicitation\":{},\"roots\":{\"listChanged\":true}},\"clientInfo\":{\"name\":\"mcp-remote\","
                    + "\"version\":\"0.1.29\"}},\"jsonrpc\":\"2.0\",\"id\":0}";
            case "notifications/initialized" -> "{\"method\":\"notifications/initialized\",\"jsonrpc\":\"2.0\"}";
            case "tools/list" -> "{\"method\":\"tools/list\",\"params\":{},\"jsonrpc\":\"2.0\",\"id\":1}";
            case "ping" -> "{\"method\":\"ping\",\"jsonrpc\":\"2.0\",\"id\":2}";
            case "notifications/cancelled" -> "{\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":3,"
                    + "\"reason\":\"The user cancelled the request.\"},\"jsonrpc\":\"2.0\"}";
            default -> throw new IllegalArgumentException(name);
        };
    }

    /**
     * The attack on the user's side: an MCP client connects to a server whose tools are metered (the
     * server's path under a protected prefix, so that {@code tools/call} is held). The messages that open
     * and keep the session run no model: the server answers {@code initialize}, {@code tools/list} and
     * {@code ping} from its own description, and a notification with 202 and no body (the spec requires
     * it). Each must cost nothing; a client pays for every (re)connection otherwise (mcp-remote and the
     * Inspector reconnect per session, Claude Desktop per launch).
     */
    @ParameterizedTest
    @ValueSource(strings = {"initialize", "notifications/initialized", "tools/list", "ping", "notifications/cancelled"})
    void anMcpSessionMessageThatRunsNoModelCostsNothing(String name) {
        String s = subject();
        HttpResponse<String> r = mcp(s, mcpMessage(name));
        assertEquals(name.startsWith("notifications/") ? 202 : 200, r.statusCode(), r.body());
        assertEquals(0, calls.of(s));
        long used = settled(s).used();
        assertEquals(0, used, name + " (no model ran) charged " + used + ": " + ledger(s));
    }

    /**
     * Sampling (spec 2025-06-18, "Client Features", "Sampling"): a server's tool asks the client's model
     * ({@code sampling/createMessage}, sent on the tool call's SSE stream); the client runs its own model
     * and POSTs the JSON-RPC response, which the server acknowledges with 202 and no body. The server ran
     * no model for it (the client's model was paid by the client, with its own key); the ledger must not
     * charge the response's text as a call. The shape is the spec's {@code CreateMessageResult}.
     */
    @Test
    void anMcpSamplingResultPostedBackCostsNothing() {
        String s = subject();
        String answer = Prose.english(4_000);
        HttpResponse<String> r = mcp(s, "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"role\":\"assistant\",\"content\":{"
                + "\"type\":\"text\",\"text\":" + q(answer) + "},\"model\":\"claude-sonnet-4-20250514\",\"stopReason\":\"endTurn\"}}");
        assertEquals(202, r.statusCode(), r.body());
        assertEquals(0, calls.of(s));
        long used = settled(s).used();
        assertEquals(0, used, "a sampling result acknowledged 202 (no model of the server ran) charged " + used + ": " + ledger(s));
    }

    /**
     * Control: {@code tools/call} of a tool that calls the model, its progress notification and result
     * streamed (no usage: MCP's {@code CallToolResult} has no field for it) is charged its estimate (rule 7).
     */
    @Test
    void anMcpToolCallThatRanTheModelIsChargedItsEstimate() {
        String s = subject();
        HttpResponse<String> r = mcp(s, "{\"method\":\"tools/call\",\"params\":{\"name\":\"summarize_report\",\"arguments\":{"
                + "\"report_id\":\"q3-2025\",\"style\":\"executive\"},\"_meta\":{\"progressToken\":\"p-3\"}},\"jsonrpc\":\"2.0\",\"id\":3}");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"isError\":false"), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 1_000, "a tool call that ran the model charged " + used + ": " + ledger(s));
    }

    // ----------------------------------------------------------------------------------------------------
    // A2A, served by a Google ADK agent

    /** Call 1: the model's function call (6,200 + 180); call 2: its answer after the tool's result (6,650 + 2,100). */
    static final long CALL1 = 6_380;
    static final long CALL2 = 8_750;
    static final String ANSWER = Prose.english(8_000);

    static String usage(long prompt, long candidates) {
        return "{\"candidatesTokenCount\":" + candidates + ",\"promptTokenCount\":" + prompt
                + ",\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":" + prompt + "}],\"totalTokenCount\":"
                + (prompt + candidates) + "}";
    }

    static final String FUNCTION_CALL = "{\"kind\":\"data\",\"data\":{\"id\":\"adk-3b0f6e2a-4c1d-4e7b-9a51-0d2c8f7e6a19\","
            + "\"args\":{\"currency_from\":\"USD\",\"currency_to\":\"EUR\",\"currency_date\":\"latest\"},"
            + "\"name\":\"get_exchange_rate\"},\"metadata\":{\"adk_type\":\"function_call\"}}";
    static final String FUNCTION_RESPONSE = "{\"kind\":\"data\",\"data\":{\"id\":\"adk-3b0f6e2a-4c1d-4e7b-9a51-0d2c8f7e6a19\","
            + "\"name\":\"get_exchange_rate\",\"response\":{\"amount\":1.0,\"base\":\"USD\",\"date\":\"2025-09-12\","
            + "\"rates\":{\"EUR\":0.8523}}},\"metadata\":{\"adk_type\":\"function_response\"}}";
    static final String TEXT_PART = "{\"kind\":\"text\",\"text\":" + q(ANSWER) + "}";

    static final String TASK = "8f0d3c52-7b1e-4f3a-a7c4-2e6b9d1f0a37";
    static final String CONTEXT = "ADK$fx_agent$A2A_USER_c1$5e2f7a90-3d41-4c8e-b6a2-9f1e0c7d4b38";

    /** Event metadata as ADK 1.x's {@code _get_context_metadata} writes it. */
    static String contextMetadata(String usage) {
        return "{\"adk_app_name\":\"fx_agent\",\"adk_user_id\":\"A2A_USER_c1\",\"adk_session_id\":\"5e2f7a90-3d41-4c8e-b6a2-9f1e0c7d4b38\","
                + "\"adk_invocation_id\":\"e-51a7c0de-2b9f-4d6e-8a13-7c4f0e9b2d65\",\"adk_author\":\"fx_agent\""
                + (usage == null ? "" : ",\"adk_usage_metadata\":" + usage) + "}";
    }

    /** Artifact metadata as the current {@code _add_event_metadata} writes it. */
    static String artifactMetadata(String eventId, String usage) {
        return "{\"adk_invocation_id\":\"e-51a7c0de-2b9f-4d6e-8a13-7c4f0e9b2d65\",\"adk_author\":\"fx_agent\","
                + "\"adk_event_id\":\"" + eventId + "\"" + (usage == null ? "" : ",\"adk_usage_metadata\":" + usage) + "}";
    }

    static String artifact(String eventId, String part, String usage) {
        return "{\"artifactId\":\"" + UUID.nameUUIDFromBytes(eventId.getBytes(StandardCharsets.UTF_8)) + "\",\"metadata\":"
                + artifactMetadata(eventId, usage) + ",\"parts\":[" + part + "]}";
    }

    static String rpc(String id, String result) {
        return "{\"id\":" + id + ",\"jsonrpc\":\"2.0\",\"result\":" + result + "}";
    }

    static String status(String state, boolean fin) {
        return "{\"contextId\":\"" + CONTEXT + "\",\"final\":" + fin + ",\"kind\":\"status-update\",\"status\":{\"state\":\"" + state
                + "\",\"timestamp\":\"2025-09-12T09:41:07.512309+00:00\"},\"taskId\":\"" + TASK + "\"}";
    }

    /** ADK 1.x: one {@code TaskStatusUpdateEvent} per ADK event, its usage in the event's {@code metadata}. */
    static String statusWithMessage(String part, String usage) {
        return "{\"contextId\":\"" + CONTEXT + "\",\"final\":false,\"kind\":\"status-update\",\"metadata\":" + contextMetadata(usage)
                + ",\"status\":{\"message\":{\"kind\":\"message\",\"messageId\":\"" + UUID.randomUUID() + "\",\"parts\":[" + part
                + "],\"role\":\"agent\"},\"state\":\"working\",\"timestamp\":\"2025-09-12T09:41:05.104417+00:00\"},\"taskId\":\""
                + TASK + "\"}";
    }

    /** The current converter: one {@code TaskArtifactUpdateEvent} per ADK event, its usage in {@code artifact.metadata}. */
    static String artifactUpdate(String eventId, String part, String usage) {
        return "{\"append\":false,\"artifact\":" + artifact(eventId, part, usage) + ",\"contextId\":\"" + CONTEXT
                + "\",\"kind\":\"artifact-update\",\"lastChunk\":true,\"taskId\":\"" + TASK + "\"}";
    }

    static String submittedTask(String taskId) {
        return "{\"contextId\":\"" + CONTEXT + "\",\"history\":[{\"contextId\":\"" + CONTEXT + "\",\"kind\":\"message\","
                + "\"messageId\":\"9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a\",\"parts\":[{\"kind\":\"text\",\"text\":"
                + "\"How much is 100 USD in EUR today?\"}],\"role\":\"user\",\"taskId\":\"" + taskId + "\"}],\"id\":\"" + taskId
                + "\",\"kind\":\"task\",\"status\":{\"state\":\"submitted\",\"timestamp\":\"2025-09-12T09:41:04.877301+00:00\"}}";
    }

    static String workingTask(String taskId) {
        return "{\"contextId\":\"" + CONTEXT + "\",\"id\":\"" + taskId + "\",\"kind\":\"task\",\"status\":{\"state\":\"working\","
                + "\"timestamp\":\"2025-09-12T09:41:05.003126+00:00\"}}";
    }

    /**
     * An A2A agent served by ADK behind the application (an A2A endpoint of its own, or a relay to
     * {@code to_a2a(root_agent)}): {@code /ai/a2a/fx} answers as the current ADK does, {@code /ai/a2a/fx-1x}
     * as ADK 1.x did. Every {@code message/*} runs the agent's two model calls; {@code tasks/get} reads.
     */
    class A2aServer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            Map<String, Object> message = JsonTree.object(body);
            String method = method(message);
            String id = id(message);
            boolean old = req.getPathInfo().endsWith("-1x");
            switch (method) {
                case "message/stream" -> {
                    calls.count(req.getHeader("x-user-id"));
                    resp.setContentType("text/event-stream; charset=utf-8");
                    resp.setHeader("Cache-Control", "no-store");
                    PrintWriter w = resp.getWriter();
                    event(w, rpc(id, "{\"contextId\":\"" + CONTEXT + "\",\"history\":[],\"id\":\"" + TASK
                            + "\",\"kind\":\"task\",\"status\":{\"state\":\"submitted\"}}"));
                    event(w, rpc(id, status("working", false)));
                    if (old) {
                        event(w, rpc(id, statusWithMessage(FUNCTION_CALL, usage(6_200, 180))));
                        event(w, rpc(id, statusWithMessage(FUNCTION_RESPONSE, null)));
                        event(w, rpc(id, statusWithMessage(TEXT_PART, usage(6_650, 2_100))));
                    } else {
                        event(w, rpc(id, artifactUpdate("Qx3nV2bd", FUNCTION_CALL, usage(6_200, 180))));
                        event(w, rpc(id, artifactUpdate("Jf8kT1sa", FUNCTION_RESPONSE, null)));
                        event(w, rpc(id, artifactUpdate("Wm5pR7ce", TEXT_PART, usage(6_650, 2_100))));
                    }
                    event(w, rpc(id, status("completed", true)));
                }
                case "message/send" -> {
                    calls.count(req.getHeader("x-user-id"));
                    if (body.contains("\"blocking\":false")) {
                        String taskId = UUID.randomUUID().toString();
                        reads.put(taskId, new AtomicInteger());
                        json(resp, rpc(id, submittedTask(taskId)));
                        return;
                    }
                    json(resp, rpc(id, "{\"artifacts\":[" + artifact("Qx3nV2bd", FUNCTION_CALL, usage(6_200, 180)) + ","
                            + artifact("Jf8kT1sa", FUNCTION_RESPONSE, null) + "," + artifact("Wm5pR7ce", TEXT_PART, usage(6_650, 2_100))
                            + "],\"contextId\":\"" + CONTEXT + "\",\"history\":[],\"id\":\"" + TASK + "\",\"kind\":\"task\","
                            + "\"status\":{\"state\":\"completed\",\"timestamp\":\"2025-09-12T09:41:07.512309+00:00\"}}"));
                }
                case "tasks/get" -> {
                    @SuppressWarnings("unchecked")
                    String taskId = (String) ((Map<String, Object>) message.get("params")).get("id");
                    reads.get(taskId).incrementAndGet();
                    json(resp, rpc(id, workingTask(taskId)));
                }
                default -> json(resp, "{\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":" + id + ",\"jsonrpc\":\"2.0\"}");
            }
        }
    }

    /** sse-starlette's framing, as the a2a-sdk's {@code EventSourceResponse} sends it. */
    static void event(PrintWriter w, String data) {
        w.write("data: " + data + "\r\n\r\n");
        w.flush();
    }

    static final String ASK = "How much is 100 USD in EUR today?";

    static String a2aMessage(String method, String configuration) {
        return "{\"id\":\"7c2e51a4-0f6b-4d38-9e17-3a5c8b2d6f90\",\"jsonrpc\":\"2.0\",\"method\":\"" + method + "\",\"params\":{"
                + (configuration == null ? "" : "\"configuration\":" + configuration + ",")
                + "\"message\":{\"kind\":\"message\",\"messageId\":\"9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a\",\"parts\":[{\"kind\":\"text\","
                + "\"text\":" + q(ASK) + "}],\"role\":\"user\"}}}";
    }

    /**
     * The attack: a client talks A2A to an ADK agent behind a protected path. The agent's two model calls
     * (15,130 tokens) come back with their usage, in the A2A events (streamed) or in the task's artifacts
     * (blocking {@code message/send}), where ADK puts it. The ledger must charge that usage; the request's
     * estimate (its short question plus the default output budget, about 1,000) lets every agent run that
     * reads a long instruction, tool results or a session's history through for a fraction of it.
     */
    @ParameterizedTest
    @ValueSource(strings = {"stream fx", "stream fx-1x", "send fx"})
    void anAdkAgentsUsageReportedOverA2aIsCharged(String how) {
        String s = subject();
        String[] h = how.split(" ");
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/a2a/" + h[1]), s,
                h[0].equals("stream") ? a2aMessage("message/stream", null)
                        : a2aMessage("message/send", "{\"acceptedOutputModes\":[],\"blocking\":true}"),
                "Accept", h[0].equals("stream") ? "text/event-stream" : "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("adk_usage_metadata"), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertEquals(CALL1 + CALL2, used, how + ": an ADK agent's two calls of " + (CALL1 + CALL2) + " tokens charged " + used
                + ": " + ledger(s));
    }

    /**
     * A task polled (A2A 0.3, "Life of a Task": a client that does not stream sends {@code message/send}
     * with {@code configuration.blocking: false} and then polls {@code tasks/get} until the task ends; the
     * a2a-sdk's {@code A2AClient.get_task}, Workato's "Get task status" action). The agent runs the model
     * once, for the {@code message/send}; a {@code tasks/get} answered with the task still
     * {@code working} reads the agent's task store and runs no model. Polling must cost nothing.
     */
    @Test
    void anA2aTaskPolledWhileWorkingIsNotChargedPerPoll() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/a2a/fx"), s,
                a2aMessage("message/send", "{\"acceptedOutputModes\":[\"text/plain\"],\"blocking\":false}"));
        assertEquals(200, r.statusCode(), r.body());
        Matcher m = Pattern.compile("\"id\":\"([0-9a-f-]{36})\",\"kind\":\"task\"").matcher(r.body());
        assertTrue(m.find(), r.body());
        String taskId = m.group(1);
        long afterSend = settled(s).used();
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> poll = TestHttp.postJson(container.uri("/ai/a2a/fx"), s, "{\"id\":\"" + UUID.randomUUID()
                    + "\",\"jsonrpc\":\"2.0\",\"method\":\"tasks/get\",\"params\":{\"id\":\"" + taskId + "\",\"historyLength\":0}}");
            assertEquals(200, poll.statusCode(), poll.body());
            assertTrue(poll.body().contains("\"state\":\"working\""), poll.body());
        }
        assertEquals(3, reads.get(taskId).get());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertEquals(afterSend, used, "the send charged " + afterSend + "; three polls of the working task took it to " + used
                + ": " + ledger(s));
    }

    // ----------------------------------------------------------------------------------------------------
    // Control: the same agent's calls through ADK's own API server

    static String adkEvent(String id, String content, String usage) {
        return "{\"content\":" + content + (usage == null ? "" : ",\"usageMetadata\":" + usage)
                + ",\"invocationId\":\"e-51a7c0de-2b9f-4d6e-8a13-7c4f0e9b2d65\",\"author\":\"fx_agent\",\"actions\":{"
                + "\"stateDelta\":{},\"artifactDelta\":{},\"requestedAuthConfigs\":{},\"requestedToolConfirmations\":{}},"
                + "\"id\":\"" + id + "\",\"timestamp\":1757670065.104417}";
    }

    /**
     * ADK's {@code adk api_server} ({@code google.adk.cli.fast_api}): {@code POST /run} answers the run's
     * events as a JSON list, each {@code Event.model_dump(by_alias=True, exclude_none=True)} with its
     * model response's top-level {@code usageMetadata}.
     */
    class AdkApiServer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            json(resp, "[" + adkEvent("Qx3nV2bd", "{\"parts\":[{\"functionCall\":{\"id\":\"adk-3b0f6e2a-4c1d-4e7b-9a51-0d2c8f7e6a19\","
                    + "\"args\":{\"currency_from\":\"USD\",\"currency_to\":\"EUR\",\"currency_date\":\"latest\"},"
                    + "\"name\":\"get_exchange_rate\"}}],\"role\":\"model\"}", usage(6_200, 180)) + ","
                    + adkEvent("Jf8kT1sa", "{\"parts\":[{\"functionResponse\":{\"id\":\"adk-3b0f6e2a-4c1d-4e7b-9a51-0d2c8f7e6a19\","
                    + "\"name\":\"get_exchange_rate\",\"response\":{\"amount\":1.0,\"base\":\"USD\",\"date\":\"2025-09-12\","
                    + "\"rates\":{\"EUR\":0.8523}}}}],\"role\":\"user\"}", null) + ","
                    + adkEvent("Wm5pR7ce", "{\"parts\":[{\"text\":" + q(ANSWER) + "}],\"role\":\"model\"}", usage(6_650, 2_100)) + "]");
        }
    }

    /** Control: the same two calls through ADK's own {@code /run} are charged their usage. */
    @Test
    void theSameAgentThroughAdksOwnRunEndpointIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/adk/run"), s, "{\"appName\":\"fx_agent\",\"userId\":\"u1\","
                + "\"sessionId\":\"5e2f7a90-3d41-4c8e-b6a2-9f1e0c7d4b38\",\"newMessage\":{\"role\":\"user\",\"parts\":[{\"text\":"
                + q(ASK) + "}]},\"streaming\":false}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertEquals(CALL1 + CALL2, used, "ADK's /run with two calls of " + (CALL1 + CALL2) + " tokens charged " + used + ": " + ledger(s));
    }
}
