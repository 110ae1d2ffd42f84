package io.tokenquota.examples.faults;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Map;

/**
 * Reads response bodies for the tests' own checks: objects become {@code Map}, arrays {@code List},
 * integers {@code Long}, decimals {@code BigDecimal}. Strict (duplicate keys and trailing content
 * fail). Thread-safe.
 */
final class Json {
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.USE_LONG_FOR_INTS)
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private Json() {
    }

    static Object parse(String text) {
        if (text.isBlank()) {
            throw new IllegalArgumentException("empty JSON text");
        }
        try {
            return MAPPER.readValue(text, Object.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("malformed JSON: " + e.getOriginalMessage() + " in " + abbreviate(text), e);
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> object(String text) {
        Object value = parse(text);
        if (!(value instanceof Map)) {
            throw new IllegalArgumentException("not a JSON object: " + abbreviate(text));
        }
        return (Map<String, Object>) value;
    }

    /** The value at a dotted path ({@code usage.total_tokens}), or {@code null}. */
    @SuppressWarnings("unchecked")
    static Object at(Map<String, Object> root, String path) {
        Object current = root;
        for (String part : path.split("\\.")) {
            if (!(current instanceof Map)) {
                return null;
            }
            current = ((Map<String, Object>) current).get(part);
        }
        return current;
    }

    /** The long at a dotted path; fails when it is absent or not an integer. */
    static long longAt(Map<String, Object> root, String path) {
        Object value = at(root, path);
        if (!(value instanceof Long)) {
            throw new AssertionError("no integer at '" + path + "' in " + abbreviate(String.valueOf(root)));
        }
        return (Long) value;
    }

    static String abbreviate(String s) {
        return s.length() <= 600 ? s : s.substring(0, 600) + "...(" + s.length() + " chars)";
    }
}
