package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenquota.TokenEstimator;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Set;

/**
 * Estimates an AI request's tokens from its JSON body with a streaming parser (no tree is built).
 * Counted: every string whose field is one of {@link #TEXT_FIELDS}, and every string at any depth
 * beneath such a field or beneath the top-level {@link #CONVERSATION_FIELDS}, whatever it is called
 * (OpenAI {@code messages[].content} and content parts, Responses {@code instructions} and {@code input}
 * items, Anthropic {@code system} blocks, text documents and {@code tool_use.input} objects, Gemini
 * {@code contents[].parts[]} with {@code functionCall.args} and {@code functionResponse.response}), except
 * what is not text a model reads: the labels, ids, references and media types of {@link #NOT_TEXT}, and
 * a {@link #PAYLOAD_FIELDS} value that is base64 (an image, audio or PDF, which providers bill by
 * their own measures, not by the characters of their encoding). A number there counts a token (a
 * pre-tokenised {@code prompt: [[9906, 1917]]} is one token per id). Under the top-level
 * {@link #SCHEMA_FIELDS} (tool and function definitions, response schemas), which the provider
 * serialises into the prompt, every field name and string counts. The requested output budget is the
 * largest top-level {@link #OUTPUT_FIELDS} value or Gemini's {@code generationConfig.maxOutputTokens},
 * for each of the completions asked for ({@link #COMPLETIONS_FIELDS}, Gemini's
 * {@code generationConfig.candidateCount}). A body with malformed UTF-8 is read as an endpoint's
 * {@code Reader} reads it, each malformed byte a U+FFFD. Immutable and thread-safe.
 */
final class RequestEstimator {
    static final Set<String> TEXT_FIELDS = Set.of("prompt", "content", "input", "text", "query", "system",
            "instructions", "arguments", "output");
    /** Top-level fields holding the conversation: OpenAI and Anthropic {@code messages}, Gemini {@code contents}. */
    static final Set<String> CONVERSATION_FIELDS = Set.of("messages", "contents");
    /** Fields inside the conversation whose strings label or reference rather than say something. */
    static final Set<String> NOT_TEXT = Set.of("type", "role", "name", "id", "url", "uri", "image_url", "file_url",
            "file_data", "file_uri", "fileUri", "media_type", "mime_type", "mimeType", "format", "detail",
            "signature", "encrypted_content");
    /**
     * Fields that hold a binary payload as base64 (Anthropic {@code source.data}, Gemini
     * {@code inlineData.data}, OpenAI {@code input_audio.data}) or, in an Anthropic text document,
     * the document's text: counted unless the value is base64.
     */
    static final Set<String> PAYLOAD_FIELDS = Set.of("data");
    static final Set<String> SCHEMA_FIELDS = Set.of("tools", "functions", "response_format");
    static final Set<String> OUTPUT_FIELDS = Set.of("max_tokens", "max_completion_tokens", "max_output_tokens");
    static final Set<String> GEMINI_CONFIG = Set.of("generationConfig", "generation_config");
    static final Set<String> GEMINI_OUTPUT_FIELDS = Set.of("maxOutputTokens", "max_output_tokens");
    /** How many completions the model writes, each up to the output budget (OpenAI {@code n}, {@code best_of}). */
    static final Set<String> COMPLETIONS_FIELDS = Set.of("n", "best_of");
    static final Set<String> GEMINI_COMPLETIONS_FIELDS = Set.of("candidateCount", "candidate_count");
    /** Shorter values of a payload field are counted as text: too short to be worth telling apart. */
    private static final int MIN_PAYLOAD_CHARS = 64;

    private final TokenEstimator estimator;

    RequestEstimator(TokenEstimator estimator) {
        this.estimator = estimator;
    }

    /** Estimated tokens of plain text (a body that is not JSON). */
    long text(CharSequence text) {
        return Math.max(0, estimator.estimate(text));
    }

    /**
     * @param inputTokens  estimated tokens of the text fields
     * @param outputBudget the requested output budget per completion, or -1 when the body names none
     * @param completions  how many completions the request asks for (at least 1)
     */
    record Estimate(long inputTokens, long outputBudget, long completions) {
    }

    private static boolean hasTrailingContent(JsonParser p) {
        try {
            return p.nextToken() != null;
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }

    /**
     * The estimate, or {@code null} when the body is empty, not a JSON object, or broken before the
     * object ends (content after a complete object is counted as text).
     */
    Estimate estimate(byte[] body) {
        Estimate e = scan(body);
        if (e == null && body != null && !isUtf8(body)) {
            // the parser stops at a malformed byte; an endpoint reading through a Reader gets U+FFFD
            // for it and parses the rest, so the estimate reads the same text
            e = scan(new String(body, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8));
        }
        return e;
    }

    private static boolean isUtf8(byte[] body) {
        try {
            StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(body));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    private Estimate scan(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        try (JsonParser p = Json.SCAN.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            Deque<Frame> stack = new ArrayDeque<>();
            stack.push(new Frame(false, null, false, false));
            long input = 0;
            long output = -1;
            long completions = 1;
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                Frame top = stack.peek();
                switch (t) {
                    case FIELD_NAME -> {
                        top.field = p.currentName();
                        if (top.schema) {
                            input = saturatingAdd(input, estimator.estimate(top.field));
                        }
                    }
                    case START_OBJECT, START_ARRAY -> {
                        boolean schema = top.schema || (stack.size() == 1 && SCHEMA_FIELDS.contains(top.field));
                        boolean said = top.said || TEXT_FIELDS.contains(top.valueName())
                                || (stack.size() == 1 && CONVERSATION_FIELDS.contains(top.field));
                        stack.push(new Frame(t == JsonToken.START_ARRAY, top.valueName(), schema, said));
                    }
                    case END_OBJECT, END_ARRAY -> stack.pop();
                    case VALUE_STRING -> {
                        boolean named = top.schema || TEXT_FIELDS.contains(top.valueName());
                        if (named || top.saysText()) {
                            // a view of the parser's buffer, not a String copy: the estimator reads it only during the call
                            CharBuffer text = CharBuffer.wrap(p.getTextCharacters(), p.getTextOffset(), p.getTextLength());
                            if (named || !(PAYLOAD_FIELDS.contains(top.valueName()) && isBase64(text))) {
                                input = saturatingAdd(input, estimator.estimate(text));
                            }
                        }
                    }
                    case VALUE_NUMBER_INT -> {
                        boolean gemini = stack.size() == 2 && !top.array && GEMINI_CONFIG.contains(top.name);
                        boolean budget = (stack.size() == 1 && OUTPUT_FIELDS.contains(top.field))
                                || (gemini && GEMINI_OUTPUT_FIELDS.contains(top.field));
                        boolean times = (stack.size() == 1 && COMPLETIONS_FIELDS.contains(top.field))
                                || (gemini && GEMINI_COMPLETIONS_FIELDS.contains(top.field));
                        if (budget || times) {
                            long value = p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                                    ? Long.MAX_VALUE : Math.max(0, p.getLongValue());
                            if (budget) {
                                output = Math.max(output, value);
                            } else {
                                completions = Math.max(completions, value);
                            }
                        }
                        if (top.saysText() || TEXT_FIELDS.contains(top.valueName())) {
                            // a token id of a pre-tokenised prompt, or a number in a tool's input
                            input = saturatingAdd(input, 1);
                        }
                    }
                    case VALUE_NUMBER_FLOAT -> {
                        if (top.saysText()) {
                            input = saturatingAdd(input, 1);
                        }
                    }
                    default -> {
                        // booleans and nulls carry no text
                    }
                }
                if (stack.isEmpty()) {
                    break;
                }
            }
            if (!stack.isEmpty()) {
                return null;
            }
            if (hasTrailingContent(p)) {
                // a lenient endpoint reads the object and ignores what follows: keep the object's output
                // budget, and count the whole body's text so nothing rides free behind it
                input = Math.max(input, estimator.estimate(new String(body, java.nio.charset.StandardCharsets.UTF_8)));
            }
            return new Estimate(input, output, completions);
        } catch (IOException | RuntimeException e) {
            // broken or hostile JSON: the caller falls back to the endpoint default
            return null;
        }
    }

    /**
     * Whether a payload field's value is base64 (plain or a {@code data:} URL): no spaces, only the
     * base64 alphabet and line breaks. Text a model reads has spaces or punctuation somewhere in 64
     * characters.
     */
    private static boolean isBase64(CharSequence value) {
        if (value.length() < MIN_PAYLOAD_CHARS) {
            return false;
        }
        int start = 0;
        if (value.length() > 5 && "data:".contentEquals(value.subSequence(0, 5))) {
            for (int i = 5; i < value.length(); i++) {
                if (value.charAt(i) == ',') {
                    start = i + 1;
                    break;
                }
            }
        }
        for (int i = start; i < value.length(); i++) {
            char c = value.charAt(i);
            boolean base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                    || c == '+' || c == '/' || c == '=' || c == '-' || c == '_' || c == '\r' || c == '\n';
            if (!base64) {
                return false;
            }
        }
        return true;
    }

    private static long saturatingAdd(long a, long b) {
        long sum = a + Math.max(0, b);
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    /** One open object or array; an array's strings belong to the field that holds the array. */
    private static final class Frame {
        final boolean array;
        final String name;
        /** Inside a tool or schema definition: every name and string counts. */
        final boolean schema;
        /** Inside the conversation or a text field's value: strings count unless {@link #NOT_TEXT}. */
        final boolean said;
        String field;

        Frame(boolean array, String name, boolean schema, boolean said) {
            this.array = array;
            this.name = name;
            this.schema = schema;
            this.said = said;
        }

        String valueName() {
            return array ? name : field;
        }

        /** Whether the value at hand is something said to the model (not a label, id or reference). */
        boolean saysText() {
            String value = valueName();
            return said && !(value != null && (NOT_TEXT.contains(value) || value.endsWith("_id")));
        }
    }
}
