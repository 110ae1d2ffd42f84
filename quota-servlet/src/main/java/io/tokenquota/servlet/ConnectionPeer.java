package io.tokenquota.servlet;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * The TCP peer of a request's connection, read beneath what the connection was told about itself, where the
 * container exposes it.
 *
 * <p>A connector that reads the HAProxy PROXY protocol (Jetty's {@code ProxyConnectionFactory}: the v1 text line
 * and the v2 binary header) reports the source those first bytes name as the remote address, and Jetty (10 and
 * later) takes them from whoever connects, since it detects them on a plain HTTP port: a client that writes
 * {@code PROXY TCP4 127.0.0.1 ...} is 127.0.0.1 to {@code getRemoteAddr()} (round 484). Jetty keeps the socket's
 * own endpoint beneath the one that answers with the named source ({@code ProxyConnectionFactory.ProxyEndPoint},
 * and TLS's {@code SslConnection.SslEndPoint} over it, both {@code EndPoint.Wrapper}s), so the real peer is the
 * innermost endpoint's remote address. This module has no compile dependency on a container, so the chain is
 * followed by reflection, through Jetty's public interfaces only: {@code Request#getConnectionMetaData()},
 * {@code ConnectionMetaData#getConnection()}, {@code Connection#getEndPoint()},
 * {@code EndPoint.Wrapper#unwrap()}, {@code EndPoint#getRemoteSocketAddress()}. Tomcat has no PROXY protocol:
 * its {@code getRemoteAddr()} is the TCP peer unless forwarded headers rewrote it, which the resolver checks
 * apart.
 */
final class ConnectionPeer {
    /** What a request's connection says about its TCP peer. */
    sealed interface Peer permits NotExposed, Seen, Unseen {
    }

    /** The container does not expose its connections: {@code getRemoteAddr()} is all there is. */
    record NotExposed() implements Peer {
    }

    /** The connection's real TCP peer, beneath any PROXY protocol header. */
    record Seen(InetAddress address) implements Peer {
    }

    /**
     * A container that exposes its connections, whose real peer could not be read here (an endpoint that would not
     * unwrap, a Unix domain socket, a Jetty whose classes changed): the remote address may be one a client wrote.
     */
    record Unseen(String why) implements Peer {
    }

    private static final NotExposed NOT_EXPOSED = new NotExposed();
    /** Endpoints wrapped deeper than this are not followed (Jetty nests two: TLS over PROXY). */
    private static final int MAX_DEPTH = 16;

    private ConnectionPeer() {
    }

    /** The real TCP peer of the container's own request (beneath any wrappers). */
    static Peer of(Object container) {
        Access access = ACCESS.get(container.getClass());
        return access == null ? NOT_EXPOSED : access.peer(container);
    }

    /** How a container request class reaches its connection: {@code null} for one that is not Jetty's. */
    private static final ClassValue<Access> ACCESS = new ClassValue<>() {
        @Override
        protected Access computeValue(Class<?> type) {
            return Access.of(type);
        }
    };

    /** Jetty's methods, looked up once per request class; {@code broken} says why they could not be. */
    private record Access(Method request, Method metaData, Method connection, Method endPoint, Method remote,
                          Class<?> wrapper, Method unwrap, String broken) {
        static Access of(Class<?> type) {
            Method request = publicMethod(type, "getRequest");
            if (request == null) {
                return null;
            }
            Class<?> core = request.getReturnType();
            ClassLoader loader = core.getClassLoader();
            Class<?> jettyRequest = load("org.eclipse.jetty.server.Request", loader);
            if (jettyRequest == null || !jettyRequest.isAssignableFrom(core)) {
                // a getRequest() of another container (or none of Jetty's): not a Jetty request
                return null;
            }
            try {
                Class<?> metaData = Class.forName("org.eclipse.jetty.server.ConnectionMetaData", false, loader);
                Class<?> connection = Class.forName("org.eclipse.jetty.io.Connection", false, loader);
                Class<?> endPoint = Class.forName("org.eclipse.jetty.io.EndPoint", false, loader);
                Class<?> wrapper = Class.forName("org.eclipse.jetty.io.EndPoint$Wrapper", false, loader);
                return new Access(request, jettyRequest.getMethod("getConnectionMetaData"),
                        metaData.getMethod("getConnection"), connection.getMethod("getEndPoint"),
                        endPoint.getMethod("getRemoteSocketAddress"), wrapper, wrapper.getMethod("unwrap"), null);
            } catch (ReflectiveOperationException | LinkageError e) {
                return new Access(null, null, null, null, null, null, null,
                        "Jetty's connection classes cannot be read: " + e);
            }
        }

        Peer peer(Object container) {
            if (broken != null) {
                return new Unseen(broken);
            }
            try {
                Object core = request.invoke(container);
                Object meta = core == null ? null : metaData.invoke(core);
                Object conn = meta == null ? null : connection.invoke(meta);
                Object ep = conn == null ? null : endPoint.invoke(conn);
                for (int depth = 0; ep != null && wrapper.isInstance(ep); depth++) {
                    if (depth >= MAX_DEPTH) {
                        // its own message: each endpoint here unwraps, there are just more than are followed
                        return new Unseen("the endpoint is wrapped more than " + MAX_DEPTH + " times deep");
                    }
                    Object inner = unwrap.invoke(ep);
                    if (inner == null || inner == ep) {
                        return new Unseen("the endpoint " + ep.getClass().getName() + " does not unwrap");
                    }
                    ep = inner;
                }
                if (ep == null) {
                    return new Unseen("the request has no connection endpoint");
                }
                Object address = remote.invoke(ep);
                if (address instanceof InetSocketAddress inet && inet.getAddress() != null) {
                    return new Seen(inet.getAddress());
                }
                // a Unix domain socket, or a closed one: no address a trusted proxy could be matched by
                return new Unseen("the connection's peer is no IP address: " + address);
            } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
                return new Unseen("the connection cannot be read: " + e);
            }
        }
    }

    /**
     * A public no-argument method of {@code type} as declared by its first public class, so that it can be invoked
     * on an instance of a non-public subclass; {@code null} when there is none.
     */
    private static Method publicMethod(Class<?> type, String name) {
        for (Class<?> k = type; k != null; k = k.getSuperclass()) {
            if (Modifier.isPublic(k.getModifiers())) {
                try {
                    Method m = k.getMethod(name);
                    return Modifier.isPublic(m.getDeclaringClass().getModifiers()) ? m : null;
                } catch (NoSuchMethodException e) {
                    return null;
                }
            }
        }
        return null;
    }

    private static Class<?> load(String name, ClassLoader loader) {
        try {
            return Class.forName(name, false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }
}
