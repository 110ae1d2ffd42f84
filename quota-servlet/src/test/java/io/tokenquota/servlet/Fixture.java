package io.tokenquota.servlet;

import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.TokenEstimator;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.memory.InMemoryQuotaStore;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.testkit.MutableClock;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.function.BooleanSupplier;

/**
 * The deployment every servlet test runs against: the quota filter in several configurations in
 * front of {@link FakeModelServlet}, and the API servlet, over a JDBI store on a fresh H2 database.
 */
final class Fixture implements AutoCloseable {
    static final String ADMIN_TOKEN = "admin-token-0123456789abcdef";
    static final byte[] PAYMENT_SECRET = "payment-webhook-secret-42".getBytes(StandardCharsets.UTF_8);
    static final String API = "/api/v1/user-quota";
    static final String DEFAULT_API = "/default-api";
    static final long FALLBACK = 300;
    static final long OUTPUT_DEFAULT = 100;
    static final long OUTPUT_CAP = 2_000;
    static final int SMALL_BODY_LIMIT = 4_096;
    /** One token per four characters, rounded up: easy to compute by hand in assertions. */
    static final TokenEstimator QUARTER = text -> (text.length() + 3) / 4;

    final QuotaPolicy policy = QuotaPolicy.defaults();
    final QuotaStore store;
    /** The clock of {@link #clockedStore}: tests move it past a hold's TTL instead of waiting. */
    final MutableClock clock = new MutableClock(java.time.Instant.now());
    /** A second store whose policy runs on {@link #clock}, behind the {@code /clocked/} filter. */
    final QuotaStore clockedStore;
    static final Duration CLOCKED_TTL = Duration.ofMinutes(5);
    final QuotaFilter openFilter;
    /** Reserves on the store; every commit and release then fails as if the database had gone away. */
    final QuotaFilter failingSettlements;
    /** Holds every commit made through the {@code /slowcommit/} filter until it is counted down. */
    final java.util.concurrent.CountDownLatch commitGate = new java.util.concurrent.CountDownLatch(1);
    final EmbeddedContainer container;
    private final TestDatabase database;
    private final TestDatabase clockedDatabase;

    Fixture(ContainerKind kind) {
        if ("memory".equals(System.getProperty("tq.servlet.store"))) {
            database = null;
            store = new InMemoryQuotaStore(policy);
        } else {
            database = TestDatabases.h2();
            store = JdbiQuotaStore.builder().dataSource(database.dataSource()).policy(policy).installSchema(true).build();
        }
        clockedDatabase = TestDatabases.h2();
        clockedStore = "memory".equals(System.getProperty("tq.servlet.clockedStore"))
                ? new InMemoryQuotaStore(QuotaPolicy.builder().clock(clock).build())
                : JdbiQuotaStore.builder().dataSource(clockedDatabase.dataSource())
                .policy(QuotaPolicy.builder().clock(clock).build()).installSchema(true).build();
        QuotaStore broken = unavailableStore(policy);
        SubjectResolver loopback = SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1");
        QuotaFilter main = QuotaFilter.builder(store).protect("/ai/").subjectResolver(loopback).estimator(QUARTER)
                .fallbackEstimate(FALLBACK).defaultOutputBudget(OUTPUT_DEFAULT).outputBudgetCap(OUTPUT_CAP).build();
        QuotaFilter untrusted = QuotaFilter.builder(store).protect("/untrusted/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "203.0.113.7", "10.0.0.0/8")).build();
        QuotaFilter small = QuotaFilter.builder(store).protect("/small/").subjectResolver(loopback).estimator(QUARTER)
                .maxBodyBytes(SMALL_BODY_LIMIT).build();
        QuotaFilter slowCommit = QuotaFilter.builder(gatedCommits(store, commitGate)).protect("/slowcommit/")
                .subjectResolver(loopback).estimator(QUARTER).build();
        QuotaFilter clocked = QuotaFilter.builder(clockedStore).protect("/clocked/").subjectResolver(loopback)
                .estimator(QUARTER).holdTtl(CLOCKED_TTL).build();
        // segment-boundary matching: "/seg/ai" and "/seg/v2/" (with its slash) protected, nothing else under /seg/
        QuotaFilter segments = QuotaFilter.builder(store).protect("/seg/ai", "/seg/v2/").subjectResolver(loopback)
                .estimator(QUARTER).fallbackEstimate(FALLBACK).build();
        QuotaFilter closed = QuotaFilter.builder(broken).protect("/closed/").subjectResolver(loopback).build();
        openFilter = QuotaFilter.builder(broken).protect("/open/").subjectResolver(loopback).failOpen(true).build();
        // the settlement retries in milliseconds: aSettlementTheLedgerRefusesIsCountedForMonitoring waits until the
        // fourth failed retry counts it, about thirteen seconds on the production schedule
        failingSettlements = FilterTestHooks.fastSettlementRetries(QuotaFilter.builder(unsettleable(store)).protect("/unsettled/")
                .subjectResolver(loopback).estimator(QUARTER)).build();
        QuotaApiServlet api = QuotaApiServlet.builder(store).subjectResolver(loopback)
                .adminAuthorizer(AdminAuthorizer.bearerToken(ADMIN_TOKEN)).paymentSecret(PAYMENT_SECRET).build();
        QuotaApiServlet defaults = QuotaApiServlet.builder(store).subjectResolver(loopback).build();
        // forwarded-header processing on for /untrusted/, as Spring Boot's server.forward-headers-strategy=native
        // sets it: the container takes getRemoteAddr() from X-Forwarded-For / Forwarded
        Deployment deployment = Deployment.create().forwardedHeaders("/untrusted/")
                .filter("quota", main, "/ai/*")
                .filter("untrusted", untrusted, "/untrusted/*")
                .filter("small", small, "/small/*")
                .filter("slowcommit", slowCommit, "/slowcommit/*")
                .filter("clocked", clocked, "/clocked/*")
                .filter("segments", segments, "/seg/*")
                .filter("closed", closed, "/closed/*")
                .filter("open", openFilter, "/open/*")
                .filter("unsettled", failingSettlements, "/unsettled/*")
                .servlet("model", new FakeModelServlet(), "/ai/*", "/untrusted/*", "/small/*", "/slowcommit/*", "/closed/*",
                        "/open/*", "/clocked/*", "/seg/*", "/unsettled/*")
                .servlet("sdk-models", new SdkModelServlet(), "/ai/sdk/*")
                .multipartServlet("uploads", new UploadServlet(), new jakarta.servlet.MultipartConfigElement(""), "/ai/upload/*")
                .servlet("api", api, API + "/*")
                .servlet("default-api", defaults, DEFAULT_API + "/*");
        container = kind.start(deployment);
    }

    static String newSubject() {
        return "user-" + UUID.randomUUID().toString().substring(0, 13);
    }

    QuotaAccount account(String subject) {
        return store.account(subject);
    }

    List<LedgerEvent> events(String subject) {
        return store.events(subject, policy.currentMonth());
    }

    List<EventKind> kinds(String subject) {
        return events(subject).stream().map(LedgerEvent::kind).toList();
    }

    /** Waits (bounded) until the subject has no open hold: the filter settles after the body may have reached the client. */
    QuotaAccount awaitSettled(String subject) {
        await(() -> store.account(subject).reserved() == 0, "holds of " + subject + " settled");
        return store.account(subject);
    }

    static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for: " + what, e);
            }
        }
    }

    /** The store, except that commit waits (bounded) for {@code gate}: a ledger slow to charge. */
    static QuotaStore unsettleable(QuotaStore store) {
        return (QuotaStore) Proxy.newProxyInstance(Fixture.class.getClassLoader(), new Class<?>[] {QuotaStore.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("commit") || method.getName().equals("release")) {
                        throw new io.tokenquota.QuotaException(io.tokenquota.ErrorCode.STORE_UNAVAILABLE, "database gone");
                    }
                    try {
                        return method.invoke(store, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    static QuotaStore gatedCommits(QuotaStore store, java.util.concurrent.CountDownLatch gate) {
        return (QuotaStore) Proxy.newProxyInstance(Fixture.class.getClassLoader(), new Class<?>[] {QuotaStore.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("commit") && !gate.await(30, java.util.concurrent.TimeUnit.SECONDS)) {
                        throw new AssertionError("commit gate never opened");
                    }
                    try {
                        return method.invoke(store, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    /** A store whose every call fails as an unreachable database would. */
    static QuotaStore unavailableStore(QuotaPolicy policy) {
        return (QuotaStore) Proxy.newProxyInstance(Fixture.class.getClassLoader(), new Class<?>[] {QuotaStore.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("policy")) {
                        return policy;
                    }
                    switch (method.getName()) {
                        case "toString" -> {
                            return "unavailable store";
                        }
                        case "hashCode" -> {
                            return System.identityHashCode(proxy);
                        }
                        case "equals" -> {
                            return proxy == args[0];
                        }
                        case "underlying" -> {
                            // not a call to the store: the double is the store (QuotaLedger.underlying)
                            return proxy;
                        }
                        default -> {
                            // every ledger call fails below
                        }
                    }
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection refused (test double)");
                });
    }

    @Override
    public void close() {
        try {
            container.close();
        } finally {
            if (store instanceof AutoCloseable c) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
            if (database != null) {
                database.close();
            }
            if (clockedStore instanceof AutoCloseable c) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
            clockedDatabase.close();
        }
    }
}
