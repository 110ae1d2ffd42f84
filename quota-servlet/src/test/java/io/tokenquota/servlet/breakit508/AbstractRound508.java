package io.tokenquota.servlet.breakit508;

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
 * Round 508 of issue 11: the filter's record of keys (round 507's {@code SeenKeys}) during a failover in which the
 * store answers some connections and not others. The {@code /tr/} filter runs fail-open on a store on a clock; a
 * subject in {@link #down} finds its reserves refused with {@code STORE_UNAVAILABLE} (a reset connection), and a
 * subject with a {@link #stall} has its next reserve wait before it reaches the store (a pool waiting for a
 * connection to the new primary), then go through. The record is read before the reserve and written after it, so
 * a reserve that is on its way to the store while a request with the same key is let through is not told of it.
 *
 * <p>The model answers 1,500 prompt + 7,500 completion = 9,000 tokens of usage, as OpenAI's Chat Completions
 * {@code chat.completion} (platform.openai.com/docs/api-reference/chat/object, written by {@link ChatCompletions}).
 */
abstract class AbstractRound508 extends H2FilterRound {
    static final long PROMPT = 1_500;
    static final long COMPLETION = 7_500;
    static final long USAGE = PROMPT + COMPLETION;
    static final YearMonth MONTH = YearMonth.of(2031, 3);

    final ModelCalls calls = new ModelCalls();
    final MutableClock clock = new MutableClock(Instant.parse("2031-03-10T12:00:00Z"));
    ClockedStore clocked;
    /** Subjects whose reserves find the store away, until removed. */
    final Set<String> down = ConcurrentHashMap.newKeySet();
    /** Subjects whose next reserve waits before it reaches the store, once: arrival latch and release latch. */
    final Map<String, CountDownLatch[]> stall = new ConcurrentHashMap<>();

    static String subject() {
        return "u508-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String key() {
        return "k508-" + UUID.randomUUID();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        QuotaLedger troubled = new FailingLedger(clocked.store()) {
            @Override
            public Reserved reserve(HoldRequest request) {
                CountDownLatch[] wait = stall.remove(request.subject());
                if (wait != null) {
                    wait[0].countDown();
                    try {
                        wait[1].await(20, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                if (down.contains(request.subject())) {
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection reset (test)");
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

    /** Stalls the subject's next reserve before the store until the second latch is counted down. */
    CountDownLatch[] stallNextReserve(String s) {
        CountDownLatch[] latches = {new CountDownLatch(1), new CountDownLatch(1)};
        stall.put(s, latches);
        return latches;
    }

    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-508", "gpt-4o", "Here is the plan.",
                    PROMPT, COMPLETION).getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon.\"}]}";

    HttpResponse<String> call(String s, String... headers) throws Exception {
        return TestHttp.client().send(TestHttp.jsonPost(container.uri("/tr/v1/chat/completions"), s, ASK, headers),
                HttpResponse.BodyHandlers.ofString());
    }

    CompletableFuture<HttpResponse<String>> callAsync(String s, String... headers) {
        return TestHttp.client().sendAsync(TestHttp.jsonPost(container.uri("/tr/v1/chat/completions"), s, ASK,
                headers), HttpResponse.BodyHandlers.ofString());
    }

    String events(String s) {
        return Ledgers.events(clocked.store(), s, MONTH).toString();
    }

    /** The subject's account once it holds nothing and 9,000 is charged, or 15 s passed (bounded poll). */
    QuotaAccount settledOn(String s) throws InterruptedException {
        return Ledgers.chargedAtLeast(clocked.store(), s, USAGE);
    }

    // ------------------------------------------------------------------ a key let through while its twin reserves

    /**
     * A client sends one call twice with the same {@code Idempotency-Key} (a retry on a second connection, an
     * at-least-once queue's duplicate) during a failover. The first request's reserve waits for a connection (the
     * pool's, to the new primary); meanwhile the second's reserve meets a reset connection and, under fail-open, is
     * let through: the model answers it, uncharged, and the filter records the key. Then the first's reserve reaches
     * the store, which never saw the key, and takes it as a first request: the model answers again. Right: one model
     * call for the key, the other request 409 ("A key buys at most one model call ... That holds across a fail-open
     * pass too"; "of concurrent requests with one key under fail-open only one goes through"). The first request
     * passed the record's check before the key was let through, and {@code SeenKeys.reserved} records the store's
     * reserve over the let-through entry without asking whether it was let through meanwhile.
     */
    @Test
    void aKeyLetThroughWhileItsTwinIsReservingBuysOneModelCall() throws Exception {
        String s = subject();
        String k = key();
        CountDownLatch[] pool = stallNextReserve(s);
        CompletableFuture<HttpResponse<String>> first = callAsync(s, "Idempotency-Key", k);
        assertTrue(pool[0].await(10, TimeUnit.SECONDS), "the first request's reserve is on its way to the store");
        down.add(s);
        HttpResponse<String> second = call(s, "Idempotency-Key", k);
        down.remove(s);
        pool[1].countDown();
        HttpResponse<String> firstDone = first.get(20, TimeUnit.SECONDS);
        QuotaAccount a = firstDone.statusCode() == 200 ? settledOn(s) : clocked.store().account(s, MONTH).orElse(null);
        long used = a == null ? 0 : a.used();
        assertAll(() -> assertEquals(1, calls.of(s), "one Idempotency-Key bought " + calls.of(s) + " model calls ("
                        + calls.of(s) * USAGE + " tokens of usage, charged " + used + ", should be 1 call and "
                        + USAGE + " of usage, the twin 409); the let-through request got " + second.statusCode()
                        + ", the reserved one " + firstDone.statusCode() + ": " + events(s)),
                () -> assertTrue(second.statusCode() == 409 || firstDone.statusCode() == 409,
                        "neither request was refused as a replay: " + second.statusCode() + " and "
                                + firstDone.statusCode()));
    }

    /**
     * Control: the same interleaving, the store up for both: the second request's reserve reaches the store first
     * and is served (charged 9,000); the stalled first one then reaches it with the same key and is its replay, 409.
     */
    @Test
    void controlAKeyReservedWhileItsTwinIsReservingBuysOneModelCall() throws Exception {
        String s = subject();
        String k = key();
        CountDownLatch[] pool = stallNextReserve(s);
        CompletableFuture<HttpResponse<String>> first = callAsync(s, "Idempotency-Key", k);
        assertTrue(pool[0].await(10, TimeUnit.SECONDS), "the first request's reserve is on its way to the store");
        HttpResponse<String> second = call(s, "Idempotency-Key", k);
        pool[1].countDown();
        HttpResponse<String> firstDone = first.get(20, TimeUnit.SECONDS);
        assertEquals(200, second.statusCode(), second.body());
        assertEquals(409, firstDone.statusCode(), firstDone.body());
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, settledOn(s).used(), events(s));
    }

    /**
     * Control: the same two requests one after the other, the first let through in the outage: the second, the
     * store back, is 409 from the record (round 502's case), one model call.
     */
    @Test
    void controlAKeyLetThroughBeforeItsTwinBuysOneModelCall() throws Exception {
        String s = subject();
        String k = key();
        down.add(s);
        HttpResponse<String> first = call(s, "Idempotency-Key", k);
        down.remove(s);
        HttpResponse<String> second = call(s, "Idempotency-Key", k);
        assertEquals(200, first.statusCode(), first.body());
        assertEquals(409, second.statusCode(), second.body());
        assertEquals(1, calls.of(s));
    }
}
