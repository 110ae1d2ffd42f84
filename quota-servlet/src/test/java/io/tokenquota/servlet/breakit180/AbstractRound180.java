package io.tokenquota.servlet.breakit180;

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
 * Round 180 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * time and concurrency around the filter. An OpenAI Response created in background mode and streamed
 * ({@code "background": true, "stream": true}, OpenAI's recommended way to run a long o3-pro call: the
 * stream shows progress, and a client whose connection drops resumes it with
 * {@code GET /v1/responses/{id}?stream=true&starting_after=N}, or reads the finished Response by id).
 * The relay passes the provider's events on as they come.
 *
 * <p>The filter remembers what a background job's creation was charged by the job's id only when the
 * creating request settles. The job's id is with the client from the stream's first event, and the
 * creating request may stay open long after that: the relay waits for the provider's next event (the
 * model thinking, minutes for o3-pro) without knowing that its client went away, or saves the
 * conversation after the last event. A read of the same job by the same user on the same instance in
 * that window finds no figure and is charged the job's whole usage, and the creation is charged its
 * own figure when it settles: the one model run is paid twice.
 */
abstract class AbstractRound180 extends H2FilterRound {
    static final long USED = 6_900;
    /** The relay; every job's usage is 900 input, 6,000 output (reasoning included). */
    final BackgroundResponses relay = new BackgroundResponses(AbstractRound180::rid,
            (rid, n) -> BackgroundResponses.completed(rid, BackgroundResponses.usage(USED - 6_000)));

    static final String BODY = "{\"model\":\"o3-pro\",\"background\":true,\"stream\":true,\"max_output_tokens\":2000,"
            + "\"input\":\"Review the attached termination clauses and list every notice period.\"}";

    static String subject() {
        return "u180-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String rid(String subject) {
        return "resp_" + subject.replace("-", "");
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("responses", relay, "/ai/v1/responses", "/ai/v1/responses/*");
    }

    /**
     * Control: the stream read to its end and the finished Response read back by id afterwards, once the
     * creating request has returned. The job is charged its usage once (6,900).
     */
    @Test
    void aFinishedBackgroundResponseReadAfterItsStreamIsChargedOnce() {
        String s = subject();
        HttpResponse<String> created = TestHttp.postJson(container.uri("/ai/v1/responses"), s, BODY);
        assertEquals(200, created.statusCode(), created.body());
        assertTrue(created.body().contains("response.completed"), created.body());
        HttpResponse<String> read = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + rid(s)), s)
                .GET().build());
        assertEquals(200, read.statusCode(), read.body());
        assertEquals(1, relay.calls.of(s));
        assertEquals(USED, settled(s).used(), "one background job of 6,900 tokens: " + ledger(s));
    }

    /**
     * The attack (or an ordinary UI): the stream shows the job to its {@code response.completed} event,
     * then the page reads the finished Response by id to keep it ({@code client.responses.retrieve(id)}),
     * while the relay, after the last event, still saves the conversation. One model run of 6,900 tokens;
     * the read called no model ("reading a finished Response back costs nothing").
     */
    @Test
    void aBackgroundResponseReadByIdWhileItsStreamIsSavedIsChargedOnce() throws Exception {
        String s = subject();
        relay.saved.put(s, new CountDownLatch(1));
        CompletableFuture<HttpResponse<java.util.stream.Stream<String>>> stream = TestHttp.client().sendAsync(
                TestHttp.jsonPost(container.uri("/ai/v1/responses"), s, BODY), HttpResponse.BodyHandlers.ofLines());
        HttpResponse<String> read;
        try {
            TestHttp.readUntil(stream.get(10, TimeUnit.SECONDS), line -> line.startsWith("event: response.completed"),
                    "the stream ended without response.completed");
            read = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + rid(s)), s).GET().build());
        } finally {
            relay.saved.get(s).countDown();
        }
        assertEquals(200, read.statusCode(), read.body());
        assertEquals(1, relay.calls.of(s), "one model run");
        long used = settled(s).used();
        assertEquals(USED, used, "one background job of 6,900 tokens, its stream and a read of it by id: charged "
                + used + ": " + ledger(s));
    }

    /**
     * Control: the same dropped connection, but the relay's next write finds the client gone before the
     * client resumes; the creation settles first (charged its estimate), and the resumed stream is
     * charged what the job's usage passes it. One model run: 6,900.
     */
    @Test
    void aBackgroundStreamResumedAfterItsCreationSettledIsChargedItsUsageOnce() throws Exception {
        String s = subject();
        relay.upstream.put(s, new CountDownLatch(1));
        String first;
        try {
            first = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/responses", s, BODY, "\"sequence_number\":3");
        } finally {
            relay.upstream.get(s).countDown();
        }
        assertTrue(first.contains(rid(s)), first);
        long creation = settled(s).used();
        assertTrue(relay.seen.getOrDefault(s, "").startsWith("client gone"), String.valueOf(relay.seen.get(s)));
        HttpResponse<String> resumed = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + rid(s)
                + "?stream=true&starting_after=3"), s).GET().build());
        assertEquals(200, resumed.statusCode(), resumed.body());
        assertEquals(1, relay.calls.of(s), "one model run");
        long used = settled(s).used();
        assertEquals(USED, used, "creation charged " + creation + ", then the resumed stream: " + ledger(s));
    }

    /**
     * OpenAI's resume flow: the client's connection drops while the model thinks (after the client had
     * the job's id and sequence number 3); the relay, waiting for the provider's next event, does not know
     * yet. The client resumes the stream ({@code GET /v1/responses/{id}?stream=true&starting_after=3}) and
     * reads it to {@code response.completed}; then the provider's next event reaches the relay, whose
     * write fails. One model run of 6,900 tokens.
     */
    @Test
    void aBackgroundStreamResumedAfterADroppedConnectionIsChargedItsUsageOnce() throws Exception {
        String s = subject();
        relay.upstream.put(s, new CountDownLatch(1));
        HttpResponse<String> resumed;
        try {
            String first = TestHttp.postAndHangUpAfter(container.port(), "/ai/v1/responses", s, BODY,
                    "\"sequence_number\":3");
            assertTrue(first.contains(rid(s)), first);
            resumed = TestHttp.send(TestHttp.requestAs(container.uri("/ai/v1/responses/" + rid(s)
                    + "?stream=true&starting_after=3"), s).GET().build());
        } finally {
            relay.upstream.get(s).countDown();
        }
        assertEquals(200, resumed.statusCode(), resumed.body());
        assertTrue(resumed.body().contains("response.completed"), resumed.body());
        assertEquals(1, relay.calls.of(s), "one model run");
        long used = settled(s).used();
        assertEquals(USED, used, "one background job of 6,900 tokens, streamed, dropped and resumed: charged " + used
                + " (relay: " + relay.seen.get(s) + "): " + ledger(s));
    }
}
