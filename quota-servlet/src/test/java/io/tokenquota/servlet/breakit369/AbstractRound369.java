package io.tokenquota.servlet.breakit369;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.ModelTokens;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestPart;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.multipart.MultipartFile;

/**
 * Round 369 of issue 11: request bodies the filter reads one way and the application another. Here: the JSON part of
 * a multipart upload (Spring's {@code @RequestPart} of a request object, as round 207's summariser) labelled with a
 * charset of its own (RFC 7578 section 4.4: "each part MAY have an (optional) Content-Type header field ... with a
 * charset parameter").
 *
 * <p>How the endpoint reads it: Spring MVC binds a {@code @RequestPart} through the message converter for the part's
 * {@code Content-Type} ({@code RequestPartMethodArgumentResolver}, {@code RequestPartServletServerHttpRequest}: the
 * part's own headers). Jackson's converter, {@code AbstractJackson2HttpMessageConverter.readJavaType} (spring-web
 * 7.0.8, read with javap here): {@code Charset charset = getCharset(contentType); boolean isUnicode =
 * ENCODINGS.containsKey(charset.name()) || "UTF-16".equals(charset.name()) || "UTF-32".equals(charset.name());
 * ... if (isUnicode) return objectReader.readValue(inputStream); else { Reader reader = new InputStreamReader(
 * inputStream, charset); return objectReader.readValue(reader); }}: a part labelled with any other charset is decoded
 * in it. IBM037 (EBCDIC, IANA "IBM037", a charset every JDK has) is one; JSON in it reads exactly as the UTF-8 one.
 *
 * <p>How the filter reads it: {@code MultipartBody.read} keeps a part labelled JSON "as sent" and
 * {@code QuotaFilter.filter} estimates its bytes with {@code RequestEstimator.estimate(json)} (Jackson's byte
 * auto-detection: UTF-8/16/32), the part's label never consulted; where that fails, it counts
 * {@code new String(json, <request charset>)} as text. A text part is read in its label's charset
 * ({@code TextPart.labelled}), and a whole JSON body in every charset its label names
 * ({@code QuotaFilter.estimateOf}; docs/decisions.md "Charsets a body is read in"), but a JSON part is not: its
 * {@code max_tokens} is never seen, and the hold (and the charge of an answer without usage) is the fallback.
 */
abstract class AbstractRound369 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    static final String BOUNDARY = "----formdata369";
    /** The document the model summarises: about 1,200 tokens. */
    static final String DOCUMENT = Prose.english(5_000);
    /** The budget the request asks for, and what the model writes (a long report, answered without usage). */
    static final int BUDGET = 12_000;
    static final Charset EBCDIC = Charset.forName("IBM037");

    static String subject() {
        return "u369-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, Reports.class);
    }

    /**
     * {@code POST /ai/spring/report-upload}: the request object (model, budget, instructions) as a JSON part, the
     * file to report on as a file part. The model reads the instructions and the file and writes up to
     * {@code max_tokens} (here all of it); the endpoint answers the report without usage.
     */
    @RestController
    public static class Reports {
        @PostMapping("/report-upload")
        public Map<String, Object> report(@RequestPart("request") Map<String, Object> request,
                                          @RequestPart("file") MultipartFile file,
                                          @RequestHeader("x-user-id") String user,
                                          HttpServletRequest req) throws java.io.IOException {
            CALLS.count(user);
            String prompt = request.get("instructions") + "\n\n" + new String(file.getBytes(), StandardCharsets.UTF_8);
            int budget = ((Number) request.get("max_tokens")).intValue();
            ModelTokens.modelTokens(req, TOKENS.estimate(prompt) + budget);
            Map<String, Object> answer = new LinkedHashMap<>();
            answer.put("model", request.get("model"));
            answer.put("report", ModelTokens.words(budget).trim());
            return answer;
        }
    }

    static String requestJson() {
        return requestJson(BUDGET);
    }

    static String requestJson(int budget) {
        return "{\"model\":\"gpt-4o\",\"max_tokens\":" + budget + ",\"instructions\":\"Write a detailed report on the"
                + " attached minutes: every decision, its owner and its deadline.\"}";
    }

    HttpResponse<String> upload(String s, String partType, byte[] part) {
        return upload(s, partType, part, DOCUMENT);
    }

    HttpResponse<String> upload(String s, String partType, byte[] part, String document) {
        byte[] body = TestHttp.multipart(BOUNDARY,
                "Content-Disposition: form-data; name=\"request\"\r\nContent-Type: " + partType, part,
                "Content-Disposition: form-data; name=\"file\"; filename=\"minutes.txt\"\r\nContent-Type: text/plain; charset=UTF-8",
                document);
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/spring/report-upload"), s,
                        "Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build());
    }

    long served(String s, HttpResponse<String> r) {
        assertEquals(200, r.statusCode(), kind() + ": " + r.body().substring(0, Math.min(300, r.body().length())));
        assertEquals(1, CALLS.of(s), "one model call");
        return settled(s).used();
    }

    /** The same request object, its JSON part labelled UTF-8: held and charged at its budget plus its text. */
    long controlCharge() {
        String c = subject();
        return served(c, upload(c, "application/json; charset=UTF-8", requestJson().getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * Control: the request object's JSON part labelled {@code application/json; charset=UTF-8}: the model writes the
     * {@value #BUDGET} tokens asked for, the answer reports no usage, and the estimate charged covers the budget.
     */
    @Test
    void controlAUtf8JsonPartIsChargedItsBudget() {
        String s = subject();
        long used = served(s, upload(s, "application/json; charset=UTF-8", requestJson().getBytes(StandardCharsets.UTF_8)));
        long model = ModelTokens.modelTokens(s);
        assertEquals(true, used >= model, kind() + ": the model read and wrote " + model + " tokens; charged " + used
                + ": " + ledger(s));
    }

    /**
     * Control: the same request object in UTF-16LE labelled so (Spring hands it to Jackson's byte auto-detection, as
     * the filter does): charged as the UTF-8 one.
     */
    @Test
    void controlAUtf16JsonPartIsChargedAsTheUtf8One() {
        long expected = controlCharge();
        String s = subject();
        long used = served(s, upload(s, "application/json; charset=UTF-16LE", requestJson().getBytes(StandardCharsets.UTF_16LE)));
        assertEquals(expected, used, kind() + ": the same request object in UTF-16LE: " + ledger(s));
    }

    /**
     * The attack: the same request object, its JSON part in EBCDIC labelled {@code application/json; charset=IBM037}.
     * Spring decodes it in IBM037 and the endpoint reads the same model, budget and instructions; the model writes
     * the same {@value #BUDGET} tokens, no usage. The filter read the part as UTF-8 bytes, found no JSON and no
     * budget, and held (and charged) the fallback and the garbled text.
     */
    @Test
    void anEbcdicJsonPartIsChargedAsTheUtf8One() {
        long expected = controlCharge();
        String s = subject();
        long used = served(s, upload(s, "application/json; charset=IBM037", requestJson().getBytes(EBCDIC)));
        long model = ModelTokens.modelTokens(s);
        assertEquals(expected, used, kind() + ": the same request object (max_tokens " + BUDGET + ") in IBM037, which"
                + " Spring's Jackson converter decodes in the part's charset; the model read and wrote " + model
                + " tokens, no usage: " + ledger(s));
    }

    /** A long document to report on: about 6,300 tokens, which with a 16,000 budget is more than the allowance. */
    static final String LONG_DOCUMENT = Prose.english(40_000);
    /** A budget under the filter's default output cap (16,384), so the hold is the budget itself. */
    static final int LARGE_BUDGET = 16_000;

    /**
     * Control: a fresh subject (allowance {@value H2FilterRound#ALLOWANCE}) asks for {@value #LARGE_BUDGET} tokens on a
     * long document, its JSON part in UTF-8: the hold (text plus budget) is more than the allowance, refused 429,
     * the model never called.
     */
    @Test
    void controlAUtf8JsonPartAskingPastTheAllowanceIsRefused() {
        String s = subject();
        HttpResponse<String> r = upload(s, "application/json; charset=UTF-8",
                requestJson(LARGE_BUDGET).getBytes(StandardCharsets.UTF_8), LONG_DOCUMENT);
        assertEquals(429, r.statusCode(), kind() + ": " + ledger(s));
        assertEquals(0, CALLS.of(s), "no model call");
        assertEquals(0, settled(s).used(), ledger(s));
    }

    /**
     * The attack, on the allowance: the same upload, its JSON part in IBM037. The endpoint reads the same
     * {@value #LARGE_BUDGET}-token budget; the filter saw none, held the fallback, and let the call through past the
     * allowance (the model writes the budget; the answer without usage is then charged the small hold).
     */
    @Test
    void anEbcdicJsonPartAskingPastTheAllowanceIsRefused() {
        String s = subject();
        HttpResponse<String> r = upload(s, "application/json; charset=IBM037",
                requestJson(LARGE_BUDGET).getBytes(EBCDIC), LONG_DOCUMENT);
        long model = ModelTokens.modelTokens(s);
        assertEquals(429, r.statusCode(), kind() + ": asking " + LARGE_BUDGET + " tokens on a ~6,300-token document in an"
                + " IBM037 JSON part, on an allowance of " + ALLOWANCE + ": model calls " + CALLS.of(s) + ", the model read"
                + " and wrote " + model + " tokens, " + ledger(s));
        assertEquals(0, CALLS.of(s), "no model call");
    }
}
