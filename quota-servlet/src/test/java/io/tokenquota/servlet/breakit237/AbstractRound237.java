package io.tokenquota.servlet.breakit237;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;

/**
 * Round 237 of issue 11: providers' own answer formats as their official clients and gateways produce
 * them, relayed unchanged by an application's endpoint under the protected prefix.
 */
abstract class AbstractRound237 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** What the relay answers on each path: content type and bytes, as the provider sent them. */
    final Map<String, Object[]> answers = new ConcurrentHashMap<>();

    static String subject() {
        return "u237-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Research the topic and answer.\"}],\"max_tokens\":64}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("relay", new Relay(), "/ai/*");
    }

    /** A relay that passes on its provider's answer byte for byte, under the provider's content type. */
    class Relay extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            Object[] a = answers.get(req.getPathInfo());
            resp.setContentType((String) a[0]);
            OutputStream out = resp.getOutputStream();
            @SuppressWarnings("unchecked")
            List<byte[]> pieces = (List<byte[]>) a[1];
            for (byte[] p : pieces) {
                out.write(p);
                out.flush();
            }
        }
    }

    void answer(String path, String type, List<byte[]> pieces) {
        answers.put(path, new Object[] {type, pieces});
    }

    static List<byte[]> sse(String... events) {
        List<byte[]> out = new ArrayList<>();
        for (String e : events) {
            out.add(e.getBytes(StandardCharsets.UTF_8));
        }
        return out;
    }

    static String ev(String name, String data) {
        return (name == null ? "" : "event: " + name + "\n") + "data: " + data + "\n\n";
    }

    long call(String path, String body) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    void charged(long expected, String path, String body) {
        long used = call(path, body);
        assertEquals(expected, used, "charged " + used + " for a call whose provider reported " + expected);
    }

    // ---------------------------------------------------------------- Bedrock event-stream framing

    static byte[] frame(String eventType, String payload) {
        ByteArrayOutputStream h = new ByteArrayOutputStream();
        header(h, ":event-type", eventType);
        header(h, ":content-type", "application/json");
        header(h, ":message-type", "event");
        byte[] headers = h.toByteArray();
        byte[] body = payload.getBytes(StandardCharsets.UTF_8);
        int total = 12 + headers.length + body.length + 4;
        ByteBuffer b = ByteBuffer.allocate(total);
        b.putInt(total).putInt(headers.length);
        CRC32 crc = new CRC32();
        crc.update(b.array(), 0, 8);
        b.putInt((int) crc.getValue());
        b.put(headers).put(body);
        CRC32 all = new CRC32();
        all.update(b.array(), 0, total - 4);
        b.putInt((int) all.getValue());
        return b.array();
    }

    static void header(ByteArrayOutputStream h, String name, String value) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        byte[] v = value.getBytes(StandardCharsets.UTF_8);
        h.write(n.length);
        h.writeBytes(n);
        h.write(7);
        h.write(v.length >> 8);
        h.write(v.length & 0xff);
        h.writeBytes(v);
    }

    static String b64(String json) {
        return Base64.getEncoder().encodeToString(json.getBytes(StandardCharsets.UTF_8));
    }

    static String text(int i) {
        return "Finding " + i + " from the search results, summarised. ";
    }

    // ---------------------------------------------------------------- probes

    @Test
    void responsesStreamEndingIncomplete() {
        String resp = "{\"id\":\"resp_237\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"%s\",\"background\":false,"
                + "\"incomplete_details\":%s,\"model\":\"o3-2025-04-16\",\"output\":[],\"usage\":%s}";
        List<String> ev = new ArrayList<>();
        ev.add(ev("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":" + String.format(resp, "in_progress", "null", "null") + "}"));
        ev.add(ev("response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":" + String.format(resp, "in_progress", "null", "null") + "}"));
        for (int i = 0; i < 10; i++) {
            ev.add(ev("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":" + (i + 2)
                    + ",\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"" + text(i) + "\"}"));
        }
        ev.add(ev("response.incomplete", "{\"type\":\"response.incomplete\",\"sequence_number\":20,\"response\":" + String.format(resp, "incomplete",
                "{\"reason\":\"max_output_tokens\"}",
                "{\"input_tokens\":1200,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":8000,"
                        + "\"output_tokens_details\":{\"reasoning_tokens\":7800},\"total_tokens\":9200}") + "}"));
        answer("/responses", "text/event-stream; charset=utf-8", sse(ev.toArray(String[]::new)));
        charged(9_200, "/ai/responses", "{\"model\":\"o3\",\"input\":\"Prove it.\",\"max_output_tokens\":8000,\"stream\":true}");
    }

    @Test
    void anthropicStreamWithWebSearchAndPauseTurn() {
        List<String> ev = new ArrayList<>();
        ev.add(ev("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_237\",\"type\":\"message\",\"role\":\"assistant\","
                + "\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":2679,"
                + "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":3}}}"));
        ev.add(ev("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}"));
        ev.add(ev("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"query\\\": \\\"weather\\\"}\"}}"));
        ev.add(ev("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
        ev.add(ev("content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_1\",\"content\":[{\"type\":\"web_search_result\",\"title\":\"Weather\",\"url\":\"https://example.com\",\"encrypted_content\":\"Eu8BCioIAhgCIiQ3\",\"page_age\":null}]}}"));
        ev.add(ev("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"));
        ev.add(ev("content_block_start", "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
        for (int i = 0; i < 10; i++) {
            ev.add(ev("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + text(i) + "\"}}"));
        }
        ev.add(ev("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}"));
        ev.add(ev("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"pause_turn\",\"stop_sequence\":null},\"usage\":"
                + "{\"input_tokens\":10682,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":510,"
                + "\"server_tool_use\":{\"web_search_requests\":1}}}"));
        ev.add(ev("message_stop", "{\"type\":\"message_stop\"}"));
        answer("/v1/messages", "text/event-stream; charset=utf-8", sse(ev.toArray(String[]::new)));
        charged(11_192, "/ai/v1/messages", "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
                + "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\",\"max_uses\":5}]}");
    }

    @Test
    void chatCompletionsNThreeWithIncludeUsage() {
        List<String> ev = new ArrayList<>();
        String head = "{\"id\":\"chatcmpl-237\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_1\",\"choices\":";
        for (int c = 0; c < 3; c++) {
            ev.add("data: " + head + "[{\"index\":" + c + ",\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
        }
        for (int i = 0; i < 10; i++) {
            for (int c = 0; c < 3; c++) {
                ev.add("data: " + head + "[{\"index\":" + c + ",\"delta\":{\"content\":\"" + text(i) + "\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
            }
        }
        for (int c = 0; c < 3; c++) {
            ev.add("data: " + head + "[{\"index\":" + c + ",\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":null}\n\n");
        }
        ev.add("data: " + head + "[],\"usage\":{\"prompt_tokens\":3000,\"completion_tokens\":6000,\"total_tokens\":9000,"
                + "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n");
        ev.add("data: [DONE]\n\n");
        answer("/v1/chat/completions", "text/event-stream", sse(ev.toArray(String[]::new)));
        charged(9_000, "/ai/v1/chat/completions", "{\"model\":\"gpt-4o\",\"n\":3,\"max_tokens\":2000,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Three takes.\"}]}");
    }

    @Test
    void geminiStreamWithoutAltSse() {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < 5; i++) {
            b.append(i == 0 ? "" : ",\r\n").append("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"").append(text(i))
                    .append("\"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":1500,\"totalTokenCount\":1500,"
                            + "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":1500}],\"thoughtsTokenCount\":7000},\"modelVersion\":\"gemini-2.5-pro\",\"responseId\":\"r237\"}");
        }
        b.append(",\r\n{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Done.\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],"
                + "\"usageMetadata\":{\"promptTokenCount\":1500,\"candidatesTokenCount\":600,\"totalTokenCount\":9100,"
                + "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":1500}],\"thoughtsTokenCount\":7000},\"modelVersion\":\"gemini-2.5-pro\",\"responseId\":\"r237\"}]");
        answer("/v1beta/models/gemini-2.5-pro:streamGenerateContent", "application/json; charset=UTF-8", sse(b.toString()));
        charged(9_100, "/ai/v1beta/models/gemini-2.5-pro:streamGenerateContent",
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Explain.\"}]}],\"generationConfig\":{\"maxOutputTokens\":600}}");
    }

    @Test
    void bedrockConverseStreamBinary() {
        List<byte[]> f = new ArrayList<>();
        f.add(frame("messageStart", "{\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0\",\"role\":\"assistant\"}"));
        for (int i = 0; i < 10; i++) {
            f.add(frame("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"" + text(i) + "\"},\"p\":\"abcdefghijkl\"}"));
        }
        f.add(frame("contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"abcdefghijklmnopqrstu\"}"));
        f.add(frame("messageStop", "{\"p\":\"abcdefghijklmnopqrstuvwxyzABCD\",\"stopReason\":\"end_turn\"}"));
        f.add(frame("metadata", "{\"metrics\":{\"latencyMs\":4120},\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\","
                + "\"usage\":{\"inputTokens\":8800,\"outputTokens\":400,\"totalTokens\":9200}}"));
        answer("/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse-stream", "application/vnd.amazon.eventstream", f);
        charged(9_200, "/ai/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse-stream",
                "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Summarise.\"}]}],\"inferenceConfig\":{\"maxTokens\":400}}");
    }

    @Test
    void bedrockInvokeWithResponseStreamBinaryClaude() {
        List<byte[]> f = new ArrayList<>();
        f.add(frame("chunk", "{\"bytes\":\"" + b64("{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_237\",\"type\":\"message\",\"role\":\"assistant\","
                + "\"model\":\"claude-3-5-sonnet-20240620\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":8800,\"output_tokens\":1}}}")
                + "\",\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEF\"}"));
        f.add(frame("chunk", "{\"bytes\":\"" + b64("{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}") + "\",\"p\":\"abc\"}"));
        for (int i = 0; i < 10; i++) {
            f.add(frame("chunk", "{\"bytes\":\"" + b64("{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + text(i) + "\"}}") + "\",\"p\":\"abcdefg\"}"));
        }
        f.add(frame("chunk", "{\"bytes\":\"" + b64("{\"type\":\"content_block_stop\",\"index\":0}") + "\",\"p\":\"abcdefghijklmnop\"}"));
        f.add(frame("chunk", "{\"bytes\":\"" + b64("{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":400}}") + "\",\"p\":\"ab\"}"));
        f.add(frame("chunk", "{\"bytes\":\"" + b64("{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":8800,\"outputTokenCount\":400,"
                + "\"invocationLatency\":4021,\"firstByteLatency\":512}}") + "\",\"p\":\"abcdefghijklmnopqrstuvwxyzAB\"}"));
        answer("/model/anthropic.claude-3-5-sonnet-20240620-v1:0/invoke-with-response-stream", "application/vnd.amazon.eventstream", f);
        charged(9_200, "/ai/model/anthropic.claude-3-5-sonnet-20240620-v1:0/invoke-with-response-stream",
                "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":400,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise.\"}]}");
    }

    @Test
    void cohereV2Stream() {
        List<String> ev = new ArrayList<>();
        ev.add(ev("message-start", "{\"id\":\"29f14a5a-237\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}"));
        ev.add(ev("content-start", "{\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}"));
        for (int i = 0; i < 10; i++) {
            ev.add(ev("content-delta", "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"" + text(i) + "\"}}}}"));
        }
        ev.add(ev("content-end", "{\"type\":\"content-end\",\"index\":0}"));
        ev.add(ev("message-end", "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":8700,\"output_tokens\":500},"
                + "\"tokens\":{\"input_tokens\":8900,\"output_tokens\":500},\"cached_tokens\":0}}}"));
        answer("/v2/chat", "text/event-stream", sse(ev.toArray(String[]::new)));
        charged(9_400, "/ai/v2/chat", "{\"model\":\"command-a-03-2025\",\"stream\":true,\"max_tokens\":500,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise.\"}]}");
    }

    @Test
    void ollamaChatNdjson() {
        List<byte[]> l = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            l.add(("{\"model\":\"qwen3:8b\",\"created_at\":\"2025-06-01T10:00:0" + (i % 10) + ".1Z\",\"message\":{\"role\":\"assistant\",\"content\":\"" + text(i)
                    + "\"},\"done\":false}\n").getBytes(StandardCharsets.UTF_8));
        }
        l.add(("{\"model\":\"qwen3:8b\",\"created_at\":\"2025-06-01T10:00:11.1Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\","
                + "\"done\":true,\"total_duration\":4935886791,\"load_duration\":534986708,\"prompt_eval_count\":8700,\"prompt_eval_duration\":107345000,"
                + "\"eval_count\":500,\"eval_duration\":4289432000}\n").getBytes(StandardCharsets.UTF_8));
        answer("/api/chat", "application/x-ndjson", l);
        charged(9_200, "/ai/api/chat", "{\"model\":\"qwen3:8b\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise.\"}],\"options\":{\"num_predict\":500}}");
    }

    @Test
    void openRouterStream() {
        List<String> ev = new ArrayList<>();
        ev.add(": OPENROUTER PROCESSING\n\n");
        String head = "{\"id\":\"gen-1741-237\",\"provider\":\"Anthropic\",\"model\":\"anthropic/claude-sonnet-4\",\"object\":\"chat.completion.chunk\",\"created\":1741,\"choices\":";
        for (int i = 0; i < 10; i++) {
            ev.add("data: " + head + "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"" + text(i) + "\"},\"finish_reason\":null,\"native_finish_reason\":null,\"logprobs\":null}]}\n\n");
        }
        ev.add("data: " + head + "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":\"stop\",\"native_finish_reason\":\"end_turn\",\"logprobs\":null}]}\n\n");
        ev.add("data: " + head + "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null,\"native_finish_reason\":null,\"logprobs\":null}],"
                + "\"usage\":{\"prompt_tokens\":8700,\"completion_tokens\":500,\"total_tokens\":9200,\"cost\":0.0336,\"is_byok\":false,"
                + "\"prompt_tokens_details\":{\"cached_tokens\":0},\"cost_details\":{\"upstream_inference_cost\":null},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n");
        ev.add("data: [DONE]\n\n");
        answer("/api/v1/chat/completions", "text/event-stream", sse(ev.toArray(String[]::new)));
        charged(9_200, "/ai/api/v1/chat/completions", "{\"model\":\"anthropic/claude-sonnet-4\",\"stream\":true,\"max_tokens\":500,\"usage\":{\"include\":true},"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise.\"}]}");
    }

    static List<byte[]> split(List<byte[]> whole, int size) {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        whole.forEach(all::writeBytes);
        byte[] b = all.toByteArray();
        List<byte[]> out = new ArrayList<>();
        for (int i = 0; i < b.length; i += size) {
            out.add(java.util.Arrays.copyOfRange(b, i, Math.min(b.length, i + size)));
        }
        return out;
    }

    @Test
    void claudeAgentSdkStreamJson() {
        String u1 = "{\"input_tokens\":3,\"cache_creation_input_tokens\":2000,\"cache_read_input_tokens\":4000,\"output_tokens\":300,\"service_tier\":\"standard\"}";
        String u2 = "{\"input_tokens\":4,\"cache_creation_input_tokens\":500,\"cache_read_input_tokens\":6000,\"output_tokens\":400,\"service_tier\":\"standard\"}";
        String sid = "\"session_id\":\"8f0c-237\"";
        List<String> l = new ArrayList<>();
        l.add("{\"type\":\"system\",\"subtype\":\"init\",\"cwd\":\"/app\"," + sid + ",\"tools\":[\"Bash\",\"Read\"],\"model\":\"claude-sonnet-4-5-20250929\",\"permissionMode\":\"default\"}");
        l.add("{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01A237\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"I will read the file.\"}],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":" + u1 + "},\"parent_tool_use_id\":null," + sid + "}");
        l.add("{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01A237\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"Read\",\"input\":{\"file_path\":\"/app/README.md\"}}],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":" + u1 + "},\"parent_tool_use_id\":null," + sid + "}");
        l.add("{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":\"toolu_1\",\"type\":\"tool_result\",\"content\":\"# App\"}]},\"parent_tool_use_id\":null," + sid + "}");
        l.add("{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01B237\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"" + text(1) + text(2) + "\"}],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":" + u2 + "},\"parent_tool_use_id\":null," + sid + "}");
        l.add("{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"duration_ms\":9120,\"duration_api_ms\":8800,\"num_turns\":2,\"result\":\"" + text(1) + text(2) + "\","
                + sid + ",\"total_cost_usd\":0.0273,\"usage\":{\"input_tokens\":7,\"cache_creation_input_tokens\":2500,\"cache_read_input_tokens\":10000,\"output_tokens\":700,"
                + "\"server_tool_use\":{\"web_search_requests\":0},\"service_tier\":\"standard\"},\"permission_denials\":[],\"uuid\":\"u-237\"}");
        List<byte[]> b = new ArrayList<>();
        for (String x : l) b.add((x + "\n").getBytes(StandardCharsets.UTF_8));
        answer("/agent/query", "application/x-ndjson", b);
        charged(13_207, "/ai/agent/query", "{\"prompt\":\"Summarise the README.\",\"max_turns\":5}");
    }

    @Test
    void geminiPrettyArraySplit() {
        StringBuilder b = new StringBuilder("[{\n  \"candidates\": [\n    {\n      \"content\": {\n        \"parts\": [\n          {\n            \"text\": \"" + text(0) + "\"\n          }\n        ],\n        \"role\": \"model\"\n      },\n      \"index\": 0\n    }\n  ],\n  \"usageMetadata\": {\n    \"promptTokenCount\": 8600,\n    \"totalTokenCount\": 8600,\n    \"promptTokensDetails\": [\n      {\n        \"modality\": \"TEXT\",\n        \"tokenCount\": 8600\n      }\n    ]\n  },\n  \"modelVersion\": \"gemini-2.0-flash\"\n}\n,\r\n");
        b.append("{\n  \"candidates\": [\n    {\n      \"content\": {\n        \"parts\": [\n          {\n            \"text\": \"" + text(1) + "\"\n          }\n        ],\n        \"role\": \"model\"\n      },\n      \"finishReason\": \"STOP\",\n      \"index\": 0\n    }\n  ],\n  \"usageMetadata\": {\n    \"promptTokenCount\": 8600,\n    \"candidatesTokenCount\": 600,\n    \"totalTokenCount\": 9200\n  },\n  \"modelVersion\": \"gemini-2.0-flash\"\n}\n]");
        answer("/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent", "application/json; charset=UTF-8", split(sse(b.toString()), 7));
        charged(9_200, "/ai/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent",
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Explain.\"}]}],\"generationConfig\":{\"maxOutputTokens\":600}}");
    }

    @Test
    void bedrockConverseStreamBinarySplit() {
        List<byte[]> f = new ArrayList<>();
        f.add(frame("messageStart", "{\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0\",\"role\":\"assistant\"}"));
        for (int i = 0; i < 10; i++) {
            f.add(frame("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"" + text(i) + "\"},\"p\":\"abcdefghijkl\"}"));
        }
        f.add(frame("contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"abcdefghijklmnopqrstu\"}"));
        f.add(frame("messageStop", "{\"p\":\"abcdefghijklmnopqrstuvwxyzABCD\",\"stopReason\":\"end_turn\"}"));
        f.add(frame("metadata", "{\"metrics\":{\"latencyMs\":4120},\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\","
                + "\"usage\":{\"cacheReadInputTokens\":8000,\"cacheWriteInputTokens\":0,\"inputTokens\":800,\"outputTokens\":400,\"totalTokens\":9200}}"));
        answer("/model/us.anthropic.claude-sonnet-4-20250514-v1:0/converse-stream", "application/vnd.amazon.eventstream", split(f, 5));
        charged(9_200, "/ai/model/us.anthropic.claude-sonnet-4-20250514-v1:0/converse-stream",
                "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Summarise.\"}]}],\"inferenceConfig\":{\"maxTokens\":400}}");
    }

    @Test
    void responsesBackgroundStream() {
        String resp = "{\"id\":\"resp_bg237\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"%s\",\"background\":true,"
                + "\"model\":\"o3-2025-04-16\",\"output\":[],\"usage\":%s}";
        List<String> ev = new ArrayList<>();
        ev.add(ev("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":" + String.format(resp, "queued", "null") + "}"));
        ev.add(ev("response.queued", "{\"type\":\"response.queued\",\"sequence_number\":1,\"response\":" + String.format(resp, "queued", "null") + "}"));
        ev.add(ev("response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":2,\"response\":" + String.format(resp, "in_progress", "null") + "}"));
        for (int i = 0; i < 10; i++) {
            ev.add(ev("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":" + (i + 3)
                    + ",\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"" + text(i) + "\",\"logprobs\":[]}"));
        }
        ev.add(ev("response.completed", "{\"type\":\"response.completed\",\"sequence_number\":20,\"response\":" + String.format(resp, "completed",
                "{\"input_tokens\":1200,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":8000,"
                        + "\"output_tokens_details\":{\"reasoning_tokens\":7800},\"total_tokens\":9200}") + "}"));
        answer("/v1/responses", "text/event-stream; charset=utf-8", sse(ev.toArray(String[]::new)));
        charged(9_200, "/ai/v1/responses", "{\"model\":\"o3\",\"input\":\"Prove it.\",\"background\":true,\"stream\":true}");
    }

    @Test
    void anthropicThinkingStreamCached() {
        List<String> ev = new ArrayList<>();
        ev.add(ev("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_th237\",\"type\":\"message\",\"role\":\"assistant\","
                + "\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,"
                + "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":8000,\"output_tokens\":1,\"service_tier\":\"standard\"}}}"));
        ev.add(ev("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}"));
        for (int i = 0; i < 5; i++) {
            ev.add(ev("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"" + text(i) + "\"}}"));
        }
        ev.add(ev("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds\"}}"));
        ev.add(ev("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
        ev.add(ev("content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
        ev.add(ev("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + text(9) + "\"}}"));
        ev.add(ev("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"));
        ev.add(ev("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":1188}}"));
        ev.add(ev("message_stop", "{\"type\":\"message_stop\"}"));
        answer("/v1/messages/th", "text/event-stream; charset=utf-8", sse(ev.toArray(String[]::new)));
        charged(9_200, "/ai/v1/messages/th", "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1200,\"stream\":true,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Why?\"}]}");
    }

    @Test
    void cohereV2Whole() {
        answer("/v2/chat/whole", "application/json", sse("{\"id\":\"c14c80c3-237\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"" + text(3)
                + "\"}]},\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":8700,\"output_tokens\":500},\"tokens\":{\"input_tokens\":8900,\"output_tokens\":500},\"cached_tokens\":0}}"));
        charged(9_400, "/ai/v2/chat/whole", "{\"model\":\"command-a-03-2025\",\"max_tokens\":500,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise.\"}]}");
    }

    @Test
    void mistralConversationStreamWithConnectors() {
        List<String> ev = new ArrayList<>();
        ev.add(ev("conversation.response.started", "{\"type\":\"conversation.response.started\",\"created_at\":\"2025-06-01T10:00:00Z\",\"conversation_id\":\"conv_237\"}"));
        ev.add(ev("tool.execution.started", "{\"type\":\"tool.execution.started\",\"created_at\":\"2025-06-01T10:00:01Z\",\"output_index\":0,\"id\":\"tool_exec_1\",\"name\":\"web_search\"}"));
        ev.add(ev("tool.execution.done", "{\"type\":\"tool.execution.done\",\"created_at\":\"2025-06-01T10:00:02Z\",\"output_index\":0,\"id\":\"tool_exec_1\",\"name\":\"web_search\"}"));
        for (int i = 0; i < 10; i++) {
            ev.add(ev("message.output.delta", "{\"type\":\"message.output.delta\",\"created_at\":\"2025-06-01T10:00:03Z\",\"output_index\":1,\"id\":\"msg_237\",\"content_index\":0,\"model\":\"mistral-medium-2505\",\"agent_id\":null,\"role\":\"assistant\",\"content\":\"" + text(i) + "\"}"));
        }
        ev.add(ev("conversation.response.done", "{\"type\":\"conversation.response.done\",\"created_at\":\"2025-06-01T10:00:09Z\",\"usage\":{\"prompt_tokens\":188,\"completion_tokens\":400,\"total_tokens\":9194,\"connector_tokens\":8606,\"connectors\":{\"web_search\":1}}}"));
        answer("/v1/conversations", "text/event-stream", sse(ev.toArray(String[]::new)));
        charged(9_194, "/ai/v1/conversations", "{\"model\":\"mistral-medium-latest\",\"inputs\":\"News today?\",\"stream\":true,\"tools\":[{\"type\":\"web_search\"}]}");
    }

    @Test
    void agentRelaysGeminiRouterThenResponsesAnswer() {
        List<String> ev = new ArrayList<>();
        ev.add("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"route: research\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],"
                + "\"usageMetadata\":{\"promptTokenCount\":2900,\"candidatesTokenCount\":100,\"totalTokenCount\":3000},\"modelVersion\":\"gemini-2.0-flash\",\"responseId\":\"g237\"}\r\n\r\n");
        String resp = "{\"id\":\"resp_ag237\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"%s\",\"background\":false,\"model\":\"gpt-4.1\",\"output\":[],\"usage\":%s}";
        ev.add(ev("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":" + String.format(resp, "in_progress", "null") + "}"));
        for (int i = 0; i < 10; i++) {
            ev.add(ev("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":" + (i + 1)
                    + ",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"" + text(i) + "\"}"));
        }
        ev.add(ev("response.completed", "{\"type\":\"response.completed\",\"sequence_number\":20,\"response\":" + String.format(resp, "completed",
                "{\"input_tokens\":5400,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":600,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":6000}") + "}"));
        answer("/agent/run", "text/event-stream", sse(ev.toArray(String[]::new)));
        charged(9_000, "/ai/agent/run", "{\"question\":\"What changed?\"}");
    }

    @Test
    void agentRelaysCohereThenMistral() {
        List<String> ev = new ArrayList<>();
        ev.add(ev("message-start", "{\"id\":\"29f14a5a-237b\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}"));
        ev.add(ev("content-delta", "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"plan\"}}}}"));
        ev.add(ev("message-end", "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":2900,\"output_tokens\":100},"
                + "\"tokens\":{\"input_tokens\":2900,\"output_tokens\":100},\"cached_tokens\":0}}}"));
        String head = "{\"id\":\"cmpl-m237\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"mistral-large-latest\",\"choices\":";
        for (int i = 0; i < 10; i++) {
            ev.add("data: " + head + "[{\"index\":0,\"delta\":{\"content\":\"" + text(i) + "\"},\"finish_reason\":null}]}\n\n");
        }
        ev.add("data: " + head + "[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5400,\"total_tokens\":6000,\"completion_tokens\":600}}\n\n");
        ev.add("data: [DONE]\n\n");
        answer("/agent/run2", "text/event-stream", sse(ev.toArray(String[]::new)));
        charged(9_000, "/ai/agent/run2", "{\"question\":\"What changed?\"}");
    }

    @Test
    void agentRelaysOllamaChunksThenClaudeAsSse() {
        List<String> ev = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ev.add("data: {\"model\":\"llama3.2\",\"created_at\":\"2025-06-01T10:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"step " + i + " \"},\"done\":false}\n\n");
        }
        ev.add("data: {\"model\":\"llama3.2\",\"created_at\":\"2025-06-01T10:00:01Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,"
                + "\"total_duration\":1,\"load_duration\":1,\"prompt_eval_count\":2900,\"prompt_eval_duration\":1,\"eval_count\":100,\"eval_duration\":1}\n\n");
        ev.add(ev("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_ol237\",\"type\":\"message\",\"role\":\"assistant\","
                + "\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":5400,\"output_tokens\":1}}}"));
        for (int i = 0; i < 10; i++) {
            ev.add(ev("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + text(i) + "\"}}"));
        }
        ev.add(ev("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":600}}"));
        ev.add(ev("message_stop", "{\"type\":\"message_stop\"}"));
        answer("/agent/run3", "text/event-stream", sse(ev.toArray(String[]::new)));
        charged(9_000, "/ai/agent/run3", "{\"question\":\"What changed?\"}");
    }
}
