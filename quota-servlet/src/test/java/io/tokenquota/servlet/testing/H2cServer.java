package io.tokenquota.servlet.testing;

import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.catalina.Context;
import org.apache.catalina.Wrapper;
import org.apache.catalina.connector.Connector;
import org.apache.tomcat.util.descriptor.web.FilterDef;
import org.apache.tomcat.util.descriptor.web.FilterMap;
import org.apache.catalina.startup.Tomcat;
import org.apache.coyote.http2.Http2Protocol;

/**
 * A second server of a round that speaks h2c (HTTP/2 by upgrade) as Spring Boot sets each container up: Tomcat's
 * connector with its {@code Http2Protocol}, Jetty's with {@code HTTP2CServerConnectionFactory} beside HTTP/1.1.
 * The quota filter is mapped on {@code /ai/*} for requests and async dispatches (docs/servlet.md registers it for
 * every dispatcher type), every servlet supports async, and {@code /open/*} is an unprotected page: a client's
 * first request there upgrades its connection to h2c (rounds 290 and 338).
 */
public final class H2cServer implements AutoCloseable {
    private final AutoCloseable stop;
    private final int port;

    private H2cServer(AutoCloseable stop, int port) {
        this.stop = stop;
        this.port = port;
    }

    public int port() {
        return port;
    }

    @Override
    public void close() throws Exception {
        stop.close();
    }

    /** Starts {@code kind}'s h2c server with {@code filter} on {@code /ai/*} and {@code servlets} by their mapping. */
    public static H2cServer start(ContainerKind kind, QuotaFilter filter, Map<String, HttpServlet> servlets)
            throws Exception {
        Map<String, HttpServlet> all = new LinkedHashMap<>(servlets);
        all.put("/open/*", new Open());
        return kind == ContainerKind.TOMCAT ? tomcat(filter, all) : jetty(filter, all);
    }

    private static H2cServer tomcat(QuotaFilter filter, Map<String, HttpServlet> servlets) throws Exception {
        Path base = Files.createTempDirectory("tq-tomcat-h2");
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(base.toString());
        Connector connector = new Connector();
        connector.setPort(0);
        connector.setProperty("address", "127.0.0.1");
        connector.addUpgradeProtocol(new Http2Protocol());
        tomcat.getService().addConnector(connector);
        tomcat.setConnector(connector);
        Context context = tomcat.addContext("", base.toString());
        FilterDef def = new FilterDef();
        def.setFilterName("quota");
        def.setFilter(filter);
        def.setAsyncSupported("true");
        context.addFilterDef(def);
        FilterMap map = new FilterMap();
        map.setFilterName("quota");
        map.addURLPattern("/ai/*");
        map.setDispatcher(DispatcherType.REQUEST.name());
        map.setDispatcher(DispatcherType.ASYNC.name());
        context.addFilterMap(map);
        int n = 0;
        for (Map.Entry<String, HttpServlet> servlet : servlets.entrySet()) {
            String name = "servlet" + n++;
            Wrapper wrapper = Tomcat.addServlet(context, name, servlet.getValue());
            wrapper.setAsyncSupported(true);
            context.addServletMappingDecoded(servlet.getKey(), name);
        }
        tomcat.start();
        return new H2cServer(() -> {
            tomcat.stop();
            tomcat.destroy();
            try (var files = Files.walk(base)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }, connector.getLocalPort());
    }

    private static H2cServer jetty(QuotaFilter filter, Map<String, HttpServlet> servlets) throws Exception {
        org.eclipse.jetty.server.Server jetty = new org.eclipse.jetty.server.Server();
        org.eclipse.jetty.server.HttpConfiguration config = new org.eclipse.jetty.server.HttpConfiguration();
        org.eclipse.jetty.server.ServerConnector connector = new org.eclipse.jetty.server.ServerConnector(jetty,
                new org.eclipse.jetty.server.HttpConnectionFactory(config),
                new org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory(config));
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        jetty.addConnector(connector);
        org.eclipse.jetty.ee10.servlet.ServletContextHandler context = new org.eclipse.jetty.ee10.servlet.ServletContextHandler("/");
        org.eclipse.jetty.ee10.servlet.FilterHolder quota = new org.eclipse.jetty.ee10.servlet.FilterHolder(filter);
        quota.setAsyncSupported(true);
        context.addFilter(quota, "/ai/*", EnumSet.of(DispatcherType.REQUEST, DispatcherType.ASYNC));
        int n = 0;
        for (Map.Entry<String, HttpServlet> servlet : servlets.entrySet()) {
            org.eclipse.jetty.ee10.servlet.ServletHolder holder =
                    new org.eclipse.jetty.ee10.servlet.ServletHolder("servlet" + n++, servlet.getValue());
            holder.setAsyncSupported(true);
            context.addServlet(holder, servlet.getKey());
        }
        jetty.setHandler(context);
        jetty.start();
        return new H2cServer(jetty::stop, connector.getLocalPort());
    }

    /** An unprotected page: the client's first request, which upgrades its connection to h2c. */
    public static final class Open extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain");
            resp.getWriter().write("ok");
        }
    }
}
