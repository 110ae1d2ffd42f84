package io.tokenquota.servlet.testing;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.function.Consumer;

/**
 * An agent endpoint that starts async and returns at once: it counts the subject's model call, parks
 * the request's {@link AsyncContext} (no container timeout) in {@code pending} under the subject and
 * counts down the subject's latch in {@code started}; the test writes the answer and completes it
 * later, from another thread.
 */
public class AsyncAgent extends HttpServlet {
    private final Consumer<String> countCall;
    private final Map<String, AsyncContext> pending;
    private final Map<String, CountDownLatch> started;

    public AsyncAgent(Consumer<String> countCall, Map<String, AsyncContext> pending, Map<String, CountDownLatch> started) {
        this.countCall = countCall;
        this.pending = pending;
        this.started = started;
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        String s = req.getHeader("x-user-id");
        countCall.accept(s);
        AsyncContext ctx = req.startAsync();
        ctx.setTimeout(0);
        pending.put(s, ctx);
        started.get(s).countDown();
    }
}
