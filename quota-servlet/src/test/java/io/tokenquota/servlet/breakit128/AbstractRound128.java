package io.tokenquota.servlet.breakit128;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.BilledTokens;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 128 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * provider calls that run asynchronously at the provider. OpenAI's Responses API in background mode
 * ({@code "background": true}, what OpenAI recommends for o3-pro and other long reasoning runs) and
 * an Assistants run created without {@code stream} both answer the creating {@code POST} at once with
 * the object queued and {@code "usage": null}; the model runs afterwards, and its usage appears only in
 * the object the client later reads back with {@code GET} (a poll). A host set up as docs/decisions.md
 * advised before this round ("Polling a stored response is charged like any call") has its poll handler report 0 (no
 * model runs for a poll), or mounts the polls outside the protected prefix. The model call itself is
 * then charged only what the filter estimated for the creating request: its input and the default
 * output budget, whatever the model wrote. And a host that leaves the polls protected, as they come,
 * charges each poll that still answers {@code in_progress} the fallback estimate, though no model
 * ran for it.
 */
abstract class AbstractRound128 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** What an o3-pro background run of the report question reads and writes (reasoning included). */
    static final long BG_INPUT = 60;
    static final long BG_REASONING = 11_000;
    static final long BG_TEXT = 1_000;
    static final long BG_TOTAL = BG_INPUT + BG_REASONING + BG_TEXT;
    /** What an assistant's own instructions add to each run's prompt, and what a run writes. */
    static final long ASSISTANT_INSTRUCTIONS = 120;
    static final long RUN_OUTPUT = 300;

    final ModelCalls calls = new ModelCalls();
    /** Tokens the provider billed, per subject. */
    final BilledTokens billed = new BilledTokens();
    /** Completed objects by id, as a poll reads them back. */
    final Map<String, String> completed = new ConcurrentHashMap<>();
    /** Polls each object still answers {@code in_progress} before it is completed. */
    final Map<String, AtomicInteger> pending = new ConcurrentHashMap<>();
    /** Assistants threads by id: their messages' text, added by the application's back office. */
    final Map<String, StringBuilder> threads = new ConcurrentHashMap<>();

    static String subject() {
        return "u128-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String id(String prefix) {
        return prefix + UUID.randomUUID().toString().replace("-", "");
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                // as the README registers it: every path, every dispatcher type
                .filter("quota", filter, "/*")
                // the provider relay; its polls report 0 for themselves, as docs/decisions.md advises
                .servlet("openai", new OpenAi(true), "/ai/v1/*")
                // the same relay on a second mount whose polls are left as they come
                .servlet("openai-plain-polls", new OpenAi(false), "/ai/v2/*")
                // the application's back office: adds thread messages; no model call, not protected
                .servlet("backend", new Backend(), "/backend/v1/*")
                .onStartup(filter::registerByServletName);
    }

    // ------------------------------------------------------------------ mock provider

    /** The back office: {@code POST /threads/{id}/messages}. */
    class Backend extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (path.startsWith("/threads/") && path.endsWith("/messages")) {
                String thread = path.substring("/threads/".length(), path.length() - "/messages".length());
                threads.computeIfAbsent(thread, t -> new StringBuilder())
                        .append(JSON.readTree(body).path("content").asText()).append('\n');
                resp.setContentType("application/json");
                resp.getWriter().write("{\"id\":\"" + id("msg_") + "\",\"object\":\"thread.message\",\"thread_id\":\""
                        + thread + "\",\"role\":\"user\"}");
            } else {
                resp.sendError(404);
            }
        }
    }

    /**
     * OpenAI's API as a relay passes it on. {@code POST /responses}: a Responses call; with
     * {@code "background": true} it is answered at once, {@code "status": "queued"} and
     * {@code "usage": null}, and the model runs at the provider (here at once; its result kept for the
     * polls). {@code POST /threads/{id}/runs} without {@code stream}: an Assistants run, answered
     * queued, the model reading the thread. {@code GET /responses/{id}} and
     * {@code GET /threads/{id}/runs/{run}}: polls, answering {@code in_progress} as many times as the
     * object's {@code pending} count says, then the completed object with its usage. No model runs
     * for a poll; with {@code pollsReportZero} the poll handler says so through
     * {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}.
     */
    class OpenAi extends HttpServlet {
        final boolean pollsReportZero;

        OpenAi(boolean pollsReportZero) {
            this.pollsReportZero = pollsReportZero;
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            String objectId = path.substring(path.lastIndexOf('/') + 1);
            String done = completed.get(objectId);
            if (done == null) {
                resp.sendError(404);
                return;
            }
            if (pollsReportZero) {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            }
            resp.setContentType("application/json");
            AtomicInteger left = pending.get(objectId);
            if (left != null && left.getAndDecrement() > 0) {
                resp.getWriter().write(queuedResponse(objectId, "in_progress"));
                return;
            }
            resp.getWriter().write(done);
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String user = req.getHeader("x-user-id");
            JsonNode body = JSON.readTree(req.getInputStream());
            resp.setContentType("application/json");
            if (path.equals("/responses")) {
                calls.count(user);
                billed.add(user, BG_TOTAL);
                String rid = id("resp_");
                String usage = "{\"input_tokens\":" + BG_INPUT + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                        + "\"output_tokens\":" + (BG_REASONING + BG_TEXT) + ",\"output_tokens_details\":"
                        + "{\"reasoning_tokens\":" + BG_REASONING + "},\"total_tokens\":" + BG_TOTAL + "}";
                String done = response(rid, "completed", usage, "word ".repeat((int) BG_TEXT).trim());
                if (body.path("background").asBoolean(false)) {
                    completed.put(rid, done);
                    pending.put(rid, new AtomicInteger(body.path("metadata").path("polls").asInt(0)));
                    resp.getWriter().write(queuedResponse(rid, "queued"));
                } else {
                    resp.getWriter().write(done);
                }
            } else if (path.startsWith("/threads/") && path.endsWith("/runs")) {
                String thread = path.substring("/threads/".length(), path.length() - "/runs".length());
                StringBuilder text = threads.get(thread);
                if (text == null) {
                    resp.sendError(404);
                    return;
                }
                calls.count(user);
                long prompt = TOKENS.estimate(text.toString()) + ASSISTANT_INSTRUCTIONS;
                billed.add(user, prompt + RUN_OUTPUT);
                String run = id("run_");
                completed.put(run, run(run, thread, "completed", "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":"
                        + RUN_OUTPUT + ",\"total_tokens\":" + (prompt + RUN_OUTPUT) + "}"));
                resp.getWriter().write(run(run, thread, "queued", "null"));
            } else {
                resp.sendError(404);
            }
        }
    }

    /** A Responses object as OpenAI writes it, of o3-pro in background mode. */
    static String response(String rid, String status, String usage, String text) {
        return ResponsesApi.o3Pro(rid, status, true, -1, usage, text == null ? null : ResponsesApi.message("msg_" + rid, text));
    }

    static String queuedResponse(String rid, String status) {
        return response(rid, status, "null", null);
    }

    /** An Assistants run object as OpenAI writes it. */
    static String run(String run, String thread, String status, String usage) {
        return "{\"id\":\"" + run + "\",\"object\":\"thread.run\",\"created_at\":1750000000,\"assistant_id\":"
                + "\"asst_r128\",\"thread_id\":\"" + thread + "\",\"status\":\"" + status + "\",\"model\":\"gpt-4o\","
                + "\"instructions\":\"You answer from the manual.\",\"tools\":[],\"max_prompt_tokens\":null,"
                + "\"max_completion_tokens\":null,\"usage\":" + usage + "}";
    }

    // ------------------------------------------------------------------ requests

    HttpResponse<String> post(String path, String user, String body) {
        return TestHttp.postJson(container.uri(path), user, body);
    }

    HttpResponse<String> get(String path, String user) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), user).GET().build());
    }

    /** The report question as a client sends it to o3-pro, in background mode or not. */
    static String reportQuestion(boolean background) {
        return "{\"model\":\"o3-pro\",\"input\":\"Work through the attached quarter's figures and write the board"
                + " report with every derivation shown.\",\"reasoning\":{\"effort\":\"high\"}"
                + (background ? ",\"background\":true" : "") + "}";
    }

    /** A reference manual of about 12,000 tokens. */
    static String manual() {
        return Prose.english(77_000);
    }

    String failure(String user, String what, List<Integer> statuses) {
        return kind() + ": " + what + " answered " + statuses + ", " + calls.of(user) + " model calls billed "
                + billed.of(user) + " tokens; charged " + settled(user).used() + " on a " + ALLOWANCE + " allowance; "
                + ledger(user);
    }

    // ------------------------------------------------------------------ 1. Responses background mode

    /**
     * Control: the report question to o3-pro at high reasoning effort, not in background mode. The
     * answer carries the usage (60 input, 12,000 output of which 11,000 reasoning): charged 12,060.
     */
    @Test
    void controlAForegroundReasoningCallIsChargedItsUsage() {
        String user = subject();
        HttpResponse<String> r = post("/ai/v1/responses", user, reportQuestion(false));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(BG_TOTAL, settled(user).used(), kind() + ": " + ledger(user));
    }

    /**
     * Attack: OpenAI's background mode, as OpenAI recommends it for o3-pro ({@code "background": true},
     * {@code reasoning.effort: high}, no {@code max_output_tokens}). The creating POST is answered at
     * once, {@code "status": "queued"}, {@code "usage": null}; the model then runs at the provider and
     * bills 12,060 tokens (11,000 of them reasoning); the client polls {@code GET /v1/responses/{id}}
     * until it reads the completed Response, answer and usage included. The poll handler reports 0 for
     * itself, as docs/decisions.md advises. The filter charges the creating POST its estimate (the
     * question and the 1,000-token default budget, 1,019): a 2xx without usage. A user starts
     * five such runs on a 20,000 allowance and reads every answer: the provider bills 60,300 tokens;
     * expected, the ledger charges at least what the served runs billed (or refuses the runs the
     * allowance does not pay for). All five are served and 5,095 charged.
     */
    @Test
    void aBackgroundResponseIsChargedWhatItsModelBilled() {
        String user = subject();
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> created = post("/ai/v1/responses", user, reportQuestion(true));
            statuses.add(created.statusCode());
            if (created.statusCode() != 200) {
                continue;
            }
            String rid = JsonTree.object(created.body()).get("id").toString();
            HttpResponse<String> poll = get("/ai/v1/responses/" + rid, user);
            assertEquals(200, poll.statusCode(), poll.body());
            assertTrue(poll.body().contains("\"status\":\"completed\""), poll.body());
        }
        QuotaAccount a = settled(user);
        assertTrue(a.used() >= billed.of(user), failure(user, "five background o3-pro runs, each read back", statuses));
    }

    // ------------------------------------------------------------------ 2. Assistants runs not streamed

    /**
     * Attack: the application keeps each user's conversation in an OpenAI Assistants thread, to which
     * its back office (unprotected, no model call) adds the user's 12,000-token manual. The client
     * starts runs as the Assistants quickstart does it, without {@code stream}:
     * {@code POST /v1/threads/{id}/runs} with {@code {"assistant_id": "asst_r128"}}, answered at once
     * with the run queued and {@code "usage": null}, then polls {@code GET /v1/threads/{id}/runs/{run}}
     * (the poll reports 0 for itself) until the run is completed with its usage: the model read the
     * thread, about 12,100 prompt tokens, and wrote 300. The filter learns a thread's size only from a
     * streamed run's usage, so every run here is charged its two-field body and the default budget
     * (1,001). Three runs on a 20,000 allowance bill 37,272; expected, charged at least
     * that, or the runs the allowance does not pay for refused. All three are served and 3,003
     * charged.
     */
    @Test
    void anAssistantsRunCreatedWithoutStreamIsChargedWhatItsModelBilled() {
        String user = subject();
        String thread = id("thread_");
        HttpResponse<String> added = TestHttp.post(container.uri("/backend/v1/threads/" + thread + "/messages"),
                "{\"role\":\"user\",\"content\":" + JsonTree.quoted(manual()) + "}", "Content-Type", "application/json");
        assertEquals(200, added.statusCode(), added.body());
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> created = post("/ai/v1/threads/" + thread + "/runs", user,
                    "{\"assistant_id\":\"asst_r128\"}");
            statuses.add(created.statusCode());
            if (created.statusCode() != 200) {
                continue;
            }
            String run = JsonTree.object(created.body()).get("id").toString();
            HttpResponse<String> poll = get("/ai/v1/threads/" + thread + "/runs/" + run, user);
            assertEquals(200, poll.statusCode(), poll.body());
            assertTrue(poll.body().contains("\"status\":\"completed\""), poll.body());
        }
        QuotaAccount a = settled(user);
        assertTrue(a.used() >= billed.of(user), failure(user, "three runs on a thread holding a 12,000-token manual, polled", statuses));
    }

    // ------------------------------------------------------------------ 3. polls left protected

    /**
     * Accountant: an honest client of a host that leaves its polls under the protected prefix as they
     * come (no figure reported). It starts one background o3-pro run (billed 12,060) and polls
     * {@code GET /v1/responses/{id}} every few seconds, as OpenAI's background-mode guide does
     * ({@code while resp.status in {"queued", "in_progress"}: sleep(2); resp = retrieve(id)}); the run
     * answers {@code in_progress} to the first eight polls, then completed with its usage. No model runs
     * for a poll: an {@code in_progress} poll must cost nothing. Each is charged the 1,000-token fallback
     * estimate (a 2xx without usage), so the one run costs 21,080 on a 20,000 allowance (the creating
     * POST's 1,020, eight polls' 8,000 and the usage 12,060): 9,020 for a model call that billed 12,060
     * before its answer is even read, and a run that takes a minute or more (30 polls at 2 s) leaves the
     * honest user refused (429) before it can read the answer back.
     */
    @Test
    void pollsThatFindTheRunStillInProgressCostNothing() {
        String user = subject();
        String body = reportQuestion(true).substring(0, reportQuestion(true).length() - 1) + ",\"metadata\":{\"polls\":\"8\"}}";
        HttpResponse<String> created = post("/ai/v2/responses", user, body);
        assertEquals(200, created.statusCode(), created.body());
        String rid = JsonTree.object(created.body()).get("id").toString();
        long afterCreate = settled(user).used();
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            HttpResponse<String> poll = get("/ai/v2/responses/" + rid, user);
            statuses.add(poll.statusCode());
        }
        long afterPolls = settled(user).used();
        HttpResponse<String> last = get("/ai/v2/responses/" + rid, user);
        statuses.add(last.statusCode());
        assertEquals(afterCreate, afterPolls, failure(user, "eight polls of a run still in progress (then the last"
                + " poll), charged " + afterCreate + " after the POST and " + afterPolls + " after the in-progress polls",
                statuses));
        assertEquals(200, last.statusCode(), failure(user, "the last poll, which reads the completed answer", statuses));
    }
}
