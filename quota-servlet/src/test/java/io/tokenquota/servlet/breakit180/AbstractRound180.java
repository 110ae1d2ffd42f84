package io.tokenquota.servlet.breakit180;

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
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 180 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * time and concurrency around the filter. An OpenAI Response created in background mode and streamed
 * ({@code "background": true, "stream": true}, OpenAI's recommended way to run a long o3-pro call: the
 * stream shows progress, and a client whose connection drops resumes it with
 * {@code GET /v1/responses/{id}?stream=true&starting_after=N}, or reads the finished Response by id).
 * The relay passes the provider's events on as they come.
 *
 * <p>The filter remembers what a background job's creation was charged by the job's id only when the
 * creating request settles. The job's id is with the client from the stream's first event, and the
 * creating request may stay open long after that: the relay waits for the provider's next event (the
 * model thinking, minutes for o3-pro) without knowing that its client went away, or saves the
 * conversation after the last event. A read of the same job by the same user on the same instance in
 * that window finds no figure and is charged the job's whole usage, and the creation is charged its
 * own figure when it settles: the one model run is paid twice.
 */
abstract class AbstractRound180 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** The provider's next event for the creating stream of a subject: the test opens it. */
    final Map<String, CountDownLatch> upstream = new ConcurrentHashMap<>();
    /** The relay's work after the stream's last event (saving the conversation): the test opens it. */
    final Map<String, CountDownLatch> saved = new ConcurrentHashMap<>();
    /** What the creating relay saw of its client (for failure messages). */
    final Map<String, String> seen = new ConcurrentHashMap<>();

    /** The job's usage: 900 input, 6,000 output (reasoning included). */
    static final String USAGE = "{\"input_tokens\":900,\"input_tokens_details\":{\"cached_tokens\":0},"
            + "\"output_tokens\":6000,\"output_tokens_details\":{\"reasoning_tokens\":5200},\"total_tokens\":6900}";
    static final long USED = 6_900;

    static final String BODY = "{\"model\":\"o3-pro\",\"background\":true,\"stream\":true,\"max_output_tokens\":2000,"
            + "\"input\":\"Review the attached termination clauses and list every notice period.\"}";

    static String subject() {
        return "u180-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String rid(String subject) {
        return "resp_" + subject.replace("-", "");
    }

    static String queued(String rid) {
        return ResponsesApi.o3Pro(rid, "queued", true, 2000, "null", null);
    }

    static String completed(String rid) {
        return ResponsesApi.o3Pro(rid, "completed", true, 2000, USAGE, ResponsesApi.message("msg_" + rid,
                "Clause 4.2: thirty days. Clause 7.1: ninety days."));
    }

    static String delta(String rid, int seq, String text) {
        return "{\"type\":\"response.output_text.delta\",\"sequence_number\":" + seq + ",\"item_id\":\"msg_" + rid
                + "\",\"output_index\":1,\"content_index\":0,\"delta\":\"" + text + "\",\"logprobs\":[]}";
    }

    static void events(OutputStream out, String rid, int from, int to) throws IOException {
        for (int seq = from; seq <= to; seq++) {
            ResponsesApi.event(out, "response.output_text.delta", delta(rid, seq, "Clause " + seq + " reviewed. "));
        }
    }

    static void completedEvent(OutputStream out, String rid, int seq) throws IOException {
        ResponsesApi.event(out, "response.completed", "{\"type\":\"response.completed\",\"sequence_number\":" + seq
                + ",\"response\":" + completed(rid) + "}");
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("responses", new Responses(), "/ai/v1/responses", "/ai/v1/responses/*");
    }

    /** A relay of OpenAI's Responses API: the provider's events and objects passed on as they come. */
    class Responses extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String rid = rid(user);
            // the provider's call: the model runs in the background at the provider from here on
            calls.count(user);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            try {
                ResponsesApi.event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,"
                        + "\"response\":" + queued(rid) + "}");
                ResponsesApi.event(out, "response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,"
                        + "\"response\":" + queued(rid).replace("\"queued\"", "\"in_progress\"") + "}");
                events(out, rid, 2, 3);
                CountDownLatch next = upstream.get(user);
                if (next != null) {
                    // the model thinks: the relay waits for the provider's next event
                    await(next);
                }
                events(out, rid, 4, 9);
                completedEvent(out, rid, 10);
                seen.put(user, "stream written to its end");
            } catch (IOException gone) {
                // the client went away: the relay stops relaying (the background job goes on at the provider)
                seen.put(user, "client gone: " + gone);
                return;
            }
            CountDownLatch done = saved.get(user);
            if (done != null) {
                // after the last event: the relay saves the conversation before it returns
                await(done);
            }
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String user = req.getHeader("x-user-id");
            String rid = req.getPathInfo().substring(1);
            if (!rid.equals(rid(user))) {
                resp.sendError(404);
                return;
            }
            if ("true".equals(req.getParameter("stream"))) {
                // the provider's stream resumed after starting_after: the events the client missed
                resp.setContentType("text/event-stream");
                OutputStream out = resp.getOutputStream();
                int after = Integer.parseInt(req.getParameter("starting_after"));
                events(out, rid, after + 1, 9);
                completedEvent(out, rid, 10);
                return;
            }
            byte[] body = completed(rid).getBytes(java.nio.charset.StandardCharsets.UTF_8);
            resp.setContentType("application/json");
            resp.setContentLength(body.length);
            resp.getOutputStream().write(body);
        }
    }

    static void await(CountDownLatch latch) {
        try {
            latch.await(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Control: the stream read to its end and the finished Response read back by id afterwards, once the
     * creating request has returned. The job is charged its usage once (6,900).
     */
    @Test
    void aFinishedBackgroundResponseReadAfterItsStreamIsChargedOnce() {
        String s = subject();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/v1/responses"), s, BODY);
        assertEquals(200, created.statusCode(), created.body());
        assertTrue(created.body().contains("response.completed"), created.body());
        HttpResponse<String> read = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + rid(s)), s)
                .GET().build());
        assertEquals(200, read.statusCode(), read.body());
        assertEquals(1, calls.of(s));
        assertEquals(USED, settled(s).used(), "one background job of 6,900 tokens: " + ledger(s));
    }

    /**
     * The attack (or an ordinary UI): the stream shows the job to its {@code response.completed} event,
     * then the page reads the finished Response by id to keep it ({@code client.responses.retrieve(id)}),
     * while the relay, after the last event, still saves the conversation. One model run of 6,900 tokens;
     * the read called no model ("reading a finished Response back costs nothing").
     */
    @Test
    void aBackgroundResponseReadByIdWhileItsStreamIsSavedIsChargedOnce() throws Exception {
        String s = subject();
        saved.put(s, new CountDownLatch(1));
        CompletableFuture<HttpResponse<java.util.stream.Stream<String>>> stream = TestHttp.client().sendAsync(
                TestHttp.jsonPost(container.uri("/ai/v1/responses"), s, BODY), HttpResponse.BodyHandlers.ofLines());
        HttpResponse<String> read;
        try {
            TestHttp.readUntil(stream.get(10, TimeUnit.SECONDS), line -> line.startsWith("event: response.completed"),
                    "the stream ended without response.completed");
            read = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + rid(s)), s).GET().build());
        } finally {
            saved.get(s).countDown();
        }
        assertEquals(200, read.statusCode(), read.body());
        assertEquals(1, calls.of(s), "one model run");
        long used = settled(s).used();
        assertEquals(USED, used, "one background job of 6,900 tokens, its stream and a read of it by id: charged "
                + used + ": " + ledger(s));
    }

    /**
     * Control: the same dropped connection, but the relay's next write finds the client gone before the
     * client resumes; the creation settles first (charged its estimate), and the resumed stream is
     * charged what the job's usage passes it. One model run: 6,900.
     */
    @Test
    void aBackgroundStreamResumedAfterItsCreationSettledIsChargedItsUsageOnce() throws Exception {
        String s = subject();
        upstream.put(s, new CountDownLatch(1));
        String first;
        try {
            first = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/responses", s, BODY, "\"sequence_number\":3");
        } finally {
            upstream.get(s).countDown();
        }
        assertTrue(first.contains(rid(s)), first);
        long creation = settled(s).used();
        assertTrue(seen.getOrDefault(s, "").startsWith("client gone"), String.valueOf(seen.get(s)));
        HttpResponse<String> resumed = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + rid(s)
                + "?stream=true&starting_after=3"), s).GET().build());
        assertEquals(200, resumed.statusCode(), resumed.body());
        assertEquals(1, calls.of(s), "one model run");
        long used = settled(s).used();
        assertEquals(USED, used, "creation charged " + creation + ", then the resumed stream: " + ledger(s));
    }

    /**
     * OpenAI's resume flow: the client's connection drops while the model thinks (after the client had
     * the job's id and sequence number 3); the relay, waiting for the provider's next event, does not know
     * yet. The client resumes the stream ({@code GET /v1/responses/{id}?stream=true&starting_after=3}) and
     * reads it to {@code response.completed}; then the provider's next event reaches the relay, whose
     * write fails. One model run of 6,900 tokens.
     */
    @Test
    void aBackgroundStreamResumedAfterADroppedConnectionIsChargedItsUsageOnce() throws Exception {
        String s = subject();
        upstream.put(s, new CountDownLatch(1));
        HttpResponse<String> resumed;
        try {
            String first = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/responses", s, BODY,
                    "\"sequence_number\":3");
            assertTrue(first.contains(rid(s)), first);
            resumed = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + rid(s)
                    + "?stream=true&starting_after=3"), s).GET().build());
        } finally {
            upstream.get(s).countDown();
        }
        assertEquals(200, resumed.statusCode(), resumed.body());
        assertTrue(resumed.body().contains("response.completed"), resumed.body());
        assertEquals(1, calls.of(s), "one model run");
        long used = settled(s).used();
        assertEquals(USED, used, "one background job of 6,900 tokens, streamed, dropped and resumed: charged " + used
                + " (relay: " + seen.get(s) + "): " + ledger(s));
    }
}
