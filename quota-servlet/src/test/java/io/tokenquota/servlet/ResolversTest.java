package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.servlet.http.HttpServletRequest;
import java.lang.reflect.Proxy;
import java.security.Principal;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Subject resolvers and the bearer-token authorizer, on a minimal request stand-in. */
final class ResolversTest {

    /** A request with only a remote address, headers, attributes and a principal. */
    private static HttpServletRequest request(String remote, Map<String, String> headers, Map<String, Object> attributes,
                                              Principal principal) {
        return (HttpServletRequest) Proxy.newProxyInstance(ResolversTest.class.getClassLoader(),
                new Class<?>[] {HttpServletRequest.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "getRemoteAddr" -> remote;
                    case "getHeader" -> values(headers, (String) args[0]).stream().findFirst().orElse(null);
                    case "getHeaders" -> java.util.Collections.enumeration(values(headers, (String) args[0]));
                    case "getHeaderNames" -> java.util.Collections.enumeration(headers.keySet());
                    case "getAttribute" -> attributes.get((String) args[0]);
                    case "getUserPrincipal" -> principal;
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    /** Header values by case-insensitive name; a value containing a line feed stands for a repeated header. */
    private static java.util.List<String> values(Map<String, String> headers, String name) {
        return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name))
                .flatMap(e -> java.util.Arrays.stream(e.getValue().split("\n", -1))).toList();
    }

    private static HttpServletRequest from(String remote, String userId) {
        return request(remote, userId == null ? Map.of() : Map.of("x-user-id", userId), Map.of(), null);
    }

    @Test
    void theHeaderIsBelievedOnlyFromTrustedProxies() {
        SubjectResolver r = SubjectResolver.trustedHeader("x-user-id", "10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8");
        assertEquals("42", r.resolve(from("10.200.3.4", " 42 ")));
        assertEquals("42", r.resolve(from("192.168.1.7", "42")));
        assertEquals("42", r.resolve(from("0:0:0:0:0:0:0:1", "42")));
        assertEquals("42", r.resolve(from("fd12:3456::1", "42")));
        assertNull(r.resolve(from("192.168.1.8", "42")));
        assertNull(r.resolve(from("11.0.0.1", "42")));
        assertNull(r.resolve(from("fe80::1", "42")));
        assertNull(r.resolve(from("not-an-address", "42")));
        assertNull(r.resolve(from("10.0.0.1", null)));
        assertNull(r.resolve(from("10.0.0.1", "   ")));
    }

    /**
     * Round 358: a proxy writes a user id outside ASCII as its UTF-8 bytes and the container hands them over one
     * character each (ISO-8859-1); the resolver reads them as UTF-8, and refuses bytes that are not UTF-8.
     */
    @Test
    void theHeaderIsReadAsUtf8() {
        SubjectResolver r = SubjectResolver.trustedHeader("x-user-id", "127.0.0.1");
        assertEquals("jos\u00e9", r.resolve(from("127.0.0.1", "jos\u00c3\u00a9")));
        assertEquals("\u5c71\u7530", r.resolve(from("127.0.0.1", "\u00e5\u00b1\u00b1\u00e7\u0094\u00b0")));
        assertNull(r.resolve(from("127.0.0.1", "jos\u00e9")));
        assertNull(r.resolve(from("127.0.0.1", "jos\u0435")));
    }

    @Test
    void anAddressTakenFromAnyHeaderIsNeverTrusted() {
        SubjectResolver r = SubjectResolver.trustedHeader("x-user-id", "127.0.0.1");
        // a container told to read the client's address from X-Real-IP (nginx), CF-Connecting-IP
        // (Cloudflare) or a header of its own name took the trusted address from a client's header
        for (String header : new String[] {"X-Real-IP", "CF-Connecting-IP", "True-Client-IP", "X-Edge-Client"}) {
            assertNull(r.resolve(request("127.0.0.1", Map.of("x-user-id", "victim", header, "127.0.0.1"), Map.of(), null)),
                    header);
            assertNull(r.resolve(request("127.0.0.1", Map.of("x-user-id", "victim", header, "203.0.113.9, 127.0.0.1:8443"),
                    Map.of(), null)), header);
        }
        // an unreadable address in a known client-address header may be what the container read
        assertNull(r.resolve(request("127.0.0.1", Map.of("x-user-id", "victim", "X-Real-IP", "\"127.0.0\\.1\""),
                Map.of(), null)));
        // the server's own name and other headers that do not list the peer change nothing
        assertEquals("42", r.resolve(request("127.0.0.1", Map.of("x-user-id", "42", "Host", "127.0.0.1:8080",
                "Origin", "http://127.0.0.1:8080", "X-Forwarded-Proto", "https", "X-Real-IP", "203.0.113.9"), Map.of(), null)));
        // nor do cookies, which no container reads an address from: one named "for" locks nobody out
        assertEquals("42", r.resolve(request("127.0.0.1", Map.of("x-user-id", "42", "Cookie", "theme=dark; for=me"),
                Map.of(), null)));
    }

    @Test
    void anAddressTakenFromForwardedHeadersIsNeverTrusted() {
        SubjectResolver r = SubjectResolver.trustedHeader("x-user-id", "203.0.113.7");
        // Jetty's ForwardedRequestCustomizer: the remote address is the left-most X-Forwarded-For entry
        assertNull(r.resolve(request("203.0.113.7", Map.of("x-user-id", "victim", "X-Forwarded-For", "203.0.113.7, 10.1.1.1"),
                Map.of(), null)));
        assertNull(r.resolve(request("203.0.113.7", Map.of("x-user-id", "victim", "Forwarded", "for=\"203.0.113.7:4711\";proto=https"),
                Map.of(), null)));
        // Tomcat's RemoteIpValve removes the header it used, but marks the request
        assertNull(r.resolve(request("203.0.113.7", Map.of("x-user-id", "victim"),
                Map.of(TrustedHeaderResolver.TOMCAT_FORWARDED, Boolean.TRUE), null)));
        // Spring's ForwardedHeaderFilter wraps the request: the container's own request beneath decides
        HttpServletRequest container = request("192.0.2.2", Map.of("x-user-id", "victim", "X-Forwarded-For", "203.0.113.7"),
                Map.of(), null);
        HttpServletRequest wrapped = new jakarta.servlet.http.HttpServletRequestWrapper(container) {
            @Override
            public String getRemoteAddr() {
                return "203.0.113.7";
            }
        };
        assertNull(r.resolve(wrapped));
        // a real proxy lists the client it forwards for, not itself
        assertEquals("alice", r.resolve(request("203.0.113.7", Map.of("x-user-id", "alice", "X-Forwarded-For", "198.51.100.4"),
                Map.of(), null)));
    }

    @Test
    void aForwardedAddressThatCannotBeReadIsTreatedAsTheRewrittenOne() {
        SubjectResolver r = SubjectResolver.trustedHeader("x-user-id", "203.0.113.7");
        // Jetty unescapes RFC 7230 quoted-pairs: for="203.0.113\.7" made the remote address 203.0.113.7
        for (String forwarded : new String[] {"for=\"203.0.113\\.7\"", "for=\"\\2\\0\\3.0.113.7:80\"",
                "for=\"[2001:db8::zz]\"", "for=\"203.0.113.7", "for=203.0.113.7\"", "for=proxy.example.com",
                "for=\"203.0.113.7\\\"", "For = 999.0.113.7", "for=\"203.0.113.7,x\""}) {
            assertNull(r.resolve(request("203.0.113.7", Map.of("x-user-id", "victim", "Forwarded", forwarded),
                    Map.of(), null)), forwarded);
        }
        for (String xff : new String[] {"\"203.0.113\\.7\"", "203.0.113.07x", "host.example, 198.51.100.4", "203.0.113.7 1"}) {
            assertNull(r.resolve(request("203.0.113.7", Map.of("x-user-id", "victim", "X-Forwarded-For", xff),
                    Map.of(), null)), xff);
        }
        // RFC 7239's unknown and obfuscated names are no address, so they cannot be the peer
        for (String forwarded : new String[] {"for=unknown", "for=\"_hidden\"", "for=_a.b-c_d:_port;proto=https",
                "for=\"unknown:80\"", "for=198.51.100.4, for=\"[2001:db8::17]:4711\"", "by=\"ignored,\";for=198.51.100.4"}) {
            assertEquals("alice", r.resolve(request("203.0.113.7", Map.of("x-user-id", "alice", "Forwarded", forwarded),
                    Map.of(), null)), forwarded);
        }
        assertEquals("alice", r.resolve(request("203.0.113.7", Map.of("x-user-id", "alice",
                "X-Forwarded-For", "unknown, 198.51.100.4, , \"198.51.100.5\""), Map.of(), null)));
        assertEquals("203.0.113.7", TrustedHeaderResolver.unquote("\"203.0.113\\.7\""));
        assertNull(TrustedHeaderResolver.unquote("\"203.0.113.7\\\""));
        assertNull(TrustedHeaderResolver.literal("999.0.113.7"), "not an address, and never looked up");
        assertNull(TrustedHeaderResolver.literal("203.0.113.7 "));
    }

    @Test
    void aRepeatedIdentityHeaderIsNeverBelieved() {
        SubjectResolver r = SubjectResolver.trustedHeader("x-user-id", "127.0.0.1");
        assertEquals("alice", r.resolve(from("127.0.0.1", "alice")));
        assertNull(r.resolve(from("127.0.0.1", "alice\nmallory")));
        assertNull(r.resolve(from("127.0.0.1", "alice\nalice")));
    }

    @Test
    void trustedAddressesMustBeLiteralsOrCidrBlocks() {
        assertThrows(IllegalArgumentException.class, () -> SubjectResolver.trustedHeader("x-user-id"));
        assertThrows(IllegalArgumentException.class, () -> SubjectResolver.trustedHeader("x-user-id", "proxy.example.com"));
        assertThrows(IllegalArgumentException.class, () -> SubjectResolver.trustedHeader("x-user-id", "10.0.0.0/33"));
        assertThrows(IllegalArgumentException.class, () -> SubjectResolver.trustedHeader("x-user-id", "10.0.0"));
    }

    @Test
    void principalAttributeAndFallback() {
        Principal alice = () -> "alice";
        assertEquals("alice", SubjectResolver.principal().resolve(request("1.2.3.4", Map.of(), Map.of(), alice)));
        assertNull(SubjectResolver.principal().resolve(request("1.2.3.4", Map.of(), Map.of(), null)));
        SubjectResolver attr = SubjectResolver.requestAttribute("uid");
        assertEquals("7", attr.resolve(request("1.2.3.4", Map.of(), Map.of("uid", 7L), null)));
        assertEquals("bob", attr.resolve(request("1.2.3.4", Map.of(), Map.of("uid", "bob"), null)));
        assertNull(attr.resolve(request("1.2.3.4", Map.of(), Map.of("uid", new Object()), null)));
        SubjectResolver chain = SubjectResolver.principal().orElse(attr);
        assertEquals("bob", chain.resolve(request("1.2.3.4", Map.of(), Map.of("uid", "bob"), null)));
    }

    @Test
    void bearerTokenComparesTheWholeToken() {
        AdminAuthorizer admin = AdminAuthorizer.bearerToken("0123456789abcdef-secret");
        assertTrue(admin.allows(request("1.2.3.4", Map.of("Authorization", "Bearer 0123456789abcdef-secret"), Map.of(), null)));
        assertTrue(admin.allows(request("1.2.3.4", Map.of("Authorization", "bearer 0123456789abcdef-secret"), Map.of(), null)));
        assertFalse(admin.allows(request("1.2.3.4", Map.of("Authorization", "Bearer 0123456789abcdef-secre"), Map.of(), null)));
        assertFalse(admin.allows(request("1.2.3.4", Map.of("Authorization", "Basic 0123456789abcdef-secret"), Map.of(), null)));
        assertFalse(admin.allows(request("1.2.3.4", Map.of(), Map.of(), null)));
        assertFalse(AdminAuthorizer.denyAll().allows(request("1.2.3.4", Map.of("Authorization", "Bearer x"), Map.of(), null)));
        assertThrows(IllegalArgumentException.class, () -> AdminAuthorizer.bearerToken("short"));
    }
}
