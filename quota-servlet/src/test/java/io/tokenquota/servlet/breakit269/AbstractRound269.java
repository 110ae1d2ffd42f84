package io.tokenquota.servlet.breakit269;

import static io.tokenquota.servlet.testing.EvalRuns.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 269 of issue 11: the release rules round 268 added (a {@code POST} ending in {@code /cancel},
 * {@code /pause}, {@code /resume}... answered with any object; a {@code POST …/realtime/calls/{id}/hangup}
 * answered without usage; an eval run's {@code per_model_usage} charged where read) against model calls an
 * application really makes, and paths a hostile client can choose.
 */
abstract class AbstractRound269 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** The provider's answers per subject and "METHOD path" (OpenAI's API behind a relay). */
    final Map<String, java.util.Deque<String>> answers = new ConcurrentHashMap<>();

    static String subject() {
        return "u269-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("ask", new Ask(), "/ai/ask/*")
                .servlet("stream", new StreamAsk(), "/ai/stream/*")
                .servlet("agent", new Agent(), "/ai/agent/*")
                .servlet("relay", new Relay(), "/ai/v1/*")
                .onStartup(filter::registerByServletName);
    }

    static final String TEXT = "Revenue rose four percent in the quarter while margins held steady. ";

    /**
     * A question answered on a route that takes any path ({@code /ai/ask/*}, the path names the topic): one
     * model call, its answer returned as one JSON object without usage (the app keeps only the text).
     */
    class Ask extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write("{\"topic\":\"" + req.getPathInfo() + "\",\"answer\":\"" + TEXT.repeat(60) + "\"}");
        }
    }

    /** The same, streamed to the page as server-sent events of the model's text (no usage: the app drops it). */
    class StreamAsk extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            for (int i = 0; i < 60; i++) {
                w.write("data: {\"delta\":\"" + TEXT + "\"}\n\n");
                w.flush();
            }
            w.write("data: [DONE]\n\n");
            w.flush();
        }
    }

    /**
     * An Assistants agent with a human in the loop: a run stopped at {@code requires_action} (a refund
     * tool awaiting a person's approval); {@code POST /ai/agent/threads/{t}/runs/{r}/resume} (or
     * {@code /approve}) submits the approved tool output ({@code runs.submitToolOutputsAndPoll}: the model
     * runs again and writes the reply) and returns the assistant's reply, the run's newest
     * {@code thread.message} (its {@code run_id} set), as the page shows it.
     */
    class Agent extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"msg_abc123\",\"object\":\"thread.message\",\"created_at\":1760000000,"
                    + "\"assistant_id\":\"asst_abc123\",\"thread_id\":\"thread_abc123\",\"run_id\":\"run_abc123\","
                    + "\"role\":\"assistant\",\"status\":\"completed\",\"content\":[{\"type\":\"text\",\"text\":{\"value\":\""
                    + TEXT.repeat(60) + "\",\"annotations\":[]}}],\"attachments\":[],\"metadata\":{}}");
        }
    }

    /** OpenAI's API passed on under the protected prefix: answers queued per subject, method and path. */
    class Relay extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            java.util.Deque<String> q = answers.get(req.getHeader("x-user-id") + " " + req.getMethod() + " " + req.getRequestURI());
            String a = q == null ? null : q.size() > 1 ? q.pollFirst() : q.peekFirst();
            if (a == null) {
                resp.sendError(404);
                return;
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(a.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    void answer(String subject, String method, String path, String... jsons) {
        answers.put(subject + " " + method + " " + path, new java.util.concurrent.ConcurrentLinkedDeque<>(java.util.List.of(jsons)));
    }

    long cost(String subject, String method, String path, String body) {
        long before = settled(subject).used();
        HttpRequest.BodyPublisher p = body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body);
        HttpRequest.Builder b = body == null ? TestHttp.requestAs(container.uri(path), subject)
                : TestHttp.requestAs(container.uri(path), subject, "Content-Type", "application/json");
        HttpResponse<String> r = TestHttp.send(b.method(method, p).build());
        assertEquals(200, r.statusCode(), method + " " + path + ": " + r.body());
        return settled(subject).used() - before;
    }

    static final String QUESTION = "{\"question\":\"Summarise the quarter's results for the board in two pages.\"}";

    /** Control: the question asked at a topic's path is charged (its estimate: the app reports no usage). */
    @Test
    void aQuestionAtATopicPathIsCharged() {
        String s = subject();
        long used = cost(s, "POST", "/ai/ask/finance/quarterly", QUESTION);
        assertTrue(calls.of(s) == 1 && used > 0, "model calls " + calls.of(s) + ", charged " + used + ": " + ledger(s));
    }

    /**
     * Attack: the same question at {@code POST /ai/ask/realtime/calls/x/hangup}, a path the client chooses on
     * a route that takes any (round 141's {@code /ask/*}). The app calls the model and answers
     * {@code {"topic": …, "answer": …}}, as at any other path. The rule for a Realtime call hung up releases
     * any answer without usage at that path, whatever it is. Expected: charged more than 0, as the control.
     */
    @Test
    void aQuestionAtAHangUpPathIsCharged() {
        StringBuilder seen = new StringBuilder();
        boolean all = true;
        for (String end : java.util.List.of("hangup", "reject", "refer")) {
            String s = subject();
            long used = cost(s, "POST", "/ai/ask/realtime/calls/x/" + end, QUESTION);
            all &= calls.of(s) == 1 && used > 0;
            seen.append("POST /ai/ask/realtime/calls/x/").append(end).append(": model calls ").append(calls.of(s))
                    .append(", charged ").append(used).append(' ').append(ledger(s)).append("; ");
        }
        assertTrue(all, seen + "expected each charged more than 0");
    }

    /** Attack: the same on the streamed route ({@code text/event-stream} of the model's text, no usage). */
    @Test
    void aStreamedAnswerAtAHangUpPathIsCharged() {
        String s = subject();
        long control = cost(s, "POST", "/ai/stream/finance", QUESTION);
        String t = subject();
        long used = cost(t, "POST", "/ai/stream/realtime/calls/x/hangup", QUESTION);
        assertTrue(control > 0, "control: charged " + control + ": " + ledger(s));
        assertTrue(calls.of(t) == 1 && used > 0, "a streamed answer at …/realtime/calls/x/hangup: model calls " + calls.of(t)
                + ", charged " + used + " (the same at /ai/stream/finance: " + control + "): " + ledger(t));
    }

    /** Control: the agent's reply after the person approved, at {@code …/approve}, is charged (round 172). */
    @Test
    void anApprovedRunsReplyIsCharged() {
        String s = subject();
        long used = cost(s, "POST", "/ai/agent/threads/thread_abc123/runs/run_abc123/approve", "{\"approved\":true}");
        assertTrue(calls.of(s) == 1 && used > 0, "model calls " + calls.of(s) + ", charged " + used + ": " + ledger(s));
    }

    /**
     * Attack (an honest application): the same human-in-the-loop endpoint named {@code …/resume} (the run
     * resumes after the approval; LangGraph, Mastra and the Agents SDK all call this "resume"). The model
     * ran and wrote the reply ({@code thread.message} with its {@code run_id}, round 172: the model's). The
     * rule for a job paused or resumed releases any object answered at a path ending {@code /resume}.
     * Expected: charged more than 0, as {@code /approve}.
     */
    @Test
    void aResumedRunsReplyIsCharged() {
        StringBuilder seen = new StringBuilder();
        boolean all = true;
        for (String end : java.util.List.of("resume", "pause", "stop", "cancel")) {
            String s = subject();
            long used = cost(s, "POST", "/ai/agent/threads/thread_abc123/runs/run_abc123/" + end, "{\"approved\":true}");
            all &= calls.of(s) == 1 && used > 0;
            seen.append("POST …/runs/run_abc123/").append(end).append(": model calls ").append(calls.of(s))
                    .append(", charged ").append(used).append(' ').append(ledger(s)).append("; ");
        }
        assertTrue(all, seen + "expected each charged more than 0 (the model wrote the reply)");
    }


    /**
     * Attack: an eval run over 40 tickets started ({@code POST /v1/evals/{id}/runs}) and followed by the list
     * of the eval's runs ({@code GET /v1/evals/{id}/runs}, the SDKs' {@code evals.runs.list}: a dashboard
     * showing every model's run), never by the run's own URL. The list carries the finished run whole, its
     * {@code per_model_usage} (16,000 tokens) too: its usage is read there. Expected: at least 16,000.
     */
    @Test
    void anEvalRunFollowedByTheListOfRunsIsChargedItsUsage() {
        String s = subject();
        answer(s, "POST", RUNS, evalRun("queued", "null", 0));
        answer(s, "GET", RUNS, list(evalRun("in_progress", "null", 0)), list(evalRun("completed", USED, 40)));
        long total = cost(s, "POST", RUNS, RUN_REQUEST);
        total += cost(s, "GET", RUNS, null);
        total += cost(s, "GET", RUNS, null);
        assertTrue(total >= 16_000, "an eval run whose per_model_usage (read in the list of runs) counts 16,000 tokens was charged "
                + total + ": " + ledger(s));
    }

    /** The list read again, then the run at its own URL: the run's usage is charged once in all. */
    @Test
    void anEvalRunListedTwiceThenReadIsChargedItsUsageOnce() {
        String s = subject();
        answer(s, "POST", RUNS, evalRun("queued", "null", 0));
        answer(s, "GET", RUNS, list(evalRun("completed", USED, 40)));
        answer(s, "GET", RUNS + "/" + RUN, evalRun("completed", USED, 40));
        long total = cost(s, "POST", RUNS, RUN_REQUEST);
        total += cost(s, "GET", RUNS, null);
        long again = cost(s, "GET", RUNS, null) + cost(s, "GET", RUNS + "/" + RUN, null);
        assertEquals(16_000, total, "the run's usage: " + ledger(s));
        assertEquals(0, again, "read again: " + ledger(s));
    }

    /** Control: the same run read at its own URL is charged its usage (round 268). */
    @Test
    void anEvalRunReadAtItsUrlIsChargedItsUsage() {
        String s = subject();
        answer(s, "POST", RUNS, evalRun("queued", "null", 0));
        answer(s, "GET", RUNS + "/" + RUN, evalRun("completed", USED, 40));
        long total = cost(s, "POST", RUNS, RUN_REQUEST);
        total += cost(s, "GET", RUNS + "/" + RUN, null);
        assertTrue(total >= 16_000, "charged " + total + ": " + ledger(s));
    }
}
