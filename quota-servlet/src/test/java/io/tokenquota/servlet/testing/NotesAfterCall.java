package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.function.ToIntFunction;

/**
 * A plain servlet at {@code /ai/notes/*}: {@code GET /ai/notes/} lists the notes; {@code POST /ai/notes} (path
 * info {@code null}) and {@code POST /ai/notes/drafts} have the model summarise the note (counted under
 * {@code x-user-id}), then redirect to the list with the status {@code status} picks for the request.
 */
public final class NotesAfterCall extends HttpServlet {
    private final ModelCalls calls;
    private final ToIntFunction<HttpServletRequest> status;

    public NotesAfterCall(ModelCalls calls, ToIntFunction<HttpServletRequest> status) {
        this.calls = calls;
        this.status = status;
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setContentType("application/json");
        resp.getWriter().write("[]");
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        String info = req.getPathInfo();
        if (info != null && !"/drafts".equals(info)) {
            resp.sendError(404);
            return;
        }
        calls.count(req.getHeader("x-user-id")); // the model summarises the note
        // set by hand, not sendRedirect: the test classpath's servlet API and Tomcat's disagree on its overloads
        resp.setStatus(status.applyAsInt(req));
        resp.setHeader("Location", req.getContextPath() + "/ai/notes/");
    }
}
