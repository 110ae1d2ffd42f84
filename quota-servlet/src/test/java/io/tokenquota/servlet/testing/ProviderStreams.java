package io.tokenquota.servlet.testing;

import static io.tokenquota.servlet.testing.RelayedCalls.data;

import io.tokenquota.servlet.testing.RelayedCalls.Event;
import java.util.ArrayList;
import java.util.List;

/**
 * Model calls' streams in their providers' own wire formats, as the break-it rounds' relays
 * ({@link RelayedCalls}) write them: each a list of documents carrying the provider's usage as its API
 * reports it.
 */
public final class ProviderStreams {
    private ProviderStreams() {
    }

    /** A sentence of a model's answer. */
    public static final String WORDS = "Clause seven lets the supplier charge interest on any invoice paid late. ";

    /** One chunk of Mistral's La Plateforme chat stream ({@code /v1/chat/completions}, {@code "stream": true}). */
    public static Event mistralChunk(String id, String text) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + text + "\"},"
                + "\"finish_reason\":null}]}");
    }

    /** Mistral's last chunk: the {@code finish_reason} AND the usage (Mistral always sends it, no {@code stream_options}). */
    public static Event mistralLast(String id, long prompt, long completion) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":"
                + "\"stop\"}],\"usage\":{\"prompt_tokens\":" + prompt + ",\"total_tokens\":" + (prompt + completion)
                + ",\"completion_tokens\":" + completion + "}}");
    }

    /** Mistral's whole chat stream: a role chunk, five chunks of {@code text}, the last chunk, {@code [DONE]}. */
    public static List<Event> mistral(String id, String text, long prompt, long completion) {
        List<Event> e = new ArrayList<>();
        e.add(data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                + "\"finish_reason\":null}]}"));
        for (int i = 0; i < 5; i++) {
            e.add(mistralChunk(id, text));
        }
        e.add(mistralLast(id, prompt, completion));
        e.add(data("[DONE]"));
        return e;
    }

    /** Anthropic's Messages stream of claude-sonnet-4-5: input in {@code message_start}, output in {@code message_delta}. */
    public static List<Event> claude(String id, long input, long output) {
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

    /** Gemini's stream ({@code alt=sse}): the prompt counted on every chunk, the candidates on the last. */
    public static List<Event> gemini(String responseId, long prompt, long candidates) {
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

    /** An OpenAI Responses object of gpt-4.1 without output. */
    public static String response(String id, String status, String usage) {
        return "{\"id\":\"" + id + "\",\"object\":\"response\",\"created_at\":1750000000,\"status\":\"" + status
                + "\",\"model\":\"gpt-4.1-2025-04-14\",\"output\":[],\"usage\":" + usage + "}";
    }

    /** OpenAI's Responses stream: {@code response.created}, five deltas, {@code response.completed} with the usage. */
    public static List<Event> responses(String id, long input, long output) {
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

    /** OpenAI's chat stream with {@code stream_options.include_usage}: the usage on a last chunk without choices. */
    public static List<Event> openAi(String id, long prompt, long completion) {
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

    /** gpt-4o-transcribe streamed ({@code stream: true}): text deltas, then {@code transcript.text.done} with usage. */
    public static List<Event> transcription(long audio, long output) {
        return List.of(
                data("{\"type\":\"transcript.text.delta\",\"delta\":\"What does clause seven say\",\"logprobs\":null}"),
                data("{\"type\":\"transcript.text.delta\",\"delta\":\" about late payment?\",\"logprobs\":null}"),
                data("{\"type\":\"transcript.text.done\",\"text\":\"What does clause seven say about late payment?\","
                        + "\"logprobs\":null,\"usage\":{\"type\":\"tokens\",\"input_tokens\":" + audio + ",\"input_token_details\":"
                        + "{\"text_tokens\":0,\"audio_tokens\":" + audio + "},\"output_tokens\":" + output + ",\"total_tokens\":"
                        + (audio + output) + "}}"));
    }

    /** gpt-4o-mini-tts with {@code stream_format: "sse"}: audio deltas, then {@code speech.audio.done} with usage. */
    public static List<Event> speech(long input, long output) {
        return List.of(
                data("{\"type\":\"speech.audio.delta\",\"audio\":\"UklGRiQAAABXQVZFZm10IBAAAAABAAEAwF0AAIC7AAACABAAZGF0YQAAAAA=\"}"),
                data("{\"type\":\"speech.audio.delta\",\"audio\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"),
                data("{\"type\":\"speech.audio.done\",\"usage\":{\"input_tokens\":" + input + ",\"output_tokens\":" + output
                        + ",\"total_tokens\":" + (input + output) + "}}"));
    }

    /** Groq's chat stream: the last chunk finishes the choice and carries the usage under {@code x_groq} (Groq's own field). */
    public static List<Event> groq(String id, String text, long prompt, long completion) {
        String head = "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"llama-3.3-70b-versatile\",\"system_fingerprint\":\"fp_c4760ee73b\",\"choices\":[{\"index\":0,";
        return List.of(
                data(head + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],"
                        + "\"x_groq\":{\"id\":\"req_01jdq4b5e0f8ab1bp5mrqz6g1a\"}}"),
                data(head + "\"delta\":{\"content\":\"" + text + "\"},\"logprobs\":null,\"finish_reason\":null}]}"),
                data(head + "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":"
                        + "\"req_01jdq4b5e0f8ab1bp5mrqz6g1a\",\"usage\":{\"queue_time\":0.02,\"prompt_tokens\":" + prompt
                        + ",\"prompt_time\":0.01,\"completion_tokens\":" + completion + ",\"completion_time\":0.3,"
                        + "\"total_tokens\":" + (prompt + completion) + ",\"total_time\":0.31}}}"),
                data("[DONE]"));
    }

    /** Cohere v2 chat stream ({@code /v2/chat}): {@code message-start}, naming the call. */
    public static Event cohereStart(String id) {
        return new Event("message-start", "{\"id\":\"" + id + "\",\"type\":\"message-start\",\"delta\":{\"message\":"
                + "{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}");
    }

    /** Cohere's {@code content-start}. */
    public static Event cohereContentStart() {
        return new Event("content-start", "{\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":"
                + "{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}");
    }

    /** Cohere's {@code content-delta} of {@code text}. */
    public static Event cohereDelta(String text) {
        return new Event("content-delta", "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":"
                + "{\"content\":{\"text\":\"" + text + "\"}}}}");
    }

    /** Cohere's {@code content-end}. */
    public static Event cohereContentEnd() {
        return new Event("content-end", "{\"type\":\"content-end\",\"index\":0}");
    }

    /** Cohere's {@code message-end}, cut at {@code max_tokens}, with its billed units and tokens. */
    public static Event cohereEnd(long in, long out) {
        return new Event("message-end", "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"MAX_TOKENS\","
                + "\"usage\":{\"billed_units\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + "},"
                + "\"tokens\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + "}}}}");
    }
}
