package io.tokenquota.servlet.breakit20;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.AsyncTimeouts;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 20 (adv11 issue: "no model call goes unpaid, nothing that never reached a model is charged").
 */
abstract class AbstractRound20 extends H2FilterRound {
    static final Map<String, AtomicInteger> CALLS = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> HUNG_UP = new ConcurrentHashMap<>();
    static final Map<String, Boolean> WRITE_FAILED = new ConcurrentHashMap<>();

    static int calls(String subject) {
        AtomicInteger n = CALLS.get(subject);
        return n == null ? 0 : n.get();
    }

    static void called(HttpServletRequest req) {
        CALLS.computeIfAbsent(String.valueOf(req.getHeader("x-user-id")), k -> new AtomicInteger()).incrementAndGet();
    }

    static String subject() {
        return "u20-" + UUID.randomUUID().toString().substring(0, 12);
    }

    // ------------------------------------------------------------ Gemini streamGenerateContent?alt=sse

    /** Prompt tokens the Gemini mock reports. */
    static final int PROMPT_TOKENS = 10;
    /** Output tokens of the answer the Gemini mock streams: 500 chunks of 10 one-token words. */
    static final int OUTPUT_TOKENS = 5_000;

    /**
     * One chunk of a Gemini stream as the Gemini API (generativelanguage.googleapis.com, gemini-2.0-flash)
     * sends it: every chunk before the last carries {@code usageMetadata} with the prompt count only,
     * {@code totalTokenCount} = {@code promptTokenCount}; only the last chunk (with {@code finishReason})
     * carries {@code candidatesTokenCount}. (Recorded streams: e.g. coder/aisdk-go's google_test.go.)
     */
    static String geminiChunk(String text) {
        return "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"" + text + "\"}],\"role\": \"model\"}}],"
                + "\"usageMetadata\": {\"promptTokenCount\": " + PROMPT_TOKENS + ",\"totalTokenCount\": " + PROMPT_TOKENS
                + ",\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": " + PROMPT_TOKENS + "}]},"
                + "\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"ibRCaOfLGfuQ1PIPqNma8Aw\"}\r\n\r\n";
    }

    static String geminiLastChunk(int output) {
        return "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \".\"}],\"role\": \"model\"},"
                + "\"finishReason\": \"STOP\"}],\"usageMetadata\": {\"promptTokenCount\": " + PROMPT_TOKENS
                + ",\"candidatesTokenCount\": " + output + ",\"totalTokenCount\": " + (PROMPT_TOKENS + output)
                + ",\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": " + PROMPT_TOKENS + "}],"
                + "\"candidatesTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": " + output + "}]},"
                + "\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"ibRCaOfLGfuQ1PIPqNma8Aw\"}\r\n\r\n";
    }

    static void writeGeminiChunk(OutputStream out) throws IOException {
        out.write(geminiChunk(" word word word word word word word word word word").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** 5,000 output tokens of a Gemini stream, each chunk flushed; not the last chunk. */
    static void writeGeminiText(OutputStream out) throws IOException {
        for (int i = 0; i < OUTPUT_TOKENS / 10; i++) {
            writeGeminiChunk(out);
        }
    }

    /**
     * A relay of Gemini's streamGenerateContent?alt=sse: every chunk is passed on as it comes. The
     * client hangs up after reading 5,000 tokens; the relay's next write fails and it stops (cancelling
     * its upstream call), as any proxy does, so the last chunk with candidatesTokenCount never comes.
     */
    public static class GeminiRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            called(req);
            String subject = req.getHeader("x-user-id");
            resp.setStatus(200);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            writeGeminiText(out);
            out.write(": 5000 tokens sent\r\n\r\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            CountDownLatch hungUp = HUNG_UP.get(subject);
            if (hungUp != null) {
                try {
                    hungUp.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try {
                for (int i = 0; i < 2_000; i++) {
                    writeGeminiChunk(out);
                }
                out.write(geminiLastChunk(OUTPUT_TOKENS + 20_000).getBytes(StandardCharsets.UTF_8));
                out.flush();
                WRITE_FAILED.put(subject, false);
            } catch (IOException e) {
                WRITE_FAILED.put(subject, true);
            }
        }
    }

    /**
     * An async SSE endpoint (an SseEmitter with a timeout) relaying a Gemini stream: the whole answer
     * text (5,000 tokens) is sent, then the container's timeout fires before Gemini's last chunk came;
     * the emitter completes on timeout, as SseEmitter does. The same shape as round 19's Anthropic case.
     */
    public static class AsyncGeminiRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            called(req);
            resp.setStatus(200);
            resp.setContentType("text/event-stream");
            writeGeminiText(resp.getOutputStream());
            AsyncTimeouts.completeOnTimeout(req.startAsync(req, resp), 200);
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("gemini-relay", new GeminiRelay(), "/ai/gemini/stream")
                .servlet("gemini-async", new AsyncGeminiRelay(), "/ai/gemini/async")
                .servlet("local-upstream", new LocalUpstream(), "/ai/local/*");
    }

    static final String GEMINI = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Write a long story about a "
            + "lighthouse keeper.\"}]}],\"generationConfig\":{\"maxOutputTokens\":8000}}";

    static void readUntil(InputStream in, String marker) throws IOException {
        StringBuilder seen = new StringBuilder();
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) != -1) {
            seen.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
            if (seen.indexOf(marker) >= 0) {
                return;
            }
        }
        throw new AssertionError("the stream ended before " + marker + ": " + seen);
    }

    /**
     * The client reads 5,000 output tokens of a Gemini stream and hangs up before the last chunk. Every
     * chunk it read carried Gemini's running usageMetadata, which counts the prompt only (10) until the
     * last chunk: the filter takes it as the call's usage and charges 10. The output is free. (Round 19's
     * fix made Anthropic's message_start count provisional; Gemini's early counts are the same kind.)
     */
    @Test
    void geminiStreamHungUpBeforeItsLastChunkIsNotChargedOnlyThePrompt() throws Exception {
        String s = subject();
        CountDownLatch hungUp = new CountDownLatch(1);
        HUNG_UP.put(s, hungUp);
        byte[] body = GEMINI.getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket("127.0.0.1", container.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /ai/gemini/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            readUntil(socket.getInputStream(), ": 5000 tokens sent");
            socket.setSoLinger(true, 0);
        } finally {
            hungUp.countDown();
        }
        QuotaAccount a = settled(s);
        assertEquals(1, calls(s));
        assertEquals(Boolean.TRUE, WRITE_FAILED.get(s), "the relay noticed the hang-up");
        assertTrue(a.used() >= OUTPUT_TOKENS, "the client read " + OUTPUT_TOKENS
                + " output tokens of a Gemini stream (maxOutputTokens 8,000) before hanging up and was charged "
                + a.used() + "; ledger: " + ledger(s));
    }

    /**
     * The async variant: the whole answer text (5,000 tokens) is delivered, the container's async timeout
     * fires before Gemini's last chunk. Charged: the prompt-only running count (10).
     */
    @Test
    void geminiAsyncStreamTimedOutBeforeItsLastChunkIsNotChargedOnlyThePrompt() {
        String s = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/gemini/async"), GEMINI,
                "x-user-id", s, "Content-Type", "application/json");
        assertEquals(200, r.statusCode());
        assertTrue(r.body().split("word", -1).length > OUTPUT_TOKENS, "the client got the whole answer text");
        QuotaAccount a = settled(s);
        assertEquals(1, calls(s));
        assertTrue(a.used() >= OUTPUT_TOKENS, "the client received " + OUTPUT_TOKENS
                + " output tokens of a Gemini stream (maxOutputTokens 8,000) and was charged " + a.used()
                + "; ledger: " + ledger(s));
    }

    // ------------------------------------------------------------ budgets under a self-hosted server's own names

    static final com.fasterxml.jackson.databind.ObjectMapper MAPPER = new com.fasterxml.jackson.databind.ObjectMapper();

    /**
     * A pass-through proxy to a self-hosted OpenAI-compatible server (the upstream earlier rounds already
     * accept: llama.cpp's server, vLLM). How they read the output budget:
     * <ul>
     *   <li>llama.cpp server ({@code params_from_json_cmpl}): {@code n_predict = json_value(data, "n_predict",
     *       json_value(data, "max_tokens", default))}: {@code n_predict} wins over {@code max_tokens};</li>
     *   <li>vLLM's sampling parameters: {@code min_tokens}, the least the model must write (EOS is
     *       suppressed until then); {@code max_tokens} absent means the rest of the context.</li>
     * </ul>
     * The answer carries OpenAI usage, so what the model wrote is charged, after the call was served.
     */
    public static class LocalUpstream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            com.fasterxml.jackson.databind.JsonNode body = MAPPER.readTree(req.getInputStream());
            called(req);
            long budget = body.has("n_predict") ? body.path("n_predict").asLong()
                    : body.path("max_tokens").asLong(1_000);
            long written = Math.max(budget, body.path("min_tokens").asLong(0));
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"chatcmpl-20\",\"object\":\"chat.completion\",\"choices\":[],"
                    + "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":" + written
                    + ",\"total_tokens\":" + (20 + written) + "}}");
        }
    }

    static String chat(String budgetFields) {
        return "{\"model\":\"local\"," + budgetFields + ",\"messages\":[{\"role\":\"user\","
                + "\"content\":\"Write a very long story about a lighthouse keeper.\"}]}";
    }

    /** Spends 15,000 of the subject's 20,000 tokens with an ordinary call; 5,000 are left. */
    void spend15000(String s) {
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/local/v1/chat/completions"),
                chat("\"max_tokens\":14980"), "x-user-id", s, "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(15_000, settled(s).used(), ledger(s));
    }

    /** A call that asks for 16,000 output tokens with 5,000 left must be refused, not served and overdrawn. */
    void assertRefused(String s, String body, String what) {
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/local/v1/chat/completions"), body,
                "x-user-id", s, "Content-Type", "application/json");
        QuotaAccount a = settled(s);
        assertEquals(429, r.statusCode(), what + " was served with 5,000 tokens left: the model wrote "
                + (a.used() - 15_000) + " tokens, used is now " + a.used() + " of " + ALLOWANCE + "; ledger: " + ledger(s));
        assertEquals(1, calls(s));
    }

    /** Control: max_tokens 16,000 with 5,000 tokens left is refused (and never reaches the model). */
    void control() {
        String c = subject();
        spend15000(c);
        assertRefused(c, chat("\"max_tokens\":16000"), "control: max_tokens 16,000");
    }

    /**
     * llama.cpp's server reads {@code n_predict} before {@code max_tokens}: {@code "max_tokens": 16,
     * "n_predict": 16000} holds ~36 tokens, is served with 5,000 left and writes 16,000.
     */
    @Test
    void llamaCppNPredictIsTheOutputBudget() {
        control();
        String s = subject();
        spend15000(s);
        assertRefused(s, chat("\"max_tokens\":16,\"n_predict\":16000"), "n_predict 16,000 (max_tokens 16)");
    }

    /**
     * vLLM's {@code min_tokens}: the model must write at least 16,000 tokens. The estimate holds the
     * default budget (~1,000) and serves it with 5,000 left.
     */
    @Test
    void vllmMinTokensIsInTheOutputBudget() {
        control();
        String s = subject();
        spend15000(s);
        assertRefused(s, chat("\"min_tokens\":16000"), "min_tokens 16,000");
    }
}
