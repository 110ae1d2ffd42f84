package io.tokenquota.servlet.breakit173;

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
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 173 of issue 11: an Assistants run streamed to a browser. The application's chat page opens an
 * {@code EventSource} on {@code GET /ai/assistant/stream?q=…}; the handler creates a run with
 * {@code stream: true} (the model is called) and relays to the page the events it shows: the message
 * deltas and the run's steps. The last event it relays is {@code thread.run.step.completed}, whose data
 * is the step object ({@code "object": "thread.run.step"}) with the step's {@code usage}. The model ran
 * and its usage is in the answer: the call must be charged that usage.
 */
abstract class AbstractRound173 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u173-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String STEP = "{\"id\":\"step_abc123\",\"object\":\"thread.run.step\",\"created_at\":1735689602,"
            + "\"run_id\":\"run_abc123\",\"assistant_id\":\"asst_abc123\",\"thread_id\":\"thread_abc123\","
            + "\"type\":\"message_creation\",\"status\":\"%s\",\"step_details\":{\"type\":\"message_creation\","
            + "\"message_creation\":{\"message_id\":\"msg_abc123\"}},\"usage\":%s}";

    static final String USAGE = "{\"prompt_tokens\":900,\"completion_tokens\":4000,\"total_tokens\":4900}";

    static void event(PrintWriter w, String name, String data) {
        w.write("event: " + name + "\ndata: " + data + "\n\n");
        w.flush();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("stream", new Stream(), "/ai/assistant/stream")
                .servlet("relay", new Relay(), "/ai/v1/*")
                .onStartup(filter::registerByServletName);
    }

    /** Runs the assistant (stream: true) and relays the message deltas and the run's steps to the page. */
    class Stream extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            relay(req, resp);
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            relay(req, resp);
        }

        private void relay(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            event(w, "thread.run.step.created", String.format(STEP, "in_progress", "null"));
            for (int i = 0; i < 20; i++) {
                event(w, "thread.message.delta", "{\"id\":\"msg_abc123\",\"object\":\"thread.message.delta\",\"delta\":"
                        + "{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"Part " + i + " of the answer. \"}}]}}");
            }
            event(w, "thread.run.step.completed", String.format(STEP, "completed", USAGE));
        }
    }

    /**
     * The attack: open the page's event stream ({@code GET}). The run's step reports 4,900 tokens; the
     * call must be charged at least that, never 0.
     */
    @Test
    void aRunStreamedOnAGetEndingWithItsStepIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/assistant/stream?q=termination+clauses"), s)
                .GET().build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the assistant ran once");
        long used = settled(s).used();
        assertTrue(used >= 4_900, "a run's stream carrying 4,900 tokens of usage is charged it, charged " + used + ": " + ledger(s));
    }

    /** Control: the same relay on a {@code POST} is charged the step's usage. */
    @Test
    void theSameRunStreamedOnAPostIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/assistant/stream"), s, "{\"q\":\"termination clauses\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the assistant ran once");
        long used = settled(s).used();
        assertTrue(used >= 4_900, "charged " + used + ": " + ledger(s));
    }

    final CountDownLatch hungUp = new CountDownLatch(1);

    static String run(String status) {
        return "{\"id\":\"run_abc123\",\"object\":\"thread.run\",\"created_at\":1735689602,\"assistant_id\":\"asst_abc123\","
                + "\"thread_id\":\"thread_abc123\",\"status\":\"" + status + "\",\"model\":\"gpt-4o\",\"usage\":null}";
    }

    static final String WORDS = "The supplier may terminate with thirty days' notice for non-payment of any invoice. ";

    /**
     * A relay of OpenAI's API, passed on as the provider streams it: creating a run on a thread (it stops
     * at {@code requires_action}, asking for the weather tool) and submitting the tool's output, after
     * which the model writes the answer. The relay stops relaying when the browser has gone.
     */
    class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            String path = req.getPathInfo();
            boolean relayOnly = path.endsWith("/relay");
            if (path.endsWith("/runs")) {
                event(w, "thread.run.created", run("queued"));
                event(w, "thread.run.in_progress", run("in_progress"));
                event(w, "thread.run.requires_action", run("requires_action"));
                w.write("event: done\ndata: [DONE]\n\n");
                w.flush();
                return;
            }
            if (!relayOnly) {
                event(w, "thread.run.queued", run("queued"));
                event(w, "thread.run.in_progress", run("in_progress"));
            }
            for (int i = 0; i < 300; i++) {
                event(w, "thread.message.delta", "{\"id\":\"msg_abc123\",\"object\":\"thread.message.delta\",\"delta\":"
                        + "{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"" + WORDS + "\"}}]}}");
            }
            w.write("event: note\ndata: {\"mark\":\"END-OF-TEXT\"}\n\n");
            w.flush();
            try {
                hungUp.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            // the browser has gone: the relay stops (the pings fail)
            String ping = ": ping " + "x".repeat(4000) + "\n\n";
            for (int i = 0; i < 2000 && !w.checkError(); i++) {
                w.write(ping);
                w.flush();
            }
        }
    }

    static final String SUBMIT = "{\"tool_outputs\":[{\"tool_call_id\":\"call_abc123\",\"output\":\"22C, sunny\"}],\"stream\":true}";

    /**
     * The attack: create a run (streamed; it stops asking for a tool's output), then submit the tool's
     * output with {@code stream: true}: the model writes its whole answer (300 deltas, about 6,000
     * tokens of text) within this request. The client reads all the text and hangs up before the run's
     * final event, the only one with usage, and never reads the run again. The model ran for the
     * submit: a stream cut before its usage costs at least its estimate (as the same text on a plain
     * relay does), not 0.
     */
    @Test
    void aRunsAnswerStreamedAfterSubmittingToolOutputsIsCharged() throws Exception {
        String s = subject();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/v1/threads/thread_abc123/runs"), s,
                "{\"assistant_id\":\"asst_abc123\",\"stream\":true}");
        assertEquals(200, created.statusCode(), created.body());
        long afterCreate = settled(s).used();
        String read = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/threads/thread_abc123/runs/run_abc123/submit_tool_outputs",
                s, SUBMIT, "END-OF-TEXT");
        hungUp.countDown();
        assertTrue(read.contains("END-OF-TEXT"), read);
        assertEquals(2, calls.of(s));
        long used = settled(s).used();
        assertTrue(used - afterCreate >= 1_000, "creation charged " + afterCreate + ", the submit's streamed answer (~6,000 tokens of"
                + " text) charged " + (used - afterCreate) + ": " + ledger(s));
    }

    /** Control: the same text relayed without the run's events, cut the same way, is charged (its estimate). */
    @Test
    void theSameTextCutOnAPlainRelayIsCharged() throws Exception {
        String s = subject();
        String read = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/relay", s, SUBMIT, "END-OF-TEXT");
        hungUp.countDown();
        assertTrue(read.contains("END-OF-TEXT"), read);
        long used = settled(s).used();
        assertTrue(used >= 1_000, "charged " + used + ": " + ledger(s));
    }
}
