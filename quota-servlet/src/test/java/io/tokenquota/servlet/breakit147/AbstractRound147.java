package io.tokenquota.servlet.breakit147;

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
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 147 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the rule for answers an application sends again, from both sides.
 * <ul>
 *   <li>Under-charge: a chat asked on a {@code GET} (a browser's {@code EventSource}) whose server names
 *       the upstream call after something the request carries, in pieces shorter than six characters:
 *       the client's {@code X-Request-Id} ({@code 7f3a9/c21e8/…}, as vLLM names a call after it), or
 *       the numbers of the chat and the message in the path. Each request is a new model call; when it
 *       reports the same usage as the one before (the same question at temperature 0, an answer that
 *       runs to {@code max_tokens}), the filter takes it for a replay and charges nothing.</li>
 *   <li>Over-charge: an application's job API written the ordinary Spring way: a JPA entity's numeric
 *       id ({@code "id": 1042}) or a Jackson enum's status ({@code "QUEUED"}, answered {@code 200 OK}).
 *       Its job is not recognised, and every poll of the finished job is charged the job's usage
 *       again.</li>
 * </ul>
 * The mock model reports 3,000 prompt and 2,000 completion tokens (5,000) for every call.
 */
abstract class AbstractRound147 extends H2FilterRound {
    private static final long USAGE = 5_000;
    private static final String USAGE_JSON =
            "{\"prompt_tokens\":3000,\"completion_tokens\":2000,\"total_tokens\":5000}";
    private static final String REPORT_REQUEST = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":2000,"
            + "\"document\":\"Quarterly report: revenue grew, costs fell, outlook stable.\"}";

    /** Model calls made, all endpoints together. */
    private final AtomicInteger modelCalls = new AtomicInteger();
    /** The application's job rows: id to the stored result. */
    private final Map<String, String> jobs = new ConcurrentHashMap<>();
    /** The next id of the jobs table (a database sequence). */
    private final AtomicLong sequence = new AtomicLong(1000 + ThreadLocalRandom.current().nextInt(1000));

    /**
     * An OpenAI-compatible chat completion streamed to the browser's {@code EventSource}, usage chunk
     * included, as vLLM streams it: the call named {@code chatcmpl-} and the request id the server was given.
     */
    private void modelAnswer(HttpServletResponse resp, String requestId) throws IOException {
        modelCalls.incrementAndGet();
        String head = "{\"id\":\"chatcmpl-" + requestId + "\",\"object\":\"chat.completion.chunk\","
                + "\"created\":1767225600,\"model\":\"qwen2.5-7b-instruct\",";
        resp.setContentType("text/event-stream");
        resp.setCharacterEncoding("UTF-8");
        resp.getOutputStream().write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                + "\"Revenue grew and costs fell.\"},\"finish_reason\":\"length\"}],\"usage\":null}\n\n"
                + "data: " + head + "\"choices\":[],\"usage\":" + USAGE_JSON + "}\n\ndata: [DONE]\n\n")
                .getBytes(StandardCharsets.UTF_8));
    }

    /**
     * {@code GET /ai/ask?q=…}: one model call per request; the service forwards the client's
     * {@code X-Request-Id} upstream (as a service mesh does), and the server names the call after it.
     */
    private final class Ask extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String requestId = req.getHeader("X-Request-Id");
            modelAnswer(resp, requestId != null ? requestId : UUID.randomUUID().toString().replace("-", ""));
        }
    }

    /**
     * {@code GET /ai/chats/{chat}/messages/{message}/stream}: the answer to a message, asked of the model
     * on every request (the service keeps no streams); the upstream request id is made of the chat's and
     * the message's numbers ({@code chat-4711-msg-88}), one per message.
     */
    private final class Messages extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String[] parts = req.getPathInfo().split("/");
            modelAnswer(resp, "chat-" + Long.parseLong(parts[1]) + "-msg-" + Long.parseLong(parts[3]));
        }
    }

    /**
     * A Spring-style job API: {@code POST /ai/reports} saves a job row (a JPA entity with a {@code Long}
     * id), answers {@code 202} with it ({@code {"id": 1042, "status": "QUEUED"}}), and a worker calls
     * the model once; {@code GET /ai/reports/{id}} returns the row with the result and the usage.
     */
    private final class NumericIdJobs extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            long id = sequence.incrementAndGet();
            modelCalls.incrementAndGet();
            jobs.put("n" + id, "{\"id\":" + id + ",\"status\":\"DONE\",\"summary\":\"Revenue grew while costs fell.\","
                    + "\"usage\":" + USAGE_JSON + "}");
            resp.setStatus(HttpServletResponse.SC_ACCEPTED);
            resp.setContentType("application/json");
            resp.setHeader("Location", "/ai/reports/" + id);
            resp.getOutputStream().write(("{\"id\":" + id + ",\"status\":\"QUEUED\"}").getBytes(StandardCharsets.UTF_8));
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            read(resp, jobs.get("n" + req.getPathInfo().substring(1)));
        }
    }

    /**
     * The same job API answering its creation {@code 200 OK} ({@code ResponseEntity.ok(job)}) with a
     * string id and the status as Jackson writes a Java enum: {@code "QUEUED"}.
     */
    private final class EnumStatusJobs extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String id = "job_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
            modelCalls.incrementAndGet();
            jobs.put(id, "{\"id\":\"" + id + "\",\"status\":\"COMPLETED\",\"summary\":\"Revenue grew while costs fell.\","
                    + "\"usage\":" + USAGE_JSON + "}");
            resp.setContentType("application/json");
            resp.getOutputStream().write(("{\"id\":\"" + id + "\",\"status\":\"QUEUED\"}").getBytes(StandardCharsets.UTF_8));
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            read(resp, jobs.get(req.getPathInfo().substring(1)));
        }
    }

    private static void read(HttpServletResponse resp, String job) throws IOException {
        if (job == null) {
            resp.sendError(404);
            return;
        }
        resp.setContentType("application/json");
        resp.getOutputStream().write(job.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("ask", new Ask(), "/ai/ask")
                .servlet("messages", new Messages(), "/ai/chats/*")
                .servlet("reports", new NumericIdJobs(), "/ai/reports", "/ai/reports/*")
                .servlet("digests", new EnumStatusJobs(), "/ai/digests", "/ai/digests/*")
                .onStartup(filter::registerByServletName);
    }

    private static String subject() {
        return "u147-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private HttpResponse<String> getAs(String subject, String path, String... headers) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), subject, headers).GET().build());
    }

    /**
     * Attack (hostile client, under-charge): the client asks the same question three times on
     * {@code GET /ai/ask?q=quarter}, each time with {@code X-Request-Id: 7f3a9/c21e8/b4d0a/5e6f1}, which
     * the service forwards and the server names its call after ({@code chatcmpl-7f3a9/c21e8/b4d0a/5e6f1}).
     * The filter looks for the id's pieces in what the request sent, but only for words of six
     * characters or more, and the client cut its id into pieces of five. Each request is a new model
     * call of 5,000 tokens with the same usage, so the second and third pass for replays of the first
     * and are free. Three calls: 15,000.
     */
    @Test
    void aRequestIdCutIntoShortPiecesMakesEveryRepeatedCallFree() {
        String s = subject();
        int before = modelCalls.get();
        int[] statuses = new int[3];
        for (int i = 0; i < 3; i++) {
            statuses[i] = getAs(s, "/ai/ask?q=quarter", "Accept", "text/event-stream",
                    "X-Request-Id", "7f3a9/c21e8/b4d0a/5e6f1").statusCode();
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(3, calls);
        for (int st : statuses) {
            assertEquals(200, st);
        }
        assertEquals(3 * USAGE, a.used(), "three model calls of 5,000 tokens: " + ledger(s));
    }

    /**
     * Attack (honest service, under-charge): the chat UI's {@code EventSource} asks for message 88 of chat
     * 4711 at {@code GET /ai/chats/4711/messages/88/stream}; the service keeps no streams, so the page's
     * reload (or the browser's automatic reconnect after a dropped connection) asks the model again. The
     * service names the upstream call {@code chat-4711-msg-88}; the path's pieces ({@code 4711},
     * {@code 88}) are shorter than six characters, so the filter does not see that the request named the
     * call, and the second call, with the same usage, is taken for a replay. Two calls: 10,000.
     */
    @Test
    void aMessageAskedAgainAtItsShortNumericIdsIsChargedAgain() {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> first = getAs(s, "/ai/chats/4711/messages/88/stream", "Accept", "text/event-stream");
        HttpResponse<String> again = getAs(s, "/ai/chats/4711/messages/88/stream", "Accept", "text/event-stream",
                "Cache-Control", "no-cache");
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(200, first.statusCode());
        assertEquals(200, again.statusCode());
        assertEquals(2, calls);
        assertEquals(2 * USAGE, a.used(), "two model calls of 5,000 tokens: " + ledger(s));
    }

    /**
     * Attack (honest service, over-charge): a Spring job API whose job is a JPA entity with a numeric id:
     * {@code POST /ai/reports} answers {@code 202} with {@code {"id": 1042, "status": "QUEUED"}}, the
     * worker calls the model once (5,000 tokens), and the client polls {@code GET /ai/reports/1042}
     * three times after it finished. The polls reach no model: whatever the creation was charged, the
     * three reads may add at most the job's 5,000.
     */
    @Test
    void aJobWithANumericIdPolledThreeTimesIsChargedItsUsageOnce() throws Exception {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/reports"), s, REPORT_REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        long id = ((Number) TestHttp.json(created).get("id")).longValue();
        long afterCreate = settled(s).used();
        int[] statuses = new int[3];
        for (int i = 0; i < 3; i++) {
            statuses[i] = getAs(s, "/ai/reports/" + id, "Accept", "application/json").statusCode();
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
     * Attack (honest service, over-charge): the same job API answering its creation {@code 200 OK} with
     * the status Jackson writes for a Java enum, {@code "QUEUED"} (the filter's starting statuses are
     * lower case). One model call of 5,000 tokens, the finished job polled three times: the reads may add
     * at most 5,000.
     */
    @Test
    void aJobStartedWithAnUpperCaseStatusPolledThreeTimesIsChargedItsUsageOnce() throws Exception {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/digests"), s, REPORT_REQUEST);
        assertEquals(200, created.statusCode(), created.body());
        String id = String.valueOf(TestHttp.json(created).get("id"));
        long afterCreate = settled(s).used();
        int[] statuses = new int[3];
        for (int i = 0; i < 3; i++) {
            statuses[i] = getAs(s, "/ai/digests/" + id, "Accept", "application/json").statusCode();
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
     * Control: the same question asked three times with a request id of one piece
     * ({@code X-Request-Id: 7f3a9c21e8b4d0a5e6f1}): the filter sees the request named the call, and all
     * three calls are charged, 15,000.
     */
    @Test
    void controlARequestIdInOnePieceIsChargedEveryTime() {
        String s = subject();
        int before = modelCalls.get();
        for (int i = 0; i < 3; i++) {
            assertEquals(200, getAs(s, "/ai/ask?q=quarter", "Accept", "text/event-stream",
                    "X-Request-Id", "7f3a9c21e8b4d0a5e6f1").statusCode());
        }
        QuotaAccount a = settled(s);
        assertEquals(3, modelCalls.get() - before);
        assertEquals(3 * USAGE, a.used(), "three model calls of 5,000 tokens: " + ledger(s));
    }
}
