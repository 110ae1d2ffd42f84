package io.tokenquota.servlet.breakit162;

import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 162 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * per-model weights on answers that relay several model calls. Each relayed call is to be weighed at its
 * own model's rates; a call that names no model at the dearest model named. The agent endpoint
 * ({@code POST /ai/relay/<scenario>}) relays its provider calls' streams or whole answers to the browser
 * as server-sent events, exactly as each provider sent them; the rates are the providers' list prices per
 * million tokens (input, cached input, output, reasoning).
 */
abstract class AbstractRound162 extends RelayedCalls {
    // ------------------------------------------------------------------ provider shapes

    static String usage(long p, long c) {
        return "{\"prompt_tokens\":" + p + ",\"completion_tokens\":" + c + ",\"total_tokens\":" + (p + c) + "}";
    }

    /** An OpenAI chat completion chunk with content, as sent with {@code include_usage} ({@code "usage": null}). */
    static Event chunk(String id, String model, String text) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\""
                + model + "\",\"system_fingerprint\":\"fp_07871e2ad8\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
                + text + "\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}");
    }

    /** OpenAI's usage chunk ({@code stream_options.include_usage}): no choices. */
    static Event usageChunk(String id, String model, long p, long c) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\""
                + model + "\",\"system_fingerprint\":\"fp_07871e2ad8\",\"choices\":[],\"usage\":" + usage(p, c) + "}");
    }

    /** Mistral's (and DeepSeek's) last chunk: the finishing choice and the call's usage in one chunk. */
    static Event mistralLast(String id, String model, long p, long c) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\""
                + model + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}],"
                + "\"usage\":" + usage(p, c) + "}");
    }

    /** A Mistral content chunk (no usage field). */
    static Event mistralChunk(String id, String model, String text) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\""
                + model + "\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"" + text
                + "\"},\"finish_reason\":null}]}");
    }

    /** Groq's last chunk: the finishing choice, and the call's usage under {@code x_groq}. */
    static Event groqLast(String id, String model, long p, long c) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\""
                + model + "\",\"system_fingerprint\":\"fp_c4a72fb330\",\"choices\":[{\"index\":0,\"delta\":{},"
                + "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":\"req_01jq" + id.substring(id.length() - 6)
                + "\",\"usage\":{\"queue_time\":0.02,\"prompt_tokens\":" + p + ",\"prompt_time\":0.01,\"completion_tokens\":"
                + c + ",\"completion_time\":0.2,\"total_tokens\":" + (p + c) + ",\"total_time\":0.21}}}");
    }

    /** A whole chat completion ({@code model} {@code null}: the relay left it out). */
    static Event completion(String id, String model, long p, long c) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":1735689600,"
                + (model == null ? "" : "\"model\":\"" + model + "\",") + "\"choices\":[{\"index\":0,\"message\":"
                + "{\"role\":\"assistant\",\"content\":\"Done.\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                + "\"usage\":" + usage(p, c) + ",\"service_tier\":\"default\"}");
    }

    static List<Event> anthropicStart(String id, String model, long input) {
        return List.of(
                new Event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\","
                        + "\"role\":\"assistant\",\"model\":\"" + model + "\",\"content\":[],\"stop_reason\":null,"
                        + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + input + ",\"cache_creation_input_tokens\":0,"
                        + "\"cache_read_input_tokens\":0,\"output_tokens\":1}}}"),
                new Event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                        + "{\"type\":\"text\",\"text\":\"\"}}"));
    }

    static Event anthropicDelta(String text) {
        return new Event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                + "{\"type\":\"text_delta\",\"text\":\"" + text + "\"}}");
    }

    static List<Event> anthropicEnd(long output) {
        return List.of(
                new Event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"),
                new Event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                        + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + output + "}}"),
                new Event("message_stop", "{\"type\":\"message_stop\"}"));
    }

    static List<Event> anthropicCall(String id, String model, long input, long output) {
        List<Event> e = new ArrayList<>(anthropicStart(id, model, input));
        e.add(anthropicDelta("Hello"));
        e.addAll(anthropicEnd(output));
        return e;
    }

    /** One Responses API streamed call: created, a text delta, completed with its usage. */
    static List<Event> responsesCall(String id, String model, long input, long output) {
        String head = "\"id\":\"" + id + "\",\"object\":\"response\",\"created_at\":1735689600,\"model\":\"" + model + "\"";
        return List.of(
                new Event("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{" + head
                        + ",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}"),
                new Event("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":3,"
                        + "\"item_id\":\"msg_" + id.substring(5) + "\",\"output_index\":0,\"content_index\":0,\"delta\":\"Done.\"}"),
                new Event("response.completed", "{\"type\":\"response.completed\",\"sequence_number\":9,\"response\":{" + head
                        + ",\"status\":\"completed\",\"output\":[{\"type\":\"message\",\"id\":\"msg_" + id.substring(5)
                        + "\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
                        + "\"text\":\"Done.\",\"annotations\":[]}]}],\"usage\":{\"input_tokens\":" + input
                        + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + output
                        + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + (input + output) + "}}}"));
    }

    /** One Gemini streamGenerateContent call (alt=sse): an early chunk counting the prompt, the last counting all. */
    static List<Event> geminiCall(String responseId, String model, long prompt, long candidates) {
        return List.of(
                data("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Working\"}],\"role\":\"model\"},\"index\":0}],"
                        + "\"usageMetadata\":{\"promptTokenCount\":" + prompt + ",\"totalTokenCount\":" + prompt
                        + "},\"modelVersion\":\"" + model + "\",\"responseId\":\"" + responseId + "\"}"),
                data("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" done.\"}],\"role\":\"model\"},"
                        + "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":" + prompt
                        + ",\"candidatesTokenCount\":" + candidates + ",\"totalTokenCount\":" + (prompt + candidates)
                        + "},\"modelVersion\":\"" + model + "\",\"responseId\":\"" + responseId + "\"}"));
    }

    static final Event DONE = data("[DONE]");

    {
        // Mistral: mistral-large reads 3,000 and writes 400 (6,000 + 2,400 = 8,400), mistral-small 2,000 + 300 (200 + 90)
        sse("mistral-one", 1, List.of(
                mistralChunk("cmpl-e5cc70bb28c444948073e77776eb30ef", "mistral-large-latest", "The"),
                mistralChunk("cmpl-e5cc70bb28c444948073e77776eb30ef", "mistral-large-latest", " plan."),
                mistralLast("cmpl-e5cc70bb28c444948073e77776eb30ef", "mistral-large-latest", 3_000, 400), DONE));
        sse("mistral-two", 2, List.of(
                mistralChunk("cmpl-e5cc70bb28c444948073e77776eb30ef", "mistral-large-latest", "The"),
                mistralChunk("cmpl-e5cc70bb28c444948073e77776eb30ef", "mistral-large-latest", " plan."),
                mistralLast("cmpl-e5cc70bb28c444948073e77776eb30ef", "mistral-large-latest", 3_000, 400), DONE,
                mistralChunk("cmpl-0b7c2a9de14f4a3cb1d2f7e0a9c4d8b1", "mistral-small-latest", "The"),
                mistralChunk("cmpl-0b7c2a9de14f4a3cb1d2f7e0a9c4d8b1", "mistral-small-latest", " memo."),
                mistralLast("cmpl-0b7c2a9de14f4a3cb1d2f7e0a9c4d8b1", "mistral-small-latest", 2_000, 300), DONE));
        // Groq: llama-3.3-70b reads 10,000 and writes 1,000 (6,000 + 800), llama-3.1-8b 1,000 + 100 (50 + 8)
        sse("groq-two", 2, List.of(
                chunk("chatcmpl-3f1a9b7c-5e2d-4c8a-9b1f-a1b2c3d4e5f6", "llama-3.3-70b-versatile", "Plan"),
                groqLast("chatcmpl-3f1a9b7c-5e2d-4c8a-9b1f-a1b2c3d4e5f6", "llama-3.3-70b-versatile", 10_000, 1_000), DONE,
                chunk("chatcmpl-7e6d5c4b-3a29-4180-9f8e-0a1b2c3d4e5f", "llama-3.1-8b-instant", "Memo"),
                groqLast("chatcmpl-7e6d5c4b-3a29-4180-9f8e-0a1b2c3d4e5f", "llama-3.1-8b-instant", 1_000, 100), DONE));
        // Anthropic: claude-sonnet-4 reads 4,000 and writes 300 (12,000 + 4,500), haiku 200 + 50 (160 + 200)
        sse("anthropic-sequential", 2, concat(
                anthropicCall("msg_01XFDUDYJgAACzvnptvVoYEL", "claude-sonnet-4-20250514", 4_000, 300),
                anthropicCall("msg_01Hq7TgWcAN2jZ3vG8mVbJkR", "claude-3-5-haiku-20241022", 200, 50)));
        // the same two calls made at once and their events merged as they arrive (Flux.merge, asyncio.gather)
        sse("anthropic-interleaved", 2, concat(
                anthropicStart("msg_01XFDUDYJgAACzvnptvVoYEL", "claude-sonnet-4-20250514", 4_000),
                anthropicStart("msg_01Hq7TgWcAN2jZ3vG8mVbJkR", "claude-3-5-haiku-20241022", 200),
                List.of(anthropicDelta("Hello"), anthropicDelta("Hi")),
                anthropicEnd(300), anthropicEnd(50)));
        // OpenAI: gpt-4o-mini reads 30,000 and writes 200 (4,500 + 120), gpt-4o 500 + 500 (1,250 + 5,000)
        sse("openai-interleaved", 2, List.of(
                chunk("chatcmpl-BqMini0000000000000000001", "gpt-4o-mini-2024-07-18", "Thread"),
                chunk("chatcmpl-BqFour0000000000000000002", "gpt-4o-2024-08-06", "Digest"),
                chunk("chatcmpl-BqMini0000000000000000001", "gpt-4o-mini-2024-07-18", " read."),
                chunk("chatcmpl-BqFour0000000000000000002", "gpt-4o-2024-08-06", " written."),
                usageChunk("chatcmpl-BqMini0000000000000000001", "gpt-4o-mini-2024-07-18", 30_000, 200),
                usageChunk("chatcmpl-BqFour0000000000000000002", "gpt-4o-2024-08-06", 500, 500)));
        sse("openai-sequential", 2, List.of(
                chunk("chatcmpl-BqMini0000000000000000001", "gpt-4o-mini-2024-07-18", "Thread"),
                usageChunk("chatcmpl-BqMini0000000000000000001", "gpt-4o-mini-2024-07-18", 30_000, 200),
                chunk("chatcmpl-BqFour0000000000000000002", "gpt-4o-2024-08-06", "Digest"),
                usageChunk("chatcmpl-BqFour0000000000000000002", "gpt-4o-2024-08-06", 500, 500)));
        // the agent's own progress event between its steps names the model the next step will use
        sse("openai-step-events", 2, List.of(
                data("{\"type\":\"agent.step\",\"step\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"status\":\"started\"}"),
                completion("chatcmpl-BqMini0000000000000000001", "gpt-4o-mini-2024-07-18", 30_000, 200),
                data("{\"type\":\"agent.step\",\"step\":2,\"model\":\"gpt-4o-2024-08-06\",\"status\":\"started\"}"),
                completion("chatcmpl-BqFour0000000000000000002", "gpt-4o-2024-08-06", 500, 500)));
        // gpt-4o (which the request names) answers 1,000 + 1,000 (2,500 + 10,000) through a relay that drops
        // the model field; alone, and after a gpt-4o-mini call that names its model (1,000 + 100: 150 + 60)
        sse("unnamed-alone", 1, List.of(
                completion("chatcmpl-BqFour0000000000000000002", null, 1_000, 1_000)));
        sse("unnamed-after-mini", 2, List.of(
                completion("chatcmpl-BqMini0000000000000000001", "gpt-4o-mini-2024-07-18", 1_000, 100),
                completion("chatcmpl-BqFour0000000000000000002", null, 1_000, 1_000)));
        // Responses: gpt-4o 1,000 + 500 (2,500 + 5,000), gpt-4o-mini 10,000 + 1,000 (1,500 + 600)
        sse("responses-sequential", 2, concat(
                responsesCall("resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", "gpt-4o-2024-08-06", 1_000, 500),
                responsesCall("resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41", "gpt-4o-mini-2024-07-18", 10_000, 1_000)));
        sse("responses-interleaved", 2, List.of(
                responsesCall("resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", "gpt-4o-2024-08-06", 1_000, 500).get(0),
                responsesCall("resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41", "gpt-4o-mini-2024-07-18", 10_000, 1_000).get(0),
                responsesCall("resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", "gpt-4o-2024-08-06", 1_000, 500).get(1),
                responsesCall("resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41", "gpt-4o-mini-2024-07-18", 10_000, 1_000).get(1),
                responsesCall("resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", "gpt-4o-2024-08-06", 1_000, 500).get(2),
                responsesCall("resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41", "gpt-4o-mini-2024-07-18", 10_000, 1_000).get(2)));
        // Gemini: 2.5 Pro 2,000 + 1,000 (2,500 + 10,000), 2.5 Flash 4,000 + 200 (1,200 + 500)
        sse("gemini-sequential", 2, concat(
                geminiCall("QxVsaO2aKpqJ1MkP6NvE8Ak", "gemini-2.5-pro", 2_000, 1_000),
                geminiCall("bRVsaK3bMtKL2NkQ7OwF9Bl", "gemini-2.5-flash", 4_000, 200)));
    }

    static final String TASK_GPT4O = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Read the three vendor contracts in the shared folder and draft a memo.\"}]}";

    // ------------------------------------------------------------------ tests

    /** Control: one Mistral stream (usage in its finishing chunk) is charged at mistral-large's rates: 8,400. */
    @Test
    void controlOneMistralStreamIsChargedAtItsModelsRates() {
        charged("mistral-one", TASK, 8_400, "mistral-large 3,000 + 400");
    }

    /**
     * Attack (under-charge): an agent relays two Mistral streams one after the other (mistral-large plans,
     * mistral-small writes). Mistral and DeepSeek send a call's usage in its last chunk beside the
     * finishing choice, not in a usage-only chunk. Expected 8,400 + 290 = 8,690.
     */
    @Test
    void twoMistralStreamsAreChargedEachAtItsOwnModelsRates() {
        charged("mistral-two", TASK, 8_690, "mistral-large 3,000 + 400 then mistral-small 2,000 + 300");
    }

    /**
     * Attack (under-charge): the same with Groq, whose last chunk carries the finishing choice and the
     * call's usage under {@code x_groq}: llama-3.3-70b 10,000 + 1,000 (6,800), llama-3.1-8b 1,000 + 100
     * (58). Expected 6,858.
     */
    @Test
    void twoGroqStreamsAreChargedEachAtItsOwnModelsRates() {
        charged("groq-two", TASK, 6_858, "llama-3.3-70b 10,000 + 1,000 then llama-3.1-8b 1,000 + 100");
    }

    /** Control: two Anthropic streams one after the other: 16,500 + 360 = 16,860. */
    @Test
    void controlAnthropicStreamsInSequenceAreChargedEachAtItsOwnRates() {
        charged("anthropic-sequential", TASK, 16_860, "claude-sonnet-4 4,000 + 300 then haiku 200 + 50");
    }

    /**
     * Attack (under-charge): an agent runs two Claude calls at once (a Sonnet reader and a Haiku
     * classifier) and relays their events merged as they arrive. Anthropic's {@code message_delta}
     * names no message, so the second {@code message_start}'s input count replaced the first's and the
     * last {@code message_delta}'s output count the first's (1,350 charged). Now each message's input is
     * charged at its own model's rates (12,000 + 160) and each delta's output, whose message is not said,
     * at the dearest of the two (350 at Sonnet's 15: 5,250): 17,410, never less than the calls cost
     * (16,860).
     */
    @Test
    void anthropicStreamsInterleavedAreChargedTheirInputsAtTheirOwnRatesAndTheirOutputsAtTheDearest() {
        charged("anthropic-interleaved", TASK, 17_410, "claude-sonnet-4 4,000 + 300 and haiku 200 + 50 merged");
    }

    /** Control: two OpenAI streams with usage chunks one after the other: 4,620 + 6,250 = 10,870. */
    @Test
    void controlOpenAiStreamsInSequenceAreChargedEachAtItsOwnRates() {
        charged("openai-sequential", TASK, 10_870, "gpt-4o-mini 30,000 + 200 then gpt-4o 500 + 500");
    }

    /**
     * Accountant (over-charge): the same two OpenAI calls run at once, their chunks merged as they
     * arrive, each call's usage chunk under its own id. The mini call's segment collects the gpt-4o
     * chunks' model too and its 30,000 input tokens are weighed at gpt-4o's rates. Expected 10,870.
     */
    @Test
    void openAiStreamsInterleavedAreChargedEachAtItsOwnRates() {
        charged("openai-interleaved", TASK, 10_870, "gpt-4o-mini 30,000 + 200 and gpt-4o 500 + 500 merged");
    }

    /**
     * Accountant (over-charge): the agent sends its own progress event before each step, naming the
     * model the step is about to call ({@code {"type":"agent.step","model":"gpt-4o…"}}), then the step's
     * whole completion. The event announcing step 2 comes after step 1's completion and before step 2's,
     * so it is read as step 1's and step 1's 30,000 gpt-4o-mini tokens are weighed at gpt-4o. Expected
     * 10,870.
     */
    @Test
    void anAgentsStepEventNamingTheNextModelDoesNotRepriceThePreviousCall() {
        charged("openai-step-events", TASK, 10_870, "gpt-4o-mini 30,000 + 200 then gpt-4o 500 + 500, step events between");
    }

    /** Control: a gpt-4o answer with no model field, for a request naming gpt-4o: 2,500 + 10,000 = 12,500. */
    @Test
    void controlAnUnnamedCallAloneIsChargedAtTheRequestsModel() {
        charged("unnamed-alone", TASK_GPT4O, 12_500, "unnamed 1,000 + 1,000, request names gpt-4o");
    }

    /**
     * Attack (under-charge): the same unnamed gpt-4o answer relayed after a gpt-4o-mini call that names
     * its model. The unnamed call is weighed at the dearest model the answer names (gpt-4o-mini only),
     * not at the request's gpt-4o: 750 instead of 12,500. One cheap call in front makes the dear call
     * cheap. Expected 210 + 12,500 = 12,710.
     */
    @Test
    void aCheapNamedCallInFrontDoesNotMakeAnUnnamedCallCheap() {
        charged("unnamed-after-mini", TASK_GPT4O, 12_710, "gpt-4o-mini 1,000 + 100 then unnamed 1,000 + 1,000, request names gpt-4o");
    }

    /** Control: two Responses API streams in sequence: 7,500 + 2,100 = 9,600. */
    @Test
    void controlResponsesStreamsInSequenceAreChargedEachAtItsOwnRates() {
        charged("responses-sequential", TASK, 9_600, "gpt-4o 1,000 + 500 then gpt-4o-mini 10,000 + 1,000");
    }

    /** Two Responses API streams run at once, events merged: 7,500 + 2,100 = 9,600. */
    @Test
    void responsesStreamsInterleavedAreChargedEachAtItsOwnRates() {
        charged("responses-interleaved", TASK, 9_600, "gpt-4o 1,000 + 500 and gpt-4o-mini 10,000 + 1,000 merged");
    }

    /** Control: two Gemini streams in sequence: 12,500 + 1,700 = 14,200. */
    @Test
    void controlGeminiStreamsInSequenceAreChargedEachAtItsOwnRates() {
        charged("gemini-sequential", TASK, 14_200, "gemini-2.5-pro 2,000 + 1,000 then 2.5-flash 4,000 + 200");
    }
}
