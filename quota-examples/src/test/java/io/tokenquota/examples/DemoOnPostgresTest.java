package io.tokenquota.examples;

import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.Map;

import static io.tokenquota.examples.TestJson.longAt;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The demo configured as in production: {@code QUOTA_JDBC_URL} pointing at PostgreSQL (embedded here),
 * the schema installed on start, and the hot-user race decided by PostgreSQL's row locks.
 */
class DemoOnPostgresTest {
    private static TestDatabase pg;
    private static DemoApp app;
    private static DemoClient client;

    @BeforeAll
    static void start() throws Exception {
        pg = TestDatabases.postgres();
        app = DemoApp.start(DemoConfig.fromEnv(Map.of(
                "PORT", "0",
                "QUOTA_JDBC_URL", pg.jdbcUrl(),
                "QUOTA_JDBC_USER", pg.user(),
                "QUOTA_JDBC_PASSWORD", pg.password() == null ? "" : pg.password(),
                "QUOTA_ADMIN_TOKEN", DemoClient.ADMIN_TOKEN,
                "QUOTA_PAYMENT_SECRET", DemoClient.PAYMENT_SECRET)));
        client = new DemoClient(app.baseUri());
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (app != null) {
                app.close();
            }
        } finally {
            if (pg != null) {
                pg.close();
            }
        }
    }

    @Test
    void aNewUserIsChargedTheirUsage() throws Exception {
        HttpResponse<String> r = client.chat("pg-new", "Hello from PostgreSQL!", 40);
        assertEquals(200, r.statusCode(), r.body());
        long total = longAt(TestJson.object(r.body()), "usage", "total_tokens");
        Map<String, Object> q = client.settledQuota("pg-new");
        assertEquals(10_000, longAt(q, "allocated_quota"));
        assertEquals(total, longAt(q, "used_tokens"));
    }

    @Test
    void twentyConcurrentRequestsNeverOverspend() throws Exception {
        DemoScenariosTest.powerUserNeverOverspends(client, "pg-power");
    }
}
