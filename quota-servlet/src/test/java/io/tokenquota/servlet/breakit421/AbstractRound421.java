package io.tokenquota.servlet.breakit421;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Compression;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

/**
 * Round 421 of issue 11: rounds 418 (an async end the container refuses) and 419/420 (compressed request bodies)
 * attacked.
 *
 * <p>The model answers are OpenAI chat completions (API reference, "The chat completion object" and "The chat
 * completion chunk object": chunks with {@code choices[].delta}, then with {@code stream_options.include_usage} a
 * last chunk with empty {@code choices} and {@code usage}, then {@code data: [DONE]}), built by
 * {@link ChatCompletions}. The async endpoints follow the Servlet 6 API ({@code AsyncContext.complete()},
 * {@code dispatch(String)}); the wrapper is what Spring Security's {@code SecurityContextHolderAwareRequestWrapper}
 * is, an {@code HttpServletRequestWrapper} handed to the application, on which Spring MVC's
 * {@code StandardServletAsyncWebRequest.startAsync} calls {@code startAsync}. Gzip bodies follow RFC 1952 (members
 * one after another), the field RFC 9110 section 8.4 (case-insensitive codings, {@code identity} no coding, several
 * lines one list).
 */
abstract class AbstractRound421 extends ModelCallRound {
    static final long PROMPT = 1_500;
    static final long COMPLETION = 7_500;
    static final long USAGE = PROMPT + COMPLETION;
    static final ExecutorService APP = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "app-421");
        t.setDaemon(true);
        return t;
    });
    /** What each subject's worker met at its second end. */
    static final Map<String, String> SECOND_END = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter)
                .servlet("wrapped-stream", new WrappedStream(), "/ai/wrapped/*")
                .servlet("dispatching", new Dispatching(), "/ai/dispatching/*")
                .servlet("answer", new Answer(), "/ai/answer/*")
                .servlet("gz", new GzipChat(), "/ai/gz/*");
    }

    // ---------------------------------------------------------------- async ends

    /**
     * Streams the answer with its usage from an application thread, the async cycle started on a wrapper of the
     * request, then ends the cycle twice (the second {@code complete()} is refused by the container).
     */
    class WrappedStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            boolean twice = req.getRequestURI().endsWith("/twice");
            calls.count(s);
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            HttpServletRequest wrapper = new HttpServletRequestWrapper(req) { };
            AsyncContext async = wrapper.startAsync();
            async.setTimeout(0);
            APP.execute(() -> {
                String id = "chatcmpl-421-" + s;
                try {
                    OutputStream out = async.getResponse().getOutputStream();
                    for (int i = 0; i < 10; i++) {
                        out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
                    }
                    out.write(ChatCompletions.usageEvent(id, PROMPT, COMPLETION).getBytes(StandardCharsets.UTF_8));
                    out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                } catch (IOException e) {
                    SECOND_END.put(s, "write: " + e);
                }
                async.complete();
                if (twice) {
                    try {
                        async.complete();
                        SECOND_END.put(s, "accepted");
                    } catch (RuntimeException e) {
                        SECOND_END.put(s, e.toString());
                    }
                }
            });
        }
    }

    /** Calls the model on an application thread, then dispatches to the servlet that writes its answer. */
    class Dispatching extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            AsyncContext async = req.startAsync();
            async.setTimeout(0);
            APP.execute(() -> {
                calls.count(s);
                async.getRequest().setAttribute("answer", ChatCompletions.completion("chatcmpl-421d", "gpt-4o",
                        "Lisbon in three days.", PROMPT, COMPLETION));
                async.dispatch("/ai/answer/v1/chat/completions");
            });
        }
    }

    /** Writes the answer the dispatching servlet left. */
    static class Answer extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            Object answer = req.getAttribute("answer");
            if (answer == null) {
                resp.sendError(404);
                return;
            }
            ChatCompletions.writeWithLength(resp, answer.toString().getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String ASK_STREAM = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon.\"}]}";
    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day"
            + " trip to Lisbon.\"}]}";

    /** Control: the wrapped stream ended once is charged its usage, 9,000. */
    @Test
    void controlAWrappedAsyncStreamIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/wrapped/v1/chat/completions/once"), ASK_STREAM,
                "x-user-id", s, "Content-Type", "application/json");
        assertCharged(s, r, 200, 1, USAGE, "wrapped async stream, one complete()");
        assertEquals(0, settled(s).reserved());
    }

    /** The same stream, its cycle ended twice: still 9,000, nothing held, whatever the second end meets. */
    @Test
    void aWrappedAsyncStreamCompletedTwiceIsChargedItsUsageOnce() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/wrapped/v1/chat/completions/twice"), ASK_STREAM,
                "x-user-id", s, "Content-Type", "application/json");
        QuotaAccount a = settled(s);
        assertCharged(s, r, 200, 1, USAGE, "wrapped async stream, complete() twice (" + SECOND_END.get(s) + ")");
        assertEquals(0, a.reserved());
    }

    /** An answer written by a {@code dispatch(path)} to another servlet is charged its usage, 9,000. */
    @Test
    void anAnswerWrittenByADispatchToAnotherServletIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/dispatching/v1/chat/completions"), ASK,
                "x-user-id", s, "Content-Type", "application/json");
        assertCharged(s, r, 200, 1, USAGE, "answer written by dispatch(path)");
        assertTrue(r.body().contains("\"usage\""), r.body());
    }

    // ---------------------------------------------------------------- compressed bodies

    /** Reads a gzip body as FastAPI's documented {@code GzipRequest} does, counts the call, streams an answer. */
    class GzipChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            ChatCompletions.streamWithoutUsage(resp.getOutputStream());
        }
    }

    static String chat(int chars) {
        return "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":200,\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"Summarise these minutes. " + Prose.english(chars) + "\"}]}";
    }

    /** The chat's first {@code split} bytes as one member, the rest as a second one. */
    static byte[] twoMembers(String json, int split) {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(Compression.gzip(java.util.Arrays.copyOfRange(b, 0, split)));
        out.writeBytes(Compression.gzip(java.util.Arrays.copyOfRange(b, split, b.length)));
        return out.toByteArray();
    }

    HttpResponse<String> sendGzip(String s, byte[] body, String... encodingLines) {
        String[] headers = new String[4 + 2 * encodingLines.length];
        headers[0] = "x-user-id";
        headers[1] = s;
        headers[2] = "Content-Type";
        headers[3] = "application/json";
        for (int i = 0; i < encodingLines.length; i++) {
            headers[4 + 2 * i] = "Content-Encoding";
            headers[5 + 2 * i] = encodingLines[i];
        }
        return TestHttp.post(container.uri("/ai/gz/v1/chat/completions"), body, headers);
    }

    /** Control: a small chat as two members under {@code GZIP} then {@code identity}: served once, nothing held. */
    @Test
    void controlASmallTwoMemberChatIsServed() {
        String s = subject();
        HttpResponse<String> r = sendGzip(s, twoMembers(chat(400), 60), "GZIP", "identity");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() > 0, figures(s, r, a));
        assertEquals(0, a.reserved());
    }

    /** A 1.5 MB chat whose last member alone passes the 1 MiB limit, labelled {@code X-GZIP, identity}: 413. */
    @Test
    void aChatPastTheLimitInItsLastMemberIsRefused413() {
        String s = subject();
        HttpResponse<String> r = sendGzip(s, twoMembers(chat(1_500_000), 40), "X-GZIP, identity");
        assertCharged(s, r, 413, 0, 0, "1.5 MB chat, its last member past the limit");
    }

    /** A 300,000-character chat (about 66,000 tokens, past the 20,000 allowance) as {@code identity, x-gzip}: 429. */
    @Test
    void aChatPastTheAllowanceAsXGzipIsRefused429() {
        String s = subject();
        HttpResponse<String> r = sendGzip(s, twoMembers(chat(300_000), 40), "identity, x-gzip");
        assertCharged(s, r, 429, 0, 0, "300,000-character chat, x-gzip");
    }
}
