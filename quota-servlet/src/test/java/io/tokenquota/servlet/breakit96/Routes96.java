package io.tokenquota.servlet.breakit96;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ModelCalls;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * A Spring MVC application's AI endpoints, written as such applications write them: a relay that
 * returns the provider's JSON as a {@code String} (Spring picks its Content-Type from the client's
 * {@code Accept}), a structured-output endpoint that binds the model's answer to a record (Spring AI's
 * {@code .call().entity(Recipe.class)}), and a chat endpoint behind an LLM input guardrail (a safety
 * classifier model reads the prompt first; a flagged prompt is refused with 400).
 */
@RestController
public class Routes96 {
    static final ObjectMapper JSON = new ObjectMapper();
    static final AtomicReference<ModelCalls> CALLS = new AtomicReference<>();
    /** When set, each relayed model call waits here until the test's calls are all in (bounded). */
    static final AtomicReference<CountDownLatch> GATE = new AtomicReference<>();

    /** What the model writes when the request names no output budget: gpt-4o's own maximum answer. */
    static final int MODEL_DEFAULT_OUTPUT = 16_000;
    static final int PROMPT_TOKENS = 50;

    /** What the model writes for {@code request}: all the output it asked for, or the model's default. */
    static int output(JsonNode request) {
        return request.hasNonNull("max_tokens") ? request.get("max_tokens").asInt() : MODEL_DEFAULT_OUTPUT;
    }

    /** The provider's chat completion for {@code request}, its {@link #output} written. */
    static String completion(JsonNode request) {
        return "{\"id\":\"chatcmpl-96\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"Chapter one. It was a long night...\"},"
                + "\"finish_reason\":\"length\"}]," + ChatCompletions.usage(PROMPT_TOKENS, output(request)) + "}";
    }

    static void awaitGate() {
        CountDownLatch gate = GATE.get();
        if (gate != null) {
            gate.countDown();
            try {
                gate.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The relay: the upstream's answer, byte for byte, as a String (Spring's StringHttpMessageConverter). */
    @PostMapping({"/chat", "/ai/spring/chat"})
    public String chat(@RequestBody String body, @RequestHeader("x-user-id") String user) throws IOException {
        JsonNode request = JSON.readTree(body);
        CALLS.get().count(user);
        awaitGate();
        return completion(request);
    }

    /** What the structured-output endpoint binds the model's answer to. */
    public record Recipe(String title, java.util.List<String> ingredients, java.util.List<String> steps) {
    }

    /**
     * Structured output: the model is asked for a recipe as JSON and its text is bound to {@link Recipe}.
     * The model follows the user's message; when it answers in prose the binding throws and Spring
     * answers 500 (no exception handler), although the model wrote its whole answer. With
     * {@code "report": true} the endpoint does what docs/decisions.md asks of it ("Failures after the
     * model ran"): it reports the tokens the call spent (its 8,000-token budget and the wish) before
     * the bind can fail.
     */
    @PostMapping({"/recipe", "/ai/spring/recipe"})
    public Recipe recipe(@RequestBody Map<String, Object> body, @RequestHeader("x-user-id") String user,
                         jakarta.servlet.http.HttpServletRequest request) {
        String wish = String.valueOf(body.get("wish"));
        CALLS.get().count(user);
        if (Boolean.TRUE.equals(body.get("report"))) {
            request.setAttribute(io.tokenquota.servlet.QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 8_020L);
        }
        String modelText = wish.toLowerCase().contains("prose")
                ? "Of course! Here is a lovely recipe told as a story. Once upon a time, a cook..."
                : "{\"title\":\"Pancakes\",\"ingredients\":[\"flour\",\"milk\",\"eggs\"],\"steps\":[\"mix\",\"fry\"]}";
        try {
            return JSON.readValue(modelText, Recipe.class);
        } catch (IOException e) {
            throw new IllegalStateException("could not convert the model's answer to a Recipe", e);
        }
    }

    /**
     * A chat endpoint behind an input guardrail (LangChain4j's {@code InputGuardrail}, a Llama Guard or
     * moderation-model check): the classifier model reads the whole prompt; a flagged prompt is refused
     * with 400 and the chat model is not called.
     */
    @PostMapping({"/guarded", "/ai/spring/guarded"})
    public ResponseEntity<Map<String, String>> guarded(@RequestBody JsonNode body, @RequestHeader("x-user-id") String user,
                                                       jakarta.servlet.http.HttpServletRequest request) {
        String prompt = body.path("messages").path(0).path("content").asText();
        // the guard model's call: it reads the whole prompt
        CALLS.get().count(user);
        if (body.path("report").asBoolean()) {
            // what the guard model read, as its API reports it: the refusal below must not make it free
            request.setAttribute(io.tokenquota.servlet.QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 6_200L);
        }
        if (prompt.toLowerCase().contains("ignore previous instructions")) {
            return ResponseEntity.badRequest().body(Map.of("error", "prompt_rejected",
                    "message", "The request was flagged by the safety check (category S14: prompt injection)."));
        }
        CALLS.get().count(user);
        return ResponseEntity.ok(Map.of("answer", "Here you go."));
    }
}
