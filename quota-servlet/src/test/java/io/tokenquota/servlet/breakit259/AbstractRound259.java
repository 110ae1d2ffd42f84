package io.tokenquota.servlet.breakit259;

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
import java.util.UUID;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 259 of issue 11: generate, store, redirect. An application's image or document generator
 * ({@code POST /ai/avatars} with a prompt) calls the model, stores the result (object storage, a CDN)
 * and answers with a redirect to it instead of the bytes, the way each framework's redirect helper
 * writes one: JAX-RS / Jersey / Quarkus RESTEasy {@code Response.temporaryRedirect(uri)} is a
 * {@code 307}, Micronaut's {@code HttpResponse.redirect(uri)} a {@code 301} and its
 * {@code permanentRedirect} a {@code 308}, Spring's {@code ResponseEntity.status(TEMPORARY_REDIRECT)
 * .location(uri)} a {@code 307}; {@code Response.seeOther} / Spring's {@code redirect:} are the 303 / 302
 * the filter already charges. The model ran; the redirect carries no usage and no body.
 */
abstract class AbstractRound259 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u259-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String PROMPT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Write a one-page illustrated summary of our Q3 supplier contract review for the board.\"}],"
            + "\"max_tokens\":4000}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("generate", new GenerateAndRedirect(), "/ai/generate/*")
                .servlet("ask", new Ask(), "/ai/ask")
                .onStartup(filter::registerByServletName);
    }

    /** Calls the model, stores the document, answers with the framework's redirect to where it is stored. */
    class GenerateAndRedirect extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id")); // the model call (billed by the provider)
            int status = Integer.parseInt(req.getPathInfo().substring(1));
            resp.setStatus(status);
            resp.setHeader("Location", "https://cdn.example.com/summaries/" + UUID.randomUUID() + ".html");
        }

        /**
         * A picture drawn on a GET ({@code <img src="/ai/generate/307?title=...">}, a social card or
         * avatar generator): the model draws it, the application uploads it to object storage and
         * redirects to its presigned URL, as S3-backed applications serve files.
         */
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id")); // the model call (billed by the provider)
            int status = Integer.parseInt(req.getPathInfo().substring(1));
            resp.setStatus(status);
            resp.setHeader("Location", "https://bucket.s3.amazonaws.com/cards/" + UUID.randomUUID()
                    + ".png?X-Amz-Expires=300&X-Amz-Signature=abc");
        }
    }

    /** The same on a GET: an image drawn and redirected to is charged at least its estimate, never 0. */
    @ParameterizedTest(name = "GET answered {0} after the model drew the picture")
    @ValueSource(ints = {307, 302, 303})
    void aPictureDrawnOnAGetAndRedirectedToIsCharged(int status) {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/generate/" + status
                + "?title=Quarterly+results+beat+expectations&style=watercolour"), s).GET().build());
        assertEquals(status, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model ran once");
        long used = settled(s).used();
        assertTrue(used >= 1_000, "a picture drawn on a GET answered " + status + " charged " + used + ": " + ledger(s));
    }

    /**
     * The attack is simply using the application: every generation answered with a 307 (JAX-RS's
     * {@code Response.temporaryRedirect}, Spring's {@code ResponseEntity} with {@code TEMPORARY_REDIRECT}) was
     * free. The model was called once; the call must cost at least its estimate (as the same call answered 302
     * or 303 does), never 0. (A 301 or 308 moves a URL for good, as a trailing-slash or versioning redirect
     * does before any model call: released, by design.)
     */
    @ParameterizedTest(name = "redirect {0} after the model call")
    @ValueSource(ints = {307, 302, 303})
    void aGenerationAnsweredWithARedirectIsCharged(int status) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/generate/" + status), s, PROMPT);
        assertEquals(status, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model ran once");
        long used = settled(s).used();
        assertTrue(used >= 4_000, "a model call answered " + status + " (redirect to the stored result) charged "
                + used + ": " + ledger(s));
    }

    static final String ANSWER = "{\"id\":\"chatcmpl-259\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"The contract allows"
            + " termination with thirty days' notice.\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":11800,\"completion_tokens\":200,\"total_tokens\":12000}}";

    /**
     * A RAG question on a GET ({@code /ai/ask?q=...}, an EventSource-less search box; Spring MVC maps
     * HEAD to the same handler): the application retrieves 11,800 tokens of documents and calls the
     * model, which reports 12,000 tokens of usage in the answer.
     */
    class Ask extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(ANSWER.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    /**
     * The attack: send HEAD instead of GET. The servlet API runs doGet (the model is called, 12,000
     * tokens) and the container discards the body, usage and all; the call must still cost its usage.
     */
    @org.junit.jupiter.api.Test
    void aHeadThatRunsTheModelIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/ask?q=termination+clauses"), s)
                .method("HEAD", java.net.http.HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model ran once");
        long used = settled(s).used();
        assertTrue(used >= 12_000, "a HEAD whose handler called the model (12,000 tokens) charged " + used + ": " + ledger(s));
    }

    /** Control: the same GET is charged its usage. */
    @org.junit.jupiter.api.Test
    void theSameGetIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/ask?q=termination+clauses"), s).GET().build());
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 12_000, "charged " + used + ": " + ledger(s));
    }
}
