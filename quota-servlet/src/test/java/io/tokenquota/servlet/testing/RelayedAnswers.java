package io.tokenquota.servlet.testing;

import jakarta.servlet.http.HttpServletRequest;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What the break-it rounds' Spring relays share: the upstream answers they relay (an OpenAI chat
 * completion, or its stream with usage) and a count of the model calls each subject made, so a test
 * can tell a call that reached the model from one refused before it.
 */
public final class RelayedAnswers {
    private static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();

    private RelayedAnswers() {
    }

    /** Model calls made for {@code subject} (its {@code x-user-id}). */
    public static int calls(String subject) {
        AtomicInteger n = CALLS.get(subject);
        return n == null ? 0 : n.get();
    }

    /** Counts one model call for the request's subject. */
    public static void called(HttpServletRequest req) {
        CALLS.computeIfAbsent(String.valueOf(req.getHeader("x-user-id")), k -> new AtomicInteger()).incrementAndGet();
    }

    /** An OpenAI chat completion with its usage. */
    public static String completionJson(String content, long prompt, long completion) {
        Map<String, Object> usage = new LinkedHashMap<>();
        usage.put("prompt_tokens", prompt);
        usage.put("completion_tokens", completion);
        usage.put("total_tokens", prompt + completion);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", "chatcmpl-relayed");
        out.put("object", "chat.completion");
        out.put("choices", List.of(Map.of("index", 0, "message", Map.of("role", "assistant", "content", content),
                "finish_reason", "stop")));
        out.put("usage", usage);
        try {
            return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(out);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** An OpenAI chat stream (stream_options.include_usage) as the upstream sent it. */
    public static String streamText(long prompt, long completion) {
        return "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Once upon\"}}]}\n\n"
                + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt
                + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (prompt + completion) + "}}\n\n"
                + "data: [DONE]\n\n";
    }
}
