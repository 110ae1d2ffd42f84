package io.tokenquota.servlet.breakit72;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Round 72 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * where the usage a stream reports comes from, and the month turn through the filter.
 *
 * <p>Usage provenance: LangChain applications (LangServe's {@code /stream} and {@code /stream_events},
 * a FastAPI route relaying {@code astream()} chunks, LangGraph Platform's {@code messages-tuple}
 * stream) and a Dify workflow, each written as those servers write their answers. The model's input
 * there is what the application put in front of the client's short question (a system prompt and
 * retrieved documents), so only the reported usage tells the call's cost. LangChain's
 * {@code usage_metadata} on a streamed {@code AIMessageChunk} is a delta, meant to be added up
 * ({@code AIMessageChunk.__add__}): {@code langchain-anthropic} puts the input on the
 * {@code message_start} chunk and the output on the {@code message_delta} chunk (input 0);
 * {@code langchain-google-genai} subtracts the previous chunk's counts from Gemini's running ones.
 * Held attacks: an Ollama tool call whose {@code arguments} object (the model's) holds Ollama's own
 * counters, and the Vercel AI SDK's per-step usages followed by their total.
 *
 * <p>The month turn: a second store on a {@link MutableClock} behind the {@code /tc/} filter. A stream
 * held on the last seconds of March reports its usage after midnight while the user's April
 * has opened (purchased tokens carried); a key reused across midnight while its first call still
 * streams; the 429 and its reset figures on the last second of a month.
 */
@TestMethodOrder(MethodOrderer.MethodName.class)
abstract class AbstractRound72 extends H2FilterRound {
    static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> STARTED = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> GO = new ConcurrentHashMap<>();

    /** What the provider billed a LangChain chain's Claude call: system prompt, retrieved documents and question. */
    static final long CLAUDE_INPUT = 5_000;
    static final long CLAUDE_OUTPUT = 300;

    static final String QUESTION = "What changed in the Q3 report?";
    static final String[] WORDS = {"Revenue", " grew", " 12%", " while", " costs", " fell;", " the", " margin",
            " reached", " a", " record."};

    /**
     * The store of the {@code /tc/} filter, on {@link #clock}. Its tests run in name order, each in a
     * later month than the one before (aKey...: January, aStream...: March, the429...: May).
     */
    final MutableClock clock = new MutableClock(Instant.parse("2031-01-31T23:59:40Z"));
    ClockedStore clocked;
    JdbiQuotaStore clockedStore;

    static String subject() {
        return "u72-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** Counts a model call of {@code subject}; how many it made so far. */
    static int called(String subject) {
        return CALLS.computeIfAbsent(subject == null ? "?" : subject, s -> new AtomicInteger()).incrementAndGet();
    }

    static int calls(String subject) {
        return CALLS.getOrDefault(subject, new AtomicInteger()).get();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        clockedStore = clocked.store();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("clocked-quota", clocked.filter("/tc/"), "/tc/*")
                .servlet("apps", new Apps(), "/ai/*")
                .servlet("clocked-chat", new ClockedChat(), "/tc/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    // ------------------------------------------------------------------ answers as the servers write them

    /** A LangChain {@code AIMessageChunk} as pydantic serialises it ({@code chunk.model_dump_json()}, LangServe). */
    static String chunk(String content, String usage, String responseMetadata) {
        return "{\"content\":\"" + content + "\",\"additional_kwargs\":{},\"response_metadata\":" + responseMetadata
                + ",\"type\":\"AIMessageChunk\",\"name\":null,\"id\":\"run-7c1e2f90-4d1b-4e55-9a43-6b0f2a3c9d11\","
                + "\"example\":false,\"tool_calls\":[],\"invalid_tool_calls\":[],\"usage_metadata\":" + usage
                + ",\"tool_call_chunks\":[]}";
    }

    /**
     * The chunks of {@code ChatAnthropic.astream()} (langchain-anthropic): the {@code message_start}
     * chunk carries the input (output zeroed, "to avoid double counting"), the text chunks none, the
     * {@code message_delta} chunk the output with input 0. Added up they are the call's usage.
     */
    static List<String> claudeChunks() {
        List<String> chunks = new ArrayList<>();
        chunks.add(chunk("", "{\"input_tokens\":" + CLAUDE_INPUT + ",\"output_tokens\":0,\"total_tokens\":" + CLAUDE_INPUT
                + ",\"input_token_details\":{\"cache_read\":0,\"cache_creation\":0}}",
                "{\"model_name\":\"claude-sonnet-4-5-20250929\"}"));
        for (String w : WORDS) {
            chunks.add(chunk(w, "null", "{}"));
        }
        chunks.add(chunk("", "{\"input_tokens\":0,\"output_tokens\":" + CLAUDE_OUTPUT + ",\"total_tokens\":" + CLAUDE_OUTPUT
                + "}", "{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}"));
        return chunks;
    }

    /** The whole answer as {@code ainvoke()} returns it (LangServe {@code /invoke}: under {@code output}). */
    static String claudeMessage() {
        return "{\"content\":\"" + String.join("", WORDS) + "\",\"additional_kwargs\":{},\"response_metadata\":{\"id\":"
                + "\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"model\":\"claude-sonnet-4-5-20250929\",\"stop_reason\":\"end_turn\","
                + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + CLAUDE_INPUT + ",\"output_tokens\":" + CLAUDE_OUTPUT
                + "}},\"type\":\"ai\",\"name\":null,\"id\":\"run-7c1e2f90-4d1b-4e55-9a43-6b0f2a3c9d11-0\",\"example\":false,"
                + "\"tool_calls\":[],\"invalid_tool_calls\":[],\"usage_metadata\":{\"input_tokens\":" + CLAUDE_INPUT
                + ",\"output_tokens\":" + CLAUDE_OUTPUT + ",\"total_tokens\":" + (CLAUDE_INPUT + CLAUDE_OUTPUT)
                + ",\"input_token_details\":{\"cache_read\":0,\"cache_creation\":0}}}";
    }

    /** The chunks' sum as {@code astream_events} reports it at {@code on_chat_model_end}. */
    static String claudeAggregated() {
        return chunk(String.join("", WORDS), "{\"input_tokens\":" + CLAUDE_INPUT + ",\"output_tokens\":" + CLAUDE_OUTPUT
                + ",\"total_tokens\":" + (CLAUDE_INPUT + CLAUDE_OUTPUT)
                + ",\"input_token_details\":{\"cache_read\":0,\"cache_creation\":0}}",
                "{\"model_name\":\"claude-sonnet-4-5-20250929\",\"stop_reason\":\"end_turn\",\"stop_sequence\":null}");
    }

    /** Gemini through langchain-google-genai: 6,000 prompt (4,000 of it cached), 600 thoughts, 300 answer. */
    static final long GEMINI_BILLED = 6_000 + 600 + 300;

    /**
     * {@code ChatGoogleGenerativeAI.astream()} chunks: each chunk's counts are Gemini's running counts
     * less the previous chunk's, so the first carries the prompt and the thoughts, the others what
     * the answer grew by.
     */
    static List<String> geminiChunks() {
        return List.of(
                chunk("Revenue grew 12%", "{\"input_tokens\":6000,\"output_tokens\":700,\"total_tokens\":6700,"
                        + "\"input_token_details\":{\"cache_read\":4000},\"output_token_details\":{\"reasoning\":600}}",
                        "{}"),
                chunk(" while costs fell;", "{\"input_tokens\":0,\"output_tokens\":150,\"total_tokens\":150,"
                        + "\"input_token_details\":{\"cache_read\":0},\"output_token_details\":{\"reasoning\":0}}", "{}"),
                chunk(" the margin reached a record.", "{\"input_tokens\":0,\"output_tokens\":50,\"total_tokens\":50,"
                        + "\"input_token_details\":{\"cache_read\":0},\"output_token_details\":{\"reasoning\":0}}",
                        "{\"finish_reason\":\"STOP\",\"model_name\":\"gemini-2.5-flash\",\"safety_ratings\":[]}"));
    }

    static String lsMetadata() {
        return "{\"ls_provider\":\"anthropic\",\"ls_model_name\":\"claude-sonnet-4-5-20250929\",\"ls_model_type\":\"chat\","
                + "\"ls_temperature\":null,\"ls_max_tokens\":1024}";
    }

    /** A Dify workflow app's answer: an LLM node over a knowledge-retrieval node. */
    static List<String> difyWorkflowEvents() {
        String ids = "\"task_id\":\"5ad4cb98-f0c7-4085-b384-88c403be6290\",\"workflow_run_id\":"
                + "\"7d4a1a3e-6f2b-4c8e-9b1d-2f6c0e5a9b77\"";
        List<String> events = new ArrayList<>();
        events.add("{\"event\":\"workflow_started\"," + ids + ",\"data\":{\"id\":\"7d4a1a3e-6f2b-4c8e-9b1d-2f6c0e5a9b77\","
                + "\"workflow_id\":\"dfjasklfjdslag\",\"sequence_number\":42,\"created_at\":1926000000}}");
        events.add("{\"event\":\"node_started\"," + ids + ",\"data\":{\"id\":\"c1\",\"node_id\":\"1730000000001\","
                + "\"node_type\":\"llm\",\"title\":\"LLM\",\"index\":3,\"predecessor_node_id\":\"1730000000000\","
                + "\"inputs\":null,\"created_at\":1926000001}}");
        for (String w : WORDS) {
            events.add("{\"event\":\"text_chunk\"," + ids + ",\"data\":{\"text\":\"" + w + "\",\"from_variable_selector\":"
                    + "[\"1730000000001\",\"text\"]}}");
        }
        events.add("{\"event\":\"node_finished\"," + ids + ",\"data\":{\"id\":\"c1\",\"node_id\":\"1730000000001\","
                + "\"node_type\":\"llm\",\"title\":\"LLM\",\"index\":3,\"status\":\"succeeded\",\"outputs\":{\"text\":\""
                + String.join("", WORDS) + "\",\"usage\":{\"prompt_tokens\":" + CLAUDE_INPUT + ",\"completion_tokens\":"
                + CLAUDE_OUTPUT + ",\"total_tokens\":" + (CLAUDE_INPUT + CLAUDE_OUTPUT) + ",\"total_price\":\"0.0195\","
                + "\"currency\":\"USD\"},\"finish_reason\":\"stop\"},\"execution_metadata\":{\"total_tokens\":"
                + (CLAUDE_INPUT + CLAUDE_OUTPUT) + ",\"total_price\":\"0.0195\",\"currency\":\"USD\"},\"elapsed_time\":3.1,"
                + "\"created_at\":1926000001}}");
        events.add("{\"event\":\"workflow_finished\"," + ids + ",\"data\":{\"id\":\"7d4a1a3e-6f2b-4c8e-9b1d-2f6c0e5a9b77\","
                + "\"workflow_id\":\"dfjasklfjdslag\",\"status\":\"succeeded\",\"outputs\":{\"answer\":\""
                + String.join("", WORDS) + "\"},\"error\":null,\"elapsed_time\":3.4,\"total_tokens\":"
                + (CLAUDE_INPUT + CLAUDE_OUTPUT) + ",\"total_steps\":4,\"created_at\":1926000000,\"finished_at\":1926000004}}");
        return events;
    }

    // ------------------------------------------------------------------ the endpoints

    public static class Apps extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            called(user);
            switch (path) {
                // LangServe add_routes(app, chain, path="/chain"): /invoke answers the whole message
                case "/chain/invoke" -> json(resp, "{\"output\":" + claudeMessage() + ",\"metadata\":{\"run_id\":"
                        + "\"7c1e2f90-4d1b-4e55-9a43-6b0f2a3c9d11\",\"feedback_tokens\":[]}}");
                // LangServe /stream: event "metadata", then an event "data" per chunk, then "end"
                case "/chain/stream" -> {
                    List<String> events = new ArrayList<>();
                    events.add("event: metadata\r\ndata: {\"run_id\": \"7c1e2f90-4d1b-4e55-9a43-6b0f2a3c9d11\"}\r\n\r\n");
                    for (String c : claudeChunks()) {
                        events.add("event: data\r\ndata: " + c + "\r\n\r\n");
                    }
                    events.add("event: end\r\n\r\n");
                    sse(resp, events);
                }
                // LangServe /stream_events (astream_events v2)
                case "/chain/stream_events" -> {
                    String run = "\"run_id\":\"7c1e2f90-4d1b-4e55-9a43-6b0f2a3c9d11\"";
                    String tail = ",\"name\":\"ChatAnthropic\",\"tags\":[\"seq:step:3\"]," + run + ",\"metadata\":"
                            + lsMetadata() + ",\"parent_ids\":[\"0b1d3a77-5c2e-4f0a-8d16-3e9f1c2b7a40\"]}";
                    List<String> events = new ArrayList<>();
                    events.add("event: metadata\r\ndata: {\"run_id\": \"0b1d3a77-5c2e-4f0a-8d16-3e9f1c2b7a40\"}\r\n\r\n");
                    events.add("event: data\r\ndata: {\"event\":\"on_chat_model_start\",\"data\":{\"input\":{\"messages\":"
                            + "[[{\"content\":\"" + QUESTION + "\",\"type\":\"human\"}]]}}" + tail + "\r\n\r\n");
                    for (String c : claudeChunks()) {
                        events.add("event: data\r\ndata: {\"event\":\"on_chat_model_stream\",\"data\":{\"chunk\":" + c + "}"
                                + tail + "\r\n\r\n");
                    }
                    events.add("event: data\r\ndata: {\"event\":\"on_chat_model_end\",\"data\":{\"output\":"
                            + claudeAggregated() + ",\"input\":{\"messages\":[[{\"content\":\"" + QUESTION
                            + "\",\"type\":\"human\"}]]}}" + tail + "\r\n\r\n");
                    events.add("event: end\r\n\r\n");
                    sse(resp, events);
                }
                // a FastAPI route: async for chunk in llm.astream(...): yield f"data: {chunk.model_dump_json()}\n\n"
                case "/gemini/stream" -> {
                    List<String> events = new ArrayList<>();
                    for (String c : geminiChunks()) {
                        events.add("data: " + c + "\n\n");
                    }
                    sse(resp, events);
                }
                // LangGraph Platform: POST /threads/{id}/runs/stream with stream_mode ["messages-tuple"]
                case "/threads/t-72/runs/stream" -> {
                    String meta = "{\"langgraph_step\":1,\"langgraph_node\":\"agent\",\"langgraph_triggers\":"
                            + "[\"branch:to:agent\"],\"langgraph_path\":[\"__pregel_pull\",\"agent\"],"
                            + "\"langgraph_checkpoint_ns\":\"agent:1f0a\",\"checkpoint_ns\":\"agent:1f0a\","
                            + "\"ls_provider\":\"anthropic\",\"ls_model_name\":\"claude-sonnet-4-5-20250929\","
                            + "\"ls_model_type\":\"chat\",\"ls_temperature\":null,\"ls_max_tokens\":1024}";
                    List<String> events = new ArrayList<>();
                    events.add("event: metadata\r\ndata: {\"run_id\":\"1f0a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8\","
                            + "\"attempt\":1}\r\n\r\n");
                    for (String c : claudeChunks()) {
                        events.add("event: messages\r\ndata: [" + c + "," + meta + "]\r\n\r\n");
                    }
                    sse(resp, events);
                }
                // Dify: POST /v1/workflows/run, response_mode "streaming"
                case "/v1/workflows/run" -> {
                    List<String> events = new ArrayList<>();
                    for (String e : difyWorkflowEvents()) {
                        events.add("data: " + e + "\n\n");
                    }
                    sse(resp, events);
                }
                // Ollama's /api/chat, streamed (NDJSON): a tool call, then the closing counts
                case "/api/chat" -> {
                    resp.setContentType("application/x-ndjson");
                    ServletOutputStream out = resp.getOutputStream();
                    out.write(("{\"model\":\"llama3.1:70b\",\"created_at\":\"2031-01-10T10:00:00.1Z\",\"message\":"
                            + "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":"
                            + "\"record_figures\",\"arguments\":{\"prompt_eval_count\":1,\"eval_count\":1,\"done\":true,"
                            + "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2},"
                            + "\"usageMetadata\":{\"totalTokenCount\":2,\"candidatesTokenCount\":1}}}}]},\"done\":false}\n")
                            .getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    out.write(("{\"model\":\"llama3.1:70b\",\"created_at\":\"2031-01-10T10:00:03.9Z\",\"message\":"
                            + "{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,"
                            + "\"total_duration\":3800000000,\"load_duration\":12000000,\"prompt_eval_count\":7000,"
                            + "\"prompt_eval_duration\":900000000,\"eval_count\":300,\"eval_duration\":2800000000}\n")
                            .getBytes(StandardCharsets.UTF_8));
                }
                // Vercel AI SDK 4 streamText(...).toDataStreamResponse() of a two-step tool-using agent
                case "/agent/chat" -> {
                    resp.setHeader("x-vercel-ai-data-stream", "v1");
                    resp.setContentType("text/plain; charset=utf-8");
                    String parts = "f:{\"messageId\":\"msg-a1\"}\n"
                            + "9:{\"toolCallId\":\"call_1\",\"toolName\":\"searchReports\",\"args\":{\"quarter\":\"Q3\"}}\n"
                            + "a:{\"toolCallId\":\"call_1\",\"result\":{\"found\":3}}\n"
                            + "e:{\"finishReason\":\"tool-calls\",\"usage\":{\"promptTokens\":5000,\"completionTokens\":40},"
                            + "\"isContinued\":false}\n"
                            + "f:{\"messageId\":\"msg-a2\"}\n"
                            + "0:\"Revenue grew 12%\"\n0:\" while costs fell.\"\n"
                            + "e:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":5600,\"completionTokens\":300},"
                            + "\"isContinued\":false}\n"
                            + "d:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":10600,\"completionTokens\":340}}\n";
                    ServletOutputStream out = resp.getOutputStream();
                    out.write(parts.getBytes(StandardCharsets.UTF_8));
                }
                default -> resp.sendError(404);
            }
        }

        private static void json(HttpServletResponse resp, String body) throws IOException {
            resp.setContentType("application/json");
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }

        private static void sse(HttpServletResponse resp, List<String> events) throws IOException {
            resp.setContentType("text/event-stream; charset=utf-8");
            ServletOutputStream out = resp.getOutputStream();
            for (String e : events) {
                out.write(e.getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    /**
     * An OpenAI chat relay behind the clocked filter. {@code /late}: streams its first chunk, then
     * waits (the model is still writing) until the test lets it finish with the usage chunk.
     * {@code /plain}: a whole completion.
     */
    public static class ClockedChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            int call = called(user);
            if ("/chat/plain".equals(path)) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(completion(PLAIN_USAGE).getBytes(StandardCharsets.UTF_8));
                return;
            }
            if (!"/chat/late".equals(path)) {
                resp.sendError(404);
                return;
            }
            resp.setContentType("text/event-stream");
            ServletOutputStream out = resp.getOutputStream();
            out.write(("data: {\"id\":\"chatcmpl-72\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1\",\"choices\":"
                    + "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Revenue\"},\"finish_reason\":null}]}\n\n")
                    .getBytes(StandardCharsets.UTF_8));
            out.flush();
            STARTED.get(user).countDown();
            try {
                // only the subject's first call waits: a second one (a retry let through) answers at once
                if (call == 1 && !GO.get(user).await(30, TimeUnit.SECONDS)) {
                    throw new IOException("never told to finish");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
            out.write(("data: {\"id\":\"chatcmpl-72\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1\",\"choices\":"
                    + "[{\"index\":0,\"delta\":{\"content\":\" grew.\"},\"finish_reason\":\"stop\"}]}\n\n"
                    + "data: {\"id\":\"chatcmpl-72\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1\",\"choices\":[],"
                    + "\"usage\":{\"prompt_tokens\":" + (LATE_USAGE - 200) + ",\"completion_tokens\":200,\"total_tokens\":"
                    + LATE_USAGE + "}}\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    static final long LATE_USAGE = 9_000;
    static final long PLAIN_USAGE = 3_000;

    static String completion(long usage) {
        return "{\"id\":\"chatcmpl-72p\",\"object\":\"chat.completion\",\"model\":\"gpt-4.1\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"Costs fell.\"},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":" + (usage - 20) + ",\"completion_tokens\":20,\"total_tokens\":" + usage + "}}";
    }

    static final String CLOCKED_CHAT = "{\"model\":\"gpt-4.1\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise our Q3 report for the board.\"}]}";

    // ------------------------------------------------------------------ helpers

    HttpResponse<String> post(String path, String subject, String body, String... headers) {
        return TestHttp.postJson(container.uri(path), subject, body, headers);
    }

    void chargedAtLeast(String what, String subject, long billed) {
        QuotaAccount a = settled(subject);
        assertTrue(a.used() >= billed, kind() + ": " + what + " billed " + billed + " tokens; charged " + a.used() + " "
                + ledger(subject));
    }

    /** The clocked store's account of {@code month} once no hold of it is open. */
    QuotaAccount settledIn(String subject, YearMonth month) {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (true) {
            QuotaAccount a = clockedStore.account(subject, month).orElseThrow();
            if (a.reserved() == 0) {
                return a;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("hold of " + subject + " in " + month + " never settled: " + a);
            }
            try {
                TimeUnit.MILLISECONDS.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    CompletableFuture<HttpResponse<String>> postClockedAsync(String path, String subject, String body, String... headers) {
        HttpRequest request = TestHttp.jsonPost(container.uri(path), subject, body, headers);
        return TestHttp.client().sendAsync(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    static void await(CountDownLatch latch, String what) {
        try {
            assertTrue(latch.await(20, TimeUnit.SECONDS), what);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    // ------------------------------------------------------------------ usage provenance

    /**
     * LangServe's {@code /stream} of a chain ending in {@code ChatAnthropic}: the first chunk says input
     * 5,000 (output 0), the last says output 300 (input 0). The control, the same chain's
     * {@code /invoke}, is charged 5,300. The stream is charged its last chunk's delta.
     */
    @Test
    void langServeStreamOfClaudeChunksIsChargedTheirSum() {
        String control = subject();
        String body = "{\"input\":{\"question\":\"" + QUESTION + "\"},\"config\":{},\"kwargs\":{}}";
        assertEquals(200, post("/ai/chain/invoke", control, body).statusCode());
        assertEquals(CLAUDE_INPUT + CLAUDE_OUTPUT, settled(control).used(), kind() + ": /invoke " + ledger(control));

        String s = subject();
        HttpResponse<String> r = post("/ai/chain/stream", s, body);
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("record."), r.body());
        assertEquals(1, calls(s));
        chargedAtLeast("LangServe /stream of a Claude chain (usage_metadata 5,000 + 0, then 0 + 300)", s,
                CLAUDE_INPUT + CLAUDE_OUTPUT);
    }

    /**
     * A FastAPI route relaying {@code ChatGoogleGenerativeAI.astream()} chunks as server-sent events:
     * the chunks' {@code usage_metadata} are what Gemini's running counts grew by (6,700, then 150,
     * then 50). Gemini billed 6,900.
     */
    @Test
    void langChainGeminiStreamDeltasAreChargedTheirSum() {
        String s = subject();
        HttpResponse<String> r = post("/ai/gemini/stream", s, "{\"question\":\"" + QUESTION + "\"}");
        assertEquals(200, r.statusCode());
        assertEquals(1, calls(s));
        chargedAtLeast("a streamed ChatGoogleGenerativeAI answer (usage_metadata 6,700, 150, 50)", s, GEMINI_BILLED);
    }

    /**
     * LangServe's {@code /stream_events} (LangChain's {@code astream_events} v2, the documented way to
     * stream a chain's model tokens to a UI): the model's chunks ride in {@code data.chunk} and its
     * whole message, usage 5,300 summed by LangChain, in {@code on_chat_model_end}'s
     * {@code data.output}. Neither is read: charged the estimate of the short question.
     */
    @Test
    void langServeStreamEventsModelEndUsageIsCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/chain/stream_events", s,
                "{\"input\":{\"question\":\"" + QUESTION + "\"},\"config\":{},\"kwargs\":{}}");
        assertEquals(200, r.statusCode());
        assertEquals(1, calls(s));
        chargedAtLeast("LangServe /stream_events (on_chat_model_end usage_metadata 5,300)", s, CLAUDE_INPUT + CLAUDE_OUTPUT);
    }

    /**
     * LangGraph Platform's run stream in {@code messages-tuple} mode: every event is
     * {@code [message chunk, metadata]}, the chunks the same LangChain deltas as above.
     */
    @Test
    void langGraphMessagesTupleStreamIsChargedTheChunksSum() {
        String s = subject();
        HttpResponse<String> r = post("/ai/threads/t-72/runs/stream", s, "{\"assistant_id\":\"agent\",\"input\":"
                + "{\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}]},\"stream_mode\":[\"messages-tuple\"]}");
        assertEquals(200, r.statusCode());
        assertEquals(1, calls(s));
        chargedAtLeast("a LangGraph messages-tuple stream of a Claude agent node (usage_metadata 5,000 + 0, then 0 + 300)",
                s, CLAUDE_INPUT + CLAUDE_OUTPUT);
    }

    /**
     * A Dify workflow app ({@code POST /v1/workflows/run}, streaming): the LLM node's usage is in
     * {@code node_finished} ({@code execution_metadata.total_tokens}, {@code outputs.usage}) and the
     * run's in {@code workflow_finished} ({@code data.total_tokens}). Dify's chat apps'
     * {@code metadata.usage} is read; these are not.
     */
    @Test
    void difyWorkflowTotalTokensAreCharged() {
        String s = subject();
        HttpResponse<String> r = post("/ai/v1/workflows/run", s, "{\"inputs\":{\"query\":\"" + QUESTION + "\"},"
                + "\"response_mode\":\"streaming\",\"user\":\"abc-123\"}");
        assertEquals(200, r.statusCode());
        assertEquals(1, calls(s));
        chargedAtLeast("a Dify workflow run (workflow_finished total_tokens 5,300)", s, CLAUDE_INPUT + CLAUDE_OUTPUT);
    }

    /**
     * Ollama's native chat stream with a tool call whose {@code arguments} object (written by the
     * model, as the client's prompt asked) holds Ollama's own closing counters, {@code "done": true},
     * an OpenAI {@code usage} and a Gemini {@code usageMetadata}. The closing object counts 7,300.
     * (Held attack: the arguments are never read.)
     */
    @Test
    void ollamaToolArgumentsHoldingCountersDoNotLowerTheCharge() {
        String s = subject();
        HttpResponse<String> r = post("/ai/api/chat", s, "{\"model\":\"llama3.1:70b\",\"stream\":true,\"messages\":[{"
                + "\"role\":\"user\",\"content\":\"Record the Q3 figures. Call record_figures with the arguments "
                + "{prompt_eval_count: 1, eval_count: 1, done: true, usage: {...}}.\"}],\"tools\":[{\"type\":\"function\","
                + "\"function\":{\"name\":\"record_figures\",\"description\":\"Records figures\",\"parameters\":"
                + "{\"type\":\"object\",\"properties\":{}}}}]}");
        assertEquals(200, r.statusCode());
        assertEquals(1, calls(s));
        chargedAtLeast("an Ollama tool call stream (prompt_eval_count 7,000 + eval_count 300)", s, 7_300);
    }

    /**
     * The Vercel AI SDK's data stream of a two-step agent: each step's {@code e:} part counts that step
     * (5,040, then 5,900), the closing {@code d:} part the whole message (10,940). Charged exactly the
     * total: neither the last step alone nor the steps and the total added together. (Held attack.)
     */
    @Test
    void aiSdkStepUsagesAndTheirTotalAreChargedOnce() {
        String s = subject();
        HttpResponse<String> r = post("/ai/agent/chat", s, "{\"messages\":[{\"role\":\"user\",\"content\":\""
                + QUESTION + "\"}]}");
        assertEquals(200, r.statusCode());
        assertEquals(1, calls(s));
        assertEquals(10_940, settled(s).used(), kind() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ the month turn

    /**
     * A user who bought 10,000 tokens in March has used 19,000 of the 20,000 allowance. At 23:59:40
     * on March 31 a stream is held (about 1,050); the model is still writing at midnight. At 00:00:20
     * the user's next call opens April (3,000 used there, March's unspent purchased tokens carried).
     * Then the stream ends with usage 9,000. The late charge belongs to March and takes the purchased
     * tokens it needs from April's carried (docs/semantics.md): March used 28,000; April carried
     * 2,000, used 3,000, 19,000 available. Nothing of the 9,000 is free. (Held attack if it passes.)
     */
    @Test
    void aStreamAnsweredAfterMidnightIsChargedToItsMonthAndItsPurchasedTokens() throws Exception {
        clock.set(Instant.parse("2031-03-31T23:59:40Z"));
        YearMonth march = YearMonth.of(2031, 3);
        YearMonth april = YearMonth.of(2031, 4);
        String s = subject();
        clockedStore.grant(PurchaseRequest.grant("tx-" + s, s, 10_000, PurchaseType.PURCHASE, "bought in March"));
        clockedStore.consume(s, 19_000, null);
        STARTED.put(s, new CountDownLatch(1));
        GO.put(s, new CountDownLatch(1));
        CompletableFuture<HttpResponse<String>> late = postClockedAsync("/tc/chat/late", s, CLOCKED_CHAT);
        await(STARTED.get(s), "the March stream started");

        clock.set(Instant.parse("2031-04-01T00:00:20Z"));
        HttpResponse<String> next = TestHttp.postJson(container.uri("/tc/chat/plain"), s,
                CLOCKED_CHAT.replace("\"stream\":true,", ""));
        assertEquals(200, next.statusCode(), next.body());
        assertEquals("2031-05-01T00:00:00Z", next.headers().firstValue("X-Quota-Reset").orElse(null));
        GO.get(s).countDown();
        HttpResponse<String> r = late.get(30, TimeUnit.SECONDS);
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("[DONE]"), r.body());

        QuotaAccount marchAccount = settledIn(s, march);
        QuotaAccount aprilAccount = settledIn(s, april);
        String both = kind() + ": March " + marchAccount + ", April " + aprilAccount + ", events "
                + io.tokenquota.servlet.testing.Ledgers.events(clockedStore, s, march) + " / "
                + io.tokenquota.servlet.testing.Ledgers.events(clockedStore, s, april);
        assertEquals(19_000 + LATE_USAGE, marchAccount.used(), both);
        assertEquals(PLAIN_USAGE, aprilAccount.used(), both);
        assertEquals(2_000, aprilAccount.carried(), both);
        assertEquals(ALLOWANCE + 2_000 - PLAIN_USAGE, aprilAccount.available(), both);
    }

    /**
     * An {@code Idempotency-Key} whose first call (held at 23:59:50 on January 31) is still streaming
     * when the same request with the same key comes again at 00:00:10 on February 1: the key is the
     * subject's, not the month's, so the retry is a 409 and the model runs once. (Held attack.)
     */
    @Test
    void aKeyRetriedAcrossMidnightWhileItsCallStreamsBuysOneCall() throws Exception {
        clock.set(Instant.parse("2031-01-31T23:59:50Z"));
        String s = subject();
        String key = "idem-" + s;
        STARTED.put(s, new CountDownLatch(1));
        GO.put(s, new CountDownLatch(1));
        CompletableFuture<HttpResponse<String>> first = postClockedAsync("/tc/chat/late", s, CLOCKED_CHAT,
                "Idempotency-Key", key);
        await(STARTED.get(s), "the January stream started");
        clock.set(Instant.parse("2031-02-01T00:00:10Z"));
        HttpResponse<String> retry;
        try {
            retry = TestHttp.postJson(container.uri("/tc/chat/late"), s, CLOCKED_CHAT, "Idempotency-Key", key);
        } finally {
            // the first call finishes only now: the retry came while it was still streaming
            GO.get(s).countDown();
        }
        HttpResponse<String> r = first.get(30, TimeUnit.SECONDS);
        assertEquals(200, r.statusCode());
        assertEquals(409, retry.statusCode(), kind() + ": " + retry.body());
        assertEquals(1, calls(s), kind() + ": one key, model calls");
        QuotaAccount january = settledIn(s, YearMonth.of(2031, 1));
        assertEquals(LATE_USAGE, january.used(), kind() + ": " + january);
        assertEquals(0, clockedStore.account(s, YearMonth.of(2031, 2)).map(QuotaAccount::used).orElse(0L),
                kind() + ": February");
    }

    /**
     * The last second of May with May's allowance spent: 429 with {@code Retry-After: 1} and the reset
     * at June 1; one second later the same call is served in June, its headers counting June.
     * (Held attack.)
     */
    @Test
    void the429OnTheLastSecondOfAMonthNamesTheTurn() {
        clock.set(Instant.parse("2031-05-31T23:59:59Z"));
        String s = subject();
        clockedStore.consume(s, ALLOWANCE, null);
        String plain = CLOCKED_CHAT.replace("\"stream\":true,", "");
        HttpResponse<String> refused = TestHttp.postJson(container.uri("/tc/chat/plain"), s, plain);
        assertEquals(429, refused.statusCode(), refused.body());
        assertEquals("1", refused.headers().firstValue("Retry-After").orElse(null));
        assertEquals("2031-06-01T00:00:00Z", refused.headers().firstValue("X-Quota-Reset").orElse(null));
        assertTrue(refused.headers().firstValue("RateLimit").orElse("").endsWith(";r=0;t=1"),
                refused.headers().firstValue("RateLimit").orElse(null));
        assertEquals(0, calls(s));

        clock.set(Instant.parse("2031-06-01T00:00:00Z"));
        HttpResponse<String> served = TestHttp.postJson(container.uri("/tc/chat/plain"), s, plain);
        assertEquals(200, served.statusCode(), served.body());
        assertEquals("2031-07-01T00:00:00Z", served.headers().firstValue("X-Quota-Reset").orElse(null));
        assertEquals(1, calls(s));
        assertEquals(PLAIN_USAGE, settledIn(s, YearMonth.of(2031, 6)).used());
        assertEquals(ALLOWANCE, settledIn(s, YearMonth.of(2031, 5)).used());
    }
}
