package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Which answers of a token-counting path are a count: those that carry one, never the path alone. */
final class TokenCountAnswerTest {

    private static boolean count(String path, String body) {
        return count(path, body, 0);
    }

    /** Whether {@code body} answered at {@code path} is a count, for a request estimated at {@code estimate} tokens. */
    private static boolean count(String path, String body, long estimate) {
        UsageSniffer s = new UsageSniffer(estimate);
        if (UsageSniffer.countsTokens(path)) {
            s.countingPath(path);
        }
        s.begin("application/json", null, null);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
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
}
