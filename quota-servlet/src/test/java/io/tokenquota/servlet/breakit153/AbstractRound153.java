package io.tokenquota.servlet.breakit153;

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
import org.junit.jupiter.api.Test;

/**
 * Round 153 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * an application's own model jobs, whose reads are charged only what their usage passes the job's
 * figure, now remembered per job id at every path the job is read at (its collection and its
 * {@code Location}), and restarted by any start answered with a known id.
 *
 * <p>Every model call the workers make reports 3,000 prompt and 2,000 completion tokens (5,000). Each
 * worker runs its one model call when the job is started; reads only return the stored result.
 */
abstract class AbstractRound153 extends H2FilterRound {
    private static final long USAGE = 5_000;
    private static final String USAGE_JSON =
            "{\"prompt_tokens\":3000,\"completion_tokens\":2000,\"total_tokens\":5000}";
    private static final String REQUEST = "{\"model\":\"gpt-4o-mini\","
            + "\"document\":\"Quarterly report: revenue grew, costs fell, outlook stable.\"}";

    /** Model calls the workers made. */
    private final AtomicInteger modelCalls = new AtomicInteger();
    /** Stored results by table, subject and id. */
    private final Map<String, String> results = new ConcurrentHashMap<>();
    /** Per table and user numbering, as a database sequence per table (JPA IDENTITY) gives it. */
    private final Map<String, AtomicInteger> sequences = new ConcurrentHashMap<>();

    private String runModel(String table, String subject, String id, String idJson) {
        modelCalls.incrementAndGet();
        String result = "{\"id\":" + idJson + ",\"status\":\"completed\",\"table\":\"" + table + "\","
                + "\"text\":\"Revenue grew while costs fell; the outlook is stable.\",\"usage\":" + USAGE_JSON + "}";
        results.put(table + "/" + subject + "/" + id, result);
        return result;
    }

    private static void write(HttpServletResponse resp, int status, String location, String json) throws IOException {
        resp.setStatus(status);
        resp.setContentType("application/json");
        if (location != null) {
            resp.setHeader("Location", location);
        }
        resp.getOutputStream().write(json.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A job table: {@code POST} starts a job (its worker's one model call), answered {@code 202} with the
     * job's id, {@code "queued"} and a {@code Location} ({@code monitor} + id, or the job's own path when
     * {@code monitor} is null, or none when {@code location} is false); {@code GET /{id}} returns the result.
     * {@code numeric}: ids from a per-table sequence (1, 2, …), else random strings.
     */
    private final class Jobs extends HttpServlet {
        private final String table;
        private final String monitor;
        private final boolean location;
        private final boolean numeric;

        Jobs(String table, String monitor, boolean location, boolean numeric) {
            this.table = table;
            this.monitor = monitor;
            this.location = location;
            this.numeric = numeric;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String subject = req.getHeader("x-user-id");
            String id = numeric ? String.valueOf(sequences.computeIfAbsent(table + "/" + subject,
                    k -> new AtomicInteger()).incrementAndGet()) : "job_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
            String idJson = numeric ? id : "\"" + id + "\"";
            runModel(table, subject, id, idJson);
            String where = !location ? null : (monitor != null ? monitor : req.getRequestURI()) + "/" + id;
            write(resp, 202, where, "{\"id\":" + idJson + ",\"status\":\"queued\"}");
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String result = results.get(table + "/" + req.getHeader("x-user-id") + req.getPathInfo());
            if (result == null) {
                resp.sendError(404);
                return;
            }
            write(resp, 200, null, result);
        }
    }

    /** The status monitor of the summaries: the same job document, by the same id. */
    private final class Operations extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String result = results.get("summaries/" + req.getHeader("x-user-id") + req.getPathInfo());
            if (result == null) {
                resp.sendError(404);
                return;
            }
            write(resp, 200, null, result);
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summaries", new Jobs("summaries", "/ai/operations", true, false), "/ai/summaries", "/ai/summaries/*")
                .servlet("operations", new Operations(), "/ai/operations/*")
                .servlet("reports", new Jobs("reports", null, false, true), "/ai/reports", "/ai/reports/*")
                .servlet("translations", new Jobs("translations", null, false, true), "/ai/translations", "/ai/translations/*")
                .onStartup(filter::registerByServletName);
    }

    private static String subject() {
        return "u153-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private HttpResponse<String> getAs(String subject, String path) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), subject, "Accept", "application/json").GET().build());
    }

    /**
     * Attack (honest service, over-charge): the asynchronous request-reply pattern with a status
     * monitor. {@code POST /ai/summaries} starts a job (one model call, 5,000 tokens) and answers
     * {@code 202} with {@code Location: /ai/operations/{id}}. The client polls the monitor, which answers
     * the finished job's document with its usage, then fetches the resource itself at
     * {@code /ai/summaries/{id}}, which answers the same document. Both reads reach no model. The filter
     * remembers the job's figure at both paths, but a read raises it only at the path it read: the
     * second read pays the run's usage beyond the start's estimate again. One model call of 5,000 tokens
     * may cost at most what its start was charged plus 5,000.
     */
    @Test
    void aJobReadAtItsMonitorAndThenAtItsResourceIsChargedOnce() {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/summaries"), s, REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        String id = String.valueOf(TestHttp.json(created).get("id"));
        String monitor = created.headers().firstValue("Location").orElseThrow();
        long started = settled(s).used();
        HttpResponse<String> poll = getAs(s, monitor);
        settled(s);
        HttpResponse<String> resource = getAs(s, "/ai/summaries/" + id);
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(1, calls);
        assertEquals(200, poll.statusCode());
        assertEquals(200, resource.statusCode());
        assertTrue(a.used() <= Math.max(started, USAGE),
                "one model call of 5,000 tokens, started for " + started + ", was charged " + a.used() + ": " + ledger(s));
    }

    /**
     * Attack (honest service, over-charge): two job tables whose ids a database sequence per table gives
     * (JPA's {@code IDENTITY}: each starts at 1), without a {@code Location}. The user starts a report
     * ({@code POST /ai/reports}, {@code 202}, id {@code 1}: one model call, 5,000) and reads it; then
     * starts a translation ({@code POST /ai/translations}, {@code 202}, also id {@code 1}: another model
     * call, 5,000) and reads it; then opens the report again ({@code GET /ai/reports/1}: no model). The
     * filter knows job {@code 1} by its id alone, takes the translation's start for a restart of the report:
     * the report's figure falls to the translation's estimate, the translation's own path is never
     * remembered (its read is charged all its usage on top of its start), and reopening the report pays the
     * report's run again. Two model calls of 5,000 tokens, started for their estimates, may cost at most
     * 10,000, and the last read (no model) nothing.
     */
    @Test
    void twoJobsOfDifferentTablesWithTheSameNumberAreEachChargedOnce() {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> report = TestHttp.postJson(container.uri("/ai/reports"), s, REQUEST);
        assertEquals(202, report.statusCode(), report.body());
        settled(s);
        HttpResponse<String> read1 = getAs(s, "/ai/reports/1");
        long afterRead1 = settled(s).used();
        HttpResponse<String> translation = TestHttp.postJson(container.uri("/ai/translations"), s, REQUEST);
        assertEquals(202, translation.statusCode(), translation.body());
        settled(s);
        HttpResponse<String> read2 = getAs(s, "/ai/translations/1");
        long afterRead2 = settled(s).used();
        HttpResponse<String> read3 = getAs(s, "/ai/reports/1");
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(2, calls);
        assertEquals(200, read1.statusCode());
        assertEquals(200, read2.statusCode());
        assertEquals(200, read3.statusCode());
        assertEquals(afterRead2, a.used(), "reopening a finished report (no model) was charged: " + ledger(s));
        assertTrue(a.used() <= 2 * USAGE, "two model calls of 5,000 tokens were charged " + a.used() + ": " + ledger(s));
    }
}
