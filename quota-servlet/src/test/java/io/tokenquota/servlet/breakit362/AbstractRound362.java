package io.tokenquota.servlet.breakit362;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.springframework.stereotype.Controller;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;

/**
 * Round 362 of issue 11: a Spring MVC {@code @Controller} (an HTML application, views by name) in front of a
 * protected model endpoint that it reaches by {@code forward:}, once from a handler and once from an
 * {@code @ExceptionHandler}.
 *
 * <p>Spring's {@code DispatcherServlet.processHandlerException}, whenever an exception resolver returns a view
 * (an {@code @ExceptionHandler} of a {@code @Controller} returning a view name), calls
 * {@code WebUtils.exposeErrorRequestAttributes(request, ex, servletName)}, which sets
 * {@code jakarta.servlet.error.status_code} to <b>200</b> (when not present) with the exception's type, message
 * and URI, and clears them only after the view rendered (spring-web 7.0.8 {@code WebUtils}, spring-webmvc 7.0.8
 * {@code DispatcherServlet.processDispatchResult}; both read here with javap). The view {@code forward:/ai/suggest}
 * is an {@code InternalResourceView}: a FORWARD dispatch into the protected path that carries that attribute. The
 * quota filter takes any FORWARD with {@code jakarta.servlet.error.status_code} for "a forward an error page made"
 * (QuotaFilter.dispatch), holds it body-less and settles it by rule 2b: nothing without usage. But this is no error
 * page: no container error dispatch, answer 200, and the model ran for the client's text.
 *
 * <p>The model endpoint answers the model's text as it is ({@code text/plain}, no usage), as a Spring AI endpoint
 * returning {@code chatClient.prompt().user(q).call().content()} does (Spring AI reference, "ChatClient": the
 * {@code content()} return type is a {@code String}); the README: a model's text answered raw without usage to a
 * call, not a GET, is charged at least the text it carried.
 */
abstract class AbstractRound362 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    /** The model's answer: about 1,000 words of prose. */
    static final String ANSWER = Prose.english(6_000);
    /** The client's question: long, so that the estimate is well above the fallback. */
    static final String QUESTION = Prose.english(12_000);

    AbstractRound362() {
        super(CALLS);
    }

    /** The protected model endpoint: a call per request, the model's text written as it came. */
    public static final class SuggestServlet extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String q = req.getParameter("q");
            if (q == null || q.isEmpty()) {
                resp.sendError(400);
                return;
            }
            CALLS.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getWriter().write(ANSWER);
        }
    }

    /** An article the application does not have. */
    static final class NoSuchArticle extends RuntimeException {
        NoSuchArticle(String slug) {
            super("no article " + slug);
        }
    }

    /**
     * The application's HTML side: a question page that hands the question to the assistant, and an article
     * page whose "not found" answer is the assistant's suggestions for the client's question (a "did you mean"
     * that the application serves 200).
     */
    @Controller
    public static class Pages {
        @PostMapping({"/ask", "/app/ask"})
        public String ask() {
            return "forward:/ai/suggest";
        }

        @PostMapping({"/articles/{slug}/ask", "/app/articles/{slug}/ask"})
        public String article(@PathVariable String slug) {
            throw new NoSuchArticle(slug);
        }

        @ExceptionHandler(NoSuchArticle.class)
        public String suggest() {
            return "forward:/ai/suggest";
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("suggest", new SuggestServlet(), "/ai/suggest/*")
                .servlet("spring", SpringMvc.dispatcher(Pages.class), "/app/*");
    }

    HttpResponse<String> form(String path, String s) {
        return TestHttp.post(container.uri(path), "q=" + URLEncoder.encode(QUESTION, StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "application/x-www-form-urlencoded");
    }

    long direct() {
        String s = subject();
        HttpResponse<String> r = form("/ai/suggest", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    // ------------------------------------------------------------------ finding

    /**
     * Finding: the same model call reached by the {@code @ExceptionHandler}'s forward is free (Spring exposed
     * {@code jakarta.servlet.error.status_code = 200}): the client got the model's 6,000 characters under 200 and
     * was charged 0, where the same call sent directly, or forwarded by a handler, is charged its estimate.
     */
    @Test
    void aModelCallForwardedByAnExceptionHandlerIsChargedAsTheSameCallSentDirectly() {
        long expected = direct();
        String s = subject();
        HttpResponse<String> r = form("/app/articles/no-such-article/ask", s);
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(ANSWER, r.body());
        assertEquals(1, calls.of(s), figures(s, r, a));
        assertEquals(expected, a.used(), kind() + ": the model wrote " + ANSWER.length() + " characters to a "
                + QUESTION.length() + "-character question under 200 (an @ExceptionHandler's forward:), charged "
                + a.used() + "; the same call sent directly is charged " + expected + ": " + figures(s, r, a));
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same forward made by a handler (no exception) is charged as the direct call. */
    @Test
    void aModelCallForwardedByAHandlerIsChargedAsTheSameCallSentDirectly() {
        long expected = direct();
        String s = subject();
        HttpResponse<String> r = form("/app/ask", s);
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, calls.of(s), figures(s, r, a));
        assertEquals(expected, a.used(), figures(s, r, a));
    }
}
