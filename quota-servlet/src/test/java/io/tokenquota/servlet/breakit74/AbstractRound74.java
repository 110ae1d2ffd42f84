package io.tokenquota.servlet.breakit74;

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
import java.net.http.HttpRequest;
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
 * Round 74 of issue 11: the items 1-12 and its "Also" list once more, each with a variant
 * earlier rounds did not try, as a new user and a hostile client meet the demo and the filter. Most
 * held; the tests here are the two that did not, with a control: a charset parameter whose name is
 * empty (item 10), and a second call granted from the tokens a still-running call holds once that
 * call has outlived its hold (item 2).
 */
abstract class AbstractRound74 extends H2FilterRound {
    /** Model calls per subject (every endpoint of this round counts them). */
    static final ModelCalls CALLS = new ModelCalls();
    static final Map<String, CountDownLatch> STARTED = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> GO = new ConcurrentHashMap<>();

    /** What the slow agent call of the {@code /tc/} endpoint bills (reported as OpenAI usage). */
    static final long AGENT_USAGE = 15_000;

    /** The store of the {@code /tc/} filter, on {@link #clock}, with the default 5-minute hold. */
    final MutableClock clock = new MutableClock(Instant.parse("2031-06-10T12:00:00Z"));
    ClockedStore clocked;
    JdbiQuotaStore clockedStore;

    /** An agent call held at about 16,000 tokens (its max_tokens). */
    static final String AGENT_BODY = "{\"model\":\"o3\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Plan and run the migration.\"}],\"max_tokens\":16000}";
    /** Where {@code /tc/agent} answers in this round's container. */
    static final java.util.concurrent.atomic.AtomicReference<java.net.URI> URI_BASE = new java.util.concurrent.atomic.AtomicReference<>();

    static String subject() {
        return "u74-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        clockedStore = clocked.store();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("clocked-quota", clocked.filter("/tc/"), "/tc/*")
                .servlet("chat", new Chat(), "/ai/*")
                .servlet("agent", new Agent(), "/tc/*");
    }

    @org.junit.jupiter.api.BeforeEach
    void agentUri() {
        URI_BASE.set(container.uri("/tc/agent"));
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    static String completion(long total) {
        return ChatCompletions.completion("chatcmpl-74", "gpt-4o", "Done.", total - 100, 100);
    }

    /** {@code /ai/v1/chat}: an OpenAI chat completion relay (the model answers, 1,200 tokens). */
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
     * {@code /tc/agent}: an agent run (tool calls, a reasoning model, a stream the client reads slowly)
     * that takes longer than the hold lives. It tells the test it has started, waits until the test
     * lets it finish (the user's first call only), and answers with the run's usage, {@link #AGENT_USAGE}.
     */
    public static class Agent extends HeldAgent {
        public Agent() {
            super(CALLS, STARTED, GO, Duration.ofSeconds(20), completion(AGENT_USAGE));
        }
    }

    // ---- item 10: a client-supplied charset the JVM does not know --------------------------------------

    /**
     * {@code Content-Type: application/json; charset=""} (and {@code charset=" "}): a charset parameter
     * whose name is empty. The issue (item 10): a client-supplied unknown charset must be answered 415
     * or 400, not throw an unchecked exception. On Jetty the filter gets past its own charset check
     * (the container reports the name as blank, which the filter reads as UTF-8), then calls
     * {@code request.getContentType()}, which Jetty's {@code ServletApiRequest} answers by looking the
     * charset up ({@code MimeTypes.getCharsetFromContentType}): {@code IllegalCharsetNameException},
     * a 500 error page and a logged stack trace for one header a client chose. Nothing is charged.
     */
    @Test
    void anEmptyCharsetNameIsRefusedAs415NotAServerError() {
        for (String label : new String[] {"application/json; charset=\"\"", "text/plain; charset=\" \""}) {
            String s = subject();
            HttpResponse<String> r = TestHttp.post(container.uri("/ai/v1/chat"),
                    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":50}".getBytes(StandardCharsets.UTF_8),
                    "x-user-id", s, "Content-Type", label);
            int status = r.statusCode();
            assertTrue(status == 415 || status == 400 || (status == 200 && CALLS.of(s) == 1),
                    kind() + ": " + label + " was answered " + status + " (an unknown charset: 415 or 400, or served and"
                            + " charged) " + r.body().substring(0, Math.min(200, r.body().length())));
            long used = settled(s).used();
            assertEquals(CALLS.of(s) == 0 ? 0 : 1_200, used, label + ": " + ledger(s));
        }
    }

    // ---- item 2: a call that outlives its hold ---------------------------------------------------------

    /**
     * Control (held): the same two calls while the first one's hold still lives (no time passes): the
     * second is refused with 429 and the model runs once, charged its 15,000.
     */
    @Test
    void aSecondCallWhileTheFirstIsHeldIsRefused() throws Exception {
        String s = subject();
        CompletableFuture<HttpResponse<String>> running = startAgentCall(s);
        HttpResponse<String> second;
        try {
            second = TestHttp.send(agentCall(s));
        } finally {
            GO.get(s).countDown();
        }
        assertEquals(200, running.get(30, TimeUnit.SECONDS).statusCode());
        QuotaAccount account = Ledgers.chargedAtLeast(clockedStore, s, AGENT_USAGE * CALLS.of(s));
        assertEquals(429, second.statusCode(), second.body());
        assertEquals(1, CALLS.of(s));
        assertEquals(AGENT_USAGE, account.used(), account.toString());
    }

    static HttpRequest agentCall(String subject) {
        return TestHttp.jsonPost(URI_BASE.get(), subject, AGENT_BODY);
    }

    /** Sends {@code s}'s first agent call and waits until it runs; it then waits for {@code s}'s latch in {@link #GO}. */
    static CompletableFuture<HttpResponse<String>> startAgentCall(String s) throws InterruptedException {
        STARTED.put(s, new CountDownLatch(1));
        GO.put(s, new CountDownLatch(1));
        CompletableFuture<HttpResponse<String>> running = TestHttp.client().sendAsync(agentCall(s),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertTrue(STARTED.get(s).await(20, TimeUnit.SECONDS), "the first agent call started");
        return running;
    }

    /**
     * A user with the 20,000-token allowance starts an agent call held at about 16,000 (max_tokens
     * 16,000), which runs past the default 5-minute hold (a long reasoning or agent run, or a stream the
     * client reads slowly: the client decides how long the call lasts). Six minutes in, while it still
     * runs, the same user starts a second such call. The first call's hold has expired, so the store
     * finds the whole allowance available and grants the second one; both calls then report 15,000
     * tokens and both are charged (the first as a late commit): 30,000 used on a 20,000 allowance, the
     * 10,000 overdraft lapsing with the month (docs/decisions.md: "every overdraft ends with its month").
     * Repeated, one allowance runs any number of such calls at once. The promise: a call that reached
     * the model is paid for, so while it runs the filter holds what it may bill; the second call must
     * get 429 (what it gets when the first call is quick to answer and its hold has not expired) and the
     * month's use stay at the one call's 15,000. Cause: the filter reserves once with
     * {@code ttl(holdTtl)} (QuotaFilter.java, the {@code ledger.reserve(...)} call) and never renews the
     * hold of a request still in the chain, and the store expires a subject's past-TTL holds before it
     * decides a reserve (docs/semantics.md).
     */
    @Test
    void aSecondCallIsNotGrantedFromTheHoldOfACallStillRunningPastItsTtl() throws Exception {
        String s = subject();
        CompletableFuture<HttpResponse<String>> running = startAgentCall(s);
        clock.advance(Duration.ofMinutes(6));
        HttpResponse<String> second;
        try {
            // the second call answers at once (the endpoint waits on the first call only)
            second = TestHttp.send(agentCall(s));
        } finally {
            GO.get(s).countDown();
        }
        HttpResponse<String> r = running.get(30, TimeUnit.SECONDS);
        assertEquals(200, r.statusCode(), r.body());
        // every call the model ran is settled: each reported AGENT_USAGE
        QuotaAccount account = Ledgers.chargedAtLeast(clockedStore, s, AGENT_USAGE * CALLS.of(s));
        String what = kind() + ": second call " + second.statusCode() + ", model calls " + CALLS.of(s) + ", account "
                + account + ", events " + Ledgers.events(clockedStore, s, YearMonth.of(2031, 6));
        assertEquals(429, second.statusCode(), what);
        assertEquals(1, CALLS.of(s), what);
        assertEquals(AGENT_USAGE, account.used(), what);
    }
}
