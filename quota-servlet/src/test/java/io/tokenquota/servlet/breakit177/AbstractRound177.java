package io.tokenquota.servlet.breakit177;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 177 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a model's text returned raw by a Spring MVC handler ({@code String story(@RequestParam message)}
 * returning {@code chatClient.prompt().user(message).call().content()}, as Spring AI's guides write it),
 * under the charset the client's {@code Accept} names. Spring MVC's {@code StringHttpMessageConverter}
 * supports every media type, keeps the {@code charset} parameter of the client's media range and encodes
 * the String in it; the filter counts such raw text as what the model wrote (round 164's rule), in any
 * charset it can decode, UTF-16 and UTF-32 included.
 *
 * <p>The attack: {@code Accept: text/plain;charset=UnicodeLittle} (Java's name for UTF-16LE with a byte
 * order mark, {@code x-UTF-16LE-BOM}) or {@code charset=UTF-32LE-BOM} ({@code X-UTF-32LE-BOM}). Spring
 * writes the story in that charset (the client decodes it as any UTF-16 or UTF-32 text); the filter reads
 * the label's charset, sees zero bytes in the answer's head, and takes the answer for binary, because its
 * exemption for zero bytes looks for names starting with {@code UTF-16} or {@code UTF-32}, which those two
 * charsets' canonical names do not. The call is charged its estimate (the form's input and the default
 * output budget) instead of the 8,400 tokens the model wrote.
 */
abstract class AbstractRound177 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();

    /** The filter's own estimator, to tell what a text is worth. */
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** What the model writes when asked for a long story: about 8,400 tokens of English prose. */
    static final String STORY = Prose.english(54_000);

    static final String ASK = "Write me a very long story about a shipping company, at least 6,000 words.";

    AbstractRound177() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behindAi(filter, App.class);
    }

    @RestController
    public static class App {
        /** Spring AI's guide endpoint, as a POST: the model's text returned as a String, no usage. */
        @PostMapping("/story")
        public String story(@RequestParam("message") String message, @RequestHeader("x-user-id") String user) {
            CALLS.count(user);
            return STORY;
        }
    }

    @Override
    protected String subjectPrefix() {
        return "u177-";
    }

    /** {@code s} asks for the story in a form POSTed to the Spring endpoint, accepting {@code accept}. */
    HttpResponse<byte[]> ask(String s, String... accept) {
        String[] headers = new String[accept.length * 2];
        for (int i = 0; i < accept.length; i++) {
            headers[2 * i] = "Accept";
            headers[2 * i + 1] = accept[i];
        }
        HttpRequest request = TestHttp.requestAs(container.uri(SpringMvc.MAPPING.replace("/*", "") + "/story"), s,
                        headers)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("message=" + URLEncoder.encode(ASK, StandardCharsets.UTF_8)))
                .build();
        try {
            return TestHttp.client().send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** {@code text}'s tokens as the filter's own estimator counts them, less a tenth for its spread. */
    static long written(String text) {
        return TOKENS.estimate(text) * 9 / 10;
    }

    /**
     * Asks for the story accepting {@code accept}: the client gets the whole story in {@code charset}
     * after one model call, and must be charged at least the story's tokens.
     */
    void assertStoryChargedInCharset(String accept, Charset charset) {
        assertStoryCharged(charset, accept);
    }

    /**
     * Asks for the story with one {@code Accept} header line per element of {@code accept}: the client gets
     * the whole story in {@code charset} after one model call, and must be charged at least its tokens.
     */
    void assertStoryCharged(Charset charset, String... accept) {
        String s = subject();
        HttpResponse<byte[]> r = ask(s, accept);
        String label = r.headers().firstValue("Content-Type").orElse("");
        String what = String.join(" | ", accept);
        assertEquals(200, r.statusCode(), what + ": " + label);
        assertEquals(1, CALLS.of(s), what + ": model calls");
        String read = new String(r.body(), charset);
        assertTrue(read.contains(STORY.substring(0, 2_000)), what + ": the client reads the whole story in " + charset
                + " (answer labelled " + label + ")");
        long used = settled(s).used();
        assertTrue(used >= written(STORY), "Accept: " + String.join(" | ", accept) + " (answer labelled " + label + ", "
                + r.body().length + " bytes): the model wrote about " + TOKENS.estimate(STORY)
                + " tokens, all sent to the client without usage; charged " + used + " on a " + ALLOWANCE
                + " allowance: " + ledger(s));
    }

    /** Control: the story in UTF-8 (the client's {@code Accept: text/plain}) is charged its text. */
    @Test
    void aStoryInUtf8IsChargedItsText() {
        assertStoryChargedInCharset("text/plain", StandardCharsets.UTF_8);
    }

    /** Control: the story in UTF-16LE, zero bytes and all, is charged its text. */
    @Test
    void aStoryInUtf16LeIsChargedItsText() {
        assertStoryChargedInCharset("text/plain;charset=UTF-16LE", StandardCharsets.UTF_16LE);
    }

    /** Control: the story in UTF-16 with its byte order mark, by the standard name, is charged its text. */
    @Test
    void aStoryInUtf16IsChargedItsText() {
        assertStoryChargedInCharset("text/plain;charset=UTF-16", StandardCharsets.UTF_16);
    }

    /**
     * The attack: {@code charset=UnicodeLittle}, the same UTF-16LE text after a byte order mark. About
     * 8,400 tokens went out; the call must be charged at least that, not its estimate.
     */
    @Test
    void aStoryInUtf16LeWithItsByteOrderMarkIsChargedItsText() {
        assertStoryChargedInCharset("text/plain;charset=UnicodeLittle", Charset.forName("x-UTF-16LE-BOM"));
    }

    /** The attack: {@code charset=UTF-32LE-BOM}, UTF-32LE text after a byte order mark; charged its text. */
    @Test
    void aStoryInUtf32LeWithItsByteOrderMarkIsChargedItsText() {
        assertStoryChargedInCharset("text/plain;charset=UTF-32LE-BOM", Charset.forName("X-UTF-32LE-BOM"));
    }

    // ------------------------------------------------------------------ a label named on a second Accept line

    /**
     * Control (round 175's rule): the client's {@code Accept: text/plain;q=0.1, application/javascript}
     * on one line; Spring labels the story {@code application/javascript}, and it is charged its text.
     */
    @Test
    void aStoryLabelledByTheClientsAcceptOnOneLineIsChargedItsText() {
        assertStoryCharged(StandardCharsets.UTF_8, "text/plain;q=0.1, application/javascript");
    }

    /**
     * The attack: the same two media ranges on two {@code Accept} lines (HTTP allows a list header field
     * to be sent as several lines, and Spring's content negotiation reads them all). Spring labels the
     * story {@code application/javascript}, the preferred type; the filter reads only the first line when
     * it notes which labels the client chose, so it takes the label for the server's own and counts no
     * text. About 8,400 tokens went out; the call must be charged at least that.
     */
    @Test
    void aStoryLabelledByTheClientsSecondAcceptLineIsChargedItsText() {
        assertStoryCharged(StandardCharsets.UTF_8, "text/plain;q=0.1", "application/javascript");
    }
}
