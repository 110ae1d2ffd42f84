package io.tokenquota.servlet.breakit510;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reserved;
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
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.YearMonth;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 510 of issue 11: the filter's record of keys ({@code SeenKeys}, round 507) against a store that is slow,
 * then failing. The {@code /tr/} filter runs fail-open on a store on a test clock (hold TTL: the policy's default);
 * the store is "down" for the subjects in {@link #down} (their reserves throw {@code STORE_UNAVAILABLE}: a pool
 * timeout, a circuit breaker that opened), and a subject's next reserve can be stalled in the store until the test
 * lets it go (a reserve waiting on a slow database: it lands, late).
 *
 * <p>The model answers 1,500 prompt + 7,500 completion = 9,000 tokens of usage, as OpenAI's Chat Completions
 * {@code chat.completion} (platform.openai.com/docs/api-reference/chat/object, written by {@link ChatCompletions}).
 */
abstract class AbstractRound510 extends H2FilterRound {
    static final long PROMPT = 1_500;
    static final long COMPLETION = 7_500;
    static final long USAGE = PROMPT + COMPLETION;
    static final YearMonth MONTH = YearMonth.of(2031, 3);

    final ModelCalls calls = new ModelCalls();
    final MutableClock clock = new MutableClock(Instant.parse("2031-03-10T12:00:00Z"));
    ClockedStore clocked;
    /** Subjects whose reserves find the store away, until removed. */
    final Set<String> down = ConcurrentHashMap.newKeySet();
    /** Subjects whose next reserve stalls in the store, once: arrival latch and release latch. */
    final Map<String, CountDownLatch[]> stalled = new ConcurrentHashMap<>();
    /** Subjects whose stalled reserve fails once let go (the store's connection broke under it). */
    final Set<String> stallFails = ConcurrentHashMap.newKeySet();
    /** Subjects whose next model call waits, once: arrival latch and release latch. */
    final Map<String, CountDownLatch[]> held = new ConcurrentHashMap<>();

    static String subject() {
        return "u510-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String key() {
        return "k510-" + UUID.randomUUID();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        QuotaLedger troubled = new FailingLedger(clocked.store()) {
            @Override
            public Reserved reserve(HoldRequest request) {
                CountDownLatch[] stall = stalled.remove(request.subject());
                if (stall != null) {
                    stall[0].countDown();
                    try {
                        stall[1].await(20, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    if (stallFails.contains(request.subject())) {
                        throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection reset (test)");
                    }
                    return super.reserve(request);
                }
                if (down.contains(request.subject())) {
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "circuit breaker open (test)");
                }
                return super.reserve(request);
            }
        };
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("quota-tr", filterFor(troubled, "/tr/").failOpen(true).build(), "/tr/*")
                .servlet("model", new Chat(), "/tr/*");
    }

    @AfterAll
    void closeClocked() {
        if (clocked != null) clocked.close();
    }

    CountDownLatch[] stall(String s) {
        CountDownLatch[] latches = {new CountDownLatch(1), new CountDownLatch(1)};
        stalled.put(s, latches);
        return latches;
    }

    CountDownLatch[] hold(String s) {
        CountDownLatch[] latches = {new CountDownLatch(1), new CountDownLatch(1)};
        held.put(s, latches);
        return latches;
    }

    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String s = req.getHeader("x-user-id");
            req.getInputStream().readAllBytes();
            calls.count(s);
            CountDownLatch[] wait = held.remove(s);
            if (wait != null) {
                wait[0].countDown();
                try {
                    wait[1].await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-510", "gpt-4o", "Here is the plan.",
                    PROMPT, COMPLETION).getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon.\"}]}";

    HttpResponse<String> call(String s, String... headers) throws Exception {
        return TestHttp.client().send(TestHttp.jsonPost(container.uri("/tr/v1/chat/completions"), s, ASK, headers),
                HttpResponse.BodyHandlers.ofString());
    }

    CompletableFuture<HttpResponse<String>> callAsync(String s, String... headers) {
        return TestHttp.client().sendAsync(TestHttp.jsonPost(container.uri("/tr/v1/chat/completions"), s, ASK, headers),
                HttpResponse.BodyHandlers.ofString());
    }

    String events(String s) {
        return Ledgers.events(clocked.store(), s, MONTH).toString();
    }

    QuotaAccount settledOn(String s) throws InterruptedException {
        return Ledgers.chargedAtLeast(clocked.store(), s, USAGE);
    }

    // ------------------------------------------------------------------ a slow reserve, and a retry let through

    /**
     * The client's keyed call stalls in the store's reserve (a slow database: the reserve lands, late). The
     * client's timeout fires and it resends with the same {@code Idempotency-Key}, as the key is meant for; by
     * then the store is failing fast (a circuit breaker opened on the slow calls), so the retry's reserve throws
     * and it is let through under fail-open: the model answers it (9,000). Then the first reserve lands: the
     * store never saw the key (the retry left no trace there), so it is a first hold, and the first request
     * calls the model too. The record is read before the reserve and written after it, so neither request saw
     * the other. Measured: both 200, 2 model calls, 18,000 tokens of usage, 9,000 charged. Right: one model call
     * for the key; the request that comes second to the record answered 409 ("a key buys at most one model
     * call ... That holds across a fail-open pass too"; "of concurrent requests with one key under fail-open
     * only one goes through").
     */
    @Test
    void aRetryLetThroughWhileTheFirstReserveIsStalledIsTheKeysOnlyCall() throws Exception {
        String s = subject();
        String k = key();
        CountDownLatch[] reserve = stall(s);
        CompletableFuture<HttpResponse<String>> first = callAsync(s, "Idempotency-Key", k);
        assertTrue(reserve[0].await(10, TimeUnit.SECONDS), "the first request's reserve reached the store");
        down.add(s);
        HttpResponse<String> retry = call(s, "Idempotency-Key", k);
        down.remove(s);
        reserve[1].countDown();
        HttpResponse<String> done = first.get(20, TimeUnit.SECONDS);
        long charged = done.statusCode() == 200 ? settledOn(s).used() : 0;
        assertAll(() -> assertEquals(1, calls.of(s), "one Idempotency-Key bought " + calls.of(s) + " model calls ("
                        + calls.of(s) * USAGE + " tokens of usage, charged " + charged + "): the retry got "
                        + retry.statusCode() + ", the first request " + done.statusCode() + ": " + events(s)),
                () -> assertTrue(retry.statusCode() == 409 || done.statusCode() == 409,
                        "one of the two should be 409: retry " + retry.statusCode() + ", first " + done.statusCode()));
    }

    /**
     * Control: the same stall, but the stalled reserve fails too once let go (the connection broke under it):
     * the retry was let through and recorded, the first request then meets the record under fail-open, 409. One
     * model call, nothing charged (fail-open).
     */
    @Test
    void controlAStalledReserveThatFailsMeetsTheRetryLetThrough() throws Exception {
        String s = subject();
        String k = key();
        stallFails.add(s);
        CountDownLatch[] reserve = stall(s);
        CompletableFuture<HttpResponse<String>> first = callAsync(s, "Idempotency-Key", k);
        assertTrue(reserve[0].await(10, TimeUnit.SECONDS), "the first request's reserve reached the store");
        down.add(s);
        HttpResponse<String> retry = call(s, "Idempotency-Key", k);
        reserve[1].countDown();
        HttpResponse<String> done = first.get(20, TimeUnit.SECONDS);
        assertEquals(200, retry.statusCode(), retry.body());
        assertEquals(409, done.statusCode(), done.body());
        assertEquals(1, calls.of(s));
    }

    /**
     * Control: the first reserve lands before the store starts failing (the first call in the model, held on the
     * store): the retry during the outage meets the record, 409; one model call, 9,000 charged.
     */
    @Test
    void controlARetryAfterTheFirstReserveLandedIsRefused() throws Exception {
        String s = subject();
        String k = key();
        CountDownLatch[] model = hold(s);
        CompletableFuture<HttpResponse<String>> first = callAsync(s, "Idempotency-Key", k);
        assertTrue(model[0].await(10, TimeUnit.SECONDS), "the first call reached the model");
        down.add(s);
        HttpResponse<String> retry = call(s, "Idempotency-Key", k);
        down.remove(s);
        model[1].countDown();
        assertEquals(200, first.get(20, TimeUnit.SECONDS).statusCode());
        assertEquals(409, retry.statusCode(), retry.body());
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, settledOn(s).used(), events(s));
    }
}
