package io.tokenquota.servlet.breakit3;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.Part;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * Fake AI endpoints of the third break-it round; the last path segment picks the behaviour. Every one
 * "calls the model" with what it read and answers 200.
 */
final class Breakit3ModelServlet extends HttpServlet {
    static final String USAGE_JSON = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"done\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":45000,\"completion_tokens\":5000,\"total_tokens\":50000}}";
    static final String NO_USAGE_JSON = "{\"id\":\"x\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"done\"}}]}";

    /** How many characters of prompt the last request handed to "the model". */
    static volatile long lastPromptChars;

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String path = req.getPathInfo() == null ? "" : req.getPathInfo();
        String mode = path.substring(path.lastIndexOf('/') + 1);
        switch (mode) {
            case "inflate" -> {
                // an endpoint (or a proxy to one) honouring Content-Encoding: gzip on the request
                InputStream in = req.getInputStream();
                if ("gzip".equalsIgnoreCase(req.getHeader("Content-Encoding"))) {
                    in = new GZIPInputStream(in);
                }
                lastPromptChars = new String(in.readAllBytes(), StandardCharsets.UTF_8).length();
                json(resp, NO_USAGE_JSON);
            }
            case "proxy-gzip" -> {
                // a proxy that forwarded the client's Accept-Encoding upstream and copies the upstream
                // answer (compressed by the provider) through unchanged, headers and all
                req.getInputStream().readAllBytes();
                String ae = req.getHeader("Accept-Encoding");
                resp.setStatus(200);
                resp.setContentType("application/json");
                if (ae != null && ae.contains("gzip")) {
                    ByteArrayOutputStream buf = new ByteArrayOutputStream();
                    try (GZIPOutputStream gz = new GZIPOutputStream(buf)) {
                        gz.write(USAGE_JSON.getBytes(StandardCharsets.UTF_8));
                    }
                    resp.setHeader("Content-Encoding", "gzip");
                    resp.setContentLength(buf.size());
                    try (OutputStream out = resp.getOutputStream()) {
                        buf.writeTo(out);
                    }
                } else {
                    byte[] b = USAGE_JSON.getBytes(StandardCharsets.UTF_8);
                    resp.setContentLength(b.length);
                    resp.getOutputStream().write(b);
                }
            }
            case "multipart-file" -> {
                long chars = 0;
                try {
                    for (Part p : req.getParts()) {
                        chars += new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).length();
                    }
                } catch (jakarta.servlet.ServletException e) {
                    resp.sendError(400);
                    return;
                }
                lastPromptChars = chars;
                json(resp, NO_USAGE_JSON);
            }
            case "query" -> {
                String prompt = req.getParameter("prompt");
                lastPromptChars = prompt == null ? 0 : prompt.length();
                json(resp, NO_USAGE_JSON);
            }
            case "read" -> {
                lastPromptChars = req.getInputStream().readAllBytes().length;
                json(resp, USAGE_JSON);
            }
            default -> resp.sendError(404);
        }
    }

    private static void json(HttpServletResponse resp, String body) throws IOException {
        resp.setStatus(200);
        resp.setContentType("application/json");
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        resp.setContentLength(b.length);
        resp.getOutputStream().write(b);
    }
}
