package io.tokenquota.servlet.breakit113;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 113 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * reading the usage of answers as relays really write them. A relay that passes on its provider's
 * answer compressed with raw deflate (which the filter says it inflates), and a relay that passes on
 * the provider's UTF-8 bytes under the media type the client's {@code Accept} named (Spring's
 * {@code byte[]} converter), here a charset whose double-byte characters take a backslash as their
 * second byte (GBK, Big5, Shift_JIS).
 *
 * <p>Every model call here reads a 15,000-token handbook the application adds on the server side (the
 * client sends one line), so its usage, 18,000 tokens, is far above the request's estimate (about
 * 1,050): a call whose usage the filter misses is charged the estimate and underpaid 17 times over.
 */
abstract class AbstractRound113 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    /** What each model call really costs: the handbook and the question in, the summary out. */
    static final long USAGE = 18_000;

    static String subject() {
        return "u113-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** An Anthropic Messages request as the client sends it: one line, a 1,024-token budget. */
    static final String ASK = "{\"model\":\"claude-sonnet-4-20250514\",\"max_tokens\":1024,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the staff handbook\"}]}";

    /** An OpenAI chat request: one line, a 1,024-token budget. */
    static final String ASK_OPENAI = "{\"model\":\"gpt-4o\",\"max_tokens\":1024,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"用中文写一个问候程序\"}]}";

    /** The provider's answer, as Anthropic's Messages API writes it (usage as it wrote it before its cache_creation object). */
    static final String ANTHROPIC_ANSWER = "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
            + "\"model\":\"claude-sonnet-4-20250514\",\"content\":[{\"type\":\"text\",\"text\":\"Blue stone dark open quota. "
            + "River winter, blue green dark south answer model open light model north.\"}],\"stop_reason\":\"end_turn\","
            + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":15000,\"cache_creation_input_tokens\":0,"
            + "\"cache_read_input_tokens\":0,\"output_tokens\":3000}}";

    /** Anthropic's stream of the same call, event by event. */
    static final String[] ANTHROPIC_EVENTS = {
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-20250514\",\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":15000,\"cache_creation_input_tokens\":0,"
                + "\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"The handbook says\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                + "\"usage\":{\"output_tokens\":3000}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    };

    /**
     * An OpenAI chat completion whose text is Chinese with ASCII quotes in it (the client asked for a
     * "你好世界" program), written by the provider in UTF-8: the quote follows 写一个, whose last UTF-8
     * byte and the escaping backslash make one GBK character.
     */
    static final String OPENAI_ANSWER = "{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":\"chat.completion\","
            + "\"created\":1741569952,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
            + "\"content\":\"写一个\\\"你好世界\\\"程序：print(\\\"你好世界\\\")\",\"refusal\":null},\"logprobs\":null,"
            + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":15000,\"completion_tokens\":3000,\"total_tokens\":18000}}";

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        QuotaFilter quota = filterFor("/ai/").build();
        return Deployment.create()
                .filter("quota", quota, "/*")
                .servlet("raw-deflate", new DeflateRelay(true), "/ai/raw/v1/messages")
                .servlet("zlib-deflate", new DeflateRelay(false), "/ai/zlib/v1/messages")
                .servlet("raw-deflate-stream", new DeflateStreamRelay(), "/ai/stream/v1/messages")
                .servlet("bytes-relay", new BytesRelay(), "/ai/bytes/v1/chat/completions")
                .onStartup(quota::registerByServletName);
    }

    static byte[] deflate(byte[] plain, boolean raw) {
        Deflater d = new Deflater(Deflater.DEFAULT_COMPRESSION, raw);
        d.setInput(plain);
        d.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        while (!d.finished()) {
            out.write(buf, 0, d.deflate(buf));
        }
        d.end();
        return out.toByteArray();
    }

    // ------------------------------------------------------------------ the host's relays

    /**
     * A relay that passes the provider's answer on as it came: the provider compressed it with
     * {@code Content-Encoding: deflate}, raw (as many servers send deflate) or zlib-wrapped.
     */
    class DeflateRelay extends HttpServlet {
        final boolean raw;

        DeflateRelay(boolean raw) {
            this.raw = raw;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            byte[] body = deflate(ANTHROPIC_ANSWER.getBytes(StandardCharsets.UTF_8), raw);
            resp.setContentType("application/json");
            resp.setHeader("Content-Encoding", "deflate");
            resp.setContentLength(body.length);
            resp.getOutputStream().write(body);
        }
    }

    /**
     * A streaming relay that compresses the provider's events with raw deflate itself, flushing the
     * compressor after each event so that the client sees each one at once.
     */
    class DeflateStreamRelay extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            resp.setHeader("Content-Encoding", "deflate");
            OutputStream out = resp.getOutputStream();
            DeflaterOutputStream deflating = new DeflaterOutputStream(out, new Deflater(Deflater.DEFAULT_COMPRESSION, true), true);
            for (String event : ANTHROPIC_EVENTS) {
                deflating.write(event.getBytes(StandardCharsets.UTF_8));
                deflating.flush();
                resp.flushBuffer();
            }
            deflating.finish();
            deflating.flush();
        }
    }

    /**
     * A relay that returns the provider's bytes unchanged under the media type the client's
     * {@code Accept} asked for (what Spring's {@code byte[]} converter does when the client accepts any type).
     */
    class BytesRelay extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String accept = req.getHeader("Accept");
            resp.setContentType(accept == null || accept.contains("*") ? "application/json" : accept);
            String answer = req.getQueryString() == null ? OPENAI_ANSWER
                    : OPENAI_ANSWER.replace("写一个\\\"你好世界\\\"程序：print(\\\"你好世界\\\")", "你好世界");
            byte[] body = answer.getBytes(StandardCharsets.UTF_8);
            resp.setContentLength(body.length);
            resp.getOutputStream().write(body);
        }
    }

    void assertCharged(String s, String what) {
        long used = settled(s).used();
        assertEquals(USAGE, used, what + ": the call reported " + USAGE + " tokens and was charged " + used + ": " + ledger(s));
    }

    void assertOneCallCharged(String path, String body, String what, String... headers) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body, headers);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        assertCharged(s, what);
    }

    // ------------------------------------------------------------------ compressed answers

    /**
     * Control: the relay passes on an Anthropic answer compressed with zlib-wrapped deflate; the filter
     * inflates it and charges the 18,000 tokens it reports.
     */
    @Test
    void aZlibDeflatedAnswerIsChargedItsUsage() {
        assertOneCallCharged("/ai/zlib/v1/messages", ASK, "zlib deflate");
    }

    /**
     * The same answer compressed with raw deflate (no zlib header), which the filter says it reads: the
     * compressed bytes of a usual Anthropic answer start with the byte 'e' (a dynamic block's header),
     * which the filter takes for the start of a plain answer, so it inflates nothing, finds no usage
     * and charges the estimate (about 1,050) for a call that cost 18,000.
     */
    @Test
    void aRawDeflatedAnswerIsChargedItsUsage() {
        assertOneCallCharged("/ai/raw/v1/messages", ASK, "raw deflate");
    }

    /**
     * Served past the allowance: two calls of 18,000 tokens relayed with raw deflate. After the first is
     * charged what it reported, 2,000 tokens are left, and the second (held at about 1,050) is served,
     * but a third must be refused; with the usage missed, the user keeps being served.
     */
    @Test
    void rawDeflatedAnswersDoNotServeAUserPastTheAllowance() {
        String s = subject();
        int served = 0;
        for (int i = 0; i < 4; i++) {
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/raw/v1/messages"), s, ASK);
            if (r.statusCode() == 200) {
                served++;
            } else {
                assertEquals(429, r.statusCode());
            }
        }
        long used = settled(s).used();
        assertEquals(2, served, "served " + served + " calls of " + USAGE + " tokens each (" + served * USAGE
                + ") on a " + ALLOWANCE + " allowance, charged " + used + ": " + ledger(s));
    }

    /**
     * A streaming relay compressing Anthropic's events with raw deflate, flushed per event: the first
     * flush's bytes start with 'd' (a non-final dynamic block), which the filter takes for the start of
     * "data:", so the stream is read as plain events, nothing is found, and the estimate is charged.
     */
    @Test
    void aRawDeflatedStreamIsChargedItsUsage() {
        assertOneCallCharged("/ai/stream/v1/messages", ASK, "raw deflate stream");
    }

    // ------------------------------------------------------------------ a charset the client names

    /** Control: the provider's UTF-8 answer relayed under {@code application/json} is charged its usage. */
    @Test
    void aRelayedAnswerUnderItsOwnTypeIsChargedItsUsage() {
        assertOneCallCharged("/ai/bytes/v1/chat/completions", ASK_OPENAI, "application/json",
                "Accept", "application/json");
    }

    /**
     * The client sends {@code Accept: application/json;charset=GBK}: the relay labels the provider's
     * UTF-8 bytes so. The filter reads them as GBK, where the last byte of 写一个 and the backslash that
     * escapes the quote after it are one character: the quote ends the string early, the rest is no
     * JSON, the parse stops before the usage at the end, and the call is charged its estimate.
     */
    @Test
    void aRelayedAnswerLabelledGbkIsChargedItsUsage() {
        assertOneCallCharged("/ai/bytes/v1/chat/completions", ASK_OPENAI, "labelled GBK",
                "Accept", "application/json;charset=GBK");
    }

    /**
     * Control: the same relay and GBK label, the provider's answer without a quote after Chinese text
     * ("你好世界"): read as GBK it is still JSON, and its 18,000 tokens are charged. So what hides the
     * usage above is the backslash taken into a double-byte character.
     */
    @Test
    void aRelayedAnswerLabelledGbkWithoutQuotesIsChargedItsUsage() {
        assertOneCallCharged("/ai/bytes/v1/chat/completions?plain", ASK_OPENAI, "labelled GBK, no quotes",
                "Accept", "application/json;charset=GBK");
    }

    /** The same with {@code Accept: application/json;charset=Big5}. */
    @Test
    void aRelayedAnswerLabelledBig5IsChargedItsUsage() {
        assertOneCallCharged("/ai/bytes/v1/chat/completions", ASK_OPENAI, "labelled Big5",
                "Accept", "application/json;charset=Big5");
    }
}
