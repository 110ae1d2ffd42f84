package io.tokenquota.servlet.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.function.ToLongFunction;

/**
 * Gemini's {@code generateContent} for the rounds that send it videos inline: it bills 263 tokens a second of
 * each {@code inlineData} video (ai.google.dev/gemini-api/docs/tokens, "Multimodal tokens"), a quarter of a
 * token a character of each text, and {@code output} written, and answers one candidate with that
 * {@code usageMetadata}. Counts each call under the request's {@code x-user-id}.
 */
public final class GeminiVideoModel extends HttpServlet {
    public static final long VIDEO_RATE = 263;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ModelCalls calls;
    private final ToLongFunction<String> seconds;
    private final String answer;
    private final long output;

    /** @param seconds how long the video whose base64 is given plays, in whole seconds */
    public GeminiVideoModel(ModelCalls calls, ToLongFunction<String> seconds, String answer, long output) {
        this.calls = calls;
        this.seconds = seconds;
        this.answer = answer;
        this.output = output;
    }

    /** What Gemini counts for a text part: a token a four characters, at least one. */
    public static long textTokens(String text) {
        return Math.max(1, text.length() / 4);
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        JsonNode body = JSON.readTree(req.getInputStream());
        long prompt = 0;
        for (JsonNode content : body.path("contents")) {
            for (JsonNode part : content.path("parts")) {
                prompt += part.has("inlineData") ? VIDEO_RATE * seconds.applyAsLong(part.get("inlineData").get("data").asText())
                        : textTokens(part.path("text").asText());
            }
        }
        calls.count(req.getHeader("x-user-id"));
        resp.setContentType("application/json; charset=UTF-8");
        resp.getOutputStream().write(("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + answer
                + "\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":"
                + prompt + ",\"candidatesTokenCount\":" + output + ",\"totalTokenCount\":" + (prompt + output)
                + "},\"modelVersion\":\"gemini-2.5-flash\"}").getBytes(StandardCharsets.UTF_8));
    }
}
