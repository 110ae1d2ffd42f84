package io.tokenquota.servlet.breakit309;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
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

/**
 * Round 309 of issue 11: the last three commits (AutoGen's {@code models_usage} added up per message id, the
 * slash-redirect release kept for a 307 only, Anthropic's {@code message_delta} input 0).
 *
 * <p><b>1. An AutoGen team whose streaming agent reports {@code models_usage} 0/0 gets that agent's call free
 * as soon as another agent reports real counts.</b> AutoGen's {@code OpenAIChatCompletionClient.create_stream}
 * (autogen-ext {@code models/openai/_openai_client.py}) writes {@code RequestUsage(prompt_tokens=0,
 * completion_tokens=0)} when the provider's stream carried no usage chunk ({@code include_usage} is off by
 * default); {@code AssistantAgent(model_client_stream=True)} then yields {@code ModelClientStreamingChunkEvent}s
 * ({@code models_usage: null}, {@code full_message_id}) and a final {@code TextMessage} with
 * {@code models_usage {0, 0}}: the docstring of {@code autogen_agentchat/agents/_assistant_agent.py} prints
 * exactly that ({@code models_usage=RequestUsage(prompt_tokens=0, completion_tokens=0) ... type='TextMessage'}).
 * Alone, such a message is a placeholder the filter charges at least the estimate (round 302/307's rule "no tokens
 * at all is a placeholder, not a free call"). In a {@code RoundRobinGroupChat} of a streaming writer and a
 * non-streaming critic (each {@code AssistantAgent} has its own {@code model_client_stream} flag), round 307's
 * per-message sum adds the writer's 0 to the critic's counts, the sum is no longer 0, and the writer's call,
 * which wrote the whole story, costs nothing. Served as round 307's FastAPI SSE of each message's
 * {@code model_dump_json()} (Microsoft's {@code python/samples/agentchat_fastapi/app_team.py} streams the same
 * messages' {@code model_dump} over a WebSocket).
 *
 * <p><b>2. A 307 post/redirect/get to the handler's own collection after a model call is free.</b> Round 307
 * kept the slash-redirect release for a 307 only; but a 307 is also what a handler answers after its work when
 * it redirects with JAX-RS's {@code Response.temporaryRedirect(URI)} (jakarta.ws.rs.core.Response: "temporary
 * redirection", 307; docs/servlet.md names it a post/redirect/get after the call, round 259) or relays
 * FastAPI/Starlette's {@code RedirectResponse(url)}, whose default {@code status_code} is 307 (Starlette's
 * {@code responses.py}; FastAPI's "Custom Response" docs: "By default it uses the 307 status code"). A JAX-RS
 * resource (or a relayed FastAPI route) that takes {@code POST /ai/notes}, has the model summarise, and redirects
 * to the list at {@code /ai/notes/} is released as a router's slash redirect: 0 charged for a served call. The
 * same call redirected 307 from {@code /ai/notes/drafts} is charged its estimate.
 */
abstract class AbstractRound309 extends ModelCallRound {
    static final String NOTE_JSON = "{\"text\":\"Call with the supplier on the master services agreement: they want"
            + " to move renewal to a rolling twelve months, cap liability at fees paid in the prior year, and drop the"
            + " termination-for-convenience clause.\",\"max_tokens\":2000}";

    static final long CRITIC_PROMPT = 4_502;
    static final long CRITIC_COMPLETION = 96;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("notes", new NotesAfterCall(calls, req -> 307), "/ai/notes/*")
                .servlet("team", new TeamStream(), "/ai/team/stream");
    }

    /** An AgentChat message as pydantic's {@code model_dump_json} writes it (AutoGen 0.6+ field order). */
    static String message(String id, String source, String usage, String content, String type) {
        return "{\"id\":\"" + id + "\",\"source\":\"" + source + "\",\"models_usage\":" + usage + ",\"metadata\":{},"
                + "\"created_at\":\"2026-03-02T09:14:07.118204Z\",\"content\":" + content + ",\"type\":\"" + type + "\"}";
    }

    static String usage(long prompt, long completion) {
        return "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + "}";
    }

    static final String WRITER_ID = "9c2f4e1a-7b3d-4f6e-8a5c-1d2e3f4a5b6c";
    static final String[] STORY = {"The keeper", " found the bottle", " at low tide,", " its cork sealed with wax.",
        " Inside, a map of the reef", " and a note in his own hand,", " dated forty years ahead."};

    static final String TASK = message("0b9d1f3a-6c2e-4e8b-a1d7-3f5c9e2b4a61", "user", "null",
            "\"Write a short story about a lighthouse keeper who finds a message in a bottle.\"", "TextMessage");

    static String chunk(int i) {
        return "{\"id\":\"5e7a" + String.format("%04d", i) + "-1b2c-4d3e-8f4a-5b6c7d8e9f00\",\"source\":\"writer\","
                + "\"models_usage\":null,\"metadata\":{},\"created_at\":\"2026-03-02T09:14:07.2" + String.format("%05d", i)
                + "Z\",\"content\":\"" + STORY[i] + "\",\"full_message_id\":\"" + WRITER_ID
                + "\",\"type\":\"ModelClientStreamingChunkEvent\"}";
    }

    static final String WRITTEN = message(WRITER_ID, "writer", usage(0, 0), "\"" + String.join("", STORY) + "\"",
            "TextMessage");
    static final String CRITIQUE = message("4a1b2c3d-5e6f-4a8b-9c0d-1e2f3a4b5c6d", "critic",
            usage(CRITIC_PROMPT, CRITIC_COMPLETION), "\"The pacing is good and the ending lands. APPROVE\"", "TextMessage");

    /**
     * A FastAPI endpoint streaming {@code team.run_stream(task=...)} as SSE: the task, the streaming writer's chunk
     * events and its TextMessage ({@code models_usage} 0/0), the critic's TextMessage (real counts), the TaskResult.
     * {@code x-team: writer} streams the writer alone ({@code agent.run_stream}).
     */
    final class TeamStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            boolean alone = "writer".equals(req.getHeader("x-team"));
            resp.setContentType("text/event-stream; charset=utf-8");
            OutputStream out = resp.getOutputStream();
            write(out, TASK);
            calls.count(s); // the writer's streamed call
            for (int i = 0; i < STORY.length; i++) {
                write(out, chunk(i));
            }
            write(out, WRITTEN);
            String all = TASK + "," + WRITTEN;
            if (!alone) {
                calls.count(s); // the critic's call
                write(out, CRITIQUE);
                all += "," + CRITIQUE;
            }
            write(out, "{\"messages\":[" + all + "],\"stop_reason\":" + (alone ? "null"
                    : "\"Text 'APPROVE' mentioned\"") + "}");
        }

        private void write(OutputStream out, String json) throws IOException {
            out.write(("data: " + json + "\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    static final String RUN = "{\"task\":\"Write a short story about a lighthouse keeper who finds a message in a bottle.\"}";

    /** Control: the streaming writer alone (models_usage 0/0) is charged at least its hold, not 0. */
    private long chargeOfTheWriterAlone() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/team/stream"), s, RUN, "x-team", "writer");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        return a.used();
    }

    @Test
    void aStreamingAgentsPlaceholderUsageAloneIsChargedItsEstimate() {
        long alone = chargeOfTheWriterAlone();
        assertTrue(alone > 0, "the writer's call alone, models_usage 0/0, charged " + alone);
    }

    /**
     * Finding 1. Writer (streaming, models_usage 0/0) + critic (4,502 + 96). Expected: the critic's 4,598 plus the
     * writer's call, charged as that call alone is (its placeholder: at least the estimate). Today: 4,598, the
     * writer's call free.
     */
    @Test
    void aTeamWithAStreamingAgentPaysForThatAgentsCall() {
        long alone = chargeOfTheWriterAlone();
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/team/stream"), s, RUN);
        QuotaAccount a = assertAnswered(s, r, 200, 2);
        long critic = CRITIC_PROMPT + CRITIC_COMPLETION;
        assertTrue(a.used() >= critic + alone, "AutoGen RoundRobinGroupChat: the streaming writer's call (models_usage"
                + " 0/0, charged " + alone + " when alone) and the critic's " + critic + "; expected at least "
                + (critic + alone) + ": " + figures(s, r, a));
    }

    private HttpResponse<String> create(String path, String s) {
        return TestHttp.postJson(container.uri(path), s, NOTE_JSON);
    }

    /** Control: the same call from {@code /ai/notes/drafts}, 307 to the list, is charged its estimate. */
    private long estimateOfADraft() {
        String s = subject();
        HttpResponse<String> r = create("/ai/notes/drafts", s);
        assertEquals(307, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    @Test
    void aTemporaryRedirectElsewhereAfterTheCallIsCharged() {
        assertTrue(estimateOfADraft() >= 1_000);
    }
}
