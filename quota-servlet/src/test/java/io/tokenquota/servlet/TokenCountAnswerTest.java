package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.StringJoiner;
import org.junit.jupiter.api.Test;

/** Which answers of a token-counting path are a count: those that carry one, never the path alone. */
final class TokenCountAnswerTest {

    private static boolean count(String path, String body) {
        return count(path, body, 0);
    }

    /** Whether {@code body} answered at {@code path} is a count, for a request estimated at {@code estimate} tokens. */
    private static boolean count(String path, String body, long estimate) {
        return count(path, body, estimate, 0);
    }

    /** As {@link #count(String, String, long)}, the request having sent {@code sent} bytes. */
    private static boolean count(String path, String body, long estimate, long sent) {
        return count(path, body.getBytes(StandardCharsets.UTF_8), null, estimate, sent);
    }

    /** As {@link #count(String, String, long, long)}, the answer's {@code bytes} sent under {@code encoding}. */
    private static boolean count(String path, byte[] bytes, String encoding, long estimate, long sent) {
        UsageSniffer s = new UsageSniffer(estimate);
        if (UsageSniffer.countsTokens(path)) {
            s.countingPath(path, sent);
        }
        s.begin("application/json", encoding, java.util.Arrays.copyOf(bytes, Math.min(bytes.length, 64)));
        s.feed(bytes, 0, bytes.length);
        s.finish();
        return s.tokenCount();
    }

    @Test
    void providersCountsAreCounts() {
        assertTrue(count("/v1beta/models/gemini-2.5-flash:countTokens", "{\"totalTokens\":31,"
                + "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":31}]}"));
        assertTrue(count("/v1/messages/count_tokens", "{\"input_tokens\":14}"));
        assertTrue(count("/model/m/count-tokens", "{\"inputTokens\":14}"));
        assertTrue(count("/tokenize", "{\"count\":3,\"max_model_len\":32768,\"tokens\":[1,2,3]}"));
        assertTrue(count("/v1/projects/p/models/gemini-2.5-flash:computeTokens",
                "{\"tokensInfo\":[{\"tokens\":[\"VGhl\"],\"tokenIds\":[\"651\"],\"role\":\"user\"}]}"));
        // llama.cpp's tokens listed, with or without their pieces; TGI's array of tokens
        assertTrue(count("/tokenize", "{\"tokens\":[9906,1917,11]}"));
        assertTrue(count("/tokenize", "{\"tokens\":[{\"id\":9906,\"piece\":\"Hello\"},{\"id\":1917,\"piece\":\" world\"}]}"));
        assertTrue(count("/tokenize", "[{\"id\":5159,\"text\":\"My\",\"start\":0,\"stop\":2},"
                + "{\"id\":836,\"text\":\" name\",\"start\":2,\"stop\":7}]"));
        assertTrue(count("/tokenize", "[{\"id\":5159,\"text\":\"My\",\"start\":0,\"stop\":2}]"));
    }

    @Test
    void aListOfTokensIsACountOnlyOnACountingPathAndWhole() {
        assertFalse(count("/v1/chat/completions", "{\"tokens\":[9906,1917,11]}"));
        assertFalse(count("/v1/chat/completions", "[{\"id\":5159,\"text\":\"My\",\"start\":0,\"stop\":2}]"));
        // an array where not every element is a token, or a token list beside other counters
        assertFalse(count("/tokenize", "[{\"id\":5159,\"text\":\"My\",\"start\":0,\"stop\":2},"
                + "{\"id\":1,\"text\":\"a reply\"}]"));
        assertFalse(count("/tokenize", "[{\"id\":5159,\"text\":\"My\",\"start\":0,\"stop\":2},"
                + "{\"generated_text\":\"a reply\",\"details\":{\"generated_tokens\":40}}]"));
        assertFalse(count("/tokenize", "{\"tokens\":[1,2],\"tokens_predicted\":40,\"tokens_evaluated\":3}"));
        // LMDeploy's output count is a number, not a list: not a count
        assertFalse(count("/tokenize", "{\"tokens\":40,\"input_tokens\":3}"));
    }

    @Test
    void anAnswerWithoutACountIsNoCountWhateverThePath() {
        // an application's own JSON on a route whose last segment the client chose
        assertFalse(count("/ai/spring/assistant/tokenize", "{\"conversation\":\"tokenize\",\"reply\":\"Here is a summary.\"}"));
        assertFalse(count("/ai/spring/assistant/count_tokens", "{}"));
        assertFalse(count("/detokenize", "{\"prompt\":\"The quick brown fox\"}"));
        // a count's field beside another counter, or a count's answer on any other path
        assertFalse(count("/tokenize", "{\"count\":3,\"eval_count\":400}"));
        assertFalse(count("/v1/chat/completions", "{\"input_tokens\":14}"));
    }

    /**
     * Round 463: the provider's whole path shape, at any prefix (a gateway's), makes a count path; a last segment
     * an application's route took from the client ({@code /ai/{id}}) does not.
     */
    @Test
    void aCountPathIsTheProvidersWholeShape() {
        for (String path : new String[] {"/gw/v1beta/models/gemini-2.5-flash:countTokens",
                "/gw/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-flash:countTokens",
                "/gw/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-flash:computeTokens",
                "/gw/v1/projects/p/locations/l/endpoints/1234567890:countTokens",
                "/gw/v1/projects/p/locations/l/endpoints/1234567890:computeTokens",
                "/gw/v1/messages/count_tokens", "/gw/v1/projects/p/locations/l/publishers/anthropic/models/count-tokens:rawPredict",
                "/gw/v1/responses/input_tokens", "/gw/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens",
                "/gw/tokenize", "/gw/detokenize"}) {
            assertTrue(UsageSniffer.countsTokens(path), path);
        }
        for (String path : new String[] {"/ai/gemini-invoice:countTokens", "/ai/x:computeTokens", "/ai/count-tokens:rawPredict",
                "/ai/count_tokens", "/ai/input_tokens", "/ai/x/count-tokens", "/model/count-tokens", "/ai/x/count_tokens",
                "/ai/x/input_tokens", "/ai/models/x:generateContent", "/ai/gemini-invoice:countTokens/",
                "/ai/endpoints/x:generateContent"}) {
            assertFalse(UsageSniffer.countsTokens(path), path);
        }
    }

    /** Round 463: each provider's count in its whole documented shape, optional fields included, at a gateway prefix. */
    @Test
    void eachProvidersWholeCountIsACount() {
        assertTrue(count("/gw/v1beta/models/gemini-2.5-flash:countTokens", "{\"totalTokens\":310,\"cachedContentTokenCount\":200,"
                + "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":110}],"
                + "\"cacheTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":200}]}", 300));
        assertTrue(count("/gw/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-flash:countTokens",
                "{\"totalTokens\":310,\"totalBillableCharacters\":1200,\"promptTokensDetails\":[{\"modality\":\"TEXT\","
                        + "\"tokenCount\":310}]}", 300));
        assertTrue(count("/gw/v1/messages/count_tokens", "{\"input_tokens\":310,\"context_management\":"
                + "{\"original_input_tokens\":500}}", 300));
        assertTrue(count("/gw/v1/projects/p/locations/l/publishers/anthropic/models/count-tokens:rawPredict",
                "{\"input_tokens\":310}", 300));
        assertTrue(count("/gw/v1/responses/input_tokens", "{\"object\":\"response.input_tokens\",\"input_tokens\":310}", 300));
        assertTrue(count("/gw/model/anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens", "{\"inputTokens\":310}", 300));
        assertTrue(count("/gw/tokenize", "{\"count\":4,\"max_model_len\":32768,\"tokens\":[1,2,3,4],"
                + "\"token_strs\":[\"a\",\"b\",\"c\",\"d\"]}", 16));
        assertTrue(count("/gw/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-flash:computeTokens",
                "{\"tokensInfo\":[{\"tokens\":[\"VGhl\",\"IGZveA==\"],\"tokenIds\":[\"651\",\"25341\"],\"role\":\"user\"},"
                        + "{\"tokens\":[\"SGk=\",\"IQ==\"],\"tokenIds\":[\"2151\",\"235341\"],\"role\":\"user\"}]}", 16));
    }

    /** Round 463: a count's field beside any other root field (the essay a model was prompted to write) is no count. */
    @Test
    void aCountBesideAnyOtherRootFieldIsNoCount() {
        assertFalse(count("/gw/v1beta/models/m:countTokens", "{\"totalTokens\":250000,\"essay\":\"A river...\"}"));
        assertFalse(count("/gw/v1beta/models/m:countTokens", "{\"essay\":\"A river...\",\"totalTokens\":250000}"));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[791,4062,14198],\"essay\":\"A river...\"}"));
        assertFalse(count("/gw/v1/messages/count_tokens", "{\"input_tokens\":14,\"object\":\"response.input_tokens\"}"));
        assertFalse(count("/gw/v1/responses/input_tokens", "{\"object\":\"chat.completion\",\"input_tokens\":14}"));
        assertFalse(count("/gw/model/m/count-tokens", "{\"inputTokens\":14,\"outputTokens\":900}"));
        assertFalse(count("/gw/v1/projects/p/models/m:computeTokens", "{\"tokensInfo\":[],\"answer\":\"x\"}"));
        // a TGI token with a field of its own beside its id, text, start and stop
        assertFalse(count("/gw/tokenize", "[{\"id\":5159,\"text\":\"My\",\"start\":0,\"stop\":2,\"essay\":\"x\"}]"));
        // another endpoint's count at this path
        assertFalse(count("/gw/v1beta/models/m:countTokens", "{\"inputTokens\":14}"));
        // more names than a count has: bounded, still no count
        StringBuilder many = new StringBuilder("{\"totalTokens\":3");
        for (int i = 0; i < 40; i++) {
            many.append(",\"f").append(i).append("\":1");
        }
        assertFalse(count("/gw/v1beta/models/m:countTokens", many.append('}').toString()));
    }

    /** Round 463: tokens listed meet the quarter-of-the-estimate floor a number does. */
    @Test
    void tokensListedCountAsTheirNumber() {
        String ids = "{\"tokens\":[791,4062,14198]}";
        assertTrue(count("/gw/tokenize", ids, 12));
        assertFalse(count("/gw/tokenize", ids, 13));
        String pieces = "{\"tokens\":[{\"id\":9906,\"piece\":\"Hello\"},{\"id\":1917,\"piece\":\" world\"}]}";
        assertTrue(count("/gw/tokenize", pieces, 8));
        assertFalse(count("/gw/tokenize", pieces, 9));
        String tgi = "[{\"id\":5159,\"text\":\"My\",\"start\":0,\"stop\":2},{\"id\":836,\"text\":\" name\",\"start\":2,\"stop\":7}]";
        assertTrue(count("/gw/tokenize", tgi, 8));
        assertFalse(count("/gw/tokenize", tgi, 9));
        String vertex = "{\"tokensInfo\":[{\"tokens\":[\"VGhl\"],\"tokenIds\":[\"651\"],\"role\":\"user\"},"
                + "{\"tokens\":[\"SGk=\"],\"tokenIds\":[\"2151\"],\"role\":\"model\"}]}";
        assertTrue(count("/gw/v1/projects/p/models/m:computeTokens", vertex, 8));
        assertFalse(count("/gw/v1/projects/p/models/m:computeTokens", vertex, 9));
        // a number is held to the same floor
        assertTrue(count("/gw/v1beta/models/m:countTokens", "{\"totalTokens\":2}", 8));
        assertFalse(count("/gw/v1beta/models/m:countTokens", "{\"totalTokens\":2}", 9));
    }

    private static String list(int n, String element) {
        StringJoiner j = new StringJoiner(",", "[", "]");
        for (int i = 0; i < n; i++) {
            j.add(element);
        }
        return j.toString();
    }

    private static final long SLACK = UsageSniffer.TEMPLATE_SLACK;

    /** Round 472: where an answer gives its count as a number and as a list, they agree. */
    @Test
    void aCountsNumberAndListsAgree() {
        assertFalse(count("/gw/tokenize", "{\"count\":250000,\"max_model_len\":131072,\"tokens\":[791,4062,14198]}"));
        assertFalse(count("/gw/tokenize", "{\"count\":3,\"tokens\":[791,4062,14198],\"token_strs\":[\"The\",\"\u0120river\"]}"));
        assertFalse(count("/gw/tokenize", "{\"count\":2,\"tokens\":[791,4062,14198]}"));
        assertTrue(count("/gw/tokenize", "{\"count\":3,\"tokens\":[791,4062,14198],"
                + "\"token_strs\":[\"The\",\"\u0120river\",\"\u0120runs\"]}"));
        assertTrue(count("/gw/tokenize", "{\"count\":3,\"max_model_len\":131072,\"tokens\":[791,4062,14198],\"token_strs\":null}"));
    }

    /**
     * Round 472: the text a count's answer carries (token strings and pieces, any string, a name it does not document)
     * is at most what the request sent and the template's slack, at every count path.
     */
    @Test
    void aCountsTextIsAtMostWhatTheRequestSent() {
        // 600 token strings of 4 characters: 2,400 (a byte-level BPE writes a space as one character, U+0120)
        String vllm = "{\"count\":600,\"max_model_len\":131072,\"tokens\":" + list(600, "791") + ",\"token_strs\":"
                + list(600, "\"\u0120riv\"") + "}";
        // and its figures' digits (round 477): 600 and 131072, 9
        assertTrue(count("/gw/tokenize", vllm, 0, 2_409 - SLACK));
        assertFalse(count("/gw/tokenize", vllm, 0, 2_409 - SLACK - 1));
        String tgi = list(300, "{\"id\":5159,\"text\":\" word\",\"start\":0,\"stop\":5}");
        assertTrue(count("/gw/tokenize", tgi, 0, 1_500 - SLACK));
        assertFalse(count("/gw/tokenize", tgi, 0, 1_500 - SLACK - 1));
        String llama = "{\"tokens\":" + list(300, "{\"id\":9906,\"piece\":\" word\"}") + "}";
        assertTrue(count("/gw/tokenize", llama, 0, 1_500 - SLACK));
        assertFalse(count("/gw/tokenize", llama, 0, 1_500 - SLACK - 1));
        // Vertex's tokens are the token's bytes in base64: 300 of "IHdvcmQ=" are 1,500 bytes of text; its ids none
        String vertex = "{\"tokensInfo\":[{\"tokens\":" + list(300, "\"IHdvcmQ=\"") + ",\"tokenIds\":"
                + list(300, "\"1917\"") + ",\"role\":\"user\"}]}";
        assertTrue(count("/gw/v1/projects/p/models/m:computeTokens", vertex, 0, 1_504 - SLACK));
        assertFalse(count("/gw/v1/projects/p/models/m:computeTokens", vertex, 0, 1_504 - SLACK - 1));
        // a provider's count carries text only in its few strings: an essay in them, or in names of its own, is held
        String details = "{\"totalTokens\":310,\"promptTokensDetails\":" + list(30, "{\"modality\":\""
                + "x".repeat(60) + "\",\"tokenCount\":1}") + "}";
        // 1,800 characters and 33 digits of figures
        assertTrue(count("/gw/v1beta/models/m:countTokens", details, 0, 1_833 - SLACK));
        assertFalse(count("/gw/v1beta/models/m:countTokens", details, 0, 1_833 - SLACK - 1));
        StringBuilder names = new StringBuilder("{\"input_tokens\":310,\"context_management\":{");
        for (int i = 0; i < 20; i++) {
            names.append(i == 0 ? "" : ",").append("\"").append(String.valueOf((char) ('a' + i)).repeat(100)).append("\":1");
        }
        String named = names.append("}}").toString();
        // 2,000 characters of names and 23 digits of figures
        assertTrue(count("/gw/v1/messages/count_tokens", named, 0, 2_023 - SLACK));
        assertFalse(count("/gw/v1/messages/count_tokens", named, 0, 2_023 - SLACK - 1));
    }

    /**
     * Round 472: a tokenizer's count is at most what the request sent and the template's slack (a token is a byte of
     * it at least); a provider's is not so held, since it counts the files a request names by id, not in its body.
     */
    @Test
    void aTokenizersCountIsAtMostWhatTheRequestSent() {
        String ids = "{\"tokens\":" + list(3_000, "791") + "}";
        assertTrue(count("/gw/tokenize", ids, 0, 3_000 - SLACK));
        assertFalse(count("/gw/tokenize", ids, 0, 3_000 - SLACK - 1));
        String tgi = list(3_000, "{\"id\":5159,\"text\":\"\",\"start\":0,\"stop\":0}");
        assertFalse(count("/gw/tokenize", tgi, 0, 3_000 - SLACK - 1));
        // a file named by id: its 50,000 tokens are counted, its bytes are not in the request
        assertTrue(count("/gw/v1beta/models/m:countTokens", "{\"totalTokens\":50000,\"promptTokensDetails\":"
                + "[{\"modality\":\"TEXT\",\"tokenCount\":20},{\"modality\":\"DOCUMENT\",\"tokenCount\":49980}]}", 0, 200));
        assertTrue(count("/gw/v1/messages/count_tokens", "{\"input_tokens\":50000}", 0, 200));
        assertTrue(count("/gw/v1/responses/input_tokens", "{\"object\":\"response.input_tokens\",\"input_tokens\":50000}",
                0, 200));
        assertTrue(count("/gw/model/m/count-tokens", "{\"inputTokens\":50000}", 0, 200));
    }

    /** Round 472: what stands where a tokenizer lists its tokens is tokens: ids, and its token objects, their text short. */
    @Test
    void aListedTokenIsAnIdOrItsTokenizersShortPiece() {
        String most = "x".repeat(JsonDocumentScanner.MOST_PIECE_CHARS);
        long sent = 100_000;
        assertTrue(count("/gw/tokenize", "{\"tokens\":[{\"id\":1,\"piece\":\"" + most + "\"}]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[{\"id\":1,\"piece\":\"" + most + "x\"}]}", 0, sent));
        assertTrue(count("/gw/tokenize", "[{\"id\":1,\"text\":\"" + most + "\",\"start\":0,\"stop\":1}]", 0, sent));
        assertFalse(count("/gw/tokenize", "[{\"id\":1,\"text\":\"" + most + "x\",\"start\":0,\"stop\":1}]", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"count\":1,\"tokens\":[1],\"token_strs\":[\"" + most + "x\"]}", 0, sent));
        // llama.cpp's piece that is no UTF-8 text of its own, listed as its bytes
        assertTrue(count("/gw/tokenize", "{\"tokens\":[{\"id\":55,\"piece\":[232,173]},{\"id\":56,\"piece\":[173]}]}"));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[{\"id\":55,\"piece\":" + list(129, "65") + "}]}", 0, sent));
        // an object of other fields, an id that is no number, a value that is no token
        assertFalse(count("/gw/tokenize", "{\"tokens\":[{\"id\":1,\"piece\":\"a\",\"essay\":\"b\"}]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[{\"id\":\"a river\",\"piece\":\"a\"}]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[{\"id\":1,\"piece\":{\"text\":\"a\"}}]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[1,true,3]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"count\":2,\"tokens\":[1,2],\"token_strs\":[\"a\",7]}", 0, sent));
        assertFalse(count("/gw/tokenize", "[{\"id\":1,\"text\":\"a\",\"start\":\"the\",\"stop\":1}]", 0, sent));
        assertFalse(count("/gw/v1/projects/p/models/m:computeTokens", "{\"tokensInfo\":[{\"tokens\":[\"VGhl\"],"
                + "\"tokenIds\":[\"a river\"],\"role\":\"user\"}]}", 0, sent));
        assertTrue(count("/gw/v1/projects/p/models/m:computeTokens", "{\"tokensInfo\":[{\"tokens\":[\"VGhl\"],"
                + "\"tokenIds\":[651],\"role\":\"user\"}]}", 0, sent));
        // a byte SentencePiece writes <0xE4> is one character of text: 1,000 of them fit the slack
        assertTrue(count("/gw/tokenize", "{\"count\":1000,\"tokens\":" + list(1_000, "228") + ",\"token_strs\":"
                + list(1_000, "\"<0xE4>\"") + "}"));
    }

    /** Round 472: a string longer than a count ever holds, or a value nested deeper, is read no further: no count. */
    @Test
    void whatACountNeverHoldsIsNoCount() {
        assertFalse(count("/gw/v1beta/models/m:countTokens", "{\"totalTokens\":310,\"promptTokensDetails\":"
                + "[{\"modality\":\"" + "x".repeat(300) + "\",\"tokenCount\":310}]}", 0, 100_000));
        assertFalse(count("/gw/v1/messages/count_tokens", "{\"input_tokens\":3,\"context_management\":"
                + "{\"original_input_tokens\":[[[[[[[[[[[\"x\"]]]]]]]]]]]}}", 0, 100_000));
    }

    /**
     * Round 477: a number carries text as a string does. An id is a vocabulary's (below TOKEN_IDS), a piece's byte a
     * byte, a TGI offset one into the text sent; any other number is text of its digits.
     */
    @Test
    void aNumberIsAnIdAByteAnOffsetOrText() {
        long sent = 100_000;
        long most = JsonDocumentScanner.TOKEN_IDS - 1;
        String big = "1" + "0".repeat(336);
        // ids: vLLM's and llama.cpp's tokens, llama.cpp's token object, TGI's id, Vertex's ids and their digits
        assertTrue(count("/gw/tokenize", "{\"tokens\":[0," + most + "]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[1," + (most + 1) + "]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[1," + big + "]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[1,-1]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"count\":2,\"max_model_len\":131072,\"tokens\":[1," + big
                + "],\"token_strs\":null}", 0, sent));
        assertTrue(count("/gw/tokenize", "{\"tokens\":[{\"id\":" + most + ",\"piece\":\"a\"}]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[{\"id\":" + (most + 1) + ",\"piece\":\"a\"}]}", 0, sent));
        assertTrue(count("/gw/tokenize", "[{\"id\":" + most + ",\"text\":\"a\",\"start\":0,\"stop\":1}]", 0, sent));
        assertFalse(count("/gw/tokenize", "[{\"id\":" + big + ",\"text\":\"\",\"start\":0,\"stop\":0}]", 0, sent));
        String vertex = "/gw/v1/projects/p/models/m:computeTokens";
        assertTrue(count(vertex, "{\"tokensInfo\":[{\"tokens\":[\"VGhl\"],\"tokenIds\":[\"" + most + "\"]}]}", 0, sent));
        assertFalse(count(vertex, "{\"tokensInfo\":[{\"tokens\":[\"VGhl\"],\"tokenIds\":[\"" + big + "\"]}]}", 0, sent));
        assertFalse(count(vertex, "{\"tokensInfo\":[{\"tokens\":[\"VGhl\"],\"tokenIds\":[" + (most + 1) + "]}]}", 0, sent));
        // a piece's bytes are bytes
        assertTrue(count("/gw/tokenize", "{\"tokens\":[{\"id\":55,\"piece\":[0,255]}]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[{\"id\":55,\"piece\":[256]}]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[{\"id\":55,\"piece\":[" + big + "]}]}", 0, sent));
        // TGI's offsets are into the text sent: at most its bytes and the slack
        String tgi = "[{\"id\":1,\"text\":\"a\",\"start\":0,\"stop\":%d}]";
        assertTrue(count("/gw/tokenize", tgi.formatted(200 + SLACK), 0, 200));
        assertFalse(count("/gw/tokenize", tgi.formatted(200 + SLACK + 1), 0, 200));
        assertFalse(count("/gw/tokenize", "[{\"id\":1,\"text\":\"a\",\"start\":" + big + ",\"stop\":1}]", 0, sent));
        // any other number is text of its digits: a figure of 337 digits, numbers where a count holds a figure
        String figures = "{\"totalTokens\":10,\"promptTokensDetails\":" + list(4, "{\"tokenCount\":" + big + "}") + "}";
        assertTrue(count("/gw/v1beta/models/m:countTokens", figures, 0, 2 + 4 * 337 - SLACK));
        assertFalse(count("/gw/v1beta/models/m:countTokens", figures, 0, 2 + 4 * 337 - SLACK - 1));
        String lengths = "{\"count\":1,\"max_model_len\":" + list(200, big) + ",\"tokens\":[1]}";
        assertFalse(count("/gw/tokenize", lengths, 0, 230));
    }

    /**
     * Round 482: a name given twice in one object of a count's answer, at any depth, makes it no count (each time it
     * carries what it holds: an essay as 400 ids in each of 70 llama.cpp token objects was 70 tokens and no text).
     */
    @Test
    void aNameGivenTwiceIsNoCount() {
        long sent = 100_000;
        assertTrue(count("/gw/tokenize", "{\"tokens\":[{\"id\":1,\"piece\":\"a\"},{\"id\":2,\"piece\":\"b\"}]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[{\"id\":1,\"id\":2,\"piece\":\"a\"}]}", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"tokens\":[{\"id\":1,\"piece\":\"a\",\"piece\":\"b\"}]}", 0, sent));
        assertTrue(count("/gw/tokenize", "[{\"id\":1,\"text\":\"a\",\"start\":0,\"stop\":1}]", 0, sent));
        assertFalse(count("/gw/tokenize", "[{\"id\":1,\"id\":2,\"text\":\"a\",\"start\":0,\"stop\":1}]", 0, sent));
        assertFalse(count("/gw/tokenize", "{\"count\":1,\"count\":1,\"tokens\":[1]}", 0, sent));
        assertFalse(count("/gw/v1beta/models/m:countTokens", "{\"totalTokens\":3,\"promptTokensDetails\":"
                + "[{\"modality\":\"TEXT\",\"tokenCount\":3,\"tokenCount\":1}]}", 0, sent));
        assertFalse(count("/gw/v1/projects/p/models/m:computeTokens", "{\"tokensInfo\":[{\"tokens\":[\"VGhl\"],"
                + "\"tokenIds\":[\"651\"],\"tokenIds\":[\"651\"]}]}", 0, sent));
        assertFalse(count("/gw/v1/messages/count_tokens", "{\"input_tokens\":3,\"context_management\":"
                + "{\"x\":{\"a\":1,\"a\":2}}}", 0, sent));
        // the same names in sibling objects are no repetition
        assertTrue(count("/gw/v1/projects/p/models/m:computeTokens", "{\"tokensInfo\":[{\"tokens\":[\"VGhl\"],"
                + "\"tokenIds\":[\"651\"],\"role\":\"user\"},{\"tokens\":[\"SGk=\"],\"tokenIds\":[\"2151\"],"
                + "\"role\":\"model\"}]}", 0, sent));
        // more names in one object than are kept to tell a repetition: no count
        StringBuilder names = new StringBuilder("{\"input_tokens\":3,\"context_management\":{");
        for (int i = 0; i <= JsonDocumentScanner.MOST_COUNT_NAMES; i++) {
            names.append(i == 0 ? "" : ",").append("\"n").append(i).append("\":1");
        }
        assertFalse(count("/gw/v1/messages/count_tokens", names.append("}}").toString(), 0, sent));
    }

    /**
     * Round 482: a value of a type its place does not document makes the answer no count (an essay's bits as
     * booleans where vLLM writes max_model_len); a literal where no count documents one is text of its letters.
     */
    @Test
    void aValueOfAnotherTypeIsNoCount() {
        long sent = 100_000;
        String vllm = "{\"count\":1,\"max_model_len\":%s,\"tokens\":[1],\"token_strs\":%s}";
        assertTrue(count("/gw/tokenize", vllm.formatted("131072", "null"), 0, sent));
        assertTrue(count("/gw/tokenize", vllm.formatted("131072", "[\"a\"]"), 0, sent));
        for (String odd : new String[] {"[true,false]", "\"131072\"", "true", "null", "{}", "131072.5"}) {
            assertFalse(count("/gw/tokenize", vllm.formatted(odd, "null"), 0, sent), odd);
        }
        assertFalse(count("/gw/tokenize", vllm.formatted("131072", "\"a\""), 0, sent));
        assertFalse(count("/gw/tokenize", "{\"count\":\"1\",\"tokens\":[1]}", 0, sent));
        assertFalse(count("/gw/tokenize", "[{\"id\":1,\"text\":5,\"start\":0,\"stop\":1}]", 0, sent));
        assertFalse(count("/gw/tokenize", "[{\"id\":1,\"text\":\"a\",\"start\":0,\"stop\":[1]}]", 0, sent));
        assertTrue(count("/gw/v1/messages/count_tokens", "{\"input_tokens\":3,\"context_management\":null}", 0, sent));
        assertFalse(count("/gw/v1/messages/count_tokens", "{\"input_tokens\":3,\"context_management\":"
                + "{\"original_input_tokens\":[true]}}", 0, sent));
        assertFalse(count("/gw/v1/messages/count_tokens", "{\"input_tokens\":3,\"context_management\":[]}", 0, sent));
        assertFalse(count("/gw/v1/responses/input_tokens", "{\"object\":[\"response.input_tokens\"],"
                + "\"input_tokens\":3}", 0, sent));
        String gemini = "{\"totalTokens\":3,\"promptTokensDetails\":[%s]}";
        assertTrue(count("/gw/v1beta/models/m:countTokens", gemini.formatted("{\"modality\":\"TEXT\",\"tokenCount\":3}"),
                0, sent));
        assertFalse(count("/gw/v1beta/models/m:countTokens", gemini.formatted("{\"modality\":false,\"tokenCount\":3}"),
                0, sent));
        assertFalse(count("/gw/v1beta/models/m:countTokens", gemini.formatted("{\"modality\":\"TEXT\",\"tokenCount\":null}"),
                0, sent));
        assertFalse(count("/gw/v1beta/models/m:countTokens", gemini.formatted("true"), 0, sent));
        String vertex = "/gw/v1/projects/p/models/m:computeTokens";
        assertFalse(count(vertex, "{\"tokensInfo\":[{\"tokens\":[\"VGhl\"],\"tokenIds\":[\"651\"],\"role\":1}]}", 0, sent));
        assertFalse(count(vertex, "{\"tokensInfo\":[{\"tokens\":\"VGhl\",\"tokenIds\":[\"651\"]}]}", 0, sent));
        assertFalse(count(vertex, "{\"tokensInfo\":[[\"VGhl\"]]}", 0, sent));
        // where no count documents a value, a literal is text of its letters, as a number is of its digits: 300
        // booleans are 1,200 characters, beside the name's one and the count's three digits
        String literals = "{\"input_tokens\":310,\"context_management\":{\"b\":" + list(300, "true") + "}}";
        assertTrue(count("/gw/v1/messages/count_tokens", literals, 0, 1_204 - SLACK));
        assertFalse(count("/gw/v1/messages/count_tokens", literals, 0, 1_204 - SLACK - 1));
    }

    /**
     * Round 482: whatever channel a model writes through, a count's answer is at most COUNT_BYTES_PER_TOKEN bytes a
     * token it counts and COUNT_BYTES_SLACK, counted as read: inflated where it came compressed.
     */
    @Test
    void aCountsAnswerIsAtMostSoManyBytesAToken() throws java.io.IOException {
        long sent = 100_000;
        long most = 10 * UsageSniffer.COUNT_BYTES_PER_TOKEN + UsageSniffer.COUNT_BYTES_SLACK;
        String ids = "{\"tokens\":" + list(10, "791");
        // an essay in white space between ids: nothing but the bytes tells it
        String fits = ids + " ".repeat((int) most - ids.length() - 1) + "}";
        assertTrue(count("/gw/tokenize", fits, 0, sent));
        assertFalse(count("/gw/tokenize", " " + fits, 0, sent));
        java.io.ByteArrayOutputStream gz = new java.io.ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream out = new java.util.zip.GZIPOutputStream(gz)) {
            out.write((" " + fits).getBytes(StandardCharsets.UTF_8));
        }
        byte[] gzip = gz.toByteArray();
        assertTrue(gzip.length < most, "compressed to " + gzip.length);
        assertFalse(count("/gw/tokenize", gzip, "gzip", 0, sent));
        gz.reset();
        try (java.util.zip.GZIPOutputStream out = new java.util.zip.GZIPOutputStream(gz)) {
            out.write(fits.getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(count("/gw/tokenize", gz.toByteArray(), "gzip", 0, sent));
        // a provider's count answers a figure, a few hundred bytes indented, whatever it counts
        assertTrue(count("/gw/v1beta/models/m:countTokens", "{\n  \"totalTokens\": 1,\n  \"promptTokensDetails\": [\n"
                + "    {\n      \"modality\": \"TEXT\",\n      \"tokenCount\": 1\n    }\n  ]\n}\n", 0, sent));
        // TGI's tokens indented as a pretty printer writes them: some 85 bytes each
        StringJoiner tgi = new StringJoiner(",\n", "[\n", "\n]");
        for (int i = 0; i < 200; i++) {
            tgi.add("  {\n    \"id\" : " + (100_000 + i) + ",\n    \"text\" : \" river\",\n    \"start\" : " + (10_000 + 6 * i)
                    + ",\n    \"stop\" : " + (10_006 + 6 * i) + "\n  }");
        }
        assertTrue(count("/gw/tokenize", tgi.toString(), 0, sent));
    }
}
