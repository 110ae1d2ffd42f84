package io.tokenquota.servlet.breakit7;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/** Round 7 endpoint: routes on the path; every /ai/ route but /ai/reject "calls the model". */
public final class Breakit7ModelServlet extends HttpServlet {
    static final AtomicInteger modelCalls = new AtomicInteger();
    static volatile String lastPrompt;
    static final ExecutorService POOL = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "round7-worker");
        t.setDaemon(true);
        return t;
    });

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String path = req.getRequestURI();
        if (req.getDispatcherType() == DispatcherType.ASYNC) {
            // DeferredResult-style: the value computed on the worker is rendered on the async dispatch
            Object result = req.getAttribute("round7.result");
            if (result != null) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(result.toString().getBytes(StandardCharsets.UTF_8));
            }
            return;
        }
        if (path.startsWith("/ai/form")) {
            String prompt = req.getParameter("prompt");
            lastPrompt = prompt;
            modelCalls.incrementAndGet();
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write("answered " + (prompt == null ? -1 : prompt.length()));
            return;
        }
        if (path.startsWith("/ai/param-then-json")) {
            req.getParameter("model"); // e.g. a framework filter probing for _method
            byte[] body = req.getInputStream().readAllBytes();
            lastPrompt = new String(body, StandardCharsets.UTF_8);
            if (body.length == 0) {
                resp.sendError(400);
                return;
            }
            modelCalls.incrementAndGet();
            json(resp, "{\"id\":\"x\",\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":400,\"completion_tokens\":23,\"total_tokens\":423}}");
            return;
        }
        byte[] body = req.getInputStream().readAllBytes();
        lastPrompt = new String(body, StandardCharsets.UTF_8);
        String u = req.getParameter("u");
        long usage = u == null ? 321 : Long.parseLong(u);
        modelCalls.incrementAndGet();
        switch (path) {
            case "/ai/json" -> json(resp, "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[],\"usage\":{\"total_tokens\":"
                    + usage + "}}");
            case "/ai/sse" -> {
                resp.setContentType("text/event-stream");
                ServletOutputStream out = resp.getOutputStream();
                out.write("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                out.write(("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":" + (usage - 1)
                        + ",\"completion_tokens\":1,\"total_tokens\":" + usage + "}}\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
            }
            case "/ai/openai-dup" -> {
                resp.setContentType("text/event-stream");
                ServletOutputStream out = resp.getOutputStream();
                out.write("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":900,\"completion_tokens\":100,\"total_tokens\":1000}}\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                out.write("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":900,\"completion_tokens\":100,\"total_tokens\":1000}}\n\ndata: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            }
            case "/ai/anthropic" -> {
                resp.setContentType("text/event-stream");
                ServletOutputStream out = resp.getOutputStream();
                out.write(("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
                        + "\"usage\":{\"input_tokens\":2000,\"cache_read_input_tokens\":3000,\"output_tokens\":1}}}\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                out.write("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n".getBytes(StandardCharsets.UTF_8));
                out.write("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":500}}\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                // a second, lower (stale) delta report: per field the last wins
                out.write("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":400}}\n\n".getBytes(StandardCharsets.UTF_8));
                out.write("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".getBytes(StandardCharsets.UTF_8));
            }
            case "/ai/responses" -> {
                resp.setContentType("text/event-stream");
                ServletOutputStream out = resp.getOutputStream();
                out.write(("event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n").getBytes(StandardCharsets.UTF_8));
                out.write(("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hello\"}\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                out.write(("event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\","
                        + "\"output\":[{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hello\",\"annotations\":[]}]}],"
                        + "\"usage\":{\"input_tokens\":1500,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":700,\"output_tokens_details\":{\"reasoning_tokens\":300},\"total_tokens\":2200}}}\n\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
            case "/ai/streaming-body" -> {
                // StreamingResponseBody-style: headers set, the body written on another thread, then complete()
                AsyncContext ac = req.startAsync(req, resp);
                resp.setContentType("application/json");
                POOL.submit(() -> {
                    try {
                        sleep(100);
                        ServletOutputStream out = resp.getOutputStream();
                        out.write("{\"id\":\"c\",\"object\":\"chat.completion\",".getBytes(StandardCharsets.UTF_8));
                        out.flush();
                        sleep(50);
                        out.write(("\"usage\":{\"total_tokens\":" + usage + "}}").getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    } catch (IOException e) {
                        // client gone
                    } finally {
                        ac.complete();
                    }
                });
            }
            case "/ai/sse-emitter" -> {
                // SseEmitter-style: events from a worker, each flushed, then complete() via a dispatch as Spring does
                AsyncContext ac = req.startAsync(req, resp);
                ac.setTimeout(30_000);
                resp.setContentType("text/event-stream");
                resp.setCharacterEncoding("UTF-8");
                resp.flushBuffer();
                POOL.submit(() -> {
                    try {
                        for (int i = 0; i < 3; i++) {
                            sleep(30);
                            resp.getWriter().write("data:{\"choices\":[{\"delta\":{\"content\":\"t" + i + "\"}}]}\n\n");
                            resp.getWriter().flush();
                        }
                        resp.getWriter().write("data:{\"choices\":[],\"usage\":{\"total_tokens\":" + usage + "}}\n\n");
                        resp.getWriter().flush();
                    } catch (IOException e) {
                        // client gone
                    } finally {
                        if ("dispatch".equals(req.getParameter("end"))) {
                            ac.dispatch();
                        } else {
                            ac.complete();
                        }
                    }
                });
            }
            case "/ai/deferred" -> {
                AsyncContext ac = req.startAsync(req, resp);
                POOL.submit(() -> {
                    sleep(100);
                    req.setAttribute("round7.result", "{\"id\":\"c\",\"object\":\"chat.completion\",\"usage\":{\"total_tokens\":" + usage + "}}");
                    ac.dispatch();
                });
            }
            default -> {
                modelCalls.decrementAndGet();
                resp.sendError(404);
            }
        }
    }

    private static void json(HttpServletResponse resp, String body) throws IOException {
        resp.setContentType("application/json");
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
