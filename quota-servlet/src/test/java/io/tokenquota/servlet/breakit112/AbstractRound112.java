package io.tokenquota.servlet.breakit112;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.HeldAgent;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 112 of issue 11: timing and lifecycle. A long agent call (held about 16,000 of a 20,000
 * allowance, billed 15,000) is still running when time moves past its hold's TTL; the filter keeps
 * its hold (the hold keeper), and the user's next call must be refused while it runs. The store of
 * the {@code /tc/} and {@code /tb/} filters (one service, two protected prefixes, one database) reads
 * {@link #clock}, which the tests move forward: the instance's threads see no time pass meanwhile, as
 * after a pause of the whole process (a VM or container frozen and resumed, a host under memory
 * pressure swapping the JVM out, a long stop-the-world pause with a short {@code holdTtl}).
 */
abstract class AbstractRound112 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final Map<String, CountDownLatch> STARTED = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> GO = new ConcurrentHashMap<>();

    /** What the agent call bills (OpenAI usage). */
    static final long AGENT_USAGE = 15_000;

    /** An agent call held at about 16,000 tokens (its max_tokens). */
    static final String AGENT_BODY = "{\"model\":\"o3\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Plan and run the migration.\"}],\"max_tokens\":16000}";

    /** The clocked store's clock: 2031-06-10 12:00 UTC, moved forward by the tests (same month throughout). */
    final MutableClock clock = new MutableClock(Instant.parse("2031-06-10T12:00:00Z"));
    ClockedStore clocked;
    JdbiQuotaStore clockedStore;

    static String subject() {
        return "u112-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        clockedStore = clocked.store();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("agents-quota", clocked.filter("/tc/"), "/tc/*")
                .filter("batch-quota", clocked.filter("/tb/"), "/tb/*")
                .servlet("chat", new Chat(), "/ai/*")
                .servlet("agent", new Agent(), "/tc/*")
                .servlet("batch-agent", new Agent(), "/tb/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    static String completion(long total) {
        return ChatCompletions.completion("chatcmpl-112", "o3", "Done.", total - 100, 100);
    }

    /** {@code /ai/...}: a plain chat completion (the round's default filter needs an endpoint). */
    public static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            CALLS.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(completion(1_200).getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * An agent run: the user's first call waits in the model until the test lets it finish, a later
     * call answers at once; each bills {@link #AGENT_USAGE}.
     */
    public static class Agent extends HeldAgent {
        public Agent() {
            super(CALLS, STARTED, GO, Duration.ofSeconds(20), completion(AGENT_USAGE));
        }
    }

    URI agents() {
        return container.uri("/tc/v1/agent/run");
    }

    URI batch() {
        return container.uri("/tb/v1/agent/run");
    }

    /** Sends {@code s}'s first (long) agent call to {@code uri} and waits until it is in the model. */
    CompletableFuture<HttpResponse<String>> startLongCall(URI uri, String s) throws InterruptedException {
        STARTED.put(s, new CountDownLatch(1));
        GO.put(s, new CountDownLatch(1));
        CompletableFuture<HttpResponse<String>> running = TestHttp.client().sendAsync(TestHttp.jsonPost(uri, s, AGENT_BODY),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertTrue(STARTED.get(s).await(20, TimeUnit.SECONDS), "the first agent call of " + s + " is in the model");
        return running;
    }

    /**
     * Once the long call has ended: the second call was refused (429), the model ran once, and the month's
     * use is that one call's 15,000.
     */
    void assertSecondRefused(String s, String story, CompletableFuture<HttpResponse<String>> running,
                             HttpResponse<String> second) throws Exception {
        HttpResponse<String> first = running.get(30, TimeUnit.SECONDS);
        assertEquals(200, first.statusCode(), first.body());
        QuotaAccount account = Ledgers.chargedAtLeast(clockedStore, s, AGENT_USAGE * CALLS.of(s));
        String what = kind() + ": " + story + "; second call " + second.statusCode() + ", model calls " + CALLS.of(s)
                + ", used " + account.used() + " of " + account.limit() + ", events "
                + Ledgers.events(clockedStore, s, YearMonth.of(2031, 6));
        assertEquals(429, second.statusCode(), what);
        assertEquals(1, CALLS.of(s), what);
        assertEquals(AGENT_USAGE, account.used(), what);
    }

    void assertRefusedAfterAPause(Duration pause, URI next, String story) throws Exception {
        String s = subject();
        CompletableFuture<HttpResponse<String>> running = startLongCall(agents(), s);
        HttpResponse<String> second;
        try {
            clock.advance(pause);
            second = TestHttp.postJson(next, s, AGENT_BODY);
        } finally {
            GO.get(s).countDown();
        }
        assertSecondRefused(s, story, running, second);
    }

    // ------------------------------------------------------------------ holds of calls still running

    /**
     * Control: the instance is frozen for six minutes (more than the five-minute hold) while the user's
     * agent call runs; once it resumes, the user's next call comes to the same filter. Its reserve first
     * extends the subject's running holds (the hold keeper), so the running call's hold still counts and
     * the next call is refused.
     */
    @Test
    void aNextCallAfterAPauseThroughTheSameFilterIsRefused() throws Exception {
        assertRefusedAfterAPause(Duration.ofMinutes(6), agents(), "paused 6 min, next call through the same filter");
    }

    /**
     * The same pause, but while this instance was frozen the stale-hold sweep of another instance of the
     * service (Spring's {@code StaleHoldSweeper}, {@code quota.sweep-interval}; the demo's sweep) ran
     * against the shared database and expired the running call's hold, as it expires any hold past its
     * TTL. Once this instance resumes, the hold keeper's extension finds the hold EXPIRED and drops it
     * ({@code HoldKeeper.extendDue}); what the running call owes is still counted only beyond that hold
     * ({@code Settlement.owedSoFar}: {@code total - hold.held()}), although the hold no longer holds
     * anything. So the user's next call, to the same filter, finds the whole allowance free and reaches the
     * model; the first call is then charged as a late commit: 30,000 used of 20,000. Expected: 429, one
     * model call, 15,000 used.
     */
    @Test
    void aNextCallIsRefusedWhileTheRunningCallsHoldWasSweptDuringAPause() throws Exception {
        String s = subject();
        CompletableFuture<HttpResponse<String>> running = startLongCall(agents(), s);
        HttpResponse<String> second;
        int swept;
        try {
            clock.advance(Duration.ofMinutes(6));
            // the other instance's scheduled sweep, on the shared database
            swept = clockedStore.expireStale();
            second = TestHttp.postJson(agents(), s, AGENT_BODY);
        } finally {
            GO.get(s).countDown();
        }
        assertSecondRefused(s, "paused 6 min, another instance's sweep expired " + swept
                + " hold(s), next call through the same filter", running, second);
    }

    /**
     * The same pause, no sweep; the user's next call goes to the service's other protected prefix
     * ({@code /tb/}, a second {@code QuotaFilter} over the same store, as docs/servlet.md allows: "a service
     * with two filters (two prefixes, two wrappers of one store)"). The record of unlanded charges is shared
     * by every filter of the JVM, but each filter's hold keeper extends only its own calls' holds before a
     * reserve ({@code HoldKeeper.beforeReserve} of the {@code /tb/} filter knows nothing of the
     * {@code /tc/} call). So the {@code /tb/} reserve expires the running call's past-TTL hold and is
     * granted from it; the first call is charged late. Expected: 429, one model call, 15,000 used.
     */
    @Test
    void aNextCallThroughTheServicesOtherFilterIsRefusedAfterAPause() throws Exception {
        assertRefusedAfterAPause(Duration.ofMinutes(6), batch(),
                "paused 6 min, next call through the service's other filter (/tb/)");
    }

    /**
     * A call that stays open for more than an hour: a streamed answer its client reads slowly (the client
     * decides how long a call lasts, docs/servlet.md), or an agent run with many tool calls. The hold
     * keeper gives a hold up after an hour ({@code HoldKeeper.MAX_KEPT}, meant for a settlement that never
     * comes) and, in the same step, forgets what the call owes ({@code unlanded.landed(hold)}), although the
     * call is still in the filter chain and will be charged. The user's next call finds the allowance free
     * and reaches the model; both are charged, 30,000 of 20,000, and a client can repeat it every hour.
     * Here the keeper's own schedule does not run in the hour (the instance's clock is the store's, moved
     * 61 minutes); the reserve's own step is the one that gives the hold up. Expected: 429, one model call.
     */
    @Test
    void aNextCallIsRefusedWhileACallHasBeenOpenForMoreThanAnHour() throws Exception {
        assertRefusedAfterAPause(Duration.ofMinutes(61), agents(),
                "call open 61 min, next call through the same filter");
    }
}
