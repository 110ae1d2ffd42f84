package io.tokenquota.servlet.breakit225;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.StoreOutageRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 225 of issue 11: served past the allowance while a charge has not landed.
 *
 * <p>An agent call (an SseEmitter-style async stream) holds its estimate (4,006 tokens: max_tokens 4,000)
 * and reports usage 9,000. Its commit cannot land: the ledger the filter writes through is away
 * ({@code STORE_UNAVAILABLE} on commit and extend), so the settlement is tried again in the background and
 * counted as owing {@code 9,000 - 4,006 = 4,994} beyond its hold. The outage lasts six minutes, past the
 * 5-minute hold TTL, so the hold lapses (the keeper's extensions fail meanwhile) and the store expires it at
 * the user's next reserve. docs/servlet.md: "A running call whose hold lapsed anyway (...) counts against the
 * user's next calls on this instance by its whole charge so far, not by what it charges beyond a hold it no
 * longer has, until it settles"; a hold "is kept until its settlement has landed (also while a commit the
 * store could not take is tried again)". So the user's next call, asking for max_tokens 14,000 (14,005
 * held), must be refused: 9,000 + 14,005 > 20,000. The filter counts the retried settlement by the
 * 4,994 fixed when its settlement started, admits the call (14,005 + 4,994 = 18,999), and the account
 * ends at 9,000 + 14,000 = 23,000 on a 20,000 allowance.
 */
abstract class AbstractRound225 extends StoreOutageRound {
    static final long SECOND = 14_000;
    static final String REPORT = "{\"model\":\"gpt-4o\",\"max_tokens\":14000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the full report.\"}]}";

    AbstractRound225() {
        super(Instant.parse("2031-06-10T12:00:00Z"));
    }

    static String subject() {
        return "u225-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** A plain JSON completion reporting 14,000 tokens; the store is back once this call reached the model. */
    @Override
    protected String chatAnswer(String s) {
        down.remove(s);
        return ChatCompletions.completion("chatcmpl-2-" + s, "gpt-4o", "The long report.", 20, SECOND - 20);
    }

    String events(String s) {
        return events(s, YearMonth.of(2031, 6));
    }

    /** The next call's outcome, and the account once everything landed (when it was served). */
    String outcome(String s, HttpResponse<String> r) throws InterruptedException {
        down.remove(s);
        QuotaAccount a = Ledgers.chargedAtLeast(clocked.store(), s, PROMPT + COMPLETION + (r.statusCode() == 200 ? SECOND : 0));
        return "next call answered " + r.statusCode() + "; account used " + a.used() + " of " + a.limit()
                + " once landed: " + events(s);
    }

    /** Control: the outage is short (no TTL passes): the next call is refused, its hold plus 4,994 owed do not fit. */
    @Test
    void controlWithinTheTtlTheNextCallIsRefused() throws Exception {
        String s = subject();
        agentCallWhoseCommitCannotLand(s);
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri("/tc/v1/chat"), s, REPORT));
        String o = outcome(s, r);
        assertEquals(429, r.statusCode(), o);
    }

    /**
     * The attack, one filter: the outage of the ledger's writes lasts six minutes (past the TTL). The
     * store answers reads and reserves again (a partial outage) while commits are still refused; the
     * user's next call through the same filter is admitted.
     */
    @Test
    void aRetriedSettlementWhoseHoldLapsedCountsItsWholeChargeOnTheSameFilter() throws Exception {
        String s = subject();
        agentCallWhoseCommitCannotLand(s);
        clock.advance(Duration.ofMinutes(6));
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri("/tc/v1/chat"), s, REPORT));
        String o = outcome(s, r);
        assertEquals(429, r.statusCode(), "9,000 owed by a retried settlement whose 4,006 hold lapsed + a 14,005 hold"
                + " do not fit 20,000: " + o);
    }

    /**
     * The attack, two filters: the /tc/ filter's ledger wrapper is still failing (its commits and its
     * extensions of the hold: a circuit breaker open, a broken pool) for six minutes; the user's next call
     * goes to /tb/, another filter of the service on the same store, whose reserve expires the lapsed hold
     * ("expired by a reserve through another filter of the service").
     */
    @Test
    void aRetriedSettlementWhoseHoldLapsedCountsItsWholeChargeThroughAnotherFilter() throws Exception {
        String s = subject();
        agentCallWhoseCommitCannotLand(s);
        clock.advance(Duration.ofMinutes(6));
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri("/tb/v1/chat"), s, REPORT));
        String o = outcome(s, r);
        assertEquals(429, r.statusCode(), "9,000 owed by a retried settlement whose 4,006 hold lapsed + a 14,005 hold"
                + " do not fit 20,000: " + o);
    }

    /**
     * The same with the stale-hold sweep of another instance run during the outage (the /tc/ wrapper only
     * refuses commits there): the next call through /tb/ finds the hold expired.
     */
    @Test
    void aRetriedSettlementWhoseHoldWasSweptCountsItsWholeChargeThroughAnotherFilter() throws Exception {
        String s = subject();
        agentCallWhoseCommitCannotLand(s);
        clock.advance(Duration.ofMinutes(6));
        clocked.store().expireStale();
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri("/tb/v1/chat"), s, REPORT));
        String o = outcome(s, r);
        assertEquals(429, r.statusCode(), "9,000 owed by a retried settlement whose swept 4,006 hold + a 14,005 hold"
                + " do not fit 20,000: " + o);
    }
}
