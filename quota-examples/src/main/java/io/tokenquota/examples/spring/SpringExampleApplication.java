package io.tokenquota.examples.spring;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * A Spring Boot application with per-user token quotas from dependencies and
 * {@code application.yml} alone: quota-jdbi and quota-servlet on the classpath configure the store on
 * the application's {@code DataSource}, the quota filter in front of {@code /api/v1/ai/}, the quota
 * HTTP API under {@code /api/v1/user-quota}, Micrometer meters and an Actuator health indicator. The
 * only code is the application's own: a model endpoint ({@link ChatController}) and its security
 * ({@link SecurityConfig}), whose logged-in user is the quota subject.
 */
@SpringBootApplication
public class SpringExampleApplication {

    public static void main(String[] args) {
        SpringApplication.run(SpringExampleApplication.class, args);
    }
}
