package io.tokenquota.servlet.breakit100;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

/**
 * Round 100 of issue 11: model calls a hostile client gets for free from hosts set up as the docs say.
 * <ul>
 *   <li>llama.cpp's native {@code /completion} given a list of prompts answers a JSON array whose
 *       elements are named by {@code index} (0, 1, ...): the same names for every such call. The filter
 *       remembers which named calls it charged a subject ("a batch's results read again are released")
 *       and releases every later answer naming the same calls, whatever the prompts were.</li>
 *   <li>Anthropic's message batch results name each line by the client's own {@code custom_id} alone:
 *       a host protecting the results (docs/decisions.md, "Batches are charged where their usage is
 *       read, once") charges a second batch that reuses the first's ids (request-1, request-2, as every
 *       example does) nothing.</li>
 *   <li>A {@code GET} whose model found nothing answers 204 (docs: charged, "a GET may run one that
 *       found an empty result"); a client that adds {@code Accept: text/event-stream} or
 *       {@code Last-Event-ID} to it looks like a browser's EventSource reconnect, and the call is
 *       released.</li>
 * </ul>
 */
abstract class AbstractRound100 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Tokens the mock models spent per subject (what the provider bills). */
    final Map<String, AtomicLong> spent = new ConcurrentHashMap<>();

    /** llama.cpp's counts per prompt: 100 evaluated, 400 predicted. */
    static final long EVALUATED = 100;
    static final long PREDICTED = 400;
    /** Anthropic batch results: per request 300 input, 700 output. */
    static final long BATCH_INPUT = 300;
    static final long BATCH_OUTPUT = 700;

    void spend(String subject, long tokens) {
        spent.computeIfAbsent(subject, s -> new AtomicLong()).addAndGet(tokens);
    }

    long spentBy(String subject) {
        AtomicLong n = spent.get(subject);
        return n == null ? 0 : n.get();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter)
                .servlet("llama", new LlamaCpp(), "/ai/llama/*")
                .servlet("batch-results", new AnthropicBatchResults(), "/ai/anthropic/*")
                .servlet("batch-create", new AnthropicBatchCreate(), "/open/anthropic/*")
                .servlet("suggest", new Suggest(), "/ai/v1/suggest");
    }

    // ------------------------------------------------------------------ the application

    /**
     * llama.cpp's server, {@code POST /completion}: a {@code prompt} that is a list of prompts is answered
     * with a JSON array, one object per prompt with its {@code index}, its text and its counts
     * ({@code tokens_evaluated} 100, {@code tokens_predicted} 400, {@code "stop": true}), as llama.cpp
     * answers a multi-prompt completion. Each prompt is a model call.
     */
    public class LlamaCpp extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String s = req.getHeader("x-user-id");
            JsonNode prompts = body.path("prompt");
            int n = prompts.isArray() ? prompts.size() : 1;
            boolean list = prompts.isArray();
            if (!list) {
                // one prompt: llama.cpp answers one object, still with "index": 0
                prompts = JSON.createArrayNode().add(prompts.asText());
            }
            StringBuilder out = new StringBuilder(list ? "[" : "");
            for (int i = 0; i < n; i++) {
                calls.count(s);
                spend(s, EVALUATED + PREDICTED);
                if (i > 0) {
                    out.append(',');
                }
                out.append("{\"index\":").append(i).append(",\"content\":")
                        .append(JSON.writeValueAsString("Answer to " + prompts.path(i).asText()))
                        .append(",\"id_slot\":").append(i).append(",\"stop\":true,\"model\":\"llama-3.1-8b-instruct\",")
                        .append("\"tokens_predicted\":").append(PREDICTED).append(",\"tokens_evaluated\":").append(EVALUATED)
                        .append(",\"generation_settings\":{\"n_predict\":400},\"prompt\":")
                        .append(JSON.writeValueAsString(prompts.path(i).asText()))
                        .append(",\"has_new_line\":false,\"truncated\":false,\"stop_type\":\"limit\",\"stopping_word\":\"\",")
                        .append("\"tokens_cached\":499,\"timings\":{\"prompt_n\":100,\"predicted_n\":400}}");
            }
            if (list) {
                out.append(']');
            }
            resp.setContentType("application/json; charset=utf-8");
            resp.getOutputStream().write(out.toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Batches created: id to its subject and its number of requests. */
    final Map<String, Integer> batches = new ConcurrentHashMap<>();

    /**
     * Anthropic's {@code POST /v1/messages/batches} as the host leaves it unprotected (docs/decisions.md:
     * protect the creation or the results, not both): the provider runs every request of the batch,
     * each a model call. The client names its requests {@code request-1}, {@code request-2}, ... as
     * Anthropic's own examples do.
     */
    public class AnthropicBatchCreate extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String s = req.getHeader("x-user-id");
            int n = body.path("requests").size();
            String id = "msgbatch_" + UUID.randomUUID().toString().replace("-", "").substring(0, 20);
            batches.put(id, n);
            for (int i = 0; i < n; i++) {
                calls.count(s);
                spend(s, BATCH_INPUT + BATCH_OUTPUT);
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"" + id + "\",\"type\":\"message_batch\",\"processing_status\":\"in_progress\"}")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * Anthropic's {@code GET /v1/messages/batches/{id}/results} (protected: the results are charged
     * their usage): one line per request, named by its {@code custom_id}, its message with its own id
     * and usage (300 input, 700 output tokens).
     */
    public class AnthropicBatchResults extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            String[] parts = path.split("/");
            // /v1/messages/batches/{id}/results
            if (parts.length != 6 || !"results".equals(parts[5]) || !batches.containsKey(parts[4])) {
                resp.sendError(404);
                return;
            }
            String id = parts[4];
            StringBuilder lines = new StringBuilder();
            for (int i = 1; i <= batches.get(id); i++) {
                lines.append("{\"custom_id\":\"request-").append(i).append("\",\"result\":{\"type\":\"succeeded\","
                        + "\"message\":{\"id\":\"msg_").append(id.substring(9)).append('_').append(i)
                        .append("\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
                        + "\"content\":[{\"type\":\"text\",\"text\":\"Done.\"}],\"stop_reason\":\"end_turn\","
                        + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":").append(BATCH_INPUT)
                        .append(",\"output_tokens\":").append(BATCH_OUTPUT).append("}}}}\n");
            }
            resp.setContentType("application/x-jsonl");
            resp.getOutputStream().write(lines.toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A search-suggestion endpoint, {@code GET /ai/v1/suggest?q=…}: it asks the model for suggestions
     * (1,200 tokens each time) and answers them as JSON, or, when the model found none, 204 No Content.
     */
    public class Suggest extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String s = req.getHeader("x-user-id");
            calls.count(s);
            spend(s, 1_200);
            String q = req.getParameter("q");
            if (q == null || q.contains("zzqx")) {
                resp.setStatus(204);
                return;
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write("{\"suggestions\":[\"quarterly figures\"]}".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * Sends {@code n} calls ({@code call} of 0, 1, ...): each answered {@code served} or refused 429. How many
     * were served.
     */
    static int servedOrRefused(int n, int served, IntFunction<HttpResponse<String>> call) {
        int count = 0;
        for (int i = 0; i < n; i++) {
            HttpResponse<String> r = call.apply(i);
            if (r.statusCode() == served) {
                count++;
            } else {
                assertEquals(429, r.statusCode(), r.body());
            }
        }
        return count;
    }

    // ------------------------------------------------------------------ llama.cpp list of prompts

    HttpResponse<String> llama(String s, String... prompts) {
        try {
            String body = "{\"prompt\":" + JSON.writeValueAsString(prompts) + ",\"n_predict\":400,\"stream\":false}";
            return TestHttp.postJson(container.uri("/ai/llama/completion"), s, body);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Control: one llama.cpp call with two prompts is charged its usage, 2 x (100 + 400). */
    @Test
    void aListOfPromptsIsChargedItsUsage() throws Exception {
        String s = subject();
        assertCharged(s, llama(s, "Name a river in France.", "Name a river in Spain."), 200, 2, 1_000, "");
    }

    /**
     * The attack: a second llama.cpp call with two other prompts. Its answer names its calls index 0
     * and 1, as the first did, so the filter takes it for the first call's results read again and
     * releases it. Two model calls (1,000 tokens) for nothing.
     */
    @Test
    void aSecondListOfOtherPromptsIsChargedItsUsage() throws Exception {
        String s = subject();
        assertEquals(200, llama(s, "Name a river in France.", "Name a river in Spain.").statusCode());
        HttpResponse<String> second = llama(s, "Write a haiku about rain.", "Write a haiku about snow.");
        assertCharged(s, second, 200, 4, 2_000, "two llama.cpp calls of two prompts each (4 x 500 tokens)");
    }

    /**
     * The same, repeated: after one paid call, every further call with two prompts is free, so a 20,000
     * allowance serves 30 calls (60 prompts, 30,000 tokens of model work) and the account still shows
     * 1,000 used. Either the calls past the allowance are refused or they are charged.
     */
    @Test
    void listsOfPromptsAreNotServedPastTheAllowanceForFree() throws Exception {
        String s = subject();
        int served = servedOrRefused(30, 200, i -> llama(s, "Question " + i + "a: what is " + i + " squared?",
                "Question " + i + "b: what is " + i + " cubed?"));
        long used = settled(s).used();
        assertEquals(2 * served, calls.of(s));
        assertEquals(spentBy(s), used, served + " calls served (" + spentBy(s) + " tokens of model work, allowance "
                + ALLOWANCE + "), charged " + used + " " + ledger(s));
    }

    /**
     * The attack with one prompt: llama.cpp answers a single completion with {@code "index": 0} too, so
     * after a subject's first native {@code /completion} call every later one is released. Three calls,
     * 1,500 tokens of model work, charged 500.
     */
    @Test
    void everySinglePromptCallIsChargedItsUsage() throws Exception {
        String s = subject();
        for (String q : new String[] {"Name a river in France.", "Write a haiku about rain.", "Explain TCP slow start."}) {
            String body = "{\"prompt\":" + JSON.writeValueAsString(q) + ",\"n_predict\":400}";
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/llama/completion"), s, body);
            assertEquals(200, r.statusCode(), r.body());
        }
        assertEquals(3, calls.of(s));
        long used = settled(s).used();
        assertEquals(1_500, used, "three single-prompt llama.cpp calls (3 x 500 tokens) were charged " + used + " "
                + ledger(s));
    }

    // ------------------------------------------------------------------ Anthropic batch results

    String createBatch(String s, int requests) throws IOException {
        StringBuilder body = new StringBuilder("{\"requests\":[");
        for (int i = 1; i <= requests; i++) {
            if (i > 1) {
                body.append(',');
            }
            body.append("{\"custom_id\":\"request-").append(i).append("\",\"params\":{\"model\":\"claude-sonnet-4-5\","
                    + "\"max_tokens\":1024,\"messages\":[{\"role\":\"user\",\"content\":\"Summarise document ")
                    .append(UUID.randomUUID()).append("\"}]}}");
        }
        body.append("]}");
        HttpResponse<String> r = TestHttp.postJson(container.uri("/open/anthropic/v1/messages/batches"), s, body.toString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body()).path("id").asText();
    }

    HttpResponse<String> results(String s, String batch) {
        return TestHttp.get(container.uri("/ai/anthropic/v1/messages/batches/" + batch + "/results"), "x-user-id", s);
    }

    /** Control: one batch's results (two requests) are charged their usage, 2 x 1,000, and once only. */
    @Test
    void aBatchsResultsAreChargedOnce() throws Exception {
        String s = subject();
        String batch = createBatch(s, 2);
        assertEquals(200, results(s, batch).statusCode());
        assertEquals(200, results(s, batch).statusCode());
        assertEquals(2_000, settled(s).used(), ledger(s));
    }

    /**
     * The attack: a second batch, other documents, the same {@code custom_id}s (request-1, request-2).
     * Its results name the same calls as the first's, so the filter releases them as the first batch's
     * results read again: two model calls (2,000 tokens) for nothing.
     */
    @Test
    void aSecondBatchReusingCustomIdsIsChargedItsUsage() throws Exception {
        String s = subject();
        String first = createBatch(s, 2);
        assertEquals(200, results(s, first).statusCode());
        String second = createBatch(s, 2);
        assertCharged(s, results(s, second), 200, 4, 4_000, "two batches of two requests (4 x 1,000 tokens)");
    }

    // ------------------------------------------------------------------ a GET answered 204

    HttpResponse<String> suggest(String s, String q, String... headers) {
        String[] all = new String[headers.length + 2];
        all[0] = "x-user-id";
        all[1] = s;
        System.arraycopy(headers, 0, all, 2, headers.length);
        return TestHttp.get(container.uri("/ai/v1/suggest?q=" + URLEncoder.encode(q, StandardCharsets.UTF_8)), all);
    }

    /** Control: a GET whose model call found nothing, answered 204, is charged its estimate. */
    @Test
    void aGetWhoseModelFoundNothingIsCharged() {
        String s = subject();
        long used = assertAnswered(s, suggest(s, "zzqx quarterly figures"), 204, 1).used();
        assertTrue(used > 0, "a GET whose model call found nothing was charged " + used + " " + ledger(s));
    }

    /**
     * The attack: the same GET with {@code Accept: text/event-stream}, a header any client can send.
     * The filter takes it for a browser's EventSource reconnect and releases the 204, though the
     * endpoint serves no stream and called the model.
     */
    @Test
    void aGetWhoseModelFoundNothingIsChargedWhateverItsAccept() {
        String s = subject();
        HttpResponse<String> r = suggest(s, "zzqx quarterly figures", "Accept", "text/event-stream");
        long used = assertAnswered(s, r, 204, 1).used();
        assertTrue(used > 0, "a GET whose model call found nothing, sent with Accept: text/event-stream, was charged "
                + used + " " + ledger(s));
    }

    /**
     * The attack repeated with {@code Last-Event-ID}: 25 such GETs, each a 1,200-token model call (30,000
     * on a 20,000 allowance), are all served and none is charged.
     */
    @Test
    void getsWithLastEventIdAreNotServedPastTheAllowanceForFree() {
        String s = subject();
        int served = servedOrRefused(25, 204, i -> suggest(s, "zzqx figures " + i, "Last-Event-ID", "1"));
        long used = settled(s).used();
        assertEquals(served, calls.of(s));
        assertTrue(used >= served * 1_000L,
                served + " GETs served (" + spentBy(s) + " tokens of model work), charged " + used + " " + ledger(s));
    }
}
