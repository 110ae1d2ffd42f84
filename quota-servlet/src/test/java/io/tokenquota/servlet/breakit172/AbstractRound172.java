package io.tokenquota.servlet.breakit172;

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
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 172 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the OpenAI Assistants API as its own quickstart uses it. An application's {@code POST /ai/assistant/ask}
 * adds the user's message to a thread, runs the assistant on it and waits for the run
 * ({@code createAndPoll}), then answers the assistant's reply: the newest message of the thread, the
 * {@code thread.message} object exactly as the provider returned it (role {@code assistant}, its
 * {@code run_id}). The run's usage sits on the run object, which the endpoint does not return. The
 * model ran; the answer has no usage, so the estimate is due. A control adds a user's message to a
 * thread ({@code POST}, answered the user's {@code thread.message}): no model ran.
 */
abstract class AbstractRound172 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u172-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String ASK = "{\"thread_id\":\"thread_abc123\",\"question\":\"Summarise the attached contract's termination"
            + " clauses and list every notice period with the party it binds.\"}";

    static final String REPLY = "The contract can be terminated by either party with ninety days' written notice. The"
            + " supplier may terminate with thirty days' notice for non-payment. The customer may terminate immediately"
            + " on a material breach that is not cured within fifteen days.";

    /** The assistant's reply as the provider returns it from {@code GET /v1/threads/{id}/messages}. */
    static String assistantMessage() {
        return "{\"id\":\"msg_abc123\",\"object\":\"thread.message\",\"created_at\":1735689602,\"assistant_id\":\"asst_abc123\","
                + "\"thread_id\":\"thread_abc123\",\"run_id\":\"run_abc123\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
                + "\"text\":{\"value\":\"" + REPLY + "\",\"annotations\":[]}}],\"attachments\":[],\"metadata\":{}}";
    }

    /** A user's message added to a thread, as {@code POST /v1/threads/{id}/messages} answers it. */
    static String userMessage(String text) {
        return "{\"id\":\"msg_def456\",\"object\":\"thread.message\",\"created_at\":1735689601,\"assistant_id\":null,"
                + "\"thread_id\":\"thread_abc123\",\"run_id\":null,\"role\":\"user\",\"content\":[{\"type\":\"text\","
                + "\"text\":{\"value\":\"" + text + "\",\"annotations\":[]}}],\"attachments\":[],\"metadata\":{}}";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("ask", new Ask(), "/ai/assistant/ask")
                .servlet("note", new Note(), "/ai/assistant/note")
                .onStartup(filter::registerByServletName);
    }

    /** Runs the assistant on the thread (the model is called) and answers the reply message it wrote. */
    class Ask extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            // messages.create, runs.createAndPoll (the model runs here), messages.list(order=desc).data().get(0)
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(assistantMessage().getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Adds the user's note to the thread; no run, no model. */
    class Note extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setContentType("application/json");
            resp.getOutputStream().write(userMessage("Please also check the renewal clause.").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * The attack: ask the assistant a question through the application's endpoint. The assistant ran
     * (one model call) and its reply came back as the provider's {@code thread.message}; nothing
     * reports usage, so the call must cost at least its estimate, never 0.
     */
    @Test
    void anAssistantsReplyMessageAfterARunIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/assistant/ask"), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the assistant ran once");
        long used = settled(s).used();
        assertTrue(used >= 1_000, "the assistant's run answered without usage is charged at least its estimate, charged "
                + used + ": " + ledger(s));
    }

    /** Control: adding a user's message to a thread calls no model and is released. */
    @Test
    void aUsersMessageAddedToAThreadIsReleased() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/assistant/note"), s,
                "{\"thread_id\":\"thread_abc123\",\"note\":\"Please also check the renewal clause.\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, settled(s).used(), ledger(s));
    }
}
