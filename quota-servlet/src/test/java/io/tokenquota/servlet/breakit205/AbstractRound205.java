package io.tokenquota.servlet.breakit205;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
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
 * Round 205 of issue 11: a model's text answered raw (Spring AI's {@code call().content()} returned as a
 * {@code String} from a {@code @PostMapping}, {@code text/plain}, no usage) is charged at least the text
 * it carried (docs/decisions.md, "A model's text written raw is counted too"). Round 196 made words joined
 * by hyphens or underscores count; the hostile client now tells the model to write its answer in other
 * shapes made only of base64's characters: PascalCase (no separator at all), or URL-encoded with
 * {@code +} for each space (as a form or a query string writes it), or words joined by {@code /} (a path).
 * Every word is still at least one token the provider bills.
 */
abstract class AbstractRound205 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u205-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String[] WORDS = ("The supplier may terminate this agreement with thirty days written notice if the customer "
            + "fails to pay any undisputed invoice within the agreed period and the customer shall remain liable for "
            + "all fees accrued before termination including reasonable costs of collection").split(" ");

    /** How many words the model writes. */
    static final int COUNT = 6_000;

    /** The model's answer: {@link #COUNT} words in the shape the path names. */
    static String story(String shape) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < COUNT; i++) {
            String w = WORDS[i % WORDS.length];
            switch (shape) {
                case "/pascal" -> b.append(Character.toUpperCase(w.charAt(0))).append(w.substring(1));
                case "/plus" -> b.append(i > 0 ? "+" : "").append(w);
                case "/slash" -> b.append(i > 0 ? "/" : "").append(w);
                default -> b.append(i > 0 ? " " : "").append(w);
            }
        }
        return b.toString();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("story", new Story(), "/ai/story/*")
                .onStartup(filter::registerByServletName);
    }

    /** {@code @PostMapping("/ai/story") String story(@RequestBody Ask ask)}: the model's text, as Spring writes a String. */
    class Story extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(story(req.getPathInfo()).getBytes(StandardCharsets.UTF_8));
        }
    }

    long call(String path, String s) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s,
                "{\"message\":\"Write out the contract's termination clause at length.\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    /** The attack: "answer as one PascalCase identifier". 6,000 words, each at least a token. */
    @Test
    void aModelsAnswerWrittenInPascalCaseIsChargedItsText() {
        String s = subject();
        long used = call("/ai/story/pascal", s);
        assertTrue(used >= COUNT, "an answer of " + COUNT + " words (each at least a token) is charged them, charged "
                + used + ": " + ledger(s));
    }

    /** The attack: "answer URL-encoded, as a query string" (spaces as {@code +}). */
    @Test
    void aModelsAnswerWithItsSpacesWrittenAsPlusSignsIsChargedItsText() {
        String s = subject();
        long used = call("/ai/story/plus", s);
        assertTrue(used >= COUNT, "an answer of " + COUNT + " words (each at least a token) is charged them, charged "
                + used + ": " + ledger(s));
    }

    /** The attack: "answer as one path, words joined by slashes". */
    @Test
    void aModelsAnswerWithItsWordsJoinedBySlashesIsChargedItsText() {
        String s = subject();
        long used = call("/ai/story/slash", s);
        assertTrue(used >= COUNT, "an answer of " + COUNT + " words (each at least a token) is charged them, charged "
                + used + ": " + ledger(s));
    }

    /** Control: the same words joined by spaces are charged their text. */
    @Test
    void controlTheSameWordsJoinedBySpacesAreChargedTheirText() {
        String s = subject();
        long used = call("/ai/story/spaced", s);
        assertTrue(used >= COUNT, "charged " + used + ": " + ledger(s));
    }
}
