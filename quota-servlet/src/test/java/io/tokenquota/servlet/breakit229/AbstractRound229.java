package io.tokenquota.servlet.breakit229;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RawTextRound;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 229 of issue 11: the event path of the raw-text rule once more. A developer-docs assistant is asked
 * to show an example of a provider's streaming chunk (or a whole answer with its usage) and explain it: the
 * model's answer opens with a provider-shaped JSON example and goes on in prose, sent as one event
 * ({@code SseEmitter.send(call().content())}, a data: line per line of the text) by an application that
 * streams its agent's steps. The event's document "reports usage or carries stream text", so the event is
 * taken for the provider's and the model's prose after it is never counted.
 */
abstract class AbstractRound229 extends RawTextRound {
    /** The model's explanation, about 5,000 tokens. */
    static final String EXPLANATION = Prose.english(24_000);

    /** An OpenAI streaming chunk, pretty-printed as models write it. */
    static final String OPENAI_CHUNK = "{\n  \"id\": \"chatcmpl-abc123\",\n  \"object\": \"chat.completion.chunk\",\n"
            + "  \"created\": 1715000000,\n  \"model\": \"gpt-4o\",\n  \"choices\": [\n    {\n      \"index\": 0,\n"
            + "      \"delta\": {\"content\": \"Hello\"},\n      \"finish_reason\": null\n    }\n  ]\n}";
    /** An OpenAI chat completion with its usage. */
    static final String OPENAI_COMPLETION = "{\n  \"id\": \"chatcmpl-abc123\",\n  \"object\": \"chat.completion\",\n"
            + "  \"model\": \"gpt-4o\",\n  \"choices\": [\n    {\n      \"index\": 0,\n"
            + "      \"message\": {\"role\": \"assistant\", \"content\": \"Hi there!\"},\n      \"finish_reason\": \"stop\"\n    }\n  ],\n"
            + "  \"usage\": {\"prompt_tokens\": 9, \"completion_tokens\": 3, \"total_tokens\": 12}\n}";
    /** An Anthropic content_block_delta event's data. */
    static final String ANTHROPIC_DELTA = "{\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"Hello\"}}";

    static final String CHUNK_FIRST = OPENAI_CHUNK + "\n\nThis is one chunk of a streamed chat completion. " + EXPLANATION;
    static final String COMPLETION_FIRST = OPENAI_COMPLETION + "\n\nThis is a whole chat completion with its usage. " + EXPLANATION;
    static final String ANTHROPIC_FIRST = ANTHROPIC_DELTA + "\n\nThat is one text delta of a Messages stream. " + EXPLANATION;

    /** A chat request body, the JSON a model shows most when asked how to call a chat API. */
    static final String REQUEST_FIRST = "{\n  \"model\": \"gpt-4o\",\n  \"messages\": [\n    {\"role\": \"user\", \"content\": \"Hello!\"}\n  ]\n}"
            + "\n\nThat is the body to POST to /v1/chat/completions. " + EXPLANATION;
    /** A translation API's answer. */
    static final String TEXT_KEY_FIRST = "{\"text\": \"Bonjour\", \"detected_language\": \"en\"}"
            + "\n\nThe service answers with the translated text and the language it detected. " + EXPLANATION;

    @Override
    protected String answer(String shape) {
        return switch (shape) {
            case "/chunk" -> CHUNK_FIRST;
            case "/chunkline" -> CHUNK_FIRST.replace('\n', ' ');
            case "/completion" -> COMPLETION_FIRST;
            case "/completionline" -> COMPLETION_FIRST.replace('\n', ' ');
            case "/anthropic" -> ANTHROPIC_FIRST;
            case "/request" -> REQUEST_FIRST;
            case "/textkey" -> TEXT_KEY_FIRST;
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return super.deploy(filter).servlet("sofar", new MessageSoFar(), "/ai/sofar/*");
    }

    /** A short chat answer, about 600 words. */
    static final String SHORT_ANSWER = Prose.english(3_600).trim();

    /**
     * A chat page's SSE endpoint (htmx {@code sse-swap}, a Thymeleaf fragment) that sends the message so far
     * for each delta of {@code stream().content()}, with a typing cursor after it while the model writes, as
     * chat UIs show: as an HTML fragment ({@code <span class="cursor">}) or as text ({@code ▌}).
     */
    private final class MessageSoFar extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            String[] words = SHORT_ANSWER.split(" ");
            StringBuilder soFar = new StringBuilder();
            for (int i = 0; i < words.length; i += 4) {
                for (int j = i; j < Math.min(words.length, i + 4); j++) {
                    soFar.append(j > 0 ? " " : "").append(words[j]);
                }
                boolean last = i + 4 >= words.length;
                String data = switch (req.getPathInfo()) {
                    case "/cursorhtml" -> "<div class=\"msg assistant\"><p>" + soFar
                            + (last ? "" : "<span class=\"cursor\"></span>") + "</p></div>";
                    case "/cursortext" -> soFar + (last ? "" : " \u258c");
                    default -> throw new IllegalArgumentException(req.getPathInfo());
                };
                out.write(("data:" + data + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    private void assertChargedTheMessageOnce(String path) {
        String s = subject();
        org.junit.jupiter.api.Assertions.assertEquals(200, io.tokenquota.servlet.testing.TestHttp
                .postJson(container.uri(path), s, "{\"message\":\"Summarise the quarterly logistics review for the board.\"}")
                .statusCode());
        long used = settled(s).used();
        long text = TOKENS.estimate(SHORT_ANSWER);
        org.junit.jupiter.api.Assertions.assertTrue(used <= 2 * Math.max(text, 1_000), kind() + ": one answer of "
                + SHORT_ANSWER.length() + " characters (" + text + " tokens) sent as the message so far with a cursor, charged "
                + used + ": " + ledger(s));
    }

    @Test
    void anAnswerSentAsTheMessageSoFarWithAnHtmlCursorIsNotChargedEveryPrefix() {
        assertChargedTheMessageOnce("/ai/sofar/cursorhtml");
    }

    @Test
    void anAnswerSentAsTheMessageSoFarWithATextCursorIsNotChargedEveryPrefix() {
        assertChargedTheMessageOnce("/ai/sofar/cursortext");
    }

    @Test
    void anAnswerOpeningWithAStreamChunkExampleAsAJsonStringIsChargedTheText() {
        assertChargedTheText("/ai/jsonstring/chunk", ASK);
    }

    @Test
    void anAnswerOpeningWithAChatRequestExampleInOneEventIsChargedTheText() {
        assertChargedTheText("/ai/event/request", "Show me the JSON body of a chat request, then explain each field in depth.");
    }

    @Test
    void anAnswerOpeningWithATranslationApiExampleInOneEventIsChargedTheText() {
        assertChargedTheText("/ai/event/textkey", "Show me what a translation API answers, then explain it in depth.");
    }

    private static final String ASK = "Show me an example of one streamed chunk of the chat API, then explain each field in depth.";

    @Test
    void anAnswerOpeningWithAStreamChunkExampleInOneEventIsChargedTheText() {
        assertChargedTheText("/ai/event/chunk", ASK);
    }

    @Test
    void anAnswerOpeningWithAStreamChunkExampleOnOneDataLineIsChargedTheText() {
        assertChargedTheText("/ai/event/chunkline", ASK);
    }

    @Test
    void anAnswerOpeningWithACompletionExampleInOneEventIsChargedTheText() {
        assertChargedTheText("/ai/event/completion", "Show me an example chat completion with its usage, then explain each field in depth.");
    }

    @Test
    void anAnswerOpeningWithACompletionExampleOnOneDataLineIsChargedTheText() {
        assertChargedTheText("/ai/event/completionline", "Show me an example chat completion with its usage, then explain each field in depth.");
    }

    @Test
    void anAnswerOpeningWithAnAnthropicDeltaExampleInOneEventIsChargedTheText() {
        assertChargedTheText("/ai/event/anthropic", "Show me an example text delta of the Messages stream, then explain it in depth.");
    }

    @Test
    void anAnswerOpeningWithAStreamChunkExampleAsTextIsChargedTheText() {
        assertChargedTheText("/ai/text/chunk", ASK);
    }

    @Test
    void anAnswerOpeningWithACompletionExampleAsTextIsChargedTheText() {
        assertChargedTheText("/ai/text/completion", "Show me an example chat completion with its usage, then explain each field in depth.");
    }
}
