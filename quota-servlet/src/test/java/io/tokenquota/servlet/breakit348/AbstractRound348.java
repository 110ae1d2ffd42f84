package io.tokenquota.servlet.breakit348;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.ObjectMappers;
import com.openai.core.http.AsyncStreamResponse;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.ModelCallRound;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Round 348 of issue 11: the official OpenAI Java SDK ({@code com.openai:openai-java} 4.8.0) on both sides of an
 * application behind the filter. The user's client streams a chat completion with {@code include_usage} and
 * accumulates it with the SDK's own {@code ChatCompletionAccumulator}; the application relays to OpenAI with the
 * SDK too, either blocking ({@code createStreaming}, a {@code StreamResponse}) or with the SDK's async client
 * ({@code client.async().chat().completions().createStreaming(...)}, an {@code AsyncStreamResponse} whose
 * {@code subscribe} handler runs on the SDK's own threads) inside a servlet async cycle ({@code startAsync}, the
 * cycle completed from the SDK's {@code onCompleteFuture}), as the SDK's README shows its async streaming.
 *
 * <p>The provider's stream is OpenAI's "The chat completion chunk object" (API reference, Chat Completions,
 * Streaming): text chunks with {@code "usage": null}, the finishing chunk, then, with
 * {@code stream_options.include_usage}, a chunk with {@code "choices": []} and the usage, and {@code data: [DONE]}.
 */
abstract class AbstractRound348 extends ModelCallRound {
    static final long PROMPT = 1_200;
    static final long COMPLETION = 300;
    static final long TOTAL = PROMPT + COMPLETION;
    static final String WORDS = "The lighthouse keeper lit the lamp at dusk and watched the ships. ";

    @Override
    protected Deployment deploy(QuotaFilter quota) {
        return filteredAi(quota)
                .servlet("provider", new Provider(), "/upstream/*")
                .servlet("blocking", new BlockingRelay(), "/ai/blocking/*")
                .servlet("async", new AsyncRelay(), "/ai/async/*");
    }

    /** OpenAI's Chat Completions endpoint, streamed (the chunk objects of the API reference), counted per subject. */
    class Provider extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-subject"));
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String head = "{\"id\":\"chatcmpl-348\",\"object\":\"chat.completion.chunk\",\"created\":1750000000,"
                    + "\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_348\",";
            for (int i = 0; i < 20; i++) {
                EventStreams.write(out, "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{"
                        + (i == 0 ? "\"role\":\"assistant\"," : "") + "\"content\":\"" + WORDS
                        + "\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
            }
            EventStreams.write(out, "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                    + "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n");
            EventStreams.write(out, "data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + PROMPT
                    + ",\"completion_tokens\":" + COMPLETION + ",\"total_tokens\":" + TOTAL
                    + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                    + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                    + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n");
            EventStreams.write(out, "data: [DONE]\n\n");
        }
    }

    static OpenAIClient upstream(HttpServletRequest req) {
        return OpenAIOkHttpClient.builder().apiKey("sk-app")
                .baseUrl("http://127.0.0.1:" + req.getLocalPort() + "/upstream/openai/v1")
                .putHeader("x-subject", req.getHeader("x-user-id")).maxRetries(0).build();
    }

    /** The application's own call: a system prompt of its own, the user's question, usage asked for. */
    static ChatCompletionCreateParams appCall() {
        return ChatCompletionCreateParams.builder().model("gpt-4o")
                .addSystemMessage("You are a storyteller.")
                .addUserMessage("Write a story about a lighthouse keeper.")
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
    }

    static String sse(ChatCompletionChunk chunk) {
        try {
            return "data: " + ObjectMappers.jsonMapper().writeValueAsString(chunk) + "\n\n";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The relay with the SDK's blocking stream: each chunk written as the SDK parsed it. */
    static class BlockingRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            OpenAIClient client = upstream(req);
            try (StreamResponse<ChatCompletionChunk> chunks = client.chat().completions().createStreaming(appCall())) {
                resp.setContentType("text/event-stream");
                OutputStream out = resp.getOutputStream();
                for (ChatCompletionChunk chunk : (Iterable<ChatCompletionChunk>) chunks.stream()::iterator) {
                    EventStreams.write(out, sse(chunk));
                }
                EventStreams.write(out, "data: [DONE]\n\n");
            } finally {
                client.close();
            }
        }
    }

    /**
     * The relay with the SDK's async stream (openai-java README, "Asynchronous streaming"): {@code subscribe} with a
     * handler that writes each chunk on the SDK's thread, and the servlet's async cycle completed once the SDK's
     * {@code onCompleteFuture} completes.
     */
    static class AsyncRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            OpenAIClient client = upstream(req);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            AsyncContext ctx = req.startAsync();
            ctx.setTimeout(30_000);
            AsyncStreamResponse<ChatCompletionChunk> chunks = client.async().chat().completions().createStreaming(appCall());
            chunks.subscribe(new AsyncStreamResponse.Handler<>() {
                @Override
                public void onNext(ChatCompletionChunk chunk) {
                    try {
                        EventStreams.write(out, sse(chunk));
                    } catch (IOException gone) {
                        chunks.close();
                    }
                }

                @Override
                public void onComplete(Optional<Throwable> error) {
                    try {
                        if (error.isEmpty()) {
                            EventStreams.write(out, "data: [DONE]\n\n");
                        }
                    } catch (IOException gone) {
                        // the client went away
                    } finally {
                        client.close();
                        ctx.complete();
                    }
                }
            });
        }
    }

    /** The user's client: the SDK streaming with include_usage, accumulated by the SDK's own helper. */
    long userStream(String s, String relay) {
        OpenAIClient client = OpenAIOkHttpClient.builder().apiKey("sk-user")
                .baseUrl(container.uri("/ai/" + relay + "/v1").toString())
                .putHeader("x-user-id", s).maxRetries(0).build();
        try {
            ChatCompletionAccumulator acc = ChatCompletionAccumulator.create();
            try (StreamResponse<ChatCompletionChunk> chunks = client.chat().completions().createStreaming(
                    ChatCompletionCreateParams.builder().model("gpt-4o")
                            .addUserMessage("Write me a story about a lighthouse keeper.")
                            .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
                chunks.stream().forEach(acc::accumulate);
            }
            ChatCompletion done = acc.chatCompletion();
            return done.usage().orElseThrow().totalTokens();
        } finally {
            client.close();
        }
    }

    void assertChargedUsage(String s, long read, String what) throws InterruptedException {
        QuotaAccount a = chargedAtLeast(s, TOTAL);
        assertAll(() -> assertEquals(TOTAL, read, "the SDK read the provider's usage"),
                () -> assertEquals(1, calls.of(s), "model calls"),
                () -> assertEquals(TOTAL, a.used(), kind() + ": " + what + ": the provider billed " + TOTAL
                        + " (usage " + PROMPT + " + " + COMPLETION + ", relayed to the client), charged " + a.used()
                        + " of " + a.limit() + ": " + ledger(s)));
    }

    /** Control: the blocking relay's stream, read to its end by the user's SDK, is charged its usage. */
    @Test
    void theBlockingSdkRelayIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        assertChargedUsage(s, userStream(s, "blocking"), "blocking SDK relay");
    }

    /** The async SDK relay's stream, read to its end by the user's SDK, is charged its usage. */
    @Test
    void theAsyncSdkRelayIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        assertChargedUsage(s, userStream(s, "async"), "async SDK relay (AsyncStreamResponse.subscribe)");
    }
}
