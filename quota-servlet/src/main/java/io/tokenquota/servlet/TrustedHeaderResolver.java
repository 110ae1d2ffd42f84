package io.tokenquota.servlet;

import jakarta.servlet.http.HttpServletRequest;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@link SubjectResolver#trustedHeader}: a header believed only from trusted proxy addresses. Immutable. */
final class TrustedHeaderResolver implements SubjectResolver {
    private static final Logger LOG = LoggerFactory.getLogger(TrustedHeaderResolver.class);

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
        if (values.hasMoreElements()) {
            // two identities in one request: one of them is forged, and we cannot tell which
            LOG.warn("ignoring repeated {} header from {}", headerName, request.getRemoteAddr());
            return null;
        }
        InetAddress peer = literal(request.getRemoteAddr());
        if (peer == null || trusted.stream().noneMatch(b -> b.contains(peer))) {
            // a client sent the identity header itself: never believe it
            LOG.warn("ignoring {} header from untrusted address {}", headerName, request.getRemoteAddr());
            return null;
        }
        String subject = value.trim();
        return subject.isEmpty() ? null : subject;
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
        if (!colon && bare.chars().filter(c -> c == '.').count() != 3) {
            return null;
        }
        try {
            return InetAddress.getByName(bare);
        } catch (UnknownHostException e) {
            return null;
        }
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
