package io.tokenquota.servlet.breakit11;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;

/** Model endpoints for round 11. */
final class Round11ModelServlet extends HttpServlet {
    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String path = req.getRequestURI();
        if (path.endsWith("/partial")) {
            // reads only part of the body, then answers with usage
            req.getInputStream().readNBytes(10);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"p\",\"choices\":[],\"usage\":{\"total_tokens\":777}}");
            return;
        }
        req.getInputStream().readAllBytes();
        if (path.endsWith("/sse")) {
            int n = Integer.parseInt(req.getParameter("n"));
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            w.write("data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n");
            w.flush();
            for (int i = 0; i < n; i++) {
                w.write("data: {}\n\n");
                if (i % 100 == 0) {
                    w.flush();
                }
            }
            w.write("data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":4000,\"completion_tokens\":321,\"total_tokens\":4321}}\n\n");
            w.write("data: [DONE]\n\n");
            w.flush();
            return;
        }
        resp.setContentType("application/json");
        resp.getWriter().write("{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"ok\"}}],\"usage\":{\"total_tokens\":555}}");
    }
}
