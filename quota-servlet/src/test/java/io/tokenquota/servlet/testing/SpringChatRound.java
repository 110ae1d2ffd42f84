package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;

/**
 * A round on a Spring MVC chat endpoint (break-it rounds 275, 353): the application's own, as a Spring Boot service
 * writes it, streaming its answer to a browser client and refusing a request it will not send to the model before
 * any model call, with the provider's own error object as a typed body ({@code ResponseEntity.badRequest().body(Map)}):
 * a {@code max_tokens} above what the model supports (OpenAI's {@code invalid_request_error}, {@code invalid_value}),
 * or the provider's 429 ({@code rate_limit_exceeded}) that the relay met and passes on. A round declares its
 * {@code @RestController} as a subclass of {@link ChatEndpoint}.
 */
public abstract class SpringChatRound extends ModelCallRound {
    /** What the model's streamed answer reports as its usage. */
    public static final long USAGE = 3_700;
    public static final ObjectMapper JSON = new ObjectMapper();
    public static final String ASK_TOO_MUCH = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"max_tokens\":8000,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the contract.\"}]}";
    public static final String ASK = ASK_TOO_MUCH.replace("8000", "4000");

    protected SpringChatRound(ModelCalls calls) {
        super(calls);
    }

    /** OpenAI's error for a budget above the model's (HTTP 400, {@code invalid_request_error}). */
    public static Map<String, Object> tooLarge(long asked) {
        return error("max_tokens is too large: " + asked + ". This model supports at most 4096 completion tokens, whereas"
                + " you provided " + asked + ".", "invalid_request_error", "max_tokens", "invalid_value");
    }

    /**
     * OpenAI's rate-limit error (HTTP 429; platform.openai.com/docs/guides/error-codes, "429 - Rate limit reached for
     * requests"), as the relay's provider answered it to organisation {@code org-<round>}: no model ran.
     */
    public static Map<String, Object> rateLimited(String round) {
        return error("Rate limit reached for gpt-4o in organization org-" + round + " on tokens per min (TPM): Limit 30000,"
                + " Used 29000, Requested 8005. Please try again in 14s. Visit https://platform.openai.com/account/rate-limits"
                + " to learn more.", "tokens", null, "rate_limit_exceeded");
    }

    public static Map<String, Object> error(String message, String type, String param, String code) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("message", message);
        e.put("type", type);
        e.put("param", param);
        e.put("code", code);
        return Map.of("error", e);
    }

    /**
     * The model's answer (ids {@code chatcmpl-<round>}), streamed as Chat Completions chunks with the usage chunk of
     * {@code stream_options.include_usage}.
     */
    public static String stream(String round) {
        String chunk = "data: {\"id\":\"chatcmpl-" + round + "\",\"object\":\"chat.completion.chunk\",\"created\":1,"
                + "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Clause fourteen limits liability. \"},"
                + "\"finish_reason\":null}]}\n\n";
        return chunk.repeat(20)
                + "data: {\"id\":\"chatcmpl-" + round + "\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\","
                + "\"choices\":[],\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":2500,\"total_tokens\":" + USAGE + "}}\n\n"
                + "data: [DONE]\n\n";
    }

    /**
     * The application's chat endpoint: refuses before the model call (a budget above 4,096; the relay's provider
     * rate-limited, {@code x-upstream: 429}), else counts a model call in its round's {@link ModelCalls} and relays
     * the model's stream. A round's {@code @RestController} subclass names its calls and its round (the number in its
     * answers' ids) from a constructor without parameters.
     */
    public abstract static class ChatEndpoint {
        private final ModelCalls calls;
        private final String round;

        protected ChatEndpoint(ModelCalls calls, String round) {
            this.calls = calls;
            this.round = round;
        }

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
                return ResponseEntity.status(HttpStatus.TOO_MANY_REQUESTS).header("Retry-After", "14")
                        .body(rateLimited(round));
            }
            calls.count(user);
            return ResponseEntity.ok().contentType(MediaType.TEXT_EVENT_STREAM).body(stream(round));
        }
    }

    /** {@code body} posted by {@code s} to the Spring app's {@code path} (under {@code /ai/spring}), with {@code headers}. */
    protected HttpResponse<String> post(String path, String s, String body, String... headers) {
        return TestHttp.postJson(container.uri("/ai/spring" + path), s, body, headers);
    }

    /** The call was refused before any model call: whatever status the client got, nothing is charged. */
    protected void assertNothingCharged(String s, HttpResponse<String> r, String what) {
        QuotaAccount a = settled(s);
        assertEquals(0, calls.of(s), "the model was never called: " + figures(s, r, a));
        assertEquals(0, a.used(), what + ": refused before any model call, answered " + r.statusCode()
                + ", charged " + a.used() + ": " + figures(s, r, a));
    }
}
