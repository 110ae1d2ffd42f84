package io.tokenquota.servlet.breakit251;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Round 251 of issue 11: the quota HTTP API beside the filter ({@code QuotaApiServlet}): admin grants and
 * payment callbacks delivered at once with one transaction id and differing bodies, out-of-order events,
 * money forms, admin authorization.
 */
abstract class AbstractRound251 extends QuotaApiRound {
    static String subject() {
        return "u251-" + UUID.randomUUID().toString().substring(0, 12);
    }

    // ---------------------------------------------------------------- admin grants at once

    /**
     * An admin tool retries a top-up whose first answer timed out, with the same idempotency key, while
     * a second operator sends the same key with another amount. At most one grant; every answer 200 or
     * 409 idempotency-conflict, never a 500.
     */
    @Test
    void oneIdempotencyKeyWithTwoAmountsAtOnceGrantsOnce() throws Exception {
        String s = subject();
        String key = "topup-" + UUID.randomUUID();
        List<HttpResponse<String>> rs = atOnce(12, i -> admin("/add-tokens", "{\"user_id\":" + q(s)
                + ",\"token_amount\":" + (i % 2 == 0 ? 5_000 : 7_000) + ",\"idempotency_key\":" + q(key) + "}"));
        List<Executable> checks = new ArrayList<>();
        int ok = 0;
        for (HttpResponse<String> r : rs) {
            if (r.statusCode() == 200) {
                ok++;
            } else {
                checks.add(problem(r, 409, "idempotency-conflict", "a racing grant"));
            }
        }
        int served = ok;
        QuotaAccount a = store.account(s);
        checks.add(() -> assertTrue(served >= 1, "no grant answered 200"));
        checks.add(() -> assertTrue(a.granted() == 5_000 || a.granted() == 7_000, "granted " + a.granted() + ": " + a));
        assertAll(checks);
    }

    // ---------------------------------------------------------------- payment callbacks at once

    static String event(String tx, String s, long tokens, String amountJson, String method, String status) {
        return "{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s) + ",\"token_amount\":" + tokens
                + (amountJson == null ? "" : ",\"amount\":" + amountJson + ",\"currency\":\"USD\"")
                + (method == null ? "" : ",\"payment_method\":" + q(method))
                + ",\"status\":" + q(status) + "}";
    }

    /**
     * An application maps two provider events of one payment (the charge's and the payment intent's
     * "succeeded") to {@code completed} with the provider's id; one carries the amount and card, the other
     * not. The provider delivers them (and its retries) at once. Documented: the completion may differ from
     * the record in payment method and amount; credited once however often replayed. Every answer 200,
     * 5,000 granted once.
     */
    @Test
    void twoShapesOfOneCompletedPaymentAtOnceCreditOnce() throws Exception {
        List<Executable> checks = new ArrayList<>();
        for (int round = 0; round < 5; round++) {
            String s = subject();
            String tx = "pi_" + UUID.randomUUID();
            List<HttpResponse<String>> rs = atOnce(8, i -> callback(i % 2 == 0
                    ? event(tx, s, 5_000, "\"33.00\"", "card", "completed")
                    : event(tx, s, 5_000, null, null, "completed")));
            for (HttpResponse<String> r : rs) {
                checks.add(() -> assertEquals(200, r.statusCode(), r.body()));
            }
            QuotaAccount a = store.account(s);
            checks.add(() -> assertEquals(5_000, a.granted(), a.toString()));
        }
        assertAll(checks);
    }

    /**
     * Out of order, as providers deliver: the pending event (no card yet) arrives with the completed one
     * (with the card) at once. The payment ends credited once; no 500.
     */
    @Test
    void pendingAndCompletedAtOnceCreditOnce() throws Exception {
        List<Executable> checks = new ArrayList<>();
        for (int round = 0; round < 5; round++) {
            String s = subject();
            String tx = "pi_" + UUID.randomUUID();
            List<HttpResponse<String>> rs = atOnce(8, i -> callback(i % 2 == 0
                    ? event(tx, s, 5_000, "\"33.00\"", "card", "completed")
                    : event(tx, s, 5_000, "\"33.00\"", null, "pending")));
            for (int i = 0; i < rs.size(); i++) {
                HttpResponse<String> r = rs.get(i);
                if (i % 2 == 0) {
                    checks.add(() -> assertEquals(200, r.statusCode(), "completed: " + r.body()));
                } else {
                    checks.add(() -> assertTrue(r.statusCode() == 200 || r.statusCode() == 409, "pending: " + r.body()));
                }
            }
            QuotaAccount a = store.account(s);
            Purchase p = store.purchase(tx).orElseThrow();
            checks.add(() -> assertEquals(5_000, a.granted(), a.toString()));
            checks.add(() -> assertEquals(PurchaseStatus.COMPLETED, p.status(), p.toString()));
        }
        assertAll(checks);
    }

    /**
     * Completed and failed reported at once for one payment (an application mapping a decline of the first
     * card and the success of the second to the same intent id). Whatever wins, the ledger matches the
     * purchase: completed → 5,000 granted; failed → nothing; no 500.
     */
    @Test
    void completedAndFailedAtOnceLeaveTheLedgerAsThePurchaseEnds() throws Exception {
        List<Executable> checks = new ArrayList<>();
        for (int round = 0; round < 5; round++) {
            String s = subject();
            String tx = "pi_" + UUID.randomUUID();
            List<HttpResponse<String>> rs = atOnce(8, i -> callback(
                    event(tx, s, 5_000, "\"33.00\"", "card", i % 2 == 0 ? "completed" : "failed")));
            for (HttpResponse<String> r : rs) {
                checks.add(() -> assertTrue(r.statusCode() == 200 || r.statusCode() == 409, r.body()));
            }
            QuotaAccount a = store.account(s);
            Purchase p = store.purchase(tx).orElseThrow();
            long expected = p.status() == PurchaseStatus.COMPLETED ? 5_000 : 0;
            checks.add(() -> assertEquals(expected, a.granted(), p + " / " + a));
        }
        assertAll(checks);
    }

    // ---------------------------------------------------------------- money

    @Test
    void oddMoneyNumbers() {
        List<Executable> checks = new ArrayList<>();
        String[] accepted = {"0e-999999999", "-0", "\"-0.00\"", "1E+2", "\"+33.00\"", "33.000", "\"33.000\"", "0.1e1"};
        for (String m : accepted) {
            String s = subject();
            HttpResponse<String> r = callback(event("tx-" + UUID.randomUUID(), s, 5_000, m, "card", "completed"));
            checks.add(() -> assertTrue(r.statusCode() == 200 || (r.statusCode() == 400 && r.body().contains("invalid-money")),
                    m + ": " + r.statusCode() + " " + r.body()));
            long granted = store.account(s).granted();
            checks.add(() -> assertEquals(r.statusCode() == 200 ? 5_000 : 0, granted, m + ": " + r.body()));
        }
        assertAll(checks);
    }

    /** Odd ids and amounts on the plan, team and grant endpoints: each refused with its documented error, nothing changed. */
    @Test
    void oddIdsAndAmountsOnAdminEndpoints() {
        String s = subject();
        String team = "t251-" + UUID.randomUUID().toString().substring(0, 8);
        List<Executable> checks = new ArrayList<>();
        checks.add(problem(put("/users/" + s + "/team", "{\"team_id\":7}"), 400, "invalid-key", "numeric team id"));
        checks.add(problem(put("/users/" + s + "/team", "{\"team_id\":\"\"}"), 400, "invalid-key", "empty team id"));
        checks.add(problem(put("/users/" + s + "/team", "{\"team_id\":\" \"}"), 400, "invalid-key", "blank team id"));
        checks.add(problem(put("/teams/" + team + "/plan", "{\"monthly_allocation\":-1}"), 400, "invalid-amount", "negative plan"));
        checks.add(problem(put("/teams/" + team + "/plan", "{\"monthly_allocation\":1.5}"), 400, "invalid-amount", "fraction plan"));
        checks.add(problem(put("/teams/" + "t".repeat(121) + "/plan", "{\"monthly_allocation\":5}"), 400, "invalid-key", "long team"));
        checks.add(problem(put("/users/" + s + "/plan", "{\"monthly_allocation\":\"30000\"}"), 400, "invalid-amount", "string plan"));
        checks.add(problem(put("/users/" + s + "/plan", "{}"), 400, "invalid-amount", "no plan"));
        checks.add(problem(admin("/add-tokens", "{\"user_id\":" + q(s) + ",\"token_amount\":5000,\"purchase_type\":\"Bonus\"}"),
                400, "invalid-purchase-type", "Bonus"));
        checks.add(problem(admin("/add-tokens", "{\"user_id\":" + q(s) + ",\"token_amount\":5000,\"reason\":" + q("r".repeat(501)) + "}"),
                400, "invalid-argument", "long reason"));
        checks.add(problem(admin("/add-tokens", "{\"user_id\":" + q(s) + ",\"token_amount\":5000,\"idempotency_key\":\"\"}"),
                400, "invalid-key", "empty key"));
        checks.add(problem(admin("/add-tokens", "{\"user_id\":" + q(s) + ",\"token_amount\":5000,\"idempotency_key\":\"\\ud800\"}"),
                400, "invalid-key", "lone surrogate key"));
        checks.add(problem(admin("/add-tokens", "{\"user_id\":" + q(s) + ",\"token_amount\":5000,\"idempotency_key\":7}"),
                400, "invalid-key", "numeric key"));
        checks.add(problem(admin("/add-tokens", "{\"user_id\":" + q(s) + ",\"token_amount\":1000000000000001}"),
                400, "invalid-amount", "over 10^15"));
        checks.add(problem(admin("/add-tokens", "{\"user_id\":" + q(s + "\\ud800") + ",\"token_amount\":5}"),
                400, "invalid-subject", "lone surrogate user"));
        checks.add(problem(admin("/add-tokens", "{\"user_id\":4.2e1,\"token_amount\":5}"), 400, "invalid-subject", "float user"));
        checks.add(problem(admin("/add-tokens", "{\"user_id\":" + q(s) + ",\"token_amount\":5}x"), 400, "malformed-json", "trailing"));
        checks.add(problem(admin("/add-tokens", "[{\"user_id\":" + q(s) + ",\"token_amount\":5}]"), 400, "malformed-json", "array"));
        HttpResponse<String> empty = TestHttp.post(container.uri(API + "/add-tokens"), "{\"user_id\":" + q(s) + ",\"token_amount\":5}",
                "Content-Type", "application/json", "Authorization", "");
        checks.add(() -> assertTrue(empty.statusCode() == 401 || empty.statusCode() == 403, empty.body()));
        HttpResponse<String> bearerOnly = TestHttp.post(container.uri(API + "/add-tokens"), "{\"user_id\":" + q(s) + ",\"token_amount\":5}",
                "Content-Type", "application/json", "Authorization", "Bearer ");
        checks.add(problem(bearerOnly, 403, "forbidden", "Bearer and nothing"));
        byte[] utf16 = ("\ufeff{\"user_id\":" + q(s) + ",\"token_amount\":5}").getBytes(StandardCharsets.UTF_16BE);
        HttpResponse<String> u16 = TestHttp.post(container.uri(API + "/add-tokens"), utf16,
                "Content-Type", "application/json; charset=utf-16", "Authorization", "Bearer " + ADMIN_TOKEN);
        checks.add(() -> assertTrue(u16.statusCode() == 200 || u16.body().contains("malformed-json"), u16.body()));
        long expect = u16.statusCode() == 200 ? 5 : 0;
        QuotaAccount a = store.account(s);
        checks.add(() -> assertEquals(expect, a.granted(), a.toString()));
        checks.add(() -> assertEquals(ALLOWANCE, a.allocated(), a.toString()));
        checks.add(() -> assertEquals(ALLOWANCE, store.account(io.tokenquota.Team.subject(team)).allocated()));
        assertAll(checks);
    }

    /** A currency's minor units and one event's fields in another letter case, as providers send them. */
    @Test
    void providerSpellings() {
        String s = subject();
        List<Executable> checks = new ArrayList<>();
        HttpResponse<String> lower = callback("{\"transaction_id\":\"tx-" + UUID.randomUUID() + "\",\"user_id\":" + q(s)
                + ",\"token_amount\":5000,\"amount\":\"33.00\",\"currency\":\"usd\",\"status\":\"completed\"}");
        checks.add(() -> assertTrue(lower.statusCode() == 200 || lower.body().contains("invalid-currency"), lower.body()));
        HttpResponse<String> yen = callback("{\"transaction_id\":\"tx-" + UUID.randomUUID() + "\",\"user_id\":" + q(s)
                + ",\"token_amount\":5000,\"amount\":\"3300.50\",\"currency\":\"JPY\",\"status\":\"completed\"}");
        checks.add(() -> assertTrue(yen.statusCode() == 200 || yen.body().contains("invalid-money"), "JPY 3300.50: " + yen.body()));
        long expect = (lower.statusCode() == 200 ? 5000 : 0) + (yen.statusCode() == 200 ? 5000 : 0);
        long granted = store.account(s).granted();
        checks.add(() -> assertEquals(expect, granted));
        assertAll(checks);
    }

    /**
     * A user buys 10,000 tokens and starts a long model call held at 25,000 (past the 20,000 allowance, on
     * the purchased tokens); the payment is charged back meanwhile (refunded callback). The call then ends
     * having used 25,000: it is charged 25,000, and the refund took back only what was not spent.
     */
    @Test
    void aRefundDuringAHeldCallStillChargesTheCallItsUsage() {
        String s = subject();
        String tx = "pi_" + UUID.randomUUID();
        assertEquals(200, callback(event(tx, s, 10_000, "\"33.00\"", "card", "completed")).statusCode());
        io.tokenquota.Reservation hold = store.reserve(s, 25_000, null);
        HttpResponse<String> refund = callback(event(tx, s, 10_000, "\"33.00\"", "card", "refunded"));
        store.commit(hold.id(), 25_000);
        QuotaAccount a = store.account(s);
        Purchase p = store.purchase(tx).orElseThrow();
        assertAll(() -> assertEquals(200, refund.statusCode(), refund.body()),
                () -> assertEquals(25_000, a.used(), a + " / " + p),
                () -> assertEquals(0, a.reserved(), a.toString()));
    }

    /**
     * An admin tops a user up by hand, reusing as its {@code idempotency_key} the transaction id of the user's
     * payment that is still pending at the provider, with the same user, amount and type. The grant must not
     * answer "Tokens added successfully" while nothing was credited (the store hands back the pending
     * record): 409 purchase-state-conflict, nothing credited; the payment's completion credits it once.
     */
    @Test
    void aGrantUnderAPendingPaymentsIdIsRefusedNotReportedAsAdded() {
        String s = subject();
        String tx = "pi_" + UUID.randomUUID().toString().replace("-", "");
        assertEquals(200, callback(event(tx, s, 5_000, null, null, "pending")).statusCode());
        HttpResponse<String> grant = admin("/add-tokens", "{\"user_id\":" + q(s) + ",\"token_amount\":5000,"
                + "\"purchase_type\":\"purchase\",\"idempotency_key\":" + q(tx) + "}");
        QuotaAccount before = store.account(s);
        assertAll(problem(grant, 409, "purchase-state-conflict", "a grant under a pending payment's id"),
                () -> assertEquals(0, before.granted(), before.toString()));
        assertEquals(200, callback(event(tx, s, 5_000, null, null, "completed")).statusCode());
        assertEquals(5_000, store.account(s).granted());
    }
}
