package io.tokenquota.servlet.breakit8;

import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/** Round 8 endpoint: "calls the model" and relays a canned upstream answer registered under ?k=. */
public final class Breakit8ModelServlet extends HttpServlet {
    record Answer(int status, String contentType, List<String> chunks, long sleepMs) {}

    static final Map<String, Answer> ANSWERS = new ConcurrentHashMap<>();
    static final AtomicInteger modelCalls = new AtomicInteger();

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        Answer a = ANSWERS.get(String.valueOf(req.getParameter("k")));
        if (a == null) {
            resp.sendError(404);
            return;
        }
        modelCalls.incrementAndGet();
        if (a.sleepMs() > 0) {
            try {
                Thread.sleep(a.sleepMs());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        resp.setStatus(a.status());
        if (a.contentType() != null) {
            resp.setContentType(a.contentType());
        }
        ServletOutputStream out = resp.getOutputStream();
        for (String c : a.chunks()) {
            out.write(c.getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }
}
