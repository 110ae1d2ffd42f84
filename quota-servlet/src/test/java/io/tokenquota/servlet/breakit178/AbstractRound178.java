package io.tokenquota.servlet.breakit178;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.StoryRound;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 178 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a model's answer written raw ({@code text/plain}: Spring AI's {@code call().content()} returned as a
 * {@code String}, POSTed as a form), whose first characters make the filter read it as a format of its
 * own. Round 175 made the lines of a body read as events that are no field of the event format count as
 * text, and left the rest:
 * <ul>
 *   <li>a line that opens with a colon is an event-stream comment and is not counted; Slack release notes
 *       whose every paragraph opens with an emoji shortcode ({@code :rocket:}, {@code :bug:}) are comments
 *       from the first line to the last (a hostile client: "start every paragraph with a colon");</li>
 *   <li>a body whose first three characters are a letter or digit, a colon and {@code "}, {@code [} or
 *       <code>{</code> is read as the Vercel AI SDK's data stream, whose lines that are no part are never
 *       counted: a proof that opens {@code f:[a,b] → ℝ}, or any text a client asks to open with
 *       {@code 0:"};</li>
 *   <li>over-charging: an image the model made, returned as a data URL ({@code data:image/png;base64,…}, as
 *       an {@code <img src>} takes it), starts like an event stream's {@code data:} line, and its data,
 *       being no JSON, is counted as the model's text: about 100,000 tokens for one image, five times the
 *       month's allowance, where the same image in JSON ({@code b64_json}) is charged its estimate
 *       (docs/decisions.md: "an image's base64 ... is JSON no model wrote as text").</li>
 * </ul>
 */
abstract class AbstractRound178 extends StoryRound {
    static final String[] SHORTCODES = {":rocket:", ":sparkles:", ":bug:", ":white_check_mark:", ":wrench:", ":tada:"};

    /** Slack release notes as a model writes them for Slack: every paragraph opens with an emoji shortcode. */
    static final String SLACK_EVERY = paragraphs(STORY, true);

    /** Control (round 175's case): only the first line opens with a shortcode. */
    static final String SLACK_FIRST = ":rocket: *Release 4.2 is out!*\n\n" + paragraphs(STORY, false);

    /** A model's explanation that opens with a function's signature, as analysis answers do. */
    static final String PROOF = "f:[a,b] \u2192 \u211d is continuous on a closed interval, so it attains its bounds.\n\n"
            + paragraphs(STORY, false);

    /** Control: the same explanation opening with a word. */
    static final String PROOF_PLAIN = "Let f:[a,b] \u2192 \u211d be continuous on a closed interval; it attains its bounds.\n\n"
            + paragraphs(STORY, false);

    /** An image the model made (PNG, 300 KB), as {@code ImageModel}'s {@code b64Json}. */
    static final String B64;
    static {
        java.util.Random r = new java.util.Random(178);
        byte[] png = new byte[300_000];
        r.nextBytes(png);
        byte[] sig = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        System.arraycopy(sig, 0, png, 0, sig.length);
        B64 = java.util.Base64.getEncoder().encodeToString(png);
    }

    /** gpt-image-1, 1024x1024 at high quality: 4,160 output tokens, and the prompt's few. */
    static final long IMAGE_BILLED = 4_160 + 50;

    static String paragraphs(String prose, boolean shortcodes) {
        StringBuilder sb = new StringBuilder();
        int n = 0;
        for (int i = 0; i < prose.length(); i += 600) {
            if (shortcodes) {
                sb.append(SHORTCODES[n++ % SHORTCODES.length]).append(' ');
            }
            sb.append(prose, i, Math.min(prose.length(), i + 600)).append("\n\n");
        }
        return sb.toString();
    }

    @Override
    protected Deployment deploy(QuotaFilter quota) {
        return filteredByServletName(quota)
                .servlet("slack-every", new Content("text/plain;charset=UTF-8", SLACK_EVERY), "/ai/announce")
                .servlet("slack-first", new Content("text/plain;charset=UTF-8", SLACK_FIRST), "/ai/announce-first")
                .servlet("proof", new Content("text/plain;charset=UTF-8", PROOF), "/ai/explain")
                .servlet("proof-plain", new Content("text/plain;charset=UTF-8", PROOF_PLAIN), "/ai/explain-plain")
                .servlet("image-url", new Content("text/plain;charset=UTF-8", "data:image/png;base64," + B64), "/ai/image")
                .servlet("image-json", new Content("application/json", "{\"created\":1750000000,\"data\":[{\"b64_json\":\""
                        + B64 + "\"}]}"), "/ai/image-json");
    }

    /** A handler that calls the model once and writes what it returned as a {@code String} under {@code type}. */
    class Content extends ModelEndpoint {
        final String type;
        final String text;

        Content(String type, String text) {
            this.type = type;
            this.text = text;
        }

        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType(type);
            resp.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ comments all the way down

    /** Control: release notes whose first line alone opens with a shortcode are charged their text (round 175). */
    @Test
    void releaseNotesOpeningWithAShortcodeAreChargedTheirText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/announce-first", s), SLACK_FIRST, "text/plain, first line :rocket:");
    }

    /**
     * The attack: every paragraph opens with a shortcode (Slack's house style for release notes; or a
     * hostile client's "start every paragraph with a colon", stripped on its side). About 8,800 tokens
     * went out; every line is an event-stream comment to the filter.
     */
    @Test
    void releaseNotesWhoseEveryParagraphOpensWithAShortcodeAreChargedTheirText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/announce", s), SLACK_EVERY, "text/plain, every paragraph opening with a shortcode");
    }

    // ------------------------------------------------------------------ text that starts like a data stream part

    /** Control: the explanation opening with a word is charged its text. */
    @Test
    void anExplanationIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/explain-plain", s), PROOF_PLAIN, "text/plain explanation");
    }

    /** The attack: the same explanation opening with {@code f:[a,b]} is read as a Vercel data stream, and nothing in it counts. */
    @Test
    void anExplanationOpeningWithASignatureIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/explain", s), PROOF, "text/plain explanation opening with f:[a,b]");
    }

    // ------------------------------------------------------------------ an image as a data URL

    /**
     * Control: the image as OpenAI's JSON ({@code b64_json}, no usage) is charged as one picture, not as its
     * base64's text: its header names no size (a signature and random bytes), so it counts as the image
     * table's largest picture (6,240 at high quality), plus the request's input.
     */
    @Test
    void anImageAsJsonIsChargedAsOnePicture() {
        String s = subject();
        HttpResponse<String> r = postForm("/ai/image-json", s);
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertTrue(used >= 6_240 && used <= 6_240 + 1_000, "charged " + used + ": " + ledger(s));
    }

    /**
     * The over-charge: the same image returned as a data URL, {@code "data:image/png;base64," + b64Json},
     * for the page's {@code <img src>}. One image call (billed about 4,200 by the provider) must not cost
     * more than that, and no more than the same image in JSON; it is charged its base64 as text.
     */
    @Test
    void anImageAsADataUrlIsNotChargedItsBase64AsText() {
        String s = subject();
        HttpResponse<String> r = postForm("/ai/image", s);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used <= IMAGE_BILLED, "one image call (billed about " + IMAGE_BILLED + "; the same image as b64_json"
                + " JSON is charged its estimate) was charged " + used + " on a " + ALLOWANCE + " allowance: " + ledger(s));
    }
}
