package io.tokenquota.servlet.breakit365;

import static io.tokenquota.servlet.testing.TestHttp.fresh;
import static io.tokenquota.servlet.testing.TestHttp.readToDone;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Round 365 of issue 11: one subject's calls at once, and what a stream that reported more than its hold owes
 * the next reserve (docs/servlet.md, "The next call sees the previous call's charge": the next call "is admitted
 * only if the account has room for its own hold plus what the subject's calls whose charges have not landed owe
 * beyond their holds: those settling (their decided charge) and those still running (what they would be charged
 * if they settled now)"; {@code UnlandedCharges.SETTLEMENT_WAIT}: "one that takes longer ... is counted by what it
 * owes instead").
 *
 * <p>A's call is a streamed chat completion whose usage (14,000 prompt tokens of a stored thread the estimate
 * cannot see, 1,000 written) comes in its last chunk, far beyond its 1,008-token hold. Its relay also passes on
 * the upstream's trailer fields (RFC 9110 section 6.5; W3C Server Timing, section 3: "the server MAY send the
 * Server-Timing header field as an HTTP trailer"), through the Servlet 6 {@code setTrailerFields} supplier, which
 * returns them once the upstream's trailer section has arrived (it comes after the last data, as HTTP/2 sends it).
 * The quota filter reads that supplier while it settles (round 356: an {@code X-Quota-Actual-Tokens} trailer is
 * the request's figure), after the settlement has begun and before it has decided the charge.
 *
 * <p>Shapes: the requests are OpenAI Chat Completions requests ({@code model}, {@code messages}, {@code max_tokens},
 * {@code stream}, {@code stream_options.include_usage}: platform.openai.com/docs/api-reference/chat/create); a
 * stream is {@code chat.completion.chunk} events, the usage chunk with empty {@code choices} when
 * {@code include_usage} is asked, ending in {@code data: [DONE]} (platform.openai.com/docs/api-reference/chat-streaming);
 * a whole answer is a {@code chat.completion} with its {@code usage} (platform.openai.com/docs/api-reference/chat/object).
 */
abstract class AbstractRound365 extends ModelCallRound {
    static final String PATH = "/ai/chat/completions";
    static final long A_PROMPT = 14_000;
    static final long A_COMPLETION = 1_000;
    static final long A_USAGE = A_PROMPT + A_COMPLETION;
    /** The prompt B's model reports: the 8 the filter's estimator counts for {@code CountingModel#chat}. */
    static final long B_PROMPT = 8;

    /** Per subject: the relay's trailer supplier was called (entered), and the upstream's trailers arrive (open). */
    record Trailers(CountDownLatch entered, CountDownLatch arrive) {
    }

    final Map<String, Trailers> upstreamTrailers = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        return Deployment.create()
                .filter("quota", filterFor("/ai/").build(), "/ai/*")
                .servlet("model", new Model(), "/ai/*");
    }

    class Model extends CountedModel {
        @Override
        protected void answer(Call call) throws IOException {
            if (call.variant().equals("stream-trailers")) {
                Trailers t = upstreamTrailers.get(call.subject());
                // set before the first byte, as the servlet API requires; the upstream's trailer section (its
                // Server-Timing) is handed on once it has arrived
                call.resp().setTrailerFields(() -> {
                    if (t != null) {
                        t.entered().countDown();
                        try {
                            t.arrive().await(20, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    return Map.of("server-timing", "upstream;dur=2310");
                });
                call.resp().setContentType("text/event-stream");
                PrintWriter w = call.resp().getWriter();
                String id = "chatcmpl-365a";
                w.write(ChatCompletions.wordEvent(id));
                w.write(ChatCompletions.usageEvent(id, call.prompt(), call.completion()) + ChatCompletions.DONE);
                w.flush();
                return;
            }
            // "budget": the model writes the whole max_tokens it was sent
            String text = call.text();
            int i = text.indexOf("\"max_tokens\":") + "\"max_tokens\":".length();
            int k = i;
            while (k < text.length() && Character.isDigit(text.charAt(k))) {
                k++;
            }
            long budget = Long.parseLong(text.substring(i, k));
            ChatCompletions.writeWithLength(call.resp(), ChatCompletions.completion("chatcmpl-365-" + UUID.randomUUID(),
                    "gpt-4o-mini", "ok", call.prompt(), budget).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    /** A's stream: max_tokens 1,000 (1,008 held), its usage chunk reporting 15,000. */
    HttpRequest stream(String s) {
        return usageRequest(PATH, s, 1_000, A_PROMPT, A_COMPLETION, "stream-trailers");
    }

    /** B: max_tokens 8,000 (8,008 held), its model writing the whole budget. */
    HttpRequest next(String s) {
        return usageRequest(PATH, s, 8_000, B_PROMPT, 0, "budget");
    }

    /**
     * B, sent when A's 15,000 of the 20,000 are spent (landed or not): refused, its model not called, and the subject
     * charged A's 15,000 alone.
     */
    void assertNextRefused(String s, HttpResponse<String> b, String what) throws Exception {
        QuotaAccount a = chargedAtLeast(s, A_USAGE);
        String figures = kind() + ": " + what + ": B answered " + b.statusCode() + ", model calls " + calls.of(s)
                + ", used " + a.used() + " of " + a.limit() + " (" + ledger(s) + ")";
        assertAll(() -> assertEquals(429, b.statusCode(), figures),
                () -> assertEquals(1, calls.of(s), figures),
                () -> assertEquals(A_USAGE, a.used(), figures),
                () -> assertTrue(a.used() <= ALLOWANCE, figures));
    }

    // ------------------------------------------------------------------ finding

    /**
     * A's stream has reported 15,000 (on a 1,008 hold) and the client has read it to {@code [DONE]}; the filter's
     * settlement of A has begun and is reading the relay's trailer supplier, which waits for the upstream's trailer
     * section. B (max_tokens 8,000) is sent now. Its reserve waits 2 s for A's settlement (SETTLEMENT_WAIT), then
     * counts what A owes: but a settlement that has begun and not yet decided is filed as owing 0
     * ({@code UnlandedCharges.settlementStarts} puts {@code () -> 0L}, and {@code owed} skips the running entry of
     * a call that is settling), so A's 13,992 beyond its hold count for nothing, B is held against 18,992 and served.
     * Right: B refused 429 (5,000 left once A's 15,000 is counted), the subject charged 15,000. Today: B served, the
     * subject charged 15,000 + 8,008 = 23,008 on a 20,000 allowance.
     */
    @Test
    void aCallSentWhileTheStreamsSettlementReadsItsTrailersCountsWhatTheStreamOwes() throws Exception {
        String s = subject();
        Trailers t = new Trailers(new CountDownLatch(1), new CountDownLatch(1));
        upstreamTrailers.put(s, t);
        HttpResponse<String> b;
        try {
            HttpResponse<Stream<String>> a = fresh().sendAsync(stream(s), HttpResponse.BodyHandlers.ofLines())
                    .get(10, TimeUnit.SECONDS);
            readToDone(a);
            assertTrue(t.entered().await(10, TimeUnit.SECONDS), "the filter's settlement never read the trailers");
            b = fresh().send(next(s), HttpResponse.BodyHandlers.ofString());
        } finally {
            t.arrive().countDown();
        }
        assertNextRefused(s, b, "B sent while A's settlement read the relay's trailer fields");
    }

    // ------------------------------------------------------------------ control

    /** Control: the same, the upstream's trailers already there: A's 15,000 lands (or is waited for), B is refused. */
    @Test
    void controlACallSentAfterTheStreamWithTrailersIsRefused() throws Exception {
        String s = subject();
        HttpResponse<Stream<String>> a = fresh().sendAsync(stream(s), HttpResponse.BodyHandlers.ofLines())
                .get(10, TimeUnit.SECONDS);
        readToDone(a);
        HttpResponse<String> b = fresh().send(next(s), HttpResponse.BodyHandlers.ofString());
        assertNextRefused(s, b, "B sent after A's stream");
    }
}
