package io.tokenquota.servlet;

import jakarta.servlet.http.HttpServletRequest;
import java.security.Principal;
import java.util.Objects;

/**
 * Tells whose quota a request spends: the subject (user id) of the request, or {@code null} when it
 * carries none (the filter and the API then answer 401). Implementations must be thread-safe.
 *
 * <p>The subject must come from something the host has already authenticated: the container's
 * principal, a request attribute its own auth filter sets, or a header added by a proxy the host
 * trusts. A client-supplied header is never trusted on its own (the original Python/FastAPI service read
 * {@code x-user-id} from anyone, so any caller could spend or inspect anyone's quota).
 */
@FunctionalInterface
public interface SubjectResolver {

    /** The request's subject, or {@code null} when it has none. */
    String resolve(HttpServletRequest request);

    /** This resolver, or {@code other} when this one finds no subject. */
    default SubjectResolver orElse(SubjectResolver other) {
        Objects.requireNonNull(other, "other");
        return request -> {
            String subject = resolve(request);
            return subject != null ? subject : other.resolve(request);
        };
    }

    /** The name of {@link HttpServletRequest#getUserPrincipal()} (container or Spring Security login). */
    static SubjectResolver principal() {
        return request -> {
            Principal principal = request.getUserPrincipal();
            return principal == null ? null : principal.getName();
        };
    }

    /**
     * A request attribute set by the host's own authentication filter, which must run before the
     * quota filter. A {@link String} or a {@link Number} (numeric user ids) is accepted; anything
     * else counts as no subject.
     */
    static SubjectResolver requestAttribute(String name) {
        Objects.requireNonNull(name, "name");
        return request -> {
            Object value = request.getAttribute(name);
            if (value instanceof String s) {
                return s;
            }
            if (value instanceof Long || value instanceof Integer || value instanceof java.math.BigInteger) {
                return value.toString();
            }
            return null;
        };
    }

    /**
     * A header (typically {@code x-user-id}) believed only when the request's direct peer
     * ({@link HttpServletRequest#getRemoteAddr()}) is one of the trusted proxies: IP literals
     * ({@code 10.0.0.7}, {@code ::1}) or CIDR blocks ({@code 10.0.0.0/8}). From any other address the
     * header is ignored, so a forged id from a client is never believed. Behind a connector that reads the
     * PROXY protocol (Jetty's {@code ProxyConnectionFactory}), the connection's real TCP peer must be trusted as
     * well as the address its PROXY header names (round 484). Host names are refused
     * (no DNS lookups at configuration or request time). The header's bytes are read as UTF-8, as
     * proxies write a user id outside ASCII (round 358); a value that is not UTF-8 names no subject.
     *
     * @throws IllegalArgumentException for an empty list or an entry that is not an IP literal or CIDR block
     */
    static SubjectResolver trustedHeader(String headerName, String... trustedProxyAddresses) {
        return new TrustedHeaderResolver(headerName, trustedProxyAddresses);
    }
}
