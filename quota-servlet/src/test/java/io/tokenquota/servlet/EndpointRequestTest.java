package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import jakarta.servlet.http.HttpServletRequest;
import java.lang.reflect.Proxy;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** What the endpoint sees of the client's content negotiation. */
final class EndpointRequestTest {

    @Test
    void charsetsNoEncoderHasAreDroppedFromAcceptAndAcceptCharset() {
        assertEquals("application/json", EndpointRequest.encodable("text/plain;charset=ISO-2022-CN, application/json"));
        assertEquals("", EndpointRequest.encodable("text/plain; charset=\"ISO-2022-CN\""));
        assertEquals("", EndpointRequest.encodable("text/plain;charset=no-such-charset"));
        assertEquals("", EndpointRequest.encodable("text/plain;charset=bad name!"));
        assertEquals("text/plain;charset=UTF-16, */*;q=0.1", EndpointRequest.encodable("text/plain;charset=UTF-16, */*;q=0.1"));
        assertEquals("utf-8, *;q=0.5", EndpointRequest.encodable("ISO-2022-CN;q=1, utf-8, *;q=0.5"));
        assertEquals("application/json;q=0.9", EndpointRequest.encodable("application/json;q=0.9"));
    }

    /** Google's response field mask and format parameters do not reach the endpoint; the rest does (round 334). */
    @Test
    void googleFieldMaskAndFormatParametersAreHidden() {
        String gemini = "/ai/v1beta/models/gemini-2.5-flash:streamGenerateContent";
        assertEquals("alt=sse&key=k", request(gemini, "alt=sse&fields=candidates&key=k").getQueryString());
        assertEquals("key=k", request(gemini, "%24fields=candidates%2CmodelVersion&key=k&$alt=proto").getQueryString());
        assertNull(request(gemini, "alt=proto").getQueryString());
        assertEquals("alt=json", request(gemini, "alt=json").getQueryString());
        assertEquals("candidates", request("/ai/v1/search", "fields=candidates").getParameter("fields"));
        assertNull(request("/ai/v1/search", "$fields=candidates").getParameter("$fields"));
        assertEquals("fields=candidates", request("/ai/v1/search", "fields=candidates").getQueryString());
        EndpointRequest masked = request(gemini.replace(":", "%3A"), "fields=candidates&alt=sse");
        assertEquals("alt=sse", masked.getQueryString());
        assertEquals(List.of("alt"), Collections.list(masked.getParameterNames()));
        assertNull(masked.getParameterValues("fields"));
    }

    /**
     * Google's JSONP callback does not reach the endpoint either: {@code $callback} anywhere, {@code callback} on a
     * Google method path (round 457); an application's own {@code callback} elsewhere and the system parameters
     * that leave the answer's JSON as it is ({@code prettyPrint}, {@code quotaUser}, {@code key}) stay.
     */
    @Test
    void googleJsonpCallbackParameterIsHidden() {
        String gemini = "/ai/v1beta/models/gemini-2.5-flash:generateContent";
        assertNull(request(gemini, "callback=cb").getQueryString());
        assertEquals("key=k", request(gemini, "%24callback=cb&key=k").getQueryString());
        assertEquals("prettyPrint=false&quotaUser=u&key=k",
                request(gemini, "prettyPrint=false&callback=cb&quotaUser=u&key=k").getQueryString());
        EndpointRequest wrapped = request(gemini.replace(":", "%3A"), "$callback=cb&alt=json");
        assertEquals("alt=json", wrapped.getQueryString());
        assertEquals(List.of("alt"), Collections.list(wrapped.getParameterNames()));
        assertNull(wrapped.getParameter("$callback"));
        assertNull(request("/ai/v1/search", "$callback=cb").getParameter("$callback"));
        assertEquals("cb", request("/ai/v1/search", "callback=cb").getParameter("callback"));
        assertEquals("callback=cb", request("/ai/v1/search", "callback=cb").getQueryString());
    }

    /**
     * The plain spellings are hidden on Google's AI paths that name no colon method too (round 466): Gemini's
     * Interactions API, its caches, batches and OpenAI compatibility, anything under a Vertex AI location;
     * {@code alt=json} and {@code alt=sse} stay. An application's own paths, with or without a version segment, keep
     * their {@code fields}, {@code callback} and {@code alt}.
     */
    @Test
    void googleSystemParametersAreHiddenOnGoogleCollectionPaths() {
        for (String google : List.of("/ai/gemini/v1beta/interactions", "/ai/gemini/v1alpha/interactions/v1_abc",
                "/ai/v1/interactions", "/ai/gemini/v1beta/cachedContents", "/ai/gemini/v1beta/batches/b1",
                "/ai/gemini/v1beta/openai/chat/completions", "/ai/gemini/v1beta/interactions;jsessionid=x",
                "/ai/vertex/v1/projects/p/locations/us-central1/endpoints/openapi/chat/completions",
                "/ai/vertex/v1beta1/projects/p/locations/global/endpoints/123/chat/completions",
                "/ai/gemini/v1beta/models/gemini-2.5-flash%3AgenerateContent")) {
            assertEquals("key=k", request(google, "fields=id,status&callback=cb&alt=proto&key=k").getQueryString(), google);
            assertNull(request(google, "fields=id").getParameter("fields"), google);
            assertEquals("alt=sse", request(google, "alt=sse&callback=cb").getQueryString(), google);
            assertEquals("json", request(google, "alt=json").getParameter("alt"), google);
        }
        for (String own : List.of("/ai/v1/search", "/ai/app/interactions", "/ai/v1/chat/completions",
                "/ai/v1/notes/interactions", "/ai/v1/projects/p", "/ai/gemini/interactions",
                // OpenAI's own batches and a gateway's OpenAI route: Gemini serves these two only under v1beta / v1alpha
                "/ai/v1/batches/batch_abc", "/ai/v1/openai/chat/completions")) {
            String query = "fields=id,status&callback=cb&alt=proto";
            assertEquals(query, request(own, query).getQueryString(), own);
            assertEquals("id,status", request(own, query).getParameter("fields"), own);
            assertEquals("cb", request(own, query).getParameter("callback"), own);
            assertEquals("proto", request(own, query).getParameter("alt"), own);
            assertNull(request(own, "$fields=id").getParameter("$fields"), own);
        }
    }

    private static EndpointRequest request(String uri, String query) {
        Map<String, String[]> parameters = new java.util.LinkedHashMap<>();
        for (String pair : query.split("&")) {
            String[] nv = pair.split("=", 2);
            parameters.put(java.net.URLDecoder.decode(nv[0], java.nio.charset.StandardCharsets.UTF_8),
                    new String[] {java.net.URLDecoder.decode(nv[1], java.nio.charset.StandardCharsets.UTF_8)});
        }
        HttpServletRequest raw = (HttpServletRequest) Proxy.newProxyInstance(HttpServletRequest.class.getClassLoader(),
                new Class<?>[] {HttpServletRequest.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "getRequestURI" -> uri;
                    case "getQueryString" -> query;
                    case "getParameterMap" -> parameters;
                    case "getParameter" -> parameters.containsKey((String) args[0]) ? parameters.get((String) args[0])[0] : null;
                    case "getParameterValues" -> parameters.get((String) args[0]);
                    default -> null;
                });
        return new EndpointRequest(raw);
    }

    /**
     * An async cycle started inside an include gets a request of its own: one not started yet (a second quota filter
     * passing its start down) is kept; one that started a cycle already is another include's (round 499: Tomcat hands
     * a fragment the dispatched cycle's request, and the fragment's cycle took it and its figure for its own).
     */
    @Test
    void anIncludesCycleStartedWithAnotherCyclesRequestGetsItsOwn() {
        jakarta.servlet.ServletRequest[] startedWith = new jakarta.servlet.ServletRequest[1];
        HttpServletRequest raw = (HttpServletRequest) Proxy.newProxyInstance(HttpServletRequest.class.getClassLoader(),
                new Class<?>[] {HttpServletRequest.class}, (proxy, method, args) -> {
                    if (method.getName().equals("startAsync") && args != null) {
                        startedWith[0] = (jakarta.servlet.ServletRequest) args[0];
                    }
                    return null;
                });
        EndpointRequest endpoint = new EndpointRequest(raw);
        jakarta.servlet.http.HttpServletResponse response = (jakarta.servlet.http.HttpServletResponse)
                Proxy.newProxyInstance(HttpServletRequest.class.getClassLoader(),
                        new Class<?>[] {jakarta.servlet.http.HttpServletResponse.class}, (proxy, method, args) -> null);
        endpoint.includeStarts();
        EndpointRequest.IncludeCycle passedDown = new EndpointRequest.IncludeCycle(raw);
        endpoint.startAsync(passedDown, response);
        assertSame(passedDown, startedWith[0], "the cycle the other filter made for this start");
        assertSame(passedDown, endpoint.includeEnds(null));
        endpoint.includeStarts();
        endpoint.startAsync(passedDown, response);
        EndpointRequest.IncludeCycle own = (EndpointRequest.IncludeCycle) startedWith[0];
        assertNotSame(passedDown, own, "a started cycle's request is another's");
        assertSame(passedDown, own.getRequest(), "its own, over the one it was given");
        assertSame(own, endpoint.includeEnds(null));
    }

    /**
     * Inside the dispatch of an include's cycle, the same include made again and starting a cycle goes on with the
     * dispatched cycle's call (round 509: a dispatch back writing that call's answer on a second cycle was charged it
     * twice); another include there (round 499's related fragment), one by name, or one outside any dispatch of a
     * cycle has a call of its own.
     */
    @Test
    void theSameIncludeMadeAgainInTheDispatchOfItsCycleResumesThatCyclesCall() {
        HttpServletRequest raw = (HttpServletRequest) Proxy.newProxyInstance(HttpServletRequest.class.getClassLoader(),
                new Class<?>[] {HttpServletRequest.class}, (proxy, method, args) -> null);
        String v1 = "INCLUDE /ai/v1/chat /ai/v1/chat";
        EndpointRequest.IncludeCycle first = new EndpointRequest.IncludeCycle(raw);
        first.madeBy(v1, new jakarta.servlet.http.HttpServletRequestWrapper(raw));
        assertNull(first.resumes(), "made in the page's own dispatch");
        // the container's include wrapper over the dispatch's request, the cycle it dispatches
        jakarta.servlet.ServletRequest inDispatch = new jakarta.servlet.http.HttpServletRequestWrapper(first);
        EndpointRequest.IncludeCycle early = new EndpointRequest.IncludeCycle(raw);
        early.madeBy(v1, inDispatch);
        assertNull(early.resumes(), "not dispatched yet: no dispatch of it runs");
        first.dispatched();
        EndpointRequest.IncludeCycle second = new EndpointRequest.IncludeCycle(raw);
        second.madeBy(v1, inDispatch);
        assertSame(first, second.resumes());
        EndpointRequest.IncludeCycle related = new EndpointRequest.IncludeCycle(raw);
        related.madeBy("INCLUDE /ai/v1/related /ai/v1/related", inDispatch);
        assertNull(related.resumes(), "another endpoint's call");
        EndpointRequest.IncludeCycle named = new EndpointRequest.IncludeCycle(raw);
        named.madeBy(null, inDispatch);
        assertNull(named.resumes(), "an include by name has no path to tell it by");
        // Spring's form on Tomcat: the second cycle's request is made over the first's, which the dispatch passes
        EndpointRequest.IncludeCycle overFirst = new EndpointRequest.IncludeCycle(first);
        overFirst.madeBy(v1, inDispatch);
        assertSame(first, overFirst.resumes());
    }
}
