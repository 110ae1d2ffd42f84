package io.tokenquota.servlet.breakit34;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.ModelWeights;
import io.tokenquota.ModelWeights.Rates;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 34 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the filter's own bounds and name matching.
 */
abstract class AbstractRound34 extends H2FilterRound {

    /** Unknown models cost 1 per token; o1 and Gemini 2.5 Pro 10 per token of every kind. */
    static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("o1*", Rates.of("10", "10", "10", "10"))
            .model("gemini-2.5-pro*", Rates.of("10", "10", "10", "10"))
            .build();

    /** The models the relay serves, matched as a Java service often does: case-insensitively. */
    static final Map<String, String> SERVED = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);

    static {
        SERVED.put("o1", "o1");
        SERVED.put("gemini-2.5-pro", "gemini-2.5-pro");
    }

    /**
     * A relay that reads the body with Jackson (a repeated key: the last value), runs the model it
     * names (404 for one it does not serve), and answers with OpenAI-style usage (400 + 600) and no
     * model name, as many OpenAI-compatible servers' minimal answers do.
     */
    public static class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = new ObjectMapper().readTree(req.getInputStream());
            String model = SERVED.get(body.path("model").asText());
            if (model == null) {
                resp.sendError(404, "no such model");
                return;
            }
            called(req);
            resp.setHeader("x-ran", model);
            resp.setContentType("application/json");
            resp.getWriter().write(RelayedAnswers.completionJson("Paris.", 400, 600));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter weighted = QuotaFilter.builder(store).protect("/w/").modelWeights(WEIGHTS)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("quota-weighted", weighted, "/w/*")
                .servlet("relay", new Relay(), "/w/chat/completions");
    }

    static String subject() {
        return "u34-" + UUID.randomUUID().toString().substring(0, 12);
    }

    // ------------------------------------------------------------------ 1. more models than candidates

    /**
     * {@code POST /w/chat/completions} whose body repeats {@code "model"} 17 times: 16 made-up names,
     * then {@code "o1"}. Jackson (and most JSON parsers) keep the last value, so the relay runs o1.
     * The filter keeps only the first 16 names as candidates ({@code Weighing.MAX_CANDIDATES}) and the
     * answer names no model, so both the hold and the charge are at the default rate: 1,000 instead
     * of 10,000.
     */
    @Test
    void aSeventeenthModelNameIsNotTheOneThatIsCharged() {
        String s = subject();
        StringBuilder body = new StringBuilder("{");
        for (int i = 0; i < 16; i++) {
            body.append("\"model\":\"cheap-").append(i).append("\",");
        }
        body.append("\"model\":\"o1\",\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}");
        HttpResponse<String> r = TestHttp.postJson(container.uri("/w/chat/completions"), s, body.toString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("o1", r.headers().firstValue("x-ran").orElse(null));
        assertEquals(1, calls(s), "one o1 call was made");
        QuotaAccount a = settled(s);
        assertEquals(10_000, a.used(), "1,000 tokens of o1 at 10 each; charged " + a.used() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 2. case folding of model names

    /**
     * {@code POST /w/chat/completions} with {@code "model":"GEMİNİ-2.5-PRO"} (U+0130, capital I with
     * dot). Java's own case-insensitive comparison ({@code equalsIgnoreCase},
     * {@code String.CASE_INSENSITIVE_ORDER}) takes it for {@code gemini-2.5-pro}, and the relay runs
     * that model. {@code ModelWeights} promises case-insensitive names, but lower-cases with
     * {@code toLowerCase(Locale.ROOT)}, which turns U+0130 into "i" plus a combining dot: no pattern
     * matches, and the call is charged at the default rate (1,000 instead of 10,000).
     */
    @Test
    void aModelNameInAnotherCaseFoldIsChargedItsModelsRates() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/w/chat/completions"), s,
                "{\"model\":\"GEM\u0130N\u0130-2.5-PRO\",\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital"
                        + " of France?\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("gemini-2.5-pro", r.headers().firstValue("x-ran").orElse(null));
        assertEquals(1, calls(s), "one Gemini 2.5 Pro call was made");
        QuotaAccount a = settled(s);
        assertEquals(10_000, a.used(), "1,000 tokens of gemini-2.5-pro at 10 each; charged " + a.used() + ": "
                + ledger(s));
    }
}
