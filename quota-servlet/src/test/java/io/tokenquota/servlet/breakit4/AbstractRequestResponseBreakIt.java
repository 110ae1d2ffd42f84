package io.tokenquota.servlet.breakit4;

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
import java.net.http.HttpResponse;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Round 4: request bodies the endpoint reads as valid JSON but the filter does not, response bodies
 * whose usage the filter does not read, and model calls that end in a redirect or are reached by a
 * forward. Setup of docs/servlet.md: filter on "/*" (REQUEST, async), protect("/ai/"), trusted
 * x-user-id from loopback, defaults (1 MiB, 16,384 output cap, 1,000 fallback), JDBI on H2.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRequestResponseBreakIt {
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
                .servlet("model", new Breakit4ModelServlet(), "/ai/*")
                .servlet("alias", new AliasServlet(), "/chat-alias"));
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
        return "u4-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":16000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a very long story about a lighthouse keeper.\"}]}";

    QuotaAccount settled(String subject) {
        return Ledgers.settled(store, subject);
    }

    List<String> ledger(String subject) {
        return Ledgers.events(store, subject, policy.currentMonth());
    }

    long charged(String subject) {
        return settled(subject).used();
    }

    HttpResponse<String> post(String path, String subject, byte[] body, String... extra) {
        String[] h = new String[extra.length + 2];
        h[0] = "x-user-id";
        h[1] = subject;
        System.arraycopy(extra, 0, h, 2, extra.length);
        return TestHttp.post(container.uri(path), body, h);
    }

    long plainStreamCharge() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/stream", s, CHAT.getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json").statusCode());
        assertEquals(16_000, Breakit4ModelServlet.lastMaxTokens);
        return charged(s);
    }

    // ---- request bodies the endpoint reads as JSON, the filter as plain text ----

    /** Control: a stream without usage (OpenAI's stream:true default) is charged the estimate, incl. max_tokens. */
    @Test
    void controlPlainStreamIsChargedTheOutputBudget() {
        long charge = plainStreamCharge();
        assertTrue(charge >= 16_000, "charged " + charge);
    }

    /**
     * The same request with one trailing byte after the JSON object. Jackson's default ObjectMapper
     * (Spring's @RequestBody) ignores trailing content, so the endpoint streams 16,000 tokens; the
     * filter treats the body as "broken JSON" (characters only, no output budget).
     */
    @Test
    void trailingByteAfterTheJsonObjectKeepsTheOutputBudget() {
        long plain = plainStreamCharge();
        String s = subject();
        Breakit4ModelServlet.lastMaxTokens = -1;
        assertEquals(200, post("/ai/v1/chat/stream", s, (CHAT + "x").getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json").statusCode());
        assertEquals(16_000, Breakit4ModelServlet.lastMaxTokens, "the endpoint read max_tokens 16,000");
        long charge = charged(s);
        assertTrue(charge >= plain, "charged " + charge + " for the same 16,000-token stream the plain request is "
                + "charged " + plain + " for; ledger: " + ledger(s));
    }

    /**
     * The same request in an EBCDIC charset the JDK knows (IBM037), declared in the Content-Type.
     * Spring's Jackson converter decodes non-UTF charsets with an InputStreamReader (so does any
     * endpoint using getReader()); the filter's JSON estimator parses raw bytes and falls to the text estimate.
     */
    @Test
    void ebcdicDeclaredCharsetKeepsTheOutputBudget() {
        long plain = plainStreamCharge();
        String s = subject();
        Breakit4ModelServlet.lastMaxTokens = -1;
        assertEquals(200, post("/ai/v1/chat/stream", s, CHAT.getBytes(Charset.forName("IBM037")),
                "Content-Type", "application/json; charset=IBM037").statusCode());
        assertEquals(16_000, Breakit4ModelServlet.lastMaxTokens, "the endpoint read max_tokens 16,000");
        long charge = charged(s);
        assertTrue(charge >= plain, "charged " + charge + " for the same 16,000-token stream the plain request is "
                + "charged " + plain + " for; ledger: " + ledger(s));
    }

    // ---- answers whose usage is not read ----

    @Test
    void controlJsonAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/json", s, CHAT.getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json").statusCode());
        assertEquals(50_000, charged(s), "ledger: " + ledger(s));
    }

    /** A JSON answer in UTF-16 (declared "Application/JSON; charset=UTF-16"), usage 50,000. */
    @Test
    void utf16JsonAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/utf16", s, CHAT.getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json").statusCode());
        assertEquals(50_000, charged(s), "ledger: " + ledger(s));
    }

    /** A JSON answer starting with a UTF-8 byte order mark, usage 50,000. */
    @Test
    void bomJsonAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/bom", s, CHAT.getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json").statusCode());
        assertEquals(50_000, charged(s), "ledger: " + ledger(s));
    }

    // ---- model calls that end in a redirect, or are reached by a forward ----

    /** Post/Redirect/Get: the endpoint called the model, stored the answer and answered 303. */
    @Test
    void postRedirectGetAfterTheModelCallIsCharged() {
        String s = subject();
        int before = Breakit4ModelServlet.modelCalls;
        HttpResponse<String> r = TestHttp.send(TestHttp.request(container.uri("/ai/v1/chat/prg"), "x-user-id", s,
                "Content-Type", "application/json").POST(java.net.http.HttpRequest.BodyPublishers.ofString(CHAT)).build());
        assertEquals(303, r.statusCode());
        assertTrue(Breakit4ModelServlet.modelCalls > before, "the model was called");
        long charge = charged(s);
        assertTrue(charge > 0, "a model call that ended in a 303 was charged " + charge + "; ledger: " + ledger(s));
    }

    /** An unprotected alias that forwards into the protected endpoint (usage 50,000). */
    @Test
    void forwardFromAnUnprotectedAliasIsCharged() {
        String s = subject();
        int before = Breakit4ModelServlet.modelCalls;
        HttpResponse<String> r = post("/chat-alias", s, CHAT.getBytes(StandardCharsets.UTF_8),
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode());
        assertTrue(Breakit4ModelServlet.modelCalls > before, "the model was called");
        assertTrue(r.body().contains("\"total_tokens\":50000"));
        assertEquals(50_000, charged(s), "ledger: " + ledger(s));
    }
}
