package io.tokenquota.servlet.breakit358;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaStore;
import io.tokenquota.servlet.AdminAuthorizer;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.JsonTree;
import io.tokenquota.servlet.testing.QuotaApiRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 358 of issue 11 (items 11 and 12, the quota API beside the filter): a refund racing its purchase's
 * completion, a user id outside ASCII named by the trusted proxy, a payment secret kept in a secret file, and
 * query integers in other scripts' digits.
 */
abstract class AbstractRound358 extends QuotaApiRound {
    /** The quota API on the round's store seen through {@link #gatedStore}: a ledger whose writes take a while. */
    static final String GATED_API = "/gated-api";
    /** The quota API as a host configures it from a secret file ({@link #PAYMENT_SECRET} and the file's newline). */
    static final String FILE_SECRET_API = "/file-secret-api";

    /** Transaction ids whose first {@code recordPending} waits (bounded) for {@link #completionDone}. */
    final Set<String> gatedRecords = ConcurrentHashMap.newKeySet();
    volatile CountDownLatch atRecord = new CountDownLatch(1);
    volatile CountDownLatch completionDone = new CountDownLatch(1);

    static String subject() {
        return "u358-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // as a host reads it: Files.readString of a secret file, its newline kept (the text form, which is trimmed;
        // the byte[] form takes a binary key's bytes exactly)
        String fileSecret = new String(PAYMENT_SECRET, StandardCharsets.UTF_8) + "\n";
        return super.deploy(filter)
                .servlet("gated-quota-api", apiServlet(gatedStore()), GATED_API + "/*")
                .servlet("file-secret-quota-api", QuotaApiServlet.builder(store)
                        .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                        .adminAuthorizer(AdminAuthorizer.bearerToken(ADMIN_TOKEN))
                        .paymentSecret(fileSecret)
                        .build(), FILE_SECRET_API + "/*");
    }

    /**
     * The round's store, except that the first {@code recordPending} of a gated transaction id signals
     * {@link #atRecord} and waits (bounded) for {@link #completionDone}: the refund's insert reaches the database
     * after the completion's, as on a busy database with two webhook deliveries handled at once.
     */
    QuotaStore gatedStore() {
        QuotaStore real = store;
        return (QuotaStore) Proxy.newProxyInstance(AbstractRound358.class.getClassLoader(), new Class<?>[] {QuotaStore.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("recordPending") && args != null && args.length == 1
                            && args[0] instanceof PurchaseRequest r && gatedRecords.remove(r.transactionId())) {
                        atRecord.countDown();
                        if (!completionDone.await(20, TimeUnit.SECONDS)) {
                            throw new AssertionError("the completion never came");
                        }
                    }
                    try {
                        return method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    /** A signed payment callback to the API under {@code api}. */
    HttpResponse<String> callbackTo(String api, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return TestHttp.post(container.uri(api + "/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(PAYMENT_SECRET, body));
    }

    /**
     * Stripe's {@code payment_intent.succeeded} as the host's webhook handler maps it (round 295's event, {@link
     * #payment}): card, 33.00 USD.
     */
    static String succeeded(String tx, String s, long tokens) {
        return "{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s) + ",\"token_amount\":" + tokens
                + ",\"amount\":\"33.00\",\"currency\":\"USD\",\"payment_method\":\"card\",\"status\":\"completed\"}";
    }

    /**
     * Stripe's {@code charge.refunded} as the host maps it, with the refund's {@code reason} (the Refund object's
     * {@code reason}: "duplicate", "fraudulent" or "requested_by_customer", docs.stripe.com/api/refunds/object).
     * servlet.md: a later event of a recorded purchase must name its user_id and token_amount; "its payment method,
     * amount and reason may differ from the pending record's ... and do not change it".
     */
    static String refunded(String tx, String s, long tokens) {
        return "{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s) + ",\"token_amount\":" + tokens
                + ",\"amount\":\"33.00\",\"currency\":\"USD\",\"payment_method\":\"card\","
                + "\"reason\":\"requested_by_customer\",\"status\":\"refunded\"}";
    }

    // ---------------------------------------------------------------- a refund racing its completion

    /**
     * A buyer pays 5,000 tokens and is refunded at once; Stripe delivers {@code charge.refunded} and (a retry of)
     * {@code payment_intent.succeeded} at the same moment ("Stripe doesn't guarantee the delivery of events in the
     * order that they're generated", docs.stripe.com/webhooks, "Event ordering"). The refund's callback looks the
     * purchase up (none yet), the completion records and credits it, then the refund records it from its event
     * ({@code recordPending}): the record exists with other details (the refund's reason), 409
     * idempotency-conflict, nothing debited. The user keeps 5,000 tokens whose money went back.
     *
     * <p>decisions.md (round 340): "the callback records it first ({@code recordPending}, then {@code refund}) ...
     * and the two calls end right in any interleaving with a concurrent completion (credited, then debited)". Right:
     * the refund answers 200 and debits (granted 0, the purchase refunded), as the same two events do one after the
     * other (the control).
     */
    @Test
    void aRefundRacingItsCompletionIsRefusedAndTheRefundedTokensStay() throws Exception {
        String s = subject();
        String tx = paymentId();
        atRecord = new CountDownLatch(1);
        completionDone = new CountDownLatch(1);
        gatedRecords.add(tx);
        CompletableFuture<HttpResponse<String>> refund =
                CompletableFuture.supplyAsync(() -> callbackTo(GATED_API, refunded(tx, s, 5_000)));
        HttpResponse<String> done;
        try {
            assertTrue(atRecord.await(20, TimeUnit.SECONDS), "the refund's callback never reached recordPending");
            done = callbackTo(GATED_API, succeeded(tx, s, 5_000));
        } finally {
            completionDone.countDown();
        }
        HttpResponse<String> r = refund.get(30, TimeUnit.SECONDS);
        QuotaAccount a = store.account(s);
        PurchaseStatus status = store.purchase(tx).map(Purchase::status).orElse(null);
        assertAll(() -> assertEquals(200, done.statusCode(), "completion: " + done.body()),
                () -> assertEquals(200, r.statusCode(), "refund racing the completion: " + r.body()),
                () -> assertEquals(PurchaseStatus.REFUNDED, status, "purchase after both events"),
                () -> assertEquals(0, a.granted(), "refunded tokens left to spend: " + a),
                () -> assertEquals(ALLOWANCE, a.available(), "refunded tokens left to spend: " + a));
    }

    /** Control: the same two events one after the other (completion, then refund with its reason): debited, 0 left. */
    @Test
    void controlTheSameEventsInTurnDebitTheRefund() {
        String s = subject();
        String tx = paymentId();
        HttpResponse<String> done = callbackTo(GATED_API, succeeded(tx, s, 5_000));
        HttpResponse<String> r = callbackTo(GATED_API, refunded(tx, s, 5_000));
        QuotaAccount a = store.account(s);
        PurchaseStatus status = store.purchase(tx).map(Purchase::status).orElse(null);
        assertAll(() -> assertEquals(200, done.statusCode(), done.body()),
                () -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertEquals(PurchaseStatus.REFUNDED, status),
                () -> assertEquals(0, a.granted(), a.toString()),
                () -> assertEquals(ALLOWANCE, a.available(), a.toString()));
    }

    // ---------------------------------------------------------------- a user id outside ASCII from the trusted proxy

    /**
     * The user "josé-…" buys 5,000 tokens (the host's webhook handler names its user as its database spells it,
     * in JSON, UTF-8). The trusted proxy in front names the same user in {@code x-user-id} as the bytes of its
     * UTF-8 text (Go's net/http, which oauth2-proxy runs on, writes a header value's bytes as they are:
     * pkg.go.dev/net/http, {@code Header.Write}; oauth2-proxy passes the IdP's {@code preferred_username} claim in
     * {@code X-Forwarded-Preferred-Username}, oauth2-proxy.github.io/oauth2-proxy/configuration/overview). The
     * container gives those bytes to the resolver one character each (ISO-8859-1), so the resolver names
     * "josÃ©-…": GET /quota shows another account, without the 5,000 bought tokens, and the filter holds that
     * account's allowance, never the purchase. Right: the header's UTF-8 read as UTF-8 (or refused, 401, as a
     * documented rule), never a third subject beside the one the purchases are credited to.
     */
    @Test
    void aUserIdOutsideAsciiFromTheTrustedProxyNamesAnAccountWithoutItsPurchases() throws java.io.IOException {
        String s = "jos\u00e9-" + subject();
        HttpResponse<String> paid = bought(s, 5_000);
        String asSent = new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
        // a raw connection: the JDK's client would send the header's bytes as "?"
        Map.Entry<Integer, String> quota = TestHttp.rawGet(container.port(), API + "/quota", "x-user-id: " + asSent);
        assertEquals(200, quota.getKey(), quota.getValue());
        Map<String, Object> body = JsonTree.object(quota.getValue());
        assertAll(() -> assertEquals(200, paid.statusCode(), paid.body()),
                () -> assertEquals(s, body.get("user_id"), "the account GET /quota shows: " + quota.getValue()),
                () -> assertEquals(5_000L, ((Number) body.get("purchased_tokens")).longValue(),
                        "bought tokens on the account the user's calls draw from: " + quota.getValue()));
    }

    /** Control: an ASCII user id: the 5,000 bought tokens are on the account GET /quota shows. */
    @Test
    void controlAnAsciiUserIdSeesItsPurchase() {
        String s = subject();
        HttpResponse<String> paid = bought(s, 5_000);
        HttpResponse<String> quota = TestHttp.get(container.uri(API + "/quota"), "x-user-id", s);
        Map<String, Object> body = TestHttp.json(quota);
        assertAll(() -> assertEquals(200, paid.statusCode(), paid.body()),
                () -> assertEquals(s, body.get("user_id"), quota.body()),
                () -> assertEquals(5_000L, ((Number) body.get("purchased_tokens")).longValue(), quota.body()));
    }

    // ---------------------------------------------------------------- the payment secret read from a secret file

    /**
     * The host keeps its webhook secret in a secret file, as it keeps the admin token (a Docker or Kubernetes
     * secret written with {@code echo}: the file ends with a newline), and passes the file's bytes to {@code
     * paymentSecret}. The provider signs with the secret it issued (no newline). {@link AdminAuthorizer#bearerToken}
     * trims the configured token for exactly this reason ("a token read from a secret file usually ends with a
     * newline, which no Authorization header can carry, so kept as given it would never match", round 83); the
     * payment secret is kept as given: every genuine callback is 401 bad-signature and the 5,000 paid tokens are
     * never credited. Right: the configured secret trimmed as the admin token is (or refused at build time), the
     * callback credited.
     */
    @Test
    void aPaymentSecretFromASecretFileRefusesEveryGenuineCallback() {
        String s = subject();
        HttpResponse<String> r = callbackTo(FILE_SECRET_API, succeeded(paymentId(), s, 5_000));
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, r.statusCode(), "a genuine callback: " + r.body()),
                () -> assertEquals(5_000, a.granted(), "paid tokens credited: " + a));
    }

    /** Control: the same callback to the API configured with the secret as issued: credited. */
    @Test
    void controlThePaymentSecretAsIssuedCredits() {
        String s = subject();
        HttpResponse<String> r = callbackTo(API, succeeded(paymentId(), s, 5_000));
        QuotaAccount a = store.account(s);
        assertAll(() -> assertEquals(200, r.statusCode(), r.body()),
                () -> assertEquals(5_000, a.granted(), a.toString()));
    }

    // ---------------------------------------------------------------- query integers in other scripts' digits

    /**
     * servlet.md: {@code GET /usage-history?months=N}, "N 1..24"; {@code GET /daily-usage?days=N}, "N 1..366";
     * errors: "invalid-argument | 400 | out-of-range query parameter". {@code months=٣} (ARABIC-INDIC DIGIT THREE,
     * U+0663) and {@code days=１０} (FULLWIDTH digits) are no such integers, but {@code Integer.parseInt} reads
     * every Unicode decimal digit: both are answered 200 as 3 months and 10 days. Right: 400 invalid-argument,
     * as {@code months=3.0} is.
     */
    @Test
    void queryIntegersInOtherScriptsDigitsAreAccepted() {
        String s = subject();
        HttpResponse<String> months = TestHttp.get(container.uri(API + "/usage-history?months=%D9%A3"), "x-user-id", s);
        HttpResponse<String> days = TestHttp.get(container.uri(API + "/daily-usage?days=%EF%BC%91%EF%BC%90"),
                "x-user-id", s);
        assertAll(problem(months, 400, "invalid-argument", "months=\u0663"),
                problem(days, 400, "invalid-argument", "days=\uff11\uff10"));
    }

    /** Control: ASCII digits are read, a fraction is refused. */
    @Test
    void controlAsciiDigitsAreReadAndAFractionRefused() {
        String s = subject();
        HttpResponse<String> days = TestHttp.get(container.uri(API + "/daily-usage?days=10"), "x-user-id", s);
        HttpResponse<String> fraction = TestHttp.get(container.uri(API + "/usage-history?months=3.0"), "x-user-id", s);
        assertAll(() -> assertEquals(200, days.statusCode(), days.body()),
                () -> assertEquals(10L, ((Number) TestHttp.json(days).get("days")).longValue(), days.body()),
                problem(fraction, 400, "invalid-argument", "months=3.0"));
    }
}
