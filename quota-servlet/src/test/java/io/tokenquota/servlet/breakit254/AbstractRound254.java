package io.tokenquota.servlet.breakit254;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 254 of issue 11: Java AI frameworks' own objects returned whole by a protected endpoint.
 *
 * <p>Semantic Kernel for Java: a Spring controller returns what
 * {@code ChatCompletionService.getChatMessageContentsAsync(history, kernel, invocationContext)} gives it
 * ({@code Mono<List<ChatMessageContent<?>>>}), with the kernel's plugins auto-invoked
 * ({@code ToolCallBehavior.allowAllKernelFunctions(true)}) and SK's default return mode
 * {@code InvocationReturnMode.NEW_MESSAGES_ONLY}: the list holds the messages the invocation added, one
 * assistant message per model call (the tool-call request, then the final answer), each with its call's
 * {@code FunctionResultMetadata} (the completion's {@code id}, its {@code usage}: azure-ai-openai's
 * {@code CompletionsUsage} as Jackson writes it through its getters, {@code promptTokens},
 * {@code completionTokens}, {@code totalTokens}), and the tool's result message between them.
 */
abstract class AbstractRound254 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u254-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String usage(long prompt, long completion) {
        return "{\"completionTokens\":" + completion + ",\"promptTokens\":" + prompt + ",\"totalTokens\":" + (prompt + completion)
                + ",\"promptTokensDetails\":{\"audioTokens\":0,\"cachedTokens\":0},"
                + "\"completionTokensDetails\":{\"acceptedPredictionTokens\":0,\"audioTokens\":0,\"reasoningTokens\":0,"
                + "\"rejectedPredictionTokens\":0}}";
    }

    /** SK's FunctionResultMetadata through its getters: the map (getMetadata), then getId, getUsage, getCreatedAt. */
    static String metadata(String id, String usage) {
        return "{\"metadata\":{\"id\":{\"value\":\"" + id + "\",\"empty\":false}" + (usage == null ? "" : ",\"usage\":{\"value\":" + usage
                + ",\"empty\":false}") + "},\"id\":\"" + id + "\",\"usage\":" + usage + ",\"createdAt\":"
                + (usage == null ? "null" : "\"2025-06-02T09:14:07Z\"") + "}";
    }

    static final String TOOL_CALL = "{\"authorRole\":\"ASSISTANT\",\"content\":null,\"items\":null,\"encoding\":\"UTF-8\","
            + "\"toolCall\":[{\"id\":\"call_Wx81\",\"pluginName\":\"WeatherPlugin\",\"functionName\":\"getForecast\","
            + "\"arguments\":{\"city\":{\"value\":\"Paris\",\"empty\":false}}}],"
            + "\"innerContent\":{\"role\":\"assistant\",\"content\":null,\"toolCalls\":[{\"id\":\"call_Wx81\",\"type\":\"function\","
            + "\"function\":{\"name\":\"WeatherPlugin-getForecast\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}],"
            + "\"refusal\":null},\"modelId\":\"gpt-4o\",\"metadata\":%s}";

    static final String TOOL_RESULT = "{\"authorRole\":\"TOOL\",\"content\":\"{\\\"city\\\":\\\"Paris\\\",\\\"high\\\":17,\\\"rain\\\":0.6}\","
            + "\"items\":null,\"encoding\":\"UTF-8\",\"innerContent\":null,\"modelId\":null,\"metadata\":"
            + metadata("call_Wx81", null) + "}";

    static final String ANSWER_TEXT = "Tomorrow in Paris expect a high of 17 degrees with a good chance of rain in the afternoon. "
            + "Take a light waterproof jacket, a warm layer for the evening and shoes that cope with wet pavements.";

    static final String ANSWER = "{\"authorRole\":\"ASSISTANT\",\"content\":\"" + ANSWER_TEXT + "\",\"items\":null,"
            + "\"encoding\":\"UTF-8\",\"toolCall\":null,\"innerContent\":{\"role\":\"assistant\",\"content\":\"" + ANSWER_TEXT
            + "\",\"toolCalls\":[],\"refusal\":null},\"modelId\":\"gpt-4o\",\"metadata\":%s}";

    /** The first call (the plugin's function requested): 6,000 prompt tokens (system prompt, plugins' schemas), 60 out. */
    static final String CALL_1 = String.format(TOOL_CALL, metadata("chatcmpl-BdA1x7", usage(6_000, 60)));
    /** The second call (the answer): the same prompt plus the tool call and its result, 6,200 in, 900 out. */
    static final String CALL_2 = String.format(ANSWER, metadata("chatcmpl-BdA2k9", usage(6_200, 900)));

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("sk", new SemanticKernelChat(), "/ai/sk/*")
                .onStartup(filter::registerByServletName);
    }

    /** {@code @PostMapping} returning {@code chat.getChatMessageContentsAsync(...)}: the new messages, as Jackson writes them. */
    class SemanticKernelChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            resp.setContentType("application/json");
            String body;
            switch (req.getPathInfo()) {
                case "/agent" -> {
                    calls.count(s);
                    calls.count(s);
                    body = "[" + CALL_1 + "," + TOOL_RESULT + "," + CALL_2 + "]";
                }
                case "/plain" -> {
                    calls.count(s);
                    body = "[" + CALL_2 + "]";
                }
                default -> throw new IllegalStateException(req.getPathInfo());
            }
            resp.getWriter().write(body);
        }
    }

    static final String QUESTION = "{\"message\":\"What should I wear in Paris tomorrow?\"}";

    /**
     * The attack (no hostile client needed): ask the agent a question its plugin answers. Two model calls
     * ran, 6,060 and 7,100 tokens by their own usage: 13,160.
     */
    @Test
    void anSemanticKernelAgentsNewMessagesAreChargedEveryCallsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/sk/agent"), s, QUESTION);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 13_160, "two calls of 6,060 and 7,100 tokens (13,160) charged " + used + ": " + ledger(s));
    }

    /** Control: one call's message is charged its usage. */
    @Test
    void oneCallsMessageIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/sk/plain"), s, QUESTION);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 7_100, "charged " + used + ": " + ledger(s));
    }
}
