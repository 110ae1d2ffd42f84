package io.tokenquota.servlet.breakit93;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 93 of issue 11: a request without a body sent with {@code OPTIONS} is let through uncharged as
 * a CORS preflight, but a model endpoint that takes its question from the query string (a "suggest"
 * or "ask" endpoint, answered on GET) needs no body: a Spring functional route matched by its path
 * alone, or a relay that forwards any method with its query, runs the model for it. No {@code Origin},
 * no {@code Access-Control-Request-Method}: nothing makes such a request a preflight.
 */
abstract class AbstractRound93 extends ModelCallRound {
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        Routes93.CALLS.set(calls);
        return Deployment.create()
                .servlet("spring", SpringMvc.bootDispatcher(Routes93.class), SpringMvc.MAPPING)
                .filter("quota", filter, "/ai/*")
                .servlet("relay", new Relay(), "/ai/relay/*");
    }

    /** The model's answer to a question, with its usage: 4,000 tokens in (the question and the context), 1,000 out. */
    static final String COMPLETION = ChatCompletions.completion("c93", "gpt-4o", "try this", 4000, 1000);

    /**
     * A relay that forwards whatever method it is sent, with its query string, to an upstream "ask"
     * endpoint that runs the model on any method (a Go {@code http.HandleFunc} route, an Express
     * {@code app.all}): the upstream calls the model with the query's question and answers the
     * completion with its usage, 5,000 tokens.
     */
    class Relay extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String q = req.getParameter("q");
            if (q == null || q.isEmpty()) {
                resp.setStatus(400);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setStatus(200);
            resp.setContentType("application/json");
            resp.getOutputStream().write(COMPLETION.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The question "what should I cook tonight" (1,000 output tokens at most) sent to {@code path} without a body. */
    HttpResponse<String> ask(String path, String method, String s, String... headers) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path + "?q=what+should+I+cook+tonight&max_tokens=1000"), s,
                headers).method(method, HttpRequest.BodyPublishers.noBody()).build());
    }

    HttpResponse<String> routed(String method, String s) {
        return ask("/ai/spring/ask", method, s);
    }

    HttpResponse<String> relayed(String method, String s) {
        return ask("/ai/relay/ask", method, s);
    }

    /** Control: the Spring route's GET is charged its usage, 5,000 tokens. */
    @Test
    void springRouteGetIsChargedItsUsage() {
        String s = subject();
        assertServedOnceAndCharged(s, routed("GET", s), 5_000);
    }

    /**
     * A client sends the Spring route's question with {@code OPTIONS} and no body (no {@code Origin},
     * no {@code Access-Control-Request-Method}): Spring Boot dispatches OPTIONS to handlers, the route
     * matched by path runs the model, 5,000 tokens. The call must be charged them.
     */
    @Test
    void springRouteBodylessOptionsIsChargedItsUsage() {
        String s = subject();
        assertEachCallCharged(s, 5_000, "OPTIONS", routed("OPTIONS", s));
    }

    /**
     * A user who spent the whole allowance on four GETs of the Spring route (4 x 5,000 = 20,000) is
     * refused the fifth with 429, then sends the same question with {@code OPTIONS} and no body, and is
     * served the model's 5,000-token answer past the allowance.
     */
    @Test
    void springRouteBodylessOptionsServesTheModelPastTheAllowance() {
        String s = subject();
        assertNoModelCallPastTheAllowance(s, 5_000, () -> routed("GET", s), "OPTIONS", () -> routed("OPTIONS", s));
    }

    /**
     * The route answers the question in plain text, without usage: its OPTIONS answer is content under
     * a 200, no preflight's, and is charged the estimate, as the same GET is.
     */
    @Test
    void aBodylessOptionsAnsweredWithTextIsChargedAsItsGet() {
        String s = subject();
        assertEquals(200, ask("/ai/spring/ask-text", "GET", s).statusCode());
        long get = settled(s).used();
        assertTrue(get > 1_000, "the GET's estimate: " + get);
        HttpResponse<String> r = ask("/ai/spring/ask-text", "OPTIONS", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls.of(s));
        assertEquals(2 * get, settled(s).used(), ledger(s).toString());
    }

    /** Control: the relay's GET is charged its usage, 5,000 tokens. */
    @Test
    void relayedGetIsChargedItsUsage() {
        String s = subject();
        assertServedOnceAndCharged(s, relayed("GET", s), 5_000);
    }

    /**
     * The relay that forwards any method is sent the question with {@code OPTIONS} and no body: the
     * upstream runs the model, 5,000 tokens, and the call must be charged them.
     */
    @Test
    void relayedBodylessOptionsIsChargedItsUsage() {
        String s = subject();
        assertEachCallCharged(s, 5_000, "OPTIONS", relayed("OPTIONS", s));
    }

    /**
     * The same with {@code TRACE} and no body, which a container that does not refuse it (Jetty) passes
     * to a servlet overriding {@code service}.
     */
    @Test
    void relayedBodylessTraceIsChargedItsUsage() {
        String s = subject();
        assertEachCallCharged(s, 5_000, "TRACE", relayed("TRACE", s));
    }

    /** The question sent to {@code path} as a CORS preflight is: {@code Origin}, {@code Access-Control-Request-Method}. */
    HttpResponse<String> preflight(String path, String s) {
        return ask(path, "OPTIONS", s, "Origin", "https://app.example", "Access-Control-Request-Method", "GET");
    }

    /**
     * A client dresses its question as a CORS preflight ({@code Origin} and
     * {@code Access-Control-Request-Method}, which any client can send; a browser's preflight keeps the
     * query string) to the relay that forwards any method: the upstream runs the model, 5,000 tokens,
     * and the call must be charged them.
     */
    @Test
    void relayedPreflightLookalikeIsChargedItsUsage() {
        String s = subject();
        assertEachCallCharged(s, 5_000, "preflight-shaped OPTIONS", preflight("/ai/relay/ask", s));
    }

    /**
     * Control: the same preflight to the Spring route is answered by Spring's own preflight handler,
     * which runs no route: no model call, nothing charged.
     */
    @Test
    void springRoutePreflightCallsNoModel() {
        String s = subject();
        HttpResponse<String> r = preflight("/ai/spring/ask", s);
        assertEquals(0, calls.of(s), "status " + r.statusCode() + ": " + r.body());
        assertEquals(0, settled(s).used());
    }

    /**
     * The Spring route's question sent as {@code HEAD}: the route runs the model (5,000 tokens, its
     * usage in the answer the container then discards). The call must be charged its 5,000 tokens as
     * the GET is, not the estimate of a short query.
     */
    @Test
    void springRouteHeadIsChargedItsUsage() {
        String s = subject();
        assertEachCallCharged(s, 5_000, "HEAD", routed("HEAD", s), () -> ", ledger " + ledger(s));
    }
}
