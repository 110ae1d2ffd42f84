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
        return filteredAi(filter).servlet("strands", new AgentCoreRelay(), "/ai/strands/*");
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
}
