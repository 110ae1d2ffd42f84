package io.tokenquota.servlet;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;

/**
 * A protected request as the endpoint sees it: without {@code Accept-Encoding}, so an endpoint that
 * passes the client's headers on to the model's API gets an uncompressed answer, whose usage the
 * filter can read. A client cannot make its answer unreadable (and its call cheap) by asking for gzip;
 * compression the container applies to the response (Jetty's {@code GzipHandler}, Tomcat's
 * {@code compression}) happens after the filter and is unaffected. Not thread-safe, like any request.
 */
final class IdentityEncodingRequest extends HttpServletRequestWrapper {
    private static final String ACCEPT_ENCODING = "Accept-Encoding";

    IdentityEncodingRequest(HttpServletRequest request) {
        super(request);
    }

    @Override
    public String getHeader(String name) {
        return ACCEPT_ENCODING.equalsIgnoreCase(name) ? null : super.getHeader(name);
    }

    @Override
    public Enumeration<String> getHeaders(String name) {
        return ACCEPT_ENCODING.equalsIgnoreCase(name) ? Collections.emptyEnumeration() : super.getHeaders(name);
    }

    @Override
    public Enumeration<String> getHeaderNames() {
        List<String> names = Collections.list(super.getHeaderNames());
        names.removeIf(ACCEPT_ENCODING::equalsIgnoreCase);
        return Collections.enumeration(names);
    }
}
