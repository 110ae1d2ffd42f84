package io.tokenquota.servlet.testing;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.Servlet;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.Wrapper;
import org.apache.catalina.startup.Tomcat;
import org.apache.catalina.valves.RemoteIpValve;
import org.apache.tomcat.util.descriptor.web.FilterDef;
import org.apache.tomcat.util.descriptor.web.FilterMap;

/** Embedded Tomcat 11 with one root context, no web.xml, no default servlet. */
public final class TomcatContainer implements EmbeddedContainer {
    private final Tomcat tomcat;
    private final Path baseDir;
    private final int port;

    private TomcatContainer(Tomcat tomcat, Path baseDir, int port) {
        this.tomcat = tomcat;
        this.baseDir = baseDir;
        this.port = port;
    }

    public static TomcatContainer start(Deployment deployment) {
        Path base;
        try {
            base = Files.createTempDirectory("tq-tomcat");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(base.toString());
        tomcat.setPort(0);
        tomcat.getConnector().setProperty("address", "127.0.0.1");
        Context context = tomcat.addContext("", base.toString());
        String forwarded = deployment.forwardedHeaders();
        if (forwarded != null) {
            RemoteIpValve valve = new RemoteIpValve() {
                @Override
                public void invoke(org.apache.catalina.connector.Request request, org.apache.catalina.connector.Response response)
                        throws IOException, jakarta.servlet.ServletException {
                    if (request.getRequestURI().startsWith(forwarded)) {
                        super.invoke(request, response);
                    } else {
                        getNext().invoke(request, response);
                    }
                }
            };
            valve.setRemoteIpHeader("X-Forwarded-For");
            context.getPipeline().addValve(valve);
        }
        for (Deployment.Mapping<Filter> f : deployment.filters()) {
            FilterDef def = new FilterDef();
            def.setFilterName(f.name());
            def.setFilter(f.component());
            def.setAsyncSupported("true");
            context.addFilterDef(def);
            FilterMap map = new FilterMap();
            map.setFilterName(f.name());
            f.urlPatterns().forEach(map::addURLPattern);
            // as the README registers it: requests, and forwards, includes and async dispatches into a protected path
            map.setDispatcher(DispatcherType.REQUEST.name());
            map.setDispatcher(DispatcherType.FORWARD.name());
            map.setDispatcher(DispatcherType.INCLUDE.name());
            map.setDispatcher(DispatcherType.ASYNC.name());
            if (!deployment.errorPages().isEmpty()) {
                map.setDispatcher(DispatcherType.ERROR.name());
            }
            context.addFilterMap(map);
        }
        for (Deployment.Mapping<Servlet> s : deployment.servlets()) {
            Wrapper wrapper = Tomcat.addServlet(context, s.name(), s.component());
            wrapper.setAsyncSupported(true);
            if (deployment.multipart(s.name()) != null) {
                wrapper.setMultipartConfigElement(deployment.multipart(s.name()));
            }
            s.urlPatterns().forEach(p -> context.addServletMapping(p, s.name()));
        }
        deployment.errorPages().forEach((status, location) -> {
            org.apache.tomcat.util.descriptor.web.ErrorPage page = new org.apache.tomcat.util.descriptor.web.ErrorPage();
            page.setErrorCode(status);
            page.setLocation(location);
            context.addErrorPage(page);
        });
        context.addServletContainerInitializer(deployment.starters(), null);
        try {
            tomcat.start();
        } catch (LifecycleException e) {
            throw new IllegalStateException("Tomcat did not start", e);
        }
        return new TomcatContainer(tomcat, base, tomcat.getConnector().getLocalPort());
    }

    @Override
    public ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }

    @Override
    public int port() {
        return port;
    }

    @Override
    public void close() {
        try {
            tomcat.stop();
            tomcat.destroy();
        } catch (LifecycleException e) {
            throw new IllegalStateException("Tomcat did not stop", e);
        } finally {
            try (Stream<Path> files = Files.walk(baseDir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException e) {
                // a leftover temp directory is harmless
            }
        }
    }
}
