package io.tokenquota.servlet.breakit144;

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
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 144 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the rule that a read sending an earlier answer again is charged only what its usage passes what was
 * charged for it before. The filter knows such a read by the id the answer names (an application's job,
 * a provider's call id), and by nothing else: not by the endpoint that made the answer, nor by whether
 * the id in the read's path was the client's own choice. One application under {@code /ai/}:
 * <ul>
 *   <li>a summary job API: {@code POST /ai/summaries} answers {@code 202} with the job's id, the model
 *       runs once on a worker, {@code GET /ai/summaries/{id}} returns the stored result;</li>
 *   <li>conversations asked on a {@code GET} at an id the client picks (a chat UI creates the id in
 *       the browser, as the Vercel chatbot does): {@code GET /ai/conversations/{id}?q=…}, one model call
 *       per request, answered with the conversation's id, a status and the call's usage;</li>
 *   <li>a chat asked from a browser's {@code EventSource}, {@code GET /ai/chats/{chat}/ask?q=…}, relayed
 *       to a vLLM server with the chat's id as {@code X-Request-Id} (so that the server's logs line up with
 *       the chats): vLLM names the call {@code chatcmpl-} and that id.</li>
 * </ul>
 * Every model call here reports 3,000 prompt and 2,000 completion tokens (5,000).
 */
abstract class AbstractRound144 extends H2FilterRound {
    private static final long USAGE = 5_000;
    private static final String USAGE_JSON =
            "{\"prompt_tokens\":3000,\"completion_tokens\":2000,\"total_tokens\":5000}";
    private static final String SUMMARY_REQUEST = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":2000,"
            + "\"document\":\"Quarterly report: revenue grew, costs fell, outlook stable.\"}";

    /** Model calls made, all endpoints together. */
    private final AtomicInteger modelCalls = new AtomicInteger();
    /** The application's job store: job id to its stored result. */
    private final Map<String, String> jobs = new ConcurrentHashMap<>();

    /** {@code POST /ai/summaries} starts a job (the model runs once); {@code GET /ai/summaries/{id}} reads it. */
    private final class Summaries extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String id = "sum_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
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

    /** {@code GET /ai/conversations/{id}?q=…}: one model call per request, at whatever id the client picked. */
    private final class Conversations extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            modelCalls.incrementAndGet();
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"" + req.getPathInfo().substring(1) + "\",\"status\":\"answered\","
                    + "\"answer\":\"Revenue grew.\",\"usage\":" + USAGE_JSON + "}").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * {@code GET /ai/chats/{chat}/ask?q=…}: one model call per request, relayed to vLLM with the chat's id
     * as {@code X-Request-Id}; vLLM streams the answer under {@code chatcmpl-{chat}} with its usage chunk.
     */
    private final class Chats extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String info = req.getPathInfo();
            String chat = info.substring(1, info.indexOf('/', 1));
            modelCalls.incrementAndGet();
            String head = "{\"id\":\"chatcmpl-" + chat + "\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,"
                    + "\"model\":\"qwen2.5-7b-instruct\",";
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            resp.getOutputStream().write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                    + "\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
                    + "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Revenue grew.\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
                    + "data: " + head + "\"choices\":[],\"usage\":" + USAGE_JSON + "}\n\ndata: [DONE]\n\n")
                    .getBytes(StandardCharsets.UTF_8));
            resp.flushBuffer();
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summaries", new Summaries(), "/ai/summaries", "/ai/summaries/*")
                .servlet("conversations", new Conversations(), "/ai/conversations/*")
                .servlet("chats", new Chats(), "/ai/chats/*")
                .onStartup(filter::registerByServletName);
    }

    private static String subject() {
        return "u144-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private HttpResponse<String> get(String path, String subject, String accept) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), subject, "Accept", accept).GET().build());
    }

    /**
     * Attack (under-charge): the client starts one cheap summary job and keeps its id. It then asks its
     * questions as a conversation whose id it picks itself, and picks the job's id:
     * {@code GET /ai/conversations/{jobId}?q=…}. Each question is a new model call of 5,000 tokens on
     * another endpoint, answered with that id and a status; the filter takes each for a read of the job
     * and charges only what passes the job's figure. Every conversation call served must be paid.
     */
    @Test
    void conversationCallsAtAJobsIdAreChargedEveryCall() throws Exception {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/summaries"), s, SUMMARY_REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        String id = String.valueOf(TestHttp.json(created).get("id"));
        long afterCreate = settled(s).used();
        int[] statuses = new int[3];
        int served = 0;
        for (int i = 0; i < statuses.length; i++) {
            statuses[i] = get("/ai/conversations/" + id + "?q=question" + i + "-about-the-quarter", s,
                    "application/json").statusCode();
            if (statuses[i] == 200) {
                served++;
            }
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(1 + served, calls);
        assertEquals(3, served, "statuses " + Arrays.toString(statuses));
        assertTrue(a.used() - afterCreate >= served * USAGE, served + " conversation calls of 5,000 tokens each"
                + " added " + (a.used() - afterCreate) + " after the job's creation (" + afterCreate + "): " + ledger(s));
    }

    /**
     * Attack (under-charge): a chat asked three times from the browser at the same chat id,
     * {@code GET /ai/chats/{chat}/ask?q=…}, each a new model call. The relay names the upstream call after
     * the chat's id, which only the path carries (no header or query value of the request holds it), so
     * the second and third answers carry the first one's call id and pass for replays of it. Three model
     * calls of 5,000 tokens: 15,000.
     */
    @Test
    void aChatAskedAgainAtItsPathIdIsChargedEveryCall() {
        String s = subject();
        String chat = "c" + UUID.randomUUID().toString().replace("-", "").substring(0, 10);
        int before = modelCalls.get();
        int[] statuses = new int[3];
        long[] usedAfter = new long[3];
        for (int i = 0; i < statuses.length; i++) {
            statuses[i] = get("/ai/chats/" + chat + "/ask?q=turn" + i, s, "text/event-stream").statusCode();
            usedAfter[i] = settled(s).used();
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(3, calls);
        for (int st : statuses) {
            assertEquals(200, st);
        }
        assertEquals(3 * USAGE, a.used(), "three model calls of 5,000 tokens at one chat id: " + ledger(s));
    }

    /**
     * Attack (under-charge past the allowance): the same chat asked eight times at one chat id, 40,000
     * tokens of model calls on a 20,000 allowance. Once the allowance is spent the next question must be
     * refused; every one served must be paid.
     */
    @Test
    void aChatAtOneIdIsNotServedPastTheAllowance() {
        String s = subject();
        String chat = "c" + UUID.randomUUID().toString().replace("-", "").substring(0, 10);
        int before = modelCalls.get();
        int[] statuses = new int[8];
        int served = 0;
        for (int i = 0; i < statuses.length; i++) {
            statuses[i] = get("/ai/chats/" + chat + "/ask?q=turn" + i, s, "text/event-stream").statusCode();
            if (statuses[i] == 200) {
                served++;
            }
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(served, calls);
        assertTrue(served <= ALLOWANCE / USAGE, served + " model calls of 5,000 tokens served on a 20,000 allowance,"
                + " used " + a.used() + ": " + ledger(s));
        assertTrue(a.used() >= served * USAGE, served + " model calls of 5,000 tokens charged " + a.used());
    }

    /**
     * Control: the same three questions, each in a chat of its own (three path ids, three call ids):
     * three model calls, 15,000.
     */
    @Test
    void controlChatsAtThreeIdsAreChargedEveryCall() {
        String s = subject();
        int before = modelCalls.get();
        int[] statuses = new int[3];
        for (int i = 0; i < statuses.length; i++) {
            String chat = "c" + UUID.randomUUID().toString().replace("-", "").substring(0, 10);
            statuses[i] = get("/ai/chats/" + chat + "/ask?q=turn" + i, s, "text/event-stream").statusCode();
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(3, calls);
        assertEquals(3 * USAGE, a.used(), "three model calls of 5,000 tokens in three chats: " + ledger(s));
    }
}
