package io.tokenquota.servlet.breakit149;

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
 * Round 149 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * an application's own job API, as a Spring service writes it (a JPA entity's numeric id, a row the
 * worker overwrites with each run's result), from both sides.
 * <ul>
 *   <li>Over-charge: the job's database id is a digit of the path that started it (the first job of
 *       {@code POST /ai/v1/summaries} is {@code 1}, and {@code /ai/v1/} holds a {@code 1}). The start
 *       is then not taken for one, and every poll of the finished job is charged the job's usage
 *       again.</li>
 *   <li>Under-charge: a job regenerated at its own path ({@code POST /ai/summaries/{id}/regenerate},
 *       answered {@code 202} and {@code "queued"} with the same id): the worker calls the model again
 *       and the row reports the new run's usage, which the next read is charged nothing of, since the
 *       job was charged as much before.</li>
 * </ul>
 * Every model call (the worker's) reports 3,000 prompt and 2,000 completion tokens (5,000).
 */
abstract class AbstractRound149 extends H2FilterRound {
    private static final long USAGE = 5_000;
    private static final String USAGE_JSON =
            "{\"prompt_tokens\":3000,\"completion_tokens\":2000,\"total_tokens\":5000}";
    private static final String SUMMARY_REQUEST = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":2000,"
            + "\"document\":\"Quarterly report: revenue grew, costs fell, outlook stable.\"}";

    /** Model calls made by the workers, all job APIs together. */
    private final AtomicInteger modelCalls = new AtomicInteger();

    /**
     * A job API as a Spring service writes it: {@code POST} at its collection saves a row (a JPA entity
     * with a {@code Long} id from the table's sequence) and answers {@code 202} with
     * {@code {"id": n, "status": "queued"}}; the worker calls the model once and overwrites the row
     * with the run's result and usage; {@code POST {id}/regenerate} queues the job again under its id
     * (the worker calls the model again, the row gets the new run's result); {@code GET {id}} returns
     * the row.
     */
    private final class Jobs extends HttpServlet {
        private final AtomicLong sequence;
        private final Map<Long, String> rows = new ConcurrentHashMap<>();
        private final AtomicInteger runs = new AtomicInteger();

        Jobs(long firstId) {
            this.sequence = new AtomicLong(firstId - 1);
        }

        /** The worker: one model call, its result and usage written to the job's row. */
        private void run(long id) {
            modelCalls.incrementAndGet();
            int run = runs.incrementAndGet();
            rows.put(id, "{\"id\":" + id + ",\"status\":\"completed\",\"summary\":\"Revenue grew while costs fell"
                    + " (run " + run + ").\",\"usage\":" + USAGE_JSON + "}");
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String info = req.getPathInfo();
            long id;
            if (info == null || "/".equals(info)) {
                id = sequence.incrementAndGet();
            } else if (info.endsWith("/regenerate")) {
                id = Long.parseLong(info.substring(1, info.length() - "/regenerate".length()));
                if (!rows.containsKey(id)) {
                    resp.sendError(404);
                    return;
                }
            } else {
                resp.sendError(405);
                return;
            }
            run(id);
            resp.setStatus(HttpServletResponse.SC_ACCEPTED);
            resp.setContentType("application/json");
            resp.setHeader("Location", req.getServletPath() + "/" + id);
            resp.getOutputStream().write(("{\"id\":" + id + ",\"status\":\"queued\"}").getBytes(StandardCharsets.UTF_8));
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String row = rows.get(Long.parseLong(req.getPathInfo().substring(1)));
            if (row == null) {
                resp.sendError(404);
                return;
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(row.getBytes(StandardCharsets.UTF_8));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                // a fresh table: its first job is 1
                .servlet("v1-summaries", new Jobs(1), "/ai/v1/summaries", "/ai/v1/summaries/*")
                // ids with no digit of the path in them
                .servlet("summaries", new Jobs(5000 + ThreadLocalRandom.current().nextInt(1000)),
                        "/ai/summaries", "/ai/summaries/*")
                .servlet("digests", new Jobs(5000 + ThreadLocalRandom.current().nextInt(1000)),
                        "/ai/digests", "/ai/digests/*")
                .onStartup(filter::registerByServletName);
    }

    private static String subject() {
        return "u149-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private HttpResponse<String> getAs(String subject, String path) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), subject, "Accept", "application/json").GET().build());
    }

    /**
     * Attack (honest service, over-charge): a versioned job API, {@code POST /ai/v1/summaries}, on a fresh
     * table: the first job is {@code {"id": 1, "status": "queued"}}, answered {@code 202}. The worker
     * calls the model once (5,000 tokens), and the client polls {@code GET /ai/v1/summaries/1} three
     * times after it finished. The filter decides the start named its own id when the path holds the id
     * anywhere, and {@code /ai/v1/summaries} holds a {@code 1}: the job is never remembered, and each of
     * the three polls, which reach no model, is charged 5,000 again. The reads may add at most 5,000.
     */
    @Test
    void aJobWhoseNumericIdIsADigitOfTheVersionedPathIsChargedOncePerPoll() throws Exception {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/v1/summaries"), s, SUMMARY_REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        long id = ((Number) TestHttp.json(created).get("id")).longValue();
        assertEquals(1, id, "a fresh table's first job");
        long afterCreate = settled(s).used();
        int[] statuses = new int[3];
        for (int i = 0; i < 3; i++) {
            statuses[i] = getAs(s, "/ai/v1/summaries/" + id).statusCode();
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
     * Attack (hostile client on an honest service, under-charge): the client starts a summary
     * ({@code POST /ai/summaries}, {@code 202}, one model call) and reads it (5,000 tokens charged in
     * all), then presses "regenerate" twice: {@code POST /ai/summaries/{id}/regenerate} with an empty
     * JSON body, answered {@code 202} with the same id and {@code "queued"}; each time the worker calls
     * the model again (5,000 tokens) and the client reads the new result at {@code GET
     * /ai/summaries/{id}}. The regenerate request is charged its small estimate; the read after it
     * reports the new run's usage, 5,000, which is not more than the job was charged before, so it is
     * charged nothing. Three model calls of 5,000: 15,000 (at least the usage the reads reported).
     */
    @Test
    void aJobRegeneratedAtItsOwnPathIsChargedOnlyTheRegenerateRequestsEstimate() throws Exception {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/summaries"), s, SUMMARY_REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        long id = ((Number) TestHttp.json(created).get("id")).longValue();
        HttpResponse<String> first = getAs(s, "/ai/summaries/" + id);
        assertEquals(200, first.statusCode());
        settled(s);
        int[] regenerated = new int[2];
        int[] reads = new int[2];
        long[] afterEach = new long[2];
        for (int i = 0; i < 2; i++) {
            regenerated[i] = TestHttp.postJson(container.uri("/ai/summaries/" + id + "/regenerate"), s, "{}").statusCode();
            HttpResponse<String> read = getAs(s, "/ai/summaries/" + id);
            reads[i] = read.statusCode();
            assertTrue(read.body().contains("(run " + (i + 2) + ")"), read.body());
            afterEach[i] = settled(s).used();
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(3, calls);
        assertEquals(202, regenerated[0]);
        assertEquals(202, regenerated[1]);
        assertEquals(200, reads[0]);
        assertEquals(200, reads[1]);
        assertTrue(a.used() >= 3 * USAGE, "three model calls of 5,000 tokens each, all reported by the reads: "
                + ledger(s));
    }

    /**
     * Control: the same job API at a path without digits ({@code POST /ai/digests}, a four-digit id):
     * one model call, polled three times, the reads add at most 5,000.
     */
    @Test
    void controlAJobWhoseIdIsNotInThePathIsChargedOnce() throws Exception {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/digests"), s, SUMMARY_REQUEST);
        assertEquals(202, created.statusCode(), created.body());
        long id = ((Number) TestHttp.json(created).get("id")).longValue();
        long afterCreate = settled(s).used();
        for (int i = 0; i < 3; i++) {
            assertEquals(200, getAs(s, "/ai/digests/" + id).statusCode());
        }
        QuotaAccount a = settled(s);
        int calls = modelCalls.get() - before;
        assertEquals(1, calls);
        assertTrue(a.used() - afterCreate <= USAGE, "one model call; three reads added " + (a.used() - afterCreate)
                + ": " + ledger(s));
    }
}
