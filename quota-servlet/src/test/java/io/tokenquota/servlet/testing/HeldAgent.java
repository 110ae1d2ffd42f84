package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * An agent run (tool calls, a reasoning model, a stream the client reads slowly) that takes as long as
 * the test wants: it counts the model call, tells the test it has started (the subject's latch in
 * {@code started}, where there is one) and, the subject's first call only, waits until the test opens
 * the subject's latch in {@code go} (at the most {@code longest}); then it answers its JSON. A later call
 * answers at once.
 */
public class HeldAgent extends HttpServlet {
    private final ModelCalls calls;
    private final Map<String, CountDownLatch> started;
    private final Map<String, CountDownLatch> go;
    private final Duration longest;
    private final String answer;

    public HeldAgent(ModelCalls calls, Map<String, CountDownLatch> started, Map<String, CountDownLatch> go,
            Duration longest, String answer) {
        this.calls = calls;
        this.started = started;
        this.go = go;
        this.longest = longest;
        this.answer = answer;
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        String user = req.getHeader("x-user-id");
        calls.count(user);
        CountDownLatch run = started.get(user);
        CountDownLatch let = go.get(user);
        if (run != null) {
            run.countDown();
        }
        // only the user's first call is the long one; a later one answers at once
        if (let != null && calls.of(user) == 1) {
            try {
                let.await(longest.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        resp.setContentType("application/json");
        resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
    }
}
