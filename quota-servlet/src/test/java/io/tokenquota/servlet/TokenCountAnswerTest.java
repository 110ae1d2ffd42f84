package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Which answers of a token-counting path are a count: those that carry one, never the path alone. */
final class TokenCountAnswerTest {

    private static boolean count(String path, String body) {
        UsageSniffer s = new UsageSniffer();
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
}
