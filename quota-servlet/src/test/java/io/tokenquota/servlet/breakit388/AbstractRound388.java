package io.tokenquota.servlet.breakit388;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 388 of issue 11: usage as more agent frameworks relay it.
 *
 * <p>One agent run of two model calls (OpenAI chat completions): a tool call (2,100 in, 150 out) and, after the
 * tool returned a long contract, the report (9,600 in, 1,200 out): 13,050 tokens. A Java service
 * ({@code POST /ai/agent/{shape}}) relays what the agent server answers, as that framework writes it.
 *
 * <ul>
 *   <li>Mastra ({@code @mastra/core}, {@code agent.stream()}'s {@code fullStream}, served by Mastra's server at
 *       {@code POST /api/agents/:agentId/stream} as SSE {@code data: <chunk>} events, read by
 *       {@code @mastra/client-js}'s {@code processMastraStream}): each chunk {@code {type, runId, from, payload}};
 *       {@code step-finish}'s {@code payload.output.usage} is the step's model call (AI SDK v5
 *       {@code LanguageModelUsage}: {@code inputTokens}, {@code outputTokens}, {@code totalTokens}), and
 *       {@code finish}'s {@code payload.output.usage} the run's total. Source: mastra-ai/mastra
 *       {@code packages/core/src/stream/types.ts} ({@code StepFinishPayload}, {@code FinishPayload},
 *       {@code TextDeltaPayload}), {@code packages/core/src/loop/workflows/stream.ts} (the {@code start} chunk,
 *       the {@code finish} chunk carrying the loop's result), and mastra.ai/reference/streaming/ChunkType.</li>
 *   <li>LlamaIndex ({@code llama-index-llms-openai}, {@code OpenAI.chat()}): a {@code ChatResponse} whose
 *       {@code raw} is the provider's whole {@code ChatCompletion} and whose {@code additional_kwargs} are
 *       {@code _get_response_token_counts(raw)} ({@code prompt_tokens}, {@code completion_tokens},
 *       {@code total_tokens}); a FastAPI route returning it writes it as pydantic dumps it.</li>
 * </ul>
 */
abstract class AbstractRound388 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static final long FIRST_IN = 2_100;
    static final long FIRST_OUT = 150;
    static final long SECOND_IN = 9_600;
    static final long SECOND_OUT = 1_200;
    static final long TOTAL = FIRST_IN + FIRST_OUT + SECOND_IN + SECOND_OUT;

    static final String WORDS = "Clause fourteen lets the supplier terminate on thirty days notice for any unpaid invoice. ";
    static final String REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":\"Read our supplier contract and report on its termination clauses.\"}]}";

    static String subject() {
        return "u388-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("agent", new AgentRelay(), "/ai/agent/*")
                .onStartup(filter::registerByServletName);
    }

    /** The relay: writes the named shape; each POST ran the agent (two model calls). */
    final class AgentRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String shape = req.getPathInfo().substring(1);
            OutputStream out = resp.getOutputStream();
            switch (shape) {
                case "mastra" -> {
                    resp.setContentType("text/event-stream");
                    for (String chunk : mastraRun()) {
                        out.write(("data: " + chunk + "\n\n").getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                    out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                }
                case "openai-chunks" -> {
                    resp.setContentType("text/event-stream");
                    for (String event : openAiStreams()) {
                        out.write(event.getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                    out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                }
                case "llamaindex" -> {
                    resp.setContentType("application/json");
                    out.write(llamaIndexChatResponse().getBytes(StandardCharsets.UTF_8));
                }
                case "chat-completion" -> {
                    resp.setContentType("application/json");
                    out.write(reportCompletion().getBytes(StandardCharsets.UTF_8));
                }
                default -> resp.sendError(404);
            }
        }
    }

    // --------------------------------------------------------------------------------------- Mastra

    static String mastraUsage(long in, long out) {
        return "{\"inputTokens\":" + in + ",\"outputTokens\":" + out + ",\"totalTokens\":" + (in + out) + "}";
    }

    /** Mastra's fullStream chunks of the two-step run (types.ts: ChunkType; stream.ts: start and finish). */
    static List<String> mastraRun() {
        String base = "\"runId\":\"run_388\",\"from\":\"AGENT\"";
        List<String> c = new ArrayList<>();
        c.add("{\"type\":\"start\"," + base + ",\"payload\":{\"id\":\"contractsAgent\",\"messageId\":\"msg_388\"}}");
        // step 1: the tool call
        c.add("{\"type\":\"step-start\"," + base + ",\"payload\":{\"messageId\":\"msg_388\",\"request\":{},\"warnings\":[]}}");
        c.add("{\"type\":\"tool-call\"," + base + ",\"payload\":{\"toolCallId\":\"call_1\",\"toolName\":\"fetchContract\","
                + "\"args\":{\"contractId\":\"C-42\"}}}");
        c.add("{\"type\":\"tool-result\"," + base + ",\"payload\":{\"toolCallId\":\"call_1\",\"toolName\":\"fetchContract\","
                + "\"result\":{\"text\":\"" + WORDS.repeat(20) + "\"},\"args\":{\"contractId\":\"C-42\"}}}");
        c.add("{\"type\":\"step-finish\"," + base + ",\"payload\":{\"messageId\":\"msg_388\",\"stepResult\":{\"reason\":\"tool-calls\","
                + "\"warnings\":[],\"isContinued\":true},\"output\":{\"usage\":" + mastraUsage(FIRST_IN, FIRST_OUT) + "},"
                + "\"metadata\":{\"modelId\":\"gpt-4o\"}}}");
        // step 2: the report
        c.add("{\"type\":\"step-start\"," + base + ",\"payload\":{\"messageId\":\"msg_388\",\"request\":{},\"warnings\":[]}}");
        c.add("{\"type\":\"text-start\"," + base + ",\"payload\":{\"id\":\"txt_1\"}}");
        for (int i = 0; i < 60; i++) {
            c.add("{\"type\":\"text-delta\"," + base + ",\"payload\":{\"id\":\"txt_1\",\"text\":\"" + WORDS + "\"}}");
        }
        c.add("{\"type\":\"text-end\"," + base + ",\"payload\":{\"id\":\"txt_1\"}}");
        c.add("{\"type\":\"step-finish\"," + base + ",\"payload\":{\"messageId\":\"msg_388\",\"stepResult\":{\"reason\":\"stop\","
                + "\"warnings\":[],\"isContinued\":false},\"output\":{\"usage\":" + mastraUsage(SECOND_IN, SECOND_OUT) + "},"
                + "\"metadata\":{\"modelId\":\"gpt-4o\"}}}");
        c.add("{\"type\":\"finish\"," + base + ",\"payload\":{\"stepResult\":{\"reason\":\"stop\",\"warnings\":[],\"isContinued\":false},"
                + "\"output\":{\"usage\":" + mastraUsage(FIRST_IN + SECOND_IN, FIRST_OUT + SECOND_OUT) + "},"
                + "\"metadata\":{\"modelId\":\"gpt-4o\"},\"messages\":{\"all\":[],\"user\":[],\"nonUser\":[]}}}");
        return c;
    }

    /**
     * Control shape: the same two calls as the provider streamed them (OpenAI chat completion chunks with
     * {@code stream_options.include_usage}: the last chunk has no choices and the usage), relayed one after the other.
     */
    static List<String> openAiStreams() {
        List<String> e = new ArrayList<>();
        String h1 = ChatCompletions.chunkHead("chatcmpl-388a");
        e.add("data: " + h1 + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,"
                + "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"fetchContract\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n");
        e.add("data: " + h1 + "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                + "\"{\\\"contractId\\\":\\\"C-42\\\"}\"}}]},\"finish_reason\":null}]}\n\n");
        e.add("data: " + h1 + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n");
        e.add(ChatCompletions.usageEvent("chatcmpl-388a", FIRST_IN, FIRST_OUT));
        String h2 = ChatCompletions.chunkHead("chatcmpl-388b");
        e.add("data: " + h2 + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
        for (int i = 0; i < 60; i++) {
            e.add("data: " + h2 + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + WORDS + "\"},\"finish_reason\":null}]}\n\n");
        }
        e.add("data: " + h2 + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        e.add(ChatCompletions.usageEvent("chatcmpl-388b", SECOND_IN, SECOND_OUT));
        return e;
    }

    // --------------------------------------------------------------------------------------- LlamaIndex

    /** The report call's whole chat completion (OpenAI API reference, "The chat completion object"). */
    static String reportCompletion() {
        return ChatCompletions.completion("chatcmpl-388c", "gpt-4o", WORDS.repeat(60).trim(), SECOND_IN, SECOND_OUT);
    }

    /**
     * LlamaIndex's {@code ChatResponse} of {@code OpenAI.chat()} (llama-index-llms-openai {@code base.py}
     * {@code _chat}: {@code ChatResponse(message=..., raw=response, logprobs=..., additional_kwargs=
     * self._get_response_token_counts(response))}; llama-index-core {@code base/llms/types.py}: {@code message},
     * {@code raw}, {@code delta}, {@code logprobs}, {@code additional_kwargs}), as a FastAPI route returning it writes it.
     */
    static String llamaIndexChatResponse() {
        return "{\"message\":{\"role\":\"assistant\",\"additional_kwargs\":{},\"blocks\":[{\"block_type\":\"text\",\"text\":\""
                + WORDS.repeat(60).trim() + "\"}]},\"raw\":" + reportCompletion() + ",\"delta\":null,\"logprobs\":null,"
                + "\"additional_kwargs\":{\"prompt_tokens\":" + SECOND_IN + ",\"completion_tokens\":" + SECOND_OUT
                + ",\"total_tokens\":" + (SECOND_IN + SECOND_OUT) + "}}";
    }

    // --------------------------------------------------------------------------------------- the tests

    long run(String s, String shape) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agent/" + shape), s, REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /**
     * Attack (an honest application): a Mastra agent's stream relayed as Mastra's server writes it. Its two model
     * calls report 13,050 tokens ({@code step-finish} 2,250 and 10,800, {@code finish} the same 13,050 as the run's
     * total). Expected: 13,050 charged.
     */
    @Test
    void aMastraAgentStreamIsChargedItsModelCallsUsage() {
        String s = subject();
        long used = run(s, "mastra");
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(TOTAL, used, "Mastra run of 13,050 tokens: " + ledger(s)),
                () -> assertEquals(ALLOWANCE - TOTAL, a.available(), a.toString()));
    }

    /** Control: the same two calls relayed as the provider's own chat completion streams: 13,050. */
    @Test
    void controlTheSameCallsAsTheProvidersStreams() {
        String s = subject();
        assertEquals(TOTAL, run(s, "openai-chunks"), ledger(s));
    }

    /**
     * Attack (an honest application): a LlamaIndex {@code ChatResponse} returned whole by a FastAPI route, the
     * provider's chat completion nested in its {@code raw} and its counts in {@code additional_kwargs}: 10,800 tokens.
     * Expected: 10,800 charged.
     */
    @Test
    void aLlamaIndexChatResponseIsChargedItsRawUsage() {
        String s = subject();
        assertEquals(SECOND_IN + SECOND_OUT, run(s, "llamaindex"), "LlamaIndex ChatResponse of 10,800 tokens: " + ledger(s));
    }

    /** Control: the same call's chat completion relayed whole: 10,800. */
    @Test
    void controlTheSameCallAsTheProvidersCompletion() {
        String s = subject();
        assertEquals(SECOND_IN + SECOND_OUT, run(s, "chat-completion"), ledger(s));
    }
}
