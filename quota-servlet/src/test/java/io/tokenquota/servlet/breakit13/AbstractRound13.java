package io.tokenquota.servlet.breakit13;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EmbeddedContainer;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.WriteListener;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpServletResponseWrapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** Round 13: wrapping filters before the quota filter, nested dispatches, invalid subject / key. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractRound13 {
    static final String USAGE = "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"hi\"}}],"
            + "\"usage\":{\"prompt_tokens\":10000,\"completion_tokens\":40000,\"total_tokens\":50000}}";
    QuotaPolicy policy = QuotaPolicy.builder().defaultAllocation(10_000_000).build();
    TestDatabase db;
    JdbiQuotaStore store;
    EmbeddedContainer container;
    final AtomicInteger modelCalls = new AtomicInteger();

    abstract ContainerKind kind();

    /** The model: counts calls, answers usage 50,000. */
    public class Model extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            modelCalls.incrementAndGet();
            resp.setContentType("application/json");
            resp.getWriter().write(USAGE);
        }
    }

    /** Unprotected renderer used by an async dispatch: writes the model's answer. */
    public class Render extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            modelCalls.incrementAndGet();
            resp.setContentType("application/json");
            resp.getWriter().write(USAGE);
        }
    }

    public static class Forwarder extends HttpServlet {
        final String target;
        final boolean include;

        Forwarder(String target, boolean include) {
            this.target = target;
            this.include = include;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            if (include) {
                req.getRequestDispatcher(target).include(req, resp);
            } else {
                req.getRequestDispatcher(target).forward(req, resp);
            }
        }
    }

    public static class AsyncTo extends HttpServlet {
        final String target;

        AsyncTo(String target) {
            this.target = target;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) {
            // as docs/servlet.md requires: startAsync(request, response), so the filter sees what the dispatch writes
            AsyncContext ctx = req.startAsync(req, resp);
            ctx.dispatch(target);
        }
    }

    /** A compression filter placed before the quota filter (like a container's or Spring's gzip filter). */
    public static class GzipFilter implements Filter {
        @Override
        public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
                throws IOException, ServletException {
            HttpServletRequest req = (HttpServletRequest) request;
            if (!req.getRequestURI().contains("/gz")) {
                chain.doFilter(request, response);
                return;
            }
            HttpServletResponse resp = (HttpServletResponse) response;
            resp.setHeader("Content-Encoding", "gzip");
            GZIPOutputStream gz = new GZIPOutputStream(resp.getOutputStream());
            ServletOutputStream sos = new ServletOutputStream() {
                @Override public boolean isReady() { return true; }
                @Override public void setWriteListener(WriteListener l) { }
                @Override public void write(int b) throws IOException { gz.write(b); }
                @Override public void write(byte[] b, int o, int l) throws IOException { gz.write(b, o, l); }
            };
            PrintWriter pw = new PrintWriter(new java.io.OutputStreamWriter(sos, StandardCharsets.UTF_8));
            HttpServletResponseWrapper w = new HttpServletResponseWrapper(resp) {
                @Override public ServletOutputStream getOutputStream() { return sos; }
                @Override public PrintWriter getWriter() { return pw; }
                @Override public void setContentLength(int len) { }
                @Override public void setContentLengthLong(long len) { }
                @Override public void flushBuffer() throws IOException { pw.flush(); gz.flush(); }
            };
            chain.doFilter(request, w);
            pw.flush();
            gz.finish();
        }
    }

    @BeforeAll
    void start() {
        db = TestDatabases.h2();
        store = JdbiQuotaStore.builder().dataSource(db.dataSource()).policy(policy).installSchema(true).build();
        QuotaFilter filter = QuotaFilter.builder(store).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        container = kind().start(Deployment.create()
                .filter("gzip", new GzipFilter(), "/*")
                .filter("quota", filter, "/*")
                .servlet("model", new Model(), "/ai/v1/*")
                .servlet("unprotectedInclude", new Forwarder("/ai/v1/chat", true), "/page-include")
                .servlet("render", new Render(), "/render")
                .servlet("protectedInclude", new Forwarder("/ai/v1/chat", true), "/ai/page-include")
                .servlet("fwd1", new Forwarder("/ai/fwd2", false), "/fwd1")
                .servlet("fwd2", new Forwarder("/ai/v1/chat", false), "/ai/fwd2")
                .servlet("asyncOut", new AsyncTo("/render"), "/ai/async-out"));
    }

    @AfterAll
    void stop() {
        if (container != null) container.close();
        if (store != null) store.close();
        if (db != null) db.close();
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":500,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}";

    static String subject() {
        return "u13-" + UUID.randomUUID().toString().substring(0, 12);
    }

    long charged(String s) throws Exception {
        Thread.sleep(400);
        return store.account(s).used() + store.account(s).reserved();
    }

    long call(String path) throws Exception {
        String s = subject();
        int before = modelCalls.get();
        HttpResponse<String> r = TestHttp.post(container.uri(path), CHAT.getBytes(StandardCharsets.UTF_8),
                "x-user-id", s, "Content-Type", "application/json");
        assertEquals(200, r.statusCode());
        assertEquals(1, modelCalls.get() - before, "one model call");
        return charged(s);
    }

    @Test
    void controlDirectCallIsChargedItsUsage() throws Exception {
        assertEquals(50_000, call("/ai/v1/chat"));
    }

    @Test
    void gzipFilterBeforeTheQuotaFilterStillChargesTheUsage() throws Exception {
        assertEquals(50_000, call("/ai/v1/gz"));
    }

    @Test
    void protectedPageIncludingTheModelIsChargedOnce() throws Exception {
        assertEquals(50_000, call("/ai/page-include"));
    }

    @Test
    void controlUnprotectedPageIncludingTheModelIsChargedItsUsage() throws Exception {
        assertEquals(50_000, call("/page-include"));
    }

    @Test
    void nestedForwardsUnprotectedProtectedProtectedChargedOnce() throws Exception {
        assertEquals(50_000, call("/fwd1"));
    }

    @Test
    void asyncDispatchFromProtectedToUnprotectedRendererIsChargedOnce() throws Exception {
        assertEquals(50_000, call("/ai/async-out"));
    }

    /** Raw request; returns the status code. */
    int raw(String headerLines) throws Exception {
        URI u = container.uri("/ai/v1/chat");
        byte[] body = CHAT.getBytes(StandardCharsets.UTF_8);
        try (Socket sock = new Socket(u.getHost(), u.getPort())) {
            sock.setSoTimeout(15_000);
            OutputStream out = sock.getOutputStream();
            String head = "POST /ai/v1/chat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + body.length + "\r\n" + headerLines + "\r\n";
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            InputStream in = sock.getInputStream();
            ByteArrayOutputStream bo = new ByteArrayOutputStream();
            in.transferTo(bo);
            String resp = bo.toString(StandardCharsets.ISO_8859_1);
            return Integer.parseInt(resp.substring(9, 12));
        }
    }

    void assertRefusedWithoutModel(String headerLines) throws Exception {
        int before = modelCalls.get();
        int status;
        try {
            status = raw(headerLines);
        } catch (RuntimeException | IOException e) {
            status = -1;
        }
        int calls = modelCalls.get() - before;
        assertEquals(0, calls, "model must not be called (status " + status + ")");
        assertTrue(status >= 400 && status < 500, "a clear 4xx, was " + status);
    }

    @Test
    void tooLongSubjectGetsA4xxAndNoModelCall() throws Exception {
        assertRefusedWithoutModel("x-user-id: " + "a".repeat(5000) + "\r\n");
    }

    @Test
    void subjectWithControlCharacterGetsA4xxAndNoModelCall() throws Exception {
        assertRefusedWithoutModel("x-user-id: ab\u0001cd\u007f\r\n");
    }

    @Test
    void tooLongIdempotencyKeyGetsA4xxAndNoModelCall() throws Exception {
        assertRefusedWithoutModel("x-user-id: " + subject() + "\r\nIdempotency-Key: " + "k".repeat(5000) + "\r\n");
    }

    @Test
    void idempotencyKeyWithControlCharacterGetsA4xxAndNoModelCall() throws Exception {
        assertRefusedWithoutModel("x-user-id: " + subject() + "\r\nIdempotency-Key: k\u0001\u001b[31m\r\n");
    }
}
