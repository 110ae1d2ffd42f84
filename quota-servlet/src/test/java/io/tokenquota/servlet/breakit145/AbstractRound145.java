package io.tokenquota.servlet.breakit145;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.Cookie;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 145 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * new model calls asked on a {@code GET} (a chat UI's {@code EventSource}, which can send neither a body
 * nor its own headers) whose answer carries a provider call id that an earlier call of the same user
 * already carried. The filter takes such a {@code GET} for a stored answer sent again and charges it only
 * what its usage passes the earlier call's charge, so a second question costs nothing when its answer is
 * no bigger than the first.
 * <p>
 * Each question here is one real model call: the first reports 5,000 tokens, the second 4,000. Two
 * calls, 9,000 tokens, must be charged 9,000.
 */
abstract class AbstractRound145 extends H2FilterRound {
    private static final long FIRST = 5_000;
    private static final long SECOND = 4_000;

    /** Model calls made, all endpoints together. */
    private final AtomicInteger modelCalls = new AtomicInteger();
    /** The numbers the local model server draws for its next call ids (Ollama: {@code rand.Intn(999)}). */
    private final Deque<Integer> draws = new ArrayDeque<>();

    /** One streamed OpenAI-compatible chat answer: a content chunk, then the usage chunk, then [DONE]. */
    private static void stream(HttpServletResponse resp, String callId, long total) throws IOException {
        long prompt = total * 3 / 5;
        String usage = "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + (total - prompt)
                + ",\"total_tokens\":" + total + "}";
        String head = "{\"id\":\"" + callId + "\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,"
                + "\"model\":\"llama3.1:8b\",\"system_fingerprint\":\"fp_ollama\",";
        resp.setContentType("text/event-stream");
        resp.setCharacterEncoding("UTF-8");
        resp.getOutputStream().write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                + "\"content\":\"Here is the answer.\"},\"finish_reason\":null}]}\n\n"
                + "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                + "data: " + head + "\"choices\":[],\"usage\":" + usage + "}\n\n"
                + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
        resp.flushBuffer();
    }

    /** What the model reports for the n-th call (counted from 1) of a test: 5,000, then 4,000. */
    private static long usageOf(int nth) {
        return nth == 1 ? FIRST : SECOND;
    }

    /**
     * {@code GET /ai/local/ask?q=…}: a chat UI's EventSource endpoint in front of a local Ollama server's
     * OpenAI-compatible API. Ollama names every chat completion {@code chatcmpl-} and a random number
     * below 999 ({@code fmt.Sprintf("chatcmpl-%d", rand.Intn(999))}), so two calls of one user share an
     * id by chance: among 40 calls, more often than not. The test sets the draws.
     */
    private final class LocalAsk extends HttpServlet {
        private final AtomicInteger calls = new AtomicInteger();

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            modelCalls.incrementAndGet();
            int draw;
            synchronized (draws) {
                draw = draws.isEmpty() ? 0 : draws.poll();
            }
            stream(resp, "chatcmpl-" + draw, usageOf(calls.incrementAndGet()));
        }
    }

    /**
     * {@code GET /ai/messages/{messageId}/stream?q=…}: a chat UI creates the message's id in the browser
     * (for optimistic rendering) and opens an EventSource on it; the server asks vLLM with the message id
     * as {@code X-Request-Id} for tracing, and vLLM names the call {@code chatcmpl-} and that id.
     */
    private final class MessageStream extends HttpServlet {
        private final AtomicInteger calls = new AtomicInteger();

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            modelCalls.incrementAndGet();
            String info = req.getPathInfo();
            String messageId = info.substring(1, info.indexOf('/', 1));
            stream(resp, "chatcmpl-" + messageId, usageOf(calls.incrementAndGet()));
        }
    }

    /**
     * {@code GET /ai/session/ask?q=…}: an EventSource chat whose trace id is the chat session's cookie
     * (EventSource sends cookies, not headers); the server forwards it to vLLM as {@code X-Request-Id},
     * and vLLM names the call after it.
     */
    private final class SessionAsk extends HttpServlet {
        private final AtomicInteger calls = new AtomicInteger();

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            modelCalls.incrementAndGet();
            String session = "none";
            if (req.getCookies() != null) {
                for (Cookie c : req.getCookies()) {
                    if (c.getName().equals("chat_session")) {
                        session = c.getValue();
                    }
                }
            }
            stream(resp, "chatcmpl-" + session, usageOf(calls.incrementAndGet()));
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("localAsk", new LocalAsk(), "/ai/local/ask")
                .servlet("messages", new MessageStream(), "/ai/messages/*")
                .servlet("sessionAsk", new SessionAsk(), "/ai/session/ask")
                .onStartup(filter::registerByServletName);
    }

    private static String subject() {
        return "u145-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static String q(String question) {
        return URLEncoder.encode(question, StandardCharsets.UTF_8);
    }

    private HttpResponse<String> ask(String path, String s, String... headers) {
        String[] all = new String[headers.length + 4];
        all[0] = "Accept";
        all[1] = "text/event-stream";
        all[2] = "Cache-Control";
        all[3] = "no-cache";
        System.arraycopy(headers, 0, all, 4, headers.length);
        return TestHttp.send(TestHttp.requestAs(container.uri(path), s, all).GET().build());
    }

    /**
     * Attack (under-charge, no cleverness needed): a user of a chat UI in front of a local Ollama server
     * asks two different questions; by Ollama's id scheme both answers are named {@code chatcmpl-417}.
     * The second question is a new model call of 4,000 tokens, but the filter takes its {@code GET} for a
     * replay of the first call and charges only what passes 5,000: nothing. Two calls, 9,000 tokens.
     */
    @Test
    void twoQuestionsWhoseLocalModelDrewTheSameCallIdAreBothCharged() {
        String s = subject();
        synchronized (draws) {
            draws.clear();
            draws.add(417);
            draws.add(417);
        }
        int before = modelCalls.get();
        HttpResponse<String> first = ask("/ai/local/ask?q=" + q("Summarise the quarter"), s);
        HttpResponse<String> second = ask("/ai/local/ask?q=" + q("Now list the risks in the report"), s);
        int calls = modelCalls.get() - before;
        settled(s);
        assertEquals(200, first.statusCode());
        assertEquals(200, second.statusCode());
        assertEquals(2, calls);
        assertEquals(FIRST + SECOND, settled(s).used(), "two model calls, 5,000 and 4,000 tokens, whose local "
                + "server gave them the same id: " + ledger(s));
    }

    /**
     * Attack (hostile client): the browser names its message, the server names the vLLM call after it.
     * The client asks a first question at {@code /ai/messages/msg_3f9a2c71/stream} (5,000 tokens, paid),
     * then asks a different question at the same message id: a new model call whose answer carries the
     * first call's id. The id travels in the path, not a header or query value, so the filter takes the
     * new call for a replay and charges only what passes 5,000: nothing. Every later question of up to
     * 5,000 tokens at that id is free.
     */
    @Test
    void aNewQuestionAtAReusedMessageIdInThePathIsCharged() {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> first = ask("/ai/messages/msg_3f9a2c71/stream?q=" + q("Summarise the quarter"), s);
        HttpResponse<String> second = ask("/ai/messages/msg_3f9a2c71/stream?q=" + q("Write a 2,000-word essay on risk"), s);
        int calls = modelCalls.get() - before;
        settled(s);
        assertEquals(200, first.statusCode());
        assertEquals(200, second.statusCode());
        assertEquals(2, calls);
        assertEquals(FIRST + SECOND, settled(s).used(), "two model calls on GETs at one client-named message id: "
                + ledger(s));
    }

    /**
     * Attack (hostile client): as the X-Request-Id case the filter already guards, but the id the server
     * names the call after rides in a cookie ({@code chat_session=s_8e41b07c}), the one thing an
     * EventSource sends besides the URL. The cookie header's value is {@code chat_session=s_8e41b07c},
     * which is not found whole in {@code chatcmpl-s_8e41b07c}, so the second question is taken for a
     * replay and is free.
     */
    @Test
    void aNewQuestionNamedAfterASessionCookieIsCharged() {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> first = ask("/ai/session/ask?q=" + q("Summarise the quarter"), s,
                "Cookie", "chat_session=s_8e41b07c");
        HttpResponse<String> second = ask("/ai/session/ask?q=" + q("Now list the risks in the report"), s,
                "Cookie", "chat_session=s_8e41b07c");
        int calls = modelCalls.get() - before;
        settled(s);
        assertEquals(200, first.statusCode());
        assertEquals(200, second.statusCode());
        assertEquals(2, calls);
        assertEquals(FIRST + SECOND, settled(s).used(), "two model calls on GETs named after one session cookie: "
                + ledger(s));
    }
}
