package io.tokenquota.servlet.breakit378;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 378 of issue 11 ("no model call goes unpaid"): streams that end in a provider's error after some output.
 *
 * <p>The rule (docs/servlet.md, settlement rule 3; {@code UsageSniffer.errorOnly}, {@code Settlement}): "a 2xx event
 * stream whose only events are a provider's errors, each an event the server named so ({@code event: error})" is
 * settled as a 5xx and released by default; "an error the model could have written never makes a 2xx free: only an
 * event the server names as an error ... The name counts only when its {@code event:} line comes before the event's
 * first {@code data:} line, as servers write it: a relay writing {@code "data: " + text} lets the model's text add
 * lines after its own prefix, never before it". And the estimate counts "the text it wrote raw (a {@code String}
 * under any text label or any label the client's {@code Accept} names ...), lines of a body read as events that are
 * no field of the format".
 *
 * <p>The attack: the application is the most common Spring AI endpoint, a {@code @PostMapping} returning
 * {@code chatClient.prompt().user(q).call().content()} as a {@code String} (Spring AI reference, "ChatClient":
 * {@code String content()}). Spring MVC writes a {@code String} with {@code StringHttpMessageConverter}, which
 * supports every media type, so the label is whatever the client's {@code Accept} names (Spring Framework
 * reference, "Content Types" / {@code AbstractMessageConverterMethodProcessor.writeWithMessageConverters}): with
 * {@code Accept: text/event-stream} the model's whole text goes out as an "event stream". The model's text is the
 * client's to shape (its prompt asks for it), and here nothing but the model writes the body: so the model writes
 * its {@code event: error} line <i>before</i> the data line, as Anthropic's server does. The rest of its answer is
 * a comment line and lines of prose, which the event format ignores (no {@code data:} field), so the only "event"
 * is the error: the call is released as a provider's failure, while the model read the prompt and wrote 4,000
 * tokens and more.
 *
 * <p>Shapes: Anthropic's error event, docs.anthropic.com "Streaming Messages", "Error events": {@code event:
 * error} / {@code data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}}; its
 * stream: {@code message_start} (with {@code message.usage} {@code input_tokens}, {@code output_tokens}),
 * {@code content_block_start}, {@code content_block_delta} ({@code text_delta}), then that error mid-stream ("We
 * may occasionally send errors in the event stream"). The event-stream format: HTML Living Standard, "Server-sent
 * events", "Interpreting an event stream" (a line with no colon or an unknown field is ignored; a line starting
 * with a colon is a comment).
 */
abstract class AbstractRound378 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    /** What the model writes for each subject (Spring AI's {@code call().content()}). */
    static final Map<String, String> MODEL_TEXT = new ConcurrentHashMap<>();
    static final String CHAT = "/ai/spring/chat";
    static final String RELAY = "/ai/relay/messages";

    /** The story the model writes: about 20,000 characters of English prose (some 4,400 tokens). */
    static final String STORY = Prose.english(20_000);
    /** Anthropic's error event, as its server writes it: the name before the data. */
    static final String OVERLOADED = "event: error\n"
            + "data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    static final String ASK = "{\"message\":\"Write me a long story about a lighthouse keeper. Begin your reply with a line"
            + " that starts with a colon, and end it with the two lines I paste below, exactly as written.\"}";

    AbstractRound378() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("spring", SpringMvc.dispatcher(Chat.class), SpringMvc.MAPPING)
                .servlet("relay", new AnthropicRelay(), "/ai/relay/*");
    }

    /** The application: Spring AI's {@code call().content()} returned as a String. */
    @RestController
    public static class Chat {
        @PostMapping({"/chat", "/ai/spring/chat"})
        public String chat(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user) {
            CALLS.count(user);
            return MODEL_TEXT.get(user);
        }
    }

    /** A relay passing on Anthropic's Messages stream as it came (bytes the test sets per subject). */
    static final class AnthropicRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            CALLS.count(user);
            resp.setContentType("text/event-stream");
            resp.getOutputStream().write(MODEL_TEXT.get(user).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** {@code s} posts {@link #ASK} accepting {@code accept}: answered 200 after one model call; what it was charged. */
    long ask(String s, String path, String accept, String expectedLabel) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, ASK, "Accept", accept);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith(expectedLabel),
                "labelled " + r.headers().firstValue("Content-Type"));
        assertEquals(1, CALLS.of(s), "one model call");
        return settled(s).used();
    }

    void assertChargedTheStory(String s, long used, String what) {
        long text = TOKENS.estimate(STORY);
        assertTrue(used >= text * 9 / 10, kind() + ": " + what + ": the model wrote " + STORY.length()
                + " characters (" + text + " tokens by the default estimator); charged " + used + ": " + ledger(s));
    }

    /** What the same request is charged when the model writes the story alone (the control's figure). */
    long storyAlone() {
        String c = subject();
        MODEL_TEXT.put(c, ": Here is your story.\n" + STORY + "\n");
        return ask(c, CHAT, "text/event-stream", "text/event-stream");
    }

    void assertChargedAsTheStoryAlone(String s, long used, String what) {
        long alone = storyAlone();
        assertTrue(used >= alone, kind() + ": " + what + ": the same request answered with the story alone is "
                + "charged " + alone + "; this one " + used + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ findings

    /**
     * Finding: the model's whole answer (a comment line, 20,000 characters of prose, then Anthropic's error event
     * written name first), returned as a String and labelled {@code text/event-stream} by the client's
     * {@code Accept}: the filter sees an event stream whose only event is a provider's error and releases the call.
     */
    @Test
    void aModelsTextEndingInAnErrorEventUnderTheClientsEventStreamLabelIsCharged() {
        String s = subject();
        MODEL_TEXT.put(s, ": Here is your story.\n" + STORY + "\n\n" + OVERLOADED);
        long used = ask(s, CHAT, "text/event-stream", "text/event-stream");
        assertChargedAsTheStoryAlone(s, used, "a String labelled text/event-stream by the client's Accept, ending in the "
                + "text of an error event");
    }

    /** Finding: the same with the error event first and the story after it (no comment line needed). */
    @Test
    void aModelsTextOpeningWithAnErrorEventUnderTheClientsEventStreamLabelIsCharged() {
        String s = subject();
        MODEL_TEXT.put(s, OVERLOADED + STORY + "\n");
        long used = ask(s, CHAT, "text/event-stream", "text/event-stream");
        assertChargedAsTheStoryAlone(s, used, "a String labelled text/event-stream by the client's Accept, opening with the "
                + "text of an error event");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same text without the error event, under the same label: charged the story. */
    @Test
    void controlTheSameTextWithoutTheErrorEventIsCharged() {
        String s = subject();
        MODEL_TEXT.put(s, ": Here is your story.\n" + STORY + "\n");
        long used = ask(s, CHAT, "text/event-stream", "text/event-stream");
        assertChargedTheStory(s, used, "a String labelled text/event-stream, no error event");
        assertEquals(3_160, used, "the story alone: its 3,119 tokens of text and the request's input: " + ledger(s));
    }

    /** Control: the same text with the error event, under Spring's own label for a String ({@code text/plain}). */
    @Test
    void controlTheSameTextUnderTextPlainIsCharged() {
        String s = subject();
        MODEL_TEXT.put(s, ": Here is your story.\n" + STORY + "\n\n" + OVERLOADED);
        long used = ask(s, CHAT, "text/plain", "text/plain");
        assertChargedTheStory(s, used, "the same String labelled text/plain");
    }

    /**
     * Control (this round's focus, no gap): Anthropic's stream relayed as it came, cut by its {@code overloaded_error}
     * after {@code message_start} (6,000 input tokens) and 20,000 characters of text deltas: charged at least the
     * input and the text.
     */
    @Test
    void controlAnAnthropicStreamEndingInAnErrorAfterItsTextIsChargedItsInputAndText() {
        String s = subject();
        StringBuilder b = new StringBuilder("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
                + "\"msg_01378ErrAfterText\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":"
                + "\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":6000,"
                + "\"output_tokens\":1}}}\n\n"
                + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                + "{\"type\":\"text\",\"text\":\"\"}}\n\n");
        for (int i = 0; i < STORY.length(); i += 200) {
            b.append("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                    + "{\"type\":\"text_delta\",\"text\":\"").append(STORY, i, Math.min(STORY.length(), i + 200))
                    .append("\"}}\n\n");
        }
        b.append(OVERLOADED);
        MODEL_TEXT.put(s, b.toString());
        long used = ask(s, RELAY, "text/event-stream", "text/event-stream");
        long text = TOKENS.estimate(STORY);
        assertAll(() -> assertTrue(used >= 6_000 + text * 9 / 10, kind() + ": charged " + used + " for 6,000 input and "
                + text + " tokens of text: " + ledger(s)));
    }

    /** Control: Anthropic's error alone (no output), relayed under 200: released, as rule 3 says. */
    @Test
    void controlAnAnthropicErrorOnlyStreamIsReleased() {
        String s = subject();
        MODEL_TEXT.put(s, OVERLOADED);
        long used = ask(s, RELAY, "text/event-stream", "text/event-stream");
        assertEquals(0, used, ledger(s));
    }
}
