package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.lang.reflect.Proxy;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import javax.net.ssl.SSLContext;
import org.eclipse.jetty.io.ArrayByteBufferPool;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ssl.SslConnection;
import org.eclipse.jetty.server.ConnectionMetaData;
import org.eclipse.jetty.server.ProxyConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.junit.jupiter.api.Test;

/**
 * The connection's real TCP peer beneath a PROXY protocol header (round 484), read through Jetty's own endpoint
 * classes on a request stand-in shaped like Jetty's servlet request ({@code getRequest()} to the core request).
 */
final class ConnectionPeerTest {

    /** What the resolver reaches: a public class with Jetty's {@code getRequest()}. */
    public static final class JettyShapedRequest {
        private final Request request;

        JettyShapedRequest(EndPoint endPoint) {
            Connection connection = proxy(Connection.class, "getEndPoint", endPoint);
            ConnectionMetaData metaData = proxy(ConnectionMetaData.class, "getConnection", connection);
            this.request = proxy(Request.class, "getConnectionMetaData", metaData);
        }

        public Request getRequest() {
            return request;
        }
    }

    @SuppressWarnings("unchecked")
    private static <T> T proxy(Class<T> type, String method, Object answer, Class<?>... more) {
        Class<?>[] types = new Class<?>[more.length + 1];
        types[0] = type;
        System.arraycopy(more, 0, types, 1, more.length);
        return (T) Proxy.newProxyInstance(ConnectionPeerTest.class.getClassLoader(), types, (p, m, args) -> {
            if (m.getName().equals(method)) {
                return answer;
            }
            if (m.getName().equals("toString")) {
                return type.getSimpleName();
            }
            // anything else an endpoint is asked while it is wrapped (isOpen, getIdleTimeout): nothing
            Class<?> r = m.getReturnType();
            return r == boolean.class ? Boolean.FALSE : r == long.class ? 0L : r == int.class ? 0 : null;
        });
    }

    /** A socket's endpoint: its remote address is the TCP peer. */
    private static EndPoint socket(SocketAddress peer) {
        return proxy(EndPoint.class, "getRemoteSocketAddress", peer);
    }

    private static InetSocketAddress at(String address) throws Exception {
        return new InetSocketAddress(InetAddress.getByName(address), 4711);
    }

    private static ConnectionPeer.Peer of(EndPoint endPoint) {
        return ConnectionPeer.of(new JettyShapedRequest(endPoint));
    }

    @Test
    void theRealPeerIsReadBeneathAProxyProtocolHeader() throws Exception {
        // "PROXY TCP4 127.0.0.1 ..." written by 127.0.0.2 (v1 and v2 make the same endpoint)
        EndPoint proxied = new ProxyConnectionFactory.ProxyEndPoint(socket(at("127.0.0.2")), at("127.0.0.1"),
                at("127.0.0.1"));
        assertEquals("127.0.0.1", ((InetSocketAddress) proxied.getRemoteSocketAddress()).getAddress().getHostAddress());
        assertEquals(new ConnectionPeer.Seen(InetAddress.getByName("127.0.0.2")), of(proxied));
        // TLS over the PROXY header: the decrypted endpoint unwraps to the PROXY one, and that to the socket's
        SslConnection tls = new SslConnection(new ArrayByteBufferPool(), Runnable::run, proxied,
                SSLContext.getDefault().createSSLEngine());
        assertEquals(new ConnectionPeer.Seen(InetAddress.getByName("127.0.0.2")), of(tls.getSslEndPoint()));
        // no PROXY header: the socket's own peer
        assertEquals(new ConnectionPeer.Seen(InetAddress.getByName("::1")), of(socket(at("::1"))));
    }

    @Test
    void aConnectionWhoseRealPeerCannotBeSeenIsUnseen() throws Exception {
        // a PROXY header over a Unix domain socket: no address a trusted proxy is matched by
        EndPoint overUnix = new ProxyConnectionFactory.ProxyEndPoint(socket(UnixDomainSocketAddress.of("/tmp/lb.sock")),
                at("127.0.0.1"), at("127.0.0.1"));
        assertInstanceOf(ConnectionPeer.Unseen.class, of(overUnix));
        // a wrapping endpoint that does not unwrap
        EndPoint opaque = proxy(EndPoint.class, "unwrap", null, EndPoint.Wrapper.class);
        assertInstanceOf(ConnectionPeer.Unseen.class, of(opaque));
        // a request without a connection endpoint
        assertInstanceOf(ConnectionPeer.Unseen.class, of((EndPoint) null));
    }

    @Test
    void aContainerThatDoesNotExposeItsConnectionIsNotExposed() {
        // Tomcat's request, a test stand-in: getRemoteAddr() is all there is
        assertInstanceOf(ConnectionPeer.NotExposed.class, ConnectionPeer.of(new Object()));
        assertInstanceOf(ConnectionPeer.NotExposed.class, ConnectionPeer.of(
                new jakarta.servlet.ServletRequestWrapper(proxy(jakarta.servlet.ServletRequest.class, "x", null))));
    }
}
