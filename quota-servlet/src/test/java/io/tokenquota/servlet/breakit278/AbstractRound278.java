package io.tokenquota.servlet.breakit278;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 278 of issue 11 ("no model call goes unpaid"): an endpoint that makes two model calls and returns
 * both answers as they are, in one body (a "two drafts to choose from" feature, as round 171), on providers
 * whose whole answers name no call by an id of their own.
 *
 * <ul>
 *   <li><b>llama.cpp's native {@code POST /completion}</b> (its server's
 *       {@code server_task_result_cmpl_final::to_json_non_oaicompat}: {@code index}, {@code content},
 *       {@code tokens}, {@code id_slot}, {@code stop}, {@code model}, {@code tokens_predicted},
 *       {@code tokens_evaluated}, {@code generation_settings}, {@code prompt}, {@code has_new_line},
 *       {@code truncated}, {@code stop_type}, {@code stopping_word}, {@code tokens_cached}, {@code timings}).
 *       Each separate request is its own task with {@code "index": 0}; older servers send no {@code index}.
 *       Two such answers in a JSON array or as NDJSON are charged <b>one</b> call, whatever their counts:
 *       with {@code index} the first (3,800 for 3,800 + 3,840), without it (a 2024 server) the last (3,840). The filter
 *       reads a list of llama.cpp answers as one multi-prompt answer "whose objects carry distinct
 *       {@code index} values" (docs/servlet.md), yet two answers that both say {@code index} 0 are two
 *       calls, not one call reported twice.</li>
 *   <li><b>Bedrock Converse</b> whole answers ({@code output}, {@code stopReason}, {@code usage},
 *       {@code metrics.latencyMs}: the Converse API reference; AWS's Nova user guide, "Response structure
 *       highlights"), two drafts with the same prompt and both cut at {@code maxTokens}, so the same counts:
 *       charged one (3,800 for 7,600). docs/decisions.md accepts this as "the price of never charging one
 *       call twice" for calls "with no ids of their own", but these two are told apart by what a repeated
 *       report would repeat: their own {@code metrics.latencyMs} and their text. Converse cannot be asked for
 *       two completions ({@code n}), so an application that wants two drafts makes two calls; a client of it
 *       gets every second draft free. The same two calls streamed (ConverseStream, each from its
 *       {@code messageStart}) are charged both (control).</li>
 * </ul>
 * Every model is charged one unit a token; the relay counts the model calls it makes.
 */
abstract class AbstractRound278 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    static final long IN = 3_000;
    static final long OUT = 800;
    static final long ONE = IN + OUT;
    static final String DRAFT_A = "Dear Ms. Keller, thank you for your patience. Your parcel left our warehouse late because";
    static final String DRAFT_B = "Hello Ms. Keller, we are sorry that your order arrived four days after the promised date";

    static String converse(String text, long in, long out, long latency) {
        return "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"" + text + "\"}]}},"
                + "\"stopReason\":\"max_tokens\",\"usage\":{\"inputTokens\":" + in + ",\"outputTokens\":" + out
                + ",\"totalTokens\":" + (in + out) + "},\"metrics\":{\"latencyMs\":" + latency + "}}";
    }

    static List<Event> converseStreamJson(String text, long in, long out, long latency) {
        List<Event> e = new ArrayList<>();
        e.add(data("{\"messageStart\":{\"role\":\"assistant\"}}"));
        for (String w : text.split(" ")) {
            e.add(data("{\"contentBlockDelta\":{\"delta\":{\"text\":\"" + w + " \"},\"contentBlockIndex\":0}}"));
        }
        e.add(data("{\"contentBlockStop\":{\"contentBlockIndex\":0}}"));
        e.add(data("{\"messageStop\":{\"stopReason\":\"max_tokens\"}}"));
        e.add(data("{\"metadata\":{\"usage\":{\"inputTokens\":" + in + ",\"outputTokens\":" + out + ",\"totalTokens\":"
                + (in + out) + "},\"metrics\":{\"latencyMs\":" + latency + "}}}"));
        return e;
    }

    static String llamaCpp(String text, long in, long out, double ms) {
        return "{\"index\":0,\"content\":\"" + text + "\",\"tokens\":[],\"id_slot\":0,\"stop\":true,\"model\":\"qwen2.5-7b-instruct\","
                + "\"tokens_predicted\":" + out + ",\"tokens_evaluated\":" + in + ",\"generation_settings\":{\"n_predict\":800},"
                + "\"prompt\":\"<|im_start|>user\\nDraft a reply<|im_end|>\\n\",\"has_new_line\":true,\"truncated\":false,"
                + "\"stop_type\":\"limit\",\"stopping_word\":\"\",\"tokens_cached\":" + (in + out - 1) + ",\"timings\":{\"prompt_n\":"
                + in + ",\"prompt_ms\":" + ms + ",\"predicted_n\":" + out + ",\"predicted_ms\":" + (ms * 20) + "}}";
    }

    /**
     * The same answer as a 2024 llama.cpp server wrote it (the fields of {@code LlamaCompletionResponse} in
     * tufts-hrilab's DIARC client): no {@code index}, {@code stopped_eos}/{@code stopped_limit}/{@code stopped_word}
     * in place of {@code stop_type}.
     */
    static String older(String answer) {
        return answer.replace("\"index\":0,", "").replace("\"has_new_line\":true,", "")
                .replace("\"stop_type\":\"limit\"", "\"stopped_eos\":false,\"stopped_limit\":true,\"stopped_word\":false");
    }

    {
        answer("converse-one", "application/json", List.of(converse(DRAFT_A, IN, OUT, 9_812)), 1);
        answer("converse-array", "application/json", List.of("[" + converse(DRAFT_A, IN, OUT, 9_812) + ","
                + converse(DRAFT_B, IN, OUT, 10_344) + "]"), 2);
        answer("converse-ndjson", "application/x-ndjson", List.of(converse(DRAFT_A, IN, OUT, 9_812) + "\n",
                converse(DRAFT_B, IN, OUT, 10_344) + "\n"), 2);
        answer("converse-array-apart", "application/json", List.of("[" + converse(DRAFT_A, IN, OUT, 9_812) + ","
                + converse(DRAFT_B, IN, OUT + 1, 10_344) + "]"), 2);
        sse("converse-stream-json-two", 2, concat(converseStreamJson(DRAFT_A, IN, OUT, 9_812),
                converseStreamJson(DRAFT_B, IN, OUT, 10_344)));
        answer("llamacpp-array", "application/json", List.of("[" + llamaCpp(DRAFT_A, IN, OUT, 412.3) + ","
                + llamaCpp(DRAFT_B, IN, OUT, 398.7) + "]"), 2);
        answer("llamacpp-array-apart", "application/json", List.of("[" + llamaCpp(DRAFT_A, IN, OUT, 412.3) + ","
                + llamaCpp(DRAFT_B, IN + 40, OUT, 398.7) + "]"), 2);
        answer("llamacpp-noindex-apart", "application/json", List.of("[" + older(llamaCpp(DRAFT_A, IN, OUT, 412.3)) + ","
                + older(llamaCpp(DRAFT_B, IN + 40, OUT, 398.7)) + "]"), 2);
        answer("ollama-array-apart", "application/json", List.of("[" + ollamaWhole("llama3.2", DRAFT_A, IN, OUT).data() + ","
                + ollamaWhole("llama3.2", DRAFT_B, IN + 40, OUT).data() + "]"), 2);
        answer("llamacpp-ndjson", "application/x-ndjson", List.of(llamaCpp(DRAFT_A, IN, OUT, 412.3) + "\n",
                llamaCpp(DRAFT_B, IN + 40, OUT, 398.7) + "\n"), 2);
    }

    /**
     * Free call: two llama.cpp {@code /completion} answers (two drafts, both cut at {@code n_predict} 800, the
     * same 3,000-token prompt), each {@code "index": 0} as every single request's answer is, as a JSON array.
     * 7,600 owed.
     */
    @Test
    void twoLlamaCppDraftsAreTwoCalls() {
        charged("llamacpp-array", 2 * ONE, "two llama.cpp answers, 3,800 each");
    }

    /**
     * Free call, counts apart: the second draft's prompt is 40 tokens longer (another instruction), so no
     * count repeats; the two answers as a JSON array and as NDJSON. 7,640 owed.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llamacpp-array-apart", "llamacpp-ndjson"})
    void twoLlamaCppAnswersWithOtherCountsAreTwoCalls(String scenario) {
        charged(scenario, 2 * ONE + 40, "two llama.cpp answers, 3,800 and 3,840");
    }

    /** Free call: the same two answers from a llama.cpp server that sends no {@code index}. 7,640 owed. */
    @Test
    void twoLlamaCppAnswersWithoutIndexAreTwoCalls() {
        charged("llamacpp-noindex-apart", 2 * ONE + 40, "two llama.cpp answers without index, 3,800 and 3,840");
    }

    /**
     * Free call: two Bedrock Converse drafts with the same counts, each with its own latency and text, as a
     * JSON array and as NDJSON. 7,600 owed.
     */
    @ParameterizedTest
    @ValueSource(strings = {"converse-array", "converse-ndjson"})
    void twoConverseDraftsAreTwoCalls(String scenario) {
        charged(scenario, 2 * ONE, "two Converse answers, 3,800 each");
    }

    /** Control: one Converse answer is charged its usage, 3,800. */
    @Test
    void controlOneConverseAnswer() {
        charged("converse-one", ONE, "one Converse answer");
    }

    /** Control: the two Converse drafts one output token apart are both charged, 7,601. */
    @Test
    void controlConverseDraftsOneTokenApart() {
        charged("converse-array-apart", 2 * ONE + 1, "two Converse answers, 3,800 and 3,801");
    }

    /** Control: the same two Converse calls streamed (ConverseStream as JSON events) are both charged, 7,600. */
    @Test
    void controlTwoConverseStreams() {
        charged("converse-stream-json-two", 2 * ONE, "two ConverseStreams, 3,800 each");
    }

    /** Control: two whole Ollama answers (no id either) with other counts are both charged, 7,640. */
    @Test
    void controlTwoOllamaAnswers() {
        charged("ollama-array-apart", 2 * ONE + 40, "two Ollama answers, 3,800 and 3,840");
    }
}
