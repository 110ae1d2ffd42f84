package io.tokenquota.servlet.breakit525;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.IncludeCycleRound;
import org.junit.jupiter.api.Test;

/**
 * Beside round 525: a call let through under fail-open is the subject's one call for every quota filter over the same
 * store on its request ({@code QuotaFilter#holdsOnRequest}), whatever way its request reaches another filter's
 * protected path: here a cross-context forward (no async cycle), each context with its own filter instance over the
 * one store, the store refusing the call's own reserve once and back for the forward. The held call's forward is
 * passed through by the other filter (round 325's rule, the control); the let-through call's is too, uncharged.
 */
abstract class AbstractLetThroughHops extends IncludeCycleRound {
    AbstractLetThroughHops() {
        super("r525h");
    }

    private long forwarded(boolean storeDownOnce) throws Exception {
        try (Host host = two(failingOnce(), servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.FORWARD)),
                failingOnce(), servlets("/ai/chat/completions", model()))) {
            String s = relayed(host, storeDownOnce, "the model ran once, in /b");
            return settled(s).used();
        }
    }

    /** A call let through in /a, forwarded into /b's model: /b's filter passes it through, nothing charged. */
    @Test
    void aCallLetThroughIsNotHeldByTheFilterItIsForwardedInto() throws Exception {
        assertEquals(0, forwarded(true), kind() + ": the let-through call's forward is that call");
    }

    /** Control: the store up, held in /a, /b's filter passes the forward through: charged its usage once. */
    @Test
    void controlAHeldCallForwardedIntoTheOtherFilterIsChargedOnce() throws Exception {
        assertEquals(USAGE, forwarded(false), kind() + ": charged once across two filters");
    }
}
