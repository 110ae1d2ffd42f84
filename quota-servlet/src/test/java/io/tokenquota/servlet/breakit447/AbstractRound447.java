package io.tokenquota.servlet.breakit447;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.context.request.async.DeferredResult;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;

/**
 * Round 447 of issue 11 ("no model call goes unpaid"): Spring MVC's asynchronous return types whose one JSON
 * document (a chat completion, not streamed) is written after the client hung up.
 *
 * <p>The rule (docs/decisions.md, "One JSON document is written to its end after the client hung up"; round 336):
 * a non-streamed answer starts to be written only once the model finished; when the client has gone meanwhile
 * (the OpenAI SDK's own timeout closes its connection) the write that fails is dropped, "the reader goes on
 * reading, and the endpoint finishes", and the call is charged the usage the document ends with ("usage seen →
 * charge it, also after ... disconnect"). Round 336 proved it for a synchronous handler. Here the handler is
 * asynchronous, as Spring MVC's reference ("Asynchronous Requests") writes a slow call: a
 * {@code ResponseEntity<StreamingResponseBody>} (the body written by Jackson on Spring's task executor), a
 * {@code Callable} and a {@code DeferredResult} (the value written by Jackson in Spring's async dispatch).
 *
 * <p>Shapes: OpenAI API reference, "The chat completion object" ({@code choices} first, {@code usage} last, as the
 * API sends it and as Jackson writes the map it was parsed into, in order): {@link ChatCompletions#completion}.
 * The model's answer is a story of 60,000 characters (13,000 completion tokens) for a 1,200-token prompt: 14,200
 * tokens billed. The client is a raw HTTP/1.1 connection that posts the chat request and, once the model is at
 * work, resets the connection (an SDK's timeout: OkHttp cancels the call and closes its socket).
 */
abstract class AbstractRound447 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final ObjectMapper JSON = new ObjectMapper();
    static final long IN = 1_200;
    static final long OUT = 13_000;
    static final long CALL = IN + OUT;
    static final String STORY = Prose.english(60_000);
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write me a long story about a lighthouse keeper.\"}]}";

    /** Per subject: counted down once the model is at work. */
    static final Map<String, CountDownLatch> STARTED = new ConcurrentHashMap<>();
    /** Per subject: the model finishes once this is counted down (absent: at once). */
    static final Map<String, CountDownLatch> GATE = new ConcurrentHashMap<>();
    /** Per subject: counted down once the endpoint's own writing is over (StreamingResponseBody). */
    static final Map<String, CountDownLatch> WRITTEN = new ConcurrentHashMap<>();

    /** Per subject: how the StreamingResponseBody's write ended, for failure messages. */
    static final Map<String, String> WRITE_END = new ConcurrentHashMap<>();

    AbstractRound447() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behindAi(filter, Relay.class);
    }

    /** The provider's call: counted, held while the test's client hangs up, answered with the whole completion. */
    static Map<String, Object> model(String user) throws IOException {
        CALLS.count(user);
        CountDownLatch started = STARTED.get(user);
        if (started != null) {
            started.countDown();
        }
        CountDownLatch gate = GATE.get(user);
        if (gate != null) {
            try {
                gate.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        // the SDK's / an HTTP client's parse of the provider's answer, its members in the order sent
        @SuppressWarnings("unchecked")
        Map<String, Object> completion = JSON.readValue(ChatCompletions.completion("chatcmpl-447", "gpt-4o-2024-08-06",
                STORY, IN, OUT), LinkedHashMap.class);
        return completion;
    }

    @RestController
    public static class Relay {
        /** Control: the synchronous handler of round 336 (Jackson writes the returned map). */
        @PostMapping(path = "/ai/sync", produces = MediaType.APPLICATION_JSON_VALUE)
        public Map<String, Object> sync(@RequestHeader("x-user-id") String user) throws IOException {
            return model(user);
        }

        /** Spring's {@code StreamingResponseBody}: the provider called and the answer written by Jackson off the request thread. */
        @PostMapping(path = "/ai/streaming")
        public ResponseEntity<StreamingResponseBody> streaming(@RequestHeader("x-user-id") String user) {
            StreamingResponseBody body = out -> {
                try {
                    JSON.writeValue(out, model(user));
                    WRITE_END.put(user, "written to its end");
                } catch (IOException | RuntimeException e) {
                    WRITE_END.put(user, "stopped by " + e);
                    throw e;
                } finally {
                    CountDownLatch written = WRITTEN.get(user);
                    if (written != null) {
                        written.countDown();
                    }
                }
            };
            return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(body);
        }

        /** Spring's {@code Callable}: the provider called on Spring's task executor, the value written in the async dispatch. */
        @PostMapping(path = "/ai/callable", produces = MediaType.APPLICATION_JSON_VALUE)
        public Callable<Map<String, Object>> callable(@RequestHeader("x-user-id") String user) {
            return () -> model(user);
        }

        /** Spring's {@code DeferredResult}, set by the application's worker when the provider answered. */
        @PostMapping(path = "/ai/deferred", produces = MediaType.APPLICATION_JSON_VALUE)
        public DeferredResult<Map<String, Object>> deferred(@RequestHeader("x-user-id") String user) {
            DeferredResult<Map<String, Object>> result = new DeferredResult<>(60_000L);
            Thread worker = new Thread(() -> {
                try {
                    result.setResult(model(user));
                } catch (IOException e) {
                    result.setErrorResult(e);
                }
            });
            worker.setDaemon(true);
            worker.start();
            return result;
        }
    }

    static String path(String endpoint) {
        return SpringMvc.MAPPING.replace("/*", "") + "/ai/" + endpoint;
    }

    /**
     * The client of {@code s} posts the chat request to {@code endpoint} and, once the model is at work, resets its
     * connection (an SDK's timeout); then the model finishes and the application writes its answer.
     */
    void hangUpWhileTheModelWorks(String s, String endpoint) throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        STARTED.put(s, started);
        GATE.put(s, gate);
        WRITTEN.put(s, new CountDownLatch(1));
        byte[] body = ASK.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", container.port()), 5_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + path(endpoint) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: " + body.length
                    + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            assertTrue(started.await(10, TimeUnit.SECONDS), "the model was called");
            socket.setSoLinger(true, 0);
        } finally {
            // the model finishes its call now, the client gone
            gate.countDown();
        }
    }

    void assertChargedItsUsage(String s, String what, HttpResponse<String> r) throws InterruptedException {
        QuotaAccount a = chargedAtLeast(s, CALL);
        assertAll(() -> assertEquals(1, CALLS.of(s), kind() + ": " + what + ": model calls"),
                () -> assertEquals(CALL, a.used(), kind() + ": " + what + ": the model finished the call (usage " + IN
                        + " + " + OUT + " = " + CALL + ", the end of the one JSON document the application wrote), "
                        + "charged " + a.used() + " of " + a.limit() + (r == null ? "" : ", status " + r.statusCode())
                        + (WRITE_END.containsKey(s) ? "; the application's write " + WRITE_END.get(s) : "")
                        + ": " + ledger(s)),
                () -> assertEquals(0, a.reserved(), ledger(s)));
    }

    void assertHangUpChargedItsUsage(String endpoint, String what) throws Exception {
        String s = subject();
        hangUpWhileTheModelWorks(s, endpoint);
        if (endpoint.equals("streaming")) {
            assertTrue(WRITTEN.get(s).await(20, TimeUnit.SECONDS), "the application wrote its answer");
        }
        assertChargedItsUsage(s, what + ", the client reset its connection while the model worked", null);
    }

    void assertReadChargedItsUsage(String endpoint, String what) throws InterruptedException {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path(endpoint)), s, ASK, "Accept", "application/json");
        assertEquals(200, r.statusCode(), r.body().length() > 300 ? r.body().substring(0, 300) : r.body());
        assertTrue(r.body().contains("\"total_tokens\":" + CALL), "the client read the whole completion");
        assertChargedItsUsage(s, what + ", read to its end", r);
    }

    // ------------------------------------------------------------------ findings

    /**
     * Finding (Tomcat; Jetty passes): a {@code StreamingResponseBody} writes the whole completion after the client
     * reset. Tomcat reports the broken connection to the async cycle's listeners while the body is still being
     * written on Spring's executor; the call is settled then ("client gone", the text carried so far: 1,136 or
     * 6,261 in two runs), and the body's next write fails ({@code AsyncRequestNotUsableException}), so Jackson
     * never writes the usage the model billed.
     */
    @Test
    void aStreamingResponseBodyCompletionWrittenAfterTheClientLeftIsChargedItsUsage() throws Exception {
        assertHangUpChargedItsUsage("streaming", "StreamingResponseBody");
    }

    /** Control (passes on both containers): a {@code Callable}'s completion written in the async dispatch after the client reset. */
    @Test
    void aCallableCompletionWrittenAfterTheClientLeftIsChargedItsUsage() throws Exception {
        assertHangUpChargedItsUsage("callable", "Callable");
    }

    /** Control (passes on both containers): a {@code DeferredResult}'s completion written in the async dispatch after the client reset. */
    @Test
    void aDeferredResultCompletionWrittenAfterTheClientLeftIsChargedItsUsage() throws Exception {
        assertHangUpChargedItsUsage("deferred", "DeferredResult");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the synchronous handler (round 336's rule) whose client reset while the model worked. */
    @Test
    void controlASynchronousCompletionWrittenAfterTheClientLeftIsChargedItsUsage() throws Exception {
        assertHangUpChargedItsUsage("sync", "synchronous handler");
    }

    @Test
    void controlAStreamingResponseBodyCompletionReadToItsEndIsChargedItsUsage() throws InterruptedException {
        assertReadChargedItsUsage("streaming", "StreamingResponseBody");
    }

    @Test
    void controlACallableCompletionReadToItsEndIsChargedItsUsage() throws InterruptedException {
        assertReadChargedItsUsage("callable", "Callable");
    }

    @Test
    void controlADeferredResultCompletionReadToItsEndIsChargedItsUsage() throws InterruptedException {
        assertReadChargedItsUsage("deferred", "DeferredResult");
    }
}
