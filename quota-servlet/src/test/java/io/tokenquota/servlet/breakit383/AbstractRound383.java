package io.tokenquota.servlet.breakit383;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 383 of issue 11: the HTTP transport edge. A relay passes its provider's answer on with the
 * content codings as the upstream (or a proxy in between) listed them; a client's HEAD on a GET model
 * endpoint; {@code Expect: 100-continue} with the body sent late or never.
 *
 * <p>The answer is OpenAI's chat completion object (platform.openai.com/docs/api-reference/chat/object:
 * {@code id, object, created, model, choices[{index, message{role, content}, finish_reason}],
 * usage{prompt_tokens, completion_tokens, total_tokens}}), gzip-compressed as OpenAI sends it to a client
 * that accepts gzip. Content codings (RFC 9110 section 8.4): {@code Content-Encoding} is a list of the
 * codings applied, in order; a recipient combines several field lines of it into one list (section 5.3);
 * {@code identity} means no coding. Clients decode such lists: Python's httpx (the OpenAI and Anthropic
 * Python SDKs' transport) splits the field on commas and chains a decoder per coding, {@code identity}
 * among them (httpx/_models.py {@code Response._get_content_decoder}, httpx/_decoders.py
 * {@code SUPPORTED_DECODERS = {"identity", "gzip", "deflate", "br", "zstd"}}, {@code MultiDecoder}); curl
 * does the same for {@code --compressed} (lib/content_encoding.c, {@code Curl_build_unencoding_stack}).
 * So the model's answer and its usage reach such a client whole.
 *
 * <p>Rule (docs/decisions.md, "Answers the filter cannot read"; README settlement): the filter inflates
 * gzip and deflate as they pass and charges the usage it reads; only brotli and zstd (no JDK decoder)
 * are charged the estimate.
 */
abstract class AbstractRound383 extends ModelCallRound {
    /** The relay's system prompt and retrieved documents count in the provider's prompt_tokens. */
    static final long PROMPT = 9_000;
    static final long COMPLETION = 6_800;

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        QuotaFilter f = filterFor("/ai/").modelWeights(ONE_UNIT_A_TOKEN).build();
        return filteredAi(f)
                .servlet("relay", new Relay(), "/ai/relay/*")
                .servlet("events", new EventsByGet(), "/ai/events/*");
    }

    static byte[] answer() {
        return ChatCompletions.contractNotice(PROMPT, COMPLETION);
    }

    static byte[] gzip(byte[] body) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(b)) {
            z.write(body);
        }
        return b.toByteArray();
    }

    /**
     * A relay that passes its provider's gzip answer on with the Content-Encoding field lines it came with:
     * the path names them ({@code /plain}: not compressed; {@code /gzip}; {@code /upper}: {@code GZIP};
     * {@code /xgzip}: {@code x-gzip}; {@code /gzip-identity}: {@code gzip, identity} in one line;
     * {@code /identity-gzip}: the lines {@code identity} then {@code gzip}, copied one by one as a relay
     * copies its upstream's header lines with {@code addHeader}).
     */
    class Relay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String how = req.getPathInfo().substring(1, req.getPathInfo().indexOf('/', 1));
            byte[] body = answer();
            switch (how) {
                case "plain" -> { }
                case "gzip" -> resp.setHeader("Content-Encoding", "gzip");
                case "upper" -> resp.setHeader("Content-Encoding", "GZIP");
                case "xgzip" -> resp.setHeader("Content-Encoding", "x-gzip");
                case "gzip-identity" -> resp.setHeader("Content-Encoding", "gzip, identity");
                case "identity-gzip" -> {
                    resp.addHeader("Content-Encoding", "identity");
                    resp.addHeader("Content-Encoding", "gzip");
                }
                default -> throw new IllegalStateException(how);
            }
            if (!how.equals("plain")) {
                body = gzip(body);
            }
            resp.setContentType("application/json");
            resp.setContentLength(body.length);
            ServletOutputStream out = resp.getOutputStream();
            out.write(body);
        }
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the termination clauses.\"}],\"max_tokens\":7000}";

    long relayed(String s, String how) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/relay/" + how + "/v1/chat/completions"), s, CHAT,
                "Accept-Encoding", "gzip");
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, calls.of(s));
        return a.used();
    }

    /** Control: the relay passes the answer uncompressed. */
    @Test
    void aPlainRelayedAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(PROMPT + COMPLETION, relayed(s, "plain"), kind() + ": " + ledger(s));
    }

    /** Control: {@code Content-Encoding: gzip}. */
    @Test
    void aGzipAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(PROMPT + COMPLETION, relayed(s, "gzip"), kind() + ": " + ledger(s));
    }

    /** Control: the coding in upper case (codings are case-insensitive, RFC 9110 section 8.4.1). */
    @Test
    void anUpperCaseGzipAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(PROMPT + COMPLETION, relayed(s, "upper"), kind() + ": " + ledger(s));
    }

    /** Control: {@code x-gzip} (RFC 9110 section 8.4.1.3: a recipient SHOULD treat it as gzip). */
    @Test
    void anXGzipAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(PROMPT + COMPLETION, relayed(s, "xgzip"), kind() + ": " + ledger(s));
    }

    /**
     * Found and fixed: {@code Content-Encoding: gzip, identity} is gzip (identity is no coding); httpx and curl
     * decode it and read the answer. The filter reads the whole field value as one coding name, finds none
     * it knows, and charges the estimate (7,000 + input) for 15,800 the provider billed.
     */
    @Test
    void aGzipThenIdentityAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(PROMPT + COMPLETION, relayed(s, "gzip-identity"), kind() + ": " + ledger(s));
    }

    /**
     * Found and fixed: the field on two lines, {@code identity} then {@code gzip}: one list {@code identity, gzip}
     * (RFC 9110 section 5.3), gzip. The filter reads only the first line ({@code getHeader}), takes the
     * answer for plain, cannot read it, and charges the estimate.
     */
    @Test
    void anIdentityLineThenAGzipLineAnswerIsChargedItsUsage() {
        String s = subject();
        assertEquals(PROMPT + COMPLETION, relayed(s, "identity-gzip"), kind() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ HEAD on a GET model endpoint

    /**
     * An endpoint that runs the model on a GET (an EventSource client's request, prompt in the query
     * string: EventSource can send only a GET, html.spec.whatwg.org/multipage/server-sent-events.html) and
     * streams OpenAI's chunks with usage (stream_options.include_usage; platform.openai.com/docs/api-reference/
     * chat/streaming: the last chunk has empty choices and the usage). A HEAD reaches its doGet through
     * HttpServlet.doHead: the model runs, the container drops the body.
     */
    class EventsByGet extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            resp.getWriter().write(RelayedAnswers.streamText(PROMPT, COMPLETION));
            resp.getWriter().flush();
        }
    }

    static String raw(int port, String request, boolean expectContinue, byte[] body) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            ByteArrayOutputStream seen = new ByteArrayOutputStream();
            if (expectContinue) {
                // the interim answer: "HTTP/1.1 100 Continue\r\n\r\n"
                while (!seen.toString(StandardCharsets.ISO_8859_1).contains("\r\n\r\n")) {
                    int b = in.read();
                    if (b < 0) {
                        break;
                    }
                    seen.write(b);
                }
                if (body == null) {
                    // the client gives up: it never sends the body
                    socket.setSoLinger(true, 0);
                    return seen.toString(StandardCharsets.ISO_8859_1);
                }
            }
            if (body != null) {
                out.write(body);
                out.flush();
            }
            seen.write(in.readAllBytes());
            return seen.toString(StandardCharsets.ISO_8859_1);
        }
    }

    /** Control: the GET itself is charged its usage. */
    @Test
    void aGetOfTheEventStreamIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.get(container.uri("/ai/events/chat?prompt=Tell+me+a+story"),
                "x-user-id", s, "Accept", "text/event-stream");
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + COMPLETION, a.used(), figures(s, r, a));
    }

    /** A HEAD of the same endpoint runs the model: charged the usage it reported, not the estimate. */
    @Test
    void aHeadOfTheEventStreamIsChargedItsUsage() throws IOException {
        String s = subject();
        String answer = raw(container.port(), "HEAD /ai/events/chat?prompt=Tell+me+a+story HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Connection: close\r\nAccept: text/event-stream\r\nx-user-id: " + s + "\r\n\r\n", false, null);
        QuotaAccount a = settled(s);
        assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + COMPLETION, a.used(), kind() + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ Expect: 100-continue

    static String chatHead(String s, int length) {
        return "POST /ai/relay/plain/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + length + "\r\nExpect: 100-continue\r\n"
                + "x-user-id: " + s + "\r\n\r\n";
    }

    /**
     * Control: curl's way (it sends {@code Expect: 100-continue} for a body over 1 MB, or when asked;
     * everything.curl.dev/http/post/expect100), the body after the interim 100: charged the usage.
     */
    @Test
    void aBodySentAfterContinueIsChargedItsUsage() throws IOException {
        String s = subject();
        byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
        String answer = raw(container.port(), chatHead(s, body.length), true, body);
        QuotaAccount a = settled(s);
        assertTrue(answer.contains("HTTP/1.1 200"), answer);
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + COMPLETION, a.used(), kind() + ": " + ledger(s));
    }

    /** The client hangs up after the 100 without sending its body: no model call, nothing charged or held. */
    @Test
    void aBodyNeverSentIsNotCharged() throws Exception {
        String s = subject();
        raw(container.port(), chatHead(s, CHAT.length()), true, null);
        // a later call of the same subject, on a connection of its own, settles after the first gave up
        QuotaAccount a = settled(s);
        assertEquals(0, calls.of(s));
        assertEquals(0, a.used(), kind() + ": " + ledger(s));
        assertEquals(0, a.reserved(), kind() + ": " + ledger(s));
    }
}
