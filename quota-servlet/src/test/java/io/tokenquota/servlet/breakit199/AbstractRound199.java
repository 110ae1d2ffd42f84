package io.tokenquota.servlet.breakit199;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.StoryRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.MultipartConfigElement;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.multipart.MultipartFile;

/**
 * Rounds 199 and 201 of issue 11: the client chooses the method. Spring MVC controllers written as Spring
 * AI's guides write them, mapped with {@code @RequestMapping} and no {@code method} (any method is
 * served), returning {@code chatClient.prompt().user(...).call().content()}, a {@code String}: a chat
 * binding a JSON {@code @RequestBody} ({@code /chat}), and a report written from uploaded meeting notes,
 * {@code @RequestParam("notes") MultipartFile} ({@code /report}). The app's own page POSTs. The filter
 * counts a raw text answer to a call, but not to a plain {@code GET} (which "may read stored text back").
 * A hostile client sends the JSON chat body (round 199) or the multipart upload (round 201) with
 * {@code GET} instead of {@code POST}: Spring binds the same body and the model writes the same story.
 */
abstract class AbstractRound199 extends StoryRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final String BODY = "{\"message\":\"" + ASK + "\"}";
    /** About 450 tokens of notes. */
    static final String NOTES = Prose.english(2_000);
    static final String BOUNDARY = "----formdata201";

    AbstractRound199() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .multipartServlet("spring", SpringMvc.dispatcher(Chat.class),
                        new MultipartConfigElement("", 8 << 20, 8 << 20, 0), SpringMvc.MAPPING);
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

        @RequestMapping("/report")
        public String report(@RequestParam("notes") MultipartFile notes, @RequestHeader("x-user-id") String user)
                throws IOException {
            if (new String(notes.getBytes(), StandardCharsets.UTF_8).isBlank()) {
                throw new IllegalArgumentException("no notes");
            }
            CALLS.count(user);
            return STORY;
        }
    }

    /** The chat's JSON body sent by {@code s} with {@code method}. */
    HttpResponse<String> chat(String method, String s) {
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/spring/chat"), s, "Content-Type", "application/json")
                .method(method, HttpRequest.BodyPublishers.ofString(BODY, StandardCharsets.UTF_8)).build());
    }

    /** The notes uploaded by {@code s} with {@code method}, as the page's {@code FormData} sends them. */
    HttpResponse<String> upload(String method, String s) {
        byte[] body = TestHttp.multipart(BOUNDARY,
                "Content-Disposition: form-data; name=\"notes\"; filename=\"notes.txt\"\r\nContent-Type: text/plain", NOTES);
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/spring/report"), s,
                        "Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .method(method, HttpRequest.BodyPublishers.ofByteArray(body)).build());
    }

    /** {@code r} delivered the whole story, and {@code s} was charged at least its text. */
    void assertChargedTheStory(String s, HttpResponse<String> r, String what) {
        assertChargedTheText(s, r, STORY, kind() + ": " + what);
        assertEquals(STORY, r.body(), what);
    }

    /** Control: the app's own page POSTs the JSON body and is charged the story's text. */
    @Test
    void controlAPostedChatIsChargedTheText() {
        String s = subject();
        assertChargedTheStory(s, chat("POST", s), "POST");
    }

    /** Round 199: the same JSON chat body sent with GET: the same handler, the same model call, the same story. */
    @Test
    void theSameChatBodySentWithGetIsChargedTheText() {
        String s = subject();
        assertChargedTheStory(s, chat("GET", s), "GET with a JSON chat body");
    }

    /** Four such GETs on a 20,000 allowance: each about 8,400 tokens written. */
    @Test
    void chatsSentWithGetAreNotServedPastTheAllowance() {
        String s = subject();
        assertServedCallsCharged(s, 4, () -> chat("GET", s), written(STORY),
                "a GET with a chat body, writing about " + TOKENS.estimate(STORY) + " tokens");
    }

    /** Control: the app's page POSTs the upload and is charged the report's text. */
    @Test
    void controlAnUploadPostedIsChargedTheReport() {
        String s = subject();
        assertChargedTheStory(s, upload("POST", s), "POST multipart");
    }

    /** Round 201: the same multipart upload sent with GET: the same handler, the same model call, the same report. */
    @Test
    void theSameUploadSentWithGetIsChargedTheReport() {
        String s = subject();
        assertChargedTheStory(s, upload("GET", s), "GET with a multipart body");
    }

    /** Four such GETs on a 20,000 allowance: each about 8,400 tokens written. */
    @Test
    void uploadsSentWithGetAreNotServedPastTheAllowance() {
        String s = subject();
        assertServedCallsCharged(s, 4, () -> upload("GET", s), written(STORY),
                "a GET with a multipart body, writing about " + TOKENS.estimate(STORY) + " tokens");
    }
}
