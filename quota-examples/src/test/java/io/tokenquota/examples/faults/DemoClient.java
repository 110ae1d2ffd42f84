package io.tokenquota.examples.faults;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Speaks the demo service's HTTP surface (SERVLET_API.md, issue 4) the way its clients do: the
 * OpenAI-compatible mock model behind the quota filter, the quota API, the signed payment callback.
 * Thread-safe.
 */
final class DemoClient {
    static final String CHAT = "/api/v1/ai/chat/completions";
    static final String QUOTA = "/api/v1/user-quota/quota";
    static final String CALLBACK = "/api/v1/user-quota/payment-callback";
    static final String USER_HEADER = "x-user-id";
    static final String IDEMPOTENCY_HEADER = "Idempotency-Key";
    static final String ADMIN_TOKEN = "faults-admin-token-0123456789";
    static final String PAYMENT_SECRET = "faults-payment-secret-0123456789";

    private final Http http;

    DemoClient(Duration timeout) {
        this.http = new Http(timeout);
    }

    Http http() {
        return http;
    }

    /** The environment every faults test gives the demo service (known secrets, quick sweep). */
    static Map<String, String> baseEnv() {
        return new java.util.LinkedHashMap<>(Map.of(
                "QUOTA_ADMIN_TOKEN", ADMIN_TOKEN,
                "QUOTA_PAYMENT_SECRET", PAYMENT_SECRET,
                "QUOTA_SWEEP_INTERVAL", "PT0.5S"));
    }

    static String chatBody(String prompt, long maxTokens, long delayMs) {
        StringBuilder sb = new StringBuilder("{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"")
                .append(prompt).append("\"}],\"max_tokens\":").append(maxTokens);
        if (delayMs > 0) {
            sb.append(",\"mock_delay_ms\":").append(delayMs);
        }
        return sb.append('}').toString();
    }

    Http.Response chat(DemoProcess demo, String user, String prompt, long maxTokens, String idempotencyKey) {
        return http.postJson(demo.uri(CHAT), chatBody(prompt, maxTokens, 0), headers(user, idempotencyKey));
    }

    Http.Response chat(URI base, String user, String prompt, long maxTokens, String idempotencyKey) {
        return http.postJson(base.resolve(CHAT), chatBody(prompt, maxTokens, 0), headers(user, idempotencyKey));
    }

    CompletableFuture<Http.Response> slowChat(DemoProcess demo, String user, String prompt, long maxTokens, long delayMs) {
        return http.postJsonAsync(demo.uri(CHAT), chatBody(prompt, maxTokens, delayMs),
                Duration.ofMillis(delayMs + 15_000), headers(user, null));
    }

    Map<String, Object> quota(DemoProcess demo, String user) {
        return quota(demo.uri(QUOTA), user);
    }

    Map<String, Object> quota(URI quotaUri, String user) {
        Http.Response r = http.get(quotaUri, USER_HEADER, user);
        if (r.status() != 200) {
            throw new AssertionError("GET /quota for " + user + ": " + r);
        }
        return r.json();
    }

    /** Posts a payment callback signed as the payment system signs it: HMAC-SHA256 over the raw body. */
    Http.Response paymentCallback(URI base, String body) {
        byte[] raw = body.getBytes(StandardCharsets.UTF_8);
        return http.post(base.resolve(CALLBACK), raw, "application/json", "X-Signature", "sha256=" + hmac(raw));
    }

    static String callbackBody(String transactionId, String user, long tokens) {
        return "{\"transaction_id\":\"" + transactionId + "\",\"user_id\":\"" + user + "\",\"token_amount\":" + tokens
                + ",\"amount\":9900.00,\"currency\":\"KRW\",\"payment_method\":\"card\",\"status\":\"completed\","
                + "\"purchase_type\":\"purchase\",\"reason\":\"faults replay storm\"}";
    }

    static String hmac(byte[] raw) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(PAYMENT_SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            return HexFormat.of().formatHex(mac.doFinal(raw));
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** {@code usage.total_tokens} of a mock model answer: what the filter charges. */
    static long totalTokens(Http.Response r) {
        return Json.longAt(r.json(), "usage.total_tokens");
    }

    private static String[] headers(String user, String idempotencyKey) {
        List<String> h = new ArrayList<>(List.of(USER_HEADER, user));
        if (idempotencyKey != null) {
            h.add(IDEMPOTENCY_HEADER);
            h.add(idempotencyKey);
        }
        return h.toArray(String[]::new);
    }
}
