package io.tokenquota.servlet.breakit354;

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
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 354 of issue 11 ("no model call goes unpaid"), item 5 (usage provenance): what a <b>tool's</b> content
 * can plant in an agent's stream.
 *
 * <p>The rule (UsageSniffer's javadoc: "Usage is read only where each provider puts it, never from content a model
 * or a user wrote (tool arguments, echoed JSON)"; docs/decisions.md "An answer that is the model's own JSON" and
 * "Usage inside an application's envelope": a place a model's or a tool's JSON can sit is read provisionally at
 * most, so it never lowers a charge). And "the first usage seen fixes the format of the response; usage in another
 * format later is ignored rather than merged" (UsageSniffer's javadoc).
 *
 * <p>The application: a Java service relaying a Vercel AI SDK 4 agent route byte for byte
 * ({@code streamText({model, tools: {fetchJson}, maxSteps: 5}).toDataStreamResponse()}, with its
 * {@code x-vercel-ai-data-stream: v1} header, as round 124's {@code AiSdkAgent}). Its one tool, {@code fetchJson},
 * is the AI SDK docs' own example shape of a tool ({@code tool({description, parameters: z.object({url}),
 * execute: async ({url}) => (await fetch(url)).json()})}, ai-sdk.dev "Tool Calling"): it returns the JSON the URL
 * the model was asked to read serves, and the SDK streams that return value as the tool result part. The user names
 * the URL in the prompt; the user hosts what it serves.
 *
 * <p>Shapes: Vercel AI SDK 4 "Stream Protocols", Data Stream Protocol (ai-sdk.dev/docs/ai-sdk-ui/stream-protocol,
 * v4): start step {@code f:{"messageId":…}}, tool call {@code 9:{"toolCallId","toolName","args"}}, tool result
 * {@code a:{"toolCallId","result"}} (the tool's return value as it is), text {@code 0:"…"}, finish step
 * {@code e:{"finishReason","usage":{"promptTokens","completionTokens"},"isContinued"}}, finish message
 * {@code d:{"finishReason","usage":{"promptTokens","completionTokens"}}}. The page's {@code usage} is the OpenAI
 * chat completion object's ({@code prompt_tokens}, {@code completion_tokens}, {@code total_tokens}: OpenAI API
 * reference, "The chat completion object"), which is what an OpenAI-compatible API the tool reads answers with
 * (or what an attacker's page copies).
 *
 * <p>The run: two model calls, 2,000 + 100 (the call that asks for the tool) and 6,000 + 400 (the call that reads
 * the fetched JSON and answers), 8,500 tokens in all.
 */
abstract class AbstractRound354 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();

    /** The two model calls' usage: {input, output}. */
    static final long[][] STEPS = {{2_000, 100}, {6_000, 400}};
    static final long RUN = 2_000 + 100 + 6_000 + 400;

    /** What an ordinary JSON API the tool reads serves. */
    static final String PLAIN_PAGE = "{\"city\":\"Lisbon\",\"forecast\":[{\"day\":\"Mon\",\"high\":24,\"low\":16},"
            + "{\"day\":\"Tue\",\"high\":22,\"low\":15}],\"source\":\"met-office\"}";
    /**
     * What the attacker's URL serves: an OpenAI chat completion object (the JSON any OpenAI-compatible endpoint
     * answers with), its usage 3 + 2.
     */
    static final String PLANTED_PAGE = "{\"id\":\"chatcmpl-B9x1\",\"object\":\"chat.completion\",\"created\":1764900000,"
            + "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},"
            + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}";
    /** The same page's usage alone, as a status API reports its consumption. */
    static final String USAGE_ONLY_PAGE = "{\"status\":\"ok\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,"
            + "\"total_tokens\":5}}";

    AbstractRound354() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("aisdk", new AiSdkAgent(), "/ai/api/agent")
                .servlet("langgraph", new LangGraphServer(), "/ai/lg/*")
                .onStartup(filter::registerByServletName);
    }

    static void write(OutputStream out, String s) throws IOException {
        out.write(s.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /**
     * The relayed AI SDK 4 agent route: step one calls {@code fetchJson} on the URL the user named, step two reads
     * what it returned and answers; each step's {@code e:} part carries its call's usage, {@code d:} the run's.
     * The page served at the URL is the request's {@code x-page} header's choice of the pages above (the user's
     * own server, in the test).
     */
    class AiSdkAgent extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String page = switch (String.valueOf(req.getHeader("x-page"))) {
                case "planted" -> PLANTED_PAGE;
                case "usage" -> USAGE_ONLY_PAGE;
                default -> PLAIN_PAGE;
            };
            resp.setContentType("text/plain; charset=utf-8");
            resp.setHeader("x-vercel-ai-data-stream", "v1");
            OutputStream out = resp.getOutputStream();
            CALLS.count(user);
            write(out, "f:{\"messageId\":\"msg-354-0\"}\n");
            write(out, "9:{\"toolCallId\":\"call_354a\",\"toolName\":\"fetchJson\",\"args\":{\"url\":"
                    + "\"https://data.example.net/latest.json\"}}\n");
            write(out, "e:{\"finishReason\":\"tool-calls\",\"usage\":{\"promptTokens\":" + STEPS[0][0]
                    + ",\"completionTokens\":" + STEPS[0][1] + "},\"isContinued\":false}\n");
            write(out, "a:{\"toolCallId\":\"call_354a\",\"result\":" + page + "}\n");
            CALLS.count(user);
            write(out, "f:{\"messageId\":\"msg-354-1\"}\n");
            for (String word : "The JSON at that address reports a status and a forecast for the week.".split(" ")) {
                write(out, "0:\"" + word + " \"\n");
            }
            write(out, "e:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":" + STEPS[1][0]
                    + ",\"completionTokens\":" + STEPS[1][1] + "},\"isContinued\":false}\n");
            write(out, "d:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":" + (STEPS[0][0] + STEPS[1][0])
                    + ",\"completionTokens\":" + (STEPS[0][1] + STEPS[1][1]) + "}}\n");
        }
    }

    static final String ASK = "{\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Read https://data.example.net/latest.json and tell me what it says.\"}]}";

    void assertChargedTheRun(String s, String page, String what) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/api/agent"), s, ASK, "x-page", page);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("d:{\"finishReason\":\"stop\""), r.body());
        assertEquals(2, CALLS.of(s), "two model calls ran");
        QuotaAccount a = settled(s);
        assertEquals(RUN, a.used(), kind() + ": " + what + ": the run's two model calls reported 2,000 + 100 and "
                + "6,000 + 400 in their e: parts (8,500; d: says the same); charged " + a.used() + " of " + a.limit()
                + "; " + ledger(s));
    }

    // ------------------------------------------------------------------ LangGraph

    /** The one model call of the LangGraph run: it reads the fetched JSON and answers. */
    static final long LG_INPUT = 6_000;
    static final long LG_OUTPUT = 400;

    static final String HUMAN = "{\"content\":\"Read https://data.example.net/latest.json and tell me what it says.\","
            + "\"additional_kwargs\":{},\"response_metadata\":{},\"type\":\"human\",\"name\":null,\"id\":\"hm-354\","
            + "\"example\":false}";

    /** The summarising call's AI message as LangGraph's server serialises it (round 124's shape), with its usage_metadata. */
    static final String AI = "{\"content\":\"The JSON at that address reports a status and a forecast for the week.\","
            + "\"additional_kwargs\":{},\"response_metadata\":{\"finish_reason\":\"stop\",\"model_name\":"
            + "\"gpt-4o-2024-08-06\"},\"type\":\"ai\",\"name\":null,\"id\":\"run-3b54c0de-0001-0\",\"example\":false,"
            + "\"tool_calls\":[],\"invalid_tool_calls\":[],\"usage_metadata\":{\"input_tokens\":" + LG_INPUT
            + ",\"output_tokens\":" + LG_OUTPUT + ",\"total_tokens\":" + (LG_INPUT + LG_OUTPUT)
            + ",\"input_token_details\":{\"cache_read\":0},\"output_token_details\":{\"reasoning\":0}}}";

    /**
     * A LangGraph server (LangGraph Platform API, {@code POST /threads/{id}/runs/stream} with
     * {@code "stream_mode": ["values"]}, LangGraph's default mode: the graph's whole state after each step) running
     * a two-node graph, {@code fetch -> summarize}, its state {@code class State(TypedDict): url: str; result: dict;
     * messages: Annotated[list, add_messages]} (LangGraph docs, "Define state"; channels in the order declared).
     * {@code fetch} runs no model: it stores the JSON the user's URL serves ({@code httpx.get(url).json()}) under
     * {@code result}; {@code summarize} calls the model once with it and adds its AI message. The page is the
     * request's {@code x-page} header's choice; an {@code x-place} header names one of {@link #STATE_PLACES}
     * instead: the state's key and the page stored under it.
     */
    class LangGraphServer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String page = "planted".equals(req.getHeader("x-page")) ? PLANTED_PAGE
                    : "usage".equals(req.getHeader("x-page")) ? USAGE_ONLY_PAGE : PLAIN_PAGE;
            String key = "result";
            String[] place = req.getHeader("x-place") == null ? null : STATE_PLACES.get(req.getHeader("x-place"));
            if (place != null) {
                key = place[0];
                page = place[1];
            }
            String url = "\"url\":\"https://data.example.net/latest.json\"";
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            write(out, "event: metadata\ndata: {\"run_id\":\"1ef8b6a2-run-354\",\"attempt\":1}\n\n");
            write(out, "event: values\ndata: {" + url + ",\"messages\":[" + HUMAN + "]}\n\n");
            // fetch: no model
            write(out, "event: values\ndata: {" + url + ",\"" + key + "\":" + page + ",\"messages\":[" + HUMAN + "]}\n\n");
            // summarize: the one model call
            CALLS.count(user);
            write(out, "event: values\ndata: {" + url + ",\"" + key + "\":" + page + ",\"messages\":[" + HUMAN + ","
                    + AI + "]}\n\n");
        }
    }

    static final String RUN_REQUEST = "{\"assistant_id\":\"summarizer\",\"input\":{\"url\":"
            + "\"https://data.example.net/latest.json\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Read https://data.example.net/latest.json and tell me what it says.\"}]},\"stream_mode\":[\"values\"]}";

    void assertGraphChargedItsCall(String s, String page, String what) {
        assertGraphChargedItsCall(s, what, "x-page", page);
    }

    void assertGraphChargedItsCall(String s, String what, String... headers) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/lg/threads/th-" + s + "/runs/stream"), s,
                RUN_REQUEST, headers);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, CALLS.of(s), "one model call ran");
        QuotaAccount a = settled(s);
        assertEquals(LG_INPUT + LG_OUTPUT, a.used(), kind() + ": " + what + ": the graph's one model call reported "
                + "6,000 + 400 in its AI message's usage_metadata; charged " + a.used() + " of " + a.limit() + "; "
                + ledger(s));
    }

    /**
     * Found and fixed: the graph's state holds the fetched JSON under {@code result}, and it is a chat completion object
     * (usage 3 + 2) the user's URL serves: read as Cloudflare's envelope ({@code result.usage}), a final OpenAI
     * report, before the model's AI message; that report fixes the answer's format and the AI message's
     * usage_metadata (LangChain's) is ignored.
     */
    @Test
    void aGraphStateHoldingFetchedJsonUnderResultDoesNotSetTheCharge() {
        assertGraphChargedItsCall(subject(), "planted", "the state's result is the fetched chat completion (usage 5)");
    }

    /** Found and fixed: the same with a fetched page that is only a status and a {@code usage} object. */
    @Test
    void aGraphStateHoldingAFetchedUsageObjectUnderResultDoesNotSetTheCharge() {
        assertGraphChargedItsCall(subject(), "usage", "the state's result is {\"status\":\"ok\",\"usage\":{…5}}");
    }

    /** Control: the same graph whose fetched JSON is an ordinary forecast: charged 6,400. */
    @Test
    void controlAGraphStateHoldingAForecastUnderResultIsChargedItsCall() {
        assertGraphChargedItsCall(subject(), "plain", "the state's result is a forecast");
    }

    /**
     * The other places of a provider's usage the filter read in a graph-state event (found and fixed with the
     * round's finding): each a key a graph's state may have, holding the JSON the user's URL served in the shape a
     * provider's usage takes there, usage 5 (3 + 2). Each was read before (or beside) the AI message's
     * usage_metadata and the 6,400-token call was charged 5 (10 where the two were added up; the hold, 1,023, where
     * the place is believed provisionally: data.usage, metadata.usage, details, an AutoGen Studio team's messages).
     * By the place read: the state's key, the page stored under it.
     */
    static final Map<String, String[]> STATE_PLACES = Map.ofEntries(
            Map.entry("usage", new String[] {"usage", "{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}"}),
            Map.entry("data.usage", new String[] {"data", USAGE_ONLY_PAGE}),
            Map.entry("metadata.usage", new String[] {"metadata", USAGE_ONLY_PAGE}),
            Map.entry("interaction.usage", new String[] {"interaction", USAGE_ONLY_PAGE}),
            Map.entry("x_groq.usage", new String[] {"x_groq", USAGE_ONLY_PAGE}),
            Map.entry("choices[].usage", new String[] {"choices", "[" + USAGE_ONLY_PAGE + "]"}),
            // Cohere v1's meta, whole and under a stream-end's response
            Map.entry("meta", new String[] {"meta", "{\"api_version\":{\"version\":\"1\"},\"billed_units\":"
                    + "{\"input_tokens\":3,\"output_tokens\":2}}"}),
            Map.entry("response.meta", new String[] {"response", "{\"text\":\"ok\",\"meta\":{\"billed_units\":"
                    + "{\"input_tokens\":3,\"output_tokens\":2}}}"}),
            // a Replicate prediction's metrics, Hugging Face TGI's details, LM Studio's stats
            Map.entry("metrics", new String[] {"metrics", "{\"predict_time\":0.4,\"input_token_count\":3,"
                    + "\"output_token_count\":2}"}),
            Map.entry("details", new String[] {"details", "{\"finish_reason\":\"length\",\"generated_tokens\":5}"}),
            Map.entry("stats", new String[] {"stats", "{\"input_tokens\":3,\"total_output_tokens\":2}"}),
            // LangChain's usage_metadata, LangChain4j's TokenUsage, AutoGen's models_usage, Tencent Hunyuan's Usage
            Map.entry("usage_metadata", new String[] {"usage_metadata", "{\"input_tokens\":3,\"output_tokens\":2,"
                    + "\"total_tokens\":5}"}),
            Map.entry("tokenUsage", new String[] {"tokenUsage", "{\"inputTokenCount\":3,\"outputTokenCount\":2,"
                    + "\"totalTokenCount\":5}"}),
            Map.entry("metadata.tokenUsage", new String[] {"metadata", "{\"tokenUsage\":{\"inputTokenCount\":3,"
                    + "\"outputTokenCount\":2,\"totalTokenCount\":5}}"}),
            Map.entry("models_usage", new String[] {"models_usage", "{\"prompt_tokens\":3,\"completion_tokens\":2}"}),
            Map.entry("data.task_result.messages[]", new String[] {"data", "{\"task_result\":{\"messages\":[{\"id\":"
                    + "\"m1\",\"source\":\"assistant\",\"models_usage\":{\"prompt_tokens\":3,\"completion_tokens\":2},"
                    + "\"content\":\"ok\",\"type\":\"TextMessage\"}],\"stop_reason\":null}}"}),
            Map.entry("Usage", new String[] {"Usage", "{\"TotalTokens\":5,\"PromptTokens\":3,\"CompletionTokens\":2}"}),
            Map.entry("Response.Usage", new String[] {"Response", "{\"Usage\":{\"TotalTokens\":5,\"PromptTokens\":3,"
                    + "\"CompletionTokens\":2}}"}));

    /** Found and fixed with the round: a graph state holding the fetched JSON at any other place of a provider's usage. */
    @ParameterizedTest
    @ValueSource(strings = {"usage", "data.usage", "metadata.usage", "interaction.usage", "x_groq.usage",
            "choices[].usage", "meta", "response.meta", "metrics", "details", "stats", "usage_metadata", "tokenUsage",
            "metadata.tokenUsage", "models_usage", "data.task_result.messages[]", "Usage", "Response.Usage"})
    void aGraphStateHoldingFetchedJsonAtAnotherUsagePlaceDoesNotSetTheCharge(String place) {
        assertGraphChargedItsCall(subject(), "the state's " + STATE_PLACES.get(place)[0] + " is what the user's URL served, "
                + "read at " + place + " (usage 5)", "x-place", place);
    }

    // ------------------------------------------------------------------ AI SDK (controls: not believed)

    /**
     * Control (passes today): the tool's result is a chat completion object the user's URL serves (usage 3 + 2): the SDK streams
     * it as {@code a:{"toolCallId":…,"result":{…,"usage":{…}}}}, which the filter reads as Cloudflare's envelope
     * ({@code result.usage}), a final OpenAI report; the steps' real usage that follows is then ignored.
     */
    @Test
    void aToolResultHoldingAChatCompletionDoesNotSetTheRunsCharge() {
        assertChargedTheRun(subject(), "planted", "the tool returned a chat completion object (usage 5)");
    }

    /** Control (passes today): the same with a page that is only a status and a {@code usage} object. */
    @Test
    void aToolResultHoldingAUsageObjectDoesNotSetTheRunsCharge() {
        assertChargedTheRun(subject(), "usage", "the tool returned {\"status\":\"ok\",\"usage\":{…5}}");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same run whose tool returned an ordinary JSON document (a forecast): charged 8,500. */
    @Test
    void controlAToolResultWithoutUsageLeavesTheRunsCharge() {
        assertChargedTheRun(subject(), "plain", "the tool returned a forecast");
    }
}
