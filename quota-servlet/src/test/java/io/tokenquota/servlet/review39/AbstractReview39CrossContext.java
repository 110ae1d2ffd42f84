package io.tokenquota.servlet.review39;

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
import org.junit.jupiter.api.Test;

/**
 * Review 39: a call let through under fail-open has no settlement, only its running key; a cross-context async
 * dispatch of it (Jetty: a new REQUEST of the other context, sharing the call's attributes) is part of that call,
 * as it is of a held one (round 465), and not a new call: a keyed one was answered 409 as a replay of its own key.
 * One filter instance in both contexts, fail-open, its store refusing every reserve.
 */
abstract class AbstractReview39CrossContext extends CrossContextRound {
    AbstractReview39CrossContext() {
        super("r39");
    }

    private QuotaFilter failingOpen() {
        FailingLedger down = new FailingLedger(store) {
            @Override
            public Reserved reserve(HoldRequest request) {
                throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection refused (test)");
            }
        };
        return filterFor(down, "/ai/").failOpen(true).build();
    }

    @Test
    void aKeyedCallLetThroughIsAnsweredAcrossContexts() throws Exception {
        QuotaFilter one = failingOpen();
        try (Host host = two(one, servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)), one,
                servlets("/ai/chat/completions", model()))) {
            String s = subject();
            HttpResponse<String> r = TestHttp.postJson(host.uri("/a/ai/relay"), s, ASK, "Idempotency-Key", "k1");
            assertEquals(200, r.statusCode(), kind() + ": the let-through call's own dispatch: " + r.body());
            assertEquals(1, calls.of(s), "the model ran once");
            // control: the key is spent, its retry is a replay
            HttpResponse<String> retry = TestHttp.postJson(host.uri("/a/ai/relay"), s, ASK, "Idempotency-Key", "k1");
            assertEquals(409, retry.statusCode(), retry.body());
            assertEquals(1, calls.of(s), "the retry did not reach the model");
        }
    }

    /** Control: unkeyed, the call is let through and its dispatch answered, nothing charged. */
    @Test
    void anUnkeyedCallLetThroughIsAnsweredAcrossContexts() throws Exception {
        QuotaFilter one = failingOpen();
        try (Host host = two(one, servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)), one,
                servlets("/ai/chat/completions", model()))) {
            String s = subject();
            HttpResponse<String> r = TestHttp.postJson(host.uri("/a/ai/relay"), s, ASK);
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(1, calls.of(s), "the model ran once");
            assertEquals(0, settled(s).used(), "let through uncharged");
        }
    }
}
