package io.tokenquota.servlet.breakit516;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 516 of issue 11 ("no model call goes unpaid"): streamed and whole answers whose final usage is reported where
 * each provider documents it in a less common event or field, each far above the request's hold (a short prompt, no
 * budget: about 1,010), so an answer whose usage is misread is charged its hold and shows it:
 * <ul>
 *   <li>Anthropic Messages with the web search server tool: the {@code message_delta} usage is cumulative and counts
 *       the search results read as input, far more than {@code message_start}'s snapshot (docs.anthropic.com,
 *       "Streaming Messages": "The token counts shown in the usage field of the message_delta event are
 *       cumulative"; the web search example's {@code message_delta} carries {@code input_tokens},
 *       {@code cache_*} and {@code server_tool_use});</li>
 *   <li>Gemini {@code streamGenerateContent?alt=sse} with thinking: every chunk's {@code usageMetadata}, the last one
 *       with {@code thoughtsTokenCount} (ai.google.dev, "GenerateContentResponse.UsageMetadata");</li>
 *   <li>Ollama's {@code /api/chat} stream (NDJSON, docs/api.md "Generate a chat completion"): the last object,
 *       {@code "done": true}, with {@code prompt_eval_count} and {@code eval_count};</li>
 *   <li>Bedrock Converse's whole answer with prompt caching (API reference, {@code TokenUsage}: {@code totalTokens}
 *       counts the cache reads and writes beside {@code inputTokens} and {@code outputTokens});</li>
 *   <li>OpenAI Responses stream that ends with {@code response.incomplete} (the model reached
 *       {@code max_output_tokens}, most of it reasoning) rather than {@code response.completed}: the event's
 *       {@code response.usage} is the call's (platform.openai.com, Responses streaming events).</li>
 *   <li>vLLM's running usage in every chunk ({@code continuous_usage_stats}), Gemini's stream as one JSON array
 *       (no {@code alt=sse}), Ollama's {@code /api/generate} whose last object carries 12,000 token ids in
 *       {@code context}.</li>
 * </ul>
 * No finding: each is charged its usage on Jetty and Tomcat; kept as controls for the usage readers.
 */
abstract class AbstractRound516 extends ShapedAnswerRound {
    static final String CHAT = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"What happened today?\"}]}";
    static final String WORDS = "The committee met and agreed on the budget for next year. ";

    @Override
    protected String body(String shape) {
        return switch (shape) {
            // Bedrock Converse: totalTokens = 3,000 input + 9,000 output + 2,000 cache read
            case "bedrock-cache" -> "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":" + q(WORDS)
                    + "}]}},\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":3000,\"outputTokens\":9000,"
                    + "\"totalTokens\":14000,\"cacheReadInputTokens\":2000,\"cacheWriteInputTokens\":0},"
                    + "\"metrics\":{\"latencyMs\":1234}}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        StringBuilder b = new StringBuilder();
        switch (shape) {
            case "anthropic-search" -> {
                resp.setContentType("text/event-stream");
                b.append("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_516\","
                        + "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],"
                        + "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":2679,"
                        + "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":3}}}\n\n");
                b.append("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                        + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
                b.append("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                        + "\"delta\":{\"type\":\"text_delta\",\"text\":" + q(WORDS) + "}}\n\n");
                b.append("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
                b.append("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                        + "\"stop_sequence\":null},\"usage\":{\"input_tokens\":10682,\"cache_creation_input_tokens\":0,"
                        + "\"cache_read_input_tokens\":0,\"output_tokens\":510,\"server_tool_use\":{\"web_search_requests\":1}}}\n\n");
                b.append("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
            }
            case "gemini-thinking" -> {
                resp.setContentType("text/event-stream");
                for (int i = 1; i <= 3; i++) {
                    boolean last = i == 3;
                    b.append("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":" + q(WORDS) + "}],\"role\":\"model\"},"
                            + (last ? "\"finishReason\":\"STOP\"," : "") + "\"index\":0}],\"usageMetadata\":{"
                            + "\"promptTokenCount\":3000,\"candidatesTokenCount\":" + (i * 700) + ","
                            + "\"totalTokenCount\":" + (3000 + i * 700 + 6000) + ",\"promptTokensDetails\":[{\"modality\":"
                            + "\"TEXT\",\"tokenCount\":3000}],\"thoughtsTokenCount\":6000},\"modelVersion\":\"gemini-2.5-pro\","
                            + "\"responseId\":\"r516\"}\r\n\r\n");
                }
            }
            case "ollama-chat" -> {
                resp.setContentType("application/x-ndjson");
                for (int i = 0; i < 3; i++) {
                    b.append("{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:0" + i + "Z\",\"message\":"
                            + "{\"role\":\"assistant\",\"content\":" + q(WORDS) + "},\"done\":false}\n");
                }
                b.append("{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:09Z\",\"message\":{\"role\":\"assistant\","
                        + "\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,\"total_duration\":4883583458,"
                        + "\"load_duration\":1334875,\"prompt_eval_count\":3000,\"prompt_eval_duration\":342546000,"
                        + "\"eval_count\":9000,\"eval_duration\":4535599000}\n");
            }
            case "responses-incomplete" -> {
                resp.setContentType("text/event-stream");
                b.append("event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                        + "{\"id\":\"resp_516\",\"object\":\"response\",\"created_at\":1735689600,\"status\":\"in_progress\","
                        + "\"model\":\"o4-mini-2025-04-16\",\"output\":[],\"usage\":null}}\n\n");
                b.append("event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,"
                        + "\"output_index\":0,\"item\":{\"id\":\"rs_516\",\"type\":\"reasoning\",\"summary\":[]}}\n\n");
                b.append("event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":2,"
                        + "\"output_index\":0,\"item\":{\"id\":\"rs_516\",\"type\":\"reasoning\",\"summary\":[]}}\n\n");
                b.append("event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"sequence_number\":3,\"response\":"
                        + "{\"id\":\"resp_516\",\"object\":\"response\",\"created_at\":1735689600,\"status\":\"incomplete\","
                        + "\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"model\":\"o4-mini-2025-04-16\","
                        + "\"output\":[{\"id\":\"rs_516\",\"type\":\"reasoning\",\"summary\":[]}],\"max_output_tokens\":9000,"
                        + "\"usage\":{\"input_tokens\":3000,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":9000,"
                        + "\"output_tokens_details\":{\"reasoning_tokens\":9000},\"total_tokens\":12000}}}\n\n");
            }
            case "vllm-continuous" -> {
                // vLLM's stream_options {"include_usage": true, "continuous_usage_stats": true}: every chunk carries the
                // running usage, the last one (choices []) the call's (vLLM docs, OpenAI-compatible server)
                resp.setContentType("text/event-stream");
                for (int i = 1; i <= 3; i++) {
                    b.append("data: {\"id\":\"chatcmpl-516\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                            + "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":" + q(WORDS) + "},"
                            + "\"logprobs\":null,\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":3000,\"total_tokens\":"
                            + (3000 + i * 3000) + ",\"completion_tokens\":" + (i * 3000) + "}}\n\n");
                }
                b.append("data: {\"id\":\"chatcmpl-516\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                        + "\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":3000,\"total_tokens\":12000,"
                        + "\"completion_tokens\":9000}}\n\ndata: [DONE]\n\n");
            }
            case "gemini-array" -> {
                // streamGenerateContent without alt=sse: one JSON array written element by element
                resp.setContentType("application/json");
                b.append("[");
                for (int i = 1; i <= 3; i++) {
                    b.append(i > 1 ? ",\r\n" : "").append("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":" + q(WORDS)
                            + "}],\"role\":\"model\"}," + (i == 3 ? "\"finishReason\":\"STOP\"," : "") + "\"index\":0}],"
                            + "\"usageMetadata\":{\"promptTokenCount\":3000,\"candidatesTokenCount\":" + (i * 3000)
                            + ",\"totalTokenCount\":" + (3000 + i * 3000) + "},\"modelVersion\":\"gemini-2.0-flash\"}");
                }
                b.append("]");
            }
            case "ollama-generate" -> {
                // /api/generate's last object carries the conversation's token ids ("context") beside the counts
                resp.setContentType("application/x-ndjson");
                b.append("{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\",\"response\":" + q(WORDS)
                        + ",\"done\":false}\n");
                StringBuilder ids = new StringBuilder();
                for (int i = 0; i < 12000; i++) {
                    ids.append(i == 0 ? "" : ",").append(128000 + i % 1000);
                }
                b.append("{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:09Z\",\"response\":\"\",\"done\":true,"
                        + "\"done_reason\":\"stop\",\"context\":[" + ids + "],\"total_duration\":10706818083,"
                        + "\"prompt_eval_count\":3000,\"eval_count\":9000}\n");
            }
            default -> {
                return false;
            }
        }
        resp.getOutputStream().write(b.toString().getBytes(StandardCharsets.UTF_8));
        return true;
    }

    private void assertCharged(String shape, long expected) {
        String s = "r516-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, CHAT);
        assertEquals(expected, used, kind() + " " + shape + ": charged " + used + ", the answer's usage is " + expected
                + "; " + ledger(s));
    }

    @ParameterizedTest
    @ValueSource(strings = {"anthropic-search:11192", "gemini-thinking:11100", "ollama-chat:12000", "bedrock-cache:14000",
        "responses-incomplete:12000",
        "vllm-continuous:12000", "gemini-array:12000", "ollama-generate:12000"})
    void theFinalUsageWhereEachProviderReportsItIsCharged(String shapeAndUsage) {
        String[] p = shapeAndUsage.split(":");
        assertCharged(p[0], Long.parseLong(p[1]));
    }
}
