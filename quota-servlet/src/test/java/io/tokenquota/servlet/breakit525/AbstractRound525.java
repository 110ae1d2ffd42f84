package io.tokenquota.servlet.breakit525;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.IncludeCycleRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * Round 525 of issue 11: a call let through under fail-open whose async cycle crosses into another context, each
 * context with its own quota filter instance over the one store (as a host sets each application up: its own
 * filter), while a failover ends under it: the store refuses the call's own reserve (in /a) and answers the next
 * one (in /b). The running mark of a let-through call ({@code letThrough}, round 520) is the instance's own
 * attribute, so /b's filter does not see it, and a let-through call records nothing in the request's
 * {@code HOLDING} map that tells another filter over the same store that the subject's call is already met. So the
 * hop is held in /b as a new call and charged, though the docs say a dispatch of a call let through into another
 * context "is that call while it runs", and say of a held call's hops "with one filter instance or two" (round
 * 471). With the store up the same two-instance setup is charged once (HOLDING), the controls below.
 * The model answers 1,200 prompt + 300 completion = 1,500 tokens (OpenAI chat.completion, written by the rig).
 */
abstract class AbstractRound525 extends IncludeCycleRound {
    AbstractRound525() {
        super("r525");
    }

    /**
     * Unkeyed, the model reached once, in /b through the let-through call's hop: /b's own filter meets the store
     * back and holds the hop as a new call: charged 1,500 where the let-through call is charged 0 (as with one
     * filter instance in both contexts, round 520's control).
     */
    @Test
    void anUnkeyedCallLetThroughIsNotHeldAgainByTheOtherContextsFilter() throws Exception {
        try (Host host = two(failingOnce(), servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)),
                failingOnce(), servlets("/ai/chat/completions", model()))) {
            String s = relayed(host, true, "the model ran once");
            assertEquals(0, settled(s).used(), kind() + ": the let-through call's hop into /b is that call, uncharged"
                    + " like it; charged " + settled(s).used() + " (usage " + USAGE + ")");
        }
    }

    /**
     * Keyed, the same: /b's filter reserves the let-through call's own key on the store, which never saw it, as a
     * first request, and charges the hop 1,500; 0 expected.
     */
    @Test
    void aKeyedCallLetThroughIsNotHeldAgainByTheOtherContextsFilter() throws Exception {
        try (Host host = two(failingOnce(), servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)),
                failingOnce(), servlets("/ai/chat/completions", model()))) {
            String s = relayed(host, true, "the model ran once", "Idempotency-Key", "k525");
            assertEquals(0, settled(s).used(), kind() + ": charged " + settled(s).used());
        }
    }

    /** Control: the same two filters, the store up throughout: held once in /a, /b's filter passes the hop, 1,500. */
    @Test
    void controlAHeldCallIsChargedItsUsageOnceAcrossTwoFilters() throws Exception {
        try (Host host = two(failingOnce(), servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)),
                failingOnce(), servlets("/ai/chat/completions", model()))) {
            String s = relayed(host, false, "the model ran once");
            assertEquals(USAGE, settled(s).used(), kind() + ": charged " + settled(s).used());
        }
    }

    /** Control: one filter instance in both contexts, the call let through: nothing charged (round 520's rule). */
    @Test
    void controlACallLetThroughIsNotChargedAcrossContextsWithOneFilter() throws Exception {
        QuotaFilter one = failingOnce();
        try (Host host = two(one, servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)), one,
                servlets("/ai/chat/completions", model()))) {
            String s = relayed(host, true, "the model ran once");
            assertEquals(0, settled(s).used(), kind() + ": charged " + settled(s).used());
        }
    }


    /**
     * The model called in /a during the failover, /b only rendering its answer: /b's own filter meets the store back
     * and charges the hop, which reaches no model, its estimate (a 2xx without usage); 0 expected.
     */
    @Test
    void aCallLetThroughIsNotChargedForRenderingItsAnswerUnderTheOtherContextsFilter() throws Exception {
        try (Host host = two(failingOnce(), servlets("/ai/relay", new CallsThenHops()), failingOnce(),
                servlets("/ai/render", new Render()))) {
            String s = relayed(host, true, "the model ran once, in /a");
            assertEquals(0, settled(s).used(), kind() + ": the hop into /b reached no model; charged "
                    + settled(s).used());
        }
    }

    /** Control: the same with the store up: held in /a, /b's filter passes the hop, charged the estimate once. */
    @Test
    void controlAHeldCallRenderedUnderTheOtherContextsFilterIsChargedOnce() throws Exception {
        QuotaFilter one = failingOnce();
        long single;
        try (Host host = two(one, servlets("/ai/relay", new CallsThenHops()), one, servlets("/ai/render", new Render()))) {
            String s = subject();
            HttpResponse<String> r = TestHttp.postJson(host.uri("/a/ai/relay"), s, ASK);
            assertEquals(200, r.statusCode(), r.body());
            single = settled(s).used();
        }
        try (Host host = two(failingOnce(), servlets("/ai/relay", new CallsThenHops()), failingOnce(),
                servlets("/ai/render", new Render()))) {
            String s = relayed(host, false, "the model ran once, in /a");
            assertEquals(single, settled(s).used(), kind() + ": two filters charge what one does; charged "
                    + settled(s).used() + ", one filter " + single);
        }
    }
}
