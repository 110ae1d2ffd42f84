package io.tokenquota.servlet.breakit502;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.Reserved;
import io.tokenquota.TokenUsage;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 502 of issue 11: the ledger failing around keyed and async calls. The {@code /tr/} filter runs
 * fail-open on a store that, per subject, refuses a reserve before it lands ({@code STORE_UNAVAILABLE}, a
 * failover), or lands a commit and then loses the answer (a timeout after the database committed), once.
 *
 * <p>The model answers 1,500 prompt + 7,500 completion = 9,000 tokens of usage, synchronously as JSON
 * ({@code /tr/v1/chat/completions}) or streamed from an async worker ({@code /tr/v1/stream/chat/completions}),
 * in OpenAI's Chat Completions shape (the rig's {@link ChatCompletions}).
 */
abstract class AbstractRound502 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final long PROMPT = 1_500;
    static final long COMPLETION = 7_500;
    static final long USAGE = PROMPT + COMPLETION;

    /** Subjects whose next reserve finds the store away before anything landed, once. */
    static final Set<String> RESERVE_REFUSED = ConcurrentHashMap.newKeySet();
    /** Subjects whose next commit lands and then reports the store away (its answer lost), once. */
    static final Set<String> COMMIT_LOST = ConcurrentHashMap.newKeySet();

    static String subject() {
        return "u502-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static QuotaException unavailable() {
        return new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection reset (test)");
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // FailingLedger has no reserve hook, and its commit hook runs before the store: this round's store
        // fails a reserve before it and a commit after it
        QuotaLedger troubled = new FailingLedger(store) {
            @Override
            public Reserved reserve(HoldRequest request) {
                if (RESERVE_REFUSED.remove(request.subject())) {
                    throw unavailable();
                }
                return super.reserve(request);
            }

            @Override
            public Reservation commit(String id, long actual) {
                Reservation r = super.commit(id, actual);
                lost(r);
                return r;
            }

            @Override
            public Reservation commit(String id, long actual, TokenUsage usage) {
                Reservation r = super.commit(id, actual, usage);
                lost(r);
                return r;
            }

            private void lost(Reservation r) {
                if (COMMIT_LOST.remove(r.subject())) {
                    throw unavailable();
                }
            }
        };
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("quota-tr", filterFor(troubled, "/tr/").failOpen(true).build(), "/tr/*")
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
                resp.getOutputStream().write(ChatCompletions.completion("chatcmpl-502", "gpt-4o", "Here is the plan.",
                        PROMPT, COMPLETION).getBytes(StandardCharsets.UTF_8));
                return;
            }
            ChatCompletions.streamAsync(req, resp, "chatcmpl-502s-" + s, 20, PROMPT, COMPLETION);
        }
    }

    static final String ASK = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon.\"}]}";
    static final String ASK_STREAM = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon.\"}]}";

    HttpResponse<String> call(String s, boolean stream, String... headers) throws Exception {
        return TestHttp.client().send(TestHttp.jsonPost(container.uri(stream ? "/tr/v1/stream/chat/completions"
                : "/tr/v1/chat/completions"), s, stream ? ASK_STREAM : ASK, headers), HttpResponse.BodyHandlers.ofString());
    }

    /**
     * Control: the commit lands and its answer is lost (the database committed, the connection dropped before
     * it said so). The retry is answered as a replay: charged 9,000 once, not 18,000.
     */
    @Test
    void aCommitWhoseAnswerWasLostIsChargedOnce() throws Exception {
        String s = subject();
        COMMIT_LOST.add(s);
        assertEquals(200, call(s, false).statusCode());
        QuotaAccount a = chargedAtLeast(s, USAGE);
        assertEquals(USAGE, a.used(), "a 9,000-token call whose commit landed and then timed out: " + ledger(s));
        assertEquals(1, CALLS.of(s));
    }

    /** Control: the same on an async stream, settled from the container's onComplete. */
    @Test
    void aStreamWhoseCommitAnswerWasLostIsChargedOnce() throws Exception {
        String s = subject();
        COMMIT_LOST.add(s);
        assertEquals(200, call(s, true).statusCode());
        QuotaAccount a = chargedAtLeast(s, USAGE);
        assertEquals(USAGE, a.used(), "a 9,000-token stream whose commit landed and then timed out: " + ledger(s));
        assertEquals(1, CALLS.of(s));
    }

    /**
     * Control: a keyed call served and charged; its retry with the same {@code Idempotency-Key} is 409 and
     * reaches no model ("a key buys at most one model call").
     */
    @Test
    void controlAKeyedRetryIsRefused() throws Exception {
        String s = subject();
        String key = "k502-" + UUID.randomUUID();
        assertEquals(200, call(s, false, "Idempotency-Key", key).statusCode());
        assertEquals(409, call(s, false, "Idempotency-Key", key).statusCode());
        assertEquals(USAGE, chargedAtLeast(s, USAGE).used(), ledger(s));
        assertEquals(1, CALLS.of(s), "the key bought one model call");
    }

    /**
     * The attack: a keyed call whose reserve met a failover is served under fail-open (uncharged, as
     * documented); the client retries with the same {@code Idempotency-Key} once the store is back, and the
     * filter serves it again: the key bought two model calls (18,000 tokens of usage), charged 9,000. The
     * README's promise, "a key buys at most one model call", does not hold across a fail-open pass: nothing
     * remembers the key the uncharged call used.
     */
    @Test
    void aKeyServedUnderFailOpenBuysOneModelCall() throws Exception {
        String s = subject();
        String key = "k502-" + UUID.randomUUID();
        RESERVE_REFUSED.add(s);
        HttpResponse<String> first = call(s, false, "Idempotency-Key", key);
        assertEquals(200, first.statusCode(), "served under fail-open");
        HttpResponse<String> retry = call(s, false, "Idempotency-Key", key);
        QuotaAccount a = chargedAtLeast(s, USAGE);
        assertEquals(1, CALLS.of(s), "one Idempotency-Key, model calls " + CALLS.of(s) + " (retry answered "
                + retry.statusCode() + "), usage " + CALLS.of(s) * USAGE + ", charged " + a.used() + ": " + ledger(s));
    }
}
