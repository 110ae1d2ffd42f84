package io.tokenquota.servlet.breakit206;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.FilterRegistration;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.websocket.DeploymentException;
import jakarta.websocket.Endpoint;
import jakarta.websocket.EndpointConfig;
import jakarta.websocket.Session;
import jakarta.websocket.server.ServerContainer;
import jakarta.websocket.server.ServerEndpointConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.util.EnumSet;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.tomcat.websocket.server.WsSci;
import org.junit.jupiter.api.Test;

/**
 * Round 206 of issue 11: a realtime relay on a plain Tomcat. The application serves OpenAI's Realtime API to
 * its browsers through a Jakarta WebSocket endpoint ({@code ServerContainer.addEndpoint}, as
 * {@code @ServerEndpoint} does) at {@code /ai/realtime}, under the protected prefix. Tomcat's own WebSocket
 * filter ({@code WsFilter}, added by its initializer and mapped after the declared filters) upgrades such a
 * handshake itself and never calls the rest of the chain: a quota filter mapped after it
 * ({@code isMatchAfter} true, round 206: five turns of 6,000 tokens served, nothing held or charged) never
 * sees the request. Mapped before it ({@code isMatchAfter} false, as the README says for applications with
 * WebSocket endpoints), the filter hides the client's {@code Upgrade} and the handshake fails: no turn is
 * served.
 */
class TomcatRound206BreakItTest extends H2FilterRound {
    static final AtomicInteger CALLS = new AtomicInteger();

    /** One realtime turn's {@code response.done}, as OpenAI's Realtime API sends it: 6,000 tokens. */
    static final String DONE = "{\"type\":\"response.done\",\"response\":{\"object\":\"realtime.response\","
            + "\"status\":\"completed\",\"usage\":{\"total_tokens\":6000,\"input_tokens\":1000,\"output_tokens\":5000}}}";

    @Override
    protected ContainerKind kind() {
        return ContainerKind.TOMCAT;
    }

    /** The relay: each message is one model call, answered with its {@code response.done}. */
    public static final class Realtime extends Endpoint {
        @Override
        public void onOpen(Session session, EndpointConfig config) {
            session.addMessageHandler(String.class, message -> {
                CALLS.incrementAndGet();
                try {
                    session.getBasicRemote().sendText(DONE);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                // the site's default servlet (Tomcat's DefaultServlet in a real deployment)
                .servlet("default", new HttpServlet() {
                    @Override
                    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
                        resp.sendError(404);
                    }
                }, "/")
                .onStartup(ctx -> {
                    // the container's initializer runs first, as Tomcat runs its own before the application's
                    try {
                        new WsSci().onStartup(null, ctx);
                        ((ServerContainer) ctx.getAttribute(ServerContainer.class.getName()))
                                .addEndpoint(ServerEndpointConfig.Builder.create(Realtime.class, "/ai/realtime").build());
                    } catch (ServletException | DeploymentException e) {
                        throw new IllegalStateException(e);
                    }
                })
                .onStartup(ctx -> {
                    FilterRegistration.Dynamic f = ctx.addFilter("quota", filter);
                    f.setAsyncSupported(true);
                    f.addMappingForUrlPatterns(EnumSet.allOf(DispatcherType.class), false, "/*");
                    filter.registerByServletName(ctx);
                });
    }

    @Test
    void aRealtimeRelayUnderTheProtectedPrefixIsNotUpgraded() throws Exception {
        String subject = "u206-" + UUID.randomUUID().toString().substring(0, 12);
        int before = CALLS.get();
        CompletableFuture<WebSocket> socket = HttpClient.newHttpClient().newWebSocketBuilder()
                .header("x-user-id", subject)
                .buildAsync(URI.create("ws://127.0.0.1:" + container.port() + "/ai/realtime"), new WebSocket.Listener() {
                    @Override
                    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
                        webSocket.request(1);
                        return null;
                    }
                });
        try {
            WebSocket open = socket.get(10, TimeUnit.SECONDS);
            for (int i = 0; i < 5; i++) {
                open.sendText("{\"type\":\"response.create\"}", true).get(10, TimeUnit.SECONDS);
            }
            open.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(10, TimeUnit.SECONDS);
        } catch (ExecutionException refused) {
            // the handshake was refused: the documented outcome
        }
        assertEquals(0, CALLS.get() - before, "no model call over a socket the filter let open; ledger: " + ledger(subject));
        assertEquals(0, settled(subject).used(), ledger(subject));
    }
}
