package io.tokenquota.servlet.breakit36;

import io.tokenquota.servlet.testing.ContainerKind;
import java.nio.charset.Charset;
import org.junit.jupiter.api.Test;

class JettyRound36BreakItTest extends AbstractRound36 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    /**
     * Jetty only (Tomcat's {@code getCharacterEncoding()} reads these headers as Spring does).
     * {@code POST /ai/spring/chat} with a chat body encoded in EBCDIC (IBM037), {@code n: 2,
     * max_tokens: 16000} (32,000 output tokens), labelled {@code application/json; Charset=IBM037}.
     * Jetty's {@code getCharacterEncoding()} matches only a lower-case {@code charset} parameter and
     * answers {@code null}; Spring MVC parses the Content-Type itself (parameter names are
     * case-insensitive, RFC 9110) and reads the body through a Reader in IBM037. The filter takes the
     * container's word: UTF-8, in which EBCDIC bytes are mostly malformed, so the body is "binary" and
     * held at the 1,000 fallback. Control: with the lower-case label Jetty reports the charset and the
     * call is refused. The same with {@code charset=utf-8; charset=IBM037} (Jetty reads the first,
     * Spring the last).
     */
    @Test
    void anEbcdicChatBodyLabelledWithACapitalisedCharsetIsEstimated() {
        byte[] body = chatRequest("Write a long story about a lighthouse.", 16_000, 2).getBytes(Charset.forName("IBM037"));
        assertRefusedAsTooBig("/ai/spring/chat", body, "application/json; charset=IBM037", "control: charset=IBM037");
        assertRefusedAsTooBig("/ai/spring/chat", body, "application/json; Charset=IBM037", "Charset=IBM037");
    }

    @Test
    void anEbcdicChatBodyLabelledWithTwoCharsetsIsEstimated() {
        byte[] body = chatRequest("Write a long story about a lighthouse.", 16_000, 2).getBytes(Charset.forName("IBM037"));
        assertRefusedAsTooBig("/ai/spring/chat", body, "application/json; charset=utf-8; charset=IBM037",
                "charset=utf-8; charset=IBM037");
    }
}
