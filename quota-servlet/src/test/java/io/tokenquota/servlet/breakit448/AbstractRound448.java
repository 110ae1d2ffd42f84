package io.tokenquota.servlet.breakit448;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.HoldRequest;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.Reservation;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.MonthTurnRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 448 of issue 11: calls across a month's end through the filter (the rig of {@link MonthTurnRound}: H2 on a
 * clock the test moves, an agent's streamed chat completion that shows 15,000 on a hold of about 1,010 and stays open).
 *
 * <p>Shapes: OpenAI chat completions (platform.openai.com/docs/api-reference/chat/create; the streamed usage chunk
 * with {@code "choices": []} under {@code stream_options.include_usage}, .../chat-streaming), written by
 * {@link ChatCompletions}. Rules: docs/semantics.md "Holds that outlive their month" (a late charge takes purchased
 * tokens from the latest month, then from what closed months between hold, newest first), docs/servlet.md step 5
 * (quota headers) and the settlement section (a call held in an earlier month owes the new month only what its late
 * charge will take from it).
 */
abstract class AbstractRound448 extends MonthTurnRound {
    /** The rig's "January" is December 2033: its second month January 2034; February is reached by moving on. */
    static final YearMonth DEC = YearMonth.of(2033, 12);
    static final YearMonth JAN = YearMonth.of(2034, 1);
    static final YearMonth FEB = YearMonth.of(2034, 2);
    static final long PURCHASED = 10_000;

    AbstractRound448() {
        super(DEC, "fit");
    }

    @Override
    protected QuotaFilter secondFilter(ClockedStore clocked) {
        return filterFor(clocked.store(), "/fit/").fitOutputBudget(256).build();
    }

    /** {@link #FIRST_BODY}: 200 + 7,800; {@link #SECOND_BODY}: 300 + 11,700 ({@link #firstOrSecond}). */
    @Override
    protected Usage plainUsage(String s, String body) {
        return firstOrSecond(maxTokens(body));
    }

    private HttpResponse<String> post(String s, String body) throws Exception {
        return TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, body);
    }

    private static long remaining(HttpResponse<String> r) {
        return Long.parseLong(r.headers().firstValue("X-Quota-Remaining").orElse("-1"));
    }

    private static String rateLimit(HttpResponse<String> r) {
        return r.headers().firstValue("RateLimit").orElse("none");
    }

    // ------------------------------------------------------------------ 1. the open point: months between

    /**
     * December 31st: 10,000 bought, December's 20,000 allowance spent (23:50), the agent's stream held at 23:58 out
     * of the purchased tokens and showing 15,000. January 31st: January's allowance spent, and a long hold of 10,000
     * (a batch job's, taken straight on the ledger) holds every purchased token January carried from December. February
     * 1st, 00:01, the December stream still open: 5,000 bought. February has 20,000 + 5,000. December's late charge
     * will take its 10,000 purchased tokens: the 5,000 of February first, then 5,000 of what January holds
     * ({@code LedgerRules.heldTake}); the filter's guard counts only {@code min(10,000, February's 5,000)}, the take
     * from February (the documented open point: what months between give is ignored). Does that refuse a call that
     * fits or admit one that does not? February keeps 20,000 once that lands: a call asking 16,000 (charged 12,000)
     * fits and must be served; then a call asking 8,000 (about 8,010 held) no longer fits the 8,000 left: 429.
     * Right: 200 then 429; February 20,000 allocated, 5,000 granted and -5,000 carried (taken), used 12,000. Passes:
     * the guard prices February's take as the ledger does; what January gives is never February's (a control).
     */
    @Test
    void theMonthsBetweenNeitherRefuseAFittingCallNorAdmitAnOverspendingOne() throws Exception {
        String s = subject();
        var store = clocked.store();
        clock.set(Instant.parse("2033-12-31T23:50:00Z"));
        store.grant(PurchaseRequest.grant("tx-dec-" + s, s, PURCHASED, PurchaseType.PURCHASE, "pack"));
        store.consume(s, ALLOWANCE, null);
        clock.set(Instant.parse("2033-12-31T23:58:00Z"));
        var stream = streamShowingUsage("/ai/", s);
        clock.set(Instant.parse("2034-01-31T23:50:00Z"));
        store.consume(s, ALLOWANCE, null);
        Reservation batch = store.reserve(HoldRequest.of(s, PURCHASED).ttl(Duration.ofDays(3)).build()).reservation();
        clock.set(Instant.parse("2034-02-01T00:01:00Z"));
        store.grant(PurchaseRequest.grant("tx-feb-" + s, s, 5_000, PurchaseType.PURCHASE, "pack"));
        HttpResponse<String> fits = post(s, SECOND_BODY);
        month(s, FEB, fits.statusCode() == 200 ? SECOND : 0);
        HttpResponse<String> over = post(s, FIRST_BODY);
        endStream(s, stream);
        QuotaAccount dec = month(s, DEC, ALLOWANCE + STREAM);
        QuotaAccount feb = month(s, FEB, (fits.statusCode() == 200 ? SECOND : 0) + (over.statusCode() == 200 ? FIRST : 0));
        store.release(batch.id());
        QuotaAccount jan = store.account(s, JAN).orElseThrow();
        assertAll(() -> assertEquals(200, fits.statusCode(), kind() + ": a call that fits February's 20,000 refused: "
                        + fits.body() + " " + events(s)),
                () -> assertEquals(429, over.statusCode(), kind() + ": a call past what February keeps admitted: "
                        + over.body() + " " + events(s)),
                () -> assertEquals(ALLOWANCE + STREAM, dec.used(), "December: " + dec),
                () -> assertEquals(ALLOWANCE, jan.used(), "January: " + jan),
                // the take lands on carried (docs/semantics.md: "moves to the subject's latest account's carried")
                () -> assertEquals(List.of(ALLOWANCE, 5_000L, -5_000L, SECOND, 0L), view(feb), "February: " + feb),
                () -> assertEquals(ALLOWANCE - SECOND, feb.available(), "February: " + feb + " " + events(s)));
    }

    // ------------------------------------------------------------------ 2. the quota headers at the turn

    /**
     * December 31st, 23:57: 10,000 bought, December's allowance spent; 23:58: the agent's stream held (about 1,010 of
     * the purchased tokens) and showing 15,000, so January carries the other ~8,990, all owed to its late charge. The
     * clock is left at January 1st, 00:01, the stream open.
     */
    private Open decemberStreamOwingCarried(String s) throws Exception {
        var store = clocked.store();
        clock.set(Instant.parse("2033-12-31T23:57:00Z"));
        store.grant(PurchaseRequest.grant("tx-" + s, s, PURCHASED, PurchaseType.PURCHASE, "pack"));
        store.consume(s, ALLOWANCE, null);
        clock.set(Instant.parse("2033-12-31T23:58:00Z"));
        var stream = streamShowingUsage("/ai/", s);
        clock.set(Instant.parse("2034-01-01T00:01:00Z"));
        return stream;
    }

    /**
     * December 31st: 10,000 bought, the allowance spent, the agent's stream held (about 1,010 of the
     * purchased tokens) and showing 15,000; January opens carrying the other ~8,990, all of which the stream's late
     * charge takes back (round 433's control). At 00:01 on January 1st a call asking 8,000 is served: its {@code X-Quota-Remaining}
     * and {@code RateLimit r} (docs/servlet.md step 5: they "already count this request's hold") should say what the
     * user can still spend: 20,000 less that hold, as for a user with nothing running (a second, fresh subject's same
     * call tells the hold). The filter itself refuses the next call for what the stream owes; headers that show the
     * carried tokens as spendable invite it (a client pacing itself on {@code RateLimit} sends a call of that size and
     * gets 429).
     */
    @Test
    void theHeadersOfAJanuaryCallDoNotOfferWhatTheDecemberStreamOwes() throws Exception {
        String s = subject();
        String fresh = subject();
        var stream = decemberStreamOwingCarried(s);
        HttpResponse<String> first = post(s, FIRST_BODY);
        HttpResponse<String> control = post(fresh, FIRST_BODY);
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, FIRST);
        long firstRemaining = remaining(first);
        String firstRateLimit = rateLimit(first);
        long freshRemaining = remaining(control);
        assertAll(() -> assertEquals(200, first.statusCode(), first.body()),
                () -> assertEquals(200, control.statusCode(), control.body()),
                () -> assertEquals(freshRemaining, firstRemaining, kind() + ": X-Quota-Remaining of a call served while"
                        + " the December stream owes every carried token; RateLimit " + firstRateLimit
                        + "; January once it landed " + jan + " " + events(s)),
                () -> assertEquals(ALLOWANCE - FIRST, jan.available(), "January: " + jan + " " + events(s)));
    }

    /** Control: the same call once the December stream has ended: its headers say 20,000 less its hold. */
    @Test
    void controlTheHeadersAfterTheDecemberStreamEnded() throws Exception {
        String s = subject();
        String fresh = subject();
        var stream = decemberStreamOwingCarried(s);
        endStream(s, stream);
        month(s, DEC, ALLOWANCE + STREAM);
        HttpResponse<String> first = post(s, FIRST_BODY);
        HttpResponse<String> control = post(fresh, FIRST_BODY);
        QuotaAccount jan = month(s, JAN, FIRST);
        assertAll(() -> assertEquals(200, first.statusCode(), first.body()),
                () -> assertEquals(remaining(control), remaining(first), rateLimit(first) + " " + events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, FIRST, 0L), view(jan), "January: " + jan + " " + events(s)));
    }
}
