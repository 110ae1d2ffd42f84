package io.tokenquota.servlet.breakit515;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.FailOpenKeyRound;
import io.tokenquota.servlet.testing.Ledgers;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 515 of issue 11: the hold the filter releases itself when a reserve reaches the store after its key was
 * let through under fail-open (round 508), during a failover in which the store answers some statements and not
 * others. The {@code /tr/} filter runs fail-open on a store on a clock; a subject in {@link #down} finds its
 * reserves refused with {@code STORE_UNAVAILABLE}, a subject with a {@link #stall} has its next reserve wait before
 * it reaches the store (a pool waiting for a connection to the new primary), and a subject in {@link #releaseFails}
 * has its next release refused with {@code STORE_UNAVAILABLE} (a reset connection), once: the next try lands.
 *
 * <p>The model answers 1,500 prompt + 7,500 completion = 9,000 tokens of usage, as OpenAI's Chat Completions
 * {@code chat.completion} (platform.openai.com/docs/api-reference/chat/object, written by {@link ChatCompletions});
 * {@code /tr/v1/missing} is a route no handler serves (404, no model call).
 */
abstract class AbstractRound515 extends FailOpenKeyRound {
    /** A call that asks for most of the month: it fits the allowance, not the allowance less a 1,012 hold. */
    static final String BIG = "{\"model\":\"gpt-4o\",\"max_tokens\":19500,\"messages\":[{\"role\":\"user\",\"content\":\"Write the full itinerary.\"}]}";

    AbstractRound515() {
        super(515);
    }

    @Override
    protected QuotaFilter.Builder troubledFilter(QuotaFilter.Builder builder) {
        // a cap above the allowance, so that one call may ask for most of the month
        return builder.outputBudgetCap(ALLOWANCE);
    }

    HttpResponse<String> call(String s, String path, String body, String... headers) throws Exception {
        return post(s, path, body, headers);
    }

    CompletableFuture<HttpResponse<String>> callAsync(String s, String... headers) {
        return postAsync(s, "chat/completions", ASK, headers);
    }

    /** Round 508's interleaving: the twin let through while the first request's reserve is on its way. */
    HttpResponse<String>[] twins(String s, String k) throws Exception {
        CountDownLatch[] pool = stallNextReserve(s);
        CompletableFuture<HttpResponse<String>> first = callAsync(s, "Idempotency-Key", k);
        assertTrue(pool[0].await(10, TimeUnit.SECONDS), "the first request's reserve is on its way to the store");
        down.add(s);
        HttpResponse<String> second = call(s, "chat/completions", ASK, "Idempotency-Key", k);
        down.remove(s);
        pool[1].countDown();
        HttpResponse<String> firstDone = first.get(20, TimeUnit.SECONDS);
        @SuppressWarnings("unchecked")
        HttpResponse<String>[] both = new HttpResponse[] {firstDone, second};
        return both;
    }

    // ------------------------------------------------------------------ the 508 release meets the store failing again

    /**
     * Round 508's twins: the let-through twin is the key's one model call (uncharged, the store away for it), and
     * the reserve that then reaches the store is granted a first hold (1,012) that the filter releases and answers
     * 409. That release meets the failover too (a reset connection) and is tried once, never again: the hold stays
     * HELD, no call behind it, until its TTL (5 minutes), though the store answers the very next statement. The
     * subject's next call, which asks for 19,500 of its 20,000 (nothing is used), is refused 429 for a phantom hold.
     * A settlement's release the store refuses is tried again at once on the request thread and then in the
     * background (the control below); this one must be too, or the 409 path must not leave a hold behind.
     */
    @Test
    void aHoldReleasedForAKeyLetThroughIsReleasedWhenTheStoreFailsOnce() throws Exception {
        String s = subject();
        String k = key();
        releaseFails.add(s);
        HttpResponse<String>[] r = twins(s, k);
        assertEquals(1, calls.of(s), "one model call for the key");
        assertEquals(200, r[1].statusCode(), "the let-through twin: " + r[1].body());
        assertEquals(409, r[0].statusCode(), "the reserved twin: " + r[0].body());
        // the store is back for every statement; a minute passes
        clock.advance(Duration.ofMinutes(1));
        QuotaAccount a = account(s);
        HttpResponse<String> next = call(s, "chat/completions", BIG);
        assertAll(() -> assertEquals(0, a.reserved(), "a minute after the 409, with no call running, the subject's"
                        + " account holds " + a.reserved() + " (used " + a.used() + "), should hold 0: the hold"
                        + " released for the key let through was never released: " + events(s)),
                () -> assertEquals(200, next.statusCode(), "the next call asking 19,500 of an unused 20,000 got "
                        + next.statusCode() + ", should be 200: " + next.body()));
    }

    /**
     * Control: the same twins, the release landing at once: the hold is released (nothing held, nothing charged for
     * the 409), one model call, and the next call of 19,500 is served and charged its 9,000 of usage.
     */
    @Test
    void controlAHoldReleasedForAKeyLetThroughLeavesNothingHeld() throws Exception {
        String s = subject();
        String k = key();
        HttpResponse<String>[] r = twins(s, k);
        assertEquals(1, calls.of(s));
        assertEquals(409, r[0].statusCode(), r[0].body());
        assertEquals(200, r[1].statusCode(), r[1].body());
        QuotaAccount a = account(s);
        assertEquals(0, a.reserved(), events(s));
        assertEquals(0, a.used(), events(s));
        HttpResponse<String> next = call(s, "chat/completions", BIG);
        assertEquals(200, next.statusCode(), next.body());
        assertEquals(USAGE, Ledgers.chargedAtLeast(clocked.store(), s, USAGE).used(), events(s));
    }

    /**
     * Control: a settlement's release that meets the same one reset connection (a 404 no handler served, no model
     * call) is tried again and lands: nothing held, nothing charged.
     */
    @Test
    void controlASettlementsReleaseIsTriedAgainWhenTheStoreFailsOnce() throws Exception {
        String s = subject();
        releaseFails.add(s);
        HttpResponse<String> r = call(s, "missing", ASK, "Idempotency-Key", key());
        assertEquals(404, r.statusCode(), r.body());
        assertTrue(Ledgers.settledWithin(clocked.store(), s, 15), events(s));
        QuotaAccount a = account(s);
        assertEquals(0, a.reserved(), events(s));
        assertEquals(0, a.used(), events(s));
        assertTrue(events(s).contains("RELEASED"), events(s));
        assertEquals(0, calls.of(s));
    }
}
