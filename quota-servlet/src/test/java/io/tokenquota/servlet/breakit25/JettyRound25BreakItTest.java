package io.tokenquota.servlet.breakit25;

import io.tokenquota.servlet.testing.TestHttp;
import static io.tokenquota.servlet.testing.RelayedAnswers.called;
import static io.tokenquota.servlet.testing.RelayedAnswers.calls;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.EnumSet;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.ForwardedRequestCustomizer;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.Test;

class JettyRound25BreakItTest extends AbstractRound25 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    /** A model endpoint: charged its usage. */
    public static class Echo extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            called(req);
            resp.setContentType("application/json");
            resp.getWriter().write("{\"remote\":\"" + req.getRemoteAddr() + "\",\"usage\":{\"total_tokens\":700}}");
        }
    }

    /**
     * Behind nginx ({@code proxy_set_header X-Real-IP $remote_addr}) or Cloudflare
     * ({@code CF-Connecting-IP}), Jetty's ForwardedRequestCustomizer is configured to read the client
     * address from that header ({@code setForwardedForHeader}, {@code jetty.httpConfig.forwardedForHeader}).
     * The resolver decides whether the container rewrote the address by looking for it in
     * {@code X-Forwarded-For} and {@code Forwarded} only: a client at 127.0.0.2 (not trusted) sends
     * {@code X-Real-IP: 127.0.0.1} and {@code x-user-id: victim}, Jetty makes getRemoteAddr() 127.0.0.1,
     * and the victim is served and charged. Control: the same request without X-Real-IP gets 401.
     */
    @Test
    void customForwardedForHeaderMakesAnUntrustedClientTheVictim() throws Exception {
        QuotaFilter fwd = QuotaFilter.builder(store).protect("/ai/")
                .subjectResolver(SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1")).build();
        Server server = new Server();
        HttpConfiguration http = new HttpConfiguration();
        ForwardedRequestCustomizer forwarded = new ForwardedRequestCustomizer();
        forwarded.setForwardedForHeader("X-Real-IP");
        http.addCustomizer(forwarded);
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        ServletContextHandler context = new ServletContextHandler("/");
        context.addFilter(new FilterHolder(fwd), "/*", EnumSet.of(DispatcherType.REQUEST));
        context.addServlet(new ServletHolder(new Echo()), "/ai/*");
        server.setHandler(context);
        server.start();
        try {
            int port = connector.getLocalPort();
            String control = subject();
            String c = TestHttp.rawPostFrom("127.0.0.2", port, "/ai/chat", "x-user-id: " + control);
            assertTrue(c.startsWith("HTTP/1.1 401"), "control: " + c);
            assertEquals(0, calls(control));

            String victim = subject();
            String r = TestHttp.rawPostFrom("127.0.0.2", port, "/ai/chat", "x-user-id: " + victim, "X-Real-IP: 127.0.0.1");
            assertEquals(0, calls(victim), "a client at 127.0.0.2 (not a trusted proxy) was served as " + victim
                    + " and the victim was charged " + settled(victim).used() + ": " + r);
            assertTrue(r.startsWith("HTTP/1.1 401"), r);
        } finally {
            server.stop();
        }
    }
}
