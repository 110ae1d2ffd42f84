package io.tokenquota.servlet.breakit99;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Daemons;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.CountingModel;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/**
 * Round 99 of issue 11: honest users on correctly set-up hosts, charged more than the model used.
 * A Spring {@code SseEmitter} chat stream that numbers its text events with {@code id:} (so a browser
 * can resume with {@code Last-Event-ID}) and then sends the provider's usage as a named JSON event; a
 * LangChain4j endpoint returning its {@code ChatResponse}; and controls with the providers' own stream
 * formats (Anthropic Messages with its {@code ping}, Gemini {@code alt=sse}, OpenAI chat with
 * {@code include_usage}).
 */
abstract class AbstractRound99 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Model calls per subject. */
    static final ModelCalls CALLS = new ModelCalls();
    static final ExecutorService MODEL = Daemons.pool("round99-model");

    AbstractRound99() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behindAi(filter, ChatStream.class)
                .servlet("lc4j", CountingModel.answering(CALLS, "application/json", LANGCHAIN4J_ANSWER), "/ai/lc4j/chat")
                .servlet("anthropic", CountingModel.answering(CALLS, "text/event-stream; charset=utf-8", anthropicEvents()),
                        "/ai/anthropic/v1/messages")
                .servlet("gemini", CountingModel.answering(CALLS, "text/event-stream", geminiChunks()), "/ai/gemini/*")
                .servlet("openai", CountingModel.answering(CALLS, "text/event-stream; charset=utf-8", openAiChunks()),
                        "/ai/openai/v1/chat/completions");
    }

    // ------------------------------------------------------------------ the application

    static final String[] WORDS = {"Paris", " is", " the", " capital", " of", " France."};

    /**
     * A Spring MVC chat stream, as written with {@code SseEmitter}: each text delta the provider streams
     * goes to the browser as one event, numbered with {@code id:} so that an {@code EventSource} that
     * drops can resume ({@code Last-Event-ID}); with {@code ?named=true} each also carries
     * {@code event:token}. When the provider's stream ends, its usage goes out as a named JSON event
     * ({@code event:usage}, the object serialised by Spring's Jackson converter, one line). The provider
     * reported 200 prompt and 150 completion tokens. The model's text is a single word per event, never
     * with a line break: Spring writes {@code id:N\ndata:word\n\n}.
     */
    @RestController
    public static class ChatStream {
        @PostMapping(path = "/chat", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
        public SseEmitter chat(@RequestBody String body, @RequestParam(defaultValue = "false") boolean named,
                               HttpServletRequest req) {
            CALLS.count(req.getHeader("x-user-id"));
            SseEmitter emitter = new SseEmitter(30_000L);
            MODEL.execute(() -> {
                try {
                    int id = 0;
                    for (String word : WORDS) {
                        SseEmitter.SseEventBuilder event = SseEmitter.event();
                        if (named) {
                            event.name("token");
                        }
                        emitter.send(event.id(Integer.toString(++id)).data(word));
                    }
                    emitter.send(SseEmitter.event().id(Integer.toString(++id)).name("usage")
                            .data(Map.of("usage", Map.of("prompt_tokens", 200, "completion_tokens", 150,
                                    "total_tokens", 350)), MediaType.APPLICATION_JSON));
                    emitter.complete();
                } catch (IOException | RuntimeException e) {
                    emitter.completeWithError(e);
                }
            });
            return emitter;
        }
    }

    /**
     * A LangChain4j endpoint's answer ({@code ChatModel.chat(ChatRequest)}) that returns the framework's
     * {@code ChatResponse} as JSON, as a Spring controller returning it writes it with Jackson:
     * {@code aiMessage} and {@code metadata} with the provider's {@code tokenUsage}
     * ({@code inputTokenCount}, {@code outputTokenCount}, {@code totalTokenCount}): 200 + 150 = 350.
     */
    static final String LANGCHAIN4J_ANSWER = "{\"aiMessage\":{\"text\":\"Paris is the capital of France.\","
            + "\"thinking\":null,\"toolExecutionRequests\":[],\"attributes\":{}},"
            + "\"metadata\":{\"id\":\"chatcmpl-99\",\"modelName\":\"gpt-4o-mini-2024-07-18\","
            + "\"tokenUsage\":{\"inputTokenCount\":200,\"outputTokenCount\":150,\"totalTokenCount\":350},"
            + "\"finishReason\":\"STOP\"}}";

    /**
     * Anthropic's Messages stream as the API sends it (and the Anthropic Java SDK parses it): named
     * events, {@code ping} after the first content block, {@code message_start} counting 1,200 input
     * tokens, 300 cache reads and 1 output token, {@code message_delta} with the final 150 output tokens.
     */
    static String[] anthropicEvents() {
        List<String> events = new ArrayList<>();
        events.add("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_99\","
                + "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\","
                + "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1200,"
                + "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":300,"
                + "\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0},"
                + "\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n\n");
        events.add("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        events.add("event: ping\ndata: {\"type\": \"ping\"}\n\n");
        for (String word : WORDS) {
            events.add("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                    + "\"delta\":{\"type\":\"text_delta\",\"text\":" + json(word) + "}}\n\n");
        }
        events.add("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
        events.add("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                + "\"stop_sequence\":null},\"usage\":{\"input_tokens\":1200,\"cache_creation_input_tokens\":0,"
                + "\"cache_read_input_tokens\":300,\"output_tokens\":150,"
                + "\"server_tool_use\":{\"web_search_requests\":0}}}\n\n");
        events.add("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        return events.toArray(String[]::new);
    }

    /**
     * Gemini's {@code streamGenerateContent?alt=sse}: every chunk carries {@code usageMetadata}; the early
     * ones count the prompt alone, the last one (with {@code finishReason}) 900 prompt, 150 candidate and
     * 250 thought tokens, total 1,300, with the per-modality details.
     */
    static String[] geminiChunks() {
        List<String> chunks = new ArrayList<>();
        for (String word : WORDS) {
            chunks.add("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": " + json(word)
                    + "}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 900,"
                    + "\"totalTokenCount\": 900,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 900}]},"
                    + "\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r99\"}\r\n\r\n");
        }
        chunks.add("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},"
                + "\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 900,"
                + "\"candidatesTokenCount\": 150,\"totalTokenCount\": 1300,\"promptTokensDetails\": [{\"modality\": "
                + "\"TEXT\",\"tokenCount\": 900}],\"thoughtsTokenCount\": 250},\"modelVersion\": \"gemini-2.5-flash\","
                + "\"responseId\": \"r99\"}\r\n\r\n");
        return chunks.toArray(String[]::new);
    }

    /**
     * OpenAI's chat stream with {@code stream_options.include_usage}: every chunk says {@code "usage":null},
     * the last one has no choices and the usage (200 + 150, cached and reasoning details included).
     */
    static String[] openAiChunks() {
        String head = "data: {\"id\":\"chatcmpl-99\",\"object\":\"chat.completion.chunk\",\"created\":1764720000,"
                + "\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_99\",";
        List<String> chunks = new ArrayList<>();
        chunks.add(head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                + "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
        for (String word : WORDS) {
            chunks.add(head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":" + json(word)
                    + "},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
        }
        chunks.add(head + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                + "\"usage\":null}\n\n");
        chunks.add(head + "\"choices\":[],\"usage\":{\"prompt_tokens\":200,\"completion_tokens\":150,"
                + "\"total_tokens\":350,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n");
        chunks.add("data: [DONE]\n\n");
        return chunks.toArray(String[]::new);
    }

    static String json(String text) {
        try {
            return JSON.writeValueAsString(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------ helpers

    /** A chat call allowing up to 4,000 output tokens (the estimate holds them): what the user's app sends. */
    static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":4000,\"stream\":true,"
            + "\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
            + "\"content\":\"What is the capital of France?\"}]}";

    /** A new subject's one call to {@code path} was served by one model call and charged {@code expected}. */
    void assertCharged(String path, String body, long expected, String what) {
        String s = subject();
        assertCharged(s, TestHttp.postJson(container.uri(path), s, body), 200, 1, expected, what);
    }

    /** The chat call to the Spring {@code SseEmitter} stream, {@code query} its parameters. */
    HttpResponse<String> springStream(String s, String query) {
        return TestHttp.postJson(container.uri("/ai/spring/chat" + query), s, CHAT, "Accept", "text/event-stream");
    }

    // ------------------------------------------------------------------ 1. a resumable SseEmitter stream

    /**
     * Control: the Spring {@code SseEmitter} stream whose text events are named ({@code event:token},
     * {@code id:N}, {@code data:word}) and whose last event is the provider's usage, 350, is charged 350.
     */
    @Test
    void controlANamedTokenStreamIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = springStream(s, "?named=true");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(r.body().contains("event:usage"), figures(s, r, a));
        assertEquals(350, a.used(), figures(s, r, a));
    }

    /**
     * Over-charge, no attacker: the same Spring {@code SseEmitter} stream with its text events numbered
     * for resumption ({@code id:1\ndata:Paris\n\n}, as {@code SseEmitter.event().id(..).data(..)} writes
     * them) but not named. The {@code id:} line is the server's framing, written before the data, exactly
     * as a name is; the model's words never contain a line break. The provider's usage event
     * ({@code event:usage}, one JSON document on one line) says 350; the filter treats the numbered text
     * events as raw text a model could have framed, calls the usage provisional and charges the estimate:
     * the whole 4,000-token budget the user allowed.
     */
    @Test
    void numberedTextEventsDoNotMakeTheProvidersUsageCostTheWholeBudget() {
        String s = subject();
        HttpResponse<String> r = springStream(s, "");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(r.body().startsWith("id:1\ndata:Paris\n\n"), figures(s, r, a));
        assertTrue(r.body().contains("event:usage"), figures(s, r, a));
        assertEquals(350, a.used(), "the provider's usage event said 350 tokens: " + figures(s, r, a));
    }

    // ------------------------------------------------------------------ 2. a LangChain4j ChatResponse

    /**
     * Over-charge, no attacker: a LangChain4j endpoint returns the framework's {@code ChatResponse}, whose
     * {@code metadata.tokenUsage} carries the provider's counts (350). The filter does not read
     * LangChain4j's usage (it reads LangChain's {@code usage_metadata}, Spring AI's and Dify's
     * {@code metadata.usage}), so the 2xx is "without usage" and charged the estimate: about 4,000.
     */
    @Test
    void aLangChain4jChatResponseIsChargedItsTokenUsage() {
        assertCharged("/ai/lc4j/chat", CHAT, 350, "LangChain4j's ChatResponse.metadata.tokenUsage said 350");
    }

    // ------------------------------------------------------------------ 3. the providers' own streams (controls)

    /** Control: Anthropic's Messages stream (ping included) is charged 1,200 + 300 cache reads + 150 = 1,650. */
    @Test
    void controlAnAnthropicStreamIsChargedItsFinalUsage() {
        assertCharged("/ai/anthropic/v1/messages", "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":4000,"
                + "\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}",
                1_650, "Anthropic's message_delta said 1,200 input, 300 cache reads, 150 output");
    }

    /** Control: Gemini's {@code alt=sse} stream (CRLF framing) is charged its last chunk's total, 1,300. */
    @Test
    void controlAGeminiStreamIsChargedItsLastTotal() {
        assertCharged("/ai/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"What is the capital of France?\"}]}],"
                        + "\"generationConfig\":{\"maxOutputTokens\":4000}}",
                1_300, "Gemini's last chunk said 1,300");
    }

    /** Control: OpenAI's chat stream with {@code include_usage} is charged its usage chunk's 350. */
    @Test
    void controlAnOpenAiStreamIsChargedItsUsageChunk() {
        assertCharged("/ai/openai/v1/chat/completions", CHAT, 350, "OpenAI's usage chunk said 350");
    }
}
