package io.tokenquota.servlet.breakit34;

import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.ModelWeights;
import io.tokenquota.ModelWeights.Rates;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.FilterTestHooks;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ShallowEtagFilter;
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

    /** Answers the {@code /small/} filter's memory of answers' usage keeps; section 3 turns it over twice. */
    static final int SMALL_MEMORY = 128;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter weighted = filterFor("/w/").modelWeights(WEIGHTS).build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("quota-weighted", weighted, "/w/*")
                .filter("quota-small", FilterTestHooks.answerMemory(filterFor("/small/"), SMALL_MEMORY).build(), "/small/*")
                .filter("etag", new ShallowEtagFilter(), "/ai/etag/*", "/small/etag/*")
                .servlet("relay", new Relay(), "/w/chat/completions")
                .servlet("etag-chat", new EtagChat(), "/ai/etag/*", "/small/etag/*");
    }

    /**
     * A chat endpoint behind an ETag filter: {@code /ai/etag/chat} answers 4,000 prompt + 6,000
     * completion tokens, {@code /ai/etag/tiny} a one-token answer (any other user's small call).
     */
    public static class EtagChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            called(req);
            resp.setContentType("application/json");
            boolean tiny = req.getRequestURI().endsWith("/tiny");
            resp.getWriter().write(RelayedAnswers.completionJson(tiny ? "ok" : "Paris.", tiny ? 0 : 4_000,
                    tiny ? 1 : 6_000));
        }
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

    // ------------------------------------------------------------------ 3. the 304 memory's bound

    /**
     * {@code POST /ai/etag/chat} (answered 10,000 tokens, with an ETag), then 4,096 small calls by
     * anyone on the server, then the same request again with {@code If-None-Match: <etag>}. The
     * model runs again (10,000 tokens) and the ETag filter turns the answer into 304; the filter's
     * memory of answers by ETag holds only the last 4,096 answers server-wide, so the first answer's
     * usage is gone and the repeat is charged its estimate (about 1,007) instead of 10,000. A browser
     * or HTTP cache revalidating a cached answer does this on its own on any busy server.
     *
     * <p>Run on the {@code /small/} filter, whose memory keeps {@value #SMALL_MEMORY} answers, with twice that
     * many other answers (four for each of 64 users). The round's 4,096 answers no longer turn the default memory
     * over (65,536 answers since) and took 30 s a container; these do turn the small one over, so the first
     * answer's usage is really gone and the charge rests on what the fix does (the endpoint never sees
     * {@code If-None-Match}, so it answers whole and its usage is read): a stronger test of the same outcome.
     */
    @Test
    void aRevalidationAfterTheMemoryTurnedOverIsChargedItsUsage() throws Exception {
        String s = subject();
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write an essay.\"}]}";
        HttpResponse<String> first = TestHttp.postJson(container.uri("/small/etag/chat"), s, body);
        assertEquals(200, first.statusCode(), first.body());
        String etag = first.headers().firstValue("ETag").orElseThrow();
        assertEquals(10_000, settled(s).used(), "control: the first call is charged its usage");

        // twice the memory's worth of other answers, eight at a time (other users' ordinary calls)
        java.net.http.HttpClient client = TestHttp.client();
        java.util.concurrent.Semaphore gate = new java.util.concurrent.Semaphore(8);
        java.util.List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> all = new java.util.ArrayList<>();
        for (int i = 0; i < 2 * SMALL_MEMORY; i++) {
            gate.acquire();
            java.net.http.HttpRequest req = TestHttp.request(container.uri("/small/etag/tiny?n=" + i),
                            "x-user-id", "other-" + (i % 64) + "-" + s, "Content-Type", "application/json")
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"messages\":[]}")).build();
            all.add(client.sendAsync(req, HttpResponse.BodyHandlers.ofString())
                    .whenComplete((r, e) -> gate.release()));
        }
        for (var f : all) {
            assertEquals(200, f.get().statusCode());
        }

        HttpResponse<String> again = TestHttp.postJson(container.uri("/small/etag/chat"), s, body, "If-None-Match", etag);
        // the endpoint does not see If-None-Match: the call is answered whole, its usage read
        assertEquals(200, again.statusCode());
        assertEquals(2, calls(s), "the model was called again");
        QuotaAccount a = settled(s);
        assertEquals(20_000, a.used(), "both 10,000-token calls must be paid; charged " + a.used() + ": " + ledger(s));
    }

    /**
     * {@code POST /ai/etag/chat} (answered 10,000 tokens, with an ETag), then the same chat request
     * with one more space in its JSON and {@code If-None-Match: <etag>}. The endpoint reads the same
     * request, the model runs again and answers the same, and the ETag filter turns it into 304. The
     * filter's memory is keyed by the request's exact bytes, so it does not find the answer and the
     * repeat is charged its estimate (about 1,004) instead of 10,000: a client pays 10% for each
     * repeat by varying whitespace.
     */
    @Test
    void aRevalidationOfTheSameRequestSpeltOtherwiseIsChargedItsUsage() {
        String s = subject();
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write an essay.\"}]}";
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/etag/chat"), s, body);
        assertEquals(200, first.statusCode(), first.body());
        String etag = first.headers().firstValue("ETag").orElseThrow();
        assertEquals(10_000, settled(s).used(), "control: the first call is charged its usage");

        HttpResponse<String> again = TestHttp.postJson(container.uri("/ai/etag/chat"), s, body.replace(",", ", "),
                "If-None-Match", etag);
        // the endpoint does not see If-None-Match: the call is answered whole, its usage read
        assertEquals(200, again.statusCode());
        assertEquals(2, calls(s), "the model was called again");
        QuotaAccount a = settled(s);
        assertEquals(20_000, a.used(), "both 10,000-token calls must be paid; charged " + a.used() + ": " + ledger(s));
    }
}
