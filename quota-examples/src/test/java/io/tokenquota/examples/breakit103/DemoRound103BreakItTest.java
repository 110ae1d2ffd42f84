package io.tokenquota.examples.breakit103;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.examples.DemoApp;
import io.tokenquota.examples.DemoConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Round 103: the demo's secret checks against the library's. An admin token read from a secret file
 * written on Windows ends with CR LF. The demo's builder counts those two characters, the library's
 * bearer check trims them: a 15-character token passes the demo's 16-character rule and then the
 * service failed to start with the library's message, which named no setting. The demo now checks it
 * by the library's rule where it is configured, naming the setting.
 */
class DemoRound103BreakItTest {
    @Test
    void adminTokenTheLibraryWouldRefuseIsRefusedWhereItIsConfigured() {
        String fromFile = "0123456789abcde\r\n"; // 15 characters and a Windows line end
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> DemoConfig.builder().adminToken(fromFile));
        assertTrue(refused.getMessage().contains("QUOTA_ADMIN_TOKEN"), refused.getMessage());
    }

    /** The same 16 characters with a line end are accepted, and the token without it lets the client in. */
    @Test
    void adminTokenWithALineEndStartsAndAuthorizes() throws Exception {
        String fromFile = "0123456789abcdef\r\n";
        DemoConfig config = DemoConfig.builder().port(0).host("127.0.0.1").adminToken(fromFile).build();
        try (DemoApp app = DemoApp.start(config)) {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create(app.baseUri() + DemoApp.DASHBOARD_DATA_PATH))
                    .header("Authorization", "Bearer " + fromFile.trim()).timeout(Duration.ofSeconds(20)).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
        }
    }
}
