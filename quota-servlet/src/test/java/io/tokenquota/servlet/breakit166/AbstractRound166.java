package io.tokenquota.servlet.breakit166;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 166 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * answers that relay several model calls in one HTTP response, and single calls whose relayed stream
 * carries two reports that each look like a call's last. The relay endpoint
 * ({@code POST /ai/relay/<scenario>}) makes the scenario's provider calls and writes each call's stream
 * or whole answer as the provider (or the framework wrapping it) handed it over: as server-sent events,
 * or as newline-delimited JSON. Every model here is charged one token a token, so the figures are the
 * raw usage.
 */
abstract class AbstractRound166 extends RelayedCalls {
    /** Every model one unit a token, so the figures are the raw usage. */
    @Override
    protected ModelWeights weights() {
        return ModelWeights.builder().defaults(ModelWeights.Rates.of("1", "1", "1", "1")).build();
    }

    // ------------------------------------------------------------------ provider shapes

    // Bedrock InvokeModel, Meta Llama's body (whole answer)
    static Event llamaWhole(String text, long prompt, long generation) {
        return data("{\"generation\":\"" + text + "\",\"prompt_token_count\":" + prompt + ",\"generation_token_count\":"
                + generation + ",\"stop_reason\":\"stop\"}");
    }

    // Bedrock InvokeModelWithResponseStream, Mistral's chunks: the body counts nothing, the service's
    // invocation metrics on the last chunk do
    static Event mistralChunk(String text) {
        return data("{\"outputs\":[{\"text\":\"" + text + "\",\"stop_reason\":null}]}");
    }

    static Event mistralLast(String text, long in, long out) {
        return data("{\"outputs\":[{\"text\":\"" + text + "\",\"stop_reason\":\"stop\"}],\"amazon-bedrock-invocationMetrics\":"
                + "{\"inputTokenCount\":" + in + ",\"outputTokenCount\":" + out + ",\"invocationLatency\":2113,"
                + "\"firstByteLatency\":389}}");
    }

    // Cohere chat v1 (whole answer: meta) and v2 (whole answer: usage)
    static String cohereCounts(long in, long out) {
        return "\"billed_units\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + "},\"tokens\":{\"input_tokens\":"
                + in + ",\"output_tokens\":" + out + "}";
    }

    static Event cohereV1Whole(String id, String text, long in, long out) {
        return data("{\"response_id\":\"" + id + "\",\"text\":\"" + text + "\",\"generation_id\":\"g-" + id + "\","
                + "\"chat_history\":[],\"finish_reason\":\"COMPLETE\",\"meta\":{\"api_version\":{\"version\":\"1\"},"
                + cohereCounts(in, out) + "}}");
    }

    static Event cohereV1StreamStart(String id) {
        return data("{\"is_finished\":false,\"event_type\":\"stream-start\",\"generation_id\":\"g-" + id + "\"}");
    }

    static Event cohereV1Text(String text) {
        return data("{\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":\"" + text + "\"}");
    }

    static Event cohereV1StreamEnd(String id, String text, long in, long out) {
        return data("{\"is_finished\":true,\"event_type\":\"stream-end\",\"response\":{\"response_id\":\"" + id
                + "\",\"text\":\"" + text + "\",\"generation_id\":\"g-" + id + "\",\"chat_history\":[],"
                + "\"finish_reason\":\"COMPLETE\",\"meta\":{\"api_version\":{\"version\":\"1\"}," + cohereCounts(in, out)
                + "}},\"finish_reason\":\"COMPLETE\"}");
    }

    static Event cohereV2Whole(String id, String text, long in, long out) {
        return data("{\"id\":\"" + id + "\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\""
                + text + "\"}]},\"finish_reason\":\"COMPLETE\",\"usage\":{" + cohereCounts(in, out) + "}}");
    }

    // OpenAI chat completions
    static Event openAiWhole(String id, String text, long prompt, long completion) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":1735689600,\"model\":\"gpt-4o-mini\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + text + "\"},"
                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":"
                + completion + ",\"total_tokens\":" + (prompt + completion) + "}}");
    }

    static Event openAiChunk(String id, String text, String finish) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + text + "\"},\"finish_reason\":"
                + (finish == null ? "null" : "\"" + finish + "\"") + "}]}");
    }

    static Event openAiUsageChunk(String id, long prompt, long completion) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":"
                + completion + ",\"total_tokens\":" + (prompt + completion) + "}}");
    }

    // Spring AI's ChatResponse as Jackson writes it (OpenAI model behind it)
    static Event springAiWhole(String id, String text, long prompt, long completion) {
        return data("{\"result\":{\"output\":{\"messageType\":\"ASSISTANT\",\"metadata\":{\"role\":\"ASSISTANT\"},"
                + "\"toolCalls\":[],\"media\":[],\"text\":\"" + text + "\"},\"metadata\":{\"finishReason\":\"STOP\","
                + "\"contentFilters\":[],\"empty\":true}},\"metadata\":{\"id\":\"" + id + "\",\"model\":\"gpt-4o-mini-2024-07-18\","
                + "\"usage\":{\"promptTokens\":" + prompt + ",\"completionTokens\":" + completion + ",\"totalTokens\":"
                + (prompt + completion) + "},\"promptMetadata\":[],\"empty\":false}}");
    }

    // LangChain4j's ChatResponse as Jackson writes it
    static Event langChain4jWhole(String id, String text, long in, long out) {
        return data("{\"aiMessage\":{\"text\":\"" + text + "\",\"toolExecutionRequests\":[]},\"metadata\":{\"id\":\"" + id
                + "\",\"modelName\":\"gpt-4o-mini\",\"tokenUsage\":{\"inputTokenCount\":" + in + ",\"outputTokenCount\":"
                + out + ",\"totalTokenCount\":" + (in + out) + "},\"finishReason\":\"STOP\"}}");
    }

    // Gemini streamGenerateContent chunks
    static Event geminiChunk(String responseId, String text, boolean finish, Long prompt, Long candidates) {
        String usage = prompt == null ? "" : ",\"usageMetadata\":{\"promptTokenCount\":" + prompt
                + ",\"candidatesTokenCount\":" + candidates + ",\"totalTokenCount\":" + (prompt + candidates) + "}";
        return data("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + text + "\"}],\"role\":\"model\"}"
                + (finish ? ",\"finishReason\":\"STOP\"" : "") + ",\"index\":0}]" + usage
                + ",\"modelVersion\":\"gemini-2.0-flash-001\",\"responseId\":\"" + responseId + "\"}");
    }

    static Event geminiUsageOnly(String responseId, long prompt, long candidates) {
        return data("{\"usageMetadata\":{\"promptTokenCount\":" + prompt + ",\"candidatesTokenCount\":" + candidates
                + ",\"totalTokenCount\":" + (prompt + candidates) + "},\"modelVersion\":\"gemini-2.0-flash-001\","
                + "\"responseId\":\"" + responseId + "\"}");
    }

    // Google ADK events (its /run_sse endpoint)
    static final String ADK_TAIL = "\"invocationId\":\"e-7c1d2b3a-166\",\"author\":\"memo_writer\",\"actions\":"
            + "{\"stateDelta\":{},\"artifactDelta\":{},\"requestedAuthConfigs\":{}},";

    static String adkUsage(long prompt, long candidates) {
        return "\"usageMetadata\":{\"candidatesTokenCount\":" + candidates + ",\"promptTokenCount\":" + prompt
                + ",\"totalTokenCount\":" + (prompt + candidates) + "},";
    }

    static Event adkPartial(String id, String text, long prompt, long candidates) {
        return data("{\"content\":{\"parts\":[{\"text\":\"" + text + "\"}],\"role\":\"model\"},\"partial\":true,"
                + adkUsage(prompt, candidates) + ADK_TAIL + "\"id\":\"" + id + "\",\"timestamp\":1735689600.1}");
    }

    static Event adkFinal(String id, String text, long prompt, long candidates) {
        return data("{\"content\":{\"parts\":[{\"text\":\"" + text + "\"}],\"role\":\"model\"},"
                + adkUsage(prompt, candidates) + ADK_TAIL + "\"id\":\"" + id + "\",\"timestamp\":1735689600.2}");
    }

    static Event adkFunctionCall(String id, long prompt, long candidates) {
        return data("{\"content\":{\"parts\":[{\"functionCall\":{\"id\":\"adk-fc-1\",\"args\":{\"folder\":\"contracts\"},"
                + "\"name\":\"read_folder\"}}],\"role\":\"model\"}," + adkUsage(prompt, candidates) + ADK_TAIL
                + "\"longRunningToolIds\":[],\"id\":\"" + id + "\",\"timestamp\":1735689600.3}");
    }

    static Event adkFunctionResponse(String id) {
        return data("{\"content\":{\"parts\":[{\"functionResponse\":{\"id\":\"adk-fc-1\",\"name\":\"read_folder\","
                + "\"response\":{\"result\":\"three contracts\"}}}],\"role\":\"user\"}," + ADK_TAIL + "\"id\":\"" + id
                + "\",\"timestamp\":1735689600.4}");
    }

    {
        // --- several calls whose reports name no call, in different formats: 3,000 + 400 then 2,000 + 300 = 5,700
        sse("ollama-then-converse", 2, List.of(
                ollamaWhole("llama3.1:70b", "The plan.", 3_000, 400), converseWhole("The memo.", 2_000, 300)));
        sse("converse-then-ollama", 2, List.of(
                converseWhole("The plan.", 3_000, 400), ollamaWhole("qwen2.5:7b", "The memo.", 2_000, 300)));
        sse("openai-then-converse", 2, List.of(
                openAiWhole("chatcmpl-AbC1", "The plan.", 3_000, 400), converseWhole("The memo.", 2_000, 300)));
        sse("converse-then-cohere", 2, List.of(
                converseWhole("The plan.", 3_000, 400), cohereV2Whole("5f3a1b2c-7d8e-4f90", "The memo.", 2_000, 300)));
        // --- several calls in formats that frame no call at all
        sse("cohere-v1-whole-two", 2, List.of(
                cohereV1Whole("r-1a2b", "The plan.", 3_000, 400), cohereV1Whole("r-3c4d", "The memo.", 2_000, 300)));
        ndjson("cohere-v1-stream-two", 2, List.of(
                cohereV1StreamStart("r-1a2b"), cohereV1Text("The plan."), cohereV1StreamEnd("r-1a2b", "The plan.", 3_000, 400),
                cohereV1StreamStart("r-3c4d"), cohereV1Text("The memo."), cohereV1StreamEnd("r-3c4d", "The memo.", 2_000, 300)));
        sse("cohere-v2-then-v1", 2, List.of(
                cohereV2Whole("c14c80c3-18eb", "The plan.", 3_000, 400), cohereV1Whole("r-3c4d", "The memo.", 2_000, 300)));
        sse("llama-bedrock-whole-two", 2, List.of(
                llamaWhole("The plan.", 3_000, 400), llamaWhole("The memo.", 2_000, 300)));
        sse("mistral-bedrock-stream-two", 2, List.of(
                mistralChunk("The"), mistralLast(" plan.", 3_000, 400),
                mistralChunk("The"), mistralLast(" memo.", 2_000, 300)));
        sse("spring-ai-whole-two", 2, List.of(
                springAiWhole("chatcmpl-Sp1", "The plan.", 3_000, 400), springAiWhole("chatcmpl-Sp2", "The memo.", 2_000, 300)));
        sse("langchain4j-whole-two", 2, List.of(
                langChain4jWhole("chatcmpl-Lc1", "The plan.", 3_000, 400),
                langChain4jWhole("chatcmpl-Lc2", "The memo.", 2_000, 300)));
        // --- Gemini: 1,000 + 500 then 2,000 + 200 = 3,700
        sse("gemini-two-control", 2, List.of(
                geminiChunk("QxVsaO2aKpqJ", "Working", false, 1_000L, 100L), geminiChunk("QxVsaO2aKpqJ", " done.", true, 1_000L, 500L),
                geminiChunk("bRVsaK3bMtKL", "Working", false, 2_000L, 20L), geminiChunk("bRVsaK3bMtKL", " done.", true, 2_000L, 200L)));
        sse("gemini-usage-after-finish", 2, List.of(
                geminiChunk("QxVsaO2aKpqJ", "Working", false, 1_000L, 100L), geminiChunk("QxVsaO2aKpqJ", " done.", true, null, null),
                geminiUsageOnly("QxVsaO2aKpqJ", 1_000, 500),
                geminiChunk("bRVsaK3bMtKL", "Working", false, 2_000L, 20L), geminiChunk("bRVsaK3bMtKL", " done.", true, 2_000L, 200L)));
        // --- ONE call whose relay carries two final-looking reports
        sse("openai-stream-then-accumulated", 1, List.of(
                openAiChunk("chatcmpl-One1", "The", null), openAiChunk("chatcmpl-One1", " plan.", "stop"),
                openAiUsageChunk("chatcmpl-One1", 3_000, 400), openAiWhole("chatcmpl-One1", "The plan.", 3_000, 400)));
        sse("openai-stream-control", 1, List.of(
                openAiChunk("chatcmpl-One1", "The", null), openAiChunk("chatcmpl-One1", " plan.", "stop"),
                openAiUsageChunk("chatcmpl-One1", 3_000, 400)));
        // ADK (non-progressive SSE): a call that writes text then a function call yields the aggregated text
        // event and the function call's event, both with that chunk's usage; then the tool, then call two
        sse("adk-text-then-function-call", 2, List.of(
                adkPartial("adk-p1", "Let me read the folder.", 3_000, 12), adkFinal("adk-a1", "Let me read the folder.", 3_000, 400),
                adkFunctionCall("adk-a2", 3_000, 400), adkFunctionResponse("adk-t1"),
                adkPartial("adk-p2", "Memo", 2_000, 5), adkFinal("adk-f2", "Memo ready.", 2_000, 300)));
        sse("ollama-single-control", 1, List.of(
                ollamaChunk("llama3.1:70b", "The"), ollamaChunk("llama3.1:70b", " plan."), ollamaLast("llama3.1:70b", 3_000, 400)));
    }

    // ------------------------------------------------------------------ id-less reports of another format

    /**
     * Attack (unpaid call): an agent asks a local Ollama model for the plan and Bedrock Converse for the
     * memo, relaying each whole answer as an event. Neither answer names a call; the Converse usage is
     * of another format than the Ollama report before it, so it is neither taken for another call's final
     * report nor counted. Expected 3,400 + 2,300 = 5,700.
     */
    @Test
    void ollamaThenConverseAreBothCharged() {
        charged("ollama-then-converse", 5_700, "Ollama 3,000 + 400 then Converse 2,000 + 300, whole answers");
    }

    /** Attack (unpaid call): the same with Converse first and Ollama second. Expected 5,700. */
    @Test
    void converseThenOllamaAreBothCharged() {
        charged("converse-then-ollama", 5_700, "Converse 3,000 + 400 then Ollama 2,000 + 300, whole answers");
    }

    /**
     * Attack (unpaid call): a whole OpenAI chat completion (named by its id) then a whole Converse answer
     * (naming none). Expected 5,700.
     */
    @Test
    void openAiThenConverseAreBothCharged() {
        charged("openai-then-converse", 5_700, "OpenAI 3,000 + 400 then Converse 2,000 + 300, whole answers");
    }

    /** Attack (unpaid call): a whole Converse answer then a whole Cohere v2 answer. Expected 5,700. */
    @Test
    void converseThenCohereAreBothCharged() {
        charged("converse-then-cohere", 5_700, "Converse 3,000 + 400 then Cohere v2 2,000 + 300, whole answers");
    }

    // ------------------------------------------------------------------ formats that name no call

    /**
     * Attack (unpaid call): two whole Cohere v1 chat answers (their counts under {@code meta}) relayed one
     * after the other. Only v2's {@code usage} is taken for a call's final report: the second answer's
     * counts replace the first's. Expected 5,700.
     */
    @Test
    void twoCohereV1AnswersAreBothCharged() {
        charged("cohere-v1-whole-two", 5_700, "Cohere v1 3,000 + 400 then 2,000 + 300, whole answers");
    }

    /** Attack (unpaid call): two Cohere v1 streams (stream-end's response.meta) as NDJSON. Expected 5,700. */
    @Test
    void twoCohereV1StreamsAreBothCharged() {
        charged("cohere-v1-stream-two", 5_700, "Cohere v1 stream 3,000 + 400 then 2,000 + 300");
    }

    /** Attack (unpaid call): a Cohere v2 answer then a v1 answer (an app still on the v1 client for one step). Expected 5,700. */
    @Test
    void cohereV2ThenV1AreBothCharged() {
        charged("cohere-v2-then-v1", 5_700, "Cohere v2 3,000 + 400 then v1 2,000 + 300, whole answers");
    }

    /**
     * Attack (unpaid call): two Bedrock InvokeModel answers of Meta Llama (prompt_token_count,
     * generation_token_count at the top) relayed one after the other: the second's counters replace the
     * first's. Expected 5,700.
     */
    @Test
    void twoLlamaOnBedrockAnswersAreBothCharged() {
        charged("llama-bedrock-whole-two", 5_700, "Llama on Bedrock 3,000 + 400 then 2,000 + 300, whole answers");
    }

    /**
     * Attack (unpaid call): two Bedrock InvokeModelWithResponseStream calls of Mistral relayed chunk by
     * chunk; Mistral's body counts nothing, each call's last chunk carries the service's invocation
     * metrics. The second call's metrics replace the first's. Expected 5,700.
     */
    @Test
    void twoMistralOnBedrockStreamsAreBothCharged() {
        charged("mistral-bedrock-stream-two", 5_700, "Mistral on Bedrock 3,000 + 400 then 2,000 + 300, invocation metrics");
    }

    /**
     * Attack (unpaid call): a Spring AI controller calls its ChatClient twice and writes both
     * ChatResponses as events (metadata.usage each, both finished). Expected 5,700.
     */
    @Test
    void twoSpringAiResponsesAreBothCharged() {
        charged("spring-ai-whole-two", 5_700, "Spring AI 3,000 + 400 then 2,000 + 300, whole ChatResponses");
    }

    /** Attack (unpaid call): the same with two LangChain4j ChatResponses (metadata.tokenUsage). Expected 5,700. */
    @Test
    void twoLangChain4jResponsesAreBothCharged() {
        charged("langchain4j-whole-two", 5_700, "LangChain4j 3,000 + 400 then 2,000 + 300, whole ChatResponses");
    }

    // ------------------------------------------------------------------ Gemini

    /** Control: two Gemini streams, each ending with a chunk that has finishReason and the counts: 3,700. */
    @Test
    void controlTwoGeminiStreamsAreBothCharged() {
        charged("gemini-two-control", 3_700, "Gemini 1,000 + 500 then 2,000 + 200");
    }

    /**
     * Attack (unpaid call): the first Gemini call's finishReason comes on a chunk without usage and its
     * counts on a chunk after it that has no candidates (a relay that sends the usage on its own). That
     * count never ends the call, so the second call's chunks replace it. Expected 3,700.
     */
    @Test
    void geminiUsageAfterFinishChunkIsNotReplacedByTheNextCall() {
        charged("gemini-usage-after-finish", 3_700, "Gemini 1,000 + 500 (usage after finish) then 2,000 + 200");
    }

    // ------------------------------------------------------------------ one call, two final-looking reports

    /** Control: one OpenAI stream with its usage chunk: 3,400. */
    @Test
    void controlOneOpenAiStream() {
        charged("openai-stream-control", 3_400, "one OpenAI stream 3,000 + 400");
    }

    /**
     * Accountant (double count): ONE OpenAI call, streamed to the browser, then the relay sends the
     * completion it accumulated from those chunks (the SDK's accumulator: a whole {@code chat.completion}
     * under the same id, with the same usage) so the page can store it. New choices under the same id
     * after the usage chunk are taken for a second call. Expected 3,400.
     */
    @Test
    void accumulatedCompletionAfterItsStreamIsChargedOnce() {
        charged("openai-stream-then-accumulated", 3_400, "one OpenAI call 3,000 + 400, stream then its accumulation");
    }

    /**
     * Accountant (double count): ADK without progressive streaming, a model call that writes text and then a
     * function call: ADK yields the aggregated text as a final event and then the function call's chunk as
     * another, both with that chunk's usage (3,000 + 400). They are one call; then the tool's event and the
     * second call (2,000 + 300). Expected 5,700.
     */
    @Test
    void adkTextThenFunctionCallOfOneModelCallIsChargedOnce() {
        charged("adk-text-then-function-call", 5_700, "ADK one call 3,000 + 400 (text + function call events) then 2,000 + 300");
    }

    /** Control: one Ollama stream: 3,400. */
    @Test
    void controlOneOllamaStream() {
        charged("ollama-single-control", 3_400, "one Ollama stream 3,000 + 400");
    }
}
