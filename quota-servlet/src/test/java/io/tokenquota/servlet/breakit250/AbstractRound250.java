package io.tokenquota.servlet.breakit250;

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
 * Round 250 of issue 11: one call's stream in a provider's real chunk shape, relayed as the provider
 * streams it, must be charged its usage, not split into several calls.
 */
abstract class AbstractRound250 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u250-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String[] WORDS = ("The Milky Way is estimated to contain between two hundred and four hundred billion"
            + " stars, the uncertainty coming from faint red dwarfs that are hard to observe directly").split(" ");

    /** The answer's chunks: one token each, as Perplexity streams them (an answer of 180 tokens). */
    static final int CHUNKS = 180;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("perplexity", new Perplexity(), "/ai/perplexity/chat/completions")
                .onStartup(filter::registerByServletName);
    }

    /**
     * Perplexity's Sonar chat completions, streamed as Perplexity streams them (and as an application
     * relaying its answer passes them on): every chunk is {@code "object": "chat.completion"}, carries the
     * running usage, the delta with its role and the message so far; the last chunk finishes the choice.
     */
    class Perplexity extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            StringBuilder message = new StringBuilder();
            for (int i = 0; i < CHUNKS; i++) {
                String piece = (i == 0 ? "" : " ") + WORDS[i % WORDS.length];
                message.append(piece);
                boolean last = i == CHUNKS - 1;
                w.write("data: {\"id\": \"21899d42-c7fc-40e3-88a2-1780bf30c357\", \"model\": \"sonar\", \"created\": 1723902901,"
                        + " \"usage\": {\"prompt_tokens\": 14, \"completion_tokens\": " + (i + 1) + ", \"total_tokens\": "
                        + (15 + i) + "}, \"citations\": [\"https://example.com/a\"], \"object\": \"chat.completion\","
                        + " \"choices\": [{\"index\": 0, \"finish_reason\": " + (last ? "\"stop\"" : "null")
                        + ", \"message\": {\"role\": \"assistant\", \"content\": \"" + message + "\"}, \"delta\": {\"role\":"
                        + " \"assistant\", \"content\": \"" + piece + "\"}}]}\n\n");
                w.flush();
            }
        }
    }

    /**
     * The attack: ask Sonar a question, streamed. One call, its last chunk reporting 14 + 180 = 194 tokens;
     * it must be charged that (and at most a little more), never each chunk's running count added up
     * (18,810 tokens, nearly the whole 20,000 allowance, for one short answer).
     */
    @Test
    void aPerplexityStreamIsChargedItsLastRunningCountOnce() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/perplexity/chat/completions"), s,
                "{\"model\":\"sonar\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"How many stars are there in our galaxy?\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "Perplexity was called once");
        long used = settled(s).used();
        long usage = 14 + CHUNKS;
        assertTrue(used >= usage && used <= usage + 20, "one call reporting " + usage + " tokens is charged it, charged "
                + used + ": " + ledger(s));
    }
}
