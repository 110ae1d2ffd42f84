package io.tokenquota.servlet.breakit521;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 521 of issue 11 ("no model call goes unpaid"): the HTTP version is the client's choice. A streaming relay
 * reports its call's figure in the trailer field {@code X-Quota-Actual-Tokens} (docs/servlet.md, settlement rule 1;
 * round 356), known only once the provider's last event came. Trailer fields need HTTP/1.1 chunked coding (or
 * HTTP/2): on an HTTP/1.0 request both containers refuse {@code setTrailerFields} with an
 * {@code IllegalStateException} (Tomcat's {@code Http11Processor.isTrailerFieldsSupported}: "Request must be
 * HTTP/1.1 to support trailer fields"; Jetty's servlet response likewise), and the servlet API gives an endpoint no
 * way to ask beforehand. So a client that writes {@code HTTP/1.0} on its request line decides whether the figure
 * reaches the filter:
 * <ul>
 *   <li>a relay that tolerates the refusal (catches it and streams on: its client still gets the whole answer) has
 *       its supplier dropped, since the filter's response wrapper records it only once the container accepted it
 *       ({@code QuotaResponse.setTrailerFields}): the call is charged its estimate, not its figure;</li>
 *   <li>a relay that lets the refusal escape after its provider call started (it opens the provider's stream, then
 *       sets its headers and trailer supplier before the first byte, as the servlet API asks) fails before answering:
 *       released under {@code releaseOnError}, a model call for nothing. The filter already keeps every header a
 *       client sends from making a served call fail afterwards ({@code EndpointRequest}); the request line's version
 *       is not among them.</li>
 * </ul>
 * Controls: the same relays and request over HTTP/1.1 are charged the figure.
 */
abstract class AbstractRound521 extends ModelCallRound {
    /** The relay's figure: the document it fetched and put in front (6,000) and the 3,000 tokens written. */
    static final long RELAY_USAGE = 9_000;
    static final String RELAY = "/ai/relay/summarise";
    static final String BODY = "{\"question\":\"What notice must the tenant give?\",\"document_id\":\"doc_81f2\"}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("relay", new TrailerRelay(), "/ai/relay/*");
    }

    /**
     * A relay streaming the model's text as plain text and reporting the call's usage in a trailer. It opens the
     * provider's stream first (the model call: counted), then sets its content type and trailer supplier before the
     * first byte. {@code x-variant: tolerant} catches a container's refusal of trailers and streams on;
     * {@code strict} lets it escape.
     */
    class TrailerRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            // the provider's stream is open: the model is called and bills what it reads and writes
            calls.count(req.getHeader("x-user-id"));
            AtomicLong usage = new AtomicLong(-1);
            resp.setContentType("text/plain; charset=UTF-8");
            try {
                resp.setTrailerFields(() -> usage.get() < 0 ? Map.of()
                        : Map.of(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(usage.get())));
            } catch (IllegalStateException noTrailers) {
                if (!"tolerant".equals(req.getHeader("x-variant"))) {
                    throw noTrailers;
                }
                // an HTTP/1.0 client: no trailers on the wire, the text still goes out
            }
            var out = resp.getOutputStream();
            for (int i = 0; i < 30; i++) {
                out.write(("The tenant may end the lease with two months' notice; clause " + i + " says so. ")
                        .getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            // the provider's last event: the call's usage
            usage.set(RELAY_USAGE);
        }
    }

    /** One raw POST of {@link #BODY} to the relay as {@code s} on {@code version}'s request line; the answer. */
    String post(String s, String version, String variant) throws IOException {
        try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress("127.0.0.1", container.port()), 5_000);
            socket.setSoTimeout(15_000);
            byte[] content = BODY.getBytes(StandardCharsets.UTF_8);
            String head = "POST " + RELAY + " " + version + "\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + content.length + "\r\nx-user-id: " + s
                    + "\r\nx-variant: " + variant + "\r\n\r\n";
            socket.getOutputStream().write(head.getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().write(content);
            socket.getOutputStream().flush();
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }

    void assertChargedTheFigure(String version, String variant) throws IOException {
        String s = subject();
        String answer = post(s, version, variant);
        QuotaAccount a = settled(s);
        String status = answer.length() >= 12 ? answer.substring(9, 12) : "(none)";
        assertAll(() -> assertEquals(1, calls.of(s), "model calls"),
                () -> assertEquals(RELAY_USAGE, a.used(), kind() + " " + version + " (" + variant + " relay): one model"
                        + " call whose figure, " + RELAY_USAGE + ", the relay reports in a trailer, charged " + a.used()
                        + "; status " + status + " (" + ledger(s) + ")"));
    }

    // ------------------------------------------------------------------ findings

    /**
     * A relay that tolerates the container's refusal of trailers on an HTTP/1.0 request streams the whole answer
     * (200) and its figure is lost: charged the estimate (about 1,000) for 9,000.
     */
    @Test
    void anHttp10ClientDoesNotLoseATolerantRelaysTrailerFigure() throws IOException {
        assertChargedTheFigure("HTTP/1.0", "tolerant");
    }

    /**
     * A relay whose trailer supplier the container refuses on an HTTP/1.0 request, after its provider call started,
     * fails before answering: released, 0 for 9,000.
     */
    @Test
    void anHttp10ClientDoesNotMakeAStrictRelaysCallFree() throws IOException {
        assertChargedTheFigure("HTTP/1.0", "strict");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the tolerant relay on HTTP/1.1, whose container takes the trailers: charged 9,000. */
    @Test
    void controlTheTolerantRelayOverHttp11IsChargedItsFigure() throws IOException {
        assertChargedTheFigure("HTTP/1.1", "tolerant");
    }

    /** Control: the strict relay on HTTP/1.1: charged 9,000. */
    @Test
    void controlTheStrictRelayOverHttp11IsChargedItsFigure() throws IOException {
        assertChargedTheFigure("HTTP/1.1", "strict");
    }

    /** The HTTP/1.0 answer of the tolerant relay is whole: the client got the model's text. */
    @Test
    void controlTheTolerantRelaysHttp10AnswerIsWhole() throws IOException {
        String answer = post(subject(), "HTTP/1.0", "tolerant");
        assertTrue(answer.contains(" 200 ") && answer.contains("clause 29 says so."), answer);
    }
}
