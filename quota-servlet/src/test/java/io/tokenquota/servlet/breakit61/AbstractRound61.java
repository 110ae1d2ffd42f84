package io.tokenquota.servlet.breakit61;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 61 of issue 11: where one feature's assumption meets another's. The output-budget fit
 * against a budget the endpoint reads from the query string; per-model weights against request
 * shapes and encodings whose model the weighing does not see (batches, a Latin-1 byte, an EBCDIC
 * label), so a call answered without usage is charged at the wrong model's rates, or its output budget
 * at the input rate.
 */
abstract class AbstractRound61 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();

    /** The README's example table, plus a dear Anthropic row. */
    static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("gpt-4o*", ModelWeights.Rates.of("2.5", "1.25", "10", "10"))
            .model("gpt-4o-mini*", ModelWeights.Rates.of("0.15", "0.075", "0.6", "0.6"))
            .model("claude-opus-4*", ModelWeights.Rates.of("5", "0.5", "25", "25"))
            .defaults(ModelWeights.Rates.of("1", "1", "4", "4"))
            .build();

    static String subject() {
        return "u61-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter fitting = filterFor("/fit/").fitOutputBudget(16).build();
        QuotaFilter weighted = filterFor("/w/").modelWeights(WEIGHTS).build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("fitting", fitting, "/fit/*")
                .filter("weighted", weighted, "/w/*")
                .servlet("chat", new Chat(), "/ai/v1/chat/completions", "/fit/v1/chat/completions",
                        "/w/v1/chat/completions")
                .servlet("batch", new Batch(), "/w/v1/batch")
                .servlet("batches", new AnthropicBatches(), "/w/v1/messages/batches");
    }

    /**
     * An OpenAI-style chat relay written as a plain servlet (or a Spring controller taking
     * {@code @RequestBody ChatRequest} beside {@code @RequestParam(name = "max_tokens", required = false)}):
     * the query string's {@code max_tokens}, when given, overrides the body's, as docs/servlet.md
     * describes such endpoints. It reads the body through {@code getReader()} (the declared charset,
     * malformed bytes as U+FFFD, as Gson's {@code fromJson(req.getReader())} or a Go relay reads them),
     * and streams the answer without {@code include_usage}: OpenAI then sends no usage chunk. It writes
     * as many words as the budget it honoured, and remembers per subject the model and budget it used.
     */
    public static class Chat extends HttpServlet {
        static final Map<String, String> LAST = new ConcurrentHashMap<>();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getReader());
            String query = req.getParameter("max_tokens");
            long budget = query != null ? Long.parseLong(query) : body.path("max_tokens").asLong(1_000);
            String model = body.path("model").asText("default-model");
            LAST.put(String.valueOf(req.getHeader("x-user-id")), model + " " + budget);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String head = "{\"id\":\"chatcmpl-61\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\""
                    + model + "\",";
            long left = budget;
            while (left > 0) {
                long words = Math.min(500, left);
                left -= words;
                out.write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + "word ".repeat((int) words)
                        + "\"},\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            out.write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
                    + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A batch endpoint ({@code @RequestBody List<ChatRequest>}, docs/servlet.md's own example of a JSON
     * array body): it runs each request on the model it names and answers the list of texts, without usage.
     */
    public static class Batch extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode list = JSON.readTree(req.getInputStream());
            StringBuilder answer = new StringBuilder("[");
            for (JsonNode one : list) {
                if (answer.length() > 1) {
                    answer.append(',');
                }
                answer.append('"').append("word ".repeat(one.path("max_tokens").asInt(100))).append('"');
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(answer.append(']').toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * Anthropic's Message Batches creation ({@code POST /v1/messages/batches}): the batch is accepted
     * and its calls run later; the answer is the batch object, without usage. docs/decisions.md
     * ("Batches are charged where their usage is read, once"): protect the creation, charged its
     * estimate, each request's input and budget.
     */
    public static class AnthropicBatches extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JSON.readTree(req.getInputStream());
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"msgbatch_013Zva2CMHLNnXjNJJKqJ2EF\",\"type\":\"message_batch\","
                    + "\"processing_status\":\"in_progress\",\"request_counts\":{\"processing\":2,\"succeeded\":0,"
                    + "\"errored\":0,\"canceled\":0,\"expired\":0},\"ended_at\":null,"
                    + "\"created_at\":\"2025-09-24T18:37:24.100435Z\",\"expires_at\":\"2025-09-25T18:37:24.100435Z\","
                    + "\"cancel_initiated_at\":null,\"results_url\":null}").getBytes(StandardCharsets.UTF_8));
        }
    }

    private long charged(String subject, long before) {
        QuotaAccount a = settled(subject);
        return a.used() - before;
    }

    // ------------------------------------------------------------------ fit x query-string budget

    /**
     * A client with 15,000 tokens left sends a JSON chat body with {@code max_tokens: 4000} to a fitting
     * filter, and {@code ?max_tokens=16000} in the URL, which the endpoint reads
     * ({@code @RequestParam("max_tokens")} beside the {@code @RequestBody}; docs/servlet.md counts a JSON
     * call's query budget, "the larger of the body's and its own"). As asked it holds 16,000 + its text:
     * more than is left. The fit lowers the body's field (the only one it can rewrite) and holds the
     * re-estimate of the body alone, without the query's budget; the endpoint still reads 16,000 and
     * streams without usage, so a 16,000-token answer is charged the fitted hold. The promise: a call
     * answered without usage is charged its estimate, which counts the query's budget; the filter
     * cannot lower a query parameter, so it must refuse (429) or hold it.
     */
    @Test
    void aFittedBodyDoesNotLowerTheBudgetTheEndpointReadsFromTheQueryString() {
        String subject = subject();
        store.consume(subject, 5_000, null);
        long before = store.account(subject).used();
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write the quarterly report"
                + " for the board, in full.\"}],\"max_tokens\":4000,\"stream\":true}";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/fit/v1/chat/completions?max_tokens=16000"), subject, body);
        long charged = charged(subject, before);
        if (r.statusCode() == 429) {
            assertEquals(0, charged, "refused, yet charged: " + ledger(subject));
            return;
        }
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(charged >= 16_000, "the endpoint was sent max_tokens " + Chat.LAST.get(subject).split(" ")[1]
                + " (X-Quota-Output-Capped: " + r.headers().firstValue("X-Quota-Output-Capped").orElse("-")
                + ") and streamed that many words without usage, but was charged " + charged + ": " + ledger(subject));
    }

    // ------------------------------------------------------------------ weights x batches

    /**
     * Control for the weighted tests: a single gpt-4o chat call with {@code max_tokens: 1000}, streamed
     * without usage, is charged its estimate weighed at gpt-4o's rates: at least 1,000 × 10.
     */
    @Test
    void aSingleWeightedCallWithoutUsageIsChargedItsModelsOutputRate() {
        String subject = subject();
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"menu du caf\u00e9, translate\"}],"
                + "\"max_tokens\":1000,\"stream\":true}";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/w/v1/chat/completions"), subject, body);
        assertEquals(200, r.statusCode(), r.body());
        long charged = charged(subject, 0);
        assertTrue(charged >= 10_000, "charged " + charged + ": " + ledger(subject));
    }

    /**
     * A batch endpoint's JSON array of two gpt-4o requests of {@code max_tokens: 500} each, answered
     * without usage: charged its estimate, which the README weighs "for the model the request names",
     * its output budget at the output rate: at least 1,000 × 10 = 10,000 units. The array's elements'
     * models are not candidates (only a top-level object's {@code model} is read) and the array's
     * output budget is not counted as output, so the whole estimate is weighed at the default input
     * rate, 1.
     */
    @Test
    void aJsonArrayBatchIsWeighedAtItsModelsOutputRate() {
        String subject = subject();
        String one = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the %s report.\"}],"
                + "\"max_tokens\":500}";
        String body = "[" + one.formatted("first") + "," + one.formatted("second") + "]";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/w/v1/batch"), subject, body);
        long charged = charged(subject, 0);
        if (r.statusCode() == 429) {
            assertEquals(0, charged, ledger(subject));
            return;
        }
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(charged >= 10_000, "two gpt-4o calls of 500 output tokens each, answered without usage, were "
                + "charged " + charged + " units (gpt-4o's output rate is 10): " + ledger(subject));
    }

    /**
     * Anthropic Message Batches creation with two claude-opus-4 requests of {@code max_tokens: 300}:
     * charged its estimate (docs/decisions.md: protect the creation), weighed for the model the
     * requests name: at least 600 × 25 = 15,000 units. The model sits in {@code requests[].params.model},
     * which the weighing does not read, so the table's default (output 4) is charged.
     */
    @Test
    void anAnthropicBatchCreationIsWeighedAtItsRequestsModel() {
        String subject = subject();
        String one = "{\"custom_id\":\"%s\",\"params\":{\"model\":\"claude-opus-4-1\",\"max_tokens\":300,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Hello, world\"}]}}";
        String body = "{\"requests\":[" + one.formatted("first") + "," + one.formatted("second") + "]}";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/w/v1/messages/batches"), subject, body,
                "anthropic-version", "2023-06-01");
        long charged = charged(subject, 0);
        if (r.statusCode() == 429) {
            assertEquals(0, charged, ledger(subject));
            return;
        }
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(charged >= 15_000, "two claude-opus-4 requests of 300 output tokens each were charged " + charged
                + " units (claude-opus-4's output rate is 25): " + ledger(subject));
    }

    // ------------------------------------------------------------------ weights x encodings

    /**
     * The control's body, but the client wrote its é as one Latin-1 byte (0xE9). The endpoint reads it
     * through {@code getReader()} (U+FFFD in its place; Go's encoding/json does the same) and runs
     * gpt-4o; the estimator reads the body that way too (docs/servlet.md). The model name after the
     * malformed byte is not read for the weighing, so the call is charged at the default rates.
     */
    @Test
    void aLatin1ByteBeforeTheModelDoesNotMakeTheCallCheaper() {
        String subject = subject();
        byte[] body = ("{\"messages\":[{\"role\":\"user\",\"content\":\"menu du caf\u00e9, translate\"}],"
                + "\"model\":\"gpt-4o\",\"max_tokens\":1000,\"stream\":true}").getBytes(StandardCharsets.ISO_8859_1);
        HttpResponse<String> r = TestHttp.post(container.uri("/w/v1/chat/completions"), body,
                "x-user-id", subject, "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("gpt-4o 1000", Chat.LAST.get(subject));
        long charged = charged(subject, 0);
        assertTrue(charged >= 10_000, "a gpt-4o call of max_tokens 1000 answered without usage was charged " + charged
                + " units: " + ledger(subject));
    }

    /**
     * The control's body in EBCDIC, labelled {@code application/json;charset=IBM037}: the container's
     * {@code getReader()} (and Spring's Jackson converter, which reads other charsets through a Reader)
     * decodes it, and the estimator reads every charset the label names. The weighing reads the raw
     * bytes as JSON, finds no model, and charges the default rates.
     */
    @Test
    void anEbcdicLabelledBodyIsWeighedAtItsModel() {
        String subject = subject();
        byte[] body = ("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"menu du cafe, translate\"}],"
                + "\"max_tokens\":1000,\"stream\":true}").getBytes(Charset.forName("IBM037"));
        HttpResponse<String> r = TestHttp.post(container.uri("/w/v1/chat/completions"), body,
                "x-user-id", subject, "Content-Type", "application/json;charset=IBM037");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("gpt-4o 1000", Chat.LAST.get(subject));
        long charged = charged(subject, 0);
        assertTrue(charged >= 10_000, "a gpt-4o call of max_tokens 1000 answered without usage was charged " + charged
                + " units: " + ledger(subject));
    }

    // ------------------------------------------------------------------ team x Idempotency-Key

    /**
     * Two members of one team send the same {@code Idempotency-Key} (a client library that derives
     * keys from the prompt, or a shared retry token): each request that is served runs the model and
     * must be charged to its member and to the team; one refused as a replay (409) runs nothing and
     * is charged nothing. The team's account must equal the sum of its members' charges.
     */
    @Test
    void twoTeamMembersSharingAnIdempotencyKeyAreEachChargedWhatTheyRan() {
        String a = subject();
        String b = subject();
        String team = "t61-" + UUID.randomUUID().toString().substring(0, 8);
        store.setTeam(a, team);
        store.setTeam(b, team);
        String key = "shared-" + UUID.randomUUID();
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}],"
                + "\"max_tokens\":300,\"stream\":true}";
        HttpResponse<String> ra = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), a, body, "Idempotency-Key", key);
        HttpResponse<String> rb = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), b, body, "Idempotency-Key", key);
        long usedA = settled(a).used();
        long usedB = settled(b).used();
        long usedTeam = settled(io.tokenquota.Team.subject(team)).used();
        String what = "A " + ra.statusCode() + " charged " + usedA + ", B " + rb.statusCode() + " charged " + usedB
                + ", team charged " + usedTeam + "; A " + ledger(a) + " B " + ledger(b);
        assertEquals(ra.statusCode() == 200, usedA > 0, what);
        assertEquals(rb.statusCode() == 200, usedB > 0, what);
        assertEquals(usedA + usedB, usedTeam, what);
    }
}
