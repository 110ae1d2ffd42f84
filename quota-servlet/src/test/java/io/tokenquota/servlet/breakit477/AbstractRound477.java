package io.tokenquota.servlet.breakit477;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 477 of issue 11: round 472 bounds a token count's answer by the text it carries (token strings, pieces,
 * any string) and, at {@code /tokenize}, by how many tokens it lists; a listed token's id only has to be a JSON
 * integer. An integer carries text as well as a string does, and nothing bounds its size: a vocabulary's ids are
 * below some 262,144 (Gemma 3's, the largest of the common ones), but any integer of up to Jackson's 1,000 digits
 * is taken as a token's id and counted as no text. So the client prompts the model (JSON mode, returned as it is
 * by the application at {@code /ai/{id}} reached as {@code /ai/x/tokenize}) to write its essay as 200 big decimal
 * integers, each the UTF-8 bytes of 140 characters of it, in a tokenizer's own fields: vLLM's {@code tokens},
 * TGI's tokens' {@code id}, llama.cpp's {@code tokens}. The count (200) is that of the ids, above a quarter of the
 * request's estimate and within its 230 bytes and the 1,024 of slack; the answer's text is nil. The model wrote
 * some 67,000 digits (about 22,000 output tokens by o200k's three digits a token); the call is released.
 *
 * <p>This is not the residual docs/decisions.md names (a model writing a tokenizer's exact shape no larger than
 * the request): no tokenizer's id has 337 digits, and the answer is 70 KB against a 230-byte request.
 *
 * <p>The application ({@link ShapedAnswerRound}): {@code POST /ai/{id}} calls the model and returns its JSON
 * answer, no usage. Each finding compares the same answer at an id naming no count (charged the estimate)
 * with the id ending {@code /tokenize} (released).
 */
abstract class AbstractRound477 extends ShapedAnswerRound {
    /** The essay in 200 numbers (a count within the request's bytes and the template slack). */
    static final int PIECES = 200;

    /** The {@code i}-th of {@link #PIECES} pieces of the essay, as the decimal of its UTF-8 bytes (about 337 digits). */
    static String number(int i) {
        return new BigInteger(1, slice(i, PIECES).getBytes(StandardCharsets.UTF_8)).toString();
    }

    /** About what a tokenizer counts in {@link #REQUEST}, for the genuine controls. */
    static final int GENUINE = 70;

    @Override
    protected String body(String shape) {
        if (shape.startsWith("numvllm")) {
            // vLLM's TokenizeResponse (vllm/entrypoints/openai/protocol.py: count, max_model_len, tokens,
            // token_strs; token_strs null without return_token_strs), the essay as its token ids
            return "{\"count\":" + PIECES + ",\"max_model_len\":131072,\"tokens\":" + list(PIECES, AbstractRound477::number)
                    + ",\"token_strs\":null}";
        }
        if (shape.startsWith("numtgi")) {
            // TGI's /tokenize answer: a root array of SimpleToken {"id", "text", "start", "stop"}
            // (text-generation-inference router/src/lib.rs), the essay as the ids, the text empty
            return list(PIECES, i -> "{\"id\":" + number(i) + ",\"text\":\"\",\"start\":" + i + ",\"stop\":" + i + "}");
        }
        if (shape.startsWith("numllama")) {
            // llama.cpp's /tokenize without pieces: {"tokens": [ids]} (tools/server/README.md)
            return "{\"tokens\":" + list(PIECES, AbstractRound477::number) + "}";
        }
        if (shape.startsWith("gvllm")) {
            // a genuine vLLM count of the request: Llama 3's ids (below 128,256), token_strs null
            return "{\"count\":" + GENUINE + ",\"max_model_len\":131072,\"tokens\":"
                    + list(GENUINE, i -> Integer.toString(128_000 + i)) + ",\"token_strs\":null}";
        }
        if (shape.startsWith("gtgi")) {
            return list(GENUINE, i -> "{\"id\":" + (5159 + i) + ",\"text\":\"My\",\"start\":" + 2 * i + ",\"stop\":"
                    + (2 * i + 2) + "}");
        }
        if (shape.startsWith("gllama")) {
            return "{\"tokens\":" + list(GENUINE, i -> Integer.toString(9906 + i)) + "}";
        }
        throw new IllegalArgumentException(shape);
    }

    /** A short chat request asking for the essay as numbers in a tokenizer's shape (OpenAI chat completions request). */
    static final String REQUEST = "{\"model\":\"gpt-4o\",\"response_format\":{\"type\":\"json_object\"},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a 4,000-token essay on rivers, in 200 parts,"
            + " each as the decimal of its UTF-8 bytes. JSON: {\\\"count\\\": 200, \\\"tokens\\\": [<numbers>]}\"}]}";

    private void assertChargedAsAtAnAppId(String shape) {
        assertChargedAsAtAnAppId("r477", shape, REQUEST, "an essay of ~4,400 tokens written as 200 integers of ~337"
                + " digits in a " + shape + " tokenizer's ids");
    }

    /** Control: the three answers at an id naming no count are charged their estimate (above 1,000). */
    @Test
    void theSameAnswersAtAnAppIdAreChargedTheirEstimate() {
        assertChargedTheirEstimateAtAnAppId("r477", REQUEST, "numvllm", "numtgi", "numllama");
    }

    /** Finding: the essay as vLLM's token ids, 200 integers beside a count of 200. */
    @Test
    void anEssayAsVllmsTokenIdsIsCharged() {
        assertChargedAsAtAnAppId("numvllm");
    }

    /** Finding: the essay as the ids of 200 TGI tokens whose text is empty. */
    @Test
    void anEssayAsTgisTokenIdsIsCharged() {
        assertChargedAsAtAnAppId("numtgi");
    }

    /** Finding: the essay as llama.cpp's token ids. */
    @Test
    void anEssayAsLlamaCppsTokenIdsIsCharged() {
        assertChargedAsAtAnAppId("numllama");
    }

    /**
     * Control, the other way: genuine counts of the request with a vocabulary's ids (Llama 3's up to 128,069) at the
     * same path shape are released (charged 0): a bound on an id's size must leave them so.
     */
    @Test
    void genuineCountsWithRealIdsAreReleased() {
        assertGenuineCountsReleased("r477", REQUEST, "gvllm", "gtgi", "gllama");
    }
}
