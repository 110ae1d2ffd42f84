package io.tokenquota.examples;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Map;

/** Reads a JSON document into maps, lists, strings, longs, doubles, booleans and nulls (tests only). */
final class TestJson {
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(DeserializationFeature.USE_LONG_FOR_INTS);

    private TestJson() {
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> object(String text) {
        Object v = parse(text);
        if (!(v instanceof Map)) {
            throw new AssertionError("not a JSON object: " + text);
        }
        return (Map<String, Object>) v;
    }

    static Object parse(String text) {
        try {
            return MAPPER.readValue(text, Object.class);
        } catch (JsonProcessingException e) {
            throw new AssertionError("unparsable JSON: " + text, e);
        }
    }

    static long longAt(Map<String, Object> m, String... path) {
        return ((Number) at(m, path)).longValue();
    }

    @SuppressWarnings("unchecked")
    static Object at(Map<String, Object> m, String... path) {
        Object v = m;
        for (String key : path) {
            if (!(v instanceof Map)) {
                throw new AssertionError("no " + String.join(".", path) + " in " + m);
            }
            v = ((Map<String, Object>) v).get(key);
        }
        return v;
    }
}
