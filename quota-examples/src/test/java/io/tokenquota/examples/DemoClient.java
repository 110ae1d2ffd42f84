package io.tokenquota.examples;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** Real HTTP calls against a running {@link DemoApp}, as a client of the demo would make them. */
final class DemoClient {
    static final String ADMIN_TOKEN = "test-admin-token-0123456789";
    static final String PAYMENT_SECRET = "test-payment-secret-0123456789";

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final URI base;

    DemoClient(URI base) {
        this.base = base;
    }

    /** A chat completion for {@code user}; {@code extra} is spliced into the JSON body (e.g. {@code "stream":true}). */
    HttpResponse<String> chat(String user, String prompt, int maxTokens, String extra) throws IOException, InterruptedException {
        String body = "{\"model\":\"mock-gpt\",\"messages\":[{\"role\":\"user\",\"content\":" + quote(prompt) + "}],"
                + "\"max_tokens\":" + maxTokens + (extra == null ? "" : "," + extra) + "}";
        return send(HttpRequest.newBuilder(base.resolve(DemoApp.CHAT_COMPLETIONS_PATH))
                .header("x-user-id", user)
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    HttpResponse<String> chat(String user, String prompt, int maxTokens) throws IOException, InterruptedException {
        return chat(user, prompt, maxTokens, null);
    }

    Map<String, Object> quota(String user) throws IOException, InterruptedException {
        HttpResponse<String> r = get("/api/v1/user-quota/quota", user);
        if (r.statusCode() != 200) {
            throw new AssertionError("GET /quota: " + r.statusCode() + " " + r.body());
        }
        return TestJson.object(r.body());
    }

    /**
     * The quota once every hold of the user is settled. The filter charges after the model's response
     * has reached the client, so a read right after a response may still see its hold; this polls
     * (with a deadline) until {@code reserved_tokens} is 0.
     */
    Map<String, Object> settledQuota(String user) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            Map<String, Object> q = quota(user);
            if (TestJson.longAt(q, "reserved_tokens") == 0) {
                return q;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("holds still open after 10 s: " + q);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    HttpResponse<String> get(String path, String user) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).GET();
        if (user != null) {
            b.header("x-user-id", user);
        }
        return send(b);
    }

    HttpResponse<String> adminGet(String path, String token) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(base.resolve(path)).header("authorization", "Bearer " + token).GET());
    }

    HttpResponse<String> addTokens(String token, String user, long tokens, String key) throws IOException, InterruptedException {
        String body = "{\"user_id\":" + quote(user) + ",\"token_amount\":" + tokens + ",\"purchase_type\":\"bonus\","
                + "\"reason\":\"support top-up\",\"idempotency_key\":" + quote(key) + "}";
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve("/api/v1/user-quota/add-tokens"))
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            b.header("authorization", "Bearer " + token);
        }
        return send(b);
    }

    HttpResponse<String> setPlan(String user, long allocation) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(base.resolve("/api/v1/user-quota/users/" + user + "/plan"))
                .header("authorization", "Bearer " + ADMIN_TOKEN)
                .header("content-type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString("{\"monthly_allocation\":" + allocation + "}")));
    }

    /** A payment system's callback, signed with {@code secret} (HMAC-SHA256 over the raw body). */
    HttpResponse<String> paymentCallback(String secret, String user, String transactionId, long tokens, String amount,
                                         String currency, String status) throws IOException, InterruptedException {
        String body = "{\"transaction_id\":" + quote(transactionId) + ",\"user_id\":" + quote(user)
                + ",\"token_amount\":" + tokens + ",\"amount\":" + amount + ",\"currency\":" + quote(currency)
                + ",\"payment_method\":\"card\",\"status\":" + quote(status) + "}";
        return send(HttpRequest.newBuilder(base.resolve("/api/v1/user-quota/payment-callback"))
                .header("content-type", "application/json")
                .header("X-Signature", "sha256=" + hmac(secret, body))
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    static String hmac(String secret, String body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            return HexFormat.of().formatHex(mac.doFinal(body.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    HttpResponse<String> send(HttpRequest.Builder request) throws IOException, InterruptedException {
        return http.send(request.timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
