package io.tokenquota.servlet.breakit2;

import io.tokenquota.servlet.testing.Ledgers;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Hostile-client / careful-accountant tests of settlement as docs/servlet.md documents it: the filter
 * on "/*" (REQUEST, async), protect("/ai/"), the trusted x-user-id header from loopback, default
 * estimator and budgets, JDBI on H2. Every fake endpoint "calls the model" and writes its usage
 * (5,000 tokens unless said otherwise); the request's estimate is about 1,000.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractSettlementBreakIt {
    static final String CHAT_REQUEST = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story.\"}]}";

    QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(100_000).build();
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
                .servlet("model", new Breakit2ModelServlet(), "/ai/*"));
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
        return "u2-" + UUID.randomUUID().toString().substring(0, 12);
    }

    HttpResponse<String> post(String path, String subject, String body, String... extra) {
        String[] h = new String[extra.length + 4];
        h[0] = "x-user-id";
        h[1] = subject;
        h[2] = "Content-Type";
        h[3] = "application/json";
        System.arraycopy(extra, 0, h, 4, extra.length);
        return TestHttp.post(container.uri(path), body, h);
    }

    QuotaAccount settled(String subject) {
        return Ledgers.settled(store, subject);
    }

    List<String> ledger(String subject) {
        return Ledgers.events(store, subject, policy.currentMonth());
    }

    void assertCharged(String subject, long expected) {
        QuotaAccount a = settled(subject);
        assertEquals(expected, a.used(), "charge of " + subject + "; ledger: " + ledger(subject));
    }

    // ---- controls: the harness sees usage in the ordinary shapes ----

    @Test
    void controlOpenAiJsonUsageIsCharged() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/completions/openai", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 5_000);
    }

    @Test
    void controlSseWithLfLineEndsIsChargedItsUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/completions/sse-lf", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 5_000);
    }

    @Test
    void controlAnthropicStreamIsChargedInputPlusOutput() {
        String s = subject();
        assertEquals(200, post("/ai/v1/messages/anthropic-sse", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 3_200);
    }

    // ---- SSE edge cases ----

    /** SSE with CRLF line ends: "usage seen -> charge it". */
    @Test
    void sseWithCrlfLineEndsIsChargedItsUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/completions/sse-crlf", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 5_000);
    }

    /**
     * The SSE spec (WHATWG HTML 9.2.5) lets lines end in CRLF, LF or a lone CR. An OpenAI stream with
     * lone-CR line ends, usage in the last chunk (stream_options.include_usage): usage seen -> charge it.
     */
    @Test
    void sseWithLoneCrLineEndsIsChargedItsUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/completions/sse-cr", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 5_000);
    }

    /**
     * The SSE spec strips one leading UTF-8 BOM from the stream. An Anthropic stream that starts with
     * one: message_start's usage (input 3,000) and message_delta's (output 200) are both to be charged.
     */
    @Test
    void anthropicStreamStartingWithBomIsChargedMessageStartUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/messages/anthropic-sse-bom", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 3_200);
    }

    /**
     * The same BOM-led Anthropic stream without the optional event: lines, so the stream's first line is
     * message_start's data: line (input 3,000). Expected 3,200.
     */
    @Test
    void anthropicStreamWithBomBeforeFirstDataLineIsChargedMessageStartUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/messages/anthropic-sse-bom-data-first", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 3_200);
    }

    /** message_delta without message_start: its usage is Anthropic usage and is charged. */
    @Test
    void anthropicMessageDeltaWithoutMessageStartIsCharged() {
        String s = subject();
        assertEquals(200, post("/ai/v1/messages/anthropic-delta-only", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 3_200);
    }

    /** One event whose data spans several CRLF data lines, with a comment between them. */
    @Test
    void multiLineCrlfDataWithCommentIsChargedItsUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/completions/sse-multiline-crlf", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 5_000);
    }

    // ---- how the handler writes ----

    /**
     * A handler (a proxy copying an upstream body) writes a zero-length chunk before it sets the
     * Content-Type, then the model's JSON with usage 5,000: usage seen -> charge it.
     */
    @Test
    void zeroLengthWriteBeforeContentTypeDoesNotHideUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/completions/empty-write-first", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 5_000);
    }

    /** The same through getWriter(): print("") before setContentType. */
    @Test
    void emptyWriterPrintBeforeContentTypeDoesNotHideUsage() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/completions/writer-empty-first", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 5_000);
    }

    /**
     * HEAD to a GET model endpoint (?prompt=): HttpServlet.doHead runs doGet, so the model is called
     * and writes its usage (5,000); the container only drops the body. The call must be charged its
     * usage, not the 1,000 fallback of a bodiless request.
     */
    @Test
    void headRequestToGetModelEndpointIsChargedItsUsage() {
        String s = subject();
        String q = URLEncoder.encode("Write a long story.", StandardCharsets.UTF_8);
        HttpResponse<String> r = TestHttp.send(TestHttp.request(container.uri("/ai/v1/complete/get-model?prompt=" + q),
                "x-user-id", s).method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, r.statusCode());
        assertCharged(s, 5_000);
    }

    /** The same prompt with GET: the control for the HEAD test. */
    @Test
    void controlGetModelEndpointIsChargedItsUsage() {
        String s = subject();
        String q = URLEncoder.encode("Write a long story.", StandardCharsets.UTF_8);
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/v1/complete/get-model?prompt=" + q), "x-user-id", s);
        assertEquals(200, r.statusCode());
        assertCharged(s, 5_000);
    }

    // ---- numbers in usage ----

    /** JSON numbers 5000.0 and 5000 are the same number; the usage is 5,000 either way. */
    @Test
    void usageWrittenAsFloatsIsChargedItsValue() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/completions/float-usage", s, CHAT_REQUEST).statusCode());
        assertCharged(s, 5_000);
    }

    // ---- hostile headers ----

    /** A client's own X-Quota-Actual-Tokens request header is not the handler's report. */
    @Test
    void clientSentActualTokensHeaderIsIgnored() {
        String s = subject();
        assertEquals(200, post("/ai/v1/chat/completions/openai", s, CHAT_REQUEST,
                "X-Quota-Actual-Tokens", "0").statusCode());
        assertCharged(s, 5_000);
    }
}
