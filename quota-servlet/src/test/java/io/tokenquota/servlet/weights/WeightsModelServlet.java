package io.tokenquota.servlet.weights;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A model stand-in that answers in the provider format the {@code x-answer} header names, as the model
 * the {@code x-answer-model} header names (no {@code model} field without it), with fixed counts.
 */
public class WeightsModelServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        req.getInputStream().transferTo(OutputStream.nullOutputStream());
        String model = req.getHeader("x-answer-model");
        String m = model == null ? "" : "\"model\":\"" + model + "\",";
        String answer = String.valueOf(req.getHeader("x-answer"));
        String type = "application/json";
        String body;
        switch (answer) {
            case "openai" -> body = "{\"id\":\"c1\",\"object\":\"chat.completion\"," + m
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                    + "\"{\\\"model\\\":\\\"cheap\\\",\\\"usage\\\":{\\\"prompt_tokens\\\":1}}\"}}],"
                    + "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":300,\"total_tokens\":1300,"
                    + "\"prompt_tokens_details\":{\"cached_tokens\":400},"
                    + "\"completion_tokens_details\":{\"reasoning_tokens\":100}}}";
            case "responses" -> body = "{\"id\":\"r1\",\"object\":\"response\"," + m + "\"output\":[],"
                    + "\"usage\":{\"input_tokens\":1000,\"input_tokens_details\":{\"cached_tokens\":400},"
                    + "\"output_tokens\":300,\"output_tokens_details\":{\"reasoning_tokens\":100},\"total_tokens\":1300}}";
            case "anthropic" -> body = "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\"," + m
                    + "\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"usage\":{\"input_tokens\":100,"
                    + "\"cache_creation_input_tokens\":50,\"cache_read_input_tokens\":1000,\"output_tokens\":20}}";
            case "anthropic-sse" -> {
                type = "text/event-stream";
                body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
                        + "\"type\":\"message\",\"role\":\"assistant\"," + m + "\"content\":[],\"usage\":"
                        + "{\"input_tokens\":100,\"cache_creation_input_tokens\":50,\"cache_read_input_tokens\":1000,"
                        + "\"output_tokens\":1}}}\n\n"
                        + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                        + "\"delta\":{\"type\":\"text_delta\",\"text\":\"{\\\"model\\\":\\\"cheap\\\"}\"}}\n\n"
                        + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                        + "\"usage\":{\"output_tokens\":20}}\n\n"
                        + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
            }
            case "openai-sse" -> {
                type = "text/event-stream";
                body = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\"," + m
                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hel\"}}]}\n\n"
                        + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\"," + m
                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n"
                        + "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\"," + m + "\"choices\":[],"
                        + "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":300,\"total_tokens\":1300,"
                        + "\"prompt_tokens_details\":{\"cached_tokens\":400},"
                        + "\"completion_tokens_details\":{\"reasoning_tokens\":100}}}\n\n"
                        + "data: [DONE]\n\n";
            }
            case "gemini" -> body = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}],\"role\":\"model\"},"
                    + "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":1000,"
                    + "\"cachedContentTokenCount\":600,\"candidatesTokenCount\":50,\"thoughtsTokenCount\":200,"
                    + "\"totalTokenCount\":1250}" + (model == null ? "" : ",\"modelVersion\":\"" + model + "\"") + "}";
            case "mislabelled" -> {
                // a relay labelling the answer text/plain: a model could have written all of it
                type = "text/plain";
                body = "{" + m + "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":300,\"total_tokens\":1300}}";
            }
            default -> body = "{\"ok\":true}";
        }
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        resp.setContentType(type);
        resp.setCharacterEncoding("UTF-8");
        resp.setContentLength(bytes.length);
        resp.getOutputStream().write(bytes);
    }
}
