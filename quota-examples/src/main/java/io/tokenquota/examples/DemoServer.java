package io.tokenquota.examples;

import java.io.PrintStream;
import java.util.List;

/**
 * {@code java -jar quota-examples/target/quota-demo.jar}: starts the demo service from the environment
 * ({@code PORT}, {@code QUOTA_JDBC_URL}, {@code QUOTA_JDBC_USER}, {@code QUOTA_JDBC_PASSWORD},
 * {@code QUOTA_ADMIN_TOKEN}, {@code QUOTA_PAYMENT_SECRET}, {@code QUOTA_HOLD_TTL},
 * {@code QUOTA_SWEEP_INTERVAL}, {@code QUOTA_DEFAULT_ALLOCATION}) and prints how to try it. The
 * wiring itself is {@link DemoApp}; this class only reads the environment, prints and waits.
 */
public final class DemoServer {
    private DemoServer() {
    }

    public static void main(String[] args) throws Exception {
        DemoConfig config;
        try {
            config = DemoConfig.fromEnv(System.getenv());
        } catch (IllegalArgumentException e) {
            System.err.println("token-quota demo: " + e.getMessage());
            System.exit(2);
            return;
        }
        DemoApp app;
        try {
            app = DemoApp.start(config);
        } catch (Exception e) {
            System.err.println("token-quota demo could not start: " + e);
            System.exit(1);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                app.close();
            } catch (Exception e) {
                System.err.println("token-quota demo: error while stopping: " + e);
            }
        }, "demo-shutdown"));
        banner(System.out, app);
        app.join();
    }

    static void banner(PrintStream out, DemoApp app) {
        DemoConfig c = app.config();
        String base = "http://localhost:" + app.port();
        String admin = c.adminTokenGenerated() ? c.adminToken() : "$QUOTA_ADMIN_TOKEN";
        out.println();
        out.println("token-quota demo is running at " + base);
        out.println("  dashboard       " + base + DemoApp.DASHBOARD_PATH);
        out.println("  admin token     " + (c.adminTokenGenerated()
                ? c.adminToken() + "   (generated; set QUOTA_ADMIN_TOKEN to choose one)" : "from QUOTA_ADMIN_TOKEN"));
        out.println("  payment secret  " + (c.paymentSecretGenerated()
                ? c.paymentSecret() + "   (generated; set QUOTA_PAYMENT_SECRET to choose one)" : "from QUOTA_PAYMENT_SECRET"));
        out.println("  storage         " + describeStorage(c));
        out.println("  users           x-user-id header, trusted from loopback only");
        out.println();
        out.println("Try:");
        for (String line : curlLines(base, admin)) {
            out.println("  " + line);
        }
        out.println();
        out.flush();
    }

    /** The three commands the banner (and the README) suggest. */
    static List<String> curlLines(String base, String adminToken) {
        return List.of(
                "curl -s -H 'x-user-id: alice' -H 'content-type: application/json' "
                        + "-d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello, quota!\"}],\"max_tokens\":50}' "
                        + base + DemoApp.CHAT_COMPLETIONS_PATH,
                "curl -s -H 'x-user-id: alice' " + base + DemoConfig.QUOTA_API_PREFIX + "/quota",
                "curl -s -H \"authorization: Bearer " + adminToken + "\" -H 'content-type: application/json' "
                        + "-d '{\"user_id\":\"alice\",\"token_amount\":5000,\"purchase_type\":\"bonus\",\"reason\":\"welcome\"}' "
                        + base + DemoConfig.QUOTA_API_PREFIX + "/add-tokens");
    }

    private static String describeStorage(DemoConfig c) {
        if (c.dataSource() != null) {
            return "caller's DataSource";
        }
        // a URL may carry credentials in its parameters: print only up to them
        return DemoConfig.withoutParameters(c.jdbcUrl());
    }
}
