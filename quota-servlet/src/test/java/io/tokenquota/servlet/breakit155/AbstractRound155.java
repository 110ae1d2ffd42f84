package io.tokenquota.servlet.breakit155;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
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
 * Round 155 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a figure reported through {@code X-Quota-Actual-Tokens} before a {@code reset()} now counts beside the
 * answer's own, and an application's jobs are known by collection and id.
 */
abstract class AbstractRound155 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();

    static final long USAGE = 5_000;
    static final long FIRST = 9_000;
    static final long SECOND = 6_000;

    static final String CHAT = "{\"model\":\"gpt-4.1\",\"max_tokens\":200,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Summarise our Q3 report in two sentences.\"}]}";
    private static final String USAGE_JSON =
            "{\"prompt_tokens\":3000,\"completion_tokens\":2000,\"total_tokens\":5000}";
    private static final String REQUEST = "{\"model\":\"gpt-4o-mini\","
            + "\"document\":\"Quarterly report: revenue grew, costs fell, outlook stable.\"}";

    /** Job model calls. */
    private final AtomicInteger jobCalls = new AtomicInteger();
    private final Map<String, String> results = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> sequences = new ConcurrentHashMap<>();

    static String subject() {
        return "u155-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("summary", new Summary(), "/ai/v1/*")
                .servlet("reports", new Reports(), "/ai/reports", "/ai/reports/*")
                .onStartup(filter::registerByServletName);
    }

    /**
     * A summary endpoint written as plain servlets are; it reports its model usage through the header with
     * {@code setHeader}, as the figure of the whole request:
     * <ul>
     *   <li>{@code /fallback}: one model call (5,000); header set, HTML page begun; the template fails, so
     *   the page is dropped with {@code reset()} (which, as the Servlet specification says, clears the
     *   headers) and the same model answer is sent as plain text, with the header set again because the
     *   reset cleared it;</li>
     *   <li>{@code /total}: a request-scoped meter; after each model call the header is set to the
     *   request's running total (9,000, then 15,000); the first page is dropped with {@code reset()}
     *   between the two calls;</li>
     *   <li>{@code /total-no-reset}: the same meter without the reset (the control).</li>
     * </ul>
     */
    static class Summary extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            switch (path) {
                case "/fallback" -> {
                    CALLS.count(user);
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(USAGE));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write("<!doctype html><html><body><h1>Q3 summary</h1><p>Revenue grew.");
                    // the template's footer throws: drop the page, send the model's text plainly
                    resp.reset();
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(USAGE));
                    resp.setContentType("text/plain;charset=UTF-8");
                    resp.getWriter().write("Revenue grew 12% while costs fell; the margin reached a record.");
                }
                case "/total", "/total-no-reset" -> {
                    long meter = 0;
                    CALLS.count(user);
                    meter += FIRST;
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(meter));
                    resp.setContentType("text/html;charset=UTF-8");
                    if (path.equals("/total")) {
                        resp.getWriter().write("<!doctype html><html><body><p>First draft.");
                        resp.reset();
                    }
                    CALLS.count(user);
                    meter += SECOND;
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(meter));
                    resp.setContentType("text/html;charset=UTF-8");
                    resp.getWriter().write("<!doctype html><html><body><p>Revenue grew; costs fell.</p></body></html>");
                }
                default -> resp.sendError(404);
            }
        }
    }

    /**
     * Two job tables under one servlet: reports at {@code /ai/reports} and weekly reports at
     * {@code /ai/reports/weekly}, each numbered by its own database sequence (1, 2, ...). {@code POST}
     * runs the job's one model call (5,000) and answers {@code 202} with the id and {@code "queued"};
     * {@code GET .../{id}} returns the stored result with its usage.
     */
    private final class Reports extends HttpServlet {
        private static String table(String path) {
            return path.startsWith("/weekly") ? "weekly" : "reports";
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String subject = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            String table = table(path);
            String id = String.valueOf(sequences.computeIfAbsent(table + "/" + subject, k -> new AtomicInteger()).incrementAndGet());
            jobCalls.incrementAndGet();
            results.put(table + "/" + subject + "/" + id, "{\"id\":" + id + ",\"status\":\"completed\",\"text\":"
                    + "\"Revenue grew while costs fell.\",\"usage\":" + USAGE_JSON + "}");
            write(resp, 202, "{\"id\":" + id + ",\"status\":\"queued\"}");
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            String id = path.substring(path.lastIndexOf('/') + 1);
            String result = results.get(table(path) + "/" + req.getHeader("x-user-id") + "/" + id);
            if (result == null) {
                resp.sendError(404);
                return;
            }
            write(resp, 200, result);
        }

        private static void write(HttpServletResponse resp, int status, String json) throws IOException {
            resp.setStatus(status);
            resp.setContentType("application/json");
            resp.getOutputStream().write(json.getBytes(StandardCharsets.UTF_8));
        }
    }

    private void assertCharged(String path, int modelCalls, long charge, String what) {
        String user = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), user, CHAT);
        QuotaAccount account = settled(user);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(modelCalls, CALLS.of(user), "model calls");
        assertEquals(charge, account.used(), kind() + ": " + what + " was charged " + account.used() + " of "
                + account.limit() + " " + ledger(user));
    }

    /**
     * Attack (honest service, over-charge): one model call of 5,000 tokens, reported with
     * {@code setHeader}. The HTML template fails, the servlet calls {@code reset()}, which by the Servlet
     * specification clears every header, so it reports its figure again on the plain-text fallback. The
     * filter adds the figure the reset dropped to the one the answer reports: one call is charged twice.
     */
    @Test
    void aFigureReportedAgainAfterResetIsChargedOnce() {
        assertCharged("/ai/v1/fallback", 1, USAGE, "one model call of 5,000 reported again after reset()");
    }

    /**
     * Attack (honest service, over-charge): the header carries the request's running total, set with
     * {@code setHeader} (replace) after each model call: 9,000, then 15,000. Without a reset the filter
     * charges the last value, 15,000 (the control below); with a {@code reset()} between the calls it adds
     * the dropped 9,000 to the final 15,000 and charges 24,000 for 15,000 of model usage.
     */
    @Test
    void aRunningTotalAcrossAResetIsChargedOnce() {
        assertCharged("/ai/v1/total", 2, FIRST + SECOND, "two model calls (9,000 + 6,000) reported as a running total");
    }

    /** Control: the same running total without a reset is charged the last value, 15,000. */
    @Test
    void aRunningTotalWithoutResetIsChargedItsLastValue() {
        assertCharged("/ai/v1/total-no-reset", 2, FIRST + SECOND, "two model calls reported as a running total");
    }

    private HttpResponse<String> getAs(String subject, String path) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), subject, "Accept", "application/json").GET().build());
    }

    /**
     * Attack (honest service, over-charge): two job tables, one's collection a prefix of the other's:
     * reports at {@code /ai/reports} and weekly reports at {@code /ai/reports/weekly}, each numbered from
     * 1. The user starts report 1 (one model call, 5,000) and reads it; starts weekly report 1 (another
     * model call, 5,000) and reads it; then opens report 1 again (no model). The weekly start's path lies
     * under the reports' collection, so the filter takes it for a restart of report 1: the weekly job's
     * own path is never remembered (its read is charged its whole usage on top of its start's estimate)
     * and report 1's figure falls to that estimate, so reopening it pays its run again. Two model calls of
     * 5,000 may cost at most 10,000, and the last read nothing.
     */
    @Test
    void aJobInACollectionUnderAnotherIsChargedOnce() {
        String s = subject();
        int before = jobCalls.get();
        HttpResponse<String> report = TestHttp.postJson(container.uri("/ai/reports"), s, REQUEST);
        assertEquals(202, report.statusCode(), report.body());
        settled(s);
        HttpResponse<String> read1 = getAs(s, "/ai/reports/1");
        long afterRead1 = settled(s).used();
        HttpResponse<String> weekly = TestHttp.postJson(container.uri("/ai/reports/weekly"), s, REQUEST);
        assertEquals(202, weekly.statusCode(), weekly.body());
        settled(s);
        HttpResponse<String> read2 = getAs(s, "/ai/reports/weekly/1");
        long afterRead2 = settled(s).used();
        HttpResponse<String> read3 = getAs(s, "/ai/reports/1");
        QuotaAccount a = settled(s);
        int calls = jobCalls.get() - before;
        assertEquals(2, calls);
        assertEquals(200, read1.statusCode());
        assertEquals(200, read2.statusCode());
        assertEquals(200, read3.statusCode());
        assertEquals(afterRead2, a.used(), "reopening a finished report (no model) was charged: " + ledger(s));
        assertEquals(true, a.used() <= 2 * USAGE, "two model calls of 5,000 tokens were charged " + a.used() + ": " + ledger(s));
    }
}
