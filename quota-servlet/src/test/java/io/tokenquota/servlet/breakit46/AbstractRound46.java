package io.tokenquota.servlet.breakit46;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 46 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the integrity machinery (idempotency, holds, async, disconnects, size limits, path matching,
 * methods, identity, memory bounds of the usage reader).
 */
abstract class AbstractRound46 extends H2FilterRound {
    static String subject() {
        return "u46-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** Heap the endpoint measured as retained while its answer was being read, by subject. */
    static final Map<String, Long> RETAINED = new ConcurrentHashMap<>();

    static long usedHeap() {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) {
            System.gc();
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return rt.totalMemory() - rt.freeMemory();
    }

    /**
     * Relays an OpenAI batch output file ({@code GET /v1/files/{id}/content}): one JSON line per request
     * of the batch, each with the {@code custom_id} the client gave it in the batch input (250
     * characters here) and the line's own {@code id}. With {@code same}, every line repeats one id (the
     * same bytes, one call). Measures the heap retained once the whole file went through the filter,
     * while the request is still open.
     */
    public static class BatchFile extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            int lines = Integer.parseInt(req.getParameter("lines"));
            boolean same = req.getParameter("same") != null;
            long before = usedHeap();
            resp.setContentType("application/jsonl");
            ServletOutputStream out = resp.getOutputStream();
            String pad = "x".repeat(240);
            for (int i = 0; i < lines; i++) {
                String id = same ? "0000000000" : String.format("%010d", i);
                out.write(("{\"id\":\"batch_req_" + pad + id + "\",\"custom_id\":\"" + pad + id + "\",\"response\":{"
                        + "\"status_code\":200,\"body\":{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":1,"
                        + "\"completion_tokens\":1,\"total_tokens\":2}}},\"error\":null}\n").getBytes(StandardCharsets.US_ASCII));
            }
            out.flush();
            RETAINED.put(req.getHeader("x-user-id"), usedHeap() - before);
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("batch", new BatchFile(), "/ai/files/*");
    }

    /** Retained heap while the endpoint relays the file; the client discards what it reads. */
    long retainedFor(String query) throws Exception {
        String s = subject();
        HttpResponse<Void> r = TestHttp.client().send(TestHttp.request(container.uri("/ai/files/file-abc/content?" + query),
                "x-user-id", s).GET().build(), HttpResponse.BodyHandlers.discarding());
        assertEquals(200, r.statusCode());
        settled(s);
        return RETAINED.get(s);
    }

    /**
     * {@code GET /ai/files/file-abc/content} of a batch output file whose 100,000 {@code custom_id}s the
     * client chose (250 characters each) when it uploaded the batch input. The usage reader keeps each
     * distinct call's id ({@code "custom_id:" + custom_id + "#" + id}, strings cut at 256 bytes only)
     * with its counts in {@code UsageSniffer.calls}, up to 100,000 entries: one download holds ~60 MB
     * for as long as it streams (20 concurrent: over 1 GB), against next to nothing for the same bytes
     * whose lines repeat one id. The README says memory per request is bounded whatever the response.
     *
     * <p>Run on {@value #LINES} lines against the bound in proportion ({@link #LINES}).
     */
    @Test
    void aBatchFileOfLongCustomIdsKeepsBoundedMemory() throws Exception {
        long repeated = retainedFor("lines=" + LINES + "&same=1");
        long distinct = retainedFor("lines=" + LINES);
        assertTrue(distinct - repeated < BOUND, "the filter held " + ((distinct - repeated) >> 10)
                + " KB more for one streamed batch file of " + LINES + " distinct custom_ids than for the same bytes"
                + " with one id (" + (repeated >> 10) + " KB)");
    }

    /**
     * Lines of the batch file: a quarter of the round's 100,000 (two 60 MB files took 6-7 s a container), against
     * a quarter of its 8 MB bound. Keeping the calls' names costs ~600 bytes a line (the round's ~60 MB for
     * 100,000), so 25,000 such lines hold ~15 MB, seven times the bound, while the names' digests
     * ({@code AnswerCalls}: 8 bytes a call in an open-addressed table at most half full) take 512 KB: the test
     * tells the two apart as widely as the round's did (2 MB against 60).
     */
    static final int LINES = 25_000;
    /** The round's 8 MB for 100,000 lines, in proportion. */
    static final long BOUND = (8L << 20) * LINES / 100_000;
}
