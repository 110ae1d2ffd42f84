package io.tokenquota.servlet.breakit360;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.ProviderStreams;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 360 of issue 11 ("no model call goes unpaid"): streams at the edge of their end. An agent endpoint
 * relays, in one answer, a provider stream that ended before the chunk that finishes it, followed by the
 * next call's whole stream: the call the relay made again after its upstream stream broke (a mid-stream
 * fallback: Mastra's {@code executeStreamWithFallbackModels} enqueues the fallback model's stream after
 * the failed one's chunks, "@mastra/core" changeset "Fix model fallback not triggering on mid-stream
 * errors"; LiteLLM's router {@code MidStreamFallbackError}), or simply the agent's next step after a step
 * whose stream was cut by the provider.
 *
 * <p>The cut call was a model call: its provider reported, in its running counts, what it read and wrote so
 * far. The filter keeps a call's running count only until the call's final report; a running count under
 * another call's id that never got its final report is replaced by the next call's reports, so the cut
 * call is free.
 *
 * <ul>
 *   <li><b>vLLM with {@code stream_options: {"include_usage": true, "continuous_usage_stats": true}}</b>
 *       (vLLM's {@code StreamOptions}, {@code vllm/entrypoints/openai/protocol.py}; its
 *       {@code serving_chat.py} puts {@code UsageInfo(prompt_tokens, completion_tokens, total_tokens)} on
 *       every chunk): the cut call's chunks each carry the running usage, a final count of what was read
 *       and written so far; then the next call ({@code chatcmpl-…} id of its own) to its usage-only
 *       chunk.</li>
 *   <li><b>Gemini {@code streamGenerateContent?alt=sse}</b> (GenerateContentResponse: {@code candidates},
 *       {@code usageMetadata}, {@code modelVersion}, {@code responseId}; the prompt counted on every chunk,
 *       as {@link ProviderStreams#gemini}): the cut call's chunks (no chunk with a {@code finishReason}),
 *       then the next call's whole stream under its own {@code responseId}.</li>
 * </ul>
 * Every model is charged one unit a token; the relay counts the model calls it makes.
 */
abstract class AbstractRound360 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    static final long IN = 6_000;
    static final long OUT = 800;
    /** The running completion count of the cut call's last chunk. */
    static final long CUT_OUT = 75;

    static final String WORDS = ProviderStreams.WORDS;

    /** A vLLM chunk with continuous usage ({@code completion} tokens so far). */
    static Event vllmChunk(String id, String delta, String finish, long prompt, long completion) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"logprobs\":null,"
                + "\"finish_reason\":" + (finish == null ? "null" : "\"" + finish + "\"") + "}],\"usage\":{\"prompt_tokens\":"
                + prompt + ",\"total_tokens\":" + (prompt + completion) + ",\"completion_tokens\":" + completion + "}}");
    }

    /**
     * A vLLM stream with continuous usage: the role chunk (0 completion tokens), five text chunks of 15 tokens
     * each, and, when {@code finished}, the chunk that finishes the choice with the final count and the
     * usage-only chunk {@code include_usage} adds, then {@code [DONE]}.
     */
    static List<Event> vllm(String id, long prompt, long completion, boolean finished) {
        List<Event> e = new ArrayList<>();
        e.add(vllmChunk(id, "{\"role\":\"assistant\",\"content\":\"\"}", null, prompt, 0));
        for (int i = 1; i <= 5; i++) {
            e.add(vllmChunk(id, "{\"content\":\"" + WORDS + "\"}", null, prompt, 15L * i));
        }
        if (finished) {
            e.add(vllmChunk(id, "{\"content\":\"\"}", "stop", prompt, completion));
            e.add(data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                    + "\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt
                    + ",\"total_tokens\":" + (prompt + completion) + ",\"completion_tokens\":" + completion + "}}"));
            e.add(data("[DONE]"));
        }
        return e;
    }

    /** Gemini's stream cut before the chunk that finishes its candidate: five chunks of text, the prompt counted on each. */
    static List<Event> geminiCut(String responseId, long prompt) {
        List<Event> whole = ProviderStreams.gemini(responseId, prompt, OUT);
        return whole.subList(0, whole.size() - 1);
    }

    {
        sse("vllm-cut-then-next", 2, concat(vllm("chatcmpl-9f3c1a7e", IN, 0, false), vllm("chatcmpl-41b6d2c0", IN, OUT, true)));
        sse("vllm-cut-alone", 1, vllm("chatcmpl-9f3c1a7e", IN, 0, false));
        sse("vllm-both-finished", 2, concat(vllm("chatcmpl-9f3c1a7e", IN, OUT, true), vllm("chatcmpl-41b6d2c0", IN, OUT, true)));
        sse("gemini-cut-then-next", 2, concat(geminiCut("R5sqaJaWNrPYj8MPjK2X2Q4", IN),
                ProviderStreams.gemini("b7qQaK2fDo6Yj8MPqvLh2Qk", IN, OUT)));
        sse("gemini-cut-alone", 1, geminiCut("R5sqaJaWNrPYj8MPjK2X2Q4", IN));
        sse("gemini-both-finished", 2, concat(ProviderStreams.gemini("R5sqaJaWNrPYj8MPjK2X2Q4", IN, OUT),
                ProviderStreams.gemini("b7qQaK2fDo6Yj8MPqvLh2Qk", IN, OUT)));
    }

    /**
     * Free call: a vLLM stream cut after five chunks, whose last running usage counts 6,000 read and 75
     * written, then the next call's whole stream (6,000 + 800). 12,875 owed.
     */
    @Test
    void vllmCallCutBeforeItsLastChunkIsPaidBesideTheNext() {
        charged("vllm-cut-then-next", IN + CUT_OUT + IN + OUT,
                "the cut call's running usage (6,075) and the next call's (6,800)");
    }

    /** Control: the cut call alone is charged its last running usage, 6,075. */
    @Test
    void controlVllmCallCutAlone() {
        charged("vllm-cut-alone", IN + CUT_OUT, "the cut call's running usage");
    }

    /** Control: both calls finished are both charged, 13,600. */
    @Test
    void controlVllmBothFinished() {
        charged("vllm-both-finished", 2 * (IN + OUT), "two finished vLLM calls");
    }

    /**
     * Free call: a Gemini stream cut before its finishing chunk (its chunks counted the 6,000-token prompt),
     * then the next call's whole stream (6,800). Owed: what the cut call alone is charged (its prompt and the
     * text it carried, at least its estimate) plus 6,800.
     */
    @Test
    void geminiCallCutBeforeItsFinishIsPaidBesideTheNext() {
        long cutAlone = post("gemini-cut-alone");
        assertEquals(true, cutAlone >= IN, kind() + " the cut call alone is charged at least its prompt: " + cutAlone);
        charged("gemini-cut-then-next", cutAlone + IN + OUT,
                "the cut call (" + cutAlone + " when alone) and the next call (6,800)");
    }

    /** Control: both Gemini calls finished are both charged, 13,600. */
    @Test
    void controlGeminiBothFinished() {
        charged("gemini-both-finished", 2 * (IN + OUT), "two finished Gemini calls");
    }
}
