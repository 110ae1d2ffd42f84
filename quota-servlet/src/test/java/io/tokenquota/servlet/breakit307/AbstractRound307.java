package io.tokenquota.servlet.breakit307;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.NotesAfterCall;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 307 of issue 11: the last commits' rules, tried from the other frameworks' side.
 *
 * <p><b>1. A post/redirect/get to the collection's own URL is free outside Spring MVC.</b> Round 305 charged it
 * when Spring's {@code DispatcherServlet} marked a matched handler; every other handler's redirect to the
 * request's own path with one slash changed is still released as "a router's slash redirect". Routers that
 * tell {@code /notes} from {@code /notes/} are common outside Spring: a plain Jakarta servlet mapped at
 * {@code /notes/*} (Servlet 6.0 section 12.2: the pattern matches {@code /notes} with a {@code null}
 * {@code getPathInfo()} and {@code /notes/} with {@code "/"}), Spark Java (its routes treat {@code /api/test} and
 * {@code /api/test/} as different URIs: perwendel/spark#97, #1219). Such an app lists notes at {@code /notes/},
 * takes the form at {@code /notes}, has the model summarise the note, and answers with
 * {@code HttpServletResponse.sendRedirect} (302) or, for a JSON client, 303 See Other (JAX-RS's
 * {@code Response.seeOther}). The model was called; the filter releases the hold: free.
 *
 * <p><b>2. AutoGen's run_stream: only one agent message's models_usage is charged.</b> Round 302 reads a
 * top-level {@code models_usage} ({@code autogen_agentchat.messages.BaseChatMessage}). An AgentChat run streamed
 * ({@code AssistantAgent.run_stream}; Microsoft's {@code python/samples/agentchat_fastapi/app_team.py} sends each
 * message of the stream as its {@code model_dump} over a WebSocket; served over HTTP, the same messages in a FastAPI
 * {@code StreamingResponse} of {@code "data: " + message.model_dump_json() + "\n\n"}, the usual FastAPI SSE
 * pattern) yields one message per step: an agent with a tool and
 * {@code reflect_on_tool_use=True} makes two model calls, the {@code ToolCallRequestEvent} carrying the first's
 * {@code RequestUsage} and the final {@code TextMessage} the second's; the {@code ToolCallExecutionEvent}
 * between has {@code models_usage: null}; the stream ends with the {@code TaskResult} ({@code messages},
 * {@code stop_reason}). Each {@code models_usage} is a separate call (AutoGen's own {@code Console} adds them up:
 * {@code autogen_agentchat/ui/_console.py}, {@code total_usage.prompt_tokens += message.models_usage.prompt_tokens}).
 */
abstract class AbstractRound307 extends ModelCallRound {

    /** A JSON client's note (as round 305's). */
    static final String NOTE_JSON = "{\"text\":\"Call with the supplier on the master services agreement: they want"
            + " to move renewal to a rolling twelve months, cap liability at fees paid in the prior year, and drop the"
            + " termination-for-convenience clause.\",\"max_tokens\":2000}";

    static final long FIRST_PROMPT = 1_214;
    static final long FIRST_COMPLETION = 38;
    static final long SECOND_PROMPT = 1_322;
    static final long SECOND_COMPLETION = 611;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("notes", new NotesAfterCall(calls, req -> "303".equals(req.getHeader("x-redirect")) ? 303 : 302), "/ai/notes/*")
                .servlet("agent", new AgentStream(), "/ai/agent/stream");
    }

    /** An AgentChat message as pydantic's {@code model_dump_json} writes it (AutoGen 0.6+ field order). */
    static String message(String id, String usage, String content, String type) {
        return "{\"id\":\"" + id + "\",\"source\":\"assistant\",\"models_usage\":" + usage + ",\"metadata\":{},"
                + "\"created_at\":\"2026-03-02T09:14:07.118204Z\",\"content\":" + content + ",\"type\":\"" + type + "\"}";
    }

    static String usage(long prompt, long completion) {
        return "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + "}";
    }

    static final String TASK = message("0b9d1f3a-6c2e-4e8b-a1d7-3f5c9e2b4a61", "null",
            "\"What is the weather in Lisbon, and should I take an umbrella?\"", "TextMessage")
            .replace("\"source\":\"assistant\"", "\"source\":\"user\"");
    static final String REQUEST = message("7e4a2c9b-1d3f-4b6a-8c5e-2f9d1a7b3c04", usage(FIRST_PROMPT, FIRST_COMPLETION),
            "[{\"id\":\"call_Qm3rT8vX1yZ2\",\"arguments\":\"{\\\"city\\\":\\\"Lisbon\\\"}\",\"name\":\"get_weather\"}]",
            "ToolCallRequestEvent");
    static final String EXECUTION = message("c3f8e1d2-9a4b-4c7e-b2d6-5e1a8f3c9b27", "null",
            "[{\"content\":\"Lisbon: 14 C, showers in the afternoon, 80% chance of rain.\",\"name\":\"get_weather\","
                    + "\"call_id\":\"call_Qm3rT8vX1yZ2\",\"is_error\":false}]", "ToolCallExecutionEvent");
    static final String ANSWER = message("4a1b2c3d-5e6f-4a8b-9c0d-1e2f3a4b5c6d", usage(SECOND_PROMPT, SECOND_COMPLETION),
            "\"It is 14 C in Lisbon with afternoon showers (80% chance of rain): take an umbrella.\"", "TextMessage");

    /**
     * A FastAPI endpoint streaming {@code agent.run_stream(task=...)}: each message as an SSE {@code data:} line,
     * then the TaskResult. {@code x-steps: one} streams an agent without a tool (one model call) instead.
     */
    final class AgentStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            boolean one = "one".equals(req.getHeader("x-steps"));
            resp.setContentType("text/event-stream; charset=utf-8");
            OutputStream out = resp.getOutputStream();
            StringBuilder all = new StringBuilder(TASK);
            write(out, TASK);
            if (!one) {
                calls.count(s);
                write(out, REQUEST);
                write(out, EXECUTION);
                all.append(',').append(REQUEST).append(',').append(EXECUTION);
            }
            calls.count(s);
            write(out, ANSWER);
            all.append(',').append(ANSWER);
            write(out, "{\"messages\":[" + all + "],\"stop_reason\":null}");
        }

        private void write(OutputStream out, String json) throws IOException {
            out.write(("data: " + json + "\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    private HttpResponse<String> create(String path, String s, String status) {
        return TestHttp.postJson(container.uri(path), s, NOTE_JSON, "x-redirect", status);
    }

    /** The same call from {@code /ai/notes/drafts}, redirected to the same list: charged its estimate. */
    private long estimateOfACreate(String status) {
        String s = subject();
        HttpResponse<String> r = create("/ai/notes/drafts", s, status);
        assertEquals(Integer.parseInt(status), r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /**
     * Finding 1. A plain servlet (or Spark Java, JAX-RS 303) calls the model once and redirects to its own
     * collection, {@code /ai/notes} to {@code /ai/notes/}. Expected: the request's estimate, as the same call
     * redirected there from {@code /ai/notes/drafts}. Today: released, 0.
     */
    @ParameterizedTest(name = "{0}: post/redirect/get to the collection's own URL, no Spring")
    @ValueSource(strings = {"302", "303"})
    void aPlainServletsPostRedirectGetToItsCollectionIsCharged(String status) {
        long estimate = estimateOfACreate(status);
        assertTrue(estimate > 0, "the control is charged: " + estimate);
        String s = subject();
        HttpResponse<String> r = create("/ai/notes", s, status);
        assertCharged(s, r, Integer.parseInt(status), 1, estimate, "the model summarised the note, then the servlet"
                + " redirected to /ai/notes/ (" + status + "); charged as the same call from /ai/notes/drafts ("
                + estimate + ")");
    }

    /** Control: the draft action, redirected to the same list, is charged its estimate. */
    @ParameterizedTest(name = "{0}: post/redirect/get elsewhere")
    @ValueSource(strings = {"302", "303"})
    void theSameCallRedirectedElsewhereIsCharged(String status) {
        assertTrue(estimateOfACreate(status) >= 1_000);
    }

    static final String RUN = "{\"task\":\"What is the weather in Lisbon, and should I take an umbrella?\"}";

    /**
     * Finding 2. A streamed AgentChat run with a tool: two model calls, 1,214 + 38 and 1,322 + 611 = 3,185
     * tokens, each in its message's {@code models_usage}. Expected 3,185.
     */
    @Test
    void anAutoGenRunStreamIsChargedEveryMessagesModelsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agent/stream"), s, RUN);
        assertCharged(s, r, 200, 2, FIRST_PROMPT + FIRST_COMPLETION + SECOND_PROMPT + SECOND_COMPLETION,
                "AutoGen run_stream: ToolCallRequestEvent models_usage 1,214 + 38, TextMessage 1,322 + 611");
    }

    /** Control: the same stream with one model call is charged that call's models_usage. */
    @Test
    void anAutoGenRunStreamWithOneCallIsChargedItsModelsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agent/stream"), s, RUN, "x-steps", "one");
        assertCharged(s, r, 200, 1, SECOND_PROMPT + SECOND_COMPLETION, "AutoGen run_stream, one TextMessage");
    }
}
