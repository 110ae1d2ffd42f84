package io.tokenquota.servlet.breakit18;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;


import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestMethod;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

import org.springframework.web.filter.FormContentFilter;



/**
 * Round 18 (adv11 issue: "no model call goes unpaid, nothing that never reached a model is charged").
 * Each finding has a control showing the plain variant is handled.
 */
abstract class AbstractRound18 extends H2FilterRound {
    /**
     * What Python's {@code json.loads} accepts (a FastAPI / vLLM / LiteLLM upstream behind a pass-through
     * proxy): JSON plus NaN/Infinity, integers of up to 4,300 digits (CPython's
     * {@code sys.get_int_max_str_digits()} default), where Jackson's default stops at 1,000, and member
     * names of any length (Jackson's default stops at 50,000).
     */
    static final ObjectMapper PYTHON_JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    static {
        PYTHON_JSON.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxNumberLength(4_300).maxNameLength(10_000_000).build());
    }

    static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();

    static int calls(String subject) {
        AtomicInteger n = CALLS.get(subject);
        return n == null ? 0 : n.get();
    }

    static void called(HttpServletRequest req) {
        CALLS.computeIfAbsent(String.valueOf(req.getHeader("x-user-id")), k -> new AtomicInteger()).incrementAndGet();
    }

    /** A pass-through proxy to a Python OpenAI-compatible upstream; every route calls the model once. */
    public static class Upstream extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String route = req.getPathInfo() == null ? "" : req.getPathInfo();
            JsonNode body = PYTHON_JSON.readTree(req.getInputStream());
            switch (route) {
                case "/chat/completions" -> {
                    called(req);
                    long n = body.path("n").asLong(1);
                    long max = body.path("max_tokens").asLong(1_000);
                    resp.setContentType("application/json");
                    resp.getWriter().write("{\"id\":\"chatcmpl-18\",\"object\":\"chat.completion\",\"choices\":[],"
                            + "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":" + (n * max)
                            + ",\"total_tokens\":" + (20 + n * max) + "}}");
                }
                case "/messages/batches" -> {
                    // Anthropic Message Batches: each requests[].params is one Messages call, run later;
                    // the answer is the batch, its results are fetched afterwards
                    for (JsonNode one : body.path("requests")) {
                        if (one.path("params").isObject()) {
                            called(req);
                        }
                    }
                    resp.setContentType("application/json");
                    resp.getWriter().write("{\"id\":\"msgbatch_18\",\"type\":\"message_batch\","
                            + "\"processing_status\":\"in_progress\",\"request_counts\":{\"processing\":"
                            + body.path("requests").size() + ",\"succeeded\":0,\"errored\":0,\"canceled\":0,"
                            + "\"expired\":0}}");
                }
                case "/gemini" -> {
                    // Gemini generateContent: an image of up to 384x384 pixels costs 258 prompt tokens
                    called(req);
                    long images = 0;
                    for (JsonNode content : body.path("contents")) {
                        for (JsonNode part : content.path("parts")) {
                            if (part.has("inlineData")) {
                                images++;
                            }
                        }
                    }
                    long prompt = 10 + 258 * images;
                    resp.setContentType("application/json");
                    resp.getWriter().write("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":"
                            + "\"A cat.\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":"
                            + prompt + ",\"candidatesTokenCount\":100,\"totalTokenCount\":" + (prompt + 100) + "}}");
                }
                default -> resp.sendError(404);
            }
        }
    }

    /** An ordinary Spring MVC form endpoint that answers POST and PUT. */
    @RestController
    public static class FormController {
        @RequestMapping(value = "/chat", method = {RequestMethod.POST, RequestMethod.PUT})
        public Map<String, Object> chat(@RequestParam("prompt") String prompt,
                                        @RequestParam(name = "n", defaultValue = "1") long n,
                                        @RequestParam(name = "max_tokens", defaultValue = "1000") long max,
                                        HttpServletRequest req) {
            called(req);
            long input = prompt.length() / 4 + 10;
            return Map.of("id", "chatcmpl-f", "object", "chat.completion", "choices", java.util.List.of(),
                    "usage", Map.of("prompt_tokens", input, "completion_tokens", n * max, "total_tokens", input + n * max));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // Spring Boot registers FormContentFilter (order -9900) before any user filter such as the
        // quota filter (order 0): it parses PUT, PATCH and DELETE form bodies
        return Deployment.create()
                .filter("formContent", new FormContentFilter(), "/*")
                .filter("quota", filter, "/*")
                .servlet("spring", SpringMvc.dispatcher(FormController.class), SpringMvc.MAPPING)
                .servlet("upstream", new Upstream(), "/ai/v1/*");
    }

    static String subject() {
        return "u18-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> postJson(String path, String subject, String body) {
        return TestHttp.post(container.uri(path), body.getBytes(StandardCharsets.UTF_8),
                "x-user-id", subject, "Content-Type", "application/json");
    }

    static String digits(int n) {
        StringBuilder sb = new StringBuilder("1");
        while (sb.length() < n) {
            sb.append('0');
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------ 1. a long integer drops the budget

    /**
     * {@code n: 8, max_tokens: 16000} asks for 128,000 output tokens; the control is refused. The same
     * body with one 1,001-digit integer in a tool's JSON schema (a Python upstream reads integers of up
     * to 4,300 digits) is read by the estimator's parser (maxNumberLength 1,000) as broken JSON, counted
     * as plain text (~1,000), the budget and n dropped, and served on a 20,000 allowance.
     */
    @Test
    void longIntegerInAToolSchemaKeepsTheOutputBudget() {
        String body = "{\"model\":\"m\",\"n\":8,\"max_tokens\":16000,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story.\"}],"
                + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"pick\",\"parameters\":{\"type\":\"object\","
                + "\"properties\":{\"x\":{\"type\":\"integer\",\"maximum\":%s}}}}}]}";
        String control = subject();
        HttpResponse<String> c = postJson("/ai/v1/chat/completions", control, body.formatted("1000"));
        assertEquals(429, c.statusCode(), "control: 8 x 16,000 is refused on a 20,000 allowance");

        String s = subject();
        HttpResponse<String> r = postJson("/ai/v1/chat/completions", s, body.formatted(digits(1_001)));
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "8 x max_tokens 16,000 on a " + ALLOWANCE + "-token allowance must be refused; got "
                + r.statusCode() + ", charged " + a.used() + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }

    /**
     * The same budget-dropping by the estimator's parser limits, by a member name: Jackson's default
     * {@code maxNameLength} is 50,000; Python's {@code json.loads} takes a key of any length. An ignored
     * member whose name is 50,001 spaces turns the body into "plain text" for the estimate, and the
     * 128,000 tokens n x max_tokens asks for are served on a 20,000 allowance.
     */
    @Test
    void longMemberNameKeepsTheOutputBudget() {
        String body = "{\"model\":\"m\",\"n\":8,\"max_tokens\":16000,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story.\"}],\"%s\":1}";
        String control = subject();
        HttpResponse<String> c = postJson("/ai/v1/chat/completions", control, body.formatted("x"));
        assertEquals(429, c.statusCode(), "control: 8 x 16,000 is refused on a 20,000 allowance");

        String s = subject();
        HttpResponse<String> r = postJson("/ai/v1/chat/completions", s, body.formatted(" ".repeat(50_001)));
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "8 x max_tokens 16,000 on a " + ALLOWANCE + "-token allowance must be refused; got "
                + r.statusCode() + ", charged " + a.used() + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }

    // ------------------------------------------------------------------ 2. a PUT form parsed by FormContentFilter

    /**
     * Spring Boot's default {@code FormContentFilter} (order -9900, before the quota filter) parses the
     * form body of a PUT, PATCH or DELETE. The quota filter then reads an empty body; its "an earlier
     * filter parsed the form" rule (round 15) looks only at POST, so it holds the 1,000 fallback while the
     * endpoint gets n=8 and max_tokens=16000 from the parsed parameters. Control: the same form as POST.
     */
    @Test
    void putFormParsedByFormContentFilterIsEstimated() {
        String form = "prompt=Write+a+long+story.&n=8&max_tokens=16000";
        String control = subject();
        HttpResponse<String> c = TestHttp.post(container.uri("/ai/spring/chat"), form.getBytes(StandardCharsets.UTF_8),
                "x-user-id", control, "Content-Type", "application/x-www-form-urlencoded");
        assertEquals(429, c.statusCode(), "control: the POST form asking 8 x 16,000 is refused (" + c.body() + ")");

        String s = subject();
        HttpResponse<String> r = TestHttp.put(container.uri("/ai/spring/chat"), form,
                "x-user-id", s, "Content-Type", "application/x-www-form-urlencoded");
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "the PUT form asks the model for 8 x 16,000 tokens on a " + ALLOWANCE
                + "-token allowance: must be refused; got " + r.statusCode() + ", charged " + a.used() + " ("
                + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }

    // ------------------------------------------------------------------ 3. Anthropic Message Batches

    /**
     * Anthropic's Message Batches API ({@code POST /v1/messages/batches}): each {@code requests[].params} is
     * a Messages call with its own {@code max_tokens}. Round 17 estimates a JSON array of requests element
     * by element (control: the same ten calls as an array are refused); the provider's own batch shape
     * holds one default budget (~1,100) for ten 8,000-token calls, is served, and is charged that: the
     * answer is the batch, without usage, and the calls run afterwards.
     */
    @Test
    void anthropicMessageBatchHoldsEachRequestsBudget() {
        String params = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":8000,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story.\"}]}";
        StringBuilder array = new StringBuilder("[");
        StringBuilder batch = new StringBuilder("{\"requests\":[");
        for (int i = 0; i < 10; i++) {
            array.append(i == 0 ? "" : ",").append(params);
            batch.append(i == 0 ? "" : ",").append("{\"custom_id\":\"r").append(i).append("\",\"params\":")
                    .append(params).append('}');
        }
        String control = subject();
        HttpResponse<String> c = postJson("/ai/v1/messages/batches", control, array + "]");
        assertEquals(429, c.statusCode(), "control: ten 8,000-token requests as a JSON array are refused");

        String s = subject();
        HttpResponse<String> r = postJson("/ai/v1/messages/batches", s, batch + "]}");
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "ten Messages calls of max_tokens 8,000 (80,000 tokens) on a " + ALLOWANCE
                + "-token allowance must be refused; got " + r.statusCode() + ", model calls " + calls(s)
                + ", charged " + a.used() + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }

    // ------------------------------------------------------------------ 4. inline images (a documented decision)

    /**
     * Documented: base64 media is not estimated. That decision repeats the item 1 ("a 750 KB JSON
     * chat body held at the 1,000-token fallback, served, and charged 154,751 tokens on a 20,000
     * allowance"): Gemini bills each image of up to 384x384 pixels 258 tokens and takes up to 3,000 images
     * in one request. 100 tiny inline PNGs (a 16 KB body) cost 25,810 prompt tokens; the filter holds the
     * default budget (~1,000) and serves the call on a 20,000 allowance.
     */
    @Test
    void inlineImagesAreInTheEstimate() {
        String png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        StringBuilder parts = new StringBuilder("{\"text\":\"Describe these images.\"}");
        for (int i = 0; i < 100; i++) {
            parts.append(",{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"").append(png).append("\"}}");
        }
        String body = "{\"contents\":[{\"role\":\"user\",\"parts\":[" + parts + "]}],"
                + "\"generationConfig\":{\"maxOutputTokens\":200}}";
        String s = subject();
        HttpResponse<String> r = postJson("/ai/v1/gemini", s, body);
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "100 images cost 25,800 prompt tokens, more than the " + ALLOWANCE
                + "-token allowance: must be refused; got " + r.statusCode() + ", charged " + a.used() + " ("
                + ledger(s) + ")");
        assertEquals(429, r.statusCode());
    }
}
