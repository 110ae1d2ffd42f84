package io.tokenquota.servlet.breakit243;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
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
import org.junit.jupiter.api.Test;

/**
 * Round 243 of issue 11: the OpenAI Agents SDK's wrapped events (round 239's reading), attacked both ways.
 *
 * <p>A Java service ({@code POST /ai/agent/…}) relays, event by event, the stream of an agent server built
 * on the OpenAI Agents SDK.
 *
 * <p>Finding (A): the scanner of a wrapped event ({@code JsonDocumentScanner}'s inner scanner) counts text with
 * a {@code StreamText} of its own ({@code text.another()}) that never hears which strings the byte layer cut
 * ({@code opened()} / {@code elided()} go to the outer counter only), so a wrapped delta longer than
 * {@code KEPT_STRING_BYTES} (256) is counted by its first 256 bytes, not scaled to its length as a bare one
 * is. A stream cut before its usage (an agent server whose model call broke, a client that left) is charged
 * a fraction of the text it carried. Speech deltas ({@code response.audio.delta}) inside a wrapper are
 * measured the same way (by 256 bytes).
 *
 * <p>Controls that hold: bare long deltas; the JS SDK on an AI SDK model (finish parts' usage, response_done
 * not added) and on a Chat Completions model (wrapped chunks); a run total after wrapped calls' usage.
 */
abstract class AbstractRound243 extends H2FilterRound {
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u243-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String REQUEST = "{\"input\":\"Read our supplier contracts and write a full report on their termination clauses.\"}";

    static final String[] SENTENCES = {
        "Clause fourteen lets the supplier terminate on thirty days notice for any unpaid invoice.",
        "The buyer may end the agreement at once if the seller becomes insolvent or assigns its assets.",
        "Neither party may terminate for convenience during the first twelve months of the initial term.",
        "After that period either side may give ninety days written notice without stating a reason.",
        "A material breach that is not cured within sixty days of notice allows immediate termination.",
        "On termination all licences granted under schedule three end and confidential data is returned.",
        "Fees paid in advance for services not yet delivered are refunded pro rata within thirty days.",
        "The indemnities in clause nine and the limits of liability in clause eleven survive termination.",
        "Force majeure lasting more than one hundred and twenty days gives both parties a right to exit.",
        "A change of control of the supplier requires the consent of the buyer or lets the buyer leave.",
    };

    /** A chunk of about {@code bytes} bytes of varied prose, the {@code n}-th of the answer. */
    static String prose(int n, int bytes) {
        StringBuilder b = new StringBuilder();
        int i = n * 7;
        while (b.length() < bytes) {
            b.append(SENTENCES[i++ % SENTENCES.length]).append(' ');
        }
        return b.toString();
    }

    // ---------------------------------------------------------------------------------------------
    // A: Python Agents SDK on a LiteLLM model (Gemini): the SDK turns each chat chunk into a Responses
    // delta, one per provider chunk; Gemini's chunks are hundreds of characters each
    // ---------------------------------------------------------------------------------------------

    static final int LONG_DELTAS = 40;
    static final int DELTA_BYTES = 900;

    static String fakeResponse(String status) {
        return "{\"id\":\"__fake_id__\",\"created_at\":1735689600.0,\"error\":null,\"incomplete_details\":null,"
                + "\"instructions\":null,\"metadata\":null,\"model\":\"gemini/gemini-2.5-flash\",\"object\":\"response\","
                + "\"output\":[],\"parallel_tool_calls\":false,\"temperature\":null,\"tool_choice\":\"auto\",\"tools\":[],"
                + "\"top_p\":null,\"status\":\"" + status + "\",\"usage\":null}";
    }

    /** The Responses events of a call whose stream broke after its text (no response.completed). */
    static List<String> cutResponsesEvents() {
        List<String> events = new ArrayList<>();
        int seq = 0;
        events.add("{\"response\":" + fakeResponse("in_progress") + ",\"type\":\"response.created\",\"sequence_number\":" + seq++ + "}");
        events.add("{\"item\":{\"id\":\"__fake_id__\",\"content\":[],\"role\":\"assistant\",\"status\":\"in_progress\",\"type\":\"message\"},"
                + "\"output_index\":0,\"type\":\"response.output_item.added\",\"sequence_number\":" + seq++ + "}");
        events.add("{\"content_index\":0,\"item_id\":\"__fake_id__\",\"output_index\":0,\"part\":{\"annotations\":[],\"text\":\"\","
                + "\"type\":\"output_text\"},\"type\":\"response.content_part.added\",\"sequence_number\":" + seq++ + "}");
        for (int i = 0; i < LONG_DELTAS; i++) {
            events.add("{\"content_index\":0,\"delta\":\"" + prose(i, DELTA_BYTES) + "\",\"item_id\":\"__fake_id__\",\"logprobs\":[],"
                    + "\"output_index\":0,\"type\":\"response.output_text.delta\",\"sequence_number\":" + seq++ + "}");
        }
        return events;
    }

    static long cutText() {
        long t = 0;
        for (int i = 0; i < LONG_DELTAS; i++) {
            t += TOKENS.estimate(prose(i, DELTA_BYTES));
        }
        return t;
    }

    static List<String> pythonCut() {
        List<String> out = new ArrayList<>();
        out.add("{\"new_agent\":{\"name\":\"Contracts analyst\",\"model\":\"gemini/gemini-2.5-flash\"},\"type\":\"agent_updated_stream_event\"}");
        for (String e : cutResponsesEvents()) {
            out.add("{\"data\":" + e + ",\"type\":\"raw_response_event\"}");
        }
        return out;
    }

    /** The JS SDK on its OpenAI Responses model, the same call cut: each raw event in a `model` event. */
    static List<String> jsCut() {
        List<String> out = new ArrayList<>();
        for (String e : cutResponsesEvents()) {
            out.add(model(e));
        }
        return out;
    }

    /** D: the Python SDK's two calls, then the application's own closing event with the run's total (RunResult usage). */
    static List<String> pythonWithRunTotal() {
        List<String> out = new ArrayList<>();
        out.add("{\"data\":{\"response\":" + respWith("resp_1", "completed", usage(FIRST_IN, FIRST_OUT)) + ",\"type\":\"response.completed\","
                + "\"sequence_number\":4},\"type\":\"raw_response_event\"}");
        out.add("{\"data\":{\"response\":" + respWith("resp_2", "in_progress", "null") + ",\"type\":\"response.created\","
                + "\"sequence_number\":0},\"type\":\"raw_response_event\"}");
        for (int i = 0; i < 300; i++) {
            out.add("{\"data\":{\"content_index\":0,\"delta\":\"" + WORDS + "\",\"item_id\":\"msg_2\",\"logprobs\":[],\"output_index\":0,"
                    + "\"sequence_number\":" + (i + 1) + ",\"type\":\"response.output_text.delta\"},\"type\":\"raw_response_event\"}");
        }
        out.add("{\"data\":{\"response\":" + respWith("resp_2", "completed", usage(SECOND_IN, SECOND_OUT)) + ",\"type\":\"response.completed\","
                + "\"sequence_number\":302},\"type\":\"raw_response_event\"}");
        out.add("{\"type\":\"run_complete\",\"final_output\":\"(report)\",\"usage\":{\"requests\":2,\"input_tokens\":" + (FIRST_IN + SECOND_IN)
                + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + (FIRST_OUT + SECOND_OUT)
                + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + TOTAL + "}}");
        return out;
    }

    static String usage(long in, long out) {
        return "{\"input_tokens\":" + in + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + out
                + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + (in + out) + "}";
    }

    static String respWith(String id, String status, String usage) {
        return "{\"id\":\"" + id + "\",\"object\":\"response\",\"model\":\"gpt-4.1-2025-04-14\",\"output\":[],\"status\":\""
                + status + "\",\"usage\":" + usage + "}";
    }

    // ---------------------------------------------------------------------------------------------
    // B: JS Agents SDK on a Vercel AI SDK model (aisdk(anthropic(...))): its `model` events wrap the AI
    // SDK's stream parts (LanguageModelV2), whose finish part carries the call's usage
    // ---------------------------------------------------------------------------------------------

    static final long FIRST_IN = 2_100;
    static final long FIRST_OUT = 150;
    static final long SECOND_IN = 2_600;
    static final long SECOND_OUT = 6_000;
    static final long TOTAL = FIRST_IN + FIRST_OUT + SECOND_IN + SECOND_OUT;
    static final String WORDS = "Clause fourteen lets the supplier terminate on thirty days notice for any unpaid invoice, ";

    static String js(String data) {
        return "{\"type\":\"raw_model_stream_event\",\"data\":" + data + "}";
    }

    static String model(String event) {
        return js("{\"type\":\"model\",\"event\":" + event + "}");
    }

    static String aiSdkUsage(long in, long out) {
        return "{\"inputTokens\":" + in + ",\"outputTokens\":" + out + ",\"totalTokens\":" + (in + out) + "}";
    }

    static String responseDone(String id, long in, long out) {
        return js("{\"type\":\"response_done\",\"response\":{\"id\":\"" + id + "\",\"usage\":" + aiSdkUsage(in, out)
                + ",\"output\":[]}}");
    }

    static List<String> jsAiSdk() {
        List<String> out = new ArrayList<>();
        // call 1: the tool call
        out.add(js("{\"type\":\"response_started\"}"));
        out.add(model("{\"type\":\"stream-start\",\"warnings\":[]}"));
        out.add(model("{\"type\":\"response-metadata\",\"id\":\"msg_01A\",\"modelId\":\"claude-sonnet-4-20250514\"}"));
        out.add(model("{\"type\":\"tool-input-start\",\"id\":\"toolu_1\",\"toolName\":\"search_contracts\"}"));
        out.add(model("{\"type\":\"tool-input-delta\",\"id\":\"toolu_1\",\"delta\":\"{\\\"query\\\":\\\"termination\\\"}\"}"));
        out.add(model("{\"type\":\"tool-input-end\",\"id\":\"toolu_1\"}"));
        out.add(model("{\"type\":\"tool-call\",\"toolCallId\":\"toolu_1\",\"toolName\":\"search_contracts\","
                + "\"input\":\"{\\\"query\\\":\\\"termination\\\"}\"}"));
        out.add(model("{\"type\":\"finish\",\"finishReason\":\"tool-calls\",\"usage\":" + aiSdkUsage(FIRST_IN, FIRST_OUT)
                + ",\"providerMetadata\":{\"anthropic\":{\"cacheCreationInputTokens\":0}}}"));
        out.add(responseDone("msg_01A", FIRST_IN, FIRST_OUT));
        out.add("{\"type\":\"run_item_stream_event\",\"name\":\"tool_called\",\"item\":{\"type\":\"tool_call_item\","
                + "\"rawItem\":{\"type\":\"function_call\",\"callId\":\"toolu_1\",\"name\":\"search_contracts\","
                + "\"arguments\":\"{\\\"query\\\":\\\"termination\\\"}\",\"status\":\"completed\"}}}");
        out.add("{\"type\":\"run_item_stream_event\",\"name\":\"tool_output\",\"item\":{\"type\":\"tool_call_output_item\","
                + "\"rawItem\":{\"type\":\"function_call_result\",\"callId\":\"toolu_1\",\"name\":\"search_contracts\","
                + "\"status\":\"completed\",\"output\":{\"type\":\"text\",\"text\":\"3 contracts found\"}},\"output\":\"3 contracts found\"}}");
        // call 2: the report
        out.add(js("{\"type\":\"response_started\"}"));
        out.add(model("{\"type\":\"stream-start\",\"warnings\":[]}"));
        out.add(model("{\"type\":\"response-metadata\",\"id\":\"msg_01B\",\"modelId\":\"claude-sonnet-4-20250514\"}"));
        out.add(model("{\"type\":\"text-start\",\"id\":\"0\"}"));
        for (int i = 0; i < 300; i++) {
            out.add(model("{\"type\":\"text-delta\",\"id\":\"0\",\"delta\":\"" + WORDS + "\"}"));
            out.add(js("{\"type\":\"output_text_delta\",\"delta\":\"" + WORDS + "\"}"));
        }
        out.add(model("{\"type\":\"text-end\",\"id\":\"0\"}"));
        out.add(model("{\"type\":\"finish\",\"finishReason\":\"stop\",\"usage\":" + aiSdkUsage(SECOND_IN, SECOND_OUT)
                + ",\"providerMetadata\":{\"anthropic\":{\"cacheCreationInputTokens\":0}}}"));
        out.add(responseDone("msg_01B", SECOND_IN, SECOND_OUT));
        return out;
    }

    // ---------------------------------------------------------------------------------------------
    // C: JS Agents SDK on OpenAIChatCompletionsModel: its `model` events wrap the provider's chunks
    // ---------------------------------------------------------------------------------------------

    static String chunk(String id, String choices, String usage) {
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\"gpt-4.1\","
                + "\"choices\":" + choices + (usage == null ? "" : ",\"usage\":" + usage) + "}";
    }

    static String chatUsage(long in, long out) {
        return "{\"prompt_tokens\":" + in + ",\"completion_tokens\":" + out + ",\"total_tokens\":" + (in + out) + "}";
    }

    static List<String> jsChat() {
        List<String> out = new ArrayList<>();
        String c1 = "chatcmpl-A1";
        String first = chunk(c1, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
                + "\"type\":\"function\",\"function\":{\"name\":\"search_contracts\",\"arguments\":\"\"}}]},\"finish_reason\":null}]", null);
        out.add(js("{\"type\":\"response_started\",\"providerData\":" + first + "}"));
        out.add(model(first));
        out.add(model(chunk(c1, "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                + "\"{\\\"query\\\":\\\"termination\\\"}\"}}]},\"finish_reason\":null}]", null)));
        out.add(model(chunk(c1, "[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]", null)));
        out.add(model(chunk(c1, "[]", chatUsage(FIRST_IN, FIRST_OUT))));
        out.add(responseDone(c1, FIRST_IN, FIRST_OUT));
        String c2 = "chatcmpl-B2";
        String second = chunk(c2, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]", null);
        out.add(js("{\"type\":\"response_started\",\"providerData\":" + second + "}"));
        out.add(model(second));
        for (int i = 0; i < 300; i++) {
            String c = chunk(c2, "[{\"index\":0,\"delta\":{\"content\":\"" + WORDS + "\"},\"finish_reason\":null}]", null);
            out.add(model(c));
            out.add(js("{\"type\":\"output_text_delta\",\"delta\":\"" + WORDS + "\",\"itemId\":\"" + c2 + "\",\"providerData\":" + c + "}"));
        }
        out.add(model(chunk(c2, "[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]", null)));
        out.add(model(chunk(c2, "[]", chatUsage(SECOND_IN, SECOND_OUT))));
        out.add(responseDone(c2, SECOND_IN, SECOND_OUT));
        return out;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("agent", new AgentRelay(), "/ai/agent/*")
                .onStartup(filter::registerByServletName);
    }

    /** Passes the agent server's stream on, one event per document (the Java service's relay). */
    class AgentRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String path = req.getPathInfo();
            List<String> events = switch (path) {
                case "/python-cut" -> pythonCut();
                case "/bare-cut" -> cutResponsesEvents();
                case "/js-aisdk" -> jsAiSdk();
                case "/js-chat" -> jsChat();
                case "/js-cut" -> jsCut();
                case "/python-total" -> pythonWithRunTotal();
                default -> throw new IllegalArgumentException(path);
            };
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            for (String e : events) {
                w.write("data: " + e + "\n\n");
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
     * A: the Python SDK's stream of a Gemini call (through LiteLLM) breaks after ~9,000 tokens of text, before
     * its response.completed. A stream cut before its usage is charged at least the text its deltas carried.
     */
    @Test
    void pythonWrappedLongDeltasCutBeforeUsageAreChargedTheirText() {
        String s = subject();
        long used = run("python-cut", s);
        long text = cutText();
        assertTrue(used >= text * 9 / 10, "a wrapped stream cut after " + text + " tokens of deltas is charged at least (nine tenths of) that, charged "
                + used + ": " + ledger(s));
    }

    /** A control: the same Responses events relayed bare. */
    @Test
    void bareLongDeltasCutBeforeUsageAreChargedTheirText() {
        String s = subject();
        long used = run("bare-cut", s);
        long text = cutText();
        assertTrue(used >= text * 9 / 10, "a bare stream cut after " + text + " tokens of deltas is charged at least (nine tenths of) that, charged "
                + used + ": " + ledger(s));
    }

    /** A, JS: the JS SDK on its Responses model, the same stream cut; each raw event inside a `model` event. */
    @Test
    void jsWrappedLongDeltasCutBeforeUsageAreChargedTheirText() {
        String s = subject();
        long used = run("js-cut", s);
        long text = cutText();
        assertTrue(used >= text * 9 / 10, "a JS-wrapped stream cut after " + text + " tokens of deltas is charged at least"
                + " (nine tenths of) that, charged " + used + ": " + ledger(s));
    }

    /** D: the run's own total after the calls' wrapped usage is the same tokens, not more. */
    @Test
    void pythonRunWithTheAppsRunTotalIsChargedOnce() {
        String s = subject();
        long used = run("python-total", s);
        assertEquals(TOTAL, used, "two calls of " + TOTAL + " tokens and the run's total of them: " + ledger(s));
    }

    /** B: the JS SDK on an AI SDK model: two calls, each finish part with its usage; response_done repeats it. */
    @Test
    void jsAgentsSdkOnAnAiSdkModelIsChargedBothCalls() {
        String s = subject();
        long used = run("js-aisdk", s);
        assertEquals(TOTAL, used, "two calls reporting " + TOTAL + " tokens in their finish parts: " + ledger(s));
    }

    /** C: the JS SDK on a Chat Completions model: two calls, each chunk stream with its usage chunk. */
    @Test
    void jsAgentsSdkOnAChatCompletionsModelIsChargedBothCalls() {
        String s = subject();
        long used = run("js-chat", s);
        assertEquals(TOTAL, used, "two calls reporting " + TOTAL + " tokens in their usage chunks: " + ledger(s));
    }
}
