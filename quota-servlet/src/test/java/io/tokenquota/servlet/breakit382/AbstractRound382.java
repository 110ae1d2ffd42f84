package io.tokenquota.servlet.breakit382;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 382 of issue 11: a relay that passes its provider's gzip-compressed answer on unchanged
 * (OpenAI's API answers {@code Content-Encoding: gzip} to a client sending {@code Accept-Encoding: gzip},
 * as Java's and Python's HTTP clients do), flushing the upstream's bytes as they come, a few at a time.
 * The answer is OpenAI's chat completion object (platform.openai.com/docs/api-reference/chat/object:
 * {@code id, object, created, model, choices[{index, message{role, content}, finish_reason}],
 * usage{prompt_tokens, completion_tokens, total_tokens}}). Rule (docs/servlet.md): gzip and deflate answers
 * are inflated on the side and their usage read.
 */
abstract class AbstractRound382 extends ModelCallRound {
    static final long PROMPT = 1_200;
    static final long COMPLETION = 6_800;

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter f = filterFor("/ai/").modelWeights(ONE_UNIT_A_TOKEN).build();
        return filteredAi(f).servlet("relay", new Relay(), "/ai/relay/*");
    }

    static byte[] answer() {
        return ChatCompletions.contractNotice(PROMPT, COMPLETION);
    }

    class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            boolean gzip = req.getPathInfo().startsWith("/gzip");
            byte[] body = answer();
            if (gzip) {
                ByteArrayOutputStream b = new ByteArrayOutputStream();
                try (GZIPOutputStream z = new GZIPOutputStream(b)) {
                    z.write(body);
                }
                body = b.toByteArray();
                resp.setHeader("Content-Encoding", "gzip");
            }
            resp.setContentType("application/json");
            ServletOutputStream out = resp.getOutputStream();
            // the upstream's bytes as they arrive: 3 at a time, flushed
            for (int i = 0; i < body.length; i += 3) {
                out.write(body, i, Math.min(3, body.length - i));
                out.flush();
            }
        }
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the termination clauses.\"}],\"max_tokens\":7000}";

    long call(String s, String path) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT, "Accept-Encoding", "gzip");
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        return settled(s).used();
    }

    /** Control: the relay passes the answer uncompressed. */
    @Test
    void aPlainRelayedAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(PROMPT + COMPLETION, call(s, "/ai/relay/plain/v1/chat/completions"), kind() + ": " + ledger(s));
    }

    /** The same answer gzip-compressed as the upstream sent it, relayed a few bytes at a time. */
    @Test
    void aGzipRelayedAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(PROMPT + COMPLETION, call(s, "/ai/relay/gzip/v1/chat/completions"), kind() + ": " + ledger(s));
    }
}
