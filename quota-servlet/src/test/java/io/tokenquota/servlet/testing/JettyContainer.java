package io.tokenquota.servlet.testing;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.Servlet;
import java.util.EnumSet;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.server.ForwardedRequestCustomizer;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/** Embedded Jetty 12 with an ee10 {@link ServletContextHandler} at the root context. */
public final class JettyContainer implements EmbeddedContainer {
    private final Server server;
    private final int port;

    private JettyContainer(Server server, int port) {
        this.server = server;
        this.port = port;
    }

    public static JettyContainer start(Deployment deployment) {
        Server server = new Server();
        HttpConfiguration http = new HttpConfiguration();
        // as docs/servlet.md has a Jetty host configure it: header values compared exactly (a bearer token)
        http.setHeaderCacheCaseSensitive(true);
        String forwarded = deployment.forwardedHeaders();
        if (forwarded != null) {
            http.addCustomizer(new ForwardedRequestCustomizer() {
                @Override
                public Request customize(Request request, HttpFields.Mutable responseHeaders) {
                    String path = request.getHttpURI().getPath();
                    return path != null && path.startsWith(forwarded) ? super.customize(request, responseHeaders) : request;
                }
            });
        }
        HttpConnectionFactory http11 = new HttpConnectionFactory(http);
        ServerConnector connector = deployment.usesProxyProtocol()
                ? new ServerConnector(server, new org.eclipse.jetty.server.ProxyConnectionFactory(http11.getProtocol()), http11)
                : new ServerConnector(server, http11);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        ServletContextHandler context = new ServletContextHandler("/");
        for (Deployment.Mapping<Filter> f : deployment.filters()) {
            FilterHolder holder = new FilterHolder(f.component());
            holder.setName(f.name());
            holder.setAsyncSupported(true);
            for (String pattern : f.urlPatterns()) {
                // as the README registers it: requests, and forwards, includes and async dispatches into a protected path
                context.addFilter(holder, pattern, deployment.errorPages().isEmpty()
                        ? EnumSet.of(DispatcherType.REQUEST, DispatcherType.FORWARD, DispatcherType.INCLUDE,
                                DispatcherType.ASYNC)
                        : EnumSet.allOf(DispatcherType.class));
            }
        }
        for (Deployment.Mapping<Servlet> s : deployment.servlets()) {
            ServletHolder holder = new ServletHolder(s.name(), s.component());
            holder.setAsyncSupported(true);
            if (deployment.multipart(s.name()) != null) {
                holder.getRegistration().setMultipartConfig(deployment.multipart(s.name()));
            }
            for (String pattern : s.urlPatterns()) {
                context.addServlet(holder, pattern);
            }
        }
        if (!deployment.errorPages().isEmpty()) {
            org.eclipse.jetty.ee10.servlet.ErrorPageErrorHandler errors = new org.eclipse.jetty.ee10.servlet.ErrorPageErrorHandler();
            deployment.errorPages().forEach(errors::addErrorPage);
            context.setErrorHandler(errors);
        }
        context.addServletContainerInitializer(deployment.starters());
        server.setHandler(context);
        try {
            server.start();
        } catch (Exception e) {
            throw new IllegalStateException("Jetty did not start", e);
        }
        return new JettyContainer(server, connector.getLocalPort());
    }

    @Override
    public ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    @Override
    public int port() {
        return port;
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception e) {
            throw new IllegalStateException("Jetty did not stop", e);
        }
    }
}
