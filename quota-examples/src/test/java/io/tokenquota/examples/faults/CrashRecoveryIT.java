package io.tokenquota.examples.faults;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.ReservationState;
import io.tokenquota.jdbi.JdbiQuotaStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 6, case 1: the service process dies (SIGKILL) while AI calls hold tokens. After a restart
 * with a short hold TTL the orphaned holds expire, {@code reserved} returns to 0, {@code used}
 * counts only the requests that were charged before the crash, and the event log explains every
 * token. Runs the real demo service in a JVM of its own, on a file H2 database and on PostgreSQL.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class CrashRecoveryIT {
    private static final String[] USERS = {"crash-ana", "crash-bo", "crash-cy"};
    private static final int CHARGED_PER_USER = 2;
    /** Long enough that the service is surely killed while the model still "runs". */
    private static final long SLOW_MS = 25_000;
    private static final Duration RECOVERY = Duration.ofSeconds(60);

    @TempDir
    Path work;

    private final DemoClient client = new DemoClient(Duration.ofSeconds(20));

    @Test
    void h2FileDatabase() {
        // the demo's H2 file database under ./data of its working directory, with WRITE_DELAY=0: by default
        // H2 writes committed transactions to the file up to WRITE_DELAY (500 ms) later, so a SIGKILL
        // loses the last commits (seen here: every charge of the run gone). With 0 each commit reaches
        // the file (the OS page cache) before it returns, which is what survives a process crash.
        Map<String, String> env = DemoClient.baseEnv();
        env.put("QUOTA_JDBC_URL", "jdbc:h2:file:./data/token-quota;DB_CLOSE_ON_EXIT=FALSE;WRITE_DELAY=0");
        env.put("QUOTA_JDBC_USER", "sa");
        crashAndRecover("h2", env, () -> {
            Path db = findH2File(work.resolve("data"));
            String url = "jdbc:h2:file:" + db.toString().replaceFirst("\\.mv\\.db$", "");
            return JdbiQuotaStore.builder().jdbcUrl(url).credentials("sa", "").policy(QuotaPolicy.defaults())
                    .installSchema(false).build();
        });
    }

    @Test
    void postgres() {
        try (EmbeddedPg pg = EmbeddedPg.start(work.resolve("pg"))) {
            String url = pg.createDatabase("crash");
            Map<String, String> env = DemoClient.baseEnv();
            env.put("QUOTA_JDBC_URL", url);
            env.put("QUOTA_JDBC_USER", EmbeddedPg.USER);
            env.put("QUOTA_JDBC_PASSWORD", EmbeddedPg.PASSWORD);
            crashAndRecover("pg", env, () -> JdbiQuotaStore.builder().jdbcUrl(url)
                    .credentials(EmbeddedPg.USER, EmbeddedPg.PASSWORD).policy(QuotaPolicy.defaults())
                    .installSchema(false).build());
        }
    }

    private void crashAndRecover(String label, Map<String, String> env, Supplier<JdbiQuotaStore> openAfterwards) {
        env.put("QUOTA_HOLD_TTL", "PT4S");
        env.put("QUOTA_DEFAULT_ALLOCATION", "100000");
        Map<String, Long> charged = new LinkedHashMap<>();
        try (DemoProcess demo = DemoProcess.start("demo-" + label, work, env)) {
            // 1. requests that complete: the filter charges their usage before the response ends
            for (String user : USERS) {
                long sum = 0;
                for (int i = 0; i < CHARGED_PER_USER; i++) {
                    Http.Response r = client.chat(demo, user, "tell me about crash number " + i + " of " + user, 40, null);
                    assertEquals(200, r.status(), () -> "charged request: " + r);
                    sum += DemoClient.totalTokens(r);
                }
                charged.put(user, sum);
            }
            // 2. one slow request per user: each holds tokens while the mock model waits
            List<CompletableFuture<Http.Response>> slow = new ArrayList<>();
            for (String user : USERS) {
                slow.add(client.slowChat(demo, user, "a long answer for " + user, 60, SLOW_MS));
            }
            for (String user : USERS) {
                Poll.untilTrue(Duration.ofSeconds(20), "a hold of " + user + " to be visible",
                        () -> Json.longAt(client.quota(demo, user), "reserved_tokens") > 0);
            }
            // 3. SIGKILL in the middle of those calls; Process.destroyForcibly() is SIGKILL on Linux,
            // which the exit status proves (128 + 9)
            int exit = demo.kill();
            assertEquals(DemoProcess.SIGKILL_EXIT, exit, "destroyForcibly must be SIGKILL");
            for (CompletableFuture<Http.Response> call : slow) {
                Http.Response answer = call.handle((r, e) -> r).join();
                assertEquals(null, answer, "a call cut by the crash cannot have answered: " + answer);
            }

            // 4. start again with a short TTL: the orphaned holds must come back by themselves
            demo.restart(Map.of("QUOTA_HOLD_TTL", "PT2S"));
            for (String user : USERS) {
                Map<String, Object> q = Poll.until(RECOVERY, "the held tokens of " + user + " to return", () -> {
                    Map<String, Object> now = client.quota(demo, user);
                    return Json.longAt(now, "reserved_tokens") == 0 ? now : null;
                });
                assertEquals(charged.get(user).longValue(), Json.longAt(q, "used_tokens"),
                        () -> "used must count only the charged requests of " + user + ": " + q + "\n" + demo.logTail());
                assertEquals(100_000 - charged.get(user), Json.longAt(q, "remaining_tokens"), () -> q.toString());
            }
            demo.stop();
        }

        // 5. the event log, read through the library on the same database, explains every token
        YearMonth month = YearMonth.now(ZoneOffset.UTC);
        try (JdbiQuotaStore store = openAfterwards.get()) {
            for (String user : USERS) {
                LedgerAudit.Report report = LedgerAudit.explain(store, user, month);
                assertEquals(0, report.account().reserved(), report::describe);
                assertEquals(charged.get(user).longValue(), report.account().used(), report::describe);
                assertEquals(CHARGED_PER_USER + 1, report.holds(), () -> "every hold, the cut one too: " + report.describe());
                assertEquals(CHARGED_PER_USER, report.committed(), report::describe);
                assertEquals(1, report.expired(), () -> "the cut call's hold expired: " + report.describe());
                assertEquals(0, report.released(), report::describe);
                long expiredHolds = report.reservations().values().stream()
                        .filter(r -> r.state() == ReservationState.EXPIRED).count();
                assertEquals(1, expiredHolds, report::describe);
                assertTrue(report.reservations().values().stream().noneMatch(r -> r.state() == ReservationState.HELD),
                        report::describe);
            }
            assertNoHeldAnywhere(store);
        } catch (Exception e) {
            throw e instanceof RuntimeException re ? re : new IllegalStateException(e);
        }
    }

    private static void assertNoHeldAnywhere(QuotaStore store) {
        assertEquals(0, store.expireStale(), "nothing may be left for a later sweep");
    }

    private static Path findH2File(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".mv.db")).findFirst()
                    .orElseThrow(() -> new AssertionError("no H2 database file under " + dir));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
