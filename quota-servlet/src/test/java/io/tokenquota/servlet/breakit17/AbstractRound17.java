package io.tokenquota.servlet.breakit17;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.core.io.ByteArrayResource;
import org.springframework.core.io.Resource;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Round 17 (adv11 issue: "no model call goes unpaid, nothing that never reached a model is charged").
 * Ordinary Spring MVC controllers and plain servlets behind the filter; each finding has a control
 * that shows the plain variant is handled.
 */
abstract class AbstractRound17 extends H2FilterRound {
    static final ObjectMapper MAPPER = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /** Model calls per subject. */
    static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();


    static int calls(String subject) {
        AtomicInteger n = CALLS.get(subject);
        return n == null ? 0 : n.get();
    }

    static void called(HttpServletRequest req) {
        CALLS.computeIfAbsent(String.valueOf(req.getHeader("x-user-id")), k -> new AtomicInteger()).incrementAndGet();
    }

    /** An OpenAI chat completion as a map (what a Spring controller returns after calling the SDK). */
    static Map<String, Object> completion(String id, String content, long prompt, long completion) {
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("prompt_tokens", prompt);
        usage.put("completion_tokens", completion);
        usage.put("total_tokens", prompt + completion);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put("object", "chat.completion");
        out.put("choices", List.of(Map.of("index", 0, "message", Map.of("role", "assistant", "content", content),
                "finish_reason", "stop")));
        out.put("usage", usage);
        return out;
    }

    // ------------------------------------------------------------------ Spring MVC

    /** Ordinary Spring controllers. */
    @RestController
    public static class AiController {
        /**
         * Text to speech: the model renders audio, returned as a {@code Resource} (Spring then serves
         * byte ranges, as it does for any resource body).
         */
        @PostMapping("/speech")
        public ResponseEntity<Resource> speech(@RequestBody Map<String, Object> body, HttpServletRequest req) {
            called(req);
            byte[] audio = new byte[8_192];
            for (int i = 0; i < audio.length; i++) {
                audio[i] = (byte) (i * 31);
            }
            return ResponseEntity.ok().contentType(MediaType.parseMediaType("audio/mpeg"))
                    .body(new ByteArrayResource(audio));
        }
    }

    /** A batch endpoint taking a JSON list of chat requests ({@code @RequestBody List<ChatRequest>}). */
    @RestController
    public static class ListController {
        @PostMapping("/batch-list")
        public List<Map<String, Object>> batchList(@RequestBody List<Map<String, Object>> requests, HttpServletRequest req) {
            List<Map<String, Object>> out = new ArrayList<>();
            int i = 0;
            for (Map<String, Object> one : requests) {
                called(req);
                long max = one.get("max_tokens") instanceof Number n ? n.longValue() : 16;
                out.add(completion("chatcmpl-l" + (i++), "...", 20, max));
            }
            return out;
        }
    }

    // ------------------------------------------------------------------ plain servlets

    public static class Model extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String route = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (route) {
                case "/completions" -> {
                    // legacy /v1/completions (OpenAI, vLLM, llama.cpp): a list of prompts is a batch, one
                    // choice per prompt (times n), each up to max_tokens
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    called(req);
                    long prompts = body.path("prompt").isArray() ? body.path("prompt").size() : 1;
                    long n = body.path("n").asLong(1);
                    long max = body.path("max_tokens").asLong(16);
                    resp.setContentType("application/json");
                    resp.getOutputStream().write(MAPPER.writeValueAsBytes(
                            completion("cmpl-1", "...", 20, prompts * n * max)));
                }
                case "/flask" -> {
                    // an OpenAI-compatible Python upstream serialising with json.dumps (allow_nan=True,
                    // Flask's jsonify): a log probability of -inf is written as -Infinity
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    called(req);
                    boolean logprobs = body.path("logprobs").asBoolean(false);
                    String lp = logprobs ? ",\"logprobs\":{\"content\":[{\"token\":\"Once\",\"logprob\":-Infinity,"
                            + "\"top_logprobs\":[]}]}" : "";
                    resp.setContentType("application/json");
                    resp.getWriter().write("{\"id\":\"chatcmpl-f\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                            + "\"message\":{\"role\":\"assistant\",\"content\":\"Once upon a time...\"}" + lp
                            + ",\"finish_reason\":\"length\"}],"
                            + "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":12000,\"total_tokens\":12020}}");
                }
                default -> resp.sendError(404);
            }
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, AiController.class, ListController.class)
                .servlet("model", new Model(), "/ai/model/*");
    }

    static String subject() {
        return "u17-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body, String... headers) {
        return TestHttp.postJson(container.uri(path), subject, body, headers);
    }


    // ------------------------------------------------------------------ 3. Spring answers 416 after the call

    /**
     * Spring serves byte ranges of any {@code Resource} a controller returns. A TTS endpoint (the model
     * renders audio, returned as a {@code ByteArrayResource}) called with {@code Range: bytes=999999-}
     * runs the model, then answers 416. The filter reads a 4xx without usage as "the model was not
     * called" and releases the hold: every such call is free (denial of wallet). Control: the same call
     * without Range is charged the estimate.
     */
    @Test
    void springRangeNotSatisfiableAfterTheModelCallIsNotFree() {
        String body = "{\"model\":\"tts-1\",\"voice\":\"alloy\",\"input\":\"Read this chapter aloud, slowly.\"}";
        String control = subject();
        HttpResponse<String> ok = post("/ai/spring/speech", control, body);
        assertEquals(200, ok.statusCode());
        assertTrue(settled(control).used() > 0, "control: charged the estimate (" + ledger(control) + ")");

        String s = subject();
        HttpResponse<String> r = post("/ai/spring/speech", s, body, "Range", "bytes=999999-");
        QuotaAccount a = settled(s);
        assertEquals(1, calls(s), "the controller called the model");
        // the filter hides Range from the endpoint: the call is answered whole, never 416
        assertEquals(200, r.statusCode());
        assertTrue(a.used() > 0, "the model rendered the audio before Spring answered 416 for the client's Range header;"
                + " the call must not be free, charged " + a.used() + " (" + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ 5. the estimate of a batched prompt

    /**
     * Legacy completions (OpenAI {@code /v1/completions}, vLLM, llama.cpp): a list of prompts is a batch,
     * one choice per prompt, each up to {@code max_tokens}. 20 prompts × 4,000 is 80,000 tokens asked
     * for, as much as {@code n: 20}; the estimate counts the budget once, holds ~4,000 and serves it on a
     * 20,000 allowance. Control: the same with {@code n: 20} is refused.
     */
    @Test
    void batchedPromptListIsInTheEstimate() {
        String control = subject();
        HttpResponse<String> c = post("/ai/model/completions", control,
                "{\"model\":\"gpt-3.5-turbo-instruct\",\"n\":20,\"max_tokens\":4000,\"prompt\":\"Write an essay.\"}");
        assertEquals(429, c.statusCode(), "control: n 20 x 4000 is refused on a 20,000 allowance");

        StringBuilder prompts = new StringBuilder("[");
        for (int i = 0; i < 20; i++) {
            prompts.append(i == 0 ? "" : ",").append(JsonTree.quoted("Write essay number " + i + "."));
        }
        String s = subject();
        HttpResponse<String> r = post("/ai/model/completions", s,
                "{\"model\":\"gpt-3.5-turbo-instruct\",\"max_tokens\":4000,\"prompt\":" + prompts + "]}");
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "20 prompts x max_tokens 4000 ask for 80,000 tokens on a " + ALLOWANCE
                + "-token allowance: must be refused; got " + r.statusCode() + ", charged " + a.used() + " ("
                + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }

    // ------------------------------------------------------------------ 6. a Python upstream's -Infinity

    /**
     * An OpenAI-compatible Python upstream (Flask's {@code jsonify}, {@code json.dumps} with its default
     * {@code allow_nan=True}) writes a log probability of minus infinity as {@code -Infinity}. The docs
     * read such bodies in requests ("Python's json.loads reads them"), but the response scanner does not:
     * the client sends {@code logprobs: true} and no max_tokens, the parse fails before {@code usage},
     * and a 12,020-token answer is charged the estimate (input + the 1,000 default budget).
     */
    @Test
    void infinityInLogprobsDoesNotHideTheUsage() {
        String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story.\"}]%s}";
        String control = subject();
        HttpResponse<String> ok = post("/ai/model/flask", control, body.formatted(""));
        assertEquals(200, ok.statusCode());
        assertEquals(12_020, settled(control).used(), "control: the usage is charged (" + ledger(control) + ")");

        String s = subject();
        HttpResponse<String> r = post("/ai/model/flask", s, body.formatted(",\"logprobs\":true"));
        assertEquals(200, r.statusCode());
        QuotaAccount a = settled(s);
        assertEquals(12_020, a.used(), "the answer reported 12,020 tokens; charged " + a.used() + " (" + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ 7. a JSON list of requests

    /**
     * An ordinary Spring batch endpoint, {@code @RequestBody List<ChatRequest>}: four requests with
     * {@code max_tokens: 8000} each ask for 32,000 tokens. The estimate parses only a JSON object; a
     * JSON array is "text", costs its characters (the 1,000 fallback) with no budget, and is served on
     * a 20,000 allowance. Control: one request with {@code n: 4} and the same budget is refused.
     */
    @Test
    void jsonListOfRequestsKeepsTheirBudgets() {
        String one = "{\"model\":\"gpt-4o\",\"max_tokens\":8000,\"messages\":[{\"role\":\"user\",\"content\":\"Write a story.\"}]}";
        String control = subject();
        HttpResponse<String> c = post("/ai/model/completions", control, one.replace("\"max_tokens\"", "\"n\":4,\"max_tokens\""));
        assertEquals(429, c.statusCode(), "control: n 4 x 8000 is refused on a 20,000 allowance");

        String s = subject();
        HttpResponse<String> r = post("/ai/spring/batch-list", s, "[" + one + "," + one + "," + one + "," + one + "]");
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "4 requests x max_tokens 8000 ask for 32,000 tokens on a " + ALLOWANCE
                + "-token allowance: must be refused; got " + r.statusCode() + ", charged " + a.used() + " ("
                + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }
}
