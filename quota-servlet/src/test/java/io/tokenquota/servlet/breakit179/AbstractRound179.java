package io.tokenquota.servlet.breakit179;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 179 of issue 11.
 *
 * <p>A voice assistant. {@code POST /ai/voice/ask} names a recording the user made; the endpoint has it
 * transcribed ({@code gpt-4o-transcribe}, whose JSON answer is {@code {"text": …, "usage": {…}}}: no id,
 * no {@code object}), sends that answer to the page as its first event (so the page shows what was heard
 * while the answer is written), then asks the chat model and relays its stream as the provider sends it.
 * Two model calls, each with its usage in the answer, one after the other: the rule the filter documents
 * ("model calls relayed one after another in one answer add up call by call"; "a final report of another
 * format after a call's final report is another call's") says both are charged.
 */
abstract class AbstractRound179 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u179-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** gpt-4o-transcribe's answer, as OpenAI sends it for {@code response_format: json}. */
    static final String TRANSCRIPT = "{\"text\":\"What does clause seven of the supplier contract say about late payment?\","
            + "\"usage\":{\"type\":\"tokens\",\"input_tokens\":61,\"input_token_details\":{\"text_tokens\":0,\"audio_tokens\":61},"
            + "\"output_tokens\":15,\"total_tokens\":76}}";
    static final long TRANSCRIPT_TOKENS = 76;
    /** What the answering call costs: 3,000 tokens of contract read, 5,000 written. */
    static final long ANSWER_TOKENS = 8_000;

    static final String WORDS = "Clause seven lets the supplier charge interest on any invoice paid late. ";

    static void event(PrintWriter w, String name, String data) {
        w.write((name == null ? "" : "event: " + name + "\n") + "data: " + data + "\n\n");
        w.flush();
    }

    /** Claude's stream, relayed event by event as Anthropic sends it. */
    static void anthropic(PrintWriter w) {
        event(w, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                + "\"usage\":{\"input_tokens\":3000,\"output_tokens\":1}}}");
        event(w, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
        event(w, "ping", "{\"type\":\"ping\"}");
        for (int i = 0; i < 20; i++) {
            event(w, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\""
                    + WORDS + "\"}}");
        }
        event(w, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
        event(w, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                + "\"usage\":{\"output_tokens\":5000}}");
        event(w, "message_stop", "{\"type\":\"message_stop\"}");
    }

    /** Gemini's stream ({@code streamGenerateContent?alt=sse}), relayed chunk by chunk. */
    static void gemini(PrintWriter w) {
        for (int i = 0; i < 20; i++) {
            event(w, null, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + WORDS + "\"}],\"role\":\"model\"},\"index\":0}],"
                    + "\"usageMetadata\":{\"promptTokenCount\":3000,\"totalTokenCount\":3000},\"modelVersion\":\"gemini-2.5-flash\","
                    + "\"responseId\":\"mZ3aaMXcB4-Ez7IP0pSZmAw\"}");
        }
        event(w, null, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],"
                + "\"usageMetadata\":{\"promptTokenCount\":3000,\"candidatesTokenCount\":5000,\"totalTokenCount\":8000},"
                + "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"mZ3aaMXcB4-Ez7IP0pSZmAw\"}");
    }

    /** OpenAI's chat stream with {@code include_usage}, relayed chunk by chunk. */
    static void openAi(PrintWriter w) {
        for (int i = 0; i < 20; i++) {
            event(w, null, "{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
                    + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + WORDS + "\"},\"finish_reason\":null}]}");
        }
        event(w, null, "{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
                + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}");
        event(w, null, "{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
                + "\"choices\":[],\"usage\":{\"prompt_tokens\":3000,\"completion_tokens\":5000,\"total_tokens\":8000}}");
        event(w, null, "[DONE]");
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("voice", new Voice(), "/ai/voice/*")
                .servlet("agent", new Agent(), "/ai/agent/*")
                .onStartup(filter::registerByServletName);
    }

    /** Transcribes the recording, shows the transcript, then relays the answering model's stream. */
    class Voice extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            calls.count(user); // the transcription
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            PrintWriter w = resp.getWriter();
            event(w, "transcript", TRANSCRIPT);
            calls.count(user); // the answer
            switch (req.getPathInfo()) {
                case "/ask/claude" -> anthropic(w);
                case "/ask/gemini" -> gemini(w);
                default -> openAi(w);
            }
        }
    }

    static final String ASK = "{\"recording_id\":\"rec_8842\",\"language\":\"en\"}";

    private void assertBothCallsCharged(String path) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("clause seven") && r.body().contains(WORDS), r.body());
        assertEquals(2, calls.of(s), "a transcription and an answer");
        long used = settled(s).used();
        assertTrue(used >= TRANSCRIPT_TOKENS + ANSWER_TOKENS, "the transcription (" + TRANSCRIPT_TOKENS + ") and the answer ("
                + ANSWER_TOKENS + ") each reported their usage in the answer; charged " + used + ": " + ledger(s));
    }

    /**
     * The attack: ask by voice on the endpoint that answers with Claude. The transcript's usage (76) comes
     * first; Claude's {@code message_start} / {@code message_delta} (8,000) after it must be charged too.
     */
    @Test
    void aSpokenQuestionAnsweredByClaudeIsChargedTheAnswer() {
        assertBothCallsCharged("/ai/voice/ask/claude");
    }

    /** The same with Gemini answering: its final chunk's 8,000 must be charged beside the transcript's 76. */
    @Test
    void aSpokenQuestionAnsweredByGeminiIsChargedTheAnswer() {
        assertBothCallsCharged("/ai/voice/ask/gemini");
    }

    /** Control: the same with OpenAI's chat stream answering is charged both calls. */
    @Test
    void controlASpokenQuestionAnsweredByGptIsChargedBothCalls() {
        assertBothCallsCharged("/ai/voice/ask/gpt");
    }

    /** Ollama's answer to {@code /api/chat} with {@code "stream": false}: the router's whole answer, its final report. */
    static final String ROUTE = "{\"model\":\"llama3.2:3b\",\"created_at\":\"2025-06-02T09:14:03.191Z\",\"message\":{\"role\":"
            + "\"assistant\",\"content\":\"contracts\"},\"done_reason\":\"stop\",\"done\":true,\"total_duration\":412006458,"
            + "\"load_duration\":20416,\"prompt_eval_count\":180,\"prompt_eval_duration\":91000000,\"eval_count\":2,"
            + "\"eval_duration\":12000000}";
    static final long ROUTE_TOKENS = 182;

    /**
     * An agent: a small local model on Ollama picks the specialist ({@code "stream": false}), then Claude
     * answers; the endpoint relays each call as its provider answered it, the router's answer as one event,
     * then Claude's stream. docs/decisions.md: "a final report of another format after a call's final report
     * is another call's (an agent relaying an Ollama call, then a Converse one)".
     */
    class Agent extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            calls.count(user); // the router
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            PrintWriter w = resp.getWriter();
            event(w, "route", ROUTE);
            calls.count(user); // the specialist
            anthropic(w);
        }
    }

    /**
     * The attack: ask the agent. The router's final report (182) comes first; Claude's 8,000 after it must
     * be charged too, not dropped.
     */
    @Test
    void anAgentsLocalRouterBeforeClaudeDoesNotMakeClaudesAnswerFree() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agent/ask"), s,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"What does clause seven say about late payment?\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("message_stop"), r.body());
        assertEquals(2, calls.of(s), "a router call and an answer");
        long used = settled(s).used();
        assertTrue(used >= ROUTE_TOKENS + ANSWER_TOKENS, "the router (" + ROUTE_TOKENS + ") and Claude (" + ANSWER_TOKENS
                + ") each reported their usage in the answer; charged " + used + ": " + ledger(s));
    }
}
