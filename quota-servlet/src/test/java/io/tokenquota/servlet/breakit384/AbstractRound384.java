package io.tokenquota.servlet.breakit384;

import static io.tokenquota.servlet.testing.LongReasoningCall.CALL;
import static io.tokenquota.servlet.testing.LongReasoningCall.callWithoutBudget;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.HeldChatModel;
import io.tokenquota.servlet.testing.LongReasoningCall;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 384 of issue 11: the quota API's payment callbacks under retried, concurrent deliveries (Stripe retries a
 * webhook and "doesn't guarantee the delivery of events in the order that they're generated", docs.stripe.com/webhooks,
 * "Event ordering" and "Retry behavior"), landing while the filter holds a call of the same user.
 *
 * <p>Events are round 295's as the host's webhook handler maps Stripe's {@code payment_intent.succeeded}
 * ("completed") and {@code charge.refunded} ("refunded") ({@link QuotaApiRound#payment}); the model call is the
 * {@link LongReasoningCall} (OpenAI chat completion with {@code usage}, platform.openai.com/docs/api-reference/chat/object).
 */
abstract class AbstractRound384 extends QuotaApiRound {
    static final long PACK = 5_000;
    static final long EARLIER = 10_000;

    final HeldChatModel model = new HeldChatModel(LongReasoningCall.completion("chatcmpl-384"));

    static String subject() {
        return "u384-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return withChatModel(filter, model);
    }

    /** The user's call, held in the model until {@code whileHeld} has run; its answer. */
    HttpResponse<String> heldCall(String s, ThrowingRunnable whileHeld) throws Exception {
        model.hold(s);
        CompletableFuture<HttpResponse<String>> call =
                CompletableFuture.supplyAsync(() -> TestHttp.postJson(container.uri(CHAT), s, callWithoutBudget()));
        try {
            assertTrue(model.awaitArrival(s), "the call never reached the model");
            whileHeld.run();
        } finally {
            model.letGo(s);
        }
        return call.get(30, TimeUnit.SECONDS);
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    // ---------------------------------------------------------------- retried refunds while a call is held

    /**
     * The user bought a {@value #PACK}-token pack and used {@value #EARLIER} of the 20,000 allowance; a 12,000-token
     * call is held in the model when Stripe delivers {@code charge.refunded} eight times at once (retries of a
     * delivery that timed out). semantics.md: "Tokens on hold are not spent: they are debited too" and the refund is
     * idempotent ("Already refunded: the replay answers the purchase as it is"). Right: every delivery 200, the pack
     * debited once (granted 0, nothing unrecovered), the call then charged its 12,000: used 22,000, available -2,000.
     */
    @Test
    void retriedRefundsAtOnceWhileACallIsHeldDebitOnce() throws Exception {
        String s = subject();
        String tx = paymentId();
        assertEquals(200, payment(tx, s, PACK, "completed").statusCode());
        store.consume(s, EARLIER, null);
        List<HttpResponse<String>>[] refunds = new List[1];
        HttpResponse<String> r = heldCall(s, () -> refunds[0] = atOnce(8, i -> payment(tx, s, PACK, "refunded")));
        QuotaAccount a = settled(s);
        Purchase p = store.purchase(tx).orElseThrow();
        assertAll(() -> assertEquals(200, r.statusCode(), r.body()),
                () -> refunds[0].forEach(x -> assertEquals(200, x.statusCode(), x.body())),
                () -> assertEquals(PurchaseStatus.REFUNDED, p.status()),
                () -> assertEquals(0, p.unrecovered(), p.toString()),
                () -> assertEquals(0, a.granted(), a.toString()),
                () -> assertEquals(EARLIER + CALL, a.used(), ledger(s)),
                () -> assertEquals(ALLOWANCE - EARLIER - CALL, a.available(), a + " " + ledger(s)));
    }

    /**
     * Control: one refund after the call ended: 2,000 of the pack were spent (unrecovered), 3,000 debited, 0 left.
     */
    @Test
    void controlOneRefundAfterTheCall() throws Exception {
        String s = subject();
        String tx = paymentId();
        assertEquals(200, payment(tx, s, PACK, "completed").statusCode());
        store.consume(s, EARLIER, null);
        HttpResponse<String> r = heldCall(s, () -> { });
        settled(s);
        HttpResponse<String> refund = payment(tx, s, PACK, "refunded");
        QuotaAccount a = settled(s);
        Purchase p = store.purchase(tx).orElseThrow();
        assertAll(() -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertEquals(200, refund.statusCode(), refund.body()),
                () -> assertEquals(EARLIER + CALL - ALLOWANCE, p.unrecovered(), p.toString()),
                () -> assertEquals(0, a.granted(), a.toString()),
                () -> assertEquals(EARLIER + CALL, a.used(), ledger(s)),
                () -> assertEquals(0, a.available(), a.toString()));
    }

    // ---------------------------------------------------------------- completions and a refund at once, unseen purchase

    /**
     * A purchase the callback never saw: Stripe delivers {@code payment_intent.succeeded} (and seven retries of it)
     * and {@code charge.refunded} at once while the user's call is held. decisions.md (round 340): "A refund before
     * its completion is final", and a completion before it is debited by it: in any interleaving the purchase ends
     * refunded with nothing of it left to spend. Right: the refund 200, the purchase refunded, granted 0; the call
     * then charged 12,000 on the allowance (used 12,000, available 8,000).
     */
    @Test
    void completionsAndARefundAtOnceLeaveNothingOfTheRefundedPack() throws Exception {
        String s = subject();
        String tx = paymentId();
        List<HttpResponse<String>>[] events = new List[1];
        HttpResponse<String> r = heldCall(s, () -> events[0] = atOnce(9,
                i -> payment(tx, s, PACK, i == 4 ? "refunded" : "completed")));
        QuotaAccount a = settled(s);
        Purchase p = store.purchase(tx).orElseThrow();
        assertAll(() -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertEquals(200, events[0].get(4).statusCode(), events[0].get(4).body()),
                () -> events[0].forEach(x -> assertTrue(x.statusCode() == 200 || x.statusCode() == 409, x.body())),
                () -> assertEquals(PurchaseStatus.REFUNDED, p.status(), p.toString()),
                () -> assertEquals(0, a.granted(), a + " " + ledger(s)),
                () -> assertEquals(CALL, a.used(), ledger(s)),
                () -> assertEquals(ALLOWANCE - CALL, a.available(), a + " " + ledger(s)));
    }

    /** Control: eight retried completions at once while the call is held: credited once, 5,000 + 8,000 left. */
    @Test
    void controlRetriedCompletionsAtOnceCreditOnce() throws Exception {
        String s = subject();
        String tx = paymentId();
        List<HttpResponse<String>>[] events = new List[1];
        HttpResponse<String> r = heldCall(s, () -> events[0] = atOnce(8, i -> payment(tx, s, PACK, "completed")));
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, r.statusCode(), r.body()),
                () -> events[0].forEach(x -> assertEquals(200, x.statusCode(), x.body())),
                () -> assertEquals(PACK, a.granted(), a.toString()),
                () -> assertEquals(CALL, a.used(), ledger(s)),
                () -> assertEquals(ALLOWANCE + PACK - CALL, a.available(), a.toString()));
    }
}
