package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The usage split by kind of token, and the answering model, as the sniffer reads them for weighing. */
class UsageKindsTest {
    private static UsageSniffer sniff(String contentType, String body) {
        UsageSniffer s = new UsageSniffer();
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        s.begin(contentType, null, bytes);
        // in small pieces: every split point of the counters and the model must work
        for (int i = 0; i < bytes.length; i += 7) {
            s.feed(bytes, i, Math.min(7, bytes.length - i));
        }
        s.finish();
        return s;
    }

    @Test
    void openAiCachedAndReasoningPartsAreTakenOutOfTheirWholes() {
        UsageSniffer s = sniff("application/json", "{\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":1000,"
                + "\"completion_tokens\":300,\"total_tokens\":1300,\"prompt_tokens_details\":{\"cached_tokens\":400},"
                + "\"completion_tokens_details\":{\"reasoning_tokens\":100}}}");
        assertArrayEquals(new long[] {600, 400, 200, 100}, s.kinds());
        assertEquals(1_300, s.usage());
        assertEquals(java.util.List.of("gpt-4o"), s.models());
    }

    @Test
    void aPartLargerThanItsWholeIsClampedAndATotalAboveThePartsIsOutput() {
        UsageSniffer s = sniff("application/json", "{\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
                + "\"total_tokens\":40,\"prompt_tokens_details\":{\"cached_tokens\":999},"
                + "\"completion_tokens_details\":{\"reasoning_tokens\":999}}}");
        // cached clamped to 10, reasoning to 5; the 25 tokens the parts do not name count as output
        assertArrayEquals(new long[] {0, 10, 25, 5}, s.kinds());
        assertEquals(40, s.kinds()[0] + s.kinds()[1] + s.kinds()[2] + s.kinds()[3]);
    }

    @Test
    void anthropicStreamTakesTheModelFromMessageStartAndTheFinalCounts() {
        UsageSniffer s = sniff("text/event-stream", "event: message_start\ndata: {\"type\":\"message_start\","
                + "\"message\":{\"model\":\"claude-sonnet-4\",\"usage\":{\"input_tokens\":100,"
                + "\"cache_creation_input_tokens\":50,\"cache_read_input_tokens\":1000,\"output_tokens\":1}}}\n\n"
                + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\","
                + "\"text\":\"{\\\"model\\\":\\\"cheap\\\"}\"}}\n\n"
                + "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":20}}\n\n");
        assertArrayEquals(new long[] {150, 1_000, 20, 0}, s.kinds());
        assertEquals(java.util.List.of("claude-sonnet-4"), s.models());
    }

    @Test
    void geminiInSnakeCaseToo() {
        UsageSniffer s = sniff("application/json", "{\"candidates\":[{\"finish_reason\":\"STOP\"}],\"usage_metadata\":"
                + "{\"prompt_token_count\":1000,\"cached_content_token_count\":600,\"candidates_token_count\":50,"
                + "\"thoughts_token_count\":200,\"tool_use_prompt_token_count\":7,\"total_token_count\":1257},"
                + "\"model_version\":\"gemini-2.5-pro\"}");
        assertArrayEquals(new long[] {407, 600, 50, 200}, s.kinds());
        assertEquals(java.util.List.of("gemini-2.5-pro"), s.models());
    }

    @Test
    void aModelNamedInsideContentOrToolArgumentsIsNotTheAnswersModel() {
        UsageSniffer s = sniff("application/json", "{\"choices\":[{\"message\":{\"content\":\"x\",\"tool_calls\":"
                + "[{\"function\":{\"arguments\":{\"model\":\"cheap\"}}}]}}],\"meta\":{\"model\":\"cheap\"},"
                + "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}");
        assertTrue(s.models().isEmpty());
        assertArrayEquals(new long[] {1, 0, 1, 0}, s.kinds());
    }

    @Test
    void ollamaAndBedrockSplitInputAndOutput() {
        assertArrayEquals(new long[] {40, 0, 12, 0}, sniff("application/json",
                "{\"model\":\"llama3.1\",\"done\":true,\"prompt_eval_count\":40,\"eval_count\":12}").kinds());
        assertArrayEquals(new long[] {45, 100, 12, 0}, sniff("application/json",
                "{\"usage\":{\"inputTokens\":40,\"cacheWriteInputTokens\":5,\"cacheReadInputTokens\":100,"
                        + "\"outputTokens\":12,\"totalTokens\":157}}").kinds());
    }

    @Test
    void everyModelTheRequestNamesIsACandidate() {
        // a repeated key's every value, any case (a Go relay matches Model), not a nested one
        assertEquals(List.of("cheap", "o3", "gpt-4o"), candidates("/v1/chat",
                "{\"model\":\"cheap\",\"messages\":[{\"model\":\"inner\"}],\"x\":1,\"model\":\"o3\",\"Model\":\"gpt-4o\"}"));
        // Gemini's and Bedrock's paths
        assertEquals(List.of("gemini-2.5-pro", "cheap"), candidates("/v1beta/models/gemini-2.5-pro:streamGenerateContent",
                "{\"model\":\"cheap\"}"));
        assertEquals(List.of("anthropic.claude-3-opus-20240229-v1:0"),
                candidates("/model/anthropic.claude-3-opus-20240229-v1:0/converse", "{}"));
        assertEquals(List.of(), candidates("/v1/chat", "not json"));
        assertEquals(List.of(), candidates("/v1/chat", "{\"model\":\"a\\u0000b\"}"));
        // a batch's requests, found where the estimator finds their budgets
        assertEquals(List.of("claude-opus-4-1", "claude-haiku"), candidates("/v1/messages/batches",
                "{\"requests\":[{\"custom_id\":\"a\",\"params\":{\"model\":\"claude-opus-4-1\",\"max_tokens\":9}},"
                        + "{\"custom_id\":\"b\",\"params\":{\"model\":\"claude-haiku\"}}]}"));
        assertEquals(List.of("gpt-4o", "o3"), candidates("/v1/batches",
                "{\"custom_id\":\"1\",\"method\":\"POST\",\"body\":{\"model\":\"gpt-4o\"}}\n"
                        + "{\"custom_id\":\"2\",\"method\":\"POST\",\"body\":{\"model\":\"o3\"}}\n"));
        assertEquals(List.of("a", "b"), candidates("/v1/chat", "{\"model\":\"a\"}\n{\"model\":\"b\"}"));
        // a malformed byte before the model: read as an endpoint's Reader reads it, U+FFFD in its place
        Weighing.Candidates latin1 = new Weighing.Candidates(io.tokenquota.ModelWeights.builder().build());
        new RequestEstimator(CharSequence::length).estimate("{\"content\":\"caf\u00e9\",\"model\":\"gpt-4o\"}"
                .getBytes(StandardCharsets.ISO_8859_1)).allModels().forEach(latin1::add);
        assertEquals(List.of("gpt-4o"), List.copyOf(latin1.models()));
        Weighing.Candidates form = new Weighing.Candidates(io.tokenquota.ModelWeights.builder().build());
        form.fromParameters(java.util.Map.of("MODEL", List.of("a", "b")));
        assertEquals(List.of("a", "b"), List.copyOf(form.models()));
    }

    private static List<String> candidates(String path, String json) {
        Weighing.Candidates c = new Weighing.Candidates(io.tokenquota.ModelWeights.builder().build());
        c.fromPath(path);
        RequestEstimator.Estimate e = new RequestEstimator(CharSequence::length).estimate(json.getBytes(StandardCharsets.UTF_8));
        if (e != null) {
            e.allModels().forEach(c::add);
        }
        return List.copyOf(c.models());
    }
}
