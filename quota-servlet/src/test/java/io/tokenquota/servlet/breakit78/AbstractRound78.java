package io.tokenquota.servlet.breakit78;

import static io.tokenquota.servlet.testing.LangChainMessages.CANDIDATE_INPUT;
import static io.tokenquota.servlet.testing.LangChainMessages.SAME_ID;
import static io.tokenquota.servlet.testing.LangChainMessages.candidateMeta;
import static io.tokenquota.servlet.testing.LangChainMessages.candidatesBilled;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.LangChainMessages.SelfConsistencyRun;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 78 of issue 11: a response reset after more than the filter holds unsent (a page larger than
 * 1 MB in a larger container buffer, dropped for the model's JSON answer: the answer is read as the
 * continuation of the dropped page), and LangChain {@code usage_metadata} taken per message id when
 * several model calls carry the same id (an OpenAI-compatible server that answers every call with one
 * constant {@code id}; a LangGraph graph that calls the model several times with the same prompt:
 * self-consistency candidates, a node retried).
 */
abstract class AbstractRound78 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final Map<String, Boolean> COMMITTED_AFTER_PAGE = new ConcurrentHashMap<>();
    static final String CHAT_BODY = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Write the report on the attached sources.\"}],\"max_tokens\":1000}";
    /** The model's answer: 1,200 in + 150 out. */
    static final long USAGE = 1_350;
    static final String ANSWER = ChatCompletions.completion("chatcmpl-78", "gpt-4o", "The report.", 1_200, 150);

    static String subject() {
        return "u78-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("report", new Report(), "/ai/report/*")
                .servlet("open", new Report(), "/open/report/*")
                .servlet("graph", new Candidates(), "/ai/graph/*");
    }

    /**
     * A report endpoint that renders the model's answer as an HTML page with its sources' figures inline
     * (base64 images: 1.2 MB) in a 2 MB buffer, so that a rendering failure can still be answered cleanly
     * (nothing is sent until the page is done). The footer's template fails: the page is dropped with
     * {@code resetBuffer()} ({@code /reset-buffer}) or {@code reset()} ({@code /reset}) and the model's
     * JSON answered instead.
     */
    public static class Report extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            CALLS.count(user);
            resp.setBufferSize(2 * 1024 * 1024);
            resp.setContentType("text/html;charset=UTF-8");
            var out = resp.getOutputStream();
            out.write("<!doctype html><html><head><title>Report</title></head><body><h1>Report</h1>"
                    .getBytes(StandardCharsets.UTF_8));
            byte[] figure = ("<img src=\"data:image/png;base64," + "iVBORw0KGgoAAAANSUhEUgAAA".repeat(2_000) + "\">\n")
                    .getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < 24; i++) {
                out.write(figure);
            }
            COMMITTED_AFTER_PAGE.put(user, resp.isCommitted());
            if (req.getPathInfo() != null && req.getPathInfo().startsWith("/reset-buffer")) {
                resp.resetBuffer();
            } else {
                resp.reset();
            }
            resp.setContentType("application/json;charset=UTF-8");
            out = resp.getOutputStream();
            out.write(ANSWER.getBytes(StandardCharsets.UTF_8));
        }
    }

    private void assertReportCharged(String path) {
        String control = subject();
        HttpResponse<String> open = TestHttp.postJson(container.uri("/open/report" + path), control, CHAT_BODY);
        assertEquals(200, open.statusCode(), open.body());
        assertEquals(ANSWER, open.body(), "without the filter the page is dropped");
        assertEquals(Boolean.FALSE, COMMITTED_AFTER_PAGE.get(control), "the page was not sent");

        String user = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/report" + path), user, CHAT_BODY);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(ANSWER, r.body());
        assertEquals(1, CALLS.of(user));
        assertEquals(Boolean.FALSE, COMMITTED_AFTER_PAGE.get(user), "the page was not sent");
        assertEquals(USAGE, settled(user).used(), kind() + ": the only answer the client got carries usage "
                + USAGE + " (" + ledger(user) + ")");
    }

    /**
     * Break: the filter holds at most 1 MB unsent before it chooses the answer's format; a 1.2 MB page in
     * a 2 MB buffer starts the format on the page (HTML: not read). {@code resetBuffer()} drops the page,
     * but the reset reads a dropped page on its own only while the format is not chosen
     * ({@code QuotaResponse.readDiscarded}), so the JSON answer that follows is fed to the page's reader
     * and its usage is never seen: the call is charged the estimate, not the model's 1,350.
     */
    @Test
    void theAnswerAfterAResetBufferOfAPageLargerThanAMegabyteIsRead() {
        assertReportCharged("/reset-buffer");
    }

    /** The same with {@code reset()}. */
    @Test
    void theAnswerAfterAResetOfAPageLargerThanAMegabyteIsRead() {
        assertReportCharged("/reset");
    }

    // ---- LangChain messages sharing one id ------------------------------------------------------------

    static String chunk(String content, String usage) {
        return "{\"content\":\"" + content + "\",\"additional_kwargs\":{},\"response_metadata\":{},\"type\":\"AIMessageChunk\","
                + "\"name\":null,\"id\":\"" + SAME_ID + "\",\"tool_calls\":[],\"invalid_tool_calls\":[],"
                + "\"usage_metadata\":" + usage + ",\"tool_call_chunks\":[]}";
    }

    /**
     * A LangGraph server run ({@code stream_mode="messages-tuple"}) of a self-consistency graph: the same
     * prompt sent to the model three times ({@code Send} to one node), the candidates voted on afterwards.
     * The model is a local OpenAI-compatible server that answers every call with the same {@code id}, so
     * langchain-openai gives each call's chunks that id; with {@code stream_usage=True} each call's last
     * chunk carries its usage (900 in, and 250, 400, 410 out).
     */
    public static class Candidates extends SelfConsistencyRun {
        public Candidates() {
            super(CALLS, "1f0-78");
        }

        @Override
        protected void writeCall(PrintWriter out, int task, long o) {
            for (String word : new String[] {"The", " answer", " is", " 42."}) {
                out.write("event: messages\ndata: [" + chunk(word, "null") + "," + candidateMeta(task) + "]\n\n");
            }
            out.write("event: messages\ndata: [" + chunk("", "{\"input_tokens\":" + CANDIDATE_INPUT
                    + ",\"output_tokens\":" + o + ",\"total_tokens\":" + (CANDIDATE_INPUT + o)
                    + ",\"input_token_details\":{},\"output_token_details\":{}}") + "," + candidateMeta(task) + "]\n\n");
        }
    }

    /**
     * Break: {@code UsageSniffer.addUp} keys a LangChain message by its id alone. The three calls share
     * one, each reports the same non-zero input and no fewer tokens than the one before, so the "message"
     * is taken for a relay sending running totals and only the last call counts: 1,310 charged for
     * 3,760 billed (two model calls free). The metadata beside each chunk names distinct tasks
     * ({@code langgraph_checkpoint_ns}); each call's usage came in exactly one chunk.
     */
    @Test
    void modelCallsSharingOneMessageIdAreEachCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/graph/runs/stream"), s, CHAT_BODY);
        assertEquals(200, r.statusCode(), r.body());
        long billed = candidatesBilled();
        assertEquals(billed, settled(s).used(), kind() + ": three model calls (" + ledger(s) + ")");
    }
}
