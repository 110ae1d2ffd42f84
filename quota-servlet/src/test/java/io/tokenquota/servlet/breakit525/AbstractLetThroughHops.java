package io.tokenquota.servlet.breakit525;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaException;
import io.tokenquota.Reserved;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.CrossContextRound;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Beside round 525: a call let through under fail-open is the subject's one call for every quota filter over the same
 * store on its request ({@code QuotaFilter#holdsOnRequest}), whatever way its request reaches another filter's
 * protected path: here a cross-context forward (no async cycle), each context with its own filter instance over the
 * one store, the store refusing the call's own reserve once and back for the forward. The held call's forward is
 * passed through by the other filter (round 325's rule, the control); the let-through call's is too, uncharged.
 */
abstract class AbstractLetThroughHops extends CrossContextRound {
    final Set<String> downOnce = ConcurrentHashMap.newKeySet();
    private FailingLedger failover;

    AbstractLetThroughHops() {
        super("r525h");
    }

    /** Each context's own filter over the one store, behind the same failover. */
    private QuotaFilter failingOnce() {
        if (failover == null) {
            failover = new FailingLedger(store) {
                @Override
                public Reserved reserve(HoldRequest request) {
                    if (downOnce.remove(request.subject())) {
                        throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection reset during failover (test)");
                    }
                    return super.reserve(request);
                }
            };
        }
        return filterFor(failover, "/ai/").failOpen(true).build();
    }

    private long forwarded(boolean storeDownOnce) throws Exception {
        try (Host host = two(failingOnce(), servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.FORWARD)),
                failingOnce(), servlets("/ai/chat/completions", model()))) {
            String s = subject();
            if (storeDownOnce) {
                downOnce.add(s);
            }
            HttpResponse<String> r = TestHttp.postJson(host.uri("/a/ai/relay"), s, ASK);
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(1, calls.of(s), "the model ran once, in /b");
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
