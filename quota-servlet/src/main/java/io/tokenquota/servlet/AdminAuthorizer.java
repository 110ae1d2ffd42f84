package io.tokenquota.servlet;

import jakarta.servlet.http.HttpServletRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Objects;

/**
 * Decides whether a request may use the admin endpoints of {@link QuotaApiServlet} (add tokens, set
 * plans, overview). The default is {@link #denyAll()}: the original Python/FastAPI service let any user add tokens to
 * themselves. When it says no, the API answers 401 if the request has no {@code Authorization}
 * header and 403 if it has one. Implementations must be thread-safe.
 */
@FunctionalInterface
public interface AdminAuthorizer {

    boolean allows(HttpServletRequest request);

    /** Refuses every request: the admin endpoints are off. */
    static AdminAuthorizer denyAll() {
        return request -> false;
    }

    /**
     * Allows requests carrying {@code Authorization: Bearer <token>}. The comparison takes the same
     * time whatever the presented value (both sides are hashed, then compared in constant time), so
     * the token cannot be guessed byte by byte from response times. The configured token is trimmed
     * as the presented one is ({@link String#trim()}): a token read from a secret file usually ends
     * with a newline, which no {@code Authorization} header can carry, so kept as given it would never
     * match. The comparison is exact; on Jetty, configure {@code HttpConfiguration
     * .setHeaderCacheCaseSensitive(true)}, or its header cache hands a token sent in another letter case on
     * a connection that carried the right one over as the right one.
     *
     * @throws IllegalArgumentException for a token that is blank, or shorter than 16 characters, once trimmed
     */
    static AdminAuthorizer bearerToken(String token) {
        Objects.requireNonNull(token, "token");
        String configured = credential(token);
        if (configured.isEmpty()) {
            throw new IllegalArgumentException("admin bearer token is blank (only whitespace or control characters)");
        }
        if (configured.length() < 16) {
            throw new IllegalArgumentException("admin bearer token must have at least 16 characters"
                    + " (leading and trailing whitespace not counted)");
        }
        byte[] expected = sha256(configured);
        return request -> {
            String header = request.getHeader("Authorization");
            if (header == null || header.length() < 7 || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
                return false;
            }
            return MessageDigest.isEqual(expected, sha256(credential(header.substring(7))));
        };
    }

    /** A bearer token as compared, configured or presented: without the whitespace around it. */
    private static String credential(String token) {
        return token.trim();
    }

    private static byte[] sha256(String value) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }
}
