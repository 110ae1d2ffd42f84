package io.tokenquota.servlet.breakit208;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 208 of issue 11: an honest chat whose stream sends, in each event, the assistant's message so far
 * rather than the new piece. A chat UI that renders the model's markdown on the server (commonmark-java,
 * an htmx or plain-JS page that swaps the message bubble's innerHTML on each event, posted with
 * fetch-event-source) re-sends the whole message each time, because markdown cannot be rendered piece by
 * piece. No usage comes with it (Spring AI's {@code stream().content()}). The filter counts each raw
 * event's text as new model text (docs/decisions.md, "A model's text written raw is counted too"), so a
 * 600-word answer is charged the sum of every prefix of it.
 */
abstract class AbstractRound208 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u208-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** The model's answer: about 600 words (an ordinary chat answer, a few hundred tokens). */
    static final String ANSWER = Prose.english(3_600).trim();
    /** Words per delta the provider streams (a token or so each). */
    static final int WORDS_PER_DELTA = 4;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/chat/*")
                .onStartup(filter::registerByServletName);
    }

    /**
     * {@code @PostMapping(value = "/ai/chat", produces = TEXT_EVENT_STREAM)}: for each delta of
     * {@code chatClient.prompt(q).stream().content()} the page's message so far is sent (as text, or
     * rendered to an HTML fragment), which the browser swaps into the bubble.
     */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String mode = req.getPathInfo();
            resp.setContentType("text/event-stream;charset=UTF-8");
            ServletOutputStream out = resp.getOutputStream();
            String[] words = ANSWER.split(" ");
            StringBuilder soFar = new StringBuilder();
            for (int i = 0; i < words.length; i += WORDS_PER_DELTA) {
                StringBuilder delta = new StringBuilder();
                for (int j = i; j < Math.min(words.length, i + WORDS_PER_DELTA); j++) {
                    delta.append(j > 0 ? " " : "").append(words[j]);
                }
                soFar.append(delta);
                String data = switch (mode) {
                    case "/html" -> "<div class=\"msg assistant\"><p>" + soFar + "</p></div>";
                    case "/text" -> soFar.toString();
                    default -> delta.toString();
                };
                out.write(("data:" + data + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            if ("/final".equals(mode)) {
                // the page's last event: the whole message rendered once more, to replace the raw pieces
                out.write(("event:done\ndata:<div class=\"msg assistant\"><p>" + soFar + "</p></div>\n\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    long call(String path, String s, String body) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body, "Accept", "text/event-stream");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        return settled(s).used();
    }

    static final String ASK = "{\"message\":\"Summarise the quarterly logistics review for the board.\"}";
    /** What the call cost at most: its text counted generously (a token every 3 characters), plus the question. */
    static final long COST = ANSWER.length() / 3 + 100;

    /** Control: the same answer streamed as deltas is charged about what it cost. */
    @Test
    void controlDeltasAreChargedTheAnswersText() {
        String s = subject();
        long used = call("/ai/chat/delta", s, ASK);
        assertTrue(used >= 600 && used <= COST + 1_000, "charged " + used + ": " + ledger(s));
    }

    /** Each event the message so far as text. One ordinary answer, no hostile party. */
    @Test
    void anAnswerStreamedAsTheMessageSoFarIsNotChargedEveryPrefix() {
        String s = subject();
        long used = call("/ai/chat/text", s, ASK);
        assertTrue(used <= COST + 1_000, "one answer of " + ANSWER.length() + " characters (about "
                + ANSWER.length() / 4 + " tokens) is charged about that, not every prefix of it: charged " + used
                + ": " + ledger(s));
    }

    /** The same with the message rendered to an HTML fragment each time (htmx / innerHTML swap). */
    @Test
    void anAnswerStreamedAsRenderedFragmentsIsNotChargedEveryPrefix() {
        String s = subject();
        long used = call("/ai/chat/html", s, ASK);
        assertTrue(used <= COST + 1_000, "one answer of " + ANSWER.length() + " characters (about "
                + ANSWER.length() / 4 + " tokens) is charged about that, not every prefix of it: charged " + used
                + ": " + ledger(s));
    }

    /** A budget named by the page does not help: the prefixes pass twice it at once. */
    @Test
    void anAnswerUnderANamedBudgetStreamedAsTheMessageSoFarIsNotChargedEveryPrefix() {
        String s = subject();
        long used = call("/ai/chat/text", s, "{\"message\":\"Summarise the quarterly logistics review.\",\"max_tokens\":1000}");
        assertTrue(used <= COST + 2_000, "charged " + used + ": " + ledger(s));
    }

    /** Deltas, then the whole message rendered once more in a closing event (a common page's "done"). */
    @Test
    void controlDeltasThenTheWholeMessageOnceMoreAreChargedTheAnswerOnce() {
        String s = subject();
        long used = call("/ai/chat/final", s, ASK);
        assertTrue(used <= COST + 200, "one answer of " + ANSWER.length() + " characters (about "
                + ANSWER.length() / 4 + " tokens) is charged once: charged " + used + ": " + ledger(s));
    }
}
