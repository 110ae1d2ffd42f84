package io.tokenquota.servlet.breakit239;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 239 of issue 11: agent frameworks' own event streams, relayed by a Java service.
 *
 * <p>The Java service ({@code POST /ai/agent/…}) calls an agent server built on the OpenAI Agents SDK and
 * passes its stream on to its client, event by event. The agent makes two model calls on the Responses
 * API: a tool call (2,100 in, 150 out) and then the report (2,600 in, 6,000 out): 10,850 tokens, each
 * call's usage in the stream, at {@code data.response.usage} of its {@code response.completed}, as the
 * SDK's docs say.
 *
 * <ul>
 *   <li>Python SDK ({@code Runner.run_streamed(...).stream_events()}): a FastAPI route writes each
 *       {@code StreamEvent} as FastAPI's {@code jsonable_encoder} serialises it: the
 *       {@code RawResponsesStreamEvent} dataclass {@code {"data": <Responses event>, "type":
 *       "raw_response_event"}}, and the {@code RunItemStreamEvent}s {@code {"name": …, "item": …, "type":
 *       "run_item_stream_event"}};</li>
 *   <li>JS SDK ({@code @openai/agents}, {@code run(agent, input, {stream: true})}): an Express route
 *       writes {@code JSON.stringify(event)} of each {@code RunRawModelStreamEvent}
 *       ({@code {"type": "raw_model_stream_event", "data": …}}, its data the SDK's protocol events:
 *       {@code response_started}, {@code output_text_delta}, {@code model} wrapping the provider's raw
 *       event, {@code response_done} with the call's usage).</li>
 * </ul>
 */
abstract class AbstractRound239 extends H2FilterRound {
    static final String OPEN_FRAMEWORK_EVENTS = "issue 11, open: a run's total in the application's message metadata"
            + " (the Vercel AI SDK's UI message stream) is not read; docs/decisions.md, \"A run's usage in an agent"
            + " framework's message metadata (open)\"";
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u239-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final long FIRST_IN = 2_100;
    static final long FIRST_OUT = 150;
    static final long SECOND_IN = 2_600;
    static final long SECOND_OUT = 6_000;
    static final long TOTAL = FIRST_IN + FIRST_OUT + SECOND_IN + SECOND_OUT;

    static final String WORDS = "Clause fourteen lets the supplier terminate on thirty days notice for any unpaid invoice, ";

    static final String REQUEST = "{\"input\":\"Read our supplier contracts and write a full report on their termination clauses.\"}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("agent", new AgentRelay(), "/ai/agent/*")
                .onStartup(filter::registerByServletName);
    }

    // ---------------------------------------------------------------------------------------------
    // The Responses API events of the agent's two model calls, as the provider streams them
    // ---------------------------------------------------------------------------------------------

    static String response(String id, String status, String output, String usage) {
        return "{\"id\":\"" + id + "\",\"created_at\":1735689600.0,\"error\":null,\"incomplete_details\":null,"
                + "\"instructions\":\"You are a contracts analyst.\",\"metadata\":{},\"model\":\"gpt-4.1-2025-04-14\","
                + "\"object\":\"response\",\"output\":" + output + ",\"parallel_tool_calls\":true,\"temperature\":1.0,"
                + "\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,\"status\":\"" + status + "\",\"usage\":" + usage + "}";
    }

    static String usage(long in, long out) {
        return "{\"input_tokens\":" + in + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + out
                + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + (in + out) + "}";
    }

    static final String FUNCTION_CALL = "{\"arguments\":\"{\\\"query\\\":\\\"termination\\\"}\",\"call_id\":\"call_1\","
            + "\"name\":\"search_contracts\",\"type\":\"function_call\",\"id\":\"fc_1\",\"status\":\"completed\"}";

    static String message(String text) {
        return "{\"id\":\"msg_2\",\"content\":[{\"annotations\":[],\"text\":\"" + text + "\",\"type\":\"output_text\"}],"
                + "\"role\":\"assistant\",\"status\":\"completed\",\"type\":\"message\"}";
    }

    /** The provider's events of both calls, in order (each one JSON document). */
    static List<String> providerEvents() {
        List<String> events = new ArrayList<>();
        int seq = 0;
        // call 1: the tool call
        events.add("{\"response\":" + response("resp_1", "in_progress", "[]", "null") + ",\"sequence_number\":" + seq++
                + ",\"type\":\"response.created\"}");
        events.add("{\"item\":{\"arguments\":\"\",\"call_id\":\"call_1\",\"name\":\"search_contracts\",\"type\":\"function_call\","
                + "\"id\":\"fc_1\",\"status\":\"in_progress\"},\"output_index\":0,\"sequence_number\":" + seq++
                + ",\"type\":\"response.output_item.added\"}");
        events.add("{\"delta\":\"{\\\"query\\\":\\\"termination\\\"}\",\"item_id\":\"fc_1\",\"output_index\":0,\"sequence_number\":"
                + seq++ + ",\"type\":\"response.function_call_arguments.delta\"}");
        events.add("{\"item\":" + FUNCTION_CALL + ",\"output_index\":0,\"sequence_number\":" + seq++
                + ",\"type\":\"response.output_item.done\"}");
        events.add("{\"response\":" + response("resp_1", "completed", "[" + FUNCTION_CALL + "]", usage(FIRST_IN, FIRST_OUT))
                + ",\"sequence_number\":" + seq++ + ",\"type\":\"response.completed\"}");
        // call 2: the report
        seq = 0;
        events.add("{\"response\":" + response("resp_2", "in_progress", "[]", "null") + ",\"sequence_number\":" + seq++
                + ",\"type\":\"response.created\"}");
        for (int i = 0; i < 300; i++) {
            events.add("{\"content_index\":0,\"delta\":\"" + WORDS + "\",\"item_id\":\"msg_2\",\"logprobs\":[],\"output_index\":0,"
                    + "\"sequence_number\":" + seq++ + ",\"type\":\"response.output_text.delta\"}");
        }
        String text = WORDS.repeat(300);
        events.add("{\"content_index\":0,\"item_id\":\"msg_2\",\"logprobs\":[],\"output_index\":0,\"sequence_number\":" + seq++
                + ",\"text\":\"" + text + "\",\"type\":\"response.output_text.done\"}");
        events.add("{\"response\":" + response("resp_2", "completed", "[" + message(text) + "]", usage(SECOND_IN, SECOND_OUT))
                + ",\"sequence_number\":" + seq++ + ",\"type\":\"response.completed\"}");
        return events;
    }

    // ---------------------------------------------------------------------------------------------
    // How each agent server writes them
    // ---------------------------------------------------------------------------------------------

    /** Python Agents SDK, through FastAPI's jsonable_encoder: the RawResponsesStreamEvent dataclass, plus run items. */
    static List<String> pythonAgentsSdk() {
        List<String> out = new ArrayList<>();
        out.add("{\"new_agent\":{\"name\":\"Contracts analyst\",\"model\":\"gpt-4.1\"},\"type\":\"agent_updated_stream_event\"}");
        for (String e : providerEvents()) {
            out.add("{\"data\":" + e + ",\"type\":\"raw_response_event\"}");
            if (e.contains("\"response.completed\"") && e.contains("resp_1")) {
                out.add("{\"name\":\"tool_called\",\"item\":{\"raw_item\":" + FUNCTION_CALL
                        + ",\"type\":\"tool_call_item\"},\"type\":\"run_item_stream_event\"}");
                out.add("{\"name\":\"tool_output\",\"item\":{\"raw_item\":{\"call_id\":\"call_1\",\"output\":\"3 contracts found\","
                        + "\"type\":\"function_call_output\"},\"output\":\"3 contracts found\",\"type\":\"tool_call_output_item\"},"
                        + "\"type\":\"run_item_stream_event\"}");
            }
        }
        out.add("{\"name\":\"message_output_created\",\"item\":{\"raw_item\":" + message(WORDS.repeat(300))
                + ",\"type\":\"message_output_item\"},\"type\":\"run_item_stream_event\"}");
        return out;
    }

    /** JS Agents SDK, JSON.stringify of each RunRawModelStreamEvent: protocol events and the raw provider event. */
    static List<String> jsAgentsSdk() {
        List<String> out = new ArrayList<>();
        for (String e : providerEvents()) {
            out.add("{\"type\":\"raw_model_stream_event\",\"data\":{\"type\":\"model\",\"event\":" + e + "}}");
            String id = e.contains("resp_1") ? "resp_1" : "resp_2";
            if (e.contains("\"response.created\"")) {
                out.add("{\"type\":\"raw_model_stream_event\",\"data\":{\"type\":\"response_started\",\"providerData\":{}}}");
            } else if (e.contains("\"response.output_text.delta\"")) {
                out.add("{\"type\":\"raw_model_stream_event\",\"data\":{\"type\":\"output_text_delta\",\"delta\":\"" + WORDS
                        + "\",\"providerData\":{}}}");
            } else if (e.contains("\"response.completed\"")) {
                long in = id.equals("resp_1") ? FIRST_IN : SECOND_IN;
                long outTokens = id.equals("resp_1") ? FIRST_OUT : SECOND_OUT;
                out.add("{\"type\":\"raw_model_stream_event\",\"data\":{\"type\":\"response_done\",\"response\":{\"id\":\"" + id
                        + "\",\"usage\":{\"requests\":1,\"inputTokens\":" + in + ",\"outputTokens\":" + outTokens + ",\"totalTokens\":"
                        + (in + outTokens) + ",\"inputTokensDetails\":{\"cached_tokens\":0},\"outputTokensDetails\":"
                        + "{\"reasoning_tokens\":0}},\"output\":[]}}}");
            }
        }
        return out;
    }

    static final long V_STEP1_IN = 1_400;
    static final long V_STEP1_OUT = 40;
    static final long V_STEP2_IN = 9_500;
    static final long V_STEP2_OUT = 1_100;
    static final long V_TOTAL = V_STEP1_IN + V_STEP1_OUT + V_STEP2_IN + V_STEP2_OUT;
    static final String CONTRACT = "The Buyer may terminate this Agreement upon written notice if the Seller materially breaches"
            + " any obligation and fails to cure such breach within sixty days. ";

    /**
     * The Vercel AI SDK v5 UI message stream ({@code streamText(...).toUIMessageStreamResponse({messageMetadata})}),
     * with the AI SDK docs' "message metadata" example: the {@code finish} part's metadata carries
     * {@code part.totalUsage.totalTokens}. Two steps: a tool call whose output (about 8,000 tokens of
     * contract text) the second step reads as input, then a short answer.
     */
    static List<String> vercelUiMessageStream() {
        List<String> out = new ArrayList<>();
        out.add("{\"type\":\"start\",\"messageId\":\"msg-7d1\",\"messageMetadata\":{\"createdAt\":1735689600000,\"model\":\"gpt-4.1\"}}");
        out.add("{\"type\":\"start-step\"}");
        out.add("{\"type\":\"tool-input-start\",\"toolCallId\":\"call_1\",\"toolName\":\"searchContracts\"}");
        out.add("{\"type\":\"tool-input-delta\",\"toolCallId\":\"call_1\",\"inputTextDelta\":\"{\\\"query\\\":\\\"termination\\\"}\"}");
        out.add("{\"type\":\"tool-input-available\",\"toolCallId\":\"call_1\",\"toolName\":\"searchContracts\","
                + "\"input\":{\"query\":\"termination\"}}");
        StringBuilder contracts = new StringBuilder("[");
        for (int i = 0; i < 3; i++) {
            contracts.append(i == 0 ? "" : ",").append("{\"id\":\"c").append(i).append("\",\"text\":\"")
                    .append(CONTRACT.repeat(110)).append("\"}");
        }
        contracts.append("]");
        out.add("{\"type\":\"tool-output-available\",\"toolCallId\":\"call_1\",\"output\":" + contracts + "}");
        out.add("{\"type\":\"finish-step\"}");
        out.add("{\"type\":\"start-step\"}");
        out.add("{\"type\":\"text-start\",\"id\":\"txt-0\"}");
        for (int i = 0; i < 60; i++) {
            out.add("{\"type\":\"text-delta\",\"id\":\"txt-0\",\"delta\":\"" + WORDS + "\"}");
        }
        out.add("{\"type\":\"text-end\",\"id\":\"txt-0\"}");
        out.add("{\"type\":\"finish-step\"}");
        out.add("{\"type\":\"finish\",\"messageMetadata\":{\"totalTokens\":" + V_TOTAL + "}}");
        return out;
    }

    /** Passes the agent server's stream on, one event per document (the Java service's relay). */
    class AgentRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String path = req.getPathInfo();
            List<String> events = switch (path) {
                case "/python" -> pythonAgentsSdk();
                case "/js" -> jsAgentsSdk();
                case "/vercel" -> vercelUiMessageStream();
                default -> providerEvents();
            };
            resp.setContentType("text/event-stream");
            if (path.equals("/vercel")) {
                resp.setHeader("x-vercel-ai-ui-message-stream", "v1");
            }
            PrintWriter w = resp.getWriter();
            for (String e : events) {
                w.write("data: " + e + "\n\n");
                w.flush();
            }
            if (path.equals("/vercel")) {
                w.write("data: [DONE]\n\n");
                w.flush();
            }
        }
    }

    long run(String path, String s) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agent/" + path), s, REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the agent ran once");
        return settled(s).used();
    }

    /**
     * The attack: the Java service relays the Python Agents SDK's stream events. The agent's two model
     * calls report 10,850 tokens at {@code data.response.usage}; they are charged at least that.
     */
    @Test
    void pythonAgentsSdkStreamEventsAreChargedTheirUsage() {
        String s = subject();
        long used = run("python", s);
        assertEquals(TOTAL, used, "an Agents SDK run reporting " + TOTAL + " tokens (and writing ~6,000 tokens of text) is"
                + " charged that: " + ledger(s));
    }

    /** The attack, JS SDK: {@code raw_model_stream_event}s, usage in {@code response_done} and in the raw events. */
    @Test
    void jsAgentsSdkStreamEventsAreChargedTheirUsage() {
        String s = subject();
        long used = run("js", s);
        assertEquals(TOTAL, used, "an Agents SDK (JS) run reporting " + TOTAL + " tokens, each call's usage in its raw"
                + " event and again in response_done, is charged that once: " + ledger(s));
    }

    /**
     * The Vercel AI SDK's UI message stream relayed by the Java service: the run's {@code totalTokens}
     * (12,040: the second step read the tool's 8,000 tokens of contracts) in the {@code finish} part's
     * {@code messageMetadata}. Borderline: the metadata's shape is the application's (docs/decisions.md
     * "Usage inside an application's envelope (open)"), the docs' own example.
     */
    @Test
    @Disabled(OPEN_FRAMEWORK_EVENTS)
    void vercelUiMessageStreamFinishMetadataIsCharged() {
        String s = subject();
        long used = run("vercel", s);
        assertTrue(used >= V_TOTAL, "a UI message stream whose finish reports " + V_TOTAL + " total tokens is charged at least"
                + " that, charged " + used + ": " + ledger(s));
    }

    /** Control: the same provider events relayed bare are charged their usage. */
    @Test
    void theSameProviderEventsRelayedBareAreChargedTheirUsage() {
        String s = subject();
        long used = run("bare", s);
        assertTrue(used >= TOTAL, "charged " + used + ": " + ledger(s));
    }

}
