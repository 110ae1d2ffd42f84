package io.tokenquota.servlet.breakit430;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.Ledgers;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 430 of issue 11: the month turn and long calls over real HTTP, on the SQL store (a {@link ClockedStore}: H2
 * with a {@link MutableClock} the test moves). An agent's streamed chat completion (OpenAI's streaming format with
 * {@code stream_options.include_usage}: platform.openai.com/docs/api-reference/chat/create and
 * .../chat-streaming, the usage chunk with {@code "choices": []}, as {@link ChatCompletions} writes it) is held in
 * January, shows its usage (15,000 tokens on a ~1,000-token hold), and ends in February. docs/semantics.md, "Holds that
 * outlive their month": the hold's charge goes to January; a late charge beyond the hold touches a later month only by
 * taking back purchased tokens it carried (none here), so February's allowance is untouched.
 *
 * <p>{@code /ai/} is a filter on the clocked store; {@code /tc/} a filter on the same store through a ledger whose
 * {@code extend} fails for the subjects in {@link #down} (the hold keeper cannot reach the store for a while), with a
 * one-minute hold TTL.
 */
abstract class AbstractRound430 extends H2FilterRound {
    static final YearMonth JAN = YearMonth.of(2031, 1);
    static final YearMonth FEB = YearMonth.of(2031, 2);
    /** The January stream's usage: 15,000 on a hold of about 1,000 (max_tokens 1,000). */
    static final long STREAM_PROMPT = 1_000;
    static final long STREAM_COMPLETION = 14_000;
    static final long STREAM = STREAM_PROMPT + STREAM_COMPLETION;
    /** A plain (not streamed) call's usage. */
    static final long CALL_PROMPT = 200;
    static final long CALL_COMPLETION = 7_800;
    static final long CALL = CALL_PROMPT + CALL_COMPLETION;

    /** An agent's long streamed call (OpenAI chat completions request: stream, include_usage, max_tokens). */
    static final String STREAM_BODY = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"Plan the quarterly supplier audit.\"}]}";
    /** A plain chat completion asking for up to 8,000 output tokens. */
    static final String CALL_BODY = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":8000,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the audit report.\"}]}";
    /** A small plain chat completion (max_tokens 500). */
    static final String SMALL_BODY = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":500,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}";
    static final long SMALL = 400;

    protected final MutableClock clock = new MutableClock(Instant.parse("2031-01-31T23:58:00Z"));
    protected ClockedStore clocked;
    protected final ModelCalls calls = new ModelCalls();
    /** Subjects whose hold extensions through /tc/ fail (STORE_UNAVAILABLE). */
    protected final Set<String> down = ConcurrentHashMap.newKeySet();
    /** Per subject: the stream waits here after its usage chunk, before [DONE]. */
    private final Map<String, CountDownLatch> finish = new ConcurrentHashMap<>();

    static String subject() {
        return "u430-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter unused) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        JdbiQuotaStore c = clocked.store();
        QuotaLedger troubled = new FailingLedger(c) {
            @Override
            protected void beforeExtend(String reservationId) {
                String s = c.reservation(reservationId).map(Reservation::subject).orElse("?");
                if (down.contains(s)) {
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection refused (test)");
                }
            }
        };
        QuotaFilter ai = QuotaFilter.builder(c).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        QuotaFilter tc = QuotaFilter.builder(troubled).protect("/tc/").holdTtl(Duration.ofMinutes(1))
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        return Deployment.create()
                .filter("quota-ai", ai, "/ai/*")
                .filter("quota-tc", tc, "/tc/*")
                .servlet("ai", new Model(), "/ai/*")
                .servlet("tc", new Model(), "/tc/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    /**
     * A streamed request: word chunks, the usage chunk, flushed; then (for a subject the test holds) it waits until
     * the test lets it end, then [DONE]. A plain request: a chat.completion with usage 200 + 7,800, or 100 + 300 when
     * it asks for at most 500 tokens.
     */
    private final class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String s = req.getHeader("x-user-id");
            calls.count(s);
            if (body.contains("\"stream\":true")) {
                resp.setContentType("text/event-stream");
                OutputStream out = resp.getOutputStream();
                String id = "chatcmpl-430-" + s;
                for (int i = 0; i < 5; i++) {
                    out.write(ChatCompletions.wordEvent(id).getBytes(StandardCharsets.UTF_8));
                }
                out.write(ChatCompletions.usageEvent(id, STREAM_PROMPT, STREAM_COMPLETION).getBytes(StandardCharsets.UTF_8));
                out.flush();
                CountDownLatch l = finish.get(s);
                if (l != null) {
                    try {
                        l.await(20, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                out.write(ChatCompletions.DONE.getBytes(StandardCharsets.UTF_8));
                return;
            }
            boolean small = body.contains("\"max_tokens\":500");
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-430", "gpt-4o-mini", "Done.",
                    small ? 100 : CALL_PROMPT, small ? 300 : CALL_COMPLETION).getBytes(StandardCharsets.UTF_8));
        }
    }

    /** An open stream and where its client has read to. */
    record Open(HttpResponse<Stream<String>> response, java.util.Iterator<String> lines) {
    }

    /** Starts the subject's stream on {@code prefix} and returns once the client has read its usage chunk. */
    Open streamShowingUsage(String prefix, String s) throws Exception {
        finish.put(s, new CountDownLatch(1));
        HttpResponse<Stream<String>> r = TestHttp.client().send(
                TestHttp.jsonPost(container.uri(prefix + "v1/chat/completions"), s, STREAM_BODY),
                HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, r.statusCode());
        java.util.Iterator<String> lines = r.body().iterator();
        boolean seen = false;
        while (!seen && lines.hasNext()) {
            seen = lines.next().contains("\"total_tokens\":" + STREAM);
        }
        org.junit.jupiter.api.Assertions.assertTrue(seen, "the usage chunk");
        return new Open(r, lines);
    }

    /** Lets the subject's stream end and reads it to its end. */
    void endStream(String s, Open stream) {
        finish.get(s).countDown();
        while (stream.lines().hasNext()) {
            stream.lines().next();
        }
    }

    QuotaAccount month(String s, YearMonth m, long used) throws InterruptedException {
        return Ledgers.chargedAtLeast(clocked.store(), s, m, used).orElseThrow();
    }

    String events(String s) {
        return "January " + Ledgers.events(clocked.store(), s, JAN) + ", February " + Ledgers.events(clocked.store(), s, FEB);
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    // ------------------------------------------------------------------ 1. a January overrun and February's room

    /**
     * January 31st, 23:58: the agent's stream is held (about 1,000 tokens) and shows its usage, 15,000. At 00:01 on
     * February 1st, with the stream still open, the user makes a plain call asking for 8,000 output tokens. February
     * is a fresh month: 20,000 allowance, nothing used, nothing held (the January call's charge, hold and overrun
     * alike, is January's: docs/semantics.md "Holds that outlive their month"; no purchased tokens exist for a late
     * charge to take back). Right: the February call is served (200) and charged 8,000 to February; the stream
     * charged 15,000 to January. Found and fixed: the filter counted the January call's overrun (15,000 less its hold)
     * against February's allowance ({@code HoldKeeper.beforeReserve} / {@code UnlandedCharges.owed} ignored the hold's
     * month) and refused the call 429.
     */
    @Test
    void aJanuaryStreamsOverrunDoesNotRefuseAFebruaryCall() throws Exception {
        String s = subject();
        clock.set(Instant.parse("2031-01-31T23:58:00Z"));
        var stream = streamShowingUsage("/ai/", s);
        clock.set(Instant.parse("2031-02-01T00:01:00Z"));
        HttpResponse<String> feb = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, CALL_BODY);
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, STREAM);
        QuotaAccount febAccount = month(s, FEB, feb.statusCode() == 200 ? CALL : 0);
        assertAll(() -> assertEquals(200, feb.statusCode(), kind() + ": February's first call, its month untouched,"
                        + " refused: " + feb.body() + " " + feb.headers().map()),
                () -> assertEquals(STREAM, jan.used(), "January: " + jan + " " + events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, CALL, 0L), view(febAccount),
                        "February: " + febAccount + " " + events(s)),
                () -> assertEquals(2, calls.of(s), "model calls"));
    }

    /**
     * Control: the same two calls, the February call made once the January stream has ended (charged 15,000 to
     * January): served, 8,000 charged to February.
     */
    @Test
    void controlTheFebruaryCallAfterTheJanuaryStreamEnded() throws Exception {
        String s = subject();
        clock.set(Instant.parse("2031-01-31T23:58:00Z"));
        var stream = streamShowingUsage("/ai/", s);
        clock.set(Instant.parse("2031-02-01T00:01:00Z"));
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, STREAM);
        HttpResponse<String> feb = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, CALL_BODY);
        QuotaAccount febAccount = month(s, FEB, CALL);
        assertAll(() -> assertEquals(200, feb.statusCode(), feb.body()),
                () -> assertEquals(STREAM, jan.used(), "January: " + jan + " " + events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, CALL, 0L), view(febAccount), "February: " + febAccount),
                () -> assertEquals("2031-03-01T00:00:00Z", feb.headers().firstValue("X-Quota-Reset").orElse(null)),
                () -> assertEquals(2, calls.of(s), "model calls"));
    }

    // ------------------------------------------------------------------ 2. the keeper cannot reach the store

    /**
     * /tc/ (hold TTL one minute): the January stream is held at 23:58 and shows 15,000; its keeper cannot extend
     * the hold (STORE_UNAVAILABLE on extend), and at 00:05 on February 1st the user's small February call (max_tokens
     * 500) expires the January hold at its reserve. The January call still runs and ends: a late commit of its
     * usage to January (docs/semantics.md, "Late commit"; "Holds that outlive their month"). Right: January used
     * 15,000, February used 400 (the small call), nothing held.
     */
    @Test
    void aJanuaryStreamWhoseHoldLapsedAcrossTheTurnIsChargedToJanuary() throws Exception {
        String s = subject();
        clock.set(Instant.parse("2031-01-31T23:58:00Z"));
        down.add(s);
        var stream = streamShowingUsage("/tc/", s);
        clock.set(Instant.parse("2031-02-01T00:05:00Z"));
        HttpResponse<String> feb = TestHttp.postJson(container.uri("/tc/v1/chat/completions"), s, SMALL_BODY);
        down.remove(s);
        endStream(s, stream);
        QuotaAccount jan = month(s, JAN, STREAM);
        QuotaAccount febAccount = month(s, FEB, SMALL);
        assertAll(() -> assertEquals(200, feb.statusCode(), feb.body()),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, STREAM, 0L), view(jan), "January: " + jan + " " + events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, SMALL, 0L), view(febAccount),
                        "February: " + febAccount + " " + events(s)),
                () -> assertEquals(2, calls.of(s), "model calls"));
    }

    // ------------------------------------------------------------------ 3. an Idempotency-Key across the turn

    /**
     * A call with {@code Idempotency-Key} on January 31st, 23:58 (charged 8,000 to January), then the same request
     * with the same key on February 1st, 00:01 (a client's retry after a timeout: the IETF draft
     * draft-ietf-httpapi-idempotency-key-header, "Idempotency-Key" request header). docs/servlet.md step 4: "A key
     * buys at most one model call": 409 with February's quota headers (reset March 1st, 20,000 remaining), the model
     * called once, January 8,000, February nothing.
     */
    @Test
    void anIdempotencyKeyRepeatedAcrossTheTurnBuysNoSecondCall() throws Exception {
        String s = subject();
        String key = "retry-" + UUID.randomUUID();
        clock.set(Instant.parse("2031-01-31T23:58:00Z"));
        HttpResponse<String> jan = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, CALL_BODY,
                "Idempotency-Key", key);
        month(s, JAN, CALL);
        clock.set(Instant.parse("2031-02-01T00:01:00Z"));
        HttpResponse<String> again = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, CALL_BODY,
                "Idempotency-Key", key);
        QuotaAccount janAccount = month(s, JAN, CALL);
        QuotaAccount febAccount = clocked.store().account(s);
        assertAll(() -> assertEquals(200, jan.statusCode(), jan.body()),
                () -> assertEquals(409, again.statusCode(), again.body()),
                () -> assertEquals("2031-03-01T00:00:00Z", again.headers().firstValue("X-Quota-Reset").orElse(null)),
                () -> assertEquals("20000", again.headers().firstValue("X-Quota-Remaining").orElse(null)),
                () -> assertEquals(CALL, janAccount.used(), events(s)),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, 0L, 0L), view(febAccount), events(s)),
                () -> assertEquals(1, calls.of(s), "model calls"));
    }
}
