package io.tokenquota.servlet.breakit508;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.FailOpenKeyRound;
import java.net.http.HttpResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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
abstract class AbstractRound508 extends FailOpenKeyRound {
    AbstractRound508() {
        super(508);
    }

    HttpResponse<String> call(String s, String... headers) throws Exception {
        return post(s, "chat/completions", ASK, headers);
    }

    CompletableFuture<HttpResponse<String>> callAsync(String s, String... headers) {
        return postAsync(s, "chat/completions", ASK, headers);
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
