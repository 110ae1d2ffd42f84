package io.tokenquota.servlet.breakit;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** Fake provider endpoints for the break-it tests, one behaviour per last path segment. */
final class BreakItModelServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    /** Model calls made per X-Test-Id. */
    static final ConcurrentHashMap<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();

    /** Gemini streamGenerateContent without alt=sse: a JSON array of chunks; the last chunk's usage is 8,010. */
    static final String GEMINI_ARRAY = "[{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]}}],"
            + "\"usageMetadata\":{\"promptTokenCount\":10,\"totalTokenCount\":10}},"
            + "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]},\"finishReason\":\"STOP\"}],"
            + "\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":8000,\"totalTokenCount\":8010}}]";

    static String nested(int depth) {
        return "{\"a\":".repeat(depth) + "1" + "}".repeat(depth);
    }

    /** An Anthropic message whose tool_use input (model-written) nests 600 deep; real usage 100 + 60,000 = 60,100. */
    static final String ANTHROPIC_DEEP = "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\","
            + "\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"tree\",\"input\":" + nested(600) + "}],"
            + "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":100,\"output_tokens\":60000}}";

    /** An Anthropic message whose tool_use input holds a 1,200-digit number; real usage 8,100. */
    static final String ANTHROPIC_BIGNUM = "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\","
            + "\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"calc\",\"input\":{\"n\":" + "9".repeat(1200) + "}}],"
            + "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":100,\"output_tokens\":8000}}";

    /** A Gemini answer whose functionCall.args nests 600 deep; real usage 8,010. */
    static final String GEMINI_DEEP = "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":"
            + "{\"name\":\"tree\",\"args\":" + nested(600) + "}}]}}],"
            + "\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":8000,\"totalTokenCount\":8010}}";

    /** OpenAI chat completion, usage 8,010. */
    static final String OPENAI = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"long answer\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":8000,\"total_tokens\":8010}}";

    private final transient ExecutorService pool = Executors.newCachedThreadPool();

    @Override
    public void destroy() {
        pool.shutdownNow();
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String info = req.getPathInfo() == null ? req.getServletPath() : req.getPathInfo();
        String behaviour = info.substring(info.lastIndexOf('/') + 1);
        String testId = req.getHeader("X-Test-Id");
        if (req.getDispatcherType() == jakarta.servlet.DispatcherType.ASYNC) {
            // the async re-dispatch renders the model answer that the worker stored
            json(resp, (String) req.getAttribute("answer"));
            return;
        }
        req.getInputStream().readAllBytes();
        switch (behaviour) {
            case "gemini-array" -> json(resp, GEMINI_ARRAY);
            case "anthropic-deep" -> json(resp, ANTHROPIC_DEEP);
            case "anthropic-bignum" -> json(resp, ANTHROPIC_BIGNUM);
            case "gemini-deep" -> json(resp, GEMINI_DEEP);
            case "openai" -> json(resp, OPENAI);
            case "gated" -> {
                CALLS.computeIfAbsent(testId, k -> new AtomicInteger()).incrementAndGet();
                try {
                    Thread.sleep(1_500);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                json(resp, OPENAI);
            }
            case "timeout-dispatch" -> {
                // a common async shape: the model is called on a worker; the async timeout renders what arrived
                // through a dispatch (as Spring MVC's DeferredResult/WebAsyncManager does on timeout)
                AsyncContext ac = req.startAsync(req, resp);
                ac.setTimeout(1_000);
                ac.addListener(new AsyncListener() {
                    @Override
                    public void onTimeout(AsyncEvent event) {
                        ac.dispatch();
                    }

                    @Override
                    public void onComplete(AsyncEvent event) {
                    }

                    @Override
                    public void onError(AsyncEvent event) {
                    }

                    @Override
                    public void onStartAsync(AsyncEvent event) {
                    }
                });
                pool.submit(() -> {
                    // the model answered (usage 8,010), stored for rendering
                    CALLS.computeIfAbsent(String.valueOf(testId), k -> new AtomicInteger()).incrementAndGet();
                    req.setAttribute("answer", OPENAI);
                });
            }
            default -> resp.sendError(404);
        }
    }

    private static void json(HttpServletResponse resp, String body) throws IOException {
        resp.setStatus(200);
        resp.setContentType("application/json");
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        resp.setContentLength(bytes.length);
        resp.getOutputStream().write(bytes);
    }

    static void await(long ms) {
        try {
            TimeUnit.MILLISECONDS.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
