package io.tokenquota.servlet.breakit242;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Daemons;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.core.io.ByteArrayResource;
import org.springframework.core.io.Resource;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.context.request.async.DeferredResult;
import org.springframework.web.context.request.async.WebAsyncTask;
import org.springframework.web.servlet.mvc.method.annotation.ResponseBodyEmitter;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;

/**
 * Round 242 of issue 11: Spring MVC's asynchronous and streaming return types behind the filter, in a
 * real {@code DispatcherServlet}: {@code Callable}, {@code DeferredResult}, {@code CompletableFuture},
 * {@code WebAsyncTask}, {@code StreamingResponseBody}, {@code ResponseBodyEmitter} and {@code SseEmitter}
 * (completed, completed with an error, timed out with and without an {@code onTimeout} fallback),
 * {@code ResponseEntity<Resource>} asked for a range, and a {@code @RestControllerAdvice} answering a
 * problem after part of the answer. The application adds retrieved documents the client never sends,
 * so the provider reports 6,000 prompt + 3,000 completion = 9,000 tokens, well above the filter's
 * estimate of the client's short request: a call charged its estimate was not charged its usage, and a
 * call charged 18,000 was charged once per dispatch.
 */
abstract class AbstractRound242 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final ExecutorService WORKERS = Daemons.pool("round242-model");
    /** Released when the test class ends: upstreams that stall wait on it. */
    static final CountDownLatch END = new CountDownLatch(1);
    /** Per subject: the worker has written everything it was going to write. */
    static final Map<String, CountDownLatch> WRITTEN = new ConcurrentHashMap<>();

    static final long PROMPT = 6_000;
    static final long COMPLETION = 3_000;
    static final long USAGE = PROMPT + COMPLETION;

    static final String REQUEST = "{\"model\":\"gpt-4o\",\"max_tokens\":300,\"stream\":true,"
            + "\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"What does clause 14 of the supply contract say?\"}]}";

    static final String ANSWER = ChatCompletions.completion("chatcmpl-242", "gpt-4o",
            "Clause 14 lets either party terminate with thirty days notice.", PROMPT, COMPLETION);

    static String chunk(String text) {
        return ChatCompletions.chunkHead("chatcmpl-242") + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
                + text + "\"},\"finish_reason\":null}]}";
    }

    static String usageChunk() {
        return ChatCompletions.chunkHead("chatcmpl-242") + "\"choices\":[]," + ChatCompletions.usage(PROMPT, COMPLETION) + "}";
    }

    static String subject() {
        return "u242-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String who(HttpServletRequest req) {
        String s = req.getHeader("x-user-id");
        CALLS.count(s);
        return s;
    }

    static void written(String s) {
        WRITTEN.computeIfAbsent(s, k -> new CountDownLatch(1)).countDown();
    }

    static void stall() {
        try {
            END.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static class ConversationNotSaved extends RuntimeException {
        ConversationNotSaved() {
            super("could not save the conversation");
        }
    }

    @RestController
    public static class Assistant {
        @PostMapping("/callable")
        public Callable<ResponseEntity<String>> callable(@RequestBody String body, HttpServletRequest req) {
            who(req);
            return () -> ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(ANSWER);
        }

        @PostMapping("/deferred")
        public DeferredResult<ResponseEntity<String>> deferred(@RequestBody String body, HttpServletRequest req) {
            who(req);
            DeferredResult<ResponseEntity<String>> result = new DeferredResult<>(20_000L);
            WORKERS.submit(() -> result.setResult(ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(ANSWER)));
            return result;
        }

        @PostMapping("/future")
        public CompletableFuture<ResponseEntity<String>> future(@RequestBody String body, HttpServletRequest req) {
            who(req);
            return CompletableFuture.supplyAsync(() -> ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON)
                    .body(ANSWER), WORKERS);
        }

        @PostMapping("/task")
        public WebAsyncTask<ResponseEntity<String>> task(@RequestBody String body, HttpServletRequest req) {
            who(req);
            return new WebAsyncTask<>(20_000L,
                    () -> ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(ANSWER));
        }

        @PostMapping("/streaming")
        public ResponseEntity<StreamingResponseBody> streaming(@RequestBody String body, HttpServletRequest req) {
            who(req);
            StreamingResponseBody out = os -> {
                for (int i = 0; i < 30; i++) {
                    os.write(("data: " + chunk("Clause fourteen says ") + "\n\n").getBytes(StandardCharsets.UTF_8));
                    os.flush();
                }
                os.write(("data: " + usageChunk() + "\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
            };
            return ResponseEntity.ok().contentType(MediaType.TEXT_EVENT_STREAM).body(out);
        }

        /** Writes the whole answer (not flushed), then saving the conversation fails: the advice answers 500. */
        @PostMapping("/streaming-then-fails")
        public ResponseEntity<StreamingResponseBody> streamingThenFails(@RequestBody String body, HttpServletRequest req) {
            String s = who(req);
            StreamingResponseBody out = os -> {
                os.write(ANSWER.getBytes(StandardCharsets.UTF_8));
                written(s);
                throw new ConversationNotSaved();
            };
            return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(out);
        }

        @PostMapping(value = "/sse", produces = "text/event-stream")
        public SseEmitter sse(@RequestBody String body, HttpServletRequest req) {
            String s = who(req);
            SseEmitter emitter = new SseEmitter(20_000L);
            WORKERS.submit(() -> {
                try {
                    relay(emitter);
                    emitter.complete();
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
                written(s);
            });
            return emitter;
        }

        /** The whole stream relayed, then the upstream never closes: the emitter's timeout writes a fallback event. */
        @PostMapping(value = "/sse-timeout-fallback", produces = "text/event-stream")
        public SseEmitter sseTimeoutFallback(@RequestBody String body, HttpServletRequest req) {
            String s = who(req);
            SseEmitter emitter = new SseEmitter(1_000L);
            emitter.onTimeout(() -> {
                try {
                    emitter.send(SseEmitter.event().name("timeout").data("{\"message\":\"the model took too long\"}"));
                } catch (IOException ignored) {
                    // the client has gone
                }
                emitter.complete();
            });
            WORKERS.submit(() -> {
                try {
                    relay(emitter);
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
                written(s);
                stall();
            });
            return emitter;
        }

        /** The same without an onTimeout handler: Spring's own timeout handling. */
        @PostMapping(value = "/sse-timeout", produces = "text/event-stream")
        public SseEmitter sseTimeout(@RequestBody String body, HttpServletRequest req) {
            String s = who(req);
            SseEmitter emitter = new SseEmitter(1_000L);
            WORKERS.submit(() -> {
                try {
                    relay(emitter);
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
                written(s);
                stall();
            });
            return emitter;
        }

        /** The whole stream relayed, then saving the conversation fails: completeWithError. */
        @PostMapping(value = "/sse-error", produces = "text/event-stream")
        public SseEmitter sseError(@RequestBody String body, HttpServletRequest req) {
            String s = who(req);
            SseEmitter emitter = new SseEmitter(20_000L);
            WORKERS.submit(() -> {
                try {
                    relay(emitter);
                    written(s);
                    emitter.completeWithError(new ConversationNotSaved());
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
            });
            return emitter;
        }

        /** An Ollama-style NDJSON relay through a plain ResponseBodyEmitter. */
        @PostMapping(value = "/ndjson", produces = "application/x-ndjson")
        public ResponseBodyEmitter ndjson(@RequestBody String body, HttpServletRequest req) {
            String s = who(req);
            ResponseBodyEmitter emitter = new ResponseBodyEmitter(20_000L);
            WORKERS.submit(() -> {
                try {
                    for (int i = 0; i < 30; i++) {
                        emitter.send("{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"Clause fourteen \"},"
                                + "\"done\":false}\n", MediaType.TEXT_PLAIN);
                    }
                    emitter.send("{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
                            + "\"done_reason\":\"stop\",\"prompt_eval_count\":" + PROMPT + ",\"eval_count\":" + COMPLETION + "}\n",
                            MediaType.TEXT_PLAIN);
                    emitter.complete();
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
                written(s);
            });
            return emitter;
        }

        /** A DeferredResult whose value is an SseEmitter: a second async cycle started in the ASYNC dispatch. */
        @PostMapping(value = "/deferred-sse", produces = "text/event-stream")
        public DeferredResult<SseEmitter> deferredSse(@RequestBody String body, HttpServletRequest req) {
            String s = who(req);
            DeferredResult<SseEmitter> result = new DeferredResult<>(20_000L);
            WORKERS.submit(() -> {
                SseEmitter emitter = new SseEmitter(20_000L);
                result.setResult(emitter);
                try {
                    relay(emitter);
                    emitter.complete();
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
                written(s);
            });
            return result;
        }

        /** Text to speech's shape: the answer as a Resource (Spring serves ranges of it). */
        @PostMapping("/resource")
        public ResponseEntity<Resource> resource(@RequestBody String body, HttpServletRequest req) {
            who(req);
            return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON)
                    .body(new ByteArrayResource(ANSWER.getBytes(StandardCharsets.UTF_8)));
        }

        /** A DeferredResult refused before any model call (the conversation does not exist). */
        @PostMapping("/deferred-missing")
        public DeferredResult<ResponseEntity<String>> deferredMissing(@RequestBody String body, HttpServletRequest req) {
            DeferredResult<ResponseEntity<String>> result = new DeferredResult<>(20_000L);
            WORKERS.submit(() -> result.setResult(ResponseEntity.status(HttpStatus.NOT_FOUND)
                    .contentType(MediaType.APPLICATION_JSON).body("{\"error\":\"no such conversation\"}")));
            return result;
        }

        /** A Callable refused before any model call: the advice answers 400 with a problem. */
        @PostMapping("/callable-invalid")
        public Callable<String> callableInvalid(@RequestBody String body, HttpServletRequest req) {
            return () -> {
                throw new IllegalArgumentException("messages must not be empty");
            };
        }

        /** The whole stream relayed, then an exception no advice handles: the container's error page. */
        @PostMapping(value = "/sse-unhandled", produces = "text/event-stream")
        public SseEmitter sseUnhandled(@RequestBody String body, HttpServletRequest req) {
            String s = who(req);
            SseEmitter emitter = new SseEmitter(20_000L);
            WORKERS.submit(() -> {
                try {
                    relay(emitter);
                    written(s);
                    emitter.completeWithError(new IllegalStateException("the upstream connection was reset"));
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
            });
            return emitter;
        }

        /** A DeferredResult whose model stalls past its timeout: Spring answers 503, the error page renders it. */
        @PostMapping("/deferred-stalls")
        public DeferredResult<String> deferredStalls(@RequestBody String body, HttpServletRequest req) {
            who(req);
            return new DeferredResult<>(500L);
        }

        /** The site's error page, under the dispatcher's protected path (Spring Boot's /error there). */
        @org.springframework.web.bind.annotation.RequestMapping("/error")
        public ResponseEntity<Map<String, Object>> error(HttpServletRequest req) {
            Object status = req.getAttribute("jakarta.servlet.error.status_code");
            int code = status instanceof Integer i ? i : 500;
            return ResponseEntity.status(code).contentType(MediaType.APPLICATION_JSON)
                    .body(Map.of("status", code, "error", "the assistant failed"));
        }

        static void relay(SseEmitter emitter) throws IOException {
            for (int i = 0; i < 30; i++) {
                emitter.send(SseEmitter.event().data(chunk("Clause fourteen says "), MediaType.APPLICATION_JSON));
            }
            emitter.send(SseEmitter.event().data(usageChunk(), MediaType.APPLICATION_JSON));
            emitter.send(SseEmitter.event().data("[DONE]"));
        }
    }

    @RestControllerAdvice
    public static class Problems {
        @ExceptionHandler(ConversationNotSaved.class)
        public ResponseEntity<ProblemDetail> notSaved(ConversationNotSaved e) {
            return ResponseEntity.status(HttpStatus.INTERNAL_SERVER_ERROR)
                    .body(ProblemDetail.forStatusAndDetail(HttpStatus.INTERNAL_SERVER_ERROR, e.getMessage()));
        }

        @ExceptionHandler(IllegalArgumentException.class)
        public ResponseEntity<ProblemDetail> invalid(IllegalArgumentException e) {
            return ResponseEntity.badRequest().body(ProblemDetail.forStatusAndDetail(HttpStatus.BAD_REQUEST, e.getMessage()));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, Assistant.class, Problems.class)
                .errorPage(500, "/ai/spring/error").errorPage(503, "/ai/spring/error");
    }

    @AfterAll
    void release() {
        END.countDown();
    }

    URI uri(String path) {
        return container.uri("/ai/spring" + path);
    }

    HttpResponse<String> call(String path, String s, String... headers) {
        return TestHttp.postJson(uri(path), s, REQUEST, headers);
    }

    /** One raw POST read to its end (an aborted answer included): what the client received. */
    String rawPost(String path, String subject) throws IOException {
        byte[] body = REQUEST.getBytes(StandardCharsets.UTF_8);
        try (java.net.Socket sock = new java.net.Socket("127.0.0.1", container.port())) {
            sock.setSoTimeout(20_000);
            java.io.OutputStream out = sock.getOutputStream();
            out.write(("POST /ai/spring" + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + subject
                    + "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: " + body.length
                    + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
            try {
                sock.getInputStream().transferTo(got);
            } catch (IOException reset) {
                // an aborted answer: what came is what the client got
            }
            return got.toString(StandardCharsets.UTF_8);
        }
    }

    void assertRawChargedUsageOnce(String path) throws InterruptedException, IOException {
        String s = subject();
        String got = rawPost(path, s);
        CountDownLatch w = WRITTEN.get(s);
        if (w != null) {
            assertTrue(w.await(10, TimeUnit.SECONDS));
        }
        QuotaAccount a = chargedAtLeast(s, USAGE);
        String what = kind() + " " + path + ": model calls " + CALLS.of(s) + ", used " + a.used() + ", events " + ledger(s)
                + ", usage sent to the client: " + got.contains("\"total_tokens\":9000") + ", received "
                + got.substring(0, Math.min(300, got.length())) + " ... " + got.substring(Math.max(0, got.length() - 300));
        assertEquals(1, CALLS.of(s), what);
        assertEquals(USAGE, a.used(), "the provider reported 9,000 tokens, charged once: " + what);
    }

    void assertChargedUsageOnce(String path, String... headers) throws InterruptedException {
        String s = subject();
        HttpResponse<String> r = call(path, s, headers);
        CountDownLatch w = WRITTEN.get(s);
        if (w != null) {
            assertTrue(w.await(10, TimeUnit.SECONDS));
        }
        QuotaAccount a = chargedAtLeast(s, USAGE);
        String what = kind() + " " + path + ": status " + r.statusCode() + ", model calls " + CALLS.of(s) + ", used "
                + a.used() + ", events " + ledger(s) + ", body " + r.body().substring(0, Math.min(200, r.body().length()));
        assertEquals(1, CALLS.of(s), what);
        assertEquals(USAGE, a.used(), "the provider reported 9,000 tokens, charged once: " + what);
    }

    void assertFree(String path) {
        String s = subject();
        HttpResponse<String> r = call(path, s);
        QuotaAccount a = settled(s);
        String what = kind() + " " + path + ": status " + r.statusCode() + ", model calls " + CALLS.of(s) + ", used "
                + a.used() + ", events " + ledger(s) + ", body " + r.body();
        assertEquals(0, CALLS.of(s), what);
        assertEquals(0, a.used(), "no model was called: " + what);
    }

    @Test
    void aCallableIsChargedItsUsageOnce() throws InterruptedException {
        assertChargedUsageOnce("/callable");
    }

    @Test
    void aDeferredResultIsChargedItsUsageOnce() throws InterruptedException {
        assertChargedUsageOnce("/deferred");
    }

    @Test
    void aCompletableFutureIsChargedItsUsageOnce() throws InterruptedException {
        assertChargedUsageOnce("/future");
    }

    @Test
    void aWebAsyncTaskIsChargedItsUsageOnce() throws InterruptedException {
        assertChargedUsageOnce("/task");
    }

    @Test
    void aStreamingResponseBodyIsChargedItsUsageOnce() throws InterruptedException {
        assertChargedUsageOnce("/streaming");
    }

    @Test
    void aStreamingResponseBodyWhoseSaveFailsIsChargedItsUsage() throws InterruptedException {
        assertChargedUsageOnce("/streaming-then-fails");
    }

    @Test
    void anSseEmitterIsChargedItsUsageOnce() throws InterruptedException {
        assertChargedUsageOnce("/sse");
    }

    @Test
    void anSseEmitterTimingOutWithAFallbackIsChargedItsUsage() throws InterruptedException, IOException {
        assertRawChargedUsageOnce("/sse-timeout-fallback");
    }

    @Test
    void anSseEmitterTimingOutIsChargedItsUsage() throws InterruptedException {
        assertChargedUsageOnce("/sse-timeout");
    }

    @Test
    void anSseEmitterCompletedWithErrorAfterItsUsageIsChargedIt() throws InterruptedException, IOException {
        assertRawChargedUsageOnce("/sse-error");
    }

    @Test
    void anNdjsonEmitterIsChargedItsUsageOnce() throws InterruptedException {
        assertChargedUsageOnce("/ndjson");
    }

    @Test
    void aDeferredSseEmitterIsChargedItsUsageOnce() throws InterruptedException {
        assertChargedUsageOnce("/deferred-sse");
    }

    @Test
    void aResourceAskedForARangeIsChargedItsUsage() throws InterruptedException {
        assertChargedUsageOnce("/resource", "Range", "bytes=5-");
    }

    @Test
    void anSseEmitterFailingUnhandledAfterItsUsageIsChargedItOnce() throws InterruptedException, IOException {
        assertRawChargedUsageOnce("/sse-unhandled");
    }

    @Test
    void aDeferredResultTimingOutBeforeTheModelAnsweredIsFree() {
        String s = subject();
        HttpResponse<String> r = call("/deferred-stalls", s);
        QuotaAccount a = settled(s);
        assertEquals(0, a.used(), kind() + ": status " + r.statusCode() + " " + r.body() + ", events " + ledger(s));
    }

    @Test
    void aDeferredNotFoundIsFree() {
        assertFree("/deferred-missing");
    }

    @Test
    void aCallableRefusedByTheAdviceIsFree() {
        assertFree("/callable-invalid");
    }
}
