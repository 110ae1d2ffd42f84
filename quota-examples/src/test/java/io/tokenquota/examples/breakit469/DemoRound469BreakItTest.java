package io.tokenquota.examples.breakit469;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.examples.DemoApp;
import io.tokenquota.examples.DemoConfig;
import java.io.ByteArrayOutputStream;
import java.net.Socket;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/**
 * Round 469: the demo as docs/demo.md starts it, attacked over raw HTTP/1.1 sockets at the framing and
 * encoding level: a JSON body in UTF-16/UTF-32 (RFC 8259 section 8.1 says UTF-8, but Jackson, which the mock
 * parses with, detects the others from the first bytes), requests pipelined on one connection (RFC 9112
 * section 9.3.2), a chunked body with a trailer (RFC 9112 section 7.1) and a body shorter than its
 * Content-Length. Request bodies are OpenAI chat completions requests
 * (platform.openai.com/docs/api-reference/chat/create); the answers are the mock model's.
 *
 * <p>No finding this round: every scenario is a control that passes on today's code.
 */
class DemoRound469BreakItTest {
    private static final String CHAT = DemoApp.CHAT_COMPLETIONS_PATH;
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.USE_LONG_FOR_INTS);
    private static final String BODY = "{\"model\":\"mock-gpt\",\"messages\":[{\"role\":\"user\",\"content\":\""
            + "Tell me about the sea and the ships that sail on it, at length. ".repeat(20) + "\"}],\"max_tokens\":400}";

    private static Map<String, String> env() {
        Map<String, String> env = new HashMap<>();
        env.put("PORT", "0");
        env.put("QUOTA_JDBC_URL", "jdbc:h2:mem:r469-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        env.put("QUOTA_ADMIN_TOKEN", "round469-admin-token-0123456789");
        env.put("QUOTA_PAYMENT_SECRET", "round469-payment-secret-0123456789");
        return env;
    }

    private static byte[] head(String method, String target, String user, String... headers) {
        StringBuilder b = new StringBuilder(method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n");
        if (user != null) {
            b.append("x-user-id: ").append(user).append("\r\n");
        }
        for (String h : headers) {
            b.append(h).append("\r\n");
        }
        return b.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    private static byte[] post(String user, byte[] body, String contentType, boolean close) {
        return concat(head("POST", CHAT, user, "Content-Type: " + contentType, "Content-Length: " + body.length,
                close ? "Connection: close" : "Connection: keep-alive"), body);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    /** Writes the bytes, half-closes (so a short body ends at the client's EOF) and reads until the server closes. */
    private static String exchange(DemoApp app, byte[] request) throws Exception {
        try (Socket s = new Socket("127.0.0.1", app.port())) {
            s.setSoTimeout(30_000);
            s.getOutputStream().write(request);
            s.getOutputStream().flush();
            s.shutdownOutput();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            s.getInputStream().transferTo(out);
            return out.toString(StandardCharsets.UTF_8);
        }
    }

    private static long usageOf(String response) {
        int i = response.lastIndexOf("\"total_tokens\":");
        assertTrue(i >= 0, "no usage in the answer");
        int j = i + "\"total_tokens\":".length();
        int k = j;
        while (Character.isDigit(response.charAt(k))) {
            k++;
        }
        return Long.parseLong(response.substring(j, k));
    }

    private static JsonNode settled(DemoApp app, String user) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            String r = exchange(app, head("GET", "/api/v1/user-quota/quota", user, "Connection: close"));
            JsonNode q = JSON.readTree(r.substring(r.indexOf("\r\n\r\n") + 4));
            if (q.get("reserved_tokens").asLong() == 0) {
                return q;
            }
            assertTrue(System.nanoTime() < deadline, "holds still open: " + q);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    private static long used(DemoApp app, String user) throws Exception {
        return settled(app, user).get("used_tokens").asLong();
    }

    /**
     * Control: the same chat body in UTF-16 and UTF-32 (no BOM), labelled JSON, text or octet-stream, is served
     * by the mock (Jackson detects the encoding) and charged exactly the usage its answer reports, as UTF-8 is.
     */
    @Test
    void controlABodyInUtf16OrUtf32IsChargedItsUsageUnderEveryLabel() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            String utf8 = exchange(app, post("u8", BODY.getBytes(StandardCharsets.UTF_8), "application/json", true));
            assertTrue(utf8.startsWith("HTTP/1.1 200"), utf8);
            long usage = usageOf(utf8);
            assertEquals(usage, used(app, "u8"));
            int n = 0;
            for (String cs : new String[] {"UTF-16LE", "UTF-16BE", "UTF-32LE", "UTF-32BE"}) {
                for (String type : new String[] {"application/json", "text/plain", "application/octet-stream"}) {
                    String user = "enc" + n++;
                    String r = exchange(app, post(user, BODY.getBytes(Charset.forName(cs)), type, true));
                    assertTrue(r.startsWith("HTTP/1.1 200"), cs + " " + type + ": " + r);
                    assertEquals(usage, usageOf(r), cs + " " + type);
                    assertEquals(usage, used(app, user), cs + " " + type + ": charged other than the usage");
                }
            }
        }
    }

    /** Control: two calls pipelined on one connection are both served and both charged their usage. */
    @Test
    void controlTwoPipelinedCallsAreBothCharged() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            byte[] one = BODY.getBytes(StandardCharsets.UTF_8);
            String r = exchange(app, concat(post("pipe", one, "application/json", false),
                    post("pipe", one, "application/json", true)));
            assertEquals(2, r.split("HTTP/1.1 200", -1).length - 1, r);
            assertEquals(2 * usageOf(r), used(app, "pipe"));
        }
    }

    /**
     * Control: a chunked body with a trailer field is served and charged its usage; a body that ends (client
     * EOF) before its Content-Length never reaches the mock and charges nothing.
     */
    @Test
    void controlChunkedWithTrailerIsChargedAndAShortBodyIsNot() throws Exception {
        try (DemoApp app = DemoApp.start(DemoConfig.fromEnv(env()))) {
            byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
            byte[] chunked = concat(head("POST", CHAT, "chunk", "Content-Type: application/json",
                    "Transfer-Encoding: chunked", "Connection: close"),
                    (Integer.toHexString(body.length) + "\r\n").getBytes(StandardCharsets.US_ASCII), body,
                    "\r\n0\r\nX-Trailer: 1\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            String r = exchange(app, chunked);
            assertTrue(r.startsWith("HTTP/1.1 200"), r);
            assertEquals(usageOf(r), used(app, "chunk"));

            byte[] shortBody = concat(head("POST", CHAT, "short", "Content-Type: application/json",
                    "Content-Length: " + (body.length + 20), "Connection: close"), body);
            String s = exchange(app, shortBody);
            assertTrue(s.startsWith("HTTP/1.1 400"), s);
            assertEquals(0, used(app, "short"));
        }
    }
}
