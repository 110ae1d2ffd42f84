package io.tokenquota.servlet.breakit396;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ContextApp;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 396 of issue 11, items 7 and 9: reaching a protected model endpoint past the filter through a dispatch by
 * servlet name to a Spring Boot application's {@code DispatcherServlet}.
 *
 * <p>The application is a Spring Boot one: its {@code DispatcherServlet} is registered under the name
 * {@code dispatcherServlet} at {@code /} (Spring Boot reference, "Spring MVC", {@code spring.mvc.servlet.path}
 * defaults to {@code /}), and its {@code @RestController} serves OpenAI's chat completions at the protected path
 * {@code /ai/chat}. Beside it a legacy servlet at {@code /legacy/*} keeps the old URLs working by handing every
 * request to the dispatcher by name ({@code ServletContext.getNamedDispatcher("dispatcherServlet").forward}, the
 * servlet API's dispatch by name, as {@link ContextApp.NamedForward} does). The filter is registered as the README
 * says: {@code /*}, every dispatcher type, and {@code registerByServletName} at startup.
 *
 * <p>Spring routes a request on its path less the servlet path of the mapping the request carries
 * ({@code ServletRequestPathUtils.getServletPathPrefix}: {@code HttpServletRequest.getHttpServletMapping()}, a
 * {@code PATH} match's {@code getServletPath()}); in a dispatch by name both containers report the caller's mapping
 * and paths (docs/decisions.md, "Dispatches by name"), so {@code POST /legacy/ai/chat} is routed to the
 * {@code /ai/chat} handler. docs/servlet.md promises a dispatch by name is held "exact with one protected servlet
 * (a Spring Boot application's {@code DispatcherServlet})"; the filter only counts a servlet as protected when one
 * of its mappings lies under a protected prefix, and {@code /} lies under none, so the forward passes unfiltered.
 *
 * <p>Shapes: OpenAI API reference, "The chat completion object" ({@code id}, {@code object: "chat.completion"},
 * {@code choices[].message}, {@code usage.prompt_tokens}, {@code completion_tokens}, {@code total_tokens}); the
 * request "Create chat completion" ({@code model}, {@code messages}, {@code max_tokens}).
 */
abstract class AbstractRound396 extends ModelCallRound {
    /** Spring builds the controller: it counts here. */
    static final ModelCalls CALLS = new ModelCalls();
    static final long PROMPT = 1_200;
    static final long COMPLETION = 1_800;
    static final long USAGE = PROMPT + COMPLETION;
    static final String BODY = "{\"model\":\"gpt-4o\",\"max_tokens\":2000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Plan a two-day trip to Lisbon.\"}]}";

    AbstractRound396() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                // Spring Boot's DispatcherServletAutoConfiguration: the bean name and the default path "/"
                .servlet("dispatcherServlet", SpringMvc.dispatcher(Chat.class), "/")
                // a protected plain servlet beside it (so that the filter has a protected servlet to know by name)
                .servlet("chat", new ContextApp.Model(CALLS, "chatcmpl-396", PROMPT, COMPLETION), "/ai/plain/*")
                .servlet("legacy", new ContextApp.NamedForward("dispatcherServlet"), "/legacy/*")
                .servlet("legacy-plain", new ContextApp.NamedForward("chat"), "/legacy-plain/*")
                // a legacy servlet under the protected prefix, handing its requests to the dispatcher by name
                .servlet("legacy-ai", new ContextApp.NamedForward("dispatcherServlet"), "/ai/legacy/*")
                .onStartup(filter::registerByServletName);
    }

    /**
     * The application's chat endpoint: calls the model (counted under x-user-id) and answers its completion; and
     * an unprotected status endpoint beside it.
     */
    @RestController
    public static class Chat {
        @PostMapping(path = "/health", produces = MediaType.APPLICATION_JSON_VALUE)
        public ResponseEntity<String> health() {
            return ResponseEntity.ok("{\"status\":\"UP\"}");
        }

        @PostMapping(path = "/ai/chat", produces = MediaType.APPLICATION_JSON_VALUE)
        public ResponseEntity<String> chat(@RequestBody String body, @RequestHeader("x-user-id") String user) {
            CALLS.count(user);
            return ResponseEntity.ok(ChatCompletions.completion("chatcmpl-396", "gpt-4o-2024-08-06",
                    "Day one: Alfama. Day two: Belem.", PROMPT, COMPLETION));
        }
    }

    HttpResponse<String> post(String path, String s) {
        return TestHttp.postJson(container.uri(path), s, BODY);
    }

    void assertChargedItsUsage(String s, HttpResponse<String> r, String what) {
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, r.statusCode(), figures(s, r, a)),
                () -> assertEquals(1, calls.of(s), "model calls: " + figures(s, r, a)),
                () -> assertEquals(USAGE, a.used(), kind() + ": " + what + ": the model served one call of " + USAGE
                        + " tokens; " + figures(s, r, a)));
    }

    // ------------------------------------------------------------------ found and fixed

    /**
     * Found and fixed: {@code POST /legacy/ai/chat}, which the legacy servlet forwards by name to Spring's dispatcher,
     * runs the protected {@code /ai/chat} handler (Spring strips the caller's servlet path) and was served uncharged.
     */
    @Test
    void aForwardByNameToTheDispatcherServletReachingAProtectedHandlerIsCharged() {
        String s = subject();
        HttpResponse<String> r = post("/legacy/ai/chat", s);
        assertChargedItsUsage(s, r, "POST /legacy/ai/chat, forwarded by name to dispatcherServlet (mapped at /),"
                + " routed by Spring to the protected /ai/chat handler");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same endpoint called at its own path is held and charged its usage. */
    @Test
    void theSpringHandlerCalledAtItsProtectedPathIsCharged() {
        String s = subject();
        assertChargedItsUsage(s, post("/ai/chat", s), "POST /ai/chat");
    }

    /** Control: a forward by name to a plain servlet mapped under the protected prefix is held and charged. */
    @Test
    void aForwardByNameToAProtectedPlainServletIsCharged() {
        String s = subject();
        assertChargedItsUsage(s, post("/legacy-plain/x", s), "POST /legacy-plain/x forwarded by name to the /ai/plain servlet");
    }

    /**
     * Control: a forward by name to the dispatcher that Spring routes outside the protected prefix (its
     * {@code /health} handler) is not held: nothing charged.
     */
    @Test
    void aForwardByNameToTheDispatcherServletReachingAnUnprotectedHandlerIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = post("/legacy/health", s);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, r.statusCode(), figures(s, r, a)),
                () -> assertEquals("{\"status\":\"UP\"}", r.body(), figures(s, r, a)),
                () -> assertEquals(0, a.used(), kind() + ": POST /legacy/health, forwarded by name to"
                        + " dispatcherServlet and routed to the unprotected /health handler; " + figures(s, r, a)));
    }

    /**
     * Control: a request held on its own path ({@code /ai/legacy/ai/chat}, under the prefix) whose servlet
     * forwards it by name to the dispatcher is one call: charged its usage once, not held again on the forward.
     */
    @Test
    void aHeldRequestForwardedByNameToTheDispatcherServletIsChargedOnce() {
        String s = subject();
        assertChargedItsUsage(s, post("/ai/legacy/ai/chat", s), "POST /ai/legacy/ai/chat, held,"
                + " forwarded by name to dispatcherServlet and routed by Spring to /ai/chat");
    }
}
