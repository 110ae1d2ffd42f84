package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

/**
 * A round on a host's own endpoints as Spring AI's documentation writes them: a handler binds the
 * user's message ({@code @RequestParam("message")}), asks the model for a long story ({@link #ASK}) and
 * writes the model's text ({@link #STORY}) without its usage. The round's clients send the message in
 * the query of a GET or in a form POST, and the round checks the text was charged.
 */
public abstract class StoryRound extends ModelCallRound {
    /** The filter's own estimator, to tell what a text is worth. */
    protected static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** What the model writes when asked for a long story: about 8,400 tokens of English prose. */
    protected static final String STORY = Prose.english(54_000);

    protected static final String ASK = "Write me a very long story about a shipping company, at least 6,000 words.";

    protected StoryRound() {
    }

    /** For a round whose endpoints count in a counter they reach statically (see {@link ModelCallRound#ModelCallRound(ModelCalls)}). */
    protected StoryRound(ModelCalls calls) {
        super(calls);
    }

    /** Reads the user's message as Spring binds {@code @RequestParam("message")}: query string or form body. */
    protected static String message(HttpServletRequest req) throws IOException {
        String m = req.getParameter("message");
        if (m == null) {
            m = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
        return m;
    }

    /** A handler that binds the user's message, makes one model call (counted in {@link #calls}) and writes its answer. */
    protected abstract class ModelEndpoint extends HttpServlet {
        @Override
        protected final void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            message(req);
            calls.count(req.getHeader("x-user-id"));
            answer(req, resp);
        }

        /** Writes the model's answer to {@code req}. */
        protected abstract void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException;
    }

    /** {@code s} asks for the story on a GET to {@code path}, the message in the query, with {@code headers} (name, value, ...). */
    protected HttpResponse<String> get(String path, String s, String... headers) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path + "?message=" + URLEncoder.encode(ASK, StandardCharsets.UTF_8)),
                s, headers).GET().build());
    }

    /** {@code s} asks for the story in a form POSTed to {@code path}, with {@code headers} (name, value, ...). */
    protected HttpResponse<String> postForm(String path, String s, String... headers) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), s, headers)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("message=" + URLEncoder.encode(ASK, StandardCharsets.UTF_8),
                        StandardCharsets.UTF_8)).build());
    }

    /** {@code text}'s tokens as the filter's own estimator counts them, less a tenth for its spread. */
    protected static long written(String text) {
        return TOKENS.estimate(text) * 9 / 10;
    }

    /**
     * {@code r} was answered 200 after one model call of {@code s}, which wrote {@code text} without its
     * usage: {@code s} is charged at least the text ({@link #written}). A failure names {@code what}.
     */
    protected void assertChargedTheText(String s, HttpResponse<String> r, String text, String what) {
        assertEquals(200, r.statusCode(), what);
        assertEquals(1, calls.of(s), what + ": model calls");
        long used = settled(s).used();
        assertTrue(used >= written(text), what + ": the model wrote about " + TOKENS.estimate(text)
                + " tokens (the whole answer went out, no usage in it); charged " + used + " on a " + ALLOWANCE
                + " allowance: " + ledger(s));
    }
}
