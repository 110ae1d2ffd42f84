package io.tokenquota.servlet.breakit66;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.context.request.async.DeferredResult;

/**
 * Round 66 of issue 11: how a request reaches the filter and how it is settled over the connection's
 * life. Paths the client picks (a conversation id that ends like a token-counting path), a client that
 * hangs up while an async endpoint waits for the model, and a handler's usage figure that a fragment
 * included into a protected page reports for the page.
 */
abstract class AbstractRound66 extends H2FilterRound {
    /** Model calls per subject (every endpoint of this round counts them). */
    static final ModelCalls CALLS = new ModelCalls();
    /** Released by the test once the client has hung up. */
    static final HangUps HUNG_UP = new HangUps();
    /** What the async endpoints saw when they answered (for failure messages). */
    static final Map<String, String> SEEN = new ConcurrentHashMap<>();
    /** The model calls' workers (daemon threads, shared by both containers' classes in one JVM). */
    static final ExecutorService WORKERS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "round66-model-call");
        t.setDaemon(true);
        return t;
    });

    static String subject() {
        return "u66-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // the quota filter on every path (it protects /ai/), a Spring MVC application under /ai/spring/
        // and plain servlets under /ai/v1/
        return SpringMvc.behind(filter, Assistant.class)
                .servlet("models", new Models(), "/ai/v1/*")
                .servlet("pages", new Pages(), "/page/*");
    }

    /** A chat answer as an OpenAI chat completion with usage. */
    static String completion(long total) {
        return "{\"id\":\"chatcmpl-66\",\"object\":\"chat.completion\",\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"Here is the answer.\"},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":" + (total - 1_000) + ",\"completion_tokens\":1000,\"total_tokens\":" + total
                + "}}";
    }

    static boolean await(BooleanSupplier condition, Duration within) {
        long deadline = System.nanoTime() + within.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            LockSupport.parkNanos(Duration.ofMillis(10).toNanos());
        }
        return true;
    }

    /**
     * A Spring chat application: conversations are addressed by an id the client chooses (a browser tab's
     * session id, as LangServe's and many chat UIs' session ids are), and each message is answered by the
     * model as the application's own JSON, without the provider's usage (the filter charges the estimate
     * of such answers). A second endpoint answers through a {@code DeferredResult}: the model is called on
     * a worker and the conversation is saved whether or not the client is still there.
     */
    @RestController
    public static class Assistant {
        @PostMapping("/assistant/{conversation}")
        public Map<String, Object> message(@PathVariable("conversation") String conversation,
                                           @RequestHeader("x-user-id") String user, @RequestBody String body) {
            CALLS.count(user);
            return Map.of("conversation", conversation, "reply",
                    "Here is a summary of the quarterly report: revenue grew, costs fell, and the outlook is good.");
        }

        /**
         * A summary the model writes as text (no usage in it): the controller reports the call's usage
         * through the request attribute, as docs/servlet.md asks of endpoints whose answer carries none.
         */
        @GetMapping("/summary")
        public String summary(@RequestHeader("x-user-id") String user, HttpServletRequest request) {
            CALLS.count(user);
            request.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 12_000L);
            return "The quarter in one paragraph: revenue grew by a tenth, costs fell, the outlook is good.";
        }

        /** A job status poll: no model runs, reported as 0 (docs/decisions.md, "Jobs the provider runs on its own"). */
        @GetMapping("/status")
        public String status(HttpServletRequest request) {
            request.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            return "status: idle";
        }

        @PostMapping("/deferred")
        public DeferredResult<String> deferred(@RequestHeader("x-user-id") String user, @RequestBody String body) {
            DeferredResult<String> result = new DeferredResult<>(20_000L);
            WORKERS.submit(() -> {
                // the model call: it runs (and is billed by the provider) whatever the client does meanwhile
                CALLS.count(user);
                HUNG_UP.await(user);
                // the container may report the hang-up to the async cycle; give it the chance to
                await(result::isSetOrExpired, Duration.ofSeconds(3));
                boolean taken = result.setResult(completion(6_000));
                SEEN.put(user, "deferred result " + (taken ? "taken" : "refused (already set: the client's hang-up)"));
            });
            return result;
        }
    }

    /**
     * Server-rendered pages outside the protected prefix that include the Spring endpoints (a JSP's
     * {@code <jsp:include page="/ai/spring/summary"/>}): each include is a model call of its own
     * (docs/servlet.md: "a page that includes the model's answer ... is held and charged like a request").
     */
    public static class Pages extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            // bytes, as Spring's converters write the included answer (Tomcat refuses a writer and a stream)
            resp.setContentType("text/html;charset=utf-8");
            resp.getOutputStream().write("<html><body><h1>Quarter</h1><section>".getBytes(StandardCharsets.UTF_8));
            req.getRequestDispatcher("/ai/spring" + req.getPathInfo()).include(req, resp);
            resp.getOutputStream().write("</section></body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Plain servlets under /ai/v1/. */
    public static class Models extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            // an include keeps the including request's paths; the included one is in the include attributes
            Object included = req.getAttribute(jakarta.servlet.RequestDispatcher.INCLUDE_PATH_INFO);
            String path = included != null ? included.toString() : req.getPathInfo() == null ? "" : req.getPathInfo();
            String user = req.getHeader("x-user-id");
            if (path.equals("/report")) {
                // a server-rendered page: the model writes the report (answered as HTML, no usage), and the
                // page includes the status fragment the page's script also polls
                CALLS.count(user);
                resp.setContentType("text/html;charset=utf-8");
                resp.getWriter().write("<html><body><article>The quarterly report, as the model wrote it: "
                        + "revenue grew by a tenth, costs fell, and the outlook is good.</article>");
                req.getRequestDispatcher("/ai/v1/status").include(req, resp);
                resp.getWriter().write("</body></html>");
                return;
            }
            if (path.equals("/status")) {
                // a poll of the job status: no model runs, so it reports 0, as docs/decisions.md advises
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
                resp.getWriter().write("<aside>status: idle</aside>");
                return;
            }
            resp.sendError(404);
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            if (path.equals("/async-chat")) {
                // an async relay: the model is called on a worker, the answer written when it arrives
                AsyncContext ctx = req.startAsync();
                ctx.setTimeout(20_000);
                AtomicInteger errors = new AtomicInteger();
                ctx.addListener(new AsyncListener() {
                    @Override
                    public void onComplete(AsyncEvent event) {
                    }

                    @Override
                    public void onTimeout(AsyncEvent event) {
                    }

                    @Override
                    public void onError(AsyncEvent event) {
                        errors.incrementAndGet();
                    }

                    @Override
                    public void onStartAsync(AsyncEvent event) {
                    }
                });
                WORKERS.submit(() -> {
                    CALLS.count(user);
                    HUNG_UP.await(user);
                    // the container may report the hang-up to the async cycle; give it the chance to
                    await(() -> errors.get() > 0, Duration.ofSeconds(3));
                    String outcome;
                    try {
                        HttpServletResponse r = (HttpServletResponse) ctx.getResponse();
                        r.setContentType("application/json");
                        r.getOutputStream().write(completion(6_000).getBytes(StandardCharsets.UTF_8));
                        r.flushBuffer();
                        outcome = "answer written";
                    } catch (IOException | RuntimeException e) {
                        outcome = "answer not written: " + e;
                    } finally {
                        try {
                            ctx.complete();
                        } catch (RuntimeException e) {
                            // the container ended the cycle already
                        }
                    }
                    SEEN.put(user, outcome + " (async errors reported: " + errors.get() + ")");
                });
                return;
            }
            resp.sendError(404);
        }
    }

    /**
     * Posts {@code body} as {@code subject} on a raw connection, waits until the model has been called,
     * then resets the connection without reading an answer (a client that gave up waiting).
     */
    private void postAndHangUpWhileWaiting(String path, String subject, String body) throws IOException {
        HUNG_UP.expect(subject);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", container.port()), 5_000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + subject
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.write(bytes);
            out.flush();
            assertTrue(await(() -> CALLS.of(subject) == 1, Duration.ofSeconds(10)), "the model was called");
            socket.setSoLinger(true, 0);
        } finally {
            HUNG_UP.happened(subject);
        }
    }

    // ---- (c) a client that hangs up while an async endpoint waits for the model --------------------

    /**
     * An async relay (a plain servlet calling the model on a worker) whose client hangs up after the model
     * was called, before any byte of the answer. Promise (settlement rule 5): "the client hung up before
     * any usage was seen: the estimate: hanging up never makes a call free"; when the answer is still
     * written, its usage (6,000).
     */
    @Test
    void aClientHangingUpWhileAnAsyncRelayWaitsForTheModelStillPays() throws IOException {
        String s = subject();
        postAndHangUpWhileWaiting("/ai/v1/async-chat", s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the quarterly report.\"}],\"max_tokens\":2000}");
        assertTrue(await(() -> SEEN.containsKey(s), Duration.ofSeconds(20)), "the worker finished");
        assertTrue(await(() -> store.account(s).reserved() == 0, Duration.ofSeconds(30)),
                "the hold was settled (" + SEEN.get(s) + ") " + ledger(s));
        long used = settled(s).used();
        assertEquals(1, CALLS.of(s));
        assertTrue(used >= 2_000, "the model was called (" + SEEN.get(s) + "); the client hung up before the answer;"
                + " charged " + used + " (estimate > 2,000, usage 6,000) " + ledger(s));
    }

    /**
     * The same with Spring MVC's {@code DeferredResult}, as a Spring chat controller calls the model on
     * a worker: the client hangs up after the model was called.
     */
    @Test
    void aClientHangingUpWhileASpringDeferredResultWaitsForTheModelStillPays() throws IOException {
        String s = subject();
        postAndHangUpWhileWaiting("/ai/spring/deferred", s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the quarterly report.\"}],\"max_tokens\":2000}");
        assertTrue(await(() -> SEEN.containsKey(s), Duration.ofSeconds(20)), "the worker finished");
        assertTrue(await(() -> store.account(s).reserved() == 0, Duration.ofSeconds(30)),
                "the hold was settled (" + SEEN.get(s) + ") " + ledger(s));
        long used = settled(s).used();
        assertEquals(1, CALLS.of(s));
        assertTrue(used >= 2_000, "the model was called (" + SEEN.get(s) + "); the client hung up before the answer;"
                + " charged " + used + " (estimate > 2,000, usage 6,000) " + ledger(s));
    }

    // ---- (a) a path the client chooses that ends like a token-counting endpoint --------------------

    private long messageTo(String conversation, String s) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/spring/assistant/" + conversation), s,
                "{\"message\":\"Summarise the quarterly report in detail.\",\"max_tokens\":4000}");
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    /**
     * A conversation id is a path segment the client chooses. Named {@code tokenize} (or
     * {@code count_tokens}, {@code x:countTokens}), the path ends like vLLM's, Anthropic's or Gemini's
     * token-counting endpoint, and the app's answer (its own JSON, no counters) looks like a count that
     * carries none. docs/servlet.md: "A path that names a count but answers anything else (...an
     * application's wildcard route to the model) is charged by the other rules" (here: the estimate).
     */
    @Test
    void aConversationIdThatEndsLikeATokenCountIsStillAModelCall() {
        String control = subject();
        long baseline = messageTo("c-7f3a", control);
        assertTrue(baseline >= 4_000, "control: a message is charged its estimate, " + baseline);
        for (String id : List.of("tokenize", "count_tokens", "c-7f3a:countTokens")) {
            String s = subject();
            long used = messageTo(id, s);
            assertEquals(1, CALLS.of(s), id);
            assertEquals(baseline, used, "conversation '" + id + "': the model answered as for 'c-7f3a' (charged "
                    + baseline + "), charged " + used + " " + ledger(s));
        }
    }

    // ---- (c) the request attribute of a fragment included into a protected page ---------------------

    /**
     * A protected page (the model writes a report, answered as HTML without usage) includes the status
     * fragment the page's script also polls; the fragment reports 0 through the request attribute, as
     * docs/decisions.md advises polls to. docs/servlet.md: a figure an include reported "is cleared
     * before the next include or forward runs, so it is never another call's". The page's own call is
     * charged its estimate (at least the 1,000-token fallback).
     */
    @Test
    void aPollFragmentIncludedIntoAProtectedPageDoesNotMakeThePagesModelCallFree() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/v1/report?quarter=q3"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("status: idle"), r.body());
        assertEquals(1, CALLS.of(s));
        long used = settled(s).used();
        assertTrue(used >= 1_000, "the page's model call is charged its estimate (>= 1,000), charged " + used + " "
                + ledger(s));
    }

    // ---- (c) the request attribute of a Spring endpoint included into a page -----------------------

    /**
     * A page includes a Spring endpoint whose model writes a summary as text; the controller reports the
     * call's 12,000 tokens through {@code QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE} (settlement rule 1: "that
     * figure"). Promise: charged at least the real usage, 12,000.
     */
    @Test
    void anIncludedSpringEndpointsReportedUsageIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/page/summary"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("revenue grew"), r.body());
        assertEquals(1, CALLS.of(s));
        long used = settled(s).used();
        assertEquals(12_000, used, "the included endpoint reported 12,000 tokens through the request attribute "
                + ledger(s));
    }

    /**
     * A page includes a Spring status poll that reports 0 through the request attribute (no model runs).
     * Promise: nothing that never reached a model is charged.
     */
    @Test
    void anIncludedSpringPollReportingZeroIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/page/status"), "x-user-id", s);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("status: idle"), r.body());
        long used = settled(s).used();
        assertEquals(0, used, "the poll reported 0 through the request attribute " + ledger(s));
    }

    static String read(InputStream in) throws IOException {
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
}
