package io.tokenquota.servlet.breakit486;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.NamedUserRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Round 486 of issue 11, item 7: the trusted-header resolver where the container's remote address is rewritten
 * from something a client writes, in combinations the earlier rounds did not run.
 *
 * <ul>
 *   <li>Jetty's {@code ProxyConnectionFactory} together with its {@code ForwardedRequestCustomizer}: an L4 balancer
 *   on the trusted address 127.0.0.1 writes a PROXY v1 line (haproxy.org, "The PROXY protocol", section 2.1) naming
 *   the real client 192.0.2.2 (untrusted), and the client's own {@code X-Forwarded-For} / {@code Forwarded}
 *   (RFC 7239 section 4) names the trusted proxy in IPv6, IPv4-mapped and bracketed spellings. The connection's real
 *   peer is trusted here, so only the forwarded-header check stands between the client and the victim's account.</li>
 *   <li>Tomcat's {@code RemoteIpValve} with its default {@code internalProxies} (127.0.0.0/8 among them): a client on
 *   127.0.0.2, an "internal proxy" by those defaults, names 127.0.0.1 in {@code X-Forwarded-For}.</li>
 *   <li>An application filter before the quota filter that takes the client's address from {@code X-Forwarded-For},
 *   as a hand-written "real IP" filter does: an {@link HttpServletRequestWrapper} overriding {@code getRemoteAddr()}
 *   and hiding the header it consumed, as Spring's {@code ForwardedHeaderFilter} hides the headers it consumed.</li>
 * </ul>
 *
 * <p>The subject is {@code x-user-id} believed from 127.0.0.1 and ::1 ({@link H2FilterRound}). The endpoint answers
 * an OpenAI chat completion (API reference, "The chat completion object": {@code usage.prompt_tokens /
 * completion_tokens / total_tokens}) charged 3,000.
 */
abstract class AbstractRound486 extends NamedUserRound {
    static final String FORWARDED_PATH = "/ai/v1/fw/chat/completions";
    static final String WRAPPED_PATH = "/ai/v1/wrap/chat/completions";
    static final String PLAIN_PATH = "/ai/v1/chat/completions";

    AbstractRound486() {
        super("486");
    }

    static String subject() {
        return "v486-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return chatBehind(Deployment.create().filter("realip", new RealIpFilter(), "/ai/v1/wrap/*"), filter, "/ai/v1/*")
                .forwardedHeaders("/ai/v1/fw/")
                .proxyProtocol();
    }

    /**
     * An application's "real IP" filter: the client address is the left-most X-Forwarded-For entry, and the header it
     * consumed is hidden from what follows (as Spring's ForwardedHeaderFilter hides the headers it applied).
     */
    static final class RealIpFilter implements Filter {
        @Override
        public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
                throws IOException, ServletException {
            HttpServletRequest http = (HttpServletRequest) request;
            String xff = http.getHeader("X-Forwarded-For");
            if (xff == null) {
                chain.doFilter(request, response);
                return;
            }
            String client = xff.split(",")[0].trim();
            chain.doFilter(new HttpServletRequestWrapper(http) {
                @Override
                public String getRemoteAddr() {
                    return client;
                }

                @Override
                public String getHeader(String name) {
                    return "x-forwarded-for".equalsIgnoreCase(name) ? null : super.getHeader(name);
                }

                @Override
                public Enumeration<String> getHeaders(String name) {
                    return "x-forwarded-for".equalsIgnoreCase(name) ? Collections.emptyEnumeration()
                            : super.getHeaders(name);
                }

                @Override
                public Enumeration<String> getHeaderNames() {
                    List<String> names = Collections.list(super.getHeaderNames());
                    names.removeIf("x-forwarded-for"::equalsIgnoreCase);
                    return Collections.enumeration(names);
                }
            }, response);
        }
    }

    /**
     * One raw chat call from {@code localAddress} to {@code path}: an optional PROXY protocol v1 line first, then the
     * HTTP request with {@code extraHeaders} (each "Name: value") and x-user-id naming {@code user}; the status line.
     */
    String call(String localAddress, String proxyLine, String path, String user, String... extraHeaders)
            throws IOException {
        String[] headers = Arrays.copyOf(extraHeaders, extraHeaders.length + 1);
        headers[extraHeaders.length] = "x-user-id: " + user;
        String answer = TestHttp.rawPostFrom(localAddress, container.port(), proxyLine == null ? new byte[0]
                : (proxyLine + "\r\n").getBytes(StandardCharsets.UTF_8), path,
                "{\"model\":\"gpt-4o\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                headers);
        int eol = answer.indexOf('\r');
        return eol < 0 ? answer : answer.substring(0, eol);
    }

    /** The balancer's PROXY line naming the real client 192.0.2.2 (TEST-NET-1, untrusted). */
    String balancerLine() {
        return "PROXY TCP4 192.0.2.2 127.0.0.1 4711 " + container.port();
    }

    void assertRefused(String what, String status, String victim) {
        QuotaAccount v = settled(victim);
        // 401 from the resolver, or 400 where the container refuses a header it cannot parse: either way not served
        assertTrue((status.contains(" 401") || status.contains(" 400")) && callsOf(victim) == 0 && v.used() == 0,
                kind() + ": " + what + " -> " + status + ", the model called " + callsOf(victim)
                        + " time(s) as the victim, the victim charged " + v.used()
                        + " (should be 401 or 400, 0 calls, charged 0); " + ledger(victim));
    }

    // ------------------------------------------------ Jetty: PROXY protocol and forwarded headers together

    /** The balancer (trusted) names 192.0.2.2; the client's X-Forwarded-For names ::1 in several spellings. */
    @Test
    void balancedClientNamingTheTrustedProxyInXForwardedForIsRefused() throws IOException {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, "Tomcat 11 has no PROXY protocol support");
        for (String xff : List.of("::1", "[::1]", "[::1]:4711", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1",
                "[::ffff:127.0.0.1]:80", "127.0.0.1:80", "::1%1", "0000:0000:0000:0000:0000:0000:0000:0001")) {
            String victim = subject();
            String status = call("127.0.0.1", balancerLine(), FORWARDED_PATH, victim, "X-Forwarded-For: " + xff);
            assertRefused("PROXY naming 192.0.2.2, X-Forwarded-For: " + xff, status, victim);
        }
    }

    /** The same through RFC 7239 Forwarded, in quoted, bracketed and escaped spellings. */
    @Test
    void balancedClientNamingTheTrustedProxyInForwardedIsRefused() throws IOException {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, "Tomcat 11 has no PROXY protocol support");
        for (String fwd : List.of("for=\"[::1]\"", "for=\"[::1]:4711\"", "For=127.0.0.1", "for=\"127.0.0.1:80\"",
                "for=\"[::ffff:127.0.0.1]\"", "proto=http;for=\"[0:0::1]\"", "for = 127.0.0.1",
                "for=\"\\[::1\\]\"", "for=_x, for=127.0.0.1")) {
            String victim = subject();
            String status = call("127.0.0.1", balancerLine(), FORWARDED_PATH, victim, "Forwarded: " + fwd);
            assertRefused("PROXY naming 192.0.2.2, Forwarded: " + fwd, status, victim);
        }
    }

    // ------------------------------------------------ Tomcat: RemoteIpValve with its default internal proxies

    /** From 127.0.0.2 (an internal proxy by the valve's defaults), X-Forwarded-For naming the trusted proxy. */
    @Test
    void defaultInternalProxyNamingTheTrustedProxyIsRefused() throws IOException {
        for (String xff : List.of("127.0.0.1", "::1", "::ffff:127.0.0.1", "192.0.2.9, 127.0.0.1")) {
            String victim = subject();
            String status = call("127.0.0.2", null, FORWARDED_PATH, victim, "X-Forwarded-For: " + xff);
            assertRefused("from 127.0.0.2, X-Forwarded-For: " + xff, status, victim);
        }
    }

    // ------------------------------------------------ an application's real-IP wrapper before the quota filter

    /** From 127.0.0.2 through the application's wrapper, which reports the forged 127.0.0.1 and hides the header. */
    @Test
    void applicationRealIpWrapperNamingTheTrustedProxyIsRefused() throws IOException {
        for (String xff : List.of("127.0.0.1", "::1")) {
            String victim = subject();
            String status = call("127.0.0.2", null, WRAPPED_PATH, victim, "X-Forwarded-For: " + xff);
            assertRefused("from 127.0.0.2 through a real-IP wrapper, X-Forwarded-For: " + xff, status, victim);
        }
    }

    // ------------------------------------------------ controls

    /** Control: the balancer naming a trusted proxy (::1) without forwarded headers is served and charged 3,000. */
    @Test
    void controlBalancerNamingTrustedProxyIsServed() throws IOException {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, "Tomcat 11 has no PROXY protocol support");
        String s = subject();
        String status = call("127.0.0.1", "PROXY TCP6 ::1 ::1 4711 " + container.port(), FORWARDED_PATH, s);
        QuotaAccount a = settled(s);
        assertTrue(status.contains(" 200") && callsOf(s) == 1 && a.used() == USAGE,
                kind() + ": " + status + ", calls " + callsOf(s) + ", charged " + a.used() + "; " + ledger(s));
    }

    /** Control: the trusted proxy through the real-IP wrapper path without the header is served and charged 3,000. */
    @Test
    void controlTrustedPeerThroughWrapperIsServed() throws IOException {
        String s = subject();
        String status = call("127.0.0.1", null, WRAPPED_PATH, s);
        QuotaAccount a = settled(s);
        assertTrue(status.contains(" 200") && callsOf(s) == 1 && a.used() == USAGE,
                kind() + ": " + status + ", calls " + callsOf(s) + ", charged " + a.used() + "; " + ledger(s));
    }

    /** Control: the balancer's client 192.0.2.2 without any forwarded header is refused. */
    @Test
    void controlBalancedUntrustedClientIsRefused() throws IOException {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, "Tomcat 11 has no PROXY protocol support");
        String victim = subject();
        assertRefused("PROXY naming 192.0.2.2", call("127.0.0.1", balancerLine(), PLAIN_PATH, victim), victim);
    }
}
