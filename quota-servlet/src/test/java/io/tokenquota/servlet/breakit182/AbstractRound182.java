package io.tokenquota.servlet.breakit182;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 182 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * answers that carry several model calls, relayed one after another or side by side in one HTTP answer,
 * each in its provider's own wire format. The relay ({@code POST /ai/relay/<scenario>}, {@link RelayedCalls})
 * makes the scenario's calls and writes each provider's events as they come. Every model is charged one
 * unit a token, so the figures are the providers' usage.
 *
 * <p>Three findings, each a real call left unpaid:
 * <ol>
 * <li>A call whose stream ends with the chunk that finishes its choice beside the usage (Mistral's
 * La Plateforme always does; Groq's {@code x_groq.usage} too) followed by a call in any other provider's
 * format (Anthropic Messages, Gemini, OpenAI Responses): one of the two is not charged. decisions.md ends
 * such a call only "once another id's chunk with choices follows", and the filter ignores a report in
 * another format while the first call is open.</li>
 * <li>OpenAI's streamed text-to-speech ({@code gpt-4o-mini-tts}, {@code stream_format: "sse"}) ends with
 * {@code {"type": "speech.audio.done", "usage": {…}}}: no id, a type. Relayed after the answer a voice
 * assistant spoke (the chat call's stream), it replaces that call's usage or is dropped.</li>
 * <li>Two Cohere v2 chat streams relayed side by side (an A/B endpoint running two variants at once), each
 * named by its {@code message-start} {@code id}, both cut at {@code max_tokens} (the same counts): charged
 * as one, although decisions.md charges calls alike as one only when they have "no ids of their own".</li>
 * </ol>
 */
abstract class AbstractRound182 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    static final String WORDS = "Clause seven lets the supplier charge interest on any invoice paid late. ";

    // ------------------------------------------------------------------ Mistral's chat stream
    // La Plateforme's /v1/chat/completions with "stream": true: chat.completion.chunk objects under one id;
    // the last chunk carries the finish_reason AND the usage (Mistral always sends it, no stream_options)

    static Event mistralChunk(String id, String text) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + text + "\"},"
                + "\"finish_reason\":null}]}");
    }

    static Event mistralLast(String id, long prompt, long completion) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":"
                + "\"stop\"}],\"usage\":{\"prompt_tokens\":" + prompt + ",\"total_tokens\":" + (prompt + completion)
                + ",\"completion_tokens\":" + completion + "}}");
    }

    static List<Event> mistral(String id, long prompt, long completion) {
        List<Event> e = new ArrayList<>();
        e.add(data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                + "\"finish_reason\":null}]}"));
        for (int i = 0; i < 5; i++) {
            e.add(mistralChunk(id, "contracts "));
        }
        e.add(mistralLast(id, prompt, completion));
        e.add(data("[DONE]"));
        return e;
    }

    // ------------------------------------------------------------------ Anthropic's Messages stream

    static List<Event> claude(String id, long input, long output) {
        List<Event> e = new ArrayList<>();
        e.add(new Event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + input + ",\"output_tokens\":1}}}"));
        e.add(new Event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                + "{\"type\":\"text\",\"text\":\"\"}}"));
        e.add(new Event("ping", "{\"type\":\"ping\"}"));
        for (int i = 0; i < 10; i++) {
            e.add(new Event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                    + "{\"type\":\"text_delta\",\"text\":\"" + WORDS + "\"}}"));
        }
        e.add(new Event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
        e.add(new Event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + output + "}}"));
        e.add(new Event("message_stop", "{\"type\":\"message_stop\"}"));
        return e;
    }

    // ------------------------------------------------------------------ Gemini's stream (alt=sse)

    static List<Event> gemini(String responseId, long prompt, long candidates) {
        List<Event> e = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            e.add(data("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + WORDS + "\"}],\"role\":\"model\"},"
                    + "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":" + prompt + ",\"totalTokenCount\":" + prompt
                    + "},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"" + responseId + "\"}"));
        }
        e.add(data("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":"
                + "\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":" + prompt + ",\"candidatesTokenCount\":"
                + candidates + ",\"totalTokenCount\":" + (prompt + candidates) + "},\"modelVersion\":\"gemini-2.5-flash\","
                + "\"responseId\":\"" + responseId + "\"}"));
        return e;
    }

    // ------------------------------------------------------------------ OpenAI Responses stream

    static String response(String id, String status, String usage) {
        return "{\"id\":\"" + id + "\",\"object\":\"response\",\"created_at\":1750000000,\"status\":\"" + status
                + "\",\"model\":\"gpt-4.1-2025-04-14\",\"output\":[],\"usage\":" + usage + "}";
    }

    static List<Event> responses(String id, long input, long output) {
        List<Event> e = new ArrayList<>();
        e.add(new Event("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                + response(id, "in_progress", "null") + "}"));
        for (int i = 1; i <= 5; i++) {
            e.add(new Event("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":"
                    + i + ",\"item_id\":\"msg_" + id + "\",\"output_index\":0,\"content_index\":0,\"delta\":\"" + WORDS
                    + "\",\"logprobs\":[]}"));
        }
        e.add(new Event("response.completed", "{\"type\":\"response.completed\",\"sequence_number\":6,\"response\":"
                + response(id, "completed", "{\"input_tokens\":" + input + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                + "\"output_tokens\":" + output + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":"
                + (input + output) + "}") + "}"));
        return e;
    }

    // ------------------------------------------------------------------ OpenAI chat stream with include_usage

    static List<Event> openAi(String id, long prompt, long completion) {
        List<Event> e = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            e.add(data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                    + "\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + WORDS + "\"},"
                    + "\"finish_reason\":null}]}"));
        }
        e.add(data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"));
        e.add(data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":"
                + completion + ",\"total_tokens\":" + (prompt + completion) + "}}"));
        return e;
    }

    // ------------------------------------------------------------------ OpenAI audio streams

    /** gpt-4o-transcribe streamed ({@code stream: true}): text deltas, then {@code transcript.text.done} with usage. */
    static List<Event> transcription(long audio, long output) {
        return List.of(
                data("{\"type\":\"transcript.text.delta\",\"delta\":\"What does clause seven say\",\"logprobs\":null}"),
                data("{\"type\":\"transcript.text.delta\",\"delta\":\" about late payment?\",\"logprobs\":null}"),
                data("{\"type\":\"transcript.text.done\",\"text\":\"What does clause seven say about late payment?\","
                        + "\"logprobs\":null,\"usage\":{\"type\":\"tokens\",\"input_tokens\":" + audio + ",\"input_token_details\":"
                        + "{\"text_tokens\":0,\"audio_tokens\":" + audio + "},\"output_tokens\":" + output + ",\"total_tokens\":"
                        + (audio + output) + "}}"));
    }

    /** gpt-4o-mini-tts with {@code stream_format: "sse"}: audio deltas, then {@code speech.audio.done} with usage. */
    static List<Event> speech(long input, long output) {
        return List.of(
                data("{\"type\":\"speech.audio.delta\",\"audio\":\"UklGRiQAAABXQVZFZm10IBAAAAABAAEAwF0AAIC7AAACABAAZGF0YQAAAAA=\"}"),
                data("{\"type\":\"speech.audio.delta\",\"audio\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"),
                data("{\"type\":\"speech.audio.done\",\"usage\":{\"input_tokens\":" + input + ",\"output_tokens\":" + output
                        + ",\"total_tokens\":" + (input + output) + "}}"));
    }

    {
        // --- finding 1: a planner on Mistral (3,000 + 400), then the writer (2,000 + 3,000): 8,400
        sse("mistral-then-mistral", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", 3_000, 400),
                mistral("0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5", 2_000, 3_000)));
        sse("mistral-then-claude", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", 3_000, 400),
                claude("msg_01XFDUDYJgAACzvnptvVoYEL", 2_000, 3_000)));
        sse("mistral-then-gemini", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", 3_000, 400),
                gemini("mZ3aaMXcB4-Ez7IP0pSZmAw", 2_000, 3_000)));
        sse("mistral-then-responses", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", 3_000, 400),
                responses("resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", 2_000, 3_000)));
        sse("groq-then-claude", 2, concat(groq("chatcmpl-5c1a7f0e-2b9d-4c3e-8f6a-1d2e3f4a5b6c", 3_000, 400),
                claude("msg_01XFDUDYJgAACzvnptvVoYEL", 2_000, 3_000)));
        // --- finding 2: a voice assistant: the question transcribed (61 + 15), answered (3,000 + 5,000), spoken
        // (5,000 text in, 9,000 audio out)
        sse("voice-gpt", 3, concat(transcription(61, 15),
                openAi("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", 3_000, 5_000), speech(5_000, 9_000)));
        sse("voice-claude", 3, concat(transcription(61, 15),
                claude("msg_01XFDUDYJgAACzvnptvVoYEL", 3_000, 5_000), speech(5_000, 9_000)));
        // --- finding 3: two Cohere v2 variants side by side, each 3,000 + 2,000 (cut at max_tokens): 10,000
        sse("cohere-side-by-side", 2, List.of(
                cohereStart("29f14a5a-11de-4cae-9800-25e4747408ea"), cohereStart("6a1b5c0e-3f2d-4e8a-9b7c-0d1e2f3a4b5c"),
                cohereContentStart(), cohereContentStart(), cohereDelta("Variant A writes "), cohereDelta("Variant B writes "),
                cohereContentEnd(), cohereEnd(3_000, 2_000), cohereContentEnd(), cohereEnd(3_000, 2_000)));
        // control: the same two variants one after the other are charged both
        sse("cohere-one-after-the-other", 2, List.of(
                cohereStart("29f14a5a-11de-4cae-9800-25e4747408ea"), cohereContentStart(), cohereDelta("Variant A writes "),
                cohereContentEnd(), cohereEnd(3_000, 2_000),
                cohereStart("6a1b5c0e-3f2d-4e8a-9b7c-0d1e2f3a4b5c"), cohereContentStart(), cohereDelta("Variant B writes "),
                cohereContentEnd(), cohereEnd(3_000, 2_000)));
    }

    // ------------------------------------------------------------------ Groq's chat stream
    // the last chunk finishes the choice and carries the usage under x_groq (Groq's own field)

    static List<Event> groq(String id, long prompt, long completion) {
        String head = "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"llama-3.3-70b-versatile\",\"system_fingerprint\":\"fp_c4760ee73b\",\"choices\":[{\"index\":0,";
        return List.of(
                data(head + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],"
                        + "\"x_groq\":{\"id\":\"req_01jdq4b5e0f8ab1bp5mrqz6g1a\"}}"),
                data(head + "\"delta\":{\"content\":\"contracts\"},\"logprobs\":null,\"finish_reason\":null}]}"),
                data(head + "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":"
                        + "\"req_01jdq4b5e0f8ab1bp5mrqz6g1a\",\"usage\":{\"queue_time\":0.02,\"prompt_tokens\":" + prompt
                        + ",\"prompt_time\":0.01,\"completion_tokens\":" + completion + ",\"completion_time\":0.3,"
                        + "\"total_tokens\":" + (prompt + completion) + ",\"total_time\":0.31}}}"),
                data("[DONE]"));
    }

    // ------------------------------------------------------------------ Cohere v2 chat stream (/v2/chat)

    static Event cohereStart(String id) {
        return new Event("message-start", "{\"id\":\"" + id + "\",\"type\":\"message-start\",\"delta\":{\"message\":"
                + "{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}");
    }

    static Event cohereContentStart() {
        return new Event("content-start", "{\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":"
                + "{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}");
    }

    static Event cohereDelta(String text) {
        return new Event("content-delta", "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":"
                + "{\"content\":{\"text\":\"" + text + "\"}}}}");
    }

    static Event cohereContentEnd() {
        return new Event("content-end", "{\"type\":\"content-end\",\"index\":0}");
    }

    static Event cohereEnd(long in, long out) {
        return new Event("message-end", "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"MAX_TOKENS\","
                + "\"usage\":{\"billed_units\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + "},"
                + "\"tokens\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + "}}}}");
    }

    /** A new subject posts the task to {@code scenario}: it must be charged at least {@code expected}. */
    private void chargedAtLeast(String scenario, long expected, String what) {
        long used = post(scenario);
        assertTrue(used >= expected, kind() + " " + scenario + ": " + what + "; the calls reported " + expected
                + " tokens in the answer, charged " + used);
    }

    // ------------------------------------------------------------------ finding 1

    /** Control: a Mistral planner then a Mistral writer (another id's chunk with choices follows) is charged both. */
    @Test
    void controlMistralPlannerThenMistralWriterIsChargedBoth() {
        chargedAtLeast("mistral-then-mistral", 8_400, "Mistral (3,400) then Mistral (5,000)");
    }

    /** The attack: a Mistral planner's stream, then Claude writes the memo (Anthropic's message_start / message_delta). */
    @Test
    void aMistralPlannerDoesNotMakeClaudesMemoFree() {
        chargedAtLeast("mistral-then-claude", 8_400, "Mistral (3,400) then Claude (5,000)");
    }

    /** The same with Gemini writing (streamGenerateContent?alt=sse, its final chunk's finishReason and counts). */
    @Test
    void aMistralPlannerDoesNotMakeGeminisMemoFree() {
        chargedAtLeast("mistral-then-gemini", 8_400, "Mistral (3,400) then Gemini (5,000)");
    }

    /** The same with the OpenAI Responses API writing (response.completed's response.usage). */
    @Test
    void aMistralPlannerFollowedByAResponseIsChargedBoth() {
        chargedAtLeast("mistral-then-responses", 8_400, "Mistral (3,400) then a Response (5,000)");
    }

    /** Groq's stream ends the same way (finish_reason and x_groq.usage in one chunk): a Groq router before Claude. */
    @Test
    void aGroqRouterDoesNotMakeClaudesMemoFree() {
        chargedAtLeast("groq-then-claude", 8_400, "Groq (3,400) then Claude (5,000)");
    }

    // ------------------------------------------------------------------ finding 2

    /** A voice assistant on OpenAI: transcript.text.done, the chat stream's usage chunk, then speech.audio.done. */
    @Test
    void aSpokenAnswerDoesNotMakeTheChatCallFree() {
        chargedAtLeast("voice-gpt", 76 + 8_000 + 14_000, "transcription (76), chat (8,000), speech (14,000)");
    }

    /** The same with Claude answering between the transcription and the speech. */
    @Test
    void aSpokenClaudeAnswerIsChargedItsSpeech() {
        chargedAtLeast("voice-claude", 76 + 8_000 + 14_000, "transcription (76), Claude (8,000), speech (14,000)");
    }

    // ------------------------------------------------------------------ finding 3

    /** Control: the two Cohere variants one after the other are charged both. */
    @Test
    void controlTwoCohereVariantsOneAfterTheOtherAreChargedBoth() {
        chargedAtLeast("cohere-one-after-the-other", 10_000, "two Cohere calls of 5,000, each its own message-start id");
    }

    /** The attack: the same two variants relayed side by side, their message-end events last. */
    @Test
    void twoCohereVariantsSideBySideAreChargedBoth() {
        chargedAtLeast("cohere-side-by-side", 10_000, "two Cohere calls of 5,000, each its own message-start id");
    }
}
