package io.tokenquota.servlet.breakit290;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.H2cServer;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Round 290 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): HTTP/2,
 * which no earlier round spoke. A Spring Boot service on Tomcat turns it on with {@code server.http2.enabled=true}
 * and no TLS: h2c, "All four embedded web containers now support HTTP/2 over TCP (h2c) without any manual
 * customization. To enable h2c, set server.http2.enabled is true and leave server.ssl.enabled set to false"
 * (github.com/linux-china/http2-java-demo, README); on Tomcat that is the connector's
 * {@code <UpgradeProtocol className="org.apache.coyote.http2.Http2Protocol"/>} (Tomcat's HTTP connector docs,
 * "HTTP/2 Support"), which the Tomcat suite's extra connector here adds. The client is the JDK's own
 * {@link HttpClient} with {@link HttpClient.Version#HTTP_2} (it upgrades a cleartext connection with
 * {@code Upgrade: h2c} and sends later requests as HTTP/2 streams on it).
 *
 * <p>In HTTP/2 a request body is DATA frames: {@code content-length} is optional (RFC 9113 section 8.1.1) and
 * {@code Transfer-Encoding} is a connection-specific field that "MUST NOT" appear (RFC 9113 section 8.2.2). The
 * JDK client sends no {@code content-length} for a body of unknown length
 * ({@link HttpRequest.BodyPublishers#ofInputStream}, whose {@code contentLength()} is -1), as any client streaming
 * a body does. A request that carries a body may therefore show neither a positive {@code Content-Length} nor a
 * {@code Transfer-Encoding} header to the servlet API.
 *
 * <p>The filter tells a body-less CORS preflight (let through without a subject: "browsers send preflights
 * without credentials") from an {@code OPTIONS} with a body ("One with a body is held as its body is estimated
 * ... it never passes as a preflight without a subject", docs/decisions.md, "Methods without a body") by those two
 * headers alone ({@code QuotaFilter.carriesBody}). The endpoint is round 93's relay that forwards every method
 * with its body to its provider (a Go {@code http.HandleFunc} route, an Express {@code app.all}: docs/decisions.md
 * names "a relay that forwards every method" as what may answer an {@code OPTIONS} with a model call), here an
 * OpenAI Chat Completions body ({@code model}, {@code messages}, {@code max_tokens}; platform.openai.com/docs/api-reference/chat/create)
 * answered with the provider's {@code chat.completion} and its {@code usage}. The preflight's headers are the
 * Fetch standard's ({@code Origin}, {@code Access-Control-Request-Method}), which any client may send.
 */
abstract class AbstractRound290 extends ModelCallRound {
    /** The model's answer with its usage: 4,000 tokens in, 1,000 out. */
    static final String COMPLETION = ChatCompletions.completion("c290", "gpt-4o", "Here is the summary.", 4000, 1000);
    static final long USAGE = 5_000;

    /** A chat request as OpenAI's SDKs send it. */
    static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Summarise the attached quarterly report in five bullet points.\"}],\"max_tokens\":1000}";

    /** The suite's second server speaking h2c (HTTP/2 upgrade), with a filter of its own on the same store. */
    private H2cServer h2;
    private HttpClient http2;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("relay", new Relay(), "/ai/relay/*").servlet("open", new H2cServer.Open(), "/open/*");
    }

    @BeforeAll
    void startHttp2() throws Exception {
        h2 = H2cServer.start(kind(), filterFor("/ai/").build(), java.util.Map.of("/ai/relay/*", new Relay()));
        http2 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).connectTimeout(Duration.ofSeconds(5)).build();
    }



    @AfterAll
    void stopHttp2() throws Exception {
        if (h2 != null) {
            h2.close();
        }
    }

    /**
     * The relay: forwards whatever method it is sent with its body to the provider, which runs the model on any
     * chat body and answers the completion with its usage; a request without a body is answered 400. Counts its
     * model calls under the request's {@code x-call}.
     */
    class Relay extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes();
            if (body.length == 0) {
                resp.setStatus(400);
                return;
            }
            calls.count(req.getHeader("x-call"));
            resp.setContentType("application/json");
            resp.getOutputStream().write(COMPLETION.getBytes(StandardCharsets.UTF_8));
        }
    }


    /** The HTTP/2 connection of the suite's h2c server, upgraded. */
    private URI http2Base() throws IOException, InterruptedException {
        URI base = URI.create("http://127.0.0.1:" + h2.port());
        HttpResponse<String> up = http2.send(HttpRequest.newBuilder(base.resolve("/open/ping")).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(HttpClient.Version.HTTP_2, up.version(), "the connection did not upgrade to h2c");
        return base;
    }

    /** A chat body of unknown length, as a client streaming its request body sends it: no content-length. */
    private static HttpRequest.BodyPublisher streamed(String body) {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        return HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(bytes));
    }

    /** The chat dressed as a CORS preflight: {@code OPTIONS}, {@code Origin}, {@code Access-Control-Request-Method}. */
    private static HttpRequest.Builder preflightShaped(URI uri, String call, String body) {
        return HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10))
                .header("Origin", "https://app.example")
                .header("Access-Control-Request-Method", "POST")
                .header("Content-Type", "application/json")
                .header("x-call", call)
                .method("OPTIONS", streamed(body));
    }

    /**
     * The finding. An anonymous client (no {@code x-user-id}: no subject) sends the chat as a preflight-shaped
     * {@code OPTIONS} with its body over HTTP/2, streamed. The same request with a {@code Content-Length}, or
     * chunked over HTTP/1.1, is refused 401 (the controls below); over HTTP/2 the filter sees neither header,
     * takes it for a body-less preflight and lets it through without a subject: the relay calls the model
     * (5,000 tokens) and no one is charged. Expected: 401 and no model call.
     */
    @Test
    void anonymousPreflightShapedChatStreamedOverHttp2IsRefused() throws Exception {
        URI base = http2Base();
        String call = "anon-" + UUID.randomUUID();
        HttpResponse<String> r = http2.send(preflightShaped(base.resolve("/ai/relay/chat/completions"), call, CHAT).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(HttpClient.Version.HTTP_2, r.version());
        assertEquals(0, calls.of(call), "an anonymous call reached the model over HTTP/2 and no one was charged: status "
                + r.statusCode() + ", answer " + r.body());
        assertEquals(401, r.statusCode(), r.body());
    }

    /**
     * The same, a plain {@code POST} of the chat body streamed over HTTP/2 without a subject: refused 401, no
     * model call (only the preflight shape passes; a control on the HTTP/2 harness).
     */
    @Test
    void anonymousPostStreamedOverHttp2IsRefused() throws Exception {
        URI base = http2Base();
        String call = "anon-" + UUID.randomUUID();
        HttpResponse<String> r = http2.send(HttpRequest.newBuilder(base.resolve("/ai/relay/chat/completions"))
                        .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json").header("x-call", call)
                        .POST(streamed(CHAT)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(HttpClient.Version.HTTP_2, r.version());
        assertEquals(401, r.statusCode(), r.body());
        assertEquals(0, calls.of(call));
    }

    /**
     * Control, both containers: the same anonymous preflight-shaped chat over HTTP/1.1 with the body streamed
     * (chunked, {@code Transfer-Encoding: chunked}): refused 401, no model call.
     */
    @Test
    void anonymousPreflightShapedChatChunkedOverHttp11IsRefused() throws Exception {
        String call = "anon-" + UUID.randomUUID();
        HttpClient http11 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpResponse<String> r = http11.send(preflightShaped(container.uri("/ai/relay/chat/completions"), call, CHAT).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(401, r.statusCode(), r.body());
        assertEquals(0, calls.of(call));
    }

    /**
     * Control: a user's preflight-shaped chat streamed over HTTP/2 is held as its body is and charged the usage
     * the model reported, 5,000.
     */
    @Test
    void subjectsPreflightShapedChatOverHttp2IsChargedItsUsage() throws Exception {
        URI base = http2Base();
        String s = subject();
        HttpResponse<String> r = http2.send(preflightShaped(base.resolve("/ai/relay/chat/completions"), s, CHAT)
                .header("x-user-id", s).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        assertEquals(USAGE, settled(s).used(), ledger(s));
    }
}
