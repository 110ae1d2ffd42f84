package io.tokenquota.servlet.breakit94;

import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.servlet.function.RouterFunction;
import org.springframework.web.servlet.function.ServerResponse;

/**
 * A Spring MVC functional "ask" route matched by its path alone ({@code RequestPredicates.path}),
 * whatever the method: it calls the model with the query's question and answers the application's
 * own JSON, the answer text only, without the provider's usage (as most application endpoints do).
 */
@Configuration
class Routes94 {
    static final AtomicReference<ModelCalls> CALLS = new AtomicReference<>();

    @Bean
    RouterFunction<ServerResponse> askRoute() {
        return SpringMvc.questionRoute("/ask", CALLS::get,
                "{\"answer\":\"The Team plan covers five seats with a shared allowance.\"}");
    }
}
