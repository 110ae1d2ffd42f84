package io.tokenquota.servlet.testing;

import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;

/**
 * The rig of the rounds whose included fragment starts an async cycle that outlives its include (rounds 478 and
 * 485): the page signals, per subject, once its include returned, and the fragment's worker waits for that signal,
 * as a model call slower than the page's rendering does. The v1 chat endpoint such a worker answers for reports
 * {@link #FRAGMENT} and writes OpenAI's chat completion with that usage; a v2 shim includes v1 as it is.
 */
public final class LateIncludes {
    /** The v1 model's answer: 1,000 tokens in, 3,000 out. */
    public static final long PROMPT = 1_000;
    public static final long COMPLETION = 3_000;
    /** What v1 reports through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}: its one call, 4,000. */
    public static final long FRAGMENT = PROMPT + COMPLETION;

    /** Per subject: counted down by the page once its include has returned (a late fragment's worker waits). */
    private final Map<String, CountDownLatch> returned = new ConcurrentHashMap<>();

    /** A servlet body, written as a lambda: the rounds' pages and shims differ only in it. */
    public interface Handler {
        void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException;
    }

    /** What a worker does; an interrupt ends it quietly, a failed write fails it. */
    public interface Work {
        void run() throws IOException, InterruptedException;
    }

    /** The latch {@code subject}'s page counts down once its include returned. */
    public CountDownLatch returned(String subject) {
        return returned.computeIfAbsent(subject, k -> new CountDownLatch(1));
    }

    /**
     * Includes {@code path}, then signals that the include returned (also when it threw, so that no worker waits
     * out its 10 seconds on a failed page).
     */
    public void include(HttpServletRequest req, HttpServletResponse resp, String path)
            throws IOException, ServletException {
        try {
            req.getRequestDispatcher(path).include(req, resp);
        } finally {
            returned(req.getHeader("x-user-id")).countDown();
        }
    }

    /**
     * The v2 chat endpoint: a shim that includes {@code v1}'s answer as it is, calling no model itself. A pass that
     * finds v1's answer in {@code answerAttribute} (a dispatch back, as Spring's DeferredResult does) writes it;
     * {@code null}: the shim is never dispatched back.
     */
    public HttpServlet shim(String v1, String answerAttribute) {
        return servlet((req, resp) -> {
            resp.setContentType("application/json");
            if (answerAttribute != null && req.getAttribute(answerAttribute) instanceof String answer) {
                write(resp, answer);
                return;
            }
            include(req, resp, v1);
        });
    }

    /** A servlet whose {@code service} is {@code handler}. */
    public static HttpServlet servlet(Handler handler) {
        return new HttpServlet() {
            @Override
            protected void service(HttpServletRequest req, HttpServletResponse resp)
                    throws IOException, ServletException {
                handler.service(req, resp);
            }
        };
    }

    /** Starts {@code work} on a daemon thread named {@code name} (a hung worker never keeps the JVM up). */
    public static void startWorker(String name, Work work) {
        Thread worker = new Thread(() -> {
            try {
                work.run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }, name);
        worker.setDaemon(true);
        worker.start();
    }

    /**
     * v1's answer: OpenAI's chat completion object {@code id} with its usage, {@link #PROMPT} in and
     * {@link #COMPLETION} out (platform.openai.com/docs/api-reference/chat/object).
     */
    public static String completion(String id) {
        return ChatCompletions.completion(id, "gpt-4o-2024-08-06", "Three meetings, two decisions.", PROMPT,
                COMPLETION);
    }

    /** Writes {@code answer} through the response's stream and flushes it, as a worker answering late does. */
    public static void write(HttpServletResponse resp, String answer) throws IOException {
        resp.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        resp.getOutputStream().flush();
    }
}
