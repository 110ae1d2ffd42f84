package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The events a model family writes in {@code InvokeModelWithResponseStream}'s chunks, as Bedrock's user guide documents
 * each ("Inference request parameters and response fields for foundation models"), and the readers of this package
 * read them: what tells a chunk that is the provider's document from a Bedrock agent's answer text written as JSON
 * (both come as a {@code chunk}'s base64 {@code bytes}; {@code AnswerDecoding.EventStream}).
 *
 * <p>A chunk document is such an event when it is one JSON object whose top-level fields are all the family's (and
 * Bedrock's own additions, {@link #BEDROCK_FIELDS}) and whose discriminator says which family: Anthropic's Messages
 * events by their {@code type}, Cohere Command R's by their {@code event_type}, Nova's by their one field, the others
 * by the field only they have ({@code generation}, {@code outputText}, {@code outputs}, {@code completion},
 * {@code choices}, Cohere Command's {@code generations}/{@code is_finished}). Only the top level is looked at: a field
 * of the family's is read by the formats' readers, which count its text where the format puts text; every family here
 * must have its stream's text field counted by {@code StreamText} (round 487: Titan's, Claude Text Completions' and
 * Cohere Command's were not, and an agent's answer written as their events was charged the usage it wrote;
 * {@code StreamTextTest} walks these families).
 *
 * <p>Why exact: round 483. An agent's answer streamed as many small JSON objects of its own ({@code order},
 * {@code part}, {@code history}: prose under a field no format reads as text) ending in
 * {@code {"usage":{"inputTokens":1,"outputTokens":1}}} was read as InvokeModel documents and charged 2 for 5,267
 * tokens of text; counting each chunk's whole bytes instead (round 479) over-charged a genuine Cohere Command R
 * stream, whose {@code stream-end} repeats the answer and the whole conversation. A document none of these families
 * writes is no InvokeModel event: the stream is an agent's, its chunks the answer's text.
 */
final class InvokeModelEvents {
    private InvokeModelEvents() {
    }

    /**
     * What Bedrock adds to a provider's event: the invocation metrics on the last chunk, a guardrail's action and
     * trace (user guide, "Use a guardrail with InvokeModelWithResponseStream").
     */
    private static final Set<String> BEDROCK_FIELDS = Set.of("amazon-bedrock-invocationMetrics",
            "amazon-bedrock-guardrailAction", "amazon-bedrock-trace");

    /** Anthropic's Messages stream on Bedrock: its events' {@code type}s and the fields they have. */
    private static final Set<String> ANTHROPIC_TYPES = Set.of("message_start", "content_block_start",
            "content_block_delta", "content_block_stop", "message_delta", "message_stop", "ping", "error");
    private static final Set<String> ANTHROPIC_FIELDS = Set.of("type", "message", "index", "content_block", "delta",
            "usage", "error", "context_management");

    /** Cohere Command R's chat stream (Cohere's v1 chat events) on Bedrock: {@code event_type}s and fields. */
    private static final Set<String> COHERE_CHAT_TYPES = Set.of("stream-start", "search-queries-generation",
            "search-results", "text-generation", "citation-generation", "tool-calls-generation", "tool-calls-chunk",
            "stream-end");
    private static final Set<String> COHERE_CHAT_FIELDS = Set.of("is_finished", "event_type", "generation_id", "text",
            "search_queries", "search_results", "documents", "citations", "tool_calls", "tool_call_delta", "response",
            "finish_reason");

    /**
     * Bedrock ConverseStream's events, each one field (its JSON rendering, {@code {"contentBlockDelta": {...}}}, or the
     * name its {@code :event-type} header gives); Amazon Nova's InvokeModel stream writes the same. The one list the
     * package tells them by, so that a name added reaches every reader.
     */
    static final Set<String> CONVERSE_EVENTS = Set.of("messageStart", "contentBlockStart", "contentBlockDelta",
            "contentBlockStop", "messageStop", "metadata");

    /**
     * The families told by a field only their events have, and the fields those events may have: Meta Llama's
     * {@code generation}, Amazon Titan Text's {@code outputText}, Mistral's {@code outputs}, Anthropic's Text
     * Completions' {@code completion}, Cohere Command's generate stream, and the OpenAI-compatible chunks (Mistral
     * Large, AI21 Jamba, DeepSeek, OpenAI's and Qwen's open-weight models, Writer) by their {@code choices}.
     */
    static final Map<String, Set<String>> BY_FIELD = Map.of(
            "generation", Set.of("generation", "prompt_token_count", "generation_token_count", "stop_reason", "logprobs"),
            "outputText", Set.of("outputText", "index", "totalOutputTextTokenCount", "completionReason",
                    "inputTextTokenCount"),
            "outputs", Set.of("outputs"),
            "completion", Set.of("completion", "stop_reason", "stop", "type", "id", "model", "log_id"),
            "generations", Set.of("generations", "id", "prompt", "text", "is_finished", "finish_reason", "index"),
            "is_finished", Set.of("generations", "id", "prompt", "text", "is_finished", "finish_reason", "index",
                    "response"),
            "choices", Set.of("id", "object", "created", "model", "choices", "usage", "system_fingerprint",
                    "service_tier", "meta", "prompt_logprobs"));

    /** Whether {@code json} is one JSON object, nothing but white space after it, that is an event of a known family. */
    static boolean recognized(String json) {
        Set<String> fields = new HashSet<>();
        String type = null;
        String eventType = null;
        try (JsonParser p = Json.REQUEST_SCAN.createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return false;
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                t = p.nextToken();
                if (!fields.add(name)) {
                    // a field twice: no provider writes that, and readers differ on which one counts
                    return false;
                }
                if ("type".equals(name) && t == JsonToken.VALUE_STRING) {
                    type = p.getText();
                } else if ("event_type".equals(name) && t == JsonToken.VALUE_STRING) {
                    eventType = p.getText();
                }
                p.skipChildren();
            }
            if (t != JsonToken.END_OBJECT || p.nextToken() != null) {
                return false;
            }
        } catch (java.io.IOException e) {
            return false;
        }
        fields.removeAll(BEDROCK_FIELDS);
        if (fields.isEmpty()) {
            return false;
        }
        if (eventType != null) {
            return COHERE_CHAT_TYPES.contains(eventType) && COHERE_CHAT_FIELDS.containsAll(fields);
        }
        if (type != null && ANTHROPIC_TYPES.contains(type)) {
            return ANTHROPIC_FIELDS.containsAll(fields);
        }
        if (fields.size() == 1 && CONVERSE_EVENTS.containsAll(fields)) {
            return true;
        }
        for (Map.Entry<String, Set<String>> family : BY_FIELD.entrySet()) {
            if (fields.contains(family.getKey()) && family.getValue().containsAll(fields)) {
                return true;
            }
        }
        return false;
    }
}
