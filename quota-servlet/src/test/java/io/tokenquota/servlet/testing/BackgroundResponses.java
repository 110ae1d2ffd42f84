package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A relay of a Responses API in background mode ({@code "background": true}), as OpenAI runs a long o3-pro
 * call: the provider's events and objects passed on as they come. A streamed creation shows the job's
 * progress and a client whose connection drops resumes it with {@code GET …/responses/{id}?stream=true&
 * starting_after=N}; a creation without a stream is answered queued at once and polled by id. The job
 * runs to its end at the provider whether or not the relay's client reads, and the provider stores the
 * finished Response under its id (overwriting one stored under an id it is given again, as vLLM does).
 *
 * <p>The Response's id is the request's {@code request_id} when it names one (vLLM), else the one the
 * round chooses for the user. Tests hold the relay at two points per user: {@link #upstream} (the model
 * thinks after sequence number 3: the relay waits for the provider's next event) and {@link #saved}
 * (after the last event the relay saves the conversation before it returns). Map it to
 * {@code /ai/v1/responses} and {@code /ai/v1/responses/*}.
 */
public final class BackgroundResponses extends HttpServlet {
    private static final Pattern REQUEST_ID = Pattern.compile("\"request_id\"\\s*:\\s*\"([^\"]+)\"");

    /** The model runs per user (its {@code x-user-id}). */
    public final ModelCalls calls = new ModelCalls();
    /** The provider's next event for the creating stream of a user: the test opens it. */
    public final Map<String, CountDownLatch> upstream = new ConcurrentHashMap<>();
    /** The relay's work after the stream's last event (saving the conversation): the test opens it. */
    public final Map<String, CountDownLatch> saved = new ConcurrentHashMap<>();
    /** What the creating relay saw of its client (for failure messages). */
    public final Map<String, String> seen = new ConcurrentHashMap<>();

    private final Map<String, AtomicInteger> turns = new ConcurrentHashMap<>();
    private final Map<String, String> stored = new ConcurrentHashMap<>();
    private final Function<String, String> idOf;
    private final BiFunction<String, Integer, String> completed;

    /**
     * @param idOf      the Response id of a user's creation that names no {@code request_id}
     * @param completed the finished Response of id and the user's model run number (1, 2, …)
     */
    public BackgroundResponses(Function<String, String> idOf, BiFunction<String, Integer, String> completed) {
        this.idOf = idOf;
        this.completed = completed;
    }

    /** A Response of o3-pro in background mode, queued (no output, no usage yet). */
    public static String queued(String rid) {
        return ResponsesApi.o3Pro(rid, "queued", true, 2000, "null", null);
    }

    /** A usage object of the Responses API: {@code input} tokens in, 6,000 out (5,200 of them reasoning). */
    public static String usage(long input) {
        return "{\"input_tokens\":" + input + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                + "\"output_tokens\":6000,\"output_tokens_details\":{\"reasoning_tokens\":5200},\"total_tokens\":"
                + (input + 6000) + "}";
    }

    /** The finished Response of o3-pro in background mode with {@code usage}. */
    public static String completed(String rid, String usage) {
        return ResponsesApi.o3Pro(rid, "completed", true, 2000, usage, ResponsesApi.message("msg_" + rid,
                "Clause 4.2: thirty days. Clause 7.1: ninety days."));
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String user = req.getHeader("x-user-id");
        Matcher m = REQUEST_ID.matcher(body);
        String rid = m.find() ? m.group(1) : idOf.apply(user);
        // the provider's call: the model runs in the background at the provider from here on
        calls.count(user);
        int n = turns.computeIfAbsent(user, u -> new AtomicInteger()).incrementAndGet();
        String done = completed.apply(rid, n);
        stored.put(rid, done);
        if (!body.contains("\"stream\":true")) {
            // background mode without a stream: answered at once, queued; the client polls it by id
            write(resp, queued(rid));
            return;
        }
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        try {
            ResponsesApi.event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,"
                    + "\"response\":" + queued(rid) + "}");
            ResponsesApi.event(out, "response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,"
                    + "\"response\":" + queued(rid).replace("\"queued\"", "\"in_progress\"") + "}");
            deltas(out, rid, 2, 3);
            CountDownLatch next = upstream.get(user);
            if (next != null) {
                // the model thinks: the relay waits for the provider's next event
                await(next);
            }
            deltas(out, rid, 4, 9);
            completedEvent(out, done);
            seen.put(user, "stream written to its end");
        } catch (IOException gone) {
            // the client went away: the relay stops relaying (the background job goes on at the provider)
            seen.put(user, "client gone: " + gone);
            return;
        }
        CountDownLatch saving = saved.get(user);
        if (saving != null) {
            // after the last event: the relay saves the conversation before it returns
            await(saving);
        }
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String done = stored.get(req.getPathInfo().substring(1));
        if (done == null) {
            resp.sendError(404);
            return;
        }
        if ("true".equals(req.getParameter("stream"))) {
            // the provider's stream resumed after starting_after: the events the client missed
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            deltas(out, req.getPathInfo().substring(1), Integer.parseInt(req.getParameter("starting_after")) + 1, 9);
            completedEvent(out, done);
            return;
        }
        write(resp, done);
    }

    private static void write(HttpServletResponse resp, String json) throws IOException {
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        resp.setContentType("application/json");
        resp.setContentLength(bytes.length);
        resp.getOutputStream().write(bytes);
    }

    private static void deltas(OutputStream out, String rid, int from, int to) throws IOException {
        for (int seq = from; seq <= to; seq++) {
            ResponsesApi.event(out, "response.output_text.delta", "{\"type\":\"response.output_text.delta\","
                    + "\"sequence_number\":" + seq + ",\"item_id\":\"msg_" + rid + "\",\"output_index\":1,"
                    + "\"content_index\":0,\"delta\":\"Clause " + seq + " reviewed. \",\"logprobs\":[]}");
        }
    }

    private static void completedEvent(OutputStream out, String completed) throws IOException {
        ResponsesApi.event(out, "response.completed", "{\"type\":\"response.completed\",\"sequence_number\":10,"
                + "\"response\":" + completed + "}");
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
