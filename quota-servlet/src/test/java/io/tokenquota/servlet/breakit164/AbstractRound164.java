package io.tokenquota.servlet.breakit164;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.StoryRound;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 164 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * Spring AI's own streaming endpoints, as its reference documentation writes them. The canonical
 * example is a {@code @GetMapping} that takes the user's message as a {@code @RequestParam} and returns
 * {@code chatModel.stream(prompt)} ({@code Flux<ChatResponse>}) or
 * {@code chatClient.prompt().user(message).stream().content()} ({@code Flux<String>}) as an event
 * stream. Spring AI's OpenAI client streams without usage unless {@code streamUsage} is set, so every
 * chunk carries its placeholder usage (all counts 0), and a {@code Flux<String>} carries the model's
 * text alone. The endpoint names no output budget: the model writes as long as the user asks it to.
 * The filter charges a stream without a final usage its input plus the new text its deltas carried,
 * but not on a GET, and not for text written raw into events.
 */
abstract class AbstractRound164 extends StoryRound {
    /** The story in the pieces the model streams it in. */
    static final int PIECE = 180;

    @Override
    protected Deployment deploy(QuotaFilter quota) {
        return filteredByServletName(quota)
                .servlet("chat-response-stream", new ChatResponseStream(), "/ai/generateStream")
                .servlet("content-stream", new ContentStream(), "/ai/stream")
                .servlet("content", new Content(), "/ai/generate");
    }

    // ------------------------------------------------------------------ the host's endpoints

    /**
     * {@code Flux<ChatResponse> generateStream(@RequestParam String message)} returning
     * {@code chatModel.stream(new Prompt(message))}, produced as {@code text/event-stream}: Spring MVC
     * writes each {@code ChatResponse} as Jackson serialises it after {@code data:}. OpenAI without
     * {@code streamUsage}: every chunk's usage is Spring AI's empty usage (all 0); the last chunk sets
     * {@code finishReason} {@code STOP}.
     */
    class ChatResponseStream extends ModelEndpoint {
        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream;charset=UTF-8");
            ServletOutputStream out = resp.getOutputStream();
            for (int i = 0; i < STORY.length(); i += PIECE) {
                String piece = STORY.substring(i, Math.min(STORY.length(), i + PIECE));
                boolean last = i + PIECE >= STORY.length();
                out.write(("data:" + chatResponse(piece, last ? "STOP" : "") + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    static String chatResponse(String text, String finishReason) {
        String generation = "{\"output\":{\"messageType\":\"ASSISTANT\",\"metadata\":{\"refusal\":\"\",\"finishReason\":\""
                + finishReason + "\",\"index\":0,\"id\":\"chatcmpl-B164\",\"role\":\"ASSISTANT\",\"messageType\":\"ASSISTANT\"},"
                + "\"toolCalls\":[],\"media\":[],\"text\":\"" + text + "\"},\"metadata\":{\"finishReason\":\"" + finishReason
                + "\",\"contentFilters\":[],\"empty\":true}}";
        return "{\"result\":" + generation + ",\"metadata\":{\"id\":\"chatcmpl-B164\",\"model\":\"gpt-4o-2024-08-06\","
                + "\"rateLimit\":{\"requestsLimit\":0,\"requestsRemaining\":0,\"requestsReset\":0.0,\"tokensLimit\":0,"
                + "\"tokensRemaining\":0,\"tokensReset\":0.0},\"usage\":{\"promptTokens\":0,\"completionTokens\":0,"
                + "\"totalTokens\":0},\"promptMetadata\":[],\"empty\":false},\"results\":[" + generation + "]}";
    }

    /**
     * {@code Flux<String> stream(@RequestParam String message)} returning
     * {@code chatClient.prompt().user(message).stream().content()}, produced as {@code text/event-stream}:
     * Spring MVC writes each piece of the model's text as an event, {@code data:} and the text.
     */
    class ContentStream extends ModelEndpoint {
        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/event-stream;charset=UTF-8");
            ServletOutputStream out = resp.getOutputStream();
            for (int i = 0; i < STORY.length(); i += PIECE) {
                String piece = STORY.substring(i, Math.min(STORY.length(), i + PIECE));
                out.write(("data:" + piece + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    /**
     * {@code String generate(@RequestParam String message)} returning
     * {@code chatClient.prompt().user(message).call().content()}: Spring MVC writes the model's text as
     * {@code text/plain}, nothing else.
     */
    class Content extends ModelEndpoint {
        @Override
        protected void answer(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(STORY.getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ helpers

    /** {@code s} asks for the story on a GET, as an event stream. */
    HttpResponse<String> get(String path, String s) {
        return get(path, s, "Accept", "text/event-stream");
    }

    /** {@code s} asks for the story in a form POST, as an event stream. */
    HttpResponse<String> postForm(String path, String s) {
        return postForm(path, s, "Accept", "text/event-stream");
    }

    /** The story's tokens as the filter's own estimator counts them, less a tenth for its spread. */
    static long written() {
        return written(STORY);
    }

    void assertChargedTheStory(String s, HttpResponse<String> r, String what) {
        assertChargedTheText(s, r, STORY, what);
    }

    // ------------------------------------------------------------------ the tests

    /**
     * Control: the {@code Flux<ChatResponse>} endpoint called with a POST (the form Spring binds the same
     * {@code @RequestParam} from) is charged the text its chunks carried: input plus about 8,400.
     */
    @Test
    void aSpringAiChatResponseStreamPostedIsChargedTheTextItCarried() {
        String s = subject();
        assertChargedTheStory(s, postForm("/ai/generateStream", s), "POST Flux<ChatResponse>");
    }

    /**
     * Spring AI's documented {@code @GetMapping("/ai/generateStream")} returning
     * {@code chatModel.stream(prompt)}, without stream usage (every chunk's counts 0, a placeholder
     * that is provisional). A client asks for a long story in the query string: the model writes about
     * 8,400 tokens, and the filter charges the request's estimate (its query text plus the default
     * output budget), because for a GET it does not count the text the stream carried.
     */
    @Test
    void aSpringAiChatResponseStreamOnAGetIsChargedTheTextItCarried() {
        String s = subject();
        assertChargedTheStory(s, get("/ai/generateStream", s), "GET Flux<ChatResponse>");
    }

    /**
     * The same hostile client, three times in a row on a 20,000-token allowance: each call writes about
     * 8,400 tokens, 25,000 in all, more than the month allows; each is charged about 1,000.
     */
    @Test
    void threeLongStoriesOnAGetDoNotFitInTheAllowanceForTheEstimateAlone() {
        String s = subject();
        int served = 0;
        for (int i = 0; i < 3; i++) {
            if (get("/ai/generateStream", s).statusCode() == 200) {
                served++;
            }
        }
        long used = settled(s).used();
        assertTrue(used >= served * written(), served + " calls served, each writing about " + TOKENS.estimate(STORY)
                + " tokens (" + served * TOKENS.estimate(STORY) + " in all), charged " + used + " on a " + ALLOWANCE
                + " allowance: " + ledger(s));
    }

    /**
     * Spring AI's {@code chatClient.prompt().user(message).stream().content()} returned as a
     * {@code Flux<String>} event stream, POSTed: each event's data is a piece of the model's text, no
     * JSON, no usage. The filter counts deltas of known JSON formats only, so the call is charged its
     * estimate (input plus the default output budget, about 1,000) for about 8,400 tokens written.
     */
    @Test
    void aSpringAiContentStreamPostedIsChargedTheTextItCarried() {
        String s = subject();
        assertChargedTheStory(s, postForm("/ai/stream", s), "POST Flux<String>");
    }

    /**
     * The {@code Flux<String>} endpoint as Spring AI's guides write it, a GET with the message in the
     * query: text a GET answers raw may be stored text read back (a file's content, a job's progress
     * lines: round 165), which no format tells from a model's, so a GET is charged its estimate; such a
     * route reports its usage (docs/decisions.md, "A model's text written raw is counted too").
     */
    @Test
    void aSpringAiContentStreamOnAGetIsChargedItsEstimate() {
        String s = subject();
        assertChargedTheEstimate(s, get("/ai/stream", s), "GET Flux<String>");
    }

    /**
     * Spring AI's blocking {@code chatClient.prompt().user(message).call().content()} returned as a
     * {@code String} (text/plain), POSTed: the whole answer is the model's text, about 8,400 tokens; it is
     * charged its estimate, about 1,000.
     */
    @Test
    void aSpringAiContentAnswerPostedIsChargedTheTextItCarried() {
        String s = subject();
        assertChargedTheStory(s, postForm("/ai/generate", s), "POST String");
    }

    /** The blocking {@code String} endpoint on a GET: charged its estimate, as above. */
    @Test
    void aSpringAiContentAnswerOnAGetIsChargedItsEstimate() {
        String s = subject();
        assertChargedTheEstimate(s, get("/ai/generate", s), "GET String");
    }

    /** A GET answered with the model's text raw: one model call, charged the request's estimate. */
    void assertChargedTheEstimate(String s, HttpResponse<String> r, String what) {
        assertEquals(200, r.statusCode(), what);
        long used = settled(s).used();
        assertTrue(used > 1_000 && used < 1_100, what + ": the estimate, input and the default budget: " + ledger(s));
    }
}
