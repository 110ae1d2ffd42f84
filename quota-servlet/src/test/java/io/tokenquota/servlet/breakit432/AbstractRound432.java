package io.tokenquota.servlet.breakit432;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.anthropic.client.AnthropicClient;
import com.anthropic.client.okhttp.AnthropicOkHttpClient;
import com.anthropic.core.http.StreamResponse;
import com.anthropic.helpers.MessageAccumulator;
import com.anthropic.models.messages.Message;
import com.anthropic.models.messages.MessageCreateParams;
import com.anthropic.models.messages.RawMessageStreamEvent;
import com.anthropic.models.messages.Usage;
import com.anthropic.models.messages.WebSearchTool20250305;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.ModelCallRound;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 432 of issue 11: the official Anthropic Java SDK ({@code com.anthropic:anthropic-java} 3.14.0) calling a
 * Messages endpoint behind the filter with Anthropic's server-side web search tool ({@code web_search_20250305}).
 *
 * <p>The shapes are Anthropic's: the "Streaming Messages" page of the API docs, its example "Streaming request
 * with web search tool use": {@code message_start} carries the usage counted before the model ran
 * ({@code "input_tokens":2679, ..., "output_tokens":3}); the search runs on Anthropic's side while the stream
 * pauses ({@code server_tool_use}, then a {@code web_search_tool_result} block); the closing
 * {@code message_delta} carries the cumulative usage, whose {@code input_tokens} has grown by the search results
 * the model read ({@code "usage":{"input_tokens":10682,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,
 * "output_tokens":510,"server_tool_use":{"web_search_requests":1}}}). The page says "The token counts shown in the
 * usage field of the message_delta event are cumulative". The non-streamed answer is the "Web search tool"
 * page's response example (content {@code text}, {@code server_tool_use}, {@code web_search_tool_result}, usage
 * with {@code server_tool_use.web_search_requests}). The SDK's {@code MessageAccumulator} takes each field of
 * the delta's usage over the start's.
 */
abstract class AbstractRound432 extends ModelCallRound {
    static final long START_INPUT = 2_679;
    static final long FINAL_INPUT = 10_682;
    static final long OUTPUT = 510;

    @Override
    protected Deployment deploy(QuotaFilter quota) {
        return filteredAi(quota).servlet("anthropic", new Messages(), "/ai/anthropic/*");
    }

    /** Anthropic's Messages endpoint: {@code x-variant} "search" runs the web search tool, else it answers alone. */
    class Messages extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            calls.count(req.getHeader("x-user-id"));
            boolean search = "search".equals(req.getHeader("x-variant"));
            boolean stream = body.contains("\"stream\":true");
            if (!stream) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(message(search).getBytes(StandardCharsets.UTF_8));
                return;
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            EventStreams.write(out, EventStreams.event("message_start", "{\"type\":\"message_start\",\"message\":"
                    + "{\"id\":\"msg_01G432\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-opus-4-1-20250805\","
                    + "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + START_INPUT
                    + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":3}}}"));
            int index = 0;
            if (search) {
                EventStreams.write(out, EventStreams.event("content_block_start", "{\"type\":\"content_block_start\","
                        + "\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_01432\","
                        + "\"name\":\"web_search\",\"input\":{}}}"));
                EventStreams.write(out, EventStreams.event("content_block_delta", "{\"type\":\"content_block_delta\","
                        + "\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":"
                        + "\"{\\\"query\\\": \\\"weather NYC today\\\"}\"}}"));
                EventStreams.write(out, EventStreams.event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
                EventStreams.write(out, EventStreams.event("content_block_start", "{\"type\":\"content_block_start\","
                        + "\"index\":1,\"content_block\":{\"type\":\"web_search_tool_result\",\"tool_use_id\":"
                        + "\"srvtoolu_01432\",\"content\":[{\"type\":\"web_search_result\",\"title\":\"Weather in New York City"
                        + " in May 2025\",\"url\":\"https://www.weatherapi.com/\",\"encrypted_content\":\"Ev0DCioIAxgCIiQ3\","
                        + "\"page_age\":null}]}}"));
                EventStreams.write(out, EventStreams.event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"));
                index = 2;
            }
            EventStreams.write(out, EventStreams.event("content_block_start", "{\"type\":\"content_block_start\",\"index\":"
                    + index + ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
            for (int i = 0; i < 40; i++) {
                EventStreams.write(out, EventStreams.event("content_block_delta", "{\"type\":\"content_block_delta\","
                        + "\"index\":" + index + ",\"delta\":{\"type\":\"text_delta\",\"text\":\"The forecast for New York "
                        + "calls for sunny skies and a light breeze. \"}}"));
            }
            EventStreams.write(out, EventStreams.event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":"
                    + index + "}"));
            EventStreams.write(out, EventStreams.event("message_delta", "{\"type\":\"message_delta\",\"delta\":"
                    + "{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":" + (search
                    ? "{\"input_tokens\":" + FINAL_INPUT + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
                    + "\"output_tokens\":" + OUTPUT + ",\"server_tool_use\":{\"web_search_requests\":1}}"
                    : "{\"output_tokens\":" + OUTPUT + "}") + "}"));
            EventStreams.write(out, EventStreams.event("message_stop", "{\"type\":\"message_stop\"}"));
        }
    }

    /** The "Web search tool" page's response example, its usage set to this round's figures. */
    static String message(boolean search) {
        long input = search ? FINAL_INPUT : START_INPUT;
        return "{\"id\":\"msg_a930390d3a\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-opus-4-1-20250805\","
                + "\"content\":[" + (search
                ? "{\"type\":\"text\",\"text\":\"I'll search for the weather in New York.\"},"
                + "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_01WYG3ziw53XMcoyKL4XcZmE\",\"name\":\"web_search\","
                + "\"input\":{\"query\":\"weather NYC today\"}},"
                + "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_01WYG3ziw53XMcoyKL4XcZmE\",\"content\":"
                + "[{\"type\":\"web_search_result\",\"url\":\"https://www.weatherapi.com/\",\"title\":\"Weather in New York\","
                + "\"encrypted_content\":\"EqgfCioIARgBIiQ3YTAwMjY1Mi1m\",\"page_age\":\"May 25, 2025\"}]},"
                : "")
                + "{\"type\":\"text\",\"text\":\"The forecast for New York calls for sunny skies.\"}],"
                + "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + input
                + ",\"output_tokens\":" + OUTPUT + ",\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0"
                + (search ? ",\"server_tool_use\":{\"web_search_requests\":1}" : "") + "}}";
    }

    AnthropicClient client(String s, boolean search) {
        return AnthropicOkHttpClient.builder().apiKey("sk-ant-user")
                .baseUrl(container.uri("/ai/anthropic").toString())
                .putHeader("x-user-id", s).putHeader("x-variant", search ? "search" : "plain").maxRetries(0).build();
    }

    static MessageCreateParams ask(boolean search) {
        MessageCreateParams.Builder b = MessageCreateParams.builder().model("claude-opus-4-1").maxTokens(4_096)
                .addUserMessage("What's the weather in NYC?");
        if (search) {
            b.addTool(WebSearchTool20250305.builder().maxUses(5).build());
        }
        return b.build();
    }

    /** The user's SDK calls once, streamed or not: the total the SDK itself parsed from the answer. */
    long call(String s, boolean search, boolean stream) {
        AnthropicClient client = client(s, search);
        try {
            Message m;
            if (stream) {
                MessageAccumulator acc = MessageAccumulator.create();
                try (StreamResponse<RawMessageStreamEvent> events = client.messages().createStreaming(ask(search))) {
                    events.stream().forEach(acc::accumulate);
                }
                m = acc.message();
            } else {
                m = client.messages().create(ask(search));
            }
            Usage u = m.usage();
            return u.inputTokens() + u.outputTokens() + u.cacheCreationInputTokens().orElse(0L)
                    + u.cacheReadInputTokens().orElse(0L);
        } finally {
            client.close();
        }
    }

    void assertChargedWhatTheSdkRead(String s, long read, long billed, String what) throws InterruptedException {
        QuotaAccount a = chargedAtLeast(s, Math.min(billed, 1));
        assertAll(() -> assertEquals(billed, read, "the SDK's own usage"),
                () -> assertEquals(1, calls.of(s), "model calls"),
                () -> assertEquals(billed, a.used(), kind() + ": " + what + ": Anthropic billed " + billed
                        + " tokens (the SDK read " + read + "), charged " + a.used() + " of " + a.limit() + ": " + ledger(s)));
    }

    /**
     * The streamed web search: the final {@code message_delta}'s cumulative usage counts 10,682 input tokens (the
     * search results the model read) and 510 output; the SDK reads 11,192. Charged that.
     */
    @Test
    void aStreamedWebSearchIsChargedTheFinalDeltasInput() throws InterruptedException {
        String s = subject();
        assertChargedWhatTheSdkRead(s, call(s, true, true), FINAL_INPUT + OUTPUT, "streamed web search");
    }

    /** The same web search not streamed: usage 10,682 + 510. */
    @Test
    void aWebSearchMessageIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        assertChargedWhatTheSdkRead(s, call(s, true, false), FINAL_INPUT + OUTPUT, "web search message");
    }

    /** Control: a streamed answer without a tool: message_start's input and the delta's output, 2,679 + 510. */
    @Test
    void controlAPlainStreamIsChargedItsUsage() throws InterruptedException {
        String s = subject();
        assertChargedWhatTheSdkRead(s, call(s, false, true), START_INPUT + OUTPUT, "plain stream");
    }
}
