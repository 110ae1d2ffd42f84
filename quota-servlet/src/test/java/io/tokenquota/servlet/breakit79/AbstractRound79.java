package io.tokenquota.servlet.breakit79;

import static io.tokenquota.servlet.testing.LangChainMessages.CANDIDATE_INPUT;
import static io.tokenquota.servlet.testing.LangChainMessages.SAME_ID;
import static io.tokenquota.servlet.testing.LangChainMessages.candidateMeta;
import static io.tokenquota.servlet.testing.LangChainMessages.candidatesBilled;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.LangChainMessages.SelfConsistencyRun;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 79 of issue 11: a {@code reset()} the container ignores (inside an include, where Jetty and
 * Tomcat both leave the page's buffer as it is) read by the filter as a discarded answer, so two model
 * answers the client both received are charged the larger one only; and LangChain messages under one
 * constant id whose calls were not streamed (LangGraph's {@code messages-tuple} mode sends a
 * non-streamed call's message whole, as one event with its usage: no usage-less chunk comes between
 * the calls), still merged as a relay's accumulated message.
 */
abstract class AbstractRound79 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final String CHAT_BODY = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the attached quarterly report as JSON.\"}],\"max_tokens\":1000,"
            + "\"response_format\":{\"type\":\"json_object\"}}";

    /** The first model call: 1,200 in + 150 out. */
    static final long FIRST = 1_350;
    /** The second model call (asked again with the schema's error): 1,900 in + 200 out. */
    static final long SECOND = 2_100;

    static String answer(String id, String content, long in, long out) {
        return ChatCompletions.completion(id, "gpt-4o", content, in, out);
    }

    static String subject() {
        return "u79-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("checked", new Checked(), "/ai/checked/*")
                .servlet("page", new Page(), "/page/*")
                .servlet("graph", new Candidates(), "/ai/graph/*");
    }

    // ---- a reset the container ignores: inside an include ---------------------------------------------

    /**
     * A JSON-mode chat endpoint that checks the model's answer after writing it: an answer that fails
     * the check is discarded with {@code reset()} and the model asked again. {@code /big}: the first
     * answer is a long one (1.2 MB: more than the filter holds before it reads); {@code /small}: a short
     * one. Both calls are model calls.
     */
    public static class Checked extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String user = req.getHeader("x-user-id");
            Object included = req.getAttribute(jakarta.servlet.RequestDispatcher.INCLUDE_PATH_INFO);
            String path = included != null ? included.toString() : String.valueOf(req.getPathInfo());
            CALLS.count(user);
            resp.setContentType("application/json;charset=UTF-8");
            var out = resp.getOutputStream();
            String content = path.startsWith("/big")
                    ? "Revenue grew twelve percent while costs fell. ".repeat(26_000) : "Revenue grew twelve percent.";
            out.write(answer("chatcmpl-79a", content, 1_200, 150).getBytes(StandardCharsets.UTF_8));
            // the content is not the JSON object the client asked for: drop it, ask again
            resp.reset();
            CALLS.count(user);
            resp.setContentType("application/json;charset=UTF-8");
            out = resp.getOutputStream();
            out.write(answer("chatcmpl-79b", "{\\\"revenue\\\":\\\"+12%\\\"}", 1_900, 200)
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A server-rendered page outside the protected prefix that includes the endpoint (a JSP's
     * {@code <jsp:include>}); {@code /big} renders in a 2 MB buffer so that nothing is sent before the
     * page is done.
     */
    public static class Page extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String path = String.valueOf(req.getPathInfo());
            if (path.startsWith("/big")) {
                resp.setBufferSize(2 * 1024 * 1024);
            }
            resp.setContentType("text/html;charset=UTF-8");
            var out = resp.getOutputStream();
            out.write("<!doctype html><html><body><pre id=\"answer\">".getBytes(StandardCharsets.UTF_8));
            req.getRequestDispatcher("/ai/checked" + path).include(req, resp);
            out.write("</pre></body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    private void assertBothAnswersCharged(String path) {
        String user = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/page" + path), user, CHAT_BODY);
        assertEquals(200, r.statusCode(), r.body().length() > 400 ? r.body().substring(0, 400) : r.body());
        assertEquals(2, CALLS.of(user), "two model calls");
        assertTrue(r.body().contains("chatcmpl-79a") && r.body().contains("chatcmpl-79b"),
                kind() + ": the container ignores a reset() inside an include: the page carries both answers");
        assertEquals(FIRST + SECOND, settled(user).used(), kind() + ": two model answers reached the client, "
                + FIRST + " + " + SECOND + " (" + ledger(user) + ")");
    }

    /**
     * Break: {@code QuotaResponse.reset()} calls {@code readDiscarded()} before the container's reset,
     * and takes the bytes for discarded whatever the container does with the reset: inside an include
     * Jetty's {@code IncludeResponse.reset()} and Tomcat's {@code ApplicationHttpResponse.reset()} do
     * nothing, so the first answer is sent. The filter reads it as a discarded answer (a new reader since
     * round 78, as the reader had started on the 1.2 MB answer), which counts only when it is the larger
     * (docs/servlet.md: "discarded ... before anything was sent"): the second call alone is charged.
     */
    @Test
    void twoAnswersOfAnIncludeWhoseResetTheContainerIgnoredAreBothCharged() {
        assertBothAnswersCharged("/big");
    }

    /** The same with a short first answer (read on its own before the reader started). */
    @Test
    void twoShortAnswersOfAnIncludeWhoseResetTheContainerIgnoredAreBothCharged() {
        assertBothAnswersCharged("/small");
    }

    // ---- LangChain messages sharing one id, not streamed ---------------------------------------------

    static String message(long out) {
        return "{\"content\":\"The answer is 42.\",\"additional_kwargs\":{\"refusal\":null},"
                + "\"response_metadata\":{\"token_usage\":null,\"model_name\":\"local-model\",\"finish_reason\":\"stop\"},"
                + "\"type\":\"ai\",\"name\":null,\"id\":\"" + SAME_ID + "\",\"example\":false,\"tool_calls\":[],"
                + "\"invalid_tool_calls\":[],\"usage_metadata\":{\"input_tokens\":" + CANDIDATE_INPUT
                + ",\"output_tokens\":" + out + ",\"total_tokens\":" + (CANDIDATE_INPUT + out)
                + ",\"input_token_details\":{},\"output_token_details\":{}}}";
    }

    /**
     * Round 78's self-consistency graph (three calls with the same prompt to a local OpenAI-compatible
     * server that answers every call with one {@code id}), with the chat model not streamed
     * ({@code disable_streaming=True}, or {@code ainvoke} of a model LangGraph cannot stream): LangGraph's
     * {@code messages-tuple} mode sends each call's message whole, one event each, its usage in it.
     */
    public static class Candidates extends SelfConsistencyRun {
        public Candidates() {
            super(CALLS, "1f0-79");
        }

        @Override
        protected void writeCall(PrintWriter out, int task, long output) {
            out.write("event: messages\ndata: [" + message(output) + "," + candidateMeta(task) + "]\n\n");
        }
    }

    /**
     * Break: round 78 splits one id's reports into calls only where a usage-less chunk of it came
     * between them ({@code UsageSniffer.withoutUsage}); a non-streamed call's message has its usage in
     * its only event, so the three calls are taken for a relay's running totals and only the last
     * counts (1,310 of 3,760).
     */
    @Test
    void nonStreamedModelCallsSharingOneMessageIdAreEachCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/graph/runs/stream"), s, CHAT_BODY);
        assertEquals(200, r.statusCode(), r.body());
        long billed = candidatesBilled();
        assertEquals(billed, settled(s).used(), kind() + ": three model calls (" + ledger(s) + ")");
    }
}
