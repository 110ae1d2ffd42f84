package io.tokenquota.servlet.breakit342;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletConfig;
import jakarta.servlet.ServletContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Enumeration;
import org.junit.jupiter.api.Test;

/**
 * Round 342 of issue 11 ("no model call goes unpaid"): a {@code HEAD} to a {@code GET} route that calls the model.
 *
 * <p>The route is the shape docs/decisions.md ("A model's text written raw is counted too") names as the remedy for a
 * {@code GET} chat route: Spring AI's guides' {@code GET /ai/generate?message=…}, answering the model's whole
 * {@code ChatResponse} (here the provider's own chat completion, OpenAI API reference, "The chat completion object":
 * {@code id}, {@code object: "chat.completion"}, {@code model}, {@code choices[].message}, {@code usage}) so that the
 * filter reads its usage. The Servlet API runs {@code doGet} for a {@code HEAD} ({@code HttpServlet.doHead}, Jakarta
 * Servlet 6.0 javadoc; Spring MVC maps every {@code @GetMapping} to {@code HEAD} too, Spring Framework reference,
 * "Web MVC / Annotated Controllers / Request Mapping / HTTP HEAD, OPTIONS"): the model is called and its answer
 * thrown away. With the Servlet API's own init parameter {@code jakarta.servlet.http.legacyDoHead=true}
 * ({@code HttpServlet.LEGACY_DO_HEAD}, the Servlet 5 behaviour the specification keeps as an option) the servlet
 * throws it away itself, wrapping the filter's response in its {@code NoBodyResponse}, so the filter sees a 200 with
 * no content: rule 7, the estimate, while the provider billed the usage.
 */
abstract class AbstractRound342 extends ModelCallRound {
    /** What the provider reports for the story the route asks for: a short question, a long answer. */
    static final long PROMPT = 30;
    static final long COMPLETION = 7_970;
    static final long USAGE = PROMPT + COMPLETION;

    static final String MESSAGE = "Write a long story about a lighthouse keeper and a storm.";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter)
                .servlet("generate", new Generate(), "/ai/generate")
                .servlet("generate-legacy-head", new LegacyHead(new Generate()), "/ai/legacy/generate")
                .servlet("generate-jaxrs", new JaxRsResource(), "/ai/jaxrs/generate");
    }

    /**
     * Spring AI's guides' {@code GET /ai/generate?message=…}, answering the provider's chat completion whole (the
     * decided remedy for a {@code GET} route): the model is called on every {@code doGet}.
     */
    class Generate extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (req.getParameter("message") == null) {
                resp.sendError(400);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            String text = Prose.english(30_000);
            ChatCompletions.writeWithLength(resp, ChatCompletions.completion("chatcmpl-342", "gpt-4o-mini-2024-07-18",
                    text, PROMPT, COMPLETION).getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * The same servlet deployed with {@code <init-param>jakarta.servlet.http.legacyDoHead</init-param> = true}
     * ({@code HttpServlet.LEGACY_DO_HEAD}): its {@code doHead} runs {@code doGet} into a {@code NoBodyResponse}.
     */
    static final class LegacyHead extends HttpServlet {
        private final HttpServlet inner;

        LegacyHead(HttpServlet inner) {
            this.inner = inner;
        }

        @Override
        public void init(ServletConfig config) throws ServletException {
            inner.init(withLegacyDoHead(config));
            super.init(config);
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException, IOException {
            inner.service(req, resp);
        }
    }

    /**
     * A JAX-RS resource's {@code @GET} method as a runtime serves it (Jakarta RESTful Web Services 3.1, section 3.3.5
     * "HEAD and OPTIONS": on a HEAD with no {@code @HEAD} method an implementation MUST "call a method annotated with a
     * request method designator for GET and discard any returned entity"; Jersey's {@code ServerRuntime} drops the
     * entity of a HEAD's response): the GET method calls the model and returns the provider's completion, and for a
     * HEAD only its headers (status, {@code Content-Type}) are written.
     */
    class JaxRsResource extends HttpServlet {
        /** The {@code @GET} resource method: calls the model, returns the entity. */
        String get(HttpServletRequest req) {
            calls.count(req.getHeader("x-user-id"));
            return ChatCompletions.completion("chatcmpl-342", "gpt-4o-mini-2024-07-18", Prose.english(30_000), PROMPT,
                    COMPLETION);
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (!"GET".equals(req.getMethod()) && !"HEAD".equals(req.getMethod())) {
                resp.sendError(405);
                return;
            }
            String entity = get(req);
            resp.setStatus(200);
            resp.setContentType("application/json");
            if ("GET".equals(req.getMethod())) {
                resp.getOutputStream().write(entity.getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    /** {@code config} with the init parameter {@code jakarta.servlet.http.legacyDoHead=true}, as a web.xml sets it. */
    static ServletConfig withLegacyDoHead(ServletConfig config) {
        return new ServletConfig() {
            @Override
            public String getServletName() {
                return config.getServletName();
            }

            @Override
            public ServletContext getServletContext() {
                return config.getServletContext();
            }

            @Override
            public String getInitParameter(String name) {
                return HttpServlet.LEGACY_DO_HEAD.equals(name) ? "true" : config.getInitParameter(name);
            }

            @Override
            public Enumeration<String> getInitParameterNames() {
                java.util.List<String> names = java.util.Collections.list(config.getInitParameterNames());
                names.add(HttpServlet.LEGACY_DO_HEAD);
                return java.util.Collections.enumeration(names);
            }
        };
    }

    URI generate(String path) {
        return container.uri(path + "?message=" + URLEncoder.encode(MESSAGE, StandardCharsets.UTF_8));
    }

    HttpResponse<String> send(String method, String path, String s) {
        return TestHttp.send(TestHttp.requestAs(generate(path), s)
                .method(method, HttpRequest.BodyPublishers.noBody()).build());
    }

    /** Control: the GET is answered the completion, and charged its usage. */
    @Test
    void aGetIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = send("GET", "/ai/generate", s);
        assertCharged(s, r, 200, 1, USAGE, "a GET answered the provider's completion");
    }

    /** Control: a HEAD on a servlet with the Servlet 6 doHead (the container drops the body after the filter): its usage. */
    @Test
    void aHeadIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = send("HEAD", "/ai/generate", s);
        assertCharged(s, r, 200, 1, USAGE, "a HEAD ran doGet, the model answered");
    }

    /** Control: a GET to the legacy-HEAD servlet is charged its usage as any other. */
    @Test
    void aGetToTheLegacyHeadServletIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = send("GET", "/ai/legacy/generate", s);
        assertCharged(s, r, 200, 1, USAGE, "a GET answered the provider's completion");
    }

    /**
     * The attack: a HEAD to the servlet deployed with {@code legacyDoHead}: the model is called (8,000 tokens by the
     * provider's count), its answer thrown away inside the servlet, and the filter charges the estimate.
     */
    @Test
    void aHeadToTheLegacyHeadServletIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = send("HEAD", "/ai/legacy/generate", s);
        assertCharged(s, r, 200, 1, USAGE, "a HEAD ran doGet (the model answered " + USAGE
                + " tokens), its body dropped by the servlet's NoBodyResponse inside the filter");
    }

    /** Control: a GET to the JAX-RS resource is charged its usage. */
    @Test
    void aGetToTheJaxRsResourceIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = send("GET", "/ai/jaxrs/generate", s);
        assertCharged(s, r, 200, 1, USAGE, "a GET answered the provider's completion");
    }

    /**
     * The attack, without any servlet option: a HEAD to a JAX-RS {@code @GET} resource that calls the model; the
     * runtime calls the GET method and discards its entity (the specification's rule), and the filter charges the
     * estimate of a body-less 200 for the model's 8,000 tokens.
     */
    @Test
    void aHeadToTheJaxRsResourceIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = send("HEAD", "/ai/jaxrs/generate", s);
        assertCharged(s, r, 200, 1, USAGE, "a HEAD ran the @GET method (the model answered " + USAGE
                + " tokens), its entity discarded by the JAX-RS runtime");
    }
}
