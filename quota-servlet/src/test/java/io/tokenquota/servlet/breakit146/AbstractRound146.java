package io.tokenquota.servlet.breakit146;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 146 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a Spring MVC application behind the filter as the README registers it, with a task endpoint
 * ({@code POST /tasks/{task}}) whose task name is the client's path variable and whose answer is the
 * model's structured JSON (Spring AI's {@code .entity(...)}), without the provider's usage. A client
 * names its task so that the path ends like a provider's token-counting path ({@code /count_tokens},
 * {@code /tokenize}) and asks the model for an answer shaped like a tokenizer's: a count that is not
 * small next to the request (the document's word count, about three quarters of its tokens), or a
 * list named {@code tokens} (the document's keywords). The filter then takes the answer for a token
 * count and releases the hold, although the model read the whole document and wrote the answer.
 */
abstract class AbstractRound146 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();

    AbstractRound146() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, App.class).onStartup(filter::registerByServletName);
    }

    /** A long document: 1,600 words, about 2,000 tokens of text. */
    static final String DOCUMENT = ("Invoice 2024-113 from Lisbon Tiles Lda. for 40 square metres of azulejos, due in thirty days. ")
            .repeat(100);

    @RestController
    public static class App {
        /**
         * Runs a task the client names on the client's document: the model gets the task and the document
         * and answers with structured JSON, which the endpoint returns as it is. A counting task's model
         * answers {@code {"count": n}} with the words it counted (honestly: the document's own words); a
         * task that lists terms answers {@code {"tokens": [...]}} (a record with a {@code tokens} list).
         */
        @PostMapping("/tasks/{task}")
        public Map<String, Object> task(@PathVariable("task") String task, @RequestHeader("x-user-id") String user,
                                        @RequestBody String document) {
            CALLS.count(user);
            if (task.startsWith("count")) {
                return Map.of("count", DOCUMENT.trim().split("\\s+").length);
            }
            return Map.of("tokens", List.of("invoice", "Lisbon Tiles", "azulejos", "thirty days"));
        }
    }

    HttpResponse<String> post(String path, String s) {
        return TestHttp.postJson(container.uri(path), s, "{\"document\":\"" + DOCUMENT + "\"}");
    }

    /** The same call under the task name {@code control}, charged its estimate: the figure to compare with. */
    long controlCharge(String control) {
        String c = subject();
        HttpResponse<String> r = post("/ai/spring/tasks/" + control, c);
        QuotaAccount a = settled(c);
        assertEquals(200, r.statusCode(), figures(c, r, a));
        assertEquals(1, CALLS.of(c), figures(c, r, a));
        assertTrue(a.used() >= 1_000, "an ordinary task is charged its estimate: " + figures(c, r, a));
        return a.used();
    }

    // ------------------------------------------------------------------ tests

    /**
     * Control: the counting task under an ordinary name ({@code count_words}) is charged its estimate,
     * and so is the listing task ({@code keywords}).
     */
    @Test
    void tasksUnderOrdinaryNamesAreCharged() {
        long words = controlCharge("count_words");
        long keywords = controlCharge("keywords");
        assertTrue(words >= 1_000 && keywords >= 1_000, words + " / " + keywords);
    }

    /**
     * The attack: the client names its counting task {@code count_tokens} and asks the model to count
     * the document's words. The model reads the 2,000-token document and answers {@code {"count": 1600}}:
     * more than a quarter of the request's estimate, so it passes for a tokenizer's count of the
     * request, and the call is released. It must cost what the same task costs as {@code count_words}.
     */
    @Test
    void aWordCountUnderTheTaskNameCountTokensIsCharged() {
        long control = controlCharge("count_words");
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/tasks/count_tokens", s);
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, CALLS.of(s), figures(s, r, a));
        assertEquals(control, a.used(), "a model call answering a word count under the task name count_tokens: "
                + figures(s, r, a) + "; under count_words it cost " + control);
    }

    /**
     * The attack: the client names its listing task {@code tokenize}; the model reads the document and
     * answers its key terms as {@code {"tokens": [...]}}. A top-level {@code tokens} list is taken for
     * llama.cpp's tokenizer answer whatever its length (four terms, for a 2,000-token request), so the
     * call is released. It must cost what the same task costs as {@code keywords}.
     */
    @Test
    void aKeywordListUnderTheTaskNameTokenizeIsCharged() {
        long control = controlCharge("keywords");
        String s = subject();
        HttpResponse<String> r = post("/ai/spring/tasks/tokenize", s);
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, CALLS.of(s), figures(s, r, a));
        assertEquals(control, a.used(), "a model call answering a list of terms under the task name tokenize: "
                + figures(s, r, a) + "; under keywords it cost " + control);
    }
}
