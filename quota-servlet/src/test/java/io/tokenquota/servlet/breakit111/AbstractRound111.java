package io.tokenquota.servlet.breakit111;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.MediaBytes;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.OpenAiFiles;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 111 of issue 11 ("no model call goes unpaid"): requests whose hold is smaller than what the
 * model really reads or writes. The model reads input the body does not carry (an Assistants thread
 * named in the path, a vector store searched by {@code file_search}, the results of Anthropic's server
 * web search, a batch's input file named by id) or writes output no budget in the body bounds (a
 * reasoning model without {@code max_completion_tokens}, speech from a text-to-speech call, a budget
 * written as a string a JavaScript endpoint reads and the filter does not). A user near the end of the
 * allowance is served such calls well past it, or the charge is the too-small estimate.
 */
abstract class AbstractRound111 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** Assistants threads by id: their messages' text, added by the application's backend. */
    final Map<String, StringBuilder> threads = new ConcurrentHashMap<>();
    /** Vector stores by id: the text of the files they index. */
    final Map<String, String> vectorStores = new ConcurrentHashMap<>();
    /** OpenAI's Files API: the batch input files. */
    final OpenAiFiles openAi = new OpenAiFiles();
    /** Tokens the model spent on each subject's batches. */
    final Map<String, AtomicLong> batchTokens = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                // uploads (batch input files) are multipart, as OpenAI's API takes them
                .multipartServlet("openai", new OpenAi(), new jakarta.servlet.MultipartConfigElement(""), "/ai/v1/*")
                // the application's own back office: adds thread messages, uploads files, creates vector
                // stores; none of it calls a model, so it is not under the protected prefix
                .servlet("backend", new Backend(), "/backend/v1/*")
                .onStartup(filter::registerByServletName);
    }

    // ------------------------------------------------------------------ mock provider

    /** The back office: {@code POST /threads/{id}/messages}, {@code POST /vector_stores}, {@code POST /files}. */
    class Backend extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            resp.setContentType("application/json");
            if (path.startsWith("/threads/") && path.endsWith("/messages")) {
                String thread = path.substring("/threads/".length(), path.length() - "/messages".length());
                String text = JSON.readTree(body).path("content").asText();
                threads.computeIfAbsent(thread, t -> new StringBuilder()).append(text).append('\n');
                resp.getWriter().write("{\"id\":\"msg_" + UUID.randomUUID().toString().replace("-", "")
                        + "\",\"object\":\"thread.message\",\"thread_id\":\"" + thread + "\",\"role\":\"user\"}");
            } else if (path.equals("/vector_stores")) {
                String id = "vs_" + UUID.randomUUID().toString().replace("-", "");
                vectorStores.put(id, JSON.readTree(body).path("text").asText());
                resp.getWriter().write("{\"id\":\"" + id + "\",\"object\":\"vector_store\",\"status\":\"completed\"}");
            } else if (path.equals("/files")) {
                String id = openAi.add(body);
                resp.getWriter().write("{\"id\":\"" + id + "\",\"object\":\"file\",\"purpose\":\"batch\",\"bytes\":"
                        + body.length() + "}");
            } else {
                resp.sendError(404);
            }
        }
    }

    /** The provider's model endpoints, by path. */
    class OpenAi extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String user = req.getHeader("x-user-id");
            if (path.equals("/files")) {
                openAi.upload(req, resp);
                return;
            }
            JsonNode body = JSON.readTree(req.getInputStream());
            if (path.equals("/threads/runs")) {
                // create a thread and run it: the thread's messages are in the body
                StringBuilder text = new StringBuilder();
                for (JsonNode m : body.path("thread").path("messages")) {
                    text.append(m.path("content").asText()).append('\n');
                }
                calls.count(user);
                run(resp, TOKENS.estimate(text.toString()) + ASSISTANT_INSTRUCTIONS, 300);
            } else if (path.startsWith("/threads/") && path.endsWith("/runs")) {
                String thread = path.substring("/threads/".length(), path.length() - "/runs".length());
                StringBuilder text = threads.get(thread);
                if (text == null) {
                    resp.sendError(404);
                    return;
                }
                calls.count(user);
                run(resp, TOKENS.estimate(text.toString()) + ASSISTANT_INSTRUCTIONS, 300);
            } else if (path.equals("/responses")) {
                responses(user, body, resp);
            } else if (path.equals("/messages")) {
                anthropic(user, body, resp);
            } else if (path.equals("/chat/completions")) {
                chat(user, body, resp);
            } else if (path.equals("/batches")) {
                batch(user, body, resp);
            } else if (path.equals("/audio/speech")) {
                speech(user, body, resp);
            } else {
                resp.sendError(404);
            }
        }
    }

    /** What an assistant's own instructions add to each run's prompt. */
    static final long ASSISTANT_INSTRUCTIONS = 120;

    /** An Assistants run, streamed as OpenAI streams it: the run and its step carry the usage. */
    static void run(HttpServletResponse resp, long prompt, long completion) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        String run = "run_" + UUID.randomUUID().toString().replace("-", "");
        String usage = "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + ",\"total_tokens\":"
                + (prompt + completion) + "}";
        w.write("event: thread.run.created\ndata: {\"id\":\"" + run + "\",\"object\":\"thread.run\",\"assistant_id\":"
                + "\"asst_r111\",\"status\":\"queued\",\"usage\":null}\n\n");
        w.write("event: thread.run.in_progress\ndata: {\"id\":\"" + run + "\",\"object\":\"thread.run\",\"status\":"
                + "\"in_progress\",\"usage\":null}\n\n");
        w.write("event: thread.message.delta\ndata: {\"id\":\"msg_1\",\"object\":\"thread.message.delta\",\"delta\":"
                + "{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"" + "word ".repeat((int) completion).trim()
                + "\"}}]}}\n\n");
        w.write("event: thread.run.step.completed\ndata: {\"id\":\"step_1\",\"object\":\"thread.run.step\",\"run_id\":\""
                + run + "\",\"type\":\"message_creation\",\"status\":\"completed\",\"usage\":" + usage + "}\n\n");
        w.write("event: thread.run.completed\ndata: {\"id\":\"" + run + "\",\"object\":\"thread.run\",\"status\":"
                + "\"completed\",\"usage\":" + usage + "}\n\n");
        w.write("event: done\ndata: [DONE]\n\n");
        w.flush();
    }

    /** Chunks {@code file_search} returns at most (OpenAI's default {@code max_num_results}) and their size. */
    static final long FILE_SEARCH_TOKENS = 20 * 800;

    /** OpenAI Responses: a {@code file_search} tool makes the model read the chunks it found. */
    void responses(String user, JsonNode body, HttpServletResponse resp) throws IOException {
        long searched = 0;
        for (JsonNode tool : body.path("tools")) {
            if ("file_search".equals(tool.path("type").asText())) {
                for (JsonNode vs : tool.path("vector_store_ids")) {
                    String text = vectorStores.get(vs.asText());
                    if (text == null) {
                        resp.sendError(404);
                        return;
                    }
                    searched += TOKENS.estimate(text);
                }
            }
        }
        calls.count(user);
        long input = TOKENS.estimate(body.path("input").asText()) + Math.min(searched, FILE_SEARCH_TOKENS);
        long output = Math.min(400, body.path("max_output_tokens").asLong(400));
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"resp_" + UUID.randomUUID().toString().replace("-", "") + "\",\"object\":"
                + "\"response\",\"status\":\"completed\",\"model\":\"gpt-4.1\",\"output\":[{\"type\":\"file_search_call\","
                + "\"id\":\"fs_1\",\"status\":\"completed\",\"queries\":[\"warranty\"],\"results\":null},{\"type\":"
                + "\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"status\":\"completed\",\"content\":[{\"type\":"
                + "\"output_text\",\"text\":\"" + "word ".repeat((int) output).trim() + "\",\"annotations\":[]}]}],"
                + "\"usage\":{\"input_tokens\":" + input + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                + "\"output_tokens\":" + output + ",\"output_tokens_details\":{\"reasoning_tokens\":0},"
                + "\"total_tokens\":" + (input + output) + "}}");
    }

    /** What one web search's results add to the model's input (pages found, quoted and encrypted). */
    static final long SEARCH_RESULT_TOKENS = 2_700;

    /** Anthropic Messages: the server web search tool runs up to {@code max_uses} searches, each read as input. */
    void anthropic(String user, JsonNode body, HttpServletResponse resp) throws IOException {
        long searches = 0;
        for (JsonNode tool : body.path("tools")) {
            if (tool.path("type").asText().startsWith("web_search")) {
                searches = tool.path("max_uses").asLong(5);
            }
        }
        calls.count(user);
        long input = TOKENS.estimate(body.path("messages").toString()) + searches * SEARCH_RESULT_TOKENS;
        long output = Math.min(900, body.path("max_tokens").asLong());
        StringBuilder content = new StringBuilder();
        for (int i = 0; i < searches; i++) {
            content.append("{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_").append(i).append("\",\"name\":\"web_search\","
                    + "\"input\":{\"query\":\"ev battery recycling 2025 part ").append(i).append("\"}},{\"type\":"
                    + "\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_").append(i).append("\",\"content\":[{\"type\":"
                    + "\"web_search_result\",\"url\":\"https://example.org/").append(i).append("\",\"title\":\"Result\","
                    + "\"encrypted_content\":\"RW5jcnlwdGVk\",\"page_age\":null}]},");
        }
        content.append("{\"type\":\"text\",\"text\":\"").append("word ".repeat((int) output).trim()).append("\"}");
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"msg_" + UUID.randomUUID().toString().replace("-", "") + "\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[" + content + "],\"stop_reason\":"
                + "\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + input + ",\"cache_creation_input_tokens\":0,"
                + "\"cache_read_input_tokens\":0,\"output_tokens\":" + output + ",\"server_tool_use\":{\"web_search_requests\":"
                + searches + "}}}");
    }

    /** What a reasoning model at high effort writes when no budget stops it (mostly reasoning). */
    static final long HIGH_EFFORT_OUTPUT = 12_000;

    /**
     * OpenAI chat completions behind a Node relay: the budget is read as JavaScript reads a field it
     * passes on, {@code parseInt} for a string ({@link #jsBudget}). The model writes the whole budget (a
     * long report ends at the length limit); without one, 300 tokens, or at high reasoning effort
     * {@link #HIGH_EFFORT_OUTPUT}.
     */
    void chat(String user, JsonNode body, HttpServletResponse resp) throws IOException {
        long budget = Math.max(jsBudget(body.get("max_tokens")), jsBudget(body.get("max_completion_tokens")));
        long output;
        long reasoning = 0;
        if (budget > 0) {
            output = budget;
        } else if ("high".equals(body.path("reasoning_effort").asText())) {
            output = HIGH_EFFORT_OUTPUT;
            reasoning = HIGH_EFFORT_OUTPUT - 300;
        } else {
            output = 300;
        }
        calls.count(user);
        long prompt = TOKENS.estimate(body.path("messages").toString());
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"chatcmpl-" + UUID.randomUUID().toString().replace("-", "") + "\",\"object\":"
                + "\"chat.completion\",\"model\":\"" + body.path("model").asText() + "\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"" + "word ".repeat((int) (output - reasoning)).trim()
                + "\"},\"finish_reason\":\"" + (budget > 0 ? "length" : "stop") + "\"}],\"usage\":{\"prompt_tokens\":"
                + prompt + ",\"completion_tokens\":" + output + ",\"total_tokens\":" + (prompt + output)
                + ",\"completion_tokens_details\":{\"reasoning_tokens\":" + reasoning + "}}}");
    }

    /**
     * A budget as a JavaScript endpoint reads it: a number as it is; a string by {@code parseInt(s)}
     * (leading white space, then the leading digits, {@code "0x"} as hexadecimal), the way Node
     * handlers write {@code max_tokens: parseInt(req.body.max_tokens) || 1024}. 0 for none.
     */
    static long jsBudget(JsonNode value) {
        if (value == null || value.isNull()) {
            return 0;
        }
        if (value.isNumber()) {
            return value.asLong();
        }
        String s = value.asText().strip();
        int radix = 10;
        if (s.startsWith("0x") || s.startsWith("0X")) {
            s = s.substring(2);
            radix = 16;
        }
        int end = 0;
        while (end < s.length() && Character.digit(s.charAt(end), radix) >= 0 && s.charAt(end) < 128) {
            end++;
        }
        return end == 0 ? 0 : Long.parseLong(s.substring(0, end), radix);
    }

    /**
     * OpenAI Batch: the requests are the lines of an input file named by id. The provider runs them
     * later; here at once, each line's input and the output its budget lets the model write counted
     * for the subject.
     */
    void batch(String user, JsonNode body, HttpServletResponse resp) throws IOException {
        openAi.batch(body, resp, request -> {
            calls.count(user);
            batchTokens.computeIfAbsent(user, u -> new AtomicLong())
                    .addAndGet(TOKENS.estimate(request.path("messages").toString()) + request.path("max_tokens").asLong(300));
        });
    }

    /** Speech a voice reads at 150 words a minute: 2.5 words a second. */
    static final double WORDS_PER_SECOND = 2.5;
    /** Seconds of speech each subject was sent. */
    final Map<String, AtomicLong> speechSeconds = new ConcurrentHashMap<>();

    /**
     * OpenAI text to speech ({@code POST /v1/audio/speech}, {@code response_format: wav}): the answer is
     * the audio alone, 8 kHz 8-bit mono PCM, as long as the text takes to read; no usage.
     */
    void speech(String user, JsonNode body, HttpServletResponse resp) throws IOException {
        String text = body.path("input").asText();
        long seconds = (long) Math.ceil(text.split("\\s+").length / WORDS_PER_SECOND);
        calls.count(user);
        speechSeconds.computeIfAbsent(user, u -> new AtomicLong()).addAndGet(seconds);
        resp.setContentType("audio/wav");
        OutputStream out = resp.getOutputStream();
        MediaBytes.writeWav(out, seconds, MediaBytes.silentSecond());
        out.flush();
    }

    // ------------------------------------------------------------------ requests

    HttpResponse<String> post(String path, String user, String body) {
        return TestHttp.postJson(container.uri(path), user, body);
    }

    HttpResponse<String> backend(String path, String body) {
        HttpResponse<String> r = TestHttp.post(container.uri(path), body, "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        return r;
    }

    /** A reference manual of about 12,000 tokens. */
    static String manual() {
        return Prose.english(77_000);
    }

    void assertThreeCallsWithinAllowance(String path, String body, String what) {
        String user = subject();
        assertWithinAllowance(user, what, postTimes(3, path, user, body));
    }

    // ------------------------------------------------------------------ 1. Assistants threads

    /**
     * Break hunt: the application keeps each user's conversation in an OpenAI Assistants thread; its
     * back office adds the user's 12,000-token manual to the thread as a message (no model call), and
     * the user's client starts runs on it: {@code POST /v1/threads/{thread_id}/runs} with
     * {@code {"assistant_id": "asst_…", "stream": true}}. The model reads the whole thread on every
     * run, and each streamed run reports it ({@code thread.run.completed} usage: about 12,100 prompt tokens).
     * The filter holds a run at its two-field body and the default budget, so after the first run has
     * left 7,600 tokens a second one costing 12,424 is served: the ledger ends at 24,848 on a 20,000
     * allowance. A thread is state kept at the provider, as a stored Response or a Gemini cache is.
     */
    @Test
    void anAssistantsRunOnAStoredThreadIsHeldAtWhatTheModelReads() {
        String thread = "thread_" + UUID.randomUUID().toString().replace("-", "");
        backend("/backend/v1/threads/" + thread + "/messages",
                "{\"role\":\"user\",\"content\":" + JsonTree.quoted(manual()) + "}");
        assertThreeCallsWithinAllowance("/ai/v1/threads/" + thread + "/runs",
                "{\"assistant_id\":\"asst_r111\",\"stream\":true}",
                "runs on a thread holding a 12,000-token manual");
    }

    /** Control: the same runs with the manual sent in the body (create thread and run) stop at the allowance. */
    @Test
    void controlRunsWithTheThreadInTheBodyStopAtTheAllowance() {
        String user = subject();
        List<Integer> statuses = postTimes(3, "/ai/v1/threads/runs", user, "{\"assistant_id\":\"asst_r111\",\"thread\":"
                + "{\"messages\":[{\"role\":\"user\",\"content\":" + JsonTree.quoted(manual()) + "}]},\"stream\":true}");
        assertEquals(List.of(200, 429, 429), statuses, kind() + ": " + ledger(user));
        assertEquals(1, calls.of(user));
        assertWithinAllowance(user, "runs with the thread inline", statuses);
    }

    // ------------------------------------------------------------------ 2. file_search over a vector store

    /**
     * Break hunt: a Responses call with the {@code file_search} tool over the application's vector
     * store ({@code "tools": [{"type": "file_search", "vector_store_ids": ["vs_…"]}]}) and a one-line
     * question, {@code max_output_tokens: 500}. The model reads the chunks the search returns (up to 20
     * of 800 tokens) as input; the answer's usage says 12,000 input tokens. The filter holds the
     * question and 500 (held 539), so a user is served a second such call with 7,600 left: 24,828
     * charged on a 20,000 allowance.
     */
    @Test
    void aFileSearchCallIsHeldAtTheChunksTheModelReads() {
        String vs = (String) TestHttp.json(backend("/backend/v1/vector_stores",
                "{\"text\":" + JsonTree.quoted(manual()) + "}")).get("id");
        assertThreeCallsWithinAllowance("/ai/v1/responses", "{\"model\":\"gpt-4.1\",\"input\":\"Which chapter"
                + " of the manual explains the warranty terms?\",\"tools\":[{\"type\":\"file_search\",\"vector_store_ids\":[\""
                + vs + "\"]}],\"max_output_tokens\":500}",
                "file_search calls over a 12,000-token store");
    }

    // ------------------------------------------------------------------ 3. Anthropic server web search

    /**
     * Break hunt: an Anthropic Messages call with the server web search tool
     * ({@code {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}}), a one-line
     * question and {@code max_tokens: 1024}. Anthropic runs up to five searches inside the call and the
     * model reads every result page as input (the usage: about 13,500 input tokens,
     * {@code server_tool_use.web_search_requests: 5}). The filter holds the question, the tool
     * definition and 1,024 (held 1,046), so a second such call is served with 5,600 tokens left: 28,836
     * charged on a 20,000 allowance.
     */
    @Test
    void aServerWebSearchCallIsHeldAtTheResultsTheModelReads() {
        assertThreeCallsWithinAllowance("/ai/v1/messages", "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"What changed in EV battery recycling rules this year?\"}],"
                + "\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\",\"max_uses\":5}]}",
                "web search calls (max_uses 5)");
    }

    // ------------------------------------------------------------------ 4. reasoning effort without a budget

    /**
     * Break hunt: {@code {"model": "o3", "reasoning_effort": "high", "messages": […]}} with no
     * {@code max_completion_tokens}: the model reasons until it is done (12,000 completion tokens, 11,700
     * of them reasoning, in the usage). The filter holds the default output budget (1,000), so a user
     * with 8,000 left is served a second call: 24,048 on a 20,000 allowance. A reasoning effort with no
     * budget asks for the model's whole output, as {@code max_tokens: -1} does.
     */
    @Test
    void aHighEffortReasoningCallWithoutABudgetIsHeldAtWhatItMayWrite() {
        assertThreeCallsWithinAllowance("/ai/v1/chat/completions", "{\"model\":\"o3\",\"reasoning_effort\":"
                + "\"high\",\"messages\":[{\"role\":\"user\",\"content\":\"Prove that there are infinitely many primes"
                + " of the form 4k+3.\"}]}",
                "high-effort reasoning calls without a budget");
    }

    // ------------------------------------------------------------------ 5. a budget a JavaScript endpoint reads

    /**
     * Break hunt: a Node endpoint passes the budget on as {@code parseInt(req.body.max_tokens)}. The
     * client writes it as {@code "12000 tokens"} (parseInt reads the leading digits) or {@code "0x2EE0"}
     * (parseInt and {@code Number()} read hexadecimal): 12,000 either way, and the model writes 12,000.
     * The filter reads neither string as a number, holds the default 1,000, and serves a second call
     * with 8,000 left: 24,028 on a 20,000 allowance, for each spelling.
     */
    @Test
    void aBudgetThatAJavaScriptEndpointReadsIsHeld() {
        List<String> failures = new ArrayList<>();
        for (String spelt : List.of("\"12000 tokens\"", "\"0x2EE0\"")) {
            String user = subject();
            List<Integer> statuses = postTimes(3, "/ai/v1/chat/completions", user, "{\"model\":\"gpt-4o\",\"max_tokens\":"
                    + spelt + ",\"messages\":[{\"role\":\"user\",\"content\":\"Write the full market report.\"}]}");
            QuotaAccount a = settled(user);
            if (a.used() > ALLOWANCE) {
                failures.add("max_tokens " + spelt + ": " + statuses + ", " + calls.of(user) + " model calls, charged "
                        + a.used());
            }
        }
        assertTrue(failures.isEmpty(), kind() + ": on a " + ALLOWANCE + " allowance " + failures);
    }

    // ------------------------------------------------------------------ 6. a batch whose requests are in a file

    /**
     * Break hunt: an OpenAI batch's requests are the lines of a file uploaded first; the creation names it
     * by id: {@code {"input_file_id": "file-…", "endpoint": "/v1/chat/completions", "completion_window":
     * "24h"}}. Four lines of {@code max_tokens: 4000} make the model spend about 16,060 tokens; the
     * creation's own fields are worth 1,007. As the docs say for OpenAI's Batch API, the upload goes
     * through the protected prefix too (as OpenAI's SDK sends it: multipart, {@code purpose=batch}): it
     * calls no model and costs nothing, and the creation naming the file is charged what its requests
     * may spend.
     */
    @Test
    void aBatchCreatedFromAnInputFileIsChargedWhatItsRequestsSpend() {
        String user = subject();
        String file = uploadBatchFile(user, 4);
        QuotaAccount uploaded = settled(user);
        int status = post("/ai/v1/batches", user, "{\"input_file_id\":\"" + file + "\",\"endpoint\":\"/v1/chat/completions\","
                + "\"completion_window\":\"24h\"}").statusCode();
        QuotaAccount a = settled(user);
        long spent = batchTokens.getOrDefault(user, new AtomicLong()).get();
        assertEquals(0, uploaded.used(), kind() + ": the upload of a batch file calls no model; " + ledger(user));
        assertEquals(200, status, ledger(user));
        assertEquals(4, calls.of(user), ledger(user));
        assertTrue(a.used() >= spent, kind() + ": a batch of " + calls.of(user) + " requests from an input file answered "
                + status + ", the model spent " + spent + ", charged " + a.used() + " on a " + ALLOWANCE + " allowance; "
                + ledger(user));
    }

    /** A batch whose file's requests may spend more than the subject has left (ten lines: 40,160) is refused. */
    @Test
    void aBatchWhoseFileCostsMoreThanTheBalanceIsRefused() {
        String user = subject();
        String file = uploadBatchFile(user, 10);
        int status = post("/ai/v1/batches", user, "{\"input_file_id\":\"" + file + "\",\"endpoint\":\"/v1/chat/completions\","
                + "\"completion_window\":\"24h\"}").statusCode();
        QuotaAccount a = settled(user);
        assertEquals(429, status, kind() + ": " + ledger(user));
        assertEquals(0, calls.of(user), ledger(user));
        assertEquals(0, a.used(), ledger(user));
    }

    /** Uploads a batch input file of {@code lines} chat requests (4,000 output tokens each) as {@code user}; its id. */
    String uploadBatchFile(String user, int lines) {
        HttpResponse<String> r = OpenAiFiles.uploadBatchFile(container, user, OpenAiFiles.batchFile(lines));
        assertEquals(200, r.statusCode(), r.body());
        return (String) TestHttp.json(r).get("id");
    }

    // ------------------------------------------------------------------ 7. text to speech

    /**
     * Break hunt: OpenAI text to speech, {@code {"model": "gpt-4o-mini-tts", "voice": "alloy",
     * "response_format": "wav", "input": "<4,000 characters>"}}. The answer is 3.7 minutes of audio and
     * no usage; OpenAI bills the audio as output tokens (about 1,250 a minute for gpt-4o-mini-tts). No
     * budget in the body bounds it and the filter does not read the answer's duration, so each call is
     * charged the text and the default 1,000. Asserted at the filter's own audio rate (10 tokens a
     * second, half of OpenAI's): three calls deliver 672 s, at least 6,720 tokens, and are charged
     * 4,875 (1,625 each).
     */
    @Test
    void speechIsChargedAtLeastTheAudioItWrites() {
        String user = subject();
        String text = Prose.english(4_000);
        List<Integer> statuses = postTimes(3, "/ai/v1/audio/speech", user, "{\"model\":\"gpt-4o-mini-tts\",\"voice\":\"alloy\","
                + "\"response_format\":\"wav\",\"input\":" + JsonTree.quoted(text) + "}");
        QuotaAccount a = settled(user);
        long seconds = speechSeconds.getOrDefault(user, new AtomicLong()).get();
        assertTrue(a.used() >= seconds * 10, kind() + ": text to speech answered " + statuses + ", " + seconds
                + " s of audio sent, charged " + a.used() + "; " + ledger(user));
    }
}
