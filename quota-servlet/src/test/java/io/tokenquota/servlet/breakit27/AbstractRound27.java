package io.tokenquota.servlet.breakit27;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static io.tokenquota.servlet.testing.RelayedAnswers.completionJson;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
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
 * Round 27 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged").
 * Each endpoint reads the request the way a real reader does (Spring's Jackson, pydantic's lax mode,
 * Gson's defaults, Vertex AI's {@code :predict}, Hugging Face TGI's {@code /generate}), asks the model
 * for what it read and reports the usage; the filter's estimate reads the same body differently, so a
 * call asking for more than the 20,000-token allowance is served.
 */
abstract class AbstractRound27 extends H2FilterRound {
    /** What the model writes when the request names no budget (or 0): its own default. */
    static final int MODEL_DEFAULT = 4_000;
    static final long PROMPT = 40;

    /** The total output the endpoint asked the model for, by subject. */
    static final Map<String, Long> ASKED = new ConcurrentHashMap<>();

    static void answer(HttpServletRequest req, HttpServletResponse resp, long output) throws IOException {
        ASKED.put(String.valueOf(req.getHeader("x-user-id")), output);
        resp.setContentType("application/json");
        resp.getOutputStream().write(completionJson("Once upon a time...", PROMPT, output).getBytes(StandardCharsets.UTF_8));
    }

    /** The request body as Spring binds it (Jackson, Spring MVC's defaults), as in round 26. */
    public record ChatRequest(@JsonProperty("model") String model,
                              @JsonProperty("messages") List<Map<String, Object>> messages,
                              @JsonProperty("max_tokens") Integer maxTokens,
                              @JsonProperty("n") Integer n) {
    }

    @RestController
    public static class AiController {
        @PostMapping("/v1/chat/completions")
        public ResponseEntity<String> chat(@RequestBody ChatRequest req, HttpServletRequest http) {
            called(http);
            long budget = req.maxTokens() == null || req.maxTokens() == 0 ? MODEL_DEFAULT : req.maxTokens();
            long n = req.n() == null ? 1 : req.n();
            ASKED.put(String.valueOf(http.getHeader("x-user-id")), budget * n);
            return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON)
                    .body(completionJson("Once upon a time...", PROMPT, budget * n));
        }
    }

    /**
     * vLLM's OpenAI server (a FastAPI app): {@code max_tokens: Optional[int]}, {@code n: Optional[int]}
     * in pydantic v2's lax mode. pydantic-core reads a string as an int after Rust's {@code str::trim}
     * (the Unicode White_Space property: also U+00A0 NO-BREAK SPACE, U+2007, U+202F, U+0085, U+3000),
     * underscores between digits and a zero fraction; checked with pydantic 2.13.4:
     * {@code R(max_tokens="\u00a016000").max_tokens == 16000}.
     */
    public static class PydanticRelay extends HttpServlet {
        private static final java.util.regex.Pattern LAX_INT = java.util.regex.Pattern.compile("[+-]?[0-9]+(?:_[0-9]+)*(?:\\.0*)?");

        static boolean rustWhitespace(int c) {
            return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
                    || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                    || c == 0x3000;
        }

        static String rustTrim(String s) {
            int start = 0;
            int end = s.length();
            while (start < end && rustWhitespace(s.charAt(start))) {
                start++;
            }
            while (end > start && rustWhitespace(s.charAt(end - 1))) {
                end--;
            }
            return s.substring(start, end);
        }

        static Long laxInt(JsonNode v) {
            if (v == null || v.isNull()) {
                return null;
            }
            if (v.isIntegralNumber()) {
                return v.longValue();
            }
            String text = rustTrim(v.asText());
            if (!v.isTextual() || !LAX_INT.matcher(text).matches()) {
                throw new IllegalArgumentException("422: not a valid integer: " + v);
            }
            int dot = text.indexOf('.');
            return Long.parseLong((dot < 0 ? text : text.substring(0, dot)).replace("_", ""));
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = new ObjectMapper().readTree(req.getInputStream());
            Long max;
            Long n;
            try {
                max = laxInt(body.get("max_tokens"));
                n = laxInt(body.get("n"));
            } catch (IllegalArgumentException e) {
                resp.sendError(422, e.getMessage());
                return;
            }
            called(req);
            long budget = max == null || max == 0 ? MODEL_DEFAULT : max;
            answer(req, resp, budget * (n == null ? 1 : n));
        }
    }

    /** A request as a Gson-bound relay declares it. */
    static final class GsonChat {
        String model;
        List<Map<String, Object>> messages;
        Integer max_tokens;
        Integer n;
    }

    /**
     * A relay that binds the body with Gson ({@code new Gson().fromJson(reader, GsonChat.class)}, as
     * plain servlets and Spring's {@code GsonHttpMessageConverter} do). Gson's {@code fromJson} reads
     * {@code Strictness.LENIENT} unless told otherwise (comments, single-quoted and unquoted names,
     * {@code =} and {@code ;}), and its {@code nextInt()} reads a quoted number by
     * {@code Integer.parseInt}, else {@code Double.parseDouble} ({@code "1.6e4"}, {@code "8.0e0"},
     * {@code "0x1.f4p13"}, {@code "16000d"}) when the double is whole.
     */
    public static class GsonRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            GsonChat chat;
            try {
                chat = new com.google.gson.Gson().fromJson(req.getReader(), GsonChat.class);
            } catch (RuntimeException e) {
                resp.sendError(400, "unreadable: " + e.getMessage());
                return;
            }
            called(req);
            long budget = chat.max_tokens == null || chat.max_tokens == 0 ? MODEL_DEFAULT : chat.max_tokens;
            answer(req, resp, budget * (chat.n == null ? 1 : chat.n));
        }
    }

    /**
     * A Vertex AI {@code :predict} relay ({@code {"instances": [...], "parameters": {...}}}): each
     * instance is a prediction of its own. Model Garden's vLLM containers read {@code max_tokens} and
     * {@code n} in each instance; PaLM-style text models read {@code parameters.maxOutputTokens} and
     * {@code parameters.candidateCount} for every instance.
     */
    public static class VertexRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = new ObjectMapper().readTree(req.getInputStream());
            called(req);
            JsonNode parameters = body.path("parameters");
            long total = 0;
            for (JsonNode instance : body.path("instances")) {
                long budget = instance.path("max_tokens").asLong(parameters.path("maxOutputTokens").asLong(MODEL_DEFAULT));
                long n = instance.path("n").asLong(parameters.path("candidateCount").asLong(1));
                total += budget * n;
            }
            answer(req, resp, total);
        }
    }

    /**
     * Hugging Face TGI's {@code /generate}: {@code {"inputs": ..., "parameters": {"max_new_tokens",
     * "best_of", "do_sample"}}}. With {@code best_of} (up to the server's {@code max_best_of}, 2 by
     * default, sampling on) TGI generates {@code best_of} sequences, each up to {@code max_new_tokens}.
     */
    public static class TgiRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = new ObjectMapper().readTree(req.getInputStream());
            called(req);
            JsonNode parameters = body.path("parameters");
            long budget = parameters.path("max_new_tokens").asLong(20);
            long bestOf = parameters.path("best_of").asLong(1);
            answer(req, resp, budget * bestOf);
        }
    }

    /**
     * A Go relay's legacy completions ({@code /v1/completions}: one-api, Ollama's OpenAI-compatible
     * API) with {@code Prompt any `json:"prompt"`}, {@code MaxTokens int}, {@code N int}: Go's
     * {@code encoding/json} matches keys case-insensitively (last match wins), so {@code "PROMPT"} is the
     * prompt, and a list of prompts is a batch, each completed {@code n} times up to the budget.
     */
    public static class GoCompletionsRelay extends HttpServlet {
        static JsonNode field(JsonNode body, String name) {
            JsonNode value = null;
            for (var it = body.fields(); it.hasNext(); ) {
                var e = it.next();
                if (e.getKey().equalsIgnoreCase(name)) {
                    value = e.getValue();
                }
            }
            return value;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = new ObjectMapper().readTree(req.getInputStream());
            called(req);
            JsonNode prompt = field(body, "prompt");
            JsonNode max = field(body, "max_tokens");
            JsonNode n = field(body, "n");
            long prompts = prompt != null && prompt.isArray() && prompt.size() > 0 && prompt.get(0).isTextual() ? prompt.size() : 1;
            long budget = max == null || max.asLong() == 0 ? MODEL_DEFAULT : max.asLong();
            answer(req, resp, prompts * budget * (n == null || n.asLong() == 0 ? 1 : n.asLong()));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, AiController.class)
                .servlet("vllm", new PydanticRelay(), "/ai/vllm/*")
                .servlet("gson", new GsonRelay(), "/ai/gson/*")
                .servlet("vertex", new VertexRelay(), "/ai/vertex/*")
                .servlet("tgi", new TgiRelay(), "/ai/tgi/*")
                .servlet("go", new GoCompletionsRelay(), "/ai/go/*");
    }

    static String subject() {
        return "u27-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body) {
        return TestHttp.post(container.uri(path), body.getBytes(StandardCharsets.UTF_8),
                "x-user-id", subject, "Content-Type", "application/json");
    }

    static final String MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story.\"}]";

    /** The control (the same ask in a form the filter reads) is refused; the hostile form must be too. */
    void refusedBoth(String path, String control, String hostile) {
        String c = subject();
        HttpResponse<String> cr = post(path, c, control);
        assertEquals(429, cr.statusCode(), "control is refused on a " + ALLOWANCE + "-token allowance: " + cr.body());
        assertEquals(0, calls(c));

        String s = subject();
        HttpResponse<String> r = post(path, s, hostile);
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "the endpoint asked the model for " + ASKED.get(s) + " output tokens on a "
                + ALLOWANCE + "-token allowance and was served (" + r.statusCode() + ", X-Quota-Remaining "
                + r.headers().firstValue("X-Quota-Remaining").orElse("-") + "); charged " + a.used()
                + ", available now " + a.available() + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }

    // ------------------------------------------------------------------ 1. Jackson trims control characters

    /**
     * Jackson binds a string to an {@code Integer} after {@code String.trim()}, which drops every
     * character up to U+0020, control characters included: {@code "\u000116000"} is 16000 and
     * {@code "\u00018"} is 8 to Spring's own converter (jackson-databind 2.20). The estimator's
     * {@code decimal} strips only {@code Character.isWhitespace} (not U+0001..U+0008, U+000E..U+001B),
     * so it reads no budget and one completion and holds ~1,000 for 8 x 16,000.
     */
    @Test
    void jacksonTrimmedControlCharacterBudgetIsHeld() {
        refusedBoth("/ai/spring/v1/chat/completions",
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"max_tokens\":\"16000\",\"n\":\"8\"}",
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"max_tokens\":\"\\u000116000\",\"n\":\"\\u00018\"}");
    }

    // ------------------------------------------------------------------ 2. pydantic trims Unicode White_Space

    /**
     * vLLM (pydantic lax mode) trims by Unicode's White_Space property: {@code "\u00a016000"} (a
     * no-break space before the digits) is 16000, {@code "\u00a08"} is 8. Java's {@code strip()} keeps
     * U+00A0 (and U+2007, U+202F), so the estimator reads no budget.
     */
    @Test
    void pydanticNoBreakSpaceBudgetIsHeld() {
        refusedBoth("/ai/vllm/v1/chat/completions",
                "{\"model\":\"m\"," + MESSAGES + ",\"max_tokens\":\" 16000 \",\"n\":\" 8 \"}",
                "{\"model\":\"m\"," + MESSAGES + ",\"max_tokens\":\"\\u00a016000\",\"n\":\"\\u202f8\"}");
    }

    // ------------------------------------------------------------------ 3. Gson reads quoted numbers through Double.parseDouble

    /**
     * Strict, valid JSON: Gson's {@code nextInt()} reads {@code "1.6e4"} as 16000 and {@code "8.0e0"} as
     * 8 (Integer.parseInt fails, Double.parseDouble gives a whole number). The estimator's decimal
     * string reader refuses an exponent, so the body has no budget and one completion.
     */
    @Test
    void gsonExponentStringBudgetIsHeld() {
        refusedBoth("/ai/gson/v1/chat/completions",
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"max_tokens\":16000,\"n\":8}",
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"max_tokens\":\"1.6e4\",\"n\":\"8.0e0\"}");
    }

    // ------------------------------------------------------------------ 4. Gson's default leniency

    /**
     * Gson's {@code fromJson} parses leniently by default: a comment in the body (or single-quoted or
     * unquoted names) is fine to it, and it reads {@code max_tokens: 16000, n: 8}. The filter's parser
     * stops at the comment, so the body is "broken JSON": text, held at the 1,000-token fallback
     * without any output budget, and the relay asks the model for 128,000 tokens.
     */
    @Test
    void gsonLenientBodyWithACommentIsHeldForItsBudget() {
        refusedBoth("/ai/gson/v1/chat/completions",
                "{\"model\":\"gpt-4o\"," + MESSAGES + ",\"max_tokens\":16000,\"n\":8}",
                "{\"model\":\"gpt-4o\", /* sent by the mobile app */ " + MESSAGES + ",\"max_tokens\":16000,\"n\":8}");
    }

    // ------------------------------------------------------------------ 5. Vertex AI instances: a budget per instance

    /**
     * A Vertex AI {@code :predict} body (Model Garden vLLM) names its budget and {@code n} in each
     * instance. The estimator reads budgets only at the top level and in settings objects, and knows
     * no {@code instances} batch: ~1,000 is held for 2 x 16,000.
     */
    @Test
    void vertexInstanceBudgetIsHeld() {
        refusedBoth("/ai/vertex/v1/projects/p/locations/us-central1/endpoints/e:predict",
                "{\"instances\":[{\"prompt\":\"Write a very long story.\"}],\"max_tokens\":16000,\"n\":2}",
                "{\"instances\":[{\"prompt\":\"Write a very long story.\",\"max_tokens\":16000,\"n\":2}]}");
    }

    // ------------------------------------------------------------------ 6. Vertex AI instances: each is a call

    /**
     * Three instances with {@code parameters.maxOutputTokens: 8000} are three predictions of up to
     * 8,000 tokens each (24,000 on a 20,000 allowance); the estimator holds the budget once (~8,030),
     * as a legacy {@code prompt} list would not be (that one is held per prompt).
     */
    @Test
    void vertexInstancesAreHeldPerInstance() {
        refusedBoth("/ai/vertex/v1/projects/p/locations/us-central1/endpoints/e:predict",
                "{\"prompt\":[\"Write a very long story.\",\"Write another.\",\"And one more.\"],\"max_tokens\":8000}",
                "{\"instances\":[{\"prompt\":\"Write a very long story.\"},{\"prompt\":\"Write another.\"},"
                        + "{\"prompt\":\"And one more.\"}],\"parameters\":{\"maxOutputTokens\":8000}}");
    }

    // ------------------------------------------------------------------ 7. a completion count in a settings object

    /**
     * TGI's {@code parameters.best_of: 2} with {@code max_new_tokens: 16000} generates two sequences
     * of up to 16,000 tokens. The estimator reads the budget in {@code parameters} but a completion
     * count only at the top level (and Gemini's {@code candidateCount}), so it holds ~16,010 for 32,000.
     */
    @Test
    void tgiBestOfInParametersIsHeld() {
        refusedBoth("/ai/tgi/generate",
                "{\"inputs\":\"Write a very long story.\",\"best_of\":2,\"parameters\":{\"max_new_tokens\":16000}}",
                "{\"inputs\":\"Write a very long story.\",\"parameters\":{\"max_new_tokens\":16000,\"best_of\":2,"
                        + "\"do_sample\":true}}");
    }

    /**
     * Vertex AI's PaLM-style {@code parameters.candidateCount: 4} with {@code maxOutputTokens: 8000}:
     * four candidates of up to 8,000 tokens (32,000). {@code candidateCount} is read only in Gemini's
     * {@code generationConfig}; in {@code parameters} it is not a count, so ~8,010 is held.
     */
    @Test
    void vertexCandidateCountInParametersIsHeld() {
        refusedBoth("/ai/vertex/v1/projects/p/locations/us-central1/publishers/google/models/text-bison:predict",
                "{\"instances\":[{\"prompt\":\"Write a very long story.\"}],"
                        + "\"generationConfig\":{\"maxOutputTokens\":8000,\"candidateCount\":4}}",
                "{\"instances\":[{\"prompt\":\"Write a very long story.\"}],"
                        + "\"parameters\":{\"maxOutputTokens\":8000,\"candidateCount\":4}}");
    }

    // ------------------------------------------------------------------ 8. a Go relay's case-folded prompt list

    /**
     * Round 26 folded the budget and count names as Go matches keys, but not the legacy completions'
     * batch of prompts: {@code "PROMPT": [three prompts]} is three completions to a Go relay, while the
     * estimator's {@code batchedPrompt} compares {@code "prompt"} exactly and holds the 8,000 budget
     * once (~8,010) for 24,000.
     */
    @Test
    void goFoldedPromptListIsHeldPerPrompt() {
        refusedBoth("/ai/go/v1/completions",
                "{\"model\":\"m\",\"prompt\":[\"Write a very long story.\",\"Write another.\",\"And one more.\"],\"max_tokens\":8000}",
                "{\"model\":\"m\",\"PROMPT\":[\"Write a very long story.\",\"Write another.\",\"And one more.\"],\"max_tokens\":8000}");
    }
}
