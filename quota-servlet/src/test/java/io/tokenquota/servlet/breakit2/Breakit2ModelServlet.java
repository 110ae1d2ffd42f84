package io.tokenquota.servlet.breakit2;

import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;

/** Fake model endpoints; one behaviour per last path segment. Every one "calls the model". */
public final class Breakit2ModelServlet extends HttpServlet {
    /** OpenAI chat completion with usage 5,000. */
    static final String OPENAI_5000 = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Once upon a time\"},"
            + "\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":4000,\"total_tokens\":5000}}";

    static String openAiStream(String eol) {
        String sep = eol + eol;
        return "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Once\"}}],\"usage\":null}" + sep
                + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" upon\"}}],\"usage\":null}" + sep
                + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
                + "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":4000,\"total_tokens\":5000}}" + sep
                + "data: [DONE]" + sep;
    }

    /** Anthropic Messages stream: message_start input 3,000, message_delta output 200: 3,200 in all. */
    static final String ANTHROPIC_STREAM = "event: message_start\n"
            + "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
            + "\"content\":[],\"model\":\"claude\",\"usage\":{\"input_tokens\":3000,\"output_tokens\":1}}}\n\n"
            + "event: content_block_start\n"
            + "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
            + "event: content_block_delta\n"
            + "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
            + "event: content_block_stop\n"
            + "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
            + "event: message_delta\n"
            + "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":200}}\n\n"
            + "event: message_stop\n"
            + "data: {\"type\":\"message_stop\"}\n\n";

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        // a GET endpoint: the prompt is in ?prompt=...; the model is called, its JSON is written
        if (req.getParameter("prompt") == null) {
            resp.sendError(400);
            return;
        }
        json(resp, OPENAI_5000);
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String info = req.getPathInfo() == null ? req.getServletPath() : req.getPathInfo();
        String behaviour = info.substring(info.lastIndexOf('/') + 1);
        req.getInputStream().readAllBytes();
        switch (behaviour) {
            case "openai" -> json(resp, OPENAI_5000);
            case "sse-lf" -> sse(resp, openAiStream("\n").getBytes(StandardCharsets.UTF_8));
            case "sse-crlf" -> sse(resp, openAiStream("\r\n").getBytes(StandardCharsets.UTF_8));
            case "sse-cr" -> sse(resp, openAiStream("\r").getBytes(StandardCharsets.UTF_8));
            case "anthropic-sse" -> sse(resp, ANTHROPIC_STREAM.getBytes(StandardCharsets.UTF_8));
            case "anthropic-sse-bom" -> sse(resp, ("\uFEFF" + ANTHROPIC_STREAM).getBytes(StandardCharsets.UTF_8));
            // the event: lines are optional in SSE; without them the BOM sits right before message_start's data:
            case "anthropic-sse-bom-data-first" -> sse(resp, ("\uFEFF" + ANTHROPIC_STREAM.replaceAll("(?m)^event: [a-z_]+\n", ""))
                    .getBytes(StandardCharsets.UTF_8));
            case "empty-write-first" -> {
                // e.g. a proxy loop copying an upstream body whose first read returned 0 bytes
                ServletOutputStream out = resp.getOutputStream();
                out.write(new byte[0], 0, 0);
                resp.setStatus(200);
                resp.setContentType("application/json");
                out.write(OPENAI_5000.getBytes(StandardCharsets.UTF_8));
            }
            case "writer-empty-first" -> {
                PrintWriter w = resp.getWriter();
                w.print("");
                resp.setContentType("application/json");
                w.print(OPENAI_5000);
            }
            case "float-usage" -> json(resp, OPENAI_5000.replace("\"total_tokens\":5000", "\"total_tokens\":5000.0")
                    .replace("\"prompt_tokens\":1000", "\"prompt_tokens\":1000.0")
                    .replace("\"completion_tokens\":4000", "\"completion_tokens\":4000.0"));
            case "anthropic-delta-only" -> sse(resp, ("event: message_delta\n"
                    + "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                    + "\"usage\":{\"input_tokens\":3000,\"output_tokens\":200}}\n\n").getBytes(StandardCharsets.UTF_8));
            case "sse-multiline-crlf" -> sse(resp, ("data: {\"id\":\"c1\",\"choices\":[],\r\n: a comment\r\n"
                    + "data: \"usage\":{\"prompt_tokens\":1000,\r\ndata: \"completion_tokens\":4000,\"total_tokens\":5000}}\r\n\r\n"
                    + "data: [DONE]\r\n\r\n").getBytes(StandardCharsets.UTF_8));
            default -> resp.sendError(404);
        }
    }

    private static void sse(HttpServletResponse resp, byte[] bytes) throws IOException {
        resp.setStatus(200);
        resp.setContentType("text/event-stream");
        ServletOutputStream out = resp.getOutputStream();
        // stream it in small pieces with flushes, as a model stream arrives
        for (int i = 0; i < bytes.length; i += 37) {
            out.write(bytes, i, Math.min(37, bytes.length - i));
            out.flush();
        }
    }

    private static void json(HttpServletResponse resp, String body) throws IOException {
        resp.setStatus(200);
        resp.setContentType("application/json");
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        resp.setContentLength(bytes.length);
        resp.getOutputStream().write(bytes);
    }
}
