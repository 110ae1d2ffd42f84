package io.tokenquota.servlet.breakit199;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 199 of issue 11: the client chooses the method. A Spring MVC chat controller written as Spring
 * AI's guides write the body-bound variant: {@code @RequestMapping("/chat")} (no {@code method}: any
 * method is served) binding a JSON {@code @RequestBody} and returning
 * {@code chatClient.prompt().user(message).call().content()}, a {@code String}. The app's own page
 * POSTs. The filter counts a raw text answer to a call, but not to a {@code GET} (which "may read stored
 * text back"). A hostile client sends its JSON chat body with {@code GET} instead of {@code POST}:
 * Spring binds the same body and the model writes the same story.
 */
abstract class AbstractRound199 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    /** About 8,400 tokens of prose: what the model writes when asked for a long story. */
    static final String STORY = Prose.english(54_000);
    static final String BODY = "{\"message\":\"Write me a very long story about a shipping company, at least 6,000 words.\"}";

    AbstractRound199() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("spring", SpringMvc.dispatcher(Chat.class), SpringMvc.MAPPING);
    }

    @RestController
    public static class Chat {
        @RequestMapping("/chat")
        public String chat(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user) {
            if (body.get("message") == null) {
                throw new IllegalArgumentException("no message");
            }
            CALLS.count(user);
            return STORY;
        }
    }

    HttpResponse<String> send(String method, String s) {
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/spring/chat"), s, "Content-Type", "application/json")
                .method(method, HttpRequest.BodyPublishers.ofString(BODY, StandardCharsets.UTF_8)).build());
    }

    void assertChargedTheStory(String s, HttpResponse<String> r, String what) {
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), what + ": " + r.body());
        assertEquals(STORY, r.body(), what);
        assertEquals(1, calls.of(s), what + ": model calls");
        long written = TOKENS.estimate(STORY);
        assertTrue(a.used() >= written * 9 / 10, kind() + ": " + what + ": the model wrote about " + written
                + " tokens (all delivered, no usage); charged " + a.used() + " of " + a.limit() + ": " + ledger(s));
    }

    /** Control: the app's own page POSTs the JSON body and is charged the story's text. */
    @Test
    void controlAPostedChatIsChargedTheText() {
        String s = subject();
        assertChargedTheStory(s, send("POST", s), "POST");
    }

    /** The same JSON chat body sent with GET: the same handler, the same model call, the same story. */
    @Test
    void theSameChatBodySentWithGetIsChargedTheText() {
        String s = subject();
        assertChargedTheStory(s, send("GET", s), "GET with a JSON chat body");
    }

    /** Three such GETs on a 20,000 allowance: each about 8,400 tokens written. */
    @Test
    void chatsSentWithGetAreNotServedPastTheAllowance() {
        String s = subject();
        int served = 0;
        for (int i = 0; i < 4; i++) {
            if (send("GET", s).statusCode() == 200) {
                served++;
            }
        }
        long used = settled(s).used();
        long written = TOKENS.estimate(STORY);
        assertTrue(used >= served * written * 9 / 10, kind() + ": " + served + " GETs served, each writing about "
                + written + " tokens (" + served * written + " in all), charged " + used + " on a " + ALLOWANCE
                + " allowance: " + ledger(s));
    }
}
