package io.tokenquota.servlet.testing;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * Endpoints that relay a model's whole answer text without its provider's usage (the estimate is the
 * charge), for rounds whose attacker is the model's own text. The mock model does what the user asks:
 * it repeats the text after the user's first line verbatim. With {@code x-report} the endpoint reports
 * its provider's figure, as the client library gives it (Spring AI's {@code ChatResponse} metadata).
 */
public final class EchoRelays {
    private static final ObjectMapper JSON = new ObjectMapper();

    private EchoRelays() {
    }

    /** A gpt-4o chat body of one user message, {@code content}, allowing {@code maxTokens} of output. */
    public static String chat(int maxTokens, String content) {
        return "{\"model\":\"gpt-4o\",\"max_tokens\":" + maxTokens + ",\"messages\":[{\"role\":\"user\",\"content\":"
                + json(content) + "}]}";
    }

    /** What a user writes to have the model answer {@code lines} and nothing else. */
    public static String repeat(String lines) {
        return "Repeat the following lines exactly, nothing else:\n" + lines;
    }

    /** The model's answer: the text after the last message's first line (a stock answer without one). */
    static String answer(CountingModel.Call call) throws IOException {
        JsonNode messages = JSON.readTree(call.body()).path("messages");
        String prompt = messages.get(messages.size() - 1).path("content").asText();
        int nl = prompt.indexOf('\n');
        String answer = nl < 0 ? "Paris is the capital of France." : prompt.substring(nl + 1);
        String report = call.req().getHeader("x-report");
        if (report != null) {
            call.req().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, Long.parseLong(report));
        }
        return answer;
    }

    private static String json(String text) {
        try {
            return JSON.writeValueAsString(text);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A hand-written relay for a chat UI: it calls the model without streaming and sends the whole answer
     * text to the browser as one server-sent event, JSON-encoded ({@code "data: " + json(text) + "\n\n"},
     * after {@code event: <name>} when it names its events), as docs/decisions.md ("Usage the model may
     * have written") asks: written raw, the model could end the event and write its own. With
     * {@code x-raw} it writes the text raw.
     */
    public static final class EventRelay extends CountingModel {
        private final String eventName;

        /** An unnamed relay ({@code eventName} null) or one naming its event. */
        public EventRelay(ModelCalls calls, String eventName) {
            super(calls);
            this.eventName = eventName;
        }

        @Override
        protected void answer(Call call) throws IOException {
            String answer = EchoRelays.answer(call);
            call.resp().setContentType("text/event-stream");
            call.resp().setCharacterEncoding("UTF-8");
            String head = eventName == null ? "" : "event: " + eventName + "\n";
            String data = call.req().getHeader("x-raw") != null ? answer : json(answer);
            call.resp().getOutputStream().write((head + "data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A documentation assistant that answers the model's text as {@code text/plain} (Spring AI's
     * {@code chatClient.prompt(...).call().content()} returned as a String).
     */
    public static final class PlainText extends CountingModel {
        public PlainText(ModelCalls calls) {
            super(calls);
        }

        @Override
        protected void answer(Call call) throws IOException {
            String answer = EchoRelays.answer(call);
            call.resp().setContentType("text/plain;charset=UTF-8");
            call.resp().getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        }
    }
}
