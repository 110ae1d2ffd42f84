package io.tokenquota.servlet.breakit163;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 163 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * answers that relay several model calls in one HTTP response. The relay endpoint
 * ({@code POST /ai/relay/<scenario>}) makes the scenario's provider calls and relays each call's stream
 * or whole answer to the browser exactly as the provider sent it: as server-sent events, or as
 * newline-delimited JSON (Ollama's own framing). Models the weight table does not list are charged
 * one token a token, so those figures are the raw usage; listed ones at their list prices per million
 * (input, cached input, output, reasoning).
 */
abstract class AbstractRound163 extends RelayedCalls {
    // ------------------------------------------------------------------ provider shapes

    // Bedrock ConverseStream (each stream event's JSON payload, as the SDK hands it over)
    static final Event CONVERSE_START = data("{\"messageStart\":{\"role\":\"assistant\"}}");

    static Event converseDelta(String text) {
        return data("{\"contentBlockDelta\":{\"delta\":{\"text\":\"" + text + "\"},\"contentBlockIndex\":0}}");
    }

    static final Event CONVERSE_STOP = data("{\"messageStop\":{\"stopReason\":\"end_turn\"}}");

    static Event converseMetadata(long in, long out) {
        return data("{\"metadata\":{\"usage\":{\"inputTokens\":" + in + ",\"outputTokens\":" + out + ",\"totalTokens\":"
                + (in + out) + "},\"metrics\":{\"latencyMs\":1180}}}");
    }

    // Cohere v2 chat
    static String cohereUsage(long in, long out) {
        return "{\"billed_units\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + "},\"tokens\":{\"input_tokens\":"
                + in + ",\"output_tokens\":" + out + "}}";
    }

    static Event cohereWhole(String id, String text, long in, long out) {
        return data("{\"id\":\"" + id + "\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\""
                + text + "\"}]},\"finish_reason\":\"COMPLETE\",\"usage\":" + cohereUsage(in, out) + "}");
    }

    static Event cohereStart(String id) {
        return new Event("message-start", "{\"id\":\"" + id + "\",\"type\":\"message-start\",\"delta\":{\"message\":"
                + "{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}");
    }

    static Event cohereDelta(String text) {
        return new Event("content-delta", "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":"
                + "{\"text\":\"" + text + "\"}}}}");
    }

    static Event cohereEnd(long in, long out) {
        return new Event("message-end", "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":"
                + cohereUsage(in, out) + "}}");
    }

    // Google ADK events (its /run_sse endpoint)
    static final String ADK_TAIL = "\"invocationId\":\"e-7c1d2b3a-163\",\"author\":\"memo_writer\",\"actions\":"
            + "{\"stateDelta\":{},\"artifactDelta\":{},\"requestedAuthConfigs\":{}},";

    static Event adkPartial(String id, String text, Long prompt) {
        return data("{\"content\":{\"parts\":[{\"text\":\"" + text + "\"}],\"role\":\"model\"},\"partial\":true,"
                + (prompt == null ? "" : "\"usageMetadata\":{\"promptTokenCount\":" + prompt + ",\"totalTokenCount\":" + prompt + "},")
                + ADK_TAIL + "\"id\":\"" + id + "\",\"timestamp\":1735689600.1}");
    }

    static Event adkFinal(String id, String text, long prompt, long candidates) {
        return data("{\"content\":{\"parts\":[{\"text\":\"" + text + "\"}],\"role\":\"model\"},\"usageMetadata\":"
                + "{\"candidatesTokenCount\":" + candidates + ",\"promptTokenCount\":" + prompt + ",\"totalTokenCount\":"
                + (prompt + candidates) + "}," + ADK_TAIL + "\"id\":\"" + id + "\",\"timestamp\":1735689600.2}");
    }

    // Gemini streamGenerateContent (alt=sse) with running counts in every chunk
    static Event geminiChunk(String responseId, String model, long prompt, long candidates, boolean last) {
        return data("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + (last ? " done." : "Working") + "\"}],"
                + "\"role\":\"model\"}," + (last ? "\"finishReason\":\"STOP\"," : "") + "\"index\":0}],\"usageMetadata\":"
                + "{\"promptTokenCount\":" + prompt + ",\"candidatesTokenCount\":" + candidates + ",\"totalTokenCount\":"
                + (prompt + candidates) + "},\"modelVersion\":\"" + model + "\",\"responseId\":\"" + responseId + "\"}");
    }

    // Anthropic Messages
    static Event anthropicStart(String id, String model, long input) {
        return new Event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"" + model + "\",\"content\":[],\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + input + ",\"cache_creation_input_tokens\":0,"
                + "\"cache_read_input_tokens\":0,\"output_tokens\":1}}}");
    }

    static final Event BLOCK_START = new Event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
            + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");

    static Event anthropicText(String text) {
        return new Event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                + "{\"type\":\"text_delta\",\"text\":\"" + text + "\"}}");
    }

    static final Event BLOCK_STOP = new Event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");

    /** A message_delta as Anthropic now sends it: its usage cumulative, input and cache counts included. */
    static Event anthropicDelta(long input, long output, boolean search) {
        return new Event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                + "\"stop_sequence\":null},\"usage\":{\"input_tokens\":" + input + ",\"cache_creation_input_tokens\":0,"
                + "\"cache_read_input_tokens\":0,\"output_tokens\":" + output
                + (search ? ",\"server_tool_use\":{\"web_search_requests\":1}" : "") + "}}");
    }

    static final Event MESSAGE_STOP = new Event("message_stop", "{\"type\":\"message_stop\"}");

    static final String SONNET = "claude-sonnet-4-20250514";
    static final String HAIKU = "claude-3-5-haiku-20241022";
    static final String MSG_A = "msg_01XFDUDYJgAACzvnptvVoYEL";
    static final String MSG_B = "msg_01Hq7TgWcAN2jZ3vG8mVbJkR";

    {
        // Ollama: llama3.1:70b 3,000 + 400, then qwen2.5:7b 2,000 + 300: 5,700 at one token a token
        sse("ollama-whole-two", 2, List.of(
                ollamaWhole("llama3.1:70b", "The plan.", 3_000, 400),
                ollamaWhole("qwen2.5:7b", "The memo.", 2_000, 300)));
        ndjson("ollama-ndjson-sequential", 2, List.of(
                ollamaChunk("llama3.1:70b", "The"), ollamaChunk("llama3.1:70b", " plan."), ollamaLast("llama3.1:70b", 3_000, 400),
                ollamaChunk("qwen2.5:7b", "The"), ollamaChunk("qwen2.5:7b", " memo."), ollamaLast("qwen2.5:7b", 2_000, 300)));
        ndjson("ollama-ndjson-interleaved", 2, List.of(
                ollamaChunk("llama3.1:70b", "The"), ollamaChunk("qwen2.5:7b", "The"),
                ollamaChunk("llama3.1:70b", " plan."), ollamaChunk("qwen2.5:7b", " memo."),
                ollamaLast("llama3.1:70b", 3_000, 400), ollamaLast("qwen2.5:7b", 2_000, 300)));
        ndjson("ollama-ndjson-whole-two", 2, List.of(
                ollamaWhole("llama3.1:70b", "The plan.", 3_000, 400),
                ollamaWhole("qwen2.5:7b", "The memo.", 2_000, 300)));
        // Bedrock: 3,000 + 400 then 2,000 + 300
        sse("converse-whole-two", 2, List.of(converseWhole("The plan.", 3_000, 400), converseWhole("The memo.", 2_000, 300)));
        sse("converse-stream-sequential", 2, List.of(
                CONVERSE_START, converseDelta("The plan."), CONVERSE_STOP, converseMetadata(3_000, 400),
                CONVERSE_START, converseDelta("The memo."), CONVERSE_STOP, converseMetadata(2_000, 300)));
        sse("converse-stream-interleaved", 2, List.of(
                CONVERSE_START, CONVERSE_START, converseDelta("The plan."), converseDelta("The memo."),
                CONVERSE_STOP, CONVERSE_STOP, converseMetadata(3_000, 400), converseMetadata(2_000, 300)));
        // Cohere v2: 3,000 + 400 then 2,000 + 300
        sse("cohere-whole-two", 2, List.of(
                cohereWhole("c14c80c3-18eb-4519-9460-6c92edd8cfb4", "The plan.", 3_000, 400),
                cohereWhole("5f3a1b2c-7d8e-4f90-a1b2-c3d4e5f60718", "The memo.", 2_000, 300)));
        sse("cohere-stream-sequential", 2, List.of(
                cohereStart("29f14a5a-11da-4cb1-a0a0-1ef2b3c4d5e6"), cohereDelta("The plan."), cohereEnd(3_000, 400),
                cohereStart("7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"), cohereDelta("The memo."), cohereEnd(2_000, 300)));
        sse("cohere-stream-interleaved", 2, List.of(
                cohereStart("29f14a5a-11da-4cb1-a0a0-1ef2b3c4d5e6"), cohereStart("7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"),
                cohereDelta("The plan."), cohereDelta("The memo."), cohereEnd(3_000, 400), cohereEnd(2_000, 300)));
        // Google ADK: two model calls of one invocation, streamed (partial events, then each call's final event)
        sse("adk-partials-plain", 2, List.of(
                adkPartial("adk-p1", "Plan", null), adkFinal("adk-f1", "Plan ready.", 3_000, 400),
                adkPartial("adk-p2", "Memo", null), adkFinal("adk-f2", "Memo ready.", 2_000, 300)));
        sse("adk-partials-with-usage", 2, List.of(
                adkPartial("adk-p1", "Plan", 3_000L), adkFinal("adk-f1", "Plan ready.", 3_000, 400),
                adkPartial("adk-p2", "Memo", 2_000L), adkFinal("adk-f2", "Memo ready.", 2_000, 300)));
        // Gemini, running counts in every chunk: 2.5 Pro 1,000 + 500 (1,250 + 5,000), 2.5 Flash 2,000 + 200 (600 + 500)
        sse("gemini-running-sequential", 2, List.of(
                geminiChunk("QxVsaO2aKpqJ1MkP6NvE8Ak", "gemini-2.5-pro", 1_000, 100, false),
                geminiChunk("QxVsaO2aKpqJ1MkP6NvE8Ak", "gemini-2.5-pro", 1_000, 500, true),
                geminiChunk("bRVsaK3bMtKL2NkQ7OwF9Bl", "gemini-2.5-flash", 2_000, 20, false),
                geminiChunk("bRVsaK3bMtKL2NkQ7OwF9Bl", "gemini-2.5-flash", 2_000, 200, true)));
        sse("gemini-running-interleaved", 2, List.of(
                geminiChunk("QxVsaO2aKpqJ1MkP6NvE8Ak", "gemini-2.5-pro", 1_000, 100, false),
                geminiChunk("bRVsaK3bMtKL2NkQ7OwF9Bl", "gemini-2.5-flash", 2_000, 20, false),
                geminiChunk("QxVsaO2aKpqJ1MkP6NvE8Ak", "gemini-2.5-pro", 1_000, 500, true),
                geminiChunk("bRVsaK3bMtKL2NkQ7OwF9Bl", "gemini-2.5-flash", 2_000, 200, true)));
        // Anthropic with web search: Sonnet's message_start counts 1,000 input, its message_delta 3,000 (the
        // search results it read), 200 output; Haiku 200 + 50
        sse("anthropic-search-sequential", 2, List.of(
                anthropicStart(MSG_A, SONNET, 1_000), BLOCK_START, anthropicText("Found it."), BLOCK_STOP,
                anthropicDelta(3_000, 200, true), MESSAGE_STOP,
                anthropicStart(MSG_B, HAIKU, 200), BLOCK_START, anthropicText("Label: legal."), BLOCK_STOP,
                anthropicDelta(200, 50, false), MESSAGE_STOP));
        sse("anthropic-search-side-by-side", 2, List.of(
                anthropicStart(MSG_A, SONNET, 1_000), anthropicStart(MSG_B, HAIKU, 200), BLOCK_START, BLOCK_START,
                anthropicText("Found it."), anthropicText("Label: legal."), BLOCK_STOP, BLOCK_STOP,
                anthropicDelta(3_000, 200, true), MESSAGE_STOP, anthropicDelta(200, 50, false), MESSAGE_STOP));
        // Anthropic, Sonnet's message sends two message_delta events (cumulative: 100, then 300 output); Haiku 200 + 50
        sse("anthropic-two-deltas-sequential", 2, List.of(
                anthropicStart(MSG_A, SONNET, 1_000), BLOCK_START, anthropicText("Part one."), anthropicDelta(1_000, 100, false),
                anthropicText("Part two."), BLOCK_STOP, anthropicDelta(1_000, 300, false), MESSAGE_STOP,
                anthropicStart(MSG_B, HAIKU, 200), BLOCK_START, anthropicText("Label: legal."), BLOCK_STOP,
                anthropicDelta(200, 50, false), MESSAGE_STOP));
        sse("anthropic-two-deltas-side-by-side", 2, List.of(
                anthropicStart(MSG_A, SONNET, 1_000), anthropicStart(MSG_B, HAIKU, 200), BLOCK_START, BLOCK_START,
                anthropicText("Part one."), anthropicDelta(1_000, 100, false), anthropicText("Part two."),
                anthropicText("Label: legal."), BLOCK_STOP, BLOCK_STOP, anthropicDelta(1_000, 300, false), MESSAGE_STOP,
                anthropicDelta(200, 50, false), MESSAGE_STOP));
    }

    // ------------------------------------------------------------------ Ollama

    /**
     * Attack (unpaid call): the application calls Ollama twice with {@code "stream": false} and relays each whole
     * answer as an event. Ollama's answer names no call id, so the second answer's counters replace the
     * first's: the first call is free. Expected 3,400 + 2,300 = 5,700.
     */
    @Test
    void twoWholeOllamaAnswersRelayedAsEventsAreBothCharged() {
        charged("ollama-whole-two", 5_700, "llama3.1:70b 3,000 + 400 then qwen2.5:7b 2,000 + 300, whole answers");
    }

    /** The same two whole Ollama answers relayed as NDJSON, Ollama's own framing. Expected 5,700. */
    @Test
    void twoWholeOllamaAnswersRelayedAsNdjsonAreBothCharged() {
        charged("ollama-ndjson-whole-two", 5_700, "llama3.1:70b 3,000 + 400 then qwen2.5:7b 2,000 + 300, whole answers, NDJSON");
    }

    /** Control: two Ollama streams one after the other, NDJSON: 5,700. */
    @Test
    void controlTwoOllamaStreamsInSequenceAreBothCharged() {
        charged("ollama-ndjson-sequential", 5_700, "llama3.1:70b 3,000 + 400 then qwen2.5:7b 2,000 + 300, streamed");
    }

    /**
     * Attack (unpaid call): two Ollama streams run at once and merged line by line; both calls' last
     * chunks ({@code "done": true}, the counts) come one after the other. The last chunk names no call,
     * so the second one's counts replace the first's. Expected 5,700.
     */
    @Test
    void twoOllamaStreamsInterleavedAreBothCharged() {
        charged("ollama-ndjson-interleaved", 5_700, "llama3.1:70b 3,000 + 400 and qwen2.5:7b 2,000 + 300 merged");
    }

    // ------------------------------------------------------------------ Bedrock

    /**
     * Attack (unpaid call): two Bedrock Converse answers (not streamed) relayed one after the other as
     * events. Converse's answer carries no id: the second usage replaces the first. Expected 5,700.
     */
    @Test
    void twoWholeConverseAnswersAreBothCharged() {
        charged("converse-whole-two", 5_700, "Converse 3,000 + 400 then 2,000 + 300");
    }

    /** Control: two ConverseStream streams in sequence (messageStart begins each): 5,700. */
    @Test
    void controlTwoConverseStreamsInSequenceAreBothCharged() {
        charged("converse-stream-sequential", 5_700, "ConverseStream 3,000 + 400 then 2,000 + 300");
    }

    /**
     * Attack (unpaid call): two ConverseStream calls made at once and their events merged; both
     * metadata events (the usage, which names no call) come last. Expected 5,700.
     */
    @Test
    void twoConverseStreamsInterleavedAreBothCharged() {
        charged("converse-stream-interleaved", 5_700, "ConverseStream 3,000 + 400 and 2,000 + 300 merged");
    }

    // ------------------------------------------------------------------ Cohere

    /** Two whole Cohere v2 chat answers relayed one after the other (each with its own id): 5,700. */
    @Test
    void twoWholeCohereAnswersAreBothCharged() {
        charged("cohere-whole-two", 5_700, "Cohere 3,000 + 400 then 2,000 + 300");
    }

    /** Control: two Cohere v2 streams in sequence: 5,700. */
    @Test
    void controlTwoCohereStreamsInSequenceAreBothCharged() {
        charged("cohere-stream-sequential", 5_700, "Cohere stream 3,000 + 400 then 2,000 + 300");
    }

    /**
     * Attack (unpaid call): two Cohere v2 streams merged; their message-end events (the usage, naming no
     * message) come last, one after the other. Expected 5,700.
     */
    @Test
    void twoCohereStreamsInterleavedAreBothCharged() {
        charged("cohere-stream-interleaved", 5_700, "Cohere stream 3,000 + 400 and 2,000 + 300 merged");
    }

    // ------------------------------------------------------------------ Google ADK

    /** Control: an ADK run_sse stream of two model calls whose partial events carry no usage: 5,700. */
    @Test
    void controlAdkCallsWithPartialEventsAreBothCharged() {
        charged("adk-partials-plain", 5_700, "ADK 3,000 + 400 then 2,000 + 300");
    }

    /**
     * Attack (unpaid call): the same ADK run, its partial events carrying the usage of the chunk they came
     * from (the prompt count so far), as ADK copies each chunk's usage into its partial event. The second
     * call's first partial event (call id "") replaces the first call's final count without closing it,
     * then the second call's final event replaces that. Expected 5,700.
     */
    @Test
    void adkPartialEventsWithUsageDoNotWipeThePreviousCall() {
        charged("adk-partials-with-usage", 5_700, "ADK 3,000 + 400 then 2,000 + 300, partials with usage");
    }

    // ------------------------------------------------------------------ Gemini running counts

    /** Control: two Gemini streams with running counts in every chunk, in sequence: 6,250 + 1,100 = 7,350. */
    @Test
    void controlGeminiRunningCountsInSequenceAreChargedOnce() {
        charged("gemini-running-sequential", 7_350, "gemini-2.5-pro 1,000 + 500 then 2.5-flash 2,000 + 200");
    }

    /**
     * Accountant (double count): the same two Gemini streams run at once and merged. A chunk that counts
     * output is taken for its call's final report, so the other call's next chunk closes it and its
     * running count is charged beside the final one. Expected 7,350.
     */
    @Test
    void geminiRunningCountsInterleavedAreChargedOnce() {
        charged("gemini-running-interleaved", 7_350, "gemini-2.5-pro 1,000 + 500 and 2.5-flash 2,000 + 200 merged");
    }

    // ------------------------------------------------------------------ Anthropic

    /**
     * Control: Sonnet with web search (message_start counts 1,000 input; its message_delta 3,000 input,
     * 200 output) then Haiku 200 + 50, in sequence: 9,000 + 3,000 + 160 + 200 = 12,360.
     */
    @Test
    void controlAnthropicSearchCallThenHaikuInSequence() {
        charged("anthropic-search-sequential", 12_360, "claude-sonnet-4 3,000 + 200 (search) then haiku 200 + 50");
    }

    /**
     * Attack (under-charge): the same two Claude calls side by side. Counted message by message, each
     * message_delta added only its output; the 2,000 input tokens the search added, which only the
     * message_delta counts, were dropped (6,910). Which message a delta closes is not said: its 3,000
     * input may have grown from either start, so what it adds is at most its growth from the smaller one
     * (2,800), at the dearest input rate: 3,000 + 160 + 2,800 × 3 + 250 × 15 = 15,310; never below the
     * calls' own 12,360.
     */
    @Test
    void anthropicSearchCallSideBySideIsChargedTheInputItsDeltaCounts() {
        long used = charged("anthropic-search-side-by-side", 15_310,
                "claude-sonnet-4 3,000 + 200 (search) and haiku 200 + 50 side by side");
        assertEquals(true, used >= 12_360, "below the calls' own cost: " + used);
    }

    /** Control: Sonnet's message with two cumulative message_delta events (100, then 300), then Haiku: 7,860. */
    @Test
    void controlAnthropicTwoDeltasInSequence() {
        charged("anthropic-two-deltas-sequential", 7_860, "claude-sonnet-4 1,000 + 300 (two deltas) then haiku 200 + 50");
    }

    /**
     * Accountant (double count): the same side by side. Each message_delta's output is added as a
     * message's, so Sonnet's cumulative 100 is counted beside its 300, and Sonnet's two deltas close the
     * side-by-side reading; Haiku's delta is then read as a message of its own, its input_tokens (200,
     * already counted at its message_start) charged again, at Sonnet's rates (10,510). Now the output is
     * the two largest deltas' (one per message: 300 + 100, since which message sent the 100 is not said),
     * at the dearest: 3,000 + 160 + 400 × 15 = 9,160; the calls' own cost is 8,410, and never more is
     * left unpaid.
     */
    @Test
    void anthropicTwoCumulativeDeltasSideBySideAreCountedOnce() {
        long used = charged("anthropic-two-deltas-side-by-side", 9_160,
                "claude-sonnet-4 1,000 + 300 (two deltas) and haiku 200 + 50 side by side");
        assertEquals(true, used >= 8_410, "below the calls' own cost: " + used);
    }
}
