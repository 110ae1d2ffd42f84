package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the mock models of a round read and wrote, per subject (the {@code x-user-id} header of the
 * call), so that a test compares it with what the ledger charged; and the answers' filler. Rounds give
 * their subjects their own prefix, so one map serves them all. Thread-safe.
 */
public final class ModelTokens {
    private static final Map<String, AtomicLong> BY_SUBJECT = new ConcurrentHashMap<>();

    private ModelTokens() {
    }

    /** The model behind {@code req} read or wrote {@code tokens} more. */
    public static void modelTokens(HttpServletRequest req, long tokens) {
        BY_SUBJECT.computeIfAbsent(req.getHeader("x-user-id"), k -> new AtomicLong()).addAndGet(tokens);
    }

    /** The tokens the subject's model calls read and wrote so far. */
    public static long modelTokens(String subject) {
        AtomicLong n = BY_SUBJECT.get(subject);
        return n == null ? 0 : n.get();
    }

    /** {@code n} words of filler, each about one token. */
    public static String words(long n) {
        return "word ".repeat((int) n);
    }

    /** Writes {@code text} as UTF-8 to the response's output stream. */
    public static void write(HttpServletResponse resp, String text) throws IOException {
        resp.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
    }
}
