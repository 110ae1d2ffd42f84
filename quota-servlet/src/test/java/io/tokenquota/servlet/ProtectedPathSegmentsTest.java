package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.RequestDispatcher;
import jakarta.servlet.http.HttpServletRequest;
import java.lang.reflect.Proxy;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/**
 * Prefix matching on the raw request path: the request URI less the context path, path parameters
 * removed, percent-decoded, dot segments kept, so a framework routing on the URI cannot reach a
 * protected route the container's normalised path leaves.
 */
final class ProtectedPathSegmentsTest {
    private static final String AI = QuotaFilter.normalise("/gw/ai/");

    private static boolean protectedRaw(String uri, String context) {
        return QuotaFilter.covers(AI, QuotaFilter.rawPath(uri, context));
    }

    @Test
    void dotSegmentsAreKept() {
        assertEquals("/gw/ai/v1/chat/../../../../pub", QuotaFilter.rawPath("/gw/ai/v1/chat/../../../../pub", ""));
        assertTrue(protectedRaw("/gw/ai/v1/chat/../../../../pub", ""));
        assertTrue(protectedRaw("/gw/ai/./../../pub", ""));
        assertFalse(protectedRaw("/pub/../gw/ai/v1", ""), "the raw path starts with pub (its normalised one is protected)");
    }

    @Test
    void encodedDotsAreDots() {
        assertEquals("/gw/ai/v1/../../pub", QuotaFilter.rawPath("/gw/ai/v1/%2e%2e/%2E%2E/pub", ""));
        assertTrue(protectedRaw("/gw/ai/v1/%2e%2e/%2E%2E/pub", ""));
        assertTrue(protectedRaw("/%67w/a%69/v1", ""), "any escape is decoded");
        assertEquals("/gw/ai/x", QuotaFilter.rawPath("/gw%2Fai/x", ""), "%2f decodes to a slash: only more is protected");
        assertEquals("/gw/a%zz/%", QuotaFilter.rawPath("/gw/a%zz/%", ""), "a stray % stays");
        assertEquals("/gw/é", QuotaFilter.rawPath("/gw/%C3%A9", ""));
    }

    @Test
    void pathParametersAreRemovedFromEachSegment() {
        assertEquals("/gw/ai/v1/../../pub", QuotaFilter.rawPath("/gw;jsessionid=x/ai;a=b/v1/..;jsessionid=x/..;x/pub;jsessionid=x", ""));
        assertTrue(protectedRaw("/gw;jsessionid=x/ai/v1/..;jsessionid=x/..;/../pub", ""));
        assertFalse(protectedRaw("/gw/ai-admin;x/v1", ""), "segment boundaries still hold");
        assertFalse(protectedRaw("/gw/ai%3bx/v1", ""), "an encoded ; is segment text, not a parameter");
    }

    @Test
    void contextPathIsRemoved() {
        assertEquals("/gw/ai/v1/../../../pub", QuotaFilter.rawPath("/app/gw/ai/v1/../../../pub", "/app"));
        assertTrue(protectedRaw("/app/gw/ai/v1/../../../pub", "/app"));
        assertTrue(protectedRaw("/my%20app/gw/ai/v1/../../..", "/my app"), "a decoded context path");
        assertTrue(protectedRaw("/my%20app/gw/ai/v1/../../..", "/my%20app"), "an encoded context path");
        assertTrue(protectedRaw("/app;jsessionid=x/gw/ai/..", "/app"));
        assertTrue(protectedRaw("/./app/gw/ai/..", "/app"), "the context spelled otherwise in the URI");
        assertTrue(protectedRaw("/x/../app/gw/ai/..", "/x/../app"), "a context path reported as sent");
        assertTrue(protectedRaw("/shop/api/gw/ai/..", "/shop/api"));
        assertFalse(protectedRaw("/app/pub/../gw/ai", "/app"));
        assertFalse(protectedRaw("/gw/ai/v1", "/gw"), "the context path is not part of the path");
    }

    @Test
    void unprotectedBothWaysStaysUnprotected() {
        assertFalse(protectedRaw("/pub", ""));
        assertFalse(protectedRaw("/pub/../other", ""));
        assertFalse(protectedRaw("/gw/aix/../ai-admin", ""));
        assertEquals("/", QuotaFilter.rawPath("/", ""));
    }

    @Test
    void includesUseTheIncludedUriAndDispatchesByNameHaveNone() {
        HttpServletRequest include = request(DispatcherType.INCLUDE, "/app/page", "/app", Map.of(
                RequestDispatcher.INCLUDE_REQUEST_URI, "/app/gw/ai/v1/../../../x",
                RequestDispatcher.INCLUDE_CONTEXT_PATH, "/app"));
        assertEquals("/gw/ai/v1/../../../x", QuotaFilter.rawPathOf(include));
        assertNull(QuotaFilter.rawPathOf(request(DispatcherType.INCLUDE, "/gw/ai/v1", "", Map.of())));
        assertNull(QuotaFilter.rawPathOf(request(DispatcherType.FORWARD, "/gw/ai/v1", "", Map.of())));
        assertEquals("/gw/ai/v1/..", QuotaFilter.rawPathOf(request(DispatcherType.FORWARD, "/gw/ai/v1/..", "",
                Map.of(RequestDispatcher.FORWARD_REQUEST_URI, "/pub"))));
        assertEquals("/gw/ai/..", QuotaFilter.rawPathOf(request(DispatcherType.REQUEST, "/ctx/gw/ai/..", "/ctx", Map.of())));
    }

    private static HttpServletRequest request(DispatcherType type, String uri, String context, Map<String, String> attributes) {
        return (HttpServletRequest) Proxy.newProxyInstance(HttpServletRequest.class.getClassLoader(),
                new Class<?>[] {HttpServletRequest.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "getDispatcherType" -> type;
                    case "getRequestURI" -> uri;
                    case "getContextPath" -> context;
                    case "getAttribute" -> attributes.get((String) args[0]);
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    /** The short way for plain URIs reads every URI exactly as the segment-by-segment way does. */
    @Property(tries = 3000)
    void theShortWayAgreesWithTheSegments(@ForAll("uris") String uri, @ForAll("contexts") String context) {
        assertEquals(QuotaFilter.segmentedPath(uri, context), QuotaFilter.rawPath(uri, context),
                () -> "uri " + uri + " under context " + context);
    }

    @Provide
    Arbitrary<String> uris() {
        return Arbitraries.of("/", "/", "/", "a", "ap", "p", ".", "..", "%2e", "%2F", ";x", "%", "é", "ai", "app")
                .list().ofMaxSize(10).map(parts -> String.join("", parts));
    }

    @Provide
    Arbitrary<String> contexts() {
        return Arbitraries.of("", "", "/app", "/ap", "/a", "/app/", "/ap%70", "/./app", "/app;v=1", "/", "/a/..");
    }
}
