package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaLedger;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Team;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * {@link QuotaFilter.Builder#fitOutputBudget}: on {@code /ai/} (fitting on, minimum 16) a request
 * whose budget does not fit the balance but whose input plus 16 per completion does reaches the
 * endpoint with its budget lowered, every other byte as sent; {@code /plain/} (fitting off) answers
 * 429 as before. Each test spends a fresh subject's 20,000 tokens down to the balance it needs.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class OutputFitSuite {
    private static final long ALLOWANCE = 20_000;
    private static final long MINIMUM = 16;
    /** What the endpoint's answer reports as used, and so what a served request is charged. */
    private static final long USED = 30;
    private static final RequestEstimator ESTIMATOR = new RequestEstimator(new DefaultTokenEstimator());

    /** What the endpoint received, by subject. */
    record Received(byte[] body, long contentLength, String contentLengthHeader) {
    }

    private final Map<String, Received> received = new ConcurrentHashMap<>();
    private TestDatabase db;
    private JdbiQuotaStore store;
    private EmbeddedContainer container;

    protected abstract ContainerKind kind();

    /** An OpenAI-style endpoint that keeps the body it read and reports {@link #USED} tokens. */
    private final class Endpoint extends HttpServlet {
        private static final long serialVersionUID = 1L;

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes();
            received.put(req.getHeader("x-user-id"),
                    new Received(body, req.getContentLengthLong(), req.getHeader("Content-Length")));
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                    + "\"message\":{\"role\":\"assistant\",\"content\":\"ok\"}}],"
                    + "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20,\"total_tokens\":" + USED + "}}");
        }
    }

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(ALLOWANCE).build();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy).installSchema(true).build();
        SubjectResolver subjects = SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1");
        QuotaFilter fitting = QuotaFilter.builder(store).protect("/ai/").subjectResolver(subjects)
                .fitOutputBudget(MINIMUM).build();
        QuotaFilter plain = QuotaFilter.builder(store).protect("/plain/").subjectResolver(subjects).build();
        QuotaFilter racing = QuotaFilter.builder(racedLedger()).protect("/race/").subjectResolver(subjects)
                .fitOutputBudget(MINIMUM).build();
        // gpt-4o's input at 2 quota units a token, its output at 3
        QuotaFilter weighed = QuotaFilter.builder(store).protect("/weighed/").subjectResolver(subjects)
                .modelWeights(ModelWeights.builder().model("gpt-4o", ModelWeights.Rates.of("2", "2", "3", "3")).build())
                .fitOutputBudget(MINIMUM).build();
        container = kind().start(Deployment.create()
                .filter("fitting", fitting, "/*")
                .filter("plain", plain, "/*")
                .filter("racing", racing, "/*")
                .filter("weighed", weighed, "/*")
                .servlet("endpoint", new Endpoint(), "/ai/*", "/plain/*", "/race/*", "/weighed/*"));
    }

    /** Tokens another request of the same subject spends right after the filter read the balance. */
    private final Map<String, Long> racers = new ConcurrentHashMap<>();

    /**
     * The store, except that reading a subject's balance lets a racing spender in just after the read:
     * the balance the filter fitted to is gone by the time it holds.
     */
    private QuotaLedger racedLedger() {
        return (QuotaLedger) Proxy.newProxyInstance(QuotaLedger.class.getClassLoader(), new Class<?>[] {QuotaLedger.class},
                (proxy, method, args) -> {
                    try {
                        Object result = method.invoke(store, args);
                        if (method.getName().equals("account") && args != null && args.length == 1
                                && racers.containsKey(args[0])) {
                            store.consume(HoldRequest.of((String) args[0], racers.get(args[0])).build());
                        }
                        return result;
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    @AfterAll
    void stop() {
        if (container != null) container.close();
        if (store != null) store.close();
        if (db != null) db.close();
    }

    /** A fresh subject with {@code available} tokens left. */
    private String subjectWith(long available) {
        String subject = "fit-" + UUID.randomUUID();
        store.consume(HoldRequest.of(subject, ALLOWANCE - available).build());
        assertEquals(available, store.account(subject).available());
        return subject;
    }

    private static long input(String body) {
        return ESTIMATOR.estimate(body.getBytes(StandardCharsets.UTF_8)).inputTokens();
    }

    private HttpResponse<String> post(String path, String subject, String body, String... headers) {
        return TestHttp.postJson(container.uri(path), subject, body, headers);
    }

    private List<String> events(String subject) {
        return Ledgers.events(store, subject, YearMonth.now(ZoneOffset.UTC));
    }

    /** The body was served with {@code budget}, arrived as {@code expected}, held {@code hold} and was charged. */
    private void assertFitted(HttpResponse<String> r, String subject, String expected, long budget, long hold,
                              long available) {
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(String.valueOf(budget), r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).orElse(null));
        assertEquals(String.valueOf(available - hold), r.headers().firstValue("X-Quota-Remaining").orElse(null));
        Received got = received.get(subject);
        byte[] bytes = expected.getBytes(StandardCharsets.UTF_8);
        assertArrayEquals(bytes, got.body(), () -> new String(got.body(), StandardCharsets.UTF_8));
        assertEquals(bytes.length, got.contentLength());
        assertEquals(String.valueOf(bytes.length), got.contentLengthHeader());
        QuotaAccount after = Ledgers.settled(store, subject);
        assertEquals(ALLOWANCE - available + USED, after.used(), events(subject).toString());
        assertEquals(List.of("COMMITTED:" + (ALLOWANCE - available), "RESERVED:" + hold, "COMMITTED:" + USED),
                events(subject).stream().filter(e -> !e.startsWith("PLAN")).toList());
    }

    private void assertRefused(HttpResponse<String> r, String subject, long available) {
        assertEquals(429, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).isEmpty());
        assertNull(received.get(subject), "the endpoint was not called");
        assertEquals(available, store.account(subject).available());
    }

    private static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Write a long story about a lighthouse.\"}],\"max_tokens\":5000,\"temperature\":0.7}";

    @Test
    void aBudgetThatDoesNotFitIsLoweredToWhatTheBalanceAllows() {
        long input = input(CHAT);
        String subject = subjectWith(input + 300);
        HttpResponse<String> r = post("/ai/chat", subject, CHAT);
        assertFitted(r, subject, CHAT.replace("\"max_tokens\":5000", "\"max_tokens\":300"), 300, input + 300, input + 300);
    }

    /**
     * A team member is fitted to the stricter of its own balance and its team's: with room for 1,000
     * output tokens of its own but only 300 in its team, the budget is lowered to 300, the hold is
     * taken from both accounts, and the remaining header shows the team's (the one that refuses next).
     */
    @Test
    void aMembersBudgetIsLoweredToItsTeamsSmallerBalance() {
        long input = input(CHAT);
        String subject = subjectWith(input + 1_000);
        String team = "fit-team-" + UUID.randomUUID();
        store.setPlan(Team.subject(team), input + 300);
        store.setTeam(subject, team);
        HttpResponse<String> r = post("/ai/chat", subject, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("300", r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).orElse(null));
        assertEquals("0", r.headers().firstValue("X-Quota-Remaining").orElse(null));
        assertArrayEquals(CHAT.replace("\"max_tokens\":5000", "\"max_tokens\":300").getBytes(StandardCharsets.UTF_8),
                received.get(subject).body());
        QuotaAccount member = Ledgers.settled(store, subject);
        assertEquals(ALLOWANCE - input - 1_000 + USED, member.used());
        assertEquals(List.of("RESERVED:" + (input + 300), "COMMITTED:" + USED), events(Team.subject(team)).stream()
                .filter(e -> !e.startsWith("PLAN")).toList());
        assertEquals(List.of(USED, 0L), List.of(store.account(Team.subject(team)).used(),
                store.account(Team.subject(team)).reserved()));
    }

    /** The other way round: a member whose own balance is the smaller one is fitted to it, not to its team's. */
    @Test
    void aMembersBudgetIsLoweredToItsOwnSmallerBalance() {
        long input = input(CHAT);
        String subject = subjectWith(input + 200);
        String team = "fit-team-" + UUID.randomUUID();
        store.setPlan(Team.subject(team), input + 2_000);
        store.setTeam(subject, team);
        HttpResponse<String> r = post("/ai/chat", subject, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("200", r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).orElse(null));
        assertEquals("0", r.headers().firstValue("X-Quota-Remaining").orElse(null));
        assertArrayEquals(CHAT.replace("\"max_tokens\":5000", "\"max_tokens\":200").getBytes(StandardCharsets.UTF_8),
                received.get(subject).body());
        Ledgers.settled(store, subject);
        assertEquals(List.of("RESERVED:" + (input + 200), "COMMITTED:" + USED), events(Team.subject(team)).stream()
                .filter(e -> !e.startsWith("PLAN")).toList());
    }

    /** With per-model weights the fitted budget is the largest whose weighed hold fits. */
    @Test
    void aWeighedHoldIsFittedInQuotaUnits() {
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Two haiku about the sea, please.\"}],"
                + "\"max_tokens\":4000,\"n\":2}";
        assertEquals(12, input(body));
        String subject = subjectWith(1_200);
        HttpResponse<String> r = post("/weighed/chat", subject, body);
        // 12 input tokens at 2 and 2 x 196 output tokens at 3: 1,200 of the 1,200 (197 would need 1,206)
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("196", r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).orElse(null));
        assertEquals("0", r.headers().firstValue("X-Quota-Remaining").orElse(null));
        assertArrayEquals(body.replace("4000", "196").getBytes(StandardCharsets.UTF_8), received.get(subject).body());
        assertTrue(events(subject).contains("RESERVED:1200"), events(subject).toString());
    }

    /** The README's worked example, number for number. */
    @Test
    void theReadmeExample() {
        String body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Two haiku about the sea, please.\"}],"
                + "\"max_tokens\":4000,\"n\":2}";
        assertEquals(12, input(body));
        String subject = subjectWith(1_200);
        assertFitted(post("/ai/chat", subject, body), subject, body.replace("4000", "594"), 594, 1_200, 1_200);
        String poorer = subjectWith(43);
        assertRefused(post("/ai/chat", poorer, body), poorer, 43);
        String richer = subjectWith(44);
        assertFitted(post("/ai/chat", richer, body), richer, body.replace("4000", "16"), 16, 44, 44);
    }

    @Test
    void withoutFittingTheSameRequestIsRefused() {
        long input = input(CHAT);
        String subject = subjectWith(input + 300);
        assertRefused(post("/plain/chat", subject, CHAT), subject, input + 300);
    }

    @Test
    void aSpenderRacingTheFitLeavesNoOverHoldButA429() {
        long input = input(CHAT);
        String subject = subjectWith(input + 300);
        racers.put(subject, 10L);
        HttpResponse<String> r = post("/race/chat", subject, CHAT);
        assertRefused(r, subject, input + 290);
        assertEquals(0, store.account(subject).reserved());
        assertEquals(List.of("COMMITTED:" + (ALLOWANCE - input - 300), "COMMITTED:10", "REJECTED:" + (input + 300)),
                events(subject));
    }

    @Test
    void aBudgetThatFitsIsForwardedUntouchedWithoutTheHeader() {
        long input = input(CHAT);
        String subject = subjectWith(input + 5000);
        HttpResponse<String> r = post("/ai/chat", subject, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).isEmpty());
        assertArrayEquals(CHAT.getBytes(StandardCharsets.UTF_8), received.get(subject).body());
    }

    @Test
    void inputPlusTheMinimumJustFits() {
        long input = input(CHAT);
        String subject = subjectWith(input + MINIMUM);
        HttpResponse<String> r = post("/ai/chat", subject, CHAT);
        assertFitted(r, subject, CHAT.replace("\"max_tokens\":5000", "\"max_tokens\":16"), MINIMUM, input + MINIMUM,
                input + MINIMUM);
    }

    @Test
    void inputPlusTheMinimumJustDoesNotFit() {
        long input = input(CHAT);
        String subject = subjectWith(input + MINIMUM - 1);
        assertRefused(post("/ai/chat", subject, CHAT), subject, input + MINIMUM - 1);
    }

    @Test
    void inputAloneTooLargeIsRefused() {
        long input = input(CHAT);
        String subject = subjectWith(input - 1);
        assertRefused(post("/ai/chat", subject, CHAT), subject, input - 1);
    }

    @Test
    void severalCompletionsEachGetTheLoweredBudget() {
        String body = CHAT.replace("\"temperature\"", "\"n\":3,\"temperature\"");
        long input = input(body);
        // 2 tokens short of a fourth: the budget rounds down, the hold is what n × 100 costs
        String subject = subjectWith(input + 3 * 100 + 2);
        HttpResponse<String> r = post("/ai/chat", subject, body);
        assertFitted(r, subject, body.replace("\"max_tokens\":5000", "\"max_tokens\":100"), 100, input + 300,
                input + 302);
    }

    @Test
    void severalCompletionsNeedTheMinimumEach() {
        String body = CHAT.replace("\"temperature\"", "\"n\":3,\"temperature\"");
        long input = input(body);
        String subject = subjectWith(input + 3 * MINIMUM - 1);
        assertRefused(post("/ai/chat", subject, body), subject, input + 3 * MINIMUM - 1);
    }

    @Test
    void geminiGenerationConfigIsLoweredInPlace() {
        String body = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Summarise the news.\"}]}],"
                + "\"generationConfig\":{\"temperature\":0.2, \"maxOutputTokens\": 8192 ,\"topK\":40}}";
        long input = input(body);
        String subject = subjectWith(input + 1000);
        HttpResponse<String> r = post("/ai/gemini", subject, body);
        assertFitted(r, subject, body.replace("8192", "1000"), 1000, input + 1000, input + 1000);
    }

    @Test
    void escapedAndUnicodeTextBeforeTheBudgetKeepsItsBytes() {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"caf\u00e9 \u2713 \uD83D\uDE00 \\u00e9 "
                + "\\\"max_tokens\\\": 5000 \\\\\"}],\"max_tokens\":5000}";
        long input = input(body);
        String subject = subjectWith(input + 200);
        HttpResponse<String> r = post("/ai/chat", subject, body);
        String expected = body.substring(0, body.lastIndexOf("5000")) + "200}";
        assertFitted(r, subject, expected, 200, input + 200, input + 200);
    }

    @Test
    void aHugeBudgetIsFittedAsTheCappedOneItWasHeldAs() {
        String thousandDigits = "{\"prompt\":\"Tell me everything.\",\"max_tokens\":" + "9".repeat(1_000) + "}";
        long input = input(thousandDigits);
        String subject = subjectWith(input + 500);
        assertFitted(post("/ai/complete", subject, thousandDigits), subject,
                "{\"prompt\":\"Tell me everything.\",\"max_tokens\":500}", 500, input + 500, input + 500);

        String exponent = "{\"prompt\":\"Tell me everything.\",\"max_tokens\":1e30}";
        String other = subjectWith(input(exponent) + 700);
        assertFitted(post("/ai/complete", other, exponent), other,
                "{\"prompt\":\"Tell me everything.\",\"max_tokens\":700}", 700, input(exponent) + 700, input(exponent) + 700);
    }

    @Test
    void aBodyWithoutABudgetIsRefusedAsBefore() {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        // the default budget (1,000) does not fit; there is no field to lower
        String subject = subjectWith(input(body) + 500);
        assertRefused(post("/ai/chat", subject, body), subject, input(body) + 500);
    }

    @Test
    void aBatchIsRefusedAsBefore() {
        String body = "{\"requests\":[{\"custom_id\":\"a\",\"params\":{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                + "\"max_tokens\":5000}},{\"custom_id\":\"b\",\"params\":{\"messages\":[{\"role\":\"user\",\"content\":\"yo\"}],"
                + "\"max_tokens\":5000}}]}";
        String subject = subjectWith(2_000);
        assertRefused(post("/ai/batch", subject, body), subject, 2_000);
    }

    /**
     * A budget in the query string, which an endpoint may read instead of the body's
     * ({@code @RequestParam("max_tokens")}), cannot be rewritten: the body beside it is not fitted,
     * whether the query's budget is the larger or the smaller, and one above the cap is 422 even
     * though the body's own could be lowered to the cap.
     */
    @Test
    void aBodyBesideAQueryStringBudgetIsNotFitted() {
        long input = input(CHAT);
        String larger = subjectWith(input + 300);
        assertRefused(post("/ai/chat?max_tokens=16000", larger, CHAT), larger, input + 300);
        String smaller = subjectWith(input + 300);
        assertRefused(post("/ai/chat?max_tokens=100", smaller, CHAT), smaller, input + 300);
        String capped = subjectWith(ALLOWANCE - 1);
        HttpResponse<String> r = post("/ai/chat?max_tokens=20000", capped, CHAT.replace("5000", "20000"));
        assertEquals(422, r.statusCode(), r.body());
        assertNull(received.get(capped), "the endpoint was not called");
    }

    @Test
    void aReusedIdempotencyKeyIsStillAConflict() {
        long input = input(CHAT);
        String subject = subjectWith(input + 300);
        String key = UUID.randomUUID().toString();
        HttpResponse<String> first = post("/ai/chat", subject, CHAT, "Idempotency-Key", key);
        assertFitted(first, subject, CHAT.replace("\"max_tokens\":5000", "\"max_tokens\":300"), 300, input + 300,
                input + 300);
        received.remove(subject);
        HttpResponse<String> again = post("/ai/chat", subject, CHAT, "Idempotency-Key", key);
        assertEquals(409, again.statusCode(), again.body());
        assertNull(received.get(subject), "a key buys one model call");
    }

    @Test
    void aChunkedBodyIsFittedAndStillHasNoLength() {
        long input = input(CHAT);
        String subject = subjectWith(input + 300);
        HttpRequest request = TestHttp.request(container.uri("/ai/chat"), "x-user-id", subject,
                        "Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(
                        () -> new ByteArrayInputStream(CHAT.getBytes(StandardCharsets.UTF_8))))
                .build();
        HttpResponse<String> r = TestHttp.send(request);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("300", r.headers().firstValue(QuotaFilter.OUTPUT_CAPPED_HEADER).orElse(null));
        Received got = received.get(subject);
        assertArrayEquals(CHAT.replace("\"max_tokens\":5000", "\"max_tokens\":300").getBytes(StandardCharsets.UTF_8),
                got.body());
        assertEquals(-1, got.contentLength());
        assertNull(got.contentLengthHeader());
    }
}
