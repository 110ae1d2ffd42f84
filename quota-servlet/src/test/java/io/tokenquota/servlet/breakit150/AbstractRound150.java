package io.tokenquota.servlet.breakit150;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.FilterTestHooks;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Round 150 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * what the filter remembers so that an answer reaching no model is not charged, against ordinary traffic
 * of other users on the same instance. Two rules rest on that memory:
 * <ul>
 *   <li>"Batches are charged where their usage is read, once": a batch's output file read again by the
 *       same subject is released, because the filter remembers the provider ids of the calls it
 *       charged;</li>
 *   <li>"Only an EventSource reconnect answered 204 or 205 is released": a browser's reconnect to an
 *       event stream this filter sent the subject is released when the server stops it with 204.</li>
 * </ul>
 * Both are kept in one least-recently-used memory of 4,096 entries that every subject's event stream
 * also fills (one entry per streamed answer). The memory of provider state was given its own map so
 * that other users' traffic cannot evict it; these two were not. On a chat service where answers are
 * streamed, 4,096 other users' streams on the instance (minutes of traffic on a busy service, seconds on
 * a large one) make the honest user's second download of the same results file a second full charge,
 * and the browser's reconnect answered 204 a charge of the fallback estimate, though neither reached a
 * model.
 */
abstract class AbstractRound150 extends ModelCallRound {
    /** Calls in the batch, and what the provider billed each (300 input + 700 output). */
    static final int BATCH_CALLS = 5;
    static final long PER_CALL = 1_000;
    /**
     * Entries the deployed filter's memory of answers keeps ({@code answerMemory}), instead of the default
     * {@code QuotaFilter.ANSWER_MEMORY} (65,536). The round sent 4,200 other streams (70 users, 60 each) through
     * the default memory: 6% of it, and 4,200 HTTP streams took about 5 s a test. Here {@link #OTHERS} users send
     * {@link #STREAMS_EACH} each, 420 streams, 82% of this memory: the same point (other users' ordinary traffic
     * short of filling the memory does not push out what one user's next request needs) on a much tighter
     * margin. The memory is that bug's fixed part: with a memory of 400 (fewer entries than the other users'
     * streams) both tests fail, as the round's did on the 4,096 entries it had then.
     * {@link #productionMemoryHoldsTheRoundsTraffic} ties the figures to the default memory.
     */
    static final int SMALL_MEMORY = 512;
    /** Streams other users are sent between the honest user's two requests: most of {@link #SMALL_MEMORY}. */
    static final int OTHERS = 7;
    static final int STREAMS_EACH = 60;
    /** Other users' streams in the round as first run, against the default memory. */
    static final int ROUND_STREAMS = 4_200;

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter quota = FilterTestHooks.answerMemory(filterFor("/ai/"), SMALL_MEMORY).build();
        return Deployment.create()
                .filter("quota", quota, "/*")
                .servlet("files", new OutputFiles(), "/ai/v1/files/*")
                .servlet("stream", new ChatStream(), "/ai/chat/stream")
                .onStartup(quota::registerByServletName);
    }

    /**
     * The default memory keeps the round's 4,200 other streams at least as easily as {@link #SMALL_MEMORY} keeps
     * the 420 these tests send: the tests on the small memory stand for the default one.
     */
    @Test
    void productionMemoryHoldsTheRoundsTraffic() {
        assertTrue((long) FilterTestHooks.defaultAnswerMemory() * OTHERS * STREAMS_EACH >= (long) SMALL_MEMORY * ROUND_STREAMS,
                "default memory " + FilterTestHooks.defaultAnswerMemory() + " for " + ROUND_STREAMS + " streams");
    }

    // ------------------------------------------------------------------ the application

    /**
     * A relay of OpenAI's Files API, {@code GET /v1/files/{id}/content}: a finished batch's output file,
     * one JSON line per call, each named by the line id the provider gave it ({@code batch_req_…}) and
     * carrying that call's chat completion with its usage. Reading the file runs no model.
     */
    final class OutputFiles extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String[] parts = String.valueOf(req.getPathInfo()).split("/");
            String file = parts.length > 1 ? parts[1] : "file-none";
            String key = file.replace("file-", "");
            resp.setContentType("application/jsonl");
            StringBuilder out = new StringBuilder();
            for (int i = 1; i <= BATCH_CALLS; i++) {
                out.append("{\"id\":\"batch_req_").append(key).append('_').append(i)
                        .append("\",\"custom_id\":\"request-").append(i).append("\",\"response\":{\"status_code\":200,")
                        .append("\"request_id\":\"req_").append(key).append(i).append("\",\"body\":{\"id\":\"chatcmpl-")
                        .append(key).append(i).append("\",\"object\":\"chat.completion\",\"created\":1733000000,")
                        .append("\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":")
                        .append("\"assistant\",\"content\":\"Summary of ticket ").append(i).append(".\"},\"finish_reason\":")
                        .append("\"stop\"}],\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":700,\"total_tokens\":")
                        .append(PER_CALL).append("}}},\"error\":null}\n");
            }
            resp.getOutputStream().write(out.toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A chat UI's stream for a browser's {@code EventSource}: {@code GET /ai/chat/stream?q=…} calls the model
     * and relays its OpenAI chunks with ids, the usage chunk ({@code stream_options.include_usage}) and
     * {@code [DONE]}; the model's tokens are {@code tokens} (default 30). When the stream ends the browser
     * reconnects with {@code Last-Event-ID}: the conversation is answered, so the server stops it with
     * {@code 204 No Content}, as the HTML standard says, without calling the model.
     */
    final class ChatStream extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (req.getHeader("Last-Event-ID") != null) {
                resp.setStatus(204);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            long tokens = req.getParameter("tokens") == null ? 30 : Long.parseLong(req.getParameter("tokens"));
            long prompt = tokens / 4;
            String id = "chatcmpl-" + UUID.randomUUID();
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            var w = resp.getWriter();
            w.write("id: 1\ndata: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1733000000,"
                    + "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
                    + "\"Here is the answer.\"},\"finish_reason\":null}]}\n\n");
            w.write("id: 2\ndata: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1733000000,"
                    + "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
            w.write("id: 3\ndata: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1733000000,"
                    + "\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt
                    + ",\"completion_tokens\":" + (tokens - prompt) + ",\"total_tokens\":" + tokens + "}}\n\n");
            w.write("data: [DONE]\n\n");
            w.flush();
        }
    }

    // ------------------------------------------------------------------ helpers

    HttpResponse<String> readFile(String s, String file) {
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/files/" + file + "/content"), s).GET().build());
    }

    HttpResponse<String> eventSource(String s, String query, String lastEventId) {
        return TestHttp.send(lastEventId == null
                ? TestHttp.requestAs(container.uri("/ai/chat/stream?" + query), s,
                        "Accept", "text/event-stream", "Cache-Control", "no-cache").GET().build()
                : TestHttp.requestAs(container.uri("/ai/chat/stream?" + query), s,
                        "Accept", "text/event-stream", "Cache-Control", "no-cache", "Last-Event-ID", lastEventId).GET().build());
    }

    /**
     * Ordinary traffic of {@link #OTHERS} other users on this instance: {@link #STREAMS_EACH} streamed chat
     * answers each (30 tokens apiece), every one answered 200 and charged its usage.
     */
    void otherUsersChat() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Integer>> sent = new ArrayList<>();
            for (int u = 0; u < OTHERS; u++) {
                String user = subject();
                for (int i = 0; i < STREAMS_EACH; i++) {
                    String q = "q=hello+" + i;
                    sent.add(pool.submit(() -> eventSource(user, q, null).statusCode()));
                }
            }
            for (Future<Integer> f : sent) {
                assertEquals(200, f.get(), "another user's chat stream");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    // ------------------------------------------------------------------ 1. a batch's results downloaded again

    /**
     * An honest user's batch of 5 calls ran at the provider (5,000 tokens billed). The user downloads its
     * output file through the protected relay and is charged 5,000, exactly its usage; a second download
     * right away is released, as "read again by the same subject" promises (the control). Later, after
     * 420 streamed chat answers of 7 other users on the same instance (the round's 4,200 of 70 users, scaled with
     * the memory: {@link #SMALL_MEMORY}), the user's job downloads the same
     * file a third time (a retry, a re-run of its import): no model runs for it and the calls were paid,
     * so the user must still have paid 5,000. The filter has forgotten the calls under the other users'
     * streams and charges the whole batch again.
     */
    @Test
    void aBatchOutputFileReadAgainAfterOtherUsersStreamsIsNotChargedTwice() throws Exception {
        String s = subject();
        String file = "file-" + UUID.randomUUID().toString().replace("-", "").substring(0, 24);
        HttpResponse<String> first = readFile(s, file);
        QuotaAccount a = settled(s);
        assertEquals(200, first.statusCode(), figures(s, first, a));
        assertEquals(BATCH_CALLS * PER_CALL, a.used(), "the first download is charged the batch's usage: " + figures(s, first, a));
        HttpResponse<String> second = readFile(s, file);
        a = settled(s);
        assertEquals(200, second.statusCode(), figures(s, second, a));
        assertEquals(BATCH_CALLS * PER_CALL, a.used(), "control: the same results read again at once are released: "
                + figures(s, second, a));

        otherUsersChat();

        HttpResponse<String> third = readFile(s, file);
        a = settled(s);
        assertEquals(200, third.statusCode(), figures(s, third, a));
        assertEquals(BATCH_CALLS * PER_CALL, a.used(), kind() + ": a batch of " + BATCH_CALLS + " calls ("
                + BATCH_CALLS * PER_CALL + " tokens billed) whose output file was downloaded three times, the third after "
                + OTHERS * STREAMS_EACH + " streamed answers of other users, is charged " + a.used() + " of " + a.limit()
                + ": " + figures(s, third, a));
    }

    // ------------------------------------------------------------------ 2. EventSource's reconnect answered 204

    /**
     * A browser's {@code EventSource} gets its answer (one model call, 2,000 tokens, charged 2,000) and,
     * the stream having ended, reconnects with {@code Last-Event-ID}; the server stops it with 204 and no
     * model call. Right away that 204 is released (the control). When 420 other users' streams (the round's
     * 4,200, scaled with the memory: {@link #SMALL_MEMORY}) were
     * served on the instance meanwhile (a browser tab in the background, a server {@code retry:} of a few
     * seconds on a busy service), the same reconnect, the same 204 without a model call, is charged the
     * fallback estimate.
     */
    @Test
    void anEventSourceReconnectStoppedWith204AfterOtherUsersStreamsIsNotCharged() throws Exception {
        String s = subject();
        String q = "q=" + "Summarise+the+ledger+for+" + UUID.randomUUID() + "&tokens=2000";
        HttpResponse<String> stream = eventSource(s, q, null);
        QuotaAccount a = settled(s);
        assertEquals(200, stream.statusCode(), figures(s, stream, a));
        assertTrue(stream.body().contains("[DONE]"), figures(s, stream, a));
        assertEquals(1, calls.of(s), figures(s, stream, a));
        assertEquals(2_000, a.used(), "the stream is charged its usage: " + figures(s, stream, a));

        HttpResponse<String> reconnect = eventSource(s, q, "3");
        a = settled(s);
        assertEquals(204, reconnect.statusCode(), figures(s, reconnect, a));
        assertEquals(1, calls.of(s), figures(s, reconnect, a));
        assertEquals(2_000, a.used(), "control: the reconnect at once, answered 204, is released: " + figures(s, reconnect, a));

        otherUsersChat();

        HttpResponse<String> later = eventSource(s, q, "3");
        a = settled(s);
        assertEquals(204, later.statusCode(), figures(s, later, a));
        assertEquals(1, calls.of(s), "no model call for the reconnect: " + figures(s, later, a));
        assertEquals(2_000, a.used(), kind() + ": one model call of 2,000 tokens and two EventSource reconnects answered"
                + " 204 without a model call, the second after " + OTHERS * STREAMS_EACH + " streams of other users, are"
                + " charged " + a.used() + " of " + a.limit() + ": " + figures(s, later, a));
    }
}
