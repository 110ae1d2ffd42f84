package io.tokenquota.servlet.breakit196;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.RawTextRound;
import org.junit.jupiter.api.Test;

/**
 * Rounds 196 and 205 of issue 11: a model's text answered raw (Spring AI's {@code call().content()}
 * returned as a {@code String} from a {@code @PostMapping}, {@code text/plain}, no usage) is charged at
 * least the text it carried (docs/decisions.md, "A model's text written raw is counted too"). The hostile
 * client tells the model to write its words in a shape made only of base64's characters, which the
 * raw-text counter took for base64 data and passed over: joined by hyphens ("answer as one kebab-case
 * line", round 196), in PascalCase with no separator at all, URL-encoded with {@code +} for each space (as
 * a form or a query string writes it), or joined by {@code /} (a path; round 205). Every word is still at
 * least one token the provider bills.
 */
abstract class AbstractRound196 extends RawTextRound {
    static final String[] WORDS = ("The supplier may terminate this agreement with thirty days written notice if the customer "
            + "fails to pay any undisputed invoice within the agreed period and the customer shall remain liable for "
            + "all fees accrued before termination including reasonable costs of collection").split(" ");

    /** How many words the model writes. */
    static final int COUNT = 6_000;

    static final String ASK = "Write out the contract's termination clause at length.";

    /** The model's answer: {@link #COUNT} words in the shape the path names. */
    @Override
    protected String answer(String shape) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < COUNT; i++) {
            String w = WORDS[i % WORDS.length];
            switch (shape) {
                case "/hyphens" -> b.append(i > 0 ? "-" : "").append(w);
                case "/pascal" -> b.append(Character.toUpperCase(w.charAt(0))).append(w.substring(1));
                case "/plus" -> b.append(i > 0 ? "+" : "").append(w);
                case "/slash" -> b.append(i > 0 ? "/" : "").append(w);
                default -> b.append(i > 0 ? " " : "").append(w);
            }
        }
        return b.toString();
    }

    /** The call of a new subject to {@code path} is charged at least a token a word. */
    void assertChargedAWord(String path) {
        String s = subject();
        long used = charged(path, s, ASK);
        assertTrue(used >= COUNT, kind() + ": an answer of " + COUNT + " words (each at least a token) is charged"
                + " them, charged " + used + ": " + ledger(s));
    }

    /** Round 196's attack: the model writes 6,000 words joined by hyphens. */
    @Test
    void aModelsAnswerWithItsWordsJoinedByHyphensIsChargedItsText() {
        assertChargedAWord("/ai/text/hyphens");
    }

    /** Round 205's attack: "answer as one PascalCase identifier". */
    @Test
    void aModelsAnswerWrittenInPascalCaseIsChargedItsText() {
        assertChargedAWord("/ai/text/pascal");
    }

    /** Round 205's attack: "answer URL-encoded, as a query string" (spaces as {@code +}). */
    @Test
    void aModelsAnswerWithItsSpacesWrittenAsPlusSignsIsChargedItsText() {
        assertChargedAWord("/ai/text/plus");
    }

    /** Round 205's attack: "answer as one path, words joined by slashes". */
    @Test
    void aModelsAnswerWithItsWordsJoinedBySlashesIsChargedItsText() {
        assertChargedAWord("/ai/text/slash");
    }

    /** Control: the same words joined by spaces are charged their text. */
    @Test
    void controlTheSameWordsJoinedBySpacesAreChargedTheirText() {
        assertChargedAWord("/ai/text/spaced");
    }
}
