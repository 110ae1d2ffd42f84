package io.tokenquota.servlet.breakit265;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 265 of issue 11: the rules of round 264 (other providers' stored resources released by their
 * shape; Gemini batch results read) against what the providers' own SDKs read and what a Spring AI
 * application answers.
 *
 * <p>Two servlets under the protected prefix {@code /ai/}: a relay to the Gemini API ({@code /ai/gemini/*},
 * answering each request with the JSON set for it) and an application's own endpoints
 * ({@code /ai/app/*}) that call a model for a {@code GET}, as Spring AI's getting-started controllers do
 * ({@code @GetMapping("/ai/generate")}), and answer their own JSON without usage.
 */
abstract class AbstractRound265 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    final Map<String, String> answers = new ConcurrentHashMap<>();

    static String subject() {
        return "u265-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("provider", new Provider(), "/ai/gemini/*")
                .servlet("app", new App(), "/ai/app/*")
                .onStartup(filter::registerByServletName);
    }

    /** The Gemini API behind the relay: the answer set for the request, else 404. */
    class Provider extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String a = answers.get(req.getHeader("x-user-id") + " " + req.getMethod() + " " + req.getRequestURI());
            if (a == null) {
                resp.sendError(404);
                return;
            }
            resp.setContentType("application/json; charset=UTF-8");
            resp.getWriter().write(a);
        }
    }

    /**
     * An application's own GET endpoints, each of which calls a model (counted) and answers the
     * application's JSON around the model's text, as a Spring controller returning a {@code Map} does.
     */
    class App extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            // the model's answer (what ChatClient.prompt(...).call().content() returned)
            String text = "Revenue grew 12% quarter over quarter, driven by the enterprise tier; churn fell in the"
                    + " SMB segment while support tickets per account rose, suggesting onboarding friction.";
            String json = switch (req.getPathInfo()) {
                // GET /ai/app/analyze?dataset=sales-2025: the parameter echoed beside the analysis
                case "/analyze" -> "{\"dataset\":\"" + req.getParameter("dataset") + "\",\"analysis\":\"" + text + "\"}";
                // GET /ai/app/jobs/summary?job_id=…: a CI assistant summarising a build job's log
                case "/jobs/summary" -> "{\"job_id\":\"" + req.getParameter("job_id") + "\",\"summary\":\"" + text + "\"}";
                // GET /ai/app/review?pr=42: a review assistant's comments, per file
                case "/review" -> "{\"files\":[{\"path\":\"src/Billing.java\",\"comment\":\"" + text + "\"}]}";
                default -> null;
            };
            if (json == null) {
                resp.sendError(404);
                return;
            }
            resp.setContentType("application/json");
            resp.getWriter().write(json);
        }
    }

    void answer(String subject, String method, String path, String json) {
        answers.put(subject + " " + method + " " + path, json);
    }

    /** Sends {@code method path} as {@code subject} (no body) and answers the tokens it cost. */
    long cost(String subject, String method, String pathAndQuery) {
        long before = settled(subject).used();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri(pathAndQuery), subject)
                .method(method, HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, r.statusCode(), method + " " + pathAndQuery + ": " + r.body());
        return settled(subject).used() - before;
    }

    // ---------------------------------------------------------------- Gemini batch results

    static final String GEMINI = "/ai/gemini/v1beta/";

    /** One inline result, as {@code GenerateContentBatchOutput.inlinedResponses.inlinedResponses[]} holds it. */
    static String inlined(String key, int prompt, int output) {
        return "{\"response\":{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"The summary.\"}],\"role\":\"model\"},"
                + "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":" + prompt
                + ",\"candidatesTokenCount\":" + output + ",\"totalTokenCount\":" + (prompt + output) + "},"
                + "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"resp-" + UUID.randomUUID() + "\"},"
                + "\"metadata\":{\"key\":\"" + key + "\"}}";
    }

    /**
     * A finished batch as {@code batches.get} answers it: an Operation whose {@code metadata} is the
     * {@code GenerateContentBatch} (with its {@code output}, where the Python and Go SDKs read the results:
     * {@code _BatchJob_from_mldev} maps {@code metadata.output} to {@code dest}), and, when
     * {@code withResponse}, the {@code response} the REST guide's {@code jq} reads as well.
     */
    static String finishedBatch(String id, String results, boolean withResponse) {
        String output = "{\"inlinedResponses\":{\"inlinedResponses\":[" + results + "]}}";
        return "{\"name\":\"batches/" + id + "\",\"metadata\":{\"@type\":"
                + "\"type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch\",\"model\":"
                + "\"models/gemini-2.5-flash\",\"displayName\":\"nightly-summaries\",\"output\":" + output + ","
                + "\"createTime\":\"2025-06-01T10:00:00Z\",\"endTime\":\"2025-06-01T10:20:00Z\","
                + "\"updateTime\":\"2025-06-01T10:20:00Z\",\"batchStats\":{\"requestCount\":\"2\",\"successfulRequestCount\":\"2\"},"
                + "\"state\":\"BATCH_STATE_SUCCEEDED\",\"name\":\"batches/" + id + "\"},\"done\":true"
                + (withResponse ? ",\"response\":{\"@type\":\"type.googleapis.com/google.ai.generativelanguage.v1main."
                        + "GenerateContentBatchOutput\"," + output.substring(1) : "") + "}";
    }

    /**
     * The API's answer holds each result twice (under {@code metadata.output} and {@code response}): each is
     * charged once, named by its {@code responseId}, or, without one, by its place in the batch.
     */
    @ParameterizedTest(name = "responseId {0}")
    @ValueSource(booleans = {true, false})
    void aFinishedBatchsTwoCopiesOfItsResultsAreChargedOnce(boolean responseIds) {
        String s = subject();
        String results = inlined("request-1", 1_000, 8_000) + "," + inlined("request-2", 1_000, 6_000);
        if (!responseIds) {
            results = results.replaceAll(",\"responseId\":\"[^\"]*\"", "");
        }
        answer(s, "GET", GEMINI + "batches/k2j3h4g5f6", finishedBatch("k2j3h4g5f6", results, true));
        assertEquals(16_000, cost(s, "GET", GEMINI + "batches/k2j3h4g5f6"), ledger(s));
    }

    /** The results taken from the list of batches, then read again from the batch itself: charged once. */
    @Test
    void resultsListedThenReadAgainAreChargedOnce() {
        String s = subject();
        String batch = finishedBatch("k2j3h4g5f6", inlined("request-1", 1_000, 8_000) + "," + inlined("request-2", 1_000, 6_000), true);
        answer(s, "GET", GEMINI + "batches", "{\"operations\":[" + batch + "]}");
        answer(s, "GET", GEMINI + "batches/k2j3h4g5f6", batch);
        long listed = cost(s, "GET", GEMINI + "batches");
        long again = cost(s, "GET", GEMINI + "batches/k2j3h4g5f6");
        assertEquals(16_000, listed, ledger(s));
        assertEquals(0, again, ledger(s));
    }

    /**
     * The attack: the Python SDK's {@code client.batches.list()} ({@code GET /v1beta/batches}) answers a
     * {@code ListBatchesResponse}, {@code {"operations": [...]}}, whose every finished batch carries its
     * inline results ({@code _ListBatchJobsResponse_from_mldev} maps each operation through
     * {@code _BatchJob_from_mldev}, {@code dest.inlined_responses}). A client that takes the results from
     * the list (every finished job's {@code dest.inlined_responses}) never reads a batch on its own. The
     * two calls used 9,000 and 7,000 tokens; read through the protected relay, the decisions say they are
     * charged ("Batches are charged where their usage is read, once").
     */
    @Test
    void aFinishedGeminiBatchsResultsReadFromTheBatchListAreCharged() {
        String s = subject();
        answer(s, "GET", GEMINI + "batches", "{\"operations\":[" + finishedBatch("q9x8w7v6u5",
                inlined("request-1", 1_000, 8_000) + "," + inlined("request-2", 1_000, 6_000), true) + "]}");
        long listed = cost(s, "GET", GEMINI + "batches?pageSize=10");
        assertTrue(listed >= 16_000, "the listed batch's results used 16,000 tokens; reading them from the list cost "
                + listed + ": " + ledger(s));
    }

    /**
     * The same results read from the finished batch itself where the Python and Go SDKs read them
     * ({@code metadata.output.inlinedResponses}), from a Gemini-compatible server (or a test double of the
     * SDK's, as the Go SDK's own tests fake it) that answers the batch without the Operation's
     * {@code response} copy.
     */
    @Test
    void aFinishedGeminiBatchsResultsInItsMetadataAreCharged() {
        String s = subject();
        answer(s, "GET", GEMINI + "batches/k2j3h4g5f6", finishedBatch("k2j3h4g5f6",
                inlined("request-1", 1_000, 8_000) + "," + inlined("request-2", 1_000, 6_000), false));
        long read = cost(s, "GET", GEMINI + "batches/k2j3h4g5f6");
        assertTrue(read >= 16_000, "the batch's results used 16,000 tokens; reading them cost " + read + ": " + ledger(s));
    }

    // ---------------------------------------------------------------- an application's own GET endpoints

    /**
     * The attack: a Spring AI application's GET endpoints each call the model and answer their own JSON
     * without usage, naming what they worked on: {@code {"dataset": "sales-2025", "analysis": …}},
     * {@code {"job_id": …, "summary": …}}, {@code {"files": [{"path", "comment"}]}}. A model call without
     * usage is charged its estimate; round 264 releases any read whose top-level field is named
     * {@code dataset}, {@code job_id} or {@code files}, whatever it holds, so each call is free.
     */
    @ParameterizedTest
    @ValueSource(strings = {"/ai/app/analyze?dataset=sales-2025", "/ai/app/jobs/summary?job_id=build-8812",
        "/ai/app/review?pr=42"})
    void anApplicationsGetThatCallsAModelIsCharged(String pathAndQuery) {
        String s = subject();
        long charged = cost(s, "GET", pathAndQuery);
        assertEquals(1, calls.of(s), "the endpoint called the model once");
        assertTrue(charged > 0, "GET " + pathAndQuery + " called the model and answered the application's JSON without"
                + " usage; it cost " + charged + ": " + ledger(s));
    }
}
