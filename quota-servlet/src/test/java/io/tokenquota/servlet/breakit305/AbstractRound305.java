package io.tokenquota.servlet.breakit305;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.stereotype.Controller;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.ResponseBody;

/**
 * Round 305 of issue 11: the slash-redirect release of round 304 ({@code Settlement.slashRedirect}: a 302, 303
 * or 307 whose {@code Location} path is the request's own with one trailing slash added or removed, same query,
 * is released as a router's redirect before any handler).
 *
 * <p><b>1. A post/redirect/get to the collection's own URL is free.</b> The rule looks at the two paths only.
 * In Spring MVC a controller mapped at the class level, {@code @RequestMapping("/notes")}, with its list page at
 * {@code @GetMapping("/")} and its create action at a bare {@code @PostMapping}, serves the list at
 * {@code /notes/} and takes the form at {@code /notes} (Spring Framework 6 matches paths exactly: trailing-slash
 * matching is off by default, "Spring Framework 6.0 upgrade notes", {@code PathPatternParser}); the classic
 * post/redirect/get answers the form with {@code return "redirect:/notes/"} (Spring MVC reference, "Redirecting
 * to a URL" / {@code RedirectView}: 302) or, for a JSON client, {@code ResponseEntity.status(HttpStatus.SEE_OTHER)
 * .location(...)} (303). The handler summarised the note with the model first; the answer is a redirect to the
 * request's own path with a slash added, exactly the shape round 304 releases. The same handler redirecting one
 * level deeper is charged its estimate (decided: docs/decisions.md, "Filter settlement"). Spring even tells: its
 * {@code DispatcherServlet} marks the request with the handler it matched
 * ({@code HandlerMapping.bestMatchingHandler}) before running it; a router's slash redirect has no such mark.
 *
 * <p><b>2. A router's slash redirect for a path with an escaped character is charged.</b> Starlette's
 * {@code Router.app} builds the redirect from {@code URL(scope=redirect_scope)}, whose path is the ASGI
 * scope's <i>decoded</i> {@code path}, and {@code RedirectResponse} re-quotes it with
 * {@code quote(url, safe=":/%#?=@[]!$&'()*+,;")} (encode/starlette {@code starlette/routing.py},
 * {@code starlette/datastructures.py}, {@code starlette/responses.py}): a {@code %3A} the client sent comes back
 * as a bare {@code :}. Clients send {@code %3A} for an identifier with a colon: Spring's {@code RestClient} and
 * {@code WebClient} expand URI variables with {@code DefaultUriBuilderFactory.EncodingMode.TEMPLATE_AND_VALUES}
 * ("strictly encode URI variables": reserved characters too), and the AWS SDKs encode a Bedrock model id
 * ({@code anthropic.claude-3-5-sonnet-20240620-v1:0}) the same way in {@code /model/{modelId}/converse}. A FastAPI
 * summarizer routed at {@code APIRouter(prefix="/documents/{doc_id}/summarize")} + {@code @router.post("/")}
 * (FastAPI's "Bigger Applications" layout) answers {@code /documents/urn%3Aisbn%3A9780131103627/summarize} with
 * a 307 to {@code .../urn:isbn:9780131103627/summarize/}: no model ran, and the filter no longer sees the
 * request's own path, so it charges the estimate.
 */
abstract class AbstractRound305 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();

    AbstractRound305() {
        super(CALLS);
    }

    /** What the form posts: a note for the model to summarise (about 90 words). */
    static final String NOTE = "text=" + URLEncoder.encode("Call with the supplier on the master services agreement:"
            + " they want to move renewal to a rolling twelve months, cap liability at fees paid in the prior"
            + " year, and drop the termination-for-convenience clause. Legal wants the cap at two times fees and"
            + " keeps termination for convenience on ninety days' notice. Procurement to send a counter-proposal"
            + " by Friday; finance to model the cost of the rolling renewal against the current three-year term.",
            StandardCharsets.UTF_8);

    /** The same note as a JSON client posts it. */
    static final String NOTE_JSON = "{\"text\":\"Call with the supplier on the master services agreement: they want"
            + " to move renewal to a rolling twelve months, cap liability at fees paid in the prior year, and drop the"
            + " termination-for-convenience clause.\",\"max_tokens\":2000}";

    /** An OpenAI-shaped request, as the FastAPI summarizer takes it. */
    static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the termination, liability and renewal clauses of this book's sample contract.\"}],"
            + "\"max_tokens\":4000}";

    /** The summarizer's answer: its provider's usage relayed whole. */
    static final String COMPLETION = "{\"id\":\"chatcmpl-305\",\"object\":\"chat.completion\",\"created\":1735689600,"
            + "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            + "\"content\":\"Termination: either party on 90 days' notice.\",\"refusal\":null},\"logprobs\":null,"
            + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1840,\"completion_tokens\":1310,"
            + "\"total_tokens\":3150},\"system_fingerprint\":\"fp_305\"}";

    static final long USAGE = 3_150;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("relay", new Relay(), "/ai/*")
                .servlet("spring", SpringMvc.dispatcher(Notes.class), SpringMvc.MAPPING);
    }

    /**
     * A Spring MVC notes page (under the dispatcher at {@code /ai/spring/*}, so its own paths are
     * {@code /ai/spring/notes/...}): the list at {@code /notes/}, the create action at {@code /notes}, which has
     * the model summarise the note, stores it and redirects to the list (post/redirect/get).
     */
    @Controller
    @RequestMapping("/notes")
    public static class Notes {
        static final String LIST = "/ai/spring/notes/";

        @GetMapping("/")
        @ResponseBody
        public String list() {
            return "[]";
        }

        /** The HTML form's action: 302 Found to the list. */
        @PostMapping(consumes = MediaType.APPLICATION_FORM_URLENCODED_VALUE)
        public ResponseEntity<Void> create(@RequestHeader("x-user-id") String user, @RequestParam("text") String text) {
            CALLS.count(user); // the model summarises the note
            return ResponseEntity.status(HttpStatus.FOUND).location(URI.create(LIST)).build();
        }

        /** A JSON client's create: 303 See Other to the list. */
        @PostMapping(consumes = MediaType.APPLICATION_JSON_VALUE)
        public ResponseEntity<Void> createJson(@RequestHeader("x-user-id") String user, @RequestBody String body) {
            CALLS.count(user); // the model summarises the note
            return ResponseEntity.status(HttpStatus.SEE_OTHER).location(URI.create(LIST)).build();
        }

        /**
         * The same action for a draft ({@code /notes/drafts}), redirected to the same list: a redirect the rule
         * does not release (its path is not the request's own with a slash changed).
         */
        @PostMapping(path = "/drafts", consumes = MediaType.APPLICATION_FORM_URLENCODED_VALUE)
        public ResponseEntity<Void> draft(@RequestHeader("x-user-id") String user, @RequestParam("text") String text) {
            CALLS.count(user); // the model summarises the note
            return ResponseEntity.status(HttpStatus.FOUND).location(URI.create(LIST)).build();
        }

        @PostMapping(path = "/drafts", consumes = MediaType.APPLICATION_JSON_VALUE)
        public ResponseEntity<Void> draftJson(@RequestHeader("x-user-id") String user, @RequestBody String body) {
            CALLS.count(user); // the model summarises the note
            return ResponseEntity.status(HttpStatus.SEE_OTHER).location(URI.create(LIST)).build();
        }
    }

    /**
     * A relay in front of a FastAPI summarizer whose route is
     * {@code APIRouter(prefix="/documents/{doc_id}/summarize")} + {@code @router.post("/")}, served under
     * {@code /ai} ({@code uvicorn --root-path /ai}): a request without the trailing slash gets Starlette's 307,
     * absolute, its path decoded from the scope ({@code %3A} comes back {@code :}); with it, the summary.
     */
    final class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String raw = req.getRequestURI();
            if (!raw.startsWith("/ai/documents/") || !raw.contains("/summarize")) {
                resp.sendError(404);
                return;
            }
            if (!raw.endsWith("/")) {
                // Starlette: URL(scope=redirect_scope) (decoded scope path + "/"), re-quoted by RedirectResponse
                String decoded = URI.create(raw).getPath() + "/";
                String location = req.getScheme() + "://" + req.getServerName() + ":" + req.getServerPort()
                        + starletteQuote(decoded) + (req.getQueryString() == null ? "" : "?" + req.getQueryString());
                resp.setStatus(307);
                resp.setHeader("Location", location);
                resp.setContentLength(0);
                return;
            }
            CALLS.count(req.getHeader("x-user-id")); // the model call
            resp.setContentType("application/json");
            resp.getOutputStream().write(COMPLETION.getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * Python's {@code urllib.parse.quote(s, safe=":/%#?=@[]!$&'()*+,;")}, as Starlette's {@code RedirectResponse}
     * applies it: letters, digits, {@code _.-~} and the safe characters kept, every other UTF-8 byte escaped.
     */
    static String starletteQuote(String s) {
        String safe = ":/%#?=@[]!$&'()*+,;_.-~";
        StringBuilder out = new StringBuilder();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xff);
            if (c < 0x80 && (Character.isLetterOrDigit(c) || safe.indexOf(c) >= 0)) {
                out.append(c);
            } else {
                out.append('%').append(String.format("%02X", b & 0xff));
            }
        }
        return out.toString();
    }

    private HttpResponse<String> form(String path, String s) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), s,
                        "Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(NOTE, StandardCharsets.UTF_8)).build());
    }

    private HttpResponse<String> create(String how, String path, String s) {
        return "form".equals(how) ? form(path, s) : TestHttp.postJson(container.uri(path), s, NOTE_JSON);
    }

    /**
     * What the same call costs from {@code /notes/drafts}, redirected to the same list (not its own path with a
     * slash changed): the request's estimate, charged as decided for a post/redirect/get after a model call.
     */
    private long estimateOfACreate(String how) {
        String s = subject();
        HttpResponse<String> r = create(how, "/ai/spring/notes/drafts", s);
        assertEquals("form".equals(how) ? 302 : 303, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /**
     * Finding 1. The form's create action calls the model once and redirects to its own collection URL
     * ({@code /notes} to {@code /notes/}, 302 for the form, 303 for a JSON client). Expected:
     * the same charge as the same call redirected elsewhere (the request's estimate). Today: 0, the model call is
     * free, on every note an application takes this way.
     */
    @ParameterizedTest(name = "{0}: post/redirect/get to the collection's own URL")
    @ValueSource(strings = {"form", "json"})
    void aModelCallAnsweredWithAPostRedirectGetToItsCollectionIsCharged(String how) {
        long estimate = estimateOfACreate(how);
        assertTrue(estimate > 0, "the control is charged: " + estimate);
        String s = subject();
        HttpResponse<String> r = create(how, "/ai/spring/notes", s);
        assertCharged(s, r, "form".equals(how) ? 302 : 303, 1, estimate,
                how + ": the model summarised the note, then the handler redirected to /notes/ (the list); charged as"
                        + " the same call redirected to the list from /notes/drafts (" + estimate + ")");
    }

    /** Control: the draft action, redirected to the same list, is charged (the estimate, not 0). */
    @ParameterizedTest(name = "{0}: post/redirect/get elsewhere")
    @ValueSource(strings = {"form", "json"})
    void theSameCallRedirectedElsewhereIsCharged(String how) {
        assertTrue(estimateOfACreate(how) >= 1_000);
    }

    /** The path a Spring RestClient / WebClient builds for {@code /ai/documents/{id}/summarize} (strict encoding). */
    static String documentPath(String id) {
        return "/ai/documents/" + URLEncoder.encode(id, StandardCharsets.UTF_8) + "/summarize";
    }

    /**
     * Finding 2. A document id with a colon (a URN), sent escaped by the client's URI template: Starlette's slash
     * redirect answers before any handler, no model call. Expected 0; today the estimate, because the
     * {@code Location} spells the path decoded.
     */
    @Test
    void aStarletteSlashRedirectForAnEscapedIdCostsNothing() {
        String s = subject();
        String path = documentPath("urn:isbn:9780131103627");
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT);
        assertCharged(s, r, 307, 0, 0, "Starlette's slash 307 for " + path + " (Location "
                + r.headers().firstValue("Location").orElse("-") + "), no model call");
    }

    /** Control: the same redirect for an id without escapes is released (round 304's rule). */
    @Test
    void aStarletteSlashRedirectForAPlainIdCostsNothing() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(documentPath("9780131103627")), s, CHAT);
        assertCharged(s, r, 307, 0, 0, "Starlette's slash 307, no model call");
    }

    /** Control: the route itself, with the escaped id, is charged its usage. */
    @Test
    void theRouteWithTheEscapedIdIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(documentPath("urn:isbn:9780131103627") + "/"), s, CHAT);
        assertCharged(s, r, 200, 1, USAGE, "the summarizer's route");
    }
}
