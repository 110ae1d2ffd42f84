package io.tokenquota.servlet.breakit402;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.CutJsonRelay;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 402 (found while fixing round 400): a JSON answer cut inside its one long text string. The rule
 * (docs/decisions.md, "One JSON document is written to its end after the client hung up"): a JSON document cut
 * short without usage is charged at least the text it carried, as a whole one is.
 *
 * <p>The application is a relay of OpenAI's Chat Completions endpoint, not streamed: "The chat completion object",
 * {@code choices} first and {@code usage} last, the model's answer one {@code content} string of 120,000 characters
 * (a long story, 26,500 completion tokens) for a 1,200-token prompt. It passes the upstream's body on in 4 KB
 * pieces as they come and stops, cancelling its upstream exchange, once its client has gone (the test holds it until
 * the hang-up: {@link HangUps}). The client reads the first part of the answer and hangs up with a reset.
 */
abstract class AbstractRound402 extends ModelCallRound {
    static final long IN = 1_200;
    static final long OUT = 26_500;
    static final long CALL = IN + OUT;
    static final String STORY = Prose.english(120_000);
    static final byte[] ANSWER = ChatCompletions.completion("chatcmpl-402story", "gpt-4.1-2025-04-14", STORY, IN, OUT)
            .getBytes(StandardCharsets.UTF_8);
    /** Where the story's string starts and ends (just past its closing quote) in the answer. */
    static final int STORY_START = new String(ANSWER, StandardCharsets.UTF_8).indexOf(STORY);
    static final int STORY_END = STORY_START + STORY.length() + 1;
    /** The cut seen: 12,288 bytes of the answer, inside the story's string. */
    static final int INSIDE = 12_288;
    static final String PROMPT = "Write me a long story about a lighthouse keeper.";
    static final String ASK = "{\"model\":\"gpt-4.1\",\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT + "\"}]}";
    static final int PIECE = 4_096;
    /** The filter's estimator, as it counts the text that went out. */
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    static final HangUps HANG_UPS = new HangUps();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("relay", new CutJsonRelay(ANSWER, PIECE, calls, HANG_UPS), "/ai/relay/*");
    }

    /** The client of {@code s} reads the answer's first {@code cut} bytes, hangs up; the charge is at least the text sent. */
    void assertCutChargedItsText(int cut, String what) throws Exception {
        String s = subject();
        String until = new String(ANSWER, cut - 40, 40, StandardCharsets.UTF_8);
        String read = HANG_UPS.postAndHangUpAfter(container.port(), "/ai/relay/cut/" + cut, s, ASK, until);
        assertTrue(read.startsWith("HTTP/1.1 200") && read.contains(until), read.lines().findFirst().orElse(""));
        String sent = STORY.substring(0, Math.min(STORY.length(), cut - STORY_START));
        long floor = TOKENS.estimate(PROMPT) + TOKENS.estimate(sent);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(1, calls.of(s), "model calls"),
                () -> assertTrue(a.used() >= floor, kind() + ": " + what + ": " + cut + " of the answer's " + ANSWER.length
                        + " bytes went out (" + sent.length() + " characters of its story, " + TOKENS.estimate(sent)
                        + " tokens by the filter's estimator), then the client hung up and the relay stopped: charged "
                        + a.used() + " of " + a.limit() + ", at least the prompt and that text (" + floor + ") expected: "
                        + ledger(s)));
    }

    // ------------------------------------------------------------------ findings

    /**
     * Found and fixed: the answer cut at 12,288 bytes, inside its story's string (about 2,700 tokens of text sent),
     * was counted no text and charged its hold, 1,014: the reader counted a string's text only once the whole
     * string had arrived.
     */
    @Test
    void anAnswerCutInsideItsOneLongTextStringIsChargedTheTextItCarried() throws Exception {
        assertCutChargedItsText(INSIDE, "cut inside the story's string");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the answer cut just after its story's string (before its usage): charged the whole story. */
    @Test
    void controlAnAnswerCutJustAfterItsTextStringIsChargedThatText() throws Exception {
        assertCutChargedItsText(STORY_END, "cut just after the story's string");
    }

    /** Control: the whole answer, read to its end: charged its usage. */
    @Test
    void controlTheWholeAnswerReadToItsEndIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/relay/whole"), s, ASK);
        assertEquals(ANSWER.length, r.body().getBytes(StandardCharsets.UTF_8).length, "the whole document");
        assertServedOnceAndCharged(s, r, CALL);
    }
}
