package io.tokenquota.servlet;

import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletRequestWrapper;
import jakarta.servlet.http.HttpServletRequest;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link SubjectResolver#trustedHeader}: a header believed only from trusted proxy addresses.
 *
 * <p>The check needs the TCP peer, but {@code getRemoteAddr()} is the peer only while the container
 * does not process forwarded headers. With Jetty's {@code ForwardedRequestCustomizer}, Tomcat's
 * {@code RemoteIpValve} or Spring Boot's {@code server.forward-headers-strategy=native}, the container
 * takes it from {@code X-Forwarded-For} / {@code Forwarded}, which any client can write, and a client
 * could name a trusted proxy as itself. So the resolver looks at the container's own request beneath
 * any wrappers (Spring's {@code ForwardedHeaderFilter} is one), and refuses the identity header (with
 * a warning, logged once) when that request was rewritten from forwarded headers: Tomcat marks it
 * ({@value #TOMCAT_FORWARDED}); elsewhere, a remote address that appears in those headers came from
 * them, since a proxy never lists its own address there, and so may any address listed there that is
 * not an IP literal once its quoted-pairs are unescaped (a container may read it otherwise; RFC 7239's
 * {@code unknown} and {@code _obfuscated} names excepted). A container may read either shape under any
 * header name, so every other header is read too: its RFC 7239 {@code for=} parameters as
 * {@code Forwarded}'s, its other values for the peer's address. Behind such a container, resolve the subject
 * from your authentication instead ({@link SubjectResolver#principal()}).
 *
 * <p>A connector that reads the PROXY protocol (Jetty's {@code ProxyConnectionFactory}, behind an L4 load
 * balancer) reports the source named by the connection's first bytes, which any client that reaches the port
 * writes. Where the container exposes the connection ({@link ConnectionPeer}), its real TCP peer must be trusted
 * as well as the address it reports; where it exposes the connection but not that peer, the header is refused.
 * Immutable.
 */
final class TrustedHeaderResolver implements SubjectResolver {
    private static final Logger LOG = LoggerFactory.getLogger(TrustedHeaderResolver.class);
    private static final AtomicBoolean WARNED = new AtomicBoolean();
    private static final AtomicBoolean UNSEEN_WARNED = new AtomicBoolean();
    /** Set by Tomcat's RemoteIpValve and RemoteIpFilter on a request whose address they rewrote. */
    static final String TOMCAT_FORWARDED = "org.apache.tomcat.request.forwarded";

    private final String headerName;
    private final List<Block> trusted;

    TrustedHeaderResolver(String headerName, String... trustedProxyAddresses) {
        this.headerName = Objects.requireNonNull(headerName, "headerName");
        if (headerName.isBlank()) {
            throw new IllegalArgumentException("header name is blank");
        }
        if (trustedProxyAddresses == null || trustedProxyAddresses.length == 0) {
            throw new IllegalArgumentException("at least one trusted proxy address is required");
        }
        List<Block> blocks = new ArrayList<>();
        for (String entry : trustedProxyAddresses) {
            blocks.add(Block.parse(entry));
        }
        this.trusted = List.copyOf(blocks);
    }

    @Override
    public String resolve(HttpServletRequest request) {
        java.util.Enumeration<String> values = request.getHeaders(headerName);
        if (values == null || !values.hasMoreElements()) {
            return null;
        }
        String value = values.nextElement();
        // the container's own request: an application's wrapper may report another remote address (round 486: the
        // log named the trusted proxy a wrapper reported instead of the peer), and the checks below need the real one
        ServletRequest container = request;
        while (container instanceof ServletRequestWrapper wrapper) {
            container = wrapper.getRequest();
        }
        if (values.hasMoreElements()) {
            // two identities in one request: one of them is forged, and we cannot tell which
            LOG.warn("ignoring repeated {} header from {}", headerName, container.getRemoteAddr());
            return null;
        }
        InetAddress peer = peerOf(container.getRemoteAddr());
        boolean rewritten = Boolean.TRUE.equals(container.getAttribute(TOMCAT_FORWARDED))
                || (peer != null && container instanceof HttpServletRequest http && mayBeForwarded(http, peer));
        if (rewritten) {
            if (WARNED.compareAndSet(false, true)) {
                LOG.warn("the container takes the remote address from forwarded headers (it is listed in them, or they"
                        + " list an address that cannot be read), so {}"
                        + " cannot be trusted by address: every such request is treated as unauthenticated. Turn"
                        + " forwarded-header processing off for this resolver, or resolve the subject from your"
                        + " authentication (SubjectResolver.principal())", headerName);
            }
            return null;
        }
        if (peer == null || !isTrusted(peer)) {
            // a client sent the identity header itself: never believe it
            LOG.warn("ignoring {} header from untrusted address {}", headerName, container.getRemoteAddr());
            return null;
        }
        // A PROXY protocol header (Jetty's ProxyConnectionFactory, v1 or v2) is written by whoever connects, as a
        // forwarded header is: the address it names is believed only when the connection's real TCP peer is
        // trusted too (round 484: 127.0.0.2 wrote "PROXY TCP4 127.0.0.1 ..." and was served as the victim)
        ConnectionPeer.Peer beneath = ConnectionPeer.of(container);
        if (beneath instanceof ConnectionPeer.Unseen unseen) {
            if (UNSEEN_WARNED.compareAndSet(false, true)) {
                LOG.warn("the container's connection does not show its real TCP peer ({}), so {} cannot be trusted by"
                        + " address: every such request is treated as unauthenticated. Resolve the subject from your"
                        + " authentication (SubjectResolver.principal())", unseen.why(), headerName);
            }
            return null;
        }
        if (beneath instanceof ConnectionPeer.Seen seen && !isTrusted(seen.address())) {
            LOG.warn("ignoring {} header from untrusted address {} (its connection named {} in a PROXY protocol"
                    + " header)", headerName, seen.address().getHostAddress(), container.getRemoteAddr());
            return null;
        }
        String decoded = utf8(value);
        if (decoded == null) {
            LOG.warn("ignoring {} header that is not UTF-8 from {}", headerName, container.getRemoteAddr());
            return null;
        }
        String subject = decoded.trim();
        if (subject.indexOf(',') >= 0) {
            // a field's lines and its comma-separated values are one list (RFC 9110 section 5.3): a proxy
            // that appends its header to the client's (Apache's RequestHeader append, Envoy's append)
            // sends "forged, real" on one line, two identities again
            LOG.warn("ignoring {} header listing several values from {}", headerName, container.getRemoteAddr());
            return null;
        }
        return subject.isEmpty() ? null : subject;
    }

    /**
     * A header value as its sender wrote it: servlet containers hand a header's bytes over one character
     * each (ISO-8859-1), and proxies write a user id outside ASCII as its UTF-8 bytes (Go's net/http, which
     * oauth2-proxy runs on, writes a value's bytes as they are), so the characters are taken back to bytes
     * and read as UTF-8 (round 358: "jos\u00e9" reached the resolver as "jos\u00c3\u00a9", another account
     * than the one its 5,000 bought tokens were credited to). {@code null} when they are not UTF-8 (a
     * character beyond ISO-8859-1, a malformed sequence): no subject, rather than a third spelling of one.
     */
    private static String utf8(String value) {
        try {
            ByteBuffer bytes = StandardCharsets.ISO_8859_1.newEncoder()
                    .onUnmappableCharacter(CodingErrorAction.REPORT).encode(CharBuffer.wrap(value));
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(bytes).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private boolean isTrusted(InetAddress peer) {
        for (Block block : trusted) {
            if (block.contains(peer)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Headers in which proxies and CDNs name the client's address, read like {@code X-Forwarded-For}: a
     * container can be told to take the remote address from any of them (Jetty's
     * {@code ForwardedRequestCustomizer.setForwardedForHeader("X-Real-IP")} behind nginx,
     * {@code CF-Connecting-IP} behind Cloudflare).
     */
    static final List<String> CLIENT_ADDRESS_HEADERS = List.of("X-Forwarded-For", "X-Real-IP", "CF-Connecting-IP",
            "True-Client-IP", "X-Client-IP", "X-Cluster-Client-IP", "Fastly-Client-IP", "X-Original-Forwarded-For",
            "Client-IP");
    private static final java.util.Set<String> CLIENT_ADDRESS_NAMES = CLIENT_ADDRESS_HEADERS.stream()
            .map(name -> name.toLowerCase(java.util.Locale.ROOT)).collect(java.util.stream.Collectors.toUnmodifiableSet());
    /** Headers that name this server, not the client, or hold cookies: the peer's address in them says nothing. */
    private static final java.util.Set<String> SERVER_NAMING = java.util.Set.of("host", "origin", "referer",
            "x-forwarded-host", "x-forwarded-server",
            // the client's own state, which no container reads an address from (a cookie named "for"
            // must not lock its user out)
            "cookie");

    /**
     * Whether the container may have taken {@code peer} from a forwarded header: {@code peer} is among
     * the addresses of {@code Forwarded} or one of the {@link #CLIENT_ADDRESS_HEADERS}, or one of their
     * addresses cannot be read as an IP literal; or any other header lists {@code peer} as one of its
     * comma- or semicolon-separated values, or names it (or an address it cannot read) in an RFC 7239
     * {@code for=} parameter, since a container may be configured to read a header of any name, in either
     * shape (Jetty's {@code setForwardedForHeader("X-Real-IP")}, {@code setForwardedHeader("X-Edge-Forwarded")}),
     * and a proxy never names its own address as the client's. A container reads these headers its own
     * way (Jetty unescapes RFC 7230 quoted-pairs, {@code for="127.0.0\.1"}); an address this class cannot
     * read may be the one it took, so the request is treated as rewritten. RFC 7239's {@code unknown}
     * and obfuscated identifiers ({@code _hidden}) name no address and cannot be the peer.
     */
    static boolean mayBeForwarded(HttpServletRequest request, InetAddress peer) {
        Enumeration<String> names = request.getHeaderNames();
        if (names == null) {
            // a container that hides the names may still answer for the headers it reads itself
            for (String name : CLIENT_ADDRESS_HEADERS) {
                if (listed(request.getHeaders(name), peer, Reading.ADDRESSES)) {
                    return true;
                }
            }
            return listed(request.getHeaders("Forwarded"), peer, Reading.FORWARDED);
        }
        // one pass over the names the request has, rather than a lookup per header a proxy might use
        while (names.hasMoreElements()) {
            String name = names.nextElement();
            if (name == null) {
                continue;
            }
            String lower = name.toLowerCase(java.util.Locale.ROOT);
            if (SERVER_NAMING.contains(lower)) {
                continue;
            }
            Reading reading = lower.equals("forwarded") ? Reading.FORWARDED
                    : CLIENT_ADDRESS_NAMES.contains(lower) ? Reading.ADDRESSES : Reading.ANY;
            if (listed(request.getHeaders(name), peer, reading)) {
                return true;
            }
        }
        return false;
    }

    /** How a header's list elements are read by {@link #listed}. */
    private enum Reading {
        /** RFC 7239 {@code Forwarded}: only its {@code for=} parameters name addresses. */
        FORWARDED,
        /** A header proxies write the client's address in: every element is an address. */
        ADDRESSES,
        /** Any other header: its {@code for=} parameters, and its elements that are the peer's address. */
        ANY
    }

    /**
     * Whether these headers name {@code peer}, or an address that cannot be read, where {@code reading}
     * says addresses are. One rule for every header: each line is split on every comma and semicolon
     * (RFC 7239's element and pair separators, X-Forwarded-For's list), also inside quotes, since a quoted
     * value cut in two no longer reads as an address and so counts as unreadable rather than being
     * overlooked. A {@code for=} parameter, in whatever header it comes (a container may read RFC 7239
     * under another name), is read as {@code Forwarded}'s is: a quoted string unescaped, an
     * {@code [IPv6]:port} or {@code IPv4:port} without its port, {@code unknown} and {@code _obfuscated}
     * names passed over, anything else that is no IP literal unreadable. In a header of any other name a
     * bare element counts only when it is the peer's address: such headers carry all kinds of text.
     */
    private static boolean listed(Enumeration<String> headers, InetAddress peer, Reading reading) {
        if (headers == null) {
            return false;
        }
        while (headers.hasMoreElements()) {
            String header = headers.nextElement();
            if (header == null || (reading == Reading.ANY && header.indexOf('.') < 0 && header.indexOf(':') < 0
                    && header.indexOf('=') < 0)) {
                // neither an IP literal (a dot or a colon) nor a parameter: most headers are passed over unsplit
                continue;
            }
            for (String element : header.split("[,;]")) {
                String value = element.trim();
                int eq = value.indexOf('=');
                // the name as Jetty reads it: its quote characters and quoted-pair backslashes dropped wherever
                // they stand (round 228: "for"=127.0.0.1 named a trusted proxy as the client on Jetty)
                boolean forParameter = eq >= 0
                        && value.substring(0, eq).replace("\"", "").replace("\\", "").trim().equalsIgnoreCase("for");
                if (forParameter) {
                    value = value.substring(eq + 1).trim();
                } else if (reading == Reading.FORWARDED || (reading == Reading.ANY && eq >= 0)) {
                    // another parameter (proto=, by=, host=, q=): names no client
                    continue;
                }
                // where an address is expected, one that cannot be read may be the one the container took
                boolean strict = forParameter || reading == Reading.ADDRESSES;
                if (value.startsWith("\"")) {
                    value = unquote(value);
                    if (value == null) {
                        if (strict) {
                            return true;
                        }
                        continue;
                    }
                }
                if (value.isEmpty()) {
                    // an empty list element names nobody
                    continue;
                }
                String node = stripPort(value);
                if (strict && (node.equalsIgnoreCase("unknown") || OBFUSCATED.matcher(node).matches())) {
                    continue;
                }
                InetAddress address = literal(node);
                if (address == null ? strict : address.equals(peer)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** RFC 7239 obfuscated node names: {@code "_" 1*(ALPHA / DIGIT / "." / "_" / "-")}. */
    private static final java.util.regex.Pattern OBFUSCATED = java.util.regex.Pattern.compile("_[A-Za-z0-9._-]+");

    /**
     * The content of an RFC 7230 quoted-string, its quoted-pairs ({@code \x}) unescaped; {@code null}
     * when it is not one (no closing quote, a quote inside, a lone backslash at the end).
     */
    static String unquote(String quoted) {
        if (quoted.length() < 2 || !quoted.endsWith("\"")) {
            return null;
        }
        StringBuilder out = new StringBuilder(quoted.length());
        for (int i = 1; i < quoted.length() - 1; i++) {
            char c = quoted.charAt(i);
            if (c == '\\') {
                if (++i == quoted.length() - 1) {
                    return null;
                }
                out.append(quoted.charAt(i));
            } else if (c == '"') {
                return null;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /** {@code 192.0.2.1:8080} and {@code [2001:db8::1]:8080} without the port; a bare IPv6 literal as is. */
    private static String stripPort(String value) {
        if (value.startsWith("[")) {
            int close = value.indexOf(']');
            return close < 0 ? value : value.substring(0, close + 1);
        }
        int colon = value.indexOf(':');
        if (colon >= 0 && value.indexOf(':', colon + 1) < 0) {
            return value.substring(0, colon);
        }
        return value;
    }

    /** The last peer address read, with its text: behind one proxy, every request comes from it. */
    private volatile Peer lastPeer;

    private record Peer(String text, InetAddress address) {
    }

    private InetAddress peerOf(String remoteAddr) {
        Peer last = lastPeer;
        if (last != null && last.text.equals(remoteAddr)) {
            return last.address;
        }
        InetAddress address = literal(remoteAddr);
        if (address != null) {
            lastPeer = new Peer(remoteAddr, address);
        }
        return address;
    }

    /** Parses an IP literal without ever resolving a host name; {@code null} if it is not one. */
    static InetAddress literal(String text) {
        if (text == null || text.isEmpty()) {
            return null;
        }
        String s = text.startsWith("[") && text.endsWith("]") ? text.substring(1, text.length() - 1) : text;
        int scope = s.indexOf('%');
        String bare = scope >= 0 ? s.substring(0, scope) : s;
        boolean colon = bare.indexOf(':') >= 0;
        for (int i = 0; i < bare.length(); i++) {
            char c = bare.charAt(i);
            boolean ok = c == '.' || c == ':' || (c >= '0' && c <= '9')
                    || (colon && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
            if (!ok) {
                return null;
            }
        }
        if (!colon && !dottedQuad(bare)) {
            // anything else would be looked up as a host name
            return null;
        }
        try {
            return InetAddress.getByName(bare);
        } catch (UnknownHostException | IllegalArgumentException e) {
            return null;
        }
    }

    /** Four dot-separated decimal parts of one to three digits, each at most 255. */
    private static boolean dottedQuad(String s) {
        String[] parts = s.split("\\.", -1);
        if (parts.length != 4) {
            return false;
        }
        for (String part : parts) {
            if (part.isEmpty() || part.length() > 3 || Integer.parseInt(part) > 255) {
                return false;
            }
        }
        return true;
    }

    private record Block(byte[] network, int prefixBits) {
        static Block parse(String entry) {
            Objects.requireNonNull(entry, "trusted proxy address");
            String text = entry.trim();
            int slash = text.indexOf('/');
            InetAddress address = literal(slash >= 0 ? text.substring(0, slash) : text);
            if (address == null) {
                throw new IllegalArgumentException("not an IP address or CIDR block: " + entry);
            }
            int max = address.getAddress().length * 8;
            int bits = max;
            if (slash >= 0) {
                try {
                    bits = Integer.parseInt(text.substring(slash + 1));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("bad CIDR prefix length: " + entry, e);
                }
                if (bits < 0 || bits > max) {
                    throw new IllegalArgumentException("bad CIDR prefix length: " + entry);
                }
            }
            return new Block(address.getAddress(), bits);
        }

        boolean contains(InetAddress address) {
            byte[] candidate = address.getAddress();
            if (candidate.length != network.length) {
                return false;
            }
            int full = prefixBits / 8;
            for (int i = 0; i < full; i++) {
                if (candidate[i] != network[i]) {
                    return false;
                }
            }
            int rest = prefixBits % 8;
            if (rest == 0) {
                return true;
            }
            int mask = (0xFF << (8 - rest)) & 0xFF;
            return (candidate[full] & mask) == (network[full] & mask);
        }
    }
}
