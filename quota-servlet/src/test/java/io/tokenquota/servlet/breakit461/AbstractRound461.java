package io.tokenquota.servlet.breakit461;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 461 of issue 11: streamed answers whose last event is not the "happy" one. An OpenAI Responses
 * stream cut by {@code max_output_tokens} ends with {@code response.incomplete} (status "incomplete",
 * incomplete_details.reason "max_output_tokens") instead of {@code response.completed}, and carries the
 * call's usage there (OpenAI API reference, "Streaming events": response.incomplete). Anthropic's
 * Messages stream sends cumulative counts in {@code message_delta}, which now repeats input_tokens and the
 * cache counters beside output_tokens (Anthropic docs, "Streaming Messages": "The token counts in the usage
 * field of the message_delta event are cumulative"). Both must be charged the call's total once.
 * Found charged right on Jetty and Tomcat: these stay as controls.
 */
abstract class AbstractRound461 extends ShapedAnswerRound {
    static final long INPUT = 40;
    static final long OUTPUT = 13_400; // reasoning 9,000 inside it, as Responses counts it
    static final long REASONING = 9_000;

    static final long A_INPUT = 30;
    static final long A_CACHE_READ = 6_000;
    static final long A_CACHE_WRITE = 2_000;
    static final long A_OUTPUT = 4_400;

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    static String responsesUsage() {
        return "{\"input_tokens\":" + INPUT + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":"
                + OUTPUT + ",\"output_tokens_details\":{\"reasoning_tokens\":" + REASONING + "},\"total_tokens\":"
                + (INPUT + OUTPUT) + "}";
    }

    /** The Response object as the Responses API reference shows it, in the given status. */
    static String responseObject(String status, String incomplete, String usage, String output) {
        return "{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\","
                + "\"created_at\":1741290958,\"status\":\"" + status + "\",\"error\":null,\"incomplete_details\":"
                + incomplete + ",\"instructions\":null,\"max_output_tokens\":13400,\"model\":\"o4-mini-2025-04-16\","
                + "\"output\":" + output + ",\"parallel_tool_calls\":true,\"previous_response_id\":null,"
                + "\"reasoning\":{\"effort\":\"high\",\"summary\":null},\"store\":true,\"temperature\":1.0,"
                + "\"text\":{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,"
                + "\"truncation\":\"disabled\",\"usage\":" + usage + ",\"user\":null,\"metadata\":{}}";
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        StringBuilder sse = new StringBuilder();
        switch (shape) {
            case "responses-incomplete", "responses-completed" -> {
                boolean cut = shape.endsWith("incomplete");
                int seq = 0;
                sse.append("event: response.created\ndata: {\"type\":\"response.created\",\"response\":")
                        .append(responseObject("in_progress", "null", "null", "[]"))
                        .append(",\"sequence_number\":").append(seq++).append("}\n\n");
                sse.append("event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"response\":")
                        .append(responseObject("in_progress", "null", "null", "[]"))
                        .append(",\"sequence_number\":").append(seq++).append("}\n\n");
                String item = "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654";
                sse.append("event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\","
                        + "\"output_index\":0,\"item\":{\"id\":\"" + item + "\",\"type\":\"message\",\"status\":"
                        + "\"in_progress\",\"role\":\"assistant\",\"content\":[]},\"sequence_number\":")
                        .append(seq++).append("}\n\n");
                for (int i = 0; i < TEXT.length(); i += 1_000) {
                    sse.append("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
                            + "\"item_id\":\"" + item + "\",\"output_index\":0,\"content_index\":0,\"delta\":")
                            .append(q(TEXT.substring(i, Math.min(TEXT.length(), i + 1_000))))
                            .append(",\"sequence_number\":").append(seq++).append("}\n\n");
                }
                String output = "[{\"id\":\"" + item + "\",\"type\":\"message\",\"status\":\""
                        + (cut ? "incomplete" : "completed") + "\",\"role\":\"assistant\",\"content\":[{\"type\":"
                        + "\"output_text\",\"text\":\"(the text above)\",\"annotations\":[]}]}]";
                String type = cut ? "response.incomplete" : "response.completed";
                sse.append("event: ").append(type).append("\ndata: {\"type\":\"").append(type).append("\",\"response\":")
                        .append(responseObject(cut ? "incomplete" : "completed",
                                cut ? "{\"reason\":\"max_output_tokens\"}" : "null", responsesUsage(), output))
                        .append(",\"sequence_number\":").append(seq).append("}\n\n");
            }
            case "anthropic-cumulative", "anthropic-output-only" -> {
                boolean cumulative = shape.endsWith("cumulative");
                String startUsage = "{\"input_tokens\":" + A_INPUT + ",\"cache_creation_input_tokens\":" + A_CACHE_WRITE
                        + ",\"cache_read_input_tokens\":" + A_CACHE_READ + ",\"cache_creation\":{\"ephemeral_5m_input_tokens\":"
                        + A_CACHE_WRITE + ",\"ephemeral_1h_input_tokens\":0},\"output_tokens\":1,\"service_tier\":\"standard\"}";
                sse.append("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
                        + "\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
                        + "\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                        + "\"usage\":").append(startUsage).append("}}\n\n");
                sse.append("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                        + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
                sse.append("event: ping\ndata: {\"type\": \"ping\"}\n\n");
                for (int i = 0; i < TEXT.length(); i += 1_000) {
                    sse.append("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                            + "\"delta\":{\"type\":\"text_delta\",\"text\":")
                            .append(q(TEXT.substring(i, Math.min(TEXT.length(), i + 1_000)))).append("}}\n\n");
                }
                sse.append("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
                String deltaUsage = cumulative
                        ? "{\"input_tokens\":" + A_INPUT + ",\"cache_creation_input_tokens\":" + A_CACHE_WRITE
                                + ",\"cache_read_input_tokens\":" + A_CACHE_READ + ",\"output_tokens\":" + A_OUTPUT + "}"
                        : "{\"output_tokens\":" + A_OUTPUT + "}";
                sse.append("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                        + "\"end_turn\",\"stop_sequence\":null},\"usage\":").append(deltaUsage).append("}\n\n");
                sse.append("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
            }
            default -> {
                return false;
            }
        }
        resp.setContentType("text/event-stream");
        resp.getOutputStream().write(sse.toString().getBytes(StandardCharsets.UTF_8));
        return true;
    }

    static final String RESPONSES_REQUEST = "{\"model\":\"o4-mini\",\"input\":\"Write me a long essay.\","
            + "\"max_output_tokens\":13400,\"reasoning\":{\"effort\":\"high\"},\"stream\":true}";
    static final String MESSAGES_REQUEST = "{\"model\":\"claude-sonnet-4-20250514\",\"max_tokens\":8000,\"stream\":true,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write me a long essay.\"}]}";

    private void charged(String shape, String request, long expected) {
        String s = "r461-" + shape + "-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s, request);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(expected, settled(s).used(), kind() + " " + shape + ": " + ledger(s));
    }

    @Test
    void aResponsesStreamCutByItsOutputBudgetIsChargedItsUsage() {
        charged("responses-incomplete", RESPONSES_REQUEST, INPUT + OUTPUT);
    }

    /** Control: the same stream ending response.completed. */
    @Test
    void aCompletedResponsesStreamIsChargedItsUsage() {
        charged("responses-completed", RESPONSES_REQUEST, INPUT + OUTPUT);
    }

    @Test
    void anAnthropicStreamWithCumulativeMessageDeltaIsChargedOnce() {
        charged("anthropic-cumulative", MESSAGES_REQUEST, A_INPUT + A_CACHE_READ + A_CACHE_WRITE + A_OUTPUT);
    }

    /** Control: message_delta with output_tokens alone. */
    @Test
    void anAnthropicStreamWithOutputOnlyMessageDeltaIsChargedItsTotal() {
        charged("anthropic-output-only", MESSAGES_REQUEST, A_INPUT + A_CACHE_READ + A_CACHE_WRITE + A_OUTPUT);
    }
}
