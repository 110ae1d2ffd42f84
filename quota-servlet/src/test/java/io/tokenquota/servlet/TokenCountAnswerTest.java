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
            s.countingPath();
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
