package io.tokenquota.servlet.breakit417;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.Currency;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.math.BigDecimal;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 417 of issue 11: round 414's fix (a {@code completed} event records the money it names) against the payment
 * callback's own event table (docs/servlet.md, "Payment callbacks": a {@code pending} event on a {@code completed}
 * purchase is "unchanged", answered 200 "with the record as it is (a replay)").
 *
 * <p>The events are the callback's documented body ({@code {transaction_id, user_id, token_amount, amount, currency,
 * payment_method, status}}, {@code amount} a decimal string, as rounds 295 and 414 send it), as a host's Stripe handler
 * maps {@code payment_intent.processing} ("pending") and {@code payment_intent.succeeded} ("completed")
 * (docs.stripe.com/api/events/types). A redelivery is the same signed bytes again: "Stripe attempts to deliver events
 * to your destination for up to three days with an exponential back off" after any non-2xx answer, and "doesn't
 * guarantee the delivery of events in the order that they're generated" (docs.stripe.com/webhooks, "Retry behavior",
 * "Event ordering"); Stripe captures may be partial ({@code amount_to_capture}, docs.stripe.com/api/payment_intents/capture).
 */
abstract class AbstractRound417 extends QuotaApiRound {
    static final long PACK = 5_000;

    static String subject() {
        return "u417-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** An event of {@code tx}: {@code amount} (a decimal string) and {@code currency} left out when {@code null}. */
    HttpResponse<String> event(String tx, String s, String amount, String currency, String status) {
        return callback("{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s) + ",\"token_amount\":" + PACK
                + (amount == null ? "" : ",\"amount\":" + q(amount))
                + (currency == null ? "" : ",\"currency\":" + q(currency))
                + ",\"payment_method\":\"card\",\"status\":" + q(status) + "}");
    }

    @SuppressWarnings("unchecked")
    static Object recorded(HttpResponse<String> r, String field) {
        return ((Map<String, Object>) TestHttp.json(r).get("purchase_record")).get(field);
    }

    /**
     * Round 414's own sequence (pending without a currency, completion naming 33.00 USD), then the pending event
     * redelivered byte for byte after the completion landed (its first delivery timed out at the provider, or it
     * arrives late). Right (the table): 200, the record as it is (completed, 33.00 USD), 5,000 credited once. Today:
     * 409 idempotency-conflict, because the completion rewrote the money the pending event recorded; the provider
     * retries the event for three days and flags the endpoint as failing.
     */
    @Test
    void pendingRedeliveredAfterCompletionNamingTheCurrency() {
        String s = subject();
        String tx = paymentId();
        HttpResponse<String> pending = event(tx, s, "33.00", null, "pending");
        HttpResponse<String> completed = event(tx, s, "33.00", "USD", "completed");
        HttpResponse<String> again = event(tx, s, "33.00", null, "pending");
        Purchase p = store.purchase(tx).orElseThrow();
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, pending.statusCode(), pending.body()),
                () -> assertEquals(200, completed.statusCode(), completed.body()),
                () -> assertEquals(200, again.statusCode(), "redelivered pending event: " + again.body()),
                () -> assertEquals(PurchaseStatus.COMPLETED, p.status(), p.toString()),
                () -> assertEquals(Currency.USD, p.currency(), p.toString()),
                () -> assertEquals(PACK, a.granted(), a.toString()));
    }

    /**
     * A partial capture: pending 33.00 USD, completed 30.00 USD (recorded, round 414), then the pending event
     * redelivered. Right: 200, the record as it is (30.00 USD). Today: 409 idempotency-conflict.
     */
    @Test
    void pendingRedeliveredAfterAPartialCapture() {
        String s = subject();
        String tx = paymentId();
        HttpResponse<String> pending = event(tx, s, "33.00", "usd", "pending");
        HttpResponse<String> completed = event(tx, s, "30.00", "usd", "completed");
        HttpResponse<String> again = event(tx, s, "33.00", "usd", "pending");
        Purchase p = store.purchase(tx).orElseThrow();
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, pending.statusCode(), pending.body()),
                () -> assertEquals(200, completed.statusCode(), completed.body()),
                () -> assertEquals(200, again.statusCode(), "redelivered pending event: " + again.body()),
                () -> assertEquals(new BigDecimal("30.00"), p.amount(), p.toString()),
                () -> assertEquals(PACK, a.granted(), a.toString()));
    }

    /**
     * Control: the completion names the pending event's money (33.00 USD both): the redelivered pending event is
     * answered 200 with the completed record, 5,000 credited once; and a completion replayed with other money
     * (documented: "A replayed completion changes no money") keeps 33.00 USD.
     */
    @Test
    void controlPendingRedeliveredAfterCompletionWithTheSameMoney() {
        String s = subject();
        String tx = paymentId();
        HttpResponse<String> pending = event(tx, s, "33.00", "USD", "pending");
        HttpResponse<String> completed = event(tx, s, "33.00", "USD", "completed");
        HttpResponse<String> again = event(tx, s, "33.00", "USD", "pending");
        HttpResponse<String> replayed = event(tx, s, "1.00", "EUR", "completed");
        Purchase p = store.purchase(tx).orElseThrow();
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, pending.statusCode(), pending.body()),
                () -> assertEquals(200, completed.statusCode(), completed.body()),
                () -> assertEquals(200, again.statusCode(), again.body()),
                () -> assertEquals("completed", recorded(again, "status"), again.body()),
                () -> assertEquals(200, replayed.statusCode(), replayed.body()),
                () -> assertEquals(new BigDecimal("33.00"), p.amount(), p.toString()),
                () -> assertEquals(Currency.USD, p.currency(), p.toString()),
                () -> assertEquals(PACK, a.granted(), a.toString()));
    }
}
