package io.tokenquota.servlet.breakit42;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.MethodParameter;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.converter.HttpMessageConverter;
import org.springframework.http.server.ServerHttpRequest;
import org.springframework.http.server.ServerHttpResponse;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.ModelAttribute;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.servlet.config.annotation.WebMvcConfigurer;
import org.springframework.web.servlet.mvc.method.annotation.ResponseBodyAdvice;

/**
 * Round 42 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the Spring side. Real Spring MVC DispatcherServlets behind the filter, each configured with an
 * ordinary Spring MVC feature that changes what the endpoint reads or writes after the filter decided.
 * Every endpoint calls the model (a fake that bills 40 prompt tokens plus the output it wrote) and
 * returns the provider's answer with its usage; each test has a control that shows the plain Spring
 * setup is charged right.
 */
abstract class AbstractRound42 extends H2FilterRound {
    /** What the model wrote when the client named no budget: far past the 1,000-token default budget. */
    static final long LONG_ANSWER = 6_000;
    static final long PROMPT = 40;

    static String subject() {
        return "u42-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** The provider's answer (OpenAI chat completion) with the usage it bills. */
    static Map<String, Object> completion(long prompt, long output) {
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("prompt_tokens", prompt);
        usage.put("completion_tokens", output);
        usage.put("total_tokens", prompt + output);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", "chatcmpl-42");
        out.put("object", "chat.completion");
        out.put("model", "gpt-4o");
        out.put("choices", List.of(Map.of("index", 0, "message", Map.of("role", "assistant", "content",
                "Once upon a time..."), "finish_reason", "stop")));
        out.put("usage", usage);
        return out;
    }

    // ------------------------------------------------------------------ the endpoints

    /** The usual relay: the upstream's answer returned as the handler's value. */
    @RestController
    public static class Relay {
        @PostMapping("/chat")
        public Map<String, Object> chat(@RequestBody Map<String, Object> body) {
            return completion(PROMPT, LONG_ANSWER);
        }
    }

    /** Jackson's anti-XSSI prefix on every JSON answer ({@code )]}', }), as AngularJS apps configure it. */
    @Configuration
    public static class XssiPrefix implements WebMvcConfigurer {
        @Override
        @SuppressWarnings("deprecation")
        public void extendMessageConverters(List<HttpMessageConverter<?>> converters) {
            org.springframework.http.converter.json.MappingJackson2HttpMessageConverter json =
                    new org.springframework.http.converter.json.MappingJackson2HttpMessageConverter();
            json.setPrefixJson(true);
            converters.add(0, json);
        }
    }

    /**
     * Spring Boot's {@code spring.jackson.generator.write-numbers-as-strings=true} (JavaScript clients
     * lose precision past 2^53): every number of a JSON answer is written as a string.
     */
    @Configuration
    public static class NumbersAsStrings implements WebMvcConfigurer {
        @Override
        @SuppressWarnings("deprecation")
        public void extendMessageConverters(List<HttpMessageConverter<?>> converters) {
            com.fasterxml.jackson.databind.ObjectMapper mapper = new com.fasterxml.jackson.databind.ObjectMapper();
            mapper.enable(com.fasterxml.jackson.core.JsonGenerator.Feature.WRITE_NUMBERS_AS_STRINGS);
            converters.add(0, new org.springframework.http.converter.json.MappingJackson2HttpMessageConverter(mapper));
        }
    }

    /** The common "API envelope" advice: every answer goes out as {code, message, data}. */
    @RestControllerAdvice
    public static class Envelope implements ResponseBodyAdvice<Object> {
        @Override
        public boolean supports(MethodParameter returnType, Class<? extends HttpMessageConverter<?>> converterType) {
            return true;
        }

        @Override
        public Object beforeBodyWrite(Object body, MethodParameter returnType, MediaType contentType,
                                      Class<? extends HttpMessageConverter<?>> converterType,
                                      ServerHttpRequest request, ServerHttpResponse response) {
            Map<String, Object> wrapped = new LinkedHashMap<>();
            wrapped.put("code", 0);
            wrapped.put("message", "ok");
            wrapped.put("data", body);
            return wrapped;
        }
    }

    /** Thrown after the model answered: the conversation could not be saved. */
    public static class HistoryUnavailable extends RuntimeException {
        HistoryUnavailable() {
            super("history store unavailable");
        }
    }

    /** A Gemini-shaped request bound from a form by Spring's data binder (nested properties). */
    public static class GeminiForm {
        private String prompt;
        private GenerationConfig generationConfig = new GenerationConfig();

        public String getPrompt() {
            return prompt;
        }

        public void setPrompt(String prompt) {
            this.prompt = prompt;
        }

        public GenerationConfig getGenerationConfig() {
            return generationConfig;
        }

        public void setGenerationConfig(GenerationConfig generationConfig) {
            this.generationConfig = generationConfig;
        }
    }

    public static class GenerationConfig {
        private Integer maxOutputTokens;
        private Integer candidateCount;

        public Integer getCandidateCount() {
            return candidateCount;
        }

        public void setCandidateCount(Integer candidateCount) {
            this.candidateCount = candidateCount;
        }

        public Integer getMaxOutputTokens() {
            return maxOutputTokens;
        }

        public void setMaxOutputTokens(Integer maxOutputTokens) {
            this.maxOutputTokens = maxOutputTokens;
        }
    }

    /** Endpoints that write the answer themselves or bind forms. */
    @RestController
    public static class Writers {
        /**
         * Relays the upstream's bytes to the response as they come, then saves the conversation; the
         * save fails after the answer was written.
         */
        @PostMapping("/relay-then-save")
        public void relayThenSave(@RequestBody Map<String, Object> body, HttpServletResponse resp) throws IOException {
            resp.setContentType("application/json");
            resp.getOutputStream().write(new com.fasterxml.jackson.databind.ObjectMapper()
                    .writeValueAsBytes(completion(PROMPT, LONG_ANSWER)));
            if (Boolean.TRUE.equals(body.get("save"))) {
                throw new HistoryUnavailable();
            }
        }

        /** Gemini's generateContent from a form: the binder fills generationConfig.maxOutputTokens. */
        @PostMapping("/gemini-form")
        public Map<String, Object> geminiForm(@ModelAttribute GeminiForm form) {
            GenerationConfig config = form.getGenerationConfig();
            Integer budget = config.getMaxOutputTokens();
            Integer count = config.getCandidateCount();
            return gemini((budget == null ? 1_000 : budget) * (count == null ? 1 : count));
        }

        /** The same call as JSON. */
        @PostMapping("/gemini")
        @SuppressWarnings("unchecked")
        public Map<String, Object> geminiJson(@RequestBody Map<String, Object> body) {
            Map<String, Object> config = (Map<String, Object>) body.getOrDefault("generationConfig", Map.of());
            Object budget = config.get("maxOutputTokens");
            Object count = config.get("candidateCount");
            return gemini((budget == null ? 1_000 : ((Number) budget).intValue())
                    * (count == null ? 1 : ((Number) count).intValue()));
        }

        static Map<String, Object> gemini(long output) {
            Map<String, Object> usage = new LinkedHashMap<>();
            usage.put("promptTokenCount", PROMPT);
            usage.put("candidatesTokenCount", output);
            usage.put("totalTokenCount", PROMPT + output);
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("candidates", List.of(Map.of("content", Map.of("role", "model", "parts",
                    List.of(Map.of("text", "..."))), "finishReason", "STOP", "index", 0)));
            out.put("usageMetadata", usage);
            out.put("modelVersion", "gemini-2.5-pro");
            return out;
        }

        @ExceptionHandler(HistoryUnavailable.class)
        public ResponseEntity<Map<String, Object>> historyUnavailable(HistoryUnavailable e) {
            return ResponseEntity.status(HttpStatus.SERVICE_UNAVAILABLE).body(Map.of("error", e.getMessage()));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("plain", SpringMvc.dispatcher(Relay.class, Writers.class), "/ai/plain/*")
                .servlet("xssi", SpringMvc.dispatcher(XssiPrefix.class, Relay.class), "/ai/xssi/*")
                .servlet("envelope", SpringMvc.dispatcher(Envelope.class, Relay.class), "/ai/envelope/*")
                .servlet("strings", SpringMvc.dispatcher(NumbersAsStrings.class, Relay.class), "/ai/strings/*");
    }

    HttpResponse<String> post(String path, String subject, String body) {
        return TestHttp.postJson(container.uri(path), subject, body);
    }

    static final String STORY = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story\"}]}";

    void assertChargedTheUsage(String path) {
        String control = subject();
        HttpResponse<String> ok = post("/ai/plain/chat", control, STORY);
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals(PROMPT + LONG_ANSWER, settled(control).used(), "control: the usage is charged (" + ledger(control) + ")");

        String s = subject();
        HttpResponse<String> r = post(path, s, STORY);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(PROMPT + LONG_ANSWER, settled(s).used(),
                "the answer " + r.body().substring(0, Math.min(60, r.body().length())) + "... reports "
                        + (PROMPT + LONG_ANSWER) + " tokens but the call was charged less (" + ledger(s) + ")");
    }

    /**
     * MappingJackson2HttpMessageConverter with {@code setPrefixJson(true)} writes {@code )]}', } before
     * every JSON answer (protection against JSON hijacking). The answer starts like neither JSON nor an
     * event stream, so its usage is not read: a 6,040-token call is charged its ~1,000-token estimate.
     */
    @Test
    void aJsonAnswerWithSpringsXssiPrefixIsChargedItsUsage() {
        assertChargedTheUsage("/ai/xssi/chat");
    }

    /**
     * With Jackson writing numbers as strings the answer's usage reads
     * {@code "total_tokens":"6040"}: the filter reads only JSON numbers, so the call is charged its
     * ~1,000-token estimate. (The estimator already reads string budgets, "as lenient readers read one".)
     */
    @Test
    void anAnswerWhoseNumbersSpringWritesAsStringsIsChargedItsUsage() {
        assertChargedTheUsage("/ai/strings/chat");
    }

    /**
     * A ResponseBodyAdvice that wraps every answer in {code, message, data} (the commonest Spring
     * "unified response" pattern): the provider's usage is at data.usage, the call is charged its
     * estimate. Reading a nested usage as provisional (at least the estimate) could not be abused.
     */
    @Test
    void anAnswerWrappedByAResponseBodyAdviceIsChargedItsUsage() {
        assertChargedTheUsage("/ai/envelope/chat");
    }

    /**
     * The handler relays the model's answer (with its usage) to the response, then fails; Spring's
     * DispatcherServlet resets the uncommitted buffer before the @ExceptionHandler writes a 503. The
     * README's settlement rule 2 says usage in the response is charged "also after an exception, a
     * 5xx", but the filter drops bytes a resetBuffer() discards and releases the hold: the model call
     * is free.
     */
    @Test
    void usageWrittenBeforeAnExceptionHandlerAnsweredIsCharged() {
        String control = subject();
        HttpResponse<String> ok = post("/ai/plain/relay-then-save", control, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals(PROMPT + LONG_ANSWER, settled(control).used(), "control (" + ledger(control) + ")");

        String s = subject();
        HttpResponse<String> r = post("/ai/plain/relay-then-save", s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"save\":true}");
        assertEquals(503, r.statusCode(), r.body());
        assertEquals(PROMPT + LONG_ANSWER, settled(s).used(),
                "the model answered and its usage was written before the exception (" + ledger(s) + ")");
    }

    /**
     * Spring's data binder fills nested properties from a form ({@code generationConfig.maxOutputTokens}),
     * exactly as Jackson fills them from JSON. The JSON call asking for two candidates of 16,000 output
     * tokens is refused on a 20,000-token allowance; the same call as a form is held its text plus the
     * default budget (about 1,000), served, and charged 32,040.
     */
    @Test
    void aNestedBudgetBoundFromAFormIsHeld() {
        String control = subject();
        HttpResponse<String> refused = post("/ai/plain/gemini", control,
                "{\"contents\":[{\"parts\":[{\"text\":\"Write a long story\"}]}],"
                        + "\"generationConfig\":{\"maxOutputTokens\":16000,\"candidateCount\":2}}");
        assertEquals(429, refused.statusCode(), "control: the JSON call is refused: " + refused.body());

        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/plain/gemini-form"),
                "prompt=Write+a+long+story&generationConfig.maxOutputTokens=16000&generationConfig.candidateCount=2".getBytes(StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "application/x-www-form-urlencoded");
        assertEquals(429, r.statusCode(), "the form asks for 2 x 16,000 output tokens on a 20,000-token allowance,"
                + " yet was served and charged " + settled(s).used() + " (" + ledger(s) + ")");
    }
}
