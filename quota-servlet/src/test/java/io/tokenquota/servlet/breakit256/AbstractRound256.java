package io.tokenquota.servlet.breakit256;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Round 256 of issue 11: a host's odd database configuration under the filter. The host gives the store
 * its own HikariCP pool (H2 in memory in a compatibility mode, or the shared embedded PostgreSQL) set up
 * the way real applications set theirs up; calls go through the filter and must be charged their usage,
 * once, in the month of their hold.
 */
abstract class AbstractRound256 extends H2FilterRound {
    static final YearMonth JAN = YearMonth.of(2031, 1);
    static final YearMonth FEB = YearMonth.of(2031, 2);

    record Config(String name, boolean postgres, String urlSuffix, Consumer<HikariConfig> pool) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Config> configs() {
        List<Config> c = new ArrayList<>();
        c.add(new Config("h2-plain", false, "", p -> { }));
        c.add(new Config("h2-pg-mode", false, ";MODE=PostgreSQL;DATABASE_TO_LOWER=TRUE;DEFAULT_NULL_ORDERING=HIGH", p -> { }));
        c.add(new Config("h2-mysql-mode", false, ";MODE=MySQL;DATABASE_TO_LOWER=TRUE", p -> { }));
        c.add(new Config("h2-legacy-mode", false, ";MODE=LEGACY", p -> { }));
        c.add(new Config("h2-nocommit-serial-pool1", false, "", p -> {
            p.setAutoCommit(false);
            p.setTransactionIsolation("TRANSACTION_SERIALIZABLE");
            p.setMaximumPoolSize(1);
        }));
        c.add(new Config("h2-repeatable", false, "", p -> p.setTransactionIsolation("TRANSACTION_REPEATABLE_READ")));
        c.add(new Config("h2-readonly", false, "", p -> p.setReadOnly(true)));
        c.add(new Config("h2-tz-kiritimati", false, "", p -> p.setConnectionInitSql("SET TIME ZONE 'Pacific/Kiritimati'")));
        c.add(new Config("h2-lock-timeout-1", false, "", p -> p.setConnectionInitSql("SET LOCK_TIMEOUT 1")));
        c.add(new Config("pg-plain", true, "", p -> { }));
        c.add(new Config("pg-nocommit-serial-pool1", true, "", p -> {
            p.setAutoCommit(false);
            p.setTransactionIsolation("TRANSACTION_SERIALIZABLE");
            p.setMaximumPoolSize(1);
        }));
        c.add(new Config("pg-repeatable", true, "", p -> p.setTransactionIsolation("TRANSACTION_REPEATABLE_READ")));
        c.add(new Config("pg-default-serializable", true, "", p -> p.setConnectionInitSql(
                "SET default_transaction_isolation = 'serializable'")));
        c.add(new Config("pg-tz-kiritimati", true, "", p -> p.setConnectionInitSql("SET TIME ZONE 'Pacific/Kiritimati'")));
        c.add(new Config("pg-tz-pago", true, "", p -> p.setConnectionInitSql("SET TIME ZONE 'Pacific/Pago_Pago'")));
        c.add(new Config("pg-lock-timeout", true, "", p -> p.setConnectionInitSql("SET lock_timeout = '1ms'")));
        c.add(new Config("pg-statement-timeout", true, "", p -> p.setConnectionInitSql("SET statement_timeout = '250ms'")));
        c.add(new Config("pg-idle-tx-timeout", true, "", p -> p.setConnectionInitSql(
                "SET idle_in_transaction_session_timeout = '100ms'")));
        return c.stream();
    }

    /** The shared round's own deployment: unused by these tests, each of which deploys its host's rig. */
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create().filter("quota", filter, "/*").servlet("none", new HttpServlet() { }, "/ai/*");
    }

    /** A host's database, pool, store (at Jan 31st, 23:00 UTC), filter and container. */
    final class Rig implements AutoCloseable {
        final MutableClock clock = MutableClock.at(JAN, 31, 23);
        final TestDatabase pg;
        final String url;
        final HikariDataSource pool;
        final JdbiQuotaStore store;
        final EmbeddedContainer container;
        final ModelCalls calls = new ModelCalls();

        Rig(Config config) {
            if (config.postgres()) {
                pg = TestDatabases.postgres();
                url = pg.jdbcUrl();
            } else {
                pg = null;
                url = "jdbc:h2:mem:r256_" + UUID.randomUUID().toString().replace("-", "") + ";DB_CLOSE_DELAY=-1"
                        + config.urlSuffix();
            }
            HikariConfig p = new HikariConfig();
            p.setJdbcUrl(url);
            p.setUsername(config.postgres() ? pg.user() : "sa");
            p.setPassword(config.postgres() ? pg.password() : "");
            p.setMaximumPoolSize(4);
            p.setConnectionTimeout(5_000);
            config.pool().accept(p);
            pool = new HikariDataSource(p);
            QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(ALLOWANCE).clock(clock).build();
            store = JdbiQuotaStore.builder().dataSource(pool).policy(policy).installSchema(true).build();
            QuotaFilter f = QuotaFilter.builder(store).protect("/ai/")
                    .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
            container = kind().start(Deployment.create().filter("quota", f, "/*").servlet("chat", new Chat(), "/ai/*"));
        }

        /** A chat completion billing {@code x-bill} tokens; {@code x-advance} minutes pass on the clock while the model runs. */
        final class Chat extends HttpServlet {
            @Override
            protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
                req.getInputStream().readAllBytes();
                calls.count(req.getHeader("x-user-id"));
                String advance = req.getHeader("x-advance");
                if (advance != null) clock.advance(Duration.ofMinutes(Long.parseLong(advance)));
                long total = Long.parseLong(req.getHeader("x-bill"));
                resp.setContentType("application/json");
                resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-256", "gpt-4o", "Done.", total - 100, 100)
                        .getBytes(StandardCharsets.UTF_8));
            }
        }

        HttpResponse<String> call(String subject, long bill, String... extra) {
            List<String> h = new ArrayList<>(List.of("x-bill", Long.toString(bill)));
            h.addAll(List.of(extra));
            return TestHttp.postJson(container.uri("/ai/v1/chat/completions"), subject,
                    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the contract.\"}]}",
                    h.toArray(String[]::new));
        }

        long used(String subject, YearMonth month) {
            Ledgers.settled(store, subject);
            return store.account(subject, month).map(QuotaAccount::used).orElse(0L);
        }

        @Override
        public void close() throws Exception {
            container.close();
            store.close();
            pool.close();
            if (pg != null) {
                pg.close();
            } else {
                try (Connection c = DriverManager.getConnection(url, "sa", ""); Statement s = c.createStatement()) {
                    s.execute("SHUTDOWN");
                }
            }
        }
    }

    /**
     * A call before the month's end, one whose model runs across midnight of the 31st (charged in
     * January, the month of its hold), one after it (February), and a team member's call (charged to
     * the member and the team): each charged its usage exactly, each model ran once.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void everyCallIsChargedItsUsageInItsMonth(Config config) throws Exception {
        List<String> wrong = new ArrayList<>();
        try (Rig rig = new Rig(config)) {
            String s = "u256-" + UUID.randomUUID().toString().substring(0, 8);
            HttpResponse<String> r1 = rig.call(s, 1_234);
            if (r1.statusCode() != 200) wrong.add("first call " + r1.statusCode() + " " + r1.body());
            long jan1 = rig.used(s, JAN);
            if (jan1 != 1_234) wrong.add("first call charged " + jan1 + " of 1234");
            HttpResponse<String> r2 = rig.call(s, 2_000, "x-advance", "120");
            if (r2.statusCode() != 200) wrong.add("across midnight " + r2.statusCode() + " " + r2.body());
            long jan2 = rig.used(s, JAN);
            long feb2 = rig.used(s, FEB);
            if (jan2 != 3_234 || feb2 != 0) wrong.add("across midnight: jan " + jan2 + " (3234), feb " + feb2 + " (0)");
            HttpResponse<String> r3 = rig.call(s, 3_000);
            if (r3.statusCode() != 200) wrong.add("in February " + r3.statusCode() + " " + r3.body());
            long feb3 = rig.used(s, FEB);
            if (feb3 != 3_000) wrong.add("in February charged " + feb3 + " of 3000");
            String m = "m256-" + UUID.randomUUID().toString().substring(0, 8);
            String team = "t256-" + UUID.randomUUID().toString().substring(0, 8);
            try {
                rig.store.setTeam(m, team);
                HttpResponse<String> r4 = rig.call(m, 900);
                if (r4.statusCode() != 200) wrong.add("member " + r4.statusCode() + " " + r4.body());
                long mu = rig.used(m, FEB);
                if (mu != 900) wrong.add("member charged " + mu + " of 900");
            } catch (RuntimeException e) {
                wrong.add("team: " + e);
            }
            if (rig.calls.of(s) != 3) wrong.add("model calls " + rig.calls.of(s));
        } catch (RuntimeException e) {
            wrong.add("setup/teardown: " + e);
        }
        assertEquals(List.of(), wrong, config.name());
    }

    static Stream<Config> concurrentConfigs() {
        return configs().filter(c -> List.of("h2-plain", "h2-nocommit-serial-pool1", "h2-lock-timeout-1", "pg-plain",
                "pg-nocommit-serial-pool1", "pg-lock-timeout", "pg-statement-timeout").contains(c.name()));
    }

    /**
     * An agent fans out 16 calls of one user at once: every call the model answered (200) is charged its
     * usage, once; nothing else is charged; none waits forever.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("concurrentConfigs")
    void concurrentCallsOfOneUserAreEachChargedOnce(Config config) throws Exception {
        try (Rig rig = new Rig(config)) {
            String s = "c256-" + UUID.randomUUID().toString().substring(0, 8);
            int n = 16;
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(n);
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            List<java.util.concurrent.Future<HttpResponse<String>>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                fs.add(pool.submit(() -> {
                    go.await();
                    return rig.call(s, 1_000);
                }));
            }
            go.countDown();
            int ok = 0;
            List<String> other = new ArrayList<>();
            for (var f : fs) {
                HttpResponse<String> r = f.get(120, java.util.concurrent.TimeUnit.SECONDS);
                if (r.statusCode() == 200) ok++;
                else other.add(r.statusCode() + " " + r.body());
            }
            pool.shutdown();
            long used = rig.used(s, JAN);
            assertEquals(rig.calls.of(s), ok, "model calls vs 200s; others " + other);
            assertEquals(1_000L * ok, used, ok + " calls served (others " + other + "): " + Ledgers.events(rig.store, s, JAN));
            assertEquals(List.of(), other, "calls refused while the database was healthy");
        }
    }

    /**
     * H2 in the compatibility mode of the application's production database (SQL Server, Oracle), as a
     * Spring application's dev profile sets its one H2 URL. Those modes make the unique
     * {@code (subject, idempotency_key)} treat key-less holds (key NULL) as equal; the store builds without a
     * word and answers the first call, then refuses every later key-less call of that user with 503
     * "store unavailable" while the database is healthy (the log: a unique violation on
     * {@code TQ_RESERVATION_IDEMPOTENCY}). Expected: the user's calls are served and charged, or the store
     * refuses the database when it is built, naming the mode.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("compatibilityModes")
    void aUsersSecondCallIsServedOnH2InItsProductionDatabasesMode(Config config) throws Exception {
        try (Rig rig = new Rig(config)) {
            String s = "m256-" + UUID.randomUUID().toString().substring(0, 8);
            HttpResponse<String> first = rig.call(s, 1_234);
            assertEquals(200, first.statusCode(), first.body());
            HttpResponse<String> second = rig.call(s, 2_000);
            assertEquals(200, second.statusCode(), "the user's second call, charged " + rig.used(s, JAN) + " so far: "
                    + second.body());
            assertEquals(3_234, rig.used(s, JAN));
        }
    }

    static Stream<Config> compatibilityModes() {
        return Stream.of(new Config("h2-mssqlserver-mode", false, ";MODE=MSSQLServer", p -> { }),
                new Config("h2-oracle-mode", false, ";MODE=Oracle", p -> { }));
    }
}
