package io.tokenquota.servlet.breakit103;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.CountingModel;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 103 of issue 11: the items checked one by one with inputs of other providers and
 * encodings than before. A relay that passes its upstream's answer on as it came, compressed with
 * {@code zstd} (which Cloudflare-fronted APIs serve to clients asking for it, as browsers and curl
 * do), carries the provider's usage in every byte; the model ran and reported what it used, so that
 * figure is what must be charged, not the hold of a request that named no output budget. Besides: a
 * {@code PATCH} of a Gemini request to a POST-only endpoint (405, no model), a Gemini request labelled
 * {@code application/octet-stream} (its {@code generationConfig.maxOutputTokens} must still be held),
 * a Gemini stream whose async timeout fires after the whole answer was written, and a gzip relay of
 * an Anthropic stream with cache reads.
 */
abstract class AbstractRound103 extends ModelCallRound {
    /** An OpenAI chat completion that used 9,000 tokens (a long answer: the request named no max_tokens). */
    static final String OPENAI_ANSWER = "{\"id\":\"chatcmpl-103\",\"object\":\"chat.completion\",\"created\":1735689600,"
            + "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
            + "\"The report covers three quarters of revenue.\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":400,\"completion_tokens\":8600,\"total_tokens\":9000}}";

    /**
     * An Anthropic Messages stream whose prompt was read from the cache: 9,000 cache-read input tokens,
     * 12 fresh input tokens, 300 output tokens; 9,312 in all.
     */
    static final String ANTHROPIC_STREAM = "event: message_start\n"
            + "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_103\",\"type\":\"message\",\"role\":\"assistant\","
            + "\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
            + "\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":9000,"
            + "\"output_tokens\":1}}}\n\n"
            + "event: content_block_start\n"
            + "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
            + "event: content_block_delta\n"
            + "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Revenue grew.\"}}\n\n"
            + "event: content_block_stop\n"
            + "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
            + "event: message_delta\n"
            + "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
            + "\"usage\":{\"output_tokens\":300}}\n\n"
            + "event: message_stop\n"
            + "data: {\"type\":\"message_stop\"}\n\n";

    static final long ANTHROPIC_TOTAL = 12 + 9_000 + 300;

    /** A Gemini stream (alt=sse) whose last chunk ends the answer and counts 40 + 5,000 tokens. */
    static final String GEMINI_STREAM = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Once upon\"}],"
            + "\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":40,\"totalTokenCount\":40},"
            + "\"modelVersion\":\"gemini-2.0-flash\"}\r\n\r\n"
            + "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" a time.\"}],\"role\":\"model\"},"
            + "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":40,"
            + "\"candidatesTokenCount\":5000,\"totalTokenCount\":5040},\"modelVersion\":\"gemini-2.0-flash\"}\r\n\r\n";

    static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the attached quarterly report.\"}]}";
    static final String CLAUDE = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":400,\"stream\":true,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the cached report.\"}]}";
    static final String GEMINI = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Write a long story about a "
            + "lighthouse keeper.\"}]}],\"generationConfig\":{\"maxOutputTokens\":8000,\"temperature\":0.7}}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("zstd-json", relay("application/json", "zstd", OPENAI_ANSWER), "/ai/relay/zstd-json")
                .servlet("zstd-sse", relay("text/event-stream", "zstd", ANTHROPIC_STREAM), "/ai/relay/zstd-sse")
                .servlet("gzip-sse", relay("text/event-stream", "gzip", ANTHROPIC_STREAM), "/ai/relay/gzip-sse")
                // a Gemini generateContent endpoint that only takes POST: any other method is the servlet API's 405
                .servlet("gemini-post-only", CountingModel.answering(calls, "application/json", GEMINI_ANSWER),
                        "/ai/gemini/post-only")
                .servlet("gemini-no-usage", new GeminiNoUsage(), "/ai/gemini/no-usage")
                .servlet("gemini-async", new GeminiAsyncTimeout(), "/ai/gemini/async");
    }

    // ------------------------------------------------------------------ encodings

    /**
     * A zstd frame (RFC 8878) holding {@code data} in raw blocks: magic number, a frame header with a
     * 128 KiB window and no content size, then raw blocks of at most 128 KiB, the last one marked.
     * Any zstd decoder (the {@code zstd} tool, browsers, zstd-jni) reads it back.
     */
    static byte[] zstd(byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(data.length + 16);
        out.writeBytes(new byte[] {(byte) 0x28, (byte) 0xB5, (byte) 0x2F, (byte) 0xFD});
        out.write(0x00); // frame header descriptor: no content size, no checksum, no dictionary
        out.write(0x38); // window descriptor: exponent 7, mantissa 0 -> 2^17 bytes
        int off = 0;
        do {
            int n = Math.min(1 << 17, data.length - off);
            boolean last = off + n == data.length;
            int header = (last ? 1 : 0) | (n << 3); // block type 0: raw
            out.write(header & 0xFF);
            out.write((header >>> 8) & 0xFF);
            out.write((header >>> 16) & 0xFF);
            out.write(data, off, n);
            off += n;
        } while (off < data.length);
        return out.toByteArray();
    }

    static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(data);
        }
        return out.toByteArray();
    }

    // ------------------------------------------------------------------ the application

    /**
     * A relay that passes its provider's answer on unchanged: status, {@code Content-Type},
     * {@code Content-Encoding} and the compressed bytes as they came (no inflating and deflating again).
     */
    CountingModel relay(String type, String encoding, String answer) {
        return new CountedModel() {
            @Override
            protected void answer(Call call) throws IOException {
                HttpServletRequest req = call.req();
                HttpServletResponse resp = call.resp();
                byte[] plain = answer.getBytes(StandardCharsets.UTF_8);
                byte[] body = encoding.equals("zstd") ? zstd(plain) : gzip(plain);
                if (encoding.equals("zstd")) {
                    // an encoding the filter cannot read: the relay reports what its provider's client library
                    // read from the answer, as docs/decisions.md ("Answers the filter cannot read") asks
                    req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE,
                            OPENAI_ANSWER.equals(answer) ? 9_000L : ANTHROPIC_TOTAL);
                }
                resp.setStatus(200);
                resp.setContentType(type);
                resp.setHeader("Content-Encoding", encoding);
                resp.setContentLength(body.length);
                ServletOutputStream out = resp.getOutputStream();
                out.write(body);
                out.flush();
            }
        };
    }

    /** A Gemini answer of 40 + 60 tokens. */
    static final String GEMINI_ANSWER = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Once\"}],\"role\":\"model\"},"
            + "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":40,"
            + "\"candidatesTokenCount\":60,\"totalTokenCount\":100}}";

    /**
     * An endpoint that reads its body as JSON whatever its label (as Gemini-compatible proxies do) and
     * answers without usage: what it is charged is the hold.
     */
    final class GeminiNoUsage extends CountedModel {
        @Override
        protected void answer(Call call) throws IOException {
            assertTrue(call.text().contains("maxOutputTokens"), "the endpoint gets the JSON request");
            call.resp().setContentType("application/json");
            call.resp().getWriter().write("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Once upon a time\"}],"
                    + "\"role\":\"model\"},\"finishReason\":\"STOP\"}]}");
        }
    }

    /**
     * A Gemini stream served asynchronously with a one-second timeout: the whole answer, its final
     * usage included, is written and flushed, then the handler forgets to complete, and the container's
     * timeout ends the request.
     */
    final class GeminiAsyncTimeout extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            AsyncContext async = req.startAsync();
            async.setTimeout(1_000);
            String s = req.getHeader("x-user-id");
            async.start(() -> {
                try {
                    calls.count(s);
                    HttpServletResponse r = (HttpServletResponse) async.getResponse();
                    r.setContentType("text/event-stream");
                    r.setCharacterEncoding("UTF-8");
                    ServletOutputStream out = r.getOutputStream();
                    out.write(GEMINI_STREAM.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                } catch (IOException e) {
                    // the client went; the timeout ends the request either way
                }
            });
        }
    }

    // ------------------------------------------------------------------ the tests

    /**
     * A relay passes the provider's zstd-compressed chat completion on as it came. The answer reports
     * 9,000 tokens (8,600 of output: the request named no {@code max_tokens}), so 9,000 must be
     * charged; charging the hold (the request's text plus the default output budget, about 1,000)
     * would give 8,000 tokens of model output away on every such call. The filter cannot read zstd, so
     * the relay reports the provider's figure, and that is charged.
     */
    @Test
    void zstdRelayedChatCompletionIsChargedItsUsage() throws Exception {
        String s = subject();
        assertCharged(s, TestHttp.postJson(container.uri("/ai/relay/zstd-json"), s, CHAT), 200, 1, 9_000,
                "a zstd-encoded answer's usage is the charge");
    }

    /**
     * The same relay for an Anthropic Messages stream whose prompt came from the cache (9,000 cache
     * reads, 12 input, 300 output): 9,312 must be charged, not the hold of a 400-token budget; the
     * relay reports it, as above.
     */
    @Test
    void zstdRelayedAnthropicStreamIsChargedItsCachedInput() throws Exception {
        String s = subject();
        assertCharged(s, TestHttp.postJson(container.uri("/ai/relay/zstd-sse"), s, CLAUDE), 200, 1, ANTHROPIC_TOTAL,
                "a zstd-encoded stream's usage is the charge");
    }

    /** Control: the same Anthropic stream relayed gzip-compressed is charged its 9,312. */
    @Test
    void gzipRelayedAnthropicStreamIsChargedItsCachedInput() throws Exception {
        String s = subject();
        assertCharged(s, TestHttp.postJson(container.uri("/ai/relay/gzip-sse"), s, CLAUDE), 200, 1, ANTHROPIC_TOTAL, "");
    }

    /**
     * A {@code PATCH} of a Gemini request asking for 8,000 output tokens, sent to an endpoint that only
     * takes POST: the servlet API answers 405 and no model runs, so nothing may be charged.
     */
    @Test
    void patchOfGeminiRequestToPostOnlyEndpointIsFree() {
        String s = subject();
        HttpRequest req = TestHttp.requestAs(container.uri("/ai/gemini/post-only"), s, "Content-Type", "application/json")
                .method("PATCH", HttpRequest.BodyPublishers.ofString(GEMINI)).build();
        HttpResponse<String> r = TestHttp.send(req);
        // 405 where the servlet API knows PATCH, 501 where it does not (Servlet 6.0 answers PATCH with 501)
        assertTrue(r.statusCode() == 405 || r.statusCode() == 501, "status " + r.statusCode());
        QuotaAccount a = settled(s);
        assertEquals(0, calls.of(s));
        assertEquals(0, a.used(), "a 405 reached no model: " + ledger(s));
        assertEquals(0, a.reserved());
    }

    /**
     * A Gemini request asking for 8,000 output tokens, labelled {@code application/octet-stream}: the
     * endpoint reads it as JSON, so the hold (and the charge of an answer without usage) must count
     * the budget, as it would under {@code application/json}.
     */
    @Test
    void geminiBudgetCountsUnderOctetStreamLabel() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/gemini/no-usage"),
                GEMINI.getBytes(StandardCharsets.UTF_8), "x-user-id", s, "Content-Type", "application/octet-stream");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(a.used() >= 8_000, "maxOutputTokens 8000 is held whatever the label; used " + a.used() + " "
                + ledger(s));
    }

    /**
     * A Gemini stream delivered whole (its last chunk ends the answer and counts 5,040 tokens), then the
     * async cycle times out because the handler never completed it: the usage the client received is
     * charged, the timeout does not release it.
     */
    @Test
    void geminiStreamTimedOutAfterItsAnswerIsCharged() throws Exception {
        String s = subject();
        HttpRequest req = TestHttp.jsonPost(container.uri("/ai/gemini/async"), s, GEMINI);
        // the client reads the whole answer; how the container then ends the connection is its own affair
        HttpResponse<java.util.stream.Stream<String>> r = TestHttp.client().send(req, HttpResponse.BodyHandlers.ofLines());
        TestHttp.readUntil(r, line -> line.contains("\"totalTokenCount\":5040"), "the final chunk never came");
        r.body().close();
        QuotaAccount a = chargedAtLeast(s, 1);
        assertEquals(1, calls.of(s));
        assertEquals(5_040, a.used(), "an async timeout after the answer charges its usage: " + ledger(s));
    }
}
