package io.tokenquota.servlet.breakit423;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.NamedUserRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 423 of issue 11, items 7 and the RateLimit fields: identity behind forwarded-header processing, and the
 * response's quota fields against the ledger.
 *
 * <p>The service runs with forwarded-header processing on under {@code /ai/fwd/} (Spring Boot's
 * {@code server.forward-headers-strategy=native}: Jetty's {@code ForwardedRequestCustomizer}, Tomcat's
 * {@code RemoteIpValve}), the subject is {@code x-user-id} believed from the trusted proxy 127.0.0.1 (and ::1). A
 * hostile client connects from 127.0.0.2, names the trusted proxy as itself in the shapes RFC 7239 (section 6:
 * {@code node = nodename [ ":" node-port ]}, {@code nodename = IPv4address / "[" IPv6address "]" / "unknown" /
 * obfnode}, {@code node-port = port / obfport}; section 4: parameter names case-insensitive, values a token or a
 * quoted-string; section 7.1: several header lines are one list) and the de facto {@code X-Forwarded-For}
 * (MDN, "X-Forwarded-For": a comma-separated list of IPv4 or IPv6 addresses) allow, and sends
 * {@code x-user-id: victim}. The promise (docs/servlet.md, step 1): refused (401, or 400 from the container's own
 * parser), the model never called as the victim, the victim never charged.
 *
 * <p>The model's answer is an OpenAI chat completion (API reference, "The chat completion object": {@code id},
 * {@code object: "chat.completion"}, {@code choices[].message}, {@code usage.prompt_tokens / completion_tokens /
 * total_tokens}).
 */
abstract class AbstractRound423 extends NamedUserRound {
    AbstractRound423() {
        super("423");
    }

    static String subject() {
        return "v423-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return chatBehind(filter, "/ai/v1/*", "/ai/fwd/v1/*").forwardedHeaders("/ai/fwd/");
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
                kind() + ": from 127.0.0.2 with " + String.join(" | ", spoof) + " and x-user-id: victim -> " + status
                        + ", the model called " + callsOf(victim) + " time(s) as the victim, the victim charged "
                        + v.used() + "; " + ledger(victim));
    }

    // ------------------------------------------------------------------ attacks (forwarded headers)

    /** RFC 7239 section 6: an IPv6 node in brackets with a port; the IPv4-mapped form of the trusted proxy. */
    @Test
    void bracketedIpv4MappedNodeWithPortIsRefused() throws IOException {
        assertRefused("Forwarded: for=\"[::ffff:127.0.0.1]:4711\"");
    }

    /** X-Forwarded-For with an IPv6 address unbracketed (as MDN shows {@code 2001:db8:85a3:8d3:1319:8a2e:370:7348}). */
    @Test
    void unbracketedIpv4MappedXForwardedForIsRefused() throws IOException {
        assertRefused("X-Forwarded-For: 0:0:0:0:0:ffff:7f00:1");
    }

    /** Section 4: parameter names are case-insensitive; section 7.1: two header lines are one list. */
    @Test
    void upperCaseForOnASecondForwardedLineIsRefused() throws IOException {
        assertRefused("Forwarded: proto=http", "FORWARDED: FOR=127.0.0.1");
    }

    /** Section 6.2 / 6.3: an obfuscated node and an obfuscated port beside the forged address. */
    @Test
    void obfuscatedNodeThenForgedAddressWithObfuscatedPortIsRefused() throws IOException {
        assertRefused("Forwarded: for=_hidden, for=\"127.0.0.1:_p1\"");
    }

    /** The trusted IPv6 proxy (::1) named as an RFC 7239 node in brackets, quoted as section 6 requires. */
    @Test
    void loopbackIpv6NodeIsRefused() throws IOException {
        assertRefused("Forwarded: for=\"[::1]\"");
    }

    /** X-Forwarded-For naming {@code unknown} first (as a proxy that hides its client writes) and the proxy after. */
    @Test
    void unknownThenForgedXForwardedForIsRefused() throws IOException {
        assertRefused("X-Forwarded-For: 127.0.0.1", "X-Forwarded-For: unknown");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the plain spelling is refused. */
    @Test
    void controlPlainXForwardedForIsRefused() throws IOException {
        assertRefused("X-Forwarded-For: 127.0.0.1");
    }

    /**
     * Control: the trusted proxy's own request outside the forwarded prefix is served and charged its usage, and
     * its quota fields (X-Quota-*, the IETF RateLimit fields, draft-ietf-httpapi-ratelimit-headers: RateLimit-Policy
     * {@code q} the quota, RateLimit {@code r} the remaining) say what the ledger holds after its hold; the next call's
     * fields count the first one's charge.
     */
    @Test
    void controlTheTrustedProxyIsServedAndItsFieldsAgreeWithTheLedger() {
        String s = subject();
        URI uri = URI.create("http://127.0.0.1:" + container.port() + "/ai/v1/chat/completions");
        String body = "{\"model\":\"gpt-4o\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        HttpResponse<String> first = TestHttp.post(uri, body, "x-user-id", s, "Content-Type", "application/json");
        QuotaAccount after = settled(s);
        HttpResponse<String> second = TestHttp.post(uri, body, "x-user-id", s, "Content-Type", "application/json");
        QuotaAccount end = settled(s);
        long remaining1 = Long.parseLong(first.headers().firstValue("X-Quota-Remaining").orElse("-1"));
        long remaining2 = Long.parseLong(second.headers().firstValue("X-Quota-Remaining").orElse("-1"));
        String rl2 = second.headers().firstValue("RateLimit").orElse("");
        assertAll(
                () -> assertEquals(200, first.statusCode()),
                () -> assertEquals(USAGE, after.used(), ledger(s)),
                () -> assertEquals(2 * USAGE, end.used(), ledger(s)),
                () -> assertEquals(ALLOWANCE, Long.parseLong(second.headers().firstValue("X-Quota-Limit").orElse("-1"))),
                () -> assertTrue(second.headers().firstValue("RateLimit-Policy").orElse("").startsWith(
                        "\"monthly-tokens\";q=" + ALLOWANCE + ";"), second.headers().map().toString()),
                () -> assertTrue(rl2.startsWith("\"monthly-tokens\";r=" + remaining2 + ";t="), rl2),
                // the second call's hold is the first's: the fields differ by exactly the first call's charge
                () -> assertEquals(USAGE, remaining1 - remaining2, first.headers().map() + " / " + second.headers().map()));
    }
}
