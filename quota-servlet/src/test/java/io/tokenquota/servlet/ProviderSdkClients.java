package io.tokenquota.servlet;

import com.anthropic.client.AnthropicClient;
import com.anthropic.client.okhttp.AnthropicOkHttpClient;
import com.anthropic.core.http.StreamResponse;
import com.anthropic.helpers.MessageAccumulator;
import com.anthropic.models.messages.Message;
import com.anthropic.models.messages.MessageCreateParams;
import com.anthropic.models.messages.RawMessageStreamEvent;
import com.anthropic.models.messages.Usage;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.CompletionUsage;
import java.net.URI;

/**
 * Calls the mock endpoints of {@link SdkModelServlet} with the providers' official Java SDKs, as an
 * application would, and returns the token total each SDK itself parsed from the answer.
 */
final class ProviderSdkClients {
    private ProviderSdkClients() {
    }

    /** OpenAI chat completions; streamed with {@code include_usage}, accumulated by the SDK's own helper. */
    static long openAi(URI base, String subject, boolean stream) {
        OpenAIClient client = OpenAIOkHttpClient.builder().apiKey("sk-test").baseUrl(base.toString())
                .putHeader("x-user-id", subject).maxRetries(0).build();
        try {
            ChatCompletionCreateParams.Builder params = ChatCompletionCreateParams.builder().model("gpt-4o")
                    .addUserMessage("Say hello to the quota filter.").maxCompletionTokens(64);
            ChatCompletion completion;
            if (stream) {
                params.streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build());
                ChatCompletionAccumulator accumulator = ChatCompletionAccumulator.create();
                try (com.openai.core.http.StreamResponse<ChatCompletionChunk> chunks =
                             client.chat().completions().createStreaming(params.build())) {
                    chunks.stream().forEach(accumulator::accumulate);
                }
                completion = accumulator.chatCompletion();
            } else {
                completion = client.chat().completions().create(params.build());
            }
            CompletionUsage usage = completion.usage().orElseThrow();
            return usage.totalTokens();
        } finally {
            client.close();
        }
    }

    /** Anthropic Messages; streamed events accumulated by the SDK's own helper. Cache tokens included. */
    static long anthropic(URI base, String subject, boolean stream) {
        AnthropicClient client = AnthropicOkHttpClient.builder().apiKey("sk-ant-test").baseUrl(base.toString())
                .putHeader("x-user-id", subject).maxRetries(0).build();
        try {
            MessageCreateParams params = MessageCreateParams.builder().model("claude-sonnet-4-5").maxTokens(256)
                    .addUserMessage("Say hello to the quota filter.").build();
            Message message;
            if (stream) {
                MessageAccumulator accumulator = MessageAccumulator.create();
                try (StreamResponse<RawMessageStreamEvent> events = client.messages().createStreaming(params)) {
                    events.stream().forEach(accumulator::accumulate);
                }
                message = accumulator.message();
            } else {
                message = client.messages().create(params);
            }
            Usage usage = message.usage();
            return usage.inputTokens() + usage.outputTokens() + usage.cacheCreationInputTokens().orElse(0L)
                    + usage.cacheReadInputTokens().orElse(0L);
        } finally {
            client.close();
        }
    }
}
