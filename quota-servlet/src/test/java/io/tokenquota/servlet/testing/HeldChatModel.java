package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A chat model whose call a test can hold open (a long reasoning call): for a subject the test holds
 * ({@link #hold}), the call waits in the model until the test lets it go ({@link #letGo}), after telling the
 * test it arrived ({@link #awaitArrival}); then, as for every other subject, it answers {@code completion}
 * whole (an OpenAI {@code chat.completion} with its {@code usage}, as the round writes it).
 */
public final class HeldChatModel extends HttpServlet {
    private final Map<String, CountDownLatch> entered = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> release = new ConcurrentHashMap<>();
    private final String completion;

    public HeldChatModel(String completion) {
        this.completion = completion;
    }

    /** Holds the subject's next call in the model. */
    public void hold(String subject) {
        entered.put(subject, new CountDownLatch(1));
        release.put(subject, new CountDownLatch(1));
    }

    /** Whether the subject's held call reached the model within 10 s. */
    public boolean awaitArrival(String subject) throws InterruptedException {
        return entered.get(subject).await(10, TimeUnit.SECONDS);
    }

    /** Lets the subject's held call answer. */
    public void letGo(String subject) {
        release.get(subject).countDown();
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        String s = req.getHeader("x-user-id");
        CountDownLatch in = entered.get(s);
        if (in != null) {
            in.countDown();
            try {
                release.get(s).await(15, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        resp.setContentType("application/json");
        resp.getOutputStream().write(completion.getBytes(StandardCharsets.UTF_8));
    }
}
