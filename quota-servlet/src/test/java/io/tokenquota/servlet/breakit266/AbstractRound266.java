package io.tokenquota.servlet.breakit266;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 266 of issue 11, time: async cycles whose container timeout races the answer, a stream read
 * slowly past a short hold TTL, one Idempotency-Key sent many times at once to an async endpoint and
 * again later, and a key retried across the month turn after a 429.
 */
abstract class AbstractRound266 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** Counted down by the application's own onTimeout listener, per subject. */
    final Map<String, CountDownLatch> timedOut = new ConcurrentHashMap<>();
    /** The slow stream's client has read its first bytes and asks the servlet to go on, per subject. */
    final Map<String, CountDownLatch> goOn = new ConcurrentHashMap<>();
    final MutableClock clock = new MutableClock(Instant.parse("2031-01-31T23:59:59Z"));
    ClockedStore clocked;

    static final long PROMPT = 900;
    static final long COMPLETION = 6_000;
    static final long USAGE = PROMPT + COMPLETION;
    /**
     * The slow stream's deltas written before it waits for its client (20 KB, more than the 8 KB the client
     * reads first): their text (some 200 tokens) is far below the stream's hold of 1,008, so a call of the same
     * user meanwhile owes nothing for it.
     */
    static final int HEAD = 150;
    /** The slow stream's hold TTL, as its filter is built. */
    static final Duration SHORT_TTL = Duration.ofSeconds(1);
    static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Write the report.\"}]}";

    static String subject() {
        return "u266-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        QuotaFilter shortTtl = filterFor("/short/").holdTtl(SHORT_TTL).build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("short-quota", shortTtl, "/short/*")
                .filter("clocked-quota", clocked.filter("/tc/"), "/tc/*")
                .servlet("async", new AsyncChat(), "/ai/async/*")
                .servlet("fallback", new Plain(), "/ai/fallback/*")
                .servlet("slow", new SlowStream(), "/short/*")
                .servlet("clocked", new Plain(), "/tc/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    /** A plain chat completion (usage 900 + 100). */
    class Plain extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write(ChatCompletions.completion("chatcmpl-p", "gpt-4o-mini", "Done.", PROMPT, 100));
        }
    }

    /**
     * An async endpoint (Servlet async, as Spring's SseEmitter / DeferredResult run): a worker writes the
     * model's answer; the application's own listener reacts to the container's timeout.
     */
    class AsyncChat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            String mode = req.getPathInfo();
            AsyncContext ctx = req.startAsync(req, resp);
            CountDownLatch timeout = timedOut.computeIfAbsent(s, k -> new CountDownLatch(1));
            ctx.setTimeout(mode.startsWith("/quick") ? 10_000 : 300);
            ctx.addListener(new AsyncListener() {
                @Override
                public void onComplete(AsyncEvent event) {
                }

                @Override
                public void onTimeout(AsyncEvent event) throws IOException {
                    timeout.countDown();
                    if (mode.startsWith("/sse")) {
                        // the application closes the stream on timeout with what the model reported so far
                        PrintWriter w = event.getAsyncContext().getResponse().getWriter();
                        w.write(ChatCompletions.usageEvent("chatcmpl-s", PROMPT, COMPLETION));
                        w.write(ChatCompletions.DONE);
                        w.flush();
                        event.getAsyncContext().complete();
                    } else if (mode.startsWith("/dispatch")) {
                        // DeferredResult.onTimeout(() -> result.setResult(fallback model's answer)): dispatched
                        event.getAsyncContext().dispatch("/ai/fallback/chat");
                    }
                }

                @Override
                public void onError(AsyncEvent event) {
                }

                @Override
                public void onStartAsync(AsyncEvent event) {
                }
            });
            Thread worker = new Thread(() -> {
                try {
                    HttpServletResponse r = (HttpServletResponse) ctx.getResponse();
                    if (mode.startsWith("/quick")) {
                        r.setContentType("application/json");
                        r.getWriter().write(ChatCompletions.completion("chatcmpl-q", "gpt-4o-mini", "Done.", PROMPT, 100));
                        ctx.complete();
                    } else if (mode.startsWith("/buffered")) {
                        // the whole answer is written (not flushed); the worker then saves the conversation,
                        // which outlasts the container's async timeout
                        r.setContentType("application/json");
                        r.getWriter().write(ChatCompletions.completion("chatcmpl-b", "gpt-4o-mini", "The report.", PROMPT, COMPLETION));
                        timeout.await(5, TimeUnit.SECONDS);
                    } else if (mode.startsWith("/sse")) {
                        r.setContentType("text/event-stream");
                        PrintWriter w = r.getWriter();
                        for (int i = 0; i < 10; i++) {
                            w.write(ChatCompletions.wordEvent("chatcmpl-s"));
                        }
                        w.flush();
                        // the model stalls; the timeout listener ends the stream
                        timeout.await(5, TimeUnit.SECONDS);
                    }
                } catch (Exception e) {
                    // the cycle may be over
                }
            });
            worker.setDaemon(true);
            worker.start();
        }
    }

    /**
     * A long stream (4 MB of deltas) that ends with its usage (900 + 15,000). Its first {@link #HEAD}
     * deltas are written and flushed at once; the rest only once the client asks it to go on ({@link #goOn}),
     * as a stream whose client stops reading waits on its next write. Not the socket's back-pressure itself:
     * the kernel's loopback buffers take most of the 4 MB, so how far the servlet got before it blocked (and
     * whether its usage was already written) would depend on the machine's load.
     */
    class SlowStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            if (req.getRequestURI().endsWith("/plain")) {
                resp.setContentType("application/json");
                resp.getWriter().write(ChatCompletions.completion("chatcmpl-p", "gpt-4o-mini", "Done.", PROMPT, 100));
                return;
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            byte[] word = ChatCompletions.wordEvent("chatcmpl-l").getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < HEAD; i++) {
                out.write(word);
            }
            out.flush();
            try {
                if (!goOn.computeIfAbsent(req.getHeader("x-user-id"), k -> new CountDownLatch(1)).await(60, TimeUnit.SECONDS)) {
                    throw new IOException("the client never asked the stream to go on");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
            for (int i = HEAD; i < 30_000; i++) {
                out.write(word);
                if (i % 100 == 0) {
                    out.flush();
                }
            }
            out.write(ChatCompletions.usageEvent("chatcmpl-l", PROMPT, 15_000).getBytes(StandardCharsets.UTF_8));
            out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    /**
     * The worker has written the whole chat completion (usage 6,900) into the response when the container's
     * async timeout fires (it is still saving the conversation): the container answers 500 in its place.
     * The model ran and its usage was written: the call must be charged at least 6,900.
     */
    @Test
    void anAsyncAnswerStillInTheBufferWhenTheTimeoutFiresIsChargedItsUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/async/buffered"), s, CHAT);
        assertEquals(1, calls.of(s));
        QuotaAccount a = chargedAtLeast(s, USAGE);
        assertTrue(a.used() >= USAGE, kind() + ": status " + r.statusCode() + ", charged " + a.used() + " of " + USAGE
                + ": " + ledger(s));
    }

    /**
     * An SseEmitter-style stream whose model stalls: the application's timeout callback sends the usage
     * it has and completes. Charged its usage.
     */
    @Test
    void aStreamEndedByTheTimeoutCallbackWithItsUsageIsChargedIt() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/async/sse"), s, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("[DONE]"), r.body());
        QuotaAccount a = chargedAtLeast(s, USAGE);
        assertTrue(a.used() >= USAGE, kind() + ": charged " + a.used() + ": " + ledger(s));
    }

    /**
     * A DeferredResult-style handler whose model stalls: on the container's timeout the application
     * dispatches to a fallback that calls a smaller model (usage 1,000) and writes its answer. Charged
     * at least the fallback's usage.
     */
    @Test
    void aTimeoutDispatchedToAFallbackModelIsChargedItsUsage() throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/async/dispatch"), s, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls.of(s), r.body());
        QuotaAccount a = chargedAtLeast(s, PROMPT + 100);
        assertTrue(a.used() >= PROMPT + 100, kind() + ": charged " + a.used() + ": " + ledger(s));
    }

    /**
     * Twelve clients send one Idempotency-Key at once to an async endpoint; then once more after the first
     * settled. One model call, one charge.
     */
    @Test
    void oneKeyFromTwelveClientsAtOnceToAnAsyncEndpointBuysOneCall() throws Exception {
        String s = subject();
        String key = "k-" + s;
        var client = TestHttp.fresh();
        CountDownLatch go = new CountDownLatch(1);
        List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            all.add(CompletableFuture.supplyAsync(() -> {
                try {
                    go.await();
                    return client.send(TestHttp.jsonPost(container.uri("/ai/async/quick"), s, CHAT, "Idempotency-Key", key),
                            HttpResponse.BodyHandlers.ofString());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        go.countDown();
        int ok = 0;
        for (var f : all) {
            int st = f.get(20, TimeUnit.SECONDS).statusCode();
            if (st == 200) ok++;
            else assertEquals(409, st);
        }
        Ledgers.settled(store, s);
        HttpResponse<String> again = TestHttp.postJson(container.uri("/ai/async/quick"), s, CHAT, "Idempotency-Key", key);
        assertEquals(409, again.statusCode(), again.body());
        assertEquals(1, ok, kind() + ": answers");
        assertEquals(1, calls.of(s), kind() + ": model calls");
        assertEquals(PROMPT + 100, settled(s).used(), ledger(s));
    }

    /**
     * A stream whose client reads its first bytes and then stops reading for 2.5 TTLs of its hold (1 s), while
     * the same user makes two short calls, one during the pause and one after it, while the stream still runs
     * past its TTL; then the client reads the rest. Each call is charged its usage; the long one 15,900.
     *
     * <p>The stream waits for its client's go-on after its first deltas ({@link SlowStream}), so both short calls
     * meet it at the same point whatever the load: running, its hold past its first TTL at the second, its text so
     * far within its hold. (It used to write on into the socket's buffers meanwhile: a short call that met it
     * with most of its 30,000 deltas written and no usage yet owed their text, some 2 tokens a delta, against
     * the 20,000 allowance and was refused 429, as the filter must; after the stream settled, 15,900, it passed.)
     * The pause is the hold's own age, awaited (bounded) rather than slept.
     */
    @Test
    void aStreamReadSlowlyPastItsHoldTtlIsChargedItsUsage() throws Exception {
        String s = subject();
        byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
        CountDownLatch go = goOn.computeIfAbsent(s, k -> new CountDownLatch(1));
        try (Socket socket = new Socket("127.0.0.1", container.port())) {
            socket.setSoTimeout(20_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /short/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nx-user-id: " + s
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] first = in.readNBytes(8192);
            assertTrue(new String(first, StandardCharsets.ISO_8859_1).startsWith("HTTP/1.1 200"));
            // the stream's hold, the subject's only one yet
            String holdId = store.events(s, YearMonth.now(java.time.ZoneOffset.UTC)).stream()
                    .filter(e -> e.kind() == io.tokenquota.EventKind.RESERVED).findFirst().orElseThrow().reservationId();
            Instant taken = store.reservation(holdId).orElseThrow().createdAt();
            HttpResponse<String> during = TestHttp.postJson(container.uri("/short/plain"), s, CHAT);
            assertEquals(200, during.statusCode(), during.body());
            // the client does not read until the hold is 2.5 TTLs old (the stream waits for it meanwhile)
            Instant pastTtl = taken.plus(SHORT_TTL.multipliedBy(5).dividedBy(2));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (Instant.now().isBefore(pastTtl) && System.nanoTime() < deadline) {
                TimeUnit.MILLISECONDS.sleep(20);
            }
            assertTrue(!Instant.now().isBefore(pastTtl), "the hold taken at " + taken + " never got 2.5 TTLs old");
            HttpResponse<String> after = TestHttp.postJson(container.uri("/short/plain"), s, CHAT);
            String stream = "the stream's hold " + store.reservation(holdId).orElse(null);
            go.countDown();
            ByteArrayOutputStream rest = new ByteArrayOutputStream();
            in.transferTo(rest);
            assertTrue(rest.toString(StandardCharsets.UTF_8).contains("[DONE]"));
            QuotaAccount a = chargedAtLeast(s, 15_900 + 2 * (PROMPT + 100));
            assertEquals(200, after.statusCode(), after.body() + "; " + stream);
            assertTrue(a.used() >= 15_900 + 2 * (PROMPT + 100), kind() + ": charged " + a.used() + ": " + ledger(s));
        } finally {
            go.countDown();
        }
    }

    /**
     * On the last second of January with January's allowance spent, a call with an Idempotency-Key is
     * refused 429 with {@code Retry-After: 1}. The client waits that second and retries with the same key
     * (as the Stripe-style retry rule says: the key is spent only by a request that was processed): it is
     * February, the allowance is back, and no model ever ran for that key. Served and charged once.
     */
    @Test
    void aKeyRefused429OnTheLastSecondIsServedAfterTheTurn() {
        clock.set(Instant.parse("2031-01-31T23:59:59Z"));
        String s = subject();
        String key = "k-" + s;
        clocked.store().consume(s, ALLOWANCE, null);
        HttpResponse<String> refused = TestHttp.postJson(container.uri("/tc/chat"), s, CHAT, "Idempotency-Key", key);
        assertEquals(429, refused.statusCode(), refused.body());
        assertEquals("1", refused.headers().firstValue("Retry-After").orElse(null));
        clock.set(Instant.parse("2031-02-01T00:00:00Z"));
        HttpResponse<String> retry = TestHttp.postJson(container.uri("/tc/chat"), s, CHAT, "Idempotency-Key", key);
        assertEquals(200, retry.statusCode(), kind() + ": " + retry.body());
        assertEquals(1, calls.of(s));
        assertEquals(PROMPT + 100, Ledgers.settled(clocked.store(), s).used());
        assertEquals(ALLOWANCE, clocked.store().account(s, YearMonth.of(2031, 1)).orElseThrow().used());
    }
}
