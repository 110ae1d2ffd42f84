package io.tokenquota.servlet.breakit4;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/** A legacy alias (e.g. Spring MVC's {@code "forward:/ai/v1/chat/json"}) that forwards into the AI endpoint. */
public class AliasServlet extends HttpServlet {
    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
        req.getRequestDispatcher("/ai/v1/chat/json").forward(req, resp);
    }
}
