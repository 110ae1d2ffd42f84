package io.tokenquota.servlet.breakit381;

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
 * Round 381 of issue 11 ("nothing that never reached a model is charged"): the Connect protocol's streaming
 * form, gRPC's third wire protocol beside gRPC and gRPC-Web (rounds 356 and 380).
 *
 * <p>Connect protocol reference (connectrpc.com/docs/protocol), "Streaming RPCs": a streaming request is
 * {@code POST /<Service>/<Method>} with {@code Content-Type: application/connect+<codec>} ({@code +json} or
 * {@code +proto}) and enveloped messages (a flags byte, a 4-byte big-endian length, the message; the same framing
 * as gRPC). "Streaming-Response → HTTP-Status Streaming-Response-Headers *Enveloped-Message
 * End-Stream-Response"; "the HTTP status code is always 200 OK" for a stream; the end of the stream is an
 * envelope whose flags have bit {@code 0b00000010} set (EndStreamResponse), whose JSON is
 * {@code {"error": {"code": "not_found", "message": "..."}, "metadata": {...}}} when the call failed (section
 * "Error end-stream"; codes and their HTTP mappings in the "Error Codes" table: {@code not_found} → 404).
 * A unary Connect call's error is instead the mapped HTTP status with {@code {"code","message"}} as an
 * {@code application/json} body (section "Unary-Response", "Error"). connect-go, connect-es (Node) and
 * Armeria serve both; Gemini's {@code StreamGenerateContent} is server-streaming (google/ai/generativelanguage
 * v1 generative_service.proto), its request in proto3 JSON ({@code model}, {@code contents[].parts[].text}).
 *
 * <p>The rule broken: docs/servlet.md settlement rule 4, "no usage and a 4xx that means the model was not
 * called → release", and its gRPC paragraph (rounds 356, 380): a gRPC or gRPC-Web {@code NOT_FOUND} refusal
 * before any model call is released. The same refusal in Connect's streaming form (HTTP 200,
 * {@code application/connect+json}, one end-stream envelope holding the error) is charged its estimate.
 */
abstract class AbstractRound381 extends ModelCallRound {
    static final String SERVICE = "/google.ai.generativelanguage.v1.GenerativeService/";
    static final String STREAM_METHOD = SERVICE + "StreamGenerateContent";
    static final String UNKNOWN_MODEL = "models/gemini-9.0-pro";
    static final String NOT_FOUND = UNKNOWN_MODEL + " is not found for API version v1, or is not supported for"
            + " generateContent. Call ListModels to see the list of available models and their supported methods.";
    static final String DOCUMENT = "Summarise this contract for a tenant. " + Prose.english(6_000);

    @Override
    protected Deployment deploy(QuotaFilter ignored) {
        QuotaFilter both = filterFor("/ai/").protect(SERVICE).build();
        return Deployment.create().filter("quota", both, "/ai/*", SERVICE + "*")
                .servlet("gemini-connect", new ConnectGemini(), SERVICE + "*");
    }

    /**
     * Gemini's StreamGenerateContent served over Connect: the model named is not served, so the handler refuses it
     * with {@code not_found} before any model call. A streaming call ({@code application/connect+json}) gets
     * Connect's streaming error: HTTP 200 and a single end-stream envelope (flags 0x02) with the error; a unary
     * call ({@code application/json}) gets Connect's unary error: HTTP 404 with {@code {"code","message"}}.
     */
    class ConnectGemini extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String error = "{\"code\":\"not_found\",\"message\":\"" + NOT_FOUND + "\"}";
            if (String.valueOf(req.getContentType()).startsWith("application/connect+")) {
                resp.setStatus(200);
                resp.setContentType("application/connect+json");
                byte[] end = ("{\"error\":" + error + "}").getBytes(StandardCharsets.UTF_8);
                resp.getOutputStream().write(GrpcFrames.frame(GrpcFrames.CONNECT_END_STREAM, end));
                return;
            }
            resp.setStatus(404);
            resp.setContentType("application/json");
            resp.getOutputStream().write(error.getBytes(StandardCharsets.UTF_8));
        }
    }


    /** GenerateContentRequest in proto3 JSON (protobuf's JSON mapping: lowerCamelCase field names). */
    static String generateContent() {
        return "{\"model\":\"" + UNKNOWN_MODEL + "\",\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\""
                + DOCUMENT + "\"}]}]}";
    }

    /** A Connect streaming call: {@code application/connect+json}, one enveloped request message (flags 0). */
    HttpResponse<String> connectStreamCall(String s) {
        HttpRequest request = TestHttp.requestAs(container.uri(STREAM_METHOD), s, "content-type",
                        "application/connect+json", "connect-protocol-version", "1")
                .POST(HttpRequest.BodyPublishers.ofByteArray(
                        GrpcFrames.frame(0, generateContent().getBytes(StandardCharsets.UTF_8)))).build();
        return TestHttp.send(request);
    }

    /** The same call in Connect's unary form: {@code application/json}, the bare message. */
    HttpResponse<String> connectUnaryCall(String s) {
        HttpRequest request = TestHttp.requestAs(container.uri(SERVICE + "GenerateContent"), s, "content-type",
                        "application/json", "connect-protocol-version", "1")
                .POST(HttpRequest.BodyPublishers.ofString(generateContent())).build();
        return TestHttp.send(request);
    }

    void assertReleased(String s, HttpResponse<String> r, int status, String what) {
        QuotaAccount a = settled(s);
        assertAll(() -> assertEquals(status, r.statusCode(), "HTTP status"),
                () -> assertEquals(0, a.used(), kind() + ": " + what + " called no model (the handler refused the"
                        + " unknown model before any call), yet " + a.used() + " tokens were charged (" + ledger(s) + ")"),
                () -> assertEquals(0, a.reserved(), "nothing stays held (" + ledger(s) + ")"));
    }

    /** Finding: Connect's streaming NOT_FOUND (HTTP 200, one end-stream envelope with the error) is charged. */
    @Test
    void aConnectStreamRefusedInItsEndStreamMessageIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = connectStreamCall(s);
        assertReleased(s, r, 200, "a Connect StreamGenerateContent refused not_found in its end-stream message");
    }

    /** Control: the same refusal in Connect's unary form (HTTP 404, {"code":"not_found"}) is released. */
    @Test
    void controlAConnectUnaryCallRefusedNotFoundIsNotCharged() {
        String s = subject();
        HttpResponse<String> r = connectUnaryCall(s);
        assertReleased(s, r, 404, "a Connect unary GenerateContent refused not_found");
    }
}
