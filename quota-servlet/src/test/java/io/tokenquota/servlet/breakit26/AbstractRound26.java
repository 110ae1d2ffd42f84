package io.tokenquota.servlet.breakit26;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static io.tokenquota.servlet.testing.RelayedAnswers.completionJson;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 26 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged").
 * The endpoints are the usual Spring relay: a typed request DTO bound by Spring's own Jackson
 * converter ({@code Integer max_tokens}, {@code Integer n}, as Spring AI's
 * {@code OpenAiApi.ChatCompletionRequest} has them), the budget passed on to the model.
 */
abstract class AbstractRound26 extends H2FilterRound {
    /** What the model writes when the request names no budget (or 0): its own default. */
    static final int MODEL_DEFAULT = 4_000;
    static final long PROMPT = 40;

    /** The output budget (per completion) and completion count the endpoint read, by subject. */
    static final Map<String, long[]> READ = new ConcurrentHashMap<>();

    /** The request body as Spring binds it (Jackson 2, Spring MVC's defaults). */
    public record ChatRequest(@JsonProperty("model") String model,
                              @JsonProperty("messages") List<Map<String, Object>> messages,
                              @JsonProperty("max_tokens") Integer maxTokens,
                              @JsonProperty("n") Integer n,
                              @JsonProperty("stream") Boolean stream) {
    }

    @RestController
    public static class AiController {
        /**
         * An OpenAI-compatible relay: passes the bound {@code max_tokens} and {@code n} on, the model
         * writes up to that budget per completion (its default when none or 0 is named) and, not
         * streamed, reports its usage; streamed (no {@code stream_options.include_usage}) it reports none.
         */
        @PostMapping("/v1/chat/completions")
        public ResponseEntity<String> chat(@RequestBody ChatRequest req, HttpServletRequest http) {
            called(http);
            long budget = req.maxTokens() == null || req.maxTokens() == 0 ? MODEL_DEFAULT : req.maxTokens();
            long n = req.n() == null ? 1 : req.n();
            READ.put(String.valueOf(http.getHeader("x-user-id")), new long[] {budget, n});
            if (Boolean.TRUE.equals(req.stream())) {
                StringBuilder sse = new StringBuilder();
                for (int i = 0; i < 20; i++) {
                    sse.append("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                            + "\"delta\":{\"content\":\"word word word word\"}}]}\n\n");
                }
                sse.append("data: [DONE]\n\n");
                return ResponseEntity.ok().contentType(MediaType.TEXT_EVENT_STREAM).body(sse.toString());
            }
            return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON)
                    .body(completionJson("Once upon a time...", PROMPT, budget * n));
        }
    }

    /**
     * A Python relay (vLLM's OpenAI server, a FastAPI app) whose request model declares
     * {@code max_tokens: Optional[int]} and {@code n: Optional[int]}: pydantic v2 in its default lax mode
     * reads a string as an int after stripping whitespace, underscores between digits and a zero
     * fraction ({@code "16_000"} and {@code "16000.0"} are 16000; checked with pydantic 2.13.4). This
     * servlet binds the two fields by exactly those rules, then answers as {@link AiController} does.
     */
    public static class PydanticRelay extends jakarta.servlet.http.HttpServlet {
        private static final java.util.regex.Pattern LAX_INT = java.util.regex.Pattern.compile("[+-]?[0-9]+(?:_[0-9]+)*(?:\\.0*)?");

        static Long laxInt(com.fasterxml.jackson.databind.JsonNode v) {
            if (v == null || v.isNull()) {
                return null;
            }
            if (v.isIntegralNumber()) {
                return v.longValue();
            }
            String text = v.asText().strip();
            if (!v.isTextual() || !LAX_INT.matcher(text).matches()) {
                throw new IllegalArgumentException("422: not a valid integer: " + v);
            }
            int dot = text.indexOf('.');
            return Long.parseLong((dot < 0 ? text : text.substring(0, dot)).replace("_", ""));
        }

        @Override
        protected void doPost(HttpServletRequest req, jakarta.servlet.http.HttpServletResponse resp) throws java.io.IOException {
            com.fasterxml.jackson.databind.JsonNode body = new com.fasterxml.jackson.databind.ObjectMapper().readTree(req.getInputStream());
            called(req);
            Long max = laxInt(body.get("max_tokens"));
            Long n = laxInt(body.get("n"));
            long budget = max == null || max == 0 ? MODEL_DEFAULT : max;
            long completions = n == null ? 1 : n;
            READ.put(String.valueOf(req.getHeader("x-user-id")), new long[] {budget, completions});
            resp.setContentType("application/json");
            resp.getOutputStream().write(completionJson("Once upon a time...", PROMPT, budget * completions)
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A Go relay (an OpenAI-compatible gateway such as one-api, or Ollama's own {@code /v1/chat/completions})
     * whose request struct has {@code MaxTokens int `json:"max_tokens"`} and {@code N int `json:"n"`}:
     * Go's {@code encoding/json} matches an object key to a field "preferring an exact match but also
     * accepting a case-insensitive match" (Unicode simple folding: {@code \u212A} KELVIN SIGN folds to
     * {@code k}), each key in document order, so the last matching key wins. Java's
     * {@code equalsIgnoreCase} folds the same way for these names.
     */
    public static class GoRelay extends jakarta.servlet.http.HttpServlet {
        static Long field(com.fasterxml.jackson.databind.JsonNode body, String name) {
            Long value = null;
            for (var it = body.fields(); it.hasNext(); ) {
                var e = it.next();
                if (e.getKey().equalsIgnoreCase(name)) {
                    value = e.getValue().longValue();
                }
            }
            return value;
        }

        @Override
        protected void doPost(HttpServletRequest req, jakarta.servlet.http.HttpServletResponse resp) throws java.io.IOException {
            com.fasterxml.jackson.databind.JsonNode body = new com.fasterxml.jackson.databind.ObjectMapper().readTree(req.getInputStream());
            called(req);
            Long max = field(body, "max_tokens");
            Long n = field(body, "n");
            long budget = max == null || max == 0 ? MODEL_DEFAULT : max;
            long completions = n == null || n == 0 ? 1 : n;
            READ.put(String.valueOf(req.getHeader("x-user-id")), new long[] {budget, completions});
            resp.setContentType("application/json");
            resp.getOutputStream().write(completionJson("Once upon a time...", PROMPT, budget * completions)
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // a second filter, with fitOutputBudget, in front of the same relay under /fit/
        QuotaFilter fitting = filterFor("/fit/").fitOutputBudget(16).build();
        return SpringMvc.behind(filter, AiController.class)
                .filter("fitting", fitting, "/fit/*")
                .servlet("fitSpring", SpringMvc.dispatcher(AiController.class), "/fit/spring/*")
                .servlet("vllm", new PydanticRelay(), "/ai/vllm/*")
                .servlet("go", new GoRelay(), "/ai/go/*", "/fit/go/*");
    }

    static String subject() {
        return "u26-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body, String... headers) {
        return TestHttp.postJson(container.uri(path), subject, body, headers);
    }

    static final String MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story.\"}]";

    // ------------------------------------------------------------------ 1. budgets in non-ASCII digits

    /**
     * {@code n: 8, max_tokens: 16000} asks for 128,000 output tokens on a 20,000 allowance: refused.
     * The same numbers written as strings of full-width digits ({@code "１６０００"}, {@code "８"}) are
     * bound by Jackson (Spring's converter, {@code Integer} from a string: {@code NumberInput.parseInt}
     * falls back to {@code Integer.parseInt}, which takes any Unicode decimal digit) as 16000 and 8;
     * the estimator reads only ASCII digits, so it sees no budget and one completion, holds ~1,000,
     * and the relay asks the model for 8 x 16,000.
     */
    @Test
    void fullWidthDigitBudgetAndCountAreHeldAsTheEndpointReadsThem() {
        String control = subject();
        HttpResponse<String> c = post("/ai/spring/v1/chat/completions", control,
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"max_tokens\":16000,\"n\":8}");
        assertEquals(429, c.statusCode(), "control: 8 x 16,000 is refused on a 20,000 allowance: " + c.body());
        assertEquals(0, calls(control));

        String s = subject();
        HttpResponse<String> r = post("/ai/spring/v1/chat/completions", s,
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"max_tokens\":\"\uFF11\uFF16\uFF10\uFF10\uFF10\",\"n\":\"\uFF18\"}");
        long[] read = READ.get(s);
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "the relay read max_tokens " + (read == null ? "-" : read[0]) + " x n "
                + (read == null ? "-" : read[1]) + " on a " + ALLOWANCE + "-token allowance and was served ("
                + r.statusCode() + ", X-Quota-Remaining " + r.headers().firstValue("X-Quota-Remaining").orElse("-")
                + "); charged " + a.used() + ", available now " + a.available() + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }

    // ------------------------------------------------------------------ 2. a fraction below one is 0 to the endpoint

    /**
     * The filter holds what naming no budget holds for {@code max_tokens: 0}, "because an endpoint may
     * read 0 as its own default". {@code max_tokens: 0.4} is read by the estimator as 1 (a fraction is
     * rounded up, "so a truncating endpoint never gets more than was held"), but Jackson binds 0.4 to
     * an {@code Integer} by truncation (ACCEPT_FLOAT_AS_INT, on by default): 0, the model's default. A
     * stream without usage is charged its estimate: the 0 control is charged input + 1,000, the 0.4
     * request input + 1 for the same answer.
     */
    @Test
    void aBudgetBelowOneThatTheEndpointTruncatesToZeroHoldsTheDefault() {
        String control = subject();
        HttpResponse<String> c = post("/ai/spring/v1/chat/completions", control,
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"stream\":true,\"max_tokens\":0}");
        assertEquals(200, c.statusCode(), c.body());
        assertEquals(MODEL_DEFAULT, READ.get(control)[0]);
        long controlUsed = settled(control).used();
        assertTrue(controlUsed >= 1_000, "control: a 0 budget holds the default output budget, charged " + controlUsed);

        String s = subject();
        HttpResponse<String> r = post("/ai/spring/v1/chat/completions", s,
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"stream\":true,\"max_tokens\":0.4}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(MODEL_DEFAULT, READ.get(s)[0], "the endpoint read 0.4 as 0: the model's default");
        QuotaAccount a = settled(s);
        assertTrue(a.used() >= controlUsed, "the same call (the endpoint read max_tokens 0, the model's default) was"
                + " charged " + a.used() + " where max_tokens 0 was charged " + controlUsed + " (" + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ 3. fitting leaves a budget the endpoint reads

    /**
     * With {@code fitOutputBudget}, a body asking {@code n: 2 x max_tokens 16000} on 20,000 tokens is
     * forwarded with its budget fields lowered (~9,990 each, {@code X-Quota-Output-Capped}). A second
     * {@code max_tokens} written in full-width digits after the first is no budget to the estimator or
     * to the splice ({@code OutputBudgetFit.locate} gives it value -1, {@code splice} leaves it); Jackson
     * takes the last duplicate and reads it as 16000: the model is asked for 2 x 16,000 under a hold of
     * ~20,000, and the account goes ~12,000 past its allowance.
     */
    @Test
    void aFittedRequestCannotCarryASecondBudgetTheSpliceLeavesHigh() {
        String s = subject();
        HttpResponse<String> r = post("/fit/spring/v1/chat/completions", s,
                "{\"model\":\"gpt-4o\",\"n\":2,\"max_tokens\":16000," + MESSAGES
                        + ",\"max_tokens\":\"\uFF11\uFF16\uFF10\uFF10\uFF10\"}");
        String capped = r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).orElse(null);
        long[] read = READ.get(s);
        QuotaAccount a = settled(s);
        if (read != null) {
            assertTrue(capped != null && read[0] <= Long.parseLong(capped), "forwarded with "
                    + QuotaFilter.OUTPUT_CAPPED_HEADER + ": " + capped + ", the endpoint read max_tokens " + read[0]
                    + " x n " + read[1] + "; charged " + a.used() + ", available now " + a.available()
                    + " (" + ledger(s) + ")");
        }
        // the output the endpoint asked for fits the hold; only the prompt's true count (40 here), which
        // the hold can only estimate, may pass the allowance
        assertTrue(a.used() <= ALLOWANCE + PROMPT, "charged " + a.used() + " on a " + ALLOWANCE + " allowance ("
                + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ 4. pydantic's lax integers

    /**
     * vLLM (and any FastAPI relay with a pydantic request model) reads {@code "max_tokens": "16_000"}
     * and {@code "n": "8.0"} as 16000 and 8 (pydantic v2's lax str-to-int: underscores between
     * digits and a zero fraction are accepted). The estimator's {@code decimal} takes only
     * {@code [+-]?[0-9]+}: no budget, one completion, ~1,000 held for a 128,000-token call that the
     * same body with JSON numbers is refused.
     */
    @Test
    void pydanticLaxIntegerStringsAreHeldAsVllmReadsThem() {
        String control = subject();
        HttpResponse<String> c = post("/ai/vllm/v1/chat/completions", control,
                "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\"," + MESSAGES + ",\"max_tokens\":16000,\"n\":8}");
        assertEquals(429, c.statusCode(), "control: 8 x 16,000 is refused on a 20,000 allowance: " + c.body());

        String s = subject();
        HttpResponse<String> r = post("/ai/vllm/v1/chat/completions", s,
                "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\"," + MESSAGES + ",\"max_tokens\":\"16_000\",\"n\":\"8.0\"}");
        long[] read = READ.get(s);
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "vLLM read max_tokens " + (read == null ? "-" : read[0]) + " x n "
                + (read == null ? "-" : read[1]) + " on a " + ALLOWANCE + "-token allowance and was served ("
                + r.statusCode() + "); charged " + a.used() + ", available now " + a.available() + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }

    // ------------------------------------------------------------------ 5. Go's case-insensitive keys

    /**
     * A Go gateway reads {@code "MAX_TOKENS": 16000} and {@code "N": 8} as {@code max_tokens} and
     * {@code n}; the estimator compares names exactly, sees no budget and one completion, and holds
     * ~1,000 for a 128,000-token call the lower-case body is refused.
     */
    @Test
    void goRelayCaseInsensitiveBudgetNamesAreHeld() {
        String control = subject();
        HttpResponse<String> c = post("/ai/go/v1/chat/completions", control,
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"max_tokens\":16000,\"n\":8}");
        assertEquals(429, c.statusCode(), "control: 8 x 16,000 is refused on a 20,000 allowance: " + c.body());

        String s = subject();
        HttpResponse<String> r = post("/ai/go/v1/chat/completions", s,
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"MAX_TOKENS\":16000,\"N\":8}");
        long[] read = READ.get(s);
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "the Go relay read max_tokens " + (read == null ? "-" : read[0]) + " x n "
                + (read == null ? "-" : read[1]) + " and was served (" + r.statusCode() + "); charged " + a.used()
                + ", available now " + a.available() + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }

    /**
     * With {@code fitOutputBudget}: the lower-case {@code max_tokens} is lowered to what fits (~9,990 for
     * n 2), a later {@code "max_to\u212Aens": 16000} (KELVIN SIGN; ASCII-only case folding would miss it
     * too) is left as sent, and Go takes the last matching key: 2 x 16,000 under a ~20,000 hold.
     */
    @Test
    void aFittedRequestCannotCarryACaseFoldedBudgetTheSpliceLeavesHigh() {
        String s = subject();
        HttpResponse<String> r = post("/fit/go/v1/chat/completions", s,
                "{\"model\":\"gpt-4o\",\"n\":2,\"max_tokens\":16000," + MESSAGES + ",\"max_to\u212Aens\":16000}");
        String capped = r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).orElse(null);
        long[] read = READ.get(s);
        QuotaAccount a = settled(s);
        if (read != null) {
            assertTrue(capped != null && read[0] <= Long.parseLong(capped), "forwarded with "
                    + QuotaFilter.OUTPUT_CAPPED_HEADER + ": " + capped + ", the Go relay read max_tokens " + read[0]
                    + " x n " + read[1] + "; charged " + a.used() + ", available now " + a.available()
                    + " (" + ledger(s) + ")");
        }
        // the output the endpoint asked for fits the hold; only the prompt's true count (40 here), which
        // the hold can only estimate, may pass the allowance
        assertTrue(a.used() <= ALLOWANCE + PROMPT, "charged " + a.used() + " on a " + ALLOWANCE + " allowance ("
                + ledger(s) + ")");
    }
}
