package io.tokenquota.servlet.breakit223;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Round 223 of issue 11: the store misbehaving at settlement with failures other than
 * {@code STORE_UNAVAILABLE}. The {@code /tr/} filter's store runs a per-subject hook before each commit;
 * an armed subject's first commit attempt throws what the test armed (a heap spike's
 * {@link OutOfMemoryError}, or a {@code STORE_UNAVAILABLE} control), later attempts go through.
 *
 * <p>The model answers 1,500 prompt + 7,500 completion = 9,000 tokens of usage, synchronously as JSON
 * ({@code /tr/v1/chat/completions}) or streamed from an async worker ({@code /tr/v1/stream/chat/completions}).
 */
abstract class AbstractRound223 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long PROMPT = 1_500;
    static final long COMPLETION = 7_500;

    /** What the next commit of a subject throws, once. */
    static final Map<String, Supplier<Throwable>> ARMED = new ConcurrentHashMap<>();
    static final Map<String, AtomicInteger> COMMIT_ATTEMPTS = new ConcurrentHashMap<>();
    /** How many more commit attempts of a subject find the store away. */
    static final Map<String, AtomicInteger> BLIPS_LEFT = new ConcurrentHashMap<>();
    /** Subjects whose commit's retries run across the filter's destroy(). */
    static final java.util.Set<String> DESTROYED_FIRST = ConcurrentHashMap.newKeySet();
    QuotaFilter troubledFilter;

    static String subject() {
        return "u223-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static void sneaky(Throwable t) {
        if (t instanceof Error e) throw e;
        if (t instanceof RuntimeException r) throw r;
        throw new IllegalStateException(t);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaLedger troubled = new FailingLedger(store) {
            @Override
            protected void beforeCommit(String reservationId) {
                String s = store.reservation(reservationId).map(Reservation::subject).orElse("?");
                COMMIT_ATTEMPTS.computeIfAbsent(s, k -> new AtomicInteger()).incrementAndGet();
                Supplier<Throwable> armed = ARMED.remove(s);
                if (armed != null) {
                    sneaky(armed.get());
                }
                AtomicInteger left = BLIPS_LEFT.get(s);
                if (left != null && left.getAndDecrement() > 0) {
                    if (left.get() == 0 && DESTROYED_FIRST.contains(s)) {
                        // the last refusal comes after the redeploy destroyed the filter
                        troubledFilter.destroy();
                    }
                    throw unavailable();
                }
            }
        };
        troubledFilter = filterFor(troubled, "/tr/").build();
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("quota-tr", troubledFilter, "/tr/*")
                .servlet("chat", new Chat(), "/ai/*")
                .servlet("troubled", new Chat(), "/tr/*");
    }

    /** A chat model: JSON with usage, or (on a path with {@code /stream/}) an async SSE stream with usage. */
    static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            CALLS.count(s);
            if (!req.getRequestURI().contains("/stream/")) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-223", "gpt-4o", "Here is the plan.",
                        PROMPT, COMPLETION).getBytes(StandardCharsets.UTF_8));
                return;
            }
            resp.setContentType("text/event-stream");
            AsyncContext async = req.startAsync(req, resp);
            async.setTimeout(0);
            async.start(() -> {
                try {
                    OutputStream out = async.getResponse().getOutputStream();
                    String id = "chatcmpl-223s-" + s;
                    for (int i = 0; i < 20; i++) {
                        out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
                    }
                    out.write(ChatCompletions.usageEvent(id, PROMPT, COMPLETION).getBytes(StandardCharsets.UTF_8));
                    out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                } catch (IOException | RuntimeException e) {
                    // the client went
                } finally {
                    async.complete();
                }
            });
        }
    }

    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon.\"}]}";
    static final String ASK_STREAM = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon.\"}]}";

    String events(String s) {
        return ledger(s) + ", commit attempts " + COMMIT_ATTEMPTS.getOrDefault(s, new AtomicInteger()).get();
    }

    QuotaAccount call(String s, boolean stream) throws Exception {
        HttpResponse<String> r;
        try {
            r = TestHttp.client().send(TestHttp.jsonPost(container.uri(stream ? "/tr/v1/stream/chat/completions"
                    : "/tr/v1/chat/completions"), s, stream ? ASK_STREAM : ASK), HttpResponse.BodyHandlers.ofString());
        } catch (IOException cut) {
            r = null;
        }
        assertEquals(1, CALLS.of(s), "the model ran once (" + (r == null ? "cut" : r.statusCode()) + ")");
        // bounded (15 s): the charge lands, or the hold is left to expire
        return chargedAtLeast(s, PROMPT + COMPLETION);
    }

    static QuotaException unavailable() {
        return new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection reset (test)");
    }

    static Error heapSpike() {
        return new OutOfMemoryError("Java heap space (test: a heap spike while the JDBC driver read the commit's answer)");
    }

    /** Control: the first commit attempt finds the store away (a blip): retried, the usage is charged. */
    @Test
    void controlACommitThatBlipsIsChargedItsUsage() throws Exception {
        String s = subject();
        ARMED.put(s, AbstractRound223::unavailable);
        QuotaAccount a = call(s, false);
        assertTrue(a.used() >= PROMPT + COMPLETION, "charged " + a.used() + " reserved " + a.reserved() + ": " + events(s));
    }

    /** Control: the same on an async stream. */
    @Test
    void controlAStreamWhoseCommitBlipsIsChargedItsUsage() throws Exception {
        String s = subject();
        ARMED.put(s, AbstractRound223::unavailable);
        QuotaAccount a = call(s, true);
        assertTrue(a.used() >= PROMPT + COMPLETION, "charged " + a.used() + " reserved " + a.reserved() + ": " + events(s));
    }

    /**
     * The attack: the first commit attempt meets a heap spike ({@link OutOfMemoryError}), which the docs say
     * the keeping rides out ("a failure of any kind in one extension (an OutOfMemoryError during a heap
     * spike too) is logged and the keeping goes on"; a retried settlement's Error is "a heap spike passes:
     * the schedule goes on"). The settlement's first attempt is not retried: the hold is dropped from the
     * keeper and expires; the 9,000-token call is free.
     */
    @Test
    void aCommitThatMeetsAHeapSpikeIsChargedItsUsage() throws Exception {
        String s = subject();
        ARMED.put(s, AbstractRound223::heapSpike);
        QuotaAccount a = call(s, false);
        assertTrue(a.used() >= PROMPT + COMPLETION, "a synchronous 9,000-token call whose first commit attempt met an"
                + " OutOfMemoryError, charged " + a.used() + " reserved " + a.reserved() + ": " + events(s));
    }

    /** The same on an async stream (settled from the container's onComplete). */
    @Test
    void aStreamWhoseCommitMeetsAHeapSpikeIsChargedItsUsage() throws Exception {
        String s = subject();
        ARMED.put(s, AbstractRound223::heapSpike);
        QuotaAccount a = call(s, true);
        assertTrue(a.used() >= PROMPT + COMPLETION, "an async 9,000-token stream whose first commit attempt met an"
                + " OutOfMemoryError, charged " + a.used() + " reserved " + a.reserved() + ": " + events(s));
    }

    /**
     * A ledger behind a circuit breaker (Resilience4j's {@code CallNotPermittedException}, a
     * {@code RuntimeException}): open after other calls' failures, it refuses the commit at once. The filter
     * takes such an exception at reserve for the store being unavailable (503 store-unavailable, or
     * fail-open), but at settlement gives the charge up at the first attempt: the call is free.
     */
    @Test
    void aCommitRefusedByAnOpenCircuitBreakerIsChargedItsUsage() throws Exception {
        String s = subject();
        ARMED.put(s, () -> new IllegalStateException("CircuitBreaker 'quota-ledger' is OPEN and does not permit further calls (test)"));
        QuotaAccount a = call(s, false);
        assertTrue(a.used() >= PROMPT + COMPLETION, "a synchronous 9,000-token call whose first commit attempt was refused"
                + " by an open circuit breaker, charged " + a.used() + " reserved " + a.reserved() + ": " + events(s));
    }

    /** Control: a stream's commit refused 3 times (background retries), the filter destroyed meanwhile (a redeploy). */
    @Test
    void controlRetriesAcrossDestroyLand() throws Exception {
        String s = subject();
        DESTROYED_FIRST.add(s);
        BLIPS_LEFT.put(s, new AtomicInteger(3));
        QuotaAccount a = call(s, true);
        assertTrue(a.used() >= PROMPT + COMPLETION, "charged " + a.used() + " reserved " + a.reserved() + ": " + events(s));
    }
}
