package io.tokenquota.servlet.breakit76;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaException;
import io.tokenquota.Reservation;
import io.tokenquota.Reserved;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.LangChainMessages;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 76 of issue 11: the hold keeper and {@code QuotaLedger.extend} (the tokens of a call still
 * running freed by something other than its own subject's next reserve: a team-mate's reserve, the
 * host's scheduled {@code expireStale()}, a balance read; an idempotent replay's TTL check loosened
 * for extended holds), the rule for exceptions after writing (settlement rule 6: an answer inside an
 * unfinished JSON envelope or page, a markup fragment, a pre-call array element, a cut JSON string),
 * and LangChain {@code usage_metadata} adding up (a LangGraph agent's two model calls as
 * {@code messages/partial} totals or {@code on_chat_model_end} totals, a relay that streams the
 * accumulated message).
 */
abstract class AbstractRound76 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    /** A chat request held at its estimate: some input and max_tokens 1,000. */
    static final String CHAT_BODY = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"What is the capital of France?\"}],\"max_tokens\":1000}";

    static String subject() {
        return "u76-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("lc", new LangChainStreams(), "/ai/lc/*")
                .servlet("thrower", new WritesThenThrows(), "/ai/x/*");
    }

    // ---- hold keeper / extend: what else frees a running call's hold -----------------------------------
    // A team mate's reserve, the host's sweep and a balance read each expire a running call's hold when
    // the store's clock jumps six minutes at once, past the keeper's thread, which runs in real time: no
    // filter can see such a jump. In real time the keeper gives every running hold a whole TTL again each
    // quarter TTL, whoever's reserve, sweep or read comes next: round 75's one-second-hold test races
    // the sweep and balance reads, and a team mate's reserve in the next test.

    /**
     * Break hunt (answered by a documented rule): the same key with a 1-minute TTL on a 10-minute hold
     * that was never extended. A running call's hold is extended, so a hold's expiry no longer shows the
     * TTL it was taken with; a replay is answered by the first hold when that hold gives what it asks
     * (its life is no shorter than the TTL asked, docs/semantics.md), and is a conflict when it asks more.
     */
    @Test
    void aKeyedReserveIsAReplayWhenTheHoldLivesAtLeastTheTtlItAsks() {
        String s = subject();
        String key = "k-" + UUID.randomUUID();
        Reservation first = store.reserve(HoldRequest.of(s, 500).idempotencyKey(key).ttl(Duration.ofMinutes(10))
                .build()).reservation();
        Reserved shorter = store.reserve(HoldRequest.of(s, 500).idempotencyKey(key).ttl(Duration.ofMinutes(1)).build());
        assertTrue(shorter.replayed());
        assertEquals(first, shorter.reservation());
        QuotaException e = assertThrows(QuotaException.class, () -> store.reserve(
                HoldRequest.of(s, 500).idempotencyKey(key).ttl(Duration.ofMinutes(11)).build()));
        assertEquals(ErrorCode.IDEMPOTENCY_CONFLICT, e.code());
        assertEquals(500, store.account(s).reserved());
    }

    // ---- settlement rule 6: exceptions after writing -----------------------------------------------------

    /** {@code /ai/x/<case>}: writes what the case says (unflushed) and throws; counts a model call where it made one. */
    public static class WritesThenThrows extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getInputStream().readAllBytes();
            String user = req.getHeader("x-user-id");
            String what = req.getPathInfo();
            PrintWriter out;
            switch (what) {
                case "/envelope" -> {
                    CALLS.count(user);
                    resp.setContentType("application/json");
                    out = resp.getWriter();
                    // a Jackson generator: the envelope, the model's reply, then the next field fails
                    out.write("{\"conversation_id\":\"c-76\",\"reply\":\"The capital of France is Paris. It has"
                            + " been the capital since the tenth century.\",\"sources\":");
                    throw new ServletException("serializing the sources failed");
                }
                case "/page" -> {
                    CALLS.count(user);
                    resp.setContentType("text/html;charset=UTF-8");
                    out = resp.getWriter();
                    out.write("<!DOCTYPE html><html><head><title>Ask</title></head><body><main><h1>Answer</h1>"
                            + "<p>The capital of France is Paris. It has been the capital since the tenth century.</p>"
                            + "</main><footer>");
                    throw new ServletException("the footer fragment failed to render");
                }
                case "/fragment" -> {
                    CALLS.count(user);
                    resp.setContentType("text/html;charset=UTF-8");
                    out = resp.getWriter();
                    // an htmx swap: the model's answer as a fragment, then the audit log write fails
                    out.write("<div class=\"answer\"><p>The capital of France is Paris.</p></div>");
                    throw new ServletException("audit log unavailable");
                }
                case "/queued" -> {
                    // a relay's own status element, written before it calls the model; the call fails
                    resp.setContentType("application/json");
                    out = resp.getWriter();
                    out.write("[{\"status\":\"queued\",\"position\":3}");
                    throw new ServletException("upstream connect timed out");
                }
                case "/string" -> {
                    CALLS.count(user);
                    resp.setContentType("application/json");
                    out = resp.getWriter();
                    // the model's text streamed as one JSON string, cut by an upstream reset
                    out.write("\"The capital of France is Paris. It has been the capital since");
                    throw new ServletException("upstream reset");
                }
                default -> throw new ServletException("unknown case " + what);
            }
        }
    }

    /**
     * A new subject's chat request to {@code path}: answered 5xx, {@code modelCalls} model calls made, and
     * charged at least the estimate (about 1,000 + input); {@code why} leads the failure message.
     */
    private void assertEstimateCharged(String path, int modelCalls, String why) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT_BODY);
        assertTrue(r.statusCode() >= 500, path + " answered " + r.statusCode());
        long used = settled(s).used();
        assertEquals(modelCalls, CALLS.of(s));
        assertTrue(used >= 1_000, kind() + ": " + why + "charged " + used + " " + ledger(s));
    }

    /**
     * The model answered, its reply written inside the application's JSON envelope, then serializing
     * the envelope's next field throws. The model ran (one call), but rule 6 treats every unfinished
     * envelope as one opened before the call: released, the call free. Expected: the estimate (about
     * 1,000 + input), the upper bound of what the provider bills.
     */
    @Test
    void aReplyWrittenInsideAnUnfinishedEnvelopeIsCharged() {
        assertEstimateCharged("/ai/x/envelope", 1, "the model answered inside the envelope; ");
    }

    /**
     * A server-rendered page: head, body, the model's answer in {@code <main>}, then the footer fragment
     * throws before {@code </body>}. The model ran; rule 6 waits for {@code </body>}/{@code </html>} and
     * releases. Expected: the estimate.
     */
    @Test
    void aPageWhoseBodyHoldsTheAnswerIsChargedWhenItsFooterThrows() {
        assertEstimateCharged("/ai/x/page", 1, "the page's body held the answer; ");
    }

    /**
     * An htmx fragment ({@code <div>} answer) written whole, then an exception. The revised rule 6 says
     * markup that is not a document ({@code <!DOCTYPE}/{@code <html}) is text: an answer. Expected: the estimate.
     */
    @Test
    void aMarkupFragmentAnswerIsChargedWhenTheHandlerThrowsAfterIt() {
        assertEstimateCharged("/ai/x/fragment", 1, "the fragment was the answer; ");
    }

    /**
     * A relay writes its own status as the first element of a JSON array stream before it calls the
     * model, and the upstream connect fails. The model was never called, but those bytes cannot be told
     * from a model's first chunk (a Gemini array stream cut after it): where unsure the filter charges
     * (settlement rule 6). Expected: the estimate.
     */
    @Test
    void aRelaysPreCallStatusElementIsChargedAsAChunkWouldBe() {
        assertEstimateCharged("/ai/x/queued", 0, "");
    }

    /**
     * The model's text streamed as one JSON string, cut before its closing quote. The model ran; a
     * revision that counts a JSON scalar only once it is closed would release it. Expected: the estimate.
     */
    @Test
    void aCutJsonStringAnswerIsCharged() {
        assertEstimateCharged("/ai/x/string", 1, "the model's text was written; ");
    }

    // ---- LangChain usage_metadata ---------------------------------------------------------------------------

    /** {@code /ai/lc/<case>}: LangChain/LangGraph streams of a model run. */
    public static class LangChainStreams extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            PrintWriter out = LangChainMessages.openEventStream(req, resp, CALLS);
            switch (req.getPathInfo()) {
                case "/partials" -> out.write(LANGGRAPH_MESSAGES_TWO_CALLS);
                case "/events" -> out.write(ASTREAM_EVENTS_TWO_CALLS);
                case "/accumulated" -> out.write(ACCUMULATED_RELAY);
                default -> throw new IllegalStateException(req.getPathInfo());
            }
            out.flush();
        }
    }

    static String aiMessage(String id, String content, String extra, long in, long out) {
        return "{\"type\":\"ai\",\"id\":\"" + id + "\",\"content\":\"" + content + "\"" + extra
                + ",\"usage_metadata\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + ",\"total_tokens\":"
                + (in + out) + "}}";
    }

    /**
     * A LangGraph ReAct agent on the LangGraph server, {@code stream_mode="messages"}: the model is called
     * twice (a tool call, 1,200 in + 300 out; then the answer, 1,600 in + 200 out), each message sent
     * accumulated ({@code messages/partial}, then {@code messages/complete}); a tool message between.
     */
    static final String LANGGRAPH_MESSAGES_TWO_CALLS = "event: metadata\ndata: {\"run_id\":\"1ef-76\"}\n\n"
            + "event: messages/metadata\ndata: {\"run-a1\":{\"metadata\":{\"langgraph_node\":\"agent\"}}}\n\n"
            + "event: messages/partial\ndata: [" + aiMessage("run-a1", "", ",\"tool_calls\":[{\"name\":\"weather\","
            + "\"args\":{\"city\":\"Paris\"},\"id\":\"call_1\"}]", 1_200, 300) + "]\n\n"
            + "event: messages/complete\ndata: [" + aiMessage("run-a1", "", ",\"tool_calls\":[{\"name\":\"weather\","
            + "\"args\":{\"city\":\"Paris\"},\"id\":\"call_1\"}]", 1_200, 300) + "]\n\n"
            + "event: messages/complete\ndata: [{\"type\":\"tool\",\"id\":\"t1\",\"content\":\"18C\","
            + "\"tool_call_id\":\"call_1\"}]\n\n"
            + "event: messages/metadata\ndata: {\"run-a2\":{\"metadata\":{\"langgraph_node\":\"agent\"}}}\n\n"
            + "event: messages/partial\ndata: [" + aiMessage("run-a2", "It is 18C in Paris.", "", 1_600, 200) + "]\n\n"
            + "event: messages/complete\ndata: [" + aiMessage("run-a2", "It is 18C in Paris.", "", 1_600, 200) + "]\n\n"
            + "event: end\ndata: null\n\n";

    /**
     * The same agent through {@code astream_events} (LangServe's /stream_events, LangGraph's events mode)
     * with a model that streams no usage per chunk: each of the two model calls ends with its
     * {@code on_chat_model_end} total.
     */
    static final String ASTREAM_EVENTS_TWO_CALLS = "event: data\ndata: {\"event\":\"on_chat_model_start\","
            + "\"run_id\":\"m1\",\"name\":\"ChatOpenAI\",\"data\":{}}\n\n"
            + "event: data\ndata: {\"event\":\"on_chat_model_end\",\"run_id\":\"m1\",\"name\":\"ChatOpenAI\","
            + "\"data\":{\"output\":" + aiMessage("run-m1", "", "", 1_200, 300) + "}}\n\n"
            + "event: data\ndata: {\"event\":\"on_tool_end\",\"run_id\":\"t1\",\"name\":\"weather\","
            + "\"data\":{\"output\":\"18C\"}}\n\n"
            + "event: data\ndata: {\"event\":\"on_chat_model_start\",\"run_id\":\"m2\",\"name\":\"ChatOpenAI\",\"data\":{}}\n\n"
            + "event: data\ndata: {\"event\":\"on_chat_model_end\",\"run_id\":\"m2\",\"name\":\"ChatOpenAI\","
            + "\"data\":{\"output\":" + aiMessage("run-m2", "It is 18C in Paris.", "", 1_600, 200) + "}}\n\n"
            + "event: end\n\n";

    /**
     * A FastAPI route relaying {@code ChatAnthropic.astream()} that sends the message accumulated so far
     * ({@code full = full + chunk; yield full}: a UI that replaces the text): langchain-anthropic puts the
     * input (3,000) on the first chunk, the output (200) on the last, so every accumulated chunk repeats
     * the input. The call used 3,200.
     */
    static final String ACCUMULATED_RELAY;

    static {
        StringBuilder b = new StringBuilder();
        String[] words = {"The", " capital", " of", " France", " is", " Paris."};
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < words.length; i++) {
            text.append(words[i]);
            long out = i == words.length - 1 ? 200 : 0;
            b.append("data: {\"type\":\"AIMessageChunk\",\"id\":\"run-acc\",\"content\":\"").append(text)
                    .append("\",\"usage_metadata\":{\"input_tokens\":3000,\"output_tokens\":").append(out)
                    .append(",\"total_tokens\":").append(3000 + out).append("}}\n\n");
        }
        b.append("data: [DONE]\n\n");
        ACCUMULATED_RELAY = b.toString();
    }

    private long chargedFor(String path, String s) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT_BODY);
        assertEquals(200, r.statusCode(), r.body());
        return settled(s).used();
    }

    /**
     * LangGraph messages mode, two model calls: each message's {@code messages/partial} is that message's
     * total; the sniffer keeps the last total only ({@code UsageSniffer.addUp}: {@code this.whole = report}),
     * so the first call (1,500) is free. Expected: 1,500 + 1,800 = 3,300.
     */
    @Test
    void aLangGraphAgentsTwoModelCallsAreBothCharged() {
        String s = subject();
        assertEquals(3_300, chargedFor("/ai/lc/partials", s), kind() + ": " + ledger(s));
    }

    /** The same agent as {@code astream_events}: two {@code on_chat_model_end} totals. Expected 3,300. */
    @Test
    void twoOnChatModelEndTotalsAreBothCharged() {
        String s = subject();
        assertEquals(3_300, chargedFor("/ai/lc/events", s), kind() + ": " + ledger(s));
    }

    /**
     * A relay that streams the accumulated message: the deltas' sum counts the input six times (18,200).
     * Expected: the call's 3,200 (the request's estimate is about 1,000, what the provider may bill for
     * a 1,000-token max_tokens and a short prompt is far below 18,200).
     */
    @Test
    void anAccumulatingRelayIsNotChargedTheInputOncePerChunk() {
        String s = subject();
        assertEquals(3_200, chargedFor("/ai/lc/accumulated", s), kind() + ": " + ledger(s));
    }
}
