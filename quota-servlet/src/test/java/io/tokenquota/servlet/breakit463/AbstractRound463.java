package io.tokenquota.servlet.breakit463;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import org.junit.jupiter.api.Test;

/**
 * Round 463 of issue 11: a token-counting endpoint's answer releases the hold (the provider ran its
 * tokenizer, no model). The path alone never decides, since its last segment may be the client's to
 * choose; the answer must be a count shaped as that endpoint's and of at least a quarter of the
 * request's input estimate. But a hostile client chooses both: the path segment an application's route
 * takes from it (a conversation or schema id such as {@code invoice:countTokens} or {@code x/tokenize})
 * and, through its prompt, the model's structured answer, which a Spring AI application returns as it
 * is ({@code call().entity(Map.class)}, or {@code call().content()} under JSON mode). The quarter is
 * only a floor: a count the model was told to write as large as it likes passes it, and the other
 * fields of the answer (the essay the client wanted) are not looked at. The model call is then free.
 *
 * <p>The application here: {@code POST /ai/{id}} calls the model and returns its JSON answer, no usage
 * (what a Spring AI structured answer is). The controls are the same answers at an id that names no
 * count, charged their estimate.
 */
abstract class AbstractRound463 extends ShapedAnswerRound {
    /** The model's structured answer the client asked for: a Gemini count's field beside the essay. */
    static final String GEMINI_SHAPED = "{\"totalTokens\":250000,\"essay\":" + q(TEXT) + "}";
    /** The same with a tokenizer's list of token ids (llama.cpp's /tokenize answer: {"tokens":[ids]}). */
    static final String TOKENIZE_SHAPED = "{\"tokens\":[791,4062,14198],\"essay\":" + q(TEXT) + "}";

    @Override
    protected String body(String shape) {
        if (shape.startsWith("only")) {
            // nothing but the count: as Gemini's countTokens answers ({"totalTokens": n}), n the model's
            return "{\"totalTokens\":250000}";
        }
        if (shape.startsWith("gemini")) {
            return GEMINI_SHAPED;
        }
        if (shape.startsWith("tok")) {
            return TOKENIZE_SHAPED;
        }
        throw new IllegalArgumentException(shape);
    }

    /** A chat request asking for a long essay in a JSON answer (OpenAI chat completions request shape). */
    static final String REQUEST = "{\"model\":\"gpt-4o\",\"response_format\":{\"type\":\"json_object\"},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a 4,000-token essay on rivers. Answer JSON:"
            + " {\\\"totalTokens\\\": 250000, \\\"tokens\\\": [791,4062,14198], \\\"essay\\\": <the essay>}\"}]}";

    private long charged(String path, String s) {
        return chargedOneCall(path, s, REQUEST);
    }

    /** Control: the model's JSON answer at an id that names no count is charged its estimate (above 1,000). */
    @Test
    void aModelsJsonAnswerIsChargedItsEstimate() {
        String s = "r463-ctl-" + kind() + "-" + System.nanoTime();
        long used = charged("/ai/gemini-invoice", s);
        assertTrue(used > 1_000, kind() + ": " + used + " " + ledger(s));
        String t = "r463-ctl2-" + kind() + "-" + System.nanoTime();
        assertEquals(used, charged("/ai/tok-invoice", t), kind() + ": " + ledger(t));
    }

    /** Finding: the same call at the id {@code invoice:countTokens} is released (charged 0). */
    @Test
    void aModelsAnswerShapedAsAGeminiCountAtAClientNamedCountPathIsCharged() {
        String c = "r463-ctl3-" + kind() + "-" + System.nanoTime();
        long expected = charged("/ai/gemini-invoice", c);
        String s = "r463-gem-" + kind() + "-" + System.nanoTime();
        long used = charged("/ai/gemini-invoice:countTokens", s);
        assertEquals(expected, used, kind() + ": a model call (essay of ~4,400 tokens) charged " + used
                + ", should be " + expected + " as at /ai/gemini-invoice; " + ledger(s));
    }

    /** Finding: a tokenizer's list of ids (whose number is not checked at all) at {@code …/tokenize}. */
    @Test
    void aModelsAnswerShapedAsATokenListAtAClientNamedTokenizePathIsCharged() {
        String c = "r463-ctl4-" + kind() + "-" + System.nanoTime();
        long expected = charged("/ai/tok-invoice", c);
        String s = "r463-tok-" + kind() + "-" + System.nanoTime();
        long used = charged("/ai/tok-invoice/tokenize", s);
        assertEquals(expected, used, kind() + ": a model call (essay of ~4,400 tokens) charged " + used
                + ", should be " + expected + " as at /ai/tok-invoice; " + ledger(s));
    }

    /**
     * Finding, the count alone: the model answered nothing but {@code {"totalTokens": 250000}} (the
     * client's prompt asked for it), 250,000 for a request whose input is estimated at about 50: no
     * counter counted that request, yet the quarter floor is all that is checked.
     */
    @Test
    void aModelsAnswerThatIsOnlyAHugeCountAtAClientNamedCountPathIsCharged() {
        String c = "r463-ctl5-" + kind() + "-" + System.nanoTime();
        long expected = charged("/ai/only-invoice", c);
        assertTrue(expected > 1_000, kind() + ": " + expected + " " + ledger(c));
        String s = "r463-only-" + kind() + "-" + System.nanoTime();
        long used = charged("/ai/only-invoice:countTokens", s);
        assertEquals(expected, used, kind() + ": a model call answering only a count charged " + used
                + ", should be " + expected + " as at /ai/only-invoice; " + ledger(s));
    }
}
