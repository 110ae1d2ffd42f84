package io.tokenquota.servlet.breakit6;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A catch-all endpoint ("/*") that routes like a framework does: on the request URI (path
 * parameters dropped, decoded, "//" merged, dot segments resolved), and parses JSON from the raw
 * bytes with Jackson (which detects UTF-8/16/32 by itself, ignoring the label, as Spring's Jackson
 * converter does for a Unicode charset). A route under /ai/ "calls the model" and answers 200 text
 * without usage (rule 7: the estimate is charged).
 */
public final class Breakit6ModelServlet extends HttpServlet {
    static final AtomicInteger modelCalls = new AtomicInteger();
    static volatile int lastPromptChars;
    static final ObjectMapper MAPPER = new ObjectMapper();

    static String route(String uri) {
        Deque<String> out = new ArrayDeque<>();
        for (String seg : uri.split("/")) {
            int semi = seg.indexOf(';');
            if (semi >= 0) {
                seg = seg.substring(0, semi);
            }
            seg = URLDecoder.decode(seg.replace("+", "%2B"), StandardCharsets.UTF_8);
            if (seg.isEmpty() || seg.equals(".")) {
                continue;
            }
            if (seg.equals("..")) {
                out.pollLast();
                continue;
            }
            out.addLast(seg);
        }
        return "/" + String.join("/", out);
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        byte[] body = req.getInputStream().readAllBytes();
        String route = route(req.getRequestURI());
        if (!route.startsWith("/ai/")) {
            resp.setStatus(404);
            return;
        }
        int chars = 0;
        if (body.length > 0) {
            try {
                JsonNode n = MAPPER.readTree(body);
                for (JsonNode m : n.path("messages")) {
                    chars += m.path("content").asText().length();
                }
            } catch (IOException e) {
                resp.sendError(400);
                return;
            }
        }
        lastPromptChars = chars;
        modelCalls.incrementAndGet();
        resp.setContentType("text/plain;charset=UTF-8");
        resp.getWriter().write("the model answered (route " + route + ")");
    }
}
