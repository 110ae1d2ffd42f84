package io.tokenquota.servlet.breakit124;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 124 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * agents whose one HTTP request runs several model calls, relayed with the usage each call reported,
 * in the wire formats of the agent frameworks themselves.
 * <ul>
 *   <li>A LangGraph server's run stream ({@code POST /threads/{id}/runs/stream}) of a ReAct agent in
 *       the stream modes other than {@code messages}: {@code updates} (each node's new messages) and
 *       {@code values} (the graph's whole state after each step: LangGraph's default). Every AI message
 *       there is a model call and carries its {@code usage_metadata}, as LangGraph serialises it.</li>
 *   <li>The Vercel AI SDK 4 data stream ({@code streamText({maxSteps}).toDataStreamResponse()}) of a
 *       multi-step agent whose last step fails: every step's {@code e:} part counts that step, and the
 *       {@code d:} part that would add them up never comes.</li>
 * </ul>
 * The agent below runs three model calls that read what its tools fetched server-side (the user's
 * request is one short line): 2,000 + 100, 5,000 + 100 and 8,000 + 400 tokens, 15,600 in all, on a
 * 20,000 allowance. The user asks for pages to be read, which the client chooses, so the user decides
 * how much each call reads.
 */
abstract class AbstractRound124 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();

    /** The three model calls' usage: {input, output}. */
    static final long[][] STEPS = {{2_000, 100}, {5_000, 100}, {8_000, 400}};
    /** What the three calls used together. */
    static final long AGENT_USAGE = 15_600;

    AbstractRound124() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("langgraph", new LangGraphServer(), "/ai/lg/*")
                .servlet("aisdk", new AiSdkAgent(), "/ai/api/agent")
                .onStartup(filter::registerByServletName);
    }

    static void write(OutputStream out, String s) throws IOException {
        out.write(s.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** A page a tool fetched, relayed in the tool's message (the model reads all of it). */
    static final String PAGE = "Quarterly report, section one: revenue, costs and outlook by region. ".repeat(20);

    /** An AI message as LangGraph's server serialises it: a model call, with its usage_metadata. */
    static String aiMessage(int step, String content, boolean toolCall) {
        long in = STEPS[step][0];
        long out = STEPS[step][1];
        String calls = toolCall
                ? "[{\"name\":\"fetch_page\",\"args\":{\"url\":\"https://example.com/report/" + step + "\"},\"id\":\"call_" + step
                        + "\",\"type\":\"tool_call\"}]"
                : "[]";
        return "{\"content\":\"" + content + "\",\"additional_kwargs\":{},\"response_metadata\":{\"finish_reason\":\""
                + (toolCall ? "tool_calls" : "stop") + "\",\"model_name\":\"gpt-4o-2024-08-06\"},\"type\":\"ai\",\"name\":null,"
                + "\"id\":\"run-7c1e9a40-" + step + "-0\",\"example\":false,\"tool_calls\":" + calls + ",\"invalid_tool_calls\":[],"
                + "\"usage_metadata\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + ",\"total_tokens\":" + (in + out)
                + ",\"input_token_details\":{\"cache_read\":0},\"output_token_details\":{\"reasoning\":0}}}";
    }

    static String toolMessage(int step) {
        return "{\"content\":\"" + PAGE + "\",\"additional_kwargs\":{},\"response_metadata\":{},\"type\":\"tool\","
                + "\"name\":\"fetch_page\",\"id\":\"tool-5f0b-" + step + "\",\"tool_call_id\":\"call_" + step
                + "\",\"artifact\":null,\"status\":\"success\"}";
    }

    static final String HUMAN = "{\"content\":\"Read the three quarterly reports and compare them.\",\"additional_kwargs\":{},"
            + "\"response_metadata\":{},\"type\":\"human\",\"name\":null,\"id\":\"hm-1\",\"example\":false}";

    static final String ANSWER = "Revenue grew in every quarter; costs fell in the third.";

    /**
     * A LangGraph server (the LangGraph Platform API), {@code POST /threads/{id}/runs/stream} with the
     * request's {@code stream_mode}: a ReAct agent (agent, tools, agent, tools, agent) whose model is
     * called three times, each call reading the pages its tools fetched. {@code updates}: one event per
     * node with the messages it added; {@code values}: the whole state after each step (every AI message
     * of the run again in each later event); {@code messages}: each message whole as a
     * {@code messages/complete} event.
     */
    class LangGraphServer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String user = req.getHeader("x-user-id");
            resp.setContentType("text/event-stream");
                        OutputStream out = resp.getOutputStream();
            write(out, "event: metadata\ndata: {\"run_id\":\"1ef8b6a2-run-124\",\"attempt\":1}\n\n");
            StringBuilder state = new StringBuilder(HUMAN);
            if (body.contains("\"values\"")) {
                write(out, "event: values\ndata: {\"messages\":[" + state + "]}\n\n");
            }
            for (int step = 0; step < STEPS.length; step++) {
                CALLS.count(user);
                boolean last = step == STEPS.length - 1;
                String ai = aiMessage(step, last ? ANSWER : "", !last);
                state.append(',').append(ai);
                if (body.contains("\"updates\"")) {
                    write(out, "event: updates\ndata: {\"agent\":{\"messages\":[" + ai + "]}}\n\n");
                } else if (body.contains("\"values\"")) {
                    write(out, "event: values\ndata: {\"messages\":[" + state + "]}\n\n");
                } else {
                    write(out, "event: messages/metadata\ndata: {\"run-7c1e9a40-" + step + "-0\":{\"metadata\":"
                            + "{\"langgraph_node\":\"agent\",\"langgraph_step\":" + (2 * step + 1) + "}}}\n\n");
                    write(out, "event: messages/complete\ndata: [" + ai + "]\n\n");
                }
                if (!last) {
                    String tool = toolMessage(step);
                    state.append(',').append(tool);
                    if (body.contains("\"updates\"")) {
                        write(out, "event: updates\ndata: {\"tools\":{\"messages\":[" + tool + "]}}\n\n");
                    } else if (body.contains("\"values\"")) {
                        write(out, "event: values\ndata: {\"messages\":[" + state + "]}\n\n");
                    } else {
                        write(out, "event: messages/complete\ndata: [" + tool + "]\n\n");
                    }
                }
            }
        }
    }

    /**
     * A Java service relaying a Vercel AI SDK 4 agent route ({@code streamText({model, tools, maxSteps: 5})
     * .toDataStreamResponse()}), byte for byte with its {@code x-vercel-ai-data-stream: v1} header. Each
     * step starts with {@code f:}, its tool call and result ({@code 9:}, {@code a:}) and ends with
     * {@code e:} carrying that step's usage. Two steps run; the third step's provider call is refused
     * (the context has outgrown the model's window: the provider answers 400 before any model runs), so
     * the SDK writes its error part ({@code 3:}) and ends the stream, without the {@code d:} part that
     * would carry the run's total.
     */
    class AiSdkAgent extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            resp.setContentType("text/plain; charset=utf-8");
            resp.setHeader("x-vercel-ai-data-stream", "v1");
            OutputStream out = resp.getOutputStream();
            for (int step = 0; step < 2; step++) {
                CALLS.count(user);
                write(out, "f:{\"messageId\":\"msg-124-" + step + "\"}\n");
                write(out, "9:{\"toolCallId\":\"call_" + step + "\",\"toolName\":\"fetchPage\",\"args\":{\"url\":"
                        + "\"https://example.com/report/" + step + "\"}}\n");
                write(out, "a:{\"toolCallId\":\"call_" + step + "\",\"result\":\"" + PAGE + "\"}\n");
                write(out, "e:{\"finishReason\":\"tool-calls\",\"usage\":{\"promptTokens\":" + STEPS[step][0]
                        + ",\"completionTokens\":" + STEPS[step][1] + "},\"isContinued\":false}\n");
            }
            write(out, "f:{\"messageId\":\"msg-124-2\"}\n");
            write(out, "3:\"An error occurred.\"\n");
        }
    }

    String ask(String s, String path, String body) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        return r.body();
    }

    static String runRequest(String mode) {
        return "{\"assistant_id\":\"agent\",\"input\":{\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Read the three quarterly reports and compare them.\"}]},\"stream_mode\":[\"" + mode + "\"]}";
    }

    void chargedTheAgentsUsage(String mode) {
        String s = subject();
        String answer = ask(s, "/ai/lg/threads/th-" + s + "/runs/stream", runRequest(mode));
        assertTrue(answer.contains(ANSWER), "the agent's answer was served");
        assertEquals(3, CALLS.of(s), "three model calls");
        QuotaAccount a = settled(s);
        assertEquals(AGENT_USAGE, a.used(), "stream_mode " + mode + ": three model calls reported "
                + "2,100 + 5,100 + 8,400 = 15,600 tokens in their usage_metadata; charged " + a.used() + " of "
                + a.limit() + "; " + ledger(s));
    }

    // ------------------------------------------------------------------ tests

    /**
     * Control: the agent's run streamed with {@code stream_mode: ["messages"]}: each message whole in a
     * {@code messages/complete} event, the three AI messages' usage_metadata 2,100, 5,100 and 8,400.
     * Expected: charged 15,600 exactly.
     */
    @Test
    void agentRunInMessagesModeIsChargedItsCalls() {
        chargedTheAgentsUsage("messages");
    }

    /**
     * Attack: the same run with {@code stream_mode: ["updates"]} (what LangGraph's docs and its React
     * {@code useStream} examples use to show an agent's steps): each event is
     * {@code {"<node>": {"messages": [...]}}}, so the AI messages and their usage_metadata sit under the
     * node's name. Expected: charged 15,600. Served in full and charged the estimate instead (the short
     * request plus the 1,000-token default budget), since usage_metadata is read only at an event's top
     * level or under LangServe's {@code output}.
     */
    @Test
    void agentRunInUpdatesModeIsChargedItsCalls() {
        chargedTheAgentsUsage("updates");
    }

    /**
     * Attack: the same run with {@code stream_mode: ["values"]}, LangGraph's default stream mode: each
     * event is the graph's whole state, {@code {"messages": [...]}}, so each AI message comes again in
     * every later event (once counted by its id, it is one call). Expected: charged 15,600. Charged the
     * estimate instead.
     */
    @Test
    void agentRunInValuesModeIsChargedItsCalls() {
        chargedTheAgentsUsage("values");
    }

    /**
     * Attack: the AI SDK agent of {@link AiSdkAgent}: two steps ran, reporting 2,000 + 100 and
     * 5,000 + 100 in their {@code e:} parts (7,200 together), then the third step failed at the
     * provider and the stream ended without {@code d:}. A user makes that happen at will by asking for a
     * page large enough that the third call's context overflows. Expected: charged 7,200, the two model
     * calls that ran. Charged 5,100, the last step's {@code e:} alone: every earlier step of an agent run
     * that does not finish is free.
     */
    @Test
    void aiSdkStepsBeforeAFailedStepAreAllCharged() {
        String s = subject();
        String answer = ask(s, "/ai/api/agent", "{\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Read the quarterly reports at example.com and compare them.\"}]}");
        assertTrue(answer.contains("3:\"An error occurred.\""), "the stream ended with the SDK's error part");
        assertEquals(2, CALLS.of(s), "two model calls ran");
        QuotaAccount a = settled(s);
        long used = STEPS[0][0] + STEPS[0][1] + STEPS[1][0] + STEPS[1][1];
        assertEquals(used, a.used(), "two steps reported 2,100 and 5,100 in their e: parts; charged " + a.used()
                + " of " + a.limit() + "; " + ledger(s));
    }
}
