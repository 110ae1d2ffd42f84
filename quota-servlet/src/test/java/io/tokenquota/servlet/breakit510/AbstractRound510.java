package io.tokenquota.servlet.breakit510;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.FailOpenKeyRound;
import java.net.http.HttpResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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
abstract class AbstractRound510 extends FailOpenKeyRound {
    AbstractRound510() {
        super(510);
    }

    /** Stalls the subject's next reserve in the store until the second latch is counted down. */
    CountDownLatch[] stall(String s) {
        return stallNextReserve(s);
    }

    HttpResponse<String> call(String s, String... headers) throws Exception {
        return post(s, "chat/completions", ASK, headers);
    }

    CompletableFuture<HttpResponse<String>> callAsync(String s, String... headers) {
        return postAsync(s, "chat/completions", ASK, headers);
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
