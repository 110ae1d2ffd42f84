package io.tokenquota.servlet.breakit142;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 142 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * an application's own model jobs and stored streams, read back under the protected prefix where the
 * application keeps its whole AI API. Two patterns real services build around one model call:
 * <ul>
 *   <li>an asynchronous job API of the application's own (a Spring {@code @Async} summary job):
 *       {@code POST /ai/summaries} starts the job, answers {@code 202 Accepted} with the job's id, the
 *       model runs once on a worker, and {@code GET /ai/summaries/{id}} returns the stored result with
 *       the usage the provider reported for it, as often as the client polls;</li>
 *   <li>a resumable chat stream (what chat UIs do so that a reloaded page gets its answer back): the
 *       {@code POST} streams the provider's OpenAI chunks, usage chunk included, and keeps them; a
 *       reconnect, {@code GET /ai/chats/{id}/stream} with the browser's {@code Accept:
 *       text/event-stream}, replays the stored events from the first. No model runs for the replay.</li>
 * </ul>
 * The mock model reports 3,000 prompt and 2,000 completion tokens (5,000) for its one call.
 */
abstract class AbstractRound142 extends H2FilterRound {
    private static final long USAGE = 5_000;
    private static final String USAGE_JSON =
            "{\"prompt_tokens\":3000,\"completion_tokens\":2000,\"total_tokens\":5000}";
    private static final String SUMMARY_REQUEST = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":2000,"
            + "\"document\":\"Quarterly report: revenue grew, costs fell, outlook stable.\"}";
    private static final String CHAT_REQUEST = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"max_tokens\":2000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me about the quarter.\"}]}";

    /** Model calls made, all endpoints together. */
    private final AtomicInteger modelCalls = new AtomicInteger();
    /** The application's job store: job id to its stored result. */
    private final Map<String, String> jobs = new ConcurrentHashMap<>();
    /** The application's stream store: chat id to the events the model's stream produced. */
    private final Map<String, String> streams = new ConcurrentHashMap<>();

    /** {@code POST /ai/summaries} starts a job (the model runs once); {@code GET /ai/summaries/{id}} reads it. */
    private final class Summaries extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String id = "sum_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
            // the worker's one model call; the provider reported 5,000 tokens for it
            modelCalls.incrementAndGet();
            jobs.put(id, "{\"id\":\"" + id + "\",\"status\":\"completed\","
                    + "\"summary\":\"Revenue grew while costs fell; the outlook is stable.\","
                    + "\"usage\":" + USAGE_JSON + "}");
            resp.setStatus(HttpServletResponse.SC_ACCEPTED);
            resp.setContentType("application/json");
            resp.setHeader("Location", "/ai/summaries/" + id);
            resp.getOutputStream().write(("{\"id\":\"" + id + "\",\"status\":\"queued\"}").getBytes(StandardCharsets.UTF_8));
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String id = req.getPathInfo() == null ? "" : req.getPathInfo().substring(1);
            String job = jobs.get(id);
            if (job == null) {
                resp.sendError(404);
                return;
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(job.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** {@code POST /ai/chats/{id}/messages} streams the model's answer; {@code GET /ai/chats/{id}/stream} replays it. */
    private final class Chats extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String chat = chatOf(req);
            modelCalls.incrementAndGet();
            String cid = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "").substring(0, 20);
            String head = "{\"id\":\"" + cid + "\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,"
                    + "\"model\":\"gpt-4o-mini-2024-07-18\",";
            String events = "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
                    + "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Revenue grew and costs fell.\"},\"finish_reason\":null}],\"usage\":null}\n\n"
                    + "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
                    + "data: " + head + "\"choices\":[],\"usage\":" + USAGE_JSON + "}\n\n"
                    + "data: [DONE]\n\n";
            streams.put(chat, events);
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            resp.getOutputStream().write(events.getBytes(StandardCharsets.UTF_8));
            resp.flushBuffer();
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String events = streams.get(chatOf(req));
            if (events == null) {
                resp.setStatus(204);
                return;
            }
            // the application knows it sends stored events: no model runs for them
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0);
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            resp.getOutputStream().write(events.getBytes(StandardCharsets.UTF_8));
            resp.flushBuffer();
        }

        private String chatOf(HttpServletRequest req) {
            String info = req.getPathInfo();
            return info.substring(1, info.indexOf('/', 1));
        }
    }

    /**
     * A chat asked on a {@code GET} (a browser's {@code EventSource}, {@code /ai/ask?q=…}): one model call
     * per request, streamed with its usage chunk; the server names the call after the request's
     * {@code X-Request-Id} when it has one, as vLLM does ({@code chatcmpl-} and the header's value).
     */
    private final class Ask extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            modelCalls.incrementAndGet();
            // the conversation in the path (/ai/ask/{conversation}), else the X-Request-Id, names the call
            String requestId = req.getPathInfo() != null ? req.getPathInfo().substring(1) : req.getHeader("X-Request-Id");
            String cid = "chatcmpl-" + (requestId != null ? requestId : UUID.randomUUID().toString().replace("-", ""));
            String head = "{\"id\":\"" + cid + "\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,"
                    + "\"model\":\"qwen2.5-7b-instruct\",";
            resp.setContentType("text/event-stream");
            resp.getOutputStream().write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                    + "\"Revenue grew.\"},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
                    + "data: " + head + "\"choices\":[],\"usage\":" + USAGE_JSON + "}\n\ndata: [DONE]\n\n")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A conversation asked on a {@code GET} at its own id ({@code /ai/conversations/{id}?q=…}): one model
     * call per request, answered with the conversation's id, a status and the call's usage.
     */
    private final class Conversations extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            modelCalls.incrementAndGet();
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"" + req.getPathInfo().substring(1) + "\",\"status\":\"answered\","
                    + "\"answer\":\"Revenue grew.\",\"usage\":" + USAGE_JSON + "}").getBytes(StandardCharsets.UTF_8));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summaries", new Summaries(), "/ai/summaries", "/ai/summaries/*")
                .servlet("chats", new Chats(), "/ai/chats/*")
                .servlet("ask", new Ask(), "/ai/ask", "/ai/ask/*")
                .servlet("conversations", new Conversations(), "/ai/conversations/*")
                .onStartup(filter::registerByServletName);
    }

    private static String subject() {
        return "u142-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /**
     * Attack from the accountant's side (over-charge): one summary job, one model call of 5,000 tokens,
     * and a client that polls the finished job three times, as any job client does (a page refresh, a
     * retry after a timeout). The polls reach no model. Whatever the job's creation was charged, the
     * job's 5,000 tokens may be charged once: the three reads together may add at most 5,000.
     */
    @Test
    void pollingAFinishedJobThreeTimesChargesItsUsageOnce() throws Exception {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/summaries"), s, SUMMARY_REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        String id = String.valueOf(TestHttp.json(created).get("id"));
        long afterCreate = settled(s).used();
        int[] statuses = new int[3];
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> poll = TestHttp.send(TestHttp.requestAs(container.uri("/ai/summaries/" + id), s,
                    "Accept", "application/json").GET().build());
            statuses[i] = poll.statusCode();
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(1, calls);
        for (int st : statuses) {
            assertEquals(200, st);
        }
        assertTrue(a.used() - afterCreate <= USAGE, "one model call of 5,000 tokens; the creation was charged "
                + afterCreate + ", and three reads of its result added " + (a.used() - afterCreate) + ": " + ledger(s));
    }

    /**
     * Control: the same job polled once. Its creation's charge plus one read of its usage: the call is
     * paid at least its 5,000 tokens.
     */
    @Test
    void aJobReadOnceIsPaid() throws Exception {
        String s = subject();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/summaries"), s, SUMMARY_REQUEST);
        String id = String.valueOf(TestHttp.json(created).get("id"));
        HttpResponse<String> poll = TestHttp.send(TestHttp.requestAs(container.uri("/ai/summaries/" + id), s).GET().build());
        QuotaAccount a = settled(s);
        assertEquals(200, poll.statusCode());
        assertTrue(a.used() >= USAGE, "a 5,000-token call was charged " + a.used() + ": " + ledger(s));
    }

    /**
     * Attack from the accountant's side (over-charge): a chat answer streamed once (the model's one call,
     * 5,000 tokens by its usage chunk), then the browser reloads the page twice and its
     * {@code EventSource} reconnects to the chat's stream, which the application replays from its store.
     * No model runs for a replay; the user must be charged the one call's 5,000 tokens, not one per
     * replay. The filter cannot tell a replay from a new call by the answer (rounds 144, 145 and 147: a
     * call's id repeats by chance on a local server, or after what the client sent), so the replaying
     * handler says it: it reports 0 through {@code QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE}, as the README
     * asks of a handler that calls no model.
     */
    @Test
    void aStoredStreamReplayedToAReloadedPageIsNotChargedAgain() throws Exception {
        String s = subject();
        String chat = "c" + UUID.randomUUID().toString().substring(0, 8);
        int before = modelCalls.get();
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/chats/" + chat + "/messages"), s, CHAT_REQUEST,
                "Accept", "text/event-stream");
        long afterAnswer = settled(s).used();
        HttpResponse<String> replay1 = TestHttp.send(TestHttp.requestAs(container.uri("/ai/chats/" + chat + "/stream"), s,
                "Accept", "text/event-stream", "Cache-Control", "no-cache").GET().build());
        HttpResponse<String> replay2 = TestHttp.send(TestHttp.requestAs(container.uri("/ai/chats/" + chat + "/stream"), s,
                "Accept", "text/event-stream", "Cache-Control", "no-cache").GET().build());
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(200, first.statusCode());
        assertEquals(200, replay1.statusCode());
        assertEquals(200, replay2.statusCode());
        assertTrue(replay2.body().contains("\"total_tokens\":5000"), replay2.body());
        assertEquals(1, calls);
        assertEquals(USAGE, afterAnswer, "the streamed call: " + ledger(s));
        assertEquals(USAGE, a.used(), "one model call of 5,000 tokens, its stream replayed twice from the store: "
                + ledger(s));
    }

    /**
     * Attack on the replay rule: a chat asked twice on a {@code GET} with the same {@code X-Request-Id}
     * (a client that sets it, a proxy that keeps it), which the server names its call after. The second
     * answer carries the first one's call id, but it is a new model call: both are charged, 10,000.
     */
    @Test
    void aGetChatNamedAfterTheClientsRequestIdIsChargedEveryTime() {
        String s = subject();
        int before = modelCalls.get();
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/ask?q=quarter"), s,
                    "Accept", "text/event-stream", "X-Request-Id", "req-7f3a9c").GET().build());
            assertEquals(200, r.statusCode(), r.body());
        }
        assertEquals(2, modelCalls.get() - before);
        assertEquals(2 * USAGE, settled(s).used(), "two model calls on a GET named after one X-Request-Id: " + ledger(s));
    }

    /**
     * The same when the service names each call after the conversation in the path
     * ({@code GET /ai/ask/{conversation}?q=…}, forwarded as {@code X-Request-Id}): two questions of one
     * conversation are two calls with one id, both charged.
     */
    @Test
    void aGetChatNamedAfterItsConversationIsChargedEveryTime() {
        String s = subject();
        int before = modelCalls.get();
        for (String q : List.of("quarter", "outlook")) {
            HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/ask/conv-9d2e71?q=" + q), s,
                    "Accept", "text/event-stream").GET().build());
            assertEquals(200, r.statusCode(), r.body());
        }
        assertEquals(2, modelCalls.get() - before);
        assertEquals(2 * USAGE, settled(s).used(), "two model calls named after their conversation: " + ledger(s));
    }

    /**
     * Attack on the job rule: a conversation's question asked twice on a {@code GET} at the
     * conversation's id, each a new model call answered with that id, a status and its usage. The id
     * is the client's (it is in the path), no job was started by an answer: both are charged, 10,000.
     */
    @Test
    void aConversationAskedTwiceAtItsIdIsChargedEveryTime() {
        String s = subject();
        int before = modelCalls.get();
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/conversations/conv-42?q=quarter"),
                    s, "Accept", "application/json").GET().build());
            assertEquals(200, r.statusCode(), r.body());
        }
        assertEquals(2, modelCalls.get() - before);
        assertEquals(2 * USAGE, settled(s).used(), "two model calls on a conversation's GET: " + ledger(s));
    }
}
