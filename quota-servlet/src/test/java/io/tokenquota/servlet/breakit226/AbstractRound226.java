package io.tokenquota.servlet.breakit226;

import static io.tokenquota.servlet.testing.ProviderStreams.WORDS;
import static io.tokenquota.servlet.testing.ProviderStreams.claude;
import static io.tokenquota.servlet.testing.ProviderStreams.mistral;
import static io.tokenquota.servlet.testing.ProviderStreams.openAi;
import static io.tokenquota.servlet.testing.ProviderStreams.responses;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 226 of issue 11: one request, an agent's three model calls (2,000 + 100, 5,000 + 100, 8,000 + 400:
 * 15,600 tokens), each relayed in its provider's own stream format ({@link RelayedCalls}, one unit a token).
 */
abstract class AbstractRound226 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    static final long AGENT = 15_600;

    static String chatUsage(long in, long out) {
        return "{\"prompt_tokens\":" + in + ",\"completion_tokens\":" + out + ",\"total_tokens\":" + (in + out) + "}";
    }

    /**
     * Hugging Face TGI's chat stream ({@code /v1/chat/completions}, {@code stream_options.include_usage}): every
     * chunk's {@code id} is {@code ""} (huggingface/text-generation-inference#1782), and the last token's chunk
     * carries the {@code finish_reason} beside the usage (router/src/server.rs: {@code stream_token.details}).
     */
    static List<Event> tgi(long prompt, long completion) {
        String head = "{\"object\":\"chat.completion.chunk\",\"id\":\"\",\"created\":1735689600,\"model\":"
                + "\"meta-llama/Llama-3.1-8B-Instruct\",\"system_fingerprint\":\"2.4.0-native\",\"choices\":[{\"index\":0,";
        List<Event> e = new java.util.ArrayList<>();
        e.add(data(head + "\"delta\":{\"role\":\"assistant\",\"content\":\"Clause\"},\"logprobs\":null,\"finish_reason\":null}],"
                + "\"usage\":null}"));
        for (int i = 0; i < 5; i++) {
            e.add(data(head + "\"delta\":{\"role\":\"assistant\",\"content\":\" " + WORDS.trim() + "\"},\"logprobs\":null,"
                    + "\"finish_reason\":null}],\"usage\":null}"));
        }
        e.add(data(head + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                + "\"usage\":" + chatUsage(prompt, completion) + "}"));
        e.add(data("[DONE]"));
        return e;
    }

    {
        // attack 0: an agent on a Hugging Face Inference Endpoint (TGI) relays its three calls' streams
        sse("tgi-three", 3, concat(tgi(2_000, 100), tgi(5_000, 100), tgi(8_000, 400)));
        // attack 8: three OpenAI streams, then a fourth call (a small model's verdict) relayed whole by a server
        // that gives its answer no id
        sse("openai-then-idless-call", 4, concat(openAi("chatcmpl-a1", 2_000, 100), openAi("chatcmpl-b2", 5_000, 100),
                openAi("chatcmpl-c3", 8_000, 400), List.of(data("{\"object\":\"chat.completion\",\"created\":1735689700,"
                        + "\"model\":\"llama-3.1-8b\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                        + "\"APPROVED\"},\"finish_reason\":\"stop\"}],\"usage\":" + chatUsage(1_000, 50) + "}"))));
        // control: TGI, one call
        sse("tgi-one", 1, tgi(8_000, 400));
        // control: three OpenAI chat streams, each under its own id
        sse("openai-three", 3, concat(openAi("chatcmpl-a1", 2_000, 100), openAi("chatcmpl-b2", 5_000, 100),
                openAi("chatcmpl-c3", 8_000, 400)));
        // control: three Mistral streams, each under its own id
        sse("mistral-three", 3, concat(mistral("e5cc70bb01", WORDS, 2_000, 100), mistral("e5cc70bb02", WORDS, 5_000, 100),
                mistral("e5cc70bb03", WORDS, 8_000, 400)));
        // attack 1: the relay (or a gateway) stamps one id on every chunk of the request's calls; the calls' last
        // chunks carry finish_reason beside the usage (Mistral's, DeepSeek's shape)
        sse("mistral-one-id", 3, concat(mistral("req-7f3a", WORDS, 2_000, 100), mistral("req-7f3a", WORDS, 5_000, 100),
                mistral("req-7f3a", WORDS, 8_000, 400)));
        // attack 2: a server whose chunk ids are empty (TGI's OpenAI-compatible "id": "")
        sse("mistral-empty-id", 3, concat(mistral("", WORDS, 2_000, 100), mistral("", WORDS, 5_000, 100),
                mistral("", WORDS, 8_000, 400)));
        // attack 3: the three calls, then the application's run summary with the run's total usage (same format)
        sse("openai-then-total", 3, concat(openAi("chatcmpl-a1", 2_000, 100), openAi("chatcmpl-b2", 5_000, 100),
                openAi("chatcmpl-c3", 8_000, 400), List.of(new Event("run.completed",
                        "{\"type\":\"run.completed\",\"requests\":3,\"usage\":" + chatUsage(15_000, 600) + "}"))));
        // attack 4: OpenAI Agents SDK: the Responses streams, then the run's accumulated Usage
        sse("responses-then-total", 3, concat(responses("resp_a1", 2_000, 100), responses("resp_b2", 5_000, 100),
                responses("resp_c3", 8_000, 400), List.of(data("{\"type\":\"agent_run_done\",\"usage\":{\"requests\":3,"
                        + "\"input_tokens\":15000,\"output_tokens\":600,\"total_tokens\":15600}}"))));
        // attack 5: three Claude messages, then the run's total in Anthropic's shape
        sse("claude-then-total", 3, concat(claude("msg_01a", 2_000, 100), claude("msg_01b", 5_000, 100),
                claude("msg_01c", 8_000, 400), List.of(data("{\"type\":\"agent.done\",\"usage\":{\"input_tokens\":15000,"
                        + "\"output_tokens\":600}}"))));
        // attack 6: one Responses call; the relay's upstream connection drops and it resumes the background
        // stream (starting_after), which repeats the last events, response.completed included
        List<Event> one = responses("resp_r1", 2_000, 100);
        sse("responses-resumed", 1, concat(one, one.subList(3, one.size())));
        // attack 7: three calls each as a whole chat completion sent as an event, then the summary
        sse("completions-then-total", 3, List.of(
                data(io.tokenquota.servlet.testing.ChatCompletions.completion("chatcmpl-a1", "gpt-4o", WORDS, 2_000, 100)),
                data(io.tokenquota.servlet.testing.ChatCompletions.completion("chatcmpl-b2", "gpt-4o", WORDS, 5_000, 100)),
                data(io.tokenquota.servlet.testing.ChatCompletions.completion("chatcmpl-c3", "gpt-4o", WORDS, 8_000, 400)),
                data("{\"object\":\"agent.run\",\"usage\":" + chatUsage(15_000, 600) + "}")));
    }

    @Test
    void anAgentOnTgiIsChargedEveryCall() {
        charged("tgi-three", AGENT, "three TGI calls (id \"\", finish_reason beside usage): 2,100 + 5,100 + 8,400");
    }

    @Test
    void aFourthCallWithoutIdIsCharged() {
        charged("openai-then-idless-call", AGENT + 1_050, "three named calls and an id-less fourth (1,050)");
    }

    @Test
    void controlTgiOne() {
        charged("tgi-one", 8_400, "one TGI call");
    }

    @Test
    void controlOpenAiThree() {
        charged("openai-three", AGENT, "three OpenAI chat calls, 15,600");
    }

    @Test
    void controlMistralThree() {
        charged("mistral-three", AGENT, "three Mistral calls, 15,600");
    }

    @Test
    void mistralCallsUnderOneIdAreThreeCalls() {
        charged("mistral-one-id", AGENT, "three calls under one id, each finishing its choice beside its usage");
    }

    @Test
    void mistralCallsUnderEmptyIdsAreThreeCalls() {
        charged("mistral-empty-id", AGENT, "three calls under the empty id");
    }

    @Test
    void aRunTotalAfterChatCallsIsNotAFourthCall() {
        charged("openai-then-total", AGENT, "three calls, then their total");
    }

    @Test
    void aRunTotalAfterResponsesIsNotAFourthCall() {
        charged("responses-then-total", AGENT, "three Responses, then the Agents SDK's total");
    }

    @Test
    void aRunTotalAfterClaudeIsNotAFourthCall() {
        charged("claude-then-total", AGENT, "three Claude messages, then their total");
    }

    @Test
    void aResumedResponseIsOneCall() {
        charged("responses-resumed", 2_100, "one Response, its tail replayed on resume");
    }

    @Test
    void aRunTotalAfterWholeCompletionsIsNotAFourthCall() {
        charged("completions-then-total", AGENT, "three whole completions, then their total");
    }
}
