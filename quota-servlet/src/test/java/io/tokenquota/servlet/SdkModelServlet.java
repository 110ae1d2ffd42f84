package io.tokenquota.servlet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Mock OpenAI chat completions ({@code .../v1/chat/completions}) and Anthropic Messages
 * ({@code .../v1/messages}) endpoints, streamed or not, in the shapes the providers document, for the
 * official Java SDKs to call through the quota filter. The usage figures are distinct per endpoint so
 * a test can tell which one was charged.
 */
final class SdkModelServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

    static final String OPENAI_COMPLETION = "{\"id\":\"chatcmpl-sdk\",\"object\":\"chat.completion\",\"created\":1700000000,"
            + "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
            + "\"{\\\"usage\\\":{\\\"total_tokens\\\":1}}\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":17,\"completion_tokens\":9,\"total_tokens\":26,"
            + "\"prompt_tokens_details\":{\"cached_tokens\":4},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}";
    static final String ANTHROPIC_MESSAGE = "{\"id\":\"msg_sdk\",\"type\":\"message\",\"role\":\"assistant\","
            + "\"model\":\"claude-sonnet-4-5\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_sdk\",\"name\":\"report\","
            + "\"input\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}],\"stop_reason\":\"tool_use\","
            + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":21,\"output_tokens\":13,"
            + "\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":2000}}";

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        JsonNode body = JSON.readTree(req.getInputStream());
        boolean stream = body.path("stream").asBoolean(false);
        String path = req.getPathInfo() == null ? "" : req.getPathInfo();
        if (path.endsWith("/chat/completions")) {
            if (stream) {
                openAiStream(resp, body.path("stream_options").path("include_usage").asBoolean(false));
            } else {
                write(resp, "application/json", OPENAI_COMPLETION);
            }
        } else if (path.endsWith("/messages")) {
            if (stream) {
                anthropicStream(resp);
            } else {
                write(resp, "application/json", ANTHROPIC_MESSAGE);
            }
        } else {
            resp.sendError(404);
        }
    }

    private static void write(HttpServletResponse resp, String type, String body) throws IOException {
        resp.setContentType(type);
        resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
    }

    private static void openAiStream(HttpServletResponse resp, boolean includeUsage) throws IOException {
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        String head = "{\"id\":\"chatcmpl-sdk\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o\",";
        String usage = includeUsage ? ",\"usage\":null" : "";
        for (String piece : new String[] {"Hel", "lo"}) {
            event(out, null, head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"" + piece
                    + "\"},\"finish_reason\":null}]" + usage + "}");
        }
        event(out, null, head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]" + usage + "}");
        if (includeUsage) {
            event(out, null, head + "\"choices\":[],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":2,\"total_tokens\":33}}");
        }
        event(out, null, "[DONE]");
    }

    private static void anthropicStream(HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        event(out, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_sdk\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":21,\"output_tokens\":1,"
                + "\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":2000}}}");
        event(out, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                + "{\"type\":\"text\",\"text\":\"\"}}");
        event(out, "ping", "{\"type\":\"ping\"}");
        event(out, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                + "{\"type\":\"text_delta\",\"text\":\"{\\\"usage\\\":{\\\"output_tokens\\\":1}}\"}}");
        event(out, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
        event(out, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":13}}");
        event(out, "message_stop", "{\"type\":\"message_stop\"}");
    }

    private static void event(OutputStream out, String name, String data) throws IOException {
        String event = (name == null ? "" : "event: " + name + "\n") + "data: " + data + "\n\n";
        out.write(event.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }
}
