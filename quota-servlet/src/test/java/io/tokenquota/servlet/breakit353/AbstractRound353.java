package io.tokenquota.servlet.breakit353;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ControllerAdvice;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.ResponseEntityExceptionHandler;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Round 353 of issue 11, item 6 and the settlement of answers that are not 2xx, as Spring MVC produces
 * them with RFC 9457 problem details switched on.
 *
 * <p>Round 275 found that Spring's 406 in place of a handler's refusal (a {@code ResponseEntity} of 400,
 * or a relayed upstream 429, whose {@code Map} body no converter writes as the {@code text/event-stream}
 * the client accepts) was charged; the fix ({@code QuotaResponse.refusalBehindError}) recognises the
 * refusal behind the 406 by the {@code sendError(406)} that Spring's {@code DefaultHandlerExceptionResolver}
 * answers with. A Spring Boot application with {@code spring.mvc.problemdetails.enabled=true} (Spring
 * Boot's reference, "Error Handling": "Spring MVC can also be configured to return RFC 9457 problem
 * details") has Boot register {@code ProblemDetailsExceptionHandler}, which is exactly
 * {@code @ControllerAdvice class ProblemDetailsExceptionHandler extends ResponseEntityExceptionHandler {}}
 * (spring-boot-webmvc 4.0.7, {@code org.springframework.boot.webmvc.autoconfigure}; registered by
 * {@code WebMvcAutoConfiguration.ProblemDetailsErrorHandlingConfiguration}); so does any application with
 * its own {@code @ControllerAdvice} extending {@code ResponseEntityExceptionHandler}, as Spring's reference
 * ("Error Responses") recommends. That advice handles the {@code HttpMediaTypeNotAcceptableException}
 * itself ({@code handleHttpMediaTypeNotAcceptable}) and answers it as a {@code ResponseEntity} of 406 with
 * an {@code application/problem+json} body: {@code setStatus(406)}, no {@code sendError}. The handler's
 * refusal behind it is then not seen, and the 406 is taken for one after the model answered.
 *
 * <p>The endpoint is round 275's (OpenAI's own error objects, a browser client using
 * {@code @microsoft/fetch-event-source}, which sends {@code Accept: text/event-stream} by default), the
 * only difference being the problem-details advice Boot registers.
 */
abstract class AbstractRound353 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long USAGE = 3_700;
    static final ObjectMapper JSON = new ObjectMapper();

    AbstractRound353() {
        super(CALLS);
    }

    /** OpenAI's error for a budget above the model's (HTTP 400, {@code invalid_request_error}). */
    static Map<String, Object> tooLarge(long asked) {
        return error("max_tokens is too large: " + asked + ". This model supports at most 4096 completion tokens, whereas"
                + " you provided " + asked + ".", "invalid_request_error", "max_tokens", "invalid_value");
    }

    /**
     * OpenAI's rate-limit error (HTTP 429; platform.openai.com/docs/guides/error-codes, "429 - Rate limit
     * reached for requests"), as the relay's provider answered it: no model ran.
     */
    static Map<String, Object> rateLimited() {
        return error("Rate limit reached for gpt-4o in organization org-353 on tokens per min (TPM): Limit 30000, Used"
                + " 29000, Requested 8005. Please try again in 14s. Visit https://platform.openai.com/account/rate-limits"
                + " to learn more.", "tokens", null, "rate_limit_exceeded");
    }

    static Map<String, Object> error(String message, String type, String param, String code) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("message", message);
        e.put("type", type);
        e.put("param", param);
        e.put("code", code);
        return Map.of("error", e);
    }

    /** The model's answer as Chat Completions chunks with {@code stream_options.include_usage}'s usage chunk. */
    static String stream() {
        String chunk = "data: {\"id\":\"chatcmpl-353\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\","
                + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Clause fourteen limits liability. \"},\"finish_reason\":null}]}\n\n";
        return chunk.repeat(20)
                + "data: {\"id\":\"chatcmpl-353\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\","
                + "\"choices\":[],\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":2500,\"total_tokens\":" + USAGE + "}}\n\n"
                + "data: [DONE]\n\n";
    }

    /**
     * The application's chat endpoint (round 275's): refuses before the model call (a budget above 4,096;
     * the relay's provider rate-limited, {@code x-upstream: 429}), else calls the model and relays its stream.
     */
    @RestController
    public static class Chat {
        @PostMapping({"/v1/chat/completions", "/ai/spring/v1/chat/completions"})
        public ResponseEntity<?> chat(@RequestBody String body, @RequestHeader("x-user-id") String user,
                                      @RequestHeader(name = "x-upstream", required = false) String upstream)
                throws java.io.IOException {
            JsonNode request = JSON.readTree(body);
            long asked = request.path("max_tokens").asLong(0);
            if (asked > 4_096) {
                return ResponseEntity.badRequest().body(tooLarge(asked));
            }
            if ("429".equals(upstream)) {
                // the provider refused the call: nothing ran, the relay passes its answer on
                return ResponseEntity.status(HttpStatus.TOO_MANY_REQUESTS).header("Retry-After", "14").body(rateLimited());
            }
            CALLS.count(user);
            return ResponseEntity.ok().contentType(MediaType.TEXT_EVENT_STREAM).body(stream());
        }
    }

    /**
     * What Spring Boot registers for {@code spring.mvc.problemdetails.enabled=true}: spring-boot-webmvc
     * 4.0.7's {@code ProblemDetailsExceptionHandler}, an empty {@code @ControllerAdvice} subclass of
     * Spring's {@code ResponseEntityExceptionHandler}.
     */
    @ControllerAdvice
    public static class ProblemDetailsExceptionHandler extends ResponseEntityExceptionHandler {
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, Chat.class, ProblemDetailsExceptionHandler.class);
    }

    static final String ASK_TOO_MUCH = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"max_tokens\":8000,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the contract.\"}]}";
    static final String ASK = ASK_TOO_MUCH.replace("8000", "4000");

    HttpResponse<String> post(String path, String s, String body, String... headers) {
        return TestHttp.postJson(container.uri("/ai/spring" + path), s, body, headers);
    }

    /** The call was refused before any model call: whatever status the client got, nothing is charged. */
    void assertNothingCharged(String s, HttpResponse<String> r, String what) {
        QuotaAccount a = settled(s);
        assertEquals(0, calls.of(s), "the model was never called: " + figures(s, r, a));
        assertEquals(0, a.used(), what + ": refused before any model call, answered " + r.statusCode()
                + ", charged " + a.used() + ": " + figures(s, r, a));
    }

    /** Finding: the provider's 429 passed on by the Spring app to fetchEventSource's default Accept. */
    @Test
    void aRelayedUpstream429ToAnEventStreamClientUnderProblemDetailsIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/v1/chat/completions", s, ASK, "Accept", "text/event-stream", "x-upstream", "429");
        assertNothingCharged(s, r, "upstream 429 rate_limit_exceeded to Accept: text/event-stream, problem details on");
    }

    /** Finding: the application's own 400 before the model call, to the same client. */
    @Test
    void aRefusalOfABudgetToAnEventStreamClientUnderProblemDetailsIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/v1/chat/completions", s, ASK_TOO_MUCH, "Accept", "text/event-stream");
        assertNothingCharged(s, r, "400 invalid_request_error to Accept: text/event-stream, problem details on");
    }

    /** Control: the same relayed 429 to a client that accepts JSON (answered 429) is not charged. */
    @Test
    void controlARelayedUpstream429ToAJsonClientIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/v1/chat/completions", s, ASK, "Accept", "application/json", "x-upstream", "429");
        assertEquals(429, r.statusCode(), r.body());
        assertNothingCharged(s, r, "upstream 429 to Accept: application/json");
    }

    /** Control: the call the endpoint does make, to the event-stream client, is charged exactly its usage. */
    @Test
    void controlAStreamedCallIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = post("/v1/chat/completions", s, ASK, "Accept", "text/event-stream");
        assertCharged(s, r, 200, 1, USAGE, "the streamed call's usage");
    }
}
