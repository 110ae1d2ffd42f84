package io.tokenquota.servlet;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Set;

/**
 * A protected request as the endpoint sees it: without {@code Accept-Encoding}, so an endpoint that
 * passes the client's headers on to the model's API gets an uncompressed answer, whose usage the
 * filter can read. A client cannot make its answer unreadable (and its call cheap) by asking for gzip;
 * compression the container applies to the response (Jetty's {@code GzipHandler}, Tomcat's
 * {@code compression}) happens after the filter and is unaffected. Without {@code Range} and
 * {@code If-Range} either: a model call is always answered whole, so a client cannot ask for a part
 * of the answer (a 206 from the second byte on) that starts like neither JSON nor an event stream and
 * hides the usage. Not thread-safe, like any request.
 */
final class IdentityEncodingRequest extends HttpServletRequestWrapper {
    private static final Set<String> HIDDEN = Set.of("accept-encoding", "range", "if-range");

    IdentityEncodingRequest(HttpServletRequest request) {
        super(request);
    }

    private static boolean hidden(String name) {
        return name != null && HIDDEN.contains(name.toLowerCase(java.util.Locale.ROOT));
    }

    @Override
    public String getHeader(String name) {
        return hidden(name) ? null : super.getHeader(name);
    }

    @Override
    public Enumeration<String> getHeaders(String name) {
        return hidden(name) ? Collections.emptyEnumeration() : super.getHeaders(name);
    }

    @Override
    public long getDateHeader(String name) {
        return hidden(name) ? -1L : super.getDateHeader(name);
    }

    @Override
    public int getIntHeader(String name) {
        return hidden(name) ? -1 : super.getIntHeader(name);
    }

    @Override
    public Enumeration<String> getHeaderNames() {
        List<String> names = Collections.list(super.getHeaderNames());
        names.removeIf(IdentityEncodingRequest::hidden);
        return Collections.enumeration(names);
    }
}
