package io.tokenquota.servlet.breakit233;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 233 of issue 11: per-model weights on answers without a final usage. An application's chat
 * endpoint ({@code POST /ai/chat}) runs the model it is configured with, gpt-4o, whatever the client's body
 * says (its request type has no model; Jackson ignores unknown fields), and relays OpenAI's stream chunks
 * as they come (each names {@code "model": "gpt-4o-2024-08-06"}), asking for {@code include_usage}. The
 * README: "a client naming a cheap model for an endpoint that runs an expensive one is charged the expensive
 * one as far as the answer says so". A client that hangs up after the text, before the usage chunk (the relay
 * then stops, cancelling the provider's call), leaves an answer without usage: charged at least its input
 * plus the text its deltas carried. That text was written by gpt-4o, as every chunk says.
 */
abstract class AbstractRound233 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    /** The demo's rates for these models; every other model one unit a token. */
    static final ModelWeights WEIGHTS = ModelWeights.builder()
            .model("gpt-4o*", ModelWeights.Rates.of("2.5", "1.25", "10", "10"))
            .model("gpt-4o-mini*", ModelWeights.Rates.of("0.15", "0.075", "0.6", "0.6"))
            .defaults(ModelWeights.Rates.of("1", "1", "1", "1"))
            .build();

    static final String MODEL = "gpt-4o-2024-08-06";
    /** About 17 tokens of text a delta; 100 deltas: about 1,700 tokens written by gpt-4o. */
    static final String WORDS = "The supplier may terminate the agreement with thirty days' notice for non-payment. ";
    static final int DELTAS = 100;

    static String subject() {
        return "u233-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String chunk(String id, String delta, String finish) {
        return "data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\"" + MODEL
                + "\",\"system_fingerprint\":\"fp_6b68a8204b\",\"choices\":[{\"index\":0,\"delta\":" + delta
                + ",\"logprobs\":null,\"finish_reason\":" + finish + "}]}\n\n";
    }

    static String usageChunk(String id, long prompt, long completion) {
        return "data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\"" + MODEL
                + "\",\"system_fingerprint\":\"fp_6b68a8204b\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt
                + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (prompt + completion) + "}}\n\n";
    }

    volatile CountDownLatch hungUp = new CountDownLatch(1);

    @BeforeEach
    void newLatch() {
        hungUp = new CountDownLatch(1);
    }

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        QuotaFilter weighed = filterFor("/ai/").modelWeights(WEIGHTS).build();
        return Deployment.create()
                .filter("quota", weighed, "/*")
                .servlet("chat", new Chat(), "/ai/chat/*")
                .servlet("ask", new Ask(), "/ai/ask")
                .onStartup(weighed::registerByServletName);
    }

    /**
     * The application's chat endpoint: calls gpt-4o (its configured model) with the client's messages and
     * {@code stream_options.include_usage}, relays each chunk; {@code /ai/chat/whole} relays to the end,
     * {@code /ai/chat/cut} finds its client gone after the text and stops (a relay cancels the provider call,
     * the usage chunk never comes).
     */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            OutputStream out = resp.getOutputStream();
            String id = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT";
            EventStreams.write(out, chunk(id, "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", "null"));
            for (int i = 0; i < DELTAS; i++) {
                EventStreams.write(out, chunk(id, "{\"content\":\"" + WORDS + "\"}", "null"));
            }
            EventStreams.write(out, chunk(id, "{\"content\":\"END-OF-TEXT\"}", "null"));
            if (req.getPathInfo().endsWith("/cut")) {
                CountDownLatch gone = hungUp;
                try {
                    gone.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                // waiting for the provider's last chunks; the client has gone: the relay stops
                String ping = ": keep-alive " + "x".repeat(4000) + "\n\n";
                try {
                    for (int i = 0; i < 2000; i++) {
                        EventStreams.write(out, ping);
                    }
                } catch (IOException clientGone) {
                    return;
                }
                return;
            }
            EventStreams.write(out, chunk(id, "{}", "\"stop\""));
            EventStreams.write(out, usageChunk(id, 40, 1_700));
            EventStreams.write(out, "data: [DONE]\n\n");
        }
    }

    static String response(String status) {
        return "{\"id\":\"resp_67ccd2bed1ec8190b14f964abc054267\",\"object\":\"response\",\"created_at\":1741476542,"
                + "\"status\":\"" + status + "\",\"model\":\"" + MODEL + "\",\"output\":[],\"usage\":null}";
    }

    /**
     * The application's question endpoint on OpenAI's Responses API: it streams gpt-4o's answer
     * ({@code response.created} names the model, then the text deltas) and finds its client gone before
     * {@code response.completed}, the only event with usage.
     */
    class Ask extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            OutputStream out = resp.getOutputStream();
            EventStreams.write(out, EventStreams.event("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,"
                    + "\"response\":" + response("in_progress") + "}"));
            for (int i = 1; i <= DELTAS + 1; i++) {
                EventStreams.write(out, EventStreams.event("response.output_text.delta", "{\"type\":\"response.output_text.delta\","
                        + "\"sequence_number\":" + i + ",\"item_id\":\"msg_67ccd2bf17f0819081ff3bb2cf6508e6\",\"output_index\":0,"
                        + "\"content_index\":0,\"delta\":\"" + (i <= DELTAS ? WORDS : "END-OF-TEXT") + "\",\"logprobs\":[]}"));
            }
            CountDownLatch gone = hungUp;
            try {
                gone.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            String ping = ": keep-alive " + "x".repeat(4000) + "\n\n";
            try {
                for (int i = 0; i < 2000; i++) {
                    EventStreams.write(out, ping);
                }
            } catch (IOException clientGone) {
                // the relay stops
            }
        }
    }

    static final String ASK = "{\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the termination clauses of the"
            + " supplier agreement, clause by clause.\"}],\"stream\":true%s}";

    /** Control: read to the end, the call is charged its usage at gpt-4o's rates (40 × 2.5 + 1,700 × 10 = 17,100). */
    @Test
    void aStreamReadToItsEndIsChargedAtTheModelItsChunksName() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/chat/whole"), s, String.format(ASK, ""));
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertEquals(17_100, used, ledger(s));
    }

    /**
     * The attack, no trick but the hang-up: the client names no model (the application chooses it), reads
     * the whole text (every chunk naming gpt-4o) and hangs up before the usage chunk. The ~1,700 tokens of
     * text gpt-4o wrote are charged at the table's default (1 a token), not at gpt-4o's output rate (10): a
     * tenth of what the same answer read one chunk further costs.
     */
    @Test
    void aStreamCutBeforeItsUsageIsChargedAtTheModelItsChunksName() throws Exception {
        String s = subject();
        String read = TestHttp.postAndHangUpAfter(container.port(), "/ai/chat/cut", s, String.format(ASK, ""), "END-OF-TEXT");
        hungUp.countDown();
        assertTrue(read.contains("END-OF-TEXT"), read);
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 10 * 1_000, "~1,700 tokens of text written by " + MODEL + " (every chunk says so; gpt-4o output"
                + " weighs 10), cut before the usage chunk, must cost at least 10,000 units (17,100 when read one chunk"
                + " further); charged " + used + ": " + ledger(s));
    }

    /**
     * The same with a cheap name in the body, which the application ignores (its request type has no model
     * field): the filter takes {@code gpt-4o-mini} as the request's model and prices gpt-4o's text at
     * gpt-4o-mini's output rate (0.6).
     */
    @Test
    void aCheapNameTheEndpointIgnoresDoesNotPriceACutStream() throws Exception {
        String s = subject();
        String read = TestHttp.postAndHangUpAfter(container.port(), "/ai/chat/cut", s,
                String.format(ASK, ",\"model\":\"gpt-4o-mini\""), "END-OF-TEXT");
        hungUp.countDown();
        assertTrue(read.contains("END-OF-TEXT"), read);
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 10 * 1_000, "~1,700 tokens of text written by " + MODEL + " (every chunk says so), cut before the"
                + " usage chunk, priced by the client's ignored gpt-4o-mini: charged " + used + ": " + ledger(s));
    }

    /**
     * The same on the Responses API: the client's body is the application's own ({@code {"question": …}}),
     * {@code response.created} names gpt-4o, the client hangs up after the text, before
     * {@code response.completed}.
     */
    @Test
    void aResponsesStreamCutBeforeItsUsageIsChargedAtTheModelItNames() throws Exception {
        String s = subject();
        String read = TestHttp.postAndHangUpAfter(container.port(), "/ai/ask", s,
                "{\"question\":\"Summarise the termination clauses of the supplier agreement, clause by clause.\"}", "END-OF-TEXT");
        hungUp.countDown();
        assertTrue(read.contains("END-OF-TEXT"), read);
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 10 * 1_000, "~1,700 tokens of text written by " + MODEL + " (response.created names it), cut before"
                + " response.completed: charged " + used + ": " + ledger(s));
    }
}
