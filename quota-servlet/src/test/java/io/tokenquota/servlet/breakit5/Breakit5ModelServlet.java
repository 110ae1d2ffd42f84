package io.tokenquota.servlet.breakit5;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Model endpoints for round 5. "Model calls" are counted where the endpoint would have reached the
 * model; endpoints that never reach it say so.
 */
public final class Breakit5ModelServlet extends HttpServlet {
    static final AtomicInteger modelCalls = new AtomicInteger();
    static volatile boolean lastWriteFailed;

    static final String USAGE_50K = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"a long story\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":49980,\"total_tokens\":50000}}";

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().readAllBytes();
        String p = req.getPathInfo() == null ? "" : req.getPathInfo();
        switch (p) {
            case "/reset-buffer" -> {
                // a template starts rendering a "working..." page, then the controller decides on JSON
                modelCalls.incrementAndGet();
                resp.setContentType("text/html");
                resp.getWriter().write("<p>working...</p>");
                resp.resetBuffer();
                resp.setContentType("application/json");
                resp.getWriter().write(USAGE_50K);
            }
            case "/reset" -> {
                modelCalls.incrementAndGet();
                resp.setContentType("text/html");
                resp.getWriter().write("<p>working...</p>");
                resp.reset();
                resp.setContentType("application/json");
                resp.getWriter().write(USAGE_50K);
            }
            case "/late-type" -> {
                // bytes copied from the model's answer first, Content-Type set before commit (still buffered)
                modelCalls.incrementAndGet();
                OutputStream out = resp.getOutputStream();
                out.write(USAGE_50K.getBytes(StandardCharsets.UTF_8));
                resp.setContentType("application/json");
            }
            case "/prg302" -> {
                // classic post/redirect/get of the Servlet API (and Spring's "redirect:" view): 302
                modelCalls.incrementAndGet();
                // what sendRedirect does (the harness's Tomcat lacks the 6.1 one-argument default)
                resp.setStatus(302);
                resp.setHeader("Location", "/result/42");
            }
            case "/upstream429" -> {
                // the upstream refused (rate limited, model not called) after retries with back-off;
                // the proxy relays the upstream's error body chunk by chunk, flushing as it goes
                sleep(800);
                resp.setStatus(429);
                resp.setContentType("application/json");
                OutputStream out = resp.getOutputStream();
                byte[] chunk = ("{\"error\":{\"type\":\"rate_limit_exceeded\",\"message\":\"" + "x".repeat(8000) + "\"}}\n")
                        .getBytes(StandardCharsets.UTF_8);
                lastWriteFailed = false;
                try {
                    for (int i = 0; i < 400; i++) {
                        out.write(chunk);
                        out.flush();
                    }
                } catch (IOException e) {
                    lastWriteFailed = true;
                }
            }
            case "/async-connect-refused" -> {
                if (req.getDispatcherType() == DispatcherType.ASYNC) {
                    // the upstream call failed to connect: the model was never reached
                    throw new java.net.ConnectException("Connection refused: upstream model API");
                }
                AsyncContext ctx = req.startAsync(req, resp);
                ctx.setTimeout(10_000);
                new Thread(() -> {
                    sleep(50);
                    ctx.dispatch();
                }).start();
            }
            default -> resp.sendError(404);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
