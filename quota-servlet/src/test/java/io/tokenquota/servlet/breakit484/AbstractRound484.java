package io.tokenquota.servlet.breakit484;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.NamedUserRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Round 484 of issue 11, item 7: the trusted-header resolver behind a connector that reads the HAProxy PROXY
 * protocol.
 *
 * <p>A Jetty service behind an L4 load balancer (AWS NLB, HAProxy {@code send-proxy}) adds Jetty's
 * {@code ProxyConnectionFactory} to its connector. The connection's first line, {@code PROXY TCP4 <src> <dst>
 * <srcport> <dstport>\r\n} (haproxy.org, "The PROXY protocol", version 1, section 2.1), then names the client, and
 * {@code getRemoteAddr()} is that source address, not the TCP peer. Jetty (10 and later) detects the line, so a
 * connection without one is plain HTTP on the same port, and it takes the line from whoever connects: any client
 * that reaches the port writes it, as any client writes {@code X-Forwarded-For}. The promise (docs/servlet.md,
 * step 1; the item 7: "a resolver that sees the connection's real peer where the container exposes it"):
 * {@code trustedHeader} believes the identity header only from the real TCP peer, and refuses it when the
 * container's address came from something the client wrote. Jetty exposes the real peer
 * ({@code ProxyConnectionFactory.ProxyEndPoint#unwrap()}).
 *
 * <p>The subject is {@code x-user-id} believed from 127.0.0.1 and ::1 ({@link H2FilterRound}). A hostile client
 * connects from 127.0.0.2, writes a PROXY line naming 127.0.0.1 as the source, and sends {@code x-user-id: victim}.
 * The model's answer is an OpenAI chat completion (API reference, "The chat completion object": {@code usage.
 * prompt_tokens / completion_tokens / total_tokens}). Tomcat 11 has no PROXY protocol support, so the attack runs
 * on Jetty only; the controls run on both.
 */
abstract class AbstractRound484 extends NamedUserRound {
    AbstractRound484() {
        super("484");
    }

    static final String NO_PROXY_PROTOCOL_ON_TOMCAT = "Tomcat 11 has no PROXY protocol support: its "
            + "getRemoteAddr() is the TCP peer unless a RemoteIpValve is configured (round 423)";

    static String subject() {
        return "v484-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return chatBehind(filter, "/ai/v1/*").proxyProtocol();
    }

    /**
     * One raw chat call from {@code localAddress}: an optional PROXY protocol v1 line first (written by the client
     * itself, byte for byte), then the HTTP request naming {@code user} in x-user-id; the answer's status line.
     */
    String callFrom(String localAddress, String proxyLine, String user) throws IOException {
        return callWith(localAddress, proxyLine == null ? new byte[0]
                : (proxyLine + "\r\n").getBytes(StandardCharsets.US_ASCII), user);
    }

    /** As {@link #callFrom(String, String, String)}, the connection's first bytes given as they are (PROXY v2). */
    String callWith(String localAddress, byte[] preamble, String user) throws IOException {
        String answer = TestHttp.rawPostFrom(localAddress, container.port(), preamble, "/ai/v1/chat/completions",
                "{\"model\":\"gpt-4o\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                "x-user-id: " + user);
        int eol = answer.indexOf('\r');
        return eol < 0 ? answer : answer.substring(0, eol);
    }

    String proxyLineFrom(String source) {
        return "PROXY TCP4 " + source + " 127.0.0.1 4711 " + container.port();
    }

    /**
     * A PROXY protocol v2 header (haproxy.org, "The PROXY protocol", section 2.2): the 12-byte signature, version 2
     * command PROXY ({@code 0x21}), TCP over IPv4 ({@code 0x11}) or IPv6 ({@code 0x21}), the address block's length,
     * then source and destination addresses and ports, naming {@code source} as the client.
     */
    byte[] proxyV2From(String source) throws IOException {
        byte[] src = java.net.InetAddress.getByName(source).getAddress();
        byte[] dst = java.net.InetAddress.getByName(src.length == 4 ? "127.0.0.1" : "::1").getAddress();
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.write(new byte[] {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A});
        out.write(0x21);
        out.write(src.length == 4 ? 0x11 : 0x21);
        int length = 2 * src.length + 4;
        out.write(length >> 8);
        out.write(length & 0xFF);
        out.write(src);
        out.write(dst);
        out.write(4711 >> 8);
        out.write(4711 & 0xFF);
        out.write(container.port() >> 8);
        out.write(container.port() & 0xFF);
        return out.toByteArray();
    }

    // ------------------------------------------------------------------ finding

    /**
     * From 127.0.0.2 (no trusted proxy), a PROXY line naming the trusted proxy 127.0.0.1 as the source, then
     * {@code x-user-id: victim}: today served as the victim and the victim charged the call's 3,000 tokens; it should
     * be refused (401) and the victim charged 0, as the same forgery in {@code X-Forwarded-For} is (round 423).
     */
    @Test
    void proxyProtocolLineNamingTheTrustedProxyIsRefused() throws IOException {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, NO_PROXY_PROTOCOL_ON_TOMCAT);
        String victim = subject();
        String status = callFrom("127.0.0.2", proxyLineFrom("127.0.0.1"), victim);
        QuotaAccount v = settled(victim);
        assertTrue(status.contains(" 401") && callsOf(victim) == 0 && v.used() == 0,
                kind() + ": from 127.0.0.2 with '" + proxyLineFrom("127.0.0.1") + "' and x-user-id: victim -> " + status
                        + ", the model called " + callsOf(victim) + " time(s) as the victim, the victim charged "
                        + v.used() + " (should be 401, 0 calls, charged 0); " + ledger(victim));
    }

    /** The same forgery in PROXY protocol v2's binary header, which Jetty's factory detects on the same port. */
    @Test
    void proxyV2HeaderNamingTheTrustedProxyIsRefused() throws IOException {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, NO_PROXY_PROTOCOL_ON_TOMCAT);
        String victim = subject();
        String status = callWith("127.0.0.2", proxyV2From("127.0.0.1"), victim);
        QuotaAccount v = settled(victim);
        assertTrue(status.contains(" 401") && callsOf(victim) == 0 && v.used() == 0,
                kind() + ": from 127.0.0.2 with a PROXY v2 header naming 127.0.0.1 and x-user-id: victim -> " + status
                        + ", the model called " + callsOf(victim) + " time(s), the victim charged " + v.used()
                        + " (should be 401, 0 calls, charged 0); " + ledger(victim));
    }

    // ------------------------------------------------------------------ controls

    /**
     * Control: a PROXY header (v1, then v2) written by the trusted balancer 127.0.0.1 naming the trusted proxy ::1 is
     * believed: both the connection's real peer and the source it names are trusted, served and charged 3,000 each.
     */
    @Test
    void controlProxyHeaderFromTheTrustedPeerNamingATrustedSourceIsServed() throws IOException {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, NO_PROXY_PROTOCOL_ON_TOMCAT);
        String s = subject();
        String v1 = callFrom("127.0.0.1", "PROXY TCP6 ::1 ::1 4711 " + container.port(), s);
        String v2 = callWith("127.0.0.1", proxyV2From("::1"), s);
        QuotaAccount a = settled(s);
        assertTrue(v1.contains(" 200") && v2.contains(" 200") && callsOf(s) == 2 && a.used() == 2 * USAGE,
                kind() + ": " + v1 + " / " + v2 + ", calls " + callsOf(s) + ", charged " + a.used()
                        + " (should be 200, 200, 2, " + 2 * USAGE + "); " + ledger(s));
    }

    /** Control: the same client without a PROXY line is refused (its TCP peer 127.0.0.2 is not trusted). */
    @Test
    void controlUntrustedPeerWithoutProxyLineIsRefused() throws IOException {
        String victim = subject();
        String status = callFrom("127.0.0.2", null, victim);
        QuotaAccount v = settled(victim);
        assertTrue(status.contains(" 401") && callsOf(victim) == 0 && v.used() == 0,
                kind() + ": " + status + ", calls " + callsOf(victim) + ", charged " + v.used() + "; " + ledger(victim));
    }

    /** Control: a PROXY line naming an untrusted source (TEST-NET-1) from the trusted peer is not believed either. */
    @Test
    void controlProxyLineNamingAnUntrustedSourceIsRefused() throws IOException {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, NO_PROXY_PROTOCOL_ON_TOMCAT);
        String victim = subject();
        String status = callFrom("127.0.0.1", proxyLineFrom("192.0.2.2"), victim);
        QuotaAccount v = settled(victim);
        assertTrue(status.contains(" 401") && callsOf(victim) == 0 && v.used() == 0,
                kind() + ": " + status + ", calls " + callsOf(victim) + ", charged " + v.used() + "; " + ledger(victim));
    }

    /** Control: the trusted proxy's own connection (no PROXY line) is served and charged the call's usage, 3,000. */
    @Test
    void controlTrustedPeerIsServedAndChargedItsUsage() throws IOException {
        String s = subject();
        String status = callFrom("127.0.0.1", null, s);
        QuotaAccount a = settled(s);
        assertTrue(status.contains(" 200") && callsOf(s) == 1 && a.used() == USAGE,
                kind() + ": " + status + ", calls " + callsOf(s) + ", charged " + a.used() + " (should be 200, 1, "
                        + USAGE + "); " + ledger(s));
    }
}
