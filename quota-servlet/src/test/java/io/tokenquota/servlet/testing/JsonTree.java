package io.tokenquota.servlet.testing;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Map;

/**
 * Reads a JSON text into plain Java values for assertions: objects become {@code Map<String, Object>}
 * (insertion order), arrays {@code List<Object>}, integers {@code Long} (or {@code BigInteger}),
 * decimals {@code Double}, and {@code null}. Trailing content fails. Stateless.
 */
public final class JsonTree {
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(DeserializationFeature.USE_LONG_FOR_INTS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private JsonTree() {
    }

    @SuppressWarnings("unchecked")
    public static Map<String, Object> object(String json) {
        Object value = parse(json);
        if (!(value instanceof Map)) {
            throw new AssertionError("not a JSON object: " + json);
        }
        return (Map<String, Object>) value;
    }

    /** {@code s} as a JSON string literal, quotes and escapes included. */
    public static String quoted(String s) {
        try {
            return MAPPER.writeValueAsString(s);
        } catch (JsonProcessingException e) {
            throw new AssertionError(e);
        }
    }

    public static Object parse(String json) {
        try {
            return MAPPER.readValue(json, Object.class);
        } catch (JsonProcessingException e) {
            throw new AssertionError("not JSON: " + json, e);
        }
    }
}
