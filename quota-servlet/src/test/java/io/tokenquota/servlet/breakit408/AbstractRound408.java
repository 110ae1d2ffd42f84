package io.tokenquota.servlet.breakit408;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ContextApp;
import io.tokenquota.servlet.testing.Deployment;
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
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 408 of issue 11: container dispatch paths. An exception thrown by a protected endpoint after it wrote
 * an answer with usage (streamed and committed; buffered and replaced by the container's 500), an error page
 * under the protected prefix reached by {@code sendError} from an unprotected servlet, an include of a
 * protected servlet that starts an async cycle, and round 396's dispatch by name to a router mapped at
 * {@code /x/*} above the protected prefix {@code /x/ai/}, with path parameters, dot segments and doubled slashes.
 *
 * <p>Shapes: OpenAI API reference, "The chat completion object" ({@code choices[].message}, {@code usage}) and
 * "The chat completion chunk object" (a stream asked with {@code stream_options.include_usage} ends with a chunk
 * whose {@code choices} is empty and whose {@code usage} is set, then {@code data: [DONE]}); the request "Create
 * chat completion" ({@code model}, {@code messages}, {@code max_tokens}). Servlet 6.0: {@code sendError} with an
 * {@code <error-page>} (section 10.9.2), {@code RequestDispatcher.include} and {@code ServletRequest.startAsync}
 * inside it (section 2.3.3.3: async is allowed in an include when every filter and servlet supports it),
 * {@code getNamedDispatcher}. Spring MVC routes on the request URI less the context path and the servlet path of
 * a {@code PATH} match ({@code ServletRequestPathUtils.parseAndCache}, {@code PathPatternParser}: a
 * {@code {deployment}} variable matches one segment, whatever it holds).
 */
abstract class AbstractRound408 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long IN = 1_400;
    static final long OUT = 2_600;
    static final long USAGE = IN + OUT;
    static final String ASK = "{\"model\":\"gpt-4o\",\"max_tokens\":3000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise the supplier contract.\"}],\"stream_options\":{\"include_usage\":true}}";
    static final String ANSWER = ChatCompletions.completion("chatcmpl-408", "gpt-4o-2024-08-06",
            "Clause seven lets the supplier charge interest on late invoices.", IN, OUT);

    AbstractRound408() {
        super(CALLS);
    }

    @Override
    protected QuotaFilter.Builder filterFor(String prefix) {
        // a router mapped at /x/* above the protected prefix /x/ai/ (docs/decisions.md, "Dispatches by name")
        return super.filterFor(prefix).protect("/x/ai/");
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("sse", new Sse(), "/ai/sse/*")
                .servlet("json", new JsonThenThrow(), "/ai/json/*")
                .servlet("page", new Page(), "/page/*")
                .servlet("inc-async", new IncludedAsync(), "/ai/inc-async/*")
                .servlet("legacy-error", new Unavailable(), "/legacy-error/*")
                .servlet("help", new Help(), "/ai/help/*")
                .errorPage(503, "/ai/help/v1/chat/completions")
                .servlet("router", SpringMvc.dispatcher(Chat.class), "/x/*")
                .servlet("legacy", new ContextApp.NamedForward("router"), "/legacy/*");
    }

    // ------------------------------------------------------------------ the endpoints

    /**
     * An OpenAI chat stream relayed: three chunks, the usage chunk, flushed (committed); {@code /throw} then
     * fails before {@code [DONE]} (a post-processing step: an audit write, a moderation call), else ends it.
     */
    final class Sse extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (int i = 0; i < 3; i++) {
                out.write(ChatCompletions.wordEvent("chatcmpl-408s").getBytes(StandardCharsets.UTF_8));
            }
            out.write(ChatCompletions.usageEvent("chatcmpl-408s", IN, OUT).getBytes(StandardCharsets.UTF_8));
            out.flush();
            if (req.getPathInfo().startsWith("/throw")) {
                throw new ServletException("audit log unavailable");
            }
            out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The whole completion written into the buffer (not committed); {@code /throw} then fails, so the container answers 500. */
    final class JsonThenThrow extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(ANSWER.getBytes(StandardCharsets.UTF_8));
            if (req.getPathInfo().startsWith("/throw")) {
                throw new IllegalStateException("audit log unavailable");
            }
            if (req.getPathInfo().startsWith("/send-error")) {
                // the answer failed the endpoint's own check afterwards (a moderation pass): sendError resets the buffer
                resp.sendError(502, "answer rejected");
            }
        }
    }

    /** An unprotected page that includes the protected async model servlet (by path) and writes nothing of its own. */
    static final class Page extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getRequestDispatcher("/ai/inc-async/v1/chat/completions").include(req, resp);
        }
    }

    /** A model servlet that starts an async cycle, calls the model on another thread, writes its completion, completes. */
    final class IncludedAsync extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            AsyncContext ctx = req.startAsync();
            ctx.start(() -> {
                try {
                    calls.count(s);
                    resp.setContentType("application/json");
                    resp.getOutputStream().write(ANSWER.getBytes(StandardCharsets.UTF_8));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                } finally {
                    ctx.complete();
                }
            });
        }
    }

    /** An unprotected servlet whose upstream is down: {@code sendError(503)}. */
    static final class Unavailable extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(503, "upstream unavailable");
        }
    }

    /** The 503 error page, under the protected prefix: an assistant that calls the model and answers its completion. */
    final class Help extends HttpServlet {
        // service(), as an error page serves whatever method the failed request had (round 93's pages do the same)
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(ANSWER.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The router's controller: OpenAI chat at {@code /ai/chat} and per deployment at {@code /ai/{deployment}/chat}. */
    @RestController
    public static class Chat {
        @PostMapping(path = "/ai/chat", produces = MediaType.APPLICATION_JSON_VALUE)
        public ResponseEntity<String> chat(@RequestHeader("x-user-id") String user) {
            CALLS.count(user);
            return ResponseEntity.ok(ANSWER);
        }

        @PostMapping(path = "/ai/{deployment}/chat", produces = MediaType.APPLICATION_JSON_VALUE)
        public ResponseEntity<String> deployment(@PathVariable("deployment") String deployment,
                                                 @RequestHeader("x-user-id") String user) {
            CALLS.count(user);
            return ResponseEntity.ok(ANSWER);
        }
    }

    // ------------------------------------------------------------------ checks

    HttpResponse<String> post(String path, String s) {
        try {
            return TestHttp.postJson(container.uri(path), s, ASK);
        } catch (UncheckedIOException aborted) {
            // the container aborted the response after the exception: the client saw the stream cut
            return null;
        }
    }

    void assertChargedUsage(String s, HttpResponse<String> r, String what) {
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(1, calls.of(s), "model calls: " + figures(s, r, a)),
                () -> assertEquals(USAGE, a.used(), kind() + ": " + what + ": the model answered " + USAGE
                        + " tokens by its usage; " + figures(s, r, a)),
                () -> assertEquals(0, a.reserved(), figures(s, r, a)));
    }

    /** A raw POST: every call Spring's handler ran is charged its usage, nothing else. */
    void assertEachRoutedCallCharged(String path) throws IOException {
        String s = subject();
        String answer = TestHttp.rawPostFrom("127.0.0.1", container.port(), path, "x-user-id: " + s);
        QuotaAccount a = settled(s);
        String status = answer.lines().findFirst().orElse("");
        assertEquals(calls.of(s) * USAGE, a.used(), kind() + ": POST " + path + " answered " + status + " after "
                + calls.of(s) + " model calls, charged " + a.used() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ an exception after the answer

    /** A stream that delivered its usage chunk, then the endpoint threw before {@code [DONE]}. */
    @Test
    void aStreamThatThrowsAfterItsUsageChunkIsChargedItsUsage() {
        String s = subject();
        assertChargedUsage(s, post("/ai/sse/throw", s), "stream with usage, then an exception");
    }

    @Test
    void controlAStreamThatEndsIsChargedItsUsage() {
        String s = subject();
        assertChargedUsage(s, post("/ai/sse/whole", s), "stream with usage, ended");
    }

    /** A completion with usage in the buffer, then an exception: the container's 500 replaced it. */
    @Test
    void aBufferedCompletionReplacedByTheContainers500IsChargedItsUsage() {
        String s = subject();
        assertChargedUsage(s, post("/ai/json/throw", s), "completion with usage buffered, then an exception");
    }

    /** A completion with usage in the buffer, then sendError(502) (under /ai/, so the 503 page is not involved). */
    @Test
    void aBufferedCompletionReplacedBySendErrorIsChargedItsUsage() {
        String s = subject();
        assertChargedUsage(s, post("/ai/json/send-error", s), "completion with usage buffered, then sendError(502)");
    }

    @Test
    void controlABufferedCompletionIsChargedItsUsage() {
        String s = subject();
        assertChargedUsage(s, post("/ai/json/whole", s), "completion with usage");
    }

    // ------------------------------------------------------------------ an error page under the prefix

    /** sendError(503) from an unprotected servlet; the 503 page under /ai/ calls the model and reports its usage. */
    @Test
    void anErrorPageUnderTheProtectedPrefixThatCallsTheModelIsChargedItsUsage() {
        String s = subject();
        assertChargedUsage(s, post("/legacy-error/v1/chat/completions", s), "sendError(503) -> error page /ai/help");
    }

    @Test
    void controlTheErrorPageServletCalledDirectlyIsChargedItsUsage() {
        String s = subject();
        assertChargedUsage(s, post("/ai/help/v1/chat/completions", s), "the help servlet called directly");
    }

    // ------------------------------------------------------------------ an include that starts async

    /** An unprotected page includes the protected servlet, which answers from an async cycle it starts. */
    @Test
    void anIncludedModelServletThatStartsAsyncIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = post("/page/v1/chat/completions", s);
        assertChargedUsage(s, r, "included async model servlet");
        assertEquals(ANSWER, r.body());
    }

    @Test
    void controlTheAsyncModelServletCalledDirectlyIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = post("/ai/inc-async/v1/chat/completions", s);
        assertChargedUsage(s, r, "async model servlet");
        assertEquals(ANSWER, r.body());
    }

    // ------------------------------------------------------------------ a router at /x/* reached by name

    @Test
    void controlARouterReachedByNameIsChargedItsUsage() throws IOException {
        assertEachRoutedCallCharged("/legacy/ai/chat");
    }

    @Test
    void aRouterReachedByNameWithAPathParameterIsChargedWhatItRouted() throws IOException {
        assertEachRoutedCallCharged("/legacy/ai;jsessionid=0A1B2C/chat");
    }

    @Test
    void aRouterReachedByNameWithADotSegmentIsChargedWhatItRouted() throws IOException {
        assertEachRoutedCallCharged("/legacy/ai/../chat");
    }

    @Test
    void aRouterReachedByNameWithAnEncodedDotSegmentIsChargedWhatItRouted() throws IOException {
        assertEachRoutedCallCharged("/legacy/ai/%2e%2e/chat");
    }

    @Test
    void aRouterReachedByNameWithADoubledSlashIsChargedWhatItRouted() throws IOException {
        assertEachRoutedCallCharged("/legacy//ai/chat");
    }

    @Test
    void aRouterReachedByNameWithAnEncodedSlashIsChargedWhatItRouted() throws IOException {
        assertEachRoutedCallCharged("/legacy/ai%2Fchat");
    }

    @Test
    void aRouterReachedByNameWithAParameterOnTheDeploymentSegmentIsChargedWhatItRouted() throws IOException {
        assertEachRoutedCallCharged("/legacy/ai/gpt;v=1/chat");
    }

    @Test
    void aRouterReachedByNameWithAParameterOnItsServletPathIsChargedWhatItRouted() throws IOException {
        assertEachRoutedCallCharged("/legacy;jsessionid=0A1B2C/ai/chat");
    }

    @Test
    void theRouterCalledWithADotSegmentIsChargedWhatItRouted() throws IOException {
        assertEachRoutedCallCharged("/x/ai/../chat");
    }

    @Test
    void theRouterCalledWithAnEncodedDotSegmentIsChargedWhatItRouted() throws IOException {
        assertEachRoutedCallCharged("/x/ai/%2e%2e/chat");
    }
}
