package io.tokenquota.servlet.breakit148;

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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Round 148 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * an application's own model jobs, whose reads the filter charges only what their usage passes what the
 * job was charged before. A job's id names one job, but not one model call: real job APIs run the model
 * again for the same id (a "regenerate" button, a summary kept per document and redone when asked), and
 * the filter keeps the first call's figure for the id, so every later call under it is charged only its
 * start's estimate. From the other side, the filter takes a job's creation for a start only when the
 * request's path and query do not contain the id as text, so the first job of a fresh table (id
 * {@code 1}) under a versioned path ({@code /ai/v1/summaries}) is not known as a job, and every poll of
 * it is charged the call's usage again.
 *
 * <p>Every model call the workers make reports 3,000 prompt and 2,000 completion tokens (5,000).
 */
abstract class AbstractRound148 extends H2FilterRound {
    private static final long USAGE = 5_000;
    private static final String USAGE_JSON =
            "{\"prompt_tokens\":3000,\"completion_tokens\":2000,\"total_tokens\":5000}";
    private static final String SUMMARY_REQUEST = "{\"model\":\"gpt-4o-mini\","
            + "\"document\":\"Quarterly report: revenue grew, costs fell, outlook stable.\"}";
    private static final Pattern REGENERATE = Pattern.compile("^/([^/]+)/regenerate$");

    /** Model calls the workers made, all endpoints together. */
    private final AtomicInteger modelCalls = new AtomicInteger();
    /** The applications' job store: endpoint and job id to the stored result. */
    private final Map<String, String> jobs = new ConcurrentHashMap<>();

    /** The worker's model call for a job: one call, 5,000 tokens, its result stored with its usage. */
    private void runModel(String store, Object id, int run) {
        modelCalls.incrementAndGet();
        String jsonId = id instanceof String ? "\"" + id + "\"" : String.valueOf(id);
        jobs.put(store + "/" + id, "{\"id\":" + jsonId + ",\"status\":\"completed\",\"run\":" + run + ","
                + "\"summary\":\"Revenue grew while costs fell; the outlook is stable (draft " + run + ").\","
                + "\"usage\":" + USAGE_JSON + "}");
    }

    private static void accepted(HttpServletResponse resp, String location, String jsonId) throws IOException {
        resp.setStatus(HttpServletResponse.SC_ACCEPTED);
        resp.setContentType("application/json");
        resp.setHeader("Location", location);
        resp.getOutputStream().write(("{\"id\":" + jsonId + ",\"status\":\"queued\"}").getBytes(StandardCharsets.UTF_8));
    }

    private void read(HttpServletResponse resp, String key) throws IOException {
        String job = jobs.get(key);
        if (job == null) {
            resp.sendError(404);
            return;
        }
        resp.setContentType("application/json");
        resp.getOutputStream().write(job.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A summary job API with a "regenerate" action: {@code POST /ai/summaries} starts a job ({@code 202},
     * its id), {@code POST /ai/summaries/{id}/regenerate} runs the model again for it ({@code 202}, the
     * same id), the worker calls the model once per start or regeneration, and {@code GET
     * /ai/summaries/{id}} returns the latest result with that call's usage.
     */
    private final class Summaries extends HttpServlet {
        private final Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String info = req.getPathInfo();
            if (info == null || info.equals("/")) {
                String id = "sum_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
                runs.put(id, new AtomicInteger(1));
                runModel("summaries", id, 1);
                accepted(resp, "/ai/summaries/" + id, "\"" + id + "\"");
                return;
            }
            Matcher m = REGENERATE.matcher(info);
            if (!m.matches() || !runs.containsKey(m.group(1))) {
                resp.sendError(404);
                return;
            }
            String id = m.group(1);
            runModel("summaries", id, runs.get(id).incrementAndGet());
            accepted(resp, "/ai/summaries/" + id, "\"" + id + "\"");
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            read(resp, "summaries" + req.getPathInfo());
        }
    }

    /**
     * Summaries kept one per document: {@code POST /ai/document-summaries} with {@code {"document_id":
     * …}} (the document is stored server-side) (re)summarises that document on a worker and answers
     * {@code 202} with the summary's id, the document's; {@code GET /ai/document-summaries/{document}}
     * returns the latest summary with that call's usage.
     */
    private final class DocumentSummaries extends HttpServlet {
        private final Pattern documentId = Pattern.compile("\"document_id\"\\s*:\\s*\"([A-Za-z0-9_-]+)\"");
        private final Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            Matcher m = documentId.matcher(new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            if (!m.find()) {
                resp.sendError(400);
                return;
            }
            String doc = m.group(1);
            runModel("documents", doc, runs.computeIfAbsent(doc, d -> new AtomicInteger()).incrementAndGet());
            accepted(resp, "/ai/document-summaries/" + doc, "\"" + doc + "\"");
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            read(resp, "documents" + req.getPathInfo());
        }
    }

    /**
     * A Spring-style job API under a versioned path whose jobs are rows of a fresh table (a JPA entity with
     * a {@code Long} id from a sequence starting at 1): {@code POST <path>} answers {@code 202} with
     * {@code {"id": 1, "status": "queued"}}, the worker calls the model once, {@code GET <path>/{id}}
     * returns the row with the result and the usage.
     */
    private final class VersionedJobs extends HttpServlet {
        private final String name;
        private final String path;
        private final AtomicLong sequence = new AtomicLong();

        VersionedJobs(String name, String path) {
            this.name = name;
            this.path = path;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            long id = sequence.incrementAndGet();
            runModel(name, id, 1);
            accepted(resp, path + "/" + id, Long.toString(id));
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            read(resp, name + req.getPathInfo());
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summaries", new Summaries(), "/ai/summaries", "/ai/summaries/*")
                .servlet("document-summaries", new DocumentSummaries(), "/ai/document-summaries",
                        "/ai/document-summaries/*")
                .servlet("v1-summaries", new VersionedJobs("v1", "/ai/v1/summaries"), "/ai/v1/summaries",
                        "/ai/v1/summaries/*")
                .servlet("v2-summaries", new VersionedJobs("v2", "/ai/v2/summaries"), "/ai/v2/summaries",
                        "/ai/v2/summaries/*")
                .onStartup(filter::registerByServletName);
    }

    private static String subject() {
        return "u148-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private HttpResponse<String> getAs(String subject, String path) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), subject, "Accept", "application/json").GET().build());
    }

    /**
     * Attack (hostile client, under-charge): the client starts one summary job and reads it (the first
     * model call, 5,000 tokens, paid by the read), then presses "regenerate"
     * ({@code POST /ai/summaries/{id}/regenerate}): the worker calls the model a second time, 5,000
     * tokens more, and the client reads the new summary at the same path. Two model calls of 5,000
     * tokens each must cost at least 10,000; the filter charges the second read only what its usage
     * passes the job's first figure (nothing), so every regeneration costs its request's estimate.
     */
    @Test
    void aJobRegeneratedUnderItsIdIsChargedEachModelCall() throws Exception {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/summaries"), s, SUMMARY_REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        String id = String.valueOf(TestHttp.json(created).get("id"));
        HttpResponse<String> read1 = getAs(s, "/ai/summaries/" + id);
        settled(s);
        HttpResponse<String> regenerated = TestHttp.postJson(container.uri("/ai/summaries/" + id + "/regenerate"), s, "{}");
        HttpResponse<String> read2 = getAs(s, "/ai/summaries/" + id);
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(2, calls);
        assertEquals(202, regenerated.statusCode());
        assertEquals(200, read2.statusCode());
        assertTrue(a.used() >= 2 * USAGE, "two model calls of 5,000 tokens were charged " + a.used() + ": " + ledger(s));
    }

    /**
     * Attack (hostile client, under-charge): summaries kept one per document, the summary's id being the
     * document's. The client asks for the summary of document {@code q3-report} and reads it (5,000
     * tokens, paid), then asks for the same document's summary again (the service redoes it: a new model
     * call of 5,000 tokens) and reads it. The second start is charged its small estimate, and its read
     * nothing, since the id's remembered figure is the first call's.
     */
    @Test
    void aSecondJobUnderAnIdTheClientNamesIsChargedItsModelCall() throws Exception {
        String s = subject();
        String doc = "q3-report-" + UUID.randomUUID().toString().substring(0, 6);
        String body = "{\"model\":\"gpt-4o-mini\",\"document_id\":\"" + doc + "\"}";
        int before = modelCalls.get();
        int[] statuses = new int[4];
        statuses[0] = TestHttp.postJson(container.uri("/ai/document-summaries"), s, body).statusCode();
        statuses[1] = getAs(s, "/ai/document-summaries/" + doc).statusCode();
        settled(s);
        statuses[2] = TestHttp.postJson(container.uri("/ai/document-summaries"), s, body).statusCode();
        statuses[3] = getAs(s, "/ai/document-summaries/" + doc).statusCode();
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(2, calls);
        assertEquals(202, statuses[2]);
        assertEquals(200, statuses[3]);
        assertTrue(a.used() >= 2 * USAGE, "two model calls of 5,000 tokens were charged " + a.used() + ": " + ledger(s));
    }

    /**
     * Attack (honest service, over-charge): the first job of a fresh table under a versioned path:
     * {@code POST /ai/v1/summaries} answers {@code 202} with {@code {"id": 1, "status": "queued"}}, the
     * worker calls the model once (5,000 tokens), and the client polls {@code GET /ai/v1/summaries/1}
     * three times after it finished. The polls reach no model: whatever the creation was charged, the
     * three reads may add at most the job's 5,000. (The {@code 1} of {@code v1} is taken for the id
     * named by the request, so the creation is not known as the job's start.)
     */
    @Test
    void theFirstJobUnderAVersionedPathPolledThreeTimesIsChargedItsUsageOnce() throws Exception {
        pollThreeTimes("/ai/v1/summaries");
    }

    /** Control: the same API under {@code /ai/v2/summaries}, its first job (id 1) polled three times. */
    @Test
    void controlTheFirstJobUnderAnotherVersionIsChargedItsUsageOnce() throws Exception {
        pollThreeTimes("/ai/v2/summaries");
    }

    private void pollThreeTimes(String path) throws Exception {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri(path), s, SUMMARY_REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        long id = ((Number) TestHttp.json(created).get("id")).longValue();
        long afterCreate = settled(s).used();
        int[] statuses = new int[3];
        for (int i = 0; i < 3; i++) {
            statuses[i] = getAs(s, path + "/" + id).statusCode();
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(1, id);
        assertEquals(1, calls);
        for (int st : statuses) {
            assertEquals(200, st);
        }
        assertTrue(a.used() - afterCreate <= USAGE, "one model call of 5,000 tokens; the creation was charged "
                + afterCreate + ", and three reads of its result added " + (a.used() - afterCreate) + ": " + ledger(s));
    }
}
