package io.tokenquota.servlet.breakit83;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.DispatcherType;
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

class JettyRound83BreakItTest extends AbstractRound83 {
    @Override
    protected ContainerKind kind() {
        return ContainerKind.JETTY;
    }

    /**
     * Item 7 on Jetty: an edge gateway writes RFC 7239 under its own header name, so the host tells
     * Jetty's {@code ForwardedRequestCustomizer} to read it ({@code setForwardedHeader("X-Edge-Forwarded")},
     * a documented setter), behind the trusted-header resolver for the gateway at 127.0.0.1. A client that
     * reaches the service directly (from 127.0.0.2) sends {@code X-Edge-Forwarded: for=127.0.0.1;proto=https}
     * and {@code x-user-id: <victim>}: Jetty takes 127.0.0.1 as the remote address. The resolver's guard
     * ({@code TrustedHeaderResolver.mayBeForwarded}) looks for the peer's address among the comma-separated
     * values of every other header, but a value here is {@code for=127.0.0.1;proto=https}, which it does
     * not read as an address. Expected: 401, the victim charged nothing. Control: the gateway's own
     * request from 127.0.0.1 is served.
     */
    @Test
    void aForwardedHeaderUnderAnotherNameCannotSpendAnotherUsersQuota() throws Exception {
        Server server = new Server();
        HttpConfiguration http = new HttpConfiguration();
        ForwardedRequestCustomizer forwarded = new ForwardedRequestCustomizer();
        forwarded.setForwardedHeader("X-Edge-Forwarded");
        http.addCustomizer(forwarded);
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        ServletContextHandler context = new ServletContextHandler("/");
        FilterHolder quota = new FilterHolder(filterFor("/ai/").build());
        quota.setAsyncSupported(true);
        context.addFilter(quota, "/*", EnumSet.allOf(DispatcherType.class));
        context.addServlet(new ServletHolder("chat", new Chat()), "/ai/v1/*");
        server.setHandler(context);
        server.start();
        try {
            int port = connector.getLocalPort();
            String gatewayUser = subject();
            String honest = TestHttp.rawPostFrom("127.0.0.1", port, "/ai/v1/chat/completions", "x-user-id: " + gatewayUser);
            assertTrue(honest.startsWith("HTTP/1.1 200"), honest);
            assertEquals(USAGE, settled(gatewayUser).used(), ledger(gatewayUser));

            String victim = subject();
            String forged = TestHttp.rawPostFrom("127.0.0.2", port, "/ai/v1/chat/completions",
                    "x-user-id: " + victim, "X-Edge-Forwarded: for=127.0.0.1;proto=https");
            QuotaAccount a = settled(victim);
            assertTrue(forged.startsWith("HTTP/1.1 401"), "a client at 127.0.0.2 naming the gateway in"
                    + " X-Edge-Forwarded was served as " + victim + " (model calls " + calls(victim) + ", charged "
                    + a.used() + "): " + forged.lines().findFirst().orElse(""));
            assertEquals(0, a.used(), ledger(victim));
        } finally {
            server.stop();
        }
    }
}
