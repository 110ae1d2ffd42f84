package io.tokenquota.examples.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.jdbi.JdbiQuotaStore;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.UUID;
import org.h2.tools.Server;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The Spring Boot example on a random port with its real embedded Tomcat, over H2 (served by an H2
 * TCP server, so the test can stop the database), driven over HTTP as a client would.
 *
 * <p>Started the way {@code @SpringBootTest(webEnvironment = RANDOM_PORT)} starts an application,
 * through {@link SpringApplicationBuilder}: Spring Framework 7's {@code SpringExtension} needs JUnit
 * 6, and this module's jqwik properties pin JUnit Platform 1.13.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SpringExampleApplicationTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static Server database;
    private static ConfigurableApplicationContext app;
    private static String base;

    @BeforeAll
    static void start() throws Exception {
        database = Server.createTcpServer("-tcpPort", "0", "-ifNotExists").start();
        String url = "jdbc:h2:tcp://localhost:" + database.getPort() + "/mem:spring-" + UUID.randomUUID()
                + ";DB_CLOSE_DELAY=-1";
        app = new SpringApplicationBuilder(SpringExampleApplication.class)
                .profiles("development")
                .run("--server.port=0", "--spring.datasource.url=" + url,
                        "--spring.datasource.hikari.connection-timeout=1000");
        base = "http://localhost:" + app.getEnvironment().getProperty("local.server.port");
    }

    @AfterAll
    static void stop() {
        if (app != null) {
            app.close();
        }
        if (database != null) {
            database.stop();
        }
    }

    @Test
    @Order(1)
    void theDevelopmentProfileIsBoundToTheStoresPolicy() {
        QuotaStore store = app.getBean(QuotaStore.class);
        assertTrue(store instanceof JdbiQuotaStore);
        QuotaPolicy policy = store.policy();
        assertEquals(10_000, policy.defaultAllocation());
        assertEquals(100_000, policy.maxQuota());
        assertEquals(0.8, policy.warningThreshold());
    }

    @Test
    @Order(2)
    void aChatCallIsChargedToTheLoggedInUser() throws Exception {
        HttpResponse<String> chat = post("/api/v1/ai/chat", "alice", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertEquals(200, chat.statusCode(), chat.body());
        assertTrue(chat.headers().firstValue("X-Quota-Limit").isPresent(), "quota headers on the AI response");

        JsonNode quota = JSON.readTree(get("/api/v1/user-quota/quota", "alice").body());
        assertEquals("alice", quota.get("user_id").asText());
        assertEquals(ChatController.TOTAL_TOKENS, quota.get("used_tokens").asLong());
        assertEquals(0, app.getBean(QuotaStore.class).account("bob").used(), "nobody else was charged");
    }

    @Test
    @Order(3)
    void aRequestThatDoesNotFitIsRefusedWith429() throws Exception {
        HttpResponse<String> refused = post("/api/v1/ai/chat", "bob",
                "{\"max_tokens\":12000,\"messages\":[{\"role\":\"user\",\"content\":\"write a novel\"}]}");
        assertEquals(429, refused.statusCode(), refused.body());
        assertTrue(refused.headers().firstValue("Retry-After").isPresent());
        assertEquals(0, app.getBean(QuotaStore.class).account("bob").used());
    }

    @Test
    @Order(4)
    void anonymousCallsNeverReachTheModel() throws Exception {
        HttpResponse<String> anonymous = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/ai/chat"))
                .POST(HttpRequest.BodyPublishers.ofString("{}")).header("Content-Type", "application/json").build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(401, anonymous.statusCode());
    }

    @Test
    @Order(5)
    void actuatorMetricsShowTheQuotaCounters() throws Exception {
        assertEquals(1.0, metric("tokenquota.holds"));
        assertEquals(1.0, metric("tokenquota.refusals"));
        assertEquals((double) ChatController.TOTAL_TOKENS, metric("tokenquota.tokens.charged"));
        assertEquals(0.0, metric("tokenquota.holds.open"));
        HttpResponse<String> timer = get("/actuator/metrics/tokenquota.ledger.calls", null);
        assertEquals(200, timer.statusCode(), "ledger calls are timed");
    }

    @Test
    @Order(6)
    void healthIsUpAndGoesDownWhenTheDatabaseStops() throws Exception {
        assertEquals("UP", JSON.readTree(get("/actuator/health", null).body()).get("status").asText());
        database.stop();
        HttpResponse<String> down = get("/actuator/health", null);
        assertEquals(503, down.statusCode());
        JsonNode health = JSON.readTree(down.body());
        assertEquals("DOWN", health.get("status").asText());
        assertEquals("DOWN", health.at("/components/quotaStore/status").asText(), down.body());
    }

    private static double metric(String name) throws Exception {
        HttpResponse<String> response = get("/actuator/metrics/" + name, null);
        assertEquals(200, response.statusCode(), name + ": " + response.body());
        return JSON.readTree(response.body()).at("/measurements/0/value").asDouble();
    }

    private static HttpResponse<String> post(String path, String user, String body) throws Exception {
        return HTTP.send(authorized(HttpRequest.newBuilder(URI.create(base + path)), user)
                .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json").build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> get(String path, String user) throws Exception {
        return HTTP.send(authorized(HttpRequest.newBuilder(URI.create(base + path)), user).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static HttpRequest.Builder authorized(HttpRequest.Builder request, String user) {
        if (user == null) {
            return request;
        }
        String credentials = user + ":" + user + "-password";
        return request.header("Authorization",
                "Basic " + Base64.getEncoder().encodeToString(credentials.getBytes(StandardCharsets.UTF_8)));
    }
}
