package io.tokenquota.examples;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoConfigTest {

    @Test
    void defaultsWhenTheEnvironmentIsEmpty() {
        DemoConfig c = DemoConfig.fromEnv(Map.of());
        assertEquals(8080, c.port());
        assertEquals(DemoConfig.DEFAULT_JDBC_URL, c.jdbcUrl());
        assertEquals(Duration.ofMinutes(5), c.holdTtl());
        assertEquals(10_000, c.defaultAllocation());
        assertEquals(DemoConfig.ORIGINAL_SERVICE_PREFIXES, c.protectedPrefixes());
        assertTrue(c.adminTokenGenerated());
        assertTrue(c.paymentSecretGenerated());
        assertEquals(48, c.adminToken().length());
        assertNotEquals(c.adminToken(), c.paymentSecret());
        assertNotEquals(c.adminToken(), DemoConfig.fromEnv(Map.of()).adminToken(), "random per start");
    }

    @Test
    void readsEveryVariable() {
        DemoConfig c = DemoConfig.fromEnv(Map.of(
                "PORT", "9191",
                "QUOTA_JDBC_URL", "jdbc:postgresql://db:5432/quota",
                "QUOTA_JDBC_USER", "quota",
                "QUOTA_JDBC_PASSWORD", "pw",
                "QUOTA_ADMIN_TOKEN", "admin-token-0000001",
                "QUOTA_PAYMENT_SECRET", "payment-secret-0000001",
                "QUOTA_HOLD_TTL", "PT90S",
                "QUOTA_SWEEP_INTERVAL", "PT0.5S",
                "QUOTA_DEFAULT_ALLOCATION", "5000"));
        assertEquals(9191, c.port());
        assertEquals("jdbc:postgresql://db:5432/quota", c.jdbcUrl());
        assertEquals("quota", c.jdbcUser());
        assertEquals("pw", c.jdbcPassword());
        assertEquals("admin-token-0000001", c.adminToken());
        assertFalse(c.adminTokenGenerated());
        assertEquals("payment-secret-0000001", c.paymentSecret());
        assertFalse(c.paymentSecretGenerated());
        assertEquals(Duration.ofSeconds(90), c.holdTtl());
        assertEquals(Duration.ofMillis(500), c.sweepInterval());
        assertEquals(5_000, c.defaultAllocation());
        assertFalse(c.toString().contains("admin-token-0000001"), "secrets stay out of logs");
        assertFalse(c.toString().contains("pw,"));
    }

    @Test
    void unusableValuesNameTheVariable() {
        for (Map.Entry<String, String> bad : List.of(Map.entry("PORT", "eighty"), Map.entry("PORT", "70000"),
                Map.entry("QUOTA_HOLD_TTL", "5 minutes"), Map.entry("QUOTA_HOLD_TTL", "PT0S"),
                Map.entry("QUOTA_DEFAULT_ALLOCATION", "-1"), Map.entry("QUOTA_ADMIN_TOKEN", "short"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DemoConfig.fromEnv(Map.of(bad.getKey(), bad.getValue())), bad.toString());
            assertTrue(e.getMessage().startsWith(bad.getKey() + " has an unusable value"), e.getMessage());
        }
        IllegalArgumentException secret = assertThrows(IllegalArgumentException.class,
                () -> DemoConfig.fromEnv(Map.of("QUOTA_PAYMENT_SECRET", "abc")));
        assertFalse(secret.getMessage().contains("abc"), "a secret is never echoed");
    }

    @Test
    void secretsTheLibraryWouldRefuseAreRefusedNamingTheVariable() {
        // 8..15 characters used to pass here and fail later inside the library, naming no variable
        for (String name : List.of("QUOTA_ADMIN_TOKEN", "QUOTA_PAYMENT_SECRET")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DemoConfig.fromEnv(Map.of(name, "8chars!!")), name);
            assertTrue(e.getMessage().startsWith(name + " has an unusable value"), e.getMessage());
            assertTrue(e.getMessage().contains("at least 16"), e.getMessage());
            assertFalse(e.getMessage().contains("8chars!!"), "a secret is never echoed");
        }
        DemoConfig ok = DemoConfig.fromEnv(Map.of("QUOTA_ADMIN_TOKEN", "sixteen-chars-ok", "QUOTA_PAYMENT_SECRET", "sixteen-bytes-ok"));
        assertEquals("sixteen-chars-ok", ok.adminToken());
        io.tokenquota.servlet.AdminAuthorizer.bearerToken(ok.adminToken());
    }

    @Test
    void fittingTheOutputBudgetIsOffUnlessAsked() {
        DemoConfig off = DemoConfig.fromEnv(Map.of());
        assertFalse(off.fitOutput());
        assertEquals(16, off.fitMinOutput());
        DemoConfig on = DemoConfig.fromEnv(Map.of("QUOTA_FIT_OUTPUT", "TRUE", "QUOTA_FIT_MIN_OUTPUT", "64"));
        assertTrue(on.fitOutput());
        assertEquals(64, on.fitMinOutput());
        assertFalse(DemoConfig.fromEnv(Map.of("QUOTA_FIT_OUTPUT", "false")).fitOutput());
        for (Map.Entry<String, String> bad : List.of(Map.entry("QUOTA_FIT_OUTPUT", "yes"),
                Map.entry("QUOTA_FIT_OUTPUT", "1"), Map.entry("QUOTA_FIT_MIN_OUTPUT", "0"),
                Map.entry("QUOTA_FIT_MIN_OUTPUT", "-5"), Map.entry("QUOTA_FIT_MIN_OUTPUT", "sixteen"),
                Map.entry("QUOTA_FIT_MIN_OUTPUT", "16385"), Map.entry("QUOTA_FIT_MIN_OUTPUT", "99999999999999999999"))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DemoConfig.fromEnv(Map.of(bad.getKey(), bad.getValue())), bad.toString());
            assertTrue(e.getMessage().startsWith(bad.getKey() + " has an unusable value"), e.getMessage());
        }
    }

    @Test
    void theBannerSuggestsThreeWorkingCommands() {
        List<String> lines = DemoServer.curlLines("http://localhost:8080", "tok");
        assertEquals(3, lines.size());
        assertTrue(lines.get(0).contains("http://localhost:8080/api/v1/ai/chat/completions"));
        assertTrue(lines.get(1).endsWith("http://localhost:8080/api/v1/user-quota/quota"));
        assertTrue(lines.get(2).contains("Bearer tok") && lines.get(2).endsWith("/api/v1/user-quota/add-tokens"));
    }
}
