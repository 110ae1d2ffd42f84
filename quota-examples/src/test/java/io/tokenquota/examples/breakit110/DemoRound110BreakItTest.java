package io.tokenquota.examples.breakit110;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.examples.DemoApp;
import io.tokenquota.examples.DemoConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * Round 110: Jetty's per-connection header cache matched a repeated {@code Authorization} value ignoring
 * case and handed the servlet the cached one, so the admin token in another letter case, sent on a
 * keep-alive connection that had carried the right one (a proxy pooling its upstream connections), was
 * let in. The demo has Jetty compare header values exactly.
 */
class DemoRound110BreakItTest {
    private static final String TOKEN = "0123456789abcdef-admin";

    @Test
    void theAdminTokenInAnotherCaseIsRefusedOnTheAdminsConnection() throws Exception {
        DemoConfig config = DemoConfig.builder().port(0).host("127.0.0.1").adminToken(TOKEN).build();
        // one HTTP/1.1 client sending one request after another: the same keep-alive connection
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        try (DemoApp app = DemoApp.start(config)) {
            URI data = URI.create(app.baseUri() + DemoApp.DASHBOARD_DATA_PATH);
            assertEquals(200, get(client, data, TOKEN).statusCode(), "the right token");
            int upper = get(client, data, TOKEN.toUpperCase(Locale.ROOT)).statusCode();
            assertEquals(true, upper == 401 || upper == 403, "the token in upper case answered " + upper);
            assertEquals(200, get(client, data, TOKEN).statusCode(), "the right token again");
        }
    }

    private static HttpResponse<String> get(HttpClient client, URI uri, String token) throws Exception {
        return client.send(HttpRequest.newBuilder(uri).header("Authorization", "Bearer " + token)
                .timeout(Duration.ofSeconds(20)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }
}
