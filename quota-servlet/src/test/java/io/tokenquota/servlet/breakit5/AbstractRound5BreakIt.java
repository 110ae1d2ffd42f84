package io.tokenquota.servlet.breakit5;

import io.tokenquota.servlet.testing.Ledgers;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Round 5. Setup of docs/servlet.md: filter on "/*" (async), protect("/ai/"), trusted x-user-id from
 * loopback, defaults (1 MiB, 16,384 output cap, 1,000 fallback, releaseOnError), JDBI on H2.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRound5BreakIt {
    QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(10_000_000).build();
    TestDatabase db;
    JdbiQuotaStore store;
    EmbeddedContainer container;

    abstract ContainerKind kind();

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy).installSchema(true).build();
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        container = kind().start(Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("model", new Breakit5ModelServlet(), "/ai/*"));
    }

    @AfterAll
    void stop() {
        if (container != null) {
            container.close();
        }
        if (store != null) {
            store.close();
        }
        if (db != null) {
            db.close();
        }
    }

    static String subject() {
        return "u5-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":2000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story about a lighthouse keeper.\"}]}";

    QuotaAccount settled(String subject) {
        return Ledgers.settled(store, subject);
    }

    static void sleep(long ms) {
        try {
            TimeUnit.MILLISECONDS.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    List<String> ledger(String subject) {
        return Ledgers.events(store, subject, policy.currentMonth());
    }

    HttpResponse<String> post(String path, String subject) {
        return TestHttp.post(container.uri(path), CHAT.getBytes(StandardCharsets.UTF_8),
                "x-user-id", subject, "Content-Type", "application/json");
    }

    /** Control: the plain JSON answer path would charge 50,000 (see the reset tests for the same body). */
    @Test
    void resetBufferAfterAnHtmlPreludeStillChargesTheUsage() {
        String s = subject();
        HttpResponse<String> r = post("/ai/reset-buffer", s);
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("\"total_tokens\":50000"), r.body());
        assertEquals(50_000, settled(s).used(), "the client received usage 50,000; ledger: " + ledger(s));
    }

    @Test
    void resetAfterAnHtmlPreludeStillChargesTheUsage() {
        String s = subject();
        HttpResponse<String> r = post("/ai/reset", s);
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("\"total_tokens\":50000"), r.body());
        assertEquals(50_000, settled(s).used(), "the client received usage 50,000; ledger: " + ledger(s));
    }

    @Test
    void contentTypeSetAfterTheFirstBufferedWriteStillChargesTheUsage() {
        String s = subject();
        HttpResponse<String> r = post("/ai/late-type", s);
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"),
                r.headers().map().toString());
        assertTrue(r.body().contains("\"total_tokens\":50000"), r.body());
        assertEquals(50_000, settled(s).used(), "the client received usage 50,000; ledger: " + ledger(s));
    }

    /** sendRedirect (302) after the model call: the Servlet API's and Spring's default PRG status. */
    @Test
    void sendRedirect302AfterTheModelCallIsCharged() {
        String s = subject();
        int before = Breakit5ModelServlet.modelCalls.get();
        HttpResponse<String> r = post("/ai/prg302", s);
        assertEquals(302, r.statusCode());
        assertEquals(before + 1, Breakit5ModelServlet.modelCalls.get());
        long used = settled(s).used();
        assertTrue(used >= 2000, "a model call answered by sendRedirect (302) was charged " + used
                + "; ledger: " + ledger(s));
    }

    /**
     * The upstream answered 429 (the model was not called); the client had already hung up (its own
     * timeout) when the proxy relayed the 429 body. Rule: an upstream 429 without usage is released.
     */
    @Test
    void upstream429RelayedToAClientThatHungUpIsReleased() throws Exception {
        String s = subject();
        byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket("127.0.0.1", container.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /ai/upstream429 HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            sleep(200); // the filter has read the body and reserved; the endpoint waits on its upstream
            socket.setSoLinger(true, 0);
        }
        QuotaAccount a = settled(s);
        assertTrue(Breakit5ModelServlet.lastWriteFailed, "the relay noticed the hang-up");
        assertEquals(0, a.used(), "an upstream 429 (model not called) was charged; ledger: " + ledger(s));
    }

    /**
     * An async endpoint whose upstream connection is refused (java.net.ConnectException, an
     * IOException) in the async dispatch: the model was never reached. releaseOnError (default) → released.
     */
    @Test
    void asyncConnectionRefusedIsReleased() {
        String s = subject();
        HttpResponse<String> r = post("/ai/async-connect-refused", s);
        assertEquals(500, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), "a call that never reached the model was charged; ledger: " + ledger(s));
    }
}
