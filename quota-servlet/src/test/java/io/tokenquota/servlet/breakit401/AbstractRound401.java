package io.tokenquota.servlet.breakit401;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ContextApp;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 401 (found while fixing round 396): a request the filter holds on its own protected path, whose servlet
 * then forwards it (by path or by name) to an endpoint that answers with a declared Content-Length.
 *
 * <p>The filter keeps the last byte of a body that completes its declared Content-Length back until the charge
 * has landed, and sends it (and ends the body) once the filter's chain returns. A forward's end closes the
 * response (Servlet 6.0, section 9.4, "The Forward Method": "Before the forward method of the RequestDispatcher
 * interface returns without exception, the response content must be sent and committed, and closed by the servlet
 * container"). Tomcat does so past the filter's wrapper (it suspends the response), so the byte kept back was
 * dropped: 274 of 275 bytes, the client waiting out the container's 60 s idle timeout. Found and fixed: inside a
 * forward the endpoint makes, the end is no longer kept back.
 *
 * <p>The endpoint answers OpenAI's chat completion (API reference, "The chat completion object": {@code id},
 * {@code object: "chat.completion"}, {@code choices[].message}, {@code usage.prompt_tokens},
 * {@code completion_tokens}, {@code total_tokens}) to a "Create chat completion" request ({@code model},
 * {@code messages}, {@code max_tokens}). The client gives up after 10 s: a body one byte short of its
 * Content-Length would otherwise wait out the container's idle timeout.
 */
abstract class AbstractRound401 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long PROMPT = 1_100;
    static final long COMPLETION = 1_900;
    static final long USAGE = PROMPT + COMPLETION;
    static final String ANSWER = ChatCompletions.completion("chatcmpl-401", "gpt-4o-2024-08-06",
            "Day one: Alfama. Day two: Belem.", PROMPT, COMPLETION);
    static final String BODY = "{\"model\":\"gpt-4o\",\"max_tokens\":2000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Plan a two-day trip to Lisbon.\"}]}";

    AbstractRound401() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                // the endpoint that answers with a Content-Length, outside the protected prefix
                .servlet("complete", new Complete(), "/internal/complete")
                // the control: the same endpoint on a protected path of its own
                .servlet("complete-ai", new Complete(), "/ai/complete")
                .servlet("by-path", new PathForward("/internal/complete"), "/ai/by-path/*")
                .servlet("by-name", new ContextApp.NamedForward("complete"), "/ai/by-name/*")
                .servlet("forwarder", new PathForward("/internal/complete"), "/internal/forwarder")
                .servlet("async", new AsyncDispatch("/internal/forwarder"), "/ai/async/*")
                // Spring Boot's DispatcherServlet at "/", and a legacy servlet under the prefix handing to it by name
                .servlet("dispatcherServlet", SpringMvc.dispatcher(Chat.class), "/")
                .servlet("legacy-ai", new ContextApp.NamedForward("dispatcherServlet"), "/ai/legacy/*")
                .onStartup(filter::registerByServletName);
    }

    /** The model endpoint: counts the call and answers the completion with its length declared. */
    static final class Complete extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            CALLS.count(req.getHeader("x-user-id"));
            ChatCompletions.writeWithLength(resp, ANSWER.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A route kept as an alias of another path by forwarding to it. */
    static final class PathForward extends HttpServlet {
        private final String target;

        PathForward(String target) {
            this.target = target;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getRequestDispatcher(target).forward(req, resp);
        }
    }

    /** Starts an async cycle and dispatches it to {@code target} (which forwards in its turn). */
    static final class AsyncDispatch extends HttpServlet {
        private final String target;

        AsyncDispatch(String target) {
            this.target = target;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) {
            AsyncContext async = req.startAsync();
            async.start(() -> async.dispatch(target));
        }
    }

    /** The Spring application's chat endpoint: {@code ResponseEntity} declares the Content-Length. */
    @RestController
    public static class Chat {
        @PostMapping(path = "/ai/chat", produces = MediaType.APPLICATION_JSON_VALUE)
        public ResponseEntity<String> chat(@RequestBody String body, @RequestHeader("x-user-id") String user) {
            CALLS.count(user);
            return ResponseEntity.ok(ANSWER);
        }
    }

    /** POSTs the chat request; the client waits 10 s at most. */
    HttpResponse<String> post(String path, String s) {
        HttpRequest request = HttpRequest.newBuilder(TestHttp.jsonPost(container.uri(path), s, BODY), (n, v) -> true)
                .timeout(Duration.ofSeconds(10)).build();
        try {
            return TestHttp.client().send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            return fail(kind() + ": POST " + path + ": no whole answer within 10 s: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fail(e);
        }
    }

    /** The client had the whole completion (exact length, parseable) and the ledger charged exactly its usage. */
    void assertWholeAndCharged(String path, String what) {
        String s = subject();
        HttpResponse<String> r = post(path, s);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, r.statusCode(), figures(s, r, a)),
                () -> assertEquals(ANSWER.length(), r.body().length(), kind() + ": " + what + ": bytes the client got"),
                () -> assertEquals(Map.of("prompt_tokens", PROMPT, "completion_tokens", COMPLETION, "total_tokens", USAGE),
                        ((Map<?, ?>) ((Map<?, ?>) JsonTree.parse(r.body())).get("usage")).entrySet().stream()
                                .collect(java.util.stream.Collectors.toMap(e -> (String) e.getKey(),
                                        e -> ((Number) e.getValue()).longValue())),
                        kind() + ": " + what + ": the answer's usage"),
                () -> assertEquals(1, calls.of(s), "model calls: " + figures(s, r, a)),
                () -> assertEquals(USAGE, a.used(), kind() + ": " + what + ": the model served one call of " + USAGE
                        + " tokens; " + figures(s, r, a)));
    }

    // ------------------------------------------------------------------ found and fixed

    /** A held request forwarded by path to an endpoint that declares its Content-Length. */
    @Test
    void aHeldRequestForwardedByPathGetsItsWholeAnswer() {
        assertWholeAndCharged("/ai/by-path/x", "POST /ai/by-path/x, held, forwarded by path to /internal/complete");
    }

    /** The same forwarded by name. */
    @Test
    void aHeldRequestForwardedByNameGetsItsWholeAnswer() {
        assertWholeAndCharged("/ai/by-name/x", "POST /ai/by-name/x, held, forwarded by name to complete");
    }

    /** The same to a Spring handler answering a {@code ResponseEntity}, forwarded by name to the dispatcher. */
    @Test
    void aHeldRequestForwardedByNameToASpringResponseEntityGetsItsWholeAnswer() {
        assertWholeAndCharged("/ai/legacy/ai/chat", "POST /ai/legacy/ai/chat, held, forwarded by name to"
                + " dispatcherServlet, answered by a ResponseEntity");
    }

    /** A held request dispatched async to a servlet that forwards it by path to the endpoint. */
    @Test
    void aHeldRequestForwardedFromAnAsyncDispatchGetsItsWholeAnswer() {
        assertWholeAndCharged("/ai/async/x", "POST /ai/async/x, held, dispatched async to /internal/forwarder,"
                + " forwarded by path to /internal/complete");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same endpoint on its own protected path, no forward. */
    @Test
    void theEndpointOnItsOwnProtectedPathGetsItsWholeAnswer() {
        assertWholeAndCharged("/ai/complete", "POST /ai/complete");
    }

    /** Control: the Spring handler called at its own protected path, no forward. */
    @Test
    void theSpringHandlerOnItsOwnProtectedPathGetsItsWholeAnswer() {
        assertWholeAndCharged("/ai/chat", "POST /ai/chat");
    }
}
