package io.tokenquota.servlet.breakit261;

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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 261 of issue 11: Anthropic's Messages API relayed by a Java service ({@code /ai/anthropic/v1/*}
 * passed on to {@code api.anthropic.com}), in its current shapes: extended thinking (earlier turns'
 * {@code thinking} / {@code redacted_thinking} blocks sent back), the token counting endpoint, images
 * by URL, and streams cut inside a thinking block after a cached prefix.
 */
abstract class AbstractRound261 extends H2FilterRound {
    /** Why two of this round's tests are disabled: the open part of issue 11 they show. */
    static final String OPEN_COUNT_BELOW_ESTIMATE = "issue 11, open: a token count under a quarter of the request's"
            + " estimate is taken for a model's answer, so counting a request the estimator over-counts (earlier"
            + " thinking blocks, images by URL) is charged (docs/decisions.md, \"Token counts far below the"
            + " estimate (open)\")";
    final ModelCalls calls = new ModelCalls();
    final ModelCalls counts = new ModelCalls();

    static String subject() {
        return "u261-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String THOUGHT = "Let me reconsider the indemnity clause against the limitation of liability and check"
            + " whether the carve-outs for gross negligence survive termination of the agreement. ";

    static String thinking(int sentences) {
        return THOUGHT.repeat(sentences);
    }

    static void event(PrintWriter w, String name, String data) {
        w.write("event: " + name + "\ndata: " + data + "\n\n");
        w.flush();
    }

    /** What the count servlet answers as {@code input_tokens} for the next request (set by each test). */
    volatile long nextCount;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("anthropic", new Anthropic(), "/ai/anthropic/v1/*")
                .onStartup(filter::registerByServletName);
    }

    final java.util.concurrent.ConcurrentHashMap<String, CountDownLatch> hangUps = new java.util.concurrent.ConcurrentHashMap<>();

    CountDownLatch hungUp(String subject) {
        return hangUps.computeIfAbsent(subject, k -> new CountDownLatch(1));
    }

    /** A relay of Anthropic's API: {@code /messages/count_tokens} answers a count; {@code /messages} streams. */
    class Anthropic extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String path = req.getPathInfo();
            if (path.endsWith("/messages/count_tokens")) {
                counts.count(req.getHeader("x-user-id"));
                resp.setContentType("application/json");
                resp.getWriter().write("{\"input_tokens\":" + nextCount + "}");
                return;
            }
            String who = req.getHeader("x-user-id");
            calls.count(who);
            boolean cached = !"nocache".equals(req.getParameter("variant"));
            boolean text = "text".equals(req.getParameter("variant"));
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            // the application's system prompt (12,000 tokens) is read from Anthropic's prompt cache
            event(w, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01ThinkCut\",\"type\":\"message\","
                    + "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,"
                    + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":40,\"cache_creation_input_tokens\":0,"
                    + "\"cache_read_input_tokens\":" + (cached ? 12000 : 0) + ",\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,"
                    + "\"ephemeral_1h_input_tokens\":0},\"output_tokens\":1,\"service_tier\":\"standard\"}}}");
            event(w, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                    + (text ? "{\"type\":\"text\",\"text\":\"\"}}" : "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}"));
            for (int i = 0; i < 150; i++) {
                event(w, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                        + (text ? "{\"type\":\"text_delta\",\"text\":\"" : "{\"type\":\"thinking_delta\",\"thinking\":\"") + THOUGHT + "\"}}");
            }
            event(w, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                    + (text ? "{\"type\":\"text_delta\",\"text\":\"END-OF-THOUGHT\"}}" : "{\"type\":\"thinking_delta\",\"thinking\":\"END-OF-THOUGHT\"}}"));
            try {
                hungUp(who).await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            // the client has gone: the relay cancels the upstream stream when its writes fail
            String ping = "event: ping\ndata: {\"type\":\"ping\"}\n\n" + ": " + "x".repeat(4000) + "\n\n";
            for (int i = 0; i < 2000 && !w.checkError(); i++) {
                w.write(ping);
                w.flush();
            }
        }
    }

    static String assistantTurn(int i, boolean withThinking) {
        String blocks = withThinking
                ? "{\"type\":\"thinking\",\"thinking\":\"" + thinking(60) + "\",\"signature\":\"" + "EqQBCkgIARABGAIiQL".repeat(20) + "\"},"
                : "";
        return "{\"role\":\"user\",\"content\":\"Question " + i + ": does clause " + i + " survive termination?\"},"
                + "{\"role\":\"assistant\",\"content\":[" + blocks + "{\"type\":\"text\",\"text\":\"Clause " + i
                + " survives termination only for accrued payment obligations.\"}]},";
    }

    static String conversation(boolean withThinking) {
        StringBuilder b = new StringBuilder("{\"model\":\"claude-sonnet-4-5\",\"thinking\":{\"type\":\"enabled\","
                + "\"budget_tokens\":4000},\"messages\":[");
        for (int i = 1; i <= 4; i++) {
            b.append(assistantTurn(i, withThinking));
        }
        return b.append("{\"role\":\"user\",\"content\":\"And clause 5?\"}]}").toString();
    }

    /**
     * The attack: before sending the next turn of a conversation with extended thinking, the
     * application counts its tokens ({@code client.messages().countTokens(...)} with the whole history,
     * earlier turns' thinking blocks included, as the SDK's {@code toParam()} of each answer gives
     * them). Anthropic ignores earlier turns' thinking blocks in the count ("Thinking blocks from
     * previous assistant turns are ignored and do not count toward your input tokens"), so the count
     * is small; the endpoint ran a tokenizer, no model: it must cost nothing.
     */
    @Test
    @Disabled(OPEN_COUNT_BELOW_ESTIMATE)
    void countingAConversationWithEarlierThinkingIsFree() {
        String s = subject();
        // ~4 short questions and answers: about 120 tokens, with the thinking config's overhead
        nextCount = 140;
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/anthropic/v1/messages/count_tokens"), s, conversation(true));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, counts.of(s));
        assertEquals(0, calls.of(s), "no model was called");
        long used = settled(s).used();
        assertEquals(0, used, "a token count ran no model, charged " + used + ": " + ledger(s));
    }

    /** Control: the same conversation without the thinking blocks, counted, is free. */
    @Test
    void countingTheSameConversationWithoutThinkingIsFree() {
        String s = subject();
        nextCount = 140;
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/anthropic/v1/messages/count_tokens"), s, conversation(false));
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertEquals(0, used, "charged " + used + ": " + ledger(s));
    }

    static String thumbnails(int n) {
        StringBuilder b = new StringBuilder("{\"model\":\"claude-sonnet-4-5\",\"messages\":[{\"role\":\"user\",\"content\":[");
        for (int i = 0; i < n; i++) {
            b.append("{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://shop.example.com/thumbs/sku-")
                    .append(1000 + i).append("-200x200.jpg\"}},");
        }
        return b.append("{\"type\":\"text\",\"text\":\"Which of these products are shoes?\"}]}]}").toString();
    }

    /**
     * The attack: counting a request with ten 200×200 product thumbnails by URL (Anthropic: about 54
     * tokens each, w·h/750). No model ran; the count is a count of what was sent. Charged nothing.
     */
    @Test
    @Disabled(OPEN_COUNT_BELOW_ESTIMATE)
    void countingTenThumbnailsByUrlIsFree() {
        String s = subject();
        nextCount = 10 * 54 + 20;
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/anthropic/v1/messages/count_tokens"), s, thumbnails(10));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, calls.of(s), "no model was called");
        long used = settled(s).used();
        assertEquals(0, used, "a token count ran no model, charged " + used + ": " + ledger(s));
    }

    static final String THINK_REQUEST = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":6000,\"stream\":true,"
            + "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":5000},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Does the indemnity survive termination?\"}]}";

    /**
     * The attack: a streamed call with extended thinking behind an application whose system prompt
     * Anthropic reads from its cache (message_start: 12,040 input tokens). The client reads the model's
     * thinking (150 deltas, about 4,800 tokens) and hangs up inside the thinking block. Anthropic bills
     * the input and the thinking written: at least 12,040 + ~4,800.
     */
    @Test
    void aStreamCutInsideThinkingIsChargedItsInputAndThoughts() throws Exception {
        String s = subject();
        String read = TestHttp.postAndHangUpAfter(container.port(), "/ai/anthropic/v1/messages", s, THINK_REQUEST, "END-OF-THOUGHT");
        hungUp(s).countDown();
        assertTrue(read.contains("END-OF-THOUGHT"), read);
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 12_040 + 2_500, "input 12,040 (message_start) and ~4,800 tokens of thinking, charged " + used + ": " + ledger(s));
    }

    /**
     * The same without thinking: the model's visible answer (150 text deltas, ~4,800 tokens) read and
     * the stream cut before its {@code message_delta}, after the cached 12,040-token prefix. Billed at
     * least 12,040 + ~4,800.
     */
    @Test
    void aStreamCutInsideTheTextAfterACachedPrefixIsChargedItsInputAndText() throws Exception {
        String s = subject();
        String read = TestHttp.postAndHangUpAfter(container.port(), "/ai/anthropic/v1/messages?variant=text", s,
                THINK_REQUEST.replace(",\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":5000}", ""), "END-OF-THOUGHT");
        hungUp(s).countDown();
        assertTrue(read.contains("END-OF-THOUGHT"), read);
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 12_040 + 2_500, "input 12,040 (message_start) and ~4,800 tokens of text, charged " + used + ": " + ledger(s));
    }

    /** Control: without the cached prefix (message_start: 40 input), the same cut costs the estimate (input and budget). */
    @Test
    void theSameCutWithoutACachedPrefixCostsItsOutput() throws Exception {
        String s = subject();
        String read = TestHttp.postAndHangUpAfter(container.port(), "/ai/anthropic/v1/messages?variant=nocache", s, THINK_REQUEST,
                "END-OF-THOUGHT");
        hungUp(s).countDown();
        assertTrue(read.contains("END-OF-THOUGHT"), read);
        long used = settled(s).used();
        assertTrue(used >= 40 + 2_500, "charged " + used + ": " + ledger(s));
    }
}
