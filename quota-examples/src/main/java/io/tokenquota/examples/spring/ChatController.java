package io.tokenquota.examples.spring;

import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Stands in for the application's call to a model: answers an OpenAI-style chat completion whose
 * {@code usage} the quota filter charges (40 + 60 = 100 tokens).
 */
@RestController
class ChatController {
    static final long TOTAL_TOKENS = 100;

    @PostMapping(path = "/api/v1/ai/chat", produces = MediaType.APPLICATION_JSON_VALUE)
    String chat() {
        return "{\"id\":\"chatcmpl-example\",\"object\":\"chat.completion\",\"model\":\"example\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello!\"},"
                + "\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":60,\"total_tokens\":" + TOTAL_TOKENS + "}}";
    }
}
