package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.util.Map;
import java.util.Set;

/**
 * JSON-RPC 2.0 (jsonrpc.org/specification) as two protocols carry it over HTTP onto a protected path: MCP's
 * Streamable HTTP transport (modelcontextprotocol.io, specification 2025-06-18, "Transports", "Streamable
 * HTTP": every client message is a {@code POST} of one JSON-RPC message) and A2A's JSON-RPC binding
 * (a2a-protocol.org, specification 0.3, section 3.2 and 7: {@code message/send}, {@code message/stream},
 * {@code tasks/get}, {@code tasks/cancel}). The client writes the request, so what it claims (its
 * {@code method}, its {@code id}) never frees a call by itself: a release needs the answer to prove it
 * ({@link #answeredWithoutModel}; {@link PolledCompletion#A2A_TASK} for A2A's tasks). Stateless.
 */
final class JsonRpc {
    private JsonRpc() {
    }

    /** The members a JSON-RPC 2.0 request or notification (section 4) and a response (section 5) may have. */
    private static final Set<String> MEMBERS = Set.of("jsonrpc", "id", "method", "params", "result", "error");

    /**
     * A request body that is one JSON-RPC 2.0 message (a JSON object whose {@code jsonrpc} is {@code "2.0"}, nothing
     * but the protocol's members, nothing after it): a request (a {@code method} and an {@code id}), a
     * notification (a {@code method} and no {@code id}) or a response (an {@code id} and a {@code result} or an
     * {@code error}, no {@code method}).
     *
     * @param id       the {@code id} as {@link #idOf} writes it, {@code null} when absent or {@code null}
     * @param idGiven  the message names an {@code id} member (a response to a request the server could not read names
     *                 {@code null})
     * @param method   the {@code method}, or {@code null}
     * @param answers  a {@code result} or an {@code error} member is present
     * @param params   the member names of its {@code params} object, or {@code null} when it has none ({@code params}
     *                 given as anything but an object makes the body none of the messages read here)
     * @param paramsId the string {@code params.id} (A2A's {@code TaskQueryParams} and {@code TaskIdParams}), or {@code null}
     * @param taskId   the string {@code params.message.taskId} (an A2A message to a task it continues, 0.3 section
     *                 6.4), or {@code null}
     */
    record Message(String id, boolean idGiven, String method, boolean answers, Set<String> params, String paramsId,
                   String taskId) {
        /** A request: it names a method and an id, and the server answers it. */
        boolean request() {
            return method != null && id != null && !answers;
        }

        /** A notification (section 4.1): a method and no id; the server answers nothing. */
        boolean notification() {
            return method != null && !idGiven && !answers;
        }

        /** A response (section 5) a client sends back, to a request the server made (MCP's sampling, elicitation). */
        boolean response() {
            return method == null && id != null && answers;
        }

        /** Whether the params name nothing but {@code allowed} (no params at all is allowed too). */
        boolean paramsWithin(Set<String> allowed) {
            return params == null || allowed.containsAll(params);
        }
    }

    /**
     * The request body read as one JSON-RPC 2.0 message, or {@code null} when it is none: no JSON object, a batch
     * (an array: batches are no message of their own, and MCP 2025-06-18 removed them), a {@code jsonrpc} other
     * than {@code "2.0"}, a member the protocol has not (an endpoint that reads {@code messages} or {@code prompt}
     * beside the envelope is no protocol endpoint), {@code params} that is no object, or content after it.
     */
    static Message of(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        try (JsonParser p = Json.REQUEST_SCAN.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            boolean v2 = false;
            String id = null;
            boolean idGiven = false;
            String method = null;
            boolean answers = false;
            Set<String> params = null;
            boolean paramsOther = false;
            String paramsId = null;
            String taskId = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                if (!MEMBERS.contains(name)) {
                    return null;
                }
                switch (name) {
                    case "jsonrpc" -> v2 = value == JsonToken.VALUE_STRING && "2.0".equals(p.getText());
                    case "id" -> {
                        idGiven = true;
                        id = idOf(value, p.getText());
                    }
                    case "method" -> method = value == JsonToken.VALUE_STRING ? p.getText() : null;
                    case "result", "error" -> answers = true;
                    case "params" -> {
                        if (value != JsonToken.START_OBJECT) {
                            paramsOther = true;
                            params = null;
                            p.skipChildren();
                            continue;
                        }
                        paramsOther = false;
                        params = new java.util.HashSet<>();
                        paramsId = null;
                        taskId = null;
                        while (p.nextToken() == JsonToken.FIELD_NAME) {
                            String param = p.currentName();
                            JsonToken v = p.nextToken();
                            if (params.size() < 64) {
                                params.add(param);
                            } else {
                                // more names than any of the protocols' params: a body of its own
                                paramsOther = true;
                            }
                            if ("id".equals(param) && v == JsonToken.VALUE_STRING) {
                                paramsId = p.getText();
                            } else if ("message".equals(param) && v == JsonToken.START_OBJECT) {
                                while (p.nextToken() == JsonToken.FIELD_NAME) {
                                    String field = p.currentName();
                                    JsonToken f = p.nextToken();
                                    if ("taskId".equals(field) && f == JsonToken.VALUE_STRING) {
                                        taskId = p.getText();
                                    }
                                    p.skipChildren();
                                }
                                continue;
                            }
                            p.skipChildren();
                        }
                        continue;
                    }
                    default -> {
                        // every member is one of the above
                    }
                }
                p.skipChildren();
            }
            if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null || !v2 || paramsOther) {
                return null;
            }
            return new Message(id, idGiven, method, answers, params, paramsId, taskId);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * An {@code id} as compared between a request and its response (section 5: the response's "MUST be the same as
     * the value of the id member in the Request Object"): a string {@code "s:"} and its text, a number {@code "n:"}
     * and its literal, so that {@code "1"} and {@code 1} differ; {@code null} for {@code null} or anything else.
     */
    static String idOf(JsonToken value, String text) {
        return switch (value) {
            case VALUE_STRING -> "s:" + text;
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "n:" + text;
            default -> null;
        };
    }

    /**
     * What the scanner read of an answer document that names {@code "jsonrpc": "2.0"}
     * ({@link JsonDocumentScanner.Document#rpc}).
     *
     * @param id           its {@code id} ({@link #idOf}), or {@code null}
     * @param plain        its top-level members are only a response's ({@code jsonrpc}, {@code id}, {@code result},
     *                     {@code error})
     * @param result       it has a {@code result} member
     * @param error        it has an {@code error} member
     * @param resultFields the {@code result} object's members and how each is written ({@code o} object, {@code a}
     *                     array, {@code s} string, {@code n} number, {@code b} boolean, {@code z} null), at most
     *                     {@link #MOST_RESULT_FIELDS}; {@code null} when the result is no object or has more
     * @param kind         A2A's {@code result.kind} ({@code task}, {@code status-update}, {@code artifact-update},
     *                     {@code message}), or {@code null}
     * @param taskId       the A2A task the result is or is about: a task's {@code result.id}, an event's
     *                     {@code result.taskId}; {@code null} when none
     * @param state        A2A's {@code result.status.state}, or {@code null}
     * @param usageNamed   a member anywhere in it (as deep as the scanner keeps) is named as usage is
     *                     ({@link #USAGE_NAMES})
     */
    record Reply(String id, boolean plain, boolean result, boolean error, Map<String, Character> resultFields,
                 String kind, String taskId, String state, boolean usageNamed) {
        /** Whether it is the response to {@code asked}: the same id, a result and no error, nothing else beside. */
        boolean answers(Message asked) {
            return asked != null && asked.request() && asked.id().equals(id) && plain && result && !error;
        }
    }

    /**
     * An event stream whose every event is a JSON-RPC response to one request, each about one A2A task (a
     * {@code message/stream} or {@code tasks/resubscribe} answer, A2A 0.3 section 7.2: the task, its
     * {@code status-update} and {@code artifact-update} events; {@link UsageSniffer#rpcStream}).
     *
     * @param id     the responses' {@code id} ({@link #idOf})
     * @param taskId the task they are about
     */
    record Stream(String id, String taskId) { }

    /** The most {@code result} members {@link Reply#resultFields} keeps; a result with more is no shape read here. */
    static final int MOST_RESULT_FIELDS = 16;

    /**
     * Member names under which an answer carries usage, at any depth: providers' ({@code usage},
     * {@code usageMetadata}...), frameworks' ({@code tokenUsage}, {@code models_usage}), ADK's in A2A metadata
     * ({@code adk_usage_metadata}). An answer naming one anywhere is no proof that no model ran.
     */
    static final Set<String> USAGE_NAMES = Set.of("usage", "Usage", "usageMetadata", "usage_metadata",
            "adk_usage_metadata", "tokenUsage", "token_usage", "models_usage");

    /**
     * MCP's requests that run no model, each with the {@code params} members its request may have and the
     * {@code result} its answer is (specification 2025-06-18, "Schema Reference": {@code InitializeRequest} and
     * {@code InitializeResult}, {@code PingRequest} and {@code EmptyResult}, {@code ListToolsRequest} and
     * {@code ListToolsResult}, and the same for prompts, resources and resource templates). The server answers
     * each from its own description: the protocol's lifecycle ("Lifecycle": {@code initialize}), its
     * keep-alive ("Utilities", "Ping") and the catalogues a client reads on connecting ("Server Features").
     * {@code tools/call}, {@code prompts/get}, {@code resources/read} and {@code completion/complete} run the
     * server's code, which may call a model: they are not here.
     */
    enum McpMethod {
        INITIALIZE("initialize", Set.of("protocolVersion", "capabilities", "clientInfo", "_meta"),
                Map.of("protocolVersion", 's', "capabilities", 'o', "serverInfo", 'o'),
                Map.of("instructions", 's', "_meta", 'o')),
        PING("ping", Set.of("_meta"), Map.of(), Map.of("_meta", 'o')),
        TOOLS_LIST("tools/list", Set.of("cursor", "_meta"), Map.of("tools", 'a'), Map.of("nextCursor", 's', "_meta", 'o')),
        PROMPTS_LIST("prompts/list", Set.of("cursor", "_meta"), Map.of("prompts", 'a'), Map.of("nextCursor", 's', "_meta", 'o')),
        RESOURCES_LIST("resources/list", Set.of("cursor", "_meta"), Map.of("resources", 'a'),
                Map.of("nextCursor", 's', "_meta", 'o')),
        RESOURCE_TEMPLATES_LIST("resources/templates/list", Set.of("cursor", "_meta"), Map.of("resourceTemplates", 'a'),
                Map.of("nextCursor", 's', "_meta", 'o'));

        private final String method;
        private final Set<String> params;
        private final Map<String, Character> required;
        private final Map<String, Character> optional;

        McpMethod(String method, Set<String> params, Map<String, Character> required, Map<String, Character> optional) {
            this.method = method;
            this.params = params;
            this.required = required;
            this.optional = optional;
        }

        static McpMethod of(String method) {
            for (McpMethod m : values()) {
                if (m.method.equals(method)) {
                    return m;
                }
            }
            return null;
        }

        /** Whether {@code fields} (a result's members) are this method's result: every required member, written so, and no other. */
        boolean shapes(Map<String, Character> fields) {
            for (Map.Entry<String, Character> r : required.entrySet()) {
                if (!r.getValue().equals(fields.get(r.getKey()))) {
                    return false;
                }
            }
            for (Map.Entry<String, Character> f : fields.entrySet()) {
                Character want = required.containsKey(f.getKey()) ? required.get(f.getKey()) : optional.get(f.getKey());
                if (!f.getValue().equals(want)) {
                    return false;
                }
            }
            return true;
        }
    }

    /**
     * Whether {@code answer} proves that the request {@code asked} ran no model: the request is one of MCP's that
     * run none ({@link McpMethod}), with no {@code params} member its method does not have, and the answer is its
     * JSON-RPC response and nothing else (the one document, or the one event, of an answer labelled as what it
     * is: {@link UsageSniffer#rpcAnswer}): the request's {@code id}, a {@code result} of that method's shape (no
     * member it does not define), no {@code error}, no member beside, and no member anywhere named as usage is.
     * A chat endpoint sent an MCP-shaped body answers a completion, not this; one that returns a model's own
     * JSON as its answer lets the model write any shape, and reports its figure (docs/decisions.md).
     */
    static boolean answeredWithoutModel(Message asked, JsonDocumentScanner.Document answer) {
        if (asked == null || answer == null || answer.rpc() == null || !asked.request()) {
            return false;
        }
        McpMethod method = McpMethod.of(asked.method());
        Reply reply = answer.rpc();
        return method != null && asked.paramsWithin(method.params) && reply.answers(asked) && !reply.usageNamed()
                && reply.resultFields() != null && method.shapes(reply.resultFields());
    }

    /**
     * Whether a {@code 202 Accepted} with no body proves that {@code asked} ran no model: MCP's Streamable HTTP
     * transport answers so "if the input is a JSON-RPC response or notification" and the server accepts it (2025-06-18,
     * "Sending Messages to the Server", 4), and no model runs for either: a notification is MCP's
     * ({@code notifications/…}: initialized, cancelled, progress, roots/list_changed), a response is the client's
     * answer to a request of the server's (a sampling result its own model wrote and its own key paid for). The
     * body-less 202 alone proves nothing (an application that queues a call answers so too), nor does a request
     * that runs a method (it is answered, not acknowledged).
     */
    static boolean acknowledgedOnly(Message asked) {
        return asked != null && (asked.notification() && asked.method().startsWith("notifications/") || asked.response());
    }
}
