package io.tokenquota.servlet.breakit181;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.BackgroundResponses;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 181 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the rule of rounds 179-180, "what reads of a background job paid while its making call ran is taken
 * off that call", meets a Response id that is not new. vLLM's Responses API takes the client's
 * {@code request_id} as the Response's id (docs/decisions.md names it), and some OpenAI-compatible
 * servers give every answer the same id; the decisions say a figure another making call raised under the
 * same id is not taken off. But what is taken off is the job's whole figure, which still holds what the
 * earlier call under that id was charged, not what the reads paid while this call ran.
 *
 * <p>A hostile client sends every turn of its conversation under one {@code request_id} (each turn reads
 * the conversation so far, so each turn's usage is a little larger than the last) and reads the Response
 * by id (or resumes its stream) while the turn's creating request still runs, as round 180's UI does. The
 * read pays what the usage passes the previous turn's (100 tokens); the turn itself is then released.
 *
 * <p>Without any concurrency the same reuse makes OpenAI's documented polling flow cheap: a second
 * background creation under a known id does not replace the id's figure (an application's job started
 * again does), so the poll that reports the second run's usage is charged only what it passes the first
 * run's, and the second run costs its creation's estimate plus that difference.
 */
abstract class AbstractRound181 extends H2FilterRound {
    /**
     * A vLLM server's Responses API behind the relay: the Response's id is the request's {@code request_id},
     * and each turn's usage grows with the conversation.
     */
    final BackgroundResponses relay = new BackgroundResponses(
            user -> "resp_" + UUID.randomUUID().toString().replace("-", ""),
            (rid, n) -> BackgroundResponses.completed(rid, BackgroundResponses.usage(used(n) - 6_000)));

    static String subject() {
        return "u181-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** The id the client names every turn of its conversation with ({@code request_id}). */
    static String rid(String subject) {
        return "resp_chat_" + subject.replace("-", "");
    }

    /** One turn of the conversation, in background mode and streamed, under the client's request_id. */
    static String turn(String subject, int n) {
        return turn(rid(subject), n, true);
    }

    /** One turn of the conversation in background mode under {@code requestId}, streamed or to be polled. */
    static String turn(String requestId, int n, boolean stream) {
        return "{\"model\":\"o3-pro\",\"background\":true,\"stream\":" + stream + ",\"max_output_tokens\":2000,"
                + "\"request_id\":\"" + requestId + "\",\"input\":\"Turn " + n
                + ": review the attached termination clauses and list every notice period.\"}";
    }

    /** Turn {@code n}'s usage: 6,000 output, and the conversation so far as input (900, then 100 more each turn). */
    static long used(int n) {
        return 6_900 + 100L * (n - 1);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("responses", relay, "/ai/v1/responses", "/ai/v1/responses/*");
    }

    /** Turn 1, streamed to its end: charged its usage, 6,900. */
    private void firstTurn(String s) {
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/responses"), s, turn(s, 1));
        assertEquals(200, first.statusCode(), first.body());
        assertTrue(first.body().contains("response.completed"), first.body());
        assertEquals(used(1), settled(s).used(), "turn 1: " + ledger(s));
    }

    /** Control: two turns under one request_id, each streamed to its end, are charged 6,900 + 7,000. */
    @Test
    void twoTurnsUnderOneRequestIdAreChargedBothUsages() {
        String s = subject();
        firstTurn(s);
        HttpResponse<String> second = TestHttp.postJson(container.uri("/ai/v1/responses"), s, turn(s, 2));
        assertEquals(200, second.statusCode(), second.body());
        assertEquals(2, relay.calls.of(s));
        assertEquals(used(1) + used(2), settled(s).used(), ledger(s));
    }

    /**
     * The attack: turn 2 under the same request_id; the client reads its stream to
     * {@code response.completed}, then reads the Response by id ({@code client.responses.retrieve(id)}, round
     * 180's UI) while the relay saves the conversation. Two model runs, 6,900 and 7,000 tokens: at least
     * 13,900 must be charged.
     */
    @Test
    void aSecondTurnUnderTheSameIdReadByIdWhileItsStreamIsSavedIsCharged() throws Exception {
        String s = subject();
        firstTurn(s);
        relay.saved.put(s, new CountDownLatch(1));
        CompletableFuture<HttpResponse<java.util.stream.Stream<String>>> stream = TestHttp.client().sendAsync(
                TestHttp.jsonPost(container.uri("/ai/v1/responses"), s, turn(s, 2)), HttpResponse.BodyHandlers.ofLines());
        HttpResponse<String> read;
        try {
            TestHttp.readUntil(stream.get(10, TimeUnit.SECONDS), line -> line.startsWith("event: response.completed"),
                    "the stream ended without response.completed");
            read = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + rid(s)), s).GET().build());
        } finally {
            relay.saved.get(s).countDown();
        }
        assertEquals(200, read.statusCode(), read.body());
        assertEquals(2, relay.calls.of(s), "two model runs");
        long used = settled(s).used();
        assertTrue(used >= used(1) + used(2), "two turns of 6,900 and 7,000 tokens under one request_id, the second"
                + " read by id while its stream was saved: charged " + used + ": " + ledger(s));
    }

    /**
     * The same with OpenAI's resume flow: turn 2's connection drops after sequence number 3 while the
     * relay waits for the provider's next event; the client resumes the stream by id and reads it to
     * {@code response.completed}. Two model runs, 6,900 and 7,000 tokens: at least 13,900.
     */
    @Test
    void aSecondTurnUnderTheSameIdDroppedAndResumedIsCharged() throws Exception {
        String s = subject();
        firstTurn(s);
        relay.upstream.put(s, new CountDownLatch(1));
        HttpResponse<String> resumed;
        try {
            String first = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/responses", s, turn(s, 2),
                    "\"sequence_number\":3");
            assertTrue(first.contains(rid(s)), first);
            resumed = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + rid(s)
                    + "?stream=true&starting_after=3"), s).GET().build());
        } finally {
            relay.upstream.get(s).countDown();
        }
        assertEquals(200, resumed.statusCode(), resumed.body());
        assertTrue(resumed.body().contains("response.completed"), resumed.body());
        assertEquals(2, relay.calls.of(s), "two model runs");
        long used = settled(s).used();
        assertTrue(used >= used(1) + used(2), "two turns of 6,900 and 7,000 tokens under one request_id, the second"
                + " dropped and resumed by id: charged " + used + " (relay: " + relay.seen.get(s) + "): " + ledger(s));
    }

    /** One turn created in background mode without a stream, then polled by id until completed. */
    private long polledTurn(String s, String requestId, int n) {
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/v1/responses"), s, turn(requestId, n, false));
        assertEquals(200, created.statusCode(), created.body());
        assertTrue(created.body().contains("\"queued\""), created.body());
        HttpResponse<String> read = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + requestId), s)
                .GET().build());
        assertEquals(200, read.statusCode(), read.body());
        assertTrue(read.body().contains("\"total_tokens\":" + used(n)), read.body());
        return settled(s).used();
    }

    /**
     * Control: OpenAI's background mode as documented (create with {@code "background": true}, poll
     * {@code GET /v1/responses/{id}} until completed), two turns, each under an id of its own: charged
     * 6,900 + 7,000.
     */
    @Test
    void twoPolledTurnsUnderIdsOfTheirOwnAreChargedBothUsages() {
        String s = subject();
        assertEquals(used(1), polledTurn(s, rid(s) + "_1", 1), ledger(s));
        long used = polledTurn(s, rid(s) + "_2", 2);
        assertEquals(2, relay.calls.of(s));
        assertEquals(used(1) + used(2), used, ledger(s));
    }

    /**
     * The attack, without any concurrency: the same two polled turns under one {@code request_id} (vLLM's
     * Response id). The second creation is charged its estimate, and the poll that reports its usage is
     * charged only what that usage passes the figure the first turn left under the id (7,000 - 6,900):
     * the second model run of 7,000 tokens costs its estimate plus 100. At least 13,900 must be charged.
     */
    @Test
    void aSecondPolledTurnUnderTheSameIdIsChargedItsUsage() {
        String s = subject();
        assertEquals(used(1), polledTurn(s, rid(s), 1), ledger(s));
        long used = polledTurn(s, rid(s), 2);
        assertEquals(2, relay.calls.of(s), "two model runs");
        assertTrue(used >= used(1) + used(2), "two background turns of 6,900 and 7,000 tokens under one request_id,"
                + " each polled to completion: charged " + used + ": " + ledger(s));
    }
}
