package io.tokenquota.servlet.breakit539;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import org.junit.jupiter.api.Test;

/**
 * Round 539 of issue 11: event-stream framing as the filter parses it against the event-stream format
 * (html.spec.whatwg.org "Server-sent events", section 9.2.6 "Interpreting an event stream") that the
 * providers' SDKs and browsers' EventSource follow. Each stream carries the same call; framing a
 * client reads the same way must cost the same.
 */
abstract class AbstractRound539 extends ShapedAnswerRound {
    static final long IN = 20;
    static final long OUT = 8_000;

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    /**
     * Anthropic's Messages stream (docs.anthropic.com "Streaming Messages": message_start with the input
     * usage, content_block_* events, message_delta with the cumulative output usage, message_stop), its
     * message_delta framed as {@code delta} writes it; {@code nl} ends each line.
     */
    static void anthropic(OutputStream out, String nl, String delta) throws IOException {
        EventStreams.write(out, ("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\","
                + "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],"
                + "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + IN + ",\"output_tokens\":1}}}\n\n"
                + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                + "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n").replace("\n", nl));
        for (int i = 0; i < 3; i++) {
            EventStreams.write(out, ("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                    + "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello there. \"}}\n\n").replace("\n", nl));
        }
        EventStreams.write(out, ("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
                .replace("\n", nl));
        EventStreams.write(out, delta);
        EventStreams.write(out, ("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n").replace("\n", nl));
    }

    static final String DELTA_DATA = "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
            + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + OUT + "}}";

    /** OpenAI chat.completion.chunk stream with stream_options.include_usage (platform.openai.com API reference). */
    static final String HEAD = "{\"id\":\"chatcmpl-539\",\"object\":\"chat.completion.chunk\",\"created\":1743770302,"
            + "\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_1\",\"choices\":";
    static String openAiUsage(long p, long c) {
        return HEAD + "[],\"usage\":{\"prompt_tokens\":" + p + ",\"completion_tokens\":" + c + ",\"total_tokens\":" + (p + c)
                + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":"
                + "{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}";
    }
    static void openAi(OutputStream out, String tail) throws IOException {
        EventStreams.write(out, "data: " + HEAD + "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                + "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
        for (int i = 0; i < 3; i++) {
            EventStreams.write(out, "data: " + HEAD + "[{\"index\":0,\"delta\":{\"content\":\"Hello there. \"},"
                    + "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n");
        }
        EventStreams.write(out, "data: " + HEAD + "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                + "\"usage\":null}\n\n");
        EventStreams.write(out, tail);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/event-stream");
        OutputStream out = resp.getOutputStream();
        // the SDK posts to /ai/{shape}/v1/chat/completions
        switch (shape.split("/")[0]) {
            case "a-plain" -> anthropic(out, "\n", "event: message_delta\ndata: " + DELTA_DATA + "\n\n");
            // the event: field after the data: the format keeps the last event: field of the event, wherever
            case "a-name-after" -> anthropic(out, "\n", "data: " + DELTA_DATA + "\nevent: message_delta\n\n");
            // the data on two data: lines, which the format joins with a newline: still one JSON document
            case "a-two-lines" -> anthropic(out, "\n", "event: message_delta\ndata: "
                    + DELTA_DATA.replace(",\"usage\"", ",\ndata: \"usage\"") + "\n\n");
            // lone CR line ends throughout
            case "a-cr" -> anthropic(out, "\r", "event: message_delta\rdata: " + DELTA_DATA + "\r\r");
            // CRLF with the CR at the end of one write and the LF at the start of the next
            case "a-crlf-split" -> {
                anthropic(out, "\r\n", "event: message_delta\r\ndata: " + DELTA_DATA + "\r");
                EventStreams.write(out, "\n\r\n");
            }
            // data: with no space, a comment and id:/retry: fields inside the event
            case "a-fields" -> anthropic(out, "\n", ": keep-alive\nid: 7\nretry: 3000\nevent:message_delta\ndata:"
                    + DELTA_DATA + "\n: trailer\n\n");
            case "o-plain" -> openAi(out, "data: " + openAiUsage(IN, OUT) + "\n\ndata: [DONE]\n\n");
            // after [DONE] the SDKs stop reading: a smaller usage past it is read by no client
            case "o-after-done" -> openAi(out, "data: " + openAiUsage(IN, OUT) + "\n\ndata: [DONE]\n\ndata: "
                    + openAiUsage(1, 1) + "\n\n");
            case "o-two-lines" -> openAi(out, "data: " + openAiUsage(IN, OUT).replace(",\"usage\"", ",\ndata: \"usage\"")
                    + "\n\ndata: [DONE]\n\n");
            case "o-cr" -> openAi(out, "data: " + openAiUsage(IN, OUT) + "\r\rdata: [DONE]\r\r");
            default -> throw new IllegalArgumentException(shape);
        }
        return true;
    }

    static final String A_REQUEST = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":100,\"stream\":true,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}";
    static final String O_REQUEST = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":100,\"stream\":true,"
            + "\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}";

    private void charged(String shape, String request) {
        String s = "r539-" + shape + "-" + kind() + "-" + System.nanoTime();
        long used = chargedOneCall("/ai/" + shape, s, request);
        assertEquals(IN + OUT, used, kind() + " " + shape + ": charged " + used + ", should be " + (IN + OUT) + "; " + ledger(s));
    }

    @Test void control_anthropicPlain() { charged("a-plain", A_REQUEST); }
    @Test void anthropicNameAfterData() { charged("a-name-after", A_REQUEST); }
    @Test void anthropicTwoDataLines() { charged("a-two-lines", A_REQUEST); }
    @Test void anthropicLoneCr() { charged("a-cr", A_REQUEST); }
    @Test void anthropicCrlfSplit() { charged("a-crlf-split", A_REQUEST); }
    @Test void anthropicFields() { charged("a-fields", A_REQUEST); }
    @Test void control_openAiPlain() { charged("o-plain", O_REQUEST); }
    @Test void openAiAfterDone() { charged("o-after-done", O_REQUEST); }
    @Test void openAiTwoDataLines() { charged("o-two-lines", O_REQUEST); }
    @Test void openAiLoneCr() { charged("o-cr", O_REQUEST); }

    /** The user's client: the official OpenAI Java SDK streaming with include_usage, accumulated by its own helper. */
    long sdkRead(String shape, String s) {
        OpenAIClient client = OpenAIOkHttpClient.builder().apiKey("sk-user")
                .baseUrl(container.uri("/ai/" + shape + "/v1").toString())
                .putHeader("x-user-id", s).maxRetries(0).build();
        try {
            ChatCompletionAccumulator acc = ChatCompletionAccumulator.create();
            try (StreamResponse<ChatCompletionChunk> chunks = client.chat().completions().createStreaming(
                    ChatCompletionCreateParams.builder().model("gpt-4o-mini").addUserMessage("Say hello.")
                            .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
                chunks.stream().forEach(acc::accumulate);
            }
            return acc.chatCompletion().usage().orElseThrow().totalTokens();
        } finally {
            client.close();
        }
    }

    private void sdkCharged(String shape) {
        String s = "r539-sdk-" + shape + "-" + kind() + "-" + System.nanoTime();
        long read = sdkRead(shape, s);
        assertEquals(IN + OUT, read, "the SDK read the call's usage");
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertEquals(IN + OUT, used, kind() + " " + shape + ": the OpenAI SDK read usage " + read + " and stopped at [DONE];"
                + " charged " + used + ", should be " + (IN + OUT) + "; " + ledger(s));
    }

    /** Control: the SDK reads the usage chunk before [DONE], and the call is charged it. */
    @Test void control_sdkReadsTheUsageBeforeDone() { sdkCharged("o-plain"); }

    /**
     * A smaller report under the call's id after {@code data: [DONE]}: the SDK stops at the marker (its client reads
     * 8,020), the filter reads on and lets "the last report wins" take the later one.
     */
    @Test void sdkIgnoresAReportAfterDone() { sdkCharged("o-after-done"); }
}
