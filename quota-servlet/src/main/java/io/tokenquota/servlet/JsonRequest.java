package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaException;
import io.tokenquota.internal.Validation;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A strictly read API request body: one flat JSON object, nothing after it. Duplicate keys, broken
 * JSON, a non-object, or a nested value where a scalar is expected are refused before any ledger
 * call. Typed getters refuse wrong types with the field's own {@link ErrorCode}. Immutable.
 */
final class JsonRequest {
    /** Marker for an object or array value: always the wrong type for this API. */
    private static final Object NESTED = new Object();
    // a sign either way, as "plain digits with an optional sign" says: "+3300.00" is as exact as "3300.00"
    private static final Pattern DECIMAL = Pattern.compile("[+-]?[0-9]+(\\.[0-9]+)?");

    private final Map<String, Object> fields;

    private JsonRequest(Map<String, Object> fields) {
        this.fields = fields;
    }

    /** Thrown for bodies that are not one well-formed JSON object; answered as 400 malformed-json. */
    static final class MalformedJson extends Exception {
        private static final long serialVersionUID = 1L;

        MalformedJson(String message) {
            super(message, null, false, false);
        }
    }

    static JsonRequest parse(byte[] body) throws MalformedJson {
        if (body.length == 0) {
            throw new MalformedJson("the request body is empty; a JSON object is expected");
        }
        Map<String, Object> fields = new LinkedHashMap<>();
        try (JsonParser p = Json.STRICT.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new MalformedJson("the request body must be a JSON object");
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                Object v = switch (value) {
                    case VALUE_STRING -> p.getText();
                    case VALUE_NUMBER_INT -> p.getBigIntegerValue();
                    case VALUE_NUMBER_FLOAT -> p.getDecimalValue();
                    case VALUE_TRUE -> Boolean.TRUE;
                    case VALUE_FALSE -> Boolean.FALSE;
                    case VALUE_NULL -> null;
                    case START_OBJECT, START_ARRAY -> {
                        p.skipChildren();
                        yield NESTED;
                    }
                    default -> throw new MalformedJson("unexpected " + value);
                };
                fields.put(name, v);
            }
            if (t != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw new MalformedJson("the request body must be exactly one JSON object");
            }
        } catch (IOException | NumberFormatException e) {
            // jackson's message may echo input; keep only the kind of problem
            throw new MalformedJson("the request body is not valid JSON: " + firstLine(e.getMessage()));
        }
        return new JsonRequest(fields);
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "unreadable";
        }
        int nl = message.indexOf('\n');
        String line = nl < 0 ? message : message.substring(0, nl);
        return line.length() > 200 ? line.substring(0, 200) : line;
    }

    /** Refuses fields outside {@code allowed} (typos must not pass silently). */
    JsonRequest onlyFields(Set<String> allowed) {
        for (String name : fields.keySet()) {
            if (!allowed.contains(name)) {
                throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "unknown field '" + clip(name) + "'; allowed: "
                        + String.join(", ", allowed.stream().sorted().toList()));
            }
        }
        return this;
    }

    private static String clip(String s) {
        String printable = s.codePoints().filter(c -> !Character.isISOControl(c)).limit(64)
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
        return printable;
    }

    /** Whether the body has the field at all (a JSON {@code null} included). */
    boolean has(String name) {
        return fields.containsKey(name);
    }

    String optionalString(String name, ErrorCode code) {
        Object v = fields.get(name);
        if (v == null) {
            return null;
        }
        if (!(v instanceof String s)) {
            throw new QuotaException(code, name + " must be a string");
        }
        return s;
    }

    String requiredString(String name, ErrorCode code) {
        String s = optionalString(name, code);
        if (s == null) {
            throw new QuotaException(code, name + " is required");
        }
        return s;
    }

    /**
     * A user id: a string, or an integer (the original Python/FastAPI service's numeric ids), as its decimal
     * text; a user's, never a team's account (round 218: a payment callback's {@code user_id} naming a team
     * credited the team).
     */
    String subject(String name) {
        Object v = fields.get(name);
        if (v == null) {
            throw new QuotaException(ErrorCode.INVALID_SUBJECT, name + " is required");
        }
        if (v instanceof BigInteger i) {
            return i.toString();
        }
        if (!(v instanceof String s)) {
            throw new QuotaException(ErrorCode.INVALID_SUBJECT, name + " must be a string or an integer");
        }
        return Validation.userSubject(s);
    }

    /** A JSON integer that fits a 64-bit long; strings, fractions and huge numbers are refused. */
    long requiredLong(String name, ErrorCode code) {
        Object v = fields.get(name);
        if (v == null) {
            throw new QuotaException(code, name + " is required");
        }
        if (!(v instanceof BigInteger i)) {
            throw new QuotaException(code, name + " must be an integer");
        }
        if (i.bitLength() > 63) {
            throw new QuotaException(code, name + " is out of range");
        }
        return i.longValue();
    }

    /**
     * Money: a JSON number, or a decimal string such as {@code "3300.00"} (as many payment providers
     * send amounts), taken exactly, never through binary floating point; {@code null} when absent.
     * A string must be plain decimal digits with an optional sign and fraction: no exponent, spaces,
     * or thousands separators.
     */
    BigDecimal optionalDecimal(String name, ErrorCode code) {
        Object v = fields.get(name);
        if (v == null) {
            return null;
        }
        if (v instanceof BigInteger i) {
            return new BigDecimal(i);
        }
        if (v instanceof String s) {
            if (s.length() > 64 || !DECIMAL.matcher(s).matches()) {
                throw new QuotaException(code, name + " must be a number or a decimal string like \"3300.00\"");
            }
            return new BigDecimal(s);
        }
        if (!(v instanceof BigDecimal d)) {
            throw new QuotaException(code, name + " must be a number or a decimal string");
        }
        return d;
    }
}
