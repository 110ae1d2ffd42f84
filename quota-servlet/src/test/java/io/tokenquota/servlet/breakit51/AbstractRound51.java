package io.tokenquota.servlet.breakit51;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.ResponseBodyEmitter;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;

/**
 * Round 51 of issue 11: how answers leave the application (Spring MVC's streaming return values,
 * emitters completed with errors or timeouts, non-blocking writes, HEAD).
 */
abstract class AbstractRound51 extends H2FilterRound {
    /** Chunks each endpoint wrote, by subject (the model's output the client received or not). */
    static final Map<String, Integer> WRITTEN = new ConcurrentHashMap<>();
    static final Map<String, Boolean> CALLED = new ConcurrentHashMap<>();

    static void startThread(Runnable r) {
        Thread t = new Thread(r, "upstream-51");
        t.setDaemon(true);
        t.start();
    }

    static String subject() {
        return "u51-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** An OpenAI chat stream chunk without usage (the client left out include_usage). */
    static final byte[] CHUNK = ("data: {\"id\":\"chatcmpl-51\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + " word".repeat(20) + "\"},\"finish_reason\":null}]}\n\n")
            .getBytes(StandardCharsets.UTF_8);

    static final String STREAM = "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":4000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story about a lighthouse keeper.\"}]}";

    @RestController
    public static class Streams {
        /** An SseEmitter whose upstream fails after 40 chunks: completeWithError. */
        @PostMapping(value = "/sse-error", produces = "text/event-stream")
        public SseEmitter sseError(@RequestBody String body, HttpServletRequest req) {
            String subject = req.getHeader("x-user-id");
            CALLED.put(subject, true);
            SseEmitter emitter = new SseEmitter(30_000L);
            startThread(() -> {
                try {
                    for (int i = 0; i < 40; i++) {
                        emitter.send(SseEmitter.event().data("{\"choices\":[{\"delta\":{\"content\":\" word word word\"}}]}",
                                MediaType.APPLICATION_JSON));
                    }
                    WRITTEN.put(subject, 40);
                    emitter.completeWithError(new IllegalStateException("upstream connection reset"));
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
            });
            return emitter;
        }

        /** An SseEmitter whose upstream fails with an IOException after 40 chunks. */
        @PostMapping(value = "/sse-ioerror", produces = "text/event-stream")
        public SseEmitter sseIoError(@RequestBody String body, HttpServletRequest req) {
            String subject = req.getHeader("x-user-id");
            CALLED.put(subject, true);
            SseEmitter emitter = new SseEmitter(30_000L);
            startThread(() -> {
                try {
                    for (int i = 0; i < 40; i++) {
                        emitter.send(SseEmitter.event().data("{\"choices\":[{\"delta\":{\"content\":\" word word word\"}}]}",
                                MediaType.APPLICATION_JSON));
                    }
                    WRITTEN.put(subject, 40);
                    emitter.completeWithError(new IOException("upstream closed the stream"));
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
            });
            return emitter;
        }

        /** A plain ResponseBodyEmitter (NDJSON) whose upstream fails after data. */
        @PostMapping(value = "/ndjson-error", produces = "application/x-ndjson")
        public ResponseBodyEmitter ndjsonError(@RequestBody String body, HttpServletRequest req) {
            String subject = req.getHeader("x-user-id");
            CALLED.put(subject, true);
            ResponseBodyEmitter emitter = new ResponseBodyEmitter(30_000L);
            startThread(() -> {
                try {
                    for (int i = 0; i < 40; i++) {
                        emitter.send("{\"message\":{\"content\":\" word word word\"}}\n", MediaType.TEXT_PLAIN);
                    }
                    WRITTEN.put(subject, 40);
                    emitter.completeWithError(new IllegalStateException("upstream connection reset"));
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
            });
            return emitter;
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, Streams.class);
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + container.port() + path);
    }

    /** One raw POST read to its end (an answer aborted mid-way included): the bytes received. */
    String rawPost(String path, String subject, String accept) throws IOException {
        byte[] body = STREAM.getBytes(StandardCharsets.UTF_8);
        try (Socket s = new Socket("127.0.0.1", container.port())) {
            s.setSoTimeout(20_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + subject
                    + "\r\nContent-Type: application/json\r\nAccept: " + accept + "\r\nContent-Length: " + body.length
                    + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
            try {
                s.getInputStream().transferTo(got);
            } catch (IOException reset) {
                // an aborted answer: what came is what the client got
            }
            return got.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private void assertChargedEstimate(String path, String accept) throws IOException {
        String subject = subject();
        long t0 = System.nanoTime();
        String got = rawPost(path, subject, accept);
        long received = (System.nanoTime() - t0) / 1_000_000;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (store.account(subject).reserved() != 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
        long open = (System.nanoTime() - t0) / 1_000_000;
        QuotaAccount a = store.account(subject);
        assertEquals(0, a.reserved(), path + ": the hold is still open " + open + " ms after the call (answer received after "
                + received + " ms, " + got.length() + " bytes): it expires uncharged " + ledger(subject));
        assertTrue(CALLED.containsKey(subject));
        String head = got.substring(0, Math.min(got.length(), 300));
        assertTrue(a.used() >= 4_000, path + ": received " + got.length() + " bytes [" + head
                + "]; a stream the model answered is charged its estimate; used " + a.used() + " " + ledger(subject));
    }

    /**
     * A Spring {@code SseEmitter} relaying an OpenAI stream without usage (the client left out
     * include_usage) sends 40 events (200 committed, the client reads them), then its upstream fails and
     * it calls {@code completeWithError}. The exception leaves Spring's async dispatch. Tomcat then
     * reports status 500 for the 200 it already sent, and the filter releases the hold as a server error
     * (used 0). On Jetty the filter's listener never hears the async cycle end: the hold stays open
     * until it expires, also uncharged. It should be charged its estimate: the model answered.
     */
    @Test
    void anSseEmitterCompletedWithErrorAfterDataIsCharged() throws IOException {
        assertChargedEstimate("/ai/spring/sse-error", "text/event-stream");
    }

    /** The same with an {@code IOException} from the upstream (held on Tomcat: read as a client gone). */
    @Test
    void anSseEmitterCompletedWithAnIoErrorAfterDataIsCharged() throws IOException {
        assertChargedEstimate("/ai/spring/sse-ioerror", "text/event-stream");
    }

    /** The same with a plain {@code ResponseBodyEmitter} relaying an Ollama-style NDJSON stream. */
    @Test
    void anNdjsonEmitterCompletedWithErrorAfterDataIsCharged() throws IOException {
        assertChargedEstimate("/ai/spring/ndjson-error", "application/x-ndjson");
    }
}
