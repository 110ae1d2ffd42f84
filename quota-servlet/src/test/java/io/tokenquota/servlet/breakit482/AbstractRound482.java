package io.tokenquota.servlet.breakit482;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import java.nio.charset.StandardCharsets;
import java.util.StringJoiner;
import org.junit.jupiter.api.Test;

/**
 * Round 482 of issue 11: round 477 reads a number in a token count's answer by its place (an id below 2^20, a
 * piece's byte, a TGI offset, else text of its digits), and round 472 bounds the answer's text and, at
 * {@code /tokenize}, its count by the request's bytes and the template slack. The count is the number of tokens
 * listed: of the root {@code tokens} list's elements (llama.cpp, vLLM) or of TGI's root array's elements. What an
 * element holds is checked field by field, but not how many fields it holds: the answer scanner reads JSON as the
 * providers' relays do, duplicate names allowed, so one llama.cpp token object {@code {"id":…,"id":…,…,"piece":"a"}}
 * (or one TGI token) carries any number of ids below 2^20, each counted as no text, and the whole counts as one
 * token. A model prompted to write its essay as the UTF-16 code units of its characters (each below 2^16, an
 * "id"), 400 of them in each of 70 token objects, keeps the count at 70: above a quarter of the request's
 * estimate, within its bytes; the text is 70 one-letter pieces. The 230-byte request thus lets 28,000 characters
 * through as ids, where docs/decisions.md bounds what ids carry by the request's bytes and slack ("a 230-byte
 * request lets some 3,000 characters through as ids").
 *
 * <p>And a root field a tokenizer documents as a number (vLLM's {@code max_model_len}) is not checked to be one: an
 * array of booleans there is counted as no text (a number would be its digits, a string its characters), so the
 * essay's bits pass as {@code true}/{@code false} beside a genuine-looking count.
 *
 * <p>The application ({@link ShapedAnswerRound}): {@code POST /ai/{id}} calls the model and returns its JSON
 * answer, no usage. Each finding compares the same answer at an id naming no count (charged the estimate) with
 * the id ending {@code /tokenize} (released).
 */
abstract class AbstractRound482 extends ShapedAnswerRound {
    /** Token objects (the count): about what a tokenizer counts in {@link #REQUEST}. */
    static final int OBJECTS = 70;

    /** The {@code i}-th of {@link #OBJECTS} slices of the essay as repeated {@code "id"} members: its code units. */
    static String ids(int i) {
        StringJoiner j = new StringJoiner(",");
        slice(i, OBJECTS).chars().forEach(c -> j.add("\"id\":" + c));
        return j.toString();
    }

    /** The first 4,000 characters of the essay as the bits of their UTF-8 bytes, JSON booleans. */
    static String bits() {
        byte[] bytes = TEXT.substring(0, 4_000).getBytes(StandardCharsets.UTF_8);
        StringJoiner j = new StringJoiner(",", "[", "]");
        for (byte b : bytes) {
            for (int k = 7; k >= 0; k--) {
                j.add(((b >> k) & 1) == 1 ? "true" : "false");
            }
        }
        return j.toString();
    }

    @Override
    protected String body(String shape) {
        if (shape.startsWith("dupllama")) {
            // llama.cpp's /tokenize with_pieces: {"tokens": [{"id": <int>, "piece": <string>}, …]}
            // (tools/server/README.md), each token object naming "id" once per code unit of the essay
            return "{\"tokens\":" + list(OBJECTS, i -> "{" + ids(i) + ",\"piece\":\"a\"}") + "}";
        }
        if (shape.startsWith("duptgi")) {
            // TGI's /tokenize: a root array of SimpleToken {"id", "text", "start", "stop"}
            // (text-generation-inference router/src/lib.rs), each naming "id" once per code unit
            return list(OBJECTS, i -> "{" + ids(i) + ",\"text\":\"a\",\"start\":" + i + ",\"stop\":" + (i + 1) + "}");
        }
        if (shape.startsWith("boolvllm")) {
            // vLLM's TokenizeResponse (vllm/entrypoints/openai/protocol.py: count, max_model_len, tokens,
            // token_strs), the essay's bits where max_model_len (an int) stands
            return "{\"count\":" + OBJECTS + ",\"max_model_len\":" + bits() + ",\"tokens\":"
                    + list(OBJECTS, i -> Integer.toString(9906 + i)) + ",\"token_strs\":null}";
        }
        if (shape.startsWith("gllama")) {
            // a genuine llama.cpp count with pieces: one id and one piece a token
            return "{\"tokens\":" + list(OBJECTS, i -> "{\"id\":" + (9906 + i) + ",\"piece\":\"ab\"}") + "}";
        }
        if (shape.startsWith("gtgi")) {
            return list(OBJECTS, i -> "{\"id\":" + (5159 + i) + ",\"text\":\"My\",\"start\":" + 2 * i + ",\"stop\":"
                    + (2 * i + 2) + "}");
        }
        if (shape.startsWith("gvllm")) {
            return "{\"count\":" + OBJECTS + ",\"max_model_len\":131072,\"tokens\":"
                    + list(OBJECTS, i -> Integer.toString(128_000 + i)) + ",\"token_strs\":null}";
        }
        throw new IllegalArgumentException(shape);
    }

    /** A short chat request asking for the essay in a tokenizer's shape (OpenAI chat completions request). */
    static final String REQUEST = "{\"model\":\"gpt-4o\",\"response_format\":{\"type\":\"json_object\"},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a 4,000-token essay on rivers, in 70 parts,"
            + " each as the code units of its characters. JSON: {\\\"tokens\\\": [{\\\"id\\\": <unit>, ...}]}\"}]}";

    private void assertChargedAsAtAnAppId(String shape, String what) {
        assertChargedAsAtAnAppId("r482", shape, REQUEST, what);
    }

    /** Control: the three answers at an id naming no count are charged their estimate (above 1,000). */
    @Test
    void theSameAnswersAtAnAppIdAreChargedTheirEstimate() {
        assertChargedTheirEstimateAtAnAppId("r482", REQUEST, "dupllama", "duptgi", "boolvllm");
    }

    /** Finding: the essay as 28,000 repeated "id" members of 70 llama.cpp token objects. */
    @Test
    void anEssayInRepeatedIdsOfLlamaCppTokenObjectsIsCharged() {
        assertChargedAsAtAnAppId("dupllama", "an essay of ~4,400 tokens written as 28,000 ids repeated in 70 llama.cpp"
                + " token objects, a count of 70");
    }

    /** Finding: the essay as 28,000 repeated "id" members of 70 TGI tokens. */
    @Test
    void anEssayInRepeatedIdsOfTgiTokensIsCharged() {
        assertChargedAsAtAnAppId("duptgi", "an essay of ~4,400 tokens written as 28,000 ids repeated in 70 TGI tokens,"
                + " a count of 70");
    }

    /** Finding: 4,000 characters of the essay as 32,000 booleans where vLLM writes max_model_len. */
    @Test
    void anEssayAsBooleansInVllmsMaxModelLenIsCharged() {
        assertChargedAsAtAnAppId("boolvllm", "4,000 characters of an essay written as 32,000 booleans in vLLM's"
                + " max_model_len beside a count of 70");
    }

    /** Control, the other way: genuine counts (one id and piece a token; max_model_len a number) are released. */
    @Test
    void genuineCountsAreReleased() {
        assertGenuineCountsReleased("r482", REQUEST, "gllama", "gtgi", "gvllm");
    }
}
