package io.tokenquota.servlet.breakit405;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.CutJsonRelay;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 405: round 402's fix attacked. The rule (docs/decisions.md, "One JSON document is written to its end after
 * the client hung up"; round 402): a JSON document cut short without usage is charged at least the text it carried,
 * a string cut mid-way counting its part ({@code JsonDocumentScanner.closeCutString}).
 *
 * <p>The application is round 402's relay of OpenAI's Chat Completions endpoint, not streamed ("The chat completion
 * object", platform.openai.com/docs/api-reference/chat/object: {@code choices} first, {@code usage} last), but the
 * model answered in Japanese: one {@code content} string of 40,000 characters, each three bytes in UTF-8. JSON text
 * is UTF-8 and a string may hold any character unescaped but the quote, the backslash and controls (RFC 8259
 * sections 7 and 8.1); OpenAI's API sends non-ASCII text as raw UTF-8 (the Python SDK decodes it with
 * {@code httpx.Response.json()}, RFC 8259's UTF-8). The relay passes the upstream's body on in 4 KB pieces as they
 * come: a byte count, so a cut falls inside a character two times in three. It stops once its client has gone.
 */
abstract class AbstractRound405 extends ModelCallRound {
    static final long IN = 1_200;
    static final long OUT = 41_000;
    static final long CALL = IN + OUT;
    /** A Japanese story (a lighthouse keeper), 40,000 characters, three UTF-8 bytes each, no character escaped. */
    static final String STORY = japanese(40_000);
    static final byte[] ANSWER = ChatCompletions.completion("chatcmpl-405story", "gpt-4.1-2025-04-14", STORY, IN, OUT)
            .getBytes(StandardCharsets.UTF_8);
    /** Where the story's bytes start in the answer. */
    static final int STORY_START = indexOf(ANSWER, STORY.substring(0, 8).getBytes(StandardCharsets.UTF_8));
    /** A cut on a character's boundary, past 12,352 bytes (off the relay's piece boundary at 12,288). */
    static final int ON_BOUNDARY = boundaryFrom(12_352);
    static final String PROMPT = "灯台守についての長い物語を書いてください。";
    static final String ASK = "{\"model\":\"gpt-4.1\",\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT + "\"}]}";
    static final int PIECE = 4_096;
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();
    static final HangUps HANG_UPS = new HangUps();

    static String japanese(int chars) {
        String paragraph = "岬の灯台守は毎晩欠かさず灯をともし、嵐の夜には海に向かって祈りをささげた。"
                + "漁師たちは遠くの光を頼りに港へ帰り、翌朝には魚を届けて礼を言った。"
                + "ある冬の日、見知らぬ少女が灯台の扉をたたき、父の船がまだ戻らないと告げた。";
        StringBuilder b = new StringBuilder(chars + paragraph.length());
        while (b.length() < chars) {
            b.append(paragraph);
        }
        return b.substring(0, chars);
    }

    static int indexOf(byte[] in, byte[] what) {
        outer:
        for (int i = 0; i + what.length <= in.length; i++) {
            for (int j = 0; j < what.length; j++) {
                if (in[i + j] != what[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new IllegalStateException("not found");
    }

    /** The first character boundary of the story at or after {@code from} bytes of the answer. */
    static int boundaryFrom(int from) {
        int k = (from - STORY_START + 2) / 3;
        return STORY_START + 3 * k;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("relay", new CutJsonRelay(ANSWER, PIECE, calls, HANG_UPS), "/ai/relay/*")
                .servlet("async-model", new AsyncModel(), "/ai/async/*")
                .servlet("legacy", new Legacy(), "/legacy/*")
                .servlet("nio-relay", new NioRelay(), "/ai/nio/*");
    }

    // ------------------------------------------------------------------ a WriteListener relay that completes at once

    /**
     * A non-blocking relay (Servlet 6.0 section 3.8 / 5.7: {@code ServletOutputStream.setWriteListener}; the
     * write loop {@code while (out.isReady()) write} as the API's javadoc shows it) of this round's Japanese answer whole (about 120 KB) in 4 KB
     * pieces. After its last write it calls {@code AsyncContext.complete()}
     * at once, without waiting for {@code isReady()} to say the last write went out: allowed, the container writes
     * what is pending before it closes (Servlet 6.0 {@code AsyncContext.complete} javadoc; Tomcat's and Jetty's own
     * examples do it). {@code /early} completes so; {@code /late} waits for {@code isReady()} first.
     */
    final class NioRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            boolean early = req.getPathInfo().startsWith("/early");
            jakarta.servlet.AsyncContext ctx = req.startAsync();
            resp.setContentType("application/json");
            jakarta.servlet.ServletOutputStream out = resp.getOutputStream();
            out.setWriteListener(new jakarta.servlet.WriteListener() {
                int at;

                @Override
                public void onWritePossible() throws IOException {
                    while (out.isReady()) {
                        if (at >= ANSWER.length) {
                            ctx.complete();
                            return;
                        }
                        int n = Math.min(PIECE, ANSWER.length - at);
                        out.write(ANSWER, at, n);
                        at += n;
                        if (early && at >= ANSWER.length) {
                            ctx.complete();
                            return;
                        }
                    }
                }

                @Override
                public void onError(Throwable t) {
                    ctx.complete();
                }
            });
        }
    }

    void assertNioChargedItsUsage(String path) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, ASK);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(ANSWER.length, r.body().getBytes(StandardCharsets.UTF_8).length, "the whole document"),
                () -> assertEquals(1, calls.of(s), figures(s, r, a)),
                () -> assertEquals(CALL, a.used(), path + ": " + figures(s, r, a)));
    }

    /** The relay completes right after its last write. */
    @Test
    void aWriteListenerRelayThatCompletesRightAfterItsLastWriteIsChargedItsUsage() {
        assertNioChargedItsUsage("/ai/nio/early/v1/chat/completions");
    }

    /** Control: the relay completes once isReady() says the last write went out. */
    @Test
    void controlAWriteListenerRelayThatCompletesWhenReadyIsChargedItsUsage() {
        assertNioChargedItsUsage("/ai/nio/late/v1/chat/completions");
    }

    // ------------------------------------------------------------------ async dispatch after a forward

    static final long ASYNC_IN = 2_100;
    static final long ASYNC_OUT = 900;
    static final byte[] ASYNC_ANSWER = ChatCompletions.completion("chatcmpl-405async", "gpt-4.1-2025-04-14",
            "The lighthouse keeper lit the lamp.", ASYNC_IN, ASYNC_OUT).getBytes(StandardCharsets.UTF_8);

    /**
     * A model endpoint in Spring MVC's asynchronous form (a controller returning a {@code Callable} or a
     * {@code DeferredResult}: docs.spring.io/spring-framework/reference/web/webmvc/mvc-ann-async.html, "Processing":
     * the request is put in asynchronous mode, the result produced on another thread, then the request dispatched
     * back to the servlet container, {@code AsyncContext.dispatch()}, to write it). The first pass starts the async
     * cycle and calls the model on another thread; the async dispatch writes the chat completion with its usage.
     * {@code /ai/async/path/...} dispatches by the path ({@code dispatch(String)}) instead.
     */
    final class AsyncModel extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            if (req.getDispatcherType() == jakarta.servlet.DispatcherType.ASYNC) {
                byte[] answer = (byte[]) req.getAttribute("r405.answer");
                resp.setContentType("application/json");
                resp.setContentLength(answer.length);
                resp.getOutputStream().write(answer);
                return;
            }
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            boolean byPath = req.getPathInfo() != null && req.getPathInfo().startsWith("/path/");
            jakarta.servlet.AsyncContext ctx = req.startAsync();
            ctx.start(() -> {
                calls.count(s);
                req.setAttribute("r405.answer", ASYNC_ANSWER);
                if (byPath) {
                    ctx.dispatch("/ai/async/path/v1/chat/completions");
                } else {
                    ctx.dispatch();
                }
            });
        }
    }

    /** An unprotected legacy front servlet that forwards its chat calls to the model endpoint (by path). */
    final class Legacy extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp)
                throws IOException, jakarta.servlet.ServletException {
            String to = req.getPathInfo().startsWith("/path/") ? "/ai/async/path/v1/chat/completions"
                    : "/ai/async/v1/chat/completions";
            req.getRequestDispatcher(to).forward(req, resp);
        }
    }

    static final String ASYNC_ASK = "{\"model\":\"gpt-4.1\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Tell me about the lighthouse keeper.\"}],\"max_tokens\":1000}";

    void assertAsyncChargedItsUsage(String path) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, ASYNC_ASK);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, r.statusCode(), figures(s, r, a)),
                () -> assertEquals(1, calls.of(s), figures(s, r, a)),
                () -> assertEquals(ASYNC_IN + ASYNC_OUT, a.used(), path + ": " + figures(s, r, a)),
                () -> assertEquals(0, a.reserved(), path + ": " + figures(s, r, a)));
    }

    /** A forward from an unprotected front servlet to the async model endpoint, which dispatches back with dispatch(). */
    @Test
    void anAsyncModelCallReachedByAForwardIsChargedItsUsage() {
        assertAsyncChargedItsUsage("/legacy/v1/chat/completions");
    }

    /** As above, the async dispatch by path ({@code dispatch(String)}). */
    @Test
    void anAsyncModelCallReachedByAForwardAndDispatchedByPathIsChargedItsUsage() {
        assertAsyncChargedItsUsage("/legacy/path/v1/chat/completions");
    }

    /** Control: the async model endpoint called directly. */
    @Test
    void controlAnAsyncModelCallIsChargedItsUsage() {
        assertAsyncChargedItsUsage("/ai/async/v1/chat/completions");
    }

    /** Control: called directly, dispatched by path. */
    @Test
    void controlAnAsyncModelCallDispatchedByPathIsChargedItsUsage() {
        assertAsyncChargedItsUsage("/ai/async/path/v1/chat/completions");
    }

    /**
     * The client of a new subject reads the answer's first {@code cut} bytes, hangs up; the charge is at least the
     * prompt and the whole characters of the story sent.
     */
    void assertCutChargedItsText(int cut, String what) throws Exception {
        String s = subject();
        int whole = (cut - STORY_START) / 3;
        // the last ten whole characters before the cut: all past the relay's piece boundary at 12,288
        String until = STORY.substring(whole - 10, whole);
        String read = HANG_UPS.postAndHangUpAfter(container.port(), "/ai/relay/cut/" + cut, s, ASK, until);
        assertTrue(read.startsWith("HTTP/1.1 200") && read.contains(until), read.lines().findFirst().orElse(""));
        String sent = STORY.substring(0, whole);
        long floor = TOKENS.estimate(PROMPT) + TOKENS.estimate(sent);
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(1, calls.of(s), "model calls"),
                () -> assertTrue(a.used() >= floor, kind() + ": " + what + ": " + cut + " of the answer's " + ANSWER.length
                        + " bytes went out (" + whole + " whole characters of its Japanese story, " + TOKENS.estimate(sent)
                        + " tokens by the filter's estimator), then the client hung up and the relay stopped: charged "
                        + a.used() + " of " + a.limit() + ", at least the prompt and that text (" + floor + ") expected: "
                        + ledger(s)));
    }

    // ------------------------------------------------------------------ findings

    /** The cut one byte into a character (its first of three bytes went out). */
    @Test
    void anAnswerCutOneByteIntoAJapaneseCharacterIsChargedTheTextItCarried() throws Exception {
        assertCutChargedItsText(ON_BOUNDARY + 1, "cut one byte into a character");
    }

    /** The cut two bytes into a character. */
    @Test
    void anAnswerCutTwoBytesIntoAJapaneseCharacterIsChargedTheTextItCarried() throws Exception {
        assertCutChargedItsText(ON_BOUNDARY + 2, "cut two bytes into a character");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same answer cut on a character's boundary, inside the story's string. */
    @Test
    void controlAnAnswerCutOnACharacterBoundaryIsChargedTheTextItCarried() throws Exception {
        assertCutChargedItsText(ON_BOUNDARY, "cut on a character's boundary");
    }

    /** Control: the whole answer, read to its end: charged its usage. */
    @Test
    void controlTheWholeAnswerReadToItsEndIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/relay/whole"), s, ASK);
        assertEquals(ANSWER.length, r.body().getBytes(StandardCharsets.UTF_8).length, "the whole document");
        assertServedOnceAndCharged(s, r, CALL);
    }
}
