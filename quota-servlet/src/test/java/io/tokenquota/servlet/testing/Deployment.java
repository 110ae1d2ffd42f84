package io.tokenquota.servlet.testing;

import jakarta.servlet.Filter;
import jakarta.servlet.Servlet;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * What to mount in an embedded container: filters (REQUEST dispatch, async supported) and servlets
 * (async supported), each under URL patterns, in the order given. Mutable while being built; not
 * thread-safe.
 */
public final class Deployment {
    /** A filter or servlet mapping. */
    public record Mapping<T>(String name, T component, List<String> urlPatterns) {
    }

    private final List<Mapping<Filter>> filters = new ArrayList<>();
    private final List<Mapping<Servlet>> servlets = new ArrayList<>();
    private final java.util.Map<String, jakarta.servlet.MultipartConfigElement> multipart = new java.util.HashMap<>();
    private String forwardedPrefix;
    private boolean proxyProtocol;
    private final java.util.Map<Integer, String> errorPages = new java.util.LinkedHashMap<>();
    private final List<java.util.function.Consumer<jakarta.servlet.ServletContext>> starters = new ArrayList<>();

    public static Deployment create() {
        return new Deployment();
    }

    public Deployment filter(String name, Filter filter, String... urlPatterns) {
        filters.add(new Mapping<>(Objects.requireNonNull(name), Objects.requireNonNull(filter), List.of(urlPatterns)));
        return this;
    }

    public Deployment servlet(String name, Servlet servlet, String... urlPatterns) {
        servlets.add(new Mapping<>(Objects.requireNonNull(name), Objects.requireNonNull(servlet), List.of(urlPatterns)));
        return this;
    }

    /**
     * A servlet behind the filter under {@code /ai/<path>/*} and another instance, the control,
     * unprotected under {@code /open/<path>/*}, named {@code name} and {@code open-<name>}: a round
     * compares what the same endpoint does in both places.
     */
    public Deployment withControl(String name, Supplier<? extends Servlet> servlet, String path) {
        servlet(name, servlet.get(), "/ai/" + path + "/*");
        return servlet("open-" + name, servlet.get(), "/open/" + path + "/*");
    }

    /**
     * Requests under {@code pathPrefix} get the client address from {@code X-Forwarded-For} /
     * {@code Forwarded} (Jetty's {@code ForwardedRequestCustomizer}, Tomcat's {@code RemoteIpValve}), as
     * a service behind a proxy configures it (Spring Boot's {@code server.forward-headers-strategy=native}).
     * Limited to a prefix because Tomcat's valve marks every request from a loopback proxy as forwarded.
     */
    public Deployment forwardedHeaders(String pathPrefix) {
        this.forwardedPrefix = Objects.requireNonNull(pathPrefix);
        return this;
    }

    /** The prefix under which forwarded headers are processed, or {@code null}. */
    public String forwardedHeaders() {
        return forwardedPrefix;
    }

    /**
     * The connector also reads the HAProxy PROXY protocol (v1 and v2) before HTTP, as a Jetty service behind an
     * L4 load balancer configures it ({@code ProxyConnectionFactory}, which Jetty 10 and later detect: a
     * connection without a PROXY line is plain HTTP). Tomcat has no PROXY protocol support and ignores it.
     */
    public Deployment proxyProtocol() {
        this.proxyProtocol = true;
        return this;
    }

    /** Whether the connector reads the PROXY protocol. */
    public boolean usesProxyProtocol() {
        return proxyProtocol;
    }

    /** A servlet that reads multipart bodies with {@code getParts()}. */
    public Deployment multipartServlet(String name, Servlet servlet, jakarta.servlet.MultipartConfigElement config,
                                       String... urlPatterns) {
        servlet(name, servlet, urlPatterns);
        multipart.put(name, Objects.requireNonNull(config));
        return this;
    }

    /** The multipart configuration of the servlet named {@code name}, or {@code null}. */
    public jakarta.servlet.MultipartConfigElement multipart(String name) {
        return multipart.get(name);
    }

    public List<Mapping<Filter>> filters() {
        return List.copyOf(filters);
    }

    public List<Mapping<Servlet>> servlets() {
        return List.copyOf(servlets);
    }
    /**
     * The container's error page for {@code status} is {@code location} (web.xml's {@code <error-page>},
     * Spring Boot's {@code ErrorPageRegistrar}); with any error page the filters are also mapped for
     * ERROR dispatches, as the README registers the quota filter (every dispatcher type).
     */
    public Deployment errorPage(int status, String location) {
        errorPages.put(status, Objects.requireNonNull(location));
        return this;
    }

    /**
     * Runs {@code starter} on the context while it starts, after the filters and servlets above are
     * registered (a {@code ServletContainerInitializer}): what a host does there, such as
     * {@code QuotaFilter.registerByServletName}.
     */
    public Deployment onStartup(java.util.function.Consumer<jakarta.servlet.ServletContext> starter) {
        starters.add(Objects.requireNonNull(starter));
        return this;
    }

    /** The starters, in the order given, as one container initializer. */
    public jakarta.servlet.ServletContainerInitializer starters() {
        List<java.util.function.Consumer<jakarta.servlet.ServletContext>> all = List.copyOf(starters);
        return (classes, context) -> all.forEach(starter -> starter.accept(context));
    }

    /** The error pages by status (empty for most rounds). */
    public java.util.Map<Integer, String> errorPages() {
        return java.util.Map.copyOf(errorPages);
    }
}
