package io.tokenquota.servlet.breakit151;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ShallowEtagFilter;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Round 151 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * an application's own model jobs, whose reads the filter charges only what their usage passes what the
 * job was charged before, and whose start or restart it knows only when the request's path is the
 * job's collection (and, for a restart, the id as a whole segment under it). Job APIs as ordinary
 * frameworks write them route otherwise:
 * <ul>
 *   <li>a "regenerate" as a custom method in the style of Google's API guidelines
 *       ({@code POST /summaries/{id}:regenerate}): the id is in the path, but not as a whole segment;</li>
 *   <li>a "regenerate" action that takes the job's id in its JSON body ({@code POST /summaries/regenerate});</li>
 *   <li>the {@code 202 Accepted} with a {@code Location} of a status monitor ({@code /operations/{id}}), as
 *       HTTP describes a 202 and as the asynchronous request-reply pattern is written.</li>
 * </ul>
 * Controls: polls with {@code If-None-Match} behind an ETag filter (Spring's {@code ShallowEtagHeaderFilter}),
 * and {@code HEAD}s of a finished job.
 *
 * <p>Every model call the workers make reports 3,000 prompt and 2,000 completion tokens (5,000).
 */
abstract class AbstractRound151 extends H2FilterRound {
    private static final long USAGE = 5_000;
    private static final String USAGE_JSON =
            "{\"prompt_tokens\":3000,\"completion_tokens\":2000,\"total_tokens\":5000}";
    private static final String SUMMARY_REQUEST = "{\"model\":\"gpt-4o-mini\","
            + "\"document\":\"Quarterly report: revenue grew, costs fell, outlook stable.\"}";
    private static final Pattern CUSTOM_REGENERATE = Pattern.compile("^/([A-Za-z0-9_]+):regenerate$");
    private static final Pattern BODY_ID = Pattern.compile("\"id\"\\s*:\\s*\"([A-Za-z0-9_]+)\"");

    /** Model calls the workers made, all endpoints together. */
    private final AtomicInteger modelCalls = new AtomicInteger();
    /** The job store: store name and job id to the stored result. */
    private final Map<String, String> jobs = new ConcurrentHashMap<>();
    /** How many runs each summary had. */
    private final Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();

    /** The worker's model call for a job: one call, 5,000 tokens, its result stored with its usage. */
    private void runModel(String store, String id) {
        modelCalls.incrementAndGet();
        int run = runs.computeIfAbsent(store + "/" + id, k -> new AtomicInteger()).incrementAndGet();
        jobs.put(store + "/" + id, "{\"id\":\"" + id + "\",\"status\":\"completed\",\"run\":" + run + ","
                + "\"summary\":\"Revenue grew while costs fell; the outlook is stable (draft " + run + ").\","
                + "\"usage\":" + USAGE_JSON + "}");
    }

    private static void accepted(HttpServletResponse resp, String location, String id) throws IOException {
        resp.setStatus(HttpServletResponse.SC_ACCEPTED);
        resp.setContentType("application/json");
        resp.setHeader("Location", location);
        resp.getOutputStream().write(("{\"id\":\"" + id + "\",\"status\":\"queued\"}").getBytes(StandardCharsets.UTF_8));
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

    private static String newId(String prefix) {
        return prefix + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    }

    /**
     * A summary job API: {@code POST /ai/summaries} starts a job ({@code 202}, its id, {@code "queued"}),
     * a regenerate runs the model again for it ({@code 202}, the same id, {@code "queued"}), either as a
     * custom method {@code POST /ai/summaries/{id}:regenerate} or as an action taking the id in its body,
     * {@code POST /ai/summaries/regenerate} with {@code {"id": …}}; the worker calls the model once per
     * start or regeneration, and {@code GET /ai/summaries/{id}} returns the latest result with its usage.
     */
    private final class Summaries extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String info = req.getPathInfo();
            if (info == null || info.equals("/")) {
                String id = newId("sum_");
                runModel("summaries", id);
                accepted(resp, "/ai/summaries/" + id, id);
                return;
            }
            String id = null;
            Matcher custom = CUSTOM_REGENERATE.matcher(info);
            if (custom.matches()) {
                id = custom.group(1);
            } else if (info.equals("/regenerate")) {
                Matcher m = BODY_ID.matcher(body);
                id = m.find() ? m.group(1) : null;
            }
            if (id == null || !jobs.containsKey("summaries/" + id)) {
                resp.sendError(404);
                return;
            }
            runModel("summaries", id);
            accepted(resp, "/ai/summaries/" + id, id);
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            read(resp, "summaries" + req.getPathInfo());
        }
    }

    /**
     * The asynchronous request-reply pattern: {@code POST /ai/summarize} accepts the work ({@code 202},
     * the operation's id, {@code "queued"}, {@code Location: /ai/operations/{id}}); {@code GET
     * /ai/operations/{id}} is the status monitor, answering {@code "running"} until the worker's one
     * model call is done (here: the first three polls), then the result with its usage.
     */
    private final class Summarize extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String id = newId("op_");
            pollsLeft.put(id, new AtomicInteger(3));
            accepted(resp, "/ai/operations/" + id, id);
        }
    }

    /** Polls each operation answers {@code "running"} before its worker is done. */
    private final Map<String, AtomicInteger> pollsLeft = new ConcurrentHashMap<>();

    private final class Operations extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String id = req.getPathInfo().substring(1);
            AtomicInteger left = pollsLeft.get(id);
            if (left == null) {
                resp.sendError(404);
                return;
            }
            if (left.getAndDecrement() > 0) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(("{\"id\":\"" + id + "\",\"status\":\"running\"}")
                        .getBytes(StandardCharsets.UTF_8));
                return;
            }
            if (!jobs.containsKey("operations/" + id)) {
                // the worker finishes: its one model call
                runModel("operations", id);
            }
            read(resp, "operations/" + id);
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("etag", new ShallowEtagFilter(), "/ai/etagged/*")
                .servlet("summaries", new Summaries(), "/ai/summaries", "/ai/summaries/*")
                .servlet("etagged-summaries", new Summaries(), "/ai/etagged/summaries", "/ai/etagged/summaries/*")
                .servlet("summarize", new Summarize(), "/ai/summarize")
                .servlet("operations", new Operations(), "/ai/operations/*")
                .onStartup(filter::registerByServletName);
    }

    private static String subject() {
        return "u151-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private HttpResponse<String> getAs(String subject, String path, String... headers) {
        List<String> all = new ArrayList<>(List.of("Accept", "application/json"));
        all.addAll(List.of(headers));
        return TestHttp.send(TestHttp.requestAs(container.uri(path), subject, all.toArray(String[]::new)).GET().build());
    }

    private String start(String subject, String path) {
        HttpResponse<String> created = TestHttp.postJson(container.uri(path), subject, SUMMARY_REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        return String.valueOf(TestHttp.json(created).get("id"));
    }

    /**
     * Attack (hostile client, under-charge): the client starts one summary job and reads it (the first
     * model call, 5,000 tokens, paid by the read), then presses "regenerate", which this API offers as a
     * custom method, {@code POST /ai/summaries/{id}:regenerate} with an empty JSON body, answered
     * {@code 202} with the same id and {@code "queued"}. The worker calls the model a second time (5,000
     * tokens), and the client reads the new summary at {@code GET /ai/summaries/{id}}. The id is in the
     * regenerate's path, but not as a whole segment ({@code {id}:regenerate}), so the filter takes the
     * answer for a new job at another path and keeps the first run's figure for the summary's path:
     * the second read is charged nothing, and each regeneration costs only its small request's estimate.
     * Two model calls of 5,000 tokens must cost at least 10,000.
     */
    @Test
    void aJobRegeneratedByACustomMethodIsChargedEachModelCall() {
        String s = subject();
        int before = modelCalls.get();
        String id = start(s, "/ai/summaries");
        HttpResponse<String> read1 = getAs(s, "/ai/summaries/" + id);
        settled(s);
        HttpResponse<String> regenerated = TestHttp.postJson(container.uri("/ai/summaries/" + id + ":regenerate"), s, "{}");
        long afterRegenerate = settled(s).used();
        HttpResponse<String> read2 = getAs(s, "/ai/summaries/" + id);
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(2, calls);
        assertEquals(202, regenerated.statusCode(), regenerated.body());
        assertEquals(200, read2.statusCode());
        assertEquals(2, ((Number) TestHttp.json(read2).get("run")).intValue());
        assertTrue(a.used() >= 2 * USAGE, "two model calls of 5,000 tokens were charged " + a.used() + ": " + ledger(s));
    }

    /**
     * Attack (hostile client, under-charge): the same, with the regenerate as an action that takes the
     * job's id in its JSON body, {@code POST /ai/summaries/regenerate} with {@code {"id": "<id>"}},
     * answered {@code 202} with the same id and {@code "queued"}. The filter remembers the answer as a new
     * job read at {@code /ai/summaries/regenerate/<id>}, a path no read takes, and the read of the new
     * summary at {@code /ai/summaries/<id>} is charged only what its usage passes the first run's figure:
     * nothing. Two model calls of 5,000 tokens must cost at least 10,000.
     */
    @Test
    void aJobRegeneratedByAnActionNamingItInItsBodyIsChargedEachModelCall() {
        String s = subject();
        int before = modelCalls.get();
        String id = start(s, "/ai/summaries");
        HttpResponse<String> read1 = getAs(s, "/ai/summaries/" + id);
        settled(s);
        HttpResponse<String> regenerated = TestHttp.postJson(container.uri("/ai/summaries/regenerate"), s,
                "{\"id\":\"" + id + "\"}");
        long afterRegenerate = settled(s).used();
        HttpResponse<String> read2 = getAs(s, "/ai/summaries/" + id);
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(2, calls);
        assertEquals(202, regenerated.statusCode(), regenerated.body());
        assertEquals(200, read2.statusCode());
        assertEquals(2, ((Number) TestHttp.json(read2).get("run")).intValue());
        assertTrue(a.used() >= 2 * USAGE, "two model calls of 5,000 tokens were charged " + a.used() + ": " + ledger(s));
    }

    /**
     * Control (honest service, over-charge): the job API behind an ETag filter (Spring's
     * {@code ShallowEtagHeaderFilter}, as many Spring services register for their JSON reads). The client
     * starts one summary job (one model call, 5,000 tokens) and reads it: {@code 200} with the result, its
     * usage and an {@code ETag}. It then polls twice more, as a page polling with {@code fetch} does, its
     * HTTP cache sending {@code If-None-Match} with the ETag. The polls reach no model, whether the ETag
     * filter answers them {@code 304} or (the filter hiding the conditional header) {@code 200}: whatever
     * the creation was charged, the reads together may add at most the job's 5,000.
     */
    @Test
    void aFinishedJobPolledWithItsETagIsChargedOnce() {
        String s = subject();
        int before = modelCalls.get();
        String id = start(s, "/ai/etagged/summaries");
        long started = settled(s).used();
        HttpResponse<String> read = getAs(s, "/ai/etagged/summaries/" + id);
        String etag = read.headers().firstValue("ETag").orElseThrow();
        settled(s);
        int[] polls = new int[2];
        for (int i = 0; i < polls.length; i++) {
            polls[i] = getAs(s, "/ai/etagged/summaries/" + id, "If-None-Match", etag).statusCode();
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(1, calls);
        assertEquals(200, read.statusCode());
        assertTrue(a.used() <= started + USAGE,
                "one model call of 5,000 tokens, started for " + started + ", was charged " + a.used() + ": " + ledger(s));
    }

    /**
     * Control (honest service, over-charge): the client starts one summary job (one model call, 5,000
     * tokens), reads the result with a {@code GET} (the rest of the run paid), then checks it twice more
     * with {@code HEAD} (a client that checks a resource's headers before fetching it again, a link
     * checker, a load balancer's probe). {@code HttpServlet} answers a {@code HEAD} with its {@code doGet}
     * and drops the body; no model is reached. A read at the job's path by {@code GET} or {@code HEAD} is
     * charged only what its usage passes the job's figure: the two {@code HEAD}s may add nothing.
     */
    @Test
    void aFinishedJobCheckedWithHeadIsNotChargedAgain() {
        String s = subject();
        int before = modelCalls.get();
        String id = start(s, "/ai/summaries");
        HttpResponse<String> read = getAs(s, "/ai/summaries/" + id);
        long afterRead = settled(s).used();
        int[] heads = new int[2];
        for (int i = 0; i < heads.length; i++) {
            heads[i] = TestHttp.send(TestHttp.requestAs(container.uri("/ai/summaries/" + id), s, "Accept", "application/json")
                    .method("HEAD", java.net.http.HttpRequest.BodyPublishers.noBody()).build()).statusCode();
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(1, calls);
        assertEquals(200, read.statusCode());
        assertEquals(200, heads[0]);
        assertEquals(200, heads[1]);
        assertEquals(afterRead, a.used(), "two HEADs of a finished job were charged: " + ledger(s));
    }

    /**
     * Attack (honest service, over-charge): the asynchronous request-reply pattern, as HTTP describes a
     * {@code 202}: {@code POST /ai/summarize} answers {@code 202} with the operation's id, {@code "queued"}
     * and {@code Location: /ai/operations/{id}}, the status monitor. The client polls the monitor, as
     * the {@code Location} tells it to: three polls answered {@code {"id": …, "status": "running"}}, then
     * the result with the worker's one model call's usage (5,000). The running polls reach no model (at
     * the job's own collection they would be released), and the result's read carries the usage the
     * start was already charged part of. Whatever the start was charged, the polls and the final read
     * together may add at most the job's 5,000.
     */
    @Test
    void aJobPolledAtTheStatusMonitorItsStartNamedIsChargedOnce() {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/summarize"), s, SUMMARY_REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        String monitor = created.headers().firstValue("Location").orElseThrow();
        long started = settled(s).used();
        List<String> polls = new ArrayList<>();
        String status = "queued";
        for (int i = 0; i < 6 && !"completed".equals(status); i++) {
            HttpResponse<String> poll = getAs(s, monitor);
            status = String.valueOf(TestHttp.json(poll).get("status"));
            polls.add(poll.statusCode() + " " + status + " (used " + settled(s).used() + ")");
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals("completed", status);
        assertEquals(1, calls);
        assertTrue(a.used() <= started + USAGE,
                "one model call of 5,000 tokens, started for " + started + ", was charged " + a.used() + ": " + ledger(s));
    }
}
