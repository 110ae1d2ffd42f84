package io.tokenquota.servlet.breakit10;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/** A model endpoint that reads the whole body and answers without usage (the filter must charge its estimate). */
final class Round10ModelServlet extends HttpServlet {
    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        String q = req.getQueryString() == null ? "" : req.getQueryString();
        resp.setContentType("application/json");
        resp.setStatus(q.contains("status=500") ? 500 : 200);
        resp.getWriter().write("{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"ok\"}}]}");
    }
}
