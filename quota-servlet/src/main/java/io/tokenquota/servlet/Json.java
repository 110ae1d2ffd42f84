package io.tokenquota.servlet;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import io.tokenquota.Purchase;
import io.tokenquota.QuotaAccount;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Instant;
import java.time.YearMonth;

/** JSON output shared by the filter and the API: one configured factory, the snake_case shapes. Stateless. */
final class Json {
    /**
     * Request bodies: duplicate keys are an error (a second {@code token_amount} must not silently
     * win), numbers longer than 64 digits and nesting deeper than 64 levels are refused early.
     */
    static final JsonFactory STRICT = JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNumberLength(64).maxNestingDepth(64).maxStringLength(1_000_000).build())
            .build();

    /** Bodies of AI requests and responses that are only scanned: lenient, bounded. */
    static final JsonFactory SCAN = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNumberLength(1_000).maxNestingDepth(500).maxStringLength(8_000_000).build())
            .build();

    /**
     * AI request bodies, read as the lenient endpoints behind the filter read them: also the
     * {@code NaN} and {@code Infinity} that Python's {@code json.loads} (vLLM, LiteLLM, FastAPI)
     * accepts, so one such value does not turn the body into text and drop its budget; and no limit
     * on the length of a number, a string or a member name (Python reads integers of 4,300 digits and
     * names of any length), which the filter's body limit ({@code maxBodyBytes}) already bounds: a
     * parser limit the endpoint does not share would turn the body into text and drop its budget. The
     * estimator never converts a long number whole ({@link RequestEstimator}). Nesting stays bounded
     * (the estimator cuts a deeper body down and reads it again).
     */
    static final JsonFactory REQUEST_SCAN = SCAN.rebuild().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNumberLength(Integer.MAX_VALUE).maxStringLength(Integer.MAX_VALUE)
                    .maxNameLength(Integer.MAX_VALUE).maxNestingDepth(500).build())
            .build();

    /**
     * The string value of a JSON object body's top-level member {@code name} (the last one named), or
     * {@code null} when the body is no JSON object or the member is absent or no string.
     */
    /**
     * The top-level string and number values of a JSON object body (at most {@code most}), as text; empty
     * for anything else.
     */
    static java.util.Set<String> topLevelValues(byte[] body, int most) {
        java.util.Set<String> values = new java.util.HashSet<>();
        if (body == null || body.length == 0) {
            return values;
        }
        try (com.fasterxml.jackson.core.JsonParser p = REQUEST_SCAN.createParser(body)) {
            if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
                return values;
            }
            while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME && values.size() < most) {
                com.fasterxml.jackson.core.JsonToken t = p.nextToken();
                if (t == com.fasterxml.jackson.core.JsonToken.VALUE_STRING || t == com.fasterxml.jackson.core.JsonToken.VALUE_NUMBER_INT) {
                    values.add(p.getText());
                }
                p.skipChildren();
            }
        } catch (java.io.IOException | RuntimeException e) {
            // what was read so far
        }
        return values;
    }

    static String topLevelString(byte[] body, String name) {
        if (body == null || body.length == 0) {
            return null;
        }
        try (com.fasterxml.jackson.core.JsonParser p = REQUEST_SCAN.createParser(body)) {
            if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
                return null;
            }
            String found = null;
            while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
                boolean named = name.equals(p.currentName());
                if (p.nextToken() == com.fasterxml.jackson.core.JsonToken.VALUE_STRING && named) {
                    found = p.getText();
                }
                p.skipChildren();
            }
            return found;
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Whether a JSON object body's top-level member {@code name} (the last one named, as a parser reads it) is
     * {@code true}; {@code false} for anything else.
     */
    static boolean topLevelTrue(byte[] body, String name) {
        if (body == null || body.length == 0) {
            return false;
        }
        try (com.fasterxml.jackson.core.JsonParser p = REQUEST_SCAN.createParser(body)) {
            if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
                return false;
            }
            boolean found = false;
            while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
                boolean named = name.equals(p.currentName());
                com.fasterxml.jackson.core.JsonToken value = p.nextToken();
                if (named) {
                    found = value == com.fasterxml.jackson.core.JsonToken.VALUE_TRUE;
                }
                p.skipChildren();
            }
            return found;
        } catch (java.io.IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * A request body the strict reading refused, read as lenient endpoints read one (Gson's default
     * {@code fromJson}, JSON5-style relays): comments, single quotes, unquoted names, trailing commas,
     * leading zeros and plus signs, control characters in strings, any escaped character. Only to
     * find the budget and {@code n} of a body an endpoint may still take as JSON; what only Gson
     * takes besides is read by {@link #gsonStrict} ({@link #readLeniently}).
     */
    static final JsonFactory LENIENT_REQUEST_SCAN = REQUEST_SCAN.rebuild()
            .enable(JsonReadFeature.ALLOW_JAVA_COMMENTS, JsonReadFeature.ALLOW_YAML_COMMENTS,
                    JsonReadFeature.ALLOW_SINGLE_QUOTES, JsonReadFeature.ALLOW_UNQUOTED_FIELD_NAMES,
                    JsonReadFeature.ALLOW_TRAILING_COMMA, JsonReadFeature.ALLOW_MISSING_VALUES,
                    JsonReadFeature.ALLOW_LEADING_ZEROS_FOR_NUMBERS, JsonReadFeature.ALLOW_LEADING_PLUS_SIGN_FOR_NUMBERS,
                    JsonReadFeature.ALLOW_LEADING_DECIMAL_POINT_FOR_NUMBERS,
                    JsonReadFeature.ALLOW_TRAILING_DECIMAL_POINT_FOR_NUMBERS,
                    JsonReadFeature.ALLOW_UNESCAPED_CONTROL_CHARS, JsonReadFeature.ALLOW_BACKSLASH_ESCAPING_ANY_CHARACTER)
            .build();

    /**
     * A request body the strict reading refused, read as the lenient endpoints behind the filter read
     * one: by {@link #LENIENT_REQUEST_SCAN}, else, when only Gson's reader takes it, as the strict JSON
     * {@link #gsonStrict} writes of it, by {@link #REQUEST_SCAN}; {@code null} when neither reads it.
     * Every lenient reading of a request goes through here, so the estimate and the provider state
     * read the same bodies.
     */
    static <T> T readLeniently(byte[] body, java.util.function.BiFunction<byte[], JsonFactory, T> read) {
        T lenient = read.apply(body, LENIENT_REQUEST_SCAN);
        if (lenient != null) {
            return lenient;
        }
        byte[] strict = gsonStrict(body);
        return strict == null ? null : read.apply(strict, REQUEST_SCAN);
    }

    /**
     * The JSON object a body starts with, as Gson's default {@code fromJson} reads it (its
     * {@code JsonReader} in lenient mode: also unquoted string values, {@code =} and {@code =>} between
     * a name and its value, {@code ;} between members, a <code>)]}'</code> prefix, which Jackson's lenient
     * features do not take: a curl body whose quotes the shell stripped, a Ruby {@code Hash#to_s}),
     * written back as strict JSON, every name and value in its order, a repeated name repeated (the
     * estimator reads each); a number as it was written, and a value Gson reads as an unquoted string
     * ({@code 08000}, {@code NaN}) as that string, which the estimator reads as Gson's {@code nextInt()}
     * does. {@code null} when Gson reads no object from it. Gson's own reader, not a hand-written one,
     * so its rules are Gson's; what follows the object is not copied (the caller counts the whole body
     * as text). Only for a body strict and lenient Jackson both refused: the common path never gets here.
     */
    static byte[] gsonStrict(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        java.io.StringWriter out = new java.io.StringWriter(body.length + 16);
        // strictly UTF-8: a malformed byte fails the reading, and the estimator reads the body again with
        // it as U+FFFD, strictly first, as it reads any body
        try (com.google.gson.stream.JsonReader in = new com.google.gson.stream.JsonReader(new java.io.InputStreamReader(
                new java.io.ByteArrayInputStream(body), java.nio.charset.StandardCharsets.UTF_8.newDecoder()));
             com.google.gson.stream.JsonWriter w = new com.google.gson.stream.JsonWriter(out)) {
            in.setStrictness(com.google.gson.Strictness.LENIENT);
            w.setSerializeNulls(true);
            if (in.peek() != com.google.gson.stream.JsonToken.BEGIN_OBJECT) {
                return null;
            }
            int depth = 0;
            do {
                switch (in.peek()) {
                    case BEGIN_OBJECT -> {
                        in.beginObject();
                        w.beginObject();
                        depth++;
                    }
                    case END_OBJECT -> {
                        in.endObject();
                        w.endObject();
                        depth--;
                    }
                    case BEGIN_ARRAY -> {
                        in.beginArray();
                        w.beginArray();
                        depth++;
                    }
                    case END_ARRAY -> {
                        in.endArray();
                        w.endArray();
                        depth--;
                    }
                    case NAME -> w.name(in.nextName());
                    case STRING -> w.value(in.nextString());
                    // a number Gson peeks as one has JSON's syntax: written as it came
                    case NUMBER -> w.jsonValue(in.nextString());
                    case BOOLEAN -> w.value(in.nextBoolean());
                    case NULL -> {
                        in.nextNull();
                        w.nullValue();
                    }
                    default -> {
                        return null;
                    }
                }
            } while (depth > 0);
        } catch (IOException | RuntimeException e) {
            // Gson does not read it either (its MalformedJsonException is an IOException)
            return null;
        }
        return out.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    /**
     * AI response bodies, scanned for usage: also {@code NaN} and {@code -Infinity}, which a Python
     * upstream's {@code json.dumps} writes (a log probability of minus infinity), so one such value
     * before {@code usage} does not end the scan and hide the usage.
     */
    static final JsonFactory RESPONSE_SCAN = SCAN.rebuild().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    static final String JSON = "application/json";
    static final String PROBLEM_JSON = "application/problem+json";

    private Json() {
    }

    @FunctionalInterface
    interface Body {
        void write(JsonGenerator g) throws IOException;
    }

    static byte[] bytes(Body body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(512);
        try (JsonGenerator g = SCAN.createGenerator(out)) {
            body.write(g);
        } catch (IOException e) {
            throw new IllegalStateException("writing JSON to memory failed", e);
        }
        return out.toByteArray();
    }

    static void send(HttpServletResponse response, int status, String contentType, Body body) throws IOException {
        byte[] bytes = bytes(body);
        response.setStatus(status);
        response.setContentType(contentType);
        response.setCharacterEncoding("UTF-8");
        response.setHeader("Cache-Control", "no-store");
        response.setContentLength(bytes.length);
        response.getOutputStream().write(bytes);
    }

    static String instant(Instant instant) {
        return instant == null ? null : instant.toString();
    }

    static String planMonth(YearMonth month) {
        return month == null ? null : month.atDay(1).toString();
    }

    static double twoDecimals(double value) {
        return BigDecimal.valueOf(value).setScale(2, RoundingMode.HALF_UP).doubleValue();
    }

    static void stringOrNull(JsonGenerator g, String field, String value) throws IOException {
        if (value == null) {
            g.writeNullField(field);
        } else {
            g.writeStringField(field, value);
        }
    }

    /** The original Python/FastAPI service's quota shape plus reserved, carried and total. */
    static void quota(JsonGenerator g, QuotaAccount a) throws IOException {
        quota(g, a, null);
    }

    /**
     * A user's or a team's account ({@code team_id} instead of {@code user_id}); for a team member,
     * {@code team} is its team's account, shown as {@code team_id} and {@code team_remaining_tokens}.
     */
    static void quota(JsonGenerator g, QuotaAccount a, QuotaAccount team) throws IOException {
        g.writeStartObject();
        if (io.tokenquota.Team.isTeam(a.subject())) {
            g.writeStringField("team_id", io.tokenquota.Team.id(a.subject()));
        } else {
            g.writeStringField("user_id", a.subject());
        }
        if (team != null) {
            g.writeStringField("team_id", io.tokenquota.Team.id(team.subject()));
            g.writeNumberField("team_remaining_tokens", Math.max(0, team.available()));
        }
        g.writeStringField("plan_month", planMonth(a.month()));
        g.writeNumberField("allocated_quota", a.allocated());
        g.writeNumberField("used_tokens", a.used());
        g.writeNumberField("remaining_tokens", Math.max(0, a.available()));
        g.writeNumberField("purchased_tokens", a.granted());
        g.writeNumberField("reserved_tokens", a.reserved());
        g.writeNumberField("carried_tokens", a.carried());
        g.writeNumberField("total_quota", a.limit());
        g.writeNumberField("usage_percentage", twoDecimals(a.usagePercentage()));
        g.writeBooleanField("is_quota_exceeded", a.exhausted());
        stringOrNull(g, "created_at", instant(a.createdAt()));
        stringOrNull(g, "updated_at", instant(a.updatedAt()));
        g.writeEndObject();
    }

    static void purchase(JsonGenerator g, Purchase p) throws IOException {
        g.writeStartObject();
        g.writeStringField("transaction_id", p.transactionId());
        g.writeStringField("user_id", p.subject());
        g.writeNumberField("token_amount", p.tokens());
        g.writeStringField("purchase_type", p.type().wireName());
        g.writeStringField("status", p.status().wireName());
        stringOrNull(g, "payment_method", p.paymentMethod());
        if (p.amount() == null) {
            g.writeNullField("amount");
        } else {
            g.writeNumberField("amount", p.amount());
        }
        g.writeStringField("currency", p.currency().name());
        stringOrNull(g, "reason", p.reason());
        stringOrNull(g, "plan_month", planMonth(p.month()));
        g.writeNumberField("unrecovered_tokens", p.unrecovered());
        stringOrNull(g, "created_at", instant(p.createdAt()));
        stringOrNull(g, "processed_at", instant(p.processedAt()));
        g.writeEndObject();
    }
}
