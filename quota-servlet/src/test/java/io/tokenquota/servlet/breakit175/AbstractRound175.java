package io.tokenquota.servlet.breakit175;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.StoryRound;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 175 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a model's text written raw ({@code text/plain}: Spring AI's {@code call().content()} returned as a
 * {@code String}) whose first characters happen to look like an event stream's field. The filter
 * decides the format by the body's first characters, and {@code :}, {@code id:}, {@code data:},
 * {@code event:}, {@code retry:} start an event stream; a model's text starts so whenever it opens
 * with a Slack emoji shortcode ({@code :rocket:}), or is YAML whose first key is {@code id} or
 * {@code data}. Read as events, no line of the text is a {@code data:} line, nothing is counted, and
 * the call is charged the request's estimate alone. The same text starting otherwise is charged its
 * text (round 164's rule). A hostile client only has to ask the model to start its answer with a colon.
 */
abstract class AbstractRound175 extends StoryRound {
    /** A long release announcement for Slack, as models write them: paragraphs of prose, several lines. */
    static final String BODY = paragraphs(Prose.english(54_000));

    /** The announcement as the model writes it for Slack: it opens with an emoji shortcode. */
    static final String SLACK = ":rocket: *Release 4.2 is out!*\n\n" + BODY;

    /** The same announcement without the shortcode (the control). */
    static final String PLAIN = "*Release 4.2 is out!*\n\n" + BODY;

    /** A release record the model writes as YAML (asked for YAML), its first key {@code id}. */
    static final String YAML = "id: release-4.2\ntitle: Release 4.2\nnotes: |\n" + indented(BODY);

    static String paragraphs(String prose) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < prose.length(); i += 600) {
            sb.append(prose, i, Math.min(prose.length(), i + 600)).append("\n\n");
        }
        return sb.toString();
    }

    static String indented(String text) {
        StringBuilder sb = new StringBuilder();
        for (String line : text.split("\n")) {
            sb.append("  ").append(line).append('\n');
        }
        return sb.toString();
    }

    @Override
    protected Deployment deploy(QuotaFilter quota) {
        return filteredByServletName(quota)
                .servlet("slack", new Content(SLACK), "/ai/announce")
                .servlet("plain", new Content(PLAIN), "/ai/announce-plain")
                .servlet("yaml", new Content(YAML), "/ai/release-yaml")
                .servlet("as-accepted", new AsAccepted(), "/ai/generate");
    }

    /**
     * {@code String generate(@RequestParam String message)} returning
     * {@code chatClient.prompt().user(message).call().content()}: Spring MVC writes the model's text as
     * {@code text/plain;charset=UTF-8}.
     */
    class Content extends ModelEndpoint {
        final String text;

        Content(String text) {
            this.text = text;
        }

        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * The same {@code String} handler without {@code produces}: Spring MVC's StringHttpMessageConverter
     * supports every media type, so the answer is labelled with the first type the client's {@code Accept}
     * names, UTF-8 (docs/decisions.md, "The body decides the format").
     */
    class AsAccepted extends ModelEndpoint {
        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String accept = req.getHeader("Accept");
            String type = accept == null ? "text/plain" : accept.split(",")[0].trim();
            resp.setContentType(type + ";charset=UTF-8");
            resp.getOutputStream().write(STORY.getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ text that starts like an event field

    /** Control: the announcement without the shortcode, POSTed as a form, is charged its text. */
    @Test
    void anAnnouncementIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/announce-plain", s), PLAIN, "text/plain announcement");
    }

    /**
     * The attack: the same announcement opening with {@code :rocket:} (Slack's shortcode; or a hostile
     * client's "start your answer with a colon"). About 12,000 tokens of text went out; it must be
     * charged at least that, not the form's estimate.
     */
    @Test
    void anAnnouncementOpeningWithAnEmojiShortcodeIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/announce", s), SLACK, "text/plain announcement opening with :rocket:");
    }

    /** The attack: the model's answer is YAML whose first key is {@code id}; it must be charged its text. */
    @Test
    void aYamlAnswerWhoseFirstKeyIsIdIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/release-yaml", s), YAML, "text/plain YAML opening with id:");
    }

    // ------------------------------------------------------------------ text under a label the client chose

    /** Control: the String handler's answer labelled by the client's {@code Accept: text/plain} is charged its text. */
    @Test
    void aStringAnswerLabelledPlainIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/generate", s, "Accept", "text/plain"), STORY, "POST Accept text/plain");
    }

    /**
     * The attack: the client sends {@code Accept: application/javascript} (a text type; Spring labels the
     * model's String with it). The same story went out; it must be charged its text.
     */
    @Test
    void aStringAnswerLabelledJavascriptByTheClientsAcceptIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/generate", s, "Accept", "application/javascript"), STORY,
                "POST Accept application/javascript");
    }

    /** The attack: {@code Accept: application/pdf}; the bytes are the same UTF-8 story, and are charged its text. */
    @Test
    void aStringAnswerLabelledPdfByTheClientsAcceptIsChargedItsText() {
        String s = subject();
        assertChargedTheText(s, postForm("/ai/generate", s, "Accept", "application/pdf"), STORY, "POST Accept application/pdf");
    }
}
