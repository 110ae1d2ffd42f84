package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.testing.Prose;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * A long string's text past what the scanner keeps of it counts by its own bytes, every one (rounds 511, 527), never
 * at the rate of its first 256 nor of some of its pieces: not when those are the client's prompt repeated, nor when
 * the model opened its answer with blanks, nor when blanks lie where a sample would be read.
 */
final class StringRestTest {
    private static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    /** About 1.4 tokens a character (3 bytes): text the model writes densest. */
    private static final String CHINESE = "\u6a21\u578b\u7684\u56de\u7b54\u6309\u5176\u81ea\u5df1\u7684\u6587\u5b57"
            + "\u8ba1\u7b97\uff0c\u4e0d\u6309\u63d0\u793a\u7684\u7a7a\u683c\u3002";

    /** The text {@code body} (a whole JSON answer, no usage) counts, {@code inputs} the request's prompt or null. */
    private static long text(String inputs, String body) {
        UsageSniffer s = new UsageSniffer(0);
        s.countText(TOKENS, () -> 0, -1, true);
        if (inputs != null) {
            String request = "{\"inputs\":" + quote(inputs) + ",\"parameters\":{\"return_full_text\":true}}";
            s.promptSent(PromptEcho.sentIn(request.getBytes(StandardCharsets.UTF_8)));
        }
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        s.begin("application/json", null, java.util.Arrays.copyOf(bytes, Math.min(bytes.length, 1_000)));
        for (int i = 0; i < bytes.length; i += 1_000) {
            s.feed(bytes, i, Math.min(1_000, bytes.length - i));
        }
        s.finish();
        return s.textTokens();
    }

    private static String quote(String text) {
        try {
            return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(text);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void assertAbout(long expected, long actual, String what) {
        assertTrue(actual >= expected && actual <= expected + expected / 50 + 5,
                what + ": counted " + actual + ", should be " + expected + " (or up to 2% more)");
    }

    /** The unit probe of round 511: a 5,100-character Chinese completion after 4,000 blanks repeated counted 150. */
    @Test
    void aCompletionAfterARepeatedPromptOfBlanksCountsItsOwnText() {
        String prompt = " ".repeat(4_000) + "Continue.\n";
        String completion = CHINESE.repeat(5_100 / CHINESE.length());
        assertAbout(TOKENS.estimate(completion), text(prompt, "[{\"generated_text\":" + quote(prompt + completion)
                + "}]"), "after the prompt");
        // a prompt shorter than the kept part: the kept part's text after it, and the rest, each by its own
        String shortPrompt = " ".repeat(200) + "Go on.\n";
        assertAbout(TOKENS.estimate(completion), text(shortPrompt, "{\"generated_text\":"
                + quote(shortPrompt + completion) + "}"), "after a short prompt");
        // the same string where no prompt was sent (an application's field that repeats it): all of it counts
        assertAbout(TOKENS.estimate(prompt) + TOKENS.estimate(completion), text(null,
                "[{\"generated_text\":" + quote(prompt + completion) + "}]"), "no prompt");
    }

    /** A model's own answer that opens with blanks or a banner: the rest counts by its own text, outside any echo. */
    @Test
    void anAnswerOpeningWithBlanksCountsTheRestByItsOwnText() {
        String prose = Prose.english(28_000);
        for (String opening : new String[] {" ".repeat(300), "=".repeat(300) + "\n", "\\n".repeat(200)}) {
            String content = opening + prose;
            assertAbout(TOKENS.estimate(content), text(null, "{\"choices\":[{\"message\":{\"content\":" + quote(content)
                    + "}}]}"), "opening " + opening.charAt(0));
        }
        // escaped text (escaped code units, a surrogate pair, quotes) decodes as the parser reads it
        String escaped = "\u00e9\"\\/\uD83D\uDE00\t".repeat(3_000);
        String body = "{\"choices\":[{\"message\":{\"content\":\""
                + escaped.replace("\\", "\\\\").replace("\"", "\\\"").replace("\t", "\\t").replace("\u00e9", "\\u00e9")
                        .replace("\uD83D\uDE00", "\\ud83d\\ude00") + "\"}}]}";
        assertAbout(TOKENS.estimate(escaped), text(null, body), "escaped");
    }

    /** A very long text counts its own: every piece of it, one token more each piece for the estimator's rounding. */
    @Test
    void aVeryLongStringIsCountedByAllOfItsOwnText() {
        String prose = Prose.english(1_000_000);
        long counted = text(null, "{\"choices\":[{\"message\":{\"content\":" + quote(prose) + "}}]}");
        long expected = TOKENS.estimate(prose);
        assertTrue(counted >= expected && counted <= expected + expected / 50, counted + " for " + expected);
    }

    /**
     * Round 527: past 64 KB one piece a group was read, at offsets an answer could compute, and the rest priced at
     * their rate. Now the estimator reads every byte of the rest (an 8 MB base64, all 8 MB, once), so no layout of
     * blanks and dense text changes what a text counts.
     */
    @Test
    void theEstimatorReadsEveryByteOfTheRestOnce() {
        long[] read = new long[1];
        StringRest rest = new StringRest(text -> {
            read[0] += text.length();
            return text.length() / 4;
        });
        byte[] b64 = "QUJD".repeat(2_000_000).getBytes(StandardCharsets.UTF_8);
        rest.start();
        for (byte b : b64) {
            rest.accept(b, true);
        }
        long pieces = (b64.length + StringRest.PIECE - 1) / StringRest.PIECE;
        assertEquals(b64.length / 4 + pieces - 1, rest.tokens());
        assertEquals(b64.length, read[0]);
    }

    /** Blanks and digits in 8 KB blocks, either way round: the rest counts what each block holds, whatever the layout. */
    @Test
    void blocksOfBlanksAndDigitsCountTheirOwnTextWhereverTheyLie() {
        String digits = "31415926535897932384".repeat(410).substring(0, StringRest.PIECE);
        String blanks = " ".repeat(StringRest.PIECE);
        java.util.Random random = new java.util.Random(527);
        for (int layout = 0; layout < 4; layout++) {
            StringBuilder text = new StringBuilder("x".repeat(300));
            for (int k = 0; k < 40; k++) {
                text.append(random.nextBoolean() ? digits : blanks);
            }
            String content = text.toString();
            long expected = TOKENS.estimate(content);
            long counted = text(null, "{\"generated_text\":" + quote(content) + "}");
            assertTrue(counted >= expected && counted <= expected + expected / 50 + 45, "layout " + layout + ": "
                    + counted + " for " + expected);
        }
    }

    @Test
    void decodesJsonStringContents() {
        byte[] raw = "a\\n\\u00e9\\\"\\\\\\/\\ud83d\\ude00\u00e9".getBytes(StandardCharsets.UTF_8);
        assertEquals("a\n\u00e9\"\\/\uD83D\uDE00\u00e9", StringRest.decode(raw, 0, raw.length));
    }
}
