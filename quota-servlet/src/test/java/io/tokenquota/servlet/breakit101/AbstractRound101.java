package io.tokenquota.servlet.breakit101;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Daemons;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.CountingModel;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.net.ConnectException;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/**
 * Round 101 of issue 11: honest users of a Spring MVC host, charged for chat calls whose model was never
 * reached. The provider (or the network to it) refuses the call before any model runs: a rate limit
 * (429), a connection that cannot be opened, a request the provider rejects. A streaming endpoint
 * written with Spring's {@code SseEmitter} has already sent its {@code 200 text/event-stream} headers
 * (Spring flushes them when the handler returns the emitter), so what it can do is end the emitter with
 * the error, pass the provider's error on as an {@code event:error}, or time out; a non-streaming
 * endpoint written with {@code CompletableFuture} relays the provider's status. None of these reached a
 * model, so none may be charged. Controls: the same endpoints when the model answers are charged the
 * provider's usage.
 */
abstract class AbstractRound101 extends ModelCallRound {
    /** Model calls per subject: counted only when the provider accepted the call and a model ran. */
    static final ModelCalls CALLS = new ModelCalls();
    static final ExecutorService UPSTREAM = Daemons.pool("round101-upstream");

    AbstractRound101() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // the provider failed before any output: no model call is counted
        return SpringMvc.behindAi(filter, Chat.class)
                .servlet("responses", CountingModel.answering(new ModelCalls(), "text/event-stream; charset=utf-8",
                        failedResponsesStream()), "/ai/openai/v1/responses");
    }

    // ------------------------------------------------------------------ the application

    /** The provider's refusal as the OpenAI API words a rate limit (HTTP 429 from api.openai.com). */
    static final String RATE_LIMITED = "{\"error\":{\"message\":\"Rate limit reached for gpt-4o-mini in organization "
            + "org-xyz on requests per min (RPM): Limit 500, Used 500, Requested 1.\",\"type\":\"requests\","
            + "\"param\":null,\"code\":\"rate_limit_exceeded\"}}";

    /** Thrown by the application's provider client for a non-2xx answer (as Spring's RestClient does). */
    static final class UpstreamRefused extends RuntimeException {
        final int status;
        final String body;

        UpstreamRefused(int status, String body) {
            super("provider answered " + status);
            this.status = status;
            this.body = body;
        }
    }

    /**
     * The application's provider client: {@code outcome} says what the provider does ({@code ok}: a model
     * answers; {@code 429}: rate limited; {@code connect}: the connection is refused).
     */
    static String[] callProvider(String outcome, String subject) throws IOException {
        switch (outcome) {
            case "429" -> throw new UpstreamRefused(429, RATE_LIMITED);
            case "connect" -> throw new ConnectException("Connection refused: api.openai.com/443");
            default -> {
                CALLS.count(subject);
                return new String[] {"Paris", " is", " the", " capital."};
            }
        }
    }

    static final Map<String, Object> USAGE = Map.of("usage",
            Map.of("prompt_tokens", 200, "completion_tokens", 150, "total_tokens", 350));

    @RestController
    public static class Chat {
        /**
         * A chat stream with {@code SseEmitter}, written as Spring's guides write it: the provider is called
         * on a worker thread, each delta goes out as {@code data:}, the provider's usage as a named JSON
         * event, and any failure ends the emitter with {@code completeWithError}.
         */
        @PostMapping(path = "/stream", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
        public SseEmitter stream(@RequestBody String body, @RequestParam(defaultValue = "ok") String provider,
                                 @RequestParam(defaultValue = "false") boolean keepAlive, HttpServletRequest req) {
            String s = req.getHeader("x-user-id");
            SseEmitter emitter = new SseEmitter(30_000L);
            UPSTREAM.execute(() -> {
                try {
                    if (keepAlive) {
                        // tells the browser the stream is open before the provider is asked
                        emitter.send(SseEmitter.event().comment("connected").reconnectTime(3_000));
                    }
                    for (String word : callProvider(provider, s)) {
                        emitter.send(SseEmitter.event().data(word));
                    }
                    emitter.send(SseEmitter.event().name("usage").data(USAGE, MediaType.APPLICATION_JSON));
                    emitter.complete();
                } catch (IOException | RuntimeException e) {
                    emitter.completeWithError(e);
                }
            });
            return emitter;
        }

        /**
         * The same stream, but a provider's refusal is passed on to the browser as what it is: an
         * {@code event:error} carrying the provider's own error object, then the emitter completes.
         */
        @PostMapping(path = "/stream-with-errors", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
        public SseEmitter streamWithErrors(@RequestBody String body,
                                           @RequestParam(defaultValue = "ok") String provider,
                                           HttpServletRequest req) {
            String s = req.getHeader("x-user-id");
            SseEmitter emitter = new SseEmitter(30_000L);
            UPSTREAM.execute(() -> {
                try {
                    for (String word : callProvider(provider, s)) {
                        emitter.send(SseEmitter.event().data(word));
                    }
                    emitter.send(SseEmitter.event().name("usage").data(USAGE, MediaType.APPLICATION_JSON));
                    emitter.complete();
                } catch (UpstreamRefused e) {
                    try {
                        emitter.send(SseEmitter.event().name("error").data(e.body, MediaType.APPLICATION_JSON));
                        emitter.complete();
                    } catch (IOException io) {
                        emitter.completeWithError(io);
                    }
                } catch (IOException | RuntimeException e) {
                    emitter.completeWithError(e);
                }
            });
            return emitter;
        }

        /**
         * A stream whose provider never answers in time (a queue at the provider, a hung connection): the
         * emitter's own timeout ({@code ?timeout=} ms) fires before any event.
         */
        @PostMapping(path = "/stream-slow", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
        public SseEmitter slow(@RequestBody String body, @RequestParam long timeout) {
            return new SseEmitter(timeout);
        }

        /**
         * A non-streaming relay on {@code CompletableFuture}: the provider's JSON answer, or its refusal
         * passed on with its status.
         */
        @PostMapping(path = "/chat", produces = MediaType.APPLICATION_JSON_VALUE)
        public CompletableFuture<ResponseEntity<String>> chat(@RequestBody String body,
                                                              @RequestParam(defaultValue = "ok") String provider,
                                                              HttpServletRequest req) {
            String s = req.getHeader("x-user-id");
            return CompletableFuture.supplyAsync(() -> {
                try {
                    String text = String.join("", callProvider(provider, s));
                    return ResponseEntity.ok("{\"id\":\"chatcmpl-101\",\"object\":\"chat.completion\",\"model\":"
                            + "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\""
                            + text + "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":200,"
                            + "\"completion_tokens\":150,\"total_tokens\":350}}");
                } catch (UpstreamRefused e) {
                    return ResponseEntity.status(e.status).contentType(MediaType.APPLICATION_JSON).body(e.body);
                } catch (IOException e) {
                    return ResponseEntity.status(502).contentType(MediaType.APPLICATION_JSON)
                            .body("{\"error\":{\"message\":\"provider unreachable\"}}");
                }
            }, UPSTREAM);
        }
    }

    /**
     * OpenAI's Responses stream for a call the provider failed before any output: {@code response.created},
     * {@code response.in_progress}, then {@code response.failed} (a server error at the provider, no
     * usage).
     */
    static String[] failedResponsesStream() {
        String r = "{\"id\":\"resp_101\",\"object\":\"response\",\"created_at\":1764720000,\"status\":\"%s\","
                + "\"error\":%s,\"incomplete_details\":null,\"model\":\"gpt-4.1-mini\",\"output\":[],\"usage\":null}";
        return new String[] {
            "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,"
                    + "\"response\":" + String.format(r, "in_progress", "null") + "}\n\n",
            "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,"
                    + "\"response\":" + String.format(r, "in_progress", "null") + "}\n\n",
            "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":2,"
                    + "\"response\":" + String.format(r, "failed",
                    "{\"code\":\"server_error\",\"message\":\"The model failed to generate a response.\"}") + "}\n\n"};
    }

    // ------------------------------------------------------------------ helpers

    /** A chat call allowing up to 4,000 output tokens: the estimate holds them. */
    static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":4000,\"stream\":true,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}";

    /**
     * Posts the chat call to {@code path} as a new user; asserts the status (any when {@code status} is
     * 0: Spring answers 500 or 503 for an emitter that ended before it sent anything) and what was charged.
     */
    void assertCharged(String path, String accept, int status, int modelCalls, long used, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT, "Accept", accept);
        assertCharged(s, r, status > 0 ? status : r.statusCode(), modelCalls, used, what);
    }

    // ------------------------------------------------------------------ 1. SseEmitter, completeWithError

    /** Control: the {@code SseEmitter} stream whose model answered is charged the provider's 350. */
    @Test
    void controlAnEmitterStreamIsChargedItsUsage() {
        assertCharged("/ai/spring/stream", "text/event-stream", 200, 1, 350, "the usage event said 350");
    }

    /**
     * Charged for nothing: the provider rate-limits the call (429, no model ran) and the handler ends its
     * {@code SseEmitter} with {@code completeWithError}, having sent no event. The client got Spring's
     * empty {@code 200 text/event-stream}; nothing was written; the hold must be released.
     */
    @Test
    void anEmitterEndedWithTheProvidersRateLimitIsFree() {
        assertCharged("/ai/spring/stream?provider=429", "text/event-stream", 0, 0, 0,
                "the provider refused before any model ran");
    }

    /**
     * Charged for nothing: the provider cannot be reached ({@code ConnectException}, an
     * {@code IOException}); the handler ends its {@code SseEmitter} with {@code completeWithError} before
     * any event. No model ran.
     */
    @Test
    void anEmitterEndedWithAConnectionFailureIsFree() {
        assertCharged("/ai/spring/stream?provider=connect", "text/event-stream", 0, 0, 0,
                "the provider was never reached");
    }

    /**
     * Charged for nothing: the stream first sends a comment and a reconnection time
     * ({@code :connected\nretry:3000\n\n}, flushed: the browser sees the stream open), then the provider
     * rate-limits the call and the emitter ends with {@code completeWithError}. The 200 was sent; no
     * event was dispatched and no model ran.
     */
    @Test
    void anEmitterThatOpenedWithAPreambleAndEndedWithTheProvidersRateLimitIsFree() {
        String s = subject();
        String outcome;
        try {
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/spring/stream?provider=429&keepAlive=true"), s,
                    CHAT, "Accept", "text/event-stream");
            outcome = "status " + r.statusCode() + ", answer " + r.body().replace("\n", "\\n");
        } catch (java.io.UncheckedIOException e) {
            // the container cuts a committed stream whose dispatch threw: the client sees it end early
            outcome = "stream cut: " + e.getCause();
        }
        QuotaAccount a = settled(s);
        String figures = kind() + ": " + outcome + ", model calls " + calls.of(s) + ", used " + a.used() + " ("
                + ledger(s) + ")";
        assertEquals(0, calls.of(s), figures);
        assertEquals(0, a.used(), "the provider refused before any model ran: " + figures);
    }

    /** Control: the preamble stream whose model answered is charged the provider's 350. */
    @Test
    void controlAPreambleStreamIsChargedItsUsage() {
        assertCharged("/ai/spring/stream?keepAlive=true", "text/event-stream", 200, 1, 350, "the usage event said 350");
    }

    // ------------------------------------------------------------------ 2. SseEmitter, the provider's error event

    /** Control: the error-relaying stream whose model answered is charged the provider's 350. */
    @Test
    void controlAnErrorRelayingStreamIsChargedItsUsage() {
        assertCharged("/ai/spring/stream-with-errors", "text/event-stream", 200, 1, 350, "the usage event said 350");
    }

    /**
     * Charged for nothing: the provider's 429 is passed on as {@code event:error} with the provider's own
     * error object (the only event of the stream, named by the server), then the emitter completes.
     */
    @Test
    void aStreamWhoseOnlyEventIsTheProvidersRateLimitErrorIsFree() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/spring/stream-with-errors?provider=429"), s, CHAT,
                "Accept", "text/event-stream");
        QuotaAccount a = assertAnswered(s, r, 200, 0);
        assertTrue(r.body().startsWith("event:error\ndata:{\"error\""), figures(s, r, a));
        assertEquals(0, a.used(), "the provider refused before any model ran: " + figures(s, r, a));
    }

    // ------------------------------------------------------------------ 3. SseEmitter, timeout before the provider answered

    /**
     * Charged for nothing: the provider never answers within the emitter's 300 ms timeout (a hung
     * connection); no event was sent. Spring ends the request on the timeout with nothing written.
     */
    @Test
    void anEmitterTimingOutBeforeAnyEventIsFree() {
        assertCharged("/ai/spring/stream-slow?timeout=300", "text/event-stream", 0, 0, 0,
                "nothing was answered before the timeout");
    }

    // ------------------------------------------------------------------ 4. CompletableFuture relay

    /** Control: the async JSON relay whose model answered is charged the provider's 350. */
    @Test
    void controlAnAsyncRelayIsChargedItsUsage() {
        assertCharged("/ai/spring/chat", "application/json", 200, 1, 350, "usage said 350");
    }

    /** Charged for nothing: the async relay passes the provider's 429 on, status and body. */
    @Test
    void anAsyncRelayPassingOnTheProvidersRateLimitIsFree() {
        assertCharged("/ai/spring/chat?provider=429", "application/json", 429, 0, 0,
                "the provider refused before any model ran");
    }

    /** Charged for nothing: the async relay answers 502 for a provider it could not reach. */
    @Test
    void anAsyncRelayThatCouldNotReachTheProviderIsFree() {
        assertCharged("/ai/spring/chat?provider=connect", "application/json", 502, 0, 0,
                "the provider was never reached");
    }

    // ------------------------------------------------------------------ 5. Responses stream failed at the provider

    /**
     * Charged for nothing: OpenAI's Responses stream that failed at the provider before any output
     * ({@code response.created}, {@code response.in_progress}, {@code response.failed}, no usage).
     */
    @Test
    void aResponsesStreamThatFailedBeforeAnyOutputIsFree() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/openai/v1/responses"), s,
                "{\"model\":\"gpt-4.1-mini\",\"max_output_tokens\":4000,\"stream\":true,\"input\":\"What is the capital of France?\"}",
                "Accept", "text/event-stream");
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(0, a.used(), "the provider failed before any output: " + figures(s, r, a));
    }
}
