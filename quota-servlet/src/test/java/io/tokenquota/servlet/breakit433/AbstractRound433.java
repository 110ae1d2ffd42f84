package io.tokenquota.servlet.breakit433;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.MonthTurnRound;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import java.net.http.HttpResponse;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
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
 * default, 20,000 a month) and round 430's January stream, both from {@link MonthTurnRound}. {@code /ai/}: a plain
 * filter; {@code /fit/}: a second filter on the same store with {@code fitOutputBudget(256)}.
 */
abstract class AbstractRound433 extends MonthTurnRound {
    static final YearMonth JAN = YearMonth.of(2032, 1);
    static final YearMonth FEB = YearMonth.of(2032, 2);
    /** Bought in January: carried to February (rollover on). */
    static final long PURCHASED = 10_000;
    /** Per subject: the max_tokens each plain request reached the model with. */
    private final Map<String, List<Long>> budgets = new ConcurrentHashMap<>();

    AbstractRound433() {
        super(JAN, "fit");
    }

    @Override
    protected QuotaFilter secondFilter(ClockedStore clocked) {
        return filterFor(clocked.store(), "/fit/").fitOutputBudget(256).build();
    }

    /**
     * A plain request (its max_tokens noted in {@link #budgets}): February's first call (max_tokens 8,000) uses
     * 200 + 7,800, its second (16,000) 300 + 11,700 ({@link #firstOrSecond}; the stream, {@link MonthTurnRound}'s:
     * 1,000 + 14,000).
     */
    @Override
    protected Usage plainUsage(String s, String body) {
        long budget = maxTokens(body);
        budgets.computeIfAbsent(s, k -> new CopyOnWriteArrayList<>()).add(budget);
        return firstOrSecond(budget);
    }

    /** January 31st, 23:57: the user buys 10,000 tokens (a purchase, carried to February with rollover on). */
    void buyInJanuary(String s) {
        clock.set(Instant.parse("2032-01-31T23:57:00Z"));
        clocked.store().grant(PurchaseRequest.grant("tx-" + s, s, PURCHASED, PurchaseType.PURCHASE, "pack"));
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
        var stream = streamShowingUsage("/ai/", s);
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
        var stream = streamShowingUsage("/ai/", s);
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
        var stream = streamShowingUsage("/ai/", s);
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
        var stream = streamShowingUsage("/ai/", s);
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
