package io.tokenquota.examples.breakit324;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.examples.DemoApp;
import io.tokenquota.examples.DemoConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.UUID;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;

/**
 * Round 324: the demo as docs/demo.md starts it ({@code DemoConfig.fromEnv} then {@code DemoApp.start}, what
 * {@code DemoServer.main} does), attacked through its environment variables and over real HTTP through its
 * admin and payment endpoints. docs/demo.md: "An unusable value fails at start and names the variable;
 * secrets are never echoed in errors." docs/servlet.md (HTTP API reference): a completed payment "the ledger
 * refuses, such as 422 max-quota-exceeded, records nothing"; "A refused request changes nothing."
 */
class DemoRound324BreakItTest {
    private static final String ADMIN = "round324-admin-token-0123456789";
    private static final String SECRET = "round324-payment-secret-0123456789";
    private static final String API = "/api/v1/user-quota";
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.USE_LONG_FOR_INTS);

    private static Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>();
        env.put("PORT", "0");
        env.put("QUOTA_JDBC_URL", "jdbc:h2:mem:r324-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        env.put("QUOTA_ADMIN_TOKEN", ADMIN);
        env.put("QUOTA_PAYMENT_SECRET", SECRET);
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return env;
    }

    /**
     * What DemoServer.main shows for a start that fails: {@code "token-quota demo: " + e.getMessage()} for a
     * refused configuration, {@code "token-quota demo could not start: " + e} otherwise; null when it started.
     */
    private static String startFailure(Map<String, String> env) {
        DemoConfig config;
        try {
            config = DemoConfig.fromEnv(env);
        } catch (IllegalArgumentException e) {
            return "token-quota demo: " + e.getMessage();
        } catch (RuntimeException e) {
            // DemoServer.main catches only IllegalArgumentException here: the JVM's uncaught-exception trace
            return "uncaught " + e;
        }
        try (DemoApp app = DemoApp.start(config)) {
            return null;
        } catch (Exception e) {
            return "token-quota demo could not start: " + e;
        }
    }

    private static HttpResponse<String> send(DemoApp app, String method, String path, String body, String... headers)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + path))
                .timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    private static HttpResponse<String> admin(DemoApp app, String method, String path, String body) throws Exception {
        return body == null
                ? send(app, method, path, null, "authorization", "Bearer " + ADMIN)
                : send(app, method, path, body, "authorization", "Bearer " + ADMIN, "content-type", "application/json");
    }

    /** The payment system's callback as docs/servlet.md describes it: X-Signature: sha256=hex(HMAC-SHA256(raw body)). */
    private static HttpResponse<String> payment(DemoApp app, String body) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        String signature = "sha256=" + HexFormat.of().formatHex(mac.doFinal(body.getBytes(StandardCharsets.UTF_8)));
        return send(app, "POST", API + "/payment-callback", body, "content-type", "application/json",
                "X-Signature", signature);
    }

    private static JsonNode json(HttpResponse<String> r) throws Exception {
        return JSON.readTree(r.body());
    }

    // ---------------------------------------------------------------- environment

    /**
     * QUOTA_SWEEP_INTERVAL is an ISO-8601 duration (docs/demo.md); PT9999999999999999S parses
     * (java.time.Duration holds it) but its milliseconds overflow a long: the builder's own
     * {@code interval.toMillis() < 1} check throws ArithmeticException, which DemoConfig.set does not
     * turn into "QUOTA_SWEEP_INTERVAL has an unusable value" and DemoServer.main does not catch.
     */
    @Test
    void aSweepIntervalTooLongForMillisecondsFailsNamingItsVariable() {
        String failure = startFailure(env("QUOTA_SWEEP_INTERVAL", "PT9999999999999999S"));
        assertNotNull(failure, "the demo started");
        assertTrue(failure.startsWith("token-quota demo: QUOTA_SWEEP_INTERVAL has an unusable value"),
                "failure names no variable: " + failure);
    }

    /** Control: a sweep interval below a millisecond fails naming its variable. */
    @Test
    void controlANegativeSweepIntervalFailsNamingItsVariable() {
        String failure = startFailure(env("QUOTA_SWEEP_INTERVAL", "PT-5S"));
        assertNotNull(failure, "the demo started");
        assertTrue(failure.startsWith("token-quota demo: QUOTA_SWEEP_INTERVAL has an unusable value"), failure);
    }

    /**
     * QUOTA_JDBC_URL in capitals: DemoConfig's own check takes "JDBC:" in any case (regionMatches(true, ...)),
     * H2's driver only "jdbc:h2:" (H2 documents its URL as jdbc:h2:..., with USER and PASSWORD settings,
     * https://h2database.com/html/features.html#database_url). The start fails in HikariCP's
     * DriverDataSource with "Failed to get driver instance for jdbcUrl=<the URL>": no QUOTA_JDBC_URL, and
     * the URL's PASSWORD in clear (Hikari masks only "[pP]assword=").
     */
    @Test
    void aJdbcUrlNoDriverAcceptsFailsNamingItsVariableWithoutItsPassword() {
        String failure = startFailure(env("QUOTA_JDBC_URL",
                "JDBC:H2:mem:r324-" + UUID.randomUUID() + ";USER=sa;PASSWORD=hunter2-r324-secret"));
        assertNotNull(failure, "the demo started");
        assertFalse(failure.contains("hunter2-r324-secret"), "the failure echoes the password: " + failure);
        assertTrue(failure.contains("QUOTA_JDBC_URL"), "failure names no variable: " + failure);
    }

    /** Control: the same URL as H2 spells it starts, and a PostgreSQL URL whose server is down echoes no password. */
    @Test
    void controlTheSameUrlInH2sSpellingStartsAndAnUnreachableDatabaseEchoesNoPassword() {
        assertEquals(null, startFailure(env("QUOTA_JDBC_URL",
                "jdbc:h2:mem:r324-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1;USER=sa;PASSWORD=hunter2-r324-secret")));
        String failure = startFailure(env("QUOTA_JDBC_URL",
                "jdbc:postgresql://127.0.0.1:1/quota?user=demo&password=hunter2-r324-secret"));
        assertNotNull(failure, "the demo started without its database");
        assertFalse(failure.contains("hunter2-r324-secret"), failure);
    }

    // ---------------------------------------------------------------- refused credits

    /**
     * A credit the ledger refuses (422 max-quota-exceeded: 10^14 tokens on the 10^8 default maxQuota), by
     * the admin's add-tokens and by a signed completed payment callback, for two users the ledger has never
     * seen. docs/servlet.md: such a callback "records nothing"; "A refused request changes nothing." Yet
     * each leaves the user's account of the month behind: the dashboard data (which never creates one)
     * reports them as existing, the all-users gauge counts 2 subjects and 20,000 allocated tokens, and the
     * admin overview lists both as top consumers.
     */
    @Test
    void aCreditTheLedgerRefusesLeavesNoAccountBehind() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            HttpResponse<String> add = admin(app, "POST", API + "/add-tokens",
                    "{\"user_id\":\"r324-admin-credit\",\"token_amount\":100000000000000,\"purchase_type\":\"bonus\","
                            + "\"reason\":\"support top-up\",\"idempotency_key\":\"r324-k1\"}");
            assertEquals(422, add.statusCode(), add.body());
            assertTrue(add.body().contains("max-quota-exceeded"), add.body());
            // the callback's fields as docs/servlet.md lists them; "amount" as a decimal string (Stripe-like providers)
            HttpResponse<String> paid = payment(app, "{\"transaction_id\":\"r324-tx1\",\"user_id\":\"r324-payer\","
                    + "\"token_amount\":100000000000000,\"amount\":\"3300.00\",\"currency\":\"USD\","
                    + "\"payment_method\":\"card\",\"status\":\"completed\"}");
            assertEquals(422, paid.statusCode(), paid.body());
            assertTrue(paid.body().contains("max-quota-exceeded"), paid.body());

            JsonNode one = json(admin(app, "GET", DemoApp.DASHBOARD_DATA_PATH + "?user_id=r324-admin-credit", null));
            JsonNode two = json(admin(app, "GET", DemoApp.DASHBOARD_DATA_PATH + "?user_id=r324-payer", null));
            JsonNode all = json(admin(app, "GET", DemoApp.DASHBOARD_DATA_PATH, null));
            JsonNode overview = json(admin(app, "GET", API + "/admin/overview", null));
            assertEquals("false/false/0/0/0/[]",
                    one.get("exists") + "/" + two.get("exists") + "/" + all.get("subjects") + "/"
                            + all.get("quota").get("allocated") + "/" + overview.get("purchase_totals").size() + "/"
                            + overview.get("top_consumers"),
                    "exists(admin credit)/exists(payer)/subjects/allocated/purchase totals/top consumers after two refused credits");
        }
    }

    /** Control: a plan raise the ledger refuses (422 max-quota-exceeded) for a user never seen leaves nothing behind. */
    @Test
    void controlAPlanTheLedgerRefusesLeavesNoAccountBehind() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            HttpResponse<String> plan = admin(app, "PUT", API + "/users/r324-planned/plan",
                    "{\"monthly_allocation\":100000000000000}");
            assertEquals(422, plan.statusCode(), plan.body());
            assertTrue(plan.body().contains("max-quota-exceeded"), plan.body());
            JsonNode one = json(admin(app, "GET", DemoApp.DASHBOARD_DATA_PATH + "?user_id=r324-planned", null));
            JsonNode all = json(admin(app, "GET", DemoApp.DASHBOARD_DATA_PATH, null));
            JsonNode overview = json(admin(app, "GET", API + "/admin/overview", null));
            assertEquals("false/0/0/[]", one.get("exists") + "/" + all.get("subjects") + "/"
                    + all.get("quota").get("allocated") + "/" + overview.get("top_consumers"));
        }
    }

    /** Control: the same credits within maxQuota are credited once each (the well-behaved form). */
    @Test
    void controlCreditsWithinTheMaxQuotaAreCredited() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            HttpResponse<String> add = admin(app, "POST", API + "/add-tokens",
                    "{\"user_id\":\"r324-admin-credit\",\"token_amount\":5000,\"purchase_type\":\"bonus\","
                            + "\"reason\":\"support top-up\",\"idempotency_key\":\"r324-k1\"}");
            assertEquals(200, add.statusCode(), add.body());
            String body = "{\"transaction_id\":\"r324-tx1\",\"user_id\":\"r324-payer\",\"token_amount\":3000,"
                    + "\"amount\":\"3300.00\",\"currency\":\"USD\",\"payment_method\":\"card\",\"status\":\"completed\"}";
            assertEquals(200, payment(app, body).statusCode());
            assertEquals(200, payment(app, body).statusCode(), "a replayed callback");
            JsonNode all = json(admin(app, "GET", DemoApp.DASHBOARD_DATA_PATH, null));
            assertEquals("2/20000/8000", all.get("subjects") + "/" + all.get("quota").get("allocated") + "/"
                    + all.get("quota").get("purchased"));
        }
    }
}
