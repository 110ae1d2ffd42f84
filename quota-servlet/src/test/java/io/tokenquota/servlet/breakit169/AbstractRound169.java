package io.tokenquota.servlet.breakit169;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Round 169 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * a chat UI whose browser falls back from WebSocket to SockJS's HTTP transports, as Spring's
 * {@code SockJsService} serves them. The browser opens {@code POST .../{server}/{session}/xhr_streaming}
 * (answered {@code application/javascript}: a 2,048-byte {@code h} prelude, the open frame {@code o}, then
 * one {@code a[...]} frame per message, each message a JSON string) or polls {@code .../xhr}, and sends
 * its prompt with {@code POST .../xhr_send} (answered 204). The server relays the OpenAI chat stream's
 * chunks, as they came, as SockJS messages; the last one carries the call's {@code usage}. Every model is
 * charged one unit a token.
 */
abstract class AbstractRound169 extends ModelCallRound {
    static final long PROMPT_TOKENS = 42;
    static final long COMPLETION_TOKENS = 6_000;

    static final Map<String, BlockingQueue<String>> SESSIONS = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        return filteredByServletName(filterFor("/ai/").modelWeights(ONE_UNIT_A_TOKEN).build())
                .servlet("sockjs", new SockJsChat(), "/ai/sockjs/*")
                .servlet("sse", new SseChat(), "/ai/sse/*");
    }

    // ------------------------------------------------------------------ the model's stream

    static String esc(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    /** The OpenAI chat stream's chunks of one call: about 6,000 tokens of text, then the usage. */
    static List<String> modelChunks() {
        List<String> chunks = new ArrayList<>();
        String head = "{\"id\":\"chatcmpl-169\",\"object\":\"chat.completion.chunk\",\"created\":1733240000,\"model\":\"gpt-4o-2024-08-06\",";
        chunks.add(head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}");
        String text = Prose.english(24_000);
        for (int i = 0; i < text.length(); i += 400) {
            String piece = text.substring(i, Math.min(text.length(), i + 400));
            chunks.add(head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + esc(piece) + "\"},\"finish_reason\":null}],\"usage\":null}");
        }
        chunks.add(head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}");
        chunks.add(head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + PROMPT_TOKENS + ",\"completion_tokens\":"
                + COMPLETION_TOKENS + ",\"total_tokens\":" + (PROMPT_TOKENS + COMPLETION_TOKENS) + "}}");
        return chunks;
    }

    /** A SockJS message frame: a JSON array of the messages, each a JSON string. */
    static String frame(List<String> messages) {
        StringBuilder b = new StringBuilder("a[");
        for (int i = 0; i < messages.size(); i++) {
            b.append(i == 0 ? "" : ",").append('"').append(esc(messages.get(i))).append('"');
        }
        return b.append("]").toString();
    }

    static final String CLOSE = "c[3000,\"Go away!\"]";

    /**
     * SockJS's HTTP transports of one chat: {@code xhr_streaming} and {@code xhr} read a session's frames,
     * {@code xhr_send} takes the browser's message (the chat request) and runs the model, whose chunks
     * go to the session's queue as SockJS messages.
     */
    class SockJsChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String[] path = req.getPathInfo().substring(1).split("/");
            String session = path[1];
            String transport = path[2];
            switch (transport) {
                case "xhr_streaming" -> streaming(session, resp);
                case "xhr" -> poll(session, resp);
                case "xhr_send" -> send(req, session, resp);
                default -> resp.sendError(404);
            }
        }

        private static BlockingQueue<String> queue(String session) {
            return SESSIONS.computeIfAbsent(session, k -> new LinkedBlockingQueue<>());
        }

        private void streaming(String session, HttpServletResponse resp) throws IOException {
            BlockingQueue<String> frames = queue(session);
            resp.setContentType("application/javascript;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            out.write(("h".repeat(2048) + "\n").getBytes(StandardCharsets.UTF_8));
            out.write("o\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                String f;
                try {
                    f = frames.poll(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                if (f == null) {
                    f = CLOSE;
                }
                out.write((f + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                if (f.startsWith("c[")) {
                    return;
                }
            }
        }

        /** The polling transport: the first poll opens the session, each next one takes what is queued. */
        private void poll(String session, HttpServletResponse resp) throws IOException {
            resp.setContentType("application/javascript;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            if (!SESSIONS.containsKey(session)) {
                queue(session);
                out.write("o\n".getBytes(StandardCharsets.UTF_8));
                return;
            }
            BlockingQueue<String> frames = queue(session);
            String f;
            try {
                f = frames.poll(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            out.write(((f == null ? "h" : f) + "\n").getBytes(StandardCharsets.UTF_8));
        }

        private void send(HttpServletRequest req, String session, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            BlockingQueue<String> frames = SESSIONS.get(session);
            if (frames == null) {
                resp.sendError(404);
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            // the relay forwards the upstream's chunks as they arrive; here they arrived all at once and
            // go out as one message frame each (streaming) or all in one frame (polling)
            List<String> chunks = modelChunks();
            if (session.startsWith("poll")) {
                frames.add(frame(chunks));
            } else {
                for (String c : chunks) {
                    frames.add(frame(List.of(c)));
                }
            }
            frames.add(CLOSE);
            resp.setStatus(204);
        }
    }

    /** The same relay without the fallback: the chat request's answer is the upstream's event stream. */
    class SseChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            for (String c : modelChunks()) {
                out.write(("data: " + c + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ the browser

    static final String CHAT = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write a long report on the committee's quarterly review.\"}]}";

    /** SockJS's client sends each message as a JSON array of strings, labelled text/plain. */
    static String sockJsSend() {
        return "[\"" + esc(CHAT) + "\"]";
    }

    String base(String session) {
        return "/ai/sockjs/421/" + session + "/";
    }

    HttpResponse<Void> xhrSend(String subject, String session) {
        HttpRequest send = TestHttp.requestAs(container.uri(base(session) + "xhr_send"), subject,
                        "Content-Type", "text/plain;charset=UTF-8")
                .POST(HttpRequest.BodyPublishers.ofString(sockJsSend(), StandardCharsets.UTF_8)).build();
        try {
            return TestHttp.client().send(send, HttpResponse.BodyHandlers.discarding());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    HttpRequest emptyPost(String subject, String path) {
        return TestHttp.requestAs(container.uri(path), subject).POST(HttpRequest.BodyPublishers.noBody()).build();
    }

    /**
     * The browser opens SockJS's {@code xhr_streaming} transport (a body-less POST answered
     * {@code application/javascript}), waits for the open frame, sends one chat request through
     * {@code xhr_send} (204), and reads the model's stream relayed as SockJS message frames until the close
     * frame. The model call used 6,042 tokens, and its usage went through the filter in the last frame,
     * framed as SockJS frames it; the filter does not read SockJS's framing, and each of the session's
     * requests is charged its estimate (1,000, two requests): a WebSocket's HTTP fallbacks are served
     * outside the protected prefixes and metered through the ledger's API, as the WebSocket itself
     * (docs/servlet.md). This test holds that documented limit to its figures.
     */
    @Test
    void aChatOverSockJsStreamingIsChargedEachRequestsEstimate() throws Exception {
        String s = subject();
        String session = "stream-" + UUID.randomUUID();
        HttpResponse<Stream<String>> stream = TestHttp.client()
                .send(emptyPost(s, base(session) + "xhr_streaming"), HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, stream.statusCode());
        Iterator<String> lines = stream.body().iterator();
        List<String> frames = new ArrayList<>();
        while (lines.hasNext()) {
            String line = lines.next();
            if (line.equals("o")) {
                break;
            }
        }
        assertEquals(204, xhrSend(s, session).statusCode());
        while (lines.hasNext()) {
            String line = lines.next();
            frames.add(line);
            if (line.startsWith("c[")) {
                break;
            }
        }
        while (lines.hasNext()) {
            lines.next();
        }
        assertTrue(frames.size() > 10 && frames.get(frames.size() - 2).contains("completion_tokens"), "the usage frame came");
        QuotaAccount a = settled(s);
        assertEquals(1, calls.of(s), "model calls");
        assertEquals(2_000, a.used(), kind() + ": two requests at their estimate; " + ledger(s));
    }

    /**
     * The same chat over SockJS's polling transport ({@code xhr}): the first poll opens the session, the
     * chat request goes through {@code xhr_send}, the next poll returns the model's chunks in one message
     * frame, usage last. Three requests, each charged its estimate (the documented limit above).
     */
    @Test
    void aChatOverSockJsPollingIsChargedEachRequestsEstimate() throws Exception {
        String s = subject();
        String session = "poll-" + UUID.randomUUID();
        HttpResponse<String> open = TestHttp.client().send(emptyPost(s, base(session) + "xhr"), HttpResponse.BodyHandlers.ofString());
        assertEquals("o\n", open.body());
        assertEquals(204, xhrSend(s, session).statusCode());
        HttpResponse<String> poll = TestHttp.client().send(emptyPost(s, base(session) + "xhr"), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, poll.statusCode());
        assertTrue(poll.body().startsWith("a[") && poll.body().contains("completion_tokens"), "the chunks came");
        QuotaAccount a = settled(s);
        assertEquals(1, calls.of(s), "model calls");
        assertEquals(3_000, a.used(), kind() + ": three requests at their estimate; " + ledger(s));
    }

    /** Control: the same model stream answered as server-sent events to the chat request is charged its usage. */
    @Test
    void theSameChatOverServerSentEventsIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/sse/chat/completions"), s, CHAT);
        assertEquals(200, r.statusCode());
        QuotaAccount a = settled(s);
        assertEquals(1, calls.of(s), "model calls");
        assertEquals(PROMPT_TOKENS + COMPLETION_TOKENS, a.used(), kind() + ": " + ledger(s));
    }
}
