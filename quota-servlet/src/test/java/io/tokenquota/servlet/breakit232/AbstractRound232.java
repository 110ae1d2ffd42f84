package io.tokenquota.servlet.breakit232;

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
 * Round 232 of issue 11: the month turns while a call's commit is being tried again.
 *
 * <p>An agent call (async event stream, max_tokens 4,000: 4,006 held) starts at 23:58 on the last day of
 * June and reports 9,000 tokens of usage. Its commit cannot land (the ledger the filter writes through
 * refuses commits and extensions: a failover), so it is tried again in the background while the clock
 * passes midnight. The call must be charged its 9,000 tokens (to June, the hold's month), whether the
 * store comes back within the hold's TTL, after it (the hold expired by another instance's sweep), or
 * after the user's first July call.
 */
abstract class AbstractRound232 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long PROMPT = 1_500;
    static final long COMPLETION = 7_500;

    final MutableClock clock = new MutableClock(Instant.parse("2031-06-30T23:58:00Z"));
    ClockedStore clocked;

    static final Set<String> DOWN = ConcurrentHashMap.newKeySet();
    static final Map<String, CountDownLatch> REFUSED = new ConcurrentHashMap<>();

    static String subject() {
        return "u232-" + UUID.randomUUID().toString().substring(0, 12);
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
                .filter("quota-c", filterFor(troubled, "/tc/").build(), "/tc/*")
                .filter("quota-b", filterFor(c, "/tb/").build(), "/tb/*")
                .servlet("ai", new Model(), "/ai/*")
                .servlet("tc", new Model(), "/tc/*")
                .servlet("tb", new Model(), "/tb/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

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
            resp.setContentType("application/json");
            resp.getWriter().write(ChatCompletions.completion("chatcmpl-2-" + s, "gpt-4o", "Short.", 20, 80));
        }
    }

    static final String AGENT = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"max_tokens\":4000,\"messages\":[{\"role\":\"user\",\"content\":\"Research lithium carbonate suppliers.\"}]}";
    static final String SHORT = "{\"model\":\"gpt-4o\",\"max_tokens\":100,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Say hi.\"}]}";

    /** The month the test's call is held in: each test starts at 23:58 on the last day of a later month. */
    YearMonth held;

    void agentCallWhoseCommitCannotLand(String s) throws Exception {
        YearMonth now = YearMonth.from(clock.instant().atZone(java.time.ZoneOffset.UTC));
        held = now.plusMonths(1);
        clock.set(held.atEndOfMonth().atTime(23, 58).toInstant(java.time.ZoneOffset.UTC));
        DOWN.add(s);
        REFUSED.put(s, new CountDownLatch(2));
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri("/tc/v1/agent"), s, AGENT));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"total_tokens\":" + (PROMPT + COMPLETION)), "the client got the usage chunk");
        assertTrue(REFUSED.get(s).await(15, TimeUnit.SECONDS), "the commit was tried");
    }

    String events(String s, YearMonth m) {
        return Ledgers.events(clocked.store(), s, m).toString();
    }

    /** June's account once the retried commit had time to land (bounded). */
    QuotaAccount heldMonth(String s) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        QuotaAccount a;
        do {
            a = clocked.store().account(s, held).orElseThrow();
            if (a.used() >= PROMPT + COMPLETION && a.reserved() == 0) {
                return a;
            }
            Thread.sleep(50);
        } while (System.nanoTime() < deadline);
        return a;
    }

    /** The store is back just after midnight, within the hold's TTL. */
    @Test
    void aCommitRetriedAcrossMidnightIsChargedToJune() throws Exception {
        String s = subject();
        agentCallWhoseCommitCannotLand(s);
        clock.advance(Duration.ofMinutes(3));
        DOWN.remove(s);
        QuotaAccount a = heldMonth(s);
        assertEquals(PROMPT + COMPLETION, a.used(), "June: " + a + " " + events(s, held));
    }

    /** Past midnight and past the hold's TTL; another instance sweeps; the user's July call comes first. */
    @Test
    void aCommitRetriedPastItsTtlAndASweepInJulyIsChargedToJune() throws Exception {
        String s = subject();
        agentCallWhoseCommitCannotLand(s);
        clock.advance(Duration.ofMinutes(7));
        clocked.store().expireStale();
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri("/tb/v1/chat"), s, SHORT));
        assertEquals(200, r.statusCode(), r.body());
        DOWN.remove(s);
        QuotaAccount a = heldMonth(s);
        assertEquals(PROMPT + COMPLETION, a.used(), "June: " + a + " " + events(s, held)
                + " July: " + events(s, held.plusMonths(1)));
    }
}
