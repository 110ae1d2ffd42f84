package io.tokenquota.servlet.breakit8;

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
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Round 8. docs/servlet.md setup: filter on "/*" (REQUEST+FORWARD, async), protect("/ai/"), trusted x-user-id. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRound8BreakIt {
    static final long LIMIT = 10_000_000;
    QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(LIMIT).build();
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
                .servlet("model", new Breakit8ModelServlet(), "/*"));
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
        return "u8-" + UUID.randomUUID().toString().substring(0, 12);
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

    static final String SMALL = "{\"model\":\"gpt-4o\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    record Outcome(HttpResponse<String> response, long hold, long used, List<String> ledger) {}

    Outcome call(int status, String contentType, String... chunks) {
        String key = UUID.randomUUID().toString();
        Breakit8ModelServlet.ANSWERS.put(key, new Breakit8ModelServlet.Answer(status, contentType, List.of(chunks), 0));
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/chat?k=" + key), SMALL, "x-user-id", s,
                "Content-Type", "application/json");
        long hold = LIMIT - Long.parseLong(r.headers().firstValue("X-Quota-Remaining").orElse("-1"));
        long used = settled(s).used();
        return new Outcome(r, hold, used, ledger(s));
    }

    static void charged(long expected, Outcome o) {
        assertEquals(expected, o.used(), "hold " + o.hold() + " ledger " + o.ledger() + " status "
                + o.response().statusCode() + "\n" + o.response().body());
    }

    // ---- provider usage shapes ----

    @Test
    void anthropicMessageWithCacheFieldsIsChargedTheSum() {
        charged(1000 + 200 + 3000 + 40000, call(200, "application/json",
                "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],"
                        + "\"usage\":{\"input_tokens\":1000,\"cache_creation_input_tokens\":3000,\"cache_read_input_tokens\":40000,"
                        + "\"cache_creation\":{\"ephemeral_5m_input_tokens\":3000,\"ephemeral_1h_input_tokens\":0},"
                        + "\"output_tokens\":200,\"service_tier\":\"standard\",\"server_tool_use\":{\"web_search_requests\":1}}}"));
    }

    @Test
    void geminiWithoutTotalCountsThoughtsButNotCachedTwice() {
        charged(100 + 50 + 4000, call(200, "application/json",
                "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}],\"role\":\"model\"}}],"
                        + "\"usageMetadata\":{\"promptTokenCount\":100,\"candidatesTokenCount\":50,\"thoughtsTokenCount\":4000,"
                        + "\"cachedContentTokenCount\":80,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":100}]}}"));
    }

    @Test
    void openAiReasoningDetailsAreNotAddedTwice() {
        charged(6000, call(200, "application/json",
                "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":5000,"
                        + "\"total_tokens\":6000,\"prompt_tokens_details\":{\"cached_tokens\":900},"
                        + "\"completion_tokens_details\":{\"reasoning_tokens\":4500}}}"));
    }

    @Test
    void usageNullChunksThenRealUsage() {
        charged(7777, call(200, "text/event-stream",
                "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n",
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7000,\"completion_tokens\":777,\"total_tokens\":7777}}\n\n",
                "data: [DONE]\n\n"));
    }

    /** A Responses stream whose response.usage has input/output but no total_tokens (compatible servers). */
    @Test
    void responsesStreamUsageWithoutTotalTokensIsCharged() {
        charged(5700, call(200, "text/event-stream",
                "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"object\":\"response\",\"status\":\"in_progress\",\"usage\":null}}\n\n",
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hello\"}\n\n",
                "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"object\":\"response\",\"status\":\"completed\","
                        + "\"usage\":{\"input_tokens\":5000,\"output_tokens\":700}}}\n\n"));
    }

    /** The same usage in a non-streamed Responses JSON body (control). */
    @Test
    void responsesJsonUsageWithoutTotalTokensIsCharged() {
        charged(5700, call(200, "application/json",
                "{\"id\":\"r\",\"object\":\"response\",\"status\":\"completed\",\"output\":[],"
                        + "\"usage\":{\"input_tokens\":5000,\"output_tokens\":700}}"));
    }

    /** An early chunk with an empty usage object must not lock the format and hide the real usage. */
    @Test
    void emptyUsageObjectThenRealOpenAiUsage() {
        charged(8888, call(200, "text/event-stream",
                "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":{}}\n\n",
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":8000,\"completion_tokens\":888,\"total_tokens\":8888}}\n\n",
                "data: [DONE]\n\n"));
    }

    @Test
    void usageInsideTopLevelErrorIsNotRead() {
        Outcome o = call(200, "application/json",
                "{\"error\":{\"message\":\"x\",\"usage\":{\"total_tokens\":9}}}");
        assertTrue(o.hold() > 9, "hold " + o.hold());
        charged(o.hold(), o);
    }

    // ---- SSE oddities ----

    @Test
    void sseCommentContainingDataIsIgnored() {
        charged(4321, call(200, "text/event-stream",
                ": data: {\"usage\":{\"total_tokens\":1}}\n\n",
                "retry: 1000\nid: 7\nevent: message\ndata: {\"choices\":[],\"usage\":{\"total_tokens\":4321}}\n\n",
                ": data: {\"usage\":{\"total_tokens\":2}}\n\n"));
    }

    @Test
    void sseErrorEventWithUsageIsCharged() {
        charged(2500, call(200, "text/event-stream",
                "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
                "event: error\ndata: {\"error\":{\"message\":\"overloaded\"},\"usage\":{\"total_tokens\":2500}}\n\n"));
    }

    // ---- content types ----

    @Test
    void ndjsonStreamUsageIsCharged() {
        charged(3456, call(200, "application/x-ndjson",
                "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n",
                "{\"choices\":[],\"usage\":{\"total_tokens\":3456}}\n"));
    }

    @Test
    void problemJson422WithUsageIsCharged() {
        charged(1234, call(422, "application/problem+json",
                "{\"type\":\"about:blank\",\"status\":422,\"title\":\"bad tool call\",\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":234}}"));
    }

    @Test
    void upperCaseJsonTypeIsRead() {
        charged(2222, call(200, "APPLICATION/JSON", "{\"usage\":{\"total_tokens\":2222}}"));
    }

    @Test
    void jsonWithUtf8CharsetIsRead() {
        charged(3333, call(200, "application/json;charset=utf-8", "{\"usage\":{\"total_tokens\":3333}}"));
    }

    @Test
    void upstream429WithoutUsageIsReleased() {
        charged(0, call(429, "application/json", "{\"error\":{\"type\":\"rate_limit\"}}"));
    }

    // ---- idempotency keys differing in whitespace ----

    @Test
    void idempotencyKeyWithSurroundingWhitespaceBuysOneCall() throws Exception {
        String key = UUID.randomUUID().toString();
        Breakit8ModelServlet.ANSWERS.put(key, new Breakit8ModelServlet.Answer(200, "application/json",
                List.of("{\"usage\":{\"total_tokens\":500}}"), 300));
        String s = subject();
        String idem = "idem-" + UUID.randomUUID();
        String[] variants = {idem, idem + " ", " " + idem, "\t" + idem + "\t", idem};
        ExecutorService pool = Executors.newFixedThreadPool(variants.length);
        try {
            List<Future<Integer>> fs = new ArrayList<>();
            for (String v : variants) {
                Callable<Integer> c = () -> TestHttp.post(container.uri("/ai/chat?k=" + key), SMALL, "x-user-id", s,
                        "Content-Type", "application/json", "Idempotency-Key", v).statusCode();
                fs.add(pool.submit(c));
            }
            int ok = 0;
            for (Future<Integer> f : fs) {
                if (f.get(30, TimeUnit.SECONDS) == 200) {
                    ok++;
                }
            }
            assertEquals(1, ok, "model calls bought with one key; ledger " + ledger(s));
        } finally {
            pool.shutdownNow();
        }
    }
}
