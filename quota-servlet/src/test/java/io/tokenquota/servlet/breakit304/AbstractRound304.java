package io.tokenquota.servlet.breakit304;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 304 of issue 11: a trailing-slash redirect answered {@code 307}. docs/decisions.md ("Filter
 * settlement") charges a 307 its estimate, as a post/redirect/get after the model call (JAX-RS's
 * {@code temporaryRedirect}, round 259), and releases 301 and 308 because they "move a URL for good, as
 * trailing-slash and versioning redirects do before any model call". The two most common trailing-slash
 * redirects in front of model servers are not 301/308 but 307:
 * <ul>
 *   <li>Starlette's router (every FastAPI service: vLLM, LiteLLM, an application's own
 *   {@code APIRouter(prefix="/summarize")} with {@code @router.post("/")}), {@code redirect_slashes=True} by
 *   default: a request whose path misses (or has an extra) trailing slash is answered
 *   {@code RedirectResponse(url=str(URL(scope=redirect_scope)))}, whose default status is 307, with an
 *   absolute {@code location}, no body ({@code content-length: 0}) (encode/starlette
 *   {@code starlette/routing.py}, {@code Router.app});</li>
 *   <li>gin's {@code RedirectTrailingSlash} (on by default in {@code gin.New()} / {@code gin.Default()}, the
 *   router Ollama's server uses): 301 for a {@code GET}, 307 for any other method
 *   ({@code redirectTrailingSlash} in gin.go, gin-gonic/gin PR #1970), through {@code http.Redirect}, which writes
 *   no body for a {@code POST}.</li>
 * </ul>
 * A servlet relay under the protected prefix (Spring Cloud Gateway Server MVC, a {@code ProxyExchange}
 * controller) passes the backend's status and {@code Location} on, as a proxy must. The backend ran no
 * model for the redirect; the client's HTTP stack (OkHttp in openai-java, httpx with
 * {@code follow_redirects} in openai-python, the JDK's {@code HttpClient.Redirect.NORMAL}) re-sends the same
 * {@code POST} with its body to the {@code Location}, and that second request is the model call. The
 * filter charges the redirect its estimate, so one model call costs its usage plus the estimate of a
 * request that reached no model.
 */
abstract class AbstractRound304 extends ModelCallRound {
    /** The model's usage on each backend: 3,150 tokens. */
    static final long USAGE = 3_150;

    /** An OpenAI-shaped chat completion request, as an application's FastAPI summarizer takes it. */
    static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":"
            + "\"You summarise supplier contracts for the procurement board.\"},{\"role\":\"user\",\"content\":"
            + "\"Summarise the termination, liability and renewal clauses of the attached master services"
            + " agreement in a one-page brief.\"}],\"max_tokens\":4000}";

    /** Ollama's {@code /api/chat} request (ollama-python, Spring AI's {@code OllamaApi}). */
    static final String OLLAMA = "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the termination, liability and renewal clauses of the attached master services"
            + " agreement in a one-page brief.\"}],\"stream\":false,\"options\":{\"num_predict\":4000}}";

    /** The chat completion the FastAPI backend answers (its provider's usage relayed whole). */
    static final String COMPLETION = "{\"id\":\"chatcmpl-304\",\"object\":\"chat.completion\",\"created\":1735689600,"
            + "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            + "\"content\":\"Termination: either party on 90 days' notice.\",\"refusal\":null},\"logprobs\":null,"
            + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1840,\"completion_tokens\":1310,"
            + "\"total_tokens\":3150},\"system_fingerprint\":\"fp_304\"}";

    /** Ollama's non-streamed {@code /api/chat} answer (docs/api.md, "Chat request (No streaming)"). */
    static final String OLLAMA_ANSWER = "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00.000000Z\","
            + "\"message\":{\"role\":\"assistant\",\"content\":\"Termination: either party on 90 days' notice.\"},"
            + "\"done_reason\":\"stop\",\"done\":true,\"total_duration\":5191566416,\"load_duration\":2154458,"
            + "\"prompt_eval_count\":2100,\"prompt_eval_duration\":383809000,\"eval_count\":1050,"
            + "\"eval_duration\":4799921000}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter).servlet("relay", new Relay(), "/ai/*");
    }

    /**
     * A relay in front of three backends, passing each one's answer on as it came:
     * <ul>
     *   <li>{@code /ai/summarize/}: a FastAPI service, route {@code APIRouter(prefix="/summarize")} +
     *   {@code @router.post("/")}; {@code /ai/summarize} gets Starlette's 307 to the slashed URL;</li>
     *   <li>{@code /ai/api/chat}: Ollama (gin); {@code /ai/api/chat/} gets gin's 307 to {@code /api/chat}, which
     *   the relay's {@code Location} rewrite puts back under its prefix;</li>
     *   <li>{@code /ai/brief}: a Spring MVC backend behind Spring 6.2's {@code UrlHandlerFilter
     *   .trailingSlashHandler("/**").redirect(HttpStatus.PERMANENT_REDIRECT)} (its reference's example):
     *   {@code /ai/brief/} gets 308 (control: a 308 is released by design).</li>
     * </ul>
     */
    final class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String path = req.getPathInfo();
            String base = req.getScheme() + "://" + req.getServerName() + ":" + req.getServerPort() + "/ai";
            switch (path) {
                case "/summarize" -> redirect(resp, 307, req.getRequestURL() + "/"); // Starlette: absolute
                case "/api/chat/" -> redirect(resp, 307, "/ai/api/chat"); // gin, Location rewritten by the relay
                case "/brief/" -> redirect(resp, 308, base + "/brief");
                case "/summarize/", "/brief" -> answer(req, resp, COMPLETION);
                case "/api/chat" -> answer(req, resp, OLLAMA_ANSWER);
                default -> resp.sendError(404);
            }
        }

        private void redirect(HttpServletResponse resp, int status, String location) {
            // no model call: the backend's router answered before any handler
            resp.setStatus(status);
            resp.setHeader("Location", location);
            resp.setContentLength(0);
        }

        private void answer(HttpServletRequest req, HttpServletResponse resp, String body) throws IOException {
            calls.count(req.getHeader("x-user-id")); // the model call, billed by the provider
            resp.setContentType("application/json");
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The path a client posts to for {@code backend}, one slash away from its route, and the body it sends. */
    static String[] call(String backend) {
        return switch (backend) {
            case "fastapi" -> new String[] {"/ai/summarize", CHAT};
            case "gin" -> new String[] {"/ai/api/chat/", OLLAMA};
            case "spring" -> new String[] {"/ai/brief/", CHAT};
            default -> throw new IllegalArgumentException(backend);
        };
    }

    /** The backend's own route. */
    static String canonical(String backend) {
        return switch (backend) {
            case "fastapi" -> "/ai/summarize/";
            case "gin" -> "/ai/api/chat";
            case "spring" -> "/ai/brief";
            default -> throw new IllegalArgumentException(backend);
        };
    }

    private HttpResponse<String> post(HttpClient client, String path, String s, String body) {
        HttpRequest request = TestHttp.jsonPost(container.uri(path), s, body);
        try {
            return client.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** A client that follows redirects as OkHttp and httpx (follow_redirects) do: a 307 re-sends the POST. */
    private static HttpClient following() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NORMAL).build();
    }

    /**
     * The attack is a client using its HTTP stack as is: one slash away from the backend's route. The
     * router's 307 answered before any handler ran (no model call): it must cost nothing. Today it is
     * charged the request's estimate.
     */
    @ParameterizedTest(name = "{0}: the trailing-slash 307 itself")
    @ValueSource(strings = {"fastapi", "gin"})
    void aTrailingSlashRedirectAnswered307BeforeAnyModelCallCostsNothing(String backend) {
        String s = subject();
        String[] c = call(backend);
        HttpResponse<String> r = TestHttp.postJson(container.uri(c[0]), s, c[1]);
        assertCharged(s, r, 307, 0, 0, backend + ": the router's trailing-slash 307 (no model call) was charged");
    }

    /**
     * The whole exchange as openai-java (OkHttp) or openai-python (httpx) makes it: the 307, then the same POST
     * at its {@code Location}, which calls the model once (3,150 tokens). The ledger must hold exactly that call.
     */
    @ParameterizedTest(name = "{0}: the redirect followed, one model call")
    @ValueSource(strings = {"fastapi", "gin"})
    void aClientFollowingTheSlashRedirectPaysOnlyTheOneModelCall(String backend) {
        String s = subject();
        String[] c = call(backend);
        HttpResponse<String> r = post(following(), c[0], s, c[1]);
        assertCharged(s, r, 200, 1, USAGE, backend + ": one model call of " + USAGE
                + " tokens behind a followed trailing-slash 307");
    }

    /** Control: the same slash redirect answered 308 (Spring's UrlHandlerFilter) costs nothing, as decided. */
    @Test
    void aTrailingSlashRedirectAnswered308CostsNothing() {
        String s = subject();
        String[] c = call("spring");
        HttpResponse<String> r = TestHttp.postJson(container.uri(c[0]), s, c[1]);
        assertCharged(s, r, 308, 0, 0, "a 308 trailing-slash redirect");
    }

    /** Control: followed, the 308 and its call cost exactly the call's usage. */
    @Test
    void aClientFollowingA308PaysOnlyTheModelCall() {
        String s = subject();
        String[] c = call("spring");
        HttpResponse<String> r = post(following(), c[0], s, c[1]);
        assertCharged(s, r, 200, 1, USAGE, "a followed 308");
    }

    /** Control: each backend's own route, called as it is declared, is charged its usage exactly. */
    @ParameterizedTest(name = "{0}: the route itself")
    @ValueSource(strings = {"fastapi", "gin", "spring"})
    void theRouteItselfIsChargedItsUsage(String backend) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(canonical(backend)), s, call(backend)[1]);
        assertCharged(s, r, 200, 1, USAGE, backend + ": the route called as declared");
    }
}
