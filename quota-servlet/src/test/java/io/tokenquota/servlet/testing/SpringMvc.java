package io.tokenquota.servlet.testing;

import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.MultipartConfigElement;
import java.util.function.Supplier;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.MediaType;
import org.springframework.web.context.support.AnnotationConfigWebApplicationContext;
import org.springframework.web.servlet.DispatcherServlet;
import org.springframework.web.servlet.config.annotation.AsyncSupportConfigurer;
import org.springframework.web.servlet.config.annotation.EnableWebMvc;
import org.springframework.web.servlet.config.annotation.WebMvcConfigurer;
import org.springframework.web.servlet.function.HandlerFunction;
import org.springframework.web.servlet.function.RequestPredicates;
import org.springframework.web.servlet.function.RouterFunction;
import org.springframework.web.servlet.function.RouterFunctions;
import org.springframework.web.servlet.function.ServerResponse;

/**
 * A real Spring MVC {@link DispatcherServlet} behind the quota filter, as a Spring Boot application
 * serves its AI endpoints: the break-it rounds relay answers through Spring's own message converters,
 * content negotiation and error handling rather than through a hand-written servlet.
 */
public final class SpringMvc {
    /** Where the rounds mount the dispatcher, under the filter's protected {@code /ai/} prefix. */
    public static final String MAPPING = "/ai/spring/*";

    @Configuration
    @EnableWebMvc
    static class Mvc {
    }

    private SpringMvc() {
    }

    /** A dispatcher whose context holds Spring MVC's defaults and the given controller classes. */
    public static DispatcherServlet dispatcher(Class<?>... controllers) {
        AnnotationConfigWebApplicationContext context = new AnnotationConfigWebApplicationContext();
        context.register(Mvc.class);
        context.register(controllers);
        return new DispatcherServlet(context);
    }

    /**
     * A dispatcher as Spring Boot configures it ({@code spring.mvc.dispatch-options-request}, on by
     * default: {@code OPTIONS} requests reach the handlers), with the given controller classes.
     */
    public static DispatcherServlet bootDispatcher(Class<?>... controllers) {
        DispatcherServlet dispatcher = dispatcher(controllers);
        dispatcher.setDispatchOptionsRequest(true);
        return dispatcher;
    }

    /**
     * A functional route matched by its path alone ({@code RequestPredicates.path}), whatever the method,
     * as a gateway route is written: {@code path} within the dispatcher at {@link #MAPPING}, or the whole
     * path under it.
     */
    public static RouterFunction<ServerResponse> pathRoute(String path, HandlerFunction<ServerResponse> handler) {
        return RouterFunctions.route(RequestPredicates.path(path)
                .or(RequestPredicates.path(MAPPING.replace("/*", "") + path)), handler);
    }

    /**
     * A {@link #pathRoute} that takes its question from the query string ({@code ?q=}, 400 without one),
     * as a "suggest" or "ask" endpoint is written: it calls the model, counted in {@code calls}, and
     * answers {@code json}.
     */
    public static RouterFunction<ServerResponse> questionRoute(String path, Supplier<ModelCalls> calls, String json) {
        return pathRoute(path, request -> {
            if (request.param("q").orElse("").isEmpty()) {
                return ServerResponse.badRequest().build();
            }
            calls.get().count(request.headers().firstHeader("x-user-id"));
            return ServerResponse.ok().contentType(MediaType.APPLICATION_JSON).body(json);
        });
    }

    /** The quota filter on the protected prefix ({@code /ai/*}), then the controllers at {@link #MAPPING}. */
    public static Deployment behindAi(QuotaFilter filter, Class<?>... controllers) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("spring", dispatcher(controllers), MAPPING);
    }

    /**
     * As {@link #behindAi}, with Spring MVC's async request timeout set to {@code millis}: the bound Spring puts on
     * an async request's cycle (a {@code StreamingResponseBody}, a {@code Callable}), passed to the container's
     * {@code AsyncContext.setTimeout}, as Spring's reference configures it ("Asynchronous Requests", "Configuration":
     * {@code WebMvcConfigurer.configureAsyncSupport}, {@code AsyncSupportConfigurer.setDefaultTimeout}; Spring
     * Boot's {@code spring.mvc.async.request-timeout}). Without it the container's default applies, 30 seconds on
     * Tomcat and Jetty, at which Spring ends the request and cancels its worker.
     */
    public static Deployment behindAiWithAsyncTimeout(QuotaFilter filter, long millis, Class<?>... controllers) {
        DispatcherServlet dispatcher = dispatcher(controllers);
        AnnotationConfigWebApplicationContext context =
                (AnnotationConfigWebApplicationContext) dispatcher.getWebApplicationContext();
        WebMvcConfigurer asyncTimeout = new WebMvcConfigurer() {
            @Override
            public void configureAsyncSupport(AsyncSupportConfigurer configurer) {
                configurer.setDefaultTimeout(millis);
            }
        };
        // found by @EnableWebMvc's configuration among the context's WebMvcConfigurer beans when it refreshes
        context.addBeanFactoryPostProcessor(beans -> beans.registerSingleton("asyncTimeout", asyncTimeout));
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("spring", dispatcher, MAPPING);
    }

    /** The quota filter on every path, then the controllers at {@link #MAPPING}, multipart enabled. */
    public static Deployment behind(QuotaFilter filter, Class<?>... controllers) {
        MultipartConfigElement multipart = new MultipartConfigElement("", 8 << 20, 8 << 20, 0);
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("spring", dispatcher(controllers), multipart, MAPPING);
    }
}
