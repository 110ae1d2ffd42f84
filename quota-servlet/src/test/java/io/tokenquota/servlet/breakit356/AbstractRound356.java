package io.tokenquota.servlet.breakit356;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.GrpcFrames;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Round 356 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the HTTP
 * protocol edge, here the response's <b>trailer fields</b> (Servlet 6 {@code HttpServletResponse.setTrailerFields},
 * RFC 9110 section 6.5: "fields ... sent after the content", for metadata computed while the content is sent), and
 * gRPC, whose status is a trailer field.
 *
 * <p><b>gRPC on a servlet container.</b> grpc-java's servlet transport ({@code io.grpc:grpc-servlet-jakarta}, which
 * Spring gRPC's {@code spring.grpc.server.servlet.enabled} runs inside Spring Boot's Tomcat or Jetty) answers every
 * call with HTTP status 200 and {@code content-type: application/grpc}; the call's own status is the
 * {@code grpc-status} field (gRPC over HTTP/2, PROTOCOL-HTTP2.md: "Trailers-Only" responses carry it in the headers,
 * otherwise it is a trailer). grpc-java {@code servlet/src/main/java/io/grpc/servlet/ServletServerStream.java},
 * {@code Sink.writeTrailers}: a call closed before any message ({@code !headersSent}) writes
 * {@code writeHeadersToServletResponse(trailers)} ({@code setStatus(200)}, {@code setContentType("application/grpc")},
 * then {@code addHeader} of {@code grpc-status} and {@code grpc-message}); with {@code ForceTrailersServerInterceptor}
 * it writes empty headers, {@code resp.setTrailerFields(trailerSupplier)} and puts {@code grpc-status} and
 * {@code grpc-message} into the supplier's map. Either way no byte of content: a server that refuses a call before
 * its handler calls the model (a model it does not serve: {@code NOT_FOUND}, code 5) answers an empty 200. The same
 * refusal from Gemini's REST surface is a 404 (Gemini API reference, "API errors": {@code 404 NOT_FOUND}, "The
 * requested resource wasn't found"; body {@code {"error": {"code": 404, "message": …, "status": "NOT_FOUND"}}}),
 * which the filter releases (rule 4). The request is Gemini's own {@code GenerateContentRequest}
 * (google/ai/generativelanguage/v1/generative_service.proto: {@code string model = 1; repeated Content contents = 2;};
 * content.proto: {@code Content {repeated Part parts = 1; string role = 2;}}, {@code Part {string text = 2;}}),
 * framed as gRPC frames it (a compressed-flag byte 0, a 4-byte big-endian length, the message), on the service's
 * path {@code /google.ai.generativelanguage.v1.GenerativeService/GenerateContent}. The harness speaks HTTP/1.1 to it
 * (gRPC needs HTTP/2's trailers on the wire, not in the filter, which sees the servlet API's calls alone).
 *
 * <p><b>A figure in a trailer.</b> An endpoint streams the model's text as it comes and learns the call's usage only
 * at the end, after the headers went out: the field RFC 9110 has for such a figure is a trailer. The filter reads
 * {@code X-Quota-Actual-Tokens} from the headers only (docs/servlet.md, rule 1).
 */
abstract class AbstractRound356 extends ModelCallRound {
    static final String GRPC_SERVICE = "/google.ai.generativelanguage.v1.GenerativeService/";
    static final String GRPC_METHOD = GRPC_SERVICE + "GenerateContent";
    /** The REST surface of the same service (Gemini API reference, "models.generateContent": POST /v1/{model}:generateContent). */
    static final String REST_UNKNOWN = "/ai/gemini/v1/models/gemini-9.0-pro:generateContent";
    static final String UNKNOWN_MODEL = "models/gemini-9.0-pro";
    static final String NOT_FOUND = UNKNOWN_MODEL + " is not found for API version v1, or is not supported for"
            + " generateContent. Call ListModels to see the list of available models and their supported methods.";
    /** The user's document: what the request carries for the model to read. */
    static final String DOCUMENT = "Summarise this contract for a tenant. " + Prose.english(6_000);

    /** The streaming relay's figure: the document the relay fetched and put in front (6,000) and the 3,000 written. */
    static final long RELAY_USAGE = 9_000;
    static final String RELAY = "/ai/relay/summarise";

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        // one filter protecting the REST prefix and the gRPC service's path (a gRPC method's path is the service's
        // full name: a gRPC client cannot put a prefix in front of it)
        QuotaFilter both = filterFor("/ai/").protect(GRPC_SERVICE).build();
        return Deployment.create().filter("quota", both, "/ai/*", GRPC_SERVICE + "*")
                .servlet("gemini-grpc", new GrpcGemini(), GRPC_SERVICE + "*")
                .servlet("gemini-rest", new RestGemini(), "/ai/gemini/*")
                .servlet("relay", new TrailerRelay(), "/ai/relay/*");
    }

    // ------------------------------------------------------------------ the endpoints

    /**
     * Gemini's GenerateContent over gRPC, as grpc-servlet answers it (async, as {@code ServletAdapter} serves every
     * call): a request naming a model the server does not serve is refused with {@code NOT_FOUND} before any model
     * call, in grpc-servlet's trailers-only form, or, with {@code x-variant: force-trailers}, in the form its
     * {@code ForceTrailersServerInterceptor} asks (empty headers, the status as trailer fields).
     */
    class GrpcGemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            AsyncContext async = req.startAsync();
            HttpServletResponse r = (HttpServletResponse) async.getResponse();
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            // the handler looks the model up before it calls anything: not served here, so no model call
            if ("force-trailers".equals(req.getHeader("x-variant"))) {
                // writeTrailers(!headersSent, forceTrailers): writeHeadersToServletResponse(new Metadata()),
                // resp.setTrailerFields(trailerSupplier), serializeTrailers(trailers)
                r.setStatus(200);
                r.setContentType("application/grpc");
                Map<String, String> trailers = new java.util.concurrent.ConcurrentHashMap<>();
                r.setTrailerFields(() -> trailers);
                trailers.put("grpc-status", "5");
                trailers.put("grpc-message", NOT_FOUND.replace(" ", "%20"));
            } else {
                // writeTrailers(!headersSent): writeHeadersToServletResponse(trailers): a Trailers-Only response
                r.setStatus(200);
                r.setContentType("application/grpc");
                r.addHeader("grpc-status", "5");
                r.addHeader("grpc-message", NOT_FOUND.replace(" ", "%20"));
            }
            async.complete();
        }
    }

    /** Gemini's REST surface: the same unknown model refused with its 404 before any model call. */
    class RestGemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setStatus(404);
            resp.setContentType("application/json; charset=UTF-8");
            resp.getOutputStream().write(("{\"error\":{\"code\":404,\"message\":\"" + NOT_FOUND
                    + "\",\"status\":\"NOT_FOUND\"}}").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A relay that streams the model's text to its client as plain text as it comes (a chat UI's fetch reader) and
     * reports the call's usage, known only once the provider's last event came, as the request's figure: in a
     * trailer ({@code x-variant: trailer}), set before the first byte as the servlet API requires, its value read by
     * the container at the end; or in the {@code X-Quota-Actual-Tokens} header after the text (the documented way,
     * which the filter captures also after the response was committed).
     */
    class TrailerRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            boolean trailer = "trailer".equals(req.getHeader("x-variant"));
            java.util.concurrent.atomic.AtomicLong usage = new java.util.concurrent.atomic.AtomicLong(-1);
            resp.setContentType("text/plain; charset=UTF-8");
            if (trailer) {
                resp.setTrailerFields(() -> usage.get() < 0 ? Map.of()
                        : Map.of(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(usage.get())));
            }
            var out = resp.getOutputStream();
            for (int i = 0; i < 30; i++) {
                out.write(("The tenant may end the lease with two months' notice; clause " + i + " says so. ")
                        .getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            // the provider's last event: the call's usage
            usage.set(RELAY_USAGE);
            if (!trailer) {
                resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(RELAY_USAGE));
            }
        }
    }

    // ------------------------------------------------------------------ requests

    /** The gRPC call as grpc-java's client sends it: {@code application/grpc}, {@code te: trailers}. */
    HttpResponse<String> grpcCall(String s, String variant) {
        HttpRequest request = TestHttp.requestAs(container.uri(GRPC_METHOD), s, "content-type", "application/grpc",
                        "te", "trailers", "grpc-accept-encoding", "gzip", "x-variant", variant)
                .POST(HttpRequest.BodyPublishers.ofByteArray(GrpcFrames.generateContent(UNKNOWN_MODEL, DOCUMENT))).build();
        return TestHttp.send(request);
    }

    void assertReleased(String s, HttpResponse<String> r, String what) {
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(0, calls.of(s), "model calls"),
                () -> assertEquals(0, a.used(), kind() + ": " + what + " called no model (the handler refused the"
                        + " unknown model before any call), yet " + a.used() + " tokens were charged: status "
                        + r.statusCode() + ", grpc-status " + r.headers().firstValue("grpc-status").orElse("-")
                        + " (" + ledger(s) + ")"));
    }

    // ------------------------------------------------------------------ findings

    /**
     * Found and fixed: a gRPC call refused before any model call, in grpc-servlet's trailers-only form (HTTP 200,
     * {@code application/grpc}, {@code grpc-status: 5} in the headers, no content), is charged its estimate.
     */
    @Test
    void aGrpcCallRefusedTrailersOnlyIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = grpcCall(s, "trailers-only");
        assertEquals(200, r.statusCode(), r.body());
        assertReleased(s, r, "a gRPC GenerateContent refused NOT_FOUND (trailers-only)");
    }

    /**
     * Found and fixed: the same refusal with the status in trailer fields (grpc-servlet with
     * {@code ForceTrailersServerInterceptor}: empty headers, then {@code setTrailerFields}) is charged its estimate.
     */
    @Test
    void aGrpcCallRefusedInTrailerFieldsIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = grpcCall(s, "force-trailers");
        assertEquals(200, r.statusCode(), r.body());
        assertReleased(s, r, "a gRPC GenerateContent refused NOT_FOUND (status in trailer fields)");
    }

    /**
     * Found and fixed: a streaming relay that reports the call's figure in a trailer field named
     * {@code X-Quota-Actual-Tokens} (RFC 9110's place for a figure known after the content) is charged its estimate.
     */
    @Test
    void aFigureReportedInATrailerIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri(RELAY), s,
                "{\"question\":\"What notice must the tenant give?\",\"document_id\":\"doc_81f2\"}", "x-variant", "trailer"));
        assertCharged(s, r, 200, 1, RELAY_USAGE, "the relay reported " + RELAY_USAGE + " in a trailer field");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same refusal from Gemini's REST surface, a 404 with Google's error body, is released. */
    @Test
    void controlTheSameRefusalOverRestIsReleased() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri(REST_UNKNOWN), s,
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"" + DOCUMENT + "\"}]}]}"));
        assertEquals(404, r.statusCode(), r.body());
        assertReleased(s, r, "Gemini's REST 404 NOT_FOUND");
    }

    /** Control: the relay's figure set as the {@code X-Quota-Actual-Tokens} header after the text is charged. */
    @Test
    void controlAFigureReportedInTheHeaderAfterTheTextIsCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri(RELAY), s,
                "{\"question\":\"What notice must the tenant give?\",\"document_id\":\"doc_81f2\"}", "x-variant", "header"));
        assertCharged(s, r, 200, 1, RELAY_USAGE, "the relay reported " + RELAY_USAGE + " in the header");
    }
}
