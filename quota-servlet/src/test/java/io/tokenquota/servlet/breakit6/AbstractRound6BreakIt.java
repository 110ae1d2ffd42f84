package io.tokenquota.servlet.breakit6;

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
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Round 6. docs/servlet.md setup: filter on "/*", protect("/ai/"), trusted x-user-id from loopback, defaults. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRound6BreakIt {
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
                .servlet("model", new Breakit6ModelServlet(), "/*"));
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
        return "u6-" + UUID.randomUUID().toString().substring(0, 12);
    }

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

    /** A 40,000-character prompt asking for 16,000 output tokens; odd length in bytes. */
    static String bigChat() {
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 40_000) {
            sb.append("the lighthouse keeper counts the waves again ");
        }
        String s = "{\"model\":\"gpt-4o\",\"max_tokens\":16000,\"messages\":[{\"role\":\"user\",\"content\":\""
                + sb + "\"}]}";
        return s.length() % 2 == 1 ? s : s + " ";
    }

    /**
     * The same UTF-8 JSON body labelled charset=UTF-16: the endpoint's Jackson reads the bytes (it
     * detects the encoding itself, as Spring's Jackson converter does for any Unicode label) and
     * calls the model with the 40,000-character prompt; the filter decodes the bytes as UTF-16, finds
     * no JSON object and no text, and holds (and charges) the 1,000-token fallback.
     */
    @Test
    void utf16LabelOnAUtf8JsonBodyShrinksTheCharge() {
        String body = bigChat();
        String control = subject();
        HttpResponse<String> r0 = TestHttp.post(container.uri("/ai/chat"), body.getBytes(StandardCharsets.UTF_8),
                "x-user-id", control, "Content-Type", "application/json");
        assertEquals(200, r0.statusCode(), r0.body());
        long expected = settled(control).used();

        String s = subject();
        int before = Breakit6ModelServlet.modelCalls.get();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/chat"), body.getBytes(StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "application/json; charset=UTF-16");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(before + 1, Breakit6ModelServlet.modelCalls.get());
        assertTrue(Breakit6ModelServlet.lastPromptChars >= 40_000, "the model got the whole prompt");
        long used = settled(s).used();
        assertTrue(used >= expected, "labelled UTF-8 the call is charged " + expected + "; labelled UTF-16 "
                + used + "; ledger: " + ledger(s));
    }

    /** Raw-socket path variants: every one the endpoint routes to /ai/ (a model call) must be charged. */
    @Test
    void pathVariantsThatReachTheModelAreCharged() throws Exception {
        String[] paths = {"/ai/chat", "/AI/chat", "//ai/chat", "/./ai/chat", "/x/../ai/chat", "/ai;x/chat",
                "/ai%2Fchat", "/%61i/chat", "/ai%2fchat", "/x/%2e%2e/ai/chat", "/x/..;/ai/chat", "/;x/ai/chat",
                "/ai./chat", "/ai%3Bx/chat", "/ai%20/chat", "/ai/%2e/chat", "/.;/ai/chat", "/ai/;/chat",
                "/%2e/ai/chat", "/x%2F..%2Fai/chat", "/ai%00/chat", "/ai\\chat", "/ai%5Cchat"};
        List<String> free = new ArrayList<>();
        StringBuilder log = new StringBuilder();
        byte[] body = "{\"model\":\"gpt-4o\",\"max_tokens\":2000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
                .getBytes(StandardCharsets.UTF_8);
        for (String path : paths) {
            String s = subject();
            int before = Breakit6ModelServlet.modelCalls.get();
            String status;
            try (Socket socket = new Socket("127.0.0.1", container.port())) {
                socket.setSoTimeout(5000);
                OutputStream out = socket.getOutputStream();
                out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + s
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
                out.write(body);
                out.flush();
                InputStream in = socket.getInputStream();
                String answer = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
                status = answer.isEmpty() ? "(none)" : answer.substring(0, Math.max(0, answer.indexOf('\r')));
            }
            sleep(50);
            boolean called = Breakit6ModelServlet.modelCalls.get() > before;
            long used = settled(s).used();
            log.append(path).append(" -> ").append(status).append(" called=").append(called)
                    .append(" used=").append(used).append('\n');
            if (called && used == 0) {
                free.add(path);
            }
        }
        assertTrue(free.isEmpty(), "model calls charged nothing: " + free + "\n" + log);
    }
}
