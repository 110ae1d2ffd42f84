package io.tokenquota.servlet.breakit353;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringChatRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ControllerAdvice;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.ResponseEntityExceptionHandler;

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
 *
 * <p>Second, 4xx answers relayed as they came that do not mean the model was not called ({@link Relay}):
 * Anthropic's 400 "Output blocked by content filtering policy" (the model wrote output that the filter
 * then blocked) is released under the default configuration; and on a filter built with
 * {@code releaseOnError(false)} a LiteLLM proxy's 408 timeout is released while the same timeout as a 504
 * is charged. Controls: Anthropic's 529 and 429 released, its message charged its usage, the 504 charged.
 */
abstract class AbstractRound353 extends SpringChatRound {
    static final ModelCalls CALLS = new ModelCalls();

    AbstractRound353() {
        super(CALLS);
    }

    /** The application's chat endpoint, round 275's ({@link ChatEndpoint}). */
    @RestController
    public static class Chat extends ChatEndpoint {
        public Chat() {
            super(CALLS, "353");
        }
    }


    /**
     * A relay of Anthropic's Messages API (and, behind {@code /strict/}, of a LiteLLM proxy), passing the
     * upstream's status and JSON body on as a {@code ResponseEntity<String>}, as a Spring gateway does.
     * {@code x-upstream} says what the upstream answered:
     * <ul>
     *   <li>{@code blocked}: Anthropic's {@code 400 invalid_request_error} "Output blocked by content filtering
     *       policy", in its error shape ({@code {"type":"error","error":{"type","message"},"request_id"}},
     *       docs.anthropic.com "Errors"; the message as the API sends it, quoted in
     *       anthropics/claude-code issues 6195, 18542, 30485, 58367: "API Error: 400 {...}"). Anthropic's
     *       support article ("Why am I receiving an output blocked by content filtering policy error?")
     *       explains it as a block of what the model was writing, to keep it from reproducing existing
     *       material: the model ran and wrote output before the filter stopped it, so this counts as a model call;</li>
     *   <li>{@code overloaded}: Anthropic's {@code 529 overloaded_error} (same page): no model ran;</li>
     *   <li>{@code rate}: Anthropic's {@code 429 rate_limit_error}: no model ran;</li>
     *   <li>{@code timeout}: LiteLLM proxy's {@code 408} for {@code litellm.Timeout} (BerriAI/litellm,
     *       docs/my-website/docs/exception_mapping.md: "408 | Timeout | openai.APITimeoutError | Raised when
     *       a timeout occurs"; body as its {@code ProxyException.to_dict}: message, type, param, code): the
     *       provider's call was made and ran past the proxy's timeout, a model call;</li>
     *   <li>{@code gateway}: the same timeout answered {@code 504} by a gateway: a model call;</li>
     *   <li>otherwise the model's message with its usage (200).</li>
     * </ul>
     */
    @RestController
    public static class Relay {
        @PostMapping({"/v1/messages", "/ai/spring/v1/messages", "/strict/spring/v1/messages"})
        public ResponseEntity<String> messages(@RequestBody String body, @RequestHeader("x-user-id") String user,
                                               @RequestHeader(name = "x-upstream", required = false) String upstream) {
            String u = upstream == null ? "" : upstream;
            switch (u) {
                case "blocked" -> {
                    CALLS.count(user);
                    return json(400, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
                            + "\"message\":\"Output blocked by content filtering policy\"},"
                            + "\"request_id\":\"req_011CaxpBxEpLvE6AvvuDD353\"}");
                }
                case "overloaded" -> {
                    return json(529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                            + "\"message\":\"Overloaded\"},\"request_id\":\"req_011CaxpBxEpLvE6AvvuDE353\"}");
                }
                case "rate" -> {
                    return json(429, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
                            + "\"message\":\"This request would exceed your account's rate limit. Please try again later.\"},"
                            + "\"request_id\":\"req_011CaxpBxEpLvE6AvvuDF353\"}");
                }
                case "timeout", "gateway" -> {
                    CALLS.count(user);
                    return json("timeout".equals(u) ? 408 : 504, "{\"error\":{\"message\":\"litellm.Timeout: Connection timed"
                            + " out after 600.0 seconds.\",\"type\":\"None\",\"param\":\"None\",\"code\":\"408\"}}");
                }
                default -> {
                    CALLS.count(user);
                    return json(200, "{\"id\":\"msg_01353\",\"type\":\"message\",\"role\":\"assistant\","
                            + "\"model\":\"claude-sonnet-4-5\",\"content\":[{\"type\":\"text\",\"text\":\"Here are the"
                            + " lyrics you asked for.\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
                            + "\"usage\":{\"input_tokens\":1200,\"output_tokens\":2500}}");
                }
            }
        }

        static ResponseEntity<String> json(int status, String body) {
            return ResponseEntity.status(status).contentType(MediaType.APPLICATION_JSON).body(body);
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
        // a second filter on the same store, built as a host that charges calls that may have run
        // (releaseOnError(false), Spring Boot: quota.filter.release-on-error=false), before a second dispatcher
        QuotaFilter strict = filterFor("/strict/").releaseOnError(false).build();
        return SpringMvc.behind(filter, Chat.class, Relay.class, ProblemDetailsExceptionHandler.class)
                .filter("strict", strict, "/strict/*")
                .servlet("strict-spring", SpringMvc.dispatcher(Relay.class), "/strict/spring/*");
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

    /** An Anthropic Messages request: 1,200 tokens of input by the provider's count, a 4,000-token budget. */
    static final String MESSAGES = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":4000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write out the full lyrics of the song we discussed.\"}]}";

    HttpResponse<String> relay(String prefix, String s, String upstream) {
        return TestHttp.postJson(container.uri(prefix + "/v1/messages"), s, MESSAGES, "x-upstream", upstream,
                "anthropic-version", "2023-06-01");
    }

    /**
     * Finding: Anthropic's 400 "Output blocked by content filtering policy" is a refusal of the model's
     * output, after the model ran; relayed as it came (no usage in an error body), it is released as a
     * call that never reached a model. It should be charged as any call that reached the model without
     * usage: the estimate, what the same request answered 200 without usage pays (the hold, 4,015).
     */
    @Test
    void anAnthropicOutputBlockedByTheContentFilterIsCharged() {
        String s = subject();
        HttpResponse<String> r = relay("/ai/spring", s, "blocked");
        assertCharged(s, r, 400, 1, HOLD, "Anthropic's 400 'Output blocked by content filtering policy': the model ran");
    }

    /** Controls: Anthropic's 529 overloaded_error and 429 rate_limit_error relayed are released (no model ran). */
    @Test
    void controlAnAnthropicOverloadOrRateLimitIsReleased() {
        String s = subject();
        HttpResponse<String> r = relay("/ai/spring", s, "overloaded");
        assertCharged(s, r, 529, 0, 0, "Anthropic's 529 overloaded_error");
        r = relay("/ai/spring", s, "rate");
        assertCharged(s, r, 429, 0, 0, "Anthropic's 429 rate_limit_error");
    }

    /** Control: the relayed message with its usage is charged exactly that usage. */
    @Test
    void controlAnAnthropicMessageIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = relay("/ai/spring", s, "ok");
        assertCharged(s, r, 200, 1, 3_700, "the message's usage");
    }

    /**
     * Finding: on a filter built to charge calls that may have run ({@code releaseOnError(false)}), a
     * LiteLLM proxy's timeout passed on as it came (408, {@code litellm.Timeout}: the provider's call was
     * made and outlived the proxy's timeout) is released as a refusal, while the same timeout answered 504
     * is charged its estimate. The 408 does not mean the model was not called.
     */
    @Test
    void aRelayedLiteLlmTimeoutIsChargedWhenErrorsAreCharged() {
        String s = subject();
        HttpResponse<String> r = relay("/strict/spring", s, "timeout");
        assertCharged(s, r, 408, 1, HOLD, "LiteLLM's 408 litellm.Timeout, releaseOnError(false)");
    }

    /** Control: the same timeout answered 504 through the same filter is charged the estimate. */
    @Test
    void controlARelayedGatewayTimeoutIsChargedWhenErrorsAreCharged() {
        String s = subject();
        HttpResponse<String> r = relay("/strict/spring", s, "gateway");
        assertCharged(s, r, 504, 1, HOLD, "a 504 gateway timeout, releaseOnError(false)");
    }

    static final long HOLD = 4_015;
}
