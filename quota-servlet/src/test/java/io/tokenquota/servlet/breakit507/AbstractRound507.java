package io.tokenquota.servlet.breakit507;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.FailOpenKeyRound;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 507 of issue 11: the record of keys a fail-open filter keeps (round 502), attacked from the sides it does
 * not cover. The {@code /tr/} filter runs fail-open on a store on a clock the test moves (hold TTL: the policy's
 * default, 5 minutes); the store is "down" for the subjects in {@link #DOWN}: their reserves throw
 * {@code STORE_UNAVAILABLE} before anything lands (a failover, a pool timeout).
 *
 * <p>The model answers 1,500 prompt + 7,500 completion = 9,000 tokens of usage, as OpenAI's Chat Completions
 * {@code chat.completion} (platform.openai.com/docs/api-reference/chat/object, written by {@link ChatCompletions}):
 * synchronously ({@code /tr/v1/chat/completions}), or computed on a worker whose result an async dispatch writes
 * ({@code /tr/v1/deferred/chat/completions}: the shape of Spring MVC's {@code DeferredResult} and {@code Callable},
 * which hand the result to a second, ASYNC dispatch of the same request). A test may hold a subject's next call
 * in the model (a long reasoning call) until it lets it go.
 */
abstract class AbstractRound507 extends FailOpenKeyRound {
    static final Duration TTL = Duration.ofMinutes(5);

    AbstractRound507() {
        super(507);
    }

    HttpResponse<String> call(String s, String path, String... headers) throws Exception {
        return post(s, path, ASK, headers);
    }

    CompletableFuture<HttpResponse<String>> callAsync(String s, String path, String... headers) {
        return postAsync(s, path, ASK, headers);
    }

    // ------------------------------------------------------------------ 1. the async dispatch of a let-through call

    /**
     * A keyed call whose result an async dispatch writes (Spring MVC's {@code DeferredResult} / {@code Callable}
     * shape), let through under fail-open: the model answers, and the dispatch that writes the answer meets the
     * filter again as a call of its own, whose key the filter has just recorded. Right: the client gets its 200
     * and the model's answer (the call is uncharged, as fail-open documents). The key is the client's one call:
     * its own answer must not be refused as a replay of itself.
     */
    @Test
    void theDeferredAnswerOfAKeyedCallLetThroughReachesItsClient() throws Exception {
        String s = subject();
        down.add(s);
        HttpResponse<String> r = call(s, "deferred/chat/completions", "Idempotency-Key", key());
        assertAll(() -> assertEquals(1, calls.of(s), "one model call"),
                () -> assertEquals(200, r.statusCode(), "the model answered (" + calls.of(s) + " call, usage " + USAGE
                        + "), and the client of that one keyed call got " + r.statusCode() + ": " + r.body()),
                () -> assertTrue(r.body().contains("\"total_tokens\":" + USAGE), r.body()));
    }

    /** Control: the same deferred call under fail-open without a key reaches its client (200, the answer). */
    @Test
    void controlTheDeferredAnswerOfAnUnkeyedCallLetThroughReachesItsClient() throws Exception {
        String s = subject();
        down.add(s);
        HttpResponse<String> r = call(s, "deferred/chat/completions");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"total_tokens\":" + USAGE), r.body());
        assertEquals(1, calls.of(s));
    }

    /** Control: the same keyed deferred call with the store up: 200, charged its 9,000 once. */
    @Test
    void controlTheDeferredAnswerOfAKeyedCallIsServedAndCharged() throws Exception {
        String s = subject();
        HttpResponse<String> r = call(s, "deferred/chat/completions", "Idempotency-Key", key());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(USAGE, settledOn(s).used(), events(s));
        assertEquals(1, calls.of(s));
    }

    // ------------------------------------------------------------------ 2. a key the store holds, retried in an outage

    /**
     * A keyed call is held on the store (it is running in the model, its hold on this very filter) when the
     * store fails over; the client, timed out, resends with the same {@code Idempotency-Key}. The retry's reserve
     * meets the outage and is let through under fail-open: the filter's record has only keys it let through, not
     * the key of the call it is holding itself. Right: 409, one model call ("a key buys at most one model call ...
     * whether the first one is still running or finished ... That holds across a fail-open pass too").
     */
    @Test
    void aKeyHeldOnTheStoreIsNotServedAgainInAnOutage() throws Exception {
        String s = subject();
        String k = key();
        CountDownLatch[] model = hold(s);
        CompletableFuture<HttpResponse<String>> first = callAsync(s, "chat/completions", "Idempotency-Key", k);
        assertTrue(model[0].await(10, TimeUnit.SECONDS), "the first call reached the model");
        down.add(s);
        HttpResponse<String> retry = call(s, "chat/completions", "Idempotency-Key", k);
        down.remove(s);
        model[1].countDown();
        HttpResponse<String> done = first.get(20, TimeUnit.SECONDS);
        QuotaAccount a = settledOn(s);
        assertAll(() -> assertEquals(200, done.statusCode(), done.body()),
                () -> assertEquals(1, calls.of(s), "one Idempotency-Key bought " + calls.of(s) + " model calls ("
                        + calls.of(s) * USAGE + " tokens of usage, charged " + a.used() + "); the retry got "
                        + retry.statusCode() + ": " + events(s)),
                () -> assertEquals(409, retry.statusCode(), retry.body()));
    }

    /** Control: the same, the store up for the retry: 409, one model call, 9,000 charged. */
    @Test
    void controlAKeyHeldOnTheStoreIsRefusedWhileRunning() throws Exception {
        String s = subject();
        String k = key();
        CountDownLatch[] model = hold(s);
        CompletableFuture<HttpResponse<String>> first = callAsync(s, "chat/completions", "Idempotency-Key", k);
        assertTrue(model[0].await(10, TimeUnit.SECONDS), "the first call reached the model");
        HttpResponse<String> retry = call(s, "chat/completions", "Idempotency-Key", k);
        model[1].countDown();
        assertEquals(200, first.get(20, TimeUnit.SECONDS).statusCode());
        assertEquals(409, retry.statusCode(), retry.body());
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, settledOn(s).used(), events(s));
    }

    /**
     * The sequential form: a keyed call served and charged on the store (9,000); later the store fails over and
     * the client resends with the same key (its answer was lost on the way back). Right: 409.
     */
    @Test
    void aKeyChargedOnTheStoreIsNotServedAgainInAnOutage() throws Exception {
        String s = subject();
        String k = key();
        assertEquals(200, call(s, "chat/completions", "Idempotency-Key", k).statusCode());
        QuotaAccount charged = settledOn(s);
        down.add(s);
        HttpResponse<String> retry = call(s, "chat/completions", "Idempotency-Key", k);
        assertAll(() -> assertEquals(USAGE, charged.used(), events(s)),
                () -> assertEquals(1, calls.of(s), "one Idempotency-Key bought " + calls.of(s) + " model calls ("
                        + calls.of(s) * USAGE + " tokens of usage, charged " + charged.used() + "); the retry got "
                        + retry.statusCode()),
                () -> assertEquals(409, retry.statusCode(), retry.body()));
    }

    // ------------------------------------------------------------------ 3. a let-through call that outlives the TTL

    /**
     * A keyed call let through under fail-open runs longer than a hold's TTL (a long reasoning call: the
     * ledger's clock moves 5 min 30 s while it is in the model); the store is still away, and the client's
     * timed-out retry with the same key arrives while the first is still running. The record dropped the key
     * at the TTL counted from the let-through, though the call is not over: the retry is let through too. Right:
     * 409 ("of concurrent requests with one key under fail-open only one goes through"; a held call's key is
     * kept while it runs, its hold extended, so the "time a keyed retry of a held call would still meet its
     * hold" is not over while it runs).
     */
    @Test
    void aKeyLetThroughIsKeptWhileItsCallRunsPastTheTtl() throws Exception {
        String s = subject();
        String k = key();
        down.add(s);
        CountDownLatch[] model = hold(s);
        CompletableFuture<HttpResponse<String>> first = callAsync(s, "chat/completions", "Idempotency-Key", k);
        assertTrue(model[0].await(10, TimeUnit.SECONDS), "the first call reached the model");
        clock.advance(TTL.plusSeconds(30));
        HttpResponse<String> retry = call(s, "chat/completions", "Idempotency-Key", k);
        model[1].countDown();
        HttpResponse<String> done = first.get(20, TimeUnit.SECONDS);
        assertAll(() -> assertEquals(200, done.statusCode(), done.body()),
                () -> assertEquals(1, calls.of(s), "one Idempotency-Key, two concurrent requests under fail-open: "
                        + calls.of(s) + " model calls (" + calls.of(s) * USAGE + " tokens of usage, charged 0); the"
                        + " retry got " + retry.statusCode()),
                () -> assertEquals(409, retry.statusCode(), retry.body()));
    }

    /**
     * Control: the same call held on the store (store up), running past the TTL: its retry with the same key
     * is 409 (the keeper extends the running call's hold), one model call, 9,000 charged.
     */
    @Test
    void controlAKeyHeldOnTheStoreIsRefusedWhileItsCallRunsPastTheTtl() throws Exception {
        String s = subject();
        String k = key();
        CountDownLatch[] model = hold(s);
        CompletableFuture<HttpResponse<String>> first = callAsync(s, "chat/completions", "Idempotency-Key", k);
        assertTrue(model[0].await(10, TimeUnit.SECONDS), "the first call reached the model");
        clock.advance(TTL.plusSeconds(30));
        HttpResponse<String> retry = call(s, "chat/completions", "Idempotency-Key", k);
        model[1].countDown();
        assertEquals(200, first.get(20, TimeUnit.SECONDS).statusCode());
        assertEquals(409, retry.statusCode(), retry.body());
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, settledOn(s).used(), events(s));
    }
}
