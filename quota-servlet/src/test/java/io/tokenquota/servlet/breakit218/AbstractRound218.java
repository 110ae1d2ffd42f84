package io.tokenquota.servlet.breakit218;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.Team;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Round 218 of issue 11: the library's own HTTP API ({@code QuotaApiServlet}) as a hostile client and a
 * payment provider meet it: payment-callback money and ids, refunds out of order and at once, the admin
 * bearer check, query parameters and subjects with odd characters.
 */
abstract class AbstractRound218 extends QuotaApiRound {
    static String subject() {
        return "u218-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String event(String tx, String userJson, long tokens, String amountJson, String status) {
        return "{\"transaction_id\":\"" + tx + "\",\"user_id\":" + userJson + ",\"token_amount\":" + tokens
                + ",\"amount\":" + amountJson + ",\"currency\":\"USD\",\"payment_method\":\"card\",\"status\":\"" + status + "\"}";
    }

    /** Raw request on its own connection; the whole answer. */
    String raw(String requestHead, byte[] body) throws IOException {
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", container.port()), 5_000);
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(requestHead.getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().write(body);
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    // ---------------------------------------------------------------- subjects that are no user's

    /**
     * The application writes the user id it has for the buyer into the checkout's metadata, and the
     * provider echoes it in the callback. servlet.md: {@code invalid-subject} 400 for a user id with
     * control characters. A user id that starts with U+0001 "team:" is a team's account subject: the
     * callback must refuse it (400 invalid-subject) and credit nothing.
     */
    @Test
    void aUserIdWithAControlCharacterInAPaymentCallbackIsRefused() {
        String team = "t218-" + UUID.randomUUID().toString().substring(0, 8);
        String forged = "\\u0001team:" + team;
        HttpResponse<String> r = callback(event("tx-" + UUID.randomUUID(), q(forged), 5_000, "\"3300.00\"", "completed"));
        QuotaAccount teamAccount = store.account(Team.subject(team));
        assertAll(problem(r, 400, "invalid-subject", "user_id \\u0001team:" + team),
                () -> assertEquals(0, teamAccount.granted(), "the team's account was credited: " + teamAccount));
    }

    /** The same user id through the admin's add-tokens: documented as a user id, refused for its control character. */
    @Test
    void aUserIdWithAControlCharacterInAddTokensIsRefused() {
        String team = "t218-" + UUID.randomUUID().toString().substring(0, 8);
        HttpResponse<String> r = admin("/add-tokens", "{\"user_id\":\"\\u0001team:" + team + "\",\"token_amount\":7000}");
        QuotaAccount teamAccount = store.account(Team.subject(team));
        assertAll(problem(r, 400, "invalid-subject", "user_id \\u0001team:" + team),
                () -> assertEquals(0, teamAccount.granted(), "the team's account was credited: " + teamAccount));
    }

    /** Control: a user id with another control character is refused as documented. */
    @Test
    void controlAUserIdWithATabIsRefused() {
        String s = subject();
        HttpResponse<String> r = callback(event("tx-" + UUID.randomUUID(), q(s + "\\t"), 5_000, "\"3300.00\"", "completed"));
        assertAll(problem(r, 400, "invalid-subject", "user_id with a tab"));
    }

    // ---------------------------------------------------------------- money

    @Test
    void moneyFormsAreTakenExactlyOrRefused() {
        String s = subject();
        List<Executable> checks = new ArrayList<>();
        String[][] refused = {
            {"\"3300.001\"", "invalid-money"}, {"\"3.3e3\"", "invalid-money"}, {"\" 3300\"", "invalid-money"},
            {"\"3,300\"", "invalid-money"}, {"\"-1\"", "invalid-money"}, {"3300.001", "invalid-money"},
            {"99999999999999999999", "invalid-money"}, {"1e400", "invalid-money"}, {"1e-400", "invalid-money"},
            {"\"NaN\"", "invalid-money"}, {"\"Infinity\"", "invalid-money"}, {"-0.01", "invalid-money"},
            {"\"\"", "invalid-money"}, {"true", "invalid-money"}, {"[1]", "invalid-money"},
            {"\"1000000000000\"", "invalid-money"}, {"\"3300.00\\u0000\"", "invalid-money"},
        };
        for (String[] c : refused) {
            HttpResponse<String> r = callback(event("tx-" + UUID.randomUUID(), q(s), 5_000, c[0], "completed"));
            checks.add(problem(r, 400, c[1], "amount " + c[0]));
        }
        QuotaAccount after = store.account(s);
        checks.add(() -> assertEquals(0, after.granted(), "refused callbacks credited " + after));
        assertAll(checks);
    }

    @Test
    void aRepeatedKeyIsRefusedAndChangesNothing() {
        String s = subject();
        String tx = "tx-" + UUID.randomUUID();
        String body = "{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + s + "\",\"token_amount\":5000,"
                + "\"token_amount\":50000,\"amount\":\"3300.00\",\"currency\":\"USD\",\"status\":\"completed\"}";
        HttpResponse<String> r = callback(body);
        String body2 = "{\"transaction_id\":\"" + tx + "\",\"user_id\":\"" + s + "\",\"user_\\u0069d\":\"other\","
                + "\"token_amount\":5000,\"amount\":\"3300.00\",\"currency\":\"USD\",\"status\":\"completed\"}";
        HttpResponse<String> r2 = callback(body2);
        assertAll(problem(r, 400, "malformed-json", "token_amount twice"),
                problem(r2, 400, "malformed-json", "user_id twice, once escaped"),
                () -> assertEquals(0, store.account(s).granted()),
                () -> assertTrue(store.purchase(tx).isEmpty(), "recorded: " + store.purchase(tx)));
    }

    // ---------------------------------------------------------------- refunds

    /**
     * Round 340 changed this test's rule: a refund before its purchase was 404 and recorded nothing, so the
     * completion after it credited tokens whose money had gone back. Now the early refund records the
     * purchase refunded (nothing credited or debited), every completion after it is 409
     * purchase-state-conflict, and the replayed refund answers the refunded record again.
     */
    @Test
    void aRefundBeforeItsPurchaseThenBothInOrderDebitsOnce() {
        String s = subject();
        String tx = "tx-" + UUID.randomUUID();
        HttpResponse<String> early = callback(event(tx, q(s), 5_000, "\"3300.00\"", "refunded"));
        QuotaAccount afterEarly = store.account(s);
        HttpResponse<String> done = callback(event(tx, q(s), 5_000, "\"3300.00\"", "completed"));
        HttpResponse<String> refund = callback(event(tx, q(s), 5_000, "\"3300.00\"", "refunded"));
        HttpResponse<String> again = callback(event(tx, q(s), 5_000, "\"3300.00\"", "completed"));
        QuotaAccount end = store.account(s);
        assertAll(() -> assertEquals(200, early.statusCode(), "refund before the purchase (round 340): " + early.body()),
                () -> assertEquals(0, afterEarly.granted()),
                problem(done, 409, "purchase-state-conflict", "completed after its refund (round 340)"),
                () -> assertEquals(200, refund.statusCode(), refund.body()),
                () -> assertEquals(io.tokenquota.PurchaseStatus.REFUNDED, store.purchase(tx).orElseThrow().status()),
                () -> assertEquals(0, store.purchase(tx).orElseThrow().unrecovered()),
                problem(again, 409, "purchase-state-conflict", "completed after refunded"),
                () -> assertEquals(0, end.granted(), "after purchase and refund: " + end),
                () -> assertEquals(ALLOWANCE, end.available(), "after purchase and refund: " + end));
    }

    @Test
    void eightRefundsAtOnceDebitOnce() throws Exception {
        String s = subject();
        String tx = "tx-" + UUID.randomUUID();
        assertEquals(200, callback(event(tx, q(s), 5_000, "\"3300.00\"", "completed")).statusCode());
        CountDownLatch go = new CountDownLatch(1);
        List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            all.add(CompletableFuture.supplyAsync(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return callback(event(tx, q(s), 5_000, "\"3300.00\"", "refunded"));
            }));
        }
        go.countDown();
        List<Executable> checks = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : all) {
            HttpResponse<String> r = f.get();
            checks.add(() -> assertEquals(200, r.statusCode(), r.body()));
        }
        QuotaAccount end = store.account(s);
        checks.add(() -> assertEquals(0, end.granted(), end.toString()));
        checks.add(() -> assertEquals(ALLOWANCE, end.available(), end.toString()));
        assertAll(checks);
    }

    @Test
    void aRefundNamingMoreTokensOrAnotherUserIsRefused() {
        String s = subject();
        String tx = "tx-" + UUID.randomUUID();
        assertEquals(200, callback(event(tx, q(s), 5_000, "\"3300.00\"", "completed")).statusCode());
        HttpResponse<String> more = callback(event(tx, q(s), 50_000, "\"3300.00\"", "refunded"));
        HttpResponse<String> other = callback(event(tx, q(subject()), 5_000, "\"3300.00\"", "refunded"));
        HttpResponse<String> otherDone = callback(event(tx, q(subject()), 5_000, "\"3300.00\"", "completed"));
        HttpResponse<String> otherAmount = callback(event(tx, q(s), 5_000, "\"9900.00\"", "completed"));
        QuotaAccount end = store.account(s);
        assertAll(problem(more, 409, "idempotency-conflict", "refund of more"),
                problem(other, 409, "idempotency-conflict", "refund for another user"),
                problem(otherDone, 409, "idempotency-conflict", "completed for another user"),
                () -> assertEquals(200, otherAmount.statusCode(), otherAmount.body()),
                () -> assertEquals(5_000, end.granted(), end.toString()));
    }

    // ---------------------------------------------------------------- admin

    @Test
    void adminBearerSpellings() throws IOException {
        String s = subject();
        String body = "{\"monthly_allocation\":30000}";
        List<Executable> checks = new ArrayList<>();
        String[] allowed = {"Bearer " + ADMIN_TOKEN, "bearer " + ADMIN_TOKEN, "BEARER " + ADMIN_TOKEN,
            "Bearer   " + ADMIN_TOKEN + "  "};
        for (String a : allowed) {
            HttpResponse<String> r = TestHttp.send(TestHttp.request(container.uri(API + "/users/" + s + "/plan"),
                    "Authorization", a, "Content-Type", "application/json")
                    .PUT(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build());
            checks.add(() -> assertEquals(200, r.statusCode(), a + ": " + r.body()));
        }
        String[] refused = {"Bearer " + ADMIN_TOKEN.toLowerCase(), "Bearer" + ADMIN_TOKEN, "Basic " + ADMIN_TOKEN,
            "Bearer " + ADMIN_TOKEN + "x", ADMIN_TOKEN, "Bearer " + ADMIN_TOKEN + ", Bearer " + ADMIN_TOKEN};
        String other = subject();
        for (String a : refused) {
            HttpResponse<String> r = TestHttp.send(TestHttp.request(container.uri(API + "/users/" + other + "/plan"),
                    "Authorization", a, "Content-Type", "application/json")
                    .PUT(java.net.http.HttpRequest.BodyPublishers.ofString("{\"monthly_allocation\":90000}")).build());
            checks.add(problem(r, 403, "forbidden", a));
        }
        HttpResponse<String> query = TestHttp.send(TestHttp.request(
                container.uri(API + "/users/" + other + "/plan?access_token=" + ADMIN_TOKEN), "Content-Type", "application/json")
                .PUT(java.net.http.HttpRequest.BodyPublishers.ofString("{\"monthly_allocation\":90000}")).build());
        checks.add(problem(query, 401, "unauthenticated", "token as a query parameter"));
        checks.add(() -> assertEquals("Bearer", query.headers().firstValue("WWW-Authenticate").orElse(null)));
        byte[] b = "{\"monthly_allocation\":90000}".getBytes(StandardCharsets.UTF_8);
        String twoHeaders = raw("PUT " + API + "/users/" + other + "/plan HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "Authorization: Bearer wrong-token-0123456789\r\nAuthorization: Bearer " + ADMIN_TOKEN + "\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n", b);
        checks.add(() -> assertTrue(twoHeaders.startsWith("HTTP/1.1 403") || twoHeaders.startsWith("HTTP/1.1 400"), twoHeaders));
        checks.add(() -> assertEquals(30_000, store.account(s).allocated()));
        QuotaAccount o = store.account(other);
        checks.add(() -> assertEquals(ALLOWANCE, o.allocated(), "refused admin calls changed " + o));
        assertAll(checks);
    }

    // ---------------------------------------------------------------- query parameters

    @Test
    void oddQueryParametersGetDocumentedErrors() {
        String s = subject();
        String admin = "Bearer " + ADMIN_TOKEN;
        List<Executable> checks = new ArrayList<>();
        String[][] history = {{"months=0", "invalid-argument"}, {"months=25", "invalid-argument"},
            {"months=-1", "invalid-argument"}, {"months=abc", "invalid-argument"}, {"months=", "invalid-argument"},
            {"months=99999999999999999999", "invalid-argument"}, {"months=3.0", "invalid-argument"},
            {"months=%00", "invalid-argument"}};
        for (String[] h : history) {
            HttpResponse<String> r = TestHttp.get(container.uri(API + "/usage-history?" + h[0]), "x-user-id", s);
            checks.add(problem(r, 400, h[1], "/usage-history?" + h[0]));
        }
        String[][] days = {{"days=0", "invalid-argument"}, {"days=367", "invalid-argument"}, {"days=1e2", "invalid-argument"}};
        for (String[] h : days) {
            HttpResponse<String> r = TestHttp.get(container.uri(API + "/daily-usage?" + h[0]), "x-user-id", s);
            checks.add(problem(r, 400, h[1], "/daily-usage?" + h[0]));
        }
        String[][] months = {{"month=2026-13", "invalid-argument"}, {"month=2026-1", "invalid-argument"},
            {"month=1999-01", "month-out-of-range"}, {"month=2999-01", "month-out-of-range"},
            {"month=%2B999999999-12", "month-out-of-range"}, {"month=-999999999-01", "month-out-of-range"},
            {"month=2026-11-01", "invalid-argument"}, {"month=", "invalid-argument"}, {"limit=0", "invalid-argument"},
            {"limit=1001", "invalid-argument"}};
        for (String[] h : months) {
            HttpResponse<String> r = TestHttp.get(container.uri(API + "/admin/overview?" + h[0]), "Authorization", admin);
            checks.add(problem(r, 400, h[1], "/admin/overview?" + h[0]));
        }
        HttpResponse<String> ok = TestHttp.get(container.uri(API + "/daily-usage?days=366"), "x-user-id", s);
        checks.add(() -> assertEquals(200, ok.statusCode(), ok.body()));
        assertAll(checks);
    }

    @Test
    void oddSubjects() throws IOException {
        List<Executable> checks = new ArrayList<>();
        String longId = "u".repeat(129);
        HttpResponse<String> tooLong = TestHttp.get(container.uri(API + "/quota"), "x-user-id", longId);
        checks.add(problem(tooLong, 400, "invalid-subject", "129 characters"));
        HttpResponse<String> adminLong = TestHttp.get(container.uri(API + "/admin/users/" + longId + "/quota"),
                "Authorization", "Bearer " + ADMIN_TOKEN);
        checks.add(problem(adminLong, 400, "invalid-subject", "admin 129 characters"));
        String ctl = raw("GET " + API + "/admin/users/a%01team:zz/quota HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "Authorization: Bearer " + ADMIN_TOKEN + "\r\n\r\n", new byte[0]);
        checks.add(() -> assertTrue(ctl.startsWith("HTTP/1.1 400"), ctl));
        assertAll(checks);
    }

    /**
     * An admin tool sets a user's plan by a user id it percent-encodes into the path. A user id with
     * U+0001 is documented as 400 invalid-subject; {@code /users/%01team:zz218/plan} must not set the
     * plan of team zz218 (Jetty refuses the path itself with 400; Tomcat passes it on).
     */
    @Test
    void aUserPathWithAControlCharacterDoesNotSetATeamsPlan() throws IOException {
        List<Executable> checks = new ArrayList<>();
        String teamPath = raw("PUT " + API + "/users/%01team:zz218/plan HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "Authorization: Bearer " + ADMIN_TOKEN + "\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n",
                "{\"monthly_allocation\":1234}".getBytes(StandardCharsets.UTF_8));
        checks.add(() -> assertTrue(teamPath.startsWith("HTTP/1.1 400"), teamPath));
        checks.add(() -> assertEquals(ALLOWANCE, store.account(Team.subject("zz218")).allocated(), "the team's plan was set"));
        assertAll(checks);
    }
}
