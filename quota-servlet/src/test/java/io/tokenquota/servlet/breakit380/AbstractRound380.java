package io.tokenquota.servlet.breakit380;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.GrpcFrames;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Round 380 of issue 11 ("nothing that never reached a model is charged"): gRPC-Web, the browser's gRPC.
 *
 * <p>Round 356 settles a gRPC call answered without a message by its {@code grpc-status} (a header in a
 * Trailers-Only answer, or a trailer field): {@code Settlement.grpcStatus}. gRPC-Web cannot use HTTP trailers
 * (browsers do not expose them), so its protocol puts the trailers <i>in the body</i>: grpc/grpc
 * {@code doc/PROTOCOL-WEB.md}, "Protocol differences vs gRPC over HTTP2": "Trailers ... are sent as the last
 * message in the response body ... The MSB of the first byte (the flag byte) of the 5-byte message header is set
 * to 1 (0x80) to indicate a trailer frame ... Trailers are encoded as an HTTP/1 headers block (lower-case names,
 * {@code name:value\r\n})". Content types {@code application/grpc-web}, {@code application/grpc-web+proto}
 * (same document, "Content-Type"); the browser client marks its calls {@code x-grpc-web: 1}. A gRPC-Web server
 * (Envoy's {@code grpc_web} filter translates a gRPC backend's trailers into that frame) answers a refusal so: HTTP
 * 200, no message frame, one
 * trailer frame {@code grpc-status:5}. The request message is Gemini's {@code GenerateContentRequest} (round
 * 356's shape), in a gRPC frame (gRPC-Web frames messages exactly as gRPC does).
 *
 * <p>The rule broken: docs/servlet.md settlement: "no usage and a 4xx that means the model was not called →
 * release"; round 356: a gRPC {@code NOT_FOUND} refusal before any model call is released (its HTTP mapping,
 * 404), in either of gRPC's forms. The same refusal in gRPC-Web's body-trailer form is charged the estimate.
 */
abstract class AbstractRound380 extends ModelCallRound {
    static final String GRPC_SERVICE = "/google.ai.generativelanguage.v1.GenerativeService/";
    static final String GRPC_METHOD = GRPC_SERVICE + "GenerateContent";
    static final String UNKNOWN_MODEL = "models/gemini-9.0-pro";
    static final String NOT_FOUND = UNKNOWN_MODEL + " is not found for API version v1, or is not supported for"
            + " generateContent. Call ListModels to see the list of available models and their supported methods.";
    static final String DOCUMENT = "Summarise this contract for a tenant. " + Prose.english(6_000);

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        QuotaFilter both = filterFor("/ai/").protect(GRPC_SERVICE).build();
        return Deployment.create().filter("quota", both, "/ai/*", GRPC_SERVICE + "*")
                .servlet("gemini-grpc-web", new GrpcWebGemini(), GRPC_SERVICE + "*");
    }

    /**
     * Gemini's GenerateContent over gRPC-Web: the model named is not served, so the handler refuses it with
     * {@code NOT_FOUND} (5) before any model call: HTTP 200, {@code application/grpc-web+proto}, and either the
     * status in a trailer frame of the body ({@code x-variant: body-trailers}, PROTOCOL-WEB.md's trailer frame) or
     * in the headers (a Trailers-Only answer, {@code x-variant: trailers-only}).
     */
    class GrpcWebGemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setStatus(200);
            resp.setContentType("application/grpc-web+proto");
            String message = NOT_FOUND.replace(" ", "%20");
            if ("trailers-only".equals(req.getHeader("x-variant"))) {
                resp.addHeader("grpc-status", "5");
                resp.addHeader("grpc-message", message);
                return;
            }
            byte[] block = ("grpc-status:5\r\ngrpc-message:" + message + "\r\n").getBytes(StandardCharsets.US_ASCII);
            resp.getOutputStream().write(GrpcFrames.frame(GrpcFrames.WEB_TRAILERS, block));
        }
    }

    /** The call as grpc-web's client sends it: {@code application/grpc-web+proto}, {@code x-grpc-web: 1}. */
    HttpResponse<String> grpcWebCall(String s, String variant) {
        HttpRequest request = TestHttp.requestAs(container.uri(GRPC_METHOD), s, "content-type",
                        "application/grpc-web+proto", "x-grpc-web", "1", "accept", "application/grpc-web+proto",
                        "x-variant", variant)
                .POST(HttpRequest.BodyPublishers.ofByteArray(GrpcFrames.generateContent(UNKNOWN_MODEL, DOCUMENT))).build();
        return TestHttp.send(request);
    }

    void assertReleased(String s, HttpResponse<String> r, String what) {
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(200, r.statusCode(), "HTTP status"),
                () -> assertEquals(0, a.used(), kind() + ": " + what + " called no model (the handler refused the"
                        + " unknown model before any call), yet " + a.used() + " tokens were charged (" + ledger(s) + ")"));
    }

    /** Finding: NOT_FOUND in gRPC-Web's trailer frame (the body's only frame, flag 0x80) is charged the estimate. */
    @Test
    void aGrpcWebCallRefusedInItsBodyTrailerFrameIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = grpcWebCall(s, "body-trailers");
        assertReleased(s, r, "a gRPC-Web GenerateContent refused NOT_FOUND in its trailer frame");
    }

    /** Control: the same refusal as a gRPC-Web Trailers-Only answer (grpc-status in the headers) is released. */
    @Test
    void controlAGrpcWebCallRefusedTrailersOnlyIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = grpcWebCall(s, "trailers-only");
        assertReleased(s, r, "a gRPC-Web GenerateContent refused NOT_FOUND (trailers-only)");
    }
}
