package io.tokenquota.examples;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.TokenEstimator;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.jdbi.JdbiQuotaStore;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The demo service's wiring, startable in-process: embedded Jetty 12 with the quota filter in front
 * of the AI prefixes, the quota HTTP API, the mock model, the dashboard, and a background sweep of
 * expired holds. {@link DemoServer} starts it from the environment; tests and harnesses start it with
 * their own {@link DemoConfig} (ephemeral port, in-memory H2, a test clock).
 *
 * <pre>{@code
 * try (DemoApp app = DemoApp.start(DemoConfig.builder().port(0).jdbc("jdbc:h2:mem:t;DB_CLOSE_DELAY=-1", "sa", "").build())) {
 *     URI base = app.baseUri();   // http://localhost:<port>
 *     QuotaStore store = app.store();
 * }
 * }</pre>
 *
 * Thread-safe; {@link #close()} stops the server and the sweep and closes the store it opened.
 */
public final class DemoApp implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DemoApp.class);

    /** Where the mock model answers. */
    public static final String CHAT_COMPLETIONS_PATH = "/api/v1/ai/chat/completions";
    /** The dashboard page. */
    public static final String DASHBOARD_PATH = "/dashboard";
    /** The dashboard's data: one JSON document per user (or all users), admin only. */
    public static final String DASHBOARD_DATA_PATH = "/api/v1/quota-admin/dashboard";
    public static final String HEALTH_PATH = "/health";

    private final DemoConfig config;
    private final QuotaStore store;
    private final boolean ownsStore;
    private final Server server;
    private final ServerConnector connector;
    private final ScheduledExecutorService sweeper;
    private final AtomicBoolean closed = new AtomicBoolean();

    private DemoApp(DemoConfig config, QuotaStore store, boolean ownsStore, Server server,
                    ServerConnector connector, ScheduledExecutorService sweeper) {
        this.config = config;
        this.store = store;
        this.ownsStore = ownsStore;
        this.server = server;
        this.connector = connector;
        this.sweeper = sweeper;
    }

    /** The policy the demo's store runs with: the config's allocation, hold TTL and clock, defaults otherwise. */
    public static QuotaPolicy policy(DemoConfig config) {
        return QuotaPolicy.builder()
                .defaultAllocation(config.defaultAllocation())
                .holdTtl(config.holdTtl())
                .clock(config.clock())
                .build();
    }

    /** Opens the JDBI store (installing the schema) and starts the service. */
    public static DemoApp start(DemoConfig config) throws Exception {
        Objects.requireNonNull(config, "config");
        JdbiQuotaStore.Builder b = JdbiQuotaStore.builder().policy(policy(config)).installSchema(true);
        if (config.dataSource() != null) {
            b.dataSource(config.dataSource());
        } else {
            b.jdbcUrl(config.jdbcUrl()).credentials(config.jdbcUser(), config.jdbcPassword());
        }
        JdbiQuotaStore store = b.build();
        try {
            return start(config, store, true);
        } catch (Exception | Error e) {
            store.close();
            throw e;
        }
    }

    /**
     * Starts the service over a caller's store (an in-memory one, or one a harness instruments); the
     * caller closes it. The store's policy wins over the config's allocation, TTL and clock.
     */
    public static DemoApp start(DemoConfig config, QuotaStore store) throws Exception {
        return start(config, store, false);
    }

    private static DemoApp start(DemoConfig config, QuotaStore store, boolean ownsStore) throws Exception {
        TokenEstimator estimator = new DefaultTokenEstimator();

        QueuedThreadPool threads = new QueuedThreadPool(200, 8);
        threads.setName("demo-http");
        Server server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        // Jetty's per-connection header cache matches a repeated header's value ignoring case by default
        // and hands the servlet the cached one: a bearer token in another letter case, sent on a
        // connection that carried the right one (a proxy pooling its upstream connections), would read as
        // the right one
        http.setHeaderCacheCaseSensitive(true);
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setPort(config.port());
        connector.setHost(config.host());
        server.addConnector(connector);

        ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
        context.setContextPath("/");
        QuotaWiring.install(context, store, config, estimator);
        context.addServlet(new ServletHolder("mock-model", new MockModelServlet(estimator, store.policy().clock())),
                CHAT_COMPLETIONS_PATH);
        context.addServlet(new ServletHolder("health", new HealthServlet()), HEALTH_PATH);
        DashboardServlet dashboard = new DashboardServlet();
        context.addServlet(new ServletHolder("dashboard", dashboard), DASHBOARD_PATH);
        context.addServlet(new ServletHolder("dashboard-assets", dashboard), DASHBOARD_PATH + "/*");
        context.addServlet(new ServletHolder("dashboard-data", new DashboardDataServlet(store, QuotaWiring.admins(config))),
                DASHBOARD_DATA_PATH);
        context.addServlet(new ServletHolder("fallback", new FallbackServlet()), "/");
        server.setHandler(context);
        // DemoServer's shutdown hook closes the app: server, sweep and store, in that order
        server.setStopAtShutdown(false);
        try {
            server.start();
        } catch (Exception e) {
            // e.g. the port is taken: do not leave the thread pool running
            server.stop();
            throw e;
        }

        ScheduledExecutorService sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "quota-sweep");
            t.setDaemon(true);
            return t;
        });
        try {
            long every = config.sweepInterval().toMillis();
            sweeper.scheduleWithFixedDelay(() -> sweep(store), every, every, TimeUnit.MILLISECONDS);
            return new DemoApp(config, store, ownsStore, server, connector, sweeper);
        } catch (RuntimeException e) {
            // a start that fails leaves nothing running: the port is free for the next try
            sweeper.shutdownNow();
            server.stop();
            throw e;
        }
    }

    private static void sweep(QuotaStore store) {
        // an exception escaping a scheduled task would silently cancel every later run
        try {
            int expired = store.expireStale();
            if (expired > 0) {
                LOG.info("returned {} expired hold(s)", expired);
            }
        } catch (RuntimeException e) {
            LOG.warn("sweep of expired holds failed; retrying at the next interval", e);
        }
    }

    /** The port the server listens on (the real one when the config asked for 0). */
    public int port() {
        return connector.getLocalPort();
    }

    /** {@code http://localhost:<port>}. */
    public URI baseUri() {
        return URI.create("http://localhost:" + port());
    }

    public QuotaStore store() {
        return store;
    }

    public DemoConfig config() {
        return config;
    }

    /** Blocks until the server stops (the demo's main thread waits here). */
    public void join() throws InterruptedException {
        server.join();
    }

    /** Stops the server and the sweep, then closes the store if this app opened it. Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        sweeper.shutdownNow();
        try {
            server.stop();
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new IllegalStateException("the demo server did not stop cleanly", e);
        } finally {
            if (ownsStore && store instanceof JdbiQuotaStore jdbi) {
                jdbi.close();
            }
        }
    }
}
