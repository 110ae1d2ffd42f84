package io.tokenquota.servlet.breakit37;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 37 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a repeated key whose last value (what Jackson, Go and Python read) is {@code null} or another
 * object: the filter holds, and the output fit lowers, a budget the endpoint never reads.
 */
abstract class AbstractRound37 extends H2FilterRound {

    /** What each subject's endpoint read as its output budget, and wrote. */
    static final Map<String, Long> READ_BUDGET = new ConcurrentHashMap<>();

    static String subject() {
        return "u37-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        SubjectResolver loopback = SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1");
        QuotaFilter fitting = QuotaFilter.builder(store).protect("/fit/").subjectResolver(loopback)
                .fitOutputBudget(50).build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("fit", fitting, "/fit/*")
                .servlet("ollama", new OllamaLike(), "/fit/*", "/ai/ollama/*");
    }

    // ------------------------------------------------------------------ endpoints

    /**
     * A chat endpoint (Ollama {@code options.num_predict}, Gemini {@code generationConfig.maxOutputTokens},
     * OpenAI {@code max_tokens}) that reads its body as Jackson (and Go, and Python) read one: a repeated
     * key's last value wins, and a {@code null} one is absent: the budget is then the endpoint's
     * default ({@value #DEFAULT_PREDICT}). It streams its answer without a usage report
     * and records the budget it wrote to.
     */
    public static class OllamaLike extends HttpServlet {
        static final long DEFAULT_PREDICT = 4_000;

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = new ObjectMapper().readTree(req.getInputStream());
            long budget = DEFAULT_PREDICT;
            JsonNode options = body.get("options");
            if (options != null && options.isObject() && options.has("num_predict")) {
                budget = options.get("num_predict").asLong();
            }
            JsonNode gen = body.get("generationConfig");
            if (gen != null && gen.isObject() && gen.has("maxOutputTokens")) {
                budget = gen.get("maxOutputTokens").asLong();
            }
            JsonNode maxTokens = body.get("max_tokens");
            if (maxTokens != null && maxTokens.isNumber()) {
                budget = maxTokens.asLong();
            }
            READ_BUDGET.put(req.getHeader("x-user-id"), budget);
            resp.setHeader("x-budget-read", Long.toString(budget));
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            w.write("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                    + "\"delta\":{\"content\":\"" + "lorem ".repeat(20) + "\"}}]}\n\n");
            w.write("data: [DONE]\n\n");
        }
    }

    // ------------------------------------------------------------------ 1. output fit and a config object overridden

    /**
     * A subject with 400 tokens left sends a body asking for 9,000 output tokens: the filter fits it
     * (lowers the budget, announces it in {@code X-Quota-Output-Capped}) and holds the fitted budget; the
     * endpoint must then write no more than that budget (or the request is refused, 429).
     */
    private void assertFitBindsTheEndpoint(String body) {
        String s = subject();
        store.consume(HoldRequest.of(s, ALLOWANCE - 400).build());
        HttpResponse<String> r = TestHttp.postJson(container.uri("/fit/api/chat"), s, body);
        if (r.statusCode() == 429) {
            return;
        }
        assertEquals(200, r.statusCode(), r.body());
        String capped = r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).orElse(null);
        long read = READ_BUDGET.get(s);
        QuotaAccount a = settled(s);
        long charged = a.used() - (ALLOWANCE - 400);
        assertTrue(capped != null && read <= Long.parseLong(capped),
                "the filter announced the output capped at " + capped + " and held for that, but the endpoint read a budget of "
                        + read + " and was charged " + charged + ": " + ledger(s));
    }

    /** {@code "options":{"num_predict":9000},"options":null}: the fit lowers the first, the endpoint reads the second. */
    @Test
    void aFittedOllamaBodyWhoseOptionsAreOverriddenByNullIsNotBoundByTheFit() {
        assertFitBindsTheEndpoint("{\"model\":\"llama3\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story.\"}],"
                + "\"options\":{\"num_predict\":9000},\"options\":null,\"stream\":true}");
    }

    /** {@code "generationConfig":{"maxOutputTokens":9000},"generationConfig":{"temperature":0.2}}: the same with an object. */
    @Test
    void aFittedGeminiBodyWhoseGenerationConfigIsOverriddenIsNotBoundByTheFit() {
        assertFitBindsTheEndpoint("{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Write a long story.\"}]}],"
                + "\"generationConfig\":{\"maxOutputTokens\":9000},\"generationConfig\":{\"temperature\":0.2}}");
    }

    // ------------------------------------------------------------------ 2. an overridden config lowers the hold

    /**
     * {@code "options":{"num_predict":1},"options":null}: the endpoint (last value wins; Go, Python,
     * Jackson) has no options and writes its default; the filter holds (and, without usage, charges)
     * a one-token budget: less than the same body without any options, which holds the default budget.
     */
    @Test
    void anOverriddenOptionsObjectHoldsLessThanNoOptionsAtAll() {
        assertCostsAtLeastThePlainCall("/ai/ollama/api/chat", "llama3", ",\"options\":{\"num_predict\":1},\"options\":null",
                "behind an overridden options object");
    }

    /**
     * {@code "max_tokens":1,"max_tokens":null} on an OpenAI-compatible stream (no usage by default):
     * the endpoint (last value wins) has no budget and writes its default; the filter holds and
     * charges a one-token budget.
     */
    @Test
    void aBudgetRepeatedAsNullHoldsLessThanNoBudgetAtAll() {
        assertCostsAtLeastThePlainCall("/ai/ollama/v1/chat/completions", "gpt-4o", ",\"max_tokens\":1,\"max_tokens\":null",
                "with a budget repeated as null");
    }

    /**
     * A streamed call without usage, asked plainly and with {@code extra} fields that leave the
     * endpoint its default budget: both answers are written to that default, so the second must cost
     * at least what the first did.
     */
    private void assertCostsAtLeastThePlainCall(String path, String model, String extra, String how) {
        String plain = subject();
        String hostile = subject();
        String base = "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story.\"}],\"stream\":true";
        HttpResponse<String> a = TestHttp.postJson(container.uri(path), plain, base + "}");
        HttpResponse<String> b = TestHttp.postJson(container.uri(path), hostile, base + extra + "}");
        assertEquals(200, a.statusCode(), a.body());
        assertEquals(200, b.statusCode(), b.body());
        assertEquals(READ_BUDGET.get(plain), READ_BUDGET.get(hostile), "both answers were written to the endpoint's default");
        long chargedPlain = settled(plain).used();
        long chargedHostile = settled(hostile).used();
        assertTrue(chargedHostile >= chargedPlain, "the same answer cost " + chargedPlain + " asked plainly and "
                + chargedHostile + " " + how + ": " + ledger(hostile));
    }
}
