package io.tokenquota.servlet.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.ModelWeights;
import io.tokenquota.ModelWeights.Rates;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStatistics.ModelUsage;
import io.tokenquota.TokenUsage;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The filter with per-model weights, over HTTP on a real container and the H2 store: the hold is the
 * request model's weighing of the estimate, the charge the answering model's weighing of the usage by
 * kind of token (cached and reasoning parts by their own multipliers, never twice), unknown models at
 * the default, JSON and streamed answers of OpenAI, Responses, Anthropic and Gemini, and the event keeps
 * the model and raw counts beside the charge.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractModelWeightsSuite {
    static final ModelWeights WEIGHTS = ModelWeights.builder()
            // input free, output at 3: the hold of a request is 3 x its output budget, exactly
            .model("hold-probe", Rates.of("0", "0", "3", "3"))
            .model("gpt-test*", Rates.of("2", "0.5", "3", "7"))
            .model("cheap", Rates.of("0.1", "0.1", "0.1", "0.1"))
            .model("claude-test*", Rates.of("3", "0.3", "15", "15"))
            .model("gemini-test*", Rates.of("1", "0.25", "4", "4"))
            .defaults(Rates.of("4", "4", "4", "4"))
            .build();
    /** OpenAI's counts: prompt 1000 of which 400 cached, completion 300 of which 100 reasoning. */
    static final long GPT_TEST_CHARGE = 600 * 2 + 400 / 2 + 200 * 3 + 100 * 7;

    private TestDatabase db;
    private JdbiQuotaStore store;
    private EmbeddedContainer container;

    protected abstract ContainerKind kind();

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource())
                .policy(QuotaPolicy.builder().defaultAllocation(1_000_000).build()).installSchema(true).build();
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/").modelWeights(WEIGHTS)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        container = kind().start(Deployment.create().filter("quota", filter, "/*")
                .servlet("model", new WeightsModelServlet(), "/ai/*"));
    }

    @AfterAll
    void stop() {
        if (container != null) container.close();
        if (store != null) store.close();
        if (db != null) db.close();
    }

    private static String subject() {
        return "w-" + UUID.randomUUID();
    }

    private HttpResponse<String> call(String subject, String path, String body, String answer, String answerModel) {
        String[] headers = answerModel == null
                ? new String[] {"x-user-id", subject, "Content-Type", "application/json", "x-answer", answer}
                : new String[] {"x-user-id", subject, "Content-Type", "application/json", "x-answer", answer,
                    "x-answer-model", answerModel};
        HttpResponse<String> r = TestHttp.post(container.uri(path), body, headers);
        assertEquals(200, r.statusCode(), r.body());
        Ledgers.settled(store, subject);
        return r;
    }

    private LedgerEvent only(String subject, EventKind kind) {
        List<LedgerEvent> events = store.events(subject, YearMonth.now(ZoneOffset.UTC)).stream()
                .filter(e -> e.kind() == kind).toList();
        assertEquals(1, events.size(), events.toString());
        return events.get(0);
    }

    private static String chat(String model, int maxTokens) {
        return "{\"model\":\"" + model + "\",\"max_tokens\":" + maxTokens
                + ",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}";
    }

    @Test
    void theHoldIsTheRequestModelsWeighingOfTheEstimate() {
        String s = subject();
        call(s, "/ai/chat", chat("hold-probe", 100), "none", null);
        assertEquals(300, only(s, EventKind.RESERVED).tokens());
        // no usage in the answer: the (weighted) hold is charged, with no usage to keep
        LedgerEvent committed = only(s, EventKind.COMMITTED);
        assertEquals(300, committed.tokens());
        assertNull(committed.usage());
    }

    @Test
    void aTextRequestsFallbackIsHeldAtTheOutputRate() {
        // a plain-text prompt: its few tokens are input, the fallback above them stands for the answer
        String s = subject();
        String[] headers = {"x-user-id", s, "Content-Type", "text/plain", "x-answer", "none"};
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/chat?model=hold-probe"), "Say hello.", headers);
        assertEquals(200, r.statusCode(), r.body());
        Ledgers.settled(store, s);
        long own = new io.tokenquota.estimator.DefaultTokenEstimator().estimate("Say hello.");
        // hold-probe: input free, output at 3
        assertEquals(3 * (1_000 - own), only(s, EventKind.RESERVED).tokens());
    }

    @Test
    void cachedAndReasoningTokensAreChargedByTheirOwnMultipliersOnce() {
        String s = subject();
        call(s, "/ai/chat", chat("gpt-test", 100), "openai", "gpt-test-2025-01-01");
        LedgerEvent committed = only(s, EventKind.COMMITTED);
        assertEquals(GPT_TEST_CHARGE, committed.tokens());
        assertEquals(new TokenUsage("gpt-test-2025-01-01", 600, 400, 200, 100), committed.usage());
        assertEquals(GPT_TEST_CHARGE, store.account(s).used());
    }

    @Test
    void theResponsesApiIsSplitTheSameWay() {
        String s = subject();
        call(s, "/ai/responses", chat("gpt-test", 100), "responses", "gpt-test");
        assertEquals(GPT_TEST_CHARGE, only(s, EventKind.COMMITTED).tokens());
    }

    @Test
    void theAnsweringModelIsChargedNotTheOneTheClientNamed() {
        String s = subject();
        call(s, "/ai/chat", chat("cheap", 100), "openai", "gpt-test");
        LedgerEvent committed = only(s, EventKind.COMMITTED);
        assertEquals(GPT_TEST_CHARGE, committed.tokens());
        assertEquals("gpt-test", committed.usage().model());
    }

    @Test
    void withoutAModelInTheAnswerTheRequestsIsChargedAndJsonInTheContentIsNotRead() {
        String s = subject();
        // the answer's content is a JSON-mode text naming "cheap" with a usage: neither is read
        call(s, "/ai/chat", chat("gpt-test-mini", 100), "openai", null);
        LedgerEvent committed = only(s, EventKind.COMMITTED);
        assertEquals(GPT_TEST_CHARGE, committed.tokens());
        assertEquals("gpt-test-mini", committed.usage().model());
    }

    @Test
    void anUnknownModelIsChargedAtTheDefault() {
        String s = subject();
        call(s, "/ai/chat", chat("mystery", 100), "openai", "mystery-1");
        assertEquals(4 * 1_300, only(s, EventKind.COMMITTED).tokens());
        // the hold too: the estimate at the default's 4 per token
        assertEquals(0, only(s, EventKind.RESERVED).tokens() % 4);
    }

    @Test
    void anthropicCacheWritesAreInputAndCacheReadsCachedInput() {
        String s = subject();
        call(s, "/ai/messages", chat("claude-test", 100), "anthropic", "claude-test-4");
        LedgerEvent committed = only(s, EventKind.COMMITTED);
        assertEquals(new TokenUsage("claude-test-4", 150, 1_000, 20, 0), committed.usage());
        assertEquals(150 * 3 + 1_000 * 3 / 10 + 20 * 15, committed.tokens());
    }

    @Test
    void aStreamedAnthropicAnswerIsChargedByTheModelOfItsMessageStart() {
        String s = subject();
        call(s, "/ai/messages", chat("cheap", 100), "anthropic-sse", "claude-test-4");
        LedgerEvent committed = only(s, EventKind.COMMITTED);
        assertEquals(new TokenUsage("claude-test-4", 150, 1_000, 20, 0), committed.usage());
        assertEquals(150 * 3 + 1_000 * 3 / 10 + 20 * 15, committed.tokens());
    }

    @Test
    void aStreamedOpenAiAnswerIsChargedByKind() {
        String s = subject();
        call(s, "/ai/chat", chat("gpt-test", 100), "openai-sse", "gpt-test");
        LedgerEvent committed = only(s, EventKind.COMMITTED);
        assertEquals(GPT_TEST_CHARGE, committed.tokens());
        assertEquals(new TokenUsage("gpt-test", 600, 400, 200, 100), committed.usage());
    }

    @Test
    void geminiNamesTheModelInThePathAndTheAnswer() {
        String s = subject();
        String body = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Say hello.\"}]}],"
                + "\"generationConfig\":{\"maxOutputTokens\":100}}";
        call(s, "/ai/v1beta/models/gemini-test-pro:generateContent", body, "gemini", "gemini-test-pro-001");
        LedgerEvent committed = only(s, EventKind.COMMITTED);
        // prompt 1000 of which 600 cached, 50 written, 200 thoughts
        assertEquals(new TokenUsage("gemini-test-pro-001", 400, 600, 50, 200), committed.usage());
        assertEquals(400 + 150 + 200 + 800, committed.tokens());
        // the hold used the path's model: a multiple of... at least its output budget at 4
        long held = only(s, EventKind.RESERVED).tokens();
        assertEquals(true, held >= 400, "held " + held);
    }

    @Test
    void aForgedModelInAMislabelledAnswerCannotLowerTheCharge() {
        String s = subject();
        call(s, "/ai/chat", chat("gpt-test", 100), "mislabelled", "cheap");
        long asRequested = 1_000 * 2 + 300 * 3;
        long held = only(s, EventKind.RESERVED).tokens();
        LedgerEvent committed = only(s, EventKind.COMMITTED);
        assertEquals(Math.max(asRequested, held), committed.tokens());
    }

    @Test
    void theReportShowsUsageByModel() {
        String s = subject();
        call(s, "/ai/chat", chat("gpt-test", 100), "openai", "gpt-test");
        call(s, "/ai/chat", chat("gpt-test", 100), "openai-sse", "gpt-test");
        call(s, "/ai/messages", chat("claude-test", 100), "anthropic", "claude-test-4");
        List<ModelUsage> report = store.modelUsage(s, YearMonth.now(ZoneOffset.UTC));
        assertEquals(List.of(new ModelUsage("gpt-test", 2, 1_200, 800, 400, 200, 2 * GPT_TEST_CHARGE),
                new ModelUsage("claude-test-4", 1, 150, 1_000, 20, 0, 150 * 3 + 300 + 20 * 15)), report);
        assertEquals(store.account(s).used(), report.stream().mapToLong(ModelUsage::charged).sum());
    }
}
