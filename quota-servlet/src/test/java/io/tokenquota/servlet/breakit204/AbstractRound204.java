package io.tokenquota.servlet.breakit204;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.ModelTokens;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestPart;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.multipart.MultipartFile;

/**
 * Round 204 of issue 11: CBOR request bodies the filter cannot turn into JSON although the endpoint's
 * converter binds them, and CBOR parts of a multipart request that Spring binds by their own label.
 */
abstract class AbstractRound204 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    /** The budget each subject's endpoint bound from the body. */
    static final Map<String, Long> BOUND = new ConcurrentHashMap<>();

    static final String DOCUMENT = Prose.english(2_000);
    static final long BUDGET = 16_000;
    static final long WRITTEN = 12_000;
    static final String BOUNDARY = "----formdata204";

    static String subject() {
        return "u204-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summarize", new Summarize(), "/ai/summarize")
                .multipartServlet("spring", SpringMvc.dispatcher(Parts.class),
                        new MultipartConfigElement("", 8 << 20, 8 << 20, 0), SpringMvc.MAPPING);
    }

    /** The model: reads the instruction and the document, writes its summary within the budget. */
    static String callModel(String user, HttpServletRequest req, long budget) {
        BOUND.put(user, budget);
        CALLS.count(user);
        String prompt = "Summarize the following document in detail.\n\n" + DOCUMENT;
        long written = Math.min(budget, WRITTEN);
        ModelTokens.modelTokens(req, TOKENS.estimate(prompt) + written);
        return "{\"summary\":\"" + "word ".repeat((int) written).trim() + "\"}";
    }

    /** A controller binding a CBOR or JSON body with Jackson's default limits (as Spring's converters do). */
    class Summarize extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes();
            String type = req.getContentType() == null ? "" : req.getContentType();
            Map<String, Object> fields;
            try {
                fields = (type.startsWith("application/cbor") ? CBOR : JSON)
                        .readValue(body, new TypeReference<Map<String, Object>>() { });
            } catch (IOException e) {
                resp.sendError(400);
                return;
            }
            long budget = fields.get("max_tokens") instanceof Number n ? n.longValue() : 1_000;
            String answer = callModel(req.getHeader("x-user-id"), req, budget);
            resp.setContentType("application/json");
            ModelTokens.write(resp, answer);
        }
    }

    /** A Spring MVC upload endpoint: the settings as a part Spring binds by its Content-Type, and a file. */
    @RestController
    public static class Parts {
        @PostMapping("/summarize-upload")
        public String summarize(@RequestPart("request") Map<String, Object> request,
                                @RequestPart("file") MultipartFile file,
                                @RequestHeader("x-user-id") String user,
                                HttpServletRequest req) throws IOException {
            long budget = request.get("max_tokens") instanceof Number n ? n.longValue() : 1_000;
            return callModel(user, req, budget);
        }

        @PostMapping("/summarize")
        public String summarizeBody(@org.springframework.web.bind.annotation.RequestBody Map<String, Object> request,
                                    @RequestHeader("x-user-id") String user, HttpServletRequest req) {
            long budget = request.get("max_tokens") instanceof Number n ? n.longValue() : 1_000;
            return callModel(user, req, budget);
        }
    }

    static final ObjectMapper CBOR = new ObjectMapper(new CBORFactory());
    static final ObjectMapper JSON = new ObjectMapper();

    static byte[] encoded(ObjectMapper format, Object value) {
        try {
            return format.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A value nested {@code depth} lists deep, as an application's metadata or a tool schema can be. */
    static Object nested(int depth) {
        Object v = "leaf";
        for (int i = 0; i < depth; i++) {
            List<Object> l = new ArrayList<>();
            l.add(v);
            v = l;
        }
        return v;
    }

    static Map<String, Object> request(long budget, int metadataDepth) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("model", "gpt-4o");
        fields.put("max_tokens", budget);
        fields.put("text", DOCUMENT);
        if (metadataDepth > 0) {
            fields.put("metadata", nested(metadataDepth));
        }
        return fields;
    }

    HttpResponse<String> send(String s, String contentType, byte[] body) {
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/summarize"), s, "Content-Type", contentType)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
    }

    HttpResponse<String> upload(String s, String partType, byte[] part) {
        byte[] body = TestHttp.multipart(BOUNDARY,
                "Content-Disposition: form-data; name=\"request\"\r\nContent-Type: " + partType, part,
                "Content-Disposition: form-data; name=\"file\"; filename=\"doc.txt\"\r\nContent-Type: text/plain", "see request");
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/spring/summarize-upload"), s,
                        "Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
    }

    void assertChargedTheModel(String s, HttpResponse<String> r, long budget, String what) {
        assertEquals(200, r.statusCode(), what + ": " + r.body());
        assertEquals(1, CALLS.of(s), what + ": model calls");
        assertEquals(budget, BOUND.get(s), what + ": the endpoint bound the budget");
        long used = settled(s).used();
        long model = ModelTokens.modelTokens(s);
        assertTrue(used >= model, kind() + ": " + what + ": the model read and wrote " + model + " tokens (budget "
                + budget + " named in the request, no usage in the answer); charged " + used + ": " + ledger(s));
    }

    void assertNotPassedOn(String s, HttpResponse<String> r, String what) {
        Long bound = BOUND.get(s);
        assertTrue(r.statusCode() == 422 || (bound != null && bound <= 16_384),
                kind() + ": " + what + ": a request asking for 100,000 output tokens (cap 16,384) is refused or lowered;"
                        + " answered " + r.statusCode() + ", the endpoint bound " + bound + ", charged "
                        + settled(s).used() + ": " + ledger(s));
    }

    // --- the body: CBOR nested past the filter's parser limit (500) but within Jackson's default (1,000)

    /** Control: a JSON body with the same 600-deep metadata is held for its budget. */
    @Test
    void controlDeepJsonBodyIsChargedItsBudget() {
        String s = subject();
        assertChargedTheModel(s, send(s, "application/json", encoded(JSON, request(BUDGET, 600))), BUDGET, "deep JSON");
    }

    /** Control: the CBOR body without the deep metadata. */
    @Test
    void controlShallowCborBodyIsChargedItsBudget() {
        String s = subject();
        assertChargedTheModel(s, send(s, "application/cbor", encoded(CBOR, request(BUDGET, 0))), BUDGET, "shallow CBOR");
    }

    @Test
    void aCborBodyWithDeepMetadataIsChargedItsBudget() {
        String s = subject();
        assertChargedTheModel(s, send(s, "application/cbor", encoded(CBOR, request(BUDGET, 600))), BUDGET, "deep CBOR");
    }

    @Test
    void aCborBodyWithDeepMetadataCannotPassABudgetAboveTheCap() {
        String s = subject();
        assertNotPassedOn(s, send(s, "application/cbor", encoded(CBOR, request(100_000, 600))), "deep CBOR");
    }

    /** The same deep CBOR body bound by a real Spring MVC {@code @RequestBody} (its CBOR converter). */
    @Test
    void aCborBodyWithDeepMetadataBoundBySpringIsChargedItsBudget() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/spring/summarize"), s,
                "Content-Type", "application/cbor").POST(HttpRequest.BodyPublishers.ofByteArray(
                encoded(CBOR, request(BUDGET, 600)))).build());
        assertChargedTheModel(s, r, BUDGET, "deep CBOR, Spring @RequestBody");
    }

    /** A Smile part: Spring's Smile converter binds it as well. */
    @Test
    void aSmilePartIsChargedItsBudget() {
        String s = subject();
        assertChargedTheModel(s, upload(s, "application/x-jackson-smile",
                encoded(new ObjectMapper(new com.fasterxml.jackson.dataformat.smile.SmileFactory()), request(BUDGET, 0))),
                BUDGET, "Smile part");
    }

    // --- multipart: a part labelled application/cbor that Spring's @RequestPart binds with its CBOR converter

    /** Control: the settings part as JSON. */
    @Test
    void controlJsonPartIsChargedItsBudget() {
        String s = subject();
        assertChargedTheModel(s, upload(s, "application/json", encoded(JSON, request(BUDGET, 0))), BUDGET, "JSON part");
    }

    @Test
    void aCborPartIsChargedItsBudget() {
        String s = subject();
        assertChargedTheModel(s, upload(s, "application/cbor", encoded(CBOR, request(BUDGET, 0))), BUDGET, "CBOR part");
    }

    @Test
    void aCborPartCannotPassABudgetAboveTheCap() {
        String s = subject();
        assertNotPassedOn(s, upload(s, "application/cbor", encoded(CBOR, request(100_000, 0))), "CBOR part");
    }
}
