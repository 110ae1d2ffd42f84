package io.tokenquota.servlet.testing;

import static io.tokenquota.servlet.testing.ShapedAnswerRound.q;

import java.util.List;

/**
 * Lines of Claude Code / the Claude Agent SDK in headless mode, {@code --output-format stream-json} (NDJSON, one
 * message a line) and {@code json} (the result object alone), as the Agent SDK's TypeScript reference gives them:
 * {@code SDKSystemMessage} ({@code init}), {@code SDKAssistantMessage}, the {@code user} line of a tool's result,
 * {@code SDKPartialAssistantMessage} ({@code stream_event}, with {@code --include-partial-messages}) and
 * {@code SDKResultMessage}. Every line ends with its newline; the model is {@link #SONNET} throughout.
 * <p>
 * One builder numbers its lines' {@code uuid}s with one counter (the last 12 digits), so a round keeps one per test
 * instance, or one per answer when its numbers must start again.
 */
public final class ClaudeCodeLines {
    public static final String SONNET = "claude-sonnet-4-20250514";
    public static final String HAIKU = "claude-3-5-haiku-20241022";

    private final String uuidPrefix;
    private final String eventUuidPrefix;
    private int uuid;

    /**
     * @param uuidPrefix the first 24 characters of the assistant, user and system lines' uuids; null: those lines carry
     *     none
     * @param eventUuidPrefix the same for the stream_event lines
     */
    public ClaudeCodeLines(String uuidPrefix, String eventUuidPrefix) {
        this.uuidPrefix = uuidPrefix;
        this.eventUuidPrefix = eventUuidPrefix;
    }

    public ClaudeCodeLines(String uuidPrefix) {
        this(uuidPrefix, null);
    }

    /** {@code "session_id":"id"}, as the lines carry it. */
    public static String session(String id) {
        return "\"session_id\":\"" + id + "\"";
    }

    /** The next {@code "uuid":...} of the assistant, user and system lines. */
    public String uuid() {
        return uuid(uuidPrefix);
    }

    private String uuid(String prefix) {
        return "\"uuid\":\"" + prefix + String.format("%012d", ++uuid) + "\"";
    }

    /** After the parent_tool_use_id: the uuid if these lines carry one, and the session. */
    private String ids(String session) {
        return (uuidPrefix == null ? "" : uuid() + ",") + session;
    }

    private static String quotedOrNull(String s) {
        return s == null ? "null" : "\"" + s + "\"";
    }

    /** An API call's {@code usage}, no cache reads or writes. */
    public static String usage(long input, long output) {
        return "{\"input_tokens\":" + input + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
                + "\"output_tokens\":" + output + ",\"service_tier\":\"standard\"}";
    }

    /** A text content block. */
    public static String text(String words) {
        return "{\"type\":\"text\",\"text\":" + q(words) + "}";
    }

    /** A tool_use content block; {@code input} its JSON object. */
    public static String toolUse(String id, String name, String input) {
        return "{\"type\":\"tool_use\",\"id\":\"" + id + "\",\"name\":\"" + name + "\",\"input\":" + input + "}";
    }

    /** One entry of a result's {@code modelUsage} map (ModelUsage), no cache reads or writes. */
    public static String modelUsage(String model, long input, long output, String costUsd) {
        return q(model) + ":{\"inputTokens\":" + input + ",\"outputTokens\":" + output + ",\"cacheReadInputTokens\":0,"
                + "\"cacheCreationInputTokens\":0,\"webSearchRequests\":0,\"costUSD\":" + costUsd
                + ",\"contextWindow\":200000}";
    }

    /** The init line a CLI process writes first. */
    public static String init(String session, String permissionMode, String... tools) {
        return init(session, permissionMode, null, tools);
    }

    /** The init line with the {@code slash_commands} the process offers. */
    public static String init(String session, String permissionMode, List<String> slashCommands, String... tools) {
        return "{\"type\":\"system\",\"subtype\":\"init\",\"cwd\":\"/srv/agent\"," + session + ",\"tools\":"
                + names(List.of(tools)) + ",\"mcp_servers\":[],\"model\":\"" + SONNET + "\",\"permissionMode\":\""
                + permissionMode + "\","
                + (slashCommands == null ? "" : "\"slash_commands\":" + names(slashCommands) + ",")
                + "\"apiKeySource\":\"none\"}\n";
    }

    private static String names(List<String> names) {
        return names.isEmpty() ? "[]" : "[\"" + String.join("\",\"", names) + "\"]";
    }

    /** An assistant line of the main thread, {@code stop_reason} null (as the CLI writes it, before message_delta). */
    public String assistant(String session, String id, String content, long input, long output) {
        return assistant(session, id, content, null, input, output, null);
    }

    /**
     * An assistant line: one API call's message ({@code content} its blocks, joined), {@code stopReason} null or the
     * call's; {@code parentToolUseId} null on the main thread, a subagent's Task tool_use id on its sidechain.
     */
    public String assistant(String session, String id, String content, String stopReason, long input, long output,
            String parentToolUseId) {
        return "{\"type\":\"assistant\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\",\"role\":\"assistant\","
                + "\"model\":\"" + SONNET + "\",\"content\":[" + content + "],\"stop_reason\":"
                + quotedOrNull(stopReason) + ",\"stop_sequence\":null,\"usage\":" + usage(input, output) + "},"
                + "\"parent_tool_use_id\":" + quotedOrNull(parentToolUseId) + "," + ids(session) + "}\n";
    }

    /** The user line that returns a tool's result ({@code content} as a JSON string). */
    public String toolResult(String session, String toolUseId, String content, String parentToolUseId) {
        return "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":\"" + toolUseId + "\","
                + "\"type\":\"tool_result\",\"content\":" + q(content) + "}]},\"parent_tool_use_id\":"
                + quotedOrNull(parentToolUseId) + "," + ids(session) + "}\n";
    }

    /** A raw Messages API event wrapped as a stream_event line, its uuid from the event counter. */
    public String event(String session, String event, String parentToolUseId) {
        return "{\"type\":\"stream_event\",\"event\":" + event + ",\"parent_tool_use_id\":"
                + quotedOrNull(parentToolUseId) + "," + uuid(eventUuidPrefix) + "," + session + "}\n";
    }

    /** The message_start event: its usage the snapshot, output 1. */
    public static String messageStart(String id, long input) {
        return "{\"type\":\"message_start\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"" + SONNET + "\",\"content\":[],\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":" + usage(input, 1) + "}}";
    }

    public static String blockStart(String block) {
        return "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":" + block + "}";
    }

    public static String blockDelta(String delta) {
        return "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":" + delta + "}";
    }

    public static String textDelta(String words) {
        return "{\"type\":\"text_delta\",\"text\":" + q(words) + "}";
    }

    public static String blockStop() {
        return "{\"type\":\"content_block_stop\",\"index\":0}";
    }

    /** The message_delta event: the call's stop reason and cumulative output count. */
    public static String messageDelta(String stopReason, long output) {
        return "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" + stopReason + "\",\"stop_sequence\":null},"
                + "\"usage\":{\"output_tokens\":" + output + "}}";
    }

    public static String messageStop() {
        return "{\"type\":\"message_stop\"}";
    }

    /**
     * A result line, subtype success, its {@code usage} the given counts; by default 9,120 ms (8,410 in the API),
     * $0.0345, no {@code modelUsage}, no uuid. Its uuid, if asked for, is numbered when {@link Result#line} is called.
     */
    public Result result(String session, int turns, String words, long input, long output) {
        return new Result(session, turns, words, input, output);
    }

    /** A result line's builder. */
    public final class Result {
        private final String session;
        private final int turns;
        private final long input;
        private final long output;
        private String words;
        private String subtype = "success";
        private String errors;
        private int durationMs = 9120;
        private int durationApiMs = 8410;
        private String costUsd = "0.0345";
        private String serverToolUse = "{\"web_search_requests\":0}";
        private String modelUsage;
        private boolean uuid;

        private Result(String session, int turns, String words, long input, long output) {
            this.session = session;
            this.turns = turns;
            this.words = words;
            this.input = input;
            this.output = output;
        }

        public Result took(int durationMs, int durationApiMs) {
            this.durationMs = durationMs;
            this.durationApiMs = durationApiMs;
            return this;
        }

        public Result cost(String usd) {
            this.costUsd = usd;
            return this;
        }

        /** {@code server_tool_use} counts web fetches beside web searches (none of either). */
        public Result webFetches() {
            this.serverToolUse = "{\"web_search_requests\":0,\"web_fetch_requests\":0}";
            return this;
        }

        /** The {@code modelUsage} map of these {@link ClaudeCodeLines#modelUsage} entries. */
        public Result modelUsage(String... entries) {
            this.modelUsage = String.join(",", entries);
            return this;
        }

        /** An error result ({@code is_error} true, no result text, these {@code errors}). */
        public Result error(String subtype, String... errors) {
            this.subtype = subtype;
            this.words = null;
            this.errors = "[" + String.join(",", List.of(errors).stream().map(ShapedAnswerRound::q).toList()) + "]";
            return this;
        }

        /** The line ends with a uuid. */
        public Result withUuid() {
            this.uuid = true;
            return this;
        }

        public String line() {
            return "{\"type\":\"result\",\"subtype\":\"" + subtype + "\",\"is_error\":" + (errors != null)
                    + ",\"duration_ms\":" + durationMs + ",\"duration_api_ms\":" + durationApiMs + ",\"num_turns\":"
                    + turns + "," + (words == null ? "" : "\"result\":" + q(words) + ",") + session
                    + ",\"total_cost_usd\":" + costUsd + ",\"usage\":{\"input_tokens\":" + input
                    + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":" + output
                    + ",\"server_tool_use\":" + serverToolUse + ",\"service_tier\":\"standard\"}"
                    + (modelUsage == null ? "" : ",\"modelUsage\":{" + modelUsage + "}") + ",\"permission_denials\":[]"
                    + (errors == null ? "" : ",\"errors\":" + errors) + (uuid ? "," + uuid() : "") + "}\n";
        }
    }
}
