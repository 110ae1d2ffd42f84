package io.tokenquota.servlet.breakit416;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;

/**
 * Round 416 of issue 11 (a Spring Boot round): a Spring MVC relay whose async answers
 * ({@code ResponseEntity<StreamingResponseBody>}, {@code SseEmitter}) wrote the model's answer with its usage
 * and then failed (an audit write, a moderation pass), the failure turned into a 502 {@code ProblemDetail} by
 * the application's {@code @RestControllerAdvice}. Settlement: "usage seen → charge it".
 *
 * <p>Shapes: OpenAI API reference, "The chat completion object" ({@code choices[].message}, {@code usage}) and
 * "The chat completion chunk object" (with {@code stream_options.include_usage} a last chunk with empty
 * {@code choices} and {@code usage}, then {@code data: [DONE]}). Spring Framework reference, "Asynchronous
 * Requests" ({@code StreamingResponseBody}, {@code SseEmitter#completeWithError}: "the exception goes through
 * the normal exception handling of Spring MVC"), "Error Responses" ({@code ProblemDetail} from an
 * {@code @ExceptionHandler} in a {@code @RestControllerAdvice}); {@code DispatcherServlet.processHandlerException}
 * resets an uncommitted response's buffer before the handler's error body is written.
 */
abstract class AbstractRound416 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long IN = 1_400;
    static final long OUT = 2_600;
    static final long USAGE = IN + OUT;
    static final String ASK = "{\"model\":\"gpt-4o\",\"max_tokens\":3000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise the supplier contract.\"}],\"stream_options\":{\"include_usage\":true}}";
    static final String ANSWER = ChatCompletions.completion("chatcmpl-416", "gpt-4o-2024-08-06",
            "Clause seven lets the supplier charge interest on late invoices.", IN, OUT);

    AbstractRound416() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behindAi(filter, Relay.class, Advice.class);
    }

    /** Thrown after the answer went out to the relay's response: an audit log or moderation failure. */
    static final class AuditFailed extends RuntimeException {
        AuditFailed() {
            super("audit log unavailable");
        }
    }

    @RestControllerAdvice
    public static class Advice {
        @ExceptionHandler(AuditFailed.class)
        public ResponseEntity<ProblemDetail> failed(AuditFailed e) {
            return ResponseEntity.status(HttpStatus.BAD_GATEWAY)
                    .body(ProblemDetail.forStatusAndDetail(HttpStatus.BAD_GATEWAY, e.getMessage()));
        }
    }

    @RestController
    public static class Relay {
        /** The completion relayed as a {@code StreamingResponseBody}; {@code throw} then fails after writing it. */
        @PostMapping(path = "/ai/streaming/{mode}")
        public ResponseEntity<StreamingResponseBody> streaming(@PathVariable("mode") String mode,
                                                               @RequestHeader("x-user-id") String user) {
            StreamingResponseBody body = out -> {
                CALLS.count(user);
                out.write(ANSWER.getBytes(StandardCharsets.UTF_8));
                if (mode.equals("throw")) {
                    throw new AuditFailed();
                }
            };
            return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(body);
        }

        /** The completion relayed as a flushed {@code StreamingResponseBody}; {@code throw} then fails. */
        @PostMapping(path = "/ai/flushed/{mode}")
        public ResponseEntity<StreamingResponseBody> flushed(@PathVariable("mode") String mode,
                                                             @RequestHeader("x-user-id") String user) {
            StreamingResponseBody body = out -> {
                CALLS.count(user);
                out.write(ANSWER.getBytes(StandardCharsets.UTF_8));
                out.flush();
                if (mode.equals("throw")) {
                    throw new AuditFailed();
                }
            };
            return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(body);
        }

        /** The chat stream relayed through an {@code SseEmitter}; {@code throw} completes it with an error after the usage chunk. */
        @PostMapping(path = "/ai/sse/{mode}")
        public SseEmitter sse(@PathVariable("mode") String mode, @RequestHeader("x-user-id") String user) {
            SseEmitter emitter = new SseEmitter(30_000L);
            Thread worker = new Thread(() -> {
                try {
                    CALLS.count(user);
                    emitter.send(SseEmitter.event().data(ChatCompletions.chunkHead("chatcmpl-416s")
                            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Clause seven \"}}]}"));
                    emitter.send(SseEmitter.event().data(ChatCompletions.chunkHead("chatcmpl-416s")
                            + "\"choices\":[]," + ChatCompletions.usage(IN, OUT) + "}"));
                    if (mode.equals("throw")) {
                        emitter.completeWithError(new AuditFailed());
                    } else {
                        emitter.send(SseEmitter.event().data("[DONE]"));
                        emitter.complete();
                    }
                } catch (IOException e) {
                    emitter.completeWithError(e);
                }
            });
            worker.setDaemon(true);
            worker.start();
            return emitter;
        }
    }

    HttpResponse<String> post(String path, String s) {
        try {
            return TestHttp.postJson(container.uri(SpringMvc.MAPPING.replace("/*", "") + path), s, ASK);
        } catch (UncheckedIOException aborted) {
            return null;
        }
    }

    void assertChargedUsage(String path, String what) {
        String s = subject();
        HttpResponse<String> r = post(path, s);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(1, calls.of(s), kind() + ": " + what + ": model calls; " + figures(s, r, a)),
                () -> assertEquals(USAGE, a.used(), kind() + ": " + what + ": the model answered " + USAGE
                        + " tokens by its usage; " + figures(s, r, a)),
                () -> assertEquals(0, a.reserved(), figures(s, r, a)));
    }

    @Test
    void controlStreamingResponseBodyIsChargedItsUsage() {
        assertChargedUsage("/ai/streaming/whole", "StreamingResponseBody completion");
    }

    /** The completion in the buffer, then the advice's 502 ProblemDetail (Spring reset the buffer). */
    @Test
    void streamingResponseBodyThatFailsAfterItsCompletionIsChargedItsUsage() {
        assertChargedUsage("/ai/streaming/throw", "StreamingResponseBody completion, then 502 ProblemDetail");
    }

    @Test
    void controlFlushedStreamingResponseBodyIsChargedItsUsage() {
        assertChargedUsage("/ai/flushed/whole", "flushed StreamingResponseBody completion");
    }

    @Test
    void flushedStreamingResponseBodyThatFailsAfterItsCompletionIsChargedItsUsage() {
        assertChargedUsage("/ai/flushed/throw", "flushed StreamingResponseBody completion, then an exception");
    }

    @Test
    void controlSseEmitterIsChargedItsUsage() {
        assertChargedUsage("/ai/sse/whole", "SseEmitter stream with usage");
    }

    @Test
    void sseEmitterCompletedWithErrorAfterItsUsageIsChargedItsUsage() {
        assertChargedUsage("/ai/sse/throw", "SseEmitter stream with usage, then completeWithError");
    }
}
