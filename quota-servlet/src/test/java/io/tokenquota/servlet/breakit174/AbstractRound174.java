package io.tokenquota.servlet.breakit174;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 174 of issue 11 ("no model call goes unpaid"): OpenAI's background mode read as a stream. A
 * relay passes OpenAI's Responses API on under the protected prefix ({@code /ai/v1/*}), as round 131's
 * does. OpenAI documents for long o3 runs: create the Response with {@code "background": true} (answered
 * at once, {@code "status": "queued"}, no usage), then stream its events with
 * {@code GET /v1/responses/{id}?stream=true} (the same events a streamed creation sends: the text's
 * deltas, then {@code response.completed} with the usage). The relay stops relaying when its client has
 * gone, as any relay whose writes fail does.
 * <p>
 * The filter knows the Response as a job: its creation is charged the estimate, and a read of it is
 * released until one carries its usage. A hostile client reads the whole text from the GET stream and
 * hangs up before {@code response.completed}; it never reads the Response again. The model wrote the
 * text either way (background mode runs on when the client goes). The documented rule for a stream cut
 * before its usage ("charged at least its input and the new text its deltas carried", also on a GET;
 * round 173 kept it for a write on a job) is not kept for this read: it is released, and the whole
 * answer costs the creation's estimate.
 */
abstract class AbstractRound174 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    final Map<String, CountDownLatch> hungUp = new ConcurrentHashMap<>();

    static final String WORDS = "The supplier may terminate with thirty days' notice for non-payment of any invoice. ";
    static final int DELTAS = 300;
    static final String MARK = "END-OF-TEXT";
    /** What the provider billed for the Response: its input and its output (the text, and its reasoning). */
    static final String USAGE = "{\"input_tokens\":40,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":7960,"
            + "\"output_tokens_details\":{\"reasoning_tokens\":2000},\"total_tokens\":8000}";
    static final String INPUT = "{\"model\":\"o3\",\"input\":\"Draft the termination clauses of a supply agreement, in full.\","
            + "\"reasoning\":{\"effort\":\"high\"},\"background\":true%s}";

    static String subject() {
        return "u174-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("relay", new Relay(), "/ai/v1/*")
                .onStartup(filter::registerByServletName);
    }

    static String bg(String rid, String status, String usage, String text) {
        return ResponsesApi.response(rid, status, "\"background\":true,", "o3-2025-04-16", usage, text);
    }

    /** OpenAI's Responses API, relayed: a background creation, and its events streamed by a GET. */
    class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String user = req.getHeader("x-user-id");
            calls.count(user);
            String rid = "resp_" + UUID.randomUUID().toString().replace("-", "");
            if (body.contains("\"stream\":true")) {
                stream(resp, user, rid);
                return;
            }
            resp.setContentType("application/json");
            resp.getWriter().write(bg(rid, "queued", "null", null));
        }

        /** {@code GET /v1/responses/{id}?stream=true}: the Response's events from the start. */
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo();
            String rid = path.substring(path.lastIndexOf('/') + 1);
            if (!"true".equals(req.getParameter("stream"))) {
                resp.setContentType("application/json");
                resp.getWriter().write(bg(rid, "completed", USAGE, "done"));
                return;
            }
            stream(resp, req.getHeader("x-user-id"), rid);
        }

        private void stream(HttpServletResponse resp, String user, String rid) throws IOException {
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            int seq = 0;
            try {
                ResponsesApi.event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":" + seq++
                        + ",\"response\":" + bg(rid, "queued", "null", null) + "}");
                ResponsesApi.event(out, "response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":"
                        + seq++ + ",\"response\":" + bg(rid, "in_progress", "null", null) + "}");
                for (int i = 0; i <= DELTAS; i++) {
                    seq = delta(out, rid, seq, i == DELTAS ? MARK + " " : WORDS);
                }
                hungUp.computeIfAbsent(user, u -> new CountDownLatch(1)).await(10, TimeUnit.SECONDS);
                // the model goes on at the provider (background mode); the relay stops at the first failed write
                for (int i = 0; i < 2_000; i++) {
                    seq = delta(out, rid, seq, "x".repeat(4_000));
                }
                ResponsesApi.event(out, "response.completed", "{\"type\":\"response.completed\",\"sequence_number\":" + seq
                        + ",\"response\":" + bg(rid, "completed", USAGE, "done") + "}");
            } catch (IOException gone) {
                // the client hung up: the relay stops relaying
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private int delta(OutputStream out, String rid, int seq, String text) throws IOException {
            ResponsesApi.event(out, "response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":"
                    + seq + ",\"item_id\":\"msg_" + rid + "\",\"output_index\":0,\"content_index\":0,\"delta\":\"" + text
                    + "\",\"logprobs\":[]}");
            return seq + 1;
        }
    }

    /**
     * The attack: create the Response in background mode (charged its estimate, about 1,000), then read
     * its whole text (301 deltas, about 4,800 tokens) from {@code GET /v1/responses/{id}?stream=true} and
     * hang up before {@code response.completed}. The provider billed 8,000; the client holds about 4,800
     * tokens of the model's text. Expected: at least the text it carried (as the same cut stream is
     * charged on the creating POST, below); charged: the creation's estimate alone.
     */
    @Test
    void aBackgroundResponseReadAsAStreamAndCutBeforeItsUsageIsChargedItsText() throws Exception {
        String s = subject();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/v1/responses"), s, String.format(INPUT, ""));
        assertEquals(200, created.statusCode(), created.body());
        assertTrue(created.body().contains("\"queued\""), created.body());
        int at = created.body().indexOf("\"id\":\"resp_");
        String rid = created.body().substring(at + 6, created.body().indexOf('"', at + 6));
        long creation = settled(s).used();
        String read;
        try {
            read = TestHttp.getAndHangUpAfter(container.port(), "/ai/v1/responses/" + rid + "?stream=true", s, MARK);
        } finally {
            hungUp.computeIfAbsent(s, u -> new CountDownLatch(1)).countDown();
        }
        assertTrue(read.contains(MARK), read);
        long used = settled(s).used();
        assertTrue(used >= 4_000, "the creation was charged " + creation + "; the GET stream that carried the whole"
                + " text (~4,800 tokens of deltas, 8,000 billed) added " + (used - creation) + ": charged " + used
                + " in all: " + ledger(s));
    }

    /** Control: the same events streamed by the creating POST ({@code "stream": true}), cut the same way, are charged their text. */
    @Test
    void theSameStreamCutOnTheCreatingPostIsChargedItsText() throws Exception {
        String s = subject();
        String read;
        try {
            read = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/responses", s, String.format(INPUT, ",\"stream\":true"), MARK);
        } finally {
            hungUp.computeIfAbsent(s, u -> new CountDownLatch(1)).countDown();
        }
        assertTrue(read.contains(MARK), read);
        long used = settled(s).used();
        assertTrue(used >= 4_000, "charged " + used + ": " + ledger(s));
    }
}
