package io.tokenquota.servlet.breakit130;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.BilledTokens;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.ModelCalls;
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
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 130 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * an OpenAI relay that passes the whole API on under the protected prefix, as an OpenAI-compatible
 * proxy does, used as OpenAI's own guides use it. The newest rule (a background Response is charged
 * its estimate when created and, when a later read carries its usage, what the usage passes that
 * estimate) meets the other ways an answer is read: through the Conversations API instead of the
 * Response; a Response that used less than its budget; a finished Response read at another instance
 * of the service (many instances on one database are the design point, docs/SCALING.md); a stored
 * chat completion read back; and calls of the relayed API that run no model at all (the model list,
 * creating a conversation).
 */
abstract class AbstractRound130 extends H2FilterRound {
    /** Why two of this round's tests are disabled: the open parts of issue 11 they show. */
    static final String OPEN_JOB_READ_ELSEWHERE = "issue 11, open: a background Response whose usage is never read"
            + " through the filter (its answer read from its conversation's items) is charged only its creation's"
            + " estimate (docs/decisions.md, \"Jobs the provider runs on its own are charged where their usage is read\")";
    static final String OPEN_JOB_BELOW_ESTIMATE = "issue 11, open: a background job is charged at least its creation's"
            + " estimate, its named budget included, and a later read of less usage cannot lower a commit"
            + " (docs/decisions.md, \"Jobs the provider runs on its own are charged where their usage is read\")";

    static final ObjectMapper JSON = new ObjectMapper();

    /** What an o3-pro run of the report question reads and writes (reasoning included). */
    static final long BG_INPUT = 60;
    static final long BG_REASONING = 11_000;
    static final long BG_TEXT = 1_000;
    static final long BG_TOTAL = BG_INPUT + BG_REASONING + BG_TEXT;
    /** What the same question costs when the client names {@code max_output_tokens}: a short answer. */
    static final long SHORT_OUTPUT = 1_440;
    static final long SHORT_TOTAL = BG_INPUT + SHORT_OUTPUT;
    /** A stored chat completion's usage. */
    static final long CHAT_PROMPT = 4_000;
    static final long CHAT_COMPLETION = 1_000;
    static final long CHAT_TOTAL = CHAT_PROMPT + CHAT_COMPLETION;

    final ModelCalls calls = new ModelCalls();
    /** Tokens the provider billed, per subject. */
    final BilledTokens billed = new BilledTokens();
    /** Stored objects by id (Responses, chat completions), as a read gets them back. */
    final Map<String, String> stored = new ConcurrentHashMap<>();
    /** Conversations by id: their items as JSON objects. */
    final Map<String, List<String>> conversations = new ConcurrentHashMap<>();

    static String subject() {
        return "u130-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String id(String prefix) {
        return prefix + UUID.randomUUID().toString().replace("-", "");
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // a second instance of the service, on the same database (its own filter, as another JVM has)
        QuotaFilter other = filterFor("/ai2/").build();
        return Deployment.create()
                // as the README registers it: every path, every dispatcher type
                .filter("quota", filter, "/*")
                .filter("quota-other-instance", other, "/*")
                .servlet("openai", new OpenAi(), "/ai/v1/*")
                .servlet("openai-other-instance", new OpenAi(), "/ai2/v1/*")
                // the application's back office: no model call, not protected
                .servlet("backend", new OpenAi(), "/backend/v1/*")
                .onStartup(filter::registerByServletName)
                .onStartup(other::registerByServletName);
    }

    // ------------------------------------------------------------------ mock provider

    /**
     * OpenAI's API as a relay passes it on (each instance's relay reaches the same provider).
     * {@code POST /responses}: a Responses call, answered at once {@code "status": "queued"} in
     * background mode; its output is added to the {@code conversation} it names.
     * {@code GET /responses/{id}}: the stored Response. {@code POST /chat/completions}: a chat
     * completion, stored with {@code "store": true}; {@code GET /chat/completions/{id}} reads it back.
     * {@code GET /models}: the model list. {@code POST /conversations}: a new conversation;
     * {@code GET /conversations/{id}/items}: its items, newest first.
     */
    class OpenAi extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            resp.setContentType("application/json");
            if (path.equals("/models")) {
                resp.getWriter().write("{\"object\":\"list\",\"data\":["
                        + "{\"id\":\"gpt-4o\",\"object\":\"model\",\"created\":1715367049,\"owned_by\":\"system\"},"
                        + "{\"id\":\"o3-pro\",\"object\":\"model\",\"created\":1749166761,\"owned_by\":\"system\"},"
                        + "{\"id\":\"gpt-4o-mini\",\"object\":\"model\",\"created\":1721172741,\"owned_by\":\"system\"}]}");
                return;
            }
            if (path.startsWith("/conversations/") && path.endsWith("/items")) {
                String conv = path.substring("/conversations/".length(), path.length() - "/items".length());
                List<String> items = conversations.get(conv);
                if (items == null) {
                    resp.sendError(404);
                    return;
                }
                List<String> newestFirst;
                synchronized (items) {
                    newestFirst = new ArrayList<>(items);
                }
                java.util.Collections.reverse(newestFirst);
                resp.getWriter().write("{\"object\":\"list\",\"data\":[" + String.join(",", newestFirst)
                        + "],\"first_id\":\"x\",\"last_id\":\"y\",\"has_more\":false}");
                return;
            }
            String done = stored.get(path.substring(path.lastIndexOf('/') + 1));
            if (done == null) {
                resp.sendError(404);
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
            if (path.equals("/conversations")) {
                String conv = id("conv_");
                conversations.put(conv, new ArrayList<>());
                resp.getWriter().write("{\"id\":\"" + conv + "\",\"object\":\"conversation\",\"created_at\":1750000000,"
                        + "\"metadata\":" + (body.has("metadata") ? body.get("metadata").toString() : "{}") + "}");
            } else if (path.equals("/responses")) {
                calls.count(user);
                boolean budget = body.has("max_output_tokens");
                long output = budget ? SHORT_OUTPUT : BG_REASONING + BG_TEXT;
                long reasoning = budget ? SHORT_OUTPUT - 440 : BG_REASONING;
                long text = output - reasoning;
                billed.add(user, BG_INPUT + output);
                String rid = id("resp_");
                String usage = "{\"input_tokens\":" + BG_INPUT + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                        + "\"output_tokens\":" + output + ",\"output_tokens_details\":"
                        + "{\"reasoning_tokens\":" + reasoning + "},\"total_tokens\":" + (BG_INPUT + output) + "}";
                boolean background = body.path("background").asBoolean(false);
                String message = ResponsesApi.message("msg_" + rid, "word ".repeat((int) text).trim());
                String done = ResponsesApi.o3Pro(rid, "completed", background, budget ? body.get("max_output_tokens").asLong() : -1,
                        usage, message);
                stored.put(rid, done);
                String conv = body.path("conversation").asText(null);
                if (conv != null && conversations.containsKey(conv)) {
                    List<String> items = conversations.get(conv);
                    synchronized (items) {
                        items.add("{\"type\":\"message\",\"id\":\"msg_in" + rid + "\",\"status\":\"completed\",\"role\":"
                                + "\"user\",\"content\":[{\"type\":\"input_text\",\"text\":"
                                + JsonTree.quoted(body.path("input").asText()) + "}]}");
                        items.add(message);
                    }
                }
                resp.getWriter().write(background
                        ? ResponsesApi.o3Pro(rid, "queued", true, budget ? body.get("max_output_tokens").asLong() : -1, "null", null)
                        : done);
            } else if (path.equals("/chat/completions")) {
                calls.count(user);
                billed.add(user, CHAT_TOTAL);
                String cid = id("chatcmpl-");
                String completion = "{\"id\":\"" + cid + "\",\"object\":\"chat.completion\",\"created\":1750000000,"
                        + "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        + "\"content\":" + JsonTree.quoted("word ".repeat((int) CHAT_COMPLETION).trim()) + ",\"refusal\":null,"
                        + "\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
                        + CHAT_PROMPT + ",\"completion_tokens\":" + CHAT_COMPLETION + ",\"total_tokens\":" + CHAT_TOTAL
                        + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":"
                        + "{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                        + "\"rejected_prediction_tokens\":0}},\"service_tier\":\"default\",\"system_fingerprint\":\"fp_r130\"}";
                if (body.path("store").asBoolean(false)) {
                    stored.put(cid, completion);
                }
                resp.getWriter().write(completion);
            } else {
                resp.sendError(404);
            }
        }
    }

    // ------------------------------------------------------------------ requests

    HttpResponse<String> post(String path, String user, String body) {
        return TestHttp.postJson(container.uri(path), user, body);
    }

    HttpResponse<String> get(String path, String user) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), user).GET().build());
    }

    /** The report question as a client sends it to o3-pro; {@code extra} is added to the body's members. */
    static String reportQuestion(String extra) {
        return "{\"model\":\"o3-pro\",\"input\":\"Work through the attached quarter's figures and write the board"
                + " report with every derivation shown.\",\"reasoning\":{\"effort\":\"high\"}" + extra + "}";
    }

    String failure(String user, String what, List<Integer> statuses) {
        return kind() + ": " + what + " answered " + statuses + ", " + calls.of(user) + " model calls billed "
                + billed.of(user) + " tokens; charged " + settled(user).used() + " on a " + ALLOWANCE + " allowance; "
                + ledger(user);
    }

    // ------------------------------------------------------------------ 0. control

    /**
     * Control: one background o3-pro run (billed 60 + 12,000 = 12,060) read back by
     * {@code GET /v1/responses/{id}}, as the background-mode guide polls it: charged 12,060.
     */
    @Test
    void controlABackgroundResponseReadBackIsChargedItsUsage() {
        String user = subject();
        HttpResponse<String> created = post("/ai/v1/responses", user, reportQuestion(",\"background\":true"));
        assertEquals(200, created.statusCode(), created.body());
        String rid = JsonTree.object(created.body()).get("id").toString();
        HttpResponse<String> read = get("/ai/v1/responses/" + rid, user);
        assertEquals(200, read.statusCode(), read.body());
        assertEquals(BG_TOTAL, settled(user).used(), failure(user, "a background run read back", List.of(200, 200)));
    }

    // ------------------------------------------------------------------ 1. the answer read from the conversation

    /**
     * Attack: the background run is started in a conversation ({@code "conversation": "conv_…"}, the
     * Conversations API, created by the application's back office), and the client never reads the
     * Response: it reads the model's answer from the conversation, {@code GET
     * /v1/conversations/{id}/items} (OpenAI adds a Response's output items to its conversation; a chat
     * UI lists a conversation's items anyway). The Response's usage (60 + 12,000 of which 11,000
     * reasoning) is in no answer the filter sees; it charges the creating POST its estimate (about
     * 1,020) and the items read what a GET without usage costs. Five runs bill 60,300 tokens on a
     * 20,000 allowance; expected, charged at least that, or the runs the allowance does not pay for
     * refused. All five are served and about 10,210 charged (1,036 per creation, 1,006 per items read).
     */
    @Disabled(OPEN_JOB_READ_ELSEWHERE)
    @Test
    void aBackgroundResponseReadThroughItsConversationIsChargedWhatItBilled() {
        String user = subject();
        HttpResponse<String> conv = TestHttp.post(container.uri("/backend/v1/conversations"),
                "{\"metadata\":{\"user\":\"" + user + "\"}}", "Content-Type", "application/json");
        assertEquals(200, conv.statusCode(), conv.body());
        String convId = JsonTree.object(conv.body()).get("id").toString();
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> created = post("/ai/v1/responses", user,
                    reportQuestion(",\"background\":true,\"conversation\":\"" + convId + "\""));
            statuses.add(created.statusCode());
            if (created.statusCode() != 200) {
                continue;
            }
            HttpResponse<String> items = get("/ai/v1/conversations/" + convId + "/items?order=desc&limit=1", user);
            statuses.add(items.statusCode());
            assertTrue(items.statusCode() != 200 || items.body().contains("word word"), items.body());
        }
        assertTrue(settled(user).used() >= billed.of(user), failure(user,
                "five background runs in a conversation, each answer read from the conversation's items", statuses));
    }

    // ------------------------------------------------------------------ 2. a budget the run did not use

    /**
     * Accountant: an honest client names {@code "max_output_tokens": 16000} for a background o3-pro
     * run (as OpenAI advises for reasoning models, leaving room for reasoning), and the run uses
     * 60 + 1,440 = 1,500 tokens. It reads the completed Response back, usage included. Expected: the
     * run costs its usage, 1,500 (the filter saw it). The creating POST is charged its estimate
     * (about 16,020: a 2xx without usage), and the read charges only what the usage passes that, 0:
     * a call that used 1,500 costs about 16,020, and the user's next run is refused (429) on a
     * 20,000 allowance of which the model used 1,500.
     */
    @Disabled(OPEN_JOB_BELOW_ESTIMATE)
    @Test
    void aBackgroundResponseThatUsedLessThanItsBudgetIsChargedItsUsage() {
        String user = subject();
        HttpResponse<String> created = post("/ai/v1/responses", user,
                reportQuestion(",\"background\":true,\"max_output_tokens\":16000"));
        assertEquals(200, created.statusCode(), created.body());
        String rid = JsonTree.object(created.body()).get("id").toString();
        HttpResponse<String> read = get("/ai/v1/responses/" + rid, user);
        assertEquals(200, read.statusCode(), read.body());
        assertTrue(read.body().contains("\"total_tokens\":" + SHORT_TOTAL), read.body());
        assertEquals(SHORT_TOTAL, settled(user).used(), failure(user,
                "a background run with max_output_tokens 16000 that used " + SHORT_TOTAL + ", read back", List.of(
                        created.statusCode(), read.statusCode())));
    }

    // ------------------------------------------------------------------ 3. another instance reads it back

    /**
     * Accountant: the service runs as two instances on one database behind a load balancer
     * ({@code /ai/} and {@code /ai2/} here, each its own filter, as two JVMs). An honest client makes one
     * o3-pro call, not in background mode, stored as every Response is by default: the answer carries
     * its usage (12,060) and is charged it. The client later reads the Response back ({@code GET
     * /v1/responses/{id}}, a page reload showing the answer again), and the load balancer sends the read
     * to the other instance, which did not see the call: it charged the usage again, as "a finished job
     * it did not see" (24,120, past the 20,000 allowance). The Response says {@code "background": false}:
     * its usage came with the answer that ran it. Expected 12,060 for one model call.
     */
    @Test
    void aFinishedResponseReadAtAnotherInstanceIsNotChargedAgain() {
        String user = subject();
        HttpResponse<String> created = post("/ai/v1/responses", user, reportQuestion(""));
        assertEquals(200, created.statusCode(), created.body());
        long afterCall = settled(user).used();
        String rid = JsonTree.object(created.body()).get("id").toString();
        HttpResponse<String> read = get("/ai2/v1/responses/" + rid, user);
        assertEquals(200, read.statusCode(), read.body());
        assertEquals(1, calls.of(user));
        assertEquals(BG_TOTAL, settled(user).used(), failure(user, "one Response (charged " + afterCall
                + ") read back at the other instance", List.of(created.statusCode(), read.statusCode())));
    }

    /**
     * Accountant: the same with a stored chat completion ({@code "store": true}, 5,000 tokens, charged
     * that at the instance that served it), read back twice at the other instance. A chat completion
     * runs within its request's answer, which carried its usage: expected 5,000 in all.
     */
    @Test
    void aStoredChatCompletionReadAtAnotherInstanceIsNotChargedAgain() {
        String user = subject();
        HttpResponse<String> created = post("/ai/v1/chat/completions", user, "{\"model\":\"gpt-4o\",\"store\":true,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the attached quarter.\"}]}");
        assertEquals(200, created.statusCode(), created.body());
        String cid = JsonTree.object(created.body()).get("id").toString();
        List<Integer> statuses = new ArrayList<>(List.of(created.statusCode()));
        for (int i = 0; i < 2; i++) {
            statuses.add(get("/ai2/v1/chat/completions/" + cid, user).statusCode());
        }
        assertEquals(List.of(200, 200, 200), statuses);
        assertEquals(CHAT_TOTAL, settled(user).used(), failure(user, "one stored completion read back twice at the"
                + " other instance", statuses));
    }

    /**
     * Attacker's counterpart: a background run (its creation answered {@code "background": true},
     * queued, charged its estimate at the first instance) polled to its end at the other instance.
     * The run's usage is in no answer the first instance saw, so the other instance must charge it:
     * at least the 12,060 the run billed.
     */
    @Test
    void aBackgroundResponseReadAtAnotherInstanceIsChargedItsUsage() {
        String user = subject();
        HttpResponse<String> created = post("/ai/v1/responses", user, reportQuestion(",\"background\":true"));
        assertEquals(200, created.statusCode(), created.body());
        String rid = JsonTree.object(created.body()).get("id").toString();
        HttpResponse<String> read = get("/ai2/v1/responses/" + rid, user);
        assertEquals(200, read.statusCode(), read.body());
        assertTrue(settled(user).used() >= BG_TOTAL, failure(user, "a background run read back at the other instance",
                List.of(created.statusCode(), read.statusCode())));
    }

    // ------------------------------------------------------------------ 4. a stored chat completion read back

    /**
     * Accountant: an honest client sends a chat completion with {@code "store": true} (OpenAI's stored
     * completions, for evals and distillation), billed 4,000 + 1,000 = 5,000 and charged that. It then
     * reads it back, {@code GET /v1/chat/completions/{id}} (the SDK's
     * {@code client.chat.completions.retrieve(id)}), twice, as a history view does. No model runs for a
     * read; the answer is the very completion the filter already charged, same id, same usage. Expected
     * 5,000; each read is charged the usage again, 15,000 for one model call.
     */
    @Test
    void aStoredChatCompletionReadBackCostsNothing() {
        String user = subject();
        HttpResponse<String> created = post("/ai/v1/chat/completions", user, "{\"model\":\"gpt-4o\",\"store\":true,"
                + "\"metadata\":{\"feature\":\"board-report\"},\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Summarise the attached quarter.\"}]}");
        assertEquals(200, created.statusCode(), created.body());
        String cid = JsonTree.object(created.body()).get("id").toString();
        List<Integer> statuses = new ArrayList<>(List.of(created.statusCode()));
        for (int i = 0; i < 2; i++) {
            statuses.add(get("/ai/v1/chat/completions/" + cid, user).statusCode());
        }
        assertEquals(List.of(200, 200, 200), statuses);
        assertEquals(1, calls.of(user));
        assertEquals(CHAT_TOTAL, settled(user).used(), failure(user, "one stored completion read back twice", statuses));
    }

    // ------------------------------------------------------------------ 5. relayed calls that run no model

    /**
     * Accountant: an OpenAI-compatible chat UI (Open WebUI, LibreChat, LobeChat) pointed at the relay
     * lists the models, {@code GET /v1/models}, on every page load, as the SDKs' {@code models.list()}
     * does; no model runs, and the answer ({@code "object": "list"} of {@code "object": "model"}) says
     * so. Ten page loads: expected 0 charged. Each is a 2xx without usage and charged the fallback
     * estimate, so ten page loads cost about 10,000 of a 20,000 allowance without one model call.
     */
    @Test
    void listingTheModelsCostsNothing() {
        String user = subject();
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            statuses.add(get("/ai/v1/models", user).statusCode());
        }
        assertEquals(0, calls.of(user));
        assertEquals(0, settled(user).used(), failure(user, "ten model lists", statuses));
    }

    /**
     * Accountant: a client starts a conversation as OpenAI's conversation-state guide does,
     * {@code POST /v1/conversations} with its metadata (answered {@code "object": "conversation"}, an
     * id; no model runs), before its first Responses call. Five new chats: expected 0 charged; each is
     * a 2xx without usage, charged its estimate.
     */
    @Test
    void creatingAConversationCostsNothing() {
        String user = subject();
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            statuses.add(post("/ai/v1/conversations", user, "{\"metadata\":{\"topic\":\"quarter " + i + "\"}}")
                    .statusCode());
        }
        assertEquals(0, calls.of(user));
        assertEquals(0, settled(user).used(), failure(user, "five new conversations", statuses));
    }
}
