package io.tokenquota.servlet.breakit387;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Round 387 of issue 11: an AWS Strands agent's stream events, relayed by a Java service.
 *
 * <p>The Java service ({@code POST /ai/strands/…}) invokes an agent hosted on Bedrock AgentCore Runtime and passes
 * its server-sent events on. The agent is a Strands agent ({@code strands-agents/sdk-python}) on a Bedrock model; its
 * AgentCore entrypoint is an async generator over {@code agent.stream_async(prompt)}, and AgentCore's
 * {@code BedrockAgentCoreApp} writes each yielded value as {@code data: <json>\n\n} ({@code _convert_to_sse} in
 * {@code bedrock_agentcore/runtime/app.py}). The entrypoint yields the events that are plain JSON: the raw model
 * chunks and the messages:
 * <ul>
 *   <li>{@code ModelStreamChunkEvent}: {@code super().__init__({"event": chunk})} ({@code src/strands/types/_events.py};
 *       its {@code prepare} adds nothing), the chunk being Strands' {@code StreamEvent}, which for a Bedrock model is
 *       the ConverseStream event as boto3 yields it ({@code messageStart}, {@code contentBlockStart},
 *       {@code contentBlockDelta}, {@code contentBlockStop}, {@code messageStop}, and {@code metadata} with
 *       {@code usage} ({@code inputTokens}, {@code outputTokens}, {@code totalTokens}) and {@code metrics}
 *       ({@code latencyMs}): Bedrock API reference, ConverseStream, "Response Syntax");</li>
 *   <li>{@code ModelMessageEvent} and {@code ToolResultMessageEvent}: {@code {"message": message}}, Strands'
 *       {@code Message} TypedDict ({@code role}, {@code content} of {@code text}, {@code toolUse},
 *       {@code toolResult} blocks).</li>
 * </ul>
 * AWS's own full-stack AgentCore template parses exactly this ({@code parsers/strands.ts}: "Converse-format events
 * (from BedrockAgentCoreApp)": {@code json.event.contentBlockDelta.delta.text}, {@code json.event.messageStop}...).
 *
 * <p>The agent makes two model calls: the tool call (2,100 in, 150 out), then the answer, which reads the tool's
 * 8,000-token result (10,600 in, 1,200 out): 14,050 tokens, each call's usage in its {@code metadata} chunk.
 * Rules: README settlement "usage seen → charge it"; docs/decisions.md (round 239) reads an agent framework's event
 * that wraps a provider's event whole "as the event they wrap: its usage, ids and text deltas" (the OpenAI Agents
 * SDK's {@code raw_response_event}); a relayed Bedrock ConverseStream's {@code metadata.usage} is read (USAGE_PATHS).
 */
abstract class AbstractRound387 extends ModelCallRound {
    static final long FIRST_IN = 2_100;
    static final long FIRST_OUT = 150;
    static final long SECOND_IN = 10_600;
    static final long SECOND_OUT = 1_200;
    static final long RUN = FIRST_IN + FIRST_OUT + SECOND_IN + SECOND_OUT;

    static final String WORDS = "Clause fourteen lets the supplier terminate on thirty days notice for any unpaid invoice, ";
    static final String CONTRACT = "The Buyer may terminate this Agreement upon written notice if the Seller materially"
            + " breaches any obligation and fails to cure such breach within sixty days. ";
    static final String REQUEST = "{\"prompt\":\"Read our supplier contracts and summarise their termination clauses.\"}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("strands", new AgentCoreRelay(), "/ai/strands/*")
                .servlet("pydantic-ai", new PydanticAiRun(), "/ai/pydantic/*");
    }

    // ------------------------------------------------------------------ the Bedrock ConverseStream chunks of both calls

    static String metadata(long in, long out, long latencyMs) {
        return "{\"metadata\":{\"usage\":{\"inputTokens\":" + in + ",\"outputTokens\":" + out + ",\"totalTokens\":"
                + (in + out) + "},\"metrics\":{\"latencyMs\":" + latencyMs + "}}}";
    }

    /** The model's chunks (Strands' StreamEvent, Bedrock's ConverseStream events), and the messages between calls. */
    static List<String> run(UnaryOperator<String> chunk) {
        List<String> out = new ArrayList<>();
        // call 1: the tool call
        out.add(chunk.apply("{\"messageStart\":{\"role\":\"assistant\"}}"));
        out.add(chunk.apply("{\"contentBlockStart\":{\"start\":{\"toolUse\":{\"toolUseId\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q\","
                + "\"name\":\"search_contracts\"}},\"contentBlockIndex\":0}}"));
        out.add(chunk.apply("{\"contentBlockDelta\":{\"delta\":{\"toolUse\":{\"input\":\"{\\\"query\\\": \\\"termination\\\"}\"}},"
                + "\"contentBlockIndex\":0}}"));
        out.add(chunk.apply("{\"contentBlockStop\":{\"contentBlockIndex\":0}}"));
        out.add(chunk.apply("{\"messageStop\":{\"stopReason\":\"tool_use\"}}"));
        out.add(chunk.apply(metadata(FIRST_IN, FIRST_OUT, 812)));
        out.add("{\"message\":{\"role\":\"assistant\",\"content\":[{\"toolUse\":{\"toolUseId\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q\","
                + "\"name\":\"search_contracts\",\"input\":{\"query\":\"termination\"}}}]}}");
        out.add("{\"message\":{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q\","
                + "\"status\":\"success\",\"content\":[{\"text\":\"" + CONTRACT.repeat(250) + "\"}]}}]}}");
        // call 2: the answer
        out.add(chunk.apply("{\"messageStart\":{\"role\":\"assistant\"}}"));
        for (int i = 0; i < 60; i++) {
            out.add(chunk.apply("{\"contentBlockDelta\":{\"delta\":{\"text\":\"" + WORDS + "\"},\"contentBlockIndex\":0}}"));
        }
        out.add(chunk.apply("{\"contentBlockStop\":{\"contentBlockIndex\":0}}"));
        out.add(chunk.apply("{\"messageStop\":{\"stopReason\":\"end_turn\"}}"));
        out.add(chunk.apply(metadata(SECOND_IN, SECOND_OUT, 9_431)));
        out.add("{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"" + WORDS.repeat(60) + "\"}]}}");
        return out;
    }

    /** Strands' ModelStreamChunkEvent: {@code {"event": chunk}}. */
    static List<String> strandsEvents() {
        return run(c -> "{\"event\":" + c + "}");
    }

    /** The same run, the entrypoint yielding {@code event["event"]}: the bare ConverseStream chunks. */
    static List<String> bareChunks() {
        return run(c -> c);
    }

    /** AgentCore Runtime's answer passed on: {@code data: <json>\n\n} for each value the entrypoint yielded. */
    class AgentCoreRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            List<String> events = "/bare".equals(req.getPathInfo()) ? bareChunks() : strandsEvents();
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (String e : events) {
                EventStreams.write(out, "data: " + e + "\n\n");
            }
        }
    }

    /**
     * The attack: the agent's two model calls, relayed as Strands' own stream events ({@code {"event": chunk}}), each
     * call's usage in its wrapped {@code metadata} chunk. Right: 14,050 charged.
     */
    @Test
    void strandsStreamEventsAreChargedTheirModelCallsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/strands/events"), s, REQUEST);
        assertCharged(s, r, 200, 1, RUN, "a Strands agent's run, two Bedrock calls reporting 2,250 + 11,800 in their"
                + " {\"event\": {\"metadata\": {\"usage\": …}}} chunks");
    }

    /** Control: the same run, its chunks relayed bare (Bedrock ConverseStream's own events): 14,050 charged. */
    @Test
    void controlBareConverseStreamChunksAreChargedTheirUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/strands/bare"), s, REQUEST);
        assertCharged(s, r, 200, 1, RUN, "the same two Bedrock calls, relayed as bare ConverseStream events");
    }

    // ------------------------------------------------------------------ Pydantic AI's message history of a run

    /**
     * Pydantic AI's {@code ModelResponse} as {@code ModelMessagesTypeAdapter} writes it ({@code result.all_messages_json()};
     * pydantic/pydantic-ai {@code pydantic_ai_slim/pydantic_ai/messages.py}: {@code parts}, {@code usage}
     * ({@code RequestUsage}: {@code input_tokens}, {@code cache_write_tokens}, {@code cache_read_tokens},
     * {@code output_tokens}, {@code input_audio_tokens}, {@code cache_audio_read_tokens}, {@code output_audio_tokens},
     * {@code details}), {@code model_name}, {@code timestamp}, {@code kind: "response"}, {@code provider_name},
     * {@code provider_details}, {@code provider_response_id}, {@code finish_reason}).
     */
    static String modelResponse(String parts, long in, long out, String responseId, String finish) {
        return "{\"parts\":" + parts + ",\"usage\":{\"input_tokens\":" + in + ",\"cache_write_tokens\":0,"
                + "\"cache_read_tokens\":0,\"output_tokens\":" + out + ",\"input_audio_tokens\":0,\"cache_audio_read_tokens\":0,"
                + "\"output_audio_tokens\":0,\"details\":{\"accepted_prediction_tokens\":0,\"audio_tokens\":0,"
                + "\"reasoning_tokens\":0,\"rejected_prediction_tokens\":0}},\"model_name\":\"gpt-4.1-2025-04-14\","
                + "\"timestamp\":\"2025-10-06T09:12:44Z\",\"kind\":\"response\",\"provider_name\":\"openai\","
                + "\"provider_details\":{\"finish_reason\":\"" + (finish.equals("tool_call") ? "tool_calls" : finish) + "\"},"
                + "\"provider_response_id\":\"" + responseId + "\",\"finish_reason\":\"" + finish + "\"}";
    }

    static final String USER_REQUEST = "{\"parts\":[{\"content\":\"Summarise the termination clauses of our supplier"
            + " contracts.\",\"timestamp\":\"2025-10-06T09:12:43Z\",\"part_kind\":\"user-prompt\"}],\"instructions\":"
            + "\"You are a contracts analyst.\",\"kind\":\"request\"}";
    static final String TOOL_CALL = "[{\"tool_name\":\"search_contracts\",\"args\":\"{\\\"query\\\":\\\"termination\\\"}\","
            + "\"tool_call_id\":\"call_Yz3mRk1\",\"id\":null,\"provider_details\":null,\"part_kind\":\"tool-call\"}]";
    static final String TOOL_RETURN = "{\"parts\":[{\"tool_name\":\"search_contracts\",\"content\":\"" + CONTRACT.repeat(250)
            + "\",\"tool_call_id\":\"call_Yz3mRk1\",\"metadata\":null,\"timestamp\":\"2025-10-06T09:12:45Z\","
            + "\"part_kind\":\"tool-return\"}],\"instructions\":\"You are a contracts analyst.\",\"kind\":\"request\"}";
    static final String ANSWER = "[{\"content\":\"" + WORDS.repeat(60) + "\",\"id\":null,\"provider_details\":null,"
            + "\"part_kind\":\"text\"}]";

    /** A FastAPI route answering {@code Response(result.all_messages_json(), media_type="application/json")}. */
    class PydanticAiRun extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String body = "/one".equals(req.getPathInfo())
                    ? "[" + USER_REQUEST + "," + modelResponse(ANSWER, SECOND_IN, SECOND_OUT, "chatcmpl-CNa2", "stop") + "]"
                    : "[" + USER_REQUEST + "," + modelResponse(TOOL_CALL, FIRST_IN, FIRST_OUT, "chatcmpl-CNa1", "tool_call")
                    + "," + TOOL_RETURN + "," + modelResponse(ANSWER, SECOND_IN, SECOND_OUT, "chatcmpl-CNa2", "stop") + "]";
            resp.setContentType("application/json");
            EventStreams.write(resp.getOutputStream(), body);
        }
    }

    /**
     * A Pydantic AI run's messages ({@code all_messages_json()}): two model calls, each {@code ModelResponse} with its
     * own {@code usage} and {@code provider_response_id}. Right: both calls charged, 14,050.
     */
    @Test
    void pydanticAiMessagesOfTwoCallsAreBothCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/pydantic/run"), s, REQUEST);
        assertCharged(s, r, 200, 1, RUN, "a Pydantic AI run's message history, two ModelResponses of 2,250 and 11,800");
    }

    /** Control: a run of one model call, its one ModelResponse: 11,800 charged. */
    @Test
    void controlPydanticAiMessagesOfOneCall() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/pydantic/one"), s, REQUEST);
        assertCharged(s, r, 200, 1, SECOND_IN + SECOND_OUT, "a Pydantic AI run of one call");
    }
}
