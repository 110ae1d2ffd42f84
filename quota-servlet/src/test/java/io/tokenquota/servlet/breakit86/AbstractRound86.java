package io.tokenquota.servlet.breakit86;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 86 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the product as a new user meets it from the README, driven with curl against the demo (H2 default):
 * chat calls streamed and not under the model-weights table, 429 and {@code X-Quota-*} /
 * {@code RateLimit} figures against the ledger, teams, idempotency keys, fitting the output budget,
 * the dashboard data, and payment callbacks with decimal money. The payment-callback money rules are
 * replayed here: servlet.md promises a decimal string "plain digits with an optional sign and fraction".
 */
abstract class AbstractRound86 extends H2FilterRound {
    static final byte[] PAYMENT_SECRET = "round-86-payment-webhook-secret-0123".getBytes(StandardCharsets.UTF_8);

    static String subject() {
        return "u86-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("nothing", new Nothing(), "/ai/*")
                .servlet("quota-api", QuotaApiServlet.builder(store)
                        .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                        .paymentSecret(PAYMENT_SECRET)
                        .build(), "/quota-api/*");
    }

    /** No model here: the round needs only the quota API. */
    public static class Nothing extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(404);
        }
    }

    HttpResponse<String> callback(String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return TestHttp.post(container.uri("/quota-api/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(PAYMENT_SECRET, body));
    }

    private String completed(String subject, String amountJson) {
        return "{\"transaction_id\":\"tx-" + UUID.randomUUID() + "\",\"user_id\":\"" + subject + "\",\"token_amount\":5000,"
                + "\"amount\":" + amountJson + ",\"currency\":\"USD\",\"payment_method\":\"card\",\"status\":\"completed\"}";
    }

    /**
     * A provider that writes money with an explicit sign ({@code "+3300.00"}, as some do for credits). The
     * docs (servlet.md, input rules; {@code JsonRequest.optionalDecimal}'s javadoc) accept "plain digits
     * with an optional sign and fraction"; the pattern in {@code JsonRequest} only allows {@code -}.
     * Seen on the demo: {@code "+3300.00"} → 400 invalid-money, nothing credited.
     */
    @Test
    void aDecimalStringWithAPlusSignIsAccepted() {
        String s = subject();
        store.account(s);
        HttpResponse<String> r = callback(completed(s, "\"+3300.00\""));
        assertEquals(200, r.statusCode(), kind() + ": amount \"+3300.00\" (plain digits with an optional sign, as"
                + " documented) answered " + r.statusCode() + " " + r.body());
        assertEquals(ALLOWANCE + 5_000, store.account(s).limit(), kind() + ": a 5,000-token purchase paid \"+3300.00\""
                + " credited " + (store.account(s).limit() - ALLOWANCE) + " " + ledger(s));
    }

    /** The documented forms that the demo accepted: each credits 5,000 tokens once, the amount kept exactly. */
    @Test
    void documentedDecimalFormsAreCreditedExactly() {
        String[] forms = {"\"3300.00\"", "3300.00", "\"3300\"", "3300.10", "\"0003300.5\"", "\"-0.00\""};
        String[] kept = {"3300.00", "3300.00", "3300.00", "3300.10", "3300.50", "0.00"};
        for (int i = 0; i < forms.length; i++) {
            String s = subject();
            store.account(s);
            HttpResponse<String> r = callback(completed(s, forms[i]));
            assertEquals(200, r.statusCode(), kind() + ": amount " + forms[i] + " answered " + r.statusCode() + " " + r.body());
            assertEquals(true, r.body().contains("\"amount\":" + kept[i] + ","), kind() + ": amount " + forms[i]
                    + " kept as " + kept[i] + "? " + r.body());
            assertEquals(ALLOWANCE + 5_000, store.account(s).limit(), kind() + ": amount " + forms[i] + " credited "
                    + (store.account(s).limit() - ALLOWANCE) + " " + ledger(s));
        }
    }

    /** Refused forms change nothing: the documented {@code invalid-money} and an unchanged ledger. */
    @Test
    void refusedDecimalFormsChangeNothing() {
        String[] forms = {"\"-1.00\"", "3300.001", "\"1e3\"", "\"3,300\"", "\" 3300\"", "\"3300.\"", "\".50\"", "\"\""};
        for (String form : forms) {
            String s = subject();
            store.account(s);
            HttpResponse<String> r = callback(completed(s, form));
            assertEquals(400, r.statusCode(), kind() + ": amount " + form + " answered " + r.statusCode() + " " + r.body());
            assertEquals(true, r.body().contains("/problems/invalid-money"), kind() + ": amount " + form + ": " + r.body());
            assertEquals(ALLOWANCE, store.account(s).limit(), kind() + ": refused amount " + form + " credited "
                    + (store.account(s).limit() - ALLOWANCE) + " " + ledger(s));
        }
    }
}
