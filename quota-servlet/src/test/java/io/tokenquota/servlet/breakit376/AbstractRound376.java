package io.tokenquota.servlet.breakit376;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Round 376 of issue 11, items 7 and 9 after round 358's change (the trusted header's bytes read as UTF-8):
 * identity through forwarded headers (IPv4-mapped IPv6 spellings of the trusted proxy, which Jetty's
 * {@code HostPort.normalizeHost} turns into the IPv4 address), Unicode spellings of one name (NFC and NFD) named
 * by the trusted proxy, and request paths that reach a protected servlet through path parameters, empty and dot
 * segments, encoded slashes and case. Each checks the invariant: the ledger charges exactly the usage of
 * the calls that reached the model, to the subject the model served.
 */
abstract class AbstractRound376 extends H2FilterRound {
    static final long USAGE = 3_000;

    /** Model calls by the x-user-id the endpoint saw, as the container handed it over (ISO-8859-1 chars). */
    final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();

    static String subject() {
        return "u376-" + UUID.randomUUID().toString().substring(0, 12);
    }

    int callsOf(String headerAsSeen) {
        AtomicInteger n = calls.get(headerAsSeen);
        return n == null ? 0 : n.get();
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("chat", new Chat(), "/ai/v1/*", "/ai/fwd/v1/*")
                .servlet("open", new Open(), "/open/*")
                .forwardedHeaders("/ai/fwd/")
                .onStartup(filter::registerByServletName);
    }

    /**
     * An OpenAI chat completions endpoint (platform.openai.com/docs/api-reference/chat/object: {@code usage} with
     * {@code prompt_tokens}, {@code completion_tokens}, {@code total_tokens}) serving whoever x-user-id names.
     */
    class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.computeIfAbsent(String.valueOf(req.getHeader("x-user-id")), k -> new AtomicInteger()).incrementAndGet();
            resp.setContentType("application/json");
            resp.getWriter().write("{\"id\":\"chatcmpl-376\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello.\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":2000,"
                    + "\"total_tokens\":" + USAGE + "}}");
        }
    }

    /** An unprotected page. */
    static class Open extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setContentType("text/plain");
            resp.getWriter().write("open");
        }
    }

    /** A user id as the trusted proxy writes it: its UTF-8 bytes, one char each on the raw connection. */
    static String asSent(String id) {
        return new String(id.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
    }

    // ---------------------------------------------------------------- identity: forwarded spellings of the proxy

    /**
     * From 127.0.0.2 (untrusted), naming the trusted proxy 127.0.0.1 in an RFC 7239 {@code for=} as an IPv4-mapped
     * IPv6 literal (RFC 4291 section 2.5.5.2; RFC 7239 section 6: an IPv6 node is a quoted "[...]"); Jetty's
     * HostPort.normalizeHost maps it to 127.0.0.1. The identity header must be refused, the victim never charged.
     */
    @Test
    void controlAnIpv4MappedForwardedForOfTheProxyIsRefused() throws IOException {
        assertRefused("Forwarded: for=\"[::ffff:127.0.0.1]\"");
    }

    /** The same in X-Forwarded-For, unbracketed and in hex (the de-facto list of addresses, MDN X-Forwarded-For). */
    @Test
    void controlAnIpv4MappedXForwardedForOfTheProxyIsRefused() throws IOException {
        assertRefused("X-Forwarded-For: ::ffff:7f00:1");
    }

    private void assertRefused(String... spoof) throws IOException {
        String victim = subject();
        String[] lines = new String[spoof.length + 1];
        System.arraycopy(spoof, 0, lines, 0, spoof.length);
        lines[spoof.length] = "x-user-id: " + victim;
        String answer = TestHttp.rawPostFrom("127.0.0.2", container.port(), "/ai/fwd/v1/chat/completions", lines);
        String status = answer.substring(0, Math.min(answer.length(), 12));
        QuotaAccount v = settled(victim);
        assertTrue((status.contains(" 401") || status.contains(" 400")) && callsOf(victim) == 0 && v.used() == 0,
                kind() + ": from 127.0.0.2 with " + String.join(" | ", spoof) + " -> " + status + ", model called "
                        + callsOf(victim) + " time(s) as the victim, charged " + v.used() + "; " + ledger(victim));
    }

    // ---------------------------------------------------------------- identity: Unicode spellings of one name

    /**
     * The trusted proxy names "José" once in NFD ("e" + U+0301, as macOS keyboards and some IdP sign-up forms
     * produce it) and the NFC account of the same letters holds nothing: subjects are compared exactly
     * (docs/servlet.md step 1 reads the header's UTF-8 bytes, no normalization), so each spelling is charged its own
     * call and neither spends the other's quota.
     */
    @Test
    void controlNfdAndNfcSpellingsAreChargedEachTheirOwnCall() throws IOException {
        String tail = subject();
        String nfc = "Jos\u00e9-" + tail;
        String nfd = "Jose\u0301-" + tail;
        String a = TestHttp.rawPostFrom("127.0.0.1", container.port(), "/ai/v1/chat/completions", "x-user-id: " + asSent(nfd));
        QuotaAccount d = settled(nfd);
        QuotaAccount c = settled(nfc);
        assertAll(() -> assertTrue(a.startsWith("HTTP/1.1 200"), a),
                () -> assertEquals(1, callsOf(asSent(nfd)), "model calls as the NFD spelling"),
                () -> assertEquals(USAGE, d.used(), "NFD account: " + d + " " + ledger(nfd)),
                () -> assertEquals(0, c.used(), "NFC account: " + c + " " + ledger(nfc)));
    }

    // ---------------------------------------------------------------- paths on segment boundaries

    /**
     * One POST from the trusted proxy as a fresh subject to {@code path}: whatever the container does with it
     * (serve, 400, 404), the subject is charged exactly {@code USAGE} per model call and nothing otherwise.
     */
    private void assertChargedPerCall(String path) throws IOException {
        String s = subject();
        String answer = TestHttp.rawPostFrom("127.0.0.1", container.port(), path, "x-user-id: " + s);
        String status = answer.substring(0, Math.min(answer.length(), 12));
        QuotaAccount a = settled(s);
        int n = callsOf(s);
        assertEquals(USAGE * n, a.used(), kind() + ": " + path + " -> " + status + ", model called " + n
                + " time(s), charged " + a.used() + "; " + ledger(s));
    }

    /** Control: the plain path, served and charged its usage. */
    @Test
    void controlThePlainPathIsChargedItsUsage() throws IOException {
        String s = subject();
        TestHttp.rawPostFrom("127.0.0.1", container.port(), "/ai/v1/chat/completions", "x-user-id: " + s);
        assertEquals(1, callsOf(s));
        assertEquals(USAGE, settled(s).used(), ledger(s));
    }

    /** Path parameters on the protected segments (RFC 3986 section 3.3 "matrix" parameters, Servlet 6 section 3.5). */
    @Test
    void controlPathParametersOnTheProtectedSegments() throws IOException {
        assertChargedPerCall("/ai;v=1/v1;jsessionid=x/chat/completions");
    }

    /** Empty segments before and inside the prefix. */
    @Test
    void controlEmptySegments() throws IOException {
        assertChargedPerCall("//ai//v1/chat/completions");
    }

    /** A dot segment out of an unprotected path into the protected one, plain and percent-encoded. */
    @Test
    void controlDotSegmentsIntoTheProtectedPath() throws IOException {
        assertChargedPerCall("/open/../ai/v1/chat/completions");
        assertChargedPerCall("/open/%2e%2e/ai/v1/chat/completions");
        assertChargedPerCall("/open/.%2E/ai/./v1/chat/completions");
    }

    // Not tested: /ai/v1/../../open/x (a dot segment out of the protected path into the unprotected /open servlet)
    // is charged the estimate, 1,001, though no model is called: documented (docs/servlet.md, "with dot segments
    // kept, so /api/v1/ai/chat/../../../pub is protected"; CHANGELOG), the cost of protecting what Spring's URI
    // routing may reach, paid only by a client that sends an unnormalised path (RFC 3986 section 5.2.4 clients
    // remove dot segments before sending).

    /** Encoded slashes and encoded letters in the prefix; a case variant (404 on a case-sensitive mapping). */
    @Test
    void controlEncodedSlashesLettersAndCase() throws IOException {
        assertChargedPerCall("/ai%2Fv1/chat/completions");
        assertChargedPerCall("/%61i/v1/chat/completions");
        assertChargedPerCall("/AI/v1/chat/completions");
        assertChargedPerCall("/ai/v1%2Fchat/completions");
    }
}
