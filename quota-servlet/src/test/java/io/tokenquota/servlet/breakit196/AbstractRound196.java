package io.tokenquota.servlet.breakit196;

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
 * Round 196 of issue 11: a model's text answered raw (Spring AI's {@code call().content()} returned as a
 * {@code String} from a {@code @PostMapping}, {@code text/plain}, no usage) is charged at least the text
 * it carried (docs/decisions.md, "A model's text written raw is counted too"). The hostile client tells
 * the model to join its words with hyphens instead of spaces ("answer as one kebab-case line"): every
 * word is still at least one token the provider bills, but the whole answer is one run of letters and
 * {@code -}, which the raw-text counter takes for base64 data and passes over.
 */
abstract class AbstractRound196 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u196-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String[] WORDS = ("The supplier may terminate this agreement with thirty days written notice if the customer "
            + "fails to pay any undisputed invoice within the agreed period and the customer shall remain liable for "
            + "all fees accrued before termination including reasonable costs of collection").split(" ");

    /** How many words the model writes. */
    static final int COUNT = 6_000;

    /** The model's answer: {@link #COUNT} words joined by {@code separator}. */
    static String story(String separator) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < COUNT; i++) {
            if (i > 0) b.append(separator);
            b.append(WORDS[i % WORDS.length]);
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
            String separator = "/spaced".equals(req.getPathInfo()) ? " " : "-";
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(story(separator).getBytes(StandardCharsets.UTF_8));
        }
    }

    long call(String path, String s) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s,
                "{\"message\":\"Write out the contract's termination clause at length.\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    /**
     * The attack: the model writes 6,000 words joined by hyphens. Each word is at least one token of the
     * provider's bill, so the call must be charged at least 6,000, never its estimate alone.
     */
    @Test
    void aModelsAnswerWithItsWordsJoinedByHyphensIsChargedItsText() {
        String s = subject();
        long used = call("/ai/story/hyphens", s);
        assertTrue(used >= COUNT, "an answer of " + COUNT + " words (each at least a token) is charged them, charged "
                + used + ": " + ledger(s));
    }

    /** Control: the same words joined by spaces are charged their text. */
    @Test
    void theSameWordsJoinedBySpacesAreChargedTheirText() {
        String s = subject();
        long used = call("/ai/story/spaced", s);
        assertTrue(used >= COUNT, "charged " + used + ": " + ledger(s));
    }
}
