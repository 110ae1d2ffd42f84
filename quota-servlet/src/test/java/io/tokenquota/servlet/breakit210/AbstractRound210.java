package io.tokenquota.servlet.breakit210;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HexFormat;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 210 of issue 11: a model's text answered raw (Spring AI's {@code call().content()} returned as a
 * {@code String} from a {@code @PostMapping}, {@code text/plain}, no usage) is charged at least the text it
 * carried. Rounds 196, 205 and 207 settled the shapes made of base64's characters that are words. The
 * hostile client now tells the model to answer in base64 (or in hex) and decodes the answer itself: the
 * provider bills every token of the encoded text (more tokens than the plain story, not fewer), but the
 * filter passes over a run of more than 256 base64 characters as "encoded data, no words a model wrote".
 */
abstract class AbstractRound210 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    static String subject() {
        return "u210-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** The story the model encodes: about 3,100 tokens of prose (about 9,000 billed once in base64). */
    static final String STORY = Prose.english(20_000);
    static final byte[] STORY_BYTES = STORY.getBytes(StandardCharsets.UTF_8);

    /** The model's answer in the shape the path names. */
    static String answer(String shape) {
        return switch (shape) {
            case "/base64" -> Base64.getEncoder().encodeToString(STORY_BYTES);
            case "/mime" -> Base64.getMimeEncoder().encodeToString(STORY_BYTES);
            case "/hex" -> HexFormat.of().formatHex(STORY_BYTES);
            default -> STORY;
        };
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("story", new Story(), "/ai/story/*")
                .servlet("events", new Events(), "/ai/events/*")
                .onStartup(filter::registerByServletName);
    }

    /** {@code @PostMapping("/ai/story") String story(@RequestBody Ask ask)}: the model's text, as Spring writes a String. */
    class Story extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(answer(req.getPathInfo()).getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * {@code @PostMapping(produces = TEXT_EVENT_STREAM) Flux<String> stream(...)} returning
     * {@code chatClient.prompt().user(...).stream().content()}: each piece (about a token: 4 characters) its
     * own event, as Spring writes a {@code Flux<String>}.
     */
    class Events extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream;charset=UTF-8");
            String text = answer(req.getPathInfo());
            OutputStream out = resp.getOutputStream();
            for (int i = 0; i < text.length(); i += 4) {
                out.write(("data:" + text.substring(i, Math.min(text.length(), i + 4)) + "\n\n").getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    long call(String path, String s, String ask) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, "{\"message\":\"" + ask + "\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    void assertChargedTheStory(String path, String ask) {
        String s = subject();
        long used = call(path, s, ask);
        String written = answer(path.substring(path.lastIndexOf('/')));
        long story = TOKENS.estimate(STORY);
        assertTrue(used >= story * 9 / 10, kind() + ": the model wrote " + written.length() + " characters ("
                + TOKENS.estimate(written) + " tokens by the default estimator; the story they encode is " + story
                + " tokens), charged " + used + ": " + ledger(s));
    }

    /** The attack: "write the story, then give me only its base64, no other words". */
    @Test
    void aStoryTheModelWroteInBase64IsChargedAtLeastTheStory() {
        assertChargedTheStory("/ai/story/base64", "Write a long story about a shipping company. Answer with its UTF-8 bytes in base64 only.");
    }

    /** The same in base64 written in MIME lines of 76 characters. */
    @Test
    void aStoryTheModelWroteInBase64LinesIsChargedAtLeastTheStory() {
        assertChargedTheStory("/ai/story/mime", "Write a long story about a shipping company. Answer in base64, 76 characters a line.");
    }

    /** The attack: "answer in hex". */
    @Test
    void aStoryTheModelWroteInHexIsChargedAtLeastTheStory() {
        assertChargedTheStory("/ai/story/hex", "Write a long story about a shipping company. Answer with its UTF-8 bytes in hex only.");
    }

    /** The base64 streamed by Spring AI's {@code stream().content()}: one event a piece. */
    @Test
    void aStoryStreamedInBase64IsChargedAtLeastTheStory() {
        assertChargedTheStory("/ai/events/base64", "Write a long story about a shipping company. Answer with its UTF-8 bytes in base64 only.");
    }

    /** Control: the story in plain words is charged its text. */
    @Test
    void controlTheStoryInWordsIsChargedItsText() {
        assertChargedTheStory("/ai/story/plain", "Write a long story about a shipping company.");
    }

    /** Control: the story streamed in plain words is charged its text. */
    @Test
    void controlTheStoryStreamedInWordsIsChargedItsText() {
        assertChargedTheStory("/ai/events/plain", "Write a long story about a shipping company.");
    }

    /** Five such base64 answers on a 20,000 allowance: each encodes about 3,100 tokens of story. */
    @Test
    void base64StoriesAreNotServedPastTheAllowance() {
        String s = subject();
        int served = 0;
        for (int i = 0; i < 5; i++) {
            if (TestHttp.postJson(container.uri("/ai/story/base64"), s,
                    "{\"message\":\"Another long story, in base64 only.\"}").statusCode() == 200) {
                served++;
            }
        }
        long used = settled(s).used();
        long story = TOKENS.estimate(STORY);
        assertTrue(used >= served * story * 9 / 10, kind() + ": " + served + " base64 stories served (each "
                + TOKENS.estimate(answer("/base64")) + " tokens of base64 by the default estimator, encoding " + story
                + " tokens of story), charged " + used + " on a " + ALLOWANCE + " allowance: " + ledger(s));
    }
}
