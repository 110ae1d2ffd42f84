package io.tokenquota.servlet.testing;

import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.MultipartConfigElement;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.context.support.AnnotationConfigWebApplicationContext;
import org.springframework.web.servlet.DispatcherServlet;
import org.springframework.web.servlet.config.annotation.EnableWebMvc;

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

    /** The quota filter on every path, then the controllers at {@link #MAPPING}, multipart enabled. */
    public static Deployment behind(QuotaFilter filter, Class<?>... controllers) {
        MultipartConfigElement multipart = new MultipartConfigElement("", 8 << 20, 8 << 20, 0);
        return Deployment.create()
                .filter("quota", filter, "/*")
                .multipartServlet("spring", dispatcher(controllers), multipart, MAPPING);
    }
}
