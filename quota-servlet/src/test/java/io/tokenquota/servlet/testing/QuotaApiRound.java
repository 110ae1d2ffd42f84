package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaStore;
import io.tokenquota.servlet.AdminAuthorizer;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import jakarta.servlet.Servlet;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.function.IntFunction;
import org.junit.jupiter.api.function.Executable;

/**
 * A round against the library's own HTTP API ({@code QuotaApiServlet} under {@link #API}): payment callbacks
 * signed with {@link #PAYMENT_SECRET}, admin calls with {@link #ADMIN_TOKEN}, subjects from the trusted
 * {@code x-user-id} header; no model endpoint.
 */
public abstract class QuotaApiRound extends H2FilterRound {
    protected static final byte[] PAYMENT_SECRET = "quota-api-round-payment-webhook-secret".getBytes(StandardCharsets.UTF_8);
    /** Mixed case, so that a test can send it in another case and expect a refusal. */
    protected static final String ADMIN_TOKEN = "api-round-admin-Token-0123456789abcdef";
    protected static final String API = "/quota-api";
    /** Where {@link #withChatModel} serves OpenAI's chat completions. */
    protected static final String CHAT = "/ai/openai/v1/chat/completions";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("nothing", new Nothing(), "/ai/*")
                .servlet("quota-api", apiServlet(), API + "/*");
    }

    /**
     * The quota API on this round's store: subjects from the trusted {@code x-user-id} header, admin calls with
     * {@link #ADMIN_TOKEN}, payment callbacks signed with {@link #PAYMENT_SECRET}.
     */
    protected QuotaApiServlet apiServlet() {
        return apiServlet(store);
    }

    /** As {@link #apiServlet()}, on {@code ledger} (a second store of the round's own). */
    protected static QuotaApiServlet apiServlet(QuotaStore ledger) {
        return QuotaApiServlet.builder(ledger)
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                .adminAuthorizer(AdminAuthorizer.bearerToken(ADMIN_TOKEN))
                .paymentSecret(PAYMENT_SECRET)
                .build();
    }

    /**
     * {@code filter} on {@code /ai/*}, the chat {@code model} under {@code /ai/openai/*} (so at {@link #CHAT}) and
     * the quota API under {@link #API}, for the round to add its own to.
     */
    protected Deployment withChatModel(QuotaFilter filter, Servlet model) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("chat", model, "/ai/openai/*")
                .servlet("quota-api", apiServlet(), API + "/*");
    }

    /** No model here: the round needs only the quota API. */
    public static class Nothing extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.sendError(404);
        }
    }

    /** A payment callback with {@code json} as its body, signed. */
    protected HttpResponse<String> callback(String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return TestHttp.post(container.uri(API + "/payment-callback"), body, "Content-Type", "application/json",
                "X-Signature", TestHttp.signature(PAYMENT_SECRET, body));
    }

    /** An admin POST to {@code path} under the API. */
    protected HttpResponse<String> admin(String path, String json) {
        return TestHttp.post(container.uri(API + path), json, "Content-Type", "application/json",
                "Authorization", "Bearer " + ADMIN_TOKEN);
    }

    /** An admin PUT of {@code json} to {@code path} under the API. */
    protected HttpResponse<String> put(String path, String json) {
        return TestHttp.send(TestHttp.request(container.uri(API + path), "Authorization", "Bearer " + ADMIN_TOKEN,
                "Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString(json)).build());
    }

    /** The user {@code s} moved to a plan of {@code allocation} tokens a month ({@code PUT /users/{id}/plan}). */
    protected HttpResponse<String> putPlan(String s, long allocation) {
        return put("/users/" + s + "/plan", "{\"monthly_allocation\":" + allocation + "}");
    }

    /** The team {@code team} moved to a plan of {@code allocation} tokens a month ({@code PUT /teams/{id}/plan}). */
    protected HttpResponse<String> putTeamPlan(String team, long allocation) {
        return put("/teams/" + team + "/plan", "{\"monthly_allocation\":" + allocation + "}");
    }

    /** The user {@code s} put in {@code team}, or out of any with {@code null} ({@code PUT /users/{id}/team}). */
    protected HttpResponse<String> putTeam(String s, String team) {
        return put("/users/" + s + "/team", "{\"team_id\":" + (team == null ? "null" : q(team)) + "}");
    }

    /** A new Stripe-style payment id ({@code pi_} and 32 hex digits). */
    protected static String paymentId() {
        return "pi_" + UUID.randomUUID().toString().replace("-", "");
    }

    /**
     * A payment callback of {@code tx} with {@code status}, signed: round 295's event, as a host's Stripe webhook
     * handler maps {@code payment_intent.succeeded} ("completed") and {@code charge.refunded} ("refunded")
     * (docs.stripe.com/api/events/types).
     */
    protected HttpResponse<String> payment(String tx, String s, long tokens, String status) {
        return callback("{\"transaction_id\":" + q(tx) + ",\"user_id\":" + q(s) + ",\"token_amount\":" + tokens
                + ",\"amount\":\"33.00\",\"currency\":\"USD\",\"payment_method\":\"card\",\"status\":" + q(status) + "}");
    }

    /** A Stripe-style purchase of {@code tokens} by {@code s} reported by the host's webhook handler, completed. */
    protected HttpResponse<String> bought(String s, long tokens) {
        return payment(paymentId(), s, tokens, "completed");
    }

    /** {@code s} as a JSON string (no escaping: the tests' own values). */
    protected static String q(String s) {
        return "\"" + s + "\"";
    }

    /** The answer is the problem {@code slug} with {@code status}. */
    protected static Executable problem(HttpResponse<String> r, int status, String slug, String what) {
        return () -> {
            assertEquals(status, r.statusCode(), what + ": " + r.body());
            assertTrue(r.body().contains("/problems/" + slug + "\""), what + ": expected " + slug + ", got " + r.body());
        };
    }

    /** {@code n} requests released at once; their answers in order. */
    protected static List<HttpResponse<String>> atOnce(int n, IntFunction<HttpResponse<String>> send) throws Exception {
        CountDownLatch go = new CountDownLatch(1);
        List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int k = i;
            all.add(CompletableFuture.supplyAsync(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return send.apply(k);
            }));
        }
        go.countDown();
        List<HttpResponse<String>> out = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : all) {
            out.add(f.get());
        }
        return out;
    }
}
