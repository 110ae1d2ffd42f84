package io.tokenquota.servlet.breakit271;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 271 of issue 11: whole answers without usage, after round 270 counted a chat completion's,
 * an Anthropic message's and Hugging Face's text. (a) Other providers' and frameworks' whole answers
 * (Cohere v2, Bedrock Converse, Bedrock InvokeModel's native bodies of Llama, Titan and Mistral, whose
 * counts come only in headers for Mistral, Ollama's and llama.cpp's non-stream answers, LangChain4j's
 * {@code ChatResponse}, a Responses API {@code response}, Magistral's thinking chunks) are charged their
 * hold, 1,015 for about 4,400 tokens, though the same text streamed without usage in each one's stream
 * format is charged its text (the controls pass). (b) Text no model wrote: a stored conversation read
 * back with {@code GET} is now charged its text (4,485; 13,455 for three turns), where the same text read
 * back raw is charged the estimate. (c) vLLM's reasoning written under both {@code reasoning} and
 * {@code reasoning_content} is counted twice.
 */
abstract class AbstractRound271 extends ShapedAnswerRound {
    static String subject() {
        return "u271-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String chat(String text) {
        return "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"local\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" + q(text)
                + "},\"finish_reason\":\"stop\"}]}";
    }

    @Override
    protected String body(String shape) {
        return switch (shape) {
            case "chat" -> chat(TEXT);
            case "cohere2" -> "{\"id\":\"c1\",\"finish_reason\":\"COMPLETE\",\"message\":{\"role\":\"assistant\",\"content\":"
                    + "[{\"type\":\"text\",\"text\":" + q(TEXT) + "}]}}";
            case "converse" -> "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":" + q(TEXT)
                    + "}]}},\"stopReason\":\"end_turn\"}";
            case "invoke-llama" -> "{\"generation\":" + q(TEXT) + ",\"stop_reason\":\"stop\"}";
            case "invoke-titan" -> "{\"results\":[{\"outputText\":" + q(TEXT) + ",\"completionReason\":\"FINISH\"}]}";
            case "invoke-mistral" -> "{\"outputs\":[{\"text\":" + q(TEXT) + ",\"stop_reason\":\"stop\"}]}";
            case "ollama-chat" -> "{\"model\":\"llama3\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\","
                    + "\"content\":" + q(TEXT) + "},\"done\":true,\"done_reason\":\"stop\"}";
            case "ollama-generate" -> "{\"model\":\"llama3\",\"created_at\":\"2025-01-01T00:00:00Z\",\"response\":" + q(TEXT)
                    + ",\"done\":true,\"done_reason\":\"stop\"}";
            case "llamacpp" -> "{\"content\":" + q(TEXT) + ",\"stop\":true,\"model\":\"local\"}";
            case "vllm-generate" -> "{\"text\":[" + q(TEXT) + "]}";
            case "springai" -> "{\"result\":{\"output\":{\"messageType\":\"ASSISTANT\",\"metadata\":{\"messageType\":\"ASSISTANT\"},"
                    + "\"toolCalls\":[],\"media\":[],\"text\":" + q(TEXT) + "},\"metadata\":{\"finishReason\":\"STOP\"}},"
                    + "\"results\":[{\"output\":{\"messageType\":\"ASSISTANT\",\"text\":" + q(TEXT) + "}}],"
                    + "\"metadata\":{\"id\":\"\",\"model\":\"\"}}";
            case "langchain4j" -> "{\"aiMessage\":{\"text\":" + q(TEXT) + ",\"toolExecutionRequests\":[]},"
                    + "\"metadata\":{\"id\":\"x\",\"modelName\":\"local\",\"finishReason\":\"STOP\"}}";
            case "responses" -> "{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"completed\","
                    + "\"model\":\"gpt-4o\",\"output\":[{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"completed\","
                    + "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":" + q(TEXT)
                    + ",\"annotations\":[]}]}]}";
            case "mistral-thinking" -> "{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"magistral\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":[{\"type\":\"text\","
                    + "\"text\":" + q(TEXT) + "}]},{\"type\":\"text\",\"text\":\"Yes.\"}]},\"finish_reason\":\"stop\"}]}";
            case "cohere1" -> "{\"response_id\":\"r\",\"text\":" + q(TEXT) + ",\"generation_id\":\"g\",\"finish_reason\":\"COMPLETE\"}";
            case "tgi-details" -> "{\"generated_text\":" + q(TEXT) + ",\"details\":{\"finish_reason\":\"length\"}}";
            case "vertex-predict" -> "{\"predictions\":[{\"content\":" + q(TEXT) + "}]}";
            case "vllm-reasoning" -> "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"qwen3\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Yes.\",\"reasoning\":" + q(TEXT)
                    + ",\"reasoning_content\":" + q(TEXT) + "},\"finish_reason\":\"stop\"}]}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (!shape.startsWith("stream-")) {
            return false;
        }
        stream(shape.substring(7), resp);
        return true;
    }

    /** The same text streamed without usage, in each provider's own stream format (the controls). */
    private void stream(String shape, HttpServletResponse resp) throws IOException {
        boolean ndjson = shape.startsWith("ollama") || shape.equals("llamacpp");
        resp.setContentType(ndjson ? "application/x-ndjson" : "text/event-stream");
        java.io.PrintWriter w = resp.getWriter();
        for (String part : TEXT.split("(?<=\\. )")) {
            String doc = switch (shape) {
                case "cohere2" -> "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":" + q(part) + "}}}}";
                case "converse" -> "{\"contentBlockDelta\":{\"contentBlockIndex\":0,\"delta\":{\"text\":" + q(part) + "}}}";
                case "ollama-chat" -> "{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":" + q(part) + "},\"done\":false}";
                case "llamacpp" -> "{\"content\":" + q(part) + ",\"stop\":false}";
                case "responses" -> "{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,"
                        + "\"content_index\":0,\"delta\":" + q(part) + "}";
                case "mistral-thinking" -> "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                        + "\"delta\":{\"content\":[{\"type\":\"thinking\",\"thinking\":[{\"type\":\"text\",\"text\":" + q(part) + "}]}]}}]}";
                default -> throw new IllegalArgumentException(shape);
            };
            w.write(ndjson ? doc + "\n" : "data: " + doc + "\n\n");
        }
        if (shape.startsWith("ollama")) {
            w.write("{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}\n");
        }
        w.flush();
    }

    /** The application's conversation history, read back from its database: no model is called. */
    @Override
    protected boolean read(String path, HttpServletResponse resp) throws IOException {
        String stored = switch (path) {
            case "/conversations/c1" -> chat(TEXT);
            case "/conversations/c1/all" -> "[" + chat(TEXT) + "," + chat(TEXT) + "," + chat(TEXT) + "]";
            case "/conversations/c1/text" -> TEXT;
            case "/conversations/c1/anthropic" -> "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
                    + "\"model\":\"claude\",\"content\":[{\"type\":\"text\",\"text\":" + q(TEXT) + "}],\"stop_reason\":\"end_turn\"}";
            default -> null;
        };
        if (stored == null) {
            return false;
        }
        resp.setContentType(path.endsWith("/text") ? "text/plain;charset=utf-8" : "application/json");
        resp.getOutputStream().write(stored.getBytes(StandardCharsets.UTF_8));
        return true;
    }

    /** (a) each shape answered whole, without usage, to a request that names no budget. */
    @ParameterizedTest
    @ValueSource(strings = {"chat", "cohere2", "converse", "invoke-llama", "invoke-titan", "invoke-mistral", "ollama-chat",
            "ollama-generate", "llamacpp", "springai", "langchain4j", "responses", "mistral-thinking", "tgi-details",
            "vertex-predict"})
    void aWholeAnswerWithoutUsageIsChargedItsText(String shape) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + shape), s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Write a long report on the committee's quarterly results.\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 4_000, shape + ": an answer of about 4,400 tokens of text charged " + used + ": " + ledger(s));
    }

    /** Controls: the same text streamed without usage is charged its text (at least 4,000). */
    @ParameterizedTest
    @ValueSource(strings = {"cohere2", "converse", "ollama-chat", "llamacpp", "responses", "mistral-thinking"})
    void theSameTextStreamedIsChargedItsText(String shape) {
        aWholeAnswerWithoutUsageIsChargedItsText("stream-" + shape);
    }

    /**
     * (c) vLLM's reasoning parser writes the reasoning twice, as {@code reasoning} and (deprecated) as
     * {@code reasoning_content} (vllm-project/vllm#29408); one reasoning of about 4,400 tokens is no 8,800.
     */
    @org.junit.jupiter.api.Test
    void vllmsReasoningUnderBothNamesIsChargedOnce() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/vllm-reasoning"), s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"Think hard: is the committee's report right?\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 4_000 && used <= 5_500, "one reasoning of about 4,400 tokens and one word charged " + used + ": " + ledger(s));
    }

    /** (b) a stored conversation read back: no model called. Charged no more than the same read as text. */
    @ParameterizedTest
    @ValueSource(strings = {"/conversations/c1/text", "/conversations/c1", "/conversations/c1/all", "/conversations/c1/anthropic"})
    void aStoredConversationReadBackIsNotChargedItsText(String path) {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai" + path), s).GET().build());
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertTrue(used <= 1_100, path + ": a read of stored text, no model called, charged " + used + ": " + ledger(s));
    }
}
