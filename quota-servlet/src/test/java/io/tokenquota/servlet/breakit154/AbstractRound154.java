package io.tokenquota.servlet.breakit154;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.testing.RelayedCalls;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 154 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * per-model weights on an answer that relays several model calls of different models. The filter adds
 * such calls up (each a provider's whole answer under its own id); it used to add up their usage kinds
 * first and then weigh the sum at the rates of the one model, among those the answer names, that made
 * the sum dearest. An agent that plans with one model and writes with another was then charged neither
 * what its calls cost (each call is now weighed at its own model's rates):
 * <ul>
 *   <li>when one model is dearer for input and the other for output (the demo's own table:
 *       {@code gpt-4.1} 2 / 8, {@code gemini-2.5-pro} 1.25 / 10), a call that reads much on the first and
 *       a call that writes much on the second are each weighed at the wrong rate for their bulk: the
 *       user pays less than either call's own charge added up (under-charge);</li>
 *   <li>when one model is dearer in every kind ({@code gpt-4o} over {@code gpt-4o-mini}), a long read by
 *       the small model is charged at the large model's rates (over-charge: tokens the large model never
 *       read are charged as if it had).</li>
 * </ul>
 * The weights are the demo's example table's rows ({@code model-weights.csv}); the agent calls OpenAI
 * and Gemini through their OpenAI-compatible chat APIs and sends each step's {@code ChatCompletion} to
 * the browser as one event (a Spring {@code SseEmitter.send(completion)}), the shape rounds 126 and 129
 * showed to be added up call by call.
 */
abstract class AbstractRound154 extends RelayedCalls {
    /** One model call: the model that answered, prompt tokens, completion tokens. */
    record Step(String model, long prompt, long completion) {
    }

    /** Research: gpt-4.1 reads the sources (4,000 + 5), Gemini 2.5 Pro writes the memo (4 + 900). */
    static final List<Step> RESEARCH = List.of(
            new Step("gpt-4.1-2025-04-14", 4_000, 5),
            new Step("gemini-2.5-pro", 4, 900));
    /** Research's calls at their own rates: 8,000 + 40 = 8,040 and 5 + 9,000 = 9,005. */
    static final long RESEARCH_COST = 8_040 + 9_005;

    /** Digest: gpt-4o-mini reads a long thread (30,000 + 200), gpt-4o writes the digest (500 + 500). */
    static final List<Step> DIGEST = List.of(
            new Step("gpt-4o-mini-2024-07-18", 30_000, 200),
            new Step("gpt-4o-2024-08-06", 500, 500));
    /** Digest's calls at their own rates: 4,500 + 120 = 4,620 and 1,250 + 5,000 = 6,250. */
    static final long DIGEST_COST = 4_620 + 6_250;

    /**
     * Research through a relay that drops the first call's {@code model}: that call is weighed at the
     * dearest model the answer names (Gemini 2.5 Pro: 5,000 + 50), the other at its own rates (9,005).
     */
    static final List<Step> UNNAMED = List.of(new Step(null, 4_000, 5), RESEARCH.get(1));
    static final long UNNAMED_COST = 5_050 + 9_005;

    static final Map<String, List<Step>> AGENTS = Map.of("research", RESEARCH, "digest", DIGEST, "unnamed", UNNAMED);

    /**
     * {@code POST /ai/agent/{research|digest|unnamed}}: the agent runs its steps, each a model call of its own
     * model, and sends each step's completion to the browser as one event. {@code POST /ai/step/{agent}/{index}}:
     * one step of an agent alone (the same model call, relayed the same way), as a client that runs the loop
     * itself calls it.
     */
    @Override
    protected String[] relayPaths() {
        return new String[] {"/ai/agent/*", "/ai/step/*"};
    }

    {
        AGENTS.forEach((agent, steps) -> {
            List<Event> events = new ArrayList<>();
            for (int i = 0; i < steps.size(); i++) {
                events.add(data(completion(steps.get(i), i)));
                relay(agent + "/" + i, 1, Framing.SPRING_SSE, List.of(data(completion(steps.get(i), 0))));
            }
            relay(agent, steps.size(), Framing.SPRING_SSE, events);
        });
    }

    /** A whole OpenAI-compatible chat completion for {@code step}, as the SDK's object serialises it. */
    static String completion(Step step, int index) {
        return "{\"id\":\"chatcmpl-Bq7kR2vXw9LmN4pT" + index + UUID.randomUUID().toString().substring(0, 8)
                + "\",\"object\":\"chat.completion\",\"created\":1735689600,"
                + (step.model() == null ? "" : "\"model\":\"" + step.model() + "\",") + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Step " + index
                + " done.\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":" + step.prompt() + ",\"completion_tokens\":" + step.completion()
                + ",\"total_tokens\":" + (step.prompt() + step.completion()) + ",\"prompt_tokens_details\":"
                + "{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,"
                + "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
                + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_f33640a400\"}";
    }

    HttpResponse<String> run(String path, String subject) {
        return TestHttp.postJson(container.uri(path), subject, TASK);
    }

    // ------------------------------------------------------------------ tests

    /**
     * Control: each step of both agents relayed by a request of its own is charged that call's usage at
     * its own model's rates: 8,040 + 9,005 for research, 4,620 + 6,250 for digest.
     */
    @Test
    void controlEachCallAloneIsChargedAtItsOwnModelsRates() {
        for (String agent : List.of("research", "digest")) {
            String s = subject();
            for (int i = 0; i < AGENTS.get(agent).size(); i++) {
                HttpResponse<String> r = run("/ai/step/" + agent + "/" + i, s);
                assertEquals(200, r.statusCode(), agent + " step " + i + ": " + r.body());
            }
            QuotaAccount a = settled(s);
            assertEquals(2, calls.of(s), "model calls");
            long expected = agent.equals("research") ? RESEARCH_COST : DIGEST_COST;
            assertEquals(expected, a.used(), agent + ": each call alone, ledger " + ledger(s));
        }
    }

    /**
     * Attack (under-charge): the research agent reads on gpt-4.1 (dearer input) and writes on Gemini 2.5
     * Pro (dearer output) in one request. Its two calls cost 8,040 + 9,005 = 17,045 units at their own
     * rates; the filter weighs their summed kinds (4,004 input, 905 output) at whichever one model makes
     * that sum dearest (gpt-4.1: 8,008 + 7,240 = 15,248), so one request through the agent is charged
     * about 1,800 units less than the same two calls made one by one. Expected: 17,045.
     */
    @Test
    void agentMixingModelsIsChargedEachCallAtItsOwnRates() {
        String s = subject();
        HttpResponse<String> r = run("/ai/agent/research", s);
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = settled(s);
        assertEquals(2, calls.of(s), "model calls");
        assertEquals(RESEARCH_COST, a.used(), "gpt-4.1 4,000+5 and gemini-2.5-pro 4+900 in one answer; ledger " + ledger(s));
    }

    /**
     * A relayed call whose document names no model is weighed at the dearest model the answer names (a
     * relay cannot make a call cheaper by dropping its name), each named call at its own rates.
     */
    @Test
    void aCallNamingNoModelIsWeighedAtTheAnswersDearestModel() {
        String s = subject();
        HttpResponse<String> r = run("/ai/agent/unnamed", s);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(UNNAMED_COST, settled(s).used(), "unnamed 4,000+5 and gemini-2.5-pro 4+900; ledger " + ledger(s));
    }

    /**
     * Accountant (over-charge): the digest agent reads a 30,000-token thread on gpt-4o-mini and writes a
     * short digest on gpt-4o. Its calls cost 4,620 + 6,250 = 10,870 units, well inside the 20,000
     * allowance; the filter weighs all 30,500 input and 700 output tokens at gpt-4o's rates (83,250), as if
     * gpt-4o had read the thread, and the honest user's next call is refused. Expected: 10,870 charged and
     * the next call served.
     */
    @Test
    void smallModelsLongReadIsNotChargedAtTheLargeModelsRates() {
        String s = subject();
        HttpResponse<String> r = run("/ai/agent/digest", s);
        assertEquals(200, r.statusCode(), r.body());
        QuotaAccount a = settled(s);
        assertEquals(2, calls.of(s), "model calls");
        long used = a.used();
        HttpResponse<String> next = run("/ai/step/digest/1", s);
        assertEquals(DIGEST_COST, used, "gpt-4o-mini 30,000+200 and gpt-4o 500+500 in one answer; ledger " + ledger(s));
        assertEquals(200, next.statusCode(), "the next call, after " + used + " of " + ALLOWANCE + " used: " + next.body());
    }
}
