package io.tokenquota.servlet.breakit281;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 281 of issue 11: the rules of rounds 278 and 279 from both sides. The model's text is {@link #TEXT}
 * (about 4,400 tokens by the filter's estimator); the requests name no output budget, so the hold is about
 * 1,007.
 *
 * <p><b>A call for free: text covered twice.</b> Round 279 made a nested include's reported figure cover the
 * text it wrote ({@code QuotaResponse.nestedInclude}: {@code sniffer.cover(textSoFar() - textBefore)}). An
 * include inside an include (docs/decisions.md, "Dispatches by name": "a page's fragment that includes a
 * summary by name is a call of its own nested in the page's", round 107) runs {@code nestedInclude} twice
 * over the inner text: the inner fragment's figure covers it, and so does the outer fragment's, which ran
 * around it. The covered total then passes the fragments' own text and eats the page's: a page that writes
 * its own model's answer without a figure (charged its text, docs/servlet.md "The estimate ... the text it
 * wrote raw") and includes a related-questions fragment (its own model call, reporting 1,200) that includes
 * the summary fragment (reporting 4,420 for the 4,400 tokens it writes) is charged its hold, 1,009, for
 * 4,400 tokens: 6,629 in all for at least 9,620. The same page including the summary directly is charged
 * 8,800 (control). docs/servlet.md: "a fragment's figure never stands for the page's own call".
 *
 * <p><b>A call for free: LangServe's agent, whole.</b> Round 279 narrowed round 276's {@code output} rule
 * to untyped documents ({@code StreamText.UNTYPED_OUTPUT}: {@code output}, {@code output.content},
 * {@code output[]}). LangServe's own agent example ({@code langchain-ai/langserve}
 * {@code examples/agent/server.py}: {@code add_routes(app, agent_executor.with_types(input_type=Input,
 * output_type=Output))}, {@code class Output(BaseModel): output: Any}; its {@code client.ipynb}:
 * {@code ainvoke} returns {@code {'output': 'Hello! How can I assist you today?'}}) answers {@code /invoke} as
 * {@code {"output": {"output": "<the agent's answer>"}, "metadata": {"run_id", "feedback_tokens"}}}
 * (LangServe README, "Endpoints"): the model's answer under {@code output.output}, no usage (an
 * {@code AgentExecutor}'s result carries none). Charged its hold, 1,007, for 4,400 tokens. The very same
 * answer through {@code /stream} ({@code event: data} per chunk: {@code {"actions", "messages"}},
 * {@code {"steps", "messages"}}, then {@code {"output", "messages"}}, as LangChain's "Agents: Streaming"
 * how-to prints {@code agent_executor.astream}'s chunks) is charged its text, 4,492 (control).
 *
 * <p><b>Controls on round 278's "another call".</b> llama.cpp's {@code POST /completion} streamed with
 * {@code timings_per_token} (server {@code server_task_result_cmpl_partial::to_json_non_oaicompat}: each partial
 * chunk {@code index}, {@code content}, {@code tokens}, {@code "stop": false}, {@code id_slot},
 * {@code tokens_predicted}, {@code tokens_evaluated} and {@code timings}; the final
 * {@code server_task_result_cmpl_final::to_json_non_oaicompat}, {@code "stop": true}), one stream alone and two
 * drafts with the same counts relayed one after the other, each under {@code "index": 0}: charged once each,
 * exactly (3,800 and 7,600). Tried without a finding: a llama.cpp final report repeated with other timings
 * (no server or client sends one), Ollama's and Converse's measures (each report carries its call's own).
 */
abstract class AbstractRound281 extends ShapedAnswerRound {
    static String subject() {
        return "u281-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static List<String> words() {
        return List.of(TEXT.split("(?= )"));
    }

    static void sse(PrintWriter w, String event, String data) {
        w.write((event == null ? "" : "event: " + event + "\n") + "data: " + data + "\n\n");
    }

    static final long OUTER_USAGE = 1_200;
    static final long SUMMARY_USAGE = 4_420;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return super.deploy(filter).servlet("page", new Page(), "/ai/page")
                .servlet("outer", new Outer(), "/ai/outer")
                .servlet("summary", new Summary(), "/ai/summary");
    }

    /** The page: its own model's answer as text, then the fragment ({@code ?via=outer} or {@code summary}). */
    class Page extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=utf-8");
            resp.getWriter().write(TEXT);
            resp.getWriter().write("\n\n");
            req.getRequestDispatcher("/ai/" + req.getParameter("via")).include(req, resp);
        }
    }

    /** A fragment that calls the model for related questions, reports its usage, and includes the summary. */
    class Outer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            calls.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, OUTER_USAGE);
            resp.getWriter().write("Related: How did freight costs change? What drove the margin?\n\n");
            req.getRequestDispatcher("/ai/summary").include(req, resp);
        }
    }

    /** The summary fragment: calls the model, reports the call's usage, writes its text. */
    class Summary extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, SUMMARY_USAGE);
            resp.getWriter().write(TEXT);
        }
    }

    @Override
    protected String body(String shape) {
        return switch (shape) {
            case "langserve-agent-invoke" -> "{\"output\":{\"output\":" + q(TEXT) + "},\"metadata\":{\"run_id\":\"7f0c3e58-0c2a-4b8e-9a59-1f5d0c8e6a11\","
                    + "\"feedback_tokens\":[]}}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    static final String ARGS = "{\"path\":\"reports/q3-data.csv\"}";

    static String aiMessage(String content) {
        return "{\"content\":" + q(content) + ",\"additional_kwargs\":{},\"response_metadata\":{},\"type\":\"ai\",\"name\":null,"
                + "\"id\":null,\"example\":false,\"tool_calls\":[],\"invalid_tool_calls\":[],\"usage_metadata\":null}";
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        if (shape.startsWith("llamacpp-")) {
            llamaCpp(resp, shape.substring("llamacpp-".length()));
            return true;
        }
        if (!shape.startsWith("langserve-") || shape.endsWith("-invoke")) {
            return false;
        }
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        sse(w, "metadata", "{\"run_id\":\"7f0c3e58-0c2a-4b8e-9a59-1f5d0c8e6a11\"}");
        switch (shape) {
            case "langserve-agent" -> {
                String call = "{\"content\":\"\",\"additional_kwargs\":{\"function_call\":{\"arguments\":" + q(ARGS)
                        + ",\"name\":\"read_file\"}},\"response_metadata\":{},\"type\":\"AIMessageChunk\",\"name\":null,"
                        + "\"id\":null,\"example\":false,\"tool_calls\":[],\"invalid_tool_calls\":[],\"usage_metadata\":null,"
                        + "\"tool_call_chunks\":[]}";
                String action = "{\"tool\":\"read_file\",\"tool_input\":" + ARGS + ",\"log\":"
                        + q("\nInvoking: `read_file` with `{'path': 'reports/q3-data.csv'}`\n\n\n")
                        + ",\"type\":\"AgentActionMessageLog\",\"message_log\":[" + call + "]}";
                String observation = "quarter,revenue,margin\\nQ3,4.2M,31%";
                sse(w, "data", "{\"actions\":[" + action + "],\"messages\":[" + call + "]}");
                sse(w, "data", "{\"steps\":[{\"action\":" + action + ",\"observation\":\"" + observation + "\"}],"
                        + "\"messages\":[{\"content\":\"" + observation + "\",\"additional_kwargs\":{},\"response_metadata\":{},"
                        + "\"type\":\"function\",\"name\":\"read_file\",\"id\":null}]}");
                sse(w, "data", "{\"output\":" + q(TEXT) + ",\"messages\":[" + aiMessage(TEXT) + "]}");
            }
            default -> throw new IllegalArgumentException(shape);
        }
        w.write("event: end\n\n");
        w.flush();
        return true;
    }

    static final long IN = 3_000;
    static final long OUT = 800;

    static String timings(long in, long n, double promptMs, double predictedMs) {
        return "{\"prompt_n\":" + in + ",\"prompt_ms\":" + promptMs + ",\"prompt_per_token_ms\":" + (promptMs / in)
                + ",\"prompt_per_second\":" + (1000 * in / promptMs) + ",\"predicted_n\":" + n + ",\"predicted_ms\":" + predictedMs
                + ",\"predicted_per_token_ms\":" + (predictedMs / Math.max(1, n)) + ",\"predicted_per_second\":"
                + (1000 * n / predictedMs) + ",\"n_ctx\":8192,\"n_past\":" + (in + n) + "}";
    }

    /** One llama.cpp /completion stream with timings_per_token: partial chunks, then the final. */
    static void llamaStream(PrintWriter w, String text, long in, long out, double promptMs, double msPerToken) {
        List<String> pieces = List.of(text.split("(?= )"));
        long n = 0;
        for (int i = 0; i < pieces.size() && i < out; i++) {
            n = i + 1;
            w.write("data: {\"index\":0,\"content\":" + q(pieces.get(i)) + ",\"tokens\":[" + (1000 + i) + "],\"stop\":false,"
                    + "\"id_slot\":-1,\"tokens_predicted\":" + n + ",\"tokens_evaluated\":" + in + ",\"timings\":"
                    + timings(in, n, promptMs, n * msPerToken) + "}\n\n");
        }
        w.write("data: {\"index\":0,\"content\":\"\",\"tokens\":[],\"id_slot\":0,\"stop\":true,\"model\":\"qwen2.5-7b-instruct\","
                + "\"tokens_predicted\":" + out + ",\"tokens_evaluated\":" + in + ",\"generation_settings\":{\"n_predict\":" + out
                + "},\"prompt\":\"<|im_start|>user\\nDraft a reply<|im_end|>\\n\",\"has_new_line\":true,\"truncated\":false,"
                + "\"stop_type\":\"limit\",\"stopping_word\":\"\",\"tokens_cached\":" + (in + out - 1) + ",\"timings\":"
                + timings(in, out, promptMs, out * msPerToken) + "}\n\n");
    }

    static final String DRAFT_A = "Dear Ms. Keller, thank you for your patience. Your parcel left our warehouse late because";
    static final String DRAFT_B = "Hello Ms. Keller, we are sorry that your order arrived four days after the promised date";

    private void llamaCpp(HttpServletResponse resp, String kind) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        switch (kind) {
            case "one" -> llamaStream(w, DRAFT_A, IN, OUT, 412.3, 10.3);
            case "two" -> {
                llamaStream(w, DRAFT_A, IN, OUT, 412.3, 10.3);
                llamaStream(w, DRAFT_B, IN, OUT, 398.7, 9.9);
            }
            default -> throw new IllegalArgumentException(kind);
        }
        w.flush();
    }

    static final String ASK = "{\"input\":\"Write the committee's quarterly report.\"}";

    private long call(String path, String s, int modelCalls) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/" + path), s, ASK);
        assertEquals(200, r.statusCode(), r.body().length() > 300 ? r.body().substring(0, 300) : r.body());
        assertEquals(modelCalls, calls.of(s));
        return settled(s).used();
    }

    // ------------------------------------------------------------------ a fragment inside a fragment

    /**
     * The attack on round 279's cover: the page writes its own model's answer (4,400 tokens, no usage, no
     * figure), then includes the related-questions fragment (reports 1,200), which includes the summary
     * fragment (reports 4,420, writes 4,400 tokens). Owed: the page's text beside the two figures, at least
     * 4,000 + 1,200 + 4,420 = 9,620. Today 6,629: the hold (1,009) and the figures; the page's own answer
     * free, since the summary's text is covered twice (by its own figure and by the fragment around it).
     */
    @Test
    void aPagesOwnTextIsChargedBesideAFragmentNestedInAFragment() {
        String s = subject();
        long used = call("page?via=outer", s, 3);
        assertTrue(used >= 4_000 + OUTER_USAGE + SUMMARY_USAGE, "a page that wrote 4,400 tokens of its own model's text"
                + " beside fragments reporting " + OUTER_USAGE + " and " + SUMMARY_USAGE + " (one inside the other) charged "
                + used + ": " + ledger(s));
    }

    /** Control: the same page including the summary fragment directly is charged its text and the figure. */
    @Test
    void controlAPagesOwnTextIsChargedBesideOneFragment() {
        String s = subject();
        long used = call("page?via=summary", s, 2);
        assertTrue(used >= 4_000 + SUMMARY_USAGE && used <= 5_500 + SUMMARY_USAGE, "charged " + used + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ LangServe's agent, whole and streamed

    /**
     * LangServe's {@code /invoke} of an {@code AgentExecutor} whose model reports no usage: the agent's
     * answer, 4,400 tokens, under {@code output.output}. Owed at least its text, 4,000. Today 1,007 (the hold).
     */
    @Test
    void aLangServeAgentsInvokeIsChargedItsAnswer() {
        String s = subject();
        long used = call("langserve-agent-invoke", s, 1);
        assertTrue(used >= 4_000, "a LangServe agent's 4,400-token answer, whole, charged " + used + ": " + ledger(s));
    }

    /** Control: the same answer through LangServe's {@code /stream} ({@code event: data}) is charged its text. */
    @Test
    void controlALangServeAgentsStreamIsChargedItsAnswer() {
        String s = subject();
        long used = call("langserve-agent", s, 1);
        assertTrue(used >= 4_000 && used <= 5_500, "charged " + used + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ llama.cpp streams with timings per token

    /** Control: one llama.cpp stream whose every chunk carries its running counts and timings is charged once, 3,800. */
    @Test
    void controlOneLlamaCppStreamWithTimingsPerTokenIsChargedOnce() {
        String s = subject();
        assertEquals(IN + OUT, call("llamacpp-one", s, 1), ledger(s));
    }

    /** Control: two such streams relayed (two drafts, the same counts, index 0 each) are charged both, 7,600. */
    @Test
    void controlTwoLlamaCppStreamsWithTheSameCountsAreChargedBoth() {
        String s = subject();
        assertEquals(2 * (IN + OUT), call("llamacpp-two", s, 1), ledger(s));
    }
}
