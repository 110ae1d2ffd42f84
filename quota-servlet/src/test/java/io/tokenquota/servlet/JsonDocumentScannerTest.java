package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What {@link JsonDocumentScanner} hands over of a document, fed in pieces. */
final class JsonDocumentScannerTest {

    private static List<JsonDocumentScanner.Document> scan(String json, int pieceSize) {
        List<JsonDocumentScanner.Document> documents = new ArrayList<>();
        JsonDocumentScanner scanner = new JsonDocumentScanner(documents::add);
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i += pieceSize) {
            scanner.feed(bytes, i, Math.min(pieceSize, bytes.length - i));
        }
        scanner.end();
        return documents;
    }

    private static JsonDocumentScanner.Document only(String json) {
        List<JsonDocumentScanner.Document> documents = scan(json, 5);
        assertEquals(1, documents.size(), json);
        return documents.get(0);
    }

    /**
     * LM Studio's {@code stats} (round 315) is collected only as LM Studio writes it, so an application's own
     * {@code stats} leaves a document without usage, as if it had none.
     */
    @Test
    void lmStudioStatsAreKeptOnlyWithBothCountersAndResultStatsOnlyInChatEnd() {
        String stats = "{\"input_tokens\":9000,\"total_output_tokens\":700,\"tokens_per_second\":41.0}";
        assertEquals(9_000L, only("{\"output\":[],\"stats\":" + stats + "}").usage(JsonDocumentScanner.LMSTUDIO_STATS)
                .get(JsonDocumentScanner.LMSTUDIO_INPUT));
        assertEquals(700L, only("{\"result\":{\"stats\":" + stats + "},\"type\":\"chat.end\"}")
                .usage(JsonDocumentScanner.LMSTUDIO_END_STATS).get(JsonDocumentScanner.LMSTUDIO_OUTPUT));
        assertTrue(only("{\"answer\":\"x\",\"stats\":{\"input_tokens\":3,\"latency_ms\":12}}").usages().isEmpty());
        assertTrue(only("{\"type\":\"message.delta\",\"result\":{\"stats\":" + stats + "}}").usages().isEmpty());
        assertTrue(only("{\"result\":{\"stats\":" + stats + "}}").usages().isEmpty());
    }

    /**
     * Round 388: Mastra's {@code payload.output.usage} is kept only in a {@code step-finish} or {@code finish} chunk of
     * Mastra's exact shape, and LlamaIndex's {@code raw.usage} and {@code additional_kwargs} only in a
     * {@code ChatResponse}'s (the raw usage when {@code raw} is a whole chat completion, else the three counters).
     */
    @Test
    void mastraAndLlamaIndexUsageIsKeptOnlyInTheirExactShapes() {
        String usage = "{\"inputTokens\":2100,\"outputTokens\":150,\"totalTokens\":2250}";
        String chunk = "\"runId\":\"r1\",\"from\":\"AGENT\",\"payload\":{\"output\":{\"usage\":" + usage + "}}";
        assertEquals(2_250L, only("{\"type\":\"step-finish\"," + chunk + "}").usage(JsonDocumentScanner.MASTRA_USAGE)
                .get("totalTokens"));
        assertEquals(2_250L, only("{" + chunk + ",\"metadata\":{},\"type\":\"finish\"}").usage(JsonDocumentScanner.MASTRA_USAGE)
                .get("totalTokens"));
        assertTrue(only("{\"type\":\"tool-result\"," + chunk + "}").usages().isEmpty());
        assertTrue(only("{\"type\":\"finish\",\"runId\":\"r1\",\"from\":\"MODEL\",\"payload\":{\"output\":{\"usage\":"
                + usage + "}}}").usages().isEmpty());
        assertTrue(only("{\"type\":\"finish\",\"id\":\"x\"," + chunk + "}").usages().isEmpty());
        assertTrue(only("{\"type\":\"finish\",\"from\":\"AGENT\",\"payload\":{\"output\":{\"usage\":" + usage + "}}}")
                .usages().isEmpty());

        String counts = "\"additional_kwargs\":{\"prompt_tokens\":9600,\"completion_tokens\":1200,\"total_tokens\":10800}";
        String completion = "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[],\"usage\":{\"prompt_tokens\":9600,"
                + "\"completion_tokens\":1200,\"total_tokens\":10800}}";
        JsonDocumentScanner.Document raw = only("{\"message\":{\"role\":\"assistant\"},\"raw\":" + completion
                + ",\"delta\":null,\"logprobs\":null," + counts + "}");
        assertEquals(10_800L, raw.usage(JsonDocumentScanner.LLAMAINDEX_RAW_USAGE).get("total_tokens"));
        assertNull(raw.usage(JsonDocumentScanner.LLAMAINDEX_COUNTS));
        // raw another provider's answer: LlamaIndex's counts
        JsonDocumentScanner.Document other = only("{\"message\":{},\"raw\":{\"usage\":{\"input_tokens\":5}}," + counts + "}");
        assertNull(other.usage(JsonDocumentScanner.LLAMAINDEX_RAW_USAGE));
        assertEquals(10_800L, other.usage(JsonDocumentScanner.LLAMAINDEX_COUNTS).get("total_tokens"));
        // another field, no message, or counts short of the three: no ChatResponse
        assertTrue(only("{\"message\":{},\"raw\":" + completion + ",\"answer\":\"x\"," + counts + "}").usages().isEmpty());
        assertTrue(only("{\"raw\":" + completion + "," + counts + "}").usages().isEmpty());
        assertTrue(only("{\"message\":{},\"raw\":{},\"additional_kwargs\":{\"total_tokens\":5}}").usages().isEmpty());
    }

    /**
     * Round 394: a Mastra {@code tool-output} or {@code workflow-step-output} chunk whose {@code payload.output} is a
     * Mastra chunk (an agent's stream piped into a tool's writer) is read as that chunk, under its own {@code runId};
     * anything else a writer was given stays unread.
     */
    @Test
    void aMastraChunkAToolsWriterWrappedIsReadAsThatChunk() {
        String usage = "{\"inputTokens\":6000,\"outputTokens\":1500,\"totalTokens\":7500}";
        String inner = "{\"type\":\"step-finish\",\"runId\":\"inner\",\"from\":\"AGENT\",\"payload\":{\"output\":"
                + "{\"usage\":" + usage + "}}}";
        for (String wrapper : List.of("tool-output", "workflow-step-output")) {
            JsonDocumentScanner.Document d = only("{\"type\":\"" + wrapper + "\",\"runId\":\"outer\",\"from\":\"USER\","
                    + "\"payload\":{\"output\":" + inner + ",\"toolCallId\":\"c\",\"toolName\":\"t\"}}");
            assertEquals(7_500L, d.usage(JsonDocumentScanner.MASTRA_USAGE).get("totalTokens"));
            assertEquals("inner", d.mastraRun());
        }
        // a tool's own writer.write({usage}), or another chunk type, or no Mastra chunk around it: nothing
        assertTrue(only("{\"type\":\"tool-output\",\"runId\":\"outer\",\"from\":\"USER\",\"payload\":{\"output\":"
                + "{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":5,\"total_tokens\":10}}}}").usages().isEmpty());
        assertTrue(only("{\"type\":\"tool-result\",\"runId\":\"outer\",\"from\":\"AGENT\",\"payload\":{\"output\":"
                + inner + "}}").usages().isEmpty());
        assertTrue(only("{\"type\":\"tool-output\",\"id\":\"x\",\"payload\":{\"output\":" + inner + "}}").usages()
                .isEmpty());
        assertEquals("r1", only("{\"type\":\"finish\",\"runId\":\"r1\",\"from\":\"AGENT\",\"payload\":{}}").mastraRun());
    }

    /**
     * A Bedrock agent's trace event ({@code TracePart}) reports a model call at its step's
     * {@code modelInvocationOutput.metadata.usage} (round 470): kept there for each step kind that calls a model, in a
     * document of a TracePart's members only, with its {@code agentId}; nowhere else in the trace, nor in another shape.
     */
    @Test
    void aBedrockAgentsTraceUsageIsKeptOnlyAtItsModelInvocationOutput() {
        String usage = "{\"inputTokens\":3150,\"outputTokens\":210}";
        String part = "\"agentAliasId\":\"TSTALIASID\",\"agentId\":\"AGENT1\",\"sessionId\":\"s\",\"eventTime\":\"t\",";
        for (String kind : List.of("preProcessingTrace", "orchestrationTrace", "postProcessingTrace",
                "routingClassifierTrace")) {
            JsonDocumentScanner.Document d = only("{" + part + "\"trace\":{\"" + kind + "\":{\"modelInvocationOutput\":"
                    + "{\"traceId\":\"t-0\",\"rawResponse\":{\"content\":\"x\"},\"metadata\":{\"totalTimeMs\":5,\"usage\":"
                    + usage + "}}}},\"p\":\"abc\"}");
            assertEquals(3_150L, d.usage(JsonDocumentScanner.AGENT_TRACE_USAGE).get("inputTokens"), kind);
            assertEquals(210L, d.usage(JsonDocumentScanner.AGENT_TRACE_USAGE).get("outputTokens"), kind);
        }
        // a collaborator's step, named as such
        assertEquals(3_150L, only("{" + part + "\"collaboratorName\":\"orders\",\"callerChain\":[{\"agentAliasArn\":\"a\"}],"
                + "\"trace\":{\"orchestrationTrace\":{\"modelInvocationOutput\":{\"metadata\":{\"usage\":" + usage
                + "}}}}}").usage(JsonDocumentScanner.AGENT_TRACE_USAGE).get("inputTokens"));
        // the rationale, an action group's output, the final response, a guardrail's metadata, one level off: nothing
        for (String trace : List.of(
                "{\"orchestrationTrace\":{\"rationale\":{\"text\":\"x\",\"usage\":" + usage + "}}}",
                "{\"orchestrationTrace\":{\"observation\":{\"actionGroupInvocationOutput\":{\"text\":\"x\","
                        + "\"metadata\":{\"usage\":" + usage + "}}}}}",
                "{\"orchestrationTrace\":{\"observation\":{\"finalResponse\":{\"metadata\":{\"usage\":" + usage + "}}}}}",
                "{\"orchestrationTrace\":{\"observation\":{\"modelInvocationOutput\":{\"metadata\":{\"usage\":" + usage
                        + "}}}}}",
                "{\"guardrailTrace\":{\"action\":\"NONE\",\"metadata\":{\"usage\":" + usage + "}}}",
                "{\"customOrchestrationTrace\":{\"modelInvocationOutput\":{\"metadata\":{\"usage\":" + usage + "}}}}",
                "{\"orchestrationTrace\":{\"modelInvocationOutput\":{\"usage\":" + usage + "}}}")) {
            assertTrue(only("{" + part + "\"trace\":" + trace + "}").usages().isEmpty(), trace);
        }
        // not a TracePart: another member, or no agentId
        String call = "\"trace\":{\"orchestrationTrace\":{\"modelInvocationOutput\":{\"metadata\":{\"usage\":" + usage + "}}}}";
        assertTrue(only("{" + part + "\"type\":\"trace\"," + call + "}").usages().isEmpty());
        assertTrue(only("{\"sessionId\":\"s\"," + call + "}").usages().isEmpty());
        assertTrue(only("{\"agentId\":{\"id\":\"A\"}," + call + "}").usages().isEmpty());
    }

    /**
     * The same trace event as AWS's SDKs hand it over and a relay writes it as a JSON line ({@code {"trace": TracePart}},
     * round 479): read as the TracePart, only when {@code trace} is the root's only field; never one level further
     * down, nor beside another root field.
     */
    @Test
    void aBedrockAgentsTraceEventInTheSdksShapeIsReadOnlyAtTheRoot() {
        String part = "{\"agentAliasId\":\"TSTALIASID\",\"agentId\":\"AGENT1\",\"sessionId\":\"s\",\"trace\":"
                + "{\"orchestrationTrace\":{\"modelInvocationOutput\":{\"metadata\":{\"usage\":"
                + "{\"inputTokens\":3150,\"outputTokens\":210}}}}}}";
        JsonDocumentScanner.Document d = only("{\"trace\":" + part + "}");
        assertEquals(3_150L, d.usage(JsonDocumentScanner.AGENT_TRACE_USAGE).get("inputTokens"));
        assertEquals(210L, d.usage(JsonDocumentScanner.AGENT_TRACE_USAGE).get("outputTokens"));
        assertTrue(only("{\"trace\":" + part + ",\"id\":\"x\"}").usages().isEmpty());
        assertTrue(only("{\"id\":\"x\",\"trace\":" + part + "}").usages().isEmpty());
        assertTrue(only("{\"answer\":{\"trace\":" + part + "}}").usages().isEmpty());
        assertTrue(only("{\"trace\":{\"trace\":" + part + "}}").usages().isEmpty());
        // not a TracePart inside: no agentId
        assertTrue(only("{\"trace\":" + part.replace("\"agentId\":\"AGENT1\",", "") + "}").usages().isEmpty());
    }

    /** xAI's deferred creation answers its {@code request_id} at the top level; nowhere else counts. */
    @Test
    void aTopLevelRequestIdIsHandedOver() {
        assertEquals("6c8f3d2a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
                only("{\"request_id\":\"6c8f3d2a-1b2c-4d5e-8f90-a1b2c3d4e5f6\"}").requestId());
        assertNull(only("{\"id\":\"x\",\"meta\":{\"request_id\":\"r\"},\"usage\":{\"total_tokens\":1}}").requestId());
    }

    /** Z.ai's asynchronous chat completion names its task's state in a top-level {@code task_status} (round 319). */
    @Test
    void aTopLevelTaskStatusIsHandedOver() {
        assertEquals("PROCESSING", only("{\"id\":\"1016-1\",\"request_id\":\"r\",\"model\":\"glm-4-plus\","
                + "\"task_status\":\"PROCESSING\"}").taskStatus());
        assertNull(only("{\"id\":\"x\",\"data\":{\"task_status\":\"SUCCESS\"}}").taskStatus());
    }

    /** The text a chat completion cut after {@code cutAt} characters carried, one token a character. */
    private static long cutText(String json, int cutAt) {
        JsonDocumentScanner scanner = new JsonDocumentScanner(d -> { });
        scanner.countText(CharSequence::length, true, new StreamText.Seen());
        byte[] bytes = json.substring(0, cutAt).getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i += 4_096) {
            scanner.feed(bytes, i, Math.min(4_096, bytes.length - i));
        }
        scanner.end();
        return scanner.cutText();
    }

    /**
     * Round 402: a document cut inside the string of its answer's text (a chat completion whose one long
     * {@code content} a client's hang-up cut at 12,288 bytes was counted no text) is charged the part of that
     * string that was read, kept or not; a string the text rules do not count (an {@code id}, a field name)
     * adds nothing.
     */
    @Test
    void aDocumentCutInsideItsAnswersTextCountsTheTextReadSoFar() {
        String head = "{\"id\":\"chatcmpl-402\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"";
        String text = "a".repeat(120_000);
        String json = head + text + "\"}}]}";
        // past the string's kept part, within it, and just after it; the part past the kept one counted in pieces of
        // 8 KB, each the text goes on after one token more (an estimator's rounding: StringRest), every piece
        assertEquals(12_288 - head.length() + 1, cutText(json, 12_288));
        assertEquals(100, cutText(json, head.length() + 100));
        long whole = cutText(json, head.length() + 120_001);
        assertTrue(whole >= 120_000 && whole <= 120_000 + 120_000 / 4_096, "" + whole);
        // cut after an escape's backslash, inside a \\u escape
        assertEquals(6, cutText(head + "abcde\\n\"}}]}", head.length() + 6));
        assertEquals(6, cutText(head + "abcde\\u00e9\"}}]}", head.length() + 8));
        // an id, a field name, cut: no text
        assertEquals(0, cutText(json, "{\"id\":\"chatcmpl".length()));
        assertEquals(0, cutText(json, head.length() - 5));
    }
}
