package io.tokenquota.servlet.breakit314;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.CountingModel;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 314 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the HTTP
 * edge of items 2, 4 and 6 together. One {@code Idempotency-Key} on an OpenAI chat stream that the client cuts
 * before its usage chunk and then retries (the OpenAI Java SDK resends a failed request with the same
 * {@code Idempotency-Key} header it generated, as Stainless SDKs do for retries); and the same keyed stream held
 * across the month turn (the fixtures' {@link ClockedStore}), cut by its client in the new month or read whole.
 *
 * <p>The model answers OpenAI's chat stream with {@code stream_options.include_usage}
 * (platform.openai.com/docs/api-reference/chat-streaming: chunks of {@code chat.completion.chunk}, then one
 * chunk with empty {@code choices} and the {@code usage}, then {@code data: [DONE]}): {@link ChatCompletions}.
 * Rule 5 (docs/servlet.md, "Settlement rules"): a client that hangs up before the usage is charged the
 * estimate (its hold here: the text it carried, "word ", is far less); rule 2: usage seen is charged, also
 * after a hold's month ended (docs/semantics.md: "a hold is charged to the month it was taken in").
 */
abstract class AbstractRound314 extends ModelCallRound {
    static final String CHAT = "/ai/v1/chat/completions";
    static final String MONTH_CHAT = "/month/v1/chat/completions";
    static final long PROMPT = 1_200;
    static final long COMPLETION = 4_800;
    static final long USAGE = PROMPT + COMPLETION;
    static final YearMonth JAN = YearMonth.of(2026, 1);
    static final YearMonth FEB = YearMonth.of(2026, 2);

    final HangUps hangUps = new HangUps();
    /** Streams that wait, after their first chunk, until the test opens their gate: by gate name. */
    final Map<String, CountDownLatch> arrived = new ConcurrentHashMap<>();
    final Map<String, CountDownLatch> gates = new ConcurrentHashMap<>();
    /** January's last second: the month turns two seconds after it. */
    static final Instant LAST_SECOND = Instant.parse("2026-01-31T23:59:59Z");
    final MutableClock clock = new MutableClock(LAST_SECOND);
    ClockedStore clocked;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        Model model = new Model();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("month-quota", clocked.filter("/month/"), "/month/*")
                .servlet("model", model, "/ai/*")
                .servlet("month-model", new Model(), "/month/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) {
            clocked.close();
        }
    }

    CountDownLatch latch(Map<String, CountDownLatch> m, String gate) {
        return m.computeIfAbsent(gate, g -> new CountDownLatch(1));
    }

    /**
     * An OpenAI chat model: whole ({@code chat.completion} with {@code usage}) or streamed (one "word " chunk,
     * flushed, then the usage chunk and {@code [DONE]}). A stream with an {@code x-gate} waits after its first
     * chunk until the test opens the gate; a stream whose client the test hangs up goes on as a relay does
     * (keep-alive comments until a write fails), never reaching its usage chunk.
     */
    class Model extends CountedModel {
        @Override
        protected void answer(Call call) throws IOException {
            if (!call.variant().startsWith("stream")) {
                call.answerWithLength("chatcmpl-314");
                return;
            }
            call.resp().setContentType("text/event-stream");
            OutputStream out = call.resp().getOutputStream();
            EventStreams.write(out, ChatCompletions.wordEvent("chatcmpl-314s"));
            String gate = call.req().getHeader("x-gate");
            if (gate != null) {
                latch(arrived, gate).countDown();
                try {
                    latch(gates, gate).await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            String tail = ChatCompletions.usageEvent("chatcmpl-314s", call.prompt(), call.completion()) + ChatCompletions.DONE;
            if ("stream-cut".equals(call.variant())) {
                hangUps.relayUntilGone(call.subject(), out, ": keep-alive\n\n", tail);
            } else {
                EventStreams.write(out, tail);
            }
        }
    }

    /** The chat body (gpt-4o-mini, max_tokens 2,000), streamed with include_usage when {@code stream}. */
    static String body(boolean stream) {
        return CountingModel.chat(2_000, stream);
    }

    /**
     * A raw POST of the streamed chat body to {@code path} as {@code s} with {@code headers}, read until the
     * first "word " chunk arrived, then the connection reset (the client gave up); what it read.
     */
    String postAndHangUpAfterFirstWords(String path, String s, String... headers) throws IOException {
        byte[] bytes = body(true).getBytes(StandardCharsets.UTF_8);
        StringBuilder head = new StringBuilder("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "x-user-id: " + s + "\r\nContent-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n"
                + "x-prompt: " + PROMPT + "\r\nx-completion: " + COMPLETION + "\r\nx-variant: stream-cut\r\n");
        for (int i = 0; i < headers.length; i += 2) {
            head.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
        }
        head.append("\r\n");
        hangUps.expect(s);
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", container.port()), 5_000);
            socket.setSoTimeout(15_000);
            OutputStream out = socket.getOutputStream();
            out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
            out.write(bytes);
            out.flush();
            java.io.InputStream in = socket.getInputStream();
            java.io.ByteArrayOutputStream seen = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            int n;
            while ((n = in.read(buf)) != -1) {
                seen.write(buf, 0, n);
                if (seen.toString(StandardCharsets.UTF_8).contains("word ")) {
                    break;
                }
            }
            socket.setSoLinger(true, 0);
            return seen.toString(StandardCharsets.UTF_8);
        } finally {
            hangUps.happened(s);
        }
    }

    /** What the subject's hold of {@code month} held: its RESERVED event. */
    static long held(QuotaStore store, String s, YearMonth month) {
        for (LedgerEvent e : store.events(s, month)) {
            if (e.kind() == EventKind.RESERVED) {
                return e.tokens();
            }
        }
        throw new AssertionError("no hold of " + s + " in " + month + ": " + Ledgers.events(store, s, month));
    }

    HttpResponse<String> keyed(String path, String s, String key, boolean stream) {
        return TestHttp.send(usageRequest(path, s, 2_000, PROMPT, COMPLETION, stream ? "stream" : "json",
                "Idempotency-Key", key));
    }

    // ------------------------------------------------------------------ one key, a stream cut, then retried

    /**
     * A streamed call with an {@code Idempotency-Key}; the client reads the first words and hangs up before the
     * usage chunk; the relay goes on until its write fails and never writes the usage. The SDK then retries
     * with the same key, the stream read whole this time. Expected: the cut call charged its hold (rule 5), the
     * retry 409 without a model call (docs/decisions.md: "A filter request with an Idempotency-Key that
     * belongs to a finished or running request gets 409").
     */
    @Test
    void aKeyedStreamCutBeforeItsUsageIsChargedItsHoldAndItsRetryBuysNoSecondCall() throws Exception {
        String s = subject();
        String key = UUID.randomUUID().toString();
        String seen = postAndHangUpAfterFirstWords(CHAT, s, "Idempotency-Key", key);
        assertTrue(seen.startsWith("HTTP/1.1 200"), seen);
        QuotaAccount cut = Ledgers.chargedAtLeast(store, s, 1);
        long hold = held(store, s, YearMonth.now(ZoneOffset.UTC));
        HttpResponse<String> retry = keyed(CHAT, s, key, true);
        QuotaAccount a = settled(s);
        assertEquals(409, retry.statusCode(), kind() + ": the retry with the cut call's key: " + retry.body());
        assertEquals(1, calls.of(s), kind() + ": model calls; " + ledger(s));
        assertEquals(hold, cut.used(), kind() + ": the cut stream (held " + hold + ") charged " + cut.used() + "; " + ledger(s));
        assertEquals(hold, a.used(), kind() + ": after the retry " + a.used() + "; " + ledger(s));
    }

    /** Control: the same keyed stream read whole is charged its usage once; the retry with its key is 409. */
    @Test
    void controlAKeyedStreamReadWholeIsChargedItsUsageOnce() {
        String s = subject();
        String key = UUID.randomUUID().toString();
        HttpResponse<String> r = keyed(CHAT, s, key, true);
        assertEquals(200, r.statusCode(), r.body());
        HttpResponse<String> retry = keyed(CHAT, s, key, true);
        assertEquals(409, retry.statusCode(), retry.body());
        assertCharged(s, r, 200, 1, USAGE, "a keyed stream read whole, then its key retried");
    }

    // ------------------------------------------------------------------ the month turns while a keyed stream is held

    /**
     * A keyed stream held at January's last second waits in the model; the month turns and the user's first
     * February call (whole, 6,000) is served; then the stream ends with its usage and its client retries the
     * key in February. Expected: January 6,000 (the stream), February 6,000 (the new call), the retry 409, two
     * model calls.
     */
    @Test
    void aKeyedStreamHeldAcrossTheMonthTurnIsChargedToJanuaryAndItsKeyBuysNoFebruaryCall() throws Exception {
        String s = subject();
        String key = UUID.randomUUID().toString();
        String gate = "whole-" + s;
        clock.set(LAST_SECOND);
        CompletableFuture<HttpResponse<String>> held = TestHttp.client().sendAsync(
                usageRequest(MONTH_CHAT, s, 2_000, PROMPT, COMPLETION, "stream", "Idempotency-Key", key, "x-gate", gate),
                HttpResponse.BodyHandlers.ofString());
        assertTrue(latch(arrived, gate).await(15, TimeUnit.SECONDS), "the stream reached the model");
        clock.advance(Duration.ofSeconds(2));
        HttpResponse<String> february = TestHttp.send(usageRequest(MONTH_CHAT, s, 2_000, PROMPT, COMPLETION, "json"));
        assertEquals(200, february.statusCode(), february.body());
        latch(gates, gate).countDown();
        HttpResponse<String> streamed = held.get(20, TimeUnit.SECONDS);
        assertEquals(200, streamed.statusCode(), streamed.body());
        HttpResponse<String> retry = keyed(MONTH_CHAT, s, key, true);
        assertMonths(s, USAGE, retry);
    }

    /**
     * The same keyed stream held across the month turn, its client hanging up in February after the first words
     * (before the usage chunk); then the key is retried. Expected: January charged the stream's hold (rule 5),
     * February the new call's 6,000, the retry 409.
     */
    @Test
    void aKeyedStreamHeldAcrossTheMonthTurnAndCutInFebruaryIsChargedToJanuary() throws Exception {
        String s = subject();
        String key = UUID.randomUUID().toString();
        String gate = "cut-" + s;
        clock.set(LAST_SECOND);
        CompletableFuture<String> client = CompletableFuture.supplyAsync(() -> {
            try {
                return postAndHangUpAfterFirstWords(MONTH_CHAT, s, "Idempotency-Key", key, "x-gate", gate);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        assertTrue(latch(arrived, gate).await(15, TimeUnit.SECONDS), "the stream reached the model");
        String seen = client.get(15, TimeUnit.SECONDS);
        assertTrue(seen.startsWith("HTTP/1.1 200"), seen);
        clock.advance(Duration.ofSeconds(2));
        HttpResponse<String> february = TestHttp.send(usageRequest(MONTH_CHAT, s, 2_000, PROMPT, COMPLETION, "json"));
        assertEquals(200, february.statusCode(), february.body());
        latch(gates, gate).countDown();
        // the cut stream's charge lands in January (its hold's month): wait for January to be charged its hold
        Ledgers.chargedAtLeast(clocked.store(), s, JAN, held(clocked.store(), s, JAN));
        HttpResponse<String> retry = keyed(MONTH_CHAT, s, key, true);
        assertMonths(s, held(clocked.store(), s, JAN), retry);
    }

    void assertMonths(String s, long january, HttpResponse<String> retry) {
        QuotaStore st = clocked.store();
        Ledgers.settled(st, s);
        long jan = st.account(s, JAN).map(QuotaAccount::used).orElse(-1L);
        long feb = st.account(s, FEB).map(QuotaAccount::used).orElse(-1L);
        String what = kind() + ": jan " + Ledgers.events(st, s, JAN) + ", feb " + Ledgers.events(st, s, FEB)
                + ", model calls " + calls.of(s) + ", retry " + retry.statusCode() + " " + retry.body();
        assertEquals(409, retry.statusCode(), what);
        assertEquals(2, calls.of(s), what);
        assertEquals(january, jan, what);
        assertEquals(USAGE, feb, what);
    }
}
