package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.AdminAuthorizer;
import io.tokenquota.servlet.QuotaApiServlet;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
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

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("nothing", new Nothing(), "/ai/*")
                .servlet("quota-api", QuotaApiServlet.builder(store)
                        .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                        .adminAuthorizer(AdminAuthorizer.bearerToken(ADMIN_TOKEN))
                        .paymentSecret(PAYMENT_SECRET)
                        .build(), API + "/*");
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
