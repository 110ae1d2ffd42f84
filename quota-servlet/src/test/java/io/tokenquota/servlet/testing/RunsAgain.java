package io.tokenquota.servlet.testing;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import java.io.IOException;

/**
 * Runs the rest of a REQUEST dispatch's chain twice on the same request: the shape of Tomcat's pipeline running a
 * request again (a second REQUEST pass on the same request object) after an HTTP/2 stream reset failed its async
 * cycle, made deterministic. A container never runs an async dispatch twice, so those pass once. Jetty only:
 * Tomcat's {@code ApplicationFilterChain} keeps its position, so a second {@code doFilter} goes straight to the
 * servlet, past every filter.
 */
public final class RunsAgain implements Filter {
    @Override
    public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
        chain.doFilter(req, res);
        if (req.getDispatcherType() == DispatcherType.REQUEST) {
            chain.doFilter(req, res);
        }
    }
}
