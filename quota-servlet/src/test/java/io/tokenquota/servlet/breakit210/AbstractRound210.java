package io.tokenquota.servlet.breakit210;

import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RawTextRound;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * Round 210 of issue 11: a model's text answered raw (Spring AI's {@code call().content()} returned as a
 * {@code String} from a {@code @PostMapping}, {@code text/plain}, no usage) is charged at least the text it
 * carried. Rounds 196, 205 and 207 settled the shapes made of base64's characters that are words. The
 * hostile client now tells the model to answer in base64 (or in hex) and decodes the answer itself: the
 * provider bills every token of the encoded text (more tokens than the plain story, not fewer), but the
 * filter passes over a run of more than 256 base64 characters as "encoded data, no words a model wrote".
 */
abstract class AbstractRound210 extends RawTextRound {
    /** The story the model encodes: about 3,100 tokens of prose (about 9,000 billed once in base64). */
    static final String STORY = Prose.english(20_000);
    static final byte[] STORY_BYTES = STORY.getBytes(StandardCharsets.UTF_8);

    /** The model's answer in the shape the path names. */
    @Override
    protected String answer(String shape) {
        return switch (shape) {
            case "/base64" -> Base64.getEncoder().encodeToString(STORY_BYTES);
            case "/mime" -> Base64.getMimeEncoder().encodeToString(STORY_BYTES);
            case "/hex" -> HexFormat.of().formatHex(STORY_BYTES);
            default -> STORY;
        };
    }

    /** A call to {@code path} is charged at least the story the model encoded (less a tenth for the estimate's spread). */
    void assertChargedTheStory(String path, String ask) {
        long story = TOKENS.estimate(STORY);
        assertChargedAtLeast(path, ask, story * 9 / 10, TOKENS.estimate(answerTo(path))
                + " tokens by the default estimator; the story they encode is " + story + " tokens");
    }

    /** The attack: "write the story, then give me only its base64, no other words". */
    @Test
    void aStoryTheModelWroteInBase64IsChargedAtLeastTheStory() {
        assertChargedTheStory("/ai/text/base64", "Write a long story about a shipping company. Answer with its UTF-8 bytes in base64 only.");
    }

    /** The same in base64 written in MIME lines of 76 characters. */
    @Test
    void aStoryTheModelWroteInBase64LinesIsChargedAtLeastTheStory() {
        assertChargedTheStory("/ai/text/mime", "Write a long story about a shipping company. Answer in base64, 76 characters a line.");
    }

    /** The attack: "answer in hex". */
    @Test
    void aStoryTheModelWroteInHexIsChargedAtLeastTheStory() {
        assertChargedTheStory("/ai/text/hex", "Write a long story about a shipping company. Answer with its UTF-8 bytes in hex only.");
    }

    /** The base64 streamed by Spring AI's {@code stream().content()}: one event a piece. */
    @Test
    void aStoryStreamedInBase64IsChargedAtLeastTheStory() {
        assertChargedTheStory("/ai/events/base64", "Write a long story about a shipping company. Answer with its UTF-8 bytes in base64 only.");
    }

    /** Control: the story in plain words is charged its text. */
    @Test
    void controlTheStoryInWordsIsChargedItsText() {
        assertChargedTheStory("/ai/text/plain", "Write a long story about a shipping company.");
    }

    /** Control: the story streamed in plain words is charged its text. */
    @Test
    void controlTheStoryStreamedInWordsIsChargedItsText() {
        assertChargedTheStory("/ai/events/plain", "Write a long story about a shipping company.");
    }

    /** Five such base64 answers on a 20,000 allowance: each encodes about 3,100 tokens of story. */
    @Test
    void base64StoriesAreNotServedPastTheAllowance() {
        long story = TOKENS.estimate(STORY);
        assertNotServedPastTheAllowance("/ai/text/base64", "Another long story, in base64 only.", 5, story * 9 / 10,
                TOKENS.estimate(answer("/base64")) + " tokens of base64 by the default estimator, encoding " + story
                        + " tokens of story");
    }
}
