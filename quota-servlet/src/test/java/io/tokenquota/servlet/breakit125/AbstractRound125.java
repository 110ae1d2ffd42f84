package io.tokenquota.servlet.breakit125;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.OpenAiFiles;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 125 of issue 11: the rules that charge a cut stream the text its deltas carried and that hold an
 * OpenAI batch's creation the requests of the input file the filter saw uploaded (through the Files API or
 * the Uploads API), and release such uploads. Attacks: a batch file whose parts the filter cannot read
 * as lines, a batch line whose budget passes the cap, an upload to another provider's Files API, and a
 * stream whose text is the prompt echoed once per completion.
 */
abstract class AbstractRound125 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** OpenAI's Files and Uploads APIs: the batch input files. */
    final OpenAiFiles openAi = new OpenAiFiles();
    /** Tokens the model spent on each subject's batches. */
    final Map<String, AtomicLong> batchTokens = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("provider", new Provider(), new jakarta.servlet.MultipartConfigElement(""), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    static void write(OutputStream out, String s) throws IOException {
        out.write(s.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    // ------------------------------------------------------------------ mock providers

    class Provider extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String user = req.getHeader("x-user-id");
            if (openAi.serve(path, req, resp)) {
                return;
            }
            if (path.equals("/anthropic/v1/files")) {
                anthropicUpload(req, resp);
                return;
            }
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            switch (path) {
                case "/v1/batches" -> batch(user, JSON.readTree(body), resp);
                case "/v1/completions" -> completions(user, JSON.readTree(body), resp);
                default -> resp.sendError(404);
            }
        }
    }

    /**
     * Anthropic's Files API ({@code POST /v1/files}, beta {@code files-api-2025-04-14}): a multipart body
     * of one {@code file}; answered with Anthropic's file metadata ({@code "type": "file"}). No model runs:
     * the file is stored, for later messages to name by {@code file_id}.
     */
    void anthropicUpload(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        long size;
        String name;
        try {
            jakarta.servlet.http.Part file = req.getPart("file");
            size = file.getInputStream().readAllBytes().length;
            name = file.getSubmittedFileName();
        } catch (jakarta.servlet.ServletException e) {
            resp.sendError(400);
            return;
        }
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"file_011CNha8iCJcU1wXNR6q4V8w\",\"type\":\"file\",\"filename\":\"" + name + "\","
                + "\"mime_type\":\"text/plain\",\"size_bytes\":" + size + ",\"created_at\":\"2025-04-14T12:00:00Z\","
                + "\"downloadable\":false}");
    }

    /** What a batch request's model may write: its budget (default 300). */
    static long budgetOf(JsonNode request) {
        return request.path("max_completion_tokens").asLong(request.path("max_tokens").asLong(300));
    }

    /** The most output a batch request's model writes, whatever its budget. */
    static final long MOST_WRITTEN = 60_000;

    /**
     * OpenAI Batch: the requests are the lines of an input file named by id. The provider runs them
     * later; here at once, each line's input and the output its model writes counted for the subject.
     */
    void batch(String user, JsonNode body, HttpServletResponse resp) throws IOException {
        openAi.batch(body, resp, request -> {
            calls.count(user);
            batchTokens.computeIfAbsent(user, u -> new AtomicLong())
                    .addAndGet(TOKENS.estimate(request.path("messages").toString()) + Math.min(budgetOf(request), MOST_WRITTEN));
        });
    }

    /** Words the completions model writes after the prompt it echoes, each choice. */
    static final String WRITTEN = "tide ".repeat(40);

    /**
     * OpenAI's legacy Completions endpoint (and vLLM's), streamed as they stream it without
     * {@code stream_options}: no usage chunk. With {@code "echo": true} each of the {@code n} choices
     * starts with the prompt, sent back in that choice's first chunk's {@code text}; then 40 new tokens
     * per choice. The provider bills the prompt once (its {@code prompt_tokens}) and the new tokens of
     * every choice.
     */
    void completions(String user, JsonNode body, HttpServletResponse resp) throws IOException {
        calls.count(user);
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        int n = body.path("n").asInt(1);
        boolean echo = body.path("echo").asBoolean(false);
        String prompt = body.path("prompt").asText();
        String head = "data: {\"id\":\"cmpl-9\",\"object\":\"text_completion\",\"created\":1714000000,"
                + "\"model\":\"gpt-3.5-turbo-instruct\",\"choices\":[{\"text\":";
        for (int i = 0; i < n; i++) {
            if (echo) {
                write(out, head + JSON.writeValueAsString(prompt) + ",\"index\":" + i
                        + ",\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            }
            for (int w = 0; w < 4; w++) {
                write(out, head + "\"" + "tide ".repeat(10) + "\",\"index\":" + i
                        + ",\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            }
            write(out, head + "\"\",\"index\":" + i + ",\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n");
        }
        write(out, "data: [DONE]\n\n");
    }

    // ------------------------------------------------------------------ helpers

    HttpResponse<String> post(String path, String user, String body) {
        return TestHttp.postJson(container.uri(path), user, body);
    }

    HttpResponse<String> createBatch(String user, String fileId) {
        return post("/ai/v1/batches", user, "{\"input_file_id\":\"" + fileId + "\",\"endpoint\":"
                + "\"/v1/chat/completions\",\"completion_window\":\"24h\"}");
    }

    void assertBatchPaid(String s, HttpResponse<String> r, String what) {
        QuotaAccount a = settled(s);
        long spent = batchTokens.getOrDefault(s, new AtomicLong()).get();
        assertTrue(r.statusCode() != 200 || a.used() >= spent, kind() + ": " + what + ": the batch creation answered "
                + r.statusCode() + ", " + calls.of(s) + " requests ran, the model spent " + spent + ", charged " + a.used()
                + " of " + a.limit() + " in all: " + ledger(s));
    }

    /**
     * A streamed legacy completion with {@code "echo": true}, {@code n} choices and {@code "max_tokens": 40}
     * on a prompt of about 3,000 tokens, as a new subject: one model call, charged no more than a quarter
     * past the provider's bill (the prompt once, 40 new tokens a choice).
     */
    void assertAnEchoedCompletionChargedAboutItsBill(int n) {
        String s = subject();
        String prompt = "The keeper climbs the stairs each evening and lights the lamp for the ships. ".repeat(200);
        long promptTokens = TOKENS.estimate(prompt);
        HttpResponse<String> r = post("/ai/v1/completions", s, "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":"
                + "\"" + prompt + "\",\"echo\":true,\"n\":" + n + ",\"max_tokens\":40,\"stream\":true}");
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, calls.of(s));
        long bill = promptTokens + n * 40L;
        assertTrue(a.used() <= bill * 5 / 4, kind() + ": the provider bills about " + bill + " (a " + promptTokens
                + "-token prompt once, " + n + " x 40 new tokens); charged " + a.used() + " of " + a.limit() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 1. batches charged less than their requests

    /**
     * The attack: a batch of ten chat requests of {@code max_tokens: 4000} (the model spends about 40,160)
     * uploaded through OpenAI's Uploads API as the SDKs' chunked upload sends it: parts of a fixed byte
     * size (here 400 bytes, about two and a half lines each), so every part but the first starts in the
     * middle of a line and every part ends in one. Only the lines split between parts should go uncounted
     * (four of ten): here a part that starts or ends mid-line counts at most one of its whole lines, so
     * the creation is held about one request (5,015 in all), served on a 20,000 allowance, and the batch
     * spends 40,160, twice the allowance.
     */
    @Test
    void aBatchFileSentInPartsThatStartMidLineIsChargedItsWholeLines() {
        String s = subject();
        String jsonl = OpenAiFiles.batchFile(10);
        List<Object> steps = OpenAiFiles.uploadInParts(container, s, jsonl, 400);
        String file = (String) steps.get(steps.size() - 1);
        QuotaAccount uploaded = settled(s);
        assertEquals(0, uploaded.used(), kind() + ": upload steps " + steps + ": " + ledger(s));
        HttpResponse<String> r = createBatch(s, file);
        assertBatchPaid(s, r, "a " + jsonl.length() + "-byte batch file uploaded in 400-byte parts (steps "
                + steps.subList(0, steps.size() - 1) + ")");
    }

    /**
     * Control: the same ten requests cut into parts at line ends (two parts of five whole lines): the
     * creation is held the ten requests and refused on the 20,000 allowance.
     */
    @Test
    void controlABatchFileSentInPartsOfWholeLinesIsRefused() {
        String s = subject();
        String jsonl = OpenAiFiles.batchFile(10);
        List<Object> steps = OpenAiFiles.uploadInParts(container, s, jsonl, jsonl.indexOf("{\"custom_id\":\"r5\""));
        HttpResponse<String> r = createBatch(s, (String) steps.get(steps.size() - 1));
        assertBatchPaid(s, r, "whole-line parts");
        assertEquals(429, r.statusCode(), kind() + ": " + ledger(s));
    }

    /**
     * Control: an OpenAI batch input file of one request to a reasoning model with
     * {@code max_completion_tokens: 100000}, past the filter's output cap (16,384), which the filter cannot
     * lower in a file: the upload is refused (422), as a batch body's request past the cap is, so no
     * creation can name it and the model's 60,000 go unspent.
     */
    @Test
    void controlABatchLineWithABudgetPastTheCapIsRefused() {
        String s = subject();
        String jsonl = "{\"custom_id\":\"proof-1\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":"
                + "\"o3\",\"messages\":[{\"role\":\"user\",\"content\":\"Prove the lemma in the attached notes, every step.\"}],"
                + "\"max_completion_tokens\":100000}}\n";
        HttpResponse<String> up = OpenAiFiles.uploadBatchFile(container, s, jsonl);
        HttpResponse<String> r = up.statusCode() == 200 ? createBatch(s, (String) TestHttp.json(up).get("id")) : up;
        assertBatchPaid(s, r, "upload answered " + up.statusCode() + "; a batch line of max_completion_tokens 100000");
    }

    // ------------------------------------------------------------------ 2. an upload charged

    /**
     * The attack on an honest client: an application relays Anthropic's API under the protected prefix and
     * a client stores a 40 KB text document through Anthropic's Files API ({@code POST /v1/files}, a
     * multipart {@code file}) to name it later by {@code file_id}. No model runs; the answer is Anthropic's
     * file metadata, {@code "type": "file"} and its {@code id}, without usage. The OpenAI file upload is
     * released; this one is charged the document's text as if a model had read it.
     */
    @Test
    void anAnthropicFileUploadCallsNoModelAndIsNotCharged() {
        String s = subject();
        String document = "The keeper climbs the stairs each evening and lights the lamp for the ships. ".repeat(500);
        HttpResponse<String> r = OpenAiFiles.upload(container.uri("/ai/anthropic/v1/files"), s, null, "handbook.txt",
                "text/plain", document, "anthropic-beta", "files-api-2025-04-14");
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, a.used(), kind() + ": a file stored at Anthropic (" + document.length() + " bytes, answered "
                + r.body() + ") was charged " + a.used() + " of " + a.limit() + ": " + ledger(s));
    }

    /** Control: the same document uploaded through OpenAI's Files API ({@code purpose=user_data}) is released. */
    @Test
    void controlAnOpenAiFileUploadIsNotCharged() {
        String s = subject();
        String document = "The keeper climbs the stairs each evening and lights the lamp for the ships. ".repeat(500);
        HttpResponse<String> r = OpenAiFiles.upload(container.uri("/ai/v1/files"), s, "user_data", "handbook.txt",
                "text/plain", document);
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, a.used(), kind() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 3. an honest stream overcharged

    /**
     * The attack on an honest client: a streamed legacy completion with {@code "echo": true},
     * {@code "n": 3} and {@code "max_tokens": 40} on a prompt of about 3,000 tokens (a document to
     * continue, three candidate continuations). The provider echoes the prompt at the start of each of the
     * three choices and bills it once: about 3,000 + 120 tokens. The stream has no usage chunk (none was
     * asked for) and ends normally. The filter takes the echoed prompt off the text once, counts the other
     * two echoes as new output (past twice the budget), and charges about three times the prompt.
     */
    @Test
    void anEchoedPromptIsNotNewOutputInEveryChoice() {
        assertAnEchoedCompletionChargedAboutItsBill(3);
    }

    /** Control: the same call with {@code "n": 1} is charged about its bill. */
    @Test
    void controlAnEchoedPromptOfOneChoiceIsChargedItsBill() {
        assertAnEchoedCompletionChargedAboutItsBill(1);
    }
}
