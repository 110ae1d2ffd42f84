package io.tokenquota.servlet.breakit16;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestPart;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.context.support.AnnotationConfigWebApplicationContext;
import org.springframework.web.multipart.MultipartFile;
import org.springframework.web.multipart.support.StandardServletMultipartResolver;
import org.springframework.web.servlet.DispatcherServlet;
import org.springframework.web.servlet.config.annotation.EnableWebMvc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Round 16 (adv11 issue: "no model call goes unpaid, nothing that never reached a model is charged").
 * Ordinary Spring MVC code and pass-through proxies behind the filter, each with a control that shows
 * the plain spelling is handled, then the spelling that is not.
 */
abstract class AbstractRound16 extends H2FilterRound {
    static final ObjectMapper MAPPER = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    /**
     * What Python's {@code json.loads} accepts (and so a FastAPI / vLLM / LiteLLM upstream behind a
     * pass-through proxy): JSON plus the literals {@code NaN}, {@code Infinity} and {@code -Infinity}.
     */
    static final ObjectMapper PYTHON_JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    /** Model calls per subject (every route counts the call when the model would be called). */
    static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();


    static int calls(String subject) {
        AtomicInteger n = CALLS.get(subject);
        return n == null ? 0 : n.get();
    }

    static void called(HttpServletRequest req) {
        CALLS.computeIfAbsent(String.valueOf(req.getHeader("x-user-id")), k -> new AtomicInteger()).incrementAndGet();
    }

    /** An OpenAI chat completion as a map (what a Spring controller returns after calling the SDK). */
    static Map<String, Object> completion(long prompt, long completion) {
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("prompt_tokens", prompt);
        usage.put("completion_tokens", completion);
        usage.put("total_tokens", prompt + completion);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", "chatcmpl-16");
        out.put("object", "chat.completion");
        out.put("choices", List.of(Map.of("index", 0, "message", Map.of("role", "assistant", "content", "done"),
                "finish_reason", "length")));
        out.put("usage", usage);
        return out;
    }

    static void openAiJson(HttpServletResponse resp, long prompt, long completion) throws IOException {
        resp.setContentType("application/json");
        resp.getOutputStream().write(MAPPER.writeValueAsBytes(completion(prompt, completion)));
    }

    /** Characters of every member name and string value of a JSON tree: what a provider serialises into the prompt. */
    static long promptChars(JsonNode node) {
        if (node.isTextual()) {
            return node.asText().length();
        }
        long n = 0;
        if (node.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                n += e.getKey().length() + promptChars(e.getValue());
            }
        } else {
            for (JsonNode child : node) {
                n += promptChars(child);
            }
        }
        return n;
    }

    // ------------------------------------------------------------------ Spring MVC

    /** A chat request as a Spring {@code @RequestBody} / {@code @RequestPart} DTO binds it. */
    public static class ChatRequest {
        public String model;
        public Integer n;
        public Integer max_tokens;
        public List<Map<String, Object>> messages;
    }

    /** Ordinary Spring controllers: no {@code produces}, return the model's answer as an object. */
    @RestController
    public static class ChatController {
        @PostMapping({"/chat", "/ai/spring/chat"})
        public Map<String, Object> chat(@RequestBody ChatRequest chat, HttpServletRequest req) {
            called(req);
            long n = chat.n == null ? 1 : chat.n;
            long max = chat.max_tokens == null ? 8_000 : chat.max_tokens;
            return completion(20, n * max);
        }

        /** A JSON part with the request and a file: {@code @RequestPart}, as Spring documents it. */
        @PostMapping({"/upload", "/ai/spring/upload"})
        public Map<String, Object> upload(@RequestPart("request") ChatRequest chat,
                                          @RequestPart(value = "file", required = false) MultipartFile file,
                                          HttpServletRequest req) throws IOException {
            called(req);
            long n = chat.n == null ? 1 : chat.n;
            long max = chat.max_tokens == null ? 8_000 : chat.max_tokens;
            long prompt = file == null ? 20 : file.getBytes().length / 4;
            return completion(prompt, n * max);
        }
    }

    @Configuration
    @EnableWebMvc
    static class WebConfig {
        @Bean
        ChatController chatController() {
            return new ChatController();
        }

        @Bean(name = DispatcherServlet.MULTIPART_RESOLVER_BEAN_NAME)
        StandardServletMultipartResolver multipartResolver() {
            return new StandardServletMultipartResolver();
        }
    }

    static DispatcherServlet dispatcher() {
        AnnotationConfigWebApplicationContext context = new AnnotationConfigWebApplicationContext();
        context.register(WebConfig.class);
        return new DispatcherServlet(context);
    }

    // ------------------------------------------------------------------ plain servlets

    /** Pass-through endpoints: the provider (or a self-hosted upstream) reads the body as it reads it. */
    public static class Model extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String route = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (route) {
                case "/proxy" -> {
                    // Anthropic / Gemini / OpenAI Responses behind a pass-through proxy: the provider
                    // serialises tool inputs, function responses and schemas, names and values, into the prompt
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    called(req);
                    openAiJson(resp, promptChars(body) / 4, 100);
                }
                case "/python" -> {
                    // a proxy to a Python upstream (vLLM, LiteLLM, a FastAPI service): json.loads reads NaN
                    JsonNode body = PYTHON_JSON.readTree(req.getInputStream());
                    called(req);
                    long n = body.path("n").asLong(1);
                    long max = body.path("max_tokens").asLong(16);
                    openAiJson(resp, 20, n * max);
                }
                case "/llama" -> {
                    // llama.cpp's server / LM Studio: max_tokens -1 (or absent) means "until the context is full"
                    JsonNode body = MAPPER.readTree(req.getInputStream());
                    called(req);
                    long max = body.path("max_tokens").asLong(-1);
                    openAiJson(resp, 20, max < 0 ? 8_192 : max);
                }
                default -> resp.sendError(404);
            }
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        MultipartConfigElement multipart = new MultipartConfigElement("", 8 << 20, 8 << 20, 0);
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("spring", dispatcher(), multipart, "/ai/spring/*")
                .servlet("model", new Model(), "/ai/model/*");
    }

    static String subject() {
        return "u16-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, byte[] body, String... headers) {
        String[] all = new String[headers.length + 2];
        all[0] = "x-user-id";
        all[1] = subject;
        System.arraycopy(headers, 0, all, 2, headers.length);
        return TestHttp.post(container.uri(path), body, all);
    }

    HttpResponse<String> postJson(String path, String subject, String body) {
        return post(path, subject, body.getBytes(StandardCharsets.UTF_8), "Content-Type", "application/json");
    }

    /** A call asking for far more than the allowance must be refused (429), never served and overdrawn. */
    void assertRefused(HttpResponse<String> r, String s, String what) {
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), what + ": the estimate must hold what the call asks the model to read and write, so a "
                + ALLOWANCE + "-token allowance cannot buy it; got " + r.statusCode() + ", model calls " + calls(s)
                + ", charged " + a.used() + " of " + ALLOWANCE + " (" + ledger(s) + ")");
        assertEquals(429, r.statusCode(), what);
    }



    static final String MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story about a lighthouse.\"}]";

    // ------------------------------------------------------------------ 1. a 406 after the model call

    /**
     * A Spring {@code @RestController} without {@code produces} runs the handler (the model is called)
     * and only then, writing the return value, finds no converter for the client's {@code Accept}
     * header: {@code HttpMediaTypeNotAcceptableException}, 406. The filter reads every 4xx without usage
     * as "the model was not called" and releases the hold: any client gets model calls for free by
     * sending an {@code Accept} no converter writes, {@code text/csv} (a denial-of-wallet on the operator).
     */
    @Test
    void springNotAcceptableAfterTheModelCallIsNotFree() {
        String control = subject();
        HttpResponse<String> ok = post("/ai/spring/chat", control,
                ("{\"model\":\"gpt-4o\",\"max_tokens\":8000," + MESSAGES + "}").getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json");
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals(8_020, settled(control).used(), "control: the usage is charged (" + ledger(control) + ")");

        String s = subject();
        HttpResponse<String> r = post("/ai/spring/chat", s,
                ("{\"model\":\"gpt-4o\",\"max_tokens\":8000," + MESSAGES + "}").getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json", "Accept", "text/csv");
        QuotaAccount a = settled(s);
        assertEquals(1, calls(s), "the controller called the model");
        assertEquals(406, r.statusCode());
        assertTrue(a.used() > 0, "the model was called (usage 8,020) before Spring answered 406 for the client's Accept"
                + " header; the call must not be free, charged " + a.used() + " (" + ledger(s) + ")");
    }

    // ------------------------------------------------------------------ 2. a JSON part of a multipart request

    static byte[] multipart(String boundary, String json, String fileText) {
        String body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"request\"\r\n"
                + "Content-Type: application/json\r\n\r\n" + json + "\r\n"
                + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n"
                + "Content-Type: text/plain\r\n\r\n" + fileText + "\r\n"
                + "--" + boundary + "--\r\n";
        return body.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Spring's documented way to send a JSON request with a file: {@code @RequestPart("request") ChatRequest}
     * beside {@code @RequestPart("file") MultipartFile}. The JSON part asks for 8 completions of 16,000
     * tokens; the filter reads the multipart fields only as {@code name=value} (a field named
     * {@code max_tokens}), counts the JSON part as text and holds one default budget.
     */
    @Test
    void budgetInAJsonRequestPartIsInTheEstimate() {
        String json = "{\"model\":\"gpt-4o\",\"n\":8,\"max_tokens\":16000," + MESSAGES + "}";
        String control = subject();
        assertRefused(postJson("/ai/spring/chat", control, json), control, "control: the same request as a JSON body");

        String boundary = "b16" + UUID.randomUUID().toString().replace("-", "");
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/upload", s, multipart(boundary, json, "Meeting notes: ship it."),
                "Content-Type", "multipart/form-data; boundary=" + boundary);
        assertRefused(r, s, "@RequestPart JSON with n 8 and max_tokens 16000");
    }

    // ------------------------------------------------------------------ 3. member names the provider reads

    /** About {@code chars} characters of prose as the member names of one JSON object (values {@code true}). */
    static String keysObject(int chars) {
        String text = Prose.english(chars);
        StringBuilder sb = new StringBuilder(chars + chars / 10);
        sb.append('{');
        int i = 0;
        for (int start = 0; start < text.length(); start += 200, i++) {
            String key = i + " " + text.substring(start, Math.min(text.length(), start + 200));
            sb.append(i == 0 ? "" : ",").append(JsonTree.quoted(key)).append(":true");
        }
        return sb.append('}').toString();
    }

    static final int KEY_CHARS = 400_000;

    /**
     * Anthropic: a {@code tool_use} block of the history whose {@code input} object carries its text in
     * member names. Anthropic serialises the tool input (names and values) into the prompt and bills it;
     * the estimate counts string values only. Control: the same text as the values.
     */
    @Test
    void anthropicToolInputMemberNamesAreEstimated() {
        String history = "{\"model\":\"claude-sonnet-4\",\"max_tokens\":100,\"messages\":["
                + "{\"role\":\"user\",\"content\":\"Look it up.\"},"
                + "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"lookup\",\"input\":%s}]},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"ok\"}]}]}";
        String control = subject();
        assertRefused(postJson("/ai/model/proxy", control, history.formatted("{\"q\":" + JsonTree.quoted(Prose.english(KEY_CHARS)) + "}")),
                control, "control: the text as a value of tool_use.input");

        String s = subject();
        assertRefused(postJson("/ai/model/proxy", s, history.formatted(keysObject(KEY_CHARS))), s,
                "the text as member names of tool_use.input");
    }

    /** Gemini: the same with {@code functionResponse.response}, which Gemini serialises into the prompt. */
    @Test
    void geminiFunctionResponseMemberNamesAreEstimated() {
        String s = subject();
        String body = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Look it up.\"}]},"
                + "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"lookup\",\"args\":{}}}]},"
                + "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"lookup\",\"response\":"
                + keysObject(KEY_CHARS) + "}}]}],\"generationConfig\":{\"maxOutputTokens\":100}}";
        assertRefused(postJson("/ai/model/proxy", s, body), s, "the text as member names of functionResponse.response");
    }

    /**
     * OpenAI Responses: structured output is {@code text.format} (the Responses API's
     * {@code response_format}), whose JSON schema the provider serialises into the prompt; the docs count
     * "every name and string of tools, functions and response_format", but property names of
     * {@code text.format.schema} are not counted.
     */
    @Test
    void responsesTextFormatSchemaPropertyNamesAreEstimated() {
        String text = Prose.english(KEY_CHARS);
        StringBuilder props = new StringBuilder("{");
        int i = 0;
        for (int start = 0; start < text.length(); start += 200, i++) {
            props.append(i == 0 ? "" : ",").append(JsonTree.quoted(i + " " + text.substring(start, Math.min(text.length(), start + 200))))
                    .append(":{\"type\":\"string\"}");
        }
        props.append('}');
        String s = subject();
        String body = "{\"model\":\"gpt-4.1\",\"input\":\"Fill in the form.\",\"max_output_tokens\":100,"
                + "\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"form\",\"schema\":{\"type\":\"object\","
                + "\"properties\":" + props + "}}}}";
        assertRefused(postJson("/ai/model/proxy", s, body), s, "the text as property names of text.format.schema");
    }

    // ------------------------------------------------------------------ 4. JSON the upstream reads, the filter does not

    /**
     * A proxy to a Python upstream (vLLM, LiteLLM, a FastAPI service): {@code json.loads} accepts
     * {@code NaN}. One such value in a field the upstream ignores makes the filter read the body as
     * "broken JSON", plain text at the fallback, and drop {@code n} and {@code max_tokens}.
     */
    @Test
    void nanInAnIgnoredFieldKeepsTheOutputBudget() {
        String control = subject();
        assertRefused(postJson("/ai/model/python", control, "{\"model\":\"m\",\"n\":8,\"max_tokens\":16000," + MESSAGES + "}"),
                control, "control: plain JSON");

        String s = subject();
        assertRefused(postJson("/ai/model/python", s, "{\"model\":\"m\",\"n\":8,\"max_tokens\":16000," + MESSAGES
                + ",\"x_trace_score\":NaN}"), s, "n 8 and max_tokens 16000 beside a NaN");
    }

    // ------------------------------------------------------------------ 5. a negative budget

    /**
     * {@code max_tokens: -1} is "no limit" to llama.cpp's server and LM Studio (their OpenAI-compatible
     * endpoints map it to {@code n_predict -1}). The estimate reads a negative budget as 0 and holds no
     * output at all, less than a body that names no budget (the default 1,000): with 600 tokens left, a
     * call without a budget is refused, the same call with {@code -1} is served and overdraws by 7,600+.
     */
    @Test
    void negativeBudgetHoldsAtLeastTheDefaultBudget() {
        String control = subject();
        store.consume(control, ALLOWANCE - 600, null);
        assertRefused(postJson("/ai/model/llama", control, "{\"model\":\"llama\"," + MESSAGES + "}"), control,
                "control: no max_tokens with 600 tokens left");

        String s = subject();
        store.consume(s, ALLOWANCE - 600, null);
        HttpResponse<String> r = postJson("/ai/model/llama", s, "{\"model\":\"llama\",\"max_tokens\":-1," + MESSAGES + "}");
        QuotaAccount a = settled(s);
        assertEquals(0, calls(s), "max_tokens -1 (no limit) with 600 tokens left must not be served: got " + r.statusCode()
                + ", charged " + a.used() + " of " + ALLOWANCE + " (" + ledger(s) + ")");
    }
}
