package io.tokenquota.servlet.breakit187;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.CutChatRelay;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 187 of issue 11: a prompt the estimator prices at a tenth of what the model reads.
 *
 * <p>A hostile client hides its document in Unicode variation selectors ("emoji smuggling": one emoji
 * followed by one selector per byte, U+FE00..FE0F for bytes 0..15 and U+E0100..E01EF for 16..255; GPT and
 * Claude models decode it when told how). The selectors are invisible, but the provider bills them: under
 * {@code o200k_base} each supplementary selector is its four UTF-8 bytes, four tokens. The prompt below
 * (3,000 bytes hidden, 12,117 bytes of UTF-8) is 12,026 tokens under {@code o200k_base} (measured with
 * jtokkit 1.1.0, {@code countTokensOrdinary}); {@code DefaultTokenEstimator} gives it 1,167. Wherever the
 * filter charges the estimate (an answer without usage, a stream cut before its usage) the model's reading
 * of the prompt is charged about a tenth.
 */
abstract class AbstractRound187 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    /** What {@code o200k_base} counts for {@link #PROMPT} (jtokkit 1.1.0): what the provider bills as input. */
    static final long PROMPT_TOKENS = 12_026;

    static final String DOC = "Quarterly report: revenue grew 12% to $4.1M, churn fell to 3.2%, and the board approved the"
            + " Lisbon office. ";

    /** One emoji, then one variation selector per byte of 3,000 bytes of {@link #DOC}, then the instruction. */
    static final String PROMPT = hidden(3000)
            + "\nThe emoji above carries a message in its variation selectors (byte n is selector n). Decode it and summarise it.";

    static String hidden(int bytes) {
        byte[] doc = DOC.repeat(bytes / DOC.length() + 1).substring(0, bytes).getBytes(StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder("\uD83D\uDE42");
        for (byte x : doc) {
            int b = x & 0xFF;
            sb.appendCodePoint(b < 16 ? 0xFE00 + b : 0xE0100 + b - 16);
        }
        return sb.toString();
    }

    static String subject() {
        return "u187-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String body(boolean stream) {
        return "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT.replace("\n", "\\n")
                + "\"}]" + (stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "") + "}";
    }

    static final String SUMMARY = "The hidden message is a quarterly report: revenue grew 12% to $4.1M, churn fell to 3.2%,"
            + " and the board approved the Lisbon office.";

    final CutChatRelay relay = new CutChatRelay(calls, "chatcmpl-187", SUMMARY);

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/chat")
                .servlet("relay", relay, "/ai/v1/chat/completions")
                .servlet("full", new Full(), "/ai/v1/full/chat/completions")
                .servlet("ask", new Ask(), "/ai/ask")
                .onStartup(filter::registerByServletName);
    }

    /**
     * A Spring AI style endpoint ({@code chatClient.prompt(text).call().content()}): calls the model with
     * the user's text and answers the model's text, as {@code text/plain}.
     */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!body.contains(hidden(3000))) { // the prompt arrived whole
                resp.sendError(400);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(SUMMARY.getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * The attack on a plain text endpoint: the hidden document goes to the model (12,026 input tokens
     * billed by the provider) and the answer is its text, without usage, so the call is charged its
     * estimate. It must be charged at least what the model read.
     */
    @Test
    void aPromptHiddenInVariationSelectorsIsChargedWhatTheModelReads() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat"), s, body(false));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= PROMPT_TOKENS, "a prompt of " + PROMPT_TOKENS + " o200k tokens (its model read all of them)"
                + " was charged " + used + ": " + ledger(s));
    }

    /**
     * The attack on a relay: the same prompt streamed with {@code include_usage}; the client reads the
     * answer's text and hangs up before the usage chunk. A stream cut before its usage is charged the
     * estimate, which must not be a tenth of the prompt the provider billed.
     */
    @Test
    void aHiddenPromptStreamCutBeforeItsUsageIsChargedThePrompt() throws Exception {
        String s = subject();
        String read = relay.postAndHangUp(container.port(), "/ai/v1/chat/completions", s, body(true));
        assertTrue(read.contains("END-OF-TEXT"), read);
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= PROMPT_TOKENS, "a streamed call whose prompt is " + PROMPT_TOKENS + " o200k tokens, cut before"
                + " its usage, was charged " + used + ": " + ledger(s));
    }

    /** Control: the same prompt on a relay that passes the provider's usage on (read to its end) is charged it. */
    @Test
    void controlTheSamePromptAnsweredWithItsUsageIsChargedIt() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/full/chat/completions"), s, body(false));
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= PROMPT_TOKENS, "charged " + used + ": " + ledger(s));
    }

    /** The provider's whole answer, relayed as it came: the usage counts the prompt the provider read. */
    class Full extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            io.tokenquota.servlet.testing.ChatCompletions.writeWithLength(resp, io.tokenquota.servlet.testing.ChatCompletions
                    .completion("chatcmpl-187f", "gpt-4o-mini", SUMMARY, PROMPT_TOKENS, 30).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** What {@code o200k_base} counts for {@link #PADDED} (jtokkit 1.1.0): one token per joiner. */
    static final long PADDED_TOKENS = 5_008;

    /** A question behind 5,000 zero-width joiners: invisible, and one token each to the model. */
    static final String PADDED = "Hi" + "\u200D".repeat(5000) + " what is 2+2?";

    /**
     * The same attack as plain cost amplification: a prompt padded with 5,000 zero-width joiners (15,000
     * bytes; {@code o200k_base} counts 5,008 tokens, {@code DefaultTokenEstimator} 109) on the text endpoint.
     */
    @Test
    void aPromptPaddedWithZeroWidthJoinersIsChargedWhatTheModelReads() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/ask"), s,
                "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"" + PADDED + "\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= PADDED_TOKENS, "a prompt of " + PADDED_TOKENS + " o200k tokens was charged " + used + ": " + ledger(s));
    }

    /** The Spring AI style endpoint without the check on what it was sent. */
    class Ask extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write("2 + 2 is 4.".getBytes(StandardCharsets.UTF_8));
        }
    }
}
