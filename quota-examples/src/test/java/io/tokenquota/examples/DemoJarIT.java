package io.tokenquota.examples;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.tokenquota.examples.TestJson.longAt;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What the README promises a newcomer: {@code java -jar quota-examples/target/quota-demo.jar} starts the
 * demo with nothing but a JDK, on the default H2 file database under {@code ./data}, and prints its URL,
 * the generated tokens and commands to try. Runs after {@code package} (failsafe) against the real jar.
 */
class DemoJarIT {

    @Test
    void theShadedJarStartsTheDemoFromAnEmptyDirectory() throws Exception {
        String configured = System.getProperty("tq.demoJar");
        // failsafe names the jar it has just built; a run before package (surefire with -Dtest=...) has none
        assumeTrue(configured != null, "runs after package (failsafe), which sets tq.demoJar");
        Path jar = Paths.get(configured).toAbsolutePath();
        assertTrue(Files.isRegularFile(jar), "the shaded jar exists: " + jar);
        Path workDir = Files.createTempDirectory("tq-demo-jar");
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-jar", jar.toString())
                .directory(workDir.toFile())
                .redirectErrorStream(true);
        pb.environment().put("PORT", "0");
        pb.environment().remove("QUOTA_JDBC_URL");
        pb.environment().remove("QUOTA_ADMIN_TOKEN");
        Process demo = pb.start();
        try {
            // the banner names the real port (PORT=0 picks a free one) and the generated admin token
            CompletableFuture<String[]> banner = CompletableFuture.supplyAsync(() -> readBanner(demo));
            String[] found = banner.get(60, TimeUnit.SECONDS);
            URI base = URI.create(found[0]);
            String adminToken = found[1];
            DemoClient client = new DemoClient(base);

            assertEquals(200, client.get(DemoApp.HEALTH_PATH, null).statusCode());
            HttpResponse<String> chat = client.chat("jar-user", "Hello from the jar!", 30);
            assertEquals(200, chat.statusCode(), chat.body());
            long total = longAt(TestJson.object(chat.body()), "usage", "total_tokens");
            Map<String, Object> q = client.settledQuota("jar-user");
            assertEquals(total, longAt(q, "used_tokens"));
            assertEquals(200, client.adminGet(DemoApp.DASHBOARD_DATA_PATH, adminToken).statusCode());
            assertEquals(200, client.get(DemoApp.DASHBOARD_PATH, null).statusCode());
            assertTrue(Files.isRegularFile(workDir.resolve("data/token-quota.mv.db")), "H2 file under ./data");
        } finally {
            demo.destroy();
            if (!demo.waitFor(20, TimeUnit.SECONDS)) {
                demo.destroyForcibly();
            }
            try (var paths = Files.walk(workDir)) {
                paths.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
            }
        }
    }

    /** Reads the process output until the banner gave the URL and the admin token; keeps draining after. */
    private static String[] readBanner(Process demo) {
        Pattern url = Pattern.compile("demo is running at (http://localhost:\\d+)");
        Pattern token = Pattern.compile("admin token\\s+([0-9a-f]{48})");
        String base = null;
        String admin = null;
        BufferedReader out = new BufferedReader(new InputStreamReader(demo.getInputStream(), StandardCharsets.UTF_8));
        try {
            String line;
            while ((line = out.readLine()) != null) {
                Matcher m = url.matcher(line);
                if (m.find()) {
                    base = m.group(1);
                }
                Matcher t = token.matcher(line);
                if (t.find()) {
                    admin = t.group(1);
                }
                if (base != null && admin != null) {
                    Thread drain = new Thread(() -> drain(out), "demo-jar-output");
                    drain.setDaemon(true);
                    drain.start();
                    return new String[] {base, admin};
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        throw new AssertionError("the demo exited before printing its banner");
    }

    private static void drain(BufferedReader out) {
        try {
            while (out.readLine() != null) {
                // the process must never block on a full pipe
            }
        } catch (java.io.IOException e) {
            // the process ended
        }
    }
}
