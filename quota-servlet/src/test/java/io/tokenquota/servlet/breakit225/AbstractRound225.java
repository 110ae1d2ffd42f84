package io.tokenquota.servlet.breakit225;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
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
abstract class AbstractRound225 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long PROMPT = 1_500;
    static final long COMPLETION = 7_500;
    static final long SECOND = 14_000;

    final MutableClock clock = new MutableClock(Instant.parse("2031-06-10T12:00:00Z"));
    ClockedStore clocked;

    /** Subjects whose commits and extensions through the troubled ledger fail. */
    static final Set<String> DOWN = ConcurrentHashMap.newKeySet();
    /** Counted down by each failed commit attempt of a subject. */
    static final Map<String, CountDownLatch> REFUSED = new ConcurrentHashMap<>();

    static String subject() {
        return "u225-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        JdbiQuotaStore c = clocked.store();
        QuotaLedger troubled = new FailingLedger(c) {
            private String subjectOf(String id) {
                return c.reservation(id).map(Reservation::subject).orElse("?");
            }

            @Override
            protected void beforeCommit(String reservationId) {
                String s = subjectOf(reservationId);
                if (DOWN.contains(s)) {
                    CountDownLatch l = REFUSED.get(s);
                    if (l != null) l.countDown();
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection refused (test)");
                }
            }

            @Override
            protected void beforeExtend(String reservationId) {
                if (DOWN.contains(subjectOf(reservationId))) {
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection refused (test)");
                }
            }
        };
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                // the agent and chat prefixes, through the troubled ledger
                .filter("quota-c", filterFor(troubled, "/tc/").build(), "/tc/*")
                // another prefix of the same service, on the same store through another wrapper
                .filter("quota-b", filterFor(c, "/tb/").build(), "/tb/*")
                .servlet("ai", new Model(), "/ai/*")
                .servlet("tc", new Model(), "/tc/*")
                .servlet("tb", new Model(), "/tb/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    /**
     * {@code .../agent}: async event stream with a usage chunk of 9,000 tokens, then [DONE] and complete().
     * {@code .../chat}: a plain JSON completion reporting 14,000 tokens; the store is back by then.
     */
    static class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            CALLS.count(s);
            if (req.getRequestURI().endsWith("/agent")) {
                resp.setContentType("text/event-stream");
                AsyncContext async = req.startAsync(req, resp);
                async.setTimeout(0);
                async.start(() -> {
                    try {
                        OutputStream out = async.getResponse().getOutputStream();
                        String id = "chatcmpl-agent-" + s;
                        for (int i = 0; i < 30; i++) {
                            out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
                        }
                        out.write(ChatCompletions.usageEvent(id, PROMPT, COMPLETION).getBytes(StandardCharsets.UTF_8));
                        out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    } catch (IOException | RuntimeException e) {
                        // the client went
                    } finally {
                        async.complete();
                    }
                });
                return;
            }
            // the store is back once the next call reached the model
            DOWN.remove(s);
            resp.setContentType("application/json");
            resp.getWriter().write(ChatCompletions.completion("chatcmpl-2-" + s, "gpt-4o", "The long report.", 20, SECOND - 20));
        }
    }

    static final String AGENT = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"max_tokens\":4000,\"messages\":[{\"role\":\"user\",\"content\":\"Research lithium carbonate suppliers.\"}]}";
    static final String REPORT = "{\"model\":\"gpt-4o\",\"max_tokens\":14000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the full report.\"}]}";

    /** Runs the agent call through /tc/ with the troubled ledger down for {@code s}; returns once its commit was refused twice. */
    void agentCallWhoseCommitCannotLand(String s) throws Exception {
        DOWN.add(s);
        REFUSED.put(s, new CountDownLatch(2));
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri("/tc/v1/agent"), s, AGENT));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"total_tokens\":" + (PROMPT + COMPLETION)), "the client got the usage chunk");
        // the first attempt and the first background retry were refused: the settlement is being tried again
        assertTrue(REFUSED.get(s).await(15, TimeUnit.SECONDS), "the commit was tried");
    }

    String events(String s) {
        return Ledgers.events(clocked.store(), s, YearMonth.of(2031, 6)).toString();
    }

    /** The next call's outcome, and the account once everything landed (when it was served). */
    String outcome(String s, HttpResponse<String> r) throws InterruptedException {
        DOWN.remove(s);
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
