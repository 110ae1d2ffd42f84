package io.tokenquota.servlet.breakit15;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Round 15 (adv11 issue, item 1 and item 10: "the estimate misses ... maxOutputTokens"): the output
 * budget and the number of completions a request asks for, written in ways the endpoint (or the
 * provider) reads but the estimate does not, so a 20,000-token allowance buys a call of 128,000-256,000
 * output tokens. Each test first shows the plain spelling is refused (429), then the other spelling.
 */
abstract class AbstractRound15 extends H2FilterRound {
    /** Spring Boot's ObjectMapper defaults: unknown properties ignored, scalar coercion on (Jackson's default). */
    static final ObjectMapper MAPPER = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    /** Length of the prompt parameter the form endpoint got, per subject (-1: none). */
    final Map<String, Integer> promptChars = new ConcurrentHashMap<>();

    int calls(String subject) {
        AtomicInteger n = calls.get(subject);
        return n == null ? 0 : n.get();
    }

    void called(HttpServletRequest req) {
        calls.computeIfAbsent(req.getHeader("x-user-id"), k -> new AtomicInteger()).incrementAndGet();
    }

    /** A chat request as a Spring {@code @RequestBody} DTO binds it. */
    public static class ChatRequest {
        public String model;
        public Integer n;
        public Integer max_tokens;
        public List<Map<String, Object>> messages;
    }

    static void openAiJson(HttpServletResponse resp, long prompt, long completion) throws IOException {
        resp.setContentType("application/json");
        resp.getOutputStream().write(("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"done\"},\"finish_reason\":\"length\"}],"
                + "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion
                + ",\"total_tokens\":" + (prompt + completion) + "}}").getBytes(StandardCharsets.UTF_8));
    }

    /** Characters of every string value in a JSON tree: what a model is given to read. */
    static long textChars(JsonNode node) {
        if (node.isTextual()) {
            return node.asText().length();
        }
        long n = 0;
        for (java.util.Iterator<JsonNode> it = node.elements(); it.hasNext(); ) {
            n += textChars(it.next());
        }
        return n;
    }

    static long param(HttpServletRequest req, String name, long otherwise) {
        String v = req.getParameter(name);
        return v == null ? otherwise : Long.parseLong(v.trim());
    }

    /** The AI endpoint: every route calls "the model" once; it writes n completions of max_tokens each. */
    public class Model extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String uri = req.getRequestURI();
            String route = uri.substring("/ai".length());
            int second = route.indexOf('/', 1);
            route = second < 0 ? route : route.substring(0, second);
            switch (route) {
                case "/dto" -> {
                    // a Spring controller: @RequestBody ChatRequest, then the provider SDK with its fields
                    ChatRequest chat = MAPPER.readValue(req.getInputStream(), ChatRequest.class);
                    called(req);
                    long n = chat.n == null ? 1 : chat.n;
                    long max = chat.max_tokens == null ? 16 : chat.max_tokens;
                    openAiJson(resp, 20, n * max);
                }
                case "/gemini" -> {
                    // Gemini generateContent: the API's JSON mapping (proto3) reads int32 fields from a JSON
                    // number or a numeric string ("16384"), as protobuf's JsonFormat does
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    JsonNode config = body.path("generationConfig");
                    long candidates = config.path("candidateCount").asLong(1);
                    long max = config.path("maxOutputTokens").asLong(8_192);
                    called(req);
                    long out = candidates * max;
                    resp.setContentType("application/json");
                    resp.getOutputStream().write(("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"done\"}],"
                            + "\"role\":\"model\"},\"finishReason\":\"MAX_TOKENS\"}],\"usageMetadata\":{\"promptTokenCount\":20,"
                            + "\"candidatesTokenCount\":" + out + ",\"totalTokenCount\":" + (20 + out) + "}}")
                            .getBytes(StandardCharsets.UTF_8));
                }
                case "/form", "/upload", "/csrf" -> {
                    // a form (or multipart form) endpoint: @RequestParam prompt, n, max_tokens; the servlet
                    // API's parameters merge the query string and the body, as Spring's @RequestParam does
                    String prompt = req.getParameter("prompt");
                    promptChars.put(String.valueOf(req.getHeader("x-user-id")), prompt == null ? -1 : prompt.length());
                    long n = param(req, "n", 1);
                    long max = param(req, "max_tokens", 16);
                    called(req);
                    openAiJson(resp, prompt == null ? 0 : prompt.length() / 4, n * max);
                }
                case "/app" -> {
                    // the application's own chat API ({"conversation_id": ..., "message": ...}), as the original
                    // service's board-ai, clipper and content endpoints take theirs: the endpoint builds the
                    // provider request from its fields, so the model reads every string of the body
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    called(req);
                    openAiJson(resp, textChars(body) / 4, 500);
                }
                case "/gemini-schema" -> {
                    // Gemini with a response schema: the API serialises the schema into the prompt
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    called(req);
                    long prompt = textChars(body) / 4;
                    resp.setContentType("application/json");
                    resp.getOutputStream().write(("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"{}\"}],"
                            + "\"role\":\"model\"},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":" + prompt
                            + ",\"candidatesTokenCount\":10,\"totalTokenCount\":" + (prompt + 10) + "}}")
                            .getBytes(StandardCharsets.UTF_8));
                }
                case "/huge-usage" -> {
                    // an upstream (a self-hosted OpenAI-compatible server) reporting an absurd count
                    req.getInputStream().readAllBytes();
                    called(req);
                    openAiJson(resp, 2_000_000_000_000_000L, 0);
                }
                default -> resp.sendError(404);
            }
        }
    }

    /**
     * What Spring Security's {@code CsrfFilter} does on a POST without an {@code X-CSRF-TOKEN} header: it
     * looks for the token among the parameters, {@code request.getParameter("_csrf")}, which makes the
     * container parse (and consume) a form body. The docs ask for the quota filter to run after Spring
     * Security's chain, so the principal is known. (Tomcat's {@code FailedRequestFilter} and Spring's
     * {@code HiddenHttpMethodFilter} call {@code getParameter} the same way.)
     */
    public static class CsrfParameterFilter implements Filter {
        @Override
        public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
                throws IOException, ServletException {
            if ("POST".equals(((HttpServletRequest) request).getMethod())) {
                request.getParameter("_csrf");
            }
            chain.doFilter(request, response);
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        MultipartConfigElement multipart = new MultipartConfigElement("", 8 << 20, 8 << 20, 0);
        return Deployment.create()
                .filter("csrf", new CsrfParameterFilter(), "/ai/csrf/*")
                .filter("quota", filter, "/*")
                .multipartServlet("model-upload", new Model(), multipart, "/ai/upload/*")
                .servlet("model", new Model(), "/ai/*");
    }

    static String subject() {
        return "u15-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body, String contentType) {
        return TestHttp.post(container.uri(path), body.getBytes(StandardCharsets.UTF_8), "x-user-id", subject,
                "Content-Type", contentType);
    }

    /**
     * A request that asks for far more output than the allowance (n completions of max_tokens each) must
     * be refused with 429, never served: served, it is charged its usage and overdraws by 100,000+.
     */
    void assertRefused(HttpResponse<String> r, String s, String what) {
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), what + ": the estimate must include what the request asks the model to read and write, so a "
                + ALLOWANCE + "-token allowance cannot buy this call; got " + r.statusCode() + ", model calls "
                + calls(s) + ", charged " + a.used() + " of " + ALLOWANCE + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode(), what);
    }

    static final String MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story about a lighthouse.\"}]";

    // ------------------------------------------------------------------ JSON spellings

    /**
     * {@code "n": "64", "max_tokens": "4000"}: numeric strings. Jackson binds them to {@code Integer}
     * fields by default (scalar coercion), so a Spring {@code @RequestBody} endpoint asks the model for
     * 64 completions of 4,000 tokens; the estimate only reads JSON numbers and holds ~1,000.
     */
    @Test
    void numericStringBudgetAndCompletionsAreInTheEstimate() {
        String control = subject();
        assertRefused(post("/ai/dto", control, "{\"model\":\"gpt-4o\",\"n\":64,\"max_tokens\":4000," + MESSAGES + "}",
                "application/json"), control, "control: n and max_tokens as JSON numbers");

        String s = subject();
        assertRefused(post("/ai/dto", s, "{\"model\":\"gpt-4o\",\"n\":\"64\",\"max_tokens\":\"4000\"," + MESSAGES + "}",
                "application/json"), s, "n and max_tokens as numeric strings");
    }

    /**
     * {@code "n": 8.0, "max_tokens": 16000.0}: what a JavaScript or Python client that computed the numbers
     * sends. Jackson binds a float with no fraction to an int ({@code ACCEPT_FLOAT_AS_INT}, on by default),
     * so does pydantic; the estimate ignores float budgets and counts.
     */
    @Test
    void floatBudgetAndCompletionsAreInTheEstimate() {
        String s = subject();
        assertRefused(post("/ai/dto", s, "{\"model\":\"gpt-4o\",\"n\":8.0,\"max_tokens\":16000.0," + MESSAGES + "}",
                "application/json"), s, "n and max_tokens as 8.0 and 16000.0");
    }

    /**
     * Gemini: {@code generationConfig.maxOutputTokens} and {@code candidateCount} as numeric strings, which
     * the Gemini API itself accepts (proto3 JSON mapping: int32 fields take a number or a string). A
     * pass-through proxy needs no DTO for this one.
     */
    @Test
    void geminiNumericStringMaxOutputTokensAndCandidateCountAreInTheEstimate() {
        String contents = "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Write a long story about a lighthouse.\"}]}]";
        String control = subject();
        assertRefused(post("/ai/gemini", control, "{" + contents
                + ",\"generationConfig\":{\"maxOutputTokens\":16384,\"candidateCount\":8}}", "application/json"),
                control, "control: Gemini numbers");

        String s = subject();
        assertRefused(post("/ai/gemini", s, "{" + contents
                + ",\"generationConfig\":{\"maxOutputTokens\":\"16384\",\"candidateCount\":\"8\"}}", "application/json"),
                s, "Gemini maxOutputTokens and candidateCount as numeric strings");
    }

    /**
     * An unknown field nested 600 levels deep: the estimator's parser refuses more than 500 levels and
     * falls back to counting the body as plain text, which drops the output budget and {@code n}; the
     * endpoint's Jackson (default limit 1,000 levels) skips the unknown field and calls the model with
     * n 64 and max_tokens 4,000.
     */
    @Test
    void deeplyNestedIgnoredFieldKeepsTheOutputBudget() {
        String deep = "[".repeat(600) + "]".repeat(600);
        String s = subject();
        assertRefused(post("/ai/dto", s, "{\"model\":\"gpt-4o\",\"n\":64,\"max_tokens\":4000," + MESSAGES
                + ",\"metadata\":{\"trace\":" + deep + "}}", "application/json"), s, "600-level unknown field");
    }

    // ------------------------------------------------------------------ form spellings

    static String form(String... pairs) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < pairs.length; i += 2) {
            sb.append(i == 0 ? "" : "&").append(pairs[i]).append('=')
                    .append(URLEncoder.encode(pairs[i + 1], StandardCharsets.UTF_8));
        }
        return sb.toString();
    }

    /**
     * A form body with {@code n}: "a form body is read like a JSON object of its fields (their text, plus a
     * max_tokens field's budget)", "so the same call costs the same whether it is sent as JSON or as a
     * form". The JSON call with n 64 is refused; the form one holds one completion (4,000) and is served.
     */
    @Test
    void formCompletionsAreInTheEstimate() {
        String s = subject();
        assertRefused(post("/ai/form", s, form("prompt", "Write a long story about a lighthouse.", "n", "64",
                "max_tokens", "4000"), "application/x-www-form-urlencoded"), s, "form n=64&max_tokens=4000");
    }

    /**
     * The budget in the query string of a form POST: the servlet API (and Spring's {@code @RequestParam})
     * merges query and body parameters, so the endpoint reads n and max_tokens from the URL; the filter
     * counts the query only as text.
     */
    @Test
    void queryStringBudgetOfAFormPostIsInTheEstimate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/form?n=8&max_tokens=16000"),
                form("prompt", "Write a long story about a lighthouse.").getBytes(StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "application/x-www-form-urlencoded");
        assertRefused(r, s, "POST /ai/form?n=8&max_tokens=16000 with the prompt in the body");
    }

    /** The same as a GET with everything in the query string (the earlier rounds' GET ?prompt= case). */
    @Test
    void queryStringBudgetOfAGetIsInTheEstimate() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/form?" + form("prompt",
                "Write a long story about a lighthouse.", "n", "8", "max_tokens", "16000")), "x-user-id", s);
        assertRefused(r, s, "GET /ai/form?prompt=...&n=8&max_tokens=16000");
    }

    /**
     * A multipart form with {@code max_tokens} and {@code n} fields (how image-edit and audio endpoints
     * take their options): multipart fields are counted as text only, no output budget at all, not even
     * the default one a JSON body gets.
     */
    @Test
    void multipartBudgetFieldsAreInTheEstimate() {
        String boundary = "b15" + UUID.randomUUID().toString().replace("-", "");
        StringBuilder body = new StringBuilder();
        for (String[] f : new String[][] {{"prompt", "Write a long story about a lighthouse."}, {"n", "8"},
                {"max_tokens", "16000"}}) {
            body.append("--").append(boundary).append("\r\nContent-Disposition: form-data; name=\"").append(f[0])
                    .append("\"\r\n\r\n").append(f[1]).append("\r\n");
        }
        body.append("--").append(boundary).append("--\r\n");
        String s = subject();
        assertRefused(post("/ai/upload", s, body.toString(), "multipart/form-data; boundary=" + boundary), s,
                "multipart n=8, max_tokens=16000");
    }

    // ------------------------------------------------------------------ a body read before the filter


    /**
     * A form POST whose parameters a filter before the quota filter has already read (Spring Security's
     * CSRF check): the container consumed the body to parse them, the quota filter reads an empty body and
     * holds the 1,000-token fallback, and serves it. (The endpoint behind the filter then gets no form
     * parameters at all: the filter's request wrapper answers {@code getParameter} from the empty body it
     * read, hiding the container's parsed ones, so installing the filter also breaks every form endpoint
     * behind such a filter.) A 150,000-character prompt (~37,000 tokens) on a 20,000-token allowance: the
     * control without that filter is refused, the same request behind it is served.
     */
    @Test
    void formBodyParsedByAnEarlierFilterIsStillEstimated() {
        String body = form("_csrf", "4bfd1575-3ad1-4d21-96c7-4ef2f9f96cd0", "prompt", Prose.english(150_000),
                "max_tokens", "500");
        String control = subject();
        assertRefused(post("/ai/form", control, body, "application/x-www-form-urlencoded"), control,
                "control: the form without a filter before the quota filter");

        String s = subject();
        HttpResponse<String> r = post("/ai/csrf", s, body, "application/x-www-form-urlencoded");
        assertRefused(r, s, "the form after a CSRF-style getParameter (the endpoint's prompt parameter: "
                + promptChars.get(s) + " characters of 150,000)");
    }

    /**
     * The other half of the filter-before-the-filter case: a form that fits the allowance is served, and
     * the endpoint still gets the parameters the container parsed (the quota filter's wrapper must not
     * answer them from the empty body it read).
     */
    @Test
    void formParsedByAnEarlierFilterStillReachesTheEndpoint() {
        String s = subject();
        String prompt = "Write a haiku about a lighthouse.";
        HttpResponse<String> r = post("/ai/csrf", s, form("_csrf", "4bfd1575", "prompt", prompt, "max_tokens", "50"),
                "application/x-www-form-urlencoded");
        assertEquals(200, r.statusCode());
        assertEquals(prompt.length(), promptChars.get(s), "the endpoint's prompt parameter");
    }

    // ------------------------------------------------------------------ text in fields the estimate skips

    /**
     * An application's own chat API, {@code {"conversation_id": "c-1", "message": "<600 KB>"}}: the
     * estimate counts only strings under provider field names (prompt, input, content, messages...), so
     * this JSON body is held at the default output budget, 1,000 tokens, and served on a 20,000-token
     * allowance; charged ~150,000. The same bytes as a text/plain body would be counted by their
     * characters and refused: being well-formed JSON shrinks the hold.
     */
    @Test
    void textInAnApplicationsOwnFieldNamesIsEstimated() {
        String text = Prose.english(600_000);
        String control = subject();
        assertRefused(post("/ai/app", control, "conversation_id=c-1 message=" + text, "text/plain"), control,
                "control: the same text as a plain body");

        String s = subject();
        assertRefused(post("/ai/app", s, "{\"conversation_id\":\"c-1\",\"message\":\"" + text + "\"}",
                "application/json"), s, "{\"message\": 600 KB} in the application's own API");
    }

    /**
     * Gemini structured output: {@code generationConfig.responseSchema} (and {@code responseJsonSchema}),
     * which the provider serialises into the prompt like OpenAI's {@code response_format}, whose strings
     * are counted. Under generationConfig nothing is.
     */
    @Test
    void geminiResponseSchemaIsEstimated() {
        String s = subject();
        String body = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Fill in the report.\"}]}],"
                + "\"generationConfig\":{\"responseMimeType\":\"application/json\",\"responseSchema\":{\"type\":\"OBJECT\","
                + "\"properties\":{\"report\":{\"type\":\"STRING\",\"description\":\"" + Prose.english(600_000) + "\"}}}}}";
        assertRefused(post("/ai/gemini-schema", s, body, "application/json"), s, "Gemini responseSchema of 600 KB");
    }

    // ------------------------------------------------------------------ usage the ledger cannot take

    /**
     * The upstream reports usage past the ledger's per-call limit (10^15): the commit is refused, the
     * settlement fails, the hold expires and the call is free. The same figure through the attribute is
     * ignored so the usage or the estimate decides (round 5's fix); through the usage nothing decides.
     */
    @Test
    void usageBeyondTheLedgerLimitDoesNotMakeTheCallFree() {
        String s = subject();
        long failuresBefore = filter.settleFailureCount();
        HttpResponse<String> r = post("/ai/huge-usage", s, "{\"model\":\"gpt-4o\"," + MESSAGES + "}", "application/json");
        assertEquals(200, r.statusCode());
        assertEquals(1, calls(s));
        // settled, or its settlement failed (the hold then stays open until it expires)
        long deadline = System.nanoTime() + 15_000_000_000L;
        while (store.account(s).reserved() != 0 && filter.settleFailureCount() == failuresBefore
                && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        QuotaAccount a = store.account(s);
        assertEquals(failuresBefore, filter.settleFailureCount(), "the settlement must not fail; account " + a
                + " (" + ledger(s) + ")");
        org.junit.jupiter.api.Assertions.assertTrue(a.used() > 0, "a model call must be charged something (its"
                + " estimate at least); charged " + a.used() + " (" + ledger(s) + ")");
    }
}
