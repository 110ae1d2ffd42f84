package io.tokenquota.servlet.breakit275;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringChatRound;
import io.tokenquota.servlet.testing.SpringMvc;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.function.RouterFunction;
import org.springframework.web.servlet.function.ServerResponse;

/**
 * Round 275 of issue 11, item 6: a 4xx must never be charged when the model was not called.
 *
 * <p>A Spring MVC chat endpoint (the application's own, as a Spring Boot service writes it) streams its
 * answer to a browser, and refuses a request it will not send to the model before any model call, with
 * the provider's own error object as a typed body ({@code ResponseEntity.badRequest().body(Map)}): a
 * {@code max_tokens} above what the model supports ({@code invalid_request_error}, {@code invalid_value},
 * OpenAI's error for it), or the provider's 429 ({@code rate_limit_exceeded}) that the relay met and
 * passes on. The browser client is {@code @microsoft/fetch-event-source} ({@code fetchEventSource},
 * github.com/Azure/fetch-event-source, {@code src/fetch.ts}), the usual way to POST a chat and read its
 * events in a browser: it sends {@code Accept: text/event-stream} unless told otherwise
 * ({@code if (!headers.accept) headers.accept = EventStreamContentType}), and by default retries every
 * second after any error, a non-event-stream answer included.
 *
 * <p>Spring writes the handler's {@code ResponseEntity} body with its message converters for the
 * client's {@code Accept}; no converter writes a {@code Map} as {@code text/event-stream}, so
 * {@code AbstractMessageConverterMethodProcessor.writeWithMessageConverters} throws
 * {@code HttpMediaTypeNotAcceptableException} and the {@code DefaultHandlerExceptionResolver} answers
 * 406 in place of the handler's 400 or 429. The filter charges a 406 its estimate whenever Spring's
 * handler mapping matched a handler (docs/decisions.md, "A 406 Not Acceptable": it takes every such 406
 * for one after the model answered), so the refusal of a call that never reached a model costs its
 * whole hold (8,008 tokens of a 20,000 allowance here) at each of the client's retries, and a client
 * that accepts {@code text/plain} meets the same. Controls: a body of {@code ProblemDetail} falls back to
 * {@code application/problem+json} (400, released); the same refusal to a client that accepts JSON (400,
 * released); the same refusal from a functional route ({@code ServerResponse.badRequest().body(Map)}),
 * not charged; the call the endpoint does make, charged exactly its streamed usage.
 */
abstract class AbstractRound275 extends SpringChatRound {
    static final ModelCalls CALLS = new ModelCalls();

    AbstractRound275() {
        super(CALLS);
    }

    /** The application's chat endpoint ({@link ChatEndpoint}), and a control beside it. */
    @RestController
    public static class Chat extends ChatEndpoint {
        public Chat() {
            super(CALLS, "275");
        }

        /** Control: the same refusal as an RFC 9457 problem. */
        @PostMapping({"/v1/problem/chat/completions", "/ai/spring/v1/problem/chat/completions"})
        public ResponseEntity<ProblemDetail> problem(@RequestBody String body) throws java.io.IOException {
            long asked = JSON.readTree(body).path("max_tokens").asLong(0);
            return ResponseEntity.badRequest().body(ProblemDetail.forStatusAndDetail(HttpStatus.BAD_REQUEST,
                    "max_tokens is too large: " + asked));
        }
    }

    /** The same refusal written as a functional route ({@code RouterFunctions.route}). */
    @org.springframework.context.annotation.Configuration
    public static class Routes {
        @org.springframework.context.annotation.Bean
        public RouterFunction<ServerResponse> routedChat() {
            return SpringMvc.pathRoute("/v1/routed/chat/completions", request -> {
                long asked = JSON.readTree(request.body(String.class)).path("max_tokens").asLong(0);
                if (asked > 4_096) {
                    return ServerResponse.badRequest().body(tooLarge(asked));
                }
                CALLS.count(request.headers().firstHeader("x-user-id"));
                return ServerResponse.ok().contentType(MediaType.TEXT_EVENT_STREAM).body(stream("275"));
            });
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, Chat.class, Routes.class);
    }

    /**
     * The attack surface, met by an honest client: fetchEventSource's default {@code Accept} on a request
     * the endpoint refuses before calling the model (a budget above the model's).
     */
    @Test
    void aRefusalOfABudgetToAnEventStreamClientIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/v1/chat/completions", s, ASK_TOO_MUCH, "Accept", "text/event-stream");
        assertNothingCharged(s, r, "400 invalid_request_error to Accept: text/event-stream");
    }

    /** The issue's own example: the provider's 429 passed on by a Spring app, to the same client. */
    @Test
    void aRelayedUpstream429ToAnEventStreamClientIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/v1/chat/completions", s, ASK, "Accept", "text/event-stream", "x-upstream", "429");
        assertNothingCharged(s, r, "upstream 429 rate_limit_exceeded to Accept: text/event-stream");
    }

    /** The client retries as fetchEventSource does by default: each refusal costs its hold again. */
    @Test
    void retriedRefusalsDoNotDrainTheAllowance() {
        String s = subject();
        HttpResponse<String> r = null;
        for (int i = 0; i < 3; i++) {
            r = post("/v1/chat/completions", s, ASK_TOO_MUCH, "Accept", "text/event-stream");
        }
        assertNothingCharged(s, r, "three refusals (fetchEventSource retrying)");
    }

    /** The same refusal to a client that accepts plain text (a CLI reading the answer as text). */
    @Test
    void aRefusalOfABudgetToAPlainTextClientIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/v1/chat/completions", s, ASK_TOO_MUCH, "Accept", "text/plain");
        assertNothingCharged(s, r, "400 invalid_request_error to Accept: text/plain");
    }

    /** Control: the same refusal from a functional route, to the event-stream client, is not charged. */
    @Test
    void controlAFunctionalRoutesRefusalIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/v1/routed/chat/completions", s, ASK_TOO_MUCH, "Accept", "text/event-stream");
        assertNothingCharged(s, r, "functional route's 400 to Accept: text/event-stream");
    }

    /** Controls: the refusal to a JSON client (400), and as a ProblemDetail to the event-stream client (400). */
    @ParameterizedTest
    @ValueSource(strings = {"/v1/chat/completions|application/json", "/v1/problem/chat/completions|text/event-stream"})
    void controlsRefusalsAnswered400AreNotCharged(String pathAndAccept) {
        String[] p = pathAndAccept.split("\\|");
        String s = subject();
        HttpResponse<String> r = post(p[0], s, ASK_TOO_MUCH, "Accept", p[1]);
        assertEquals(400, r.statusCode(), r.body());
        assertNothingCharged(s, r, p[0] + " with Accept: " + p[1]);
    }

    /** Control: the call the endpoint does make, streamed with its usage, is charged exactly that usage. */
    @Test
    void controlAStreamedCallIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = post("/v1/chat/completions", s, ASK, "Accept", "text/event-stream");
        assertCharged(s, r, 200, 1, USAGE, "the streamed call's usage");
    }
}
