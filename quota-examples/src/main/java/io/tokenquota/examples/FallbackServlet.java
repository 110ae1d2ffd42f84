package io.tokenquota.examples;

import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;

/**
 * Everything not mapped elsewhere: {@code /} redirects to the dashboard, the rest is a 404 problem.
 * A 404 under a protected AI prefix tells the quota filter that nothing was used. Thread-safe.
 */
final class FallbackServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String path = req.getRequestURI().substring(req.getContextPath().length());
        if (("/".equals(path) || path.isEmpty()) && "GET".equals(req.getMethod())) {
            resp.sendRedirect(DemoApp.DASHBOARD_PATH);
            return;
        }
        resp.setStatus(404);
        req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
        resp.setContentType("application/problem+json");
        resp.setCharacterEncoding("UTF-8");
        resp.getWriter().write("{\"type\":\"" + QuotaWiring.PROBLEM_BASE + "not-found\",\"title\":\"Not Found\","
                + "\"status\":404,\"detail\":\"no such endpoint in the demo service\"}");
    }
}
