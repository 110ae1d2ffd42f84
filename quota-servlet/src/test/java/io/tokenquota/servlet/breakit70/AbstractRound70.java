package io.tokenquota.servlet.breakit70;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Observations;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.web.util.ContentCachingResponseWrapper;

/**
 * Round 70 of issue 11: the request and response objects the filter hands to the endpoint, continued.
 * Each endpoint runs on an unprotected path (the control) and behind the filter; every difference is
 * checked for what it does to the charge.
 *
 * <p>Every servlet here calls the model once (counted per subject). Where its answer carries usage,
 * the usage counts a server-side context the endpoint added (retrieved documents), well above the
 * filter's estimate of the client's short body.
 */
abstract class AbstractRound70 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final Observations SEEN = new Observations();

    static final long USAGE = 9_000;
    /** The model\'s answer: an OpenAI chat completion with its usage. */
    static final String ANSWER = RelayedAnswers.q3Summary("chatcmpl-70", USAGE);

    static final String CHAT = "{\"model\":\"gpt-4.1\",\"max_tokens\":200,\"stream\":true,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise our Q3 report in two sentences.\"}]}";

    static String subject() {
        return "u70-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** An OpenAI chat stream as relayed when the client did not ask for {@code include_usage}: no usage. */
    static List<String> streamWithoutUsage() {
        String[] words = {"Revenue", " grew", " 12%", " while", " costs", " fell;", " the", " margin", " reached",
                " a", " record."};
        List<String> events = new java.util.ArrayList<>();
        for (String w : words) {
            events.add("data: {\"id\":\"chatcmpl-70\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1\","
                    + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + w + "\"},\"finish_reason\":null}]}\n\n");
        }
        events.add("data: {\"id\":\"chatcmpl-70\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1\","
                + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        events.add("data: [DONE]\n\n");
        return events;
    }

    /** The same stream with {@code include_usage}: the last chunk before [DONE] carries the usage. */
    static List<String> streamWithUsage(long usage) {
        List<String> events = new java.util.ArrayList<>(streamWithoutUsage());
        events.add(events.size() - 1, "data: {\"id\":\"chatcmpl-70\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1\","
                + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + (usage - 40) + ",\"completion_tokens\":40,"
                + "\"total_tokens\":" + usage + "}}\n\n");
        return events;
    }

    /**
     * A request/response logging filter as Spring applications write it: the response is wrapped in
     * Spring's {@link ContentCachingResponseWrapper} so the body can be logged, and copied to the client
     * in {@code finally}, whatever the chain did.
     */
    public static class ResponseLoggingFilter implements Filter {
        @Override
        public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
                throws IOException, ServletException {
            ContentCachingResponseWrapper caching = new ContentCachingResponseWrapper((HttpServletResponse) response);
            try {
                chain.doFilter(request, caching);
            } finally {
                String user = ((HttpServletRequest) request).getHeader("x-user-id");
                SEEN.add(user, "logged " + caching.getStatus() + " with " + caching.getContentSize() + " bytes");
                caching.copyBodyToResponse();
            }
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("logging", new ResponseLoggingFilter(), "/ai/log/*", "/open/log/*")
                .filter("quota", filter, "/*")
                .withControl("chat", Chat::new, "v1")
                .withControl("log-chat", Chat::new, "log");
    }

    public static class Chat extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            if ("/summary".equals(path)) {
                // a GET summary of a stored document: the model is called with the document as context
                CALLS.count(user);
                SEEN.add(user, req.getMethod() + " summary");
                resp.setContentType("application/json");
                resp.getOutputStream().write(ANSWER.getBytes(StandardCharsets.UTF_8));
                return;
            }
            resp.sendError(404);
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (path) {
                case "/stream-then-save" -> streamThenSave(user, resp);
                case "/nonblocking-json" -> nonBlocking(req, resp, user, chunks(ANSWER, 3), "application/json");
                case "/nonblocking-sse" -> nonBlocking(req, resp, user, streamWithUsage(USAGE), "text/event-stream");
                default -> resp.sendError(404);
            }
        }

        /**
         * Relays the model's stream (the client asked for no usage), flushing every event, then stores
         * the conversation; the store fails, and the exception propagates (the answer is already out).
         */
        private static void streamThenSave(String user, HttpServletResponse resp) throws IOException, ServletException {
            CALLS.count(user);
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            ServletOutputStream out = resp.getOutputStream();
            for (String event : streamWithoutUsage()) {
                out.write(event.getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            SEEN.add(user, "streamed; committed=" + resp.isCommitted());
            throw new ServletException("could not save the conversation: connection pool exhausted");
        }

        private static List<String> chunks(String s, int n) {
            List<String> parts = new java.util.ArrayList<>();
            int size = (s.length() + n - 1) / n;
            for (int i = 0; i < s.length(); i += size) {
                parts.add(s.substring(i, Math.min(s.length(), i + size)));
            }
            return parts;
        }

        /** Writes the model's answer with non-blocking I/O: a WriteListener on the async cycle. */
        private static void nonBlocking(HttpServletRequest req, HttpServletResponse resp, String user, List<String> parts,
                                        String type) throws IOException {
            CALLS.count(user);
            AsyncContext async = req.startAsync();
            resp.setContentType(type);
            resp.setCharacterEncoding("UTF-8");
            ServletOutputStream out = resp.getOutputStream();
            out.setWriteListener(new WriteListener() {
                private int next;

                @Override
                public void onWritePossible() throws IOException {
                    while (out.isReady()) {
                        if (next == parts.size()) {
                            SEEN.add(user, "wrote " + next + " parts");
                            async.complete();
                            return;
                        }
                        out.write(parts.get(next++).getBytes(StandardCharsets.UTF_8));
                    }
                }

                @Override
                public void onError(Throwable t) {
                    SEEN.add(user, "write failed: " + t);
                    async.complete();
                }
            });
        }
    }

    private HttpResponse<String> call(String path, String user) {
        return TestHttp.postJson(container.uri(path), user, CHAT);
    }

    /**
     * Break hunt: a response-logging filter (Spring's ContentCachingResponseWrapper, copied out in
     * {@code finally}) in front of the quota filter. The endpoint relays a stream without usage, flushing
     * each event, then fails to store the conversation. Without the logging filter the 200 is committed
     * and the estimate charged ("failed while answering"); with it every flush is swallowed, the quota
     * filter sees nothing committed and releases the hold, while the logging filter still copies the
     * whole answer to the client. The model's answer is delivered; it must be charged.
     */
    @Test
    void aStreamDeliveredThroughALoggingFilterBeforeAnExceptionIsCharged() {
        String control = subject();
        HttpResponse<String> open = call("/open/log/stream-then-save", control);
        assertEquals(1, CALLS.of(control));

        String user = subject();
        HttpResponse<String> r = call("/ai/log/stream-then-save", user);
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertEquals(open.statusCode(), r.statusCode(), kind() + ": " + r.body());
        assertEquals(open.body(), r.body(), kind() + ": other bytes behind the filter");
        if (r.statusCode() == 200 && r.body().contains("record.")) {
            assertTrue(account.used() >= 200, kind() + ": the client got the model's whole answer (" + r.statusCode()
                    + ", " + r.body().length() + " chars) through the logging filter, and was charged " + account.used()
                    + " " + SEEN.of(user) + " " + ledger(user));
        }
    }

    /** The same stream without the logging filter: the committed 200 is charged the estimate. */
    @Test
    void aStreamDeliveredBeforeAnExceptionIsChargedWithoutTheLoggingFilter() {
        String user = subject();
        // the container aborts the chunked stream after the exception (the events were already sent):
        // the client sees an unfinished body
        String outcome;
        try {
            HttpResponse<String> r = call("/ai/v1/stream-then-save", user);
            outcome = r.statusCode() + " " + r.body().length() + " chars";
        } catch (java.io.UncheckedIOException aborted) {
            outcome = "aborted: " + aborted.getCause();
        }
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertTrue(account.used() >= 200, kind() + ": " + outcome + " charged " + account.used() + " " + SEEN.of(user)
                + " " + ledger(user));
    }

    /** A HEAD to a GET endpoint that calls the model: the container discards the body, the usage still counts. */
    @Test
    void aHeadToASummaryEndpointIsChargedItsUsage() {
        String control = subject();
        HttpResponse<String> open = TestHttp.send(TestHttp.request(container.uri("/open/v1/summary"), "x-user-id", control)
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, open.statusCode());
        assertEquals(1, CALLS.of(control));

        String user = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.request(container.uri("/ai/v1/summary"), "x-user-id", user)
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertEquals(open.statusCode(), r.statusCode());
        assertEquals(open.headers().firstValue("Content-Length"), r.headers().firstValue("Content-Length"),
                kind() + ": the HEAD's Content-Length differs behind the filter");
        assertEquals(USAGE, account.used(), kind() + ": a model call answered to a HEAD was charged " + account.used()
                + " " + SEEN.of(user) + " " + ledger(user));
    }

    /** An answer written with non-blocking I/O from a WriteListener is read for its usage. */
    @Test
    void aJsonAnswerWrittenFromAWriteListenerIsChargedItsUsage() {
        assertAnsweredAsWithoutTheFilterAndCharged("nonblocking-json");
    }

    /** A stream written with non-blocking I/O from a WriteListener is read for its usage. */
    @Test
    void aStreamWrittenFromAWriteListenerIsChargedItsUsage() {
        assertAnsweredAsWithoutTheFilterAndCharged("nonblocking-sse");
    }

    /**
     * The endpoint at {@code /open/v1/<endpoint>} (the control) and at {@code /ai/v1/<endpoint>}: a 200
     * with the same bytes behind the filter, charged the model's usage.
     */
    private void assertAnsweredAsWithoutTheFilterAndCharged(String endpoint) {
        String control = subject();
        HttpResponse<String> open = call("/open/v1/" + endpoint, control);
        assertEquals(200, open.statusCode(), open.body());

        String user = subject();
        HttpResponse<String> r = call("/ai/v1/" + endpoint, user);
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertEquals(open.statusCode(), r.statusCode(), r.body());
        assertEquals(open.body(), r.body());
        assertEquals(USAGE, account.used(), kind() + ": charged " + account.used() + " " + SEEN.of(user) + " " + ledger(user));
    }
}
