package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/**
 * A page that answers every GET with an error status and calls no model: an article store where every
 * article asked for is missing (404), retired pages (410), private pages (403). The container then
 * dispatches to the error page mapped for that status.
 */
public final class ErrorStatus extends HttpServlet {
    private final int status;

    public ErrorStatus(int status) {
        this.status = status;
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.sendError(status);
    }
}
