package io.tokenquota.servlet.breakit414;

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
 * Round 414 of issue 11: the quota API's payment callback as a sloppy payment provider's webhook handler sends it.
 *
 * <p>The events are the callback's documented body (docs/servlet.md, "POST /payment-callback": {@code
 * {transaction_id, user_id, token_amount, amount, currency, payment_method, status, ...}}, {@code amount} a decimal
 * string as in round 295's events), as a host's Stripe handler maps {@code payment_intent.processing} ("pending") and
 * {@code payment_intent.succeeded} ("completed") (docs.stripe.com/api/events/types; "Stripe doesn't guarantee the
 * delivery of events in the order that they're generated", docs.stripe.com/webhooks, "Event ordering").
 */
abstract class AbstractRound414 extends QuotaApiRound {
    static final long PACK = 5_000;

    static String subject() {
        return "u414-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** An event of {@code tx} with {@code currency} left out when {@code null}. */
    HttpResponse<String> event(String tx, String s, String currency, String status) {
        return callback("{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s) + ",\"token_amount\":" + PACK
                + ",\"amount\":\"33.00\"" + (currency == null ? "" : ",\"currency\":" + q(currency))
                + ",\"payment_method\":\"card\",\"status\":" + q(status) + "}");
    }

    @SuppressWarnings("unchecked")
    static Object recorded(HttpResponse<String> r, String field) {
        return ((Map<String, Object>) TestHttp.json(r).get("purchase_record")).get(field);
    }

    /**
     * The pending event leaves {@code currency} out (the field is optional: "defaults to KRW", PurchaseRequest), the
     * completion names it: {@code "amount":"33.00","currency":"USD"}. No event ever said KRW, yet the completed
     * purchase is stored and answered as 33.00 KRW, and the admin overview's {@code purchase_totals} (grouped by
     * currency) count the $33 sale as 33 won. docs/servlet.md lets a later event's "payment method, amount and reason"
     * differ from the pending record's without changing it; it says nothing of the currency, and a default the
     * pending record took is no figure a provider sent. Right: the completion's currency is recorded (USD), or the
     * event refused 409 idempotency-conflict; never a currency no event named. Tokens credited once either way.
     * Found and fixed: a completion records the money it names (PurchaseRecorder.complete(tx, amount, currency)).
     */
    @Test
    void completionNamingTheCurrencyIsNotRecordedInTheDefaultOne() {
        String s = subject();
        String tx = paymentId();
        HttpResponse<String> pending = event(tx, s, null, "pending");
        HttpResponse<String> completed = event(tx, s, "USD", "completed");
        Purchase p = store.purchase(tx).orElseThrow();
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, pending.statusCode(), pending.body()),
                () -> assertEquals(200, completed.statusCode(), completed.body()),
                () -> assertEquals(PurchaseStatus.COMPLETED, p.status(), p.toString()),
                () -> assertEquals(0, new BigDecimal("33.00").compareTo(p.amount()), p.toString()),
                () -> assertEquals(Currency.USD, p.currency(), "stored: " + p),
                () -> assertEquals("USD", recorded(completed, "currency"), completed.body()),
                () -> assertEquals(PACK, a.granted(), a.toString()));
    }

    /** Control: both events name USD: recorded 33.00 USD, 5,000 credited once. */
    @Test
    void controlBothEventsNameTheCurrency() {
        String s = subject();
        String tx = paymentId();
        HttpResponse<String> pending = event(tx, s, "USD", "pending");
        HttpResponse<String> completed = event(tx, s, "USD", "completed");
        Purchase p = store.purchase(tx).orElseThrow();
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, pending.statusCode(), pending.body()),
                () -> assertEquals(200, completed.statusCode(), completed.body()),
                () -> assertEquals(PurchaseStatus.COMPLETED, p.status(), p.toString()),
                () -> assertEquals(0, new BigDecimal("33.00").compareTo(p.amount()), p.toString()),
                () -> assertEquals(Currency.USD, p.currency(), "stored: " + p),
                () -> assertEquals("USD", recorded(completed, "currency"), completed.body()),
                () -> assertEquals(PACK, a.granted(), a.toString()));
    }

    /**
     * Round 414's observation, fixed: Stripe sends ISO 4217 codes in lower case ({@code "usd"},
     * docs.stripe.com/api/payment_intents/object); any ASCII letter case is the code, stored upper case. Other
     * spellings stay 400 invalid-currency and change nothing: a long s ({@code "uſd"}, which Unicode upper-cases
     * to {@code "USD"}), full-width letters, a blank, two letters, another currency.
     */
    @Test
    void lowerCaseIsoCodeIsTheCurrency() {
        String s = subject();
        for (String bad : new String[] {"u\u017fd", "\uff55\uff53\uff44", "usd ", "us", "gbp"}) {
            String refusedTx = paymentId();
            HttpResponse<String> r = event(refusedTx, s, bad, "completed");
            assertAll(problem(r, 400, "invalid-currency", bad));
            assertEquals(true, store.purchase(refusedTx).isEmpty(), bad + " recorded " + store.purchase(refusedTx));
        }
        String tx = paymentId();
        HttpResponse<String> pending = event(tx, s, "usd", "pending");
        HttpResponse<String> completed = event(tx, s, "Usd", "completed");
        Purchase p = store.purchase(tx).orElseThrow();
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, pending.statusCode(), pending.body()),
                () -> assertEquals(200, completed.statusCode(), completed.body()),
                () -> assertEquals(PurchaseStatus.COMPLETED, p.status(), p.toString()),
                () -> assertEquals(Currency.USD, p.currency(), "stored: " + p),
                () -> assertEquals("USD", recorded(completed, "currency"), completed.body()),
                () -> assertEquals(PACK, a.granted(), a.toString()));
    }

    /**
     * Control (bad input): amounts a sloppy provider sends ({@code "3,300.00"}, {@code " 3300"}, {@code "1e3"},
     * {@code "NaN"}, a 30-digit decimal, 3 decimals) are 400 invalid-money and change nothing; a retry with
     * {@code "3300.000"} is credited once, stored 3300.00.
     */
    @Test
    void controlBadMoneyRefusedAndExactMoneyStored() {
        String s = subject();
        String tx = paymentId();
        for (String bad : new String[] {"\"3,300.00\"", "\" 3300\"", "\"1e3\"", "\"NaN\"",
                "\"123456789012345678901234567890\"", "3300.005"}) {
            HttpResponse<String> r = callback("{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s)
                    + ",\"token_amount\":" + PACK + ",\"amount\":" + bad + ",\"currency\":\"USD\",\"status\":\"completed\"}");
            assertAll(problem(r, 400, "invalid-money", bad));
        }
        assertEquals(true, store.purchase(tx).isEmpty(), "refused events recorded " + store.purchase(tx));
        HttpResponse<String> ok = callback("{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s)
                + ",\"token_amount\":" + PACK + ",\"amount\":\"3300.000\",\"currency\":\"USD\",\"status\":\"completed\"}");
        HttpResponse<String> again = callback("{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s)
                + ",\"token_amount\":" + PACK + ",\"amount\":\"3300.000\",\"currency\":\"USD\",\"status\":\"completed\"}");
        Purchase p = store.purchase(tx).orElseThrow();
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, ok.statusCode(), ok.body()),
                () -> assertEquals(200, again.statusCode(), again.body()),
                () -> assertEquals(new BigDecimal("3300.00"), p.amount(), p.toString()),
                () -> assertEquals(PACK, a.granted(), a.toString()));
    }
}
