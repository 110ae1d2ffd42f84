package io.tokenquota.examples.breakit53;

import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.examples.DemoApp;
import io.tokenquota.examples.DemoConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import java.util.UUID;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Round 53: the demo service as a user runs it (DemoApp with its own wiring, from the environment),
 * driven over HTTP as a hostile client or a real payment provider would.
 */
class DemoRound53BreakItTest {
    private static final String ADMIN = "round53-admin-token-0123456789";
    private static final String PAY = "round53-payment-secret-0123456789";
    private static final String CALLBACK = "/api/v1/user-quota/payment-callback";

    private static DemoApp app;
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void start() throws Exception {
        app = DemoApp.start(DemoConfig.fromEnv(Map.of("PORT", "0",
                "QUOTA_JDBC_URL", "jdbc:h2:mem:round53-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1",
                "QUOTA_ADMIN_TOKEN", ADMIN, "QUOTA_PAYMENT_SECRET", PAY)));
    }

    @AfterAll
    static void stop() {
        if (app != null) {
            app.close();
        }
    }

    private static String hmac(String body) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(PAY.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        return HexFormat.of().formatHex(mac.doFinal(body.getBytes(StandardCharsets.UTF_8)));
    }

    private static HttpResponse<String> signedCallback(String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + CALLBACK))
                        .header("content-type", "application/json")
                        .header("X-Signature", "sha256=" + hmac(body))
                        .POST(HttpRequest.BodyPublishers.ofString(body)).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static long granted(String user) {
        return app.store().account(user, app.store().policy().currentMonth()).map(QuotaAccount::granted).orElse(0L);
    }

    /**
     * A provider announces a payment as pending, then reports it captured. The captured event carries
     * what the provider only knows at capture (the payment method, the settled amount) and its own
     * description: the same transaction, user and tokens. The callback answers 409 and the purchase
     * stays pending: the user paid and is never credited, however often the provider retries.
     */
    @Test
    void aPendingPaymentCompletedWithTheDetailsKnownAtCaptureIsCredited() throws Exception {
        String user = "payer-" + UUID.randomUUID().toString().substring(0, 8);
        String tx = "pi_" + UUID.randomUUID().toString().replace("-", "");
        String pending = "{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + user + "\",\"token_amount\":5000,"
                + "\"status\":\"pending\",\"currency\":\"USD\",\"reason\":\"checkout started\"}";
        HttpResponse<String> first = signedCallback(pending);
        assertEquals(200, first.statusCode(), first.body());

        String completed = "{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + user + "\",\"token_amount\":5000,"
                + "\"status\":\"completed\",\"payment_method\":\"card\",\"amount\":\"49.00\",\"currency\":\"USD\","
                + "\"reason\":\"payment captured\"}";
        HttpResponse<String> second = signedCallback(completed);

        Purchase purchase = app.store().purchase(tx).orElseThrow();
        assertEquals(PurchaseStatus.COMPLETED, purchase.status(),
                "the captured payment must complete the pending purchase; answered " + second.statusCode() + " " + second.body());
        assertEquals(5000, granted(user), "the paid tokens must be credited");
        assertEquals(200, second.statusCode(), second.body());
    }
}
