package io.tokenquota.servlet.breakit93;

import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.MediaType;
import org.springframework.web.servlet.function.RouterFunction;
import org.springframework.web.servlet.function.ServerResponse;

/**
 * A Spring MVC functional route to a chat model that takes its question from the query string
 * ({@code ?q=}), as a "suggest" or "ask" endpoint is written, matched by its path alone
 * ({@code RequestPredicates.path}), whatever the method. It calls the model with the question and its
 * own context (a system prompt and retrieved documents: 4,000 input tokens) and answers the completion
 * with its usage, 5,000 tokens.
 */
@Configuration
class Routes93 {
    static final AtomicReference<ModelCalls> CALLS = new AtomicReference<>();

    @Bean
    RouterFunction<ServerResponse> askRoute() {
        return SpringMvc.pathRoute("/ask", request -> {
            String question = request.param("q").orElse("");
            if (question.isEmpty()) {
                return ServerResponse.badRequest().build();
            }
            CALLS.get().count(request.headers().firstHeader("x-user-id"));
            return ServerResponse.ok().contentType(MediaType.APPLICATION_JSON).body(AbstractRound93.COMPLETION);
        });
    }

    /** The same question answered in plain text, without usage (a model's text relayed as it came). */
    @Bean
    RouterFunction<ServerResponse> askTextRoute() {
        return SpringMvc.pathRoute("/ask-text", request -> {
            CALLS.get().count(request.headers().firstHeader("x-user-id"));
            return ServerResponse.ok().contentType(MediaType.TEXT_PLAIN).body("try the soup");
        });
    }
}
