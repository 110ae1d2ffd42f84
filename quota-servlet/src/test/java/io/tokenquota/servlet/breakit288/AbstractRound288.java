package io.tokenquota.servlet.breakit288;

import static io.tokenquota.servlet.testing.GeminiInteractions.event;
import static io.tokenquota.servlet.testing.GeminiInteractions.json;
import static io.tokenquota.servlet.testing.GeminiInteractions.pieces;
import static io.tokenquota.servlet.testing.GeminiInteractions.usage;
import static io.tokenquota.servlet.testing.GeminiInteractions.FLASH;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.GeminiInteractions;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 288 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): Gemini's
 * Interactions API past rounds 284 and 286 (function calls streamed, multi-turn with
 * {@code previous_interaction_id}), and Mistral's Conversations API (the newest API a relay of Mistral passes on),
 * each cut before its usage as a relay's upstream breaks.
 *
 * <p>Shapes, from the providers' own clients and docs:
 * <ul>
 *   <li>An Interactions stream's function call: google-genai (Python)
 *       {@code google/genai/_interactions/types/content_delta.py}, {@code DeltaFunctionCallDelta}
 *       ({@code {"type": "function_call", "id": …, "name": …, "arguments": {…}}}: the arguments an object, sent whole
 *       in one delta), inside a {@code content.delta} event with its {@code index} and {@code event_id}; the stream's
 *       other events as rounds 284 and 286 wrote them.</li>
 *   <li>Multi-turn: {@code previous_interaction_id} ("Server-side history management: Simplified multi-turn flows via
 *       previous_interaction_id. The server enables state by default (store=true)", ai.google.dev/gemini-api/docs/interactions);
 *       the stored history is read again by the model on each follow-up turn (the Interactions docs say the usage
 *       "includes the conversation history", as quoted in discuss.ai.google.dev thread 187450).</li>
 *   <li>Mistral's Conversations API ({@code POST /v1/conversations}, "Beta Conversations", docs.mistral.ai; mistralai
 *       client-python {@code ConversationStreamRequest}, {@code inputs}, {@code stream}, {@code store}): its stream's
 *       events {@code conversation.response.started} ({@code ResponseStartedEvent}: {@code conversation_id}),
 *       {@code message.output.delta} ({@code MessageOutputEvent}: {@code id}, {@code content} a string, {@code model},
 *       {@code role: "assistant"}, {@code output_index}, {@code content_index}) and {@code conversation.response.done}
 *       with its {@code usage} ({@code ConversationUsageInfo}: {@code prompt_tokens}, {@code completion_tokens},
 *       {@code total_tokens}), as {@code conversationevents.py} lists them; round 237 relayed the whole stream.</li>
 * </ul>
 */
abstract class AbstractRound288 extends ModelCallRound {
    static final String TEXT = ShapedAnswerRound.TEXT;
    static final long INPUT = 300;
    static final long THOUGHTS = 2_000;
    /** What the model wrote: {@link #TEXT}, about 4,400 tokens (the usage reports 4,400). */
    static final long OUTPUT = 4_400;
    static final long TOTAL = INPUT + OUTPUT + THOUGHTS;

    static String q(String s) {
        return ShapedAnswerRound.q(s);
    }

    /** The interaction's id the provider gives the subject's first call. */
    static String idOf(String s) {
        return "v1_" + s.replace("-", "");
    }

    static String interaction(String id, String status, String outputs, String usage) {
        return GeminiInteractions.interaction(id, FLASH, status, outputs, usage);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("relay", new Relay(), "/ai/*")
                .onStartup(filter::registerByServletName);
    }

    /**
     * A relay of Google's and Mistral's APIs: {@code /ai/gemini/v1beta/interactions} and
     * {@code /ai/mistral/v1/conversations}; what it answers is chosen by the request's body.
     */
    private final class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8).replace(" ", "");
            String s = req.getHeader("x-user-id");
            String path = req.getPathInfo();
            calls.count(s);
            if (path.equals("/gemini/v1beta/interactions")) {
                if (body.contains("\"previous_interaction_id\"")) {
                    continuationCut(resp, idOf(s) + "b");
                } else if (body.contains("\"tools\"") && body.contains("\"stream\":true")) {
                    functionCallCut(resp, idOf(s));
                } else if (body.contains("\"tools\"")) {
                    json(resp, interaction(idOf(s), "requires_action", "[{\"type\":\"function_call\",\"id\":\"call_1\","
                            + "\"name\":\"write_file\",\"arguments\":" + fileArguments() + "}]", usage(INPUT, OUTPUT, THOUGHTS)));
                } else {
                    json(resp, interaction(idOf(s), "completed", "[{\"type\":\"text\",\"text\":" + q(TEXT) + "}]",
                            usage(INPUT, OUTPUT, THOUGHTS)));
                }
            } else if (path.equals("/mistral/v1/conversations")) {
                mistralStream(resp, "conv_" + s.replace("-", ""), !body.contains("\"inputs\":\"cut:"));
            } else {
                resp.sendError(404);
            }
        }
    }

    /** The arguments of a coding agent's {@code write_file} call: the file the model wrote, {@link #TEXT}. */
    static String fileArguments() {
        return "{\"path\":\"reports/q3.md\",\"content\":" + q(TEXT) + "}";
    }

    /**
     * An Interactions stream whose model calls the client's {@code write_file} function: its start, the function
     * call's content (one {@code DeltaFunctionCallDelta} carrying its arguments whole: about 4,400 tokens the model
     * wrote), then the relay's upstream breaks before the content's stop and the last event with the usage.
     */
    static void functionCallCut(HttpServletResponse resp, String id) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "interaction.start", "{\"event_type\":\"interaction.start\",\"interaction\":"
                + interaction(id, "in_progress", null, null) + ",\"event_id\":\"e1\"}");
        event(w, "content.start", "{\"event_type\":\"content.start\",\"index\":0,\"content\":{\"type\":\"function_call\"},\"event_id\":\"e2\"}");
        event(w, "content.delta", "{\"event_type\":\"content.delta\",\"index\":0,\"delta\":{\"type\":\"function_call\",\"id\":\"call_1\","
                + "\"name\":\"write_file\",\"arguments\":" + fileArguments() + "},\"event_id\":\"e3\"}");
        w.flush();
    }

    /** A follow-up turn streamed: its start and one short text delta, then the relay's upstream breaks. */
    static void continuationCut(HttpServletResponse resp, String id) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "interaction.start", "{\"event_type\":\"interaction.start\",\"interaction\":"
                + interaction(id, "in_progress", null, null) + ",\"event_id\":\"e1\"}");
        event(w, "content.start", "{\"event_type\":\"content.start\",\"index\":0,\"content\":{\"type\":\"text\"},\"event_id\":\"e2\"}");
        event(w, "content.delta", "{\"event_type\":\"content.delta\",\"index\":0,\"delta\":{\"type\":\"text\",\"text\":"
                + q("The second section of the report, shortened:") + "},\"event_id\":\"e3\"}");
        w.flush();
    }

    /** Mistral's Conversations stream of {@link #TEXT}: to its {@code conversation.response.done} ({@code whole}), or cut before it. */
    static void mistralStream(HttpServletResponse resp, String conversation, boolean whole) throws IOException {
        resp.setContentType("text/event-stream");
        PrintWriter w = resp.getWriter();
        event(w, "conversation.response.started", "{\"type\":\"conversation.response.started\",\"created_at\":\"2026-12-01T10:00:00Z\","
                + "\"conversation_id\":\"" + conversation + "\"}");
        for (String piece : pieces(TEXT)) {
            event(w, "message.output.delta", "{\"type\":\"message.output.delta\",\"created_at\":\"2026-12-01T10:00:01Z\",\"output_index\":0,"
                    + "\"id\":\"msg_0688\",\"content_index\":0,\"model\":\"mistral-medium-2508\",\"agent_id\":null,\"role\":\"assistant\","
                    + "\"content\":" + q(piece) + "}");
        }
        if (whole) {
            event(w, "conversation.response.done", "{\"type\":\"conversation.response.done\",\"created_at\":\"2026-12-01T10:00:09Z\","
                    + "\"usage\":{\"prompt_tokens\":" + INPUT + ",\"completion_tokens\":" + OUTPUT + ",\"total_tokens\":" + (INPUT + OUTPUT)
                    + ",\"connector_tokens\":null,\"connectors\":null}}");
        }
        w.flush();
    }

    private HttpResponse<String> gemini(String s, String body) {
        return TestHttp.postJson(container.uri("/ai/gemini/v1beta/interactions"), s, body);
    }

    private HttpResponse<String> mistral(String s, String inputs) {
        return TestHttp.postJson(container.uri("/ai/mistral/v1/conversations"), s,
                "{\"model\":\"mistral-medium-latest\",\"inputs\":" + q(inputs) + ",\"stream\":true,\"store\":true}");
    }

    static final String TOOLS = "\"tools\":[{\"type\":\"function\",\"name\":\"write_file\",\"description\":\"Write a file in the"
            + " workspace.\",\"parameters\":{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},\"content\":{\"type\":\"string\"}},"
            + "\"required\":[\"path\",\"content\"]}}]";

    /**
     * Finding: an Interactions stream whose model called the client's {@code write_file} function with about 4,400
     * tokens of arguments (the file it wrote, one {@code DeltaFunctionCallDelta}), cut before its last event. Round
     * 284's rule counts a cut stream's {@code content.delta} text, and a Gemini {@code functionCall.args} or a
     * Responses item's {@code arguments} count when cut (round 272); this delta's {@code arguments} object does not:
     * the call is charged its hold.
     */
    @Test
    void anInteractionsStreamCutAfterAFunctionCallIsChargedItsArguments() {
        String s = subject();
        HttpResponse<String> r = gemini(s, "{" + FLASH + ",\"input\":\"Write the quarterly report to reports/q3.md.\"," + TOOLS
                + ",\"stream\":true}");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() >= 4_000, "an Interactions stream cut after a function call carrying about " + OUTPUT
                + " tokens of arguments: " + figures(s, r, a));
    }

    /** Control: the same function call answered whole ({@code status: "requires_action"}, with its usage): charged its usage. */
    @Test
    void controlAWholeInteractionThatCallsAFunctionIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = gemini(s, "{" + FLASH + ",\"input\":\"Write the quarterly report to reports/q3.md.\"," + TOOLS + "}");
        assertCharged(s, r, 200, 1, TOTAL, "a whole interaction ending in a function call, reporting " + TOTAL);
    }

    /**
     * Finding: a follow-up turn naming the first by {@code previous_interaction_id}: the provider makes the model read
     * the stored history again (the first turn's 300 input and 4,400 output tokens) though the body carries only the
     * new question. Streamed and cut before its usage, it is charged its hold: the filter holds and charges what an
     * OpenAI {@code previous_response_id} names (docs/decisions.md, "State kept at the provider is read again"), not
     * Gemini's equivalent. The follow-up must cost at least the history it made the model read (4,700).
     */
    @Test
    void aGeminiFollowUpCutIsChargedTheHistoryItNamed() {
        String s = subject();
        HttpResponse<String> first = gemini(s, "{" + FLASH + ",\"input\":\"Write the committee's quarterly report.\"}");
        assertCharged(s, first, 200, 1, TOTAL, "the first turn, reporting " + TOTAL);
        HttpResponse<String> r = gemini(s, "{" + FLASH + ",\"input\":\"Now shorten its second section.\",\"previous_interaction_id\":\""
                + idOf(s) + "\",\"stream\":true}");
        QuotaAccount a = assertAnswered(s, r, 200, 2);
        long followUp = a.used() - TOTAL;
        assertTrue(followUp >= INPUT + OUTPUT, "a follow-up turn naming an interaction of " + (INPUT + OUTPUT)
                + " tokens of history (previous_interaction_id), cut before its usage, charged " + followUp + ": " + figures(s, r, a));
    }

    /**
     * Finding: Mistral's Conversations stream cut before its {@code conversation.response.done} (the relay's upstream
     * broke) after all of {@link #TEXT} (about 4,400 tokens) in {@code message.output.delta} events: their
     * {@code content} is not counted as a cut stream's text, so the call is charged its hold.
     */
    @Test
    void aMistralConversationStreamCutIsChargedItsText() {
        String s = subject();
        HttpResponse<String> r = mistral(s, "cut: Write the committee's quarterly report.");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() >= 4_000, "a Mistral Conversations stream cut after about " + OUTPUT
                + " tokens of message.output.delta: " + figures(s, r, a));
    }

    /** Control: the same stream to its {@code conversation.response.done}: charged its usage. */
    @Test
    void controlAWholeMistralConversationStreamIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = mistral(s, "Write the committee's quarterly report.");
        assertCharged(s, r, 200, 1, INPUT + OUTPUT, "a Mistral Conversations stream reporting " + (INPUT + OUTPUT));
    }
}
