package io.tokenquota.servlet.breakit160;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 160 of issue 11: a streaming relay that waits for a free slot at its provider before it calls
 * the model. Many chat back ends cap the calls they run at once (a provider's concurrency limit, a
 * local GPU server with few slots); a request that finds no slot is queued, and while it waits the relay
 * keeps its client's event stream open with comment lines ({@code : queued}), which every SSE client
 * ignores. Those lines are what docs/servlet.md calls a preamble: written "before it has reached the
 * model". When the user closes the tab while queued, the next keep-alive write fails, and the relay drops
 * the queued request: the model is never called.
 *
 * <p>The filter cannot tell that relay from one that already sent the call upstream and waits for its
 * first token behind the same comments, then cancels it when its client leaves (the provider bills the
 * prompt it read, and a thinking model's hidden tokens): hanging up never makes a call free (settlement
 * rule 5), so both are charged the estimate. A relay that knows it dropped the request before calling the
 * model says so, reporting 0 through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}, and is charged nothing.
 */
abstract class AbstractRound160 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final HangUps HUNG_UP = new HangUps();
    /** What each relay did, per subject (for failure messages). */
    static final Map<String, String> SEEN = new ConcurrentHashMap<>();

    /** A chat request asking for up to 8,000 tokens of answer: the filter holds about 8,000 for it. */
    static final String CHAT = "{\"model\":\"gpt-4.1\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"max_tokens\":8000,\"messages\":[{\"role\":\"user\",\"content\":\"Write the release notes for our"
            + " next version, one section per module.\"}]}";

    static String subject() {
        return "u160-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("queued-relay", new QueuedRelay(false), "/ai/queued/*")
                .servlet("reporting-relay", new QueuedRelay(true), "/ai/reporting/*")
                .servlet("unreachable-relay", new UnreachableRelay(), "/ai/unreachable/*");
    }

    /** The OpenAI chat stream the provider sends once the call runs: 3,000 tokens in all. */
    static void answer(OutputStream out) throws IOException {
        EventStreams.write(out, "data: {\"id\":\"chatcmpl-160\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1\","
                + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Release notes\"},"
                + "\"finish_reason\":null}]}\n\n");
        EventStreams.write(out, "data: {\"id\":\"chatcmpl-160\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1\","
                + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        EventStreams.write(out, "data: {\"id\":\"chatcmpl-160\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4.1\","
                + "\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":2960,\"total_tokens\":3000}}\n\n");
        EventStreams.write(out, "data: [DONE]\n\n");
    }

    /**
     * The queueing relay: opens the event stream at once and says it is queued (an SSE comment), then
     * waits for a slot, writing a keep-alive comment every 10 ms. In this test the slot frees up only
     * after the client of a subject the test hangs up has gone: the relay learns it at a keep-alive write,
     * and drops the request without calling the model, as any queue drops a waiter nobody waits for
     * ({@code reports}: and says that no model was called, reporting 0). A client that stays gets the
     * model's answer.
     */
    static final class QueuedRelay extends HttpServlet {
        private final boolean reports;

        QueuedRelay(boolean reports) {
            this.reports = reports;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String user = req.getHeader("x-user-id");
            req.getInputStream().readAllBytes();
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            OutputStream out = resp.getOutputStream();
            EventStreams.write(out, ": queued\n\n");
            HUNG_UP.await(user);
            try {
                // the slot frees after 50 keep-alives (half a second) unless the client left before
                for (int i = 0; i < 50; i++) {
                    EventStreams.write(out, ": queued\n\n");
                    Thread.sleep(10);
                }
            } catch (IOException gone) {
                SEEN.put(user, "client gone while queued: request dropped, model not called (" + gone + ")");
                if (reports) {
                    req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0);
                }
                return;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            CALLS.count(user);
            SEEN.put(user, "slot free: model called");
            answer(out);
        }
    }

    /**
     * The same relay whose provider cannot be reached: it opened the stream (the same preamble), then its
     * HTTP client's connect fails, and the exception goes up to the container. The model was not called.
     */
    static final class UnreachableRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            EventStreams.write(resp.getOutputStream(), ": queued\n\n");
            throw new ConnectException("Connection refused: api.provider.example/203.0.113.7:443");
        }
    }

    /**
     * The attack's first half (or plain bad luck): the user sends a chat request that asks for up to 8,000
     * tokens, the relay queues it and keeps the stream open with comment lines; the user closes the tab
     * after the first one. The relay finds out at its next keep-alive and never calls the model, but says
     * nothing: the filter sees a hang-up before any usage, as after a call sent upstream and cancelled, and
     * charges the estimate (the input and the 8,000 budget), as every hang-up before usage is.
     */
    @Test
    void aHangUpWhileQueuedIsChargedTheEstimateLikeAnyHangUpBeforeUsage() throws Exception {
        String user = subject();
        QuotaAccount account = hangUpWhileQueued("/ai/queued/chat", user);
        assertTrue(account.used() > 8_000 && account.used() < 8_100, "the estimate (" + SEEN.get(user) + "): "
                + account.used() + " of " + account.limit() + ": " + ledger(user));
    }

    /**
     * The fix a relay makes: the same queued request dropped after its client left, by a relay that reports
     * 0 for it (it knows the model was never called), costs nothing.
     */
    @Test
    void aRequestDroppedFromTheQueueAndReportedAsNoCallIsNotCharged() throws Exception {
        String user = subject();
        QuotaAccount account = hangUpWhileQueued("/ai/reporting/chat", user);
        assertEquals(0, account.used(), "no model was called (" + SEEN.get(user) + "), yet charged " + account.used()
                + " of " + account.limit() + ": " + ledger(user));
    }

    /** {@code user} posts the chat to {@code path} and hangs up at the first keep-alive; the model is never called. */
    private QuotaAccount hangUpWhileQueued(String path, String user) throws Exception {
        String seen = HUNG_UP.postAndHangUpAfter(container.port(), path, user, CHAT, ": queued");
        assertTrue(seen.contains(" 200 "), seen);
        QuotaAccount account = settled(user);
        assertEquals(0, CALLS.of(user), SEEN.get(user));
        return account;
    }

    /** Control: a client that waits out the queue gets the answer, and its usage (3,000) is charged. */
    @Test
    void aQueuedRequestWhoseClientWaitsIsChargedItsUsage() {
        String user = subject();
        HttpResponse<String> r = TestHttp.post(container.uri("/ai/queued/chat"), CHAT, "x-user-id", user,
                "Content-Type", "application/json");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("[DONE]"), r.body());
        QuotaAccount account = settled(user);
        assertEquals(1, CALLS.of(user));
        assertEquals(3_000, account.used(), ledger(user));
    }

    /**
     * Control: the same preamble, then the provider cannot be reached (the exception reaches the
     * container): the filter knows such a preamble is no answer and releases the hold. Only the client's
     * hang-up makes the same unanswered call cost the estimate.
     */
    @Test
    void aPreambleFollowedByAnUnreachableProviderIsReleased() {
        String user = subject();
        try {
            TestHttp.post(container.uri("/ai/unreachable/chat"), CHAT, "x-user-id", user, "Content-Type", "application/json");
        } catch (RuntimeException cut) {
            // the container may cut the committed stream: what counts is the ledger
        }
        QuotaAccount account = settled(user);
        assertEquals(0, account.used(), ledger(user));
    }
}
