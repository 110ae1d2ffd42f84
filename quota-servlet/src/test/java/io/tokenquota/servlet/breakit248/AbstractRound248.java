package io.tokenquota.servlet.breakit248;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.ShallowEtagFilter;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 248 of issue 11: caches and conditional requests in front of or inside the application.
 * A Spring-style {@code ShallowEtagHeaderFilter} inside the quota filter, a client revalidating with
 * {@code If-None-Match} / {@code If-Modified-Since}, a {@code Range} request, and the filter's own memory of
 * what it charged (batch results read again) across instances and past its per-subject bound.
 */
abstract class AbstractRound248 extends H2FilterRound {
    /** Why two of this round's tests are disabled: the open part of issue 11 they show. */
    static final String OPEN_RESULTS_ELSEWHERE = "issue 11, open: which finished calls a results file reported is"
            + " remembered by this instance, for the subject's last 64 answers: read again at another instance, or"
            + " after 64 others, it is charged again (docs/decisions.md, \"Results read again elsewhere (open)\")";
    final ModelCalls calls = new ModelCalls();
    /** A second instance of the same service: its own quota filter on the same store. */
    EmbeddedContainer second;

    static String subject() {
        return "u248-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final long SUMMARY_USAGE = 4_000;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return app(filter);
    }

    Deployment app(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("etag", new ShallowEtagFilter(), "/ai/*")
                .servlet("summary", new Summary(), "/ai/articles/summary")
                .servlet("files", new OutputFiles(), "/ai/v1/files/*")
                .onStartup(filter::registerByServletName);
    }

    EmbeddedContainer second() {
        if (second == null) {
            second = kind().start(app(filterFor("/ai/").build()));
        }
        return second;
    }

    @AfterAll
    void stopSecond() {
        if (second != null) second.close();
    }

    /**
     * {@code GET /ai/articles/summary?id=…}: calls the model (temperature 0, the same text each time) and
     * answers its chat completion, usage included, with a {@code Last-Modified} of the article.
     */
    final class Summary extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.setDateHeader("Last-Modified", 1_700_000_000_000L);
            resp.setHeader("Cache-Control", "private, max-age=60");
            String body = "{\"id\":\"chatcmpl-summary-" + req.getParameter("id") + "\",\"object\":\"chat.completion\","
                    + "\"created\":1733000000,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":"
                    + "{\"role\":\"assistant\",\"content\":\"" + "The article argues for a quota on model calls. ".repeat(40)
                    + "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3000,\"completion_tokens\":1000,"
                    + "\"total_tokens\":" + SUMMARY_USAGE + "}}";
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A relay of OpenAI's Files API, {@code GET /v1/files/{id}/content}: a finished batch's output file. A
     * file id of the form {@code file-<n>x<per>-…} holds n calls billed per tokens each. No model runs.
     */
    final class OutputFiles extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String file = String.valueOf(req.getPathInfo()).split("/")[1];
            String[] shape = file.substring("file-".length()).split("-")[0].split("x");
            int n = Integer.parseInt(shape[0]);
            long per = Long.parseLong(shape[1]);
            String key = file.replace("-", "");
            resp.setContentType("application/jsonl");
            StringBuilder out = new StringBuilder();
            for (int i = 1; i <= n; i++) {
                long prompt = per * 3 / 10;
                out.append("{\"id\":\"batch_req_").append(key).append('_').append(i)
                        .append("\",\"custom_id\":\"request-").append(i).append("\",\"response\":{\"status_code\":200,")
                        .append("\"request_id\":\"req_").append(key).append(i).append("\",\"body\":{\"id\":\"chatcmpl-")
                        .append(key).append(i).append("\",\"object\":\"chat.completion\",\"created\":1733000000,")
                        .append("\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":")
                        .append("\"assistant\",\"content\":\"Summary of ticket ").append(i).append(".\"},\"finish_reason\":")
                        .append("\"stop\"}],\"usage\":{\"prompt_tokens\":").append(prompt).append(",\"completion_tokens\":")
                        .append(per - prompt).append(",\"total_tokens\":").append(per).append("}}},\"error\":null}\n");
            }
            resp.getOutputStream().write(out.toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    HttpResponse<String> summary(EmbeddedContainer at, String s, String id, String... headers) {
        return TestHttp.send(TestHttp.requestAs(at.uri("/ai/articles/summary?id=" + id), s, headers).GET().build());
    }

    HttpResponse<String> readFile(EmbeddedContainer at, String s, String file) {
        return TestHttp.send(TestHttp.requestAs(at.uri("/ai/v1/files/" + file + "/content"), s).GET().build());
    }

    String figures(String s, HttpResponse<String> r, QuotaAccount a) {
        return "status " + r.statusCode() + ", used " + a.used() + ", model calls " + calls.of(s) + ", ledger " + ledger(s);
    }

    // ------------------------------------------------------------------ 1. ETag revalidation

    /**
     * A browser (or an SDK with an HTTP cache) revalidates the summary with the ETag the ETag filter gave
     * it. The endpoint runs the model again for each request; each run must be charged its 4,000.
     */
    @Test
    void aRevalidatedSummaryIsChargedEachModelRun() {
        String s = subject();
        String id = UUID.randomUUID().toString();
        HttpResponse<String> first = summary(container, s, id);
        assertEquals(200, first.statusCode(), first.body());
        String etag = first.headers().firstValue("ETag").orElse(null);
        assertNotNull(etag, "the ETag filter names the answer");
        HttpResponse<String> again = summary(container, s, id, "If-None-Match", etag,
                "If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT");
        QuotaAccount a = settled(s);
        assertEquals(2, calls.of(s), figures(s, again, a));
        assertEquals(2 * SUMMARY_USAGE, a.used(), "two model runs of 4,000: " + figures(s, again, a));
    }

    /** The same revalidation sent to a second instance (the ETag came from the first). */
    @Test
    void aSummaryRevalidatedAtAnotherInstanceIsChargedItsModelRun() {
        String s = subject();
        String id = UUID.randomUUID().toString();
        HttpResponse<String> first = summary(container, s, id);
        String etag = first.headers().firstValue("ETag").orElseThrow();
        HttpResponse<String> again = summary(second(), s, id, "If-None-Match", etag);
        QuotaAccount a = settled(s);
        assertEquals(2, calls.of(s), figures(s, again, a));
        assertEquals(2 * SUMMARY_USAGE, a.used(), "two model runs of 4,000: " + figures(s, again, a));
    }

    // ------------------------------------------------------------------ 2. Range

    /** A download manager's resumed GET ({@code Range: bytes=100-}) of the summary: the model runs again. */
    @Test
    void aRangeOfASummaryIsChargedItsModelRun() {
        String s = subject();
        String id = UUID.randomUUID().toString();
        HttpResponse<String> r = summary(container, s, id, "Range", "bytes=100-", "If-Range", "\"0abc\"");
        QuotaAccount a = settled(s);
        assertEquals(1, calls.of(s), figures(s, r, a));
        assertEquals(SUMMARY_USAGE, a.used(), figures(s, r, a));
    }

    // ------------------------------------------------------------------ 3. results read again elsewhere

    /**
     * A batch's output file (5 calls, 5,000 billed) is downloaded through instance A and charged its
     * usage; read again at A it is released (the control). The importing job's retry lands on instance B
     * behind the load balancer: no model runs, the calls were paid, the subject must still have paid 5,000.
     */
    @Test
    @Disabled(OPEN_RESULTS_ELSEWHERE)
    void aBatchOutputReadAgainAtAnotherInstanceIsNotChargedTwice() {
        String s = subject();
        String file = "file-5x1000-" + UUID.randomUUID().toString().substring(0, 8);
        HttpResponse<String> r = readFile(container, s, file);
        assertEquals(5_000, settled(s).used(), figures(s, r, settled(s)));
        r = readFile(container, s, file);
        assertEquals(5_000, settled(s).used(), "control, read again at A: " + figures(s, r, settled(s)));
        r = readFile(second(), s, file);
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode());
        assertEquals(5_000, a.used(), kind() + ": a batch billed 5,000 read at A twice and at B once: " + figures(s, r, a));
    }

    /**
     * A subject's pipeline imports 65 small batches' output files (2 calls of 10 tokens each), then re-reads
     * the first one (a retry of its import). No model runs for the re-read.
     */
    @Test
    @Disabled(OPEN_RESULTS_ELSEWHERE)
    void aBatchOutputReadAgainAfterTheSubjectsOwnLaterBatchesIsNotChargedTwice() {
        String s = subject();
        String firstFile = "file-2x10-" + UUID.randomUUID().toString().substring(0, 8);
        readFile(container, s, firstFile);
        assertEquals(20, settled(s).used(), ledger(s));
        for (int i = 0; i < 64; i++) {
            HttpResponse<String> r = readFile(container, s, "file-2x10-" + UUID.randomUUID().toString().substring(0, 8));
            assertEquals(200, r.statusCode());
        }
        assertEquals(65 * 20, settled(s).used(), ledger(s));
        HttpResponse<String> r = readFile(container, s, firstFile);
        QuotaAccount a = settled(s);
        assertEquals(65 * 20, a.used(), kind() + ": 65 batch outputs of 20 tokens, the first read again: " + figures(s, r, a));
    }
}
