package io.tokenquota.servlet.breakit302;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 302 of issue 11: Microsoft AutoGen (AgentChat 0.4 and later, and AutoGen Studio) served over HTTP
 * behind the filter. No earlier round names AutoGen.
 *
 * <p>AutoGen does not relay the provider's answer: its model client ({@code OpenAIChatCompletionClient})
 * reads the provider's {@code usage} itself and copies it, as {@code RequestUsage(prompt_tokens,
 * completion_tokens)}, into the {@code models_usage} field of the AgentChat message the model's answer
 * became ({@code autogen_agentchat.messages.BaseChatMessage}: {@code id}, {@code source},
 * {@code models_usage}, {@code metadata}, {@code created_at}; {@code TextMessage} adds {@code content} and
 * {@code type: "TextMessage"}). A team's run returns {@code TaskResult(messages, stop_reason)} with every
 * agent's message, each with the usage of the model call that produced it ({@code null} for the user's
 * task). These are pydantic models; FastAPI writes them with {@code model_dump} (datetimes in ISO form).
 * The two servers here are Microsoft's own:
 *
 * <ul>
 *   <li>{@code python/samples/agentchat_fastapi/app_agent.py} (microsoft/autogen):
 *       {@code @app.post("/chat", response_model=TextMessage)} takes a {@code TextMessage} and returns
 *       {@code response.chat_message} of an {@code AssistantAgent}, whose state (the earlier turns) is loaded
 *       from a file, so the model reads far more than the request carries.</li>
 *   <li>AutoGen Studio's {@code autogenstudio serve --team team.json}
 *       ({@code autogenstudio/web/serve.py}): {@code @app.get("/predict/{task}")} runs the team on the task
 *       in the path and answers {@code Response(message="Task successfully completed", status=True,
 *       data=TeamResult(task_result=TaskResult, usage="", duration=…))}
 *       ({@code autogenstudio/datamodel/types.py}, {@code teammanager/teammanager.py}: {@code usage} is
 *       always the empty string there; the counts are the messages' {@code models_usage}).</li>
 * </ul>
 *
 * The filter reads other frameworks' own message shapes (LangChain's {@code usage_metadata} on an AI
 * message, Koog's {@code metaInfo}, LangChain4j's {@code tokenUsage}); AutoGen's {@code models_usage} is not
 * read, nor the messages' {@code content}, so a call that reached the model is charged the hold.
 * Controls: the same calls as the model client saw them (an OpenAI chat completion with its
 * {@code usage}), and the same answer as a LangServe {@code /invoke} of a LangChain chat model.
 */
abstract class AbstractRound302 extends H2FilterRound {
    /** About 4,400 tokens by the default estimator. */
    static final String STORY = Prose.english(28_000);
    static final String CRITIQUE = "The pacing is good and the ending lands. APPROVE";
    static final String TASK = "Write a short story about a lighthouse keeper who finds a message in a bottle.";

    // The agent of app_agent.py: its loaded state holds earlier turns, so the prompt is long.
    static final long AGENT_PROMPT = 3_940;
    static final long AGENT_COMPLETION = 4_410;

    // The writer and critic of a RoundRobinGroupChat, TextMentionTermination("APPROVE").
    static final long WRITER_PROMPT = 52;
    static final long WRITER_COMPLETION = 4_415;
    static final long CRITIC_PROMPT = 4_502;
    static final long CRITIC_COMPLETION = 96;
    static final long TEAM = WRITER_PROMPT + WRITER_COMPLETION + CRITIC_PROMPT + CRITIC_COMPLETION;

    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u302-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("agent", new AgentChatApp(), "/ai/chat")
                .servlet("studio", new StudioServe(), "/ai/predict/*")
                .servlet("openai", new ModelClientView(), "/ai/v1/chat/completions")
                .servlet("langserve", new LangServe(), "/ai/langserve/invoke")
                .onStartup(filter::registerByServletName);
    }

    /** An AgentChat {@code TextMessage} as pydantic's {@code model_dump} writes it (AutoGen 0.6+ field order). */
    static String textMessage(String id, String source, long prompt, long completion, String content) {
        String usage = prompt < 0 ? "null"
                : "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + "}";
        return "{\"id\":" + q(id) + ",\"source\":" + q(source) + ",\"models_usage\":" + usage + ",\"metadata\":{},"
                + "\"created_at\":\"2026-03-02T09:14:07.118204Z\",\"content\":" + q(content) + ",\"type\":\"TextMessage\"}";
    }

    /** app_agent.py's {@code POST /chat}: a TextMessage in, the agent's TextMessage out. */
    final class AgentChatApp extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(textMessage("5f0c6b1e-2a7d-4c43-9f3e-8d1b2a6c7e90", "assistant",
                    AGENT_PROMPT, AGENT_COMPLETION, STORY).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** AutoGen Studio's {@code GET /predict/{task}}: the team's two model calls, in its Response envelope. */
    final class StudioServe extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            calls.count(req.getHeader("x-user-id"));
            String task = req.getPathInfo().substring(1);
            String body = "{\"message\":\"Task successfully completed\",\"status\":true,\"data\":{\"task_result\":{"
                    + "\"messages\":["
                    + textMessage("0b9d1f3a-6c2e-4e8b-a1d7-3f5c9e2b4a61", "user", -1, -1, task) + ","
                    + textMessage("7e4a2c9b-1d3f-4b6a-8c5e-2f9d1a7b3c04", "writer", WRITER_PROMPT, WRITER_COMPLETION, STORY)
                    + ","
                    + textMessage("c3f8e1d2-9a4b-4c7e-b2d6-5e1a8f3c9b27", "critic", CRITIC_PROMPT, CRITIC_COMPLETION,
                            CRITIQUE)
                    + "],\"stop_reason\":\"Text 'APPROVE' mentioned\"},\"usage\":\"\",\"duration\":41.83720302581787}}";
            resp.setContentType("application/json");
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Control: the agent's call as its model client received it (an OpenAI chat completion with usage). */
    final class ModelClientView extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String body = "{\"id\":\"chatcmpl-BQ3x\",\"object\":\"chat.completion\",\"created\":1772442847,"
                    + "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                    + "\"content\":" + q(STORY) + ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":" + AGENT_PROMPT + ",\"completion_tokens\":" + AGENT_COMPLETION
                    + ",\"total_tokens\":" + (AGENT_PROMPT + AGENT_COMPLETION) + "}}";
            resp.setContentType("application/json");
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Control: the same answer from another framework whose message shape the filter reads (LangServe /invoke). */
    final class LangServe extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String body = "{\"output\":{\"content\":" + q(STORY) + ",\"additional_kwargs\":{},\"response_metadata\":{"
                    + "\"finish_reason\":\"stop\",\"model_name\":\"gpt-4o-2024-08-06\"},\"type\":\"ai\",\"name\":null,"
                    + "\"id\":\"run-6c1f0a2e-93b4-4d8e-a5f7-1b2c3d4e5f60-0\",\"example\":false,\"tool_calls\":[],"
                    + "\"invalid_tool_calls\":[],\"usage_metadata\":{\"input_tokens\":" + AGENT_PROMPT
                    + ",\"output_tokens\":" + AGENT_COMPLETION + ",\"total_tokens\":" + (AGENT_PROMPT + AGENT_COMPLETION)
                    + "}},\"metadata\":{\"run_id\":\"6c1f0a2e-93b4-4d8e-a5f7-1b2c3d4e5f60\",\"feedback_tokens\":[]}}";
            resp.setContentType("application/json");
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String CHAT_REQUEST = "{\"source\":\"user\",\"content\":" + q(TASK) + ",\"type\":\"TextMessage\"}";

    /**
     * Attack (app_agent.py): one model call of 3,940 + 4,410 = 8,350 tokens, its usage in the answer's
     * {@code models_usage}, its 4,400-token text in {@code content}.
     */
    @Test
    void anAutoGenAgentsAnswerIsChargedItsModelsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat"), s, CHAT_REQUEST);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertEquals(AGENT_PROMPT + AGENT_COMPLETION, used,
                "AutoGen TextMessage with models_usage 3,940 + 4,410: charged " + used + ": " + ledger(s));
    }

    /**
     * Attack (AutoGen Studio serve): a {@code GET /predict/{task}} runs a writer and a critic, two model calls
     * of 9,065 tokens in all, each counted in its message's {@code models_usage}.
     */
    @Test
    void anAutoGenStudioTeamRunIsChargedItsMessagesUsage() {
        String s = subject();
        String task = URLEncoder.encode(TASK, StandardCharsets.UTF_8).replace("+", "%20");
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/predict/" + task), s).GET().build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls.of(s));
        long used = settled(s).used();
        assertEquals(TEAM, used, "AutoGen Studio team run, models_usage 52 + 4,415 and 4,502 + 96: charged " + used
                + ": " + ledger(s));
    }

    /** Control: the agent's model call as an OpenAI chat completion is charged its usage. */
    @Test
    void theSameCallAsAChatCompletionIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s,
                "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":" + q(TASK) + "}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(AGENT_PROMPT + AGENT_COMPLETION, settled(s).used(), ledger(s));
    }

    /** Control: the same answer as a LangServe {@code /invoke} of a chat model is charged its usage_metadata. */
    @Test
    void theSameCallThroughLangServeIsChargedItsUsageMetadata() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/langserve/invoke"), s,
                "{\"input\":" + q(TASK) + ",\"config\":{},\"kwargs\":{}}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(AGENT_PROMPT + AGENT_COMPLETION, settled(s).used(), ledger(s));
    }
}
