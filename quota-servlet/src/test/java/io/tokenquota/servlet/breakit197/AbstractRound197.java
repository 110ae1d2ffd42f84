package io.tokenquota.servlet.breakit197;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;
import com.fasterxml.jackson.dataformat.smile.SmileFactory;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.ModelTokens;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 197 of issue 11: the same request in a binary body format the endpoint binds. Spring MVC registers
 * its CBOR message converter ({@code MappingJackson2CborHttpMessageConverter}, {@code application/cbor})
 * by default whenever {@code jackson-dataformat-cbor} is on the classpath (the AWS SDK for Java v1 and
 * the Kinesis/DynamoDB clients bring it in, as round 135 noted for answers), and its Smile converter for
 * {@code jackson-dataformat-smile}. So {@code @PostMapping("/ai/summarize") Summary
 * summarize(@RequestBody SummarizeRequest r)} binds an {@code application/cbor} body exactly as a JSON
 * one: same fields, same {@code max_tokens}. A hostile client sends its request as CBOR (any CBOR library,
 * {@code cbor2} in Python, a few lines of code). The endpoint calls the model with the bound budget and
 * answers its own JSON, without usage: a 2xx without usage is charged its estimate, which for a JSON (and
 * since round 195 a YAML or XML) body holds the named output budget, and a budget above the cap is
 * lowered or refused with 422.
 */
abstract class AbstractRound197 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    /** The budget each subject's endpoint bound from the body. */
    static final Map<String, Long> BOUND = new ConcurrentHashMap<>();

    static String subject() {
        return "u197-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String DOCUMENT = Prose.english(2_000);
    static final long BUDGET = 16_000;
    static final long WRITTEN = 12_000;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summarize", new Summarize(), "/ai/summarize")
                // an OpenAI-compatible relay that reads every body as JSON, whatever its label says
                .servlet("relay", new Summarize(), "/ai/relay");
    }

    /** The controller: binds the request (JSON or CBOR), calls the model, answers its own JSON. */
    class Summarize extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes();
            String type = req.getContentType() == null ? "" : req.getContentType();
            Map<String, Object> fields;
            if (req.getRequestURI().endsWith("/relay")) {
                type = "application/json";
            }
            if (type.startsWith("application/cbor")) {
                fields = CBOR.readValue(body, new TypeReference<Map<String, Object>>() { });
            } else if (type.startsWith("application/x-jackson-smile")) {
                fields = SMILE.readValue(body, new TypeReference<Map<String, Object>>() { });
            } else if (type.startsWith("application/json")) {
                String json = new String(body, StandardCharsets.UTF_8);
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"max_tokens\"\\s*:\\s*(\\d+)").matcher(json);
                fields = new LinkedHashMap<>();
                if (m.find()) {
                    fields.put("max_tokens", Long.parseLong(m.group(1)));
                }
            } else {
                resp.sendError(415);
                return;
            }
            long budget = fields.get("max_tokens") instanceof Number n ? n.longValue() : 1_000;
            BOUND.put(req.getHeader("x-user-id"), budget);
            calls.count(req.getHeader("x-user-id"));
            // the model reads the instruction and the document, and writes its summary within the budget
            String prompt = "Summarize the following document in detail.\n\n" + DOCUMENT;
            long written = Math.min(budget, WRITTEN);
            String summary = "word ".repeat((int) written).trim();
            ModelTokens.modelTokens(req, TOKENS.estimate(prompt) + written);
            resp.setContentType("application/json");
            ModelTokens.write(resp, "{\"summary\":\"" + summary + "\"}");
        }
    }

    /** The endpoint's converters: Jackson's CBOR and Smile mappers, as Spring's use them. */
    static final ObjectMapper CBOR = new ObjectMapper(new CBORFactory());
    static final ObjectMapper SMILE = new ObjectMapper(new SmileFactory());

    static byte[] encoded(ObjectMapper format, Map<String, Object> fields) {
        try {
            return format.writeValueAsBytes(fields);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Map<String, Object> request(long budget) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("model", "gpt-4o");
        fields.put("max_tokens", budget);
        fields.put("text", DOCUMENT);
        return fields;
    }

    static String json(long budget) {
        return "{\"model\":\"gpt-4o\",\"max_tokens\":" + budget + ",\"text\":\"" + DOCUMENT + "\"}";
    }

    private HttpResponse<String> send(String s, String contentType, byte[] body) {
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/summarize"), s, "Content-Type", contentType)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
    }

    private long charged(String s, String contentType, byte[] body) throws InterruptedException {
        HttpResponse<String> r = send(s, contentType, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    /**
     * The attack: the call sent as {@code application/cbor}. The model read the document and wrote 12,000
     * tokens of its 16,000 budget; the answer has no usage, so the call is charged its estimate, which must
     * hold the budget the request names as the JSON call's does.
     */
    @Test
    void theCallSentAsCborIsChargedTheBudgetItNames() throws InterruptedException {
        String s = subject();
        long used = charged(s, "application/cbor", encoded(CBOR, request(BUDGET)));
        long model = ModelTokens.modelTokens(s);
        assertEquals(BUDGET, BOUND.get(s), "the endpoint bound the budget the CBOR body names");
        assertTrue(used >= model, "a call whose model read and wrote " + model + " tokens (budget " + BUDGET
                + " named in its CBOR body) is charged at least that, charged " + used + ": " + ledger(s));
    }

    /**
     * The attack on the cap: a CBOR body naming 100,000 output tokens, five times the allowance. "No
     * endpoint is asked for more output than is held": the budget is lowered to the cap or refused with
     * 422. Here the endpoint binds 100,000 and the hold knows nothing of it.
     */
    @Test
    void aBudgetAboveTheCapInACborBodyIsNotPassedOn() {
        String s = subject();
        HttpResponse<String> r = send(s, "application/cbor", encoded(CBOR, request(100_000)));
        Long bound = BOUND.get(s);
        assertTrue(r.statusCode() == 422 || (bound != null && bound <= 16_384),
                "a CBOR body asking for 100,000 output tokens (cap 16,384) is refused or lowered; answered "
                        + r.statusCode() + ", the endpoint bound " + bound + ", charged " + settled(s).used() + ": " + ledger(s));
    }

    /** The same call in Smile, Jackson's other binary JSON, which Spring binds as {@code application/x-jackson-smile}. */
    @Test
    void theCallSentAsSmileIsChargedTheBudgetItNames() throws InterruptedException {
        String s = subject();
        long used = charged(s, "application/x-jackson-smile", encoded(SMILE, request(BUDGET)));
        long model = ModelTokens.modelTokens(s);
        assertEquals(BUDGET, BOUND.get(s), "the endpoint bound the budget the Smile body names");
        assertTrue(used >= model, "charged " + used + " for " + model + ": " + ledger(s));
    }

    /**
     * A JSON body labelled CBOR to a relay that reads every body as JSON: the label must not shrink the hold
     * below the JSON reading's.
     */
    @Test
    void aJsonBodyLabelledCborIsStillHeldAsJson() throws InterruptedException {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/relay"), s, "Content-Type",
                "application/cbor").POST(HttpRequest.BodyPublishers.ofString(json(BUDGET))).build());
        assertEquals(200, r.statusCode(), r.body());
        long model = ModelTokens.modelTokens(s);
        long used = settled(s).used();
        assertTrue(used >= model, "charged " + used + " for " + model + ": " + ledger(s));
    }

    /** Control: the very same call as JSON is charged at least what its model read and wrote. */
    @Test
    void theCallSentAsJsonIsChargedTheBudgetItNames() throws InterruptedException {
        String s = subject();
        long used = charged(s, "application/json", json(BUDGET).getBytes(StandardCharsets.UTF_8));
        long model = ModelTokens.modelTokens(s);
        assertTrue(used >= model, "charged " + used + " for " + model + ": " + ledger(s));
    }

    /** Control: a JSON body above the cap is refused or lowered. */
    @Test
    void aBudgetAboveTheCapInAJsonBodyIsNotPassedOn() {
        String s = subject();
        HttpResponse<String> r = send(s, "application/json", json(100_000).getBytes(StandardCharsets.UTF_8));
        Long bound = BOUND.get(s);
        assertTrue(r.statusCode() == 422 || (bound != null && bound <= 16_384),
                "answered " + r.statusCode() + ", bound " + bound + ": " + ledger(s));
    }
}
