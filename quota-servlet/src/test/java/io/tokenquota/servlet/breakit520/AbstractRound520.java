package io.tokenquota.servlet.breakit520;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.IncludeCycleRound;
import org.junit.jupiter.api.Test;

/**
 * Round 520 of issue 11: a call let through under fail-open whose async cycle crosses into another context (Jetty:
 * a new REQUEST of that context, carrying the call's attributes), while a failover ends under it: the store refuses
 * the call's own reserve and answers the next one. The call is recognised across contexts by its running key
 * ({@code letThrough}), which only a keyed call has: an unkeyed one's hop meets the store back, is held as a call of
 * its own and charged, though it is the let-through call (decisions: "a dispatch of a call let through into another
 * context ... is that call while it runs", both keyed and unkeyed). One filter instance in both contexts, fail-open.
 * The model answers 1,200 prompt + 300 completion = 1,500 tokens (OpenAI chat.completion, written by the rig).
 */
abstract class AbstractRound520 extends IncludeCycleRound {
    AbstractRound520() {
        super("r520");
    }

    /**
     * Unkeyed: the relay's reserve meets the failover and the call is let through uncharged; its async hop into
     * /b (the same call, the model reached once) meets the store back and is held and charged as a new call:
     * charged 1,500 on Jetty for a call that fail-open let through, 0 expected (as the keyed control below and as
     * on Tomcat, whose hop is an ASYNC dispatch). The cause: only a keyed call gets a running {@code SeenKeys.Call}
     * and the {@code letThrough} mark that crossContextAsync looks for.
     */
    @Test
    void anUnkeyedCallLetThroughIsNotHeldAgainAcrossContextsOnceTheStoreIsBack() throws Exception {
        QuotaFilter one = failingOnce(failover());
        try (Host host = two(one, servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)), one,
                servlets("/ai/chat/completions", model()))) {
            String s = relayed(host, true, "the model ran once");
            assertEquals(0, settled(s).used(), kind() + ": the let-through call's hop into /b is that call,"
                    + " uncharged like it; charged " + settled(s).used() + " (usage " + USAGE + ")");
        }
    }

    /** Control: the same, keyed: its running key marks the hop as the call's own, nothing charged. */
    @Test
    void aKeyedCallLetThroughIsNotHeldAgainAcrossContextsOnceTheStoreIsBack() throws Exception {
        QuotaFilter one = failingOnce(failover());
        try (Host host = two(one, servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)), one,
                servlets("/ai/chat/completions", model()))) {
            String s = relayed(host, true, "the model ran once", "Idempotency-Key", "k520");
            assertEquals(0, settled(s).used(), kind() + ": charged " + settled(s).used());
        }
    }

    /** Control: the store up throughout, unkeyed: held once and charged the call's usage across contexts. */
    @Test
    void anUnkeyedCallHeldIsChargedItsUsageOnceAcrossContexts() throws Exception {
        QuotaFilter one = failingOnce(failover());
        try (Host host = two(one, servlets("/ai/relay", new CrossHop("/b", "/ai/chat/completions", Hand.ASYNC)), one,
                servlets("/ai/chat/completions", model()))) {
            String s = relayed(host, false, "the model ran once");
            assertEquals(USAGE, settled(s).used(), kind() + ": charged " + settled(s).used());
        }
    }

    /**
     * Unkeyed, the model called in /a during the failover, /b only rendering its answer: /b's hop, which reaches no
     * model, meets the store back and is charged its estimate (a 2xx without usage) on Jetty; 0 expected, the call
     * was let through (Tomcat: 0).
     */
    @Test
    void anUnkeyedCallLetThroughIsNotChargedForRenderingItsAnswerInAnotherContext() throws Exception {
        QuotaFilter one = failingOnce(failover());
        try (Host host = two(one, servlets("/ai/relay", new CallsThenHops()), one, servlets("/ai/render", new Render()))) {
            String s = relayed(host, true, "the model ran once, in /a");
            assertEquals(0, settled(s).used(), kind() + ": the hop into /b reached no model; charged "
                    + settled(s).used());
        }
    }

    /** Control: the same keyed: nothing charged. */
    @Test
    void aKeyedCallLetThroughIsNotChargedForRenderingItsAnswerInAnotherContext() throws Exception {
        QuotaFilter one = failingOnce(failover());
        try (Host host = two(one, servlets("/ai/relay", new CallsThenHops()), one, servlets("/ai/render", new Render()))) {
            String s = relayed(host, true, "the model ran once, in /a", "Idempotency-Key", "k520r");
            assertEquals(0, settled(s).used(), kind() + ": charged " + settled(s).used());
        }
    }
}
