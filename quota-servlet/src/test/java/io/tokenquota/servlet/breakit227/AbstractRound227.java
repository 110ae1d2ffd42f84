package io.tokenquota.servlet.breakit227;

import static io.tokenquota.servlet.testing.ProviderStreams.WORDS;
import static io.tokenquota.servlet.testing.ProviderStreams.gemini;
import static io.tokenquota.servlet.testing.ProviderStreams.openAi;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 227 of issue 11: the round-226 rules for several model calls in one answer (new choices after a
 * chunk that finished its choice beside the usage; an id-less report after calls is another call unless
 * its total equals the calls' sum). One unit a token.
 */
abstract class AbstractRound227 extends RelayedCalls {
    /** Why tests of this round are disabled: the open part of issue 11 they show. */
    static final String OPEN_IDLESS_REPORT = "issue 11, open: a report naming no call after several calls that is not"
            + " their sum is another call, also a run's total that counts calls the relay did not pass on"
            + " (docs/decisions.md, \"A report naming no call after relayed calls (open)\")";

    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    static final long AGENT = 15_600;

    static String chatUsage(long in, long out) {
        return "{\"prompt_tokens\":" + in + ",\"completion_tokens\":" + out + ",\"total_tokens\":" + (in + out) + "}";
    }

    /** A whole chat completion relayed by a server that gives it no id (a small model's verdict). */
    static Event idlessCompletion(long in, long out) {
        return data("{\"object\":\"chat.completion\",\"created\":1735689700,\"model\":\"llama-3.1-8b\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"APPROVED\"},\"finish_reason\":\"stop\"}],\"usage\":"
                + chatUsage(in, out) + "}");
    }

    static Event runCompleted(long in, long out) {
        return new Event("run.completed", "{\"type\":\"run.completed\",\"requests\":3,\"usage\":" + chatUsage(in, out) + "}");
    }

    // Bedrock ConverseStream (each stream event's payload as the SDK hands it over)
    static List<Event> converse(long in, long out) {
        List<Event> e = new ArrayList<>();
        e.add(data("{\"messageStart\":{\"role\":\"assistant\"}}"));
        for (int i = 0; i < 5; i++) {
            e.add(data("{\"contentBlockDelta\":{\"delta\":{\"text\":\"" + WORDS + "\"},\"contentBlockIndex\":0}}"));
        }
        e.add(data("{\"contentBlockStop\":{\"contentBlockIndex\":0}}"));
        e.add(data("{\"messageStop\":{\"stopReason\":\"end_turn\"}}"));
        e.add(data("{\"metadata\":{\"usage\":{\"inputTokens\":" + in + ",\"outputTokens\":" + out + ",\"totalTokens\":"
                + (in + out) + "},\"metrics\":{\"latencyMs\":1180}}}"));
        return e;
    }

    /**
     * vLLM's chat stream of one call with n = 2 that the application asks itself (best of two), with
     * {@code stream_options: {"include_usage": true, "continuous_usage_stats": true}}: each chunk carries the
     * usage of its own choice (prompt + that choice's tokens so far); choice 0 finishes first, choice 1 goes on;
     * the last chunk (no choices) adds both choices up.
     */
    static List<Event> vllmTwoChoices(String id, long prompt, long c0, long c1) {
        String head = "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":";
        List<Event> e = new ArrayList<>();
        for (int step = 1; step <= 4; step++) {
            long t0 = c0 * step / 4;
            long t1 = c1 * step / 8;
            e.add(data(head + "0,\"delta\":{\"content\":\"" + WORDS + "\"},\"logprobs\":null,\"finish_reason\":"
                    + (step == 4 ? "\"stop\"" : "null") + ",\"stop_reason\":null}],\"usage\":" + chatUsage(prompt, t0) + "}"));
            e.add(data(head + "1,\"delta\":{\"content\":\"" + WORDS + "\"},\"logprobs\":null,\"finish_reason\":null,"
                    + "\"stop_reason\":null}],\"usage\":" + chatUsage(prompt, t1) + "}"));
        }
        for (int step = 5; step <= 8; step++) {
            long t1 = c1 * step / 8;
            e.add(data(head + "1,\"delta\":{\"content\":\"" + WORDS + "\"},\"logprobs\":null,\"finish_reason\":"
                    + (step == 8 ? "\"stop\"" : "null") + ",\"stop_reason\":null}],\"usage\":" + chatUsage(prompt, t1) + "}"));
        }
        e.add(data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[],\"usage\":" + chatUsage(prompt, c0 + c1) + "}"));
        e.add(data("[DONE]"));
        return e;
    }

    {
        // attack 1: one OpenAI call, then a second call (a small model's verdict) relayed whole without an id
        sse("one-then-idless-call", 2, concat(openAi("chatcmpl-a1", 2_000, 100), List.of(idlessCompletion(1_000, 50))));
        // attack 2: three calls made, the planner's (2,100) not relayed (tool-choice call, no text), then the run's
        // total of all three
        sse("total-counts-unrelayed-call", 3, concat(openAi("chatcmpl-b2", 5_000, 100), openAi("chatcmpl-c3", 8_000, 400),
                List.of(runCompleted(15_000, 600))));
        // attack 3: three calls, then the run's total twice (a summary event and the stream's own done event)
        sse("total-twice", 3, concat(openAi("chatcmpl-a1", 2_000, 100), openAi("chatcmpl-b2", 5_000, 100),
                openAi("chatcmpl-c3", 8_000, 400), List.of(runCompleted(15_000, 600),
                        new Event("done", "{\"type\":\"done\",\"usage\":" + chatUsage(15_000, 600) + "}"))));
        // attack 4: three calls, then a fourth call relayed without an id (a judge that reads the whole transcript)
        // whose total happens to equal the three calls' sum, its input and output split otherwise
        sse("idless-call-equal-total", 4, concat(openAi("chatcmpl-a1", 2_000, 100), openAi("chatcmpl-b2", 5_000, 100),
                openAi("chatcmpl-c3", 8_000, 400), List.of(idlessCompletion(15_500, 100))));
        // attack 5: three Bedrock ConverseStream calls (an agent on Bedrock, Strands-style), then the agent's
        // accumulated usage in Bedrock's own shape
        sse("converse-then-total", 3, concat(converse(2_000, 100), converse(5_000, 100), converse(8_000, 400),
                List.of(data("{\"type\":\"agent.done\",\"usage\":{\"inputTokens\":15000,\"outputTokens\":600,"
                        + "\"totalTokens\":15600}}"))));
        // attack 6: vLLM, n = 2 asked by the application, continuous usage: one call, 2,000 + 100 + 300
        sse("vllm-two-choices", 1, vllmTwoChoices("chatcmpl-v1", 2_000, 100, 300));
        // attack 7: three Gemini calls (each its responseId), then the run's total
        sse("gemini-then-total", 3, concat(gemini("resp-g1", 2_000, 100), gemini("resp-g2", 5_000, 100),
                gemini("resp-g3", 8_000, 400), List.of(runCompleted(15_000, 600))));
        // attack 8: two calls, then a total smaller than their sum is impossible; a total larger (an unrelayed
        // third call's 8,400 in it) after two relayed calls
        sse("two-then-larger-total", 3, concat(openAi("chatcmpl-a1", 2_000, 100), openAi("chatcmpl-b2", 5_000, 100),
                List.of(runCompleted(15_000, 600))));
        // control: one call then its own total
        sse("one-then-total", 1, concat(openAi("chatcmpl-a1", 2_000, 100), List.of(runCompleted(2_000, 100))));
    }

    @Test
    void oneCallThenAnIdlessCallIsTwoCalls() {
        charged("one-then-idless-call", 3_150, "one named call (2,100), then an id-less whole call (1,050)");
    }

    @Test
    @Disabled(OPEN_IDLESS_REPORT)
    void aTotalCountingAnUnrelayedCallIsNotAnotherCall() {
        charged("total-counts-unrelayed-call", AGENT, "three calls reached the model (15,600), two relayed, then the run's total");
    }

    @Test
    void theTotalSentTwiceAddsNothing() {
        charged("total-twice", AGENT, "three calls, then their total twice");
    }

    @Test
    void anIdlessCallWhoseTotalEqualsTheSumIsCharged() {
        charged("idless-call-equal-total", AGENT + AGENT, "three calls, then a fourth id-less call of 15,500 + 100");
    }

    @Test
    void aConverseTotalAfterConverseCallsIsNotAFourthCall() {
        charged("converse-then-total", AGENT, "three ConverseStream calls, then their total");
    }

    @Test
    void vllmTwoChoicesAreOneCall() {
        charged("vllm-two-choices", 2_400, "one vLLM call, n = 2, continuous usage");
    }

    @Test
    void aTotalAfterGeminiCallsIsNotAFourthCall() {
        charged("gemini-then-total", AGENT, "three Gemini calls, then their total");
    }

    @Test
    @Disabled(OPEN_IDLESS_REPORT)
    void aLargerTotalAfterTwoRelayedCalls() {
        charged("two-then-larger-total", AGENT, "three calls made, two relayed, then the run's total");
    }

    @Test
    void controlVllmTwoChoicesTheClientAsked() {
        charged("vllm-two-choices", "{\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"n\":2,\"stream\":true,\"messages\":"
                + "[{\"role\":\"user\",\"content\":\"Read the three vendor contracts and draft a memo.\"}]}", 2_400,
                "one vLLM call, n = 2 named by the client");
    }

    @Test
    void controlOneCallThenItsTotal() {
        charged("one-then-total", 2_100, "one call, then its total");
    }
}
