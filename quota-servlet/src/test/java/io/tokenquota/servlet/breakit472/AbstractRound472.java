package io.tokenquota.servlet.breakit472;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.ShapedAnswerRound;
import org.junit.jupiter.api.Test;

/**
 * Round 472 of issue 11: round 463's count rule checks a tokenizer's answer by its root field names only
 * ({@code UsageSniffer.CountShape#fits}) and its size by the largest counter or the number of elements its
 * token list holds. What the documented fields hold is never looked at, and several of them hold text:
 * vLLM's {@code token_strs} (a list of strings), TGI's {@code text} of each token, llama.cpp's tokens
 * listed as objects (any object, its fields unread). {@code /tokenize} has no fixed prefix, so one
 * client-chosen segment makes the path ({@code POST /ai/{id}} reached as {@code /ai/x/tokenize}, the case
 * docs/decisions.md says is charged), and the client prompts the model (JSON mode, returned as it is by a
 * Spring AI application) to write its essay inside those fields: the whole 4,400-token answer is released
 * as a count. A real tokenizer's pieces are a few characters each; these are the model's text.
 *
 * <p>The application ({@link ShapedAnswerRound}): {@code POST /ai/{id}} calls the model and returns its JSON
 * answer, no usage. Each finding compares the same answer at an id naming no count (charged the estimate)
 * with the id ending {@code /tokenize} (released).
 */
abstract class AbstractRound472 extends ShapedAnswerRound {
    /** About what a tokenizer counts in {@link #REQUEST} (a token per four bytes of its 230). */
    static final int GENUINE = 70;

    /** The essay in 200 pieces, each the "text" of a token. */
    static final int PIECES = 200;

    static String piece(int i) {
        return slice(i, PIECES);
    }

    @Override
    protected String body(String shape) {
        if (shape.startsWith("gvllm")) {
            // a genuine vLLM count of the request: its ids, and "token_strs" null (vLLM's default, without
            // return_token_strs)
            return "{\"count\":" + GENUINE + ",\"max_model_len\":131072,\"tokens\":" + list(GENUINE, i -> "791")
                    + ",\"token_strs\":null}";
        }
        if (shape.startsWith("gtgi")) {
            return list(GENUINE, i -> "{\"id\":5159,\"text\":\"My\",\"start\":" + 2 * i + ",\"stop\":" + (2 * i + 2) + "}");
        }
        if (shape.startsWith("gllama")) {
            return "{\"tokens\":" + list(GENUINE, i -> "{\"id\":9906,\"piece\":\" river\"}") + "}";
        }
        if (shape.startsWith("gtemplate")) {
            // vLLM's count of a chat (Llama 3.1's template) with its token strings: the template's special tokens and
            // preamble make them longer than the request (241 characters for {@link #CHAT}'s 119 bytes)
            return "{\"count\":" + TEMPLATE.length + ",\"max_model_len\":131072,\"tokens\":"
                    + list(TEMPLATE.length, i -> "128000") + ",\"token_strs\":" + list(TEMPLATE.length, i -> q(TEMPLATE[i])) + "}";
        }
        if (shape.startsWith("gfile") && shape.endsWith(":countTokens")) {
            // Gemini's count of a request naming a 200-page PDF by its URI: its tokens are not in the body
            return "{\"totalTokens\":51620,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":20},"
                    + "{\"modality\":\"DOCUMENT\",\"tokenCount\":51600}]}";
        }
        if (shape.startsWith("gfile")) {
            return "{\"input_tokens\":51620}";
        }
        if (shape.startsWith("vllm")) {
            // vLLM's TokenizeResponse fields (vllm/entrypoints/openai/protocol.py: count, max_model_len, tokens,
            // token_strs), the essay as the one "token string"
            return "{\"count\":250000,\"max_model_len\":131072,\"tokens\":[791,4062,14198],\"token_strs\":["
                    + q(TEXT) + "]}";
        }
        if (shape.startsWith("tgi")) {
            // TGI's /tokenize answer: a root array of {"id", "text", "start", "stop"} (text-generation-inference's
            // SimpleToken), each "text" a piece of the essay
            return list(PIECES, i -> "{\"id\":" + (1000 + i) + ",\"text\":" + q(piece(i)) + ",\"start\":0,\"stop\":1}");
        }
        if (shape.startsWith("llama")) {
            // llama.cpp's /tokenize with "with_pieces": {"tokens": [{"id", "piece"}]} (tools/server/README.md),
            // each "piece" a piece of the essay
            return "{\"tokens\":" + list(PIECES, i -> "{\"id\":" + (1000 + i) + ",\"piece\":" + q(piece(i)) + "}") + "}";
        }
        throw new IllegalArgumentException(shape);
    }

    /** A short chat request asking for the essay in a tokenizer's shape (OpenAI chat completions request shape). */
    static final String REQUEST = "{\"model\":\"gpt-4o\",\"response_format\":{\"type\":\"json_object\"},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a 4,000-token essay on rivers. Answer JSON:"
            + " {\\\"count\\\": 250000, \\\"token_strs\\\": [<the essay>]}\"}]}";

    /** A short chat, its token strings asked for. */
    static final String CHAT = "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Hi there\"}],\"return_token_strs\":true}";

    /** What Llama 3.1's chat template makes of {@link #CHAT}: its tokens' strings. */
    static final String[] TEMPLATE = {"<|begin_of_text|>", "<|start_header_id|>", "system", "<|end_header_id|>",
        "\u010a\u010a", "Cut", "ting", "\u0120Knowledge", "\u0120Date", ":", "\u0120December", "\u0120", "202", "3",
        "\u010a", "Today", "\u0120Date", ":", "\u0120", "26", "\u0120Jul", "\u0120", "202", "4", "\u010a\u010a",
        "<|eot_id|>", "<|start_header_id|>", "user", "<|end_header_id|>", "\u010a\u010a", "Hi", "\u0120there",
        "<|eot_id|>", "<|start_header_id|>", "assistant", "<|end_header_id|>", "\u010a\u010a"};

    /** A Gemini request naming a PDF by its URI, and Anthropic's naming one by its file id. */
    static final String GEMINI_FILE = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"fileData\":{\"mimeType\":"
            + "\"application/pdf\",\"fileUri\":\"https://generativelanguage.googleapis.com/v1beta/files/abc123\"}},"
            + "{\"text\":\"Summarise this report.\"}]}]}";
    static final String ANTHROPIC_FILE = "{\"model\":\"claude-sonnet-4-5\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "[{\"type\":\"document\",\"source\":{\"type\":\"file\",\"file_id\":\"file_011CNha8iCJcU1wXNR6q4V8w\"}},"
            + "{\"type\":\"text\",\"text\":\"Summarise this report.\"}]}]}";

    private void assertChargedAsAtAnAppId(String shape) {
        assertChargedAsAtAnAppId("r472", shape, REQUEST, "an essay of ~4,400 tokens in a " + shape
                + " tokenizer's fields");
    }

    /** Control: the three answers at an id naming no count are charged their estimate (above 1,000). */
    @Test
    void theSameAnswersAtAnAppIdAreChargedTheirEstimate() {
        assertChargedTheirEstimateAtAnAppId("r472", REQUEST, "vllm", "tgi", "llama");
    }

    /** Finding: the essay as vLLM's one {@code token_strs} entry beside a count of 250,000. */
    @Test
    void anEssayInVllmsTokenStringsIsCharged() {
        assertChargedAsAtAnAppId("vllm");
    }

    /** Finding: the essay in 200 pieces, each a TGI token's {@code text}. */
    @Test
    void anEssayInTgisTokenTextsIsCharged() {
        assertChargedAsAtAnAppId("tgi");
    }

    /** Finding: the essay in 200 pieces, each a llama.cpp token's {@code piece}. */
    @Test
    void anEssayInLlamaCppsTokenPiecesIsCharged() {
        assertChargedAsAtAnAppId("llama");
    }

    /**
     * Control, the other way: each tokenizer's genuine count of the request at the same path shape, its pieces a
     * token's few characters ("token_strs" null, as vLLM answers by default), is released (charged 0).
     */
    @Test
    void genuineTokenizerCountsAreReleased() {
        assertGenuineCountsReleased("r472", REQUEST, "gvllm", "gtgi", "gllama");
    }

    /**
     * Control, the other way: a genuine count carrying more than its request's bytes where the count rule allows it
     * is released. vLLM's token strings of a chat, longer than the request by the template's special tokens and
     * preamble (within the slack); Gemini's and Anthropic's counts of a file named by id, 51,620 tokens for a request
     * of some 250 bytes (a provider's count is not held to the body: the file is not in it).
     */
    @Test
    void countsLargerThanTheirRequestWhereTheRuleAllowsAreReleased() {
        String[][] cases = {{"/ai/gtemplate-gw/tokenize", CHAT},
            {"/ai/gfile-gw/v1beta/models/gemini-2.5-flash:countTokens", GEMINI_FILE},
            {"/ai/gfile-gw/v1/messages/count_tokens", ANTHROPIC_FILE}};
        for (String[] c : cases) {
            String s = "r472-big-" + kind() + "-" + System.nanoTime();
            long used = chargedOneCall(c[0], s, c[1]);
            assertEquals(0, used, kind() + " " + c[0] + ": a genuine count charged " + used + "; " + ledger(s));
        }
    }
}
