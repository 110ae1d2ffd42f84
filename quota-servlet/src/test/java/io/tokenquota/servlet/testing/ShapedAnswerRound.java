package io.tokenquota.servlet.testing;

import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * A round whose model, at {@code /ai/{shape}}, answers one long text ({@link #TEXT}, about 4,400 tokens by
 * the default estimator) in the shape the path names and without usage: a whole JSON answer
 * ({@link #body}), or, for the shapes a round streams or cuts ({@link #answered}), whatever that writes.
 * Each {@code POST} is a model call ({@link #calls}); a {@code GET} reads what a round stores ({@link #read}).
 */
public abstract class ShapedAnswerRound extends H2FilterRound {
    /** About 4,400 tokens of prose by the default estimator (28,000 characters). */
    public static final String TEXT = Prose.english(28_000);

    protected final ModelCalls calls = new ModelCalls();

    /** {@code s} as a JSON string. */
    public static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    /** The whole answer in {@code shape}, as JSON. */
    protected abstract String body(String shape);

    /** Writes the answer of a shape that is not a whole JSON answer (a stream, a cut stream); false for the others. */
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        return false;
    }

    /** Answers a read of {@code path} (an application's stored data: no model call); false for 404. */
    protected boolean read(String path, HttpServletResponse resp) throws IOException {
        return false;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("model", new Model(), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    private final class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String shape = req.getPathInfo().substring(1);
            if (answered(shape, resp)) {
                return;
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(body(shape).getBytes(StandardCharsets.UTF_8));
        }

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (!read(req.getPathInfo(), resp)) {
                resp.sendError(404);
            }
        }
    }
}
