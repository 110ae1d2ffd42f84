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
     * the token cannot be guessed byte by byte from response times.
     *
     * @throws IllegalArgumentException for a token shorter than 16 characters
     */
    static AdminAuthorizer bearerToken(String token) {
        Objects.requireNonNull(token, "token");
        if (token.length() < 16) {
            throw new IllegalArgumentException("admin bearer token must have at least 16 characters");
        }
        byte[] expected = sha256(token);
        return request -> {
            String header = request.getHeader("Authorization");
            if (header == null || header.length() < 7 || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
                return false;
            }
            return MessageDigest.isEqual(expected, sha256(header.substring(7).trim()));
        };
    }

    private static byte[] sha256(String value) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }
}
