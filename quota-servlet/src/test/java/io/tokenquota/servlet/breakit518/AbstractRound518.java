package io.tokenquota.servlet.breakit518;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.ProviderStreams;
import io.tokenquota.servlet.testing.RelayedCalls;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 518 of issue 11 ("no model call goes unpaid"): round 360's mid-stream fallback (a relay whose upstream
 * stream broke writes the next call's whole stream after the broken one's chunks: Mastra's
 * {@code executeStreamWithFallbackModels}, LiteLLM's router {@code MidStreamFallbackError}, or an agent's
 * retry of the step), when the retried call comes back under the SAME id as the broken one:
 * <ul>
 *   <li><b>vLLM</b> names a chat completion {@code chatcmpl-<X-Request-Id>} when the request carries that
 *       header ({@code serving_chat.py}, {@code _base_request_id}), and a service mesh (Envoy, Istio) forwards
 *       one {@code X-Request-Id} on every upstream call a request makes, so the retry's chunks carry the broken
 *       call's id (the filter's own docs take this for vLLM, round 226). With
 *       {@code stream_options: {"include_usage": true, "continuous_usage_stats": true}} every chunk carries the
 *       running usage (vLLM's {@code protocol.py} {@code StreamOptions}).</li>
 *   <li><b>Hugging Face TGI</b>'s chat stream gives every chunk {@code "id": ""}
 *       (huggingface/text-generation-inference#1782), its last chunk the {@code finish_reason} beside the
 *       usage (round 226's shape), so any two TGI calls relayed one after the other share their id.</li>
 * </ul>
 * Round 360 made the broken call count when the next call's id is a new one; under one id the broken call's
 * chunks and the retry's are read as one call, the retry's final report replaces the broken call's running
 * count, and the broken call (which the provider ran and reported) is free. For vLLM's continuous usage under
 * one id that is the documented limit (docs/decisions.md, "Calls relayed under one id": such calls stay one
 * call, charged its last report), so its test is disabled with that reason; TGI's empty id is on every chunk
 * of every call, so any TGI call broken mid-stream and retried by the relay is free, even when the answer
 * carried far more text than the retry's final usage counts. Nothing in TGI's chunks tells the retry's first
 * chunk from the broken call's next one (its router writes the role, an empty id and the time on every chunk),
 * so those tests are disabled with the same documented reason; the controls pin what is charged right.
 */
abstract class AbstractRound518 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    static final String OPEN_CALLS_UNDER_ONE_ID = "issue 11, open: a call broken before its final report and"
            + " followed by another under the same id (vLLM under a forwarded X-Request-Id) or an empty one (TGI, whose"
            + " every chunk looks like a first one) stays one call, charged the last report: a relay that retries"
            + " reports its calls' usage itself (docs/decisions.md, \"Calls relayed under one id\")";

    static final long IN = 6_000;
    static final long OUT = 800;
    /** The running completion count of the broken call's last chunk (five chunks of 15). */
    static final long CUT_OUT = 75;
    /** The next step's prompt in an agent loop: the first step's prompt and answer. */
    static final long IN2 = IN + OUT;

    static final String WORDS = ProviderStreams.WORDS;
    /** vLLM's id for a request whose mesh-forwarded X-Request-Id is {@code 9f3c1a7e-…}. */
    static final String MESH_ID = "chatcmpl-9f3c1a7e-5b2d-4c61-a0e4-2f7d9c3b8e10";

    /** A vLLM chunk with continuous usage ({@code completion} tokens so far). */
    static Event vllmChunk(String id, String delta, String finish, long prompt, long completion) {
        return data("{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":"
                + "\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"logprobs\":null,"
                + "\"finish_reason\":" + (finish == null ? "null" : "\"" + finish + "\"") + "}],\"usage\":{\"prompt_tokens\":"
                + prompt + ",\"total_tokens\":" + (prompt + completion) + ",\"completion_tokens\":" + completion + "}}");
    }

    /**
     * A vLLM stream with continuous usage: the role chunk (0 completion tokens), five text chunks of 15 tokens each,
     * and, when {@code finished}, the chunk that finishes the choice with the final count, the usage-only chunk
     * {@code include_usage} adds, then {@code [DONE]}; unfinished, the stream broke after the fifth text chunk.
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

    /**
     * Hugging Face TGI's chat stream ({@code /v1/chat/completions}, {@code stream_options.include_usage}), as round
     * 226 writes it: {@code "id": ""} and the role on every chunk, five chunks of text, then, when {@code finished},
     * the last token's chunk with the {@code finish_reason} beside the usage and {@code [DONE]}.
     */
    static List<Event> tgi(long prompt, long completion, boolean finished) {
        String head = "{\"object\":\"chat.completion.chunk\",\"id\":\"\",\"created\":1735689600,\"model\":"
                + "\"meta-llama/Llama-3.1-8B-Instruct\",\"system_fingerprint\":\"2.4.0-native\",\"choices\":[{\"index\":0,";
        List<Event> e = new ArrayList<>();
        e.add(data(head + "\"delta\":{\"role\":\"assistant\",\"content\":\"Clause\"},\"logprobs\":null,\"finish_reason\":null}],"
                + "\"usage\":null}"));
        for (int i = 0; i < 5; i++) {
            e.add(data(head + "\"delta\":{\"role\":\"assistant\",\"content\":\" " + WORDS.trim() + "\"},\"logprobs\":null,"
                    + "\"finish_reason\":null}],\"usage\":null}"));
        }
        if (finished) {
            e.add(data(head + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + ",\"total_tokens\":"
                    + (prompt + completion) + "}}"));
            e.add(data("[DONE]"));
        }
        return e;
    }

    /**
     * A TGI stream broken after it carried a long answer: {@link ShapedAnswerRound#TEXT} (about 4,400 tokens) in 40
     * chunks, no usage yet. The retry's final usage (800 written) then counts far less than the text the answer
     * carried.
     */
    static List<Event> tgiLongCut() {
        String head = "{\"object\":\"chat.completion.chunk\",\"id\":\"\",\"created\":1735689600,\"model\":"
                + "\"meta-llama/Llama-3.1-8B-Instruct\",\"system_fingerprint\":\"2.4.0-native\",\"choices\":[{\"index\":0,";
        List<Event> e = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            e.add(data(head + "\"delta\":{\"role\":\"assistant\",\"content\":" + ShapedAnswerRound.q(ShapedAnswerRound.slice(i, 40))
                    + "},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}"));
        }
        return e;
    }

    {
        sse("tgi-long-cut-then-retry", 2, concat(tgiLongCut(), tgi(IN, OUT, true)));
        sse("tgi-long-cut-alone", 1, tgiLongCut());
        sse("vllm-cut-then-retry-same-id", 2, concat(vllm(MESH_ID, IN, 0, false), vllm(MESH_ID, IN, OUT, true)));
        sse("vllm-cut-then-retry-new-id", 2, concat(vllm(MESH_ID, IN, 0, false),
                vllm("chatcmpl-41b6d2c0", IN, OUT, true)));
        sse("vllm-cut-alone", 1, vllm(MESH_ID, IN, 0, false));
        sse("vllm-two-steps-same-id", 2, concat(vllm(MESH_ID, IN, OUT, true), vllm(MESH_ID, IN2, OUT, true)));
        sse("tgi-cut-then-retry", 2, concat(tgi(IN, 0, false), tgi(IN, OUT, true)));
        sse("tgi-cut-alone", 1, tgi(IN, 0, false));
        sse("tgi-two-steps", 2, concat(tgi(IN, OUT, true), tgi(IN2, OUT, true)));
    }

    /**
     * Free call: a vLLM stream (mesh-forwarded id) broken after five chunks, whose last running usage counts 6,000
     * read and 75 written, then the retry's whole stream under the same id (6,000 + 800): 12,875 owed, as round 360
     * charges it when the retry's id is new (control below).
     */
    @Test
    @Disabled(OPEN_CALLS_UNDER_ONE_ID)
    void vllmCallBrokenAndRetriedUnderTheSameIdIsPaidBesideTheRetry() {
        charged("vllm-cut-then-retry-same-id", IN + CUT_OUT + IN + OUT,
                "the broken call's running usage (6,075) and the retry's (6,800), one X-Request-Id");
    }

    /** Control (round 360's shape): the retry under a new id, 12,875. */
    @Test
    void controlVllmCallBrokenAndRetriedUnderANewId() {
        charged("vllm-cut-then-retry-new-id", IN + CUT_OUT + IN + OUT, "the broken call (6,075) and the retry (6,800)");
    }

    /** Control: the broken call alone is charged its last running usage, 6,075. */
    @Test
    void controlVllmBrokenCallAlone() {
        charged("vllm-cut-alone", IN + CUT_OUT, "the broken call's running usage");
    }

    /** Control: two finished steps under one id (6,800 and 7,600) are both charged, 14,400. */
    @Test
    void controlVllmTwoFinishedStepsUnderTheSameId() {
        charged("vllm-two-steps-same-id", IN + OUT + IN2 + OUT, "two finished vLLM calls under one X-Request-Id");
    }

    /**
     * Free call: a TGI stream broken after six chunks (no usage yet), then the retry's whole stream (6,000 + 800),
     * every chunk {@code "id": ""}. Owed: what the broken stream alone is charged plus 6,800.
     */
    @Test
    @Disabled(OPEN_CALLS_UNDER_ONE_ID)
    void tgiCallBrokenAndRetriedIsPaidBesideTheRetry() {
        long cutAlone = post("tgi-cut-alone");
        assertTrue(cutAlone > 0, kind() + " the broken call alone is charged: " + cutAlone);
        charged("tgi-cut-then-retry", cutAlone + IN + OUT,
                "the broken TGI call (" + cutAlone + " when alone) and the retry (6,800)");
    }

    /**
     * Free call, the answer showing it: a TGI stream broken after it carried about 4,400 tokens of text, then the
     * retry's whole stream (6,000 + 800, its final usage counting 800 written). Owed: what the broken stream alone
     * is charged (its text) plus 6,800.
     */
    @Test
    @Disabled(OPEN_CALLS_UNDER_ONE_ID)
    void tgiCallBrokenAfterALongAnswerAndRetriedIsPaidBesideTheRetry() {
        long cutAlone = post("tgi-long-cut-alone");
        assertTrue(cutAlone > 4_000, kind() + " the broken call alone is charged its text: " + cutAlone);
        charged("tgi-long-cut-then-retry", cutAlone + IN + OUT,
                "the broken TGI call's text (" + cutAlone + " when alone) and the retry (6,800)");
    }

    /** Control: two finished TGI steps (6,800 and 7,600) are both charged, 14,400. */
    @Test
    void controlTgiTwoFinishedSteps() {
        charged("tgi-two-steps", IN + OUT + IN2 + OUT, "two finished TGI calls");
    }
}
