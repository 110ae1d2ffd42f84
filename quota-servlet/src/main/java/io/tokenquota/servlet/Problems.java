package io.tokenquota.servlet;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaPolicy;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;

/**
 * RFC 9457 {@code application/problem+json} answers. The {@code type} URIs are part of the public
 * contract: {@code https://tokenquota.io/problems/<slug>}, where the slug is an {@link ErrorCode#type()}
 * or one of the servlet-level slugs below. Never a stack trace. Stateless.
 */
final class Problems {
    static final String BASE = "https://tokenquota.io/problems/";

    static final String UNAUTHENTICATED = "unauthenticated";
    static final String FORBIDDEN = "forbidden";
    static final String BAD_SIGNATURE = "bad-signature";
    static final String MALFORMED_JSON = "malformed-json";
    static final String BODY_TOO_LARGE = "body-too-large";
    static final String OUTPUT_BUDGET_TOO_LARGE = "output-budget-too-large";
    static final String METHOD_NOT_ALLOWED = "method-not-allowed";
    static final String NOT_FOUND = "not-found";
    static final String UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type";
    static final String STORE_UNAVAILABLE = ErrorCode.STORE_UNAVAILABLE.type();
    static final String INTERNAL_ERROR = "internal-error";

    /** How much of an over-limit body is read and thrown away so the client can read its 413. */
    static final long DRAIN_LIMIT = 16L << 20;

    private Problems() {
    }

    /**
     * Answers 413 for a body over {@code limit}. A client still uploading when the server closes the
     * connection often never sees the answer (the unread bytes make TCP reset it), so what is left of the
     * body is read and discarded first, up to {@link #DRAIN_LIMIT} bytes, never kept; past that the
     * connection is closed.
     */
    static void bodyTooLarge(HttpServletRequest request, HttpServletResponse response, long limit) throws IOException {
        boolean drained = request.getContentLengthLong() <= DRAIN_LIMIT;
        if (drained) {
            try {
                InputStream in = request.getInputStream();
                byte[] buffer = new byte[8192];
                long left = DRAIN_LIMIT;
                int n;
                while (left > 0 && (n = in.read(buffer, 0, (int) Math.min(buffer.length, left))) != -1) {
                    left -= n;
                }
                drained = left > 0;
            } catch (IOException | IllegalStateException e) {
                drained = false;
            }
        }
        if (!drained && !response.isCommitted()) {
            response.setHeader("Connection", "close");
        }
        send(response, 413, BODY_TOO_LARGE, "the request body is larger than " + limit + " bytes");
    }

    static String title(String slug) {
        String words = slug.replace('-', ' ');
        return words.substring(0, 1).toUpperCase(Locale.ROOT) + words.substring(1);
    }

    static void send(HttpServletResponse response, int status, String slug, String detail) throws IOException {
        if (response.isCommitted()) {
            return;
        }
        response.resetBuffer();
        Json.send(response, status, Json.PROBLEM_JSON, g -> {
            g.writeStartObject();
            g.writeStringField("type", BASE + slug);
            g.writeStringField("title", title(slug));
            g.writeNumberField("status", status);
            g.writeStringField("detail", detail);
            g.writeEndObject();
        });
    }

    static void send(HttpServletResponse response, QuotaException e) throws IOException {
        if (e instanceof QuotaExceededException exceeded) {
            exceeded(response, exceeded, null);
            return;
        }
        send(response, e.code().httpStatus(), e.code().type(), e.getMessage());
    }

    /**
     * 429 with {@code Retry-After} (whole seconds until the month resets) and the numbers; with the
     * quota headers when the policy is known (the filter).
     */
    static void exceeded(HttpServletResponse response, QuotaExceededException e, QuotaPolicy policy) throws IOException {
        if (response.isCommitted()) {
            return;
        }
        Instant now = policy == null ? Instant.now() : policy.now();
        long retryAfter = Math.max(1, (Duration.between(now, e.resetAt()).toMillis() + 999) / 1000);
        long available = Math.max(0, e.available());
        response.setHeader("Retry-After", Long.toString(retryAfter));
        if (policy != null) {
            // the month that resets at resetAt is the one before it
            QuotaHeaders.set(response, e.limit(), available, policy.monthOf(e.resetAt()).minusMonths(1), policy, null);
        }
        response.resetBuffer();
        int status = ErrorCode.QUOTA_EXCEEDED.httpStatus();
        Json.send(response, status, Json.PROBLEM_JSON, g -> {
            g.writeStartObject();
            g.writeStringField("type", BASE + ErrorCode.QUOTA_EXCEEDED.type());
            g.writeStringField("title", title(ErrorCode.QUOTA_EXCEEDED.type()));
            g.writeNumberField("status", status);
            g.writeStringField("detail", "requested " + e.requested() + " tokens but only " + available
                    + " of " + e.limit() + (e.scope() == QuotaExceededException.Scope.TEAM ? " of the team's" : "")
                    + " are available until " + e.resetAt());
            // which account refused (the stricter of the user's and its team's); the numbers are that account's
            g.writeStringField("scope", e.scope().wireName());
            if (e.teamId() != null) {
                g.writeStringField("team_id", e.teamId());
            }
            g.writeNumberField("limit", e.limit());
            g.writeNumberField("available", available);
            g.writeNumberField("requested", e.requested());
            g.writeStringField("reset", e.resetAt().toString());
            g.writeEndObject();
        });
    }
}
