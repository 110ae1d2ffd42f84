package io.tokenquota.servlet.breakit220;

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
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 220 of issue 11, items 2 and 3 with the clock: a long agent run streamed asynchronously (a
 * Spring {@code SseEmitter} style handler: {@code startAsync}, a worker writes the provider's chunks,
 * then {@code complete()}). The provider's usage chunk is in the answer. The run outlives the filter's
 * hold keeping (an hour: a deep-research agent that ran 61 minutes), and the commit meets a database
 * blip of two attempts (a failover's reset connections). The docs: a call outliving its hold is charged
 * its usage as a late commit; a settlement the store cannot take "is tried again in the background,
 * after 0.1, 1 and 2 s, then every 5 s ... one that lands after the hold expired is a late commit".
 *
 * <p>The {@code /tc/} filter's store reads {@link #clock}; its commits of an armed subject's hold fail
 * with {@code STORE_UNAVAILABLE} for the first {@link #BLIP_ATTEMPTS} attempts.
 */
abstract class AbstractRound220 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long PROMPT = 1_500;
    static final long COMPLETION = 7_500;
    static final int BLIP_ATTEMPTS = 2;

    final MutableClock clock = new MutableClock(Instant.parse("2031-06-10T12:00:00Z"));
    ClockedStore clocked;

    static final Map<String, CountDownLatch> IN_MODEL = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> GO = new ConcurrentHashMap<>();
    /** Subjects whose commits fail, with how many attempts have failed so far. */
    static final Map<String, AtomicInteger> BLIPPED = new ConcurrentHashMap<>();
    static final Map<String, AtomicInteger> COMMIT_ATTEMPTS = new ConcurrentHashMap<>();

    static String subject() {
        return "u220-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        JdbiQuotaStore c = clocked.store();
        QuotaLedger troubled = new FailingLedger(c) {
            @Override
            protected void beforeCommit(String reservationId) {
                String s = c.reservation(reservationId).map(Reservation::subject).orElse("?");
                COMMIT_ATTEMPTS.computeIfAbsent(s, k -> new AtomicInteger()).incrementAndGet();
                AtomicInteger failed = BLIPPED.get(s);
                if (failed != null && failed.getAndIncrement() < BLIP_ATTEMPTS) {
                    Long seconds = FAILOVER_SECONDS.get(s);
                    if (seconds != null) {
                        clock.advance(Duration.ofSeconds(seconds));
                    }
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection reset by failover (test)");
                }
            }
        };
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("quota-c", filterFor(troubled, "/tc/").build(), "/tc/*")
                .servlet("chat", new Agent(), "/ai/*")
                .servlet("agent", new Agent(), "/tc/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    /**
     * The agent endpoint: starts async, a worker streams the run's chunks and the usage chunk (flushed),
     * says it is in the model, waits for the test, then writes {@code [DONE]} and completes.
     */
    static class Agent extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            CALLS.count(s);
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
                    out.flush();
                    CountDownLatch in = IN_MODEL.get(s);
                    if (in != null) in.countDown();
                    CountDownLatch go = GO.get(s);
                    if (go != null && !go.await(30, TimeUnit.SECONDS)) {
                        throw new IllegalStateException("never released");
                    }
                    out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                } catch (IOException | InterruptedException | RuntimeException e) {
                    // the client went: the relay stops
                } finally {
                    async.complete();
                }
            });
        }
    }

    static final String ASK = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Research the supplier market for lithium carbonate.\"}]}";

    /**
     * Runs one agent call of {@code s} through {@code /tc/}: while it is in the model the clock moves on
     * {@code ran}, and the store's commits of {@code s} blip if {@code blip}. The call's usage chunk says
     * 9,000 tokens.
     */
    QuotaAccount runLongCall(String s, Duration ran, boolean blip, boolean sweepMeanwhile) throws Exception {
        IN_MODEL.put(s, new CountDownLatch(1));
        GO.put(s, new CountDownLatch(1));
        if (blip) {
            BLIPPED.put(s, new AtomicInteger());
        }
        CompletableFuture<HttpResponse<String>> call = TestHttp.client().sendAsync(
                TestHttp.jsonPost(container.uri("/tc/v1/chat/completions"), s, ASK), HttpResponse.BodyHandlers.ofString());
        assertTrue(IN_MODEL.get(s).await(15, TimeUnit.SECONDS), "the agent call reached the model");
        clock.advance(ran);
        if (sweepMeanwhile) {
            // the service's scheduled sweep runs while the call is still streaming
            clocked.store().expireStale();
        }
        GO.get(s).countDown();
        HttpResponse<String> r = call.get(30, TimeUnit.SECONDS);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"total_tokens\":" + (PROMPT + COMPLETION)), "the client got the usage chunk");
        assertEquals(1, CALLS.of(s), "the model ran once");
        // the account of the clocked store (still June) once the charge landed or 15 s passed
        return Ledgers.chargedAtLeast(clocked.store(), s, PROMPT + COMPLETION);
    }

    String events(String s) {
        return Ledgers.events(clocked.store(), s, YearMonth.of(2031, 6)) + ", commit attempts "
                + COMMIT_ATTEMPTS.getOrDefault(s, new AtomicInteger()).get();
    }

    /** Control: a 61-minute run, no blip: its usage is charged (a late commit or a commit past the TTL). */
    @Test
    void controlARunOfSixtyOneMinutesIsChargedItsUsage() throws Exception {
        String s = subject();
        QuotaAccount a = runLongCall(s, Duration.ofMinutes(61), false, false);
        assertTrue(a.used() >= PROMPT + COMPLETION, "charged " + a.used() + ": " + events(s));
    }

    /** Control: a 30-minute run whose commit blips twice: the background retry lands it. */
    @Test
    void controlAThirtyMinuteRunWhoseCommitBlipsIsChargedItsUsage() throws Exception {
        String s = subject();
        QuotaAccount a = runLongCall(s, Duration.ofMinutes(30), true, false);
        assertTrue(a.used() >= PROMPT + COMPLETION, "charged " + a.used() + ": " + events(s));
    }

    /**
     * The attack: the same blip of two attempts on a run of 61 minutes. The retry schedule gives up at the
     * first retry that finds the store away because the hold was taken more than an hour ago, although a
     * retry a second later would land the usage as a late commit: the 9,000-token call is free.
     */
    @Test
    void aRunOfSixtyOneMinutesWhoseCommitBlipsIsChargedItsUsage() throws Exception {
        String s = subject();
        QuotaAccount a = runLongCall(s, Duration.ofMinutes(61), true, false);
        assertTrue(a.used() >= PROMPT + COMPLETION, "a 61-minute agent stream with 9,000 tokens of usage whose commit"
                + " met a two-attempt blip, charged " + a.used() + ": " + events(s));
    }

    /** The same with the stale-hold sweep run while the call streams (its hold already expired). */
    @Test
    void aRunOfSixtyOneMinutesSweptMeanwhileWhoseCommitBlipsIsChargedItsUsage() throws Exception {
        String s = subject();
        QuotaAccount a = runLongCall(s, Duration.ofMinutes(61), true, true);
        assertTrue(a.used() >= PROMPT + COMPLETION, "charged " + a.used() + ": " + events(s));
    }

    /**
     * A 58-minute run: the commit meets a blip of two attempts during which the clock passes the hour
     * (the failover takes three minutes). Retries "for as long as its hold is kept (an hour at least)"
     * stop two minutes into it.
     */
    @Test
    void aRunOfFiftyEightMinutesWhoseCommitMeetsAThreeMinuteFailoverIsChargedItsUsage() throws Exception {
        String s = subject();
        IN_MODEL.put(s, new CountDownLatch(1));
        GO.put(s, new CountDownLatch(1));
        // the failover: every attempt fails and moves the clock on a minute and a half, two attempts
        BLIPPED.put(s, new AtomicInteger());
        CompletableFuture<HttpResponse<String>> call = TestHttp.client().sendAsync(
                TestHttp.jsonPost(container.uri("/tc/v1/chat/completions"), s, ASK), HttpResponse.BodyHandlers.ofString());
        assertTrue(IN_MODEL.get(s).await(15, TimeUnit.SECONDS), "the agent call reached the model");
        clock.advance(Duration.ofMinutes(58));
        FAILOVER_SECONDS.put(s, 90L);
        GO.get(s).countDown();
        HttpResponse<String> r = call.get(30, TimeUnit.SECONDS);
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = Ledgers.chargedAtLeast(clocked.store(), s, PROMPT + COMPLETION);
        assertTrue(a.used() >= PROMPT + COMPLETION, "a 58-minute run whose commit met a three-minute failover, charged "
                + a.used() + ": " + events(s));
    }

    /** Seconds each failed commit attempt of a subject moves the clock on (the failover's length), by subject. */
    static final Map<String, Long> FAILOVER_SECONDS = new ConcurrentHashMap<>();
}
