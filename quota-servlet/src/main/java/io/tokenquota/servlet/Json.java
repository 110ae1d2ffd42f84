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
     * A request body the strict reading refused, read as lenient endpoints read one (Gson's default
     * {@code fromJson}, JSON5-style relays): comments, single quotes, unquoted names, trailing commas,
     * leading zeros and plus signs, control characters in strings, any escaped character. Only to
     * find the budget and {@code n} of a body an endpoint may still take as JSON.
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
