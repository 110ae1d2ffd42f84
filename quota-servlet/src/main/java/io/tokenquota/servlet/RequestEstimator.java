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
 * {@code messages[].content}, content-part arrays ({@code [{"type":"text","text":"..."}]}), Anthropic
 * {@code system} blocks and embedding {@code input} arrays all count. The requested output budget is
 * the largest top-level {@link #OUTPUT_FIELDS} value. Immutable and thread-safe.
 */
final class RequestEstimator {
    static final Set<String> TEXT_FIELDS = Set.of("prompt", "content", "input", "text", "query", "system");
    static final Set<String> OUTPUT_FIELDS = Set.of("max_tokens", "max_completion_tokens", "max_output_tokens");

    private final TokenEstimator estimator;

    RequestEstimator(TokenEstimator estimator) {
        this.estimator = estimator;
    }

    /**
     * @param inputTokens  estimated tokens of the text fields
     * @param outputBudget the requested output budget, or -1 when the body names none
     */
    record Estimate(long inputTokens, long outputBudget) {
    }

    /** The estimate, or {@code null} when the body is empty, not a JSON object, or broken anywhere. */
    Estimate estimate(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        try (JsonParser p = Json.SCAN.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            Deque<Frame> stack = new ArrayDeque<>();
            stack.push(new Frame(false, null));
            long input = 0;
            long output = -1;
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                Frame top = stack.peek();
                switch (t) {
                    case FIELD_NAME -> top.field = p.currentName();
                    case START_OBJECT -> stack.push(new Frame(false, top.valueName()));
                    case START_ARRAY -> stack.push(new Frame(true, top.valueName()));
                    case END_OBJECT, END_ARRAY -> stack.pop();
                    case VALUE_STRING -> {
                        if (TEXT_FIELDS.contains(top.valueName())) {
                            // a view of the parser's buffer, not a String copy: the estimator reads it only during the call
                            CharBuffer text = CharBuffer.wrap(p.getTextCharacters(), p.getTextOffset(), p.getTextLength());
                            input = saturatingAdd(input, estimator.estimate(text));
                        }
                    }
                    case VALUE_NUMBER_INT -> {
                        if (stack.size() == 1 && OUTPUT_FIELDS.contains(top.field)) {
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
                    // the root object closed; trailing content below makes the body invalid
                    break;
                }
            }
            if (!stack.isEmpty() || p.nextToken() != null) {
                return null;
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
        String field;

        Frame(boolean array, String name) {
            this.array = array;
            this.name = name;
        }

        String valueName() {
            return array ? name : field;
        }
    }
}
