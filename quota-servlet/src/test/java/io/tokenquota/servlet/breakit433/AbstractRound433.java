package io.tokenquota.servlet.breakit433;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 433 of issue 11: what a January call that has not landed owes February (round 430's
 * {@code UnlandedCharges.Owed#against}), with rollover on (the policy's default) and purchased tokens carried.
 *
 * <p>docs/semantics.md "Holds that outlive their month" and docs/servlet.md: a call held in an earlier month "owes the
 * new month only what its late charge will take from it". The ledger's rule ({@code LedgerRules.lateTransfer}) takes
 * from the latest month the change of the closed month's purchased consumption,
 * {@code clamp(used + reserved - allocated, 0, granted + carried)}: a January overrun that stays inside January's own
 * allowance consumes no purchased token and takes nothing from February. {@code Owed.against} instead counts
 * {@code min(overrun, February's granted + carried)} whatever January's allowance left, so February is refused (or its
 * budget cut) for tokens the late charge will never take.
 *
 * <p>Shapes: OpenAI chat completions (platform.openai.com/docs/api-reference/chat/create; the streamed usage chunk with
 * {@code "choices": []} under {@code stream_options.include_usage}, .../chat-streaming), written by
 * {@link ChatCompletions}. Store: a {@link ClockedStore} (H2, {@link MutableClock}, rollover of purchased tokens on by
 * default, 20,000 a month). {@code /ai/}: a plain filter; {@code /fit/}: a second filter on the same store with
 * {@code fitOutputBudget(256)}.
 */
abstract class AbstractRound433 extends H2FilterRound {
    static final YearMonth JAN = YearMonth.of(2032, 1);
    static final YearMonth FEB = YearMonth.of(2032, 2);
    /** Bought in January: carried to February (rollover on). */
    static final long PURCHASED = 10_000;
    /** The January stream's usage: 15,000 on a hold of about 1,010 (max_tokens 1,000). */
    static final long STREAM = 15_000;
    /** February's first call (max_tokens 8,000): 200 + 7,800. */
    static final long FIRST = 8_000;
    /** February's second call (max_tokens 16,000, under the default output cap 16,384): 300 + 11,700. */
    static final long SECOND = 12_000;

    static final String STREAM_BODY = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"Plan the quarterly supplier audit.\"}]}";
    static final String FIRST_BODY = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":8000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the audit report.\"}]}";
    static final String SECOND_BODY = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":16000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the appendix.\"}]}";

    protected final MutableClock clock = new MutableClock(Instant.parse("2032-01-31T23:58:00Z"));
    protected ClockedStore clocked;
    protected final ModelCalls calls = new ModelCalls();
    /** Per subject: the max_tokens each plain request reached the model with. */
    private final Map<String, List<Long>> budgets = new ConcurrentHashMap<>();
    /** Per subject: the stream waits here after its usage chunk, before [DONE]. */
    private final Map<String, CountDownLatch> finish = new ConcurrentHashMap<>();

    private static final Pattern MAX_TOKENS = Pattern.compile("\"max_tokens\"\\s*:\\s*(\\d+)");

    static String subject() {
        return "u433-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        JdbiQuotaStore c = clocked.store();
        QuotaFilter ai = QuotaFilter.builder(c).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        QuotaFilter fit = QuotaFilter.builder(c).protect("/fit/").fitOutputBudget(256)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        return Deployment.create()
                .filter("quota-ai", ai, "/ai/*")
                .filter("quota-fit", fit, "/fit/*")
                .servlet("ai", new Model(), "/ai/*")
                .servlet("fit", new Model(), "/fit/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    /**
     * A streamed request: word chunks, the usage chunk (1,000 + 14,000), flushed; then it waits until the test lets
     * it end, then [DONE]. A plain request: a chat.completion with usage 200 + 7,800 when it asks at most 8,000
     * tokens, else 300 + 11,700.
     */
    private final class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String s = req.getHeader("x-user-id");
            calls.count(s);
            if (body.contains("\"stream\":true")) {
                resp.setContentType("text/event-stream");
                OutputStream out = resp.getOutputStream();
                String id = "chatcmpl-433-" + s;
                for (int i = 0; i < 5; i++) {
                    out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
                }
                out.write(ChatCompletions.usageEvent(id, 1_000, 14_000).getBytes(StandardCharsets.UTF_8));
                out.flush();
                CountDownLatch l = finish.get(s);
                if (l != null) {
                    try {
                        l.await(20, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                return;
            }
            Matcher m = MAX_TOKENS.matcher(body);
            long budget = m.find() ? Long.parseLong(m.group(1)) : -1;
            budgets.computeIfAbsent(s, k -> new CopyOnWriteArrayList<>()).add(budget);
            boolean first = budget <= 8_000;
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-433", "gpt-4o-mini", "Done.",
                    first ? 200 : 300, first ? 7_800 : 11_700).getBytes(StandardCharsets.UTF_8));
        }
    }

    record Open(HttpResponse<Stream<String>> response, java.util.Iterator<String> lines) {
    }

    /** Starts the subject's January stream and returns once the client has read its usage chunk. */
    Open streamShowingUsage(String s) throws Exception {
        finish.put(s, new CountDownLatch(1));
        HttpResponse<Stream<String>> r = TestHttp.client().send(
                TestHttp.jsonPost(container.uri("/ai/v1/chat/completions"), s, STREAM_BODY),
                HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, r.statusCode());
        java.util.Iterator<String> lines = r.body().iterator();
        boolean seen = false;
        while (!seen && lines.hasNext()) {
            seen = lines.next().contains("\"total_tokens\":" + STREAM);
        }
        assertTrue(seen, "the usage chunk");
        return new Open(r, lines);
    }

    void endStream(String s, Open stream) {
        finish.get(s).countDown();
        while (stream.lines().hasNext()) {
            stream.lines().next();
        }
    }

    /** January 31st, 23:57: the user buys 10,000 tokens (a purchase, carried to February with rollover on). */
    void buyInJanuary(String s) {
        clock.set(Instant.parse("2032-01-31T23:57:00Z"));
        clocked.store().grant(PurchaseRequest.grant("tx-" + s, s, PURCHASED, PurchaseType.PURCHASE, "pack"));
    }

    QuotaAccount month(String s, YearMonth m, long used) throws InterruptedException {
        return Ledgers.chargedAtLeast(clocked.store(), s, m, used).orElseThrow();
    }

    String events(String s) {
        return "January " + Ledgers.events(clocked.store(), s, JAN) + ", February " + Ledgers.events(clocked.store(), s, FEB);
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    // ------------------------------------------------------------------ 1. an overrun inside January's allowance

    /**
     * January: 20,000 allowance untouched, 10,000 bought. 23:58: the agent's stream is held (about 1,010) and shows
     * 15,000; January will be charged 15,000, within its own allowance, so its purchased consumption stays 0 and its
     * late charge takes nothing from February ({@code LedgerRules.lateTransfer}: delta 0). February opens with 20,000 +
     * 10,000 carried. At 00:01, the stream still open, a first call (8,000) is served, leaving 22,000; a second call
     * asks max_tokens 16,000 (estimate about 16,010): February has 22,000 and the late charge will take none of it.
     * Right: served (200), February used 20,000, carried 10,000 intact; January used 15,000. Found and fixed: it was 429, since
     * {@code Owed.against} counted min(13,990, 10,000) = 10,000 of February's carried tokens as owed, leaving 12,000.
     */
    @Test
    void aJanuaryOverrunInsideJanuarysAllowanceDoesNotRefuseFebruary() throws Exception {
        String s = subject();
        buyInJanuary(s);
        clock.set(Instant.parse("2032-01-31T23:58:00Z"));
        var stream = streamShowingUsage(s);
        clock.set(Instant.parse("2032-02-01T00:01:00Z"));
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, FIRST_BODY);
        month(s, FEB, first.statusCode() == 200 ? FIRST : 0);
        HttpResponse<String> second = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, SECOND_BODY);
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, STREAM);
        QuotaAccount feb = month(s, FEB, FIRST + (second.statusCode() == 200 ? SECOND : 0));
        assertAll(() -> assertEquals(200, first.statusCode(), first.body()),
                () -> assertEquals(200, second.statusCode(), kind() + ": February's second call, 22,000 left of which"
                        + " January's late charge takes none, refused: " + second.body()),
                () -> assertEquals(STREAM, jan.used(), "January: " + jan + " " + events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, PURCHASED, FIRST + SECOND, 0L), view(feb),
                        "February: " + feb + " " + events(s)),
                () -> assertEquals(3, calls.of(s), "model calls"));
    }

    /**
     * The same with {@code fitOutputBudget(256)} (/fit/): the second call's max_tokens 16,000 fits February's 22,000
     * as asked, so it reaches the model unchanged and carries no {@code X-Quota-Output-Capped} (README "Fitting the
     * output budget": "If the request fits as asked it is held as asked"). Found and fixed: it was cut to what is left once 10,000
     * of carried tokens the late charge will not take were counted as owed.
     */
    @Test
    void aJanuaryOverrunInsideJanuarysAllowanceDoesNotCutFebruarysBudget() throws Exception {
        String s = subject();
        buyInJanuary(s);
        clock.set(Instant.parse("2032-01-31T23:58:00Z"));
        var stream = streamShowingUsage(s);
        clock.set(Instant.parse("2032-02-01T00:01:00Z"));
        HttpResponse<String> first = TestHttp.postJson(container.uri("/fit/v1/chat/completions"), s, FIRST_BODY);
        month(s, FEB, first.statusCode() == 200 ? FIRST : 0);
        HttpResponse<String> second = TestHttp.postJson(container.uri("/fit/v1/chat/completions"), s, SECOND_BODY);
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, STREAM);
        QuotaAccount feb = month(s, FEB, FIRST + (second.statusCode() == 200 ? 1 : 0));
        assertAll(() -> assertEquals(200, second.statusCode(), second.body()),
                () -> assertEquals(java.util.Optional.empty(), second.headers().firstValue("X-Quota-Output-Capped"),
                        kind() + ": a budget that fits February's 22,000 was cut"),
                () -> assertEquals(List.of(8_000L, 16_000L), budgets.get(s), "max_tokens the model saw"),
                () -> assertEquals(STREAM, jan.used(), "January: " + jan + " " + events(s)),
                () -> assertEquals(PURCHASED, feb.carried(), "February: " + feb + " " + events(s)));
    }

    /** Control: the same calls once the January stream has ended (its charge landed): both served, carried intact. */
    @Test
    void controlTheFebruaryCallsAfterTheJanuaryStreamEnded() throws Exception {
        String s = subject();
        buyInJanuary(s);
        clock.set(Instant.parse("2032-01-31T23:58:00Z"));
        var stream = streamShowingUsage(s);
        clock.set(Instant.parse("2032-02-01T00:01:00Z"));
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, STREAM);
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, FIRST_BODY);
        month(s, FEB, FIRST);
        HttpResponse<String> second = TestHttp.postJson(container.uri("/fit/v1/chat/completions"), s, SECOND_BODY);
        QuotaAccount feb = month(s, FEB, FIRST + SECOND);
        assertAll(() -> assertEquals(200, first.statusCode(), first.body()),
                () -> assertEquals(200, second.statusCode(), second.body()),
                () -> assertEquals(java.util.Optional.empty(), second.headers().firstValue("X-Quota-Output-Capped")),
                () -> assertEquals(List.of(8_000L, 16_000L), budgets.get(s), "max_tokens the model saw"),
                () -> assertEquals(STREAM, jan.used(), "January: " + jan + " " + events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, PURCHASED, FIRST + SECOND, 0L), view(feb),
                        "February: " + feb + " " + events(s)));
    }

    /**
     * Control: where the overrun does take carried tokens, the check still refuses. January's allowance is spent
     * (20,000 consumed at 23:57), so the stream's hold consumes 1,010 purchased tokens (February carries 8,990) and its
     * late charge of 15,000 takes the other 8,990 from February. The first February call (8,000) is served; the second
     * (about 16,010) would pass what February keeps once that charge lands (20,000 + 8,990 - 8,990 - 8,000 = 12,000):
     * 429. February ends with 8,000 used and 12,000 available.
     */
    @Test
    void controlAnOverrunThatTakesCarriedTokensStillRefuses() throws Exception {
        String s = subject();
        buyInJanuary(s);
        clocked.store().consume(s, ALLOWANCE, null);
        clock.set(Instant.parse("2032-01-31T23:58:00Z"));
        var stream = streamShowingUsage(s);
        clock.set(Instant.parse("2032-02-01T00:01:00Z"));
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, FIRST_BODY);
        month(s, FEB, FIRST);
        HttpResponse<String> second = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, SECOND_BODY);
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, ALLOWANCE + STREAM);
        QuotaAccount feb = month(s, FEB, FIRST);
        assertAll(() -> assertEquals(200, first.statusCode(), first.body()),
                () -> assertEquals(429, second.statusCode(), second.body()),
                () -> assertEquals(ALLOWANCE + STREAM, jan.used(), "January: " + jan + " " + events(s)),
                () -> assertEquals(FIRST, feb.used(), "February: " + feb + " " + events(s)),
                () -> assertEquals(12_000L, feb.available(), "February: " + feb + " " + events(s)),
                () -> assertEquals(2, calls.of(s), "model calls"));
    }
}
