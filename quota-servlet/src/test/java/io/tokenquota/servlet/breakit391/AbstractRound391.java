package io.tokenquota.servlet.breakit391;

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
import org.junit.jupiter.api.Test;

/**
 * Round 391 of issue 11: Python agent frameworks' usage, relayed by a Java service the filter guards.
 *
 * <p>A. The OpenAI Agents SDK ({@code openai/openai-agents-python}) on a Chat Completions model
 * ({@code OpenAIChatCompletionsModel}, or {@code LitellmModel} for any other provider). The SDK turns each model call's
 * chat chunks into Responses stream events ({@code src/agents/models/chatcmpl_stream_handler.py},
 * {@code ChatCmplStreamHandler.handle_stream}): {@code response.created} carrying the {@code Response} the model class
 * built with {@code id=FAKE_RESPONSES_ID} ({@code src/agents/models/openai_chatcompletions.py},
 * {@code src/agents/extensions/models/litellm_model.py}; {@code FAKE_RESPONSES_ID = "__fake_id__"} in
 * {@code src/agents/models/fake_id.py}), its items and deltas under {@code item_id=FAKE_RESPONSES_ID}, and last
 * {@code response.completed} with {@code final_response = response.model_copy()} (the same {@code __fake_id__}) and
 * {@code usage} from the provider's usage chunk ({@code _build_response_usage}: {@code input_tokens},
 * {@code output_tokens}, {@code total_tokens}, {@code input_tokens_details.cached_tokens},
 * {@code output_tokens_details.reasoning_tokens}). The SDK's streaming guide relays them as
 * {@code async for event in result.stream_events(): if event.type == "raw_response_event": …}; a FastAPI route
 * writes {@code f"data: {event.data.model_dump_json()}\n\n"} for each. Every call of a run thus says
 * {@code "id": "__fake_id__"}; with the Responses model ({@code OpenAIResponsesModel}) each call has its own
 * {@code resp_…} id.
 *
 * <p>B. CrewAI's {@code CrewOutput} ({@code crewAIInc/crewAI}, {@code crews/crew_output.py}: {@code raw},
 * {@code pydantic}, {@code json_dict}, {@code tasks_output} ({@code TaskOutput}: {@code description}, {@code name},
 * {@code expected_output}, {@code summary}, {@code raw}, {@code pydantic}, {@code json_dict}, {@code agent},
 * {@code output_format}), {@code token_usage}: {@code UsageMetrics} ({@code types/usage_metrics.py}:
 * {@code total_tokens}, {@code prompt_tokens}, {@code cached_prompt_tokens}, {@code completion_tokens},
 * {@code successful_requests}), the crew's calls summed by {@code Crew.calculate_usage_metrics}). A FastAPI route
 * returning {@code crew.kickoff(inputs=…)} answers it as JSON ({@code CrewOutput} is a Pydantic model).
 *
 * <p>Each run makes two model calls: the tool call (2,100 in, 150 out), then the answer reading the tool's
 * 8,000-token result (10,600 in, 1,200 out): 14,050 tokens. Rules: README settlement "usage seen → charge it";
 * docs/decisions.md "Several model calls in one answer" (an agent's loop relaying each call's stream: "the calls add
 * up"; a Responses event's {@code response.id} names the call) and round 239 (the Agents SDK's events read as the
 * event they wrap).
 */
abstract class AbstractRound391 extends ModelCallRound {
    static final long FIRST_IN = 2_100;
    static final long FIRST_OUT = 150;
    static final long SECOND_IN = 10_600;
    static final long SECOND_OUT = 1_200;
    static final long RUN = FIRST_IN + FIRST_OUT + SECOND_IN + SECOND_OUT;

    static final String WORDS = "Clause fourteen lets the supplier terminate on thirty days notice for any unpaid invoice, ";
    static final String REQUEST = "{\"prompt\":\"Read our supplier contracts and summarise their termination clauses.\"}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("agents", new AgentsSdkRelay(), "/ai/agents/*")
                .servlet("crew", new CrewKickoff(), "/ai/crew/*");
    }

    // ------------------------------------------------------------------ A: the Agents SDK's Responses events

    /**
     * The {@code Response} the model class builds ({@code Response(id=…, created_at=…, model=…, object="response", …)},
     * no {@code status}: {@code null} in the SDK's events; OpenAI's own Responses set {@code "in_progress"} and
     * {@code "completed"}).
     */
    static String response(String id, String status, String output, String usage) {
        return "{\"id\":\"" + id + "\",\"created_at\":1759741964.0,\"error\":null,\"incomplete_details\":null,"
                + "\"instructions\":null,\"metadata\":null,\"model\":\"gpt-4.1\",\"object\":\"response\",\"output\":" + output
                + ",\"parallel_tool_calls\":false,\"temperature\":null,\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":null,"
                + "\"status\":" + status + ",\"usage\":" + usage + "}";
    }

    /** The response's status: none under the SDK's fake id, OpenAI's own otherwise. */
    static String status(String id, String openAi) {
        return "__fake_id__".equals(id) ? "null" : "\"" + openAi + "\"";
    }

    /** {@code ResponseUsage} as {@code _build_response_usage} fills it. */
    static String usage(long in, long out) {
        return "{\"input_tokens\":" + in + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + out
                + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + (in + out) + "}";
    }

    /** Call 1: a function call ({@code response.output_item.added}, arguments delta, {@code output_item.done}, completed). */
    static List<String> toolCall(String id) {
        String item = "{\"arguments\":\"%s\",\"call_id\":\"call_Yz3mRk1pQ\",\"name\":\"search_contracts\",\"type\":\"function_call\","
                + "\"id\":\"" + id + "\",\"status\":null}";
        String args = "{\\\"query\\\": \\\"termination\\\"}";
        List<String> e = new ArrayList<>();
        e.add("{\"response\":" + response(id, status(id, "in_progress"), "[]", "null") + ",\"sequence_number\":0,\"type\":\"response.created\"}");
        e.add("{\"item\":" + item.formatted("") + ",\"output_index\":0,\"sequence_number\":1,\"type\":\"response.output_item.added\"}");
        e.add("{\"delta\":\"" + args + "\",\"item_id\":\"" + id + "\",\"output_index\":0,\"sequence_number\":2,"
                + "\"type\":\"response.function_call_arguments.delta\"}");
        e.add("{\"item\":" + item.formatted(args) + ",\"output_index\":0,\"sequence_number\":3,\"type\":\"response.output_item.done\"}");
        e.add("{\"response\":" + response(id, status(id, "completed"), "[" + item.formatted(args) + "]", usage(FIRST_IN, FIRST_OUT))
                + ",\"sequence_number\":4,\"type\":\"response.completed\"}");
        return e;
    }

    /** Call 2: the answer's text ({@code output_item.added}, {@code content_part.added}, deltas, done events, completed). */
    static List<String> answer(String id) {
        String message = "{\"id\":\"" + id + "\",\"content\":%s,\"role\":\"assistant\",\"status\":\"%s\",\"type\":\"message\"}";
        String part = "{\"annotations\":[],\"text\":\"%s\",\"type\":\"output_text\",\"logprobs\":null}";
        List<String> e = new ArrayList<>();
        int seq = 0;
        e.add("{\"response\":" + response(id, status(id, "in_progress"), "[]", "null") + ",\"sequence_number\":" + seq++
                + ",\"type\":\"response.created\"}");
        e.add("{\"item\":" + message.formatted("[]", "in_progress") + ",\"output_index\":0,\"sequence_number\":" + seq++
                + ",\"type\":\"response.output_item.added\"}");
        e.add("{\"content_index\":0,\"item_id\":\"" + id + "\",\"output_index\":0,\"part\":" + part.formatted("")
                + ",\"sequence_number\":" + seq++ + ",\"type\":\"response.content_part.added\"}");
        for (int i = 0; i < 60; i++) {
            e.add("{\"content_index\":0,\"delta\":\"" + WORDS + "\",\"item_id\":\"" + id + "\",\"logprobs\":[],\"output_index\":0,"
                    + "\"sequence_number\":" + seq++ + ",\"type\":\"response.output_text.delta\"}");
        }
        String text = part.formatted(WORDS.repeat(60));
        e.add("{\"content_index\":0,\"item_id\":\"" + id + "\",\"output_index\":0,\"part\":" + text + ",\"sequence_number\":"
                + seq++ + ",\"type\":\"response.content_part.done\"}");
        String done = message.formatted("[" + text + "]", "completed");
        e.add("{\"item\":" + done + ",\"output_index\":0,\"sequence_number\":" + seq++ + ",\"type\":\"response.output_item.done\"}");
        e.add("{\"response\":" + response(id, status(id, "completed"), "[" + done + "]", usage(SECOND_IN, SECOND_OUT))
                + ",\"sequence_number\":" + seq + ",\"type\":\"response.completed\"}");
        return e;
    }

    /** A FastAPI route writing {@code data: event.data.model_dump_json()} for each raw_response_event of the run. */
    class AgentsSdkRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            boolean chatModel = "/chat-completions-model".equals(req.getPathInfo());
            List<String> events = new ArrayList<>(toolCall(chatModel ? "__fake_id__" : "resp_68e3a1f0c1d48193"));
            events.addAll(answer(chatModel ? "__fake_id__" : "resp_68e3a1f3a7e08193"));
            if ("/resumed-from-start".equals(req.getPathInfo())) {
                // the relay's upstream connection dropped after the answer's call; it read that Response's stream
                // again from its start (GET /v1/responses/{id}?stream=true) and relayed it all once more
                events.addAll(answer("resp_68e3a1f3a7e08193"));
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (String e : events) {
                EventStreams.write(out, "data: " + e + "\n\n");
            }
        }
    }

    /**
     * The attack: an Agents SDK run on a Chat Completions model, two calls relayed as the SDK's Responses events, each
     * call's usage in its {@code response.completed}, both under the SDK's {@code "__fake_id__"}. Right: 14,050.
     */
    @Test
    void agentsSdkOnAChatCompletionsModelIsChargedBothCalls() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agents/chat-completions-model"), s, REQUEST);
        assertCharged(s, r, 200, 1, RUN, "an Agents SDK run of two calls (2,250 + 11,800), each ending in its"
                + " response.completed, both named \"__fake_id__\" by the SDK");
    }

    /** Control: the same run on the Responses model, each call under its own {@code resp_…} id: 14,050 charged. */
    @Test
    void controlAgentsSdkOnTheResponsesModelIsChargedBothCalls() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agents/responses-model"), s, REQUEST);
        assertCharged(s, r, 200, 1, RUN, "the same two calls under their own response ids");
    }

    /**
     * Control (added with the fix for A): a Response replayed from its {@code response.created} under its own id,
     * reporting the very counts again, is that call once, though a {@code response.created} after a call's final
     * report under the same id begins another call: 14,050 charged.
     */
    @Test
    void controlAResponseReplayedFromItsStartIsOneCall() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agents/resumed-from-start"), s, REQUEST);
        assertCharged(s, r, 200, 1, RUN, "the same two calls, the answer's Response replayed whole under its id");
    }

    // ------------------------------------------------------------------ B: CrewAI's CrewOutput

    static String taskOutput(String description, String name, String raw, String agent) {
        return "{\"description\":\"" + description + "\",\"name\":\"" + name + "\",\"expected_output\":\"A list of clauses.\","
                + "\"summary\":\"" + description.substring(0, 40) + "...\",\"raw\":\"" + raw + "\",\"pydantic\":null,"
                + "\"json_dict\":null,\"agent\":\"" + agent + "\",\"output_format\":\"raw\"}";
    }

    /** {@code CrewOutput} as FastAPI writes it (Pydantic's model_dump). */
    static String crewOutput() {
        String research = taskOutput("Find the termination clauses in the supplier contracts.", "research",
                "Clause 14: thirty days notice for unpaid invoices.", "Contracts researcher");
        String summary = taskOutput("Summarise the termination clauses for the legal team.", "summarise",
                WORDS.repeat(60), "Legal writer");
        return "{\"raw\":\"" + WORDS.repeat(60) + "\",\"pydantic\":null,\"json_dict\":null,\"tasks_output\":[" + research
                + "," + summary + "],\"token_usage\":{\"total_tokens\":" + RUN + ",\"prompt_tokens\":" + (FIRST_IN + SECOND_IN)
                + ",\"cached_prompt_tokens\":0,\"completion_tokens\":" + (FIRST_OUT + SECOND_OUT)
                + ",\"successful_requests\":2}}";
    }

    /** The same crew's calls as one chat completion would report them: the control's shape. */
    static String completionShaped() {
        return "{\"id\":\"chatcmpl-CNa2\",\"object\":\"chat.completion\",\"created\":1759741964,\"model\":\"gpt-4.1\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + WORDS.repeat(60) + "\"},"
                + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":" + (FIRST_IN + SECOND_IN) + ",\"completion_tokens\":"
                + (FIRST_OUT + SECOND_OUT) + ",\"total_tokens\":" + RUN + "}}";
    }

    /** A FastAPI route {@code return crew.kickoff(inputs=…)}. */
    class CrewKickoff extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            EventStreams.write(resp.getOutputStream(), "/completion".equals(req.getPathInfo()) ? completionShaped() : crewOutput());
        }
    }

    /**
     * The attack: a crew's kickoff answered as CrewAI's {@code CrewOutput}, its two model calls counted in
     * {@code token_usage} ({@code UsageMetrics}: 12,700 prompt, 1,350 completion, 14,050 total). Right: 14,050.
     */
    @Test
    void crewAiKickoffIsChargedItsTokenUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/crew/kickoff"), s, REQUEST);
        assertCharged(s, r, 200, 1, RUN, "a CrewAI crew's output, token_usage {total_tokens: 14,050, prompt_tokens:"
                + " 12,700, completion_tokens: 1,350, successful_requests: 2}");
    }

    /** Control: the same figures in a chat completion's {@code usage}: 14,050 charged. */
    @Test
    void controlTheSameFiguresAsAChatCompletionsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/crew/completion"), s, REQUEST);
        assertCharged(s, r, 200, 1, RUN, "the same figures in a chat completion's usage");
    }
}
