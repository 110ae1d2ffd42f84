package io.tokenquota.examples.faults;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.examples.DemoApp;
import io.tokenquota.examples.DemoConfig;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 6, case 2: PostgreSQL stops under load and starts again. The fail-closed service (the demo
 * wiring, the default) answers 503 problem+json while it is gone; a fail-open host lets calls through
 * uncharged and counts them; no request waits longer than the pool's connection timeout allows;
 * nothing is half written (every account balances against its event log afterwards); and both
 * resume by themselves when the database is back, without a restart.
 *
 * <p>The pool settings under test (README "HikariCP settings for outages") are in {@link #pool}.
 */
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class DatabaseOutageTest {
    /** How long a request may wait for a connection while the database is down. */
    private static final long CONNECTION_TIMEOUT_MS = 1_000;
    /**
     * No request may take longer than this, outage or not (the mock model answers at once). A hung request
     * waits without end; a refused one waits for connections (1 s each) and for two cores shared with the
     * rest of the build, which took one past 6 s in CI: the bound tells a hang from a busy machine.
     */
    private static final Duration REQUEST_BOUND = Duration.ofSeconds(20);
    private static final String[] CLOSED_USERS = {"outage-a", "outage-b", "outage-c"};
    private static final String[] OPEN_USERS = {"outage-open-a", "outage-open-b"};

    @TempDir
    Path work;

    private record Outcome(String host, String user, String key, int status, long millis, long startedNanos,
                           String body, String contentType) {
    }

    @Test
    void postgresStopsUnderLoadAndComesBack() throws Exception {
        try (EmbeddedPg pg = EmbeddedPg.start(work.resolve("pg"));
             HikariDataSource closedPool = pool(pg.createDatabase("outage"), "closed");
             HikariDataSource openPool = pool(pg.jdbcUrl("outage"), "open")) {
            DemoConfig config = DemoConfig.builder().port(0).host("127.0.0.1").dataSource(closedPool)
                    .adminToken(DemoClient.ADMIN_TOKEN).paymentSecret(DemoClient.PAYMENT_SECRET)
                    .holdTtl(Duration.ofSeconds(2)).sweepInterval(Duration.ofMillis(500))
                    .defaultAllocation(1_000_000).build();
            try (DemoApp closedHost = DemoApp.start(config);
                 JdbiQuotaStore openStore = JdbiQuotaStore.builder().dataSource(openPool)
                         .policy(DemoApp.policy(config)).installSchema(false).build();
                 FailOpenHost openHost = new FailOpenHost(openStore)) {
                run(pg, closedHost, openHost);
            }
        }
    }

    private void run(EmbeddedPg pg, DemoApp closedHost, FailOpenHost openHost) throws Exception {
        URI closedChat = closedHost.baseUri().resolve(DemoClient.CHAT);
        URI openChat = openHost.uri().resolve("/api/v1/ai/chat");
        Http http = new Http(Duration.ofSeconds(20));
        ConcurrentLinkedQueue<Outcome> outcomes = new ConcurrentLinkedQueue<>();
        AtomicBoolean running = new AtomicBoolean(true);
        ExecutorService load = Executors.newFixedThreadPool(8);
        List<Future<?>> workers = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            boolean open = t >= 6;
            int thread = t;
            workers.add(load.submit(() -> {
                String[] users = open ? OPEN_USERS : CLOSED_USERS;
                for (int n = 0; running.get(); n++) {
                    String user = users[(thread + n) % users.length];
                    String key = (open ? "open" : "closed") + "-t" + thread + "-n" + n;
                    long start = System.nanoTime();
                    Http.Response r = http.postJson(open ? openChat : closedChat,
                            DemoClient.chatBody("outage question " + n, 30, 0),
                            DemoClient.USER_HEADER, user, DemoClient.IDEMPOTENCY_HEADER, key);
                    long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                    outcomes.add(new Outcome(open ? "open" : "closed", user, key, r.status(), millis, start,
                            r.body(), r.contentType()));
                }
                return null;
            }));
        }
        try {
            waitFor(outcomes, "answers before the outage", 30, o -> o.status() == 200 && o.host().equals("closed"));
            long stoppedAt = System.nanoTime();
            pg.stop();
            waitFor(outcomes, "fail-closed 503s", 10, o -> o.startedNanos() > stoppedAt && o.status() == 503);
            // the fail-open host's counter, not only its 200s: a call that reserved while the database was still
            // shutting down answers 200 without passing through (a clean-clone run saw five such and restarted the
            // database before the first pass-through, failing the count asserted below)
            Poll.untilTrue(Duration.ofSeconds(60), "a fail-open pass-through", () -> openHost.filter.failOpenCount() > 0);
            waitFor(outcomes, "fail-open pass-throughs", 5, o -> o.startedNanos() > stoppedAt && o.host().equals("open")
                    && o.status() == 200);
            long restartedAt = System.nanoTime();
            pg.restart();
            // no restart of the service: it must find the database again by itself
            waitFor(outcomes, "fail-closed answers after the database returned", 10,
                    o -> o.startedNanos() > restartedAt && o.host().equals("closed") && o.status() == 200);
            waitFor(outcomes, "charged fail-open answers after the database returned", 5,
                    o -> o.startedNanos() > restartedAt && o.host().equals("open") && o.status() == 200);
            long outageNanos = restartedAt - stoppedAt;
            running.set(false);
            for (Future<?> w : workers) {
                w.get(30, TimeUnit.SECONDS);
            }
            report(outcomes, stoppedAt, restartedAt, outageNanos, openHost.filter.failOpenCount());
        } finally {
            running.set(false);
            load.shutdownNow();
        }

        // every answer is one of the promised ones, and none waited past the bound
        for (Outcome o : outcomes) {
            assertTrue(o.status() == 200 || o.status() == 503, () -> "unexpected answer: " + o);
            assertTrue(o.millis() <= REQUEST_BOUND.toMillis(), () -> "a request hung: " + o);
            if (o.status() == 503) {
                assertEquals("closed", o.host(), () -> "fail-open must not refuse: " + o);
                assertTrue(o.contentType().startsWith("application/problem+json"), o::toString);
                assertTrue(o.body().contains("store-unavailable"), o::toString);
            }
        }
        assertTrue(openHost.filter.failOpenCount() > 0, "fail-open pass-throughs are counted");

        // nothing half written: holds the outage orphaned come back, every account balances
        QuotaStore store = closedHost.store();
        YearMonth month = YearMonth.now(ZoneOffset.UTC);
        List<String> users = new ArrayList<>(List.of(CLOSED_USERS));
        users.addAll(List.of(OPEN_USERS));
        for (String user : users) {
            Poll.untilTrue(Duration.ofSeconds(30), "the holds of " + user + " to be settled or expired",
                    () -> store.account(user, month).orElseThrow().reserved() == 0);
        }
        Map<String, Reservation> byKey = new HashMap<>();
        for (String user : users) {
            LedgerAudit.Report report = LedgerAudit.explain(store, user, month);
            for (Reservation r : report.reservations().values()) {
                assertEquals(null, byKey.put(r.idempotencyKey(), r), () -> "key held twice: " + r);
            }
        }
        int uncharged = 0;
        for (Outcome o : outcomes) {
            Reservation r = byKey.get(o.key());
            if (o.status() == 503) {
                assertTrue(r == null || r.state() != ReservationState.COMMITTED, () -> "a refused call was charged: " + r);
            } else if (r == null || r.state() != ReservationState.COMMITTED) {
                // answered, but its hold could not be written or charged while the database was gone
                uncharged++;
                assertTrue(r == null || r.state() == ReservationState.EXPIRED || r.state() == ReservationState.RELEASED,
                        () -> "an answered call left a hold open: " + r);
            } else {
                assertEquals(Json.longAt(Json.object(o.body()), "usage.total_tokens"), r.charged(), o::toString);
            }
        }
        System.out.println("outage: answered but uncharged (outage window, fail-open or lost commit): " + uncharged);
    }

    private static void report(ConcurrentLinkedQueue<Outcome> outcomes, long stoppedAt, long restartedAt,
                               long outageNanos, long failOpen) {
        long during503 = 0;
        long maxDuring = 0;
        long maxOutside = 0;
        for (Outcome o : outcomes) {
            boolean during = o.startedNanos() > stoppedAt && o.startedNanos() < restartedAt;
            if (during) {
                maxDuring = Math.max(maxDuring, o.millis());
                if (o.status() == 503) {
                    during503++;
                }
            } else {
                maxOutside = Math.max(maxOutside, o.millis());
            }
        }
        System.out.printf("outage: %d requests, outage %d ms, %d fail-closed 503s, %d fail-open pass-throughs, "
                        + "slowest during outage %d ms, slowest otherwise %d ms%n", outcomes.size(),
                TimeUnit.NANOSECONDS.toMillis(outageNanos), during503, failOpen, maxDuring, maxOutside);
    }

    private static void waitFor(ConcurrentLinkedQueue<Outcome> outcomes, String what, int count, Predicate<Outcome> which) {
        Poll.untilTrue(Duration.ofSeconds(60), count + " " + what,
                () -> outcomes.stream().filter(which).count() >= count);
    }

    /**
     * The pool settings that make an outage short and visible: a request waits at most
     * {@code connectionTimeout} for a connection; the driver gives up connecting after
     * {@code connectTimeout} and on a silent socket after {@code socketTimeout}, so nothing hangs on a
     * half-open TCP connection; Hikari tests a connection that sat idle before lending it out.
     */
    static HikariDataSource pool(String jdbcUrl, String name) {
        HikariConfig c = new HikariConfig();
        c.setPoolName("outage-" + name);
        c.setJdbcUrl(jdbcUrl + "?connectTimeout=2&socketTimeout=10&tcpKeepAlive=true");
        c.setUsername(EmbeddedPg.USER);
        c.setPassword(EmbeddedPg.PASSWORD);
        c.setMaximumPoolSize(8);
        c.setConnectionTimeout(CONNECTION_TIMEOUT_MS);
        c.setValidationTimeout(500);
        // the pool must start even when the database is down at boot, and heal later
        c.setInitializationFailTimeout(-1);
        return new HikariDataSource(c);
    }

    /** A minimal host: the quota filter in fail-open mode in front of an upstream that reports usage. */
    private static final class FailOpenHost implements AutoCloseable {
        final QuotaFilter filter;
        private final Server server;
        private final ServerConnector connector;

        FailOpenHost(QuotaStore store) throws Exception {
            filter = QuotaFilter.builder(store)
                    .protect("/api/v1/ai/")
                    .subjectResolver(SubjectResolver.trustedHeader(DemoClient.USER_HEADER, "127.0.0.1", "::1"))
                    .failOpen(true)
                    .build();
            server = new Server();
            connector = new ServerConnector(server);
            connector.setHost("127.0.0.1");
            connector.setPort(0);
            server.addConnector(connector);
            ServletContextHandler context = new ServletContextHandler("/");
            FilterHolder holder = new FilterHolder(filter);
            holder.setAsyncSupported(true);
            context.addFilter(holder, "/*", EnumSet.of(DispatcherType.REQUEST));
            context.addServlet(new ServletHolder(new Upstream()), "/api/v1/ai/*");
            server.setHandler(context);
            server.start();
        }

        URI uri() {
            return URI.create("http://127.0.0.1:" + connector.getLocalPort());
        }

        @Override
        public void close() throws Exception {
            server.stop();
        }
    }

    /** Answers every call with a fixed OpenAI-style usage object. */
    private static final class Upstream extends HttpServlet {
        private static final long serialVersionUID = 1L;

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setContentType("application/json");
            resp.getOutputStream().write("{\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5,\"total_tokens\":12}}"
                    .getBytes(StandardCharsets.UTF_8));
        }
    }
}
