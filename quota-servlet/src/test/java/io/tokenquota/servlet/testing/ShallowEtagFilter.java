package io.tokenquota.servlet.testing;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpServletResponseWrapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Spring's {@code ShallowEtagHeaderFilter}, reduced to what it does: buffers the answer, sends an
 * {@code ETag} (a hash of the body) and answers {@code 304} without a body when the client's
 * {@code If-None-Match} already names it. Registered after the quota filter, as Spring Boot orders a
 * user's {@code FilterRegistrationBean} by default (lowest precedence).
 */
public final class ShallowEtagFilter implements Filter {
    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
            throws IOException, ServletException {
        HttpServletRequest req = (HttpServletRequest) request;
        HttpServletResponse resp = (HttpServletResponse) response;
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        ServletOutputStream sos = new ServletOutputStream() {
            @Override public boolean isReady() { return true; }
            @Override public void setWriteListener(WriteListener l) { }
            @Override public void write(int b) { buffer.write(b); }
            @Override public void write(byte[] b, int o, int l) { buffer.write(b, o, l); }
        };
        PrintWriter pw = new PrintWriter(new java.io.OutputStreamWriter(sos, StandardCharsets.UTF_8));
        HttpServletResponseWrapper caching = new HttpServletResponseWrapper(resp) {
            @Override public ServletOutputStream getOutputStream() { return sos; }
            @Override public PrintWriter getWriter() { return pw; }
            @Override public void setContentLength(int len) { }
            @Override public void setContentLengthLong(long len) { }
            @Override public void flushBuffer() { pw.flush(); }
        };
        chain.doFilter(request, caching);
        pw.flush();
        byte[] body = buffer.toByteArray();
        String etag = "\"0" + md5(body) + "\"";
        resp.setHeader("ETag", etag);
        if (resp.getStatus() == 200 && etag.equals(req.getHeader("If-None-Match"))) {
            resp.setStatus(304);
            return;
        }
        resp.setContentLength(body.length);
        resp.getOutputStream().write(body);
    }

    private static String md5(byte[] body) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(body));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
