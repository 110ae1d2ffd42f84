package io.tokenquota.servlet.breakit415;

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
import org.junit.jupiter.api.Test;

/**
 * Round 415 of issue 11: round 412's readings of Agno's {@code RunMetrics} and Letta's {@code LettaUsageStatistics},
 * attacked with the shapes those frameworks write for a team run and for a Gemini thinking model.
 *
 * <p>A. Agno team run ({@code agno-agi/agno} 2.9.0, {@code libs/agno/agno}). AgentOS's {@code POST /teams/{team_id}/runs}
 * ({@code os/routers/teams/router.py} {@code create_team_run}) answers {@code stream=false} with
 * {@code run_response.to_dict()}, a {@code TeamRunOutput} ({@code run/team.py}): {@code run_id}, {@code team_id},
 * {@code team_name}, {@code session_id}, {@code content}, {@code content_type}, {@code model}, {@code model_provider},
 * {@code member_responses} (each member's {@code RunOutput.to_dict()}, {@code parent_run_id} the team's run), then
 * {@code metrics}, {@code status}, {@code messages}. The team's {@code metrics} are the leader model's own calls only:
 * Agno adds its members' runs to the session's metrics apart ({@code team/_session.py} {@code update_session_metrics}:
 * "Accumulates metrics from the team leader's own model calls as well as all member agent/team responses",
 * {@code _accumulate_member_metrics} walking {@code member_responses}); each member run's calls are in that member's
 * {@code RunOutput.metrics}.
 *
 * <p>B. Agno on Gemini ({@code models/google/gemini.py} {@code _get_metrics}, since 2.5.4, commit 15108d1 "metrics
 * update"): {@code input_tokens = prompt_token_count}, {@code output_tokens = candidates_token_count},
 * {@code reasoning_tokens = thoughts_token_count}, {@code total_tokens = input_tokens + output_tokens}: the thinking
 * tokens are in neither {@code output_tokens} nor {@code total_tokens}. Google bills them as output ("Output price
 * (including thinking tokens)", ai.google.dev/gemini-api/docs/pricing; {@code GenerateContentResponseUsageMetadata}:
 * "totalTokenCount ... the sum of prompt_token_count, candidates_token_count, tool_use_prompt_token_count, and
 * thoughts_token_count"). Agno's OpenAI adapter ({@code models/openai/chat.py} {@code _get_metrics}) copies
 * {@code completion_tokens} to {@code output_tokens}, the reasoning within, and {@code reasoning_tokens} from
 * {@code completion_tokens_details}: there the reasoning is already in the output.
 *
 * <p>C. Letta on Gemini, streamed ({@code letta-ai/letta}, {@code letta/interfaces/gemini_streaming_interface.py}
 * {@code get_usage_statistics}): {@code prompt_tokens = input_tokens}, {@code completion_tokens = candidates_token_count}
 * ("Do NOT use (total_token_count - prompt_token_count) as that incorrectly includes thinking/reasoning tokens"),
 * {@code total_tokens = input + output}, {@code reasoning_tokens = thoughts_token_count}: the stream's closing
 * {@code usage_statistics} document ({@code letta/schemas/usage.py} {@code LettaUsageStatistics}, fields in that
 * order) counts the thoughts only at {@code reasoning_tokens}. Letta's OpenAI stream
 * ({@code openai_streaming_interface.py}) counts {@code completion_tokens} with the reasoning within.
 *
 * <p>Rules: README settlement "usage seen: charge it"; docs/servlet.md (round 412) "an Agno run's metrics ...: the
 * run's calls summed, one report"; a call's thinking tokens are output the provider bills.
 */
abstract class AbstractRound415 extends ModelCallRound {
    /** The team leader's own calls (routing, then the closing answer). */
    static final long LEADER_INPUT = 2_100;
    static final long LEADER_OUTPUT = 180;
    static final long LEADER = LEADER_INPUT + LEADER_OUTPUT;
    /** The member agent's calls (reading the contracts). */
    static final long MEMBER_INPUT = 9_800;
    static final long MEMBER_OUTPUT = 1_150;
    static final long MEMBER = MEMBER_INPUT + MEMBER_OUTPUT;

    /** A Gemini 2.5 Pro call: prompt, answer, thoughts. */
    static final long PROMPT = 3_200;
    static final long CANDIDATES = 850;
    static final long THOUGHTS = 7_400;
    static final long THINKING_CALL = PROMPT + CANDIDATES + THOUGHTS;

    static final String WORDS = "Clause fourteen lets the supplier terminate on thirty days notice for any unpaid invoice, ";
    static final String ANSWER = WORDS.repeat(6);

    static final String TEAM_RUN = "3c1e9a7b-52d0-4f6e-8b14-7a9d2e0c6f35";
    static final String SESSION = "5b0e9c1d-62f4-4a8e-b3d7-1f9a2c4e6d80";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("agno", new AgentOs(), "/ai/agno/*")
                .servlet("letta", new LettaServer(), "/ai/letta/*");
    }

    // ------------------------------------------------------------------ Agno shapes

    /** The token counters of {@code BaseMetrics} ({@code agno/metrics.py}), zeros left out as {@code to_dict} leaves them. */
    static String counts(long input, long output, long total, long reasoning) {
        return "\"input_tokens\":" + input + ",\"output_tokens\":" + output + ",\"total_tokens\":" + total
                + (reasoning > 0 ? ",\"reasoning_tokens\":" + reasoning : "");
    }

    /** {@code RunMetrics.to_dict()} ({@code agno/metrics.py}): the counters, timings, then the per-model {@code details}. */
    static String metrics(String counts, String model, String provider) {
        return "{" + counts + ",\"time_to_first_token\":0.8132,\"duration\":9.4211,\"details\":{\"model\":[{" + counts
                + ",\"id\":\"" + model + "\",\"provider\":\"" + provider + "\"}]}}";
    }

    /**
     * {@code RunOutput.to_dict()} of an agent's one-call run ({@code run/agent.py}), {@code parent} its team's run if
     * any; its assistant message carries the call's own {@code MessageMetrics}.
     */
    static String runOutput(String runId, String agent, String parent, String model, String provider, String counts) {
        return "{\"run_id\":\"" + runId + "\",\"agent_id\":\"" + agent + "\",\"agent_name\":\"Contracts researcher\","
                + "\"session_id\":\"" + SESSION + "\"," + (parent == null ? "" : "\"parent_run_id\":\"" + parent + "\",")
                + "\"content\":\"" + ANSWER + "\",\"content_type\":\"str\",\"model\":\"" + model + "\",\"model_provider\":\""
                + provider + "\",\"created_at\":1759741964,\"metrics\":" + metrics(counts, model, provider)
                + ",\"status\":\"COMPLETED\",\"messages\":["
                + "{\"id\":\"0a6f2b1e-1c3d-4e5f-8a9b-2c3d4e5f6a72\",\"content\":\"Summarise the termination clauses.\","
                + "\"from_history\":false,\"stop_after_tool_call\":false,\"role\":\"user\",\"created_at\":1759741955},"
                + "{\"id\":\"0a6f2b1e-1c3d-4e5f-8a9b-2c3d4e5f6a73\",\"content\":\"" + ANSWER + "\",\"from_history\":false,"
                + "\"stop_after_tool_call\":false,\"role\":\"assistant\",\"metrics\":{" + counts + "},\"created_at\":1759741964}]}";
    }

    /** The member's run: gpt-4.1 reading the contracts. */
    static String memberRun(String parent) {
        return runOutput("8d2c7e5a-3b1f-4f0e-9a61-0c4e2b7d9f13", "contracts-researcher", parent, "gpt-4.1", "OpenAI",
                counts(MEMBER_INPUT, MEMBER_OUTPUT, MEMBER, 0));
    }

    /**
     * {@code TeamRunOutput.to_dict()} ({@code run/team.py}): the dataclass's non-null fields in order
     * ({@code member_responses} at its place, replaced by the members' {@code to_dict()}), then {@code metrics} (the
     * leader's calls), {@code status}, {@code messages}.
     */
    static String teamRunOutput() {
        String leader = metrics(counts(LEADER_INPUT, LEADER_OUTPUT, LEADER, 0), "gpt-4.1", "OpenAI");
        return "{\"run_id\":\"" + TEAM_RUN + "\",\"team_id\":\"legal-team\",\"team_name\":\"Legal team\",\"session_id\":\""
                + SESSION + "\",\"content\":\"" + ANSWER + "\",\"content_type\":\"str\",\"model\":\"gpt-4.1\","
                + "\"model_provider\":\"OpenAI\",\"member_responses\":[" + memberRun(TEAM_RUN) + "],\"created_at\":1759741966,"
                + "\"metrics\":" + leader + ",\"status\":\"COMPLETED\",\"messages\":["
                + "{\"id\":\"7e1d2c3b-4a5f-4e6d-9c8b-1a2b3c4d5e61\",\"content\":\"Summarise the termination clauses.\","
                + "\"from_history\":false,\"stop_after_tool_call\":false,\"role\":\"user\",\"created_at\":1759741955},"
                + "{\"id\":\"7e1d2c3b-4a5f-4e6d-9c8b-1a2b3c4d5e62\",\"content\":\"" + ANSWER + "\",\"from_history\":false,"
                + "\"stop_after_tool_call\":false,\"role\":\"assistant\",\"created_at\":1759741966}]}";
    }

    /** A Gemini 2.5 Pro run: its thoughts only at {@code reasoning_tokens} (Agno's Gemini adapter). */
    static String geminiRun() {
        return runOutput("e41b7c2d-0f3a-4d9e-8b6c-5a2f1e7d3c90", "contracts-agent", null, "gemini-2.5-pro", "Google",
                counts(PROMPT, CANDIDATES, PROMPT + CANDIDATES, THOUGHTS));
    }

    /** An o3 run: Agno's OpenAI adapter, the reasoning within {@code output_tokens}. */
    static String openAiReasoningRun() {
        return runOutput("e41b7c2d-0f3a-4d9e-8b6c-5a2f1e7d3c91", "contracts-agent", null, "o3", "OpenAI",
                counts(PROMPT, CANDIDATES + THOUGHTS, THINKING_CALL, THOUGHTS));
    }

    /** A service relaying AgentOS: team runs, and agent runs named by the path's last segment. */
    class AgentOs extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            String path = req.getPathInfo();
            String body = path.startsWith("/teams/") ? teamRunOutput()
                    : path.contains("/gemini-agent/") ? geminiRun()
                    : path.contains("/o3-agent/") ? openAiReasoningRun() : memberRun(null);
            EventStreams.write(resp.getOutputStream(), body);
        }
    }

    /** AgentOS's form ({@code message}, {@code stream}, {@code session_id}). */
    static final String AGNO_FORM = "message=Summarise+the+termination+clauses.&stream=false&session_id=" + SESSION;

    HttpResponse<String> agno(String s, String path) {
        return TestHttp.post(container.uri("/ai/agno" + path), AGNO_FORM, "x-user-id", s,
                "Content-Type", "application/x-www-form-urlencoded");
    }

    /**
     * The attack: an Agno team run answered whole. The leader's calls (2,100 in, 180 out) are the team's
     * {@code metrics}; its member's run (9,800 in, 1,150 out) is in {@code member_responses[0].metrics}. Right: 13,230.
     */
    @Test
    void agnoTeamRunIsChargedItsMembersRunsToo() {
        String s = subject();
        HttpResponse<String> r = agno(s, "/teams/legal-team/runs");
        assertCharged(s, r, 200, 1, LEADER + MEMBER, "an Agno TeamRunOutput: leader metrics 2,280, member_responses[0]"
                + ".metrics 10,950");
    }

    /** Control: the member's run answered alone ({@code /agents/{id}/runs}): 10,950. */
    @Test
    void controlAgnoAgentRunIsChargedItsMetrics() {
        String s = subject();
        HttpResponse<String> r = agno(s, "/agents/contracts-researcher/runs");
        assertCharged(s, r, 200, 1, MEMBER, "the member's RunOutput alone");
    }

    /**
     * The attack: an Agno agent on Gemini 2.5 Pro, 3,200 prompt, 850 answer and 7,400 thinking tokens; Agno's
     * {@code metrics} count the thoughts only at {@code reasoning_tokens} ({@code total_tokens} 4,050). Right: 11,450.
     */
    @Test
    void agnoGeminiRunIsChargedItsThinkingTokens() {
        String s = subject();
        HttpResponse<String> r = agno(s, "/agents/gemini-agent/runs");
        assertCharged(s, r, 200, 1, THINKING_CALL, "an Agno RunOutput on Gemini, metrics {input_tokens: 3200,"
                + " output_tokens: 850, total_tokens: 4050, reasoning_tokens: 7400}");
    }

    /** Control: the same call on o3 ({@code output_tokens} 8,250 with the reasoning within): 11,450. */
    @Test
    void controlAgnoOpenAiReasoningRunIsChargedOnce() {
        String s = subject();
        HttpResponse<String> r = agno(s, "/agents/o3-agent/runs");
        assertCharged(s, r, 200, 1, THINKING_CALL, "an Agno RunOutput on o3");
    }

    // ------------------------------------------------------------------ C: Letta on Gemini

    /** Letta's {@code AssistantMessage}, {@code LettaStopReason}: as round 412's. */
    static String assistant() {
        return "{\"id\":\"message-e79ec2f4-cb4a-49be-bab6-9e7ff4dfa830\",\"date\":\"2025-03-25T18:11:06Z\",\"name\":null,"
                + "\"message_type\":\"assistant_message\",\"otid\":\"e79ec2f4-cb4a-49be-bab6-9e7ff4dfa801\",\"sender_id\":null,"
                + "\"step_id\":\"step-5d4a0c1e-7a3b-4b8e-9f0e-2a6f1d3c9b71\",\"is_err\":null,\"content\":\"" + ANSWER + "\"}";
    }

    static final String STOP = "{\"message_type\":\"stop_reason\",\"stop_reason\":\"end_turn\"}";

    /** {@code LettaUsageStatistics.model_dump_json()}, every field in its declared order. */
    static String usageStatistics(long completion, long prompt, long total, Long cached, long reasoning) {
        return "{\"message_type\":\"usage_statistics\",\"completion_tokens\":" + completion + ",\"prompt_tokens\":" + prompt
                + ",\"total_tokens\":" + total + ",\"step_count\":1,\"run_ids\":null,\"cached_input_tokens\":" + cached
                + ",\"cache_write_tokens\":null,\"reasoning_tokens\":" + reasoning + ",\"context_tokens\":null}";
    }

    /** A service relaying Letta's {@code /messages/stream}, the agent on Gemini or on an OpenAI reasoning model. */
    class LettaServer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            String usage = req.getPathInfo().contains("agent-gemini")
                    // gemini_streaming_interface.get_usage_statistics: completion = candidates, total = input + output
                    ? usageStatistics(CANDIDATES, PROMPT, PROMPT + CANDIDATES, 0L, THOUGHTS)
                    // openai_streaming_interface (Responses): completion_tokens with the reasoning within
                    : usageStatistics(CANDIDATES + THOUGHTS, PROMPT, THINKING_CALL, 0L, THOUGHTS);
            OutputStream out = resp.getOutputStream();
            for (String e : new String[] {assistant(), STOP, usage, "[DONE]"}) {
                EventStreams.write(out, "data: " + e + "\n\n");
            }
        }
    }

    static final String LETTA_REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":\"What did we agree about the supplier"
            + " contracts' termination clauses?\"}]}";

    /**
     * The attack: a Letta agent on Gemini 2.5 Pro streamed, its closing {@code usage_statistics} counting 3,200
     * prompt, 850 completion and, apart, 7,400 reasoning tokens. Right: 11,450.
     */
    @Test
    void lettaGeminiStreamIsChargedItsReasoningTokens() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/letta/v1/agents/agent-gemini/messages/stream"), s,
                LETTA_REQUEST);
        assertCharged(s, r, 200, 1, THINKING_CALL, "a Letta Gemini stream's usage_statistics {completion_tokens: 850,"
                + " prompt_tokens: 3200, total_tokens: 4050, reasoning_tokens: 7400}");
    }

    /** Control: the same call on an OpenAI reasoning model (completion 8,250, the reasoning within): 11,450. */
    @Test
    void controlLettaOpenAiStreamIsChargedOnce() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/letta/v1/agents/agent-o3/messages/stream"), s,
                LETTA_REQUEST);
        assertCharged(s, r, 200, 1, THINKING_CALL, "a Letta o3 stream's usage_statistics");
    }
}
