package io.tokenquota.servlet.breakit4;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;

/**
 * A model endpoint as applications write them. Reads the body as Spring's Jackson converter does
 * (the declared charset, a default ObjectMapper: trailing content after the object is ignored) and:
 * <ul>
 *   <li>{@code /stream}: streams an OpenAI chat completion of {@code max_tokens} tokens without a usage
 *       chunk (OpenAI's default for {@code stream:true}: no {@code stream_options.include_usage});</li>
 *   <li>{@code /utf16}: answers a chat completion (usage 50,000) encoded in UTF-16, as declared;</li>
 *   <li>{@code /bom}: answers a chat completion (usage 50,000) with a UTF-8 byte order mark;</li>
 *   <li>{@code /json}: answers a chat completion with usage 50,000;</li>
 *   <li>{@code /prg}: calls the model, stores the answer and redirects (Post/Redirect/Get) with 303.</li>
 * </ul>
 */
public class Breakit4ModelServlet extends HttpServlet {
    static volatile long lastMaxTokens = -1;
    static volatile int lastPromptChars = -1;
    static volatile int modelCalls;
    static final String USAGE_50K = "\"usage\":{\"prompt_tokens\":10000,\"completion_tokens\":40000,\"total_tokens\":50000}";
    static final String ANSWER = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello.\"},"
            + "\"finish_reason\":\"stop\"}]," + USAGE_50K + "}";

    private final ObjectMapper mapper = new ObjectMapper();

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String path = req.getPathInfo() == null ? req.getServletPath() : req.getServletPath() + req.getPathInfo();
        JsonNode body = mapper.readTree(req.getReader());
        synchronized (Breakit4ModelServlet.class) {
            modelCalls++;
        }
        lastMaxTokens = body.path("max_tokens").asLong(-1);
        lastPromptChars = body.path("messages").path(0).path("content").asText("").length();
        if (path.endsWith("/stream")) {
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            long tokens = Math.max(1, lastMaxTokens);
            StringBuilder sb = new StringBuilder();
            for (long i = 0; i < tokens; i += 500) {
                sb.setLength(0);
                sb.append("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                        + "\"delta\":{\"content\":\"");
                sb.append(" word".repeat((int) Math.min(500, tokens - i)));
                sb.append("\"},\"finish_reason\":null}]}\n\n");
                out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            return;
        }
        if (path.endsWith("/utf16")) {
            resp.setContentType("Application/JSON; charset=UTF-16");
            resp.getOutputStream().write(ANSWER.getBytes(Charset.forName("UTF-16")));
            return;
        }
        if (path.endsWith("/bom")) {
            resp.setContentType("application/json");
            OutputStream out = resp.getOutputStream();
            out.write(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF});
            out.write(ANSWER.getBytes(StandardCharsets.UTF_8));
            return;
        }
        if (path.endsWith("/prg")) {
            // the model answered (usage 50,000); the app stores the answer and redirects to it
            resp.setStatus(303);
            resp.setHeader("Location", "/results/1");
            return;
        }
        resp.setContentType("application/json");
        resp.getOutputStream().write(ANSWER.getBytes(StandardCharsets.UTF_8));
    }
}
