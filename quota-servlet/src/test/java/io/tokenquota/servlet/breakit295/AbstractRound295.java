package io.tokenquota.servlet.breakit295;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.Purchase;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ClockedStore;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import io.tokenquota.testkit.MutableClock;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.YearMonth;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Round 295 of issue 11: the ledger's side of the HTTP edge ({@code QuotaApiServlet}): a plan change, a payment
 * attempt declined before the same payment succeeds, an admin grant under a refunded payment's id, and a
 * purchase and plan change sent by an instance whose clock is still in the closed month.
 *
 * <p>The {@code /clocked-api/} servlet runs on a second store whose policy reads {@link #clock}.
 */
abstract class AbstractRound295 extends QuotaApiRound {
    static final String CAPI = "/clocked-api";
    final MutableClock clock = new MutableClock(Instant.parse("2031-01-31T23:50:00Z"));
    ClockedStore clocked;

    static String subject() {
        return "u295-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        return super.deploy(filter)
                .servlet("clocked-api", apiServlet(clocked.store()), CAPI + "/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    HttpResponse<String> clockedCallback(String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return TestHttp.post(container.uri(CAPI + "/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(PAYMENT_SECRET, body));
    }

    HttpResponse<String> put(String api, String path, String json) {
        return TestHttp.send(TestHttp.request(container.uri(api + path), "Authorization", "Bearer " + ADMIN_TOKEN,
                "Content-Type", "application/json").PUT(java.net.http.HttpRequest.BodyPublishers.ofString(json)).build());
    }

    static String event(String tx, String s, long tokens, String status) {
        return "{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s) + ",\"token_amount\":" + tokens
                + ",\"amount\":\"33.00\",\"currency\":\"USD\",\"payment_method\":\"card\",\"status\":" + q(status) + "}";
    }

    // ---------------------------------------------------------------- plan changes

    /**
     * A user on a 20,000-token plan buys 10,000 tokens (Stripe PaymentIntent, completed callback) and has used
     * 15,000 this month: all of it from the allowance (the allowance is spent first), none of the purchase.
     * The billing system then moves the user to a 5,000 plan ({@code PUT /users/{id}/plan}, as a
     * {@code customer.subscription.updated} webhook handler would). docs/decisions.md: "Plan changes apply at
     * once to the current month, but never lower {@code allocated} below what the month has already spent or
     * holds"; "purchased tokens are never lost". So {@code allocated} stays at 15,000 and the 10,000 bought
     * tokens stay available (and would carry over). A later refund of the purchase debits them all
     * ({@code unrecovered} 0).
     */
    @Test
    void aPlanDowngradeKeepsThePurchasedTokensTheMonthHasNotSpent() {
        String s = subject();
        String tx = "pi_" + UUID.randomUUID().toString().replace("-", "");
        assertEquals(200, callback(event(tx, s, 10_000, "completed")).statusCode());
        store.consume(s, 15_000, null);
        HttpResponse<String> plan = put(API, "/users/" + s + "/plan", "{\"monthly_allocation\":5000}");
        QuotaAccount a = store.account(s);
        HttpResponse<String> refund = callback(event(tx, s, 10_000, "refunded"));
        Purchase p = store.purchase(tx).orElseThrow();
        assertAll(() -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(15_000, a.allocated(), "allocated below what the month spent: " + a),
                () -> assertEquals(10_000, a.available(), "the purchased tokens left: " + a),
                () -> assertEquals(10_000, a.unusedGranted(), "purchased tokens that would carry over: " + a),
                () -> assertEquals(200, refund.statusCode(), refund.body()),
                () -> assertEquals(0, p.unrecovered(), "the refund finds the purchase spent: " + p));
    }

    /** Control: the same downgrade without a purchase keeps {@code allocated} at what the month spent. */
    @Test
    void controlAPlanDowngradeWithoutPurchasesStopsAtWhatTheMonthSpent() {
        String s = subject();
        store.consume(s, 15_000, null);
        HttpResponse<String> plan = put(API, "/users/" + s + "/plan", "{\"monthly_allocation\":5000}");
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(15_000, a.allocated(), a.toString()),
                () -> assertEquals(0, a.available(), a.toString()));
    }

    // ---------------------------------------------------------------- payment lifecycle

    /**
     * A Stripe PaymentIntent whose first card is declined and whose second card is accepted: Stripe sends
     * {@code payment_intent.payment_failed} and then {@code payment_intent.succeeded} for the same {@code pi_...}
     * id (docs.stripe.com/payments/paymentintents/lifecycle: after a declined attempt the PaymentIntent returns
     * to {@code requires_payment_method} and can be confirmed again; the event's {@code last_payment_error}
     * says "You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this
     * PaymentIntent again"). The application maps them to {@code failed} and {@code completed}. The user has
     * paid once: 5,000 tokens must be credited once. (Today: the completed event gets 409
     * purchase-state-conflict forever, the user paid and has nothing.)
     */
    @Test
    void aPaymentDeclinedOnceThenPaidWithAnotherCardIsCredited() {
        String s = subject();
        String tx = "pi_" + UUID.randomUUID().toString().replace("-", "");
        HttpResponse<String> declined = callback(event(tx, s, 5_000, "failed"));
        HttpResponse<String> paid = callback(event(tx, s, 5_000, "completed"));
        HttpResponse<String> replay = callback(event(tx, s, 5_000, "completed"));
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, declined.statusCode(), declined.body()),
                () -> assertEquals(200, paid.statusCode(), paid.body()),
                () -> assertEquals(200, replay.statusCode(), replay.body()),
                () -> assertEquals(5_000, a.granted(), "paid once, credited: " + a));
    }

    /**
     * A payment (completed, then refunded when the customer opened a dispute) is re-credited by support with
     * {@code add-tokens} under the payment's transaction id as its {@code idempotency_key}, same user, tokens
     * and type, so that the grant is traceable to the payment. servlet.md: "add-tokens with an idempotency_key
     * that is a payment's transaction id ... credits nothing and answers 409 purchase-state-conflict (not
     * 'Tokens added'): a grant's key must be its own" (round 251 for pending and failed). Today the refunded
     * record is handed back as "Tokens added successfully" and nothing is credited.
     */
    @Test
    void aGrantUnderARefundedPaymentsIdIsNotReportedAsAdded() {
        String s = subject();
        String tx = "pi_" + UUID.randomUUID().toString().replace("-", "");
        String ev = "{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s) + ",\"token_amount\":5000,\"status\":";
        assertEquals(200, callback(ev + "\"completed\"}").statusCode());
        assertEquals(200, callback(ev + "\"refunded\"}").statusCode());
        HttpResponse<String> grant = admin("/add-tokens", "{\"user_id\":" + q(s) + ",\"token_amount\":5000,"
                + "\"purchase_type\":\"purchase\",\"idempotency_key\":" + q(tx) + "}");
        QuotaAccount a = store.account(s);
        boolean added = grant.statusCode() == 200;
        assertAll(() -> assertEquals(added ? 5_000 : 0, a.granted(), "answered " + grant.statusCode() + " "
                        + grant.body() + ", ledger " + a),
                problem(grant, 409, "purchase-state-conflict", "a grant under a refunded payment's id"));
    }

    // ---------------------------------------------------------------- the month turn

    /**
     * Control: the user's February account is open (a read on an instance already in February); an instance
     * whose clock is 7 s behind, still in January, takes the payment callback of 10,000 tokens and the
     * admin's plan change to 50,000. Both land in the latest month: February has 60,000 available.
     */
    @Test
    void controlAPurchaseAndAPlanFromAnInstanceStillInTheClosedMonthLandInTheLatest() {
        String s = subject();
        clock.set(Instant.parse("2031-02-01T00:00:05Z"));
        HttpResponse<String> read = TestHttp.get(container.uri(CAPI + "/quota"), "x-user-id", s);
        clock.set(Instant.parse("2031-01-31T23:59:58Z"));
        String tx = "pi_" + UUID.randomUUID().toString().replace("-", "");
        HttpResponse<String> paid = clockedCallback(event(tx, s, 10_000, "completed"));
        HttpResponse<String> plan = put(CAPI, "/users/" + s + "/plan", "{\"monthly_allocation\":50000}");
        clock.set(Instant.parse("2031-02-01T00:00:10Z"));
        QuotaAccount feb = clocked.store().account(s);
        QuotaAccount jan = clocked.store().account(s, YearMonth.of(2031, 1)).orElse(null);
        assertAll(() -> assertEquals(200, read.statusCode(), read.body()),
                () -> assertEquals(200, paid.statusCode(), paid.body()),
                () -> assertEquals(200, plan.statusCode(), plan.body()),
                () -> assertEquals(60_000, feb.available(), feb + " / " + jan));
    }
}
