package io.tokenquota.examples;

import io.tokenquota.TokenEstimator;
import io.tokenquota.estimator.DefaultTokenEstimator;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MockModelServletTest {
    private final TokenEstimator estimator = new DefaultTokenEstimator();
    private final MockModelServlet mock = new MockModelServlet(estimator, Clock.systemUTC());

    private static MockModelServlet.ChatRequest parse(String json) throws IOException {
        return MockModelServlet.ChatRequest.parse(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void promptTokensAreTheEstimatorsCountOverEveryMessageText() throws IOException {
        MockModelServlet.ChatRequest r = parse("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"안녕하세요, 요약해 주세요.\"},"
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}],\"max_tokens\":30,\"stream\":true,"
                + "\"mock_delay_ms\":0,\"unknown\":{\"a\":[1,2]}}");
        MockModelServlet.Completion c = mock.complete(r);
        assertEquals(estimator.estimate("Be brief.") + estimator.estimate("안녕하세요, 요약해 주세요."), c.promptTokens());
        assertTrue(r.stream);
        assertEquals("m", c.model());
    }

    @Test
    void completionsAreDeterministicAndNeverLongerThanMaxTokens() throws IOException {
        for (int max : new int[] {0, 1, 2, 7, 50, 300, 100_000}) {
            String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"" + "Tell me about quotas. ".repeat(max % 13 + 1)
                    + "\"}],\"max_tokens\":" + max + "}";
            MockModelServlet.Completion a = mock.complete(parse(body));
            MockModelServlet.Completion b = mock.complete(parse(body));
            assertEquals(a, b, "deterministic");
            assertTrue(a.completionTokens() <= Math.min(max, MockModelServlet.MAX_COMPLETION_TOKENS),
                    a.completionTokens() + " <= " + max);
            assertEquals(a.text().isEmpty() ? 0 : estimator.estimate(a.text()), a.completionTokens());
        }
        MockModelServlet.Completion shortPrompt = mock.complete(parse("{\"messages\":[{\"content\":\"Hi\"}],\"max_tokens\":500}"));
        MockModelServlet.Completion longPrompt = mock.complete(parse("{\"messages\":[{\"content\":\""
                + "A much longer prompt that asks for a much longer answer. ".repeat(8) + "\"}],\"max_tokens\":500}"));
        assertNotEquals(shortPrompt.completionTokens(), longPrompt.completionTokens(), "length depends on the prompt");
        assertTrue(longPrompt.completionTokens() > shortPrompt.completionTokens());
    }

    @Test
    void refusesWhatItCannotUse() {
        assertThrows(IllegalArgumentException.class, () -> parse("[1,2]"));
        assertThrows(IllegalArgumentException.class, () -> parse("{\"messages\":\"hi\"}"));
        assertThrows(IllegalArgumentException.class, () -> parse("{\"max_tokens\":-1}"));
        assertThrows(IllegalArgumentException.class, () -> parse("{\"max_tokens\":1.5}"));
        assertThrows(IllegalArgumentException.class, () -> parse("{\"mock_delay_ms\":30001}"));
        assertThrows(IOException.class, () -> parse("{\"messages\":[{\"content\":\"unterminated"));
    }
}
