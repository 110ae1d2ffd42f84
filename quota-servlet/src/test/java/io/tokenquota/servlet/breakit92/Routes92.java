package io.tokenquota.servlet.breakit92;

import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.MediaType;
import org.springframework.web.servlet.function.RouterFunction;
import org.springframework.web.servlet.function.ServerResponse;

/**
 * A Spring MVC functional route to a chat model, as a gateway route is written: matched by its path
 * alone ({@code RequestPredicates.path}), whatever the method. It reads the chat body, calls the model
 * and answers the completion with its usage, 5,000 tokens.
 */
@Configuration
class Routes92 {
    static final AtomicReference<ModelCalls> CALLS = new AtomicReference<>();

    @Bean
    RouterFunction<ServerResponse> chatRoute() {
        return SpringMvc.pathRoute("/chat", request -> {
            String body = request.body(String.class);
            if (body.isEmpty()) {
                return ServerResponse.badRequest().build();
            }
            CALLS.get().count(request.headers().firstHeader("x-user-id"));
            return ServerResponse.ok().contentType(MediaType.APPLICATION_JSON)
                    .body(ChatCompletions.completion("c3", "gpt-4o", "done", 4000, 1000));
        });
    }
}
