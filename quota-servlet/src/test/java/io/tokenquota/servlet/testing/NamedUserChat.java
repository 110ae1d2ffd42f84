package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/**
 * The chat completions endpoint of the rounds on the trusted-header resolver (rounds 423 and 484): it serves whoever
 * {@code x-user-id} names, as the application behind the filter does, and answers OpenAI's chat completion object
 * (API reference, "The chat completion object") with usage {@link #USAGE}, 1,000 in and 2,000 out. It counts its
 * calls per user named, so a test can tell a victim served from one refused before the model.
 */
public final class NamedUserChat extends HttpServlet {
    public static final long USAGE = 3_000;

    private final ModelCalls calls = new ModelCalls();
    private final String id;

    /** {@code id}: the completion's id ("chatcmpl-484"). */
    public NamedUserChat(String id) {
        this.id = id;
    }

    /** The model calls made as {@code user}. */
    public int callsOf(String user) {
        return calls.of(user);
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        calls.count(req.getHeader("x-user-id"));
        resp.setContentType("application/json");
        resp.getWriter().write(ChatCompletions.completion(id, "gpt-4o", "Hello.", 1_000, 2_000));
    }
}
