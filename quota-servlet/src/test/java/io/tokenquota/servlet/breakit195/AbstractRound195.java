package io.tokenquota.servlet.breakit195;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Round 195 of issue 11: the same request in another body format the endpoint binds. A Spring Boot 3.4+
 * application with {@code jackson-dataformat-yaml} on its classpath (springdoc-openapi brings it through
 * swagger-core) gets Spring's YAML message converter registered by default, so its
 * {@code @PostMapping("/ai/summarize") Summary summarize(@RequestBody SummarizeRequest r)} binds an
 * {@code application/yaml} body exactly as a JSON one: same fields, same {@code max_tokens}. The endpoint
 * calls the model with the bound budget and answers its own JSON ({@code {"summary": ...}}), with no
 * usage: a 2xx without usage is charged its estimate, which for a JSON body holds the named output
 * budget. The servlet here plays that controller: it binds {@code text} and {@code max_tokens} from
 * either format (and from XML, which Spring binds the same way with {@code jackson-dataformat-xml} on the
 * classpath) and the model writes 12,000 tokens of its 16,000 budget.
 */
abstract class AbstractRound195 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    static String subject() {
        return "u195-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String DOCUMENT = Prose.english(2_000);
    static final long BUDGET = 16_000;
    static final long WRITTEN = 12_000;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summarize", new Summarize(), "/ai/summarize");
    }

    private static final Pattern BUDGET_FIELD = Pattern.compile("\"?max_tokens\"?\\s*[:>]\\s*(\\d+)");

    /** The controller: binds the request (JSON or YAML), calls the model, answers its own JSON. */
    class Summarize extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String type = req.getContentType() == null ? "" : req.getContentType();
            if (!type.startsWith("application/json") && !type.startsWith("application/yaml")
                    && !type.startsWith("application/xml")) {
                resp.sendError(415);
                return;
            }
            Matcher m = BUDGET_FIELD.matcher(body);
            long budget = m.find() ? Long.parseLong(m.group(1)) : 1_000;
            calls.count(req.getHeader("x-user-id"));
            // the model reads the instruction and the document, and writes its summary within the budget
            String prompt = "Summarize the following document in detail.\n\n" + DOCUMENT;
            String summary = "word ".repeat((int) Math.min(budget, WRITTEN)).trim();
            ModelTokens.modelTokens(req, TOKENS.estimate(prompt) + Math.min(budget, WRITTEN));
            resp.setContentType("application/json");
            ModelTokens.write(resp, "{\"summary\":\"" + summary + "\"}");
        }
    }

    static String json() {
        return "{\"model\":\"gpt-4o\",\"max_tokens\":" + BUDGET + ",\"text\":\"" + DOCUMENT + "\"}";
    }

    static String yaml() {
        return "model: gpt-4o\nmax_tokens: " + BUDGET + "\ntext: |\n  " + DOCUMENT + "\n";
    }

    static String xml() {
        return "<SummarizeRequest><model>gpt-4o</model><max_tokens>" + BUDGET + "</max_tokens><text>" + DOCUMENT
                + "</text></SummarizeRequest>";
    }

    private long charged(String s, String contentType, String body) throws InterruptedException {
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/summarize"), s,
                "Content-Type", contentType).POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    /**
     * The attack: the same call sent as {@code application/yaml}. The model read the document and wrote
     * 12,000 tokens of its 16,000 budget; the answer has no usage, so the call is charged its estimate,
     * which must hold the budget the request names as the JSON call's does.
     */
    @Test
    void theCallSentAsYamlIsChargedTheBudgetItNames() throws InterruptedException {
        String s = subject();
        long used = charged(s, "application/yaml", yaml());
        long model = ModelTokens.modelTokens(s);
        assertTrue(used >= model, "a call whose model read and wrote " + model + " tokens (budget " + BUDGET
                + " named in its YAML body) is charged at least that, charged " + used + ": " + ledger(s));
    }

    /**
     * The same attack as {@code application/xml}, which Spring binds the same way when
     * {@code jackson-dataformat-xml} is on the classpath (Spring registers its XML converter by default).
     */
    @Test
    void theCallSentAsXmlIsChargedTheBudgetItNames() throws InterruptedException {
        String s = subject();
        long used = charged(s, "application/xml", xml());
        long model = ModelTokens.modelTokens(s);
        assertTrue(used >= model, "a call whose model read and wrote " + model + " tokens (budget " + BUDGET
                + " named in its XML body) is charged at least that, charged " + used + ": " + ledger(s));
    }

    /** Control: the very same call as JSON is charged at least what its model read and wrote. */
    @Test
    void theCallSentAsJsonIsChargedTheBudgetItNames() throws InterruptedException {
        String s = subject();
        long used = charged(s, "application/json", json());
        long model = ModelTokens.modelTokens(s);
        assertTrue(used >= model, "charged " + used + " for " + model + ": " + ledger(s));
        assertTrue(used >= BUDGET, "the JSON call is held and charged its named budget, charged " + used + ": " + ledger(s));
    }
}
