package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenquota.TokenEstimator;
import java.io.IOException;
import java.nio.CharBuffer;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Set;

/**
 * Estimates an AI request's tokens from its JSON body with a streaming parser (no tree is built).
 * Counted: every string whose field is one of {@link #TEXT_FIELDS}, directly or inside arrays of it
 * ({@code input: ["a", "b"]}), and in objects nested in those arrays, so OpenAI
 * {@code messages[].content}, content-part arrays ({@code [{"type":"text","text":"..."}]}), OpenAI
 * Responses {@code instructions} and {@code input} items (incl. tool call {@code arguments} and tool
 * {@code output}), Anthropic {@code system} blocks, Gemini {@code contents[].parts[].text} and
 * embedding {@code input} arrays all count. Under the top-level {@link #SCHEMA_FIELDS} (tool and
 * function definitions, response schemas), which the provider serialises into the prompt, every
 * field name and string counts. The requested output budget is the largest top-level
 * {@link #OUTPUT_FIELDS} value or Gemini's {@code generationConfig.maxOutputTokens}. Immutable and
 * thread-safe.
 */
final class RequestEstimator {
    static final Set<String> TEXT_FIELDS = Set.of("prompt", "content", "input", "text", "query", "system",
            "instructions", "arguments", "output");
    static final Set<String> SCHEMA_FIELDS = Set.of("tools", "functions", "response_format");
    static final Set<String> OUTPUT_FIELDS = Set.of("max_tokens", "max_completion_tokens", "max_output_tokens");
    static final Set<String> GEMINI_CONFIG = Set.of("generationConfig", "generation_config");
    static final Set<String> GEMINI_OUTPUT_FIELDS = Set.of("maxOutputTokens", "max_output_tokens");

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
     * @param outputBudget the requested output budget, or -1 when the body names none
     */
    record Estimate(long inputTokens, long outputBudget) {
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
        if (body == null || body.length == 0) {
            return null;
        }
        try (JsonParser p = Json.SCAN.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            Deque<Frame> stack = new ArrayDeque<>();
            stack.push(new Frame(false, null, false));
            long input = 0;
            long output = -1;
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
                        stack.push(new Frame(t == JsonToken.START_ARRAY, top.valueName(), schema));
                    }
                    case END_OBJECT, END_ARRAY -> stack.pop();
                    case VALUE_STRING -> {
                        if (top.schema || TEXT_FIELDS.contains(top.valueName())) {
                            // a view of the parser's buffer, not a String copy: the estimator reads it only during the call
                            CharBuffer text = CharBuffer.wrap(p.getTextCharacters(), p.getTextOffset(), p.getTextLength());
                            input = saturatingAdd(input, estimator.estimate(text));
                        }
                    }
                    case VALUE_NUMBER_INT -> {
                        boolean topLevel = stack.size() == 1 && OUTPUT_FIELDS.contains(top.field);
                        boolean gemini = stack.size() == 2 && !top.array && GEMINI_CONFIG.contains(top.name)
                                && GEMINI_OUTPUT_FIELDS.contains(top.field);
                        if (topLevel || gemini) {
                            long requested = p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                                    ? Long.MAX_VALUE : Math.max(0, p.getLongValue());
                            output = Math.max(output, requested);
                        }
                    }
                    default -> {
                        // numbers, booleans and nulls carry no text
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
            return new Estimate(input, output);
        } catch (IOException | RuntimeException e) {
            // broken or hostile JSON: the caller falls back to the endpoint default
            return null;
        }
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
        String field;

        Frame(boolean array, String name, boolean schema) {
            this.array = array;
            this.name = name;
            this.schema = schema;
        }

        String valueName() {
            return array ? name : field;
        }
    }
}
