package io.tokenquota.servlet.breakit131;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.BilledTokens;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 131 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the rest of OpenAI's API as a relay passes it on under one protected prefix ({@code /ai/v1/*}), after
 * the rules for jobs the provider runs on its own and for answers that are objects no model made. The
 * shapes are OpenAI's own: a batch object that now reports its batch's usage, an Assistants run step
 * with its step's usage, the update of a stored chat completion (answered with the whole completion,
 * usage included), an Assistants run that stops for its function's output
 * ({@code submit_tool_outputs}), a background Response streamed and resumed after its connection
 * dropped ({@code GET /v1/responses/{id}?stream=true&starting_after=N}), and the objects a code
 * interpreter container and file search's vector stores are made of.
 */
abstract class AbstractRound131 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();

    final ModelCalls calls = new ModelCalls();
    /** Tokens the provider billed, per subject. */
    final BilledTokens billed = new BilledTokens();
    /** Stored objects by id, as a read gives them back. */
    final Map<String, String> stored = new ConcurrentHashMap<>();
    /** How many more reads of an Assistants run (or a batch) answer its step before the last. */
    final Map<String, AtomicInteger> reads = new ConcurrentHashMap<>();
    /** What a run's reads answer, in order. */
    final Map<String, List<String>> runStates = new ConcurrentHashMap<>();
    /** Background streams waiting for their client to have hung up, by the request's subject. */
    final Map<String, CountDownLatch> hungUp = new ConcurrentHashMap<>();

    static String subject() {
        return "u131-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String id(String prefix) {
        return prefix + UUID.randomUUID().toString().replace("-", "");
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                // as the README registers it: every path, every dispatcher type
                .filter("quota", filter, "/*")
                // a relay of OpenAI's API, passed on as it comes
                .servlet("openai", new OpenAi(), "/ai/v1/*")
                .onStartup(filter::registerByServletName);
    }

    /** A model call of {@code user}, billed {@code tokens}: every bill here is one call. */
    void bill(String user, long tokens) {
        calls.count(user);
        billed.add(user, tokens);
    }

    // ------------------------------------------------------------------ the provider's objects

    /** A batch object as OpenAI writes it since September 2025: a completed batch reports its usage. */
    static String batch(String id, String status, String usage) {
        return "{\"id\":\"" + id + "\",\"object\":\"batch\",\"endpoint\":\"/v1/chat/completions\",\"model\":\"gpt-4o-mini\","
                + "\"errors\":null,\"input_file_id\":\"file-in131\",\"completion_window\":\"24h\",\"status\":\"" + status
                + "\",\"output_file_id\":" + ("completed".equals(status) ? "\"file-out131\"" : "null")
                + ",\"error_file_id\":null,\"created_at\":1760000000,\"in_progress_at\":1760000010,"
                + "\"expires_at\":1760086400,\"completed_at\":" + ("completed".equals(status) ? "1760003600" : "null")
                + ",\"request_counts\":{\"total\":40,\"completed\":" + ("completed".equals(status) ? "40" : "0")
                + ",\"failed\":0},\"metadata\":{}" + (usage == null ? "" : ",\"usage\":" + usage) + "}";
    }

    /** An Assistants run object. */
    static String run(String run, String thread, String status, String extra, String usage) {
        return "{\"id\":\"" + run + "\",\"object\":\"thread.run\",\"created_at\":1760000000,\"assistant_id\":\"asst_131\","
                + "\"thread_id\":\"" + thread + "\",\"status\":\"" + status + "\"," + extra + "\"model\":\"gpt-4o\","
                + "\"instructions\":\"You answer with the weather tool.\",\"tools\":[{\"type\":\"function\",\"function\":"
                + "{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
                + "\"string\"}}}}}],\"max_prompt_tokens\":null,\"max_completion_tokens\":null,\"usage\":" + usage + "}";
    }

    /** An Assistants run step object, with the step's own usage. */
    static String step(String step, String run, String thread, String type, String details, long prompt, long completion) {
        return "{\"id\":\"" + step + "\",\"object\":\"thread.run.step\",\"created_at\":1760000001,\"run_id\":\"" + run
                + "\",\"assistant_id\":\"asst_131\",\"thread_id\":\"" + thread + "\",\"type\":\"" + type
                + "\",\"status\":\"completed\",\"cancelled_at\":null,\"completed_at\":1760000002,\"expired_at\":null,"
                + "\"failed_at\":null,\"last_error\":null,\"step_details\":" + details + ",\"usage\":{\"prompt_tokens\":"
                + prompt + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (prompt + completion) + "}}";
    }

    static String usage(long prompt, long completion) {
        return "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + ",\"total_tokens\":"
                + (prompt + completion) + "}";
    }

    /** A stored chat completion, as its creation and its metadata update answer it. */
    static String completion(String id, String metadata, long prompt, long completion) {
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":1760000000,\"model\":\"gpt-4o-2024-08-06\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Your invoice covers the"
                + " March seats.\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + ",\"total_tokens\":"
                + (prompt + completion) + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},\"service_tier\":\"default\","
                + "\"system_fingerprint\":\"fp_131\",\"metadata\":" + metadata + "}";
    }

    /** What the background Response of the streaming test reads and writes. */
    static final long BG_INPUT = 40;
    static final long BG_OUTPUT = 7_960;
    /** The deltas the first connection carries before it drops, and those the resumed stream carries. */
    static final int FIRST_DELTAS = 50;
    static final int RESUMED_DELTAS = 20;

    /**
     * OpenAI's API as a relay passes it on: batches, Assistants runs and their steps, stored chat
     * completions, background Responses (streamed and resumable), containers and vector stores.
     */
    class OpenAi extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            String objectId = path.substring(path.lastIndexOf('/') + 1);
            if (path.startsWith("/responses/") && "true".equals(req.getParameter("stream"))) {
                resumeStream(req, resp, objectId);
                return;
            }
            List<String> states = runStates.get(objectId);
            String body;
            if (states != null) {
                AtomicInteger n = reads.get(objectId);
                body = states.get(Math.min(n.getAndIncrement(), states.size() - 1));
            } else {
                body = stored.get(objectId);
            }
            if (body == null) {
                resp.sendError(404);
                return;
            }
            resp.setContentType("application/json");
            resp.getWriter().write(body);
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String user = req.getHeader("x-user-id");
            JsonNode body = JSON.readTree(req.getInputStream());
            resp.setContentType("application/json");
            if (path.equals("/batches")) {
                // the batch runs later at the provider; this test's batch bills 6,000 when it runs
                String b = id("batch_");
                bill(user, 6_000);
                runStates.put(b, List.of(batch(b, "completed", "{\"input_tokens\":4000,\"input_tokens_details\":"
                        + "{\"cached_tokens\":0},\"output_tokens\":2000,\"output_tokens_details\":{\"reasoning_tokens\":0},"
                        + "\"total_tokens\":6000}")));
                reads.put(b, new AtomicInteger());
                resp.getWriter().write(batch(b, "validating", null));
            } else if (path.matches("/threads/[^/]+/runs")) {
                String thread = path.split("/")[2];
                String r = id("run_");
                JsonNode meta = body.path("metadata");
                List<String> states = new ArrayList<>();
                if (meta.path("tool").asBoolean(false)) {
                    // stops for the function's output, then completes: 6,000 over both model turns
                    bill(user, 6_000);
                    states.add(run(r, thread, "requires_action", "\"required_action\":{\"type\":\"submit_tool_outputs\","
                            + "\"submit_tool_outputs\":{\"tool_calls\":[{\"id\":\"call_131\",\"type\":\"function\","
                            + "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]}},",
                            "null"));
                    states.add(run(r, thread, "completed", "", usage(5_600, 400)));
                } else {
                    // one tool step and one message step: 1,800 + 1,200
                    bill(user, 3_000);
                    states.add(run(r, thread, "completed", "", usage(2_700, 300)));
                    stored.put("step_tool" + r, step("step_tool" + r, r, thread, "tool_calls", "{\"type\":\"tool_calls\","
                            + "\"tool_calls\":[{\"id\":\"call_9\",\"type\":\"code_interpreter\",\"code_interpreter\":"
                            + "{\"input\":\"print(6*7)\",\"outputs\":[{\"type\":\"logs\",\"logs\":\"42\"}]}}]}", 1_600, 200));
                    stored.put("step_msg" + r, step("step_msg" + r, r, thread, "message_creation",
                            "{\"type\":\"message_creation\",\"message_creation\":{\"message_id\":\"msg_131\"}}", 1_100, 100));
                }
                runStates.put(r, states);
                reads.put(r, new AtomicInteger());
                resp.getWriter().write(run(r, thread, "queued", "", "null"));
            } else if (path.matches("/threads/[^/]+/runs/[^/]+/submit_tool_outputs")) {
                String thread = path.split("/")[2];
                String r = path.split("/")[4];
                // the run goes on at the provider; its later read reports the whole run's usage
                resp.getWriter().write(run(r, thread, "queued", "", "null"));
            } else if (path.equals("/chat/completions")) {
                String c = id("chatcmpl-");
                bill(user, 2_500);
                String done = completion(c, "{}", 2_300, 200);
                stored.put(c, done);
                resp.getWriter().write(done);
            } else if (path.startsWith("/chat/completions/")) {
                // the update of a stored completion's metadata: no model runs; answered with the completion
                String c = path.substring("/chat/completions/".length());
                String updated = completion(c, body.path("metadata").toString(), 2_300, 200);
                stored.put(c, updated);
                resp.getWriter().write(updated);
            } else if (path.equals("/responses") && body.path("stream").asBoolean(false)) {
                backgroundStream(req, resp, user);
            } else if (path.equals("/containers")) {
                resp.getWriter().write("{\"id\":\"cntr_" + UUID.randomUUID().toString().replace("-", "")
                        + "\",\"object\":\"container\",\"created_at\":1760000000,\"status\":\"running\","
                        + "\"expires_after\":{\"anchor\":\"last_active_at\",\"minutes\":20},\"last_active_at\":1760000000,"
                        + "\"name\":" + JSON.writeValueAsString(body.path("name").asText()) + "}");
            } else if (path.matches("/vector_stores/[^/]+/files")) {
                String vs = path.split("/")[2];
                resp.getWriter().write("{\"id\":" + JSON.writeValueAsString(body.path("file_id").asText())
                        + ",\"object\":\"vector_store.file\",\"usage_bytes\":0,\"created_at\":1760000000,"
                        + "\"vector_store_id\":\"" + vs + "\",\"status\":\"in_progress\",\"last_error\":null,"
                        + "\"chunking_strategy\":{\"type\":\"static\",\"static\":{\"max_chunk_size_tokens\":800,"
                        + "\"chunk_overlap_tokens\":400}},\"attributes\":{}}");
            } else if (path.matches("/vector_stores/[^/]+/file_batches")) {
                String vs = path.split("/")[2];
                resp.getWriter().write("{\"id\":\"vsfb_131\",\"object\":\"vector_store.file_batch\",\"created_at\":"
                        + "1760000000,\"vector_store_id\":\"" + vs + "\",\"status\":\"in_progress\",\"file_counts\":"
                        + "{\"in_progress\":3,\"completed\":0,\"failed\":0,\"cancelled\":0,\"total\":3}}");
            } else {
                resp.sendError(404);
            }
        }

        /**
         * {@code POST /responses} with {@code "background": true, "stream": true}: the Response's events
         * as they come, until the client's connection drops (the Response runs on at the provider). Its
         * first {@link #FIRST_DELTAS} deltas are written, the last saying "end-of-first-part"; then the
         * relay waits for the test to have hung up and writes on until a write fails.
         */
        private void backgroundStream(HttpServletRequest req, HttpServletResponse resp, String user) throws IOException {
            String rid = id("resp_");
            bill(user, BG_INPUT + BG_OUTPUT);
            String bgFields = "\"background\":true,";
            stored.put(rid, ResponsesApi.response(rid, "completed", bgFields, "o3-2025-04-16", "{\"input_tokens\":" + BG_INPUT
                    + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + BG_OUTPUT
                    + ",\"output_tokens_details\":{\"reasoning_tokens\":7000},\"total_tokens\":" + (BG_INPUT + BG_OUTPUT)
                    + "}", "word word word"));
            CountDownLatch gone = hungUp.computeIfAbsent(user, u -> new CountDownLatch(1));
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            int seq = 0;
            try {
                String queued = ResponsesApi.response(rid, "queued", bgFields, "o3-2025-04-16", "null", null);
                ResponsesApi.event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":" + seq++
                        + ",\"response\":" + queued + "}");
                ResponsesApi.event(out, "response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":"
                        + seq++ + ",\"response\":" + queued.replace("\"queued\"", "\"in_progress\"") + "}");
                for (int i = 1; i <= FIRST_DELTAS; i++) {
                    seq = delta(out, rid, seq, i == FIRST_DELTAS ? "end-of-first-part " : "word ");
                }
                gone.await(10, TimeUnit.SECONDS);
                for (int i = 0; i < 5_000; i++) {
                    seq = delta(out, rid, seq, "word ");
                }
            } catch (IOException dropped) {
                // the client's connection dropped: the Response runs on at the provider
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /** {@code GET /responses/{id}?stream=true&starting_after=N}: the rest of the Response's events. */
        private void resumeStream(HttpServletRequest req, HttpServletResponse resp, String rid) throws IOException {
            String done = stored.get(rid);
            if (done == null) {
                resp.sendError(404);
                return;
            }
            int seq = Integer.parseInt(req.getParameter("starting_after")) + 1;
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (int i = 0; i < RESUMED_DELTAS; i++) {
                seq = delta(out, rid, seq, "word ");
            }
            ResponsesApi.event(out, "response.completed", "{\"type\":\"response.completed\",\"sequence_number\":" + seq
                    + ",\"response\":" + done + "}");
        }

        private int delta(OutputStream out, String rid, int seq, String text) throws IOException {
            ResponsesApi.event(out, "response.output_text.delta", "{\"type\":\"response.output_text.delta\","
                    + "\"sequence_number\":" + seq + ",\"item_id\":\"msg_" + rid + "\",\"output_index\":0,"
                    + "\"content_index\":0,\"delta\":\"" + text + "\",\"logprobs\":[]}");
            return seq + 1;
        }
    }

    // ------------------------------------------------------------------ requests

    HttpResponse<String> post(String path, String user, String body) {
        return TestHttp.postJson(container.uri(path), user, body);
    }

    HttpResponse<String> get(String path, String user) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), user).GET().build());
    }

    String idOf(HttpResponse<String> r) {
        try {
            return JSON.readTree(r.body()).path("id").asText();
        } catch (IOException e) {
            throw new AssertionError(r.body(), e);
        }
    }

    String failure(String user, String what) {
        return kind() + ": " + what + ": " + calls.of(user) + " model calls billed " + billed.of(user)
                + " tokens; charged " + settled(user).used() + " on a " + ALLOWANCE + " allowance; " + ledger(user);
    }

    // ------------------------------------------------------------------ 1. a batch object reports usage

    /**
     * Attack (an honest client, a real shape): OpenAI's batch object reports its batch's usage once
     * the batch is done (the {@code usage} field of batches created since September 2025:
     * {@code input_tokens}, {@code output_tokens}, {@code total_tokens}). A relay passes the Batch API on
     * under the protected prefix; the creation ({@code POST /v1/batches}, answered {@code validating}
     * without usage) is charged its estimate, as docs/decisions.md says protecting the creation does.
     * The batch then runs at the provider and bills 6,000 tokens. The client polls
     * {@code GET /v1/batches/{id}} as every SDK example does, and reads the completed batch twice (the
     * poll that sees it done, then the read that takes its {@code output_file_id}). No model runs for a
     * read of a batch. Expected: the whole batch costs at most what it billed or what its creation was
     * charged, whichever is more (the usage read once, as "Batches are charged where their usage is
     * read, once" says). Each read of the completed batch is charged its 6,000 again.
     */
    @Test
    void aCompletedBatchReadTwiceIsNotChargedItsUsageTwice() {
        String user = subject();
        HttpResponse<String> created = post("/ai/v1/batches", user, "{\"input_file_id\":\"file-in131\","
                + "\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\"}");
        assertEquals(200, created.statusCode(), created.body());
        long creation = settled(user).used();
        String b = idOf(created);
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> poll = get("/ai/v1/batches/" + b, user);
            assertEquals(200, poll.statusCode(), poll.body());
            assertTrue(poll.body().contains("\"completed\""), poll.body());
        }
        long used = settled(user).used();
        assertTrue(used <= Math.max(creation, billed.of(user)), failure(user, "a batch created (charged " + creation
                + ") and its completed object read twice"));
    }

    // ------------------------------------------------------------------ 2. a run step reports usage

    /**
     * Attack (an honest client, a real shape): an Assistants run's steps each carry the step's own
     * usage ({@code thread.run.step} objects, {@code usage.prompt_tokens}...). An app that shows what
     * the assistant did (the code interpreter's code and logs) reads the run's steps after the run:
     * {@code GET /v1/threads/{t}/runs/{r}/steps/{step}}. The run itself is charged as the jobs rule says
     * (its creation's estimate, then what its completed read reports beyond it: 3,000 in all, what it
     * billed). Reading a step back runs no model. Expected: 3,000 charged after the run and both steps
     * are read. Each step read is charged that step's usage (1,800 and 1,200) again: 6,000.
     */
    @Test
    void readingARunsStepsBackIsNotChargedTheirUsageAgain() {
        String user = subject();
        String thread = id("thread_");
        HttpResponse<String> created = post("/ai/v1/threads/" + thread + "/runs", user,
                "{\"assistant_id\":\"asst_131\",\"metadata\":{\"tool\":\"false\"}}");
        assertEquals(200, created.statusCode(), created.body());
        String r = idOf(created);
        HttpResponse<String> done = get("/ai/v1/threads/" + thread + "/runs/" + r, user);
        assertTrue(done.body().contains("\"completed\""), done.body());
        long afterRun = settled(user).used();
        assertEquals(billed.of(user), afterRun, failure(user, "the run alone (control)"));
        for (String step : List.of("step_tool" + r, "step_msg" + r)) {
            HttpResponse<String> s = get("/ai/v1/threads/" + thread + "/runs/" + r + "/steps/" + step, user);
            assertEquals(200, s.statusCode(), s.body());
        }
        assertEquals(billed.of(user), settled(user).used(), failure(user, "a run (charged " + afterRun
                + ") and its two steps read back"));
    }

    // ------------------------------------------------------------------ 3. updating a stored completion

    /**
     * Attack (an honest client, a real shape): a chat completion made with {@code "store": true}
     * (2,500 tokens, charged its usage) is later tagged for review: OpenAI's
     * {@code POST /v1/chat/completions/{id}} with {@code {"metadata": {...}}} changes its metadata and
     * answers the whole stored completion, usage included. No model runs. Control: reading it back with
     * {@code GET} is free. Expected: 2,500 in all. The update is charged the completion's 2,500 again:
     * 5,000.
     */
    @Test
    void updatingAStoredCompletionsMetadataIsNotChargedItsUsageAgain() {
        String user = subject();
        HttpResponse<String> made = post("/ai/v1/chat/completions", user, "{\"model\":\"gpt-4o\",\"store\":true,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"What does my March invoice cover?\"}]}");
        assertEquals(200, made.statusCode(), made.body());
        String c = idOf(made);
        assertEquals(2_500, settled(user).used(), failure(user, "the stored completion (control)"));
        HttpResponse<String> read = get("/ai/v1/chat/completions/" + c, user);
        assertEquals(200, read.statusCode(), read.body());
        assertEquals(2_500, settled(user).used(), failure(user, "the stored completion read back (control)"));
        HttpResponse<String> updated = post("/ai/v1/chat/completions/" + c, user,
                "{\"metadata\":{\"review\":\"billing\"}}");
        assertEquals(200, updated.statusCode(), updated.body());
        assertEquals(billed.of(user), settled(user).used(), failure(user, "a stored completion, read back, then its"
                + " metadata updated"));
    }

    // ------------------------------------------------------------------ 4. a run that waits for a function

    /**
     * Attack (an honest client, a real shape): an Assistants run with a function tool. The run is
     * created ({@code queued}, charged its estimate, E1 about 1,000); a poll finds it
     * {@code requires_action}; the client sends the function's output
     * ({@code POST /v1/threads/{t}/runs/{r}/submit_tool_outputs}, answered {@code queued} without usage:
     * charged its estimate, E2 about 1,000, the model running its second turn); a poll finds it
     * completed, its usage the whole run's (both turns: 5,600 prompt and 400 completion, 6,000, what the
     * provider billed). Expected: 6,000 in all (E1 + E2 + what the usage passes them). The filter keeps
     * the larger of E1 and E2 as what the run was charged, not their sum, so the completed read adds
     * 6,000 - max(E1, E2) and the run costs 6,000 + min(E1, E2).
     */
    @Test
    void aRunThatWaitsForItsFunctionIsChargedItsUsage() {
        String user = subject();
        String thread = id("thread_");
        HttpResponse<String> created = post("/ai/v1/threads/" + thread + "/runs", user,
                "{\"assistant_id\":\"asst_131\",\"metadata\":{\"tool\":\"true\"}}");
        assertEquals(200, created.statusCode(), created.body());
        String r = idOf(created);
        HttpResponse<String> waiting = get("/ai/v1/threads/" + thread + "/runs/" + r, user);
        assertTrue(waiting.body().contains("\"requires_action\""), waiting.body());
        long beforeSubmit = settled(user).used();
        HttpResponse<String> submitted = post("/ai/v1/threads/" + thread + "/runs/" + r + "/submit_tool_outputs", user,
                "{\"tool_outputs\":[{\"tool_call_id\":\"call_131\",\"output\":\"{\\\"celsius\\\":4,\\\"sky\\\":\\\"snow\\\"}\"}]}");
        assertEquals(200, submitted.statusCode(), submitted.body());
        long afterSubmit = settled(user).used();
        HttpResponse<String> done = get("/ai/v1/threads/" + thread + "/runs/" + r, user);
        assertTrue(done.body().contains("\"completed\""), done.body());
        assertEquals(billed.of(user), settled(user).used(), failure(user, "a run with a function (creation charged "
                + beforeSubmit + ", the submitted output " + (afterSubmit - beforeSubmit) + ")"));
    }

    // ------------------------------------------------------------------ 5. a background stream resumed

    /**
     * Attack (an honest client, a real shape): OpenAI's background mode streamed
     * ({@code "background": true, "stream": true}), as OpenAI documents for long o3 runs. The client's
     * connection drops after 50 deltas; the Response runs on at the provider, as background mode
     * promises, and the client resumes it as OpenAI documents:
     * {@code GET /v1/responses/{id}?stream=true&starting_after=51}, reading the rest and
     * {@code response.completed} with the whole Response's usage (40 input, 7,960 output: 8,000, what
     * the provider billed). The cut stream is charged as a cut stream is (its estimate, about 1,000);
     * the resumed stream, a read of the same Response, is charged its whole usage again instead of
     * what it passes the charge before. Expected: 8,000 in all; charged about 9,000.
     */
    @Test
    void aBackgroundStreamResumedAfterItsConnectionDroppedIsChargedItsUsageOnce() throws Exception {
        String user = subject();
        CountDownLatch gone = hungUp.computeIfAbsent(user, u -> new CountDownLatch(1));
        String seen;
        try {
            seen = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/responses", user, "{\"model\":\"o3\","
                    + "\"input\":\"Derive the quarter's cash flow from the ledger and explain every step.\","
                    + "\"reasoning\":{\"effort\":\"high\"},\"background\":true,\"stream\":true}", "end-of-first-part");
        } finally {
            gone.countDown();
        }
        assertTrue(seen.contains("end-of-first-part"), seen);
        int at = seen.indexOf("\"id\":\"resp_");
        String rid = seen.substring(at + 6, seen.indexOf('"', at + 6));
        long cut = settled(user).used();
        HttpResponse<String> resumed = get("/ai/v1/responses/" + rid + "?stream=true&starting_after="
                + (FIRST_DELTAS + 1), user);
        assertEquals(200, resumed.statusCode(), resumed.body());
        assertTrue(resumed.body().contains("response.completed"), resumed.body());
        assertEquals(billed.of(user), settled(user).used(), failure(user, "a background stream cut (charged " + cut
                + ") and resumed"));
    }

    // ------------------------------------------------------------------ 6. containers and vector stores

    /**
     * Attack (an honest client, real shapes): an app that runs the code interpreter and file search
     * sets them up through the relay: it creates a container ({@code POST /v1/containers}, answered
     * {@code "object": "container"}), attaches an uploaded file to a vector store
     * ({@code POST /v1/vector_stores/{id}/files}: {@code "vector_store.file"}) and attaches three more
     * at once ({@code …/file_batches}: {@code "vector_store.file_batch"}). None of them calls a model
     * (OpenAI bills vector storage by the gigabyte and day, not in tokens). Expected: 0 charged. Each
     * is charged its estimate, about 1,000: the released objects are a fixed list that leaves them out.
     */
    @Test
    void settingUpAContainerAndVectorStoreFilesChargesNothing() {
        String user = subject();
        HttpResponse<String> c = post("/ai/v1/containers", user, "{\"name\":\"quarterly-analysis\"}");
        assertEquals(200, c.statusCode(), c.body());
        HttpResponse<String> f = post("/ai/v1/vector_stores/vs_131/files", user, "{\"file_id\":\"file-manual131\"}");
        assertEquals(200, f.statusCode(), f.body());
        HttpResponse<String> fb = post("/ai/v1/vector_stores/vs_131/file_batches", user,
                "{\"file_ids\":[\"file-a131\",\"file-b131\",\"file-c131\"]}");
        assertEquals(200, fb.statusCode(), fb.body());
        assertEquals(0, settled(user).used(), failure(user, "a container created and four files added to a vector store"));
    }
}
