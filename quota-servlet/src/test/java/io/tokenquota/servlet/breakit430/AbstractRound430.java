package io.tokenquota.servlet.breakit430;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.MonthTurnRound;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 430 of issue 11: the month turn and long calls over real HTTP, on the SQL store (a {@link ClockedStore}: H2
 * with a {@link MutableClock} the test moves; the rig is {@link MonthTurnRound}, which round 433
 * shares). An agent's streamed chat completion (OpenAI's streaming format with
 * {@code stream_options.include_usage}: platform.openai.com/docs/api-reference/chat/create and
 * .../chat-streaming, the usage chunk with {@code "choices": []}, as {@link ChatCompletions} writes it) is held in
 * January, shows its usage (15,000 tokens on a ~1,000-token hold), and ends in February. docs/semantics.md, "Holds that
 * outlive their month": the hold's charge goes to January; a late charge beyond the hold touches a later month only by
 * taking back purchased tokens it carried (none here), so February's allowance is untouched.
 *
 * <p>{@code /ai/} is a filter on the clocked store; {@code /tc/} a filter on the same store through a ledger whose
 * {@code extend} fails for the subjects in {@link #down} (the hold keeper cannot reach the store for a while), with a
 * one-minute hold TTL.
 */
abstract class AbstractRound430 extends MonthTurnRound {
    static final YearMonth JAN = YearMonth.of(2031, 1);
    static final YearMonth FEB = YearMonth.of(2031, 2);
    /** A plain (not streamed) call's usage. */
    static final long CALL_PROMPT = 200;
    static final long CALL_COMPLETION = 7_800;
    static final long CALL = CALL_PROMPT + CALL_COMPLETION;

    /** A plain chat completion asking for up to 8,000 output tokens. */
    static final String CALL_BODY = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":8000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the audit report.\"}]}";
    /** A small plain chat completion (max_tokens 500). */
    static final String SMALL_BODY = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":500,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}";
    static final long SMALL = 400;

    /** Subjects whose hold extensions through /tc/ fail (STORE_UNAVAILABLE). */
    protected final Set<String> down = ConcurrentHashMap.newKeySet();

    AbstractRound430() {
        super(JAN, "tc");
    }

    @Override
    protected QuotaFilter secondFilter(ClockedStore clocked) {
        JdbiQuotaStore c = clocked.store();
        QuotaLedger troubled = new FailingLedger(c) {
            @Override
            protected void beforeExtend(String reservationId) {
                String s = c.reservation(reservationId).map(Reservation::subject).orElse("?");
                if (down.contains(s)) {
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection refused (test)");
                }
            }
        };
        return filterFor(troubled, "/tc/").holdTtl(Duration.ofMinutes(1)).build();
    }

    /** A plain request: 200 + 7,800, or 100 + 300 when it asks for at most 500 tokens. */
    @Override
    protected Usage plainUsage(String s, String body) {
        boolean small = body.contains("\"max_tokens\":500");
        return new Usage(small ? 100 : CALL_PROMPT, small ? 300 : CALL_COMPLETION);
    }

    // ------------------------------------------------------------------ 1. a January overrun and February's room

    /**
     * January 31st, 23:58: the agent's stream is held (about 1,000 tokens) and shows its usage, 15,000. At 00:01 on
     * February 1st, with the stream still open, the user makes a plain call asking for 8,000 output tokens. February
     * is a fresh month: 20,000 allowance, nothing used, nothing held (the January call's charge, hold and overrun
     * alike, is January's: docs/semantics.md "Holds that outlive their month"; no purchased tokens exist for a late
     * charge to take back). Right: the February call is served (200) and charged 8,000 to February; the stream
     * charged 15,000 to January. Found and fixed: the filter counted the January call's overrun (15,000 less its hold)
     * against February's allowance ({@code HoldKeeper.beforeReserve} / {@code UnlandedCharges.owed} ignored the hold's
     * month) and refused the call 429.
     */
    @Test
    void aJanuaryStreamsOverrunDoesNotRefuseAFebruaryCall() throws Exception {
        String s = subject();
        clock.set(Instant.parse("2031-01-31T23:58:00Z"));
        var stream = streamShowingUsage("/ai/", s);
        clock.set(Instant.parse("2031-02-01T00:01:00Z"));
        HttpResponse<String> feb = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, CALL_BODY);
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, STREAM);
        QuotaAccount febAccount = month(s, FEB, feb.statusCode() == 200 ? CALL : 0);
        assertAll(() -> assertEquals(200, feb.statusCode(), kind() + ": February's first call, its month untouched,"
                        + " refused: " + feb.body() + " " + feb.headers().map()),
                () -> assertEquals(STREAM, jan.used(), "January: " + jan + " " + events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, CALL, 0L), view(febAccount),
                        "February: " + febAccount + " " + events(s)),
                () -> assertEquals(2, calls.of(s), "model calls"));
    }

    /**
     * Control: the same two calls, the February call made once the January stream has ended (charged 15,000 to
     * January): served, 8,000 charged to February.
     */
    @Test
    void controlTheFebruaryCallAfterTheJanuaryStreamEnded() throws Exception {
        String s = subject();
        clock.set(Instant.parse("2031-01-31T23:58:00Z"));
        var stream = streamShowingUsage("/ai/", s);
        clock.set(Instant.parse("2031-02-01T00:01:00Z"));
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, STREAM);
        HttpResponse<String> feb = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, CALL_BODY);
        QuotaAccount febAccount = month(s, FEB, CALL);
        assertAll(() -> assertEquals(200, feb.statusCode(), feb.body()),
                () -> assertEquals(STREAM, jan.used(), "January: " + jan + " " + events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, CALL, 0L), view(febAccount), "February: " + febAccount),
                () -> assertEquals("2031-03-01T00:00:00Z", feb.headers().firstValue("X-Quota-Reset").orElse(null)),
                () -> assertEquals(2, calls.of(s), "model calls"));
    }

    // ------------------------------------------------------------------ 2. the keeper cannot reach the store

    /**
     * /tc/ (hold TTL one minute): the January stream is held at 23:58 and shows 15,000; its keeper cannot extend
     * the hold (STORE_UNAVAILABLE on extend), and at 00:05 on February 1st the user's small February call (max_tokens
     * 500) expires the January hold at its reserve. The January call still runs and ends: a late commit of its
     * usage to January (docs/semantics.md, "Late commit"; "Holds that outlive their month"). Right: January used
     * 15,000, February used 400 (the small call), nothing held.
     */
    @Test
    void aJanuaryStreamWhoseHoldLapsedAcrossTheTurnIsChargedToJanuary() throws Exception {
        String s = subject();
        clock.set(Instant.parse("2031-01-31T23:58:00Z"));
        down.add(s);
        var stream = streamShowingUsage("/tc/", s);
        clock.set(Instant.parse("2031-02-01T00:05:00Z"));
        HttpResponse<String> feb = TestHttp.postJson(container.uri("/tc/v1/chat/completions"), s, SMALL_BODY);
        down.remove(s);
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, STREAM);
        QuotaAccount febAccount = month(s, FEB, SMALL);
        assertAll(() -> assertEquals(200, feb.statusCode(), feb.body()),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, STREAM, 0L), view(jan), "January: " + jan + " " + events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, SMALL, 0L), view(febAccount),
                        "February: " + febAccount + " " + events(s)),
                () -> assertEquals(2, calls.of(s), "model calls"));
    }

    // ------------------------------------------------------------------ 3. an Idempotency-Key across the turn

    /**
     * A call with {@code Idempotency-Key} on January 31st, 23:58 (charged 8,000 to January), then the same request
     * with the same key on February 1st, 00:01 (a client's retry after a timeout: the IETF draft
     * draft-ietf-httpapi-idempotency-key-header, "Idempotency-Key" request header). docs/servlet.md step 4: "A key
     * buys at most one model call": 409 with February's quota headers (reset March 1st, 20,000 remaining), the model
     * called once, January 8,000, February nothing.
     */
    @Test
    void anIdempotencyKeyRepeatedAcrossTheTurnBuysNoSecondCall() throws Exception {
        String s = subject();
        String key = "retry-" + UUID.randomUUID();
        clock.set(Instant.parse("2031-01-31T23:58:00Z"));
        HttpResponse<String> jan = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, CALL_BODY,
                "Idempotency-Key", key);
        month(s, JAN, CALL);
        clock.set(Instant.parse("2031-02-01T00:01:00Z"));
        HttpResponse<String> again = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, CALL_BODY,
                "Idempotency-Key", key);
        QuotaAccount janAccount = month(s, JAN, CALL);
        QuotaAccount febAccount = clocked.store().account(s);
        assertAll(() -> assertEquals(200, jan.statusCode(), jan.body()),
                () -> assertEquals(409, again.statusCode(), again.body()),
                () -> assertEquals("2031-03-01T00:00:00Z", again.headers().firstValue("X-Quota-Reset").orElse(null)),
                () -> assertEquals("20000", again.headers().firstValue("X-Quota-Remaining").orElse(null)),
                () -> assertEquals(CALL, janAccount.used(), events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, 0L, 0L), view(febAccount), events(s)),
                () -> assertEquals(1, calls.of(s), "model calls"));
    }
}
