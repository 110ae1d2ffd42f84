package io.tokenquota.servlet.breakit;

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
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A hostile client against the quota filter as the README documents it: filter on "/*" (REQUEST,
 * async), protect("/ai/"), trusted x-user-id from loopback, default estimator and budgets, JDBI on H2.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractFilterBreakIt {
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
        QuotaFilter behindProxy = QuotaFilter.builder(store).protect("/fwd/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "10.0.0.0/8")).build();
        container = kind().start(Deployment.create().forwardedHeaders("/fwd/")
                .filter("quota", filter, "/*")
                .filter("fwd", behindProxy, "/*")
                .servlet("model", new BreakItModelServlet(), "/ai/*", "/fwd/*"));
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
        return "u-" + UUID.randomUUID().toString().substring(0, 12);
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

    static final String GEMINI_REQUEST = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Write a long story.\"}]}]}";
    static final String ANTHROPIC_DEEP_REQUEST = "{\"model\":\"claude\",\"max_tokens\":64000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Call the tree tool with a tree 600 levels deep, then keep writing.\"}]}";
    static final String ANTHROPIC_REQUEST = "{\"model\":\"claude\",\"max_tokens\":8000,\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Call the tree tool with a tree 600 levels deep.\"}]}";
    static final String CHAT_REQUEST = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story.\"}]}";

    /**
     * Gemini's REST streamGenerateContent (without alt=sse) answers application/json with a JSON array of
     * GenerateContentResponse chunks, each with its top-level usageMetadata. Issue: "Gemini: top-level
     * usageMetadata"; usage seen -> charge it.
     */
    @Test
    void geminiStreamGenerateContentJsonArrayIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = post("/ai/v1beta/models/gemini:streamGenerateContent/gemini-array", s, GEMINI_REQUEST);
        assertEquals(200, r.statusCode());
        QuotaAccount a = settled(s);
        assertEquals(8_010, a.used(), "charged the model's reported usage; ledger: " + ledger(s));
    }

    /** Anthropic message usage is the message's top-level usage; a deep tool_use.input must not hide it. */
    @Test
    void anthropicUsageAfterADeeplyNestedToolInputIsCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/v1/messages/anthropic-deep", s, ANTHROPIC_DEEP_REQUEST);
        assertEquals(200, r.statusCode());
        assertEquals(60_100, settled(s).used(), "ledger: " + ledger(s));
    }

    /** A long number the model wrote into tool_use.input must not hide the message's usage. */
    @Test
    void anthropicUsageAfterALongNumberInToolInputIsCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/v1/messages/anthropic-bignum", s, ANTHROPIC_REQUEST);
        assertEquals(200, r.statusCode());
        assertEquals(8_100, settled(s).used(), "ledger: " + ledger(s));
    }

    /** Gemini functionCall.args is model-written JSON; nesting in it must not hide usageMetadata. */
    @Test
    void geminiUsageAfterADeeplyNestedFunctionCallIsCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/v1beta/models/gemini:generateContent/gemini-deep", s, GEMINI_REQUEST);
        assertEquals(200, r.statusCode());
        assertEquals(8_010, settled(s).used(), "ledger: " + ledger(s));
    }

    /**
     * The model answered (usage 8,010) and the async timeout renders that answer through a dispatch: the
     * client gets 200 with the usage. Issue: usage seen -> charge it, also after a timeout.
     */
    @Test
    void asyncTimeoutThatRendersTheAnswerByDispatchIsCharged() {
        String s = subject();
        String id = UUID.randomUUID().toString();
        HttpResponse<String> r = post("/ai/chat/timeout-dispatch", s, CHAT_REQUEST, "X-Test-Id", id);
        assertEquals(200, r.statusCode());
        assertEquals(BreakItModelServlet.OPENAI, r.body(), "the client received the model's full answer with its usage");
        assertEquals(1, BreakItModelServlet.CALLS.get(id).get());
        assertEquals(8_010, settled(s).used(), "ledger: " + ledger(s));
    }

    /** Control: a plain OpenAI answer is charged its usage. */
    @Test
    void controlOpenAiUsageIsCharged() {
        String s = subject();
        assertEquals(200, post("/ai/chat/openai", s, CHAT_REQUEST).statusCode());
        assertEquals(8_010, settled(s).used(), "ledger: " + ledger(s));
    }

    /** The same Idempotency-Key sent concurrently buys at most one model call. */
    @Test
    void oneIdempotencyKeyConcurrentlyBuysOneModelCall() throws Exception {
        String s = subject();
        String id = UUID.randomUUID().toString();
        ExecutorService clients = Executors.newFixedThreadPool(12);
        try {
            List<Future<HttpResponse<String>>> fs = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                Callable<HttpResponse<String>> c = () -> post("/ai/chat/gated", s, CHAT_REQUEST,
                        "X-Test-Id", id, "Idempotency-Key", "k-" + id);
                fs.add(clients.submit(c));
            }
            AtomicInteger ok = new AtomicInteger();
            for (Future<HttpResponse<String>> f : fs) {
                if (f.get().statusCode() == 200) {
                    ok.incrementAndGet();
                }
            }
            assertEquals(1, BreakItModelServlet.CALLS.get(id).get(), "model calls");
            assertEquals(1, ok.get(), "200 answers");
            assertEquals(8_010, settled(s).used());
        } finally {
            clients.shutdownNow();
        }
    }

    /** A 2 MB chat body labelled text/plain is refused 413 (default 1 MiB) and nothing is called. */
    @Test
    void textPlainLabelDoesNotSkipTheSizeLimit() {
        String s = subject();
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"" + "word ".repeat(400_000) + "\"}]}";
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/chat/openai"), body, "x-user-id", s,
                "Content-Type", "text/plain");
        assertEquals(413, r.statusCode());
        assertEquals(0, store.account(s).used());
    }

    /**
     * Forwarded-header processing on /fwd/ (trusted proxies 10.0.0.0/8 only; the test client is 127.0.0.1):
     * no spelling of a forwarded address may make the container's address look like a trusted proxy.
     */
    @Test
    void forwardedHeaderSpellingsNeverMakeTheIdentityHeaderTrusted() {
        String[][] variants = {
                {"X-Forwarded-For", "10.1.2.3"},
                {"X-Forwarded-For", "10.1.2.3:443"},
                {"X-Forwarded-For", "\"10.1.2.3\""},
                {"X-Forwarded-For", "[::ffff:10.1.2.3]"},
                {"Forwarded", "for=10.1.2.3"},
                {"Forwarded", "For=\"10.1.2.3:80\""},
                {"Forwarded", "for = 10.1.2.3"},
                {"Forwarded", "for=\"[::ffff:10.1.2.3]\""},
                {"Forwarded", "proto=http;for=10.1.2.3;by=x"},
                {"Forwarded", "for=10.1.2.3 , for=1.1.1.1"},
        };
        List<String> served = new ArrayList<>();
        for (String[] v : variants) {
            String s = subject();
            HttpResponse<String> r = TestHttp.post(container.uri("/fwd/chat/openai"), CHAT_REQUEST, "x-user-id", s,
                    "Content-Type", "application/json", v[0], v[1]);
            // 401 (header refused) or a 400 from the container (header rejected) both keep the victim safe
            if ((r.statusCode() != 401 && r.statusCode() != 400) || store.account(s).used() != 0) {
                served.add(v[0] + ": " + v[1] + " -> " + r.statusCode() + ", charged " + store.account(s).used());
            }
        }
        assertEquals(List.of(), served, "forged identities served");
    }
}
